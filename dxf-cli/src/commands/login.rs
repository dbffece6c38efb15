//! `login [HOST] [-u USER] [-p PASSWORD | --password-stdin]`, as `docker login`:
//! credentials checked with the registry, then stored in docker's `config.json` or its
//! credential helper (which every other command then uses when no `DXF_*` credential is
//! set; [`super::logout`] removes them). The file and helper work is
//! `dxf_ureq::docker_config`'s; the rules are dxf-proto's.

use std::io::{IsTerminal, Read, Write};

use dxf_ureq::docker_config::DockerConfigDir;
use dxf_ureq::dxf_proto::docker_config::hostname_of;
use dxf_ureq::{Credentials, Registry};

use super::Run;
use crate::env::{Env, DXF_HOST};
use crate::error::CliError;
use crate::output;

/// Log in to a registry: check the credentials with it, then store them as docker does
#[derive(Debug, PartialEq, Eq, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Registry HOST or HOST:PORT (default: DXF_HOST)
    #[arg(value_name = "HOST")]
    pub host: Option<String>,
    /// Username (asked for on the terminal when omitted)
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (visible to other users of the machine: prefer --password-stdin)
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    pub password_stdin: bool,
}

/// `login --help`'s notes.
const AFTER_HELP: &str = "\
Credentials are stored as `docker login` stores them, in $DOCKER_CONFIG/config.json
(default ~/.docker/config.json): through the credential helper configured for the host
(credHelpers, else credsStore: docker-credential-NAME store), else base64 in auths. They
are checked with the registry first (for a token registry, a token is fetched); wrong ones
are refused (exit 13) and nothing is stored. Without -p or --password-stdin the password is
asked for on the terminal, without echo.

Every command uses these stored credentials when none of DXF_USERNAME, DXF_PASSWORD,
DXF_AUTHORIZATION and DXF_TOKEN is set.";

impl Run for Args {
    /// Checks the credentials with the registry (`GET /v2/` through the auth flow: a
    /// token registry must issue a token), then stores them; prints `Login Succeeded`.
    fn run(&self, env: &Env, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
        login(env, out, input, self)
    }
}

/// The longest password read from standard input.
const MAX_PASSWORD: u64 = 64 * 1024;

/// The registry host: the argument (a URL is reduced to its `host[:port]`, as docker
/// does), else `DXF_HOST`.
pub(super) fn host_of(env: &Env, arg: Option<&str>, command: &str) -> Result<String, CliError> {
    match arg {
        Some(a) => Ok(hostname_of(a).to_owned()),
        None => env.host.clone().ok_or_else(|| {
            CliError::Usage(format!(
                "{command} needs a registry: give HOST or set {DXF_HOST}"
            ))
        }),
    }
}

/// Docker's configuration directory, or why there is none.
pub(super) fn config_dir(env: &Env) -> Result<DockerConfigDir, CliError> {
    env.docker_config.clone().ok_or_else(|| {
        CliError::Env("neither DOCKER_CONFIG nor HOME is set: no docker configuration".into())
    })
}

/// One line typed on the terminal (standard input), prompted for on stderr.
fn ask(input: &mut dyn Read, prompt: &str) -> Result<String, CliError> {
    let _ = write!(std::io::stderr(), "{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 4096 {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte == [b'\n'] => break,
            Ok(_) => line.extend_from_slice(&byte),
            Err(e) => return Err(CliError::input("standard input", e)),
        }
    }
    Ok(String::from_utf8_lossy(&line).trim().to_owned())
}

/// The password: from standard input (`--password-stdin`, one trailing newline removed),
/// `-p`, or typed on the terminal without echo.
fn password(how: &Args, input: &mut dyn Read) -> Result<String, CliError> {
    if how.password_stdin {
        let mut bytes = Vec::new();
        input
            .take(MAX_PASSWORD + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::input("standard input", e))?;
        if bytes.len() as u64 > MAX_PASSWORD {
            return Err(CliError::Usage(format!(
                "--password-stdin: more than {MAX_PASSWORD} bytes on standard input"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| {
            CliError::Usage("--password-stdin: the password is not valid UTF-8".into())
        })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return Ok(text.strip_suffix('\r').unwrap_or(text).to_owned());
    }
    if let Some(p) = how.password.clone() {
        let _ = writeln!(
            std::io::stderr(),
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
        );
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "login needs a password: give --password-stdin (standard input is not a terminal)"
                .into(),
        ));
    }
    rpassword::prompt_password("Password: ").map_err(|e| CliError::input("the terminal", e))
}

/// Logs in as `how` says (see [`Args::run`]).
fn login(env: &Env, out: &mut dyn Write, input: &mut dyn Read, how: &Args) -> Result<(), CliError> {
    let host = host_of(env, how.host.as_deref(), "login")?;
    let dir = config_dir(env)?;
    // A file that cannot be used is reported before anything is asked or sent.
    dir.load().map_err(CliError::Docker)?;
    let username = match how.username.clone() {
        Some(u) => u,
        None if how.password_stdin || !std::io::stdin().is_terminal() => {
            return Err(CliError::Usage(
                "login needs a username: give -u/--username".into(),
            ))
        }
        None => ask(input, "Username: ")?,
    };
    if username.is_empty() {
        return Err(CliError::Usage("login needs a non-empty username".into()));
    }
    let password = password(how, input)?;
    if password.is_empty() {
        return Err(CliError::Usage("login needs a non-empty password".into()));
    }

    let mut target = env.clone();
    target.host = Some(host.clone());
    target.explicit_credentials = true;
    let mut config = target.config(false)?;
    config.credentials = Credentials::Basic {
        username: username.clone(),
        password: password.clone(),
    };
    // Errors name the host themselves (connection errors) or need no name (401).
    Registry::new(&config)?.authenticate(None, &[])?;

    dir.login(&host, &username, &password)
        .map_err(CliError::Docker)?;
    output::line(out, "Login Succeeded")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::testing::env;

    #[test]
    fn the_host_is_the_argument_reduced_to_host_port_else_dxf_host() {
        let e = env(&[(DXF_HOST, "reg.test:5000")]);
        assert_eq!(host_of(&e, None, "login").unwrap(), "reg.test:5000");
        assert_eq!(
            host_of(&e, Some("https://other.test/v1/"), "login").unwrap(),
            "other.test"
        );
        assert_eq!(host_of(&e, Some("h:1"), "login").unwrap(), "h:1");
        let err = host_of(&env(&[]), None, "logout").unwrap_err();
        assert_eq!(
            err.to_string(),
            "logout needs a registry: give HOST or set DXF_HOST"
        );
    }

    #[test]
    fn password_stdin_drops_one_trailing_newline() {
        let how = Args {
            host: None,
            username: None,
            password: None,
            password_stdin: true,
        };
        for (input, want) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            ("p w\n\n", "p w\n"),
        ] {
            assert_eq!(password(&how, &mut input.as_bytes()).unwrap(), want);
        }
        let big = vec![b'x'; 64 * 1024 + 1];
        assert!(password(&how, &mut big.as_slice()).is_err());
    }

    #[test]
    fn no_docker_directory_is_a_clear_error() {
        let err = config_dir(&env(&[])).unwrap_err();
        assert!(err.to_string().contains("DOCKER_CONFIG nor HOME"), "{err}");
    }
}
