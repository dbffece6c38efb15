//! [`BlobReader`]: a pulled blob as a `Read` (and `BufRead`) that runs every byte through the
//! [`BlobVerifier`](dxf_proto::BlobVerifier) and fails the final `read` — never silently —
//! when the digest or length is wrong.
//!
//! Hashing overlaps receiving: the body is read in [`BUF_SIZE`] buffers, and each buffer the
//! caller has consumed goes to a hashing thread while the next one is received. At most
//! [`BUFFERS`] buffers exist (bounded memory whatever the blob's size). A blob that fits in
//! one buffer is hashed inline, without a thread. The end is reported only after the
//! hashing thread has seen every byte and the verifier accepted them.
//!
//! A body that breaks midway (connection reset, cut short) is continued: a new request asks
//! for the rest (dxf-proto's `GetBlob::resume`, `Range: bytes=N-`) and its bytes go on
//! into the same verifier, a bounded number of times (the retry policy's count).

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use std::time::{Duration, Instant};

use dxf_proto::{BlobVerifier, BodyBounds, BodyWatch, Digest, Interrupt};

use crate::transport;

/// Bytes received per buffer.
const BUF_SIZE: usize = 128 * 1024;
/// Buffers in flight (being consumed, queued for hashing, being hashed). Measured on 2
/// cores, 1 GiB: 16 × 128 KiB pulls ~10 % faster than 4 × 256 KiB or 4 × 1 MiB (fewer
/// stalls of the receiving thread on the hashing one); 2 MiB in all.
const BUFFERS: usize = 16;

/// The hashing thread and its two channels: full buffers in, hashed buffers back.
struct Hasher {
    full: SyncSender<(Vec<u8>, usize)>,
    empty: Receiver<Vec<u8>>,
    thread: JoinHandle<Result<Digest, dxf_proto::Error>>,
}

/// Why a blob failed: the verifier's verdict, or the hashing thread's failure.
#[derive(Clone, Debug)]
enum Failed {
    Proto(dxf_proto::Error),
    Broken(&'static str),
}

impl Failed {
    fn to_io(&self) -> io::Error {
        match self {
            Failed::Proto(e) => io::Error::new(io::ErrorKind::InvalidData, e.clone()),
            Failed::Broken(what) => io::Error::other(*what),
        }
    }
}

impl Hasher {
    fn start(mut verifier: BlobVerifier) -> io::Result<Hasher> {
        let (full, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
        let (empty_tx, empty) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        let thread = std::thread::Builder::new()
            .name("dxf-blob-hash".into())
            .spawn(move || {
                for (buf, end) in full_rx {
                    verifier.update(buf.get(..end).unwrap_or_default())?;
                    let _ = empty_tx.send(buf);
                }
                verifier.finish()
            })?;
        Ok(Hasher {
            full,
            empty,
            thread,
        })
    }

    /// Hands over the last buffer, closes the input and waits for the verdict.
    fn finish(self, last: Vec<u8>, end: usize) -> Result<Digest, Failed> {
        // A failed send means the thread already stopped on an error, returned by join.
        let _ = self.full.send((last, end));
        drop(self.full);
        match self.thread.join() {
            Ok(r) => r.map_err(Failed::Proto),
            // Not reachable with `clippy::panic` denied, but never a clean end.
            Err(_) => Err(Failed::Broken("blob hashing thread failed")),
        }
    }
}

/// Fetches the rest of a blob from a byte offset: the new body and the blob offset its first
/// byte is at (the offset asked for, or 0 when the registry sent the whole blob again).
pub(crate) type Resume = Box<dyn FnMut(u64) -> io::Result<(ureq::Body, u64)> + Send>;

/// A blob being downloaded. Reads return the blob's bytes; the `read` that reaches the end
/// returns `Ok(0)` only if the blob matched its digest and length, and an
/// `io::ErrorKind::InvalidData` error carrying the [`dxf_proto::Error`] otherwise.
pub struct BlobReader {
    body: ureq::BodyReader<'static>,
    /// Until the hashing thread starts (or the inline check at the end).
    verifier: Option<BlobVerifier>,
    hasher: Option<Hasher>,
    /// The buffer being consumed: `cur[pos..end]` is unread.
    cur: Vec<u8>,
    pos: usize,
    end: usize,
    /// Buffers allocated so far (at most [`BUFFERS`]).
    allocated: usize,
    /// The body has ended (everything received is in `cur`).
    eof: bool,
    /// The blob was verified and its end reported.
    done: bool,
    /// A receive error met after some bytes of a buffer: reported by the next refill.
    pending: Option<io::Error>,
    digest: Digest,
    len: Option<u64>,
    failed: Option<Failed>,
    /// Blob bytes received so far (the offset a resume asks from).
    received: u64,
    /// How to continue after a broken body, and how many more times.
    resume: Option<Resume>,
    resumes_left: u32,
    /// Raised: the next refill fails with `Cancelled`, and so does a blocked receive.
    interrupt: Interrupt,
    /// The speed floor (dxf-proto's [`BodyBounds`]); falling below it counts as a break.
    bounds: BodyBounds,
    speed: BodyWatch,
    started: Instant,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("len", &self.len)
            .finish()
    }
}

impl BlobReader {
    pub(crate) fn new(
        body: ureq::Body,
        verifier: BlobVerifier,
        len: Option<u64>,
        resume: Option<(Resume, u32)>,
        interrupt: Interrupt,
        bounds: BodyBounds,
    ) -> BlobReader {
        let (resume, resumes_left) = match resume {
            Some((r, n)) => (Some(r), n),
            None => (None, 0),
        };
        BlobReader {
            received: 0,
            resume,
            resumes_left,
            body: body.into_reader(),
            digest: verifier.expected().clone(),
            len: len.or(verifier.expected_len()),
            verifier: Some(verifier),
            hasher: None,
            cur: Vec::new(),
            pos: 0,
            end: 0,
            allocated: 0,
            eof: false,
            done: false,
            pending: None,
            failed: None,
            interrupt,
            speed: BodyWatch::new(&bounds, Duration::ZERO, Duration::ZERO),
            bounds,
            started: Instant::now(),
        }
    }

    /// The blob's size, when the registry announced it.
    pub fn size(&self) -> Option<u64> {
        self.len
    }

    /// The digest the blob is verified against.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Reads the rest of the blob into `sink`, verifying it; returns the bytes copied.
    pub fn copy_to(&mut self, sink: &mut impl io::Write) -> io::Result<u64> {
        let mut copied = 0u64;
        loop {
            let chunk = self.fill_buf()?;
            if chunk.is_empty() {
                return Ok(copied);
            }
            sink.write_all(chunk)?;
            let n = chunk.len();
            copied += n as u64;
            self.consume(n);
        }
    }

    fn fail(&mut self, failed: Failed) -> io::Error {
        let e = failed.to_io();
        self.failed = Some(failed);
        e
    }

    /// Hands a consumed buffer to the hashing thread (starting it on first use).
    fn hand_off(&mut self, buf: Vec<u8>, end: usize) -> io::Result<()> {
        if self.hasher.is_none() {
            if let Some(v) = self.verifier.take() {
                self.hasher = Some(Hasher::start(v)?);
            }
        }
        let sent = match &self.hasher {
            Some(h) => h.full.send((buf, end)).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The thread stopped early: the verifier refused a chunk (too long).
        Err(self.stopped_early())
    }

    fn stopped_early(&mut self) -> io::Error {
        match self.verdict() {
            Err(e) => e,
            Ok(()) => {
                self.done = false;
                self.fail(Failed::Broken("blob hashing stopped early"))
            }
        }
    }

    /// The verdict once the body has ended: hands over the last buffer and joins the
    /// thread, or (a blob that fit in one buffer) checks inline.
    fn verdict(&mut self) -> io::Result<()> {
        let last = std::mem::take(&mut self.cur);
        let end = std::mem::replace(&mut self.end, 0);
        self.pos = 0;
        let result = match (self.hasher.take(), self.verifier.take()) {
            (Some(h), _) => h.finish(last, end),
            (None, Some(mut v)) => v
                .update(last.get(..end).unwrap_or_default())
                .and_then(|()| v.finish())
                .map_err(Failed::Proto),
            (None, None) => Err(Failed::Broken("blob verified twice")),
        };
        match result {
            Ok(_) => {
                self.done = true;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// An empty buffer: a hashed one back from the thread, or a new one.
    fn spare(&mut self) -> io::Result<Vec<u8>> {
        if let Some(h) = &self.hasher {
            if let Ok(buf) = h.empty.try_recv() {
                return Ok(buf);
            }
            if self.allocated >= BUFFERS {
                if let Ok(buf) = h.empty.recv() {
                    return Ok(buf);
                }
                return Err(self.stopped_early());
            }
        }
        self.allocated += 1;
        Ok(vec![0; BUF_SIZE])
    }

    /// Replaces the consumed buffer with the next one received.
    fn refill(&mut self) -> io::Result<()> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        if self.interrupt.is_raised() {
            return Err(self.fail(Failed::Proto(dxf_proto::Error::Cancelled)));
        }
        let old = std::mem::take(&mut self.cur);
        let mut buf = if self.end > 0 {
            let end = std::mem::replace(&mut self.end, 0);
            self.hand_off(old, end)?;
            self.spare()?
        } else if old.is_empty() {
            self.spare()?
        } else {
            old
        };
        self.pos = 0;
        let mut filled = 0;
        let _watch = transport::watch(&self.interrupt, false);
        while let Some(space) = buf.get_mut(filled..).filter(|s| !s.is_empty()) {
            match self.body.read(space) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    filled += n;
                    self.received += n as u64;
                    if let Err(stall) = self.speed.on_bytes(n, self.started.elapsed()) {
                        let e = io::Error::new(io::ErrorKind::TimedOut, stall);
                        if !self.continue_after(&e) {
                            self.pending = Some(e);
                            break;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A timeout reads as the bound that ran out.
                    let e = match transport::io_stall(&e, self.bounds.idle) {
                        Some(stall) => io::Error::new(io::ErrorKind::TimedOut, stall),
                        None => e,
                    };
                    if self.continue_after(&e) {
                        continue;
                    }
                    if filled == 0 {
                        self.cur = buf;
                        return Err(e);
                    }
                    self.pending = Some(e);
                    break;
                }
            }
        }
        self.cur = buf;
        self.end = filled;
        Ok(())
    }
}

impl BlobReader {
    /// After a receive error: whether the body was replaced by the rest of the blob (and
    /// reading goes on). Never for an error of our own making, never past the bound.
    fn continue_after(&mut self, e: &io::Error) -> bool {
        let broken = matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Other
        ) && e
            .get_ref()
            .is_none_or(|inner| !inner.is::<dxf_proto::Error>());
        if !broken || self.resumes_left == 0 {
            return false;
        }
        let Some(resume) = self.resume.as_mut() else {
            return false;
        };
        self.resumes_left -= 1;
        let Ok((body, offset)) = resume(self.received) else {
            return false;
        };
        let mut reader = body.into_reader();
        // A whole blob again (the registry ignored the range): skip what was received.
        // Those bytes arrive under the same speed floor as any others.
        let mut speed = BodyWatch::new(&self.bounds, Duration::ZERO, self.started.elapsed());
        let mut left = self.received.saturating_sub(offset);
        let mut scratch = vec![0; 16 * 1024];
        while left > 0 {
            let want = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(scratch.len());
            match reader.read(scratch.get_mut(..want).unwrap_or_default()) {
                Ok(0) => return false,
                Ok(n) => {
                    left = left.saturating_sub(n as u64);
                    if speed.on_bytes(n, self.started.elapsed()).is_err() {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.body = reader;
        self.speed = speed;
        true
    }
}

impl BufRead for BlobReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        // A failed blob stays failed: a caller that reads on never sees a clean end.
        if let Some(failed) = &self.failed {
            return Err(failed.to_io());
        }
        while self.pos >= self.end && !self.done {
            if self.eof {
                self.verdict()?;
            } else {
                self.refill()?;
            }
        }
        Ok(self.cur.get(self.pos..self.end).unwrap_or_default())
    }

    fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt).min(self.end);
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let chunk = self.fill_buf()?;
        let n = chunk.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), chunk.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// Serves one response with `body` (announcing `announced` bytes) and returns the
    /// blob reader for it, verifying against `data`'s digest and `expected_len`.
    fn reader(
        data: &[u8],
        body: Vec<u8>,
        announced: usize,
        expected_len: Option<u64>,
    ) -> BlobReader {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        });
        let digest = {
            let mut h = dxf_proto::Sha256::new();
            h.update(data);
            h.finish()
        };
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let response = agent.get(&format!("http://{addr}/blob")).call().unwrap();
        let verifier = BlobVerifier::new(digest, expected_len).unwrap();
        BlobReader::new(
            response.into_body(),
            verifier,
            expected_len,
            None,
            Interrupt::new(),
            dxf_proto::Timeouts::default().for_body(dxf_proto::BodyPlan::Deliver),
        )
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn proto_error(e: &io::Error) -> &dxf_proto::Error {
        e.get_ref()
            .unwrap()
            .downcast_ref::<dxf_proto::Error>()
            .unwrap()
    }

    /// Sizes below one buffer (hashed inline), exactly one, and several (hashing thread).
    const SIZES: [usize; 5] = [0, 1000, BUF_SIZE, BUF_SIZE + 1, 5 * BUF_SIZE + 12345];

    #[test]
    fn good_blobs_read_whole_in_any_read_size() {
        for len in SIZES {
            let d = data(len);
            let mut got = Vec::new();
            reader(&d, d.clone(), len, Some(len as u64))
                .read_to_end(&mut got)
                .unwrap();
            assert!(got == d, "{len}");
            // Small reads and the BufRead path.
            let mut r = reader(&d, d.clone(), len, None);
            let mut got = Vec::new();
            let mut small = [0u8; 1000];
            loop {
                let n = r.read(&mut small).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&small[..n]);
            }
            assert!(got == d, "{len}");
            assert_eq!(r.read(&mut small).unwrap(), 0);
            let mut sink = Vec::new();
            assert_eq!(
                reader(&d, d.clone(), len, None).copy_to(&mut sink).unwrap(),
                len as u64
            );
            assert!(sink == d, "{len}");
        }
    }

    #[test]
    fn a_corrupted_blob_fails_at_the_end_and_stays_failed() {
        for len in SIZES.into_iter().filter(|&l| l > 0) {
            let d = data(len);
            for flip in [0, len / 2, len - 1] {
                let mut bad = d.clone();
                bad[flip] ^= 1;
                let mut r = reader(&d, bad, len, Some(len as u64));
                let mut got = Vec::new();
                let e = r.read_to_end(&mut got).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{len} {flip}");
                assert!(
                    matches!(proto_error(&e), dxf_proto::Error::DigestMismatch { .. }),
                    "{len} {flip}: {e}"
                );
                assert!(
                    r.read(&mut [0u8; 10]).is_err(),
                    "{len} {flip}: stays failed"
                );
                assert!(r.fill_buf().is_err());
            }
        }
    }

    #[test]
    fn wrong_lengths_never_end_cleanly() {
        for len in SIZES.into_iter().filter(|&l| l > 0) {
            let d = data(len);
            // More bytes than expected (the verifier stops the hashing thread early).
            let mut r = reader(&d, d.clone(), len, Some(len as u64 - 1));
            let e = r.read_to_end(&mut Vec::new()).unwrap_err();
            assert!(
                matches!(proto_error(&e), dxf_proto::Error::LengthMismatch { .. }),
                "{len}: {e}"
            );
            // The connection closes early: a transport error or a length mismatch.
            let mut r = reader(&d, d[..len / 2].to_vec(), len, Some(len as u64));
            assert!(r.read_to_end(&mut Vec::new()).is_err(), "{len}");
            assert!(r.read(&mut [0u8; 10]).is_err() || len / 2 == 0);
        }
    }
}
