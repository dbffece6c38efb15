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
use std::io::Write;

use dxf_hyper::{Digest, Registry};
use tokio::io::AsyncReadExt;

#[path = "common/env_config.rs"]
mod env_config;
use env_config::config;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, digests @ ..] = args.as_slice() else {
        return Err("usage: pull REPO DIGEST...".into());
    };
    let repo = Registry::new(&config()?)?.repository(repo)?;
    // Plain blocking writes to stdout (tokio's `io-std` is not enabled for the library);
    // fine for an example writing to a file or a pipe.
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 20];
    for digest in digests {
        let digest = Digest::parse(digest)?;
        let mut blob = repo.pull_blob(&digest, None).await?;
        loop {
            let n = blob
                .read(&mut buf)
                .await
                .map_err(|e| format!("{digest}: {e}"))?;
            if n == 0 {
                break;
            }
            stdout.write_all(buf.get(..n).unwrap_or_default())?;
        }
    }
    stdout.flush()?;
    Ok(())
}
