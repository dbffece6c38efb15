//! `attach REPO ALIAS FILE...`: pushes files as an OCI 1.1 artifact whose subject is an
//! alias's manifest. Not in python-dxf.

use std::io::{Read, Write};
use std::path::PathBuf;

use dxf_ureq::dxf_proto::manifest::alias::BlobDescriptor;
use dxf_ureq::dxf_proto::{Error as Proto, Reference};
use dxf_ureq::PushOptions;

use super::{about, connect, oci, Run};
use crate::env::Env;
use crate::error::CliError;
use crate::output;

/// Push files as an OCI 1.1 artifact whose subject is an alias's manifest and print the
/// artifact manifest's digest
#[derive(Debug, PartialEq, Eq, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Repository
    #[arg(value_name = "REPO")]
    pub repo: String,
    /// Alias (tag or digest) whose manifest the artifact refers to
    #[arg(value_name = "ALIAS")]
    pub alias: String,
    /// Files to push as the artifact's blobs (titled with their file names)
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The artifact's artifactType (default application/vnd.dxf.blobs.v1)
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// A manifest annotation (repeatable)
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = oci::parse_annotation)]
    pub annotations: Vec<(String, String)>,
}

/// `attach --help`'s notes.
const AFTER_HELP: &str = "\
The files are pushed (unless the registry has them), the empty config blob ({}) is pushed
when missing, and the artifact manifest is stored by digest with the alias's manifest as its
subject. A registry without the referrers API (such as distribution 2.8) does not answer with
OCI-Subject: dxf then adds the artifact to the index under the tag sha256-<hex of the
subject digest> (the OCI referrers tag schema), which `referrers` reads.";

impl Run for Args {
    fn uses_blob_cache(&self) -> bool {
        true
    }

    /// Each annotation key once.
    fn validate(&self) -> Result<(), CliError> {
        oci::check_annotations("attach", &self.annotations)
    }

    /// Pushes the files (unless the registry has them), then an artifact manifest of them
    /// (titled with their file names) whose subject is ALIAS's manifest; prints its
    /// digest. A bad or missing alias is an error before anything is pushed.
    fn run(&self, env: &Env, out: &mut dyn Write, _: &mut dyn Read) -> Result<(), CliError> {
        let alias = self.alias.as_str();
        // A bad alias is refused before anything is pushed.
        Reference::parse(alias).map_err(|e| CliError::dxf(alias, Proto::from(e)))?;
        let repo = connect(env, &self.repo)?;
        // Nor is anything pushed for an alias that is not there.
        repo.head_manifest(alias).map_err(about(alias))?;
        let mut blobs = Vec::with_capacity(self.files.len());
        for file in &self.files {
            let what = file.display().to_string();
            let pushed = repo
                .push_blob_path(file, PushOptions::new())
                .map_err(about(&what))?;
            let mut blob = BlobDescriptor::new(pushed.digest, pushed.size);
            blob.title = oci::title_of(file);
            blobs.push(blob);
        }
        let options = oci::options(self.artifact_type.as_deref(), &self.annotations);
        let attached = repo.attach(alias, &blobs, &options).map_err(about(alias))?;
        output::line(out, attached.digest.as_str())
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::{parse, Parsed};
    use crate::error::CliError;

    fn usage(args: &[&str]) -> String {
        match parse(["dxf", "attach"].iter().chain(args).copied()) {
            Err(CliError::Usage(m)) => m,
            other => panic!("{args:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn arguments() {
        assert!(matches!(
            parse(["dxf", "attach", "r", "a", "f", "--annotation", "k=v"]),
            Ok(Parsed::Run(_))
        ));
        for bad in ["novalue", "=v", ""] {
            let m = usage(&["--annotation", bad, "r", "a", "./f"]);
            assert!(m.contains("is not KEY=VALUE"), "{bad:?}: {m}");
        }
        let m = usage(&["r", "a", "f", "--annotation", "k=1", "--annotation", "k=2"]);
        assert!(m.contains("--annotation \"k\" given twice"), "{m}");
        assert!(m.contains("usage: dxf attach"), "{m}");
        assert!(usage(&["r", "a"]).contains("too few arguments"));
    }
}
