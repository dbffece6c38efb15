//! `dxf` with docker's credentials, against the real registry: `$DOCKER_CONFIG/config.json`
//! `auths` (base64 `auth`; `identitytoken` through the token server's refresh-token
//! grant), `credHelpers` and `credsStore` (a test credential helper,
//! `docker-credential-dxftest`, written into a temporary directory put first on `PATH`),
//! `dxf login` and `dxf logout`, the precedence of `DXF_*` credentials, and the errors of
//! docs/errors.md (malformed `config.json`, missing helper, login refused).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{json, Value};

use dxf_tests::cli::{dxf_with, Run};
use dxf_tests::{Mode, TestRegistry, REFRESH_TOKEN};

/// A credential helper speaking docker's protocol, keeping its credentials in the JSON
/// file `$DXFTEST_STORE` and appending each action to `$DXFTEST_STORE.log`.
const HELPER: &str = r#"#!/usr/bin/env python3
import json, os, sys
store = os.environ["DXFTEST_STORE"]
action = sys.argv[1]
with open(store + ".log", "a") as log:
    log.write(action + "\n")
try:
    with open(store) as f:
        creds = json.load(f)
except FileNotFoundError:
    creds = {}
data = sys.stdin.read()
def save():
    with open(store, "w") as f:
        json.dump(creds, f)
if action == "store":
    c = json.loads(data)
    creds[c["ServerURL"]] = {"Username": c["Username"], "Secret": c["Secret"]}
    save()
elif action == "get":
    c = creds.get(data.strip())
    if c is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({"ServerURL": data.strip(), "Username": c["Username"], "Secret": c["Secret"]}))
elif action == "erase":
    if creds.pop(data.strip(), None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    save()
elif action == "list":
    print(json.dumps({k: v["Username"] for k, v in creds.items()}))
else:
    print("unknown action")
    sys.exit(1)
"#;

/// A docker configuration directory, a `PATH` with the test helper, and its store.
struct Docker {
    tmp: tempfile::TempDir,
    path: String,
}

impl Docker {
    fn new() -> Docker {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join("docker-credential-dxftest");
        std::fs::write(&helper, HELPER).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Docker { tmp, path }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("docker")
    }

    fn config_path(&self) -> PathBuf {
        self.dir().join("config.json")
    }

    fn store_path(&self) -> PathBuf {
        self.tmp.path().join("helper-store.json")
    }

    fn write_config(&self, config: &Value) {
        std::fs::create_dir_all(self.dir()).unwrap();
        std::fs::write(self.config_path(), config.to_string()).unwrap();
    }

    fn write_raw_config(&self, text: &str) {
        std::fs::create_dir_all(self.dir()).unwrap();
        std::fs::write(self.config_path(), text).unwrap();
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.config_path()).unwrap()).unwrap()
    }

    /// What the helper holds.
    fn helper_store(&self) -> Value {
        match std::fs::read(self.store_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            Err(_) => json!({}),
        }
    }

    fn set_helper_store(&self, store: &Value) {
        std::fs::write(self.store_path(), store.to_string()).unwrap();
    }

    /// The helper's actions so far.
    fn helper_log(&self) -> Vec<String> {
        std::fs::read_to_string(format!("{}.log", self.store_path().display()))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs `dxf` with this docker configuration and no `DXF_*` credentials, plus `env`.
    fn dxf(
        &self,
        reg: &TestRegistry,
        args: &[&str],
        env: &[(&str, Option<&str>)],
        stdin: Option<&[u8]>,
    ) -> Run {
        let dir = self.dir().display().to_string();
        let store = self.store_path().display().to_string();
        let mut all: Vec<(&str, Option<&str>)> = vec![
            ("DXF_USERNAME", None),
            ("DXF_PASSWORD", None),
            ("DOCKER_CONFIG", Some(&dir)),
            ("PATH", Some(&self.path)),
            ("DXFTEST_STORE", Some(&store)),
        ];
        all.extend_from_slice(env);
        dxf_with(reg, args, &all, stdin)
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn user_password(reg: &TestRegistry) -> (String, String) {
    reg.credentials().unwrap()
}

/// A command that needs push access: succeeds only with the test user's credentials.
fn push(docker: &Docker, reg: &TestRegistry, env: &[(&str, Option<&str>)]) -> Run {
    let file = docker.tmp.path().join("blob.bin");
    std::fs::write(&file, b"docker credentials").unwrap();
    let file = file.display().to_string();
    docker.dxf(reg, &["push-blob", "creds/test", &file], env, None)
}

#[track_caller]
fn refused(run: &Run) {
    assert_eq!(run.code, 13, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.starts_with("dxf: "), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
}

#[track_caller]
fn one_line_error(run: &Run, code: i32, message: &str) {
    assert_eq!(run.code, code, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(
        run.stderr.starts_with(message),
        "expected {message:?}: {run:#?}"
    );
}

fn auths_with_base64_auth(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let docker = Docker::new();
    let (user, password) = user_password(&reg);
    // No docker configuration at all: anonymous, refused.
    refused(&push(&docker, &reg, &[]));
    for key in [reg.host(), format!("https://{}", reg.host())] {
        docker.write_config(&json!({
            "auths": { key: { "auth": b64(&format!("{user}:{password}")) } }
        }));
        push(&docker, &reg, &[]).ok();
    }
    // Another host's entry does not match.
    docker.write_config(&json!({
        "auths": { "127.0.0.1:1": { "auth": b64(&format!("{user}:{password}")) } }
    }));
    refused(&push(&docker, &reg, &[]));
    // A wrong password from the file is refused like a wrong DXF_PASSWORD.
    docker.write_config(
        &json!({ "auths": { reg.host(): { "auth": b64(&format!("{user}:nope")) } } }),
    );
    refused(&push(&docker, &reg, &[]));
}

#[test]
fn auths_with_base64_auth_htpasswd() {
    auths_with_base64_auth(Mode::Basic);
}

#[test]
fn auths_with_base64_auth_token() {
    auths_with_base64_auth(Mode::Token);
}

fn helpers(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let docker = Docker::new();
    let (user, password) = user_password(&reg);
    docker.set_helper_store(&json!({ reg.host(): { "Username": user, "Secret": password } }));
    // credHelpers for this host (an auths entry with wrong credentials is not used).
    docker.write_config(&json!({
        "credHelpers": { reg.host(): "dxftest" },
        "auths": { reg.host(): { "auth": b64("wrong:wrong") } }
    }));
    push(&docker, &reg, &[]).ok();
    assert_eq!(docker.helper_log(), ["get"]);
    // credsStore for every host.
    docker.write_config(&json!({ "credsStore": "dxftest" }));
    push(&docker, &reg, &[]).ok();
    assert_eq!(docker.helper_log(), ["get", "get"]);
    // credHelpers beats credsStore.
    docker.write_config(&json!({
        "credsStore": "dxf-no-such-helper",
        "credHelpers": { reg.host(): "dxftest" }
    }));
    push(&docker, &reg, &[]).ok();
    // The helper knows nothing of the host: anonymous (refused), not an error.
    docker.set_helper_store(&json!({}));
    refused(&push(&docker, &reg, &[]));
}

#[test]
fn cred_helpers_and_creds_store_htpasswd() {
    helpers(Mode::Basic);
}

#[test]
fn cred_helpers_and_creds_store_token() {
    helpers(Mode::Token);
}

#[test]
fn identity_token_uses_the_refresh_token_grant() {
    let reg = TestRegistry::start(Mode::Token);
    let server = reg.token_server().unwrap();
    let docker = Docker::new();
    docker.write_config(&json!({
        "auths": { reg.host(): { "auth": b64("dxf-user:"), "identitytoken": REFRESH_TOKEN } }
    }));
    let pushed = push(&docker, &reg, &[]).ok();
    assert!(server.refresh_grants() > 0);
    let digest = pushed.out().trim().to_owned();
    let pulled = docker
        .dxf(&reg, &["pull-blob", "creds/test", &digest], &[], None)
        .ok();
    assert_eq!(pulled.stdout, b"docker credentials");
    // From a credential helper: username <token>.
    docker.set_helper_store(
        &json!({ reg.host(): { "Username": "<token>", "Secret": REFRESH_TOKEN } }),
    );
    docker.write_config(&json!({ "credsStore": "dxftest" }));
    let before = server.refresh_grants();
    push(&docker, &reg, &[]).ok();
    assert!(server.refresh_grants() > before);
    // A refresh token the server does not know: refused.
    docker.write_config(&json!({ "auths": { reg.host(): { "identitytoken": "revoked" } } }));
    refused(&push(&docker, &reg, &[]));
}

fn login_and_logout(mode: Mode) {
    let reg = TestRegistry::start(mode);
    let docker = Docker::new();
    let (user, password) = user_password(&reg);
    let host = reg.host();
    // A wrong password is refused and nothing is stored.
    let run = docker.dxf(
        &reg,
        &["login", &host, "-u", &user, "--password-stdin"],
        &[],
        Some(b"wrong\n"),
    );
    refused(&run);
    assert!(run.stderr.starts_with("dxf: 401 Unauthorized"), "{run:#?}");
    assert!(!docker.config_path().exists());
    // The right one is stored as base64 auth, in a 0600 file.
    let run = docker.dxf(
        &reg,
        &["login", &host, "-u", &user, "--password-stdin"],
        &[],
        Some(format!("{password}\n").as_bytes()),
    );
    assert_eq!(run.clone().ok().out(), "Login Succeeded\n");
    assert_eq!(
        docker.config()["auths"][&host]["auth"],
        json!(b64(&format!("{user}:{password}")))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(docker.config_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    push(&docker, &reg, &[]).ok();
    // Logout removes it; a second logout says so and succeeds.
    let run = docker.dxf(&reg, &["logout", &host], &[], None).ok();
    assert_eq!(
        run.out(),
        format!("Removing login credentials for {host}\n")
    );
    assert_eq!(docker.config()["auths"], json!({}));
    refused(&push(&docker, &reg, &[]));
    let run = docker.dxf(&reg, &["logout", &host], &[], None).ok();
    assert_eq!(run.out(), format!("Not logged in to {host}\n"));

    // Through a helper: the secret goes to the helper, the file keeps an empty entry and
    // every other key.
    docker.write_config(&json!({ "credsStore": "dxftest", "psFormat": "table" }));
    // Host from DXF_HOST, password from -p.
    let run = docker.dxf(&reg, &["login", "-u", &user, "-p", &password], &[], None);
    assert_eq!(run.clone().ok().out(), "Login Succeeded\n");
    assert!(run.stderr.contains("--password-stdin"), "{run:#?}");
    assert_eq!(
        docker.helper_store()[&host],
        json!({ "Username": user, "Secret": password })
    );
    let config = docker.config();
    assert_eq!(config["auths"][&host], json!({}));
    assert_eq!(config["psFormat"], json!("table"));
    push(&docker, &reg, &[]).ok();
    let run = docker.dxf(&reg, &["logout"], &[], None).ok();
    assert_eq!(
        run.out(),
        format!("Removing login credentials for {host}\n")
    );
    assert_eq!(docker.helper_store(), json!({}));
    assert_eq!(docker.helper_log(), ["store", "get", "erase"]);
    assert_eq!(docker.config()["auths"], json!({}));
}

#[test]
fn login_and_logout_htpasswd() {
    login_and_logout(Mode::Basic);
}

#[test]
fn login_and_logout_token() {
    login_and_logout(Mode::Token);
}

#[test]
fn dxf_credentials_win_over_docker_config() {
    let reg = TestRegistry::start(Mode::Basic);
    let docker = Docker::new();
    let (user, password) = user_password(&reg);
    // Right in the file, wrong in DXF_*: DXF_* is used.
    docker.write_config(
        &json!({ "auths": { reg.host(): { "auth": b64(&format!("{user}:{password}")) } } }),
    );
    refused(&push(
        &docker,
        &reg,
        &[
            ("DXF_USERNAME", Some(&user)),
            ("DXF_PASSWORD", Some("wrong")),
        ],
    ));
    // Wrong in the file, right in DXF_*.
    docker.write_config(&json!({ "auths": { reg.host(): { "auth": b64("x:wrong") } } }));
    push(
        &docker,
        &reg,
        &[
            ("DXF_USERNAME", Some(&user)),
            ("DXF_PASSWORD", Some(&password)),
        ],
    )
    .ok();
    // With DXF_* credentials the file is not even read: a malformed one is no error.
    docker.write_raw_config("{oops");
    push(
        &docker,
        &reg,
        &[
            ("DXF_USERNAME", Some(&user)),
            ("DXF_PASSWORD", Some(&password)),
        ],
    )
    .ok();
    // DXF_AUTH_HOST does not change which entry is used.
    docker.write_config(
        &json!({ "auths": { reg.host(): { "auth": b64(&format!("{user}:{password}")) } } }),
    );
    push(&docker, &reg, &[("DXF_AUTH_HOST", Some("127.0.0.1:1"))]).ok();
}

/// A `config.json` that cannot be used is ignored with one warning (as docker does): a
/// command that needs no credentials still works; one that does meets the registry's 401.
#[test]
fn a_malformed_docker_config_is_a_warning() {
    let plain = TestRegistry::start(Mode::Plain);
    let docker = Docker::new();
    let path = docker.config_path().display().to_string();
    docker.write_raw_config("{oops");
    let run = docker.dxf(&plain, &["list-repos"], &[], None);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stderr.lines().collect::<Vec<_>>().len(), 1, "{run:#?}");
    assert!(
        run.stderr.starts_with(&format!(
            "dxf: warning: ignoring docker credentials: {path}: not a JSON object: "
        )),
        "{run:#?}"
    );

    let reg = TestRegistry::start(Mode::Basic);
    docker.write_config(&json!({ "auths": { reg.host(): { "auth": "not base64!" } } }));
    let run = docker.dxf(&reg, &["list-repos"], &[], None);
    assert_eq!(run.code, 13, "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    assert_eq!(
        lines[0],
        format!(
            "dxf: warning: ignoring docker credentials: {path}: auths[\"{}\"].auth is not base64 of username:password",
            reg.host()
        )
    );
    assert!(lines[1].starts_with("dxf: 401 Unauthorized"), "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
}

#[test]
fn bad_docker_config_and_helpers_are_one_line_errors() {
    let reg = TestRegistry::start(Mode::Basic);
    let docker = Docker::new();
    let path = docker.config_path().display().to_string();
    // login refuses to touch a malformed file, and asks nothing.
    docker.write_raw_config("[]");
    let run = docker.dxf(
        &reg,
        &["login", &reg.host(), "-u", "u", "--password-stdin"],
        &[],
        Some(b"p"),
    );
    one_line_error(
        &run,
        1,
        &format!("dxf: docker credentials: {path}: not a JSON object"),
    );
    assert_eq!(std::fs::read_to_string(docker.config_path()).unwrap(), "[]");

    docker.write_config(&json!({ "credsStore": "dxf-no-such-helper" }));
    let run = docker.dxf(&reg, &["list-repos"], &[], None);
    one_line_error(
        &run,
        1,
        "dxf: docker credentials: credential helper docker-credential-dxf-no-such-helper not found on PATH",
    );
    // A helper that fails for another reason than "not found".
    docker.write_config(&json!({ "credsStore": "dxftest" }));
    std::fs::write(docker.store_path(), "not json").unwrap();
    let run = docker.dxf(&reg, &["list-repos"], &[], None);
    one_line_error(
        &run,
        1,
        "dxf: docker credentials: docker-credential-dxftest get failed",
    );
}

#[test]
fn login_usage_errors() {
    let reg = TestRegistry::start(Mode::Basic);
    let docker = Docker::new();
    let host = reg.host();
    let cases: [(&[&str], &[u8], &str); 5] = [
        (
            &["login", &host, "--password-stdin"],
            b"p",
            "dxf: login needs a username: give -u/--username",
        ),
        (
            &["login", &host, "-u", "u"],
            b"",
            "dxf: login needs a password: give --password-stdin",
        ),
        (
            &["login", &host, "-u", "u", "--password-stdin"],
            b"\n",
            "dxf: login needs a non-empty password",
        ),
        (
            &["login", &host, "-u", "", "--password-stdin"],
            b"p",
            "dxf: login needs a non-empty username",
        ),
        (
            &["login", &host, "-u", "u", "-p", "x", "--password-stdin"],
            b"",
            "dxf: the argument '--password <PASSWORD>' cannot be used with '--password-stdin'",
        ),
    ];
    for (args, stdin, message) in cases {
        let run = docker.dxf(&reg, args, &[], Some(stdin));
        one_line_error(&run, 2, message);
    }
    let run = docker.dxf(&reg, &["logout"], &[("DXF_HOST", None)], None);
    one_line_error(
        &run,
        2,
        "dxf: logout needs a registry: give HOST or set DXF_HOST",
    );
    assert!(!docker.config_path().exists());
}

/// Reads `from` into `seen` until it contains `want` (or 30 s pass).
fn wait_for(seen: &std::sync::Mutex<Vec<u8>>, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if String::from_utf8_lossy(&seen.lock().unwrap()).contains(want) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!(
        "no {want:?} on the terminal: {:?}",
        String::from_utf8_lossy(&seen.lock().unwrap())
    );
}

#[test]
fn login_on_a_terminal_asks_and_does_not_echo_the_password() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    let reg = TestRegistry::start(Mode::Basic);
    let docker = Docker::new();
    let (user, password) = user_password(&reg);
    // `script` runs dxf on a pseudo-terminal; what we write is typed on it.
    let line = format!(
        "{} login {}",
        dxf_tests::cli::dxf_bin().display(),
        reg.host()
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_clear()
        .env("PATH", &docker.path)
        .envs(reg.dxf_env())
        .env_remove("DXF_USERNAME")
        .env_remove("DXF_PASSWORD")
        .env("DOCKER_CONFIG", docker.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    wait_for(&seen, "Username: ");
    stdin.write_all(format!("{user}\n").as_bytes()).unwrap();
    wait_for(&seen, "Password: ");
    // Give the prompt time to turn echo off before the password is typed.
    std::thread::sleep(std::time::Duration::from_millis(300));
    stdin.write_all(format!("{password}\n").as_bytes()).unwrap();
    wait_for(&seen, "Login Succeeded");
    drop(stdin);
    let _ = child.wait();
    reader.join().unwrap();
    let screen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(screen.contains(&user), "the username is echoed: {screen:?}");
    assert!(
        !screen.contains(&password),
        "the password was echoed: {screen:?}"
    );
    assert_eq!(
        docker.config()["auths"][reg.host()]["auth"],
        json!(b64(&format!("{user}:{password}")))
    );
}
