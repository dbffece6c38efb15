//! Media types of manifests, indexes, configs and layers, python-dxf's `Accept` header for
//! manifest requests ([`MANIFEST_ACCEPT`]), and the OCI empty descriptor's content
//! ([`EMPTY_CONFIG_JSON`], [`EMPTY_CONFIG_DIGEST`]).

/// Docker image manifest schema 1 (unsupported: recognised only to be rejected).
pub const DOCKER_SCHEMA1_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v1+json";

/// Signed Docker image manifest schema 1 (unsupported: recognised only to be rejected).
pub const DOCKER_SCHEMA1_SIGNED_MANIFEST: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Docker image manifest schema 2: what python-dxf's alias manifests are.
pub const DOCKER_SCHEMA2_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Docker manifest list (multi-platform).
pub const DOCKER_SCHEMA2_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";

/// Docker container image config: the config type of python-dxf's alias manifests.
pub const DOCKER_CONTAINER_IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// OCI image manifest.
pub const OCI_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// OCI image index (multi-platform).
pub const OCI_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// OCI empty descriptor (the content is [`EMPTY_CONFIG_JSON`]).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Arbitrary bytes: the layer type of alias manifests.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The `Accept` header of manifest requests, exactly python-dxf's: schema 1, schema 2,
/// manifest list, OCI manifest, OCI index, joined with `", "`.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json";

/// The content of the OCI empty descriptor: `{}`.
pub const EMPTY_CONFIG_JSON: &[u8] = b"{}";

/// The digest of [`EMPTY_CONFIG_JSON`].
pub const EMPTY_CONFIG_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// [`EMPTY_CONFIG_JSON`] in base64, the empty descriptor's `data` field.
pub const EMPTY_CONFIG_DATA_BASE64: &str = "e30=";

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sha2::Digest as _;

    #[test]
    fn empty_config_digest_and_data() {
        let hash = sha2::Sha256::digest(EMPTY_CONFIG_JSON);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(EMPTY_CONFIG_DIGEST, format!("sha256:{hex}"));
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(EMPTY_CONFIG_JSON),
            EMPTY_CONFIG_DATA_BASE64
        );
    }

    #[test]
    fn accept_is_python_dxfs() {
        // python-dxf 12.1.1: ', '.join((_schema1_mimetype, _schema2_mimetype,
        // _schema2_list_mimetype, _ociv1_manifest_mimetype, _ociv1_index_mimetype))
        assert_eq!(
            MANIFEST_ACCEPT,
            [
                DOCKER_SCHEMA1_MANIFEST,
                DOCKER_SCHEMA2_MANIFEST,
                DOCKER_SCHEMA2_MANIFEST_LIST,
                OCI_IMAGE_MANIFEST,
                OCI_IMAGE_INDEX,
            ]
            .join(", ")
        );
        assert_eq!(
            MANIFEST_ACCEPT,
            "application/vnd.docker.distribution.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
        );
        assert!(http::HeaderValue::from_str(MANIFEST_ACCEPT).is_ok());
    }
}
