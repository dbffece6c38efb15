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
//! A body that breaks midway (connection reset, cut short, stalled) is continued as
//! dxf-proto's [`BlobPull`] decides — the bytes received, the speed floor, how many
//! resumes, the `Range` request, what a whole-blob answer repeats, when the blob is done or
//! failed for good; this file reads the bodies, hashes, and runs the resume request.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Instant;

use dxf_proto::client::{BlobPull, PullFailure, Resumption};
use dxf_proto::{BlobVerifier, Digest, Interrupt};

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
    fn finish(self, last: Vec<u8>, end: usize) -> Result<(), PullFailure> {
        // A failed send means the thread already stopped on an error, returned by join.
        let _ = self.full.send((last, end));
        drop(self.full);
        match self.thread.join() {
            Ok(r) => r.map(drop).map_err(PullFailure::Blob),
            // Not reachable with `clippy::panic` denied, but never a clean end.
            Err(_) => Err(PullFailure::other("blob hashing thread failed")),
        }
    }
}

/// Runs the request that continues a broken pull: the new body and the blob offset its
/// first byte is at ([`Download::offset`](dxf_proto::Download::offset)).
pub(crate) type Resume = Box<dyn FnMut(Resumption) -> io::Result<(ureq::Body, u64)> + Send>;

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
    /// The receive error that failed the pull after some bytes of a buffer: reported as
    /// it came by the next refill (later ones report the pull's copy).
    pending: Option<io::Error>,
    /// The pull's decisions and state: bytes received, resumes, done or failed.
    pull: BlobPull,
    resume: Resume,
    /// Raised: the next refill fails with `Cancelled`, and so does a blocked receive.
    interrupt: Interrupt,
    /// The pull's clock.
    started: Instant,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", self.pull.digest())
            .field("len", &self.pull.size())
            .finish()
    }
}

impl BlobReader {
    pub(crate) fn new(
        body: ureq::Body,
        verifier: BlobVerifier,
        pull: BlobPull,
        resume: Resume,
        interrupt: Interrupt,
    ) -> BlobReader {
        BlobReader {
            body: body.into_reader(),
            verifier: Some(verifier),
            hasher: None,
            cur: Vec::new(),
            pos: 0,
            end: 0,
            allocated: 0,
            eof: false,
            pending: None,
            pull,
            resume,
            interrupt,
            started: Instant::now(),
        }
    }

    /// The blob's size, when the registry announced it.
    pub fn size(&self) -> Option<u64> {
        self.pull.size()
    }

    /// The digest the blob is verified against.
    pub fn digest(&self) -> &Digest {
        self.pull.digest()
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

    fn fail(&mut self, failure: PullFailure) -> io::Error {
        self.pull.fail(failure).to_io()
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
            Ok(()) => self.fail(PullFailure::other("blob hashing stopped early")),
        }
    }

    /// The verdict once the body has ended: hands over the last buffer and joins the
    /// thread, or (a blob that fit in one buffer) checks inline.
    fn verdict(&mut self) -> io::Result<()> {
        let last = std::mem::take(&mut self.cur);
        let end = std::mem::replace(&mut self.end, 0);
        self.pos = 0;
        let verdict = match (self.hasher.take(), self.verifier.take()) {
            (Some(h), _) => h.finish(last, end),
            (None, Some(mut v)) => v
                .update(last.get(..end).unwrap_or_default())
                .and_then(|()| v.finish())
                .map(drop)
                .map_err(PullFailure::Blob),
            (None, None) => Err(PullFailure::other("blob verified twice")),
        };
        self.pull.verdict(verdict).map_err(|f| f.to_io())
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
        if self.interrupt.is_raised() {
            return Err(self.fail(dxf_proto::Error::Cancelled.into()));
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
            let e = match self.body.read(space) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    let arrival = self.pull.on_bytes(n, self.started.elapsed());
                    // Bytes received before a resume that started over: dropped.
                    if arrival.skip > 0 {
                        buf.copy_within(filled + arrival.skip..filled + n, filled);
                    }
                    filled += n - arrival.skip;
                    match arrival.stall {
                        None => continue,
                        Some(stall) => io::Error::new(io::ErrorKind::TimedOut, stall),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A timeout reads as the bound that ran out.
                Err(e) => match transport::io_stall(&e, self.pull.bounds().idle) {
                    Some(stall) => io::Error::new(io::ErrorKind::TimedOut, stall),
                    None => e,
                },
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
        self.cur = buf;
        self.end = filled;
        Ok(())
    }

    /// After a receive error: whether the body was replaced by the rest of the blob (and
    /// reading goes on), as the pull decides; otherwise the pull failed with it. Never for
    /// an error of our own making.
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
        if !broken {
            self.pull.fail(PullFailure::io(e));
            return false;
        }
        let Ok(from) = self.pull.on_break(PullFailure::io(e)) else {
            return false;
        };
        let answer = (self.resume)(from);
        let Ok(body) = self.pull.resumed(answer, self.started.elapsed()) else {
            return false;
        };
        self.body = body.into_reader();
        true
    }
}

impl BufRead for BlobReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.end && !self.pull.is_verified() {
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            // A failed blob stays failed: a caller that reads on never sees a clean end.
            if let Some(failed) = self.pull.failed() {
                return Err(failed.to_io());
            }
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
    use std::sync::{Arc, Mutex};

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
        // Nothing to resume from: a break is reported.
        let resume: Resume = Box::new(|_| Err(io::Error::other("no resume")));
        blob_reader(response.into_body(), digest, expected_len, resume, 4)
    }

    /// The reader of `body` for the blob `digest` (of `len` bytes when known), continued
    /// by `resume` at most `resumes` times.
    fn blob_reader(
        body: ureq::Body,
        digest: Digest,
        len: Option<u64>,
        resume: Resume,
        resumes: u32,
    ) -> BlobReader {
        let download = dxf_proto::Download {
            verifier: BlobVerifier::new(digest, len).unwrap(),
            len,
            offset: 0,
        };
        let mut limits = dxf_proto::Limits::default();
        limits.retry.max_retries = resumes;
        let session = dxf_proto::Session::new("r.test", dxf_proto::Scheme::Http)
            .unwrap()
            .with_limits(limits);
        let repo = session.repository("r").unwrap();
        let pull = BlobPull::new(&session, &repo, &download);
        BlobReader::new(body, download.verifier, pull, resume, Interrupt::new())
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

    /// How the resuming server answers one connection.
    #[derive(Clone, Copy)]
    enum Answer {
        /// The rest asked for (a `206` to a range, else a `200`), cut after this many bytes.
        Cut(usize),
        /// The rest asked for, whole.
        Rest,
        /// The whole blob in a `200`, whatever was asked.
        Whole,
        /// The rest, with its first byte flipped.
        Corrupt,
    }

    /// Serves `data` from a loopback listener, one connection per answer in turn, and
    /// returns its address and the range starts asked for (0: no `Range`).
    fn resuming_server(
        data: Vec<u8>,
        answers: Vec<Answer>,
    ) -> (std::net::SocketAddr, Arc<Mutex<Vec<u64>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for answer in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
                let start: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("range: bytes="))
                    .map_or(0, |r| r.trim_end_matches('-').parse().unwrap());
                log.lock().unwrap().push(start as u64);
                let len = data.len();
                let (status, from) = match answer {
                    Answer::Whole => ("200 OK", 0),
                    _ if start > 0 => ("206 Partial Content", start),
                    _ => ("200 OK", 0),
                };
                let mut body = data[from..].to_vec();
                let mut head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if from > 0 {
                    head += &format!("Content-Range: bytes {from}-{}/{len}\r\n", len - 1);
                }
                head += "\r\n";
                match answer {
                    Answer::Cut(n) => body.truncate(n),
                    Answer::Corrupt => body[0] ^= 1,
                    Answer::Rest | Answer::Whole => {}
                }
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            }
        });
        (addr, asked)
    }

    /// A reader for `data` served by [`resuming_server`], with `resumes` resumes that
    /// ask the same server for the rest (the offset is the one asked for on a `206`).
    fn resuming_reader(
        data: &[u8],
        answers: Vec<Answer>,
        resumes: u32,
    ) -> (BlobReader, Arc<Mutex<Vec<u64>>>) {
        let (addr, asked) = resuming_server(data.to_vec(), answers);
        let url = format!("http://{addr}/blob");
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let first = agent.get(&url).call().unwrap();
        let resume: Resume = Box::new(move |from| {
            let offset = from.offset();
            let response = agent
                .get(&url)
                .header("range", &format!("bytes={offset}-"))
                .call()
                .map_err(io::Error::other)?;
            let from = match response.status().as_u16() {
                206 => offset,
                _ => 0,
            };
            Ok((response.into_body(), from))
        });
        let mut h = dxf_proto::Sha256::new();
        h.update(data);
        let len = Some(data.len() as u64);
        let reader = blob_reader(first.into_body(), h.finish(), len, resume, resumes);
        (reader, asked)
    }

    #[test]
    fn a_broken_body_is_resumed_into_the_same_verifier() {
        for len in SIZES.into_iter().filter(|&l| l > 2) {
            let d = data(len);
            let (a, b) = (len / 3, len / 2);
            // Cut twice, resumed twice with the rest (206): the bytes asked for are the
            // bytes received, and the blob is whole.
            let answers = vec![Answer::Cut(a), Answer::Cut(b - a), Answer::Rest];
            let (mut r, asked) = resuming_reader(&d, answers, 2);
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert!(got == d, "{len}");
            assert_eq!(*asked.lock().unwrap(), [0, a as u64, b as u64], "{len}");
            assert_eq!(r.read(&mut [0u8; 10]).unwrap(), 0, "{len}");
            // Resumed with the whole blob again (200): what was received is skipped, in
            // small reads.
            let answers = vec![Answer::Cut(b), Answer::Whole];
            let (mut r, _) = resuming_reader(&d, answers, 1);
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
            // Cut right at the start: the resume asks from 0 (no range).
            let answers = vec![Answer::Cut(0), Answer::Rest];
            let (mut r, asked) = resuming_reader(&d, answers, 1);
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert!(got == d, "{len}");
            assert_eq!(*asked.lock().unwrap(), [0, 0], "{len}");
        }
    }

    #[test]
    fn resumes_are_bounded_and_still_verified() {
        for len in SIZES.into_iter().filter(|&l| l > 2) {
            let d = data(len);
            let (a, b) = (len / 3, len / 2);
            // More breaks than resumes (or none allowed): the break is reported, and stays.
            for resumes in [0, 1] {
                let answers = vec![Answer::Cut(a), Answer::Cut(b - a), Answer::Rest];
                let (mut r, asked) = resuming_reader(&d, answers, resumes);
                let e = r.read_to_end(&mut Vec::new()).unwrap_err();
                assert!(e
                    .get_ref()
                    .unwrap()
                    .downcast_ref::<dxf_proto::Error>()
                    .is_none());
                let again = r.read(&mut [0u8; 10]).unwrap_err();
                assert_eq!(again.kind(), e.kind(), "{len} {resumes}");
                assert_eq!(again.to_string(), e.to_string(), "{len} {resumes}");
                assert_eq!(asked.lock().unwrap().len(), resumes as usize + 1);
            }
            // A resumed body that is corrupted fails the digest check.
            let answers = vec![Answer::Cut(a), Answer::Corrupt];
            let (mut r, _) = resuming_reader(&d, answers, 2);
            let e = r.read_to_end(&mut Vec::new()).unwrap_err();
            assert!(
                matches!(proto_error(&e), dxf_proto::Error::DigestMismatch { .. }),
                "{len}: {e}"
            );
            assert!(r.read(&mut [0u8; 10]).is_err(), "{len}");
            // A resume that fails (nobody answers): the break is reported, not its error.
            let (mut r, _) = resuming_reader(&d, vec![Answer::Cut(a)], 2);
            let e = r.read_to_end(&mut Vec::new()).unwrap_err();
            assert!(e
                .get_ref()
                .unwrap()
                .downcast_ref::<dxf_proto::Error>()
                .is_none());
            assert!(!e.to_string().contains("refused"), "{len}: {e}");
            assert!(r.read(&mut [0u8; 10]).is_err(), "{len}");
        }
    }
}
