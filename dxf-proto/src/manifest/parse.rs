//! Decoding manifests and indexes ([`parse_manifest`]): Docker schema 2 and OCI image
//! manifests become [`Manifest::Image`], Docker manifest lists and OCI indexes become
//! [`Manifest::Index`]; schema 1 and anything else is [`ManifestError::UnsupportedMediaType`].
//! Also owns [`Descriptor`] and [`Platform`] (with python-dxf's `os/arch[/variant]` key).
//!
//! The body is hostile: it is decoded to a `serde_json::Value` (serde_json's recursion
//! limit of 128 stays on) and then walked by hand, so that every malformed part becomes a
//! typed error and nothing panics. Unknown fields are ignored; a `null` field counts as
//! absent; when a key repeats, the last one wins (as in Python's `json.loads`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::media_types::{
    DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA2_MANIFEST, DOCKER_SCHEMA2_MANIFEST_LIST,
    OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST,
};
use crate::reference::Digest;

/// How much of a peer's string an error keeps.
const MAX_KEPT: usize = 256;
/// How much of a peer's string an error shows.
const MAX_SHOWN: usize = 100;

/// A content descriptor: what a manifest says about a blob or another manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The content's media type. Required by the specs, but python-dxf never reads it, so
    /// a descriptor without one is accepted with an empty string here.
    #[serde(default)]
    pub media_type: String,
    /// The content's digest (validated).
    pub digest: Digest,
    /// The content's size in bytes.
    pub size: u64,
    /// The platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations (string to string).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type, when the content is an artifact manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor with no platform, annotations or artifact type.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        }
    }
}

/// The platform of an index entry (only the fields python-dxf reads).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture, e.g. `arm64`.
    pub architecture: String,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// python-dxf's key: `os/architecture`, plus `/variant` when a variant is present (even
    /// an empty one, as python-dxf tests `'variant' in platform`).
    pub fn key(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// A decoded manifest.
// An image manifest holds two descriptors inline; a manifest is decoded once per response
// and matched on by value, so the size is not worth boxing (which would change the API).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manifest {
    /// A Docker schema 2 or OCI image (or artifact) manifest.
    Image {
        /// The media type it was decoded as.
        media_type: String,
        /// The config descriptor (python-dxf aliases: the first blob).
        config: Descriptor,
        /// The layers, in order (may be empty).
        layers: Vec<Descriptor>,
        /// The manifest's `artifactType`, if any.
        artifact_type: Option<String>,
        /// The manifest's `subject`, if any.
        subject: Option<Descriptor>,
    },
    /// A Docker manifest list or OCI image index.
    Index {
        /// The media type it was decoded as.
        media_type: String,
        /// The entries, in document order.
        manifests: Vec<Descriptor>,
    },
}

impl Manifest {
    /// The media type it was decoded as.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Image { media_type, .. } | Manifest::Index { media_type, .. } => media_type,
        }
    }

    /// For an index: `(platform key, manifest digest)` in document order. Entries without
    /// a `platform` are skipped (those with one, even `unknown/unknown` attestation
    /// entries, are kept); when a key repeats, the first entry wins. Empty for an image.
    pub fn platforms(&self) -> Vec<(String, Digest)> {
        let Manifest::Index { manifests, .. } = self else {
            return Vec::new();
        };
        let mut out: Vec<(String, Digest)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for entry in manifests {
            if let Some(p) = &entry.platform {
                let key = p.key();
                if seen.insert(key.clone()) {
                    out.push((key, entry.digest.clone()));
                }
            }
        }
        out
    }

    /// For an index none of whose entries has a `platform` — an OCI 1.1 referrers index (the
    /// referrers tag schema's `sha256-<hex>` tags), an artifact index, an empty index —
    /// what it is: it names no blobs and no platforms (python-dxf's per-platform reading
    /// of it is an empty `{}`). `None` for an image manifest and for an index with at
    /// least one platform entry (a multi-arch image, also one with attestation or
    /// platform-less entries besides).
    pub fn without_platforms(&self) -> Option<IndexWithoutPlatforms> {
        match self {
            Manifest::Index { manifests, .. } if manifests.iter().all(|m| m.platform.is_none()) => {
                Some(IndexWithoutPlatforms {
                    manifests: manifests.len(),
                })
            }
            _ => None,
        }
    }
}

/// An alias that is an index none of whose entries has a `platform` (see
/// [`Manifest::without_platforms`]), asked for its blobs or config: it has none. Its
/// `Display` is one line, meant to follow the alias's name (`ALIAS: is an index of 2
/// manifests without platforms (an artifact or referrers index), not a list of blobs;
/// get-manifest shows it`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexWithoutPlatforms {
    /// How many entries (`manifests`) the index has.
    pub manifests: usize,
}

impl fmt::Display for IndexWithoutPlatforms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.manifests {
            0 => f.write_str("is an empty index (no manifests, no platforms)"),
            1 => f.write_str(
                "is an index of 1 manifest without a platform (an artifact or referrers index)",
            ),
            n => write!(
                f,
                "is an index of {n} manifests without platforms (an artifact or referrers index)"
            ),
        }?;
        f.write_str(", not a list of blobs; get-manifest shows it")
    }
}

impl std::error::Error for IndexWithoutPlatforms {}

/// Why a manifest body was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Not JSON, not an object, or a field of the wrong type (the detail says which).
    InvalidJson(String),
    /// Docker schema 1 or a media type that is neither an image manifest nor an index.
    UnsupportedMediaType(String),
    /// The body's `mediaType` and the response's `Content-Type` disagree.
    MediaTypeMismatch {
        /// The body's `mediaType`.
        body: String,
        /// The `Content-Type` (parameters stripped).
        header: String,
    },
    /// A descriptor's digest is not a valid digest (the offending text, first 256 chars).
    InvalidDigest(String),
    /// A required field is absent (or `null`).
    MissingField(&'static str),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::InvalidJson(d) => write!(f, "invalid manifest JSON: {}", Shown(d)),
            ManifestError::UnsupportedMediaType(t) => {
                write!(f, "unsupported manifest media type \"{}\"", Shown(t))
            }
            ManifestError::MediaTypeMismatch { body, header } => write!(
                f,
                "manifest mediaType \"{}\" does not match Content-Type \"{}\"",
                Shown(body),
                Shown(header)
            ),
            ManifestError::InvalidDigest(d) => {
                write!(f, "invalid digest \"{}\" in manifest", Shown(d))
            }
            ManifestError::MissingField(name) => {
                write!(f, "manifest is missing required field \"{name}\"")
            }
        }
    }
}

impl std::error::Error for ManifestError {}

/// Content types that carry no manifest type information and are ignored.
const GENERIC_CONTENT_TYPES: &[&str] = &[
    "application/json",
    "text/plain",
    "application/octet-stream",
    "binary/octet-stream",
];

/// Decodes a manifest body.
///
/// The media type is the body's `mediaType`; when absent, `content_type` (the response's
/// `Content-Type`; parameters are stripped here too); when both are absent, inferred: a
/// `manifests` field means an OCI index, `config` or `layers` an OCI image manifest. If
/// the body's `mediaType` and `content_type` are both present they must agree (ASCII case
/// ignored), else [`ManifestError::MediaTypeMismatch`]; a generic `Content-Type`
/// (`application/json`, `text/plain`, octet-stream) is ignored. Docker schema 1 (either schema 1
/// type, or `schemaVersion` 1) and every type other than the four supported ones is
/// [`ManifestError::UnsupportedMediaType`]. Every descriptor needs a valid digest and a
/// non-negative integer size.
pub fn parse_manifest(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ManifestError::InvalidJson(e.to_string()))?;
    let Value::Object(doc) = &value else {
        return Err(ManifestError::InvalidJson(
            "expected a JSON object".to_owned(),
        ));
    };
    let header = content_type
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        // A generic Content-Type (some proxies and older registries send one) says
        // nothing about the manifest: python-dxf never looks at it, so neither do we.
        .filter(|t| !t.is_empty() && !GENERIC_CONTENT_TYPES.contains(&t.as_str()));
    let body_type = opt_string(doc, "mediaType", "")?;
    if let (Some(b), Some(h)) = (&body_type, &header) {
        if !b.eq_ignore_ascii_case(h) {
            return Err(ManifestError::MediaTypeMismatch {
                body: keep(b),
                header: keep(h),
            });
        }
    }
    let schema1 = field(doc, "schemaVersion").and_then(Value::as_u64) == Some(1);
    let media_type = match body_type.or(header) {
        Some(t) => t,
        None if schema1 => DOCKER_SCHEMA1_MANIFEST.to_owned(),
        None => infer(doc)?.to_owned(),
    };
    if schema1 {
        return Err(ManifestError::UnsupportedMediaType(keep(&media_type)));
    }
    match media_type.as_str() {
        DOCKER_SCHEMA2_MANIFEST | OCI_IMAGE_MANIFEST => image(doc, media_type),
        DOCKER_SCHEMA2_MANIFEST_LIST | OCI_IMAGE_INDEX => index(doc, media_type),
        _ => Err(ManifestError::UnsupportedMediaType(keep(&media_type))),
    }
}

fn infer(doc: &Map<String, Value>) -> Result<&'static str, ManifestError> {
    if field(doc, "manifests").is_some() {
        Ok(OCI_IMAGE_INDEX)
    } else if field(doc, "config").is_some() || field(doc, "layers").is_some() {
        Ok(OCI_IMAGE_MANIFEST)
    } else {
        Err(ManifestError::MissingField("mediaType"))
    }
}

fn image(doc: &Map<String, Value>, media_type: String) -> Result<Manifest, ManifestError> {
    let config = descriptor(
        field(doc, "config").ok_or(ManifestError::MissingField("config"))?,
        "config",
    )?;
    let layers = descriptors(doc, "layers")?;
    let artifact_type = opt_string(doc, "artifactType", "")?;
    let subject = field(doc, "subject")
        .map(|s| descriptor(s, "subject"))
        .transpose()?;
    Ok(Manifest::Image {
        media_type,
        config,
        layers,
        artifact_type,
        subject,
    })
}

fn index(doc: &Map<String, Value>, media_type: String) -> Result<Manifest, ManifestError> {
    Ok(Manifest::Index {
        media_type,
        manifests: descriptors(doc, "manifests")?,
    })
}

fn descriptors(
    doc: &Map<String, Value>,
    name: &'static str,
) -> Result<Vec<Descriptor>, ManifestError> {
    match field(doc, name) {
        None => Err(ManifestError::MissingField(name)),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| descriptor(v, &format!("{name}[{i}]")))
            .collect(),
        Some(_) => Err(wrong_type(name, "", "an array")),
    }
}

fn descriptor(v: &Value, at: &str) -> Result<Descriptor, ManifestError> {
    let Value::Object(o) = v else {
        return Err(wrong_type(at, "", "an object"));
    };
    let digest = match field(o, "digest") {
        None => return Err(ManifestError::MissingField("digest")),
        Some(Value::String(s)) => {
            Digest::parse(s).map_err(|_| ManifestError::InvalidDigest(keep(s)))?
        }
        Some(_) => return Err(wrong_type(at, ".digest", "a string")),
    };
    let size = match field(o, "size") {
        None => return Err(ManifestError::MissingField("size")),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| wrong_type(at, ".size", "a non-negative integer"))?,
        Some(_) => return Err(wrong_type(at, ".size", "a non-negative integer")),
    };
    Ok(Descriptor {
        media_type: opt_string(o, "mediaType", at)?.unwrap_or_default(),
        digest,
        size,
        platform: field(o, "platform").map(|p| platform(p, at)).transpose()?,
        annotations: annotations(o, at)?,
        artifact_type: opt_string(o, "artifactType", at)?,
    })
}

fn platform(v: &Value, at: &str) -> Result<Platform, ManifestError> {
    let Value::Object(o) = v else {
        return Err(wrong_type(at, ".platform", "an object"));
    };
    let at = format!("{at}.platform");
    Ok(Platform {
        os: opt_string(o, "os", &at)?.ok_or(ManifestError::MissingField("os"))?,
        architecture: opt_string(o, "architecture", &at)?
            .ok_or(ManifestError::MissingField("architecture"))?,
        variant: opt_string(o, "variant", &at)?,
    })
}

fn annotations(
    o: &Map<String, Value>,
    at: &str,
) -> Result<BTreeMap<String, String>, ManifestError> {
    match field(o, "annotations") {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(wrong_type(
                    at,
                    &format!(".annotations[{:?}]", keep_short(k)),
                    "a string",
                )),
            })
            .collect(),
        Some(_) => Err(wrong_type(at, ".annotations", "an object")),
    }
}

/// A field, `null` counting as absent.
fn field<'a>(o: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    o.get(name).filter(|v| !v.is_null())
}

fn opt_string(
    o: &Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<String>, ManifestError> {
    match field(o, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => {
            let dot = if at.is_empty() { "" } else { "." };
            Err(wrong_type(at, &format!("{dot}{name}"), "a string"))
        }
    }
}

fn wrong_type(at: &str, field: &str, expected: &str) -> ManifestError {
    ManifestError::InvalidJson(format!("{at}{field}: expected {expected}"))
}

/// The first [`MAX_KEPT`] characters of a peer's string.
fn keep(s: &str) -> String {
    s.chars().take(MAX_KEPT).collect()
}

/// The first [`MAX_SHOWN`] characters of a peer's string.
fn keep_short(s: &str) -> String {
    s.chars().take(MAX_SHOWN).collect()
}

/// Shows the first [`MAX_SHOWN`] characters of a string, escaped, `…` marking a cut.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX_SHOWN) {
            write!(f, "{}", c.escape_debug())?;
        }
        if chars.next().is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
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
    use crate::manifest::media_types::{
        DOCKER_CONTAINER_IMAGE_CONFIG, DOCKER_SCHEMA1_SIGNED_MANIFEST, OCTET_STREAM,
    };
    use proptest::prelude::*;

    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HELLO: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn d(s: &str) -> Digest {
        Digest::parse(s).unwrap()
    }

    fn sha(hex: &str) -> Digest {
        d(&format!("sha256:{hex}"))
    }

    /// python-dxf 12.1.1 `make_manifest` output for three blobs.
    const PYTHON_DXF_THREE: &str = r#"{"config": {"digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "mediaType": "application/vnd.docker.container.image.v1+json", "size": 3}, "layers": [{"digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "mediaType": "application/octet-stream", "size": 3}, {"digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "mediaType": "application/octet-stream", "size": 0}, {"digest": "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "mediaType": "application/octet-stream", "size": 12345678901}], "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "schemaVersion": 2}"#;

    #[test]
    fn python_dxf_alias_manifest() {
        let m = parse_manifest(PYTHON_DXF_THREE.as_bytes(), Some(DOCKER_SCHEMA2_MANIFEST)).unwrap();
        assert_eq!(m.media_type(), DOCKER_SCHEMA2_MANIFEST);
        assert!(m.platforms().is_empty());
        let Manifest::Image {
            config,
            layers,
            artifact_type,
            subject,
            ..
        } = m
        else {
            panic!("not an image")
        };
        assert_eq!(
            config,
            Descriptor::new(DOCKER_CONTAINER_IMAGE_CONFIG, d(ABC), 3)
        );
        let got: Vec<_> = layers.iter().map(|l| (l.digest.as_str(), l.size)).collect();
        assert_eq!(got, [(ABC, 3), (EMPTY, 0), (HELLO, 12_345_678_901)]);
        assert!(layers.iter().all(|l| l.media_type == OCTET_STREAM));
        assert_eq!(artifact_type, None);
        assert_eq!(subject, None);
        // The same without a Content-Type.
        assert!(parse_manifest(PYTHON_DXF_THREE.as_bytes(), None).is_ok());
        // With parameters and other case in the Content-Type.
        assert!(parse_manifest(
            PYTHON_DXF_THREE.as_bytes(),
            Some("Application/vnd.docker.distribution.manifest.v2+JSON; charset=utf-8")
        )
        .is_ok());
    }

    const HUB_LIST: &str = r#"{
   "manifests": [
      {
         "digest": "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "amd64",
            "os": "linux"
         },
         "size": 528
      },
      {
         "digest": "sha256:50b8c3e55c3365d624e7e10ae6a783d525e02b16924d4dcff0611f3e2544efaf",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "arm",
            "os": "linux",
            "variant": "v6"
         },
         "size": 528
      },
      {
         "digest": "sha256:5ba6c8710dd1369ce61603ab9b7a81b25f92d4a9f74956ab72a7ea75884f07ee",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "arm",
            "os": "linux",
            "variant": "v7"
         },
         "size": 528
      },
      {
         "digest": "sha256:d182c920d56d5bf143d2406c07022ea0969e792c2e1650749defe28a6cb0cf2b",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "arm64",
            "os": "linux",
            "variant": "v8"
         },
         "size": 528
      },
      {
         "digest": "sha256:15a26c6fa5151c712acc7ee45a1fd525ab85b801f096847c7d5fdf49efeabb4d",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "386",
            "os": "linux"
         },
         "size": 528
      },
      {
         "digest": "sha256:c92bb5907722b7ac701cea3606df516f5fe98c9f8380063df2d17d7d5db0bd05",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "ppc64le",
            "os": "linux"
         },
         "size": 528
      },
      {
         "digest": "sha256:77d3a5496288a2cd8724282d24f862ab1ea470f3aba13cadb9e3c105aaacf20b",
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "platform": {
            "architecture": "s390x",
            "os": "linux"
         },
         "size": 528
      }
   ],
   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
   "schemaVersion": 2
}"#;

    #[test]
    fn docker_hub_manifest_list() {
        let m = parse_manifest(HUB_LIST.as_bytes(), Some(DOCKER_SCHEMA2_MANIFEST_LIST)).unwrap();
        assert_eq!(m.media_type(), DOCKER_SCHEMA2_MANIFEST_LIST);
        let got: Vec<_> = m
            .platforms()
            .into_iter()
            .map(|(k, d)| (k, d.encoded()[..6].to_owned()))
            .collect();
        let want = [
            ("linux/amd64", "586131"),
            ("linux/arm/v6", "50b8c3"),
            ("linux/arm/v7", "5ba6c8"),
            ("linux/arm64/v8", "d182c9"),
            ("linux/386", "15a26c"),
            ("linux/ppc64le", "c92bb5"),
            ("linux/s390x", "77d3a5"),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, d)| ((*k).to_owned(), (*d).to_owned()))
            .collect();
        assert_eq!(got, want);
        let Manifest::Index { manifests, .. } = m else {
            panic!()
        };
        assert_eq!(manifests.len(), 7);
        assert!(manifests.iter().all(|e| e.size == 528));
    }

    const OCI_INDEX_WITH_ATTESTATION: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
      "size": 1035,
      "platform": { "architecture": "amd64", "os": "linux" }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:d182c920d56d5bf143d2406c07022ea0969e792c2e1650749defe28a6cb0cf2b",
      "size": 1035,
      "platform": { "architecture": "arm64", "os": "linux", "variant": "v8", "os.features": ["x"] }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:35143e7a5239313ee73b81f2f99b785aaed42d9572d1f797dc19fa14aa6b081f",
      "size": 566,
      "annotations": {
        "vnd.docker.reference.digest": "sha256:5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51",
        "vnd.docker.reference.type": "attestation-manifest"
      },
      "platform": { "architecture": "unknown", "os": "unknown" }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:dd86e2310bdf3ab45816029e264c4745a2a028961719031597877887a8f6f1df",
      "size": 566,
      "artifactType": "application/vnd.example.sbom",
      "annotations": { "vnd.docker.reference.type": "attestation-manifest" }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "digest": "sha256:ceaeee3c0f91c6c853bda5200efb5a1b94c85fd8bb21171047cbd19059c15722",
      "size": 1035,
      "platform": { "architecture": "amd64", "os": "linux" }
    }
  ],
  "annotations": { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" }
}"#;

    #[test]
    fn oci_index_with_attestation_and_no_platform_entry() {
        let m = parse_manifest(OCI_INDEX_WITH_ATTESTATION.as_bytes(), None).unwrap();
        assert_eq!(m.media_type(), OCI_IMAGE_INDEX);
        let keys = m.platforms();
        assert_eq!(
            keys,
            vec![
                (
                    "linux/amd64".to_owned(),
                    sha("5861314d7fccb39c2192173240eab44fa35ca66426201ca2acd0630a6258dd51")
                ),
                (
                    "linux/arm64/v8".to_owned(),
                    sha("d182c920d56d5bf143d2406c07022ea0969e792c2e1650749defe28a6cb0cf2b")
                ),
                (
                    "unknown/unknown".to_owned(),
                    sha("35143e7a5239313ee73b81f2f99b785aaed42d9572d1f797dc19fa14aa6b081f")
                ),
            ]
        );
        let Manifest::Index { manifests, .. } = m else {
            panic!()
        };
        assert_eq!(manifests.len(), 5);
        assert_eq!(
            manifests[2].annotations["vnd.docker.reference.type"],
            "attestation-manifest"
        );
        assert_eq!(manifests[3].platform, None);
        assert_eq!(
            manifests[3].artifact_type.as_deref(),
            Some("application/vnd.example.sbom")
        );
    }

    const OCI_IMAGE_NO_MEDIA_TYPE: &str = r#"{
  "schemaVersion": 2,
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:e67d23e7820c49a8051dac2831f38290f5e72f66c8db5079eeb60d82f14894c0",
    "size": 7023
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:2804bad6fe94a55f18b2b37e300919a5fd517b95aa81e95db574c0ba069a3740",
      "size": 32654,
      "urls": ["https://example.com/l1"]
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:8a1cee436cbac1489a1883c9d886fcfc46f302c55ed4106ae31729e4f4eb9041",
      "size": 16724,
      "annotations": { "org.opencontainers.image.title": "l2.tar.gz" }
    }
  ],
  "subject": {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:ceaeee3c0f91c6c853bda5200efb5a1b94c85fd8bb21171047cbd19059c15722",
    "size": 1035
  },
  "artifactType": "application/vnd.example.thing"
}"#;

    #[test]
    fn oci_image_manifest_typed_by_content_type() {
        let m = parse_manifest(
            OCI_IMAGE_NO_MEDIA_TYPE.as_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json"),
        )
        .unwrap();
        assert_eq!(m.media_type(), OCI_IMAGE_MANIFEST);
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
        assert_eq!(config.size, 7023);
        assert_eq!(
            config.digest,
            sha("e67d23e7820c49a8051dac2831f38290f5e72f66c8db5079eeb60d82f14894c0")
        );
        assert_eq!(layers.len(), 2);
        assert_eq!(
            layers[1].annotations["org.opencontainers.image.title"],
            "l2.tar.gz"
        );
        assert_eq!(
            artifact_type.as_deref(),
            Some("application/vnd.example.thing")
        );
        assert_eq!(
            subject.unwrap().digest,
            sha("ceaeee3c0f91c6c853bda5200efb5a1b94c85fd8bb21171047cbd19059c15722")
        );
        // Without either, it is inferred.
        let m = parse_manifest(OCI_IMAGE_NO_MEDIA_TYPE.as_bytes(), None).unwrap();
        assert_eq!(m.media_type(), OCI_IMAGE_MANIFEST);
        // A Docker type in the header is taken at its word.
        let m = parse_manifest(
            OCI_IMAGE_NO_MEDIA_TYPE.as_bytes(),
            Some(DOCKER_SCHEMA2_MANIFEST),
        )
        .unwrap();
        assert_eq!(m.media_type(), DOCKER_SCHEMA2_MANIFEST);
        // An index without mediaType is inferred too.
        let body = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            parse_manifest(body.as_bytes(), None).unwrap(),
            Manifest::Index {
                media_type: OCI_IMAGE_INDEX.to_owned(),
                manifests: vec![]
            }
        );
        // Nothing to go on.
        assert_eq!(
            parse_manifest(br#"{"schemaVersion":2}"#, None),
            Err(ManifestError::MissingField("mediaType"))
        );
        // An empty header counts as absent.
        assert!(parse_manifest(OCI_IMAGE_NO_MEDIA_TYPE.as_bytes(), Some(" ; x=y")).is_ok());
    }

    #[test]
    fn schema1_and_other_types_unsupported() {
        let signed = r#"{"schemaVersion":1,"name":"library/alpine","tag":"latest","architecture":"amd64","fsLayers":[{"blobSum":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}],"history":[],"signatures":[]}"#;
        assert_eq!(
            parse_manifest(signed.as_bytes(), Some(DOCKER_SCHEMA1_SIGNED_MANIFEST)),
            Err(ManifestError::UnsupportedMediaType(
                DOCKER_SCHEMA1_SIGNED_MANIFEST.to_owned()
            ))
        );
        assert_eq!(
            parse_manifest(signed.as_bytes(), None),
            Err(ManifestError::UnsupportedMediaType(
                DOCKER_SCHEMA1_MANIFEST.to_owned()
            ))
        );
        let typed = r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}"#;
        assert_eq!(
            parse_manifest(typed.as_bytes(), None),
            Err(ManifestError::UnsupportedMediaType(
                DOCKER_SCHEMA1_MANIFEST.to_owned()
            ))
        );
        // schemaVersion 1 wins over a claimed schema 2 type.
        let liar = PYTHON_DXF_THREE.replace("\"schemaVersion\": 2", "\"schemaVersion\": 1");
        assert_eq!(
            parse_manifest(liar.as_bytes(), None),
            Err(ManifestError::UnsupportedMediaType(
                DOCKER_SCHEMA2_MANIFEST.to_owned()
            ))
        );
        let artifact =
            r#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[]}"#;
        assert_eq!(
            parse_manifest(artifact.as_bytes(), None),
            Err(ManifestError::UnsupportedMediaType(
                "application/vnd.oci.artifact.manifest.v1+json".to_owned()
            ))
        );
        // The body's mediaType is compared exactly, as python-dxf does.
        let upper = PYTHON_DXF_THREE.replace("manifest.v2+json", "manifest.V2+json");
        assert!(matches!(
            parse_manifest(upper.as_bytes(), None),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        // A huge hostile type is kept bounded.
        let huge = format!(r#"{{"mediaType":"{}"}}"#, "x".repeat(1 << 20));
        let Err(ManifestError::UnsupportedMediaType(t)) = parse_manifest(huge.as_bytes(), None)
        else {
            panic!()
        };
        assert_eq!(t.len(), 256);
    }

    #[test]
    fn media_type_mismatch() {
        assert_eq!(
            parse_manifest(PYTHON_DXF_THREE.as_bytes(), Some(OCI_IMAGE_MANIFEST)),
            Err(ManifestError::MediaTypeMismatch {
                body: DOCKER_SCHEMA2_MANIFEST.to_owned(),
                header: OCI_IMAGE_MANIFEST.to_owned(),
            })
        );
        let e = parse_manifest(
            HUB_LIST.as_bytes(),
            Some("application/vnd.oci.image.index.v1+json"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "manifest mediaType \"application/vnd.docker.distribution.manifest.list.v2+json\" \
             does not match Content-Type \"application/vnd.oci.image.index.v1+json\""
        );
    }

    #[test]
    fn bad_digests() {
        let bad = PYTHON_DXF_THREE.replace(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        );
        assert_eq!(
            parse_manifest(bad.as_bytes(), None),
            Err(ManifestError::InvalidDigest(
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
                    .to_owned()
            ))
        );
        let bad = HUB_LIST.replace(
            "sha256:77d3a5496288a2cd8724282d24f862ab1ea470f3aba13cadb9e3c105aaacf20b",
            "sha256:77d3a5",
        );
        assert_eq!(
            parse_manifest(bad.as_bytes(), None),
            Err(ManifestError::InvalidDigest("sha256:77d3a5".to_owned()))
        );
        let bad = PYTHON_DXF_THREE.replacen(
            r#""digest": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#,
            r#""digest": "../../etc/passwd""#,
            1,
        );
        assert_eq!(
            parse_manifest(bad.as_bytes(), None),
            Err(ManifestError::InvalidDigest("../../etc/passwd".to_owned()))
        );
    }

    fn image_with(layers: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{ABC}","size":3}},"layers":{layers}}}"#
        )
    }

    fn err(body: &str) -> ManifestError {
        parse_manifest(body.as_bytes(), None).unwrap_err()
    }

    fn invalid_json(body: &str) -> String {
        match err(body) {
            ManifestError::InvalidJson(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_and_null_fields() {
        assert_eq!(
            err(&image_with("null")),
            ManifestError::MissingField("layers")
        );
        assert_eq!(
            err(r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#),
            ManifestError::MissingField("config")
        );
        assert_eq!(
            err(r#"{"mediaType":"application/vnd.oci.image.index.v1+json"}"#),
            ManifestError::MissingField("manifests")
        );
        assert_eq!(
            err(&image_with(r#"[{"mediaType":"x","size":1}]"#)),
            ManifestError::MissingField("digest")
        );
        assert_eq!(
            err(&image_with(&format!(
                r#"[{{"digest":"{ABC}","size":null}}]"#
            ))),
            ManifestError::MissingField("size")
        );
        assert_eq!(
            err(&HUB_LIST.replacen(r#""os": "linux""#, r#""os": null"#, 1)),
            ManifestError::MissingField("os")
        );
        assert_eq!(
            err(&HUB_LIST.replacen(r#""architecture": "amd64","#, "", 1)),
            ManifestError::MissingField("architecture")
        );
        // Empty layers are fine (OCI artifacts).
        let Manifest::Image { layers, .. } =
            parse_manifest(image_with("[]").as_bytes(), None).unwrap()
        else {
            panic!()
        };
        assert!(layers.is_empty());
        // A layer without mediaType is accepted (python-dxf never reads it).
        let Manifest::Image { layers, .. } = parse_manifest(
            image_with(&format!(r#"[{{"digest":"{ABC}","size":1}}]"#)).as_bytes(),
            None,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(layers[0].media_type, "");
        // null mediaType counts as absent: inferred, and no mismatch with the header.
        let body = image_with("[]").replace(
            r#""mediaType":"application/vnd.oci.image.manifest.v1+json""#,
            r#""mediaType":null"#,
        );
        assert!(parse_manifest(body.as_bytes(), Some(OCI_IMAGE_MANIFEST)).is_ok());
        // A variant that is null is no variant; an empty one still counts (python-dxf).
        let m = parse_manifest(
            HUB_LIST
                .replacen(r#""variant": "v6""#, r#""variant": null"#, 1)
                .replacen(r#""variant": "v7""#, r#""variant": """#, 1)
                .as_bytes(),
            None,
        )
        .unwrap();
        let keys: Vec<_> = m.platforms().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys[1], "linux/arm");
        assert_eq!(keys[2], "linux/arm/");
    }

    #[test]
    fn wrong_types() {
        assert_eq!(invalid_json(&image_with("{}")), "layers: expected an array");
        assert_eq!(
            invalid_json(&image_with(r#""x""#)),
            "layers: expected an array"
        );
        assert_eq!(
            invalid_json(&image_with("[1]")),
            "layers[0]: expected an object"
        );
        assert_eq!(
            invalid_json(&image_with(&format!(
                r#"[{{"digest":"{ABC}","size":"3"}}]"#
            ))),
            "layers[0].size: expected a non-negative integer"
        );
        assert_eq!(
            invalid_json(&image_with(&format!(r#"[{{"digest":"{ABC}","size":-1}}]"#))),
            "layers[0].size: expected a non-negative integer"
        );
        assert_eq!(
            invalid_json(&image_with(&format!(
                r#"[{{"digest":"{ABC}","size":1.5}}]"#
            ))),
            "layers[0].size: expected a non-negative integer"
        );
        assert_eq!(
            invalid_json(&image_with(&format!(
                r#"[{{"digest":"{ABC}","size":18446744073709551616}}]"#
            ))),
            "layers[0].size: expected a non-negative integer"
        );
        assert_eq!(
            invalid_json(&image_with(r#"[{"digest":7,"size":1}]"#)),
            "layers[0].digest: expected a string"
        );
        assert_eq!(
            invalid_json(&image_with(&format!(
                r#"[{{"digest":"{ABC}","size":1,"mediaType":[]}}]"#
            ))),
            "layers[0].mediaType: expected a string"
        );
        assert_eq!(
            invalid_json(&image_with(&format!(
                r#"[{{"digest":"{ABC}","size":1,"annotations":{{"k":1}}}}]"#
            ))),
            "layers[0].annotations[\"k\"]: expected a string"
        );
        assert_eq!(
            invalid_json(&image_with(&format!(
                r#"[{{"digest":"{ABC}","size":1,"annotations":[]}}]"#
            ))),
            "layers[0].annotations: expected an object"
        );
        assert_eq!(
            invalid_json(&HUB_LIST.replacen(r#""os": "linux""#, r#""os": 1"#, 1)),
            "manifests[0].platform.os: expected a string"
        );
        assert_eq!(
            invalid_json(&HUB_LIST.replacen(
                r#""platform": {
            "architecture": "amd64",
            "os": "linux"
         }"#,
                r#""platform": "linux/amd64""#,
                1
            )),
            "manifests[0].platform: expected an object"
        );
        assert_eq!(
            invalid_json(r#"{"mediaType":5}"#),
            "mediaType: expected a string"
        );
        assert_eq!(
            invalid_json(
                &image_with("[]").replace("\"config\":{", "\"artifactType\":1,\"config\":{")
            ),
            "artifactType: expected a string"
        );
        assert_eq!(
            invalid_json(&image_with("[]").replace("\"config\":{", "\"subject\":[],\"config\":{")),
            "subject: expected an object"
        );
        assert_eq!(
            invalid_json(&image_with("[]").replace("\"config\":{", "\"config\":5,\"x\":{")),
            "config: expected an object"
        );
        for not_object in ["[]", "null", "1", "\"x\"", "true"] {
            assert_eq!(invalid_json(not_object), "expected a JSON object");
        }
        for not_json in ["", "{", "{\"a\":}", "\u{feff}{}", "{} x", "NaN"] {
            assert!(
                matches!(err(not_json), ManifestError::InvalidJson(_)),
                "{not_json:?}"
            );
        }
        assert!(matches!(
            parse_manifest(b"{\"mediaType\":\"\xff\"}", None),
            Err(ManifestError::InvalidJson(_))
        ));
    }

    #[test]
    fn deep_nesting_is_rejected_without_overflow() {
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(err(&deep), ManifestError::InvalidJson(_)));
        let ok_depth = format!("{{\"x\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(err(&ok_depth), ManifestError::MissingField("mediaType"));
    }

    #[test]
    fn duplicate_keys_last_wins_and_duplicate_platforms_first_wins() {
        let body = format!(
            r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {{"mediaType":"m","digest":"{ABC}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"m","digest":"{EMPTY}","size":1,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"m","digest":"{HELLO}","size":1,"size":2,"platform":{{"os":"linux","architecture":"arm64"}}}}
            ]}}"#
        );
        let m = parse_manifest(body.as_bytes(), None).unwrap();
        assert_eq!(
            m.platforms(),
            vec![
                ("linux/amd64".to_owned(), d(ABC)),
                ("linux/arm64".to_owned(), d(HELLO))
            ]
        );
        let Manifest::Index { manifests, .. } = m else {
            panic!()
        };
        assert_eq!(manifests[2].size, 2);
    }

    #[test]
    fn indexes_without_platforms_are_told_apart() {
        let entry =
            |extra: &str| format!(r#"{{"mediaType":"m","digest":"{ABC}","size":1{extra}}}"#);
        let index = |entries: &[String]| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
                entries.join(",")
            )
        };
        let without = |body: &str| {
            parse_manifest(body.as_bytes(), None)
                .unwrap()
                .without_platforms()
        };
        let plain = entry(r#","artifactType":"a/b""#);
        let attestation = entry(r#","platform":{"os":"unknown","architecture":"unknown"}"#);
        assert_eq!(
            without(&index(&[plain.clone(), plain.clone()])),
            Some(IndexWithoutPlatforms { manifests: 2 })
        );
        assert_eq!(
            without(&index(&[])),
            Some(IndexWithoutPlatforms { manifests: 0 })
        );
        // One platform entry, even unknown/unknown, makes it a platform index.
        assert_eq!(without(&index(&[plain.clone(), attestation])), None);
        assert_eq!(without(HUB_LIST), None);
        assert_eq!(without(PYTHON_DXF_THREE), None);
        // `"platform": null` is no platform.
        assert_eq!(
            without(&index(&[entry(r#","platform":null"#)])),
            Some(IndexWithoutPlatforms { manifests: 1 })
        );
        for n in [0, 1, 7] {
            let text = IndexWithoutPlatforms { manifests: n }.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(
                text.ends_with(", not a list of blobs; get-manifest shows it"),
                "{text}"
            );
        }
        assert_eq!(
            IndexWithoutPlatforms { manifests: 7 }.to_string(),
            "is an index of 7 manifests without platforms (an artifact or referrers index), \
             not a list of blobs; get-manifest shows it"
        );
    }

    #[test]
    fn error_display() {
        assert_eq!(
            ManifestError::MissingField("layers").to_string(),
            "manifest is missing required field \"layers\""
        );
        assert_eq!(
            ManifestError::UnsupportedMediaType("a\nb".into()).to_string(),
            "unsupported manifest media type \"a\\nb\""
        );
        assert_eq!(
            ManifestError::InvalidDigest("x".repeat(300)).to_string(),
            format!("invalid digest \"{}…\" in manifest", "x".repeat(100))
        );
        assert!(ManifestError::InvalidJson("x".into())
            .to_string()
            .starts_with("invalid manifest JSON"));
        let e: Box<dyn std::error::Error> = Box::new(ManifestError::MissingField("x"));
        assert!(!e.to_string().is_empty());
    }

    #[test]
    fn descriptor_serde_is_camel_case() {
        let mut desc = Descriptor::new(OCI_IMAGE_MANIFEST, d(ABC), 3);
        desc.artifact_type = Some("a/b".into());
        desc.platform = Some(Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        });
        let json = serde_json::to_value(&desc).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "mediaType": OCI_IMAGE_MANIFEST,
                "digest": ABC,
                "size": 3,
                "artifactType": "a/b",
                "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}
            })
        );
        assert_eq!(serde_json::from_value::<Descriptor>(json).unwrap(), desc);
        assert_eq!(desc.platform.unwrap().key(), "linux/arm/v7");
        assert!(serde_json::from_str::<Descriptor>(r#"{"digest":"sha256:x","size":1}"#).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("mediaType".to_owned()),
            Just("schemaVersion".to_owned()),
            Just("config".to_owned()),
            Just("layers".to_owned()),
            Just("manifests".to_owned()),
            Just("digest".to_owned()),
            Just("size".to_owned()),
            Just("platform".to_owned()),
            Just("os".to_owned()),
            Just("architecture".to_owned()),
            Just("variant".to_owned()),
            Just("annotations".to_owned()),
            Just("artifactType".to_owned()),
            Just("subject".to_owned()),
            ".{0,4}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            Just(Value::from(ABC)),
            Just(Value::from(DOCKER_SCHEMA2_MANIFEST)),
            Just(Value::from(OCI_IMAGE_MANIFEST)),
            Just(Value::from(OCI_IMAGE_INDEX)),
            Just(Value::from(DOCKER_SCHEMA2_MANIFEST_LIST)),
            Just(Value::from(DOCKER_SCHEMA1_MANIFEST)),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512),
                                 ct in proptest::option::of(".{0,40}")) {
            if let Err(e) = parse_manifest(&body, ct.as_deref()) {
                let _ = e.to_string();
            }
        }

        #[test]
        fn never_panics_on_json(v in json_value(), ct in proptest::option::of(prop_oneof![
            Just(OCI_IMAGE_MANIFEST.to_owned()),
            Just(OCI_IMAGE_INDEX.to_owned()),
            Just(DOCKER_SCHEMA2_MANIFEST.to_owned()),
            ".{0,10}",
        ])) {
            let body = serde_json::to_vec(&v).unwrap();
            match parse_manifest(&body, ct.as_deref()) {
                Ok(m) => {
                    let _ = m.platforms();
                    prop_assert!(!m.media_type().is_empty());
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }

        #[test]
        fn well_formed_images_parse(
            sizes in proptest::collection::vec(any::<u64>(), 0..8),
            title in proptest::option::of(any::<String>()),
        ) {
            let layers: Vec<Value> = sizes
                .iter()
                .map(|s| {
                    let mut l = serde_json::json!({"mediaType": OCTET_STREAM, "digest": HELLO, "size": s});
                    if let Some(t) = &title {
                        l["annotations"] = serde_json::json!({"org.opencontainers.image.title": t});
                    }
                    l
                })
                .collect();
            let doc = serde_json::json!({
                "schemaVersion": 2,
                "config": {"mediaType": "x", "digest": ABC, "size": 1},
                "layers": layers,
            });
            let m = parse_manifest(&serde_json::to_vec(&doc).unwrap(), Some(OCI_IMAGE_MANIFEST)).unwrap();
            let Manifest::Image { layers, .. } = m else { panic!() };
            let got: Vec<u64> = layers.iter().map(|l| l.size).collect();
            prop_assert_eq!(got, sizes);
            for l in &layers {
                prop_assert_eq!(l.annotations.get("org.opencontainers.image.title"), title.as_ref());
            }
        }
    }

    #[test]
    fn generic_content_types_do_not_conflict_with_the_body() {
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        for ct in [
            "application/json",
            "text/plain; charset=utf-8",
            "application/octet-stream",
        ] {
            let m = parse_manifest(body, Some(ct)).unwrap();
            assert_eq!(
                m.media_type(),
                "application/vnd.oci.image.index.v1+json",
                "{ct}"
            );
        }
    }
}
