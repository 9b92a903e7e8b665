//! All encoding in one place: bincode 2 (`=2.0.1`) with a size limit, so a
//! length field in garbage cannot make the decoder allocate without bound.
//! Framing (the length prefix) is `roam_mesh::frame`.

use bincode::config::{Configuration, Limit};
use bincode::{Decode, Encode};

/// The largest message we decode; equals the frame bound.
pub const MAX_MESSAGE: usize = roam_mesh::MAX_FRAME_LEN;

type Config =
    Configuration<bincode::config::LittleEndian, bincode::config::Varint, Limit<MAX_MESSAGE>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE>()
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode message: {0}")]
    Encode(String),
    #[error("malformed message: {0}")]
    Decode(String),
    #[error("malformed message: {0} trailing bytes")]
    Trailing(usize),
}

pub fn encode<T: Encode>(value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::encode_to_vec(value, config()).map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes exactly one value; trailing bytes are an error, not ignored.
pub fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(CodecError::Trailing(bytes.len() - used));
    }
    Ok(value)
}

/// A stored value: its record version, then the value. Older versions are
/// migrated by the store; see `store::versions`.
pub fn encode_versioned<T: Encode>(version: u32, value: &T) -> Result<Vec<u8>, CodecError> {
    encode(&(version, value))
}

/// Splits a stored value into its record version and the encoded value.
pub fn split_version(bytes: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    let (version, used): (u32, usize) = bincode::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    let rest = bytes
        .get(used..)
        .ok_or_else(|| CodecError::Decode("version past the end".into()))?;
    Ok((version, rest))
}
