//! The docker credential-helper protocol, as bytes: a helper is the program
//! `docker-credential-NAME` ([`helper_program`]) run with one argument.
//!
//! | action | stdin | stdout on success |
//! |---|---|---|
//! | `get` | the server address ([`get_input`]) | `{"ServerURL","Username","Secret"}` ([`parse_get`]) |
//! | `store` | that JSON object ([`store_input`]) | nothing |
//! | `erase` | the server address ([`erase_input`]) | nothing |
//!
//! A failed action exits non-zero with its message on stdout; `get` of a server the helper
//! knows nothing about fails with [`CREDENTIALS_NOT_FOUND`], which means anonymous. A
//! `Username` of `<token>` makes `Secret` an identity token (an OAuth2 refresh token).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::config_file::TOKEN_USERNAME;
use crate::session::Credentials;

/// The message helpers fail `get` with for an unknown server (docker-credential-helpers'
/// `ErrCredentialsNotFound`).
pub const CREDENTIALS_NOT_FOUND: &str = "credentials not found in native keychain";

/// The most output read from a helper: 64 KiB.
pub const MAX_HELPER_OUTPUT: usize = 64 * 1024;

/// What went wrong with a credential helper, besides running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelperError {
    /// A helper name that is not a plain program-name suffix (empty, or with a path
    /// separator), refused before anything runs.
    BadName(String),
    /// The helper failed; its message (first line of its output, bounded).
    Failed {
        /// The program.
        program: String,
        /// The action (`get`, `store`, `erase`).
        action: &'static str,
        /// What it printed.
        message: String,
    },
    /// `get` printed something that is not the credentials object.
    BadOutput {
        /// The program.
        program: String,
        /// Why it could not be read.
        why: String,
    },
}

impl fmt::Display for HelperError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelperError::BadName(name) => write!(f, "invalid credential helper name {name:?}"),
            HelperError::Failed {
                program,
                action,
                message,
            } if message.is_empty() => write!(f, "{program} {action} failed"),
            HelperError::Failed {
                program,
                action,
                message,
            } => write!(f, "{program} {action} failed: {message}"),
            HelperError::BadOutput { program, why } => {
                write!(f, "{program} get printed no credentials: {why}")
            }
        }
    }
}

impl std::error::Error for HelperError {}

/// The helper's reply to `get`, and what `store` takes.
#[derive(Serialize, Deserialize)]
struct HelperCredentials {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The program for helper `name`: `docker-credential-<name>`.
pub fn helper_program(name: &str) -> Result<String, HelperError> {
    if name.is_empty()
        || name.starts_with('-')
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
    {
        return Err(HelperError::BadName(name.to_owned()));
    }
    Ok(format!("docker-credential-{name}"))
}

/// What `get` reads on stdin: the server address.
pub fn get_input(server_url: &str) -> Vec<u8> {
    server_url.as_bytes().to_vec()
}

/// What `erase` reads on stdin: the server address.
pub fn erase_input(server_url: &str) -> Vec<u8> {
    server_url.as_bytes().to_vec()
}

/// What `store` reads on stdin (an identity token goes with username `<token>`).
pub fn store_input(server_url: &str, credentials: &Credentials) -> Vec<u8> {
    let (username, secret) = match credentials {
        Credentials::Basic { username, password } => (username.clone(), password.clone()),
        Credentials::IdentityToken(t) => (TOKEN_USERNAME.to_owned(), t.clone()),
        Credentials::Authorization(_) | Credentials::None => (String::new(), String::new()),
    };
    let body = HelperCredentials {
        server_url: server_url.to_owned(),
        username,
        secret,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The first line of a helper's output, bounded, for messages.
fn message(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output.get(..512).unwrap_or(output));
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// Whether a failed `get` said the server is unknown.
fn is_not_found(output: &[u8]) -> bool {
    message(output) == CREDENTIALS_NOT_FOUND
}

/// Reads the result of `program get`: `succeeded` is whether it exited 0, `output` what it
/// printed. `None` when it knows no credentials for the server (anonymous).
pub fn parse_get(
    program: &str,
    succeeded: bool,
    output: &[u8],
) -> Result<Option<Credentials>, HelperError> {
    if !succeeded {
        if is_not_found(output) {
            return Ok(None);
        }
        return Err(HelperError::Failed {
            program: program.to_owned(),
            action: "get",
            message: message(output),
        });
    }
    let bad = |why: String| HelperError::BadOutput {
        program: program.to_owned(),
        why,
    };
    if output.len() > MAX_HELPER_OUTPUT {
        return Err(bad(format!("more than {MAX_HELPER_OUTPUT} bytes")));
    }
    let creds: HelperCredentials =
        serde_json::from_slice(output).map_err(|e| bad(e.to_string()))?;
    if creds.username == TOKEN_USERNAME {
        return Ok(Some(Credentials::IdentityToken(creds.secret)));
    }
    if creds.username.is_empty() && creds.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials::Basic {
        username: creds.username,
        password: creds.secret,
    }))
}

/// Reads the result of `program store` or `program erase` (`action`). An `erase` of
/// credentials the helper does not have is not a failure.
pub fn check_done(
    program: &str,
    action: &'static str,
    succeeded: bool,
    output: &[u8],
) -> Result<(), HelperError> {
    if succeeded || (action == "erase" && is_not_found(output)) {
        return Ok(());
    }
    Err(HelperError::Failed {
        program: program.to_owned(),
        action,
        message: message(output),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "docker-credential-x";

    #[test]
    fn program_names_are_plain() {
        assert_eq!(helper_program("pass").unwrap(), "docker-credential-pass");
        for bad in ["", "../x", "a/b", "-rf", "a\\b", "a\nb"] {
            assert!(helper_program(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn get_replies() {
        let basic = parse_get(
            P,
            true,
            br#"{"ServerURL":"reg.test","Username":"alice","Secret":"pw"}"#,
        )
        .unwrap();
        assert_eq!(
            basic,
            Some(Credentials::Basic {
                username: "alice".into(),
                password: "pw".into()
            })
        );
        let token = parse_get(P, true, br#"{"Username":"<token>","Secret":"rt"}"#).unwrap();
        assert_eq!(token, Some(Credentials::IdentityToken("rt".into())));
        assert_eq!(parse_get(P, true, br#"{}"#).unwrap(), None);
        assert_eq!(
            parse_get(P, false, b"credentials not found in native keychain\n").unwrap(),
            None
        );
        assert_eq!(
            parse_get(P, false, b"gpg: decryption failed\nmore")
                .unwrap_err()
                .to_string(),
            "docker-credential-x get failed: gpg: decryption failed"
        );
        assert!(parse_get(P, true, b"not json")
            .unwrap_err()
            .to_string()
            .starts_with("docker-credential-x get printed no credentials: "));
        let big = vec![b' '; MAX_HELPER_OUTPUT + 1];
        assert!(parse_get(P, true, &big).is_err());
    }

    #[test]
    fn store_and_erase_inputs() {
        let basic = Credentials::Basic {
            username: "u".into(),
            password: "p\"w".into(),
        };
        assert_eq!(
            String::from_utf8(store_input("reg.test", &basic)).unwrap(),
            r#"{"ServerURL":"reg.test","Username":"u","Secret":"p\"w"}"#
        );
        assert_eq!(
            String::from_utf8(store_input("h", &Credentials::IdentityToken("t".into()))).unwrap(),
            r#"{"ServerURL":"h","Username":"<token>","Secret":"t"}"#
        );
        assert_eq!(get_input("reg.test"), b"reg.test");
        assert_eq!(erase_input("reg.test"), b"reg.test");
        assert!(check_done(P, "erase", false, CREDENTIALS_NOT_FOUND.as_bytes()).is_ok());
        assert!(check_done(P, "store", false, CREDENTIALS_NOT_FOUND.as_bytes()).is_err());
        assert_eq!(
            check_done(P, "store", false, b"").unwrap_err().to_string(),
            "docker-credential-x store failed"
        );
        assert!(check_done(P, "store", true, b"").is_ok());
    }
}
