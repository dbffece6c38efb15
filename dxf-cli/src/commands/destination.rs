//! The destination registry of `copy --to HOST`: its `DXF_TO_*` settings ([`ToEnv`]) and
//! the client configuration built from them and the source's settings
//! ([`destination_config`]).
//!
//! Transport settings follow the source's (`DXF_INSECURE`, `DXF_TLSVERIFY`,
//! `DXF_SKIPTLSVERIFY`, `DXF_RETRIES`) unless a `DXF_TO_*` variable says otherwise.
//! Credentials never do: the source's are for the source's host. The destination's come
//! from [`destination_credentials`], the one place that decides them.

use std::ffi::OsString;
use std::path::PathBuf;

use dxf_ureq::dxf_proto::Credentials;
use dxf_ureq::{Config, TlsVerify};

use crate::env::Env;
use crate::error::CliError;

/// Username for Basic auth to the destination (with [`DXF_TO_PASSWORD`]).
pub(super) const DXF_TO_USERNAME: &str = "DXF_TO_USERNAME";
/// Password for Basic auth to the destination (with [`DXF_TO_USERNAME`]).
pub(super) const DXF_TO_PASSWORD: &str = "DXF_TO_PASSWORD";
/// A raw `Authorization` header value for the destination, used instead of a username and
/// password.
pub(super) const DXF_TO_AUTHORIZATION: &str = "DXF_TO_AUTHORIZATION";
/// A bearer token used as-is with the destination.
pub(super) const DXF_TO_TOKEN: &str = "DXF_TO_TOKEN";
/// Replaces the host of the destination's token realm URL.
pub(super) const DXF_TO_AUTH_HOST: &str = "DXF_TO_AUTH_HOST";
/// `1`: plain http to the destination; `0`: https (default: as `DXF_INSECURE`).
pub(super) const DXF_TO_INSECURE: &str = "DXF_TO_INSECURE";
/// CA bundle (PEM) for the destination's certificate (default: as the source).
pub(super) const DXF_TO_TLSVERIFY: &str = "DXF_TO_TLSVERIFY";
/// `1`: do not verify the destination's certificate (default: as the source).
pub(super) const DXF_TO_SKIPTLSVERIFY: &str = "DXF_TO_SKIPTLSVERIFY";

/// The `DXF_TO_*` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ToEnv {
    /// `DXF_TO_USERNAME`, when set.
    pub username: Option<String>,
    /// `DXF_TO_PASSWORD`, when set.
    pub password: Option<String>,
    /// `DXF_TO_AUTHORIZATION`, when set.
    pub authorization: Option<String>,
    /// `DXF_TO_TOKEN`, when non-empty.
    pub token: Option<String>,
    /// `DXF_TO_AUTH_HOST`, when non-empty.
    pub auth_host: Option<String>,
    /// `DXF_TO_INSECURE`: `Some(true)` for `1`, `Some(false)` for `0`, else `None`.
    pub insecure: Option<bool>,
    /// `DXF_TO_SKIPTLSVERIFY=1`, else `DXF_TO_TLSVERIFY`, else `None`.
    pub tls: Option<TlsVerify>,
}

fn text(get: &impl Fn(&str) -> Option<OsString>, name: &str) -> Result<Option<String>, CliError> {
    get(name)
        .map(|v| {
            v.into_string()
                .map_err(|_| CliError::Env(format!("{name} is not valid UTF-8")))
        })
        .transpose()
}

impl ToEnv {
    /// Reads the process environment.
    pub(super) fn from_process() -> Result<ToEnv, CliError> {
        ToEnv::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the settings through `get`.
    pub(super) fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Result<ToEnv, CliError> {
        let non_empty = |name| Ok::<_, CliError>(text(&get, name)?.filter(|v| !v.is_empty()));
        let insecure = match text(&get, DXF_TO_INSECURE)?.as_deref() {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        let tls = if text(&get, DXF_TO_SKIPTLSVERIFY)?.as_deref() == Some("1") {
            Some(TlsVerify::Skip)
        } else {
            get(DXF_TO_TLSVERIFY)
                .filter(|v| !v.is_empty())
                .map(|v| TlsVerify::CaBundle(PathBuf::from(v)))
        };
        Ok(ToEnv {
            username: text(&get, DXF_TO_USERNAME)?,
            password: text(&get, DXF_TO_PASSWORD)?,
            authorization: text(&get, DXF_TO_AUTHORIZATION)?,
            token: non_empty(DXF_TO_TOKEN)?,
            auth_host: non_empty(DXF_TO_AUTH_HOST)?,
            insecure,
            tls,
        })
    }
}

/// The credentials for the destination registry `host`: `DXF_TO_USERNAME` and
/// `DXF_TO_PASSWORD` when both are set, else `DXF_TO_AUTHORIZATION`, else none (the
/// python-dxf rules, with the `DXF_TO_` names). Never the source's. Without them,
/// [`destination_config`] looks in docker's configuration for `host`.
pub(super) fn destination_credentials(to: &ToEnv, _host: &str) -> Credentials {
    match (&to.username, &to.password, &to.authorization) {
        (Some(username), Some(password), _) => Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        (_, _, Some(raw)) => Credentials::Authorization(raw.clone()),
        _ => Credentials::None,
    }
}

/// The client configuration for the destination registry `host`: the source's settings
/// (`env`) for transport, `to` for what it overrides and for authentication.
pub(super) fn destination_config(env: &Env, to: &ToEnv, host: &str) -> Result<Config, CliError> {
    if host.is_empty() {
        return Err(CliError::Usage(
            "--to needs a registry host[:port] (usage: dxf copy --to HOST SRC DST)".into(),
        ));
    }
    let mut config = env.config(false)?;
    config.host = host.to_owned();
    config.credentials = destination_credentials(to, host);
    config.token = to.token.clone();
    config.auth_host = to.auth_host.clone();
    if let Some(insecure) = to.insecure {
        config.insecure = insecure;
    }
    if let Some(tls) = &to.tls {
        config.transport.tls = tls.clone();
    }
    // Like the source: docker's stored credentials for the destination host when no
    // DXF_TO_* credential is given (never the source's).
    if let Some(dir) = &env.docker_config {
        config = crate::env::with_docker_credentials(config, dir)?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::{env as source, lookup};

    #[test]
    fn transport_follows_the_source_and_credentials_never_do() {
        let env = source(&[
            ("DXF_HOST", "src:5000"),
            ("DXF_INSECURE", "1"),
            ("DXF_USERNAME", "u"),
            ("DXF_PASSWORD", "p"),
            ("DXF_TOKEN", "source-token"),
            ("DXF_AUTH_HOST", "auth.src"),
            ("DXF_SKIPTLSVERIFY", "1"),
            ("DXF_RETRIES", "2"),
        ]);
        let c = destination_config(&env, &ToEnv::default(), "dst:6000").unwrap();
        assert_eq!(c.host, "dst:6000");
        assert!(c.insecure);
        assert_eq!(c.transport.tls, TlsVerify::Skip);
        assert_eq!(c.retries.max_retries, 2);
        assert_eq!(c.credentials, Credentials::None);
        assert_eq!(c.token, None);
        assert_eq!(c.auth_host, None);
    }

    #[test]
    fn to_settings_override() {
        let env = source(&[("DXF_HOST", "src"), ("DXF_INSECURE", "1")]);
        let to = ToEnv::from_lookup(lookup(&[
            ("DXF_TO_USERNAME", "du"),
            ("DXF_TO_PASSWORD", "dp"),
            ("DXF_TO_AUTHORIZATION", "Basic x"),
            ("DXF_TO_TOKEN", "t"),
            ("DXF_TO_AUTH_HOST", "auth.dst"),
            ("DXF_TO_INSECURE", "0"),
            ("DXF_TO_TLSVERIFY", "/ca.pem"),
        ]))
        .unwrap();
        let c = destination_config(&env, &to, "dst").unwrap();
        assert!(!c.insecure);
        assert_eq!(c.transport.tls, TlsVerify::CaBundle("/ca.pem".into()));
        assert_eq!(
            c.credentials,
            Credentials::Basic {
                username: "du".into(),
                password: "dp".into()
            }
        );
        assert_eq!(c.token.as_deref(), Some("t"));
        assert_eq!(c.auth_host.as_deref(), Some("auth.dst"));
        // The raw header when there is no username and password pair.
        let to = ToEnv::from_lookup(lookup(&[
            ("DXF_TO_USERNAME", "du"),
            ("DXF_TO_AUTHORIZATION", "Bearer y"),
            ("DXF_TO_SKIPTLSVERIFY", "1"),
            ("DXF_TO_TLSVERIFY", "/ignored.pem"),
        ]))
        .unwrap();
        assert_eq!(
            destination_credentials(&to, "dst"),
            Credentials::Authorization("Bearer y".into())
        );
        assert_eq!(to.tls, Some(TlsVerify::Skip));
    }

    #[test]
    fn an_empty_host_is_a_usage_error() {
        let env = source(&[("DXF_HOST", "src")]);
        assert!(matches!(
            destination_config(&env, &ToEnv::default(), ""),
            Err(CliError::Usage(_))
        ));
    }
}
