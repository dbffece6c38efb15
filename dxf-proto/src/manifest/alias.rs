//! Building alias manifests: python-dxf's Docker schema 2 form, byte for byte
//! ([`docker_alias_manifest`]), and the OCI 1.1 artifact form ([`oci_artifact_manifest`]).
//! Both are written by a tiny JSON writer of this module with keys sorted, so the bytes (and
//! so the manifest digest) are deterministic and do not depend on serde_json's features.

use std::collections::BTreeMap;
use std::fmt;

use super::media_types::{
    DOCKER_CONTAINER_IMAGE_CONFIG, DOCKER_SCHEMA2_MANIFEST, EMPTY_CONFIG_DATA_BASE64,
    EMPTY_CONFIG_DIGEST, EMPTY_CONFIG_JSON, OCI_EMPTY, OCI_IMAGE_MANIFEST, OCTET_STREAM,
};
use super::parse::Descriptor;
use crate::pyjson::Json;
use crate::reference::Digest;

/// The `artifactType` of OCI alias manifests unless the caller names another.
pub const DEFAULT_ARTIFACT_TYPE: &str = "application/vnd.dxf.blobs.v1";

/// The layer annotation carrying a blob's title (file name) in the OCI form.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// One blob of an alias.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobDescriptor {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// A title (e.g. a file name), written only by the OCI form, as the
    /// [`TITLE_ANNOTATION`] layer annotation.
    pub title: Option<String>,
}

impl BlobDescriptor {
    /// A blob without a title.
    pub fn new(digest: Digest, size: u64) -> BlobDescriptor {
        BlobDescriptor {
            digest,
            size,
            title: None,
        }
    }
}

/// Why an alias manifest could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasError {
    /// The Docker form needs at least one blob: its config is the first blob.
    NoBlobs,
}

impl fmt::Display for AliasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AliasError::NoBlobs => f.write_str(
                "an alias needs at least one blob (the Docker schema 2 alias manifest uses \
                 the first blob as its config)",
            ),
        }
    }
}

impl std::error::Error for AliasError {}

/// python-dxf's Docker schema 2 alias manifest (`DXF.make_manifest`), byte for byte:
/// `json.dumps({...}, sort_keys=True)` with Python's default `", "` and `": "` separators
/// and `ensure_ascii`. The config is the first blob with media type
/// `application/vnd.docker.container.image.v1+json`; every blob (the first included) is a
/// layer of media type `application/octet-stream`. Titles are not written.
///
/// An empty blob list is [`AliasError::NoBlobs`] (python-dxf raises `IndexError`).
pub fn docker_alias_manifest(blobs: &[BlobDescriptor]) -> Result<String, AliasError> {
    let first = blobs.first().ok_or(AliasError::NoBlobs)?;
    let plain = |media_type: &str, b: &BlobDescriptor| {
        object([
            ("digest", Json::from(b.digest.as_str())),
            ("mediaType", Json::from(media_type)),
            ("size", Json::Int(b.size)),
        ])
    };
    let doc = object([
        ("config", plain(DOCKER_CONTAINER_IMAGE_CONFIG, first)),
        (
            "layers",
            Json::Arr(blobs.iter().map(|b| plain(OCTET_STREAM, b)).collect()),
        ),
        ("mediaType", Json::from(DOCKER_SCHEMA2_MANIFEST)),
        ("schemaVersion", Json::Int(2)),
    ]);
    Ok(doc.python())
}

/// Choices for [`oci_artifact_manifest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciArtifactOptions {
    /// The manifest's `artifactType` (default [`DEFAULT_ARTIFACT_TYPE`]; an empty string
    /// also means the default, as the spec requires one when the config is the empty
    /// descriptor).
    pub artifact_type: String,
    /// The manifest's `annotations` (omitted when empty).
    pub annotations: BTreeMap<String, String>,
    /// The manifest's `subject` (the manifest this one refers to), if any.
    pub subject: Option<Descriptor>,
}

impl Default for OciArtifactOptions {
    fn default() -> Self {
        OciArtifactOptions {
            artifact_type: DEFAULT_ARTIFACT_TYPE.to_owned(),
            annotations: BTreeMap::new(),
            subject: None,
        }
    }
}

/// An OCI 1.1 artifact manifest for `blobs`: `schemaVersion` 2, media type
/// `application/vnd.oci.image.manifest.v1+json`, the options' `artifactType`, the OCI
/// empty descriptor as config (`{}` inlined as `data`), one `application/octet-stream`
/// layer per blob (with a [`TITLE_ANNOTATION`] annotation when it has a title), and the
/// options' `annotations` and `subject` when given. Zero blobs give `"layers":[]`.
///
/// Compact JSON, keys sorted, non-ASCII written as UTF-8: the same input always gives the
/// same bytes.
pub fn oci_artifact_manifest(blobs: &[BlobDescriptor], opts: &OciArtifactOptions) -> String {
    let layers: Vec<Descriptor> = blobs
        .iter()
        .map(|b| {
            let mut layer = Descriptor::new(OCTET_STREAM, b.digest.clone(), b.size);
            if let Some(title) = &b.title {
                layer
                    .annotations
                    .insert(TITLE_ANNOTATION.to_owned(), title.clone());
            }
            layer
        })
        .collect();
    oci_layers_manifest(&layers, opts)
}

/// An OCI 1.1 artifact manifest as [`oci_artifact_manifest`] writes it, over layers given
/// whole (each with its own media type and annotations: the files of `dxf push`).
pub fn oci_layers_manifest(layers: &[Descriptor], opts: &OciArtifactOptions) -> String {
    let artifact_type = if opts.artifact_type.is_empty() {
        DEFAULT_ARTIFACT_TYPE
    } else {
        opts.artifact_type.as_str()
    };
    let layers = layers.iter().map(descriptor).collect();
    let mut doc = object([
        ("artifactType", Json::from(artifact_type)),
        (
            "config",
            object([
                ("data", Json::from(EMPTY_CONFIG_DATA_BASE64)),
                ("digest", Json::from(EMPTY_CONFIG_DIGEST)),
                ("mediaType", Json::from(OCI_EMPTY)),
                ("size", Json::Int(EMPTY_CONFIG_JSON.len() as u64)),
            ]),
        ),
        ("layers", Json::Arr(layers)),
        ("mediaType", Json::from(OCI_IMAGE_MANIFEST)),
        ("schemaVersion", Json::Int(2)),
    ]);
    if !opts.annotations.is_empty() {
        doc.insert("annotations", string_map(&opts.annotations));
    }
    if let Some(subject) = &opts.subject {
        doc.insert("subject", descriptor(subject));
    }
    doc.compact()
}

/// A descriptor as the OCI form writes it (the fields [`Descriptor`] has).
pub(crate) fn descriptor(d: &Descriptor) -> Json {
    let mut o = object([
        ("digest", Json::from(d.digest.as_str())),
        ("mediaType", Json::from(d.media_type.as_str())),
        ("size", Json::Int(d.size)),
    ]);
    if let Some(p) = &d.platform {
        let mut platform = object([
            ("architecture", Json::from(p.architecture.as_str())),
            ("os", Json::from(p.os.as_str())),
        ]);
        if let Some(v) = &p.variant {
            platform.insert("variant", Json::from(v.as_str()));
        }
        o.insert("platform", platform);
    }
    if !d.annotations.is_empty() {
        o.insert("annotations", string_map(&d.annotations));
    }
    if let Some(t) = &d.artifact_type {
        o.insert("artifactType", Json::from(t.as_str()));
    }
    o
}

fn string_map(m: &BTreeMap<String, String>) -> Json {
    Json::Obj(
        m.iter()
            .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
            .collect(),
    )
}

fn object<const N: usize>(fields: [(&str, Json); N]) -> Json {
    Json::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::manifest::parse::{parse_manifest, Manifest, Platform};
    use proptest::prelude::*;
    use sha2::Digest as _;

    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HELLO: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    /// python-dxf 12.1.1, `DXF("localhost:5000", "repo").make_manifest(ABC)` with
    /// `blob_size` returning 3.
    const PYTHON_DXF_ONE: &str = r#"{"config": {"digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "mediaType": "application/vnd.docker.container.image.v1+json", "size": 3}, "layers": [{"digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "mediaType": "application/octet-stream", "size": 3}], "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "schemaVersion": 2}"#;
    const PYTHON_DXF_ONE_SHA256: &str =
        "fc164619e222260028d6741aa4a446ecd7042db644322a88b64f6b6d222b5dbf";

    /// python-dxf 12.1.1, `make_manifest(ABC, EMPTY, HELLO)` with sizes 3, 0, 12345678901.
    const PYTHON_DXF_THREE: &str = r#"{"config": {"digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "mediaType": "application/vnd.docker.container.image.v1+json", "size": 3}, "layers": [{"digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "mediaType": "application/octet-stream", "size": 3}, {"digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "mediaType": "application/octet-stream", "size": 0}, {"digest": "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "mediaType": "application/octet-stream", "size": 12345678901}], "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "schemaVersion": 2}"#;
    const PYTHON_DXF_THREE_SHA256: &str =
        "cced6606fa4e36b0af8bd9110bacf6f2769555ea0282e31ce110394d84171284";

    fn blob(digest: &str, size: u64) -> BlobDescriptor {
        BlobDescriptor::new(Digest::parse(digest).unwrap(), size)
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn python_dxf_one_blob_byte_exact() {
        let got = docker_alias_manifest(&[blob(ABC, 3)]).unwrap();
        assert_eq!(got, PYTHON_DXF_ONE);
        assert_eq!(sha256_hex(got.as_bytes()), PYTHON_DXF_ONE_SHA256);
    }

    #[test]
    fn python_dxf_three_blobs_byte_exact() {
        let mut blobs = vec![blob(ABC, 3), blob(EMPTY, 0), blob(HELLO, 12_345_678_901)];
        let got = docker_alias_manifest(&blobs).unwrap();
        assert_eq!(got, PYTHON_DXF_THREE);
        assert_eq!(sha256_hex(got.as_bytes()), PYTHON_DXF_THREE_SHA256);
        // Titles do not exist in python-dxf's form.
        blobs[1].title = Some("file.bin".into());
        assert_eq!(docker_alias_manifest(&blobs).unwrap(), PYTHON_DXF_THREE);
    }

    #[test]
    fn docker_form_needs_a_blob() {
        assert_eq!(docker_alias_manifest(&[]), Err(AliasError::NoBlobs));
        assert!(AliasError::NoBlobs
            .to_string()
            .contains("at least one blob"));
    }

    #[test]
    fn docker_form_parses_back() {
        let blobs = [blob(HELLO, u64::MAX), blob(ABC, 3)];
        let body = docker_alias_manifest(&blobs).unwrap();
        let m = parse_manifest(body.as_bytes(), Some(DOCKER_SCHEMA2_MANIFEST)).unwrap();
        let Manifest::Image { config, layers, .. } = m else {
            panic!()
        };
        assert_eq!(config.digest.as_str(), HELLO);
        assert_eq!(config.size, u64::MAX);
        assert_eq!(config.media_type, DOCKER_CONTAINER_IMAGE_CONFIG);
        let got: Vec<_> = layers.iter().map(|l| (l.digest.as_str(), l.size)).collect();
        assert_eq!(got, [(HELLO, u64::MAX), (ABC, 3)]);
    }

    /// Cross-checked with Python:
    /// `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.
    #[test]
    fn oci_artifact_form() {
        let mut b = blob(HELLO, 5);
        b.title = Some("hello \"world\".txt".into());
        let got = oci_artifact_manifest(&[b, blob(EMPTY, 0)], &OciArtifactOptions::default());
        assert_eq!(got, OCI_TWO);
        let m = parse_manifest(got.as_bytes(), Some(OCI_IMAGE_MANIFEST)).unwrap();
        let Manifest::Image {
            config,
            layers,
            artifact_type,
            subject,
            ..
        } = m
        else {
            panic!()
        };
        assert_eq!(config.digest.as_str(), EMPTY_CONFIG_DIGEST);
        assert_eq!(config.size, 2);
        assert_eq!(config.media_type, OCI_EMPTY);
        assert_eq!(artifact_type.as_deref(), Some(DEFAULT_ARTIFACT_TYPE));
        assert_eq!(subject, None);
        assert_eq!(layers.len(), 2);
        assert_eq!(
            layers[0]
                .annotations
                .get(TITLE_ANNOTATION)
                .map(String::as_str),
            Some("hello \"world\".txt")
        );
        assert!(layers[1].annotations.is_empty());
    }

    const OCI_TWO: &str = r#"{"artifactType":"application/vnd.dxf.blobs.v1","config":{"data":"e30=","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","mediaType":"application/vnd.oci.empty.v1+json","size":2},"layers":[{"annotations":{"org.opencontainers.image.title":"hello \"world\".txt"},"digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","mediaType":"application/octet-stream","size":5},{"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","mediaType":"application/octet-stream","size":0}],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#;

    #[test]
    fn oci_artifact_with_subject_and_annotations() {
        let mut subject = Descriptor::new(OCI_IMAGE_MANIFEST, Digest::parse(ABC).unwrap(), 1035);
        subject.platform = Some(Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        });
        subject.annotations.insert("z".into(), "ü".into());
        subject.artifact_type = Some("application/x".into());
        let opts = OciArtifactOptions {
            artifact_type: "application/vnd.example+type".into(),
            annotations: [
                (
                    "org.opencontainers.image.created".to_owned(),
                    "2024-01-01T00:00:00Z".to_owned(),
                ),
                ("a".to_owned(), "\u{1}".to_owned()),
            ]
            .into_iter()
            .collect(),
            subject: Some(subject.clone()),
        };
        let got = oci_artifact_manifest(&[], &opts);
        assert_eq!(got, OCI_SUBJECT);
        let Manifest::Image {
            layers,
            artifact_type,
            subject: parsed_subject,
            ..
        } = parse_manifest(got.as_bytes(), None).unwrap()
        else {
            panic!()
        };
        assert!(layers.is_empty());
        assert_eq!(
            artifact_type.as_deref(),
            Some("application/vnd.example+type")
        );
        assert_eq!(parsed_subject, Some(subject));
        // An empty artifact type means the default.
        let opts = OciArtifactOptions {
            artifact_type: String::new(),
            ..OciArtifactOptions::default()
        };
        assert_eq!(
            oci_artifact_manifest(&[], &opts),
            oci_artifact_manifest(&[], &OciArtifactOptions::default())
        );
    }

    const OCI_SUBJECT: &str = "{\"annotations\":{\"a\":\"\\u0001\",\"org.opencontainers.image.created\":\"2024-01-01T00:00:00Z\"},\"artifactType\":\"application/vnd.example+type\",\"config\":{\"data\":\"e30=\",\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"size\":2},\"layers\":[],\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"schemaVersion\":2,\"subject\":{\"annotations\":{\"z\":\"ü\"},\"artifactType\":\"application/x\",\"digest\":\"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"},\"size\":1035}}";

    proptest! {
        #[test]
        fn forms_parse_back(
            blobs in proptest::collection::vec(
                (any::<[u8; 32]>(), any::<u64>(), proptest::option::of(any::<String>())),
                0..6,
            ),
            annotations in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..3),
            artifact_type in any::<String>(),
        ) {
            let blobs: Vec<BlobDescriptor> = blobs
                .into_iter()
                .map(|(h, size, title)| BlobDescriptor { digest: Digest::sha256_from_bytes(&h), size, title })
                .collect();
            match docker_alias_manifest(&blobs) {
                Err(AliasError::NoBlobs) => prop_assert!(blobs.is_empty()),
                Ok(body) => {
                    let Manifest::Image { layers, .. } = parse_manifest(body.as_bytes(), None).unwrap() else { panic!() };
                    let got: Vec<_> = layers.into_iter().map(|l| (l.digest, l.size)).collect();
                    let want: Vec<_> = blobs.iter().map(|b| (b.digest.clone(), b.size)).collect();
                    prop_assert_eq!(got, want);
                }
            }
            let opts = OciArtifactOptions { artifact_type, annotations, subject: None };
            let body = oci_artifact_manifest(&blobs, &opts);
            prop_assert_eq!(&body, &oci_artifact_manifest(&blobs, &opts));
            let Manifest::Image { layers, .. } = parse_manifest(body.as_bytes(), None).unwrap() else { panic!() };
            let got: Vec<_> = layers
                .into_iter()
                .map(|l| (l.digest, l.size, l.annotations.get(TITLE_ANNOTATION).cloned()))
                .collect();
            let want: Vec<_> = blobs.iter().map(|b| (b.digest.clone(), b.size, b.title.clone())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
