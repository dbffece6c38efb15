//! The blob-location cache of this run (`dxf_cache`): opened for the commands that upload,
//! mount, pull, copy or delete blobs ([`crate::commands::Run::uses_blob_cache`]), handed to
//! every client they make ([`handle`]), and saved once the command ended, whether it
//! succeeded or not ([`save`]). `DXF_CACHE=0` turns it off; `DXF_CACHE_DIR` moves it. A
//! cache that cannot be written never fails a command (`--debug` tells why).

use std::sync::OnceLock;

use dxf_ureq::blob_cache::{BlobCache, CacheFile};

static CACHE: OnceLock<Option<CacheFile>> = OnceLock::new();

/// Opens the cache the environment names, for this run.
pub(crate) fn open() {
    CACHE.get_or_init(CacheFile::from_env);
}

/// The cache for a client's `Config`, when [`open`].
pub(crate) fn handle() -> Option<BlobCache> {
    CACHE.get()?.as_ref().map(|f| f.cache().clone())
}

/// Writes what this run learned, if anything; a failure is only told to `--debug`.
pub(crate) fn save(debug: bool) {
    let Some(Some(file)) = CACHE.get() else {
        return;
    };
    if let Err(e) = file.save() {
        if debug {
            crate::debug::note(&format!(
                "blob cache not saved to {}: {e}",
                file.path().display()
            ));
        }
    }
}
