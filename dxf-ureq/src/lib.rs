//! # dxf-ureq: the blocking dxf client
//!
//! [ureq](https://docs.rs/ureq) 3 driving the [`dxf_proto`] state machines. This crate does
//! IO and nothing else: every status code, header, redirect and auth decision lives in
//! dxf-proto. Its API mirrors python-dxf's module API:
//!
//! ```no_run
//! use dxf_ureq::{Config, PushOptions, Registry};
//! use std::io::Read;
//!
//! let mut config = Config::new("localhost:5000");
//! config.insecure = true;
//! let registry = Registry::new(&config)?;
//! let repo = registry.repository("team/data")?;
//! let pushed = repo.push_blob_path("data.bin".as_ref(), PushOptions::new())?;
//! repo.set_alias("latest", &[pushed.digest.clone()])?;
//! let mut blob = repo.pull_blob(&pushed.digest, None)?;
//! let mut bytes = Vec::new();
//! blob.read_to_end(&mut bytes)?; // fails on a digest or length mismatch
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod client;
mod driver;
mod error;
pub mod parallel;
mod tls;
mod transport;

pub use body::BlobReader;
pub use client::{hash_reader, Names, Registry, Repository};
pub use driver::ReadSeek;
pub use dxf_cache as blob_cache;
pub use dxf_docker_config as docker_config;
pub use dxf_docker_config::WithDockerCredentials;
pub use dxf_proto;
pub use dxf_proto::client::exports::*;
