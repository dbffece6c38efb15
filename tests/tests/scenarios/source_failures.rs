//! Uploads whose local source fails midway, over both adapters on the real registry behind
//! the fault proxy (which logs what reaches the registry). Whatever the source does — a
//! file that shrinks while it is pushed (in one pass or whole), a stream reader that fails,
//! a source blob that breaks while it is copied to another registry — the upload is sent
//! once and never retried, the failure is reported as the source's (never as the
//! registry's network failing), and the registry's upload session is cancelled
//! (`DELETE`), as for any abandoned upload.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::adapter::{connect, connect_copy, connect_raw, Failure, Push, Raw, Settings};
use super::{Kind, Mode};
use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::fault_proxy::{direct, Exchange, Fault, FaultProxy, Rule};
use dxf_tests::TestRegistry;
use dxf_ureq::dxf_proto::{Digest, Error as ProtoError};

/// `reg` behind a fresh fault proxy, and the settings of a client going through it.
fn proxied(reg: &TestRegistry) -> (FaultProxy, Settings) {
    let proxy = FaultProxy::for_registry(reg);
    let mut settings = Settings::for_registry(reg);
    settings.host = proxy.host();
    (proxy, settings)
}

/// The proxy's exchanges with `method` whose target contains `path`.
fn exchanges(log: &[Exchange], method: &str, path: &str) -> usize {
    log.iter()
        .filter(|e| e.method == method && e.target.contains(path))
        .count()
}

/// The upload's body went out once in a `method` request (never retried, nothing
/// committed), and its session was cancelled.
#[track_caller]
fn session_cancelled(reg: &TestRegistry, proxy: &FaultProxy, repo: &str, method: &str) {
    let log = proxy.log();
    let uploads = format!("/v2/{repo}/blobs/uploads/");
    assert_eq!(
        exchanges(&log, "POST", &uploads),
        1,
        "one session: {log:#?}"
    );
    let bodies = exchanges(&log, "PATCH", &uploads) + exchanges(&log, "PUT", &uploads);
    assert_eq!(bodies, 1, "sent once: {log:#?}");
    assert_eq!(exchanges(&log, method, &uploads), 1, "{log:#?}");
    let deleted: Vec<&str> = log
        .iter()
        .filter(|e| e.method == "DELETE" && e.target.starts_with(&uploads))
        .map(|e| e.target.as_str())
        .collect();
    let [session] = deleted[..] else {
        panic!("the upload session is cancelled, once: {log:#?}")
    };
    // The registry, asked directly, no longer knows it.
    let status = direct(&reg.host(), "GET", session).unwrap().status;
    assert_eq!(status, 404, "{session}");
}

/// Bytes of the files that shrink while they are pushed.
const FILE_LEN: usize = (3 << 20) + 5;

/// Pushes a file of [`FILE_LEN`] bytes to `repo` of a fresh registry — in one pass (one
/// relayed `PATCH`, hashed as it goes) or whole (its digest given: one monolithic `PUT`
/// streamed from the file) — that shrinks to 1000 bytes once 1 MiB was read (the request
/// is then surely out: its body is read only as it is sent). Checks that the session was
/// cancelled, and returns the push's error.
fn push_a_shrinking_file(kind: Kind, repo: &str, single_pass: bool) -> Failure {
    let reg = TestRegistry::start(Mode::Plain);
    let (proxy, settings) = proxied(&reg);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrinks");
    let data = random_bytes(FILE_LEN, 31);
    std::fs::write(&path, &data).unwrap();
    let mut shrunk = false;
    let mut progress = |_: Option<&Digest>, done: u64, _: Option<u64>| {
        if done >= 1 << 20 && !shrunk {
            shrunk = true;
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(1000).unwrap();
        }
    };
    let push = Push {
        skip_if_exists: false,
        single_pass,
        digest: (!single_pass).then(|| Digest::parse(&sha256(&data)).unwrap()),
        progress: Some(&mut progress),
        ..Push::new()
    };
    let e = connect(kind, &settings)
        .push_path(repo, &path, push)
        .expect_err("a file that shrank is never committed");
    let method = if single_pass { "PATCH" } else { "PUT" };
    session_cancelled(&reg, &proxy, repo, method);
    e
}

/// Pushed in one pass, the file does not reach its announced length: the upload refuses
/// it as a length mismatch, and its session is deleted.
fn a_file_that_shrinks_while_pushed_in_one_pass_cancels_its_session(kind: Kind) {
    let e = push_a_shrinking_file(kind, "k/shrinks", true);
    assert!(
        matches!(e.proto(), Some(ProtoError::LengthMismatch { expected, .. }) if *expected == FILE_LEN as u64),
        "{e:?}"
    );
}

/// Pushed whole, the file's shortfall is a local error, after the session is deleted —
/// never the request retried as if the network had lost it.
fn a_file_that_shrinks_while_put_is_a_local_error(kind: Kind) {
    let e = push_a_shrinking_file(kind, "k/put", false);
    assert_eq!(
        e.to_string(),
        "reading the upload source: blob file shrank while sent"
    );
}

/// What [`Failing`] fails with once its data is read.
const FAILURE: &str = "the disk is on fire";

/// A stream source that fails after its data.
struct Failing(io::Cursor<Vec<u8>>);

impl Failing {
    fn new(len: usize) -> Failing {
        Failing(io::Cursor::new(random_bytes(len, 32)))
    }

    fn read_into(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match io::Read::read(&mut self.0, buf)? {
            0 if !buf.is_empty() => Err(io::Error::other(FAILURE)),
            n => Ok(n),
        }
    }
}

impl io::Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_into(buf)
    }
}

impl tokio::io::AsyncRead for Failing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.read_into(buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// A stream pushed in chunks whose reader fails after the first chunk went out: the
/// reader's error, named as a read of the upload's source, after the session is deleted.
fn a_stream_that_fails_while_pushed_cancels_its_session(kind: Kind) {
    let reg = TestRegistry::start(Mode::Plain);
    let (proxy, settings) = proxied(&reg);
    // 1 MiB chunks: the first goes out, the reader fails while the second is gathered.
    let mut source = Failing::new((1 << 20) + (1 << 19));
    let e = match connect_raw(kind, &settings) {
        Raw::Ureq(r) => r
            .repository("k/fails")
            .unwrap()
            .push_blob_reader(&mut source, dxf_ureq::PushOptions::default())
            .unwrap_err()
            .to_string(),
        Raw::Hyper(h) => {
            let repo = h.registry.repository("k/fails").unwrap();
            h.rt.block_on(repo.push_blob_reader(&mut source, dxf_hyper::PushOptions::default()))
                .unwrap_err()
                .to_string()
        }
    };
    session_cancelled(&reg, &proxy, "k/fails", "PATCH");
    assert_eq!(e, format!("reading the upload source: {FAILURE}"));
}

/// A source blob whose body keeps breaking (every resume too) while it is streamed to
/// another registry: the source's failure — not the destination's network — after the
/// destination's session is deleted.
fn a_source_blob_that_breaks_mid_copy_is_not_the_destinations_failure(kind: Kind) {
    let reg = TestRegistry::start(Mode::Plain);
    let (proxy, settings) = proxied(&reg);
    let other = TestRegistry::start(Mode::Plain);
    let (dst_proxy, to) = proxied(&other);
    let c = connect_copy(kind, &settings);
    let data = random_bytes((3 << 20) + 5, 33);
    let pushed = c.push_reader("k/src", &data, Push::new()).unwrap();
    c.set_alias("k/src", "a", std::slice::from_ref(&pushed.digest))
        .unwrap();
    proxy.add(Rule::on("GET", "/blobs/sha256:", Fault::truncate(100_000)).always());
    let e = c
        .copy("k/src", "a", Some(&to), "k/dst", None, 1)
        .expect_err("a broken source blob is never copied");
    session_cancelled(&other, &dst_proxy, "k/dst", "PATCH");
    let log = dst_proxy.log();
    assert_eq!(exchanges(&log, "PUT", "/manifests/"), 0, "{log:#?}");
    let text = e.to_string();
    assert!(!text.contains(&dst_proxy.host()), "{text}");
    assert!(text.starts_with("reading the upload source: "), "{text}");
}

macro_rules! both_adapters {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::Kind;
            #[test]
            fn ureq() {
                super::$scenario(Kind::Ureq);
            }
            #[test]
            fn hyper() {
                super::$scenario(Kind::Hyper);
            }
        }
    )*};
}

both_adapters!(
    a_file_that_shrinks_while_pushed_in_one_pass_cancels_its_session,
    a_file_that_shrinks_while_put_is_a_local_error,
    a_stream_that_fails_while_pushed_cancels_its_session,
    a_source_blob_that_breaks_mid_copy_is_not_the_destinations_failure,
);
