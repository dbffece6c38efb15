//! `get-alias REPO [ALIAS...] [--json]`: the blobs aliases point at.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use dxf_ureq::dxf_proto::manifest::alias::TITLE_ANNOTATION;
use dxf_ureq::dxf_proto::manifest::parse::{parse_manifest, Descriptor, Manifest};
use dxf_ureq::dxf_proto::pyjson::Json;
use dxf_ureq::dxf_proto::{AliasContent, AliasManifest, ReadOptions};
use dxf_ureq::Repository;

use super::{about, blobs_of, connect, digest_lines, digest_list, print_per_platform, stdin, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Print the blob digests aliases point at (with none: a manifest read from stdin)
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Aliases
    #[arg(value_name = "ALIAS")]
    pub aliases: Vec<String>,
    /// Print one JSON document (manifest digests, blobs with sizes, per platform)
    #[arg(long)]
    pub json: bool,
}

impl Run for Args {
    /// Each alias's blob digests, one a line (per platform, as JSON, for a multi-arch
    /// alias); with no alias, those of the manifest on stdin. An index without platforms
    /// (a referrers index) is an error saying so. Every alias is resolved before anything
    /// is printed.
    ///
    /// `--json` (not in python-dxf): one compact document, an array with one object per
    /// alias (or one for the manifest on stdin, without `alias`): `{"alias", "digest"
    /// (the manifest's), "mediaType", ["artifactType"], "config", "blobs": [{"digest",
    /// "size", ["title"]}]}`; for a multi-arch alias `"platforms": [{"platform",
    /// "digest", "mediaType", "config", "blobs"}]` instead of `config` and `blobs`.
    fn run(&self, env: &Env, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        match self.json {
            false => self.text(&repo, env, out, input),
            true => self.json(&repo, env, out, input),
        }
    }
}

impl Args {
    /// python-dxf's lines.
    fn text(
        &self,
        repo: &Repository,
        env: &Env,
        out: &mut dyn Write,
        input: &mut dyn Read,
    ) -> Result<(), CliError> {
        let platform = env.platform.as_deref();
        let results = if self.aliases.is_empty() {
            vec![blobs_of(
                &stdin::read_manifest(repo, input, platform)?,
                stdin::STDIN,
            )?]
        } else {
            self.aliases
                .iter()
                .map(|a| repo.get_alias(a, platform).map_err(about(a)))
                .collect::<Result<Vec<_>, _>>()?
        };
        for r in results {
            print_per_platform(out, r, digest_lines, digest_list)?;
        }
        Ok(())
    }

    /// `--json`.
    fn json(
        &self,
        repo: &Repository,
        env: &Env,
        out: &mut dyn Write,
        input: &mut dyn Read,
    ) -> Result<(), CliError> {
        let platform = env.platform.as_deref();
        let mut docs = Vec::new();
        if self.aliases.is_empty() {
            docs.push(Json::Obj(manifest_json(&stdin::read_manifest(
                repo, input, platform,
            )?)));
        }
        for a in &self.aliases {
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
}

/// A JSON object of `fields`.
fn obj(fields: impl IntoIterator<Item = (&'static str, Json)>) -> BTreeMap<String, Json> {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A JSON string.
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

/// An alias's manifest as a JSON object (see [`Args::run`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use dxf_ureq::Digest;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
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
