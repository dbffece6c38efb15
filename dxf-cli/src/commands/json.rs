//! `--json` for the read commands: one JSON document per invocation, compact (keys sorted,
//! UTF-8 kept) and followed by a newline, for scripts. Not in python-dxf. The shapes
//! (documented in the README):
//!
//! - `get-alias --json`: an array, one object per alias (or one for the manifest on
//!   stdin, without `alias`): `{"alias", "digest" (the manifest's), "mediaType",
//!   ["artifactType"], "config", "blobs": [{"digest", "size", ["title"]}]}`; for a
//!   multi-arch alias `"platforms": [{"platform", "digest", "mediaType", "config",
//!   "blobs"}]` instead of `config` and `blobs`.
//! - `blob-size --json`: an array, one object per name: `{"name", "size"}`, or for a
//!   multi-arch alias `{"name", "platforms": [{"platform", "size"}]}` (no `name` for the
//!   manifest on stdin).
//! - `list-aliases --json`, `list-repos --json`: an array of names, every page. Written
//!   name by name to a spool file in `$TMPDIR` as the pages arrive and printed once the last
//!   one has, so that memory stays flat however many pages there are and a failed page
//!   prints nothing.
//!
//! Nothing is printed on stdout when anything fails: every document is complete (every
//! name resolved, every page received) before its first byte is written.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};

use dxf_ureq::dxf_proto::manifest::alias::TITLE_ANNOTATION;
use dxf_ureq::dxf_proto::manifest::parse::{parse_manifest, Descriptor, Manifest};
use dxf_ureq::dxf_proto::pyjson::Json;
use dxf_ureq::dxf_proto::{AliasContent, AliasManifest, PerPlatform, ReadOptions};

use super::{about, connect, connect_registry, parse_digest, stdin};
use crate::cli::alias_of;
use crate::env::Env;
use crate::error::CliError;
use crate::files::{spool_error, Spool};
use crate::output;

fn obj(fields: impl IntoIterator<Item = (&'static str, Json)>) -> BTreeMap<String, Json> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn string(s: &str) -> Json {
    Json::Str(s.to_owned())
}

/// A blob (layer): digest, size, and its title when it has one.
fn blob(d: &Descriptor) -> Json {
    let mut o = obj([
        ("digest", string(d.digest.as_str())),
        ("size", Json::Int(d.size)),
    ]);
    if let Some(t) = d.annotations.get(TITLE_ANNOTATION) {
        o.insert("title".into(), string(t));
    }
    Json::Obj(o)
}

/// The fields of an image manifest: digest, media type, artifact type, config, blobs.
fn image_fields(
    m: &AliasManifest,
    config: &Descriptor,
    layers: &[Descriptor],
) -> BTreeMap<String, Json> {
    let mut o = obj([
        ("digest", string(m.digest.as_str())),
        ("mediaType", string(&m.media_type)),
        ("config", string(config.digest.as_str())),
        ("blobs", Json::Arr(layers.iter().map(blob).collect())),
    ]);
    if let Ok(Manifest::Image {
        artifact_type: Some(t),
        ..
    }) = parse_manifest(&m.body, Some(&m.media_type))
    {
        o.insert("artifactType".into(), string(&t));
    }
    o
}

/// An alias's manifest as a JSON object (see the module docs).
fn manifest_json(m: &AliasManifest) -> BTreeMap<String, Json> {
    match &m.content {
        AliasContent::Image { config, layers } => image_fields(m, config, layers),
        AliasContent::Index { platforms } => obj([
            ("digest", string(m.digest.as_str())),
            ("mediaType", string(&m.media_type)),
            (
                "platforms",
                Json::Arr(
                    platforms
                        .iter()
                        .map(|p| {
                            let mut o = match &p.manifest {
                                Some(pm) => match &pm.content {
                                    AliasContent::Image { config, layers } => {
                                        image_fields(pm, config, layers)
                                    }
                                    AliasContent::Index { .. } => BTreeMap::new(),
                                },
                                None => BTreeMap::new(),
                            };
                            o.insert("platform".into(), string(&p.platform));
                            o.insert("digest".into(), string(p.digest.as_str()));
                            Json::Obj(o)
                        })
                        .collect(),
                ),
            ),
        ]),
    }
}

/// `get-alias --json`.
pub fn get_alias(
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
    repo: &str,
    aliases: &[String],
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let platform = env.platform.as_deref();
    let mut docs = Vec::new();
    if aliases.is_empty() {
        docs.push(Json::Obj(manifest_json(&stdin::read_manifest(
            &repo, input, platform,
        )?)));
    }
    for a in aliases {
        let options = ReadOptions {
            platform: platform.map(str::to_owned),
            resolve_platforms: true,
        };
        let m = repo.read_alias(a, options).map_err(about(a))?;
        let mut o = manifest_json(&m);
        o.insert("alias".into(), string(a));
        docs.push(Json::Obj(o));
    }
    output::line(out, &Json::Arr(docs).compact())
}

/// A size, or sizes per platform, under `name`.
fn size_json(name: Option<&str>, size: PerPlatform<u64>) -> Json {
    let mut o = match size {
        PerPlatform::Single(n) => obj([("size", Json::Int(n))]),
        PerPlatform::Platforms(ps) => obj([(
            "platforms",
            Json::Arr(
                ps.into_iter()
                    .map(|(p, n)| {
                        Json::Obj(obj([("platform", Json::Str(p)), ("size", Json::Int(n))]))
                    })
                    .collect(),
            ),
        )]),
    };
    if let Some(n) = name {
        o.insert("name".into(), string(n));
    }
    Json::Obj(o)
}

/// `blob-size --json`.
pub fn blob_size(
    env: &Env,
    out: &mut dyn Write,
    input: &mut dyn Read,
    repo: &str,
    names: &[String],
) -> Result<(), CliError> {
    let repo = connect(env, repo)?;
    let platform = env.platform.as_deref();
    let sum = |blobs: Vec<(dxf_ureq::Digest, u64)>| blobs.iter().map(|(_, s)| *s).sum::<u64>();
    let mut docs = Vec::new();
    if names.is_empty() {
        let m = stdin::read_manifest(&repo, input, platform)?;
        docs.push(size_json(None, super::blobs_of(&m, stdin::STDIN)?.map(sum)));
    }
    for name in names {
        let size = match alias_of(name) {
            Some(alias) => repo
                .get_alias(alias, platform)
                .map_err(about(name))?
                .map(sum),
            None => PerPlatform::Single(repo.blob_size(&parse_digest(name)?).map_err(about(name))?),
        };
        docs.push(size_json(Some(name), size));
    }
    output::line(out, &Json::Arr(docs).compact())
}

/// Bytes of a listing's JSON buffered between writes to its spool file.
const SPOOL_BUFFER: usize = 64 * 1024;

/// A JSON array of strings written one element at a time: the same bytes as
/// `Json::Arr(items).compact()` (each element is [`Json::compact`] of the string), with
/// only one element in memory.
struct StrArray<W: Write> {
    out: W,
    empty: bool,
}

impl<W: Write> StrArray<W> {
    /// Starts the array (`[`).
    fn start(mut out: W) -> io::Result<StrArray<W>> {
        out.write_all(b"[")?;
        Ok(StrArray { out, empty: true })
    }

    /// Appends one string.
    fn push(&mut self, s: String) -> io::Result<()> {
        if !self.empty {
            self.out.write_all(b",")?;
        }
        self.empty = false;
        self.out.write_all(Json::Str(s).compact().as_bytes())
    }

    /// Ends the array (`]`) and the document (a newline).
    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(b"]\n")
    }
}

/// Writes `names` to `sink` as one JSON array and a newline, name by name. A failed page
/// is its error; a failed write, a [`spool_error`] (the sink is the spool file).
fn write_names(
    sink: &mut dyn Write,
    names: impl Iterator<Item = dxf_ureq::Result<String>>,
) -> Result<(), CliError> {
    let mut array = StrArray::start(sink).map_err(spool_error)?;
    for name in names {
        array.push(name?).map_err(spool_error)?;
    }
    array.finish().map_err(spool_error)
}

/// Prints names as one JSON array: with every page in memory it could reach 100,000 pages
/// of 16 MiB, so the document goes to a spool file in `$TMPDIR` ([`Spool`]) as the pages
/// arrive, and to `out` only once the last one has: a failure on any page prints nothing.
/// The spool file is made before the first page is asked for: a `$TMPDIR` where no file
/// can be created is an error before anything is sent.
fn names(
    out: &mut dyn Write,
    names: impl Iterator<Item = dxf_ureq::Result<String>>,
) -> Result<(), CliError> {
    let mut spool = Spool::new().map_err(spool_error)?;
    let mut sink = BufWriter::with_capacity(SPOOL_BUFFER, spool.file());
    write_names(&mut sink, names)?;
    sink.flush().map_err(spool_error)?;
    drop(sink);
    spool.copy_to(out, usize::MAX)?;
    Ok(())
}

/// `list-aliases --json`.
pub fn list_aliases(env: &Env, out: &mut dyn Write, repo: &str) -> Result<(), CliError> {
    names(out, connect(env, repo)?.list_aliases(None)?)
}

/// `list-repos --json`.
pub fn list_repos(env: &Env, out: &mut dyn Write) -> Result<(), CliError> {
    names(out, connect_registry(env, true)?.list_repos(None)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dxf_ureq::Digest;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    /// The old encoding: the whole list as one `Json::Arr`, then a newline.
    fn whole(names: &[&str]) -> Vec<u8> {
        let doc = Json::Arr(names.iter().map(|n| string(n)).collect()).compact();
        let mut v = Vec::new();
        output::line(&mut v, &doc).unwrap();
        v
    }

    fn streamed(names: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        write_names(&mut v, names.iter().map(|n| Ok((*n).to_owned()))).unwrap();
        v
    }

    #[test]
    fn streamed_names_are_the_whole_document_byte_for_byte() {
        let all_ascii: String = (0u8..128).map(char::from).collect();
        let lists: [&[&str]; 5] = [
            &[],
            &[""],
            &["latest"],
            &[
                "quote\"d",
                "back\\slash",
                "\u{0}\u{1}\u{1f} \t\n\r\u{8}\u{c}",
                "del\u{7f}",
                "/slash</script>",
                "caf\u{e9}-\u{fc}\u{a0}",
                "\u{20ac}\u{2028}\u{2029}\u{feff}\u{fffd}",
                "astral-\u{1f600}\u{10ffff}",
                "",
                "",
            ],
            &[&all_ascii, "v1.0", &all_ascii],
        ];
        for names in lists {
            assert_eq!(streamed(names), whole(names), "{names:?}");
        }
        assert_eq!(streamed(&["a", "b\"c"]), b"[\"a\",\"b\\\"c\"]\n");
        assert_eq!(streamed(&[]), b"[]\n");
    }

    #[test]
    fn a_failed_page_is_the_error() {
        let names = [
            Ok("a".to_owned()),
            Err(dxf_ureq::Error::from(
                dxf_ureq::dxf_proto::Error::CredentialsOverPlainHttp,
            )),
            Ok("b".to_owned()),
        ];
        let mut v = Vec::new();
        let e = write_names(&mut v, names.into_iter()).unwrap_err();
        assert!(matches!(e, CliError::Dxf { .. }), "{e:?}");
    }

    #[test]
    fn a_failed_spool_write_is_a_temporary_file_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::StorageFull.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = write_names(&mut Full, std::iter::empty()).unwrap_err();
        assert!(e.to_string().starts_with("temporary file in "), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(
            size_json(Some("@a"), PerPlatform::Single(3)).compact(),
            r#"{"name":"@a","size":3}"#
        );
        assert_eq!(
            size_json(
                None,
                PerPlatform::Platforms(vec![("linux/amd64".into(), 1)])
            )
            .compact(),
            r#"{"platforms":[{"platform":"linux/amd64","size":1}]}"#
        );
    }

    #[test]
    fn blobs_with_titles() {
        let mut desc = Descriptor::new("application/octet-stream", d('a'), 5);
        assert_eq!(
            blob(&desc).compact(),
            format!(r#"{{"digest":"{}","size":5}}"#, d('a'))
        );
        desc.annotations
            .insert(TITLE_ANNOTATION.into(), "f.txt".into());
        assert_eq!(
            blob(&desc).compact(),
            format!(r#"{{"digest":"{}","size":5,"title":"f.txt"}}"#, d('a'))
        );
    }
}
