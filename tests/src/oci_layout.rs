//! Writes a small multi-arch OCI image layout (an image index over two platform manifests,
//! one layer shared between them) for tests to copy into the registry with
//! `skopeo copy --all`, and remembers every digest so tests can check what dxf prints.

use std::path::Path;

use sha2::{Digest as _, Sha256};

/// One platform of the written image.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    /// `os/architecture[/variant]`, python-dxf's key.
    pub key: String,
    /// The platform manifest's digest.
    pub manifest_digest: String,
    /// The platform manifest's bytes.
    pub manifest: Vec<u8>,
    /// The config blob's digest.
    pub config_digest: String,
    /// The layers (digest, size), in order.
    pub layers: Vec<(String, u64)>,
}

/// What [`write_multi_arch`] wrote.
#[derive(Clone, Debug)]
pub struct MultiArch {
    /// The index digest.
    pub index_digest: String,
    /// The index bytes.
    pub index: Vec<u8>,
    /// The platforms, in index order.
    pub platforms: Vec<PlatformImage>,
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

fn put_blob(dir: &Path, data: &[u8]) -> String {
    let digest = sha256(data);
    let hex = digest.trim_start_matches("sha256:");
    std::fs::write(dir.join("blobs/sha256").join(hex), data).unwrap();
    digest
}

/// Writes the layout into `dir` with the index tagged `tag`.
pub fn write_multi_arch(dir: &Path, tag: &str) -> MultiArch {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let shared = b"layer shared by every platform\n".to_vec();
    let shared_digest = put_blob(dir, &shared);
    let mut platforms = Vec::new();
    let mut entries = Vec::new();
    for (os, arch, variant) in [("linux", "amd64", None), ("linux", "arm64", Some("v8"))] {
        let own = format!("layer for {os}/{arch}\n").repeat(100).into_bytes();
        let own_digest = put_blob(dir, &own);
        let variant_json = variant
            .map(|v| format!(r#","variant":"{v}""#))
            .unwrap_or_default();
        let config = format!(
            r#"{{"architecture":"{arch}","os":"{os}"{variant_json},"rootfs":{{"type":"layers","diff_ids":["{shared_digest}","{own_digest}"]}}}}"#
        )
        .into_bytes();
        let config_digest = put_blob(dir, &config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{shared_digest}","size":{}}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{own_digest}","size":{}}}]}}"#,
            config.len(),
            shared.len(),
            own.len()
        )
        .into_bytes();
        let manifest_digest = put_blob(dir, &manifest);
        entries.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{},"platform":{{"architecture":"{arch}","os":"{os}"{variant_json}}}}}"#,
            manifest.len()
        ));
        let key = match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        platforms.push(PlatformImage {
            key,
            manifest_digest,
            manifest,
            config_digest,
            layers: vec![
                (shared_digest.clone(), shared.len() as u64),
                (own_digest, own.len() as u64),
            ],
        });
    }
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes();
    let index_digest = put_blob(dir, &index);
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#,
            index.len()
        ),
    )
    .unwrap();
    MultiArch {
        index_digest,
        index,
        platforms,
    }
}
