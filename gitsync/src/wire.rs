//! The transfer's framing on the byte stream: every byte gitsync puts on the
//! wire is encoded and decoded here, and nowhere else.
//!
//! gitsync has its own tiny format instead of the node's codec because it must
//! stay independent of the node (the node depends on gitsync, not the other
//! way round) and because the payload is mostly an opaque git pack that needs
//! no serialization framework. A frame is `tag: u8, len: u32 BE, payload`.
//! Every length is checked against a bound *before* anything is allocated,
//! trailing bytes are rejected, and garbage yields an error, never a panic.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::oid::Oid;

/// Starts every offer, so a peer speaking something else is refused at once.
const MAGIC: &[u8; 8] = b"roamgit1";
/// Largest payload of a control frame (offer, haves, result).
const MAX_CONTROL: usize = 1 << 20;
/// Largest pack chunk; the sender never sends more in one frame.
pub(crate) const MAX_DATA: usize = 1 << 16;
/// Most ref tips a receiver advertises; more only costs the sender a bigger pack.
pub(crate) const MAX_HAVES: usize = 4096;
/// Most root commits an offer may list.
pub(crate) const MAX_ROOTS: usize = 256;
/// Longest ref name or refusal reason.
pub(crate) const MAX_TEXT: usize = 4096;

const TAG_OFFER: u8 = 1;
const TAG_HAVES: u8 = 2;
const TAG_DATA: u8 = 3;
const TAG_DONE: u8 = 4;
const TAG_ACCEPTED: u8 = 5;
const TAG_REFUSED: u8 = 6;

/// One protocol message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Sender → receiver: "I want `ref_name` to point at `tip` of repo `key`".
    Offer {
        key: Oid,
        roots: Vec<Oid>,
        tip: Oid,
        ref_name: String,
    },
    /// Receiver → sender: commits the receiver already has.
    Haves(Vec<Oid>),
    /// Sender → receiver: the next chunk of the pack.
    Data(Vec<u8>),
    /// Sender → receiver: the pack is complete and was `bytes` long.
    Done { bytes: u64 },
    /// Receiver → sender: objects stored and ref updated.
    Accepted,
    /// Either side: giving up, with the reason for the other side's user.
    Refused(String),
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("stream error: {0}")]
    Io(#[from] io::Error),
    #[error("peer closed the connection")]
    Closed,
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Writes one message.
pub(crate) async fn write<W: AsyncWrite + Unpin>(w: &mut W, msg: &Msg) -> io::Result<()> {
    if let Msg::Data(chunk) = msg {
        return write_data(w, chunk).await;
    }
    let mut p = Vec::new();
    let tag = match msg {
        Msg::Offer {
            key,
            roots,
            tip,
            ref_name,
        } => {
            // Cut short, it would name another ref on the receiver.
            if ref_name.len() > MAX_TEXT {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "ref name of {} bytes is over the {MAX_TEXT}-byte limit",
                        ref_name.len()
                    ),
                ));
            }
            p.extend_from_slice(MAGIC);
            put_oid(&mut p, key);
            put_u32(&mut p, len_u32(roots.len()));
            roots.iter().for_each(|r| put_oid(&mut p, r));
            put_oid(&mut p, tip);
            put_text(&mut p, ref_name);
            TAG_OFFER
        }
        Msg::Haves(haves) => {
            put_u32(&mut p, len_u32(haves.len()));
            haves.iter().for_each(|h| put_oid(&mut p, h));
            TAG_HAVES
        }
        Msg::Done { bytes } => {
            p.extend_from_slice(&bytes.to_be_bytes());
            TAG_DONE
        }
        Msg::Accepted => TAG_ACCEPTED,
        Msg::Refused(reason) => {
            put_text(&mut p, reason);
            TAG_REFUSED
        }
        Msg::Data(_) => TAG_DATA, // handled above
    };
    w.write_u8(tag).await?;
    w.write_u32(len_u32(p.len())).await?;
    w.write_all(&p).await?;
    w.flush().await
}

/// Writes one pack chunk without copying it; `chunk` is at most [`MAX_DATA`].
pub(crate) async fn write_data<W: AsyncWrite + Unpin>(w: &mut W, chunk: &[u8]) -> io::Result<()> {
    debug_assert!(chunk.len() <= MAX_DATA);
    w.write_u8(TAG_DATA).await?;
    w.write_u32(len_u32(chunk.len())).await?;
    w.write_all(chunk).await
}

/// Reads one message; [`WireError::Closed`] for a clean end of stream before a frame.
pub(crate) async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<Msg, WireError> {
    let tag = match r.read_u8().await {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
        Err(e) => return Err(e.into()),
    };
    let len = r.read_u32().await? as usize;
    let bound = if tag == TAG_DATA {
        MAX_DATA
    } else {
        MAX_CONTROL
    };
    if len > bound {
        return Err(malformed(format!(
            "frame of {len} bytes exceeds the {bound}-byte bound"
        )));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    decode(tag, &payload)
}

fn decode(tag: u8, payload: &[u8]) -> Result<Msg, WireError> {
    let mut c = Cursor(payload);
    let msg = match tag {
        TAG_OFFER => {
            if c.take(MAGIC.len())? != MAGIC {
                return Err(malformed("not a roam gitsync offer (bad magic)".into()));
            }
            let key = c.oid()?;
            let roots = c.oids(MAX_ROOTS)?;
            let tip = c.oid()?;
            let ref_name = c.text()?;
            Msg::Offer {
                key,
                roots,
                tip,
                ref_name,
            }
        }
        TAG_HAVES => Msg::Haves(c.oids(MAX_HAVES)?),
        TAG_DATA => Msg::Data(c.take(payload.len())?.to_vec()),
        TAG_DONE => Msg::Done {
            bytes: u64::from_be_bytes(c.array()?),
        },
        TAG_ACCEPTED => Msg::Accepted,
        TAG_REFUSED => Msg::Refused(c.text()?),
        other => return Err(malformed(format!("unknown message tag {other}"))),
    };
    if !c.0.is_empty() {
        return Err(malformed(format!("{} trailing bytes", c.0.len())));
    }
    Ok(msg)
}

fn malformed(why: String) -> WireError {
    WireError::Malformed(why)
}

/// Lengths we write are bounded far below `u32::MAX` by the constants above.
fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_u32(p: &mut Vec<u8>, n: u32) {
    p.extend_from_slice(&n.to_be_bytes());
}

fn put_oid(p: &mut Vec<u8>, oid: &Oid) {
    // 40 or 64 hex characters, so the length fits a byte.
    p.push(u8::try_from(oid.0.len()).unwrap_or(0));
    p.extend_from_slice(oid.0.as_bytes());
}

/// Text over [`MAX_TEXT`] is cut at the last character boundary within it,
/// so the other side can still read it (a reason cut inside a character
/// arrived as "not utf-8"; found by fuzzing).
fn put_text(p: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let s = &s.as_bytes()[..end];
    p.extend_from_slice(&(s.len() as u16).to_be_bytes());
    p.extend_from_slice(s);
}

/// Reads fields off a payload, failing instead of panicking on short input.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.0.len() {
            return Err(malformed("message is truncated".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn oid(&mut self) -> Result<Oid, WireError> {
        let [len] = self.array()?;
        let raw = self.take(len as usize)?;
        std::str::from_utf8(raw)
            .ok()
            .and_then(Oid::parse)
            .ok_or_else(|| malformed("bad object id".into()))
    }

    fn oids(&mut self, max: usize) -> Result<Vec<Oid>, WireError> {
        let n = u32::from_be_bytes(self.array()?) as usize;
        if n > max {
            return Err(malformed(format!(
                "{n} object ids exceed the bound of {max}"
            )));
        }
        (0..n).map(|_| self.oid()).collect()
    }

    fn text(&mut self) -> Result<String, WireError> {
        let n = u16::from_be_bytes(self.array()?) as usize;
        if n > MAX_TEXT {
            return Err(malformed("text too long".into()));
        }
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| malformed("text is not utf-8".into()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    fn oid(c: char) -> Oid {
        Oid(c.to_string().repeat(40))
    }

    fn roundtrip(msg: Msg) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut buf = Vec::new();
            write(&mut buf, &msg).await.unwrap();
            let mut r = &buf[..];
            assert_eq!(read(&mut r).await.unwrap(), msg);
            assert!(matches!(read(&mut r).await, Err(WireError::Closed)));
        });
    }

    #[test]
    fn every_message_roundtrips() {
        roundtrip(Msg::Offer {
            key: oid('a'),
            roots: vec![oid('a'), oid('b')],
            tip: oid('c'),
            ref_name: "refs/roam/sync/x".into(),
        });
        roundtrip(Msg::Haves(vec![oid('d'); 3]));
        roundtrip(Msg::Data(vec![7; 100]));
        roundtrip(Msg::Done { bytes: 12345 });
        roundtrip(Msg::Accepted);
        roundtrip(Msg::Refused("no room".into()));
    }

    #[test]
    fn oversized_frame_is_rejected_before_allocating() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let frame = [TAG_DATA, 0xff, 0xff, 0xff, 0xff];
        let err = rt.block_on(read(&mut &frame[..])).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mut r = &bytes[..];
                while read(&mut r).await.is_ok() {}
            });
        }
    }
}
