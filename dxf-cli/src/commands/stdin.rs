//! A manifest given on standard input (python-dxf's `get_alias(manifest=sys.stdin.read())`),
//! read under the manifest size cap and resolved by dxf-proto: an image manifest is used as
//! it is; an index has its platforms' manifests fetched (all, or only the `DXF_PLATFORM` one).

use std::io::{self, Read};

use dxf_ureq::dxf_proto::{AliasManifest, Error as Proto, Limits, ProtocolViolation, ReadOptions};
use dxf_ureq::Repository;

use crate::error::CliError;

/// What errors about the manifest read from stdin are prefixed with.
pub(super) const STDIN: &str = "standard input";

/// Reads at most `limit` bytes of `input`; more is an error.
fn read_limited(input: &mut dyn Read, limit: u64) -> Result<Vec<u8>, CliError> {
    let mut body = Vec::new();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| CliError::input(STDIN, e))?;
    if body.len() as u64 > limit {
        return Err(CliError::dxf(STDIN, Proto::BodyTooLarge { limit }));
    }
    Ok(body)
}

/// Reads the manifest on `input` and resolves it: for an index, the `platform` one only
/// (an unknown platform is an error), or every platform.
pub(super) fn read_manifest(
    repo: &Repository,
    input: &mut dyn Read,
    platform: Option<&str>,
) -> Result<AliasManifest, CliError> {
    let body = read_limited(input, Limits::default().manifest_body)?;
    let options = ReadOptions {
        platform: platform.map(str::to_owned),
        resolve_platforms: true,
    };
    repo.read_manifest(body, options)
        .map_err(|e| match e.proto() {
            // Not a manifest: the user's input is wrong, not the registry.
            Some(Proto::Protocol(ProtocolViolation::BadJson { detail, .. })) => CliError::input(
                STDIN,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not a manifest: {detail}"),
                ),
            ),
            _ => CliError::dxf(STDIN, e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_stdin_is_refused() {
        let mut input: &[u8] = b"0123456789";
        assert!(read_limited(&mut input, 9).is_err());
        let mut input: &[u8] = b"0123456789";
        assert_eq!(read_limited(&mut input, 10).unwrap().len(), 10);
    }
}
