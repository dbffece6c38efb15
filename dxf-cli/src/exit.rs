//! Exit codes, as python-dxf's `main.py` returns them, and [`code`], the one function that
//! maps a failure to its code.
//!
//! | code | meaning |
//! |---:|---|
//! | 0  | success |
//! | 13 | unauthorized: the registry (or token server) answered 401 after authenticating (`EACCES`; python-dxf's `DXFUnauthorizedError`); or a host other than the registry (a redirect, `Link` or upload `Location` target) answered 401, whose challenge dxf does not answer (credentials go only to the registry and its token realm) |
//! | 2  | not found: the registry answered 404 (`ENOENT`), e.g. an unknown blob, alias or repository |
//! | 2  | usage error: wrong number of arguments, an alias without `@`, an unknown command |
//! | 2  | an invalid digest, tag or repository name (python-dxf sends it and the registry answers 404) |
//! | 1  | anything else: other statuses, digest mismatches, a failed mount, connection and TLS failures, local files (read or written), bad environment variables (`DXF_CHUNK_SIZE`, `DXF_CONCURRENCY`), a missing `DXF_HOST`, an unusable `--resumable` state directory, a missing or failing docker credential helper, a malformed docker `config.json` for `login`/`logout` |
//! | 128 + signal | `push-blob` / `pull-blob` / `copy` interrupted by SIGINT (130), SIGTERM (143) or SIGHUP (129): see [`crate::signals`] (decided in `main`, before [`code`]) |
//!
//! A `push-blob --resumable` failure keeps the code of what went wrong.

use crate::error::CliError;

/// Success.
pub(crate) const OK: u8 = 0;
/// Any failure without a more specific code.
pub(crate) const FAILURE: u8 = 1;
/// The registry answered 404 (`ENOENT`).
pub(crate) const NOT_FOUND: u8 = 2;
/// Wrong arguments (argparse's code, which equals `ENOENT`).
pub(crate) const USAGE: u8 = 2;
/// Unauthorized (`EACCES`).
pub(crate) const UNAUTHORIZED: u8 = 13;

/// The exit code for `error`. Registry errors are recognised wherever they travelled:
/// directly, or inside the `io::Error` a blob reader fails with
/// ([`dxf_ureq::Error::proto`]).
pub(crate) fn code(error: &CliError) -> u8 {
    use dxf_ureq::dxf_proto::Error as Proto;
    match error {
        CliError::Usage(_) => USAGE,
        CliError::Dxf { error, .. } => match error.proto() {
            Some(Proto::Unauthorized { .. } | Proto::ForeignChallenge { .. }) => UNAUTHORIZED,
            Some(Proto::NotFound { .. }) => NOT_FOUND,
            // Rejected before sending; python-dxf sends it and gets a 404.
            Some(Proto::InvalidReference(_)) => NOT_FOUND,
            _ => FAILURE,
        },
        CliError::Env(_) | CliError::Input { .. } | CliError::Output(_) | CliError::File { .. } => {
            FAILURE
        }
        // A malformed config.json, a missing or failing credential helper.
        CliError::Docker(_) => FAILURE,
        // The failure's own code: a note does not change what went wrong.
        CliError::Resumable { error, .. } => code(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxf_ureq::dxf_proto::{Error as Proto, OpKind};
    use std::io;

    fn unauthorized() -> Proto {
        Proto::Unauthorized {
            scope: String::new(),
            oci: Vec::new(),
        }
    }

    fn not_found() -> Proto {
        Proto::NotFound {
            op: OpKind::BlobGet,
            oci: Vec::new(),
        }
    }

    #[test]
    fn registry_errors() {
        assert_eq!(code(&CliError::from(unauthorized())), UNAUTHORIZED);
        assert_eq!(code(&CliError::dxf("@x", not_found())), NOT_FOUND);
        let noted = CliError::Resumable {
            error: Box::new(CliError::from(unauthorized())),
            note: "n".into(),
        };
        assert_eq!(code(&noted), UNAUTHORIZED);
        assert_eq!(
            code(&CliError::from(Proto::MountFailed {
                upload_location: None
            })),
            FAILURE
        );
        assert_eq!(
            code(&CliError::from(Proto::CredentialsOverPlainHttp)),
            FAILURE
        );
        assert_eq!(
            code(&CliError::from(Proto::UnexpectedStatus {
                op: OpKind::BlobGet,
                status: dxf_ureq::dxf_proto::http::StatusCode::INTERNAL_SERVER_ERROR,
                oci: Vec::new()
            })),
            FAILURE
        );
    }

    #[test]
    fn a_401_from_another_host_is_unauthorized() {
        let foreign = || Proto::ForeignChallenge {
            host: "storage.example".into(),
        };
        assert_eq!(code(&CliError::from(foreign())), UNAUTHORIZED);
        assert_eq!(code(&CliError::dxf("sha256:ab", foreign())), UNAUTHORIZED);
        // A blob reader's failure reaches the CLI inside an io::Error.
        let wrapped = CliError::from(dxf_ureq::Error::Io(io::Error::new(
            io::ErrorKind::PermissionDenied,
            foreign(),
        )));
        assert_eq!(code(&wrapped), UNAUTHORIZED);
    }

    #[test]
    fn registry_errors_inside_io_errors() {
        let wrapped = |p: Proto| {
            CliError::from(dxf_ureq::Error::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                p,
            )))
        };
        assert_eq!(code(&wrapped(unauthorized())), UNAUTHORIZED);
        assert_eq!(code(&wrapped(not_found())), NOT_FOUND);
        assert_eq!(
            code(&wrapped(Proto::LengthMismatch {
                expected: 1,
                actual: 2
            })),
            FAILURE
        );
        assert_eq!(
            code(&CliError::from(dxf_ureq::Error::Io(io::Error::other("x")))),
            FAILURE
        );
    }

    #[test]
    fn invalid_names_are_not_found() {
        let e = dxf_ureq::dxf_proto::Digest::parse("foo").unwrap_err();
        assert_eq!(code(&CliError::dxf("foo", Proto::from(e))), NOT_FOUND);
    }

    #[test]
    fn local_errors() {
        assert_eq!(code(&CliError::Usage("too few arguments".into())), USAGE);
        assert_eq!(code(&CliError::Env("DXF_HOST is not set".into())), FAILURE);
        assert_eq!(
            code(&CliError::input("f", io::ErrorKind::NotFound.into())),
            FAILURE
        );
        assert_eq!(
            code(&CliError::Output(io::ErrorKind::BrokenPipe.into())),
            FAILURE
        );
        assert_eq!(
            code(&CliError::file(
                "out.bin",
                io::ErrorKind::StorageFull.into()
            )),
            FAILURE
        );
    }
}
