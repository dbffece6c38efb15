//! [`Repository::del_alias_only`]: deletes one alias, leaving the manifest it named and
//! that manifest's other aliases in place (dxf-proto's [`DeleteTag`] decides how).

use std::sync::atomic::{AtomicU64, Ordering};

use dxf_proto::{AliasManifest, DeleteTag, Misuse, ReadOptions, Reference};

use super::{reference, Repository};
use crate::error::Result;

/// A value no other deletion (in this process or another) uses: the time in nanoseconds,
/// the process id and a counter.
pub(crate) fn unique_nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos}-{}-{n}", std::process::id())
}

impl Repository {
    /// Deletes alias `alias` only (the CLI's `del-alias --only`) and returns what it
    /// named. Unlike [`del_alias`](Repository::del_alias), which deletes the manifest by
    /// digest (and so every alias on it), the manifest and its other aliases stay: the tag
    /// is deleted by name, or — where the registry refuses that, as distribution 2.8 does —
    /// moved onto a unique throw-away manifest that is then deleted by digest. If even
    /// that is refused (deletes disabled), the alias is put back and the refusal returned.
    ///
    /// `alias` must be a tag: a digest names a manifest, not an alias.
    pub fn del_alias_only(&self, alias: &str) -> Result<AliasManifest> {
        let Reference::Tag(tag) = reference(alias)? else {
            return Err(dxf_proto::Error::Misuse(Misuse::InvalidArgument(format!(
                "{alias} is a digest, not an alias: only an alias can be deleted on its own"
            )))
            .into());
        };
        let manifest = self.read_alias(alias, ReadOptions::default())?;
        let original = (manifest.body.clone(), manifest.media_type.clone());
        self.run(DeleteTag::new(
            &self.session(),
            &self.name,
            &tag,
            &unique_nonce(),
            Some(original),
        )?)?;
        Ok(manifest)
    }
}
