//! [`CliError`]: everything a `dxf` invocation can fail with. Its `Display` is the one line
//! printed after `dxf: `; [`crate::exit::code`] turns it into the exit status.

use std::fmt;
use std::io;

/// A failed `dxf` invocation.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Wrong arguments (python-dxf's `too few arguments`, `too many arguments`,
    /// `invalid alias`, or anything clap rejects).
    Usage(String),
    /// A missing or invalid environment variable.
    Env(String),
    /// A registry operation failed; `context` names what it was about (a digest, an
    /// alias, a file), when there is something to name.
    Dxf {
        /// What the operation was about.
        context: Option<String>,
        /// The failure.
        error: dxf_ureq::Error,
    },
    /// A local file or standard input could not be read.
    Input {
        /// The file (or `standard input`).
        what: String,
        /// The failure.
        error: io::Error,
    },
    /// Standard output could not be written.
    Output(io::Error),
    /// A local file could not be created or written (`pull-blob --output`'s file, a
    /// temporary file).
    File {
        /// The file (for `--output`, the name asked for, not its temporary name).
        what: String,
        /// The failure.
        error: io::Error,
    },
    /// Docker's configuration (`config.json`) or a credential helper failed.
    Docker(dxf_ureq::docker_config::Error),
    /// A `push-blob --resumable` upload failed after the registry opened its session: its
    /// checkpoint is kept (or could not be saved), which `note` tells.
    Resumable {
        /// The failure.
        error: Box<CliError>,
        /// What running the same command again does.
        note: String,
    },
}

impl CliError {
    /// A registry failure about `context`.
    pub(crate) fn dxf(context: impl Into<String>, error: impl Into<dxf_ureq::Error>) -> CliError {
        CliError::Dxf {
            context: Some(context.into()),
            error: error.into(),
        }
    }

    /// A failure reading `what`.
    pub(crate) fn input(what: impl Into<String>, error: io::Error) -> CliError {
        CliError::Input {
            what: what.into(),
            error,
        }
    }

    /// A failure creating or writing file `what`.
    pub(crate) fn file(what: impl Into<String>, error: io::Error) -> CliError {
        CliError::File {
            what: what.into(),
            error,
        }
    }

    /// Whether this is a write to a closed pipe (e.g. `dxf list-repos | head -1`), which is
    /// not worth a message.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Whether this transfer ended because it was interrupted (a signal, or another
    /// transfer of the same command failed) rather than for a reason of its own.
    pub(crate) fn is_interruption(&self) -> bool {
        match self {
            CliError::Dxf { error, .. } => {
                matches!(error, dxf_ureq::Error::Stopped)
                    || error.proto() == Some(&dxf_ureq::dxf_proto::Error::Cancelled)
            }
            CliError::Resumable { error, .. } => error.is_interruption(),
            // Hashing a file stopped by the interrupt (`signals::Interruptible`).
            CliError::Input { error, .. } => error
                .get_ref()
                .and_then(|e| e.downcast_ref::<dxf_ureq::dxf_proto::Error>())
                .is_some_and(|e| *e == dxf_ureq::dxf_proto::Error::Cancelled),
            _ => false,
        }
    }

    /// For a `--resumable` upload's failure: what running the same command again does.
    pub(crate) fn resumable_note(&self) -> Option<&str> {
        match self {
            CliError::Resumable { note, .. } => Some(note),
            _ => None,
        }
    }
}

impl From<dxf_ureq::Error> for CliError {
    fn from(error: dxf_ureq::Error) -> CliError {
        CliError::Dxf {
            context: None,
            error,
        }
    }
}

impl From<dxf_ureq::dxf_proto::Error> for CliError {
    fn from(error: dxf_ureq::dxf_proto::Error) -> CliError {
        CliError::from(dxf_ureq::Error::from(error))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Env(m) => f.write_str(m),
            // An invalid name's message already quotes the name; a TLS failure's names the
            // host and is about no blob or alias.
            CliError::Dxf {
                context: Some(c),
                error,
            } if !c.is_empty()
                && !error.is_tls()
                && !matches!(
                    error.proto(),
                    Some(dxf_ureq::dxf_proto::Error::InvalidReference(_))
                ) =>
            {
                write!(f, "{c}: {error}")
            }
            CliError::Dxf { error, .. } => write!(f, "{error}"),
            CliError::Input { what, error } | CliError::File { what, error } => {
                write!(f, "{what}: {error}")
            }
            CliError::Output(e) => write!(f, "writing standard output: {e}"),
            CliError::Resumable { error, note } => write!(f, "{error} ({note})"),
            CliError::Docker(e) => write!(f, "docker credentials: {e}"),
        }
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_with_context() {
        let e = CliError::dxf(
            "@latest",
            dxf_ureq::dxf_proto::Error::PlatformNotFound("linux/s390x".into()),
        );
        assert_eq!(
            e.to_string(),
            "@latest: platform linux/s390x not found in the index"
        );
        let e = CliError::input(
            "data.bin",
            io::Error::new(io::ErrorKind::NotFound, "No such file"),
        );
        assert_eq!(e.to_string(), "data.bin: No such file");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn invalid_names_are_not_repeated() {
        let bad = dxf_ureq::dxf_proto::Reference::parse("bad tag").unwrap_err();
        let e = CliError::dxf("bad tag", dxf_ureq::dxf_proto::Error::from(bad));
        assert!(e.to_string().starts_with("invalid tag"), "{e}");
        let e = CliError::dxf("", dxf_ureq::dxf_proto::Error::CredentialsOverPlainHttp);
        assert_eq!(
            e.to_string(),
            "refusing to authenticate over plain http (credentials and tokens need https)"
        );
    }

    #[test]
    fn a_401_from_another_host_is_one_line_naming_it() {
        let e = CliError::dxf(
            "sha256:ab",
            dxf_ureq::dxf_proto::Error::ForeignChallenge {
                host: "storage.example:8443".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "sha256:ab: 401 Unauthorized from storage.example:8443, which is not the \
             registry: its challenge is not answered (credentials go only to the registry and \
             its token realm)"
        );
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn tls_failures_are_their_own_sentence() {
        let e = CliError::dxf(
            "@latest",
            dxf_ureq::Error::Tls("no certificates in CA bundle /x.pem; set it".into()),
        );
        assert_eq!(
            e.to_string(),
            "TLS: no certificates in CA bundle /x.pem; set it"
        );
    }

    #[test]
    fn resumable_failures_carry_a_note() {
        let e = CliError::Resumable {
            error: Box::new(CliError::input("f", io::Error::other("connection reset"))),
            note: "run it again".into(),
        };
        assert_eq!(e.to_string(), "f: connection reset (run it again)");
    }

    #[test]
    fn broken_pipe_is_recognised() {
        assert!(CliError::Output(io::ErrorKind::BrokenPipe.into()).is_broken_pipe());
        assert!(!CliError::Output(io::ErrorKind::Other.into()).is_broken_pipe());
        assert!(!CliError::Usage("x".into()).is_broken_pipe());
    }

    #[test]
    fn interruptions_are_told_from_failures_wherever_they_travelled() {
        use dxf_ureq::dxf_proto::Error as Proto;
        let cancelled = || io::Error::other(Proto::Cancelled);
        assert!(CliError::from(Proto::Cancelled).is_interruption());
        assert!(CliError::dxf("f", dxf_ureq::Error::Stopped).is_interruption());
        assert!(CliError::dxf("f", dxf_ureq::Error::Io(cancelled())).is_interruption());
        assert!(CliError::input("f", cancelled()).is_interruption());
        let noted = CliError::Resumable {
            error: Box::new(CliError::from(Proto::Cancelled)),
            note: "n".into(),
        };
        assert!(noted.is_interruption());
        assert!(!CliError::input("f", io::ErrorKind::NotFound.into()).is_interruption());
        assert!(!CliError::from(Proto::CredentialsOverPlainHttp).is_interruption());
        assert!(!CliError::Usage("x".into()).is_interruption());
    }
}
