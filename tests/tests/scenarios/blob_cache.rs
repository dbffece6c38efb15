//! The blob-location cache over both libraries against the real registry: a blob pushed to
//! one repository and pushed again to another is mounted (no byte sent), in all three
//! modes (token auth: one token for both repositories); a stale location costs the mount
//! request and is forgotten; what is pulled and verified is recorded; the file kept by
//! `dxf-cache` carries it to the next client.

use super::adapter::{connect, Kind, Push, Settings};
use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::{Mode, TestRegistry};
use dxf_ureq::blob_cache::CacheFile;
use dxf_ureq::dxf_proto::{BlobCache, Digest, Repository};

fn repos_holding(cache: &BlobCache, digest: &Digest) -> Vec<String> {
    cache
        .locations()
        .entries()
        .iter()
        .filter(|e| e.digest == *digest)
        .map(|e| e.repository.to_string())
        .collect()
}

fn mounts_from_the_blob_cache(kind: Kind, mode: Mode) {
    let reg = TestRegistry::start(mode);
    let dir = tempfile::tempdir().unwrap();
    let file = CacheFile::open(&dir.path().join("cache"));
    let mut settings = Settings::for_registry(&reg);
    settings.blob_cache = Some(file.cache().clone());
    let c = connect(kind, &settings);

    let data = random_bytes((2 << 20) + 5, 31);
    let path = dir.path().join("data");
    std::fs::write(&path, &data).unwrap();
    let first = c.push_path("team/one", &path, Push::new()).unwrap();
    assert_eq!(first.mounted_from, None);
    let digest = first.digest.clone();
    assert_eq!(repos_holding(file.cache(), &digest), ["team/one"]);

    // Pushed again to another repository: mounted, nothing sent.
    let mut sent = 0;
    let mut progress = |_: Option<&Digest>, done: u64, _: Option<u64>| sent = done;
    let push = Push {
        progress: Some(&mut progress),
        ..Push::new()
    };
    let second = c.push_path("team/two", &path, push).unwrap();
    assert_eq!(
        second.mounted_from,
        Some(Repository::parse("team/one").unwrap())
    );
    assert_eq!(
        (second.digest.clone(), second.size),
        (digest.clone(), data.len() as u64)
    );
    assert_eq!(sent, 0, "no blob byte sent");
    assert_eq!(c.blob_size("team/two", &digest).unwrap(), data.len() as u64);
    assert_eq!(
        repos_holding(file.cache(), &digest),
        ["team/one", "team/two"]
    );

    // A stale location (deleted there): the mount is refused, the upload goes on, and the
    // location is forgotten.
    c.del_blob("team/two", &digest).unwrap();
    assert_eq!(repos_holding(file.cache(), &digest), ["team/one"]);
    file.cache().saw(
        &reg.host(),
        &Repository::parse("ghost").unwrap(),
        &digest,
        data.len() as u64,
    );
    let third = c.push_path("team/three", &path, Push::new()).unwrap();
    assert_eq!(third.mounted_from, None);
    assert_eq!(
        repos_holding(file.cache(), &digest),
        ["team/one", "team/three"]
    );
    let pulled = c.pull("team/three", &digest, None).unwrap();
    assert_eq!(sha256(&pulled.1.unwrap()), digest.as_str());

    // Saved, a new client (a new process) mounts from what this one saw.
    file.save().unwrap();
    drop(file);
    let again = CacheFile::open(&dir.path().join("cache"));
    let mut settings = Settings::for_registry(&reg);
    settings.blob_cache = Some(again.cache().clone());
    let c = connect(kind, &settings);
    let fourth = c.push_path("team/four", &path, Push::new()).unwrap();
    assert!(fourth.mounted_from.is_some(), "{fourth:?}");
}

scenarios!(mounts_from_the_blob_cache);
