//! # dxf-tls: TLS verification and wording shared by dxf's adapters
//!
//! What `dxf-ureq` and `dxf-hyper` have in common about TLS, written once; each adapter
//! keeps only the glue that puts a rustls connection into its HTTP client (ureq's connector
//! chain, hyper-rustls's connector). This crate owns:
//!
//! - **What is trusted** ([`TlsVerify`]): Mozilla's root certificates (bundled), the
//!   certificates of a PEM CA bundle (`DXF_TLSVERIFY`, `REQUESTS_CA_BUNDLE`), or nothing
//!   (`DXF_SKIPTLSVERIFY=1`). A certificate of the bundle is also accepted as the server's
//!   own when the server presents exactly it (a pin: a self-signed `openssl req -x509`
//!   certificate, which is marked as a CA, as python-dxf, curl and docker accept it); its
//!   host name and dates and the handshake's signatures are still checked.
//! - **The rustls client configuration** ([`client_config`]): TLS 1.2 and 1.3 with `ring`,
//!   verified as above; a CA bundle that cannot be used is a [`ConfigError`].
//! - **The wording of TLS failures** ([`TlsFailure`]): a failed connection is one sentence
//!   naming the host and the setting that fixes it, never a Debug dump, so both adapters
//!   print the same line for the same failure; [`TlsFailure::find`] finds one in the
//!   error chains the HTTP clients wrap it in.
//!
//! No HTTP client, no async runtime: rustls, webpki and the standard library (the CA
//! bundle is read with `std::fs`).
//!
//! ```no_run
//! use dxf_tls::{client_config, TlsVerify};
//!
//! let config = client_config(&TlsVerify::CaBundle("/etc/dxf/ca.pem".into()))?;
//! # let _ = config;
//! # Ok::<(), dxf_tls::ConfigError>(())
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

mod failure;
mod verify;

#[cfg(test)]
mod tests;

pub use failure::TlsFailure;
pub use verify::{client_config, ConfigError, TlsVerify};
