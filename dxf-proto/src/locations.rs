//! Where blobs were seen: [`BlobLocations`], the bounded list of (digest, registry,
//! repository) sightings that lets an upload become a cross-repository mount, its file
//! form, and [`BlobCache`], the handle a [`Session`](crate::Session) records into and
//! looks candidates up in. No IO and no clock: whoever keeps the list in a file (the
//! `dxf-cache` crate) reads and writes the bytes and stamps this run's sightings with the
//! time when it saves them.
//!
//! The decisions made here:
//!
//! - **What is recorded**: a blob the registry showed to exist in a repository — pushed,
//!   mounted, found by a `HEAD`, pulled and verified — with its size; the newest sighting
//!   of a (digest, registry, repository) replaces the older one.
//! - **Which candidate a mount tries**: the newest sighting of the digest on the *same*
//!   registry (the session's host as given) in another repository. One candidate per
//!   upload, so a stale entry costs one request at most.
//! - **When an entry is dropped**: the registry refused a mount from it (any answer but
//!   201), or the blob was deleted there; and the oldest sightings beyond
//!   [`MAX_LOCATIONS`].
//! - **A file that does not parse** is an empty list (it is replaced at the next save);
//!   entries that do not validate are skipped, and the list is cut to its newest
//!   [`MAX_LOCATIONS`].

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::reference::{Digest, Repository};

/// The most sightings kept (the oldest go first).
pub const MAX_LOCATIONS: usize = 10_000;

/// The largest cache file read: beyond it the file is treated as corrupt (10,000 entries
/// take about 2 MB).
pub const MAX_LOCATIONS_FILE: u64 = 8 << 20;

/// The file format's version: a file with another one is ignored (and replaced).
const FORMAT_VERSION: u32 = 1;

/// One sighting: `digest` exists in `repository` on `registry`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobLocation {
    /// The blob.
    pub digest: Digest,
    /// The registry, `host[:port]` as the client was given it, lowercase.
    pub registry: String,
    /// The repository holding it.
    pub repository: Repository,
    /// Its size in bytes.
    pub size: u64,
    /// When it was seen (seconds since the Unix epoch); `None` for a sighting of this run
    /// not saved yet (stamped by [`BlobCache::merged_into`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<u64>,
}

impl BlobLocation {
    fn is(&self, registry: &str, repository: &Repository, digest: &Digest) -> bool {
        self.digest == *digest && self.repository == *repository && self.registry == registry
    }
}

/// The sightings, oldest first, at most [`MAX_LOCATIONS`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlobLocations {
    entries: Vec<BlobLocation>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    version: u32,
    locations: &'a [BlobLocation],
}

#[derive(Deserialize)]
struct FileIn {
    version: u32,
    locations: Vec<serde_json::Value>,
}

/// The registry key of a host as given: lowercase (host names are case-insensitive).
pub(crate) fn registry_key(host: &str) -> String {
    host.to_ascii_lowercase()
}

impl BlobLocations {
    /// No sightings.
    pub fn new() -> BlobLocations {
        BlobLocations::default()
    }

    /// The list a cache file holds: empty when it is not a cache file of this version (or
    /// is larger than [`MAX_LOCATIONS_FILE`]); entries that do not validate are skipped.
    pub fn parse(bytes: &[u8]) -> BlobLocations {
        if bytes.len() as u64 > MAX_LOCATIONS_FILE {
            return BlobLocations::new();
        }
        let file: FileIn = match serde_json::from_slice(bytes) {
            Ok(f) => f,
            Err(_) => return BlobLocations::new(),
        };
        if file.version != FORMAT_VERSION {
            return BlobLocations::new();
        }
        let mut list = BlobLocations::new();
        for value in file.locations {
            if let Ok(loc) = serde_json::from_value::<BlobLocation>(value) {
                if !loc.registry.is_empty()
                    && loc.registry.len() <= 255
                    && !loc
                        .registry
                        .contains(|c: char| c.is_whitespace() || c == '/')
                {
                    list.record(BlobLocation {
                        registry: registry_key(&loc.registry),
                        ..loc
                    });
                }
            }
        }
        list
    }

    /// The file form (JSON, oldest first).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&FileOut {
            version: FORMAT_VERSION,
            locations: &self.entries,
        })
        .unwrap_or_default()
    }

    /// The sightings, oldest first.
    pub fn entries(&self) -> &[BlobLocation] {
        &self.entries
    }

    /// How many sightings there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `location` as the newest sighting (replacing an older one of the same blob in
    /// the same repository), dropping the oldest beyond [`MAX_LOCATIONS`].
    pub fn record(&mut self, location: BlobLocation) {
        self.forget(&location.registry, &location.repository, &location.digest);
        self.entries.push(location);
        if self.entries.len() > MAX_LOCATIONS {
            let excess = self.entries.len() - MAX_LOCATIONS;
            self.entries.drain(..excess);
        }
    }

    /// Drops the sighting of `digest` in `repository` on `registry`, if any.
    pub fn forget(&mut self, registry: &str, repository: &Repository, digest: &Digest) {
        self.entries.retain(|e| !e.is(registry, repository, digest));
    }

    /// The repository a mount of `digest` into `to` on `registry` should come from: the
    /// newest sighting there in another repository.
    pub fn mount_source(
        &self,
        registry: &str,
        to: &Repository,
        digest: &Digest,
    ) -> Option<&BlobLocation> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.digest == *digest && e.registry == registry && e.repository != *to)
    }
}

/// A change this run made, replayed on the file's current list when saving (so that
/// processes saving one after another lose as little as possible of each other's).
#[derive(Clone, Debug)]
enum Change {
    Seen(BlobLocation),
    Gone {
        registry: String,
        repository: Repository,
        digest: Digest,
    },
}

#[derive(Debug, Default)]
struct CacheState {
    locations: BlobLocations,
    journal: Vec<Change>,
}

/// The blob-location cache a client uses ([`Config::blob_cache`](crate::client::Config)):
/// a cheap handle, shared by every clone and every session made from it. Operations
/// record what they see through their session; uploads and copies look mount candidates
/// up in it. Keeping it in a file is the caller's (`dxf-cache`): [`BlobCache::new`] from
/// what was read, [`BlobCache::merged_into`] what to write.
#[derive(Clone, Default)]
pub struct BlobCache(Arc<Mutex<CacheState>>);

impl std::fmt::Debug for BlobCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with(|s| {
            f.debug_struct("BlobCache")
                .field("locations", &s.locations.len())
                .field("changes", &s.journal.len())
                .finish()
        })
    }
}

impl BlobCache {
    /// A cache starting from `locations` (what the file held).
    pub fn new(locations: BlobLocations) -> BlobCache {
        BlobCache(Arc::new(Mutex::new(CacheState {
            locations,
            journal: Vec::new(),
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut CacheState) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn change(&self, change: Change) {
        self.with(|s| {
            match &change {
                Change::Seen(loc) => s.locations.record(loc.clone()),
                Change::Gone {
                    registry,
                    repository,
                    digest,
                } => s.locations.forget(registry, repository, digest),
            }
            s.journal.push(change);
            // Bounded: a long-lived client keeps the newest changes only.
            if s.journal.len() > 2 * MAX_LOCATIONS {
                s.journal.drain(..MAX_LOCATIONS);
            }
        });
    }

    /// Records that `digest` (`size` bytes) exists in `repository` on `registry`.
    pub fn saw(&self, registry: &str, repository: &Repository, digest: &Digest, size: u64) {
        self.change(Change::Seen(BlobLocation {
            digest: digest.clone(),
            registry: registry_key(registry),
            repository: repository.clone(),
            size,
            seen: None,
        }));
    }

    /// Records that `repository` on `registry` does not (or no longer) provide `digest`.
    pub fn gone(&self, registry: &str, repository: &Repository, digest: &Digest) {
        let registry = registry_key(registry);
        let known = self.with(|s| {
            s.locations
                .entries()
                .iter()
                .any(|e| e.is(&registry, repository, digest))
        });
        if known {
            self.change(Change::Gone {
                registry,
                repository: repository.clone(),
                digest: digest.clone(),
            });
        }
    }

    /// The repository of `registry` a mount of `digest` into `to` should come from (see
    /// [`BlobLocations::mount_source`]).
    pub fn mount_source(
        &self,
        registry: &str,
        to: &Repository,
        digest: &Digest,
    ) -> Option<BlobLocation> {
        let registry = registry_key(registry);
        self.with(|s| s.locations.mount_source(&registry, to, digest).cloned())
    }

    /// What the cache holds now.
    pub fn locations(&self) -> BlobLocations {
        self.with(|s| s.locations.clone())
    }

    /// Whether anything was recorded or dropped since it was made (or last
    /// [`saved`](Self::saved)).
    pub fn is_changed(&self) -> bool {
        self.with(|s| !s.journal.is_empty())
    }

    /// What to write: this run's changes replayed on `on_disk` (the file as it is now, which
    /// other processes may have rewritten meanwhile), this run's sightings stamped `now`
    /// (seconds since the Unix epoch).
    pub fn merged_into(&self, mut on_disk: BlobLocations, now: u64) -> BlobLocations {
        self.with(|s| {
            for change in &s.journal {
                match change {
                    Change::Seen(loc) => on_disk.record(BlobLocation {
                        seen: Some(loc.seen.unwrap_or(now)),
                        ..loc.clone()
                    }),
                    Change::Gone {
                        registry,
                        repository,
                        digest,
                    } => on_disk.forget(registry, repository, digest),
                }
            }
        });
        on_disk
    }

    /// The changes were written (with [`merged_into`](Self::merged_into)): they are not
    /// replayed again; the cache goes on from `written`.
    pub fn saved(&self, written: BlobLocations) {
        self.with(|s| {
            s.journal.clear();
            s.locations = written;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        Digest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap()
    }

    fn repo(s: &str) -> Repository {
        Repository::parse(s).unwrap()
    }

    fn seen(d: u8, registry: &str, r: &str) -> BlobLocation {
        BlobLocation {
            digest: digest(d),
            registry: registry.into(),
            repository: repo(r),
            size: 10,
            seen: Some(1),
        }
    }

    #[test]
    fn the_newest_sighting_elsewhere_on_the_same_registry_is_the_candidate() {
        let mut l = BlobLocations::new();
        l.record(seen(1, "r.example", "a"));
        l.record(seen(1, "other.example", "c"));
        l.record(seen(1, "r.example", "b"));
        l.record(seen(2, "r.example", "d"));
        let to = repo("x");
        assert_eq!(
            l.mount_source("r.example", &to, &digest(1))
                .unwrap()
                .repository,
            repo("b")
        );
        // Never the target itself, never another registry.
        assert!(l
            .mount_source("r.example", &repo("d"), &digest(2))
            .is_none());
        assert!(l.mount_source("third.example", &to, &digest(1)).is_none());
        // Seeing `a` again makes it the newest.
        l.record(seen(1, "r.example", "a"));
        assert_eq!(l.len(), 4, "replaced, not added");
        assert_eq!(
            l.mount_source("r.example", &to, &digest(1))
                .unwrap()
                .repository,
            repo("a")
        );
    }

    #[test]
    fn the_oldest_go_beyond_the_bound() {
        let mut l = BlobLocations::new();
        for i in 0..MAX_LOCATIONS + 5 {
            l.record(BlobLocation {
                repository: repo(&format!("r{i}")),
                ..seen(1, "h", "x")
            });
        }
        assert_eq!(l.len(), MAX_LOCATIONS);
        assert_eq!(l.entries()[0].repository, repo("r5"));
    }

    #[test]
    fn a_file_round_trips_and_anything_else_is_an_empty_list() {
        let mut l = BlobLocations::new();
        l.record(seen(1, "h:5000", "a/b"));
        l.record(seen(2, "h:5000", "c"));
        assert_eq!(BlobLocations::parse(&l.to_json()), l);
        for bad in [
            &b""[..],
            b"{",
            b"null",
            b"[]",
            b"{\"version\":2,\"locations\":[]}",
            b"{\"version\":1}",
            b"\xff\xfe",
        ] {
            assert!(BlobLocations::parse(bad).is_empty(), "{bad:?}");
        }
        // Invalid entries are skipped, valid ones kept; hosts are lowercased.
        let mixed = br#"{"version":1,"locations":[
            {"digest":"sha256:zz","registry":"h","repository":"a","size":1},
            {"digest":"sha256:0101010101010101010101010101010101010101010101010101010101010101","registry":"H","repository":"a","size":1,"seen":5},
            {"digest":"sha256:0101010101010101010101010101010101010101010101010101010101010101","registry":"h","repository":"../x","size":1},
            {"digest":"sha256:0101010101010101010101010101010101010101010101010101010101010101","registry":"a b","repository":"a","size":1},
            {"digest":"sha256:0101010101010101010101010101010101010101010101010101010101010101","registry":"h","repository":"a","size":-1},
            7
        ]}"#;
        let parsed = BlobLocations::parse(mixed);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed.entries()[0].registry, "h");
        assert_eq!(parsed.entries()[0].seen, Some(5));
    }

    #[test]
    fn a_save_replays_this_runs_changes_on_the_file_as_it_is_now() {
        let cache = BlobCache::new(BlobLocations::new());
        cache.saw("H:1", &repo("a"), &digest(1), 3);
        cache.saw("h:1", &repo("b"), &digest(2), 4);
        cache.gone("h:1", &repo("b"), &digest(2));
        // Forgetting what is not known records nothing.
        cache.gone("h:1", &repo("zz"), &digest(9));
        assert!(cache.is_changed());
        let source = cache.mount_source("h:1", &repo("x"), &digest(1)).unwrap();
        assert_eq!((source.repository, source.size), (repo("a"), 3));
        // Meanwhile another process wrote its own sightings, and one of the blob this run
        // saw gone.
        let mut disk = BlobLocations::new();
        disk.record(seen(7, "h:1", "other"));
        disk.record(seen(2, "h:1", "b"));
        let merged = cache.merged_into(disk, 99);
        let got: Vec<_> = merged
            .entries()
            .iter()
            .map(|e| (e.repository.as_str(), e.seen))
            .collect();
        assert_eq!(got, vec![("other", Some(1)), ("a", Some(99))]);
        cache.saved(merged.clone());
        assert!(!cache.is_changed());
        assert_eq!(cache.locations(), merged);
    }
}
