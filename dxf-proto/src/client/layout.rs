//! OCI image layouts (`oci:DIR[:TAG]` in `dxf copy`), the format skopeo's `oci:` transport
//! and `oras --oci-layout` read and write: an `oci-layout` file, blobs (manifests included)
//! under `blobs/<algorithm>/<hex>`, and `index.json`, an image index whose entries name
//! their tag in the [`REF_NAME_ANNOTATION`] annotation. What is decided here, IO-free:
//! where a blob lives, which entry a reference names, and what `index.json` becomes when
//! an image is added — written back with every other entry and field as it was. The
//! reading, writing, locking and renaming are the caller's.

use serde_json::{Map, Value};

use crate::manifest::media_types::OCI_IMAGE_INDEX;
use crate::manifest::parse::Descriptor;
use crate::reference::Digest;

/// The annotation that names an entry's tag in `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The `oci-layout` file's name.
pub const LAYOUT_FILE: &str = "oci-layout";
/// What `oci-layout` holds.
pub const LAYOUT_JSON: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// The index's file name.
pub const INDEX_FILE: &str = "index.json";
/// The largest `index.json` read (a layout with thousands of images stays far below).
pub const MAX_INDEX: u64 = 16 << 20;

/// A layout that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// `index.json` is not an image index.
    BadIndex(String),
    /// No entry has this tag (or digest).
    NotFound(String),
    /// No reference was given and the layout holds several images.
    Ambiguous(usize),
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::BadIndex(why) => write!(f, "index.json is not an OCI image index: {why}"),
            LayoutError::NotFound(r) => write!(f, "{r} is not in the layout's index.json"),
            LayoutError::Ambiguous(n) => write!(
                f,
                "the layout holds {n} images: name one (oci:DIR:TAG or oci:DIR@DIGEST)"
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Where a blob (or manifest) lives in a layout, relative to its directory.
pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.encoded())
}

/// The entries of `index.json` as objects (an error for anything but an index).
fn entries(index: &Value) -> Result<&Vec<Value>, LayoutError> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| LayoutError::BadIndex("no \"manifests\" list".into()))
}

fn parse(index: &[u8]) -> Result<Value, LayoutError> {
    let v: Value =
        serde_json::from_slice(index).map_err(|e| LayoutError::BadIndex(e.to_string()))?;
    if !v.is_object() {
        return Err(LayoutError::BadIndex("not a JSON object".into()));
    }
    Ok(v)
}

/// The entry of `index.json` that `reference` names: a tag (its
/// [`REF_NAME_ANNOTATION`]), a digest, or — `None` — the only entry.
pub fn find(index: &[u8], reference: Option<&str>) -> Result<Descriptor, LayoutError> {
    let v = parse(index)?;
    let list = entries(&v)?;
    let descriptors: Vec<Descriptor> = list
        .iter()
        .map(|e| serde_json::from_value(e.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| LayoutError::BadIndex(e.to_string()))?;
    let mut matching = descriptors.into_iter().filter(|d| match reference {
        None => true,
        Some(r) => {
            d.digest.as_str() == r
                || d.annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(r)
        }
    });
    let first = matching.next();
    match (first, reference) {
        (Some(d), Some(_)) => Ok(d),
        (Some(d), None) if list.len() == 1 => Ok(d),
        (Some(_), None) => Err(LayoutError::Ambiguous(list.len())),
        (None, r) => Err(LayoutError::NotFound(r.unwrap_or("an image").to_owned())),
    }
}

/// `index.json` with `entry` added under `tag` (or untagged): an entry that had this tag
/// loses it (it is dropped when that was all that named it, as skopeo does), an untagged
/// entry of the same digest is not repeated, and every other entry and field stays as it
/// was. `existing` is the current file, `None` when there is none yet.
pub fn index_with(
    existing: Option<&[u8]>,
    entry: &Descriptor,
    tag: Option<&str>,
) -> Result<Vec<u8>, LayoutError> {
    let mut v = match existing {
        Some(bytes) => parse(bytes)?,
        None => {
            let mut m = Map::new();
            m.insert("schemaVersion".into(), Value::from(2));
            m.insert("mediaType".into(), Value::from(OCI_IMAGE_INDEX));
            m.insert("manifests".into(), Value::Array(Vec::new()));
            Value::Object(m)
        }
    };
    entries(&v)?;
    let mut new = serde_json::to_value(entry).map_err(|e| LayoutError::BadIndex(e.to_string()))?;
    if let (Some(tag), Some(obj)) = (tag, new.as_object_mut()) {
        let annotations = obj
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(a) = annotations.as_object_mut() {
            a.insert(REF_NAME_ANNOTATION.into(), Value::from(tag));
        }
    }
    let list = v
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| LayoutError::BadIndex("no \"manifests\" list".into()))?;
    let ref_name = |e: &Value| {
        e.get("annotations")
            .and_then(|a| a.get(REF_NAME_ANNOTATION))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match tag {
        Some(tag) => list.retain(|e| ref_name(e).as_deref() != Some(tag)),
        None => {
            let same = |e: &Value| {
                e.get("digest").and_then(Value::as_str) == Some(entry.digest.as_str())
                    && ref_name(e).is_none()
            };
            if list.iter().any(same) {
                return serde_json::to_vec(&v).map_err(|e| LayoutError::BadIndex(e.to_string()));
            }
        }
    }
    list.push(new);
    serde_json::to_vec(&v).map_err(|e| LayoutError::BadIndex(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn d(n: u8) -> Descriptor {
        let digest = Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap();
        Descriptor::new(
            "application/vnd.oci.image.index.v1+json",
            digest,
            100 + u64::from(n),
        )
    }

    #[test]
    fn tags_name_entries_and_move_between_images() {
        let one = index_with(None, &d(1), Some("v1")).unwrap();
        assert_eq!(find(&one, Some("v1")).unwrap(), {
            let mut e = d(1);
            e.annotations
                .insert(REF_NAME_ANNOTATION.into(), "v1".into());
            e
        });
        assert_eq!(find(&one, None).unwrap().digest, d(1).digest);
        assert_eq!(
            find(&one, Some(d(1).digest.as_str())).unwrap().digest,
            d(1).digest
        );
        let two = index_with(Some(&one), &d(2), Some("v2")).unwrap();
        assert_eq!(find(&two, None), Err(LayoutError::Ambiguous(2)));
        assert_eq!(find(&two, Some("v2")).unwrap().digest, d(2).digest);
        // v1 moves to image 3: the entry of image 1 goes.
        let moved = index_with(Some(&two), &d(3), Some("v1")).unwrap();
        let v: Value = serde_json::from_slice(&moved).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(find(&moved, Some("v1")).unwrap().digest, d(3).digest);
        assert_eq!(
            find(&moved, Some("nope")),
            Err(LayoutError::NotFound("nope".into()))
        );
        // Untagged: added once.
        let untagged = index_with(Some(&moved), &d(4), None).unwrap();
        let again = index_with(Some(&untagged), &d(4), None).unwrap();
        assert_eq!(untagged, again);
    }

    #[test]
    fn other_entries_and_fields_are_kept() {
        let theirs = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":7,"platform":{"os":"linux","architecture":"s390x"},"annotations":{"org.opencontainers.image.ref.name":"keep","x.custom":"y"}}],"annotations":{"tool":"skopeo"}}"#;
        let out = index_with(Some(theirs), &d(5), Some("mine")).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["annotations"]["tool"], "skopeo");
        assert_eq!(v["manifests"][0]["annotations"]["x.custom"], "y");
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "s390x");
        assert_eq!(find(&out, Some("keep")).unwrap().size, 7);
        for bad in [&b"[]"[..], b"{}", b"{\"manifests\":3}", b"not json"] {
            assert!(matches!(find(bad, None), Err(LayoutError::BadIndex(_))));
            assert!(index_with(Some(bad), &d(1), None).is_err());
        }
    }

    #[test]
    fn blobs_live_under_their_algorithm() {
        assert_eq!(
            blob_path(&d(1).digest),
            format!("blobs/sha256/{}", "01".repeat(32))
        );
    }
}
