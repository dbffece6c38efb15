//! # dxf-cache: dxf's blob-location cache, with the IO
//!
//! Keeps a [`BlobCache`] in one small file, `blob-locations.json`, so that what one run
//! saw (which repository of which registry holds which blob) lets a later run mount a blob
//! instead of uploading it again. Every decision — what is recorded, which location a
//! mount tries, when an entry is dropped, how a save merges with what other processes
//! wrote, the bound of 10,000 entries — is in [`dxf_proto::BlobLocations`] and
//! [`dxf_proto::BlobCache`]; this crate finds the directory, reads the file and writes it
//! atomically. Blocking (std only); both `dxf-ureq` and `dxf-hyper` re-export it as
//! `blob_cache`.
//!
//! - **Where**: `DXF_CACHE_DIR` when set, else `$XDG_CACHE_HOME/dxf` (an absolute
//!   `XDG_CACHE_HOME`), else `$HOME/.cache/dxf`. `DXF_CACHE=0` turns the cache off.
//! - **Several processes at once**: a save takes an exclusive lock on
//!   `blob-locations.json.lock`, reads the file again, replays this run's changes on it,
//!   writes a temporary file and renames it into place. A reader never sees a partial
//!   file; an update can be lost only where locks do not work (then the last writer
//!   wins), never corrupted.
//! - **A file that does not parse** (or is larger than 8 MiB) is treated as empty and
//!   replaced at the next save.
//!
//! ```no_run
//! use dxf_cache::CacheFile;
//!
//! if let Some(file) = CacheFile::from_env() {
//!     let mut config = dxf_proto::client::Config::new("registry.example:5000");
//!     config.blob_cache = Some(file.cache().clone());
//!     // ... push, pull, copy with a client made from `config` ...
//!     file.save()?;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use dxf_proto::{BlobCache, BlobLocation, BlobLocations, MAX_LOCATIONS};

/// `0`: no blob-location cache.
pub const DXF_CACHE: &str = "DXF_CACHE";
/// The directory of the cache file (default `$XDG_CACHE_HOME/dxf`, else `~/.cache/dxf`).
pub const DXF_CACHE_DIR: &str = "DXF_CACHE_DIR";
/// The cache file's name.
pub const CACHE_FILE: &str = "blob-locations.json";
/// The lock file's name (next to the cache file).
pub const LOCK_FILE: &str = "blob-locations.json.lock";

/// The cache directory the environment names, `None` when the cache is off
/// (`DXF_CACHE=0`) or no directory can be named (no `HOME`).
pub fn cache_dir(get: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if get(DXF_CACHE).is_some_and(|v| v == "0") {
        return None;
    }
    let set = |name| get(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set(DXF_CACHE_DIR)
        .or_else(|| {
            set("XDG_CACHE_HOME")
                .filter(|p| p.is_absolute())
                .map(|p| p.join("dxf"))
        })
        .or_else(|| set("HOME").map(|h| h.join(".cache").join("dxf")))
}

/// The blob-location cache of one directory: what its file held when opened, and the
/// changes since, saved with [`save`](Self::save) (also, best effort, when dropped).
#[derive(Debug)]
pub struct CacheFile {
    dir: PathBuf,
    cache: BlobCache,
}

impl CacheFile {
    /// The cache of the directory the process environment names ([`cache_dir`]), `None`
    /// when it is off.
    pub fn from_env() -> Option<CacheFile> {
        cache_dir(|name| std::env::var_os(name)).map(|dir| CacheFile::open(&dir))
    }

    /// The cache kept in `dir`: what its file holds (nothing when it is missing, cannot
    /// be read or does not parse). Nothing is created until a save.
    pub fn open(dir: &Path) -> CacheFile {
        CacheFile {
            dir: dir.to_owned(),
            cache: BlobCache::new(read(&dir.join(CACHE_FILE))),
        }
    }

    /// The handle a client records into ([`Config::blob_cache`](dxf_proto::client::Config)).
    pub fn cache(&self) -> &BlobCache {
        &self.cache
    }

    /// The cache file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(CACHE_FILE)
    }

    /// Writes this run's changes, if any, merged into the file as it is now (see the crate
    /// docs). The directory is created (private to the user) when missing.
    pub fn save(&self) -> io::Result<()> {
        if !self.cache.is_changed() {
            return Ok(());
        }
        create_private_dir(&self.dir)?;
        // Held until the new file is in place; a file system without locks still gets a
        // whole file (the rename), only a concurrent update may be lost.
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(LOCK_FILE))?;
        let _locked = lock.lock().is_ok();
        let path = self.path();
        let merged = self.cache.merged_into(read(&path), now());
        write_atomically(&path, &merged.to_json())?;
        self.cache.saved(merged);
        Ok(())
    }
}

impl Drop for CacheFile {
    fn drop(&mut self) {
        let _ = self.save();
    }
}

/// What the file at `path` holds: nothing when missing, unreadable, too large or corrupt.
fn read(path: &Path) -> BlobLocations {
    let Ok(file) = File::open(path) else {
        return BlobLocations::new();
    };
    let mut bytes = Vec::new();
    let limit = dxf_proto::MAX_LOCATIONS_FILE + 1;
    match file.take(limit).read_to_end(&mut bytes) {
        Ok(_) => BlobLocations::parse(&bytes),
        Err(_) => BlobLocations::new(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Writes `bytes` to a new file next to `path`, then renames it over `path`: a reader
/// sees the old file or the new one, whole. Not synced to disk: a cache file lost or cut
/// by a crash is only a cache (one that does not parse is ignored and replaced), and a
/// sync would cost every command that saves several milliseconds.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "json.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxf_proto::{Digest, Repository};

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    fn repo(s: &str) -> Repository {
        Repository::parse(s).unwrap()
    }

    #[test]
    fn the_directory_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            cache_dir(env(&[("DXF_CACHE_DIR", "/c"), ("HOME", "/h")])),
            p("/c")
        );
        assert_eq!(
            cache_dir(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
            p("/x/dxf")
        );
        assert_eq!(
            cache_dir(env(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")])),
            p("/h/.cache/dxf")
        );
        assert_eq!(
            cache_dir(env(&[("DXF_CACHE_DIR", ""), ("HOME", "/h")])),
            p("/h/.cache/dxf")
        );
        assert_eq!(cache_dir(env(&[("DXF_CACHE", "0"), ("HOME", "/h")])), None);
        assert_eq!(
            cache_dir(env(&[("DXF_CACHE", "1"), ("HOME", "/h")])),
            p("/h/.cache/dxf")
        );
        assert_eq!(cache_dir(env(&[])), None);
    }

    #[test]
    fn a_save_keeps_what_another_process_saved_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("nested").join("dxf");
        let one = CacheFile::open(&cache_dir);
        let two = CacheFile::open(&cache_dir);
        one.cache().saw("h:1", &repo("a"), &digest(1), 5);
        two.cache().saw("h:1", &repo("b"), &digest(2), 6);
        one.save().unwrap();
        two.save().unwrap();
        let three = CacheFile::open(&cache_dir);
        let repos: Vec<_> = three
            .cache()
            .locations()
            .entries()
            .iter()
            .map(|e| e.repository.to_string())
            .collect();
        assert_eq!(repos, ["a", "b"]);
        assert!(three.cache().locations().entries()[0].seen.is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&cache_dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        // Nothing changed: nothing written.
        let before = fs::metadata(three.path()).unwrap().modified().unwrap();
        three.save().unwrap();
        assert_eq!(
            fs::metadata(three.path()).unwrap().modified().unwrap(),
            before
        );
        let leftovers: Vec<_> = fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_corrupt_file_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_FILE);
        fs::write(&path, b"{\"version\":1,\"locations\":[{\"digest\":").unwrap();
        let file = CacheFile::open(dir.path());
        assert!(file.cache().locations().is_empty());
        file.cache().saw("h", &repo("a"), &digest(3), 1);
        drop(file); // saved when dropped
        let again = CacheFile::open(dir.path());
        assert_eq!(again.cache().locations().len(), 1);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"version\":1,"), "{text}");
    }

    #[test]
    fn an_unwritable_directory_is_an_error_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let file = CacheFile::open(&blocker.join("dxf"));
        file.cache().saw("h", &repo("a"), &digest(3), 1);
        assert!(file.save().is_err());
    }
}
