//! The environment variables python-dxf's command line reads (plus dxf's own
//! `DXF_VERIFY_FIRST`, `DXF_CONCURRENCY`, `DXF_RESUMABLE` and `DXF_STATE_DIR`), each named by a documented constant, and
//! their reading and validation into [`Env`] and a [`dxf_ureq::Config`].
//!
//! Semantics follow python-dxf 12.1.1's `main.py`: flags are on only for the exact value
//! `1`; an empty value counts as unset, except for the credential variables, which (as in
//! python-dxf) count as given whenever they are set at all.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use dxf_ureq::docker_config::DockerConfigDir;
use dxf_ureq::{Config, Credentials, Timeouts, TlsVerify, WithDockerCredentials};

use crate::error::CliError;

/// Registry `host[:port]`. Required by every command.
pub(crate) const DXF_HOST: &str = "DXF_HOST";
/// `1`: talk plain http instead of https (credentials are then never sent).
pub(crate) const DXF_INSECURE: &str = "DXF_INSECURE";
/// Username for Basic auth to the registry or to the token realm (with [`DXF_PASSWORD`]).
pub(crate) const DXF_USERNAME: &str = "DXF_USERNAME";
/// Password for Basic auth (with [`DXF_USERNAME`]).
pub(crate) const DXF_PASSWORD: &str = "DXF_PASSWORD";
/// A raw `Authorization` header value, used when username/password are not both set.
pub(crate) const DXF_AUTHORIZATION: &str = "DXF_AUTHORIZATION";
/// Replaces the host of the token realm URL.
pub(crate) const DXF_AUTH_HOST: &str = "DXF_AUTH_HOST";
/// A bearer token used as-is, with no auth round trip (ignored by `auth`).
pub(crate) const DXF_TOKEN: &str = "DXF_TOKEN";
/// `1`: always show progress bars on stderr; `0`: never; otherwise only if stderr is a tty.
pub(crate) const DXF_PROGRESS: &str = "DXF_PROGRESS";
/// `1`: `pull-blob` prints `<digest> <size>` on its own line before each blob.
pub(crate) const DXF_BLOB_INFO: &str = "DXF_BLOB_INFO";
/// Read size for `pull-blob`, a positive integer (default [`DEFAULT_CHUNK_SIZE`]).
pub(crate) const DXF_CHUNK_SIZE: &str = "DXF_CHUNK_SIZE";
/// `1`: do not verify the registry's TLS certificate.
pub(crate) const DXF_SKIPTLSVERIFY: &str = "DXF_SKIPTLSVERIFY";
/// Path of a PEM CA bundle to verify the registry's certificate with.
pub(crate) const DXF_TLSVERIFY: &str = "DXF_TLSVERIFY";
/// CA bundle path honoured when [`DXF_TLSVERIFY`] is unset (as python-requests does).
pub(crate) const REQUESTS_CA_BUNDLE: &str = "REQUESTS_CA_BUNDLE";
/// CA bundle path honoured when [`REQUESTS_CA_BUNDLE`] is unset too (python-requests).
pub(crate) const CURL_CA_BUNDLE: &str = "CURL_CA_BUNDLE";
/// `os/architecture[/variant]`: the platform to pick from a multi-arch alias.
pub(crate) const DXF_PLATFORM: &str = "DXF_PLATFORM";
/// Most retries of one idempotent request after a transient failure (0: none; default 4).
pub(crate) const DXF_RETRIES: &str = "DXF_RETRIES";
/// The largest `DXF_RETRIES` accepted.
pub(crate) const MAX_RETRIES: u32 = 100;
/// Seconds: the longest wait for the registry — to connect, for an answer, between two
/// pieces of a body (a whole small body: twice that; a blob: at least 1 KiB/s over that
/// long). `0`: no bound. Default 60 (30 to connect). Not in python-dxf.
pub(crate) const DXF_TIMEOUT: &str = "DXF_TIMEOUT";
/// The largest `DXF_TIMEOUT` accepted: a day.
pub(crate) const MAX_TIMEOUT_SECS: u64 = 86_400;
/// `1`: `pull-blob` to stdout holds each blob back (spooled to a temporary file in
/// `$TMPDIR`) until its digest is verified, as `--verify-first` does. Not in python-dxf.
pub(crate) const DXF_VERIFY_FIRST: &str = "DXF_VERIFY_FIRST";
/// Transfers at a time, a positive integer (default [`DEFAULT_CONCURRENCY`]): for
/// `push-blob --jobs` given without a number, and for `pull-blob --output DIR`. Not in
/// python-dxf.
pub(crate) const DXF_CONCURRENCY: &str = "DXF_CONCURRENCY";
/// `1`: `push-blob` of files keeps checkpoints on disk and continues from them, as
/// `--resumable` does (ignored with `--single-pass` and for standard input). Not in
/// python-dxf.
pub(crate) const DXF_RESUMABLE: &str = "DXF_RESUMABLE";
/// `1`: every request and response on stderr, one line each, secrets redacted (as
/// `--debug`). Not in python-dxf.
pub(crate) const DXF_DEBUG: &str = "DXF_DEBUG";
/// The directory `push-blob --resumable` keeps its upload state in (default
/// `$XDG_STATE_HOME/dxf/uploads`, else `$HOME/.local/state/dxf/uploads`). Not in python-dxf.
pub(crate) const DXF_STATE_DIR: &str = "DXF_STATE_DIR";
/// The XDG base directory for state (used when absolute).
pub(crate) const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
/// The user's home directory.
pub(crate) const HOME: &str = "HOME";
/// `set-alias`'s manifest form: `docker` (python-dxf's, the default) or `oci` (an OCI 1.1
/// artifact manifest, as `--oci`). Not in python-dxf.
pub(crate) const DXF_MANIFEST: &str = "DXF_MANIFEST";

/// python-dxf's default `pull-blob` read size.
pub(crate) const DEFAULT_CHUNK_SIZE: usize = 8192;
/// The largest `DXF_CHUNK_SIZE` accepted (256 MiB): the read buffer is allocated up front.
pub(crate) const MAX_CHUNK_SIZE: usize = 256 * 1024 * 1024;
/// Transfers at a time when `DXF_CONCURRENCY` is unset.
pub(crate) const DEFAULT_CONCURRENCY: usize = 4;
/// The largest `DXF_CONCURRENCY` accepted (the largest `--jobs` too).
pub(crate) const MAX_CONCURRENCY: usize = 64;

/// When to draw progress bars (`DXF_PROGRESS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProgressSetting {
    /// `1`: always, even when stderr is not a terminal.
    Always,
    /// `0`: never.
    Never,
    /// Anything else: only when stderr is a terminal.
    IfTerminal,
}

/// The `DXF_*` settings, read once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Env {
    /// `DXF_HOST`, if set and non-empty.
    pub host: Option<String>,
    /// `DXF_INSECURE=1`.
    pub insecure: bool,
    /// From `DXF_USERNAME`+`DXF_PASSWORD`, else `DXF_AUTHORIZATION`.
    pub credentials: Credentials,
    /// `DXF_AUTH_HOST`, if non-empty.
    pub auth_host: Option<String>,
    /// `DXF_TOKEN`, if non-empty.
    pub token: Option<String>,
    /// `DXF_PROGRESS`.
    pub progress: ProgressSetting,
    /// `DXF_BLOB_INFO=1`.
    pub blob_info: bool,
    /// `DXF_CHUNK_SIZE` as given (validated only by the command that uses it, `pull-blob`,
    /// so that a stray value does not break the commands python-dxf lets it pass for).
    pub chunk_size: Option<String>,
    /// `DXF_SKIPTLSVERIFY`, `DXF_TLSVERIFY`, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`.
    pub tls: TlsVerify,
    /// `DXF_PLATFORM`, if non-empty.
    pub platform: Option<String>,
    /// `DXF_RETRIES`, if set.
    pub retries: Option<u32>,
    /// `DXF_TIMEOUT`, if set (zero: no bound).
    pub timeout: Option<Duration>,
    /// `DXF_VERIFY_FIRST=1`.
    pub verify_first: bool,
    /// `DXF_CONCURRENCY` as given (validated only where it is used, like `chunk_size`).
    pub concurrency: Option<String>,
    /// `DXF_RESUMABLE=1`.
    pub resumable: bool,
    /// `DXF_DEBUG=1` or `--debug`: the wire trace on stderr.
    pub debug: bool,
    /// Where `push-blob --resumable` keeps its state, from `DXF_STATE_DIR`,
    /// `XDG_STATE_HOME` or `HOME` (see [`crate::checkpoints::state_dir`]); `None` when none
    /// is set.
    pub state_dir: Option<PathBuf>,
    /// `DXF_MANIFEST` as given (validated only by `set-alias`, which uses it).
    pub manifest: Option<String>,
    /// Docker's configuration directory (`DOCKER_CONFIG`, else `HOME/.docker`): where
    /// credentials are looked up when [`explicit_credentials`](Env::explicit_credentials)
    /// is false, and where `login` stores them.
    pub docker_config: Option<DockerConfigDir>,
    /// Whether `DXF_USERNAME`, `DXF_PASSWORD` or `DXF_AUTHORIZATION` is set (even empty),
    /// or `DXF_TOKEN` is non-empty: then docker's configuration is not consulted.
    pub explicit_credentials: bool,
}

/// `config` with docker's stored credentials for its host from `dir`. A `config.json` that
/// cannot be read or is not a usable configuration is ignored with one warning on stderr
/// (as docker does: a script that never needed credentials keeps working); a credential
/// helper that is missing or fails is an error (as with docker).
pub(crate) fn with_docker_credentials(
    config: Config,
    dir: &DockerConfigDir,
) -> Result<Config, CliError> {
    use dxf_ureq::docker_config::Error as DockerError;
    static WARNED: std::sync::Once = std::sync::Once::new();
    match config.clone().with_docker_credentials_from(dir) {
        Ok(config) => Ok(config),
        Err(e @ (DockerError::Read { .. } | DockerError::Config { .. })) => {
            WARNED.call_once(|| {
                let message = e.to_string().replace(['\n', '\r'], " ");
                eprintln!("dxf: warning: ignoring docker credentials: {message}");
            });
            Ok(config)
        }
        Err(e) => Err(CliError::Docker(e)),
    }
}

/// A variable's value as UTF-8 text; `None` when unset.
fn text(
    get: &impl Fn(&str) -> Option<OsString>,
    name: &'static str,
) -> Result<Option<String>, CliError> {
    match get(name) {
        None => Ok(None),
        Some(v) => v
            .into_string()
            .map(Some)
            .map_err(|_| CliError::Env(format!("{name} is not valid UTF-8"))),
    }
}

/// A variable's value, `None` when unset or empty.
fn non_empty(
    get: &impl Fn(&str) -> Option<OsString>,
    name: &'static str,
) -> Result<Option<String>, CliError> {
    Ok(text(get, name)?.filter(|v| !v.is_empty()))
}

/// Whether a variable is exactly `1`.
fn flag(get: &impl Fn(&str) -> Option<OsString>, name: &str) -> bool {
    get(name).is_some_and(|v| v == "1")
}

/// A path variable, `None` when unset or empty.
fn path(get: &impl Fn(&str) -> Option<OsString>, name: &str) -> Option<PathBuf> {
    get(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl Env {
    /// Reads the process environment.
    pub(crate) fn from_process() -> Result<Env, CliError> {
        Env::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the settings through `get` (the process environment, or a map in tests).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Result<Env, CliError> {
        // python-dxf: username and password when both are set (even empty), else the raw
        // Authorization value when set, else anonymous.
        let credentials = match (
            text(&get, DXF_USERNAME)?,
            text(&get, DXF_PASSWORD)?,
            text(&get, DXF_AUTHORIZATION)?,
        ) {
            (Some(username), Some(password), _) => Credentials::Basic { username, password },
            (_, _, Some(raw)) => Credentials::Authorization(raw),
            _ => Credentials::None,
        };
        // python-dxf: DXF_SKIPTLSVERIFY=1 wins, then DXF_TLSVERIFY; python-requests then
        // falls back to REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE.
        let tls = if flag(&get, DXF_SKIPTLSVERIFY) {
            TlsVerify::Skip
        } else {
            [DXF_TLSVERIFY, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE]
                .iter()
                .find_map(|name| path(&get, name))
                .map_or(TlsVerify::WebPki, TlsVerify::CaBundle)
        };
        let progress = match get(DXF_PROGRESS) {
            Some(v) if v == "1" => ProgressSetting::Always,
            Some(v) if v == "0" => ProgressSetting::Never,
            _ => ProgressSetting::IfTerminal,
        };
        Ok(Env {
            host: non_empty(&get, DXF_HOST)?,
            insecure: flag(&get, DXF_INSECURE),
            credentials,
            auth_host: non_empty(&get, DXF_AUTH_HOST)?,
            token: non_empty(&get, DXF_TOKEN)?,
            progress,
            blob_info: flag(&get, DXF_BLOB_INFO),
            chunk_size: non_empty(&get, DXF_CHUNK_SIZE)?,
            tls,
            platform: non_empty(&get, DXF_PLATFORM)?,
            retries: non_empty(&get, DXF_RETRIES)?
                .map(|raw| parse_retries(&raw))
                .transpose()?,
            timeout: non_empty(&get, DXF_TIMEOUT)?
                .map(|raw| parse_timeout(&raw))
                .transpose()?,
            verify_first: flag(&get, DXF_VERIFY_FIRST),
            concurrency: non_empty(&get, DXF_CONCURRENCY)?,
            resumable: flag(&get, DXF_RESUMABLE),
            debug: flag(&get, DXF_DEBUG),
            state_dir: crate::checkpoints::state_dir(
                path(&get, DXF_STATE_DIR),
                path(&get, XDG_STATE_HOME),
                path(&get, HOME),
            ),
            manifest: non_empty(&get, DXF_MANIFEST)?,
            docker_config: DockerConfigDir::from_lookup(&get),
            explicit_credentials: [DXF_USERNAME, DXF_PASSWORD, DXF_AUTHORIZATION]
                .iter()
                .any(|name| get(name).is_some())
                || non_empty(&get, DXF_TOKEN)?.is_some(),
        })
    }

    /// The client configuration. `use_token` is false for `auth`, which (as in python-dxf)
    /// always authenticates afresh instead of using `DXF_TOKEN`.
    pub(crate) fn config(&self, use_token: bool) -> Result<Config, CliError> {
        let host = self.host.as_deref().ok_or_else(|| {
            CliError::Env(format!(
                "{DXF_HOST} is not set: set it to the registry's host[:port]"
            ))
        })?;
        let mut config = Config::new(host);
        config.insecure = self.insecure;
        config.credentials = self.credentials.clone();
        config.auth_host = self.auth_host.clone();
        config.token = if use_token { self.token.clone() } else { None };
        // python-dxf refuses to authenticate over plain http at all.
        config.allow_credentials_over_http = false;
        config.transport.tls = self.tls.clone();
        if let Some(n) = self.retries {
            config.retries.max_retries = n;
        }
        if let Some(t) = self.timeout {
            config.timeouts = Timeouts::uniform(t);
        }
        config.interrupt = crate::signals::interrupt().clone();
        config.trace = self.debug.then(crate::debug::trace);
        config.blob_cache = crate::cache::handle();
        // Like docker: credentials from its config.json when no DXF_* credential is set.
        if let (false, Some(dir)) = (self.explicit_credentials, &self.docker_config) {
            config = with_docker_credentials(config, dir)?;
        }
        Ok(config)
    }

    /// The `pull-blob` read size: `DXF_CHUNK_SIZE` as a positive integer (at most
    /// [`MAX_CHUNK_SIZE`]), or [`DEFAULT_CHUNK_SIZE`].
    pub(crate) fn chunk_size(&self) -> Result<usize, CliError> {
        match &self.chunk_size {
            None => Ok(DEFAULT_CHUNK_SIZE),
            Some(raw) => parse_chunk_size(raw),
        }
    }

    /// Transfers at a time: `DXF_CONCURRENCY` as a positive integer (at most
    /// [`MAX_CONCURRENCY`]), or [`DEFAULT_CONCURRENCY`].
    pub(crate) fn concurrency(&self) -> Result<usize, CliError> {
        match &self.concurrency {
            None => Ok(DEFAULT_CONCURRENCY),
            Some(raw) => parse_concurrency(raw),
        }
    }
}

/// Parses a `DXF_CONCURRENCY` value.
pub(crate) fn parse_concurrency(raw: &str) -> Result<usize, CliError> {
    match positive(raw, MAX_CONCURRENCY) {
        Some(n) => Ok(n),
        None => Err(CliError::Env(format!(
            "{DXF_CONCURRENCY} must be a positive integer (at most {MAX_CONCURRENCY}), not {raw:?}"
        ))),
    }
}

/// `raw` (surrounding white space ignored) as an integer in `1..=max`: digits only.
fn positive(raw: &str, max: usize) -> Option<usize> {
    let digits = raw.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
}

/// Parses a `DXF_RETRIES` value: a whole number from 0 to [`MAX_RETRIES`].
fn parse_retries(raw: &str) -> Result<u32, CliError> {
    let bad = || {
        CliError::Env(format!(
            "{DXF_RETRIES} must be a whole number from 0 to {MAX_RETRIES}, not {raw:?}"
        ))
    };
    if raw.trim() == "0" {
        return Ok(0);
    }
    positive(raw, MAX_RETRIES as usize)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(bad)
}

/// Parses a `DXF_TIMEOUT` value: seconds, a decimal number from 0 to
/// [`MAX_TIMEOUT_SECS`] (at most millisecond precision is kept).
fn parse_timeout(raw: &str) -> Result<Duration, CliError> {
    let bad = || {
        CliError::Env(format!(
            "{DXF_TIMEOUT} must be a number of seconds from 0 (no timeout) to \
             {MAX_TIMEOUT_SECS}, not {raw:?}"
        ))
    };
    let text = raw.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    let secs: f64 = text.parse().map_err(|_| bad())?;
    if !(0.0..=MAX_TIMEOUT_SECS as f64).contains(&secs) {
        return Err(bad());
    }
    Ok(Duration::from_millis((secs * 1000.0).round() as u64))
}

/// Parses a `DXF_CHUNK_SIZE` value.
pub(crate) fn parse_chunk_size(raw: &str) -> Result<usize, CliError> {
    positive(raw, MAX_CHUNK_SIZE).ok_or_else(|| {
        CliError::Env(format!(
            "{DXF_CHUNK_SIZE} must be a positive integer number of bytes \
             (at most {MAX_CHUNK_SIZE}), not {raw:?}"
        ))
    })
}

/// Test helpers: environments made of a few variables.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;
    use std::ffi::OsString;

    use super::Env;

    /// A variable lookup over `vars` only.
    pub(crate) fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// The settings of a process whose environment is `vars`.
    pub(crate) fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_lookup(lookup(vars)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::env;
    use super::*;

    #[test]
    fn defaults() {
        let e = env(&[]);
        assert_eq!(e.host, None);
        assert!(!e.insecure);
        assert_eq!(e.credentials, Credentials::None);
        assert_eq!(e.progress, ProgressSetting::IfTerminal);
        assert!(!e.blob_info);
        assert_eq!(e.tls, TlsVerify::WebPki);
        assert_eq!(e.platform, None);
        assert_eq!(e.chunk_size().unwrap(), DEFAULT_CHUNK_SIZE);
        assert_eq!(e.retries, None);
    }

    #[test]
    fn timeouts_are_seconds_and_zero_is_none() {
        assert_eq!(env(&[]).timeout, None);
        assert_eq!(
            env(&[(DXF_TIMEOUT, "2")]).timeout,
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            env(&[(DXF_TIMEOUT, " 0.5 ")]).timeout,
            Some(Duration::from_millis(500))
        );
        assert_eq!(env(&[(DXF_TIMEOUT, "0")]).timeout, Some(Duration::ZERO));
        for bad in [
            "abc", "-1", "1e3", ".", "1.2.3", "86401", "inf", "NaN", "1s",
        ] {
            let map = |name: &str| (name == DXF_TIMEOUT).then(|| OsString::from(bad));
            let e = Env::from_lookup(map).unwrap_err().to_string();
            assert!(
                e.starts_with("DXF_TIMEOUT must be a number of seconds"),
                "{bad}: {e}"
            );
        }
        let mut e = env(&[(DXF_HOST, "h"), (DXF_TIMEOUT, "0")]);
        assert_eq!(e.config(true).unwrap().timeouts, Timeouts::none());
        e.timeout = Some(Duration::from_secs(3));
        let c = e.config(true).unwrap();
        assert_eq!(c.timeouts.response, Some(Duration::from_secs(3)));
        e.timeout = None;
        assert_eq!(e.config(true).unwrap().timeouts, Timeouts::default());
    }

    #[test]
    fn retries_are_a_bounded_whole_number() {
        assert_eq!(env(&[(DXF_RETRIES, "0")]).retries, Some(0));
        assert_eq!(env(&[(DXF_RETRIES, " 7 ")]).retries, Some(7));
        for bad in ["-1", "x", "1.5", "+3", "101"] {
            let map = |name: &str| (name == DXF_RETRIES).then(|| OsString::from(bad));
            assert!(Env::from_lookup(map).is_err(), "{bad:?}");
        }
        let mut e = env(&[(DXF_HOST, "h"), (DXF_RETRIES, "2")]);
        assert_eq!(e.config(true).unwrap().retries.max_retries, 2);
        e.retries = None;
        assert_eq!(e.config(true).unwrap().retries.max_retries, 4);
    }

    #[test]
    fn missing_host_is_a_clear_error() {
        let err = env(&[]).config(true).unwrap_err();
        assert!(err.to_string().contains("DXF_HOST is not set"), "{err}");
        let err = env(&[(DXF_HOST, "")]).config(true).unwrap_err();
        assert!(err.to_string().contains("DXF_HOST"), "{err}");
    }

    #[test]
    fn flags_need_exactly_one() {
        for v in ["0", "true", "yes", " 1", ""] {
            let e = env(&[
                (DXF_INSECURE, v),
                (DXF_BLOB_INFO, v),
                (DXF_SKIPTLSVERIFY, v),
            ]);
            assert!(!e.insecure && !e.blob_info, "{v:?}");
            assert_eq!(e.tls, TlsVerify::WebPki, "{v:?}");
        }
        let e = env(&[(DXF_INSECURE, "1"), (DXF_BLOB_INFO, "1")]);
        assert!(e.insecure && e.blob_info);
    }

    #[test]
    fn progress_setting() {
        assert_eq!(
            env(&[(DXF_PROGRESS, "1")]).progress,
            ProgressSetting::Always
        );
        assert_eq!(env(&[(DXF_PROGRESS, "0")]).progress, ProgressSetting::Never);
        assert_eq!(
            env(&[(DXF_PROGRESS, "yes")]).progress,
            ProgressSetting::IfTerminal
        );
    }

    #[test]
    fn credentials_precedence() {
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(
            env(&[
                (DXF_USERNAME, "u"),
                (DXF_PASSWORD, "p"),
                (DXF_AUTHORIZATION, "Bearer x")
            ])
            .credentials,
            basic
        );
        // Username alone is ignored, as in python-dxf.
        assert_eq!(
            env(&[(DXF_USERNAME, "u"), (DXF_AUTHORIZATION, "Bearer x")]).credentials,
            Credentials::Authorization("Bearer x".into())
        );
        assert_eq!(env(&[(DXF_USERNAME, "u")]).credentials, Credentials::None);
        // Set-but-empty counts (python tests `is not None`).
        assert_eq!(
            env(&[(DXF_USERNAME, ""), (DXF_PASSWORD, "")]).credentials,
            Credentials::Basic {
                username: String::new(),
                password: String::new()
            }
        );
    }

    #[test]
    fn tls_precedence() {
        let all = [
            (DXF_SKIPTLSVERIFY, "1"),
            (DXF_TLSVERIFY, "/a.pem"),
            (REQUESTS_CA_BUNDLE, "/b.pem"),
            (CURL_CA_BUNDLE, "/c.pem"),
        ];
        assert_eq!(env(&all).tls, TlsVerify::Skip);
        assert_eq!(
            env(&all[1..]).tls,
            TlsVerify::CaBundle(PathBuf::from("/a.pem"))
        );
        assert_eq!(
            env(&all[2..]).tls,
            TlsVerify::CaBundle(PathBuf::from("/b.pem"))
        );
        assert_eq!(
            env(&all[3..]).tls,
            TlsVerify::CaBundle(PathBuf::from("/c.pem"))
        );
        assert_eq!(
            env(&[(DXF_TLSVERIFY, ""), (REQUESTS_CA_BUNDLE, "/b.pem")]).tls,
            TlsVerify::CaBundle(PathBuf::from("/b.pem"))
        );
    }

    #[test]
    fn config_mapping() {
        let e = env(&[
            (DXF_HOST, "localhost:5000"),
            (DXF_INSECURE, "1"),
            (DXF_AUTH_HOST, "auth.example"),
            (DXF_TOKEN, "tok"),
        ]);
        let c = e.config(true).unwrap();
        assert_eq!(c.host, "localhost:5000");
        assert!(c.insecure);
        assert!(!c.allow_credentials_over_http);
        assert_eq!(c.auth_host.as_deref(), Some("auth.example"));
        assert_eq!(c.token.as_deref(), Some("tok"));
        assert_eq!(e.config(false).unwrap().token, None);
        let e = env(&[(DXF_HOST, "h"), (DXF_TOKEN, ""), (DXF_AUTH_HOST, "")]);
        let c = e.config(true).unwrap();
        assert_eq!((c.token, c.auth_host), (None, None));
    }

    #[test]
    fn chunk_size_parsing() {
        assert_eq!(parse_chunk_size("1").unwrap(), 1);
        assert_eq!(parse_chunk_size("65536").unwrap(), 65536);
        assert_eq!(parse_chunk_size(" 42\n").unwrap(), 42);
        assert_eq!(
            parse_chunk_size(&MAX_CHUNK_SIZE.to_string()).unwrap(),
            MAX_CHUNK_SIZE
        );
        for bad in [
            "0",
            "-1",
            "+5",
            "1.5",
            "abc",
            "8k",
            "1e3",
            " ",
            "99999999999999999999999",
            &(MAX_CHUNK_SIZE + 1).to_string(),
        ] {
            let err = parse_chunk_size(bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("DXF_CHUNK_SIZE must be a positive integer"),
                "{bad:?}: {err}"
            );
        }
        // Empty counts as unset.
        assert_eq!(
            env(&[(DXF_CHUNK_SIZE, "")]).chunk_size().unwrap(),
            DEFAULT_CHUNK_SIZE
        );
        assert!(env(&[(DXF_CHUNK_SIZE, "x")]).chunk_size().is_err());
    }

    #[test]
    fn concurrency_parsing() {
        assert_eq!(env(&[]).concurrency().unwrap(), DEFAULT_CONCURRENCY);
        assert_eq!(
            env(&[(DXF_CONCURRENCY, "")]).concurrency().unwrap(),
            DEFAULT_CONCURRENCY
        );
        assert_eq!(env(&[(DXF_CONCURRENCY, "8")]).concurrency().unwrap(), 8);
        assert_eq!(parse_concurrency(" 1\n").unwrap(), 1);
        assert_eq!(parse_concurrency("64").unwrap(), MAX_CONCURRENCY);
        for bad in [
            "0",
            "-1",
            "+2",
            "1.5",
            "abc",
            "65",
            "99999999999999999999999",
        ] {
            let err = parse_concurrency(bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("DXF_CONCURRENCY must be a positive integer (at most 64)"),
                "{bad:?}: {err}"
            );
            assert!(!err.to_string().contains('\n'));
        }
    }

    #[test]
    fn verify_first_flag() {
        assert!(!env(&[]).verify_first);
        assert!(!env(&[(DXF_VERIFY_FIRST, "yes")]).verify_first);
        assert!(env(&[(DXF_VERIFY_FIRST, "1")]).verify_first);
    }

    #[test]
    fn resumable_flag_and_state_dir() {
        let e = env(&[]);
        assert!(!e.resumable);
        assert_eq!(e.state_dir, None);
        assert!(!env(&[(DXF_RESUMABLE, "yes")]).resumable);
        assert!(env(&[(DXF_RESUMABLE, "1")]).resumable);
        assert_eq!(
            env(&[(HOME, "/home/u")]).state_dir,
            Some(PathBuf::from("/home/u/.local/state/dxf/uploads"))
        );
        assert_eq!(
            env(&[(HOME, "/home/u"), (XDG_STATE_HOME, "/st")]).state_dir,
            Some(PathBuf::from("/st/dxf/uploads"))
        );
        assert_eq!(
            env(&[
                (HOME, "/home/u"),
                (XDG_STATE_HOME, "/st"),
                (DXF_STATE_DIR, "/d")
            ])
            .state_dir,
            Some(PathBuf::from("/d"))
        );
    }

    #[test]
    fn platform_and_blank_values() {
        assert_eq!(
            env(&[(DXF_PLATFORM, "linux/arm/v7")]).platform.as_deref(),
            Some("linux/arm/v7")
        );
        assert_eq!(env(&[(DXF_PLATFORM, "")]).platform, None);
    }

    #[test]
    fn docker_config_is_consulted_only_without_dxf_credentials() {
        let e = env(&[(HOME, "/home/u")]);
        assert!(!e.explicit_credentials);
        assert_eq!(
            e.docker_config,
            Some(DockerConfigDir::at("/home/u/.docker"))
        );
        assert_eq!(
            env(&[(HOME, "/home/u"), ("DOCKER_CONFIG", "/d")]).docker_config,
            Some(DockerConfigDir::at("/d"))
        );
        assert_eq!(env(&[]).docker_config, None);
        for var in [DXF_USERNAME, DXF_PASSWORD, DXF_AUTHORIZATION] {
            assert!(env(&[(var, "")]).explicit_credentials, "{var}");
        }
        assert!(env(&[(DXF_TOKEN, "t")]).explicit_credentials);
        assert!(!env(&[(DXF_TOKEN, "")]).explicit_credentials);
        assert!(!env(&[(DXF_AUTH_HOST, "a")]).explicit_credentials);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_values_are_rejected_by_name() {
        use std::os::unix::ffi::OsStringExt;
        let err =
            Env::from_lookup(|name| (name == DXF_HOST).then(|| OsString::from_vec(vec![0xff])))
                .unwrap_err();
        assert!(err.to_string().contains("DXF_HOST"), "{err}");
    }
}
