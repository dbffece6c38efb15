//! Pulls blobs to stdout, each verified while streaming (the async counterpart of
//! `dxf pull-blob REPO DIGEST...`; used by `bench/run.sh`).
//!
//! ```text
//! DXF_HOST=localhost:5000 DXF_INSECURE=1 cargo run -p dxf-hyper --example pull -- REPO DIGEST... > out
//! ```
//!
//! Also reads `DXF_USERNAME` / `DXF_PASSWORD`, `DXF_TLSVERIFY` (a CA bundle path) and
//! `DXF_SKIPTLSVERIFY=1`, like the `dxf` command.

use std::error::Error;
use std::future::poll_fn;
use std::io::Write;
use std::pin::Pin;

use dxf_hyper::{Digest, Registry};
use futures_core::Stream;

#[path = "common/env_config.rs"]
mod env_config;
use env_config::config;

// One thread: hyper's connection task and this one take turns without waking each other
// across threads for every frame (measured, 1 GiB on 2 cores: ~20 % less CPU than the
// multi-threaded runtime); hashing still runs beside it, on the blocking pool.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, digests @ ..] = args.as_slice() else {
        return Err("usage: pull REPO DIGEST...".into());
    };
    let repo = Registry::new(&config()?)?.repository(repo)?;
    // Plain blocking writes to stdout (tokio's `io-std` is not enabled for the library);
    // fine for an example writing to a file or a pipe.
    let mut stdout = stdout()?;
    for digest in digests {
        let digest = Digest::parse(digest)?;
        let mut blob = repo.pull_blob(&digest, None).await?;
        // The blob's chunks as they come (the `Stream` side of the reader), written
        // straight from hyper's buffers: no copy into a buffer of ours.
        while let Some(chunk) = poll_fn(|cx| Pin::new(&mut blob).poll_next(cx)).await {
            let chunk = chunk.map_err(|e| format!("{digest}: {e}"))?;
            stdout.write_all(&chunk)?;
        }
    }
    stdout.flush()?;
    Ok(())
}

/// Stdout as file descriptor 1 itself, not through `std::io::Stdout` (whose `LineWriter`
/// splits every chunk at its last newline into two writes); on Linux a pipe there is made
/// larger (1 MiB), as the `dxf` command does.
#[cfg(unix)]
fn stdout() -> std::io::Result<Box<dyn Write>> {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    #[cfg(target_os = "linux")]
    if let Ok(size) = rustix::pipe::fcntl_getpipe_size(&fd) {
        if size < 1 << 20 {
            let _ = rustix::pipe::fcntl_setpipe_size(&fd, 1 << 20);
        }
    }
    Ok(Box::new(std::fs::File::from(fd)))
}

#[cfg(not(unix))]
fn stdout() -> std::io::Result<Box<dyn Write>> {
    Ok(Box::new(std::io::stdout().lock()))
}
