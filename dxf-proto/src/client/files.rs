//! Files and directories as an artifact, the way oras stores them (`dxf push`, `dxf pull`):
//! one layer per file, titled with its name ([`TITLE_ANNOTATION`]); a directory as one
//! gzip'd tar layer titled with the directory's name and marked for unpacking
//! ([`UNPACK_ANNOTATION`], oras's convention). The IO (reading files, writing tar) is the
//! caller's; what is decided here is what the layers say and — since titles and tar
//! entries come from the registry, untrusted — which of them may be written where:
//! [`pull_plan`] turns a manifest into checked relative paths, [`check_entry`] checks a tar
//! entry (and a link's target) before anything of the archive is written.

use std::collections::BTreeSet;
use std::fmt;

use crate::manifest::alias::TITLE_ANNOTATION;
use crate::manifest::parse::Descriptor;
use crate::manifest::AliasContent;
use crate::reference::Digest;

/// oras's media type of a file layer.
pub const FILE_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// oras's media type of a directory layer (a gzip'd tar).
pub const DIRECTORY_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// oras's annotation: `"true"` on a layer to unpack (a directory).
pub const UNPACK_ANNOTATION: &str = "io.deis.oras.content.unpack";
/// oras's annotation: the digest of a directory layer's uncompressed tar.
pub const CONTENT_DIGEST_ANNOTATION: &str = "io.deis.oras.content.digest";

/// A title, a tar entry or a link that may not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilesError {
    /// Not a relative path that stays inside the output directory (absolute, `..`,
    /// empty, a NUL).
    Unsafe(String),
    /// Two layers (or a layer and a directory another one unpacks into) would be written
    /// at the same path.
    Collision(String),
    /// A symbolic or hard link whose target is outside the output directory.
    LinkOutside {
        /// The entry.
        entry: String,
        /// Its target.
        target: String,
    },
    /// The manifest is an index (pick one of its manifests by digest) or has no layers.
    NotFiles(String),
}

impl fmt::Display for FilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilesError::Unsafe(p) => write!(
                f,
                "refusing {p:?}: not a relative path inside the output directory"
            ),
            FilesError::Collision(p) => write!(f, "refusing {p:?}: two layers would write it"),
            FilesError::LinkOutside { entry, target } => write!(
                f,
                "refusing {entry:?}: its link target {target:?} is outside the output directory"
            ),
            FilesError::NotFiles(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for FilesError {}

/// The layer of a file: oras's file media type, titled `title`.
pub fn file_layer(digest: Digest, size: u64, title: &str) -> Descriptor {
    let mut layer = Descriptor::new(FILE_MEDIA_TYPE, digest, size);
    layer
        .annotations
        .insert(TITLE_ANNOTATION.to_owned(), title.to_owned());
    layer
}

/// The layer of a directory: its gzip'd tar (`digest`, `size`), titled `title`, marked
/// for unpacking, with the digest of the uncompressed tar (`tar_digest`) as oras writes it.
pub fn directory_layer(digest: Digest, size: u64, title: &str, tar_digest: &Digest) -> Descriptor {
    let mut layer = Descriptor::new(DIRECTORY_MEDIA_TYPE, digest, size);
    for (k, v) in [
        (TITLE_ANNOTATION, title),
        (UNPACK_ANNOTATION, "true"),
        (CONTENT_DIGEST_ANNOTATION, tar_digest.as_str()),
    ] {
        layer.annotations.insert(k.to_owned(), v.to_owned());
    }
    layer
}

/// Titles given to `dxf push` are used once each: the first repeated one is an error.
pub fn check_titles<'a>(titles: impl IntoIterator<Item = &'a str>) -> Result<(), FilesError> {
    let mut seen = BTreeSet::new();
    for title in titles {
        let path = relative_path(title)?;
        if !seen.insert(path) {
            return Err(FilesError::Collision(title.to_owned()));
        }
    }
    Ok(())
}

/// One layer of a pull: what to fetch and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullItem {
    /// The layer's blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Where it goes, relative to the output directory, `/`-separated, checked: its
    /// title, or for an untitled layer its digest (as oras-py names it).
    pub path: String,
    /// A directory (a gzip'd tar) to unpack into the output directory rather than a file
    /// to write at `path`: oras's unpack annotation, or oras-py's directory media type.
    pub unpack: bool,
}

/// The layers of a manifest (`content`) as files to write, every path checked: relative, inside the
/// output directory, and each written by one layer only (a file and a directory another
/// layer unpacks into count as the same place).
pub fn pull_plan(content: &AliasContent) -> Result<Vec<PullItem>, FilesError> {
    let layers = match content {
        AliasContent::Image { layers, .. } => layers,
        AliasContent::Index { .. } => {
            return Err(FilesError::NotFiles(
                "the alias names an index, not files: pull one of its manifests".to_owned(),
            ))
        }
    };
    let mut items = Vec::with_capacity(layers.len());
    let mut taken = BTreeSet::new();
    for layer in layers {
        let title = layer.annotations.get(TITLE_ANNOTATION);
        let path = match title {
            Some(t) => relative_path(t)?,
            None => layer.digest.to_string(),
        };
        if !claim(&mut taken, &path) {
            return Err(FilesError::Collision(path));
        }
        let unpack = layer
            .annotations
            .get(UNPACK_ANNOTATION)
            .is_some_and(|v| v == "true")
            || layer.media_type == DIRECTORY_MEDIA_TYPE;
        items.push(PullItem {
            digest: layer.digest.clone(),
            size: layer.size,
            path,
            unpack,
        });
    }
    Ok(items)
}

/// Claims `path` in `taken`: false when it, one of its parent directories or something
/// under it is claimed already.
fn claim(taken: &mut BTreeSet<String>, path: &str) -> bool {
    let mut ancestor = path;
    while let Some((parent, _)) = ancestor.rsplit_once('/') {
        if taken.contains(parent) {
            return false;
        }
        ancestor = parent;
    }
    let below = format!("{path}/");
    if taken
        .range(below.clone()..)
        .next()
        .is_some_and(|p| p.starts_with(&below))
    {
        return false;
    }
    taken.insert(path.to_owned())
}

/// What kind of tar entry [`check_entry`] looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// A regular file or a directory.
    Plain,
    /// A symbolic link to this target.
    Symlink(&'a str),
    /// A hard link to this entry of the same archive.
    Hardlink(&'a str),
}

/// Checks a tar entry named `name` before anything is written: its path must be relative
/// and stay inside the output directory, and a link's target too — a symbolic link's
/// relative to the entry's directory, a hard link's relative to the archive's root. An
/// absolute link target is refused. Returns the entry's path, normalized.
pub fn check_entry(name: &str, kind: EntryKind<'_>) -> Result<String, FilesError> {
    let path = relative_path(name)?;
    let outside = |target: &str| FilesError::LinkOutside {
        entry: name.to_owned(),
        target: target.to_owned(),
    };
    match kind {
        EntryKind::Plain => {}
        EntryKind::Symlink(target) => {
            let dir: Vec<&str> = path.split('/').collect();
            let parent = dir.get(..dir.len().saturating_sub(1)).unwrap_or_default();
            resolve(parent, target).ok_or_else(|| outside(target))?;
        }
        EntryKind::Hardlink(target) => {
            resolve(&[], target).ok_or_else(|| outside(target))?;
        }
    }
    Ok(path)
}

/// The entries of one archive checked in order ([`check_entry`] for each), remembering its
/// symbolic links: an entry (or a hard link's target) under one of them is refused, since
/// it would be written wherever the link points.
#[derive(Debug, Default)]
pub struct EntryCheck {
    links: BTreeSet<String>,
}

impl EntryCheck {
    /// Nothing seen yet.
    pub fn new() -> EntryCheck {
        EntryCheck::default()
    }

    /// Checks the next entry; returns its path, normalized.
    pub fn check(&mut self, name: &str, kind: EntryKind<'_>) -> Result<String, FilesError> {
        let path = check_entry(name, kind)?;
        let through = |p: &str| {
            let mut at = p;
            while let Some((parent, _)) = at.rsplit_once('/') {
                if self.links.contains(parent) {
                    return true;
                }
                at = parent;
            }
            false
        };
        if through(&path) {
            return Err(FilesError::Unsafe(name.to_owned()));
        }
        match kind {
            EntryKind::Hardlink(target) => {
                let target = relative_path(target)?;
                if through(&target) || self.links.contains(&target) {
                    return Err(FilesError::LinkOutside {
                        entry: name.to_owned(),
                        target: target.clone(),
                    });
                }
            }
            EntryKind::Symlink(_) => {
                self.links.insert(path.clone());
            }
            EntryKind::Plain => {
                // A later entry of the same name replaces a link: no longer one.
                self.links.remove(&path);
            }
        }
        Ok(path)
    }
}

/// `target` resolved from the directory `base` (components below the root): `None` when
/// it is absolute or climbs above the root.
fn resolve(base: &[&str], target: &str) -> Option<Vec<String>> {
    if target.starts_with('/') || target.starts_with('\\') || target.contains('\0') {
        return None;
    }
    let mut at: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
    for part in target.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                at.pop()?;
            }
            p => at.push(p.to_owned()),
        }
    }
    Some(at)
}

/// `raw` as a relative, `/`-separated path with no `.`, `..` or empty components: an
/// error for an absolute path, a drive or UNC prefix, `..` anywhere, a NUL, or nothing
/// left.
fn relative_path(raw: &str) -> Result<String, FilesError> {
    let unsafe_path = || FilesError::Unsafe(raw.to_owned());
    if raw.starts_with('/') || raw.starts_with('\\') || raw.contains('\0') {
        return Err(unsafe_path());
    }
    let mut parts = Vec::new();
    for part in raw.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(unsafe_path()),
            p if p.len() >= 2 && p.ends_with(':') && parts.is_empty() => {
                // `C:`: a Windows drive.
                return Err(unsafe_path());
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(unsafe_path());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    fn manifest(layers: Vec<Descriptor>) -> AliasContent {
        AliasContent::Image {
            config: Descriptor::new("application/vnd.oci.empty.v1+json", digest(0), 2),
            layers,
        }
    }

    #[test]
    fn files_and_directories_read_back_as_they_were_pushed() {
        let m = manifest(vec![
            file_layer(digest(1), 5, "a.txt"),
            directory_layer(digest(2), 9, "data", &digest(3)),
            Descriptor::new("application/octet-stream", digest(4), 1),
        ]);
        let plan = pull_plan(&m).unwrap();
        let got: Vec<(&str, bool)> = plan.iter().map(|i| (i.path.as_str(), i.unpack)).collect();
        assert_eq!(
            got,
            [
                ("a.txt", false),
                ("data", true),
                (digest(4).as_str(), false)
            ]
        );
        // oras-py marks directories by media type alone.
        let mut dir = Descriptor::new(DIRECTORY_MEDIA_TYPE, digest(5), 1);
        dir.annotations
            .insert(TITLE_ANNOTATION.into(), "tree/".into());
        let plan = pull_plan(&manifest(vec![dir])).unwrap();
        assert_eq!((plan[0].path.as_str(), plan[0].unpack), ("tree", true));
    }

    #[test]
    fn titles_that_leave_the_directory_or_collide_are_refused() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "",
            ".",
            "C:\\x",
            "\\\\srv\\x",
            "a\0b",
        ] {
            let m = manifest(vec![file_layer(digest(1), 1, bad)]);
            assert_eq!(
                pull_plan(&m),
                Err(FilesError::Unsafe(bad.to_owned())),
                "{bad:?}"
            );
        }
        let m = manifest(vec![
            file_layer(digest(1), 1, "x"),
            file_layer(digest(2), 1, "./x"),
        ]);
        assert_eq!(pull_plan(&m), Err(FilesError::Collision("x".into())));
        let m = manifest(vec![
            directory_layer(digest(1), 1, "d", &digest(9)),
            file_layer(digest(2), 1, "d/f"),
        ]);
        assert_eq!(pull_plan(&m), Err(FilesError::Collision("d/f".into())));
        let m = manifest(vec![
            file_layer(digest(1), 1, "d/f"),
            file_layer(digest(2), 1, "d/g"),
            file_layer(digest(3), 1, "d"),
        ]);
        assert_eq!(pull_plan(&m), Err(FilesError::Collision("d".into())));
        assert_eq!(
            check_titles(["a", "b", "a"]),
            Err(FilesError::Collision("a".into()))
        );
        assert!(check_titles(["a", "b"]).is_ok());
    }

    #[test]
    fn tar_entries_and_their_links_stay_inside() {
        assert_eq!(check_entry("d/./f", EntryKind::Plain).unwrap(), "d/f");
        assert!(check_entry("../f", EntryKind::Plain).is_err());
        assert!(check_entry("/f", EntryKind::Plain).is_err());
        assert!(check_entry("d/l", EntryKind::Symlink("f")).is_ok());
        assert!(check_entry("d/l", EntryKind::Symlink("../f")).is_ok());
        assert!(check_entry("d/e/l", EntryKind::Symlink("../../f")).is_ok());
        for target in ["../../f", "/etc/passwd", "../../../x"] {
            assert_eq!(
                check_entry("d/l", EntryKind::Symlink(target)),
                Err(FilesError::LinkOutside {
                    entry: "d/l".into(),
                    target: target.into()
                })
            );
        }
        assert!(check_entry("d/h", EntryKind::Hardlink("d/f")).is_ok());
        assert!(check_entry("d/h", EntryKind::Hardlink("../f")).is_err());
        assert!(check_entry("d/h", EntryKind::Hardlink("/etc/shadow")).is_err());
    }

    #[test]
    fn nothing_is_written_through_a_link_of_the_archive() {
        let mut checks = EntryCheck::new();
        assert!(checks.check("d/", EntryKind::Plain).is_ok());
        // Inside, but a way to reach elsewhere for the entries that follow.
        assert!(checks.check("d/up", EntryKind::Symlink("..")).is_ok());
        assert_eq!(
            checks.check("d/up/x", EntryKind::Symlink("../..")),
            Err(FilesError::Unsafe("d/up/x".into()))
        );
        assert!(checks.check("d/up/f", EntryKind::Plain).is_err());
        assert!(checks.check("d/h", EntryKind::Hardlink("d/up/f")).is_err());
        assert!(checks.check("d/h2", EntryKind::Hardlink("d/up")).is_err());
        assert!(checks.check("d/f", EntryKind::Plain).is_ok());
        assert!(checks.check("d/h3", EntryKind::Hardlink("d/f")).is_ok());
    }
}
