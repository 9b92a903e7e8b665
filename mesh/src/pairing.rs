//! Pairing with a one-time code: SPAKE2 (the `spake2` crate) over a
//! connection whose two PeerIds the transport has already authenticated.
//!
//! Both PeerIds are the SPAKE2 identities, so the shared key exists only if
//! both sides used the same code *and* see the same two peers: a relay in
//! the middle gets nothing. Someone watching learns nothing about the code;
//! someone guessing gets one try, because the host burns the code after the
//! first attempt, right or wrong. Key confirmation is HMAC-SHA256 in both
//! directions, so each side knows the other had the code.
//!
//! Joiner (A)                              Host (B)
//!   msg_a = start_a(code, A, B)  ───▶
//!                                 ◀───   msg_b, confirm_b = HMAC(k, "host")
//!   check confirm_b; confirm_a   ───▶
//!                                        check confirm_a → admit A

use hmac::{Hmac, Mac};
use libp2p::PeerId;
use rand::Rng;
use sha2::Sha256;
use spake2::{Ed25519Group, Identity, Password, Spake2};

/// Characters of a code: no 0/O or 1/I/L to misread.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 12 characters of 31: about 59 bits, far more than one guess needs.
const CODE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PairingError {
    #[error("pairing failed: wrong code, or someone is in the middle")]
    WrongCode,
    #[error("pairing failed: malformed pairing message")]
    Malformed,
}

/// A fresh code, shown as `XXXX-XXXX-XXXX`.
pub fn new_code() -> String {
    let mut rng = rand::thread_rng();
    let chars: Vec<char> = (0..CODE_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Codes compare without dashes, spaces or case.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn ids(joiner: &PeerId, host: &PeerId) -> (Identity, Identity) {
    (
        Identity::new(&joiner.to_bytes()),
        Identity::new(&host.to_bytes()),
    )
}

fn confirm(key: &[u8], label: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

fn verify(key: &[u8], label: &[u8], tag: &[u8]) -> Result<(), PairingError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| PairingError::Malformed)?;
    mac.update(label);
    mac.verify_slice(tag).map_err(|_| PairingError::WrongCode)
}

pub struct Joiner {
    spake: Spake2<Ed25519Group>,
}

impl Joiner {
    /// Starts pairing; send the returned message to the host.
    pub fn start(code: &str, joiner: &PeerId, host: &PeerId) -> (Joiner, Vec<u8>) {
        let (a, b) = ids(joiner, host);
        let (spake, msg) =
            Spake2::<Ed25519Group>::start_a(&Password::new(normalize_code(code)), &a, &b);
        (Joiner { spake }, msg)
    }

    /// Checks the host's answer; returns the confirmation to send back.
    pub fn finish(self, msg_b: &[u8], confirm_b: &[u8]) -> Result<Vec<u8>, PairingError> {
        let key = self
            .spake
            .finish(msg_b)
            .map_err(|_| PairingError::Malformed)?;
        verify(&key, b"roam pairing: host", confirm_b)?;
        Ok(confirm(&key, b"roam pairing: joiner"))
    }
}

pub struct Host {
    key: Vec<u8>,
}

impl Host {
    /// Answers the joiner's first message: (state, msg_b, confirm_b).
    pub fn respond(
        code: &str,
        joiner: &PeerId,
        host: &PeerId,
        msg_a: &[u8],
    ) -> Result<(Host, Vec<u8>, Vec<u8>), PairingError> {
        let (a, b) = ids(joiner, host);
        let (spake, msg_b) =
            Spake2::<Ed25519Group>::start_b(&Password::new(normalize_code(code)), &a, &b);
        let key = spake.finish(msg_a).map_err(|_| PairingError::Malformed)?;
        let tag = confirm(&key, b"roam pairing: host");
        Ok((Host { key }, msg_b, tag))
    }

    /// True when the joiner proved it had the code.
    pub fn verify(&self, confirm_a: &[u8]) -> Result<(), PairingError> {
        verify(&self.key, b"roam pairing: joiner", confirm_a)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn peers() -> (PeerId, PeerId) {
        (PeerId::random(), PeerId::random())
    }

    #[test]
    fn same_code_pairs_and_both_sides_confirm() {
        let (j, h) = peers();
        let code = new_code();
        let (joiner, msg_a) = Joiner::start(&code.to_lowercase(), &j, &h);
        let (host, msg_b, confirm_b) = Host::respond(&code, &j, &h, &msg_a).unwrap();
        let confirm_a = joiner.finish(&msg_b, &confirm_b).unwrap();
        host.verify(&confirm_a).unwrap();
    }

    #[test]
    fn wrong_code_fails_on_both_sides() {
        let (j, h) = peers();
        let (joiner, msg_a) = Joiner::start("AAAA-AAAA-AAAA", &j, &h);
        let (host, msg_b, confirm_b) = Host::respond("BBBB-BBBB-BBBB", &j, &h, &msg_a).unwrap();
        assert_eq!(
            joiner.finish(&msg_b, &confirm_b).err(),
            Some(PairingError::WrongCode)
        );
        assert_eq!(host.verify(b"forged").err(), Some(PairingError::WrongCode));
    }

    #[test]
    fn a_relay_between_other_peers_cannot_pair() {
        let (j, h) = peers();
        let relay = PeerId::random();
        let code = new_code();
        // The joiner thinks it talks to the relay; the host sees the relay too.
        let (joiner, msg_a) = Joiner::start(&code, &j, &relay);
        let (_, msg_b, confirm_b) = Host::respond(&code, &relay, &h, &msg_a).unwrap();
        assert!(joiner.finish(&msg_b, &confirm_b).is_err());
    }

    #[test]
    fn codes_look_right() {
        let c = new_code();
        assert_eq!(c.len(), 14);
        assert_eq!(normalize_code(&c).len(), 12);
        assert_ne!(new_code(), c);
    }
}
