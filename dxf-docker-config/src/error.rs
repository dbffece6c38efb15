//! [`Error`]: why docker credentials could not be read, stored or removed.

use std::fmt;
use std::io;
use std::path::PathBuf;

use dxf_proto::docker_config::{DockerConfigError, HelperError};

/// A failure reading or writing docker's configuration or running a credential helper.
#[derive(Debug)]
pub enum Error {
    /// `config.json` could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// `config.json` is not a usable docker configuration.
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: DockerConfigError,
    },
    /// `config.json` (or its directory) could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// A credential helper could not be run (e.g. it is not on `PATH`).
    Run {
        /// The program.
        program: String,
        /// Why.
        error: io::Error,
    },
    /// A credential helper ran and failed, or printed nonsense.
    Helper(HelperError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, error } => write!(f, "reading {}: {error}", path.display()),
            Error::Config { path, error } => write!(f, "{}: {error}", path.display()),
            Error::Write { path, error } => write!(f, "writing {}: {error}", path.display()),
            Error::Run { program, error } if error.kind() == io::ErrorKind::NotFound => {
                write!(f, "credential helper {program} not found on PATH")
            }
            Error::Run { program, error } => {
                write!(f, "running credential helper {program}: {error}")
            }
            Error::Helper(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { error, .. } | Error::Write { error, .. } | Error::Run { error, .. } => {
                Some(error)
            }
            Error::Config { error, .. } => Some(error),
            Error::Helper(e) => Some(e),
        }
    }
}

impl From<HelperError> for Error {
    fn from(e: HelperError) -> Error {
        Error::Helper(e)
    }
}
