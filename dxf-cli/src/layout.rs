//! OCI image layouts as either end of `dxf copy` (`oci:DIR[:TAG]`, `oci:DIR@DIGEST`), read
//! and written the way skopeo's `oci:` transport and `oras --oci-layout` do. The decisions
//! (paths, which entry a reference names, what `index.json` becomes) are dxf-proto's
//! (`client::layout`); this file does the IO.
//!
//! Writes are atomic and safe with several dxf processes on one layout: every blob and
//! manifest goes to a temporary name and is renamed into place once complete (a blob only
//! after its digest was verified; one already there is not fetched again), and
//! `index.json` is read, changed and replaced by a rename while holding an exclusive lock
//! on `index.json.lock` — so concurrent copies into one layout each add their image and
//! none is lost. Reads check every manifest's digest before it is used.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use dxf_ureq::dxf_proto::client::{
    blob_path, find_in_layout, index_with, INDEX_FILE, LAYOUT_FILE, LAYOUT_JSON, MAX_INDEX,
};
use dxf_ureq::dxf_proto::manifest::parse::{parse_manifest, Descriptor, Manifest};
use dxf_ureq::dxf_proto::{Digest, ReadOptions, Reference, Sha256};
use dxf_ureq::{parallel, PushOptions, Repository};

use crate::error::CliError;
use crate::files::Partial;

/// The most bytes of a manifest read from a layout.
const MAX_MANIFEST: u64 = 4 << 20;

/// An `oci:` argument: the layout's directory and the tag or digest after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayoutRef {
    pub dir: PathBuf,
    pub reference: Option<String>,
}

/// `oci:DIR[:TAG]` or `oci:DIR@DIGEST`; `None` for an argument that is not `oci:`.
pub(crate) fn parse(arg: &str) -> Option<LayoutRef> {
    let rest = arg.strip_prefix("oci:")?;
    if let Some((dir, digest)) = rest.split_once('@') {
        return Some(LayoutRef {
            dir: dir.into(),
            reference: Some(digest.to_owned()),
        });
    }
    let after_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (dir, tag) = match rest.get(after_slash..).and_then(|l| l.rfind(':')) {
        Some(i) => (
            rest.get(..after_slash + i).unwrap_or_default(),
            rest.get(after_slash + i + 1..).filter(|t| !t.is_empty()),
        ),
        None => (rest, None),
    };
    Some(LayoutRef {
        dir: dir.into(),
        reference: tag.map(str::to_owned),
    })
}

fn layout_error(dir: &Path) -> impl Fn(io::Error) -> CliError + '_ {
    move |e| CliError::file(dir.display().to_string(), e)
}

fn invalid(dir: &Path, why: impl std::fmt::Display) -> CliError {
    CliError::file(
        dir.display().to_string(),
        io::Error::new(io::ErrorKind::InvalidData, why.to_string()),
    )
}

fn sha256(bytes: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update(bytes);
    h.finish()
}

/// Reads at most `max` bytes of `path`.
fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// A manifest of the layout, its digest checked.
fn read_manifest(dir: &Path, d: &Descriptor) -> Result<(Vec<u8>, Manifest), CliError> {
    let path = dir.join(blob_path(&d.digest));
    let bytes = read_capped(&path, MAX_MANIFEST).map_err(layout_error(&path))?;
    if sha256(&bytes) != d.digest {
        return Err(invalid(&path, format!("does not hash to {}", d.digest)));
    }
    let media_type = (!d.media_type.is_empty()).then_some(d.media_type.as_str());
    let parsed = parse_manifest(&bytes, media_type).map_err(|e| invalid(&path, e))?;
    Ok((bytes, parsed))
}

/// The blobs an image manifest lists (config first), added to `blobs` once each.
fn image_blobs(m: &Manifest, blobs: &mut Vec<(Digest, u64)>, seen: &mut BTreeSet<Digest>) {
    if let Manifest::Image { config, layers, .. } = m {
        for d in std::iter::once(config).chain(layers) {
            if seen.insert(d.digest.clone()) {
                blobs.push((d.digest.clone(), d.size));
            }
        }
    }
}

/// Copies the image `src` names into `into` as `alias` (default: the layout's tag, else
/// the digest, untagged): every blob the registry lacks, the platform manifests of an
/// index by digest, then the top manifest. Returns its digest.
pub(crate) fn copy_from(
    src: &LayoutRef,
    into: &Repository,
    alias: Option<&str>,
    jobs: usize,
) -> Result<Digest, CliError> {
    let dir = &src.dir;
    let index_path = dir.join(INDEX_FILE);
    let index = read_capped(&index_path, MAX_INDEX).map_err(layout_error(&index_path))?;
    let top = find_in_layout(&index, src.reference.as_deref()).map_err(|e| invalid(dir, e))?;
    let (top_bytes, top_manifest) = read_manifest(dir, &top)?;
    let mut children = Vec::new();
    let (mut blobs, mut seen) = (Vec::new(), BTreeSet::new());
    match &top_manifest {
        Manifest::Index { manifests, .. } => {
            for child in manifests {
                let (bytes, parsed) = read_manifest(dir, child)?;
                image_blobs(&parsed, &mut blobs, &mut seen);
                children.push((child.digest.clone(), bytes));
            }
        }
        image => image_blobs(image, &mut blobs, &mut seen),
    }
    let pushed = parallel::bounded(&blobs, jobs, |(digest, _)| {
        let path = dir.join(blob_path(digest));
        let mut options = PushOptions::new();
        options.digest = Some(digest.clone());
        into.push_blob_path(&path, options)
            .map_err(|e| CliError::dxf(path.display().to_string(), e))
    });
    for p in pushed {
        p?;
    }
    for (digest, bytes) in &children {
        into.set_manifest(digest.as_str(), bytes)
            .map_err(|e| CliError::dxf(digest.as_str(), e))?;
    }
    let alias = alias
        .map(str::to_owned)
        .or_else(|| src.reference.clone().filter(|r| Digest::parse(r).is_err()))
        .unwrap_or_else(|| top.digest.to_string());
    into.set_manifest(&alias, &top_bytes)
        .map_err(|e| CliError::dxf(alias.as_str(), e))
}

/// Copies `alias` of `from` into the layout `dst` (created if missing) under its tag
/// (default: the alias, when it is one): blobs the layout lacks (verified, `jobs` at a
/// time), the manifests, then `index.json`. Returns the top manifest's digest.
pub(crate) fn copy_to(
    from: &Repository,
    alias: &str,
    dst: &LayoutRef,
    jobs: usize,
) -> Result<Digest, CliError> {
    let dir = &dst.dir;
    let about = |e| CliError::dxf(alias, e);
    let top = from
        .read_alias(alias, ReadOptions::default())
        .map_err(about)?;
    let top_parsed = parse_manifest(&top.body, Some(&top.media_type))
        .map_err(|e| CliError::dxf(alias, dxf_ureq::dxf_proto::Error::from(e)))?;
    let mut manifests = Vec::new();
    let (mut blobs, mut seen) = (Vec::new(), BTreeSet::new());
    match &top_parsed {
        Manifest::Index {
            manifests: list, ..
        } => {
            for child in list {
                let read = from
                    .read_alias(child.digest.as_str(), ReadOptions::default())
                    .map_err(|e| CliError::dxf(child.digest.as_str(), e))?;
                let parsed = parse_manifest(&read.body, Some(&read.media_type)).map_err(|e| {
                    CliError::dxf(child.digest.as_str(), dxf_ureq::dxf_proto::Error::from(e))
                })?;
                image_blobs(&parsed, &mut blobs, &mut seen);
                manifests.push((read.digest, read.body));
            }
        }
        image => image_blobs(image, &mut blobs, &mut seen),
    }
    manifests.push((top.digest.clone(), top.body.clone()));
    fs::create_dir_all(dir.join("blobs/sha256")).map_err(layout_error(dir))?;
    write_if_missing(&dir.join(LAYOUT_FILE), LAYOUT_JSON.as_bytes())?;
    let fetched = parallel::bounded(&blobs, jobs, |(digest, size)| {
        fetch_blob(from, dir, digest, *size)
    });
    for f in fetched {
        f?;
    }
    for (digest, bytes) in &manifests {
        write_if_missing(&dir.join(blob_path(digest)), bytes)?;
    }
    let tag = dst
        .reference
        .clone()
        .or_else(|| match Reference::parse(alias) {
            Ok(Reference::Tag(t)) => Some(t.as_str().to_owned()),
            _ => None,
        });
    let entry = Descriptor::new(
        top.media_type.clone(),
        top.digest.clone(),
        top.body.len() as u64,
    );
    update_index(dir, &entry, tag.as_deref())?;
    Ok(top.digest)
}

/// One blob into the layout, unless it is there with its size: through a temporary name,
/// renamed once the pull verified it.
fn fetch_blob(from: &Repository, dir: &Path, digest: &Digest, size: u64) -> Result<(), CliError> {
    let target = dir.join(blob_path(digest));
    if fs::metadata(&target).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    let file_error = |e| CliError::file(target.display().to_string(), e);
    let mut partial = Partial::create(&target).map_err(file_error)?;
    let mut blob = from
        .pull_blob(digest, Some(size))
        .map_err(|e| CliError::dxf(digest.as_str(), e))?;
    blob.copy_to(partial.file().map_err(file_error)?)
        .map_err(|e| CliError::dxf(digest.as_str(), e))?;
    partial.commit().map_err(file_error)
}

/// Writes `bytes` at `path` through a temporary name, unless the file is there.
fn write_if_missing(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    if path.exists() {
        return Ok(());
    }
    replace(path, bytes)
}

/// Replaces `path` with `bytes` atomically (a temporary name, then a rename).
fn replace(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let file_error = |e| CliError::file(path.display().to_string(), e);
    let mut partial = Partial::create(path).map_err(file_error)?;
    io::Write::write_all(partial.file().map_err(file_error)?, bytes).map_err(file_error)?;
    partial.commit().map_err(file_error)
}

/// Adds `entry` under `tag` to the layout's `index.json`, holding the layout's lock
/// while reading, changing and replacing it.
fn update_index(dir: &Path, entry: &Descriptor, tag: Option<&str>) -> Result<(), CliError> {
    let lock_path = dir.join(format!("{INDEX_FILE}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(layout_error(&lock_path))?;
    lock.lock().map_err(layout_error(&lock_path))?;
    let index_path = dir.join(INDEX_FILE);
    let existing = match read_capped(&index_path, MAX_INDEX) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(layout_error(&index_path)(e)),
    };
    let updated = index_with(existing.as_deref(), entry, tag).map_err(|e| invalid(dir, e))?;
    replace(&index_path, &updated)
    // The lock goes with the file handle.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_arguments() {
        let r = |dir: &str, reference: Option<&str>| {
            Some(LayoutRef {
                dir: dir.into(),
                reference: reference.map(str::to_owned),
            })
        };
        assert_eq!(parse("oci:/tmp/l:v1"), r("/tmp/l", Some("v1")));
        assert_eq!(parse("oci:/tmp/l"), r("/tmp/l", None));
        assert_eq!(parse("oci:rel/dir:"), r("rel/dir", None));
        assert_eq!(parse("oci:l@sha256:ab"), r("l", Some("sha256:ab")));
        assert_eq!(parse("repo:tag"), None);
    }
}
