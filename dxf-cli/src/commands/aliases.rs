//! The alias commands: `set-alias`, `get-alias`, `del-alias`, `get-digest`,
//! `get-manifest`, `list-aliases`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use dxf_ureq::dxf_proto::{Digest, PerPlatform};
use dxf_ureq::hash_reader;

use super::{about, blobs_of, connect, not_blobs, parse_digest, print_per_platform, stdin};
use crate::env::Env;
use crate::error::CliError;
use crate::output::{self, Json};

/// Whether a `set-alias` argument names a file: it contains a path separator (python-dxf
/// tests `os.sep in arg`; on Windows both `\` and `/` count).
pub fn is_file_argument(arg: &OsString) -> bool {
    arg.to_string_lossy().chars().any(std::path::is_separator)
}

/// A `set-alias` argument as a digest: a file's is computed locally.
pub(super) fn blob_digest(arg: &OsString) -> Result<Digest, CliError> {
    if is_file_argument(arg) {
        let what = Path::new(arg).display().to_string();
        let mut f = File::open(arg).map_err(|e| CliError::input(&what, e))?;
        return Ok(hash_reader(&mut f)
            .map_err(|e| CliError::input(&what, e))?
            .0);
    }
    match arg.to_str() {
        Some(s) => parse_digest(s),
        None => parse_digest(&arg.to_string_lossy()),
    }
}

/// `set-alias REPO ALIAS HASH|FILE...`: points the alias at the blobs (sizes from a HEAD
/// of each) and prints the manifest it stored, with no newline.
pub fn set(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    alias: &str,
    blobs: &[OsString],
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let digests = blobs
        .iter()
        .map(blob_digest)
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = repo.set_alias(alias, &digests).map_err(about(alias))?;
    output::raw(out, manifest.as_bytes())
}

fn digest_lines(blobs: Vec<(Digest, u64)>) -> Vec<String> {
    blobs.into_iter().map(|(d, _)| d.to_string()).collect()
}

fn digest_list(blobs: Vec<(Digest, u64)>) -> Json {
    Json::StrList(digest_lines(blobs))
}

/// `get-alias REPO [ALIAS...]`: each alias's blob digests, one a line (per platform, as
/// JSON, for a multi-arch alias); with no alias, those of the manifest on stdin. An index
/// without platforms (a referrers index) is an error saying so.
pub fn get(
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
    repo: &str,
    aliases: &[String],
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let platform = env.platform.as_deref();
    let results = if aliases.is_empty() {
        vec![blobs_of(
            &stdin::read_manifest(&repo, input, platform)?,
            stdin::STDIN,
        )?]
    } else {
        aliases
            .iter()
            .map(|a| repo.get_alias(a, platform).map_err(about(a)))
            .collect::<Result<Vec<_>, _>>()?
    };
    for r in results {
        print_per_platform(out, r, digest_lines, digest_list)?;
    }
    Ok(())
}

/// `del-alias REPO ALIAS...`: deletes each alias's manifest by digest and prints the blob
/// digests it listed (for a multi-arch alias, `{platform: manifest digest}` as JSON).
/// With `--only` (`only`), each alias alone is deleted: the manifest and its other aliases
/// stay ([`dxf_ureq::Repository::del_alias_only`]); the output is the same.
pub fn delete(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    aliases: &[String],
    only: bool,
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let deleted = aliases
        .iter()
        .map(|a| match only {
            false => repo.del_alias(a).map_err(about(a)),
            true => repo.del_alias_only(a).map_err(about(a)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for m in deleted {
        match m.platform_digests() {
            Some(platforms) => output::line(
                out,
                &output::py_json_object(
                    platforms
                        .into_iter()
                        .map(|(p, d)| (p, Json::Str(d.to_string()))),
                ),
            )?,
            None => print_per_platform(out, m.layers(), digest_lines, digest_list)?,
        }
    }
    Ok(())
}

/// `get-digest REPO [ALIAS...]`: each alias's config digest (per platform, as JSON, for a
/// multi-arch alias); with no alias, that of the manifest on stdin. An index without
/// platforms (a referrers index) is an error saying so.
pub fn digest(
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
    repo: &str,
    aliases: &[String],
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let platform = env.platform.as_deref();
    let results = if aliases.is_empty() {
        let m = stdin::read_manifest(&repo, input, platform)?;
        vec![m.try_config_digest().map_err(not_blobs(stdin::STDIN))?]
    } else {
        aliases
            .iter()
            .map(|a| repo.get_digest(a, platform).map_err(about(a)))
            .collect::<Result<Vec<_>, _>>()?
    };
    for r in results {
        print_per_platform(
            out,
            r,
            |d| vec![d.to_string()],
            |d| Json::Str(d.to_string()),
        )?;
    }
    Ok(())
}

/// `get-manifest REPO [ALIAS...]`: each alias's manifest as received, no newline added
/// (for a multi-arch alias, `{platform: manifest text}` as JSON). Printed alias by alias.
/// An index without platforms (a referrers index) is printed as received, as a single
/// manifest is ([`dxf_ureq::dxf_proto::AliasManifest::bodies`]).
pub fn manifest(
    env: &Env,
    out: &mut dyn Write,
    repo: &str,
    aliases: &[String],
) -> Result<(), CliError> {
    if aliases.is_empty() {
        return Ok(());
    }
    let repo = connect(env, repo)?;
    let platform = env.platform.as_deref();
    for a in aliases {
        match repo.get_manifest(a, platform).map_err(about(a))? {
            PerPlatform::Single(body) => output::raw(out, &body)?,
            PerPlatform::Platforms(platforms) => {
                output::raw(
                    out,
                    output::py_json_object(platforms.into_iter().map(|(p, body)| {
                        (p, Json::Str(String::from_utf8_lossy(&body).into_owned()))
                    }))
                    .as_bytes(),
                )?
            }
        }
    }
    Ok(())
}

/// `list-aliases REPO`: the repository's tags, one a line, page by page.
pub fn list(env: &Env, out: &mut dyn Write, repo: &str) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    for name in repo.list_aliases(None)? {
        output::line(out, &name?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_arguments_contain_a_separator() {
        assert!(is_file_argument(&"./data".into()));
        assert!(is_file_argument(&"dir/data".into()));
        assert!(is_file_argument(&"/abs".into()));
        assert!(!is_file_argument(
            &"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into()
        ));
        assert!(!is_file_argument(&"data.bin".into()));
    }

    #[test]
    fn digest_arguments_are_validated() {
        assert!(blob_digest(&"sha256:abc".into()).is_err());
        let err = blob_digest(&"./no/such/file".into()).unwrap_err();
        assert!(err.to_string().starts_with("./no/such/file: "), "{err}");
    }
}
