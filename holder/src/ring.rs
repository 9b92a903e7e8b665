//! The holder's bounded ring of the agent's output, addressed by offset
//! (bytes since the agent started). It keeps what no node has said it
//! saved, up to its cap; past the cap the oldest bytes go and are counted,
//! so a node that reads from before them is told how many it missed.
//!
//! Memory follows what is kept, not the cap: a node attached and saving
//! keeps the ring near empty, and the buffer shrinks back after a burst.

use std::collections::VecDeque;

/// Below this the buffer is never shrunk (not worth the reallocations).
const SHRINK_ABOVE: usize = 256 * 1024;

pub struct Ring {
    buf: VecDeque<u8>,
    /// The offset of `buf[0]`.
    start: u64,
    cap: usize,
}

impl Ring {
    pub fn new(cap: usize) -> Ring {
        Ring {
            buf: VecDeque::new(),
            start: 0,
            cap: cap.max(1),
        }
    }

    /// The offset of the oldest byte kept.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The offset just past the newest byte.
    pub fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        let over = self.buf.len().saturating_sub(self.cap);
        if over > 0 {
            self.buf.drain(..over);
            self.start += over as u64;
        }
    }

    /// Forgets every byte before `offset` (a node saved them).
    pub fn forget_before(&mut self, offset: u64) {
        let n = offset.saturating_sub(self.start).min(self.buf.len() as u64) as usize;
        self.buf.drain(..n);
        self.start += n as u64;
        if self.buf.capacity() > SHRINK_ABOVE && self.buf.len() < self.buf.capacity() / 4 {
            self.buf.shrink_to(self.buf.len() * 2);
        }
    }

    /// Up to `max` bytes from `offset` on (which must be within the ring).
    pub fn read_at(&self, offset: u64, max: usize) -> Vec<u8> {
        let skip = offset.saturating_sub(self.start).min(self.buf.len() as u64) as usize;
        let (a, b) = self.buf.as_slices();
        let mut out = Vec::with_capacity(max.min(self.buf.len() - skip));
        if skip < a.len() {
            let take = (a.len() - skip).min(max);
            out.extend_from_slice(&a[skip..skip + take]);
        }
        let skip_b = skip.saturating_sub(a.len());
        let room = max - out.len();
        if room > 0 && skip_b < b.len() {
            let take = (b.len() - skip_b).min(room);
            out.extend_from_slice(&b[skip_b..skip_b + take]);
        }
        out
    }

    /// Bytes of buffer held, for the memory a holder uses.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_overflow_and_reads_cross_the_wrap() {
        let mut ring = Ring::new(10);
        ring.push(b"0123456789");
        ring.push(b"abc");
        assert_eq!((ring.start(), ring.end()), (3, 13));
        assert_eq!(ring.read_at(3, 100), b"3456789abc");
        assert_eq!(
            ring.read_at(0, 4),
            b"3456",
            "before the ring reads from its start"
        );
        assert_eq!(ring.read_at(11, 100), b"bc");
        assert_eq!(ring.read_at(13, 100), b"");
        ring.forget_before(8);
        assert_eq!(ring.read_at(8, 100), b"89abc");
        ring.forget_before(100);
        assert_eq!((ring.start(), ring.end()), (13, 13));
    }

    #[test]
    fn the_buffer_shrinks_once_a_burst_is_saved() {
        let mut ring = Ring::new(4 << 20);
        ring.push(&vec![b'x'; 4 << 20]);
        assert!(ring.capacity() >= 4 << 20);
        ring.forget_before(ring.end() - 10);
        assert!(ring.capacity() < 1 << 20, "{}", ring.capacity());
        assert_eq!(ring.read_at(ring.start(), 100).len(), 10);
    }
}
