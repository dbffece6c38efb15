//! # dxf-docker-config: docker's client credentials, with the IO
//!
//! Finds credentials for a registry host the way the docker CLI does, and stores and
//! removes them the way `docker login` and `docker logout` do. Every decision (which
//! entry matches a host, helper precedence, the file and helper formats) is in
//! [`dxf_proto::docker_config`]; this crate reads and writes the file and runs the
//! `docker-credential-NAME` helper programs. Blocking (std only); both `dxf-ureq` and
//! `dxf-hyper` re-export it as `docker_config`.
//!
//! ```no_run
//! use dxf_docker_config::DockerConfigDir;
//!
//! // $DOCKER_CONFIG, else ~/.docker
//! if let Some(dir) = DockerConfigDir::from_env() {
//!     let credentials = dir.credentials("registry.example:5000")?;
//!     println!("{credentials:?}"); // secrets are never printed
//! }
//! # Ok::<(), dxf_docker_config::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod config;
mod dir;
mod error;
mod helper;

pub use config::WithDockerCredentials;
pub use dir::{DockerConfigDir, Logout, CONFIG_FILE, DOCKER_CONFIG};
pub use dxf_proto::docker_config::{DockerConfig, DockerConfigError};
pub use dxf_proto::Credentials;
pub use error::Error;
pub use helper::run_helper;
