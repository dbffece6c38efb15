//! Transport settings, for both adapters. Timeouts, against a stalling fake server on
//! loopback: a server that never answers, and one that sends a blob's head and part of its
//! body and then stalls; both must fail within the configured timeout, and a stalled blob is
//! never read as good. TLS verification, against the registry's test CA: the CA bundle and
//! "skip" work, Mozilla's roots refuse it, and so does a bundle without certificates.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use dxf_ureq::dxf_proto::{Credentials, Digest};

use dxf_tests::{Mode, TestRegistry};

use crate::adapter::{connect, try_connect, Kind, Push, Settings, Tls};

/// How long the fake server holds a connection before closing it.
const HOLD: Duration = Duration::from_secs(6);
/// The clients' timeout.
const TIMEOUT: Duration = Duration::from_millis(400);

/// Serves up to `connections` connections: reads each request head, writes `response`
/// (nothing if empty), then holds the connection open for [`HOLD`]. Returns `host:port`.
fn stalling_server(response: Vec<u8>, connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { break };
            let response = response.clone();
            held.push(thread::spawn(move || serve(&mut stream, &response)));
        }
        for h in held {
            let _ = h.join();
        }
    });
    host
}

fn serve(stream: &mut TcpStream, response: &[u8]) {
    let _ = stream.set_read_timeout(Some(HOLD));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    if !response.is_empty() {
        let _ = stream.write_all(response);
    }
    thread::sleep(HOLD);
}

fn settings(host: String) -> Settings {
    Settings {
        host,
        insecure: true,
        tls: Tls::WebPki,
        credentials: Credentials::None,
        token: None,
        chunk_size: None,
        timeout: Some(TIMEOUT),
        // Each failure shows as it is (retries have their own tests in faults.rs).
        retries: dxf_ureq::dxf_proto::RetryPolicy::never(),
        interrupt: dxf_ureq::Interrupt::new(),
        blob_cache: None,
    }
}

fn a_silent_server_times_out(kind: Kind) {
    let c = connect(kind, &settings(stalling_server(Vec::new(), 1)));
    let start = Instant::now();
    let e = c.version_check().unwrap_err();
    assert!(start.elapsed() < HOLD / 2, "{:?}: {e}", start.elapsed());
    assert!(e.to_string().to_lowercase().contains("time"), "{e}");
}

fn a_stalled_blob_times_out_and_is_never_good(kind: Kind) {
    let blob = b"0123456789".repeat(10);
    let digest = Digest::parse(&dxf_tests::cli::sha256(&blob)).unwrap();
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nDocker-Content-Digest: {digest}\r\n\r\n",
        blob.len()
    )
    .into_bytes();
    response.extend_from_slice(&blob[..40]);
    let c = connect(kind, &settings(stalling_server(response, 1)));
    let start = Instant::now();
    let (size, read) = c.pull("stall/r", &digest, None).unwrap();
    assert_eq!(size, Some(100));
    let e = read.unwrap_err();
    assert!(start.elapsed() < HOLD / 2, "{:?}: {e}", start.elapsed());
    assert!(e.to_string().to_lowercase().contains("time"), "{e}");
}

#[test]
fn ureq_silent_server() {
    a_silent_server_times_out(Kind::Ureq);
}

#[test]
fn hyper_silent_server() {
    a_silent_server_times_out(Kind::Hyper);
}

#[test]
fn ureq_stalled_blob() {
    a_stalled_blob_times_out_and_is_never_good(Kind::Ureq);
}

#[test]
fn hyper_stalled_blob() {
    a_stalled_blob_times_out_and_is_never_good(Kind::Hyper);
}

fn tls_verification(kind: Kind) {
    let reg = TestRegistry::start(Mode::Basic);
    let mut settings = Settings::for_registry(&reg);
    let pushed = connect(kind, &settings)
        .push_reader("tls/r", b"over tls", Push::new())
        .unwrap();
    settings.tls = Tls::Skip;
    assert!(connect(kind, &settings)
        .blob_exists("tls/r", &pushed.digest)
        .unwrap());
    settings.tls = Tls::WebPki;
    let e = connect(kind, &settings)
        .blob_exists("tls/r", &pushed.digest)
        .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    let empty = tempfile::NamedTempFile::new().unwrap();
    settings.tls = Tls::CaBundle(empty.path().to_path_buf());
    let Err(e) = try_connect(kind, &settings) else {
        panic!("an empty CA bundle is a configuration error")
    };
    assert!(e.to_string().contains("no certificates"), "{e}");
}

#[test]
fn ureq_tls_verification() {
    tls_verification(Kind::Ureq);
}

#[test]
fn hyper_tls_verification() {
    tls_verification(Kind::Hyper);
}
