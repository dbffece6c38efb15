//! `blob-size REPO [HASH|@ALIAS...] [--json]`: blob sizes; an alias's is the sum of its
//! blobs'.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use dxf_ureq::dxf_proto::pyjson::Json;
use dxf_ureq::dxf_proto::{Digest, PerPlatform};

use super::{about, alias_of, blobs_of, connect, parse_digest, print_per_platform, stdin, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Print blob sizes; an alias prints the sum of its blobs' sizes
#[derive(Debug, PartialEq, Eq, clap::Args)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Blob digests, or @alias (with no names: a manifest read from stdin)
    #[arg(value_name = "HASH|@ALIAS")]
    pub names: Vec<String>,
    /// Print one JSON document
    #[arg(long)]
    pub json: bool,
}

impl Run for Args {
    /// A plain digest's size from a HEAD; an alias's total from its manifest (per
    /// platform, as JSON, for a multi-arch alias); with no names, the total of the
    /// manifest on stdin. An index without platforms (a referrers index) is an error
    /// saying so. Every name is resolved before anything is printed.
    ///
    /// `--json` (not in python-dxf): an array, one object per name: `{"name", "size"}`,
    /// or for a multi-arch alias `{"name", "platforms": [{"platform", "size"}]}` (no
    /// `name` for the manifest on stdin).
    fn run(&self, env: &Env, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
        let repo = connect(env, &self.repo)?;
        let platform = env.platform.as_deref();
        let sum = |blobs: Vec<(Digest, u64)>| blobs.iter().map(|(_, s)| *s).sum::<u64>();
        let mut sizes: Vec<(Option<&str>, PerPlatform<u64>)> = Vec::new();
        if self.names.is_empty() {
            let m = stdin::read_manifest(&repo, input, platform)?;
            sizes.push((None, blobs_of(&m, stdin::STDIN)?.map(sum)));
        }
        for name in &self.names {
            let size = match alias_of(name) {
                Some(alias) => repo
                    .get_alias(alias, platform)
                    .map_err(about(name))?
                    .map(sum),
                None => {
                    PerPlatform::Single(repo.blob_size(&parse_digest(name)?).map_err(about(name))?)
                }
            };
            sizes.push((Some(name), size));
        }
        if self.json {
            let docs = sizes.into_iter().map(|(n, s)| size_json(n, s)).collect();
            return output::line(out, &Json::Arr(docs).compact());
        }
        for (_, s) in sizes {
            print_per_platform(out, s, |n| vec![n.to_string()], output::Json::Int)?;
        }
        Ok(())
    }
}

/// A size, or sizes per platform, under `name`.
fn size_json(name: Option<&str>, size: PerPlatform<u64>) -> Json {
    let mut o = BTreeMap::new();
    match size {
        PerPlatform::Single(n) => o.insert("size".to_owned(), Json::Int(n)),
        PerPlatform::Platforms(ps) => o.insert(
            "platforms".to_owned(),
            Json::Arr(
                ps.into_iter()
                    .map(|(p, n)| {
                        Json::Obj(BTreeMap::from([
                            ("platform".to_owned(), Json::Str(p)),
                            ("size".to_owned(), Json::Int(n)),
                        ]))
                    })
                    .collect(),
            ),
        ),
    };
    if let Some(n) = name {
        o.insert("name".to_owned(), Json::Str(n.to_owned()));
    }
    Json::Obj(o)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
