#![no_main]
// The entry is shared with the corpus replay test; see its docs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| roam_node::fuzzing::pairing(data));
