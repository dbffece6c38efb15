//! A manifest given on standard input (python-dxf's `get_alias(manifest=sys.stdin.read())`):
//! an image manifest is used as it is; an index has its platforms' manifests fetched from
//! the registry by digest (all of them, or only the `DXF_PLATFORM` one).

use std::io::Read;

use dxf_ureq::dxf_proto::manifest::parse::{parse_manifest, Manifest};
use dxf_ureq::dxf_proto::{
    AliasContent, AliasManifest, Digest, Error as Proto, Limits, PlatformManifest,
    ProtocolViolation, ReadOptions, Sha256,
};
use dxf_ureq::Repository;

use crate::error::CliError;

/// What errors about the manifest read from stdin are prefixed with.
const STDIN: &str = "standard input";

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

/// An index's `(platform, manifest digest)` entries.
type Platforms = Vec<(String, Digest)>;

/// Decodes a manifest body given locally (no digest to check it against); for an index,
/// also its platforms (left out of the returned manifest until resolved).
fn decode(body: Vec<u8>) -> Result<(AliasManifest, Option<Platforms>), CliError> {
    let parsed = parse_manifest(&body, None).map_err(|e| CliError::dxf(STDIN, Proto::from(e)))?;
    let mut hasher = Sha256::new();
    hasher.update(&body);
    let digest = hasher.finish();
    let media_type = parsed.media_type().to_owned();
    let platforms = parsed.platforms();
    let (content, platforms) = match parsed {
        Manifest::Image { config, layers, .. } => (AliasContent::Image { config, layers }, None),
        Manifest::Index { .. } => (
            AliasContent::Index {
                platforms: Vec::new(),
            },
            Some(platforms),
        ),
    };
    Ok((
        AliasManifest {
            digest,
            media_type,
            body,
            content,
        },
        platforms,
    ))
}

/// Fetches a platform's manifest by digest; it must be an image manifest (python-dxf does
/// not recurse into nested indexes).
fn fetch_image(repo: &Repository, digest: &Digest) -> Result<AliasManifest, CliError> {
    let m = repo
        .read_alias(digest.as_str(), ReadOptions::default())
        .map_err(|e| CliError::dxf(digest.as_str(), e))?;
    match m.content {
        AliasContent::Image { .. } => Ok(m),
        AliasContent::Index { .. } => Err(CliError::dxf(
            digest.as_str(),
            Proto::UnsupportedMediaType(m.media_type),
        )),
    }
}

/// Reads the manifest on `input` and resolves it: for an index, the `platform` one only
/// (an unknown platform is an error), or every platform.
pub fn read_manifest(
    repo: &Repository,
    input: &mut dyn Read,
    platform: Option<&str>,
) -> Result<AliasManifest, CliError> {
    let limits = Limits::default();
    let body = read_limited(input, limits.manifest_body)?;
    let (mut manifest, platforms) = decode(body)?;
    let Some(platforms) = platforms else {
        return Ok(manifest);
    };
    if platforms.len() > limits.max_platforms {
        return Err(CliError::dxf(
            STDIN,
            Proto::Protocol(ProtocolViolation::TooManyPlatforms(limits.max_platforms)),
        ));
    }
    if let Some(wanted) = platform {
        let (_, digest) = platforms
            .iter()
            .find(|(p, _)| p == wanted)
            .ok_or_else(|| CliError::dxf(STDIN, Proto::PlatformNotFound(wanted.to_owned())))?;
        return fetch_image(repo, digest);
    }
    let mut resolved = Vec::with_capacity(platforms.len());
    for (platform, digest) in platforms {
        let m = fetch_image(repo, &digest)?;
        resolved.push(PlatformManifest {
            platform,
            digest,
            manifest: Some(m),
        });
    }
    manifest.content = AliasContent::Index {
        platforms: resolved,
    };
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxf_ureq::dxf_proto::PerPlatform;

    const A: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn image_manifest_from_stdin() {
        let body = format!(
            r#"{{"config": {{"digest": "{A}", "mediaType": "application/vnd.docker.container.image.v1+json", "size": 3}}, "layers": [{{"digest": "{A}", "mediaType": "application/octet-stream", "size": 3}}], "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "schemaVersion": 2}}"#
        );
        let (m, platforms) = decode(body.into_bytes()).unwrap();
        assert!(platforms.is_none());
        let a = Digest::parse(A).unwrap();
        assert_eq!(m.layers(), PerPlatform::Single(vec![(a.clone(), 3)]));
        assert_eq!(m.config_digest(), PerPlatform::Single(a));
    }

    #[test]
    fn index_from_stdin_lists_platforms() {
        let body = format!(
            r#"{{"mediaType": "application/vnd.oci.image.index.v1+json", "schemaVersion": 2, "manifests": [{{"digest": "{A}", "size": 1, "mediaType": "application/vnd.oci.image.manifest.v1+json", "platform": {{"os": "linux", "architecture": "arm", "variant": "v7"}}}}]}}"#
        );
        let (_, platforms) = decode(body.into_bytes()).unwrap();
        assert_eq!(
            platforms.unwrap(),
            vec![("linux/arm/v7".to_owned(), Digest::parse(A).unwrap())]
        );
    }

    #[test]
    fn bad_stdin_is_an_error_naming_stdin() {
        let err = decode(b"not json".to_vec()).unwrap_err();
        assert!(err.to_string().starts_with("standard input: "), "{err}");
        let err = decode(br#"{"schemaVersion": 1, "fsLayers": []}"#.to_vec()).unwrap_err();
        assert!(err.to_string().contains("unsupported"), "{err}");
    }

    #[test]
    fn oversized_stdin_is_refused() {
        let mut input: &[u8] = b"0123456789";
        assert!(read_limited(&mut input, 9).is_err());
        let mut input: &[u8] = b"0123456789";
        assert_eq!(read_limited(&mut input, 10).unwrap().len(), 10);
    }
}
