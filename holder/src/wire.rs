//! The holder's protocol with its node, over the holder's Unix socket.
//!
//! A frame is `kind: u8, length: u32 LE, payload`. The first frame on every
//! connection is the holder's `Hello`, whose payload starts with `MAGIC`
//! and the protocol version, laid out the same in every version, so a node
//! can always tell which version a holder speaks and refuse it by name.
//! The node answers with `Attach` carrying its own version; a holder
//! refuses any version but its own by closing the connection.
//!
//! Hand-written rather than through the node's codec: the holder must stay
//! a few hundred KiB of resident memory and this is a handful of
//! fixed-layout messages; every decoder here bounds its sizes and returns an
//! error, never panics, on any input (`garbage_never_panics`).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bumped on any change to a frame's layout or meaning (2: `Up::Written`).
pub const VERSION: u16 = 2;

/// What tests set (in a node's environment, which its holders inherit) for
/// the node and its holders to speak another protocol version, standing for
/// a node and holders of another release.
pub const TEST_VERSION: &str = "ROAM_TEST_HOLDER_PROTOCOL";

/// The version this process speaks: `VERSION`, unless a test stands it for
/// another release (`TEST_VERSION`).
pub fn version() -> u16 {
    static VERSION_SPOKEN: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *VERSION_SPOKEN.get_or_init(|| {
        std::env::var(TEST_VERSION)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(VERSION)
    })
}
pub const MAGIC: &[u8; 4] = b"RMHD";
/// The largest payload of any frame: output travels in chunks this size.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Names in a hello (a workspace, an agent) are short; anything longer is
/// not a holder of ours.
const MAX_NAME: usize = 256;

const HELLO: u8 = 1;
const OUTPUT: u8 = 2;
const GAP: u8 = 3;
const EOF: u8 = 4;
const EXITED: u8 = 5;
const WRITTEN: u8 = 6;
const ATTACH: u8 = 16;
const INPUT: u8 = 17;
const RESIZE: u8 = 18;
const ACK: u8 = 19;
const RELEASE: u8 = 20;

/// What a holder says first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub holder_pid: u32,
    pub agent_pid: u32,
    pub workspace: String,
    pub agent: String,
    /// The offset (bytes since the agent started) the replay starts at:
    /// everything before it a node has said it saved (`Ack`).
    pub replay_from: u64,
    /// How many bytes from `replay_from` on a node was already sent (it
    /// saw them, answered their terminal queries, but may not have saved
    /// them).
    pub already_sent: u64,
}

/// Holder → node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Up {
    Hello(Hello),
    /// The agent's output, in order, from the replay's start on.
    Output(Vec<u8>),
    /// This many bytes were lost before the output that follows: they
    /// passed out of the holder's ring before any node saved them.
    Gap(u64),
    /// The terminal stopped giving output (every writer closed it).
    Eof,
    /// The agent ended with this code (128 + signal for a signal).
    Exited(i32),
    /// Every byte of this connection's input before this offset is written
    /// to the agent's terminal (or dropped, past the holder's own bound or
    /// once the terminal is gone): the node's bound on input not yet written
    /// holds across the socket, and an agent that stops reading stops the
    /// node's typing, not the holder's memory.
    Written(u64),
}

/// Node → holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Down {
    /// The node's version; the replay follows.
    Attach(u16),
    Input(Vec<u8>),
    Resize {
        rows: u16,
        cols: u16,
    },
    /// The node has saved every byte before this offset.
    Ack(u64),
    /// The node has what it needs (the exit code): the holder may go once
    /// its agent has ended.
    Release,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("holder connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("holder frame of {0} bytes is over the bound")]
    TooLong(usize),
    #[error("unknown holder frame kind {0}")]
    UnknownKind(u8),
    #[error("malformed holder frame: {0}")]
    Malformed(&'static str),
    #[error("not a roam holder (no magic)")]
    NotAHolder,
    #[error("the holder speaks protocol {theirs}; this roam speaks {ours}")]
    Version { theirs: u16, ours: u16 },
}

impl Up {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Up::Hello(h) => frame(out, HELLO, |p| {
                p.extend_from_slice(MAGIC);
                p.extend_from_slice(&h.version.to_le_bytes());
                p.extend_from_slice(&h.holder_pid.to_le_bytes());
                p.extend_from_slice(&h.agent_pid.to_le_bytes());
                put_str(p, &h.workspace);
                put_str(p, &h.agent);
                p.extend_from_slice(&h.replay_from.to_le_bytes());
                p.extend_from_slice(&h.already_sent.to_le_bytes());
            }),
            Up::Output(bytes) => frame(out, OUTPUT, |p| p.extend_from_slice(bytes)),
            Up::Gap(n) => frame(out, GAP, |p| p.extend_from_slice(&n.to_le_bytes())),
            Up::Eof => frame(out, EOF, |_| {}),
            Up::Exited(code) => frame(out, EXITED, |p| p.extend_from_slice(&code.to_le_bytes())),
            Up::Written(n) => frame(out, WRITTEN, |p| p.extend_from_slice(&n.to_le_bytes())),
        }
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<Up, WireError> {
        let mut r = Reader(payload);
        let up = match kind {
            HELLO => {
                if r.take(4)? != MAGIC {
                    return Err(WireError::NotAHolder);
                }
                let version = r.u16()?;
                if version != self::version() {
                    return Err(WireError::Version {
                        theirs: version,
                        ours: self::version(),
                    });
                }
                Up::Hello(Hello {
                    version,
                    holder_pid: r.u32()?,
                    agent_pid: r.u32()?,
                    workspace: r.str()?,
                    agent: r.str()?,
                    replay_from: r.u64()?,
                    already_sent: r.u64()?,
                })
            }
            OUTPUT => return Ok(Up::Output(payload.to_vec())),
            GAP => Up::Gap(r.u64()?),
            EOF => Up::Eof,
            EXITED => Up::Exited(r.u32()? as i32),
            WRITTEN => Up::Written(r.u64()?),
            other => return Err(WireError::UnknownKind(other)),
        };
        r.end()?;
        Ok(up)
    }
}

impl Down {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Down::Attach(v) => frame(out, ATTACH, |p| p.extend_from_slice(&v.to_le_bytes())),
            Down::Input(bytes) => frame(out, INPUT, |p| p.extend_from_slice(bytes)),
            Down::Resize { rows, cols } => frame(out, RESIZE, |p| {
                p.extend_from_slice(&rows.to_le_bytes());
                p.extend_from_slice(&cols.to_le_bytes());
            }),
            Down::Ack(n) => frame(out, ACK, |p| p.extend_from_slice(&n.to_le_bytes())),
            Down::Release => frame(out, RELEASE, |_| {}),
        }
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<Down, WireError> {
        let mut r = Reader(payload);
        let down = match kind {
            ATTACH => Down::Attach(r.u16()?),
            INPUT => return Ok(Down::Input(payload.to_vec())),
            RESIZE => Down::Resize {
                rows: r.u16()?,
                cols: r.u16()?,
            },
            ACK => Down::Ack(r.u64()?),
            RELEASE => Down::Release,
            other => return Err(WireError::UnknownKind(other)),
        };
        r.end()?;
        Ok(down)
    }
}

/// Input longer than a frame goes in several.
pub fn input_frames(bytes: &[u8]) -> impl Iterator<Item = Down> + '_ {
    bytes
        .chunks(MAX_PAYLOAD)
        .map(|chunk| Down::Input(chunk.to_vec()))
}

/// The length of a frame's header.
pub const HEAD: usize = 5;

/// The payload length a frame's header announces, refused past the bound
/// before anything is allocated for it.
pub fn payload_len(head: &[u8; HEAD]) -> Result<usize, WireError> {
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    match len > MAX_PAYLOAD + 64 {
        true => Err(WireError::TooLong(len)),
        false => Ok(len),
    }
}

/// A whole frame in a buffer: its kind, its payload, and its length with
/// the header.
pub type Framed<'a> = (u8, &'a [u8], usize);

/// The first whole frame in `buf`; `None` while it is not all there.
pub fn split_frame(buf: &[u8]) -> Result<Option<Framed<'_>>, WireError> {
    let Some(head) = buf.first_chunk::<HEAD>() else {
        return Ok(None);
    };
    let len = payload_len(head)?;
    Ok(buf
        .get(HEAD..HEAD + len)
        .map(|payload| (head[0], payload, HEAD + len)))
}

/// Reads one frame; `None` at a clean end of the stream (between frames).
/// Not cancel-safe: read frames on a task of their own.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<(u8, Vec<u8>)>, WireError> {
    let mut head = [0u8; HEAD];
    let mut got = 0;
    while got < head.len() {
        let n = r.read(&mut head[got..]).await?;
        if n == 0 {
            return match got {
                0 => Ok(None),
                _ => Err(WireError::Malformed("stream ended inside a frame header")),
            };
        }
        got += n;
    }
    let mut payload = vec![0u8; payload_len(&head)?];
    r.read_exact(&mut payload).await?;
    Ok(Some((head[0], payload)))
}

pub async fn read_up<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Up>, WireError> {
    match read_frame(r).await? {
        Some((kind, payload)) => Up::decode(kind, &payload).map(Some),
        None => Ok(None),
    }
}

pub async fn write_down<W: AsyncWrite + Unpin>(w: &mut W, down: &Down) -> Result<(), WireError> {
    let mut buf = Vec::new();
    down.encode(&mut buf);
    w.write_all(&buf).await?;
    Ok(())
}

fn frame(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(kind);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(MAX_NAME)];
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Malformed("payload too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn str(&mut self) -> Result<String, WireError> {
        let len = self.u16()? as usize;
        if len > MAX_NAME {
            return Err(WireError::Malformed("name too long"));
        }
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| WireError::Malformed("name is not UTF-8"))
    }

    fn end(&self) -> Result<(), WireError> {
        match self.0.is_empty() {
            true => Ok(()),
            false => Err(WireError::Malformed("trailing bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn hello() -> Hello {
        Hello {
            version: VERSION,
            holder_pid: 7,
            agent_pid: 8,
            workspace: "ws".into(),
            agent: "claude".into(),
            replay_from: 1 << 40,
            already_sent: 12,
        }
    }

    fn split(buf: &[u8]) -> (u8, &[u8]) {
        (buf[0], &buf[5..])
    }

    #[test]
    fn every_frame_reads_back_as_written() {
        for up in [
            Up::Hello(hello()),
            Up::Output(b"hi\r\n".to_vec()),
            Up::Gap(99),
            Up::Eof,
            Up::Exited(-1),
            Up::Written(1 << 33),
        ] {
            let mut buf = Vec::new();
            up.encode(&mut buf);
            let (kind, payload) = split(&buf);
            assert_eq!(Up::decode(kind, payload).unwrap(), up);
        }
        for down in [
            Down::Attach(VERSION),
            Down::Input(vec![3]),
            Down::Resize {
                rows: 50,
                cols: 200,
            },
            Down::Ack(5),
            Down::Release,
        ] {
            let mut buf = Vec::new();
            down.encode(&mut buf);
            let (kind, payload) = split(&buf);
            assert_eq!(Down::decode(kind, payload).unwrap(), down);
        }
    }

    #[test]
    fn a_hello_of_another_version_is_refused_by_its_version() {
        let mut buf = Vec::new();
        Up::Hello(Hello {
            version: VERSION + 1,
            ..hello()
        })
        .encode(&mut buf);
        let (kind, payload) = split(&buf);
        match Up::decode(kind, payload) {
            Err(WireError::Version { theirs, ours }) => {
                assert_eq!((theirs, ours), (VERSION + 1, VERSION))
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_allocating() {
        let mut bytes: &[u8] = &[OUTPUT, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut bytes).await,
            Err(WireError::TooLong(_))
        ));
    }

    #[test]
    fn frames_split_out_of_a_buffer_as_written() {
        let mut buf = Vec::new();
        Down::Input(b"hi".to_vec()).encode(&mut buf);
        Down::Ack(7).encode(&mut buf);
        let (kind, payload, len) = split_frame(&buf).unwrap().unwrap();
        assert_eq!(
            Down::decode(kind, payload).unwrap(),
            Down::Input(b"hi".to_vec())
        );
        let (kind, payload, _) = split_frame(&buf[len..]).unwrap().unwrap();
        assert_eq!(Down::decode(kind, payload).unwrap(), Down::Ack(7));
        assert!(split_frame(&buf[..len - 1]).unwrap().is_none());
        assert!(matches!(
            split_frame(&[INPUT, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::TooLong(_))
        ));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(kind: u8, payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Up::decode(kind, &payload);
            let _ = Down::decode(kind, &payload);
            let mut framed = vec![kind];
            framed.extend_from_slice(&payload);
            let _ = split_frame(&framed);
        }
    }
}
