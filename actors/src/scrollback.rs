//! A bounded ring of raw terminal output, mirrored to an append-only file.
//!
//! Hand-written: no crate keeps a byte ring and its on-disk copy together.
//! The file only ever grows by appends (cheap, crash-safe: a kill loses at
//! most what was not yet appended) and is rewritten from the ring when it
//! passes twice the ring's size, so disk use stays bounded. The file is
//! written on a thread of its own, never on the caller's.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

/// All an agent printed, secrets included: for its owner only.
const PRIVATE: u32 = 0o600;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};

pub struct Scrollback {
    ring: VecDeque<u8>,
    cap: usize,
    /// Bytes pushed since the last append was handed to the writer.
    pending: Vec<u8>,
    /// The pending bytes no longer describe the file's tail (they overflowed
    /// the ring); the next persist rewrites the whole file.
    rewrite: bool,
    /// How long the file is once the writer has done what it was handed.
    file_len: u64,
    writer: Writer,
}

/// The file side, on a thread of its own: an append or a rewrite (up to
/// twice the ring, with a `sync_data`) must not hold up the actor that
/// feeds the terminal, nor the async threads it runs on.
struct Writer {
    jobs: Option<Sender<Job>>,
    /// Set by the thread when the file must be rewritten from the ring: it
    /// grew past twice the ring, or an append failed (the bytes are still
    /// in the ring, so the rewrite loses nothing the ring keeps).
    rewrite_wanted: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Job {
    Append(Vec<u8>),
    Rewrite(Vec<u8>),
    /// Answered once every job before it is done.
    Flush(Sender<()>),
    /// Run once every job before it is done, if the file holds what they
    /// wrote.
    Then(Box<dyn FnOnce() + Send>),
}

impl Scrollback {
    /// Opens the scrollback at `path`, loading at most `cap` bytes of what an
    /// earlier run left there.
    pub fn open(path: &Path, cap: usize) -> std::io::Result<Scrollback> {
        let cap = cap.max(1024);
        let (buf, file_len) = read_tail(path, cap)?;
        let ring = VecDeque::from(buf);
        let rewrite_wanted = Arc::new(AtomicBool::new(false));
        let (jobs, rx) = std::sync::mpsc::channel();
        let file = FileSide {
            path: path.to_path_buf(),
            file_len,
            rewrite_wanted: rewrite_wanted.clone(),
            failed: false,
        };
        let thread = std::thread::Builder::new()
            .name("scrollback".into())
            .spawn(move || file.run(rx))?;
        Ok(Scrollback {
            ring,
            cap,
            pending: Vec::new(),
            rewrite: false,
            file_len,
            writer: Writer {
                jobs: Some(jobs),
                rewrite_wanted,
                thread: Some(thread),
            },
        })
    }

    /// What the file at `path` holds, at most `cap` bytes of its tail: a
    /// stopped agent's scrollback, read without a writer. Blocking.
    pub fn read(path: &Path, cap: usize) -> std::io::Result<Vec<u8>> {
        read_tail(path, cap.max(1024)).map(|(buf, _)| buf)
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

    /// Hands what is new to the writer (an append, or the whole ring when
    /// the file must be rewritten). Never blocks.
    pub fn persist(&mut self) {
        let rewrite = self.rewrite
            || self.file_len > 2 * self.cap as u64
            || self.writer.rewrite_wanted.swap(false, Ordering::AcqRel);
        let job = if rewrite {
            self.pending.clear();
            self.rewrite = false;
            let contents = self.contents();
            self.file_len = contents.len() as u64;
            Job::Rewrite(contents)
        } else if self.pending.is_empty() {
            return;
        } else {
            self.file_len += self.pending.len() as u64;
            Job::Append(std::mem::take(&mut self.pending))
        };
        if let Some(jobs) = &self.writer.jobs
            && jobs.send(job).is_err()
        {
            tracing::warn!("the scrollback writer is gone; output is kept in memory only");
        }
    }

    /// Persists, and has the writer run `then` once the file holds
    /// everything pushed so far (not at all if a write failed and the file
    /// waits to be rewritten: what it lacks would pass for saved).
    pub fn after_written(&mut self, then: Box<dyn FnOnce() + Send>) {
        self.persist();
        if let Some(jobs) = &self.writer.jobs {
            let _ = jobs.send(Job::Then(then));
        }
    }

    /// Persists and waits until the file holds everything pushed. Blocking.
    pub fn flush(&mut self) {
        self.persist();
        let (done, wait) = std::sync::mpsc::channel();
        if let Some(jobs) = &self.writer.jobs
            && jobs.send(Job::Flush(done)).is_ok()
        {
            let _ = wait.recv();
        }
    }

    /// Persists, then lets the writer finish: the returned thread ends once
    /// the file holds everything (join it off the async threads).
    pub fn close(&mut self) -> Option<std::thread::JoinHandle<()>> {
        self.persist();
        self.writer.jobs = None;
        self.writer.thread.take()
    }
}

/// The tail of the file at `path` (at most `cap` bytes) and the file's length.
fn read_tail(path: &Path, cap: usize) -> std::io::Result<(Vec<u8>, u64)> {
    let mut buf = Vec::new();
    let mut file_len = 0;
    if let Ok(mut f) = File::open(path) {
        file_len = f.metadata()?.len();
        let start = file_len.saturating_sub(cap as u64);
        f.seek(SeekFrom::Start(start))?;
        f.read_to_end(&mut buf)?;
    }
    Ok((buf, file_len))
}

/// The writer thread's state: the file and how long it is.
struct FileSide {
    path: PathBuf,
    file_len: u64,
    rewrite_wanted: Arc<AtomicBool>,
    /// A write failed and no rewrite has succeeded since.
    failed: bool,
}

impl FileSide {
    fn run(mut self, jobs: Receiver<Job>) {
        for job in jobs {
            let rewrote = matches!(job, Job::Rewrite(_));
            let done = match job {
                Job::Append(bytes) => self.append(&bytes),
                Job::Rewrite(contents) => self.rewrite(&contents),
                Job::Flush(done) => {
                    let _ = done.send(());
                    continue;
                }
                Job::Then(then) => {
                    if !self.failed {
                        then();
                    }
                    continue;
                }
            };
            match done {
                Ok(()) if rewrote => self.failed = false,
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot persist scrollback; will rewrite it from memory");
                    self.failed = true;
                    self.rewrite_wanted.store(true, Ordering::Release);
                }
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE)
            .open(&self.path)?;
        f.write_all(bytes)?;
        self.file_len += bytes.len() as u64;
        Ok(())
    }

    fn rewrite(&mut self, contents: &[u8]) -> std::io::Result<()> {
        // Write beside and rename, so a crash mid-rewrite keeps the old file.
        let tmp = self.path.with_extension("tmp");
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(PRIVATE)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file_len = contents.len() as u64;
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
                sb.persist();
            }
        }
        sb.flush();
        let contents = sb.contents();
        assert_eq!(contents.len(), 1024);
        assert!(contents.ends_with(b"00999\n"));
        let reopened = Scrollback::open(&path, 1024).unwrap();
        assert_eq!(reopened.contents(), contents);
        assert!(std::fs::metadata(&path).unwrap().len() <= 3 * 1024);
    }

    #[test]
    fn what_runs_after_written_sees_the_bytes_in_the_file_and_never_runs_after_a_failed_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb");
        let mut sb = Scrollback::open(&path, 1024).unwrap();
        sb.push(b"saved\n");
        let (tx, rx) = std::sync::mpsc::channel();
        let file = path.clone();
        sb.after_written(Box::new(move || {
            let _ = tx.send(std::fs::read(&file).unwrap());
        }));
        assert_eq!(rx.recv().unwrap(), b"saved\n");

        // The file cannot be written (a directory took its place): what
        // would pass the lost bytes for saved never runs.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        sb.push(b"lost\n");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        sb.after_written(Box::new(move || {
            let _ = tx.send(());
        }));
        sb.flush();
        assert!(rx.try_recv().is_err(), "ran after a failed write");
    }
}
