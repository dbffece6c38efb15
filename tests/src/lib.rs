//! Integration-test harness for dxf: runs a real CNCF distribution registry
//! (`docker-registry` 2.8.2) on loopback — plain HTTP, HTTPS + Basic (htpasswd), or HTTPS +
//! Bearer tokens from an in-process token server — each with its own test CA, temp storage
//! and port, so tests can run in parallel.
//!
//! ```no_run
//! use dxf_tests::{Mode, TestRegistry};
//!
//! let registry = TestRegistry::start(Mode::Token);
//! let status = std::process::Command::new("dxf")
//!     .args(["list-repos"])
//!     .envs(registry.dxf_env())
//!     .status()
//!     .unwrap();
//! ```

// This is test-support code: on any unexpected condition it should fail loudly (panic with
// a useful message), not propagate errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![forbid(unsafe_code)]

/// `mod ureq` and `mod hyper`, one `#[test]` per scenario in each (with the attributes
/// written before it, such as `#[ignore]`), calling `super::scenario(super::Kind::Ureq)`
/// (or `Hyper`): the calling module has the scenario functions and a `Kind` with those
/// two variants.
#[macro_export]
macro_rules! both_adapters {
    ($($(#[$attr:meta])* $scenario:ident),* $(,)?) => {
        mod ureq {
            $(#[test] $(#[$attr])* fn $scenario() { super::$scenario(super::Kind::Ureq) })*
        }
        mod hyper {
            $(#[test] $(#[$attr])* fn $scenario() { super::$scenario(super::Kind::Hyper) })*
        }
    };
}

pub mod cli;
pub mod container_registry;
pub mod fault_proxy;
pub mod oci_layout;
pub mod personality;
pub mod registry;
pub mod stall_server;
pub mod tls;
pub mod token_server;

pub use registry::{Mode, Options, TestRegistry, USERNAME};
pub use tls::TestPki;
pub use token_server::{TokenServer, TokenServerConfig, REFRESH_TOKEN};
