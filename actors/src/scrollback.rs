//! A bounded ring of raw terminal output, mirrored to an append-only file.
//!
//! Hand-written: no crate keeps a byte ring and its on-disk copy together.
//! The file only ever grows by appends (cheap, crash-safe: a kill loses at
//! most what was not yet appended) and is rewritten from the ring when it
//! passes twice the ring's size, so disk use stays bounded.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

/// All an agent printed, secrets included: for its owner only.
const PRIVATE: u32 = 0o600;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct Scrollback {
    ring: VecDeque<u8>,
    cap: usize,
    path: PathBuf,
    /// Bytes pushed since the last successful append to the file.
    pending: Vec<u8>,
    /// The pending bytes no longer describe the file's tail (they overflowed
    /// the ring); the next persist rewrites the whole file.
    rewrite: bool,
    file_len: u64,
}

impl Scrollback {
    /// Opens the scrollback at `path`, loading at most `cap` bytes of what an
    /// earlier run left there.
    pub fn open(path: &Path, cap: usize) -> std::io::Result<Scrollback> {
        let cap = cap.max(1024);
        let mut ring = VecDeque::new();
        let mut file_len = 0;
        if let Ok(mut f) = File::open(path) {
            file_len = f.metadata()?.len();
            let start = file_len.saturating_sub(cap as u64);
            f.seek(SeekFrom::Start(start))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            ring.extend(buf);
        }
        Ok(Scrollback {
            ring,
            cap,
            path: path.to_path_buf(),
            pending: Vec::new(),
            rewrite: false,
            file_len,
        })
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.ring.extend(bytes);
        let over = self.ring.len().saturating_sub(self.cap);
        self.ring.drain(..over);
        if self.rewrite {
            return;
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() > self.cap {
            self.pending.clear();
            self.rewrite = true;
        }
    }

    pub fn contents(&self) -> Vec<u8> {
        let (a, b) = self.ring.as_slices();
        [a, b].concat()
    }

    /// The last `n` bytes, for rebuilding a screen without replaying 10 MiB.
    pub fn tail(&self, n: usize) -> Vec<u8> {
        let skip = self.ring.len().saturating_sub(n);
        self.ring.iter().skip(skip).copied().collect()
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Appends what is new to the file, or rewrites it when it grew past
    /// twice the ring. Nothing is lost on error: the bytes stay pending.
    pub fn persist(&mut self) -> std::io::Result<()> {
        if self.rewrite || self.file_len > 2 * self.cap as u64 {
            return self.rewrite_file();
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE)
            .open(&self.path)?;
        f.write_all(&self.pending)?;
        self.file_len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn rewrite_file(&mut self) -> std::io::Result<()> {
        // Write beside and rename, so a crash mid-rewrite keeps the old file.
        let tmp = self.path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(PRIVATE)
            .open(&tmp)?;
        let contents = self.contents();
        f.write_all(&contents)?;
        f.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file_len = contents.len() as u64;
        self.pending.clear();
        self.rewrite = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ring_keeps_the_newest_bytes_and_the_file_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb");
        let mut sb = Scrollback::open(&path, 1024).unwrap();
        for i in 0..1000u32 {
            sb.push(format!("{i:05}\n").as_bytes());
            if i % 7 == 0 {
                sb.persist().unwrap();
            }
        }
        sb.persist().unwrap();
        let contents = sb.contents();
        assert_eq!(contents.len(), 1024);
        assert!(contents.ends_with(b"00999\n"));
        let reopened = Scrollback::open(&path, 1024).unwrap();
        assert_eq!(reopened.contents(), contents);
        assert!(std::fs::metadata(&path).unwrap().len() <= 3 * 1024);
    }
}
