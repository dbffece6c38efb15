//! # dxf-hyper: the async dxf client
//!
//! [hyper](https://docs.rs/hyper) 1 (hyper-util's pooled client, rustls) on tokio driving
//! the [`dxf_proto`] state machines. Same operations and semantics as `dxf-ureq`, in async
//! form; this crate does IO and nothing else — every status code, header, redirect and auth
//! decision lives in dxf-proto.
//!
//! ```no_run
//! use dxf_hyper::{Config, PushOptions, Registry};
//! use tokio::io::AsyncReadExt;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::new("localhost:5000");
//! config.insecure = true;
//! let registry = Registry::new(&config)?; // cheap to clone, share it between tasks
//! let repo = registry.repository("team/data")?;
//! let pushed = repo.push_blob_path("data.bin".as_ref(), PushOptions::new()).await?;
//! repo.set_alias("latest", &[pushed.digest.clone()]).await?;
//! let mut blob = repo.pull_blob(&pushed.digest, None).await?;
//! let mut bytes = Vec::new();
//! blob.read_to_end(&mut bytes).await?; // fails on a digest or length mismatch
//! let tags = repo.list_aliases(None)?.collect_all().await?;
//! # Ok(()) }
//! ```
//!
//! **Concurrency**: clones of a [`Registry`] share one connection pool and one session;
//! when several tasks need a token for the same scope, one fetches it and the others wait
//! and reuse it. **Cancellation**: no task is spawned per request; dropping any future (or a
//! [`BlobReader`]) stops its transfer, and a blob is only ever reported good by the read
//! that verified it.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod body;
mod client;
mod driver;
mod error;
mod tls;

pub use body::BlobReader;
pub use client::{hash_reader, Names, Registry, Repository};
pub use dxf_cache as blob_cache;
pub use dxf_docker_config as docker_config;
pub use dxf_docker_config::WithDockerCredentials;
pub use dxf_proto;
pub use dxf_proto::client::exports::*;
