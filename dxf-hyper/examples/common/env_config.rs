//! The examples' `Config` from the `DXF_*` variables the `dxf` command reads: `DXF_HOST`,
//! `DXF_INSECURE`, `DXF_USERNAME`/`DXF_PASSWORD`, `DXF_TLSVERIFY`, `DXF_SKIPTLSVERIFY`.

use std::error::Error;

use dxf_hyper::{Config, Credentials, TlsVerify};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The client configuration the environment describes.
pub(crate) fn config() -> Result<Config, Box<dyn Error>> {
    let mut config = Config::new(&env("DXF_HOST").ok_or("DXF_HOST is not set")?);
    config.insecure = env("DXF_INSECURE").is_some_and(|v| v != "0");
    if let (Some(username), Some(password)) = (env("DXF_USERNAME"), env("DXF_PASSWORD")) {
        config.credentials = Credentials::Basic { username, password };
    }
    if let Some(ca) = env("DXF_TLSVERIFY") {
        config.transport.tls = TlsVerify::CaBundle(ca.into());
    }
    if env("DXF_SKIPTLSVERIFY").is_some_and(|v| v != "0") {
        config.transport.tls = TlsVerify::Skip;
    }
    Ok(config)
}
