//! Both libraries take credentials from docker's `config.json`
//! (`Config::with_docker_credentials_from`): `auths` with a base64 `auth` (htpasswd and
//! token registries), and an `identitytoken` used as an OAuth2 refresh token (token
//! registry: tokens come from `POST /token`). Explicit credentials win over the file.

use dxf_ureq::WithDockerCredentials;
use std::path::Path;

use base64::Engine as _;

use super::adapter::{connect, Kind, Push, Settings};
use dxf_tests::{Mode, TestRegistry, REFRESH_TOKEN};
use dxf_ureq::docker_config::DockerConfigDir;
use dxf_ureq::dxf_proto::Credentials;

fn write_config(dir: &Path, entry: serde_json::Value, host: &str) {
    let config = serde_json::json!({ "auths": { host: entry }, "psFormat": "keep-me" });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

/// The credentials the adapter `kind`'s own `Config` method finds.
fn from_docker(kind: Kind, dir: &DockerConfigDir, host: &str) -> Credentials {
    match kind {
        Kind::Ureq => {
            dxf_ureq::Config::new(host)
                .with_docker_credentials_from(dir)
                .unwrap()
                .credentials
        }
        Kind::Hyper => {
            dxf_hyper::Config::new(host)
                .with_docker_credentials_from(dir)
                .unwrap()
                .credentials
        }
    }
}

fn round_trip(kind: Kind, reg: &TestRegistry, credentials: Credentials) -> Result<(), String> {
    let mut settings = Settings::for_registry(reg);
    settings.credentials = credentials;
    let c = connect(kind, &settings);
    let pushed = c
        .push_reader("lib/docker-creds", b"from config.json", Push::new())
        .map_err(|e| e.to_string())?;
    let (_, pulled) = c
        .pull("lib/docker-creds", &pushed.digest, None)
        .map_err(|e| e.to_string())?;
    assert_eq!(pulled.unwrap(), b"from config.json");
    Ok(())
}

fn auths_entry(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let (user, password) = reg.credentials().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = DockerConfigDir::at(tmp.path());
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    write_config(tmp.path(), serde_json::json!({ "auth": auth }), &reg.host());
    let found = from_docker(kind, &dir, &reg.host());
    assert_eq!(
        found,
        Credentials::Basic {
            username: user.clone(),
            password
        }
    );
    round_trip(kind, &reg, found).unwrap();
    // Nothing in the file for another host: anonymous, and refused.
    let none = from_docker(kind, &dir, "127.0.0.1:1");
    assert_eq!(none, Credentials::None);
    // Explicit credentials are kept; the file is not read.
    let explicit = dxf_ureq::Config {
        credentials: Credentials::Basic {
            username: user,
            password: "wrong".into(),
        },
        ..dxf_ureq::Config::new(&reg.host())
    };
    let kept = explicit.with_docker_credentials_from(&dir).unwrap();
    let e = round_trip(kind, &reg, kept.credentials).unwrap_err();
    assert!(e.contains("401 Unauthorized"), "{e}");
}

fn identity_token(kind: Kind) {
    let reg = TestRegistry::start(Mode::Token);
    let tmp = tempfile::tempdir().unwrap();
    let dir = DockerConfigDir::at(tmp.path());
    let user_only = base64::engine::general_purpose::STANDARD.encode("dxf-user:");
    write_config(
        tmp.path(),
        serde_json::json!({ "auth": user_only, "identitytoken": REFRESH_TOKEN }),
        &reg.host(),
    );
    let found = from_docker(kind, &dir, &reg.host());
    assert_eq!(found, Credentials::IdentityToken(REFRESH_TOKEN.into()));
    let server = reg.token_server().unwrap();
    round_trip(kind, &reg, found).unwrap();
    assert!(
        server.refresh_grants() > 0,
        "tokens came from the refresh grant"
    );

    write_config(
        tmp.path(),
        serde_json::json!({ "identitytoken": "revoked" }),
        &reg.host(),
    );
    let grants = server.refresh_grants();
    let e = round_trip(kind, &reg, from_docker(kind, &dir, &reg.host())).unwrap_err();
    assert!(e.contains("401 Unauthorized"), "{e}");
    assert_eq!(server.refresh_grants(), grants);
}

#[test]
fn ureq_auths_basic() {
    auths_entry(Kind::Ureq, Mode::Basic);
}

#[test]
fn ureq_auths_token() {
    auths_entry(Kind::Ureq, Mode::Token);
}

#[test]
fn hyper_auths_basic() {
    auths_entry(Kind::Hyper, Mode::Basic);
}

#[test]
fn hyper_auths_token() {
    auths_entry(Kind::Hyper, Mode::Token);
}

#[test]
fn ureq_identity_token() {
    identity_token(Kind::Ureq);
}

#[test]
fn hyper_identity_token() {
    identity_token(Kind::Hyper);
}
