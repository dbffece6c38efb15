//! The public API, mirroring python-dxf's module API: [`Registry`] (python-dxf's `DXFBase`:
//! version check, authenticate, token, list repositories) and [`Repository`] (`DXF`: blobs,
//! manifests, aliases), which shares its registry's connection pool, credentials and token
//! cache (`DXF.from_base`). Every method builds a dxf-proto operation or
//! [`Flow`](dxf_proto::client::Flow) and runs it; the choices are dxf-proto's.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use dxf_proto::client::{BlobPull, Config, FilePush, ObserveFn, PushOptions};
use dxf_proto::{
    Catalog, Digest, GetBlob, ListTags, Operation, Page, Pushed, Scoped, Sha256, Upload,
};

use crate::body::BlobReader;
use crate::driver::{run, run_observed, Shared, Source};
use crate::error::Result;
use crate::tls::agent;

/// A registry: cheap to clone, safe to share between threads; clones share one connection
/// pool and one session (credentials, token cache).
#[derive(Clone, Debug)]
pub struct Registry {
    shared: Arc<Shared>,
}

/// Hashes a readable source with SHA-256 (python-dxf's `hash_file`).
pub fn hash_reader(reader: &mut impl Read) -> io::Result<(Digest, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => r?,
        };
        if n == 0 {
            return Ok((h.finish(), len));
        }
        h.update(buf.get(..n).unwrap_or_default());
        len += n as u64;
    }
}

/// A lazy iterator over names (tags or repositories), fetching a page at a time.
pub struct Names<Op> {
    shared: Arc<Shared>,
    next: Option<Op>,
    items: std::vec::IntoIter<String>,
}

impl<Op> std::fmt::Debug for Names<Op> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names").finish_non_exhaustive()
    }
}

impl<Op: Operation<Output = Page<Op>> + Scoped> Iterator for Names<Op> {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        loop {
            if let Some(name) = self.items.next() {
                return Some(Ok(name));
            }
            let op = self.next.take()?;
            match run(&self.shared, op, Source::None, None) {
                Ok((page, _)) => {
                    self.items = page.items.into_iter();
                    self.next = page.next.map(|b| *b);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Registry {
    dxf_proto::registry_methods!(crate::driver::now;);

    /// A client for the registry `config` describes. Nothing is sent yet.
    pub fn new(config: &Config) -> Result<Registry> {
        let shared = Shared {
            agent: agent(&config.transport)?,
            session: config.shared_session()?,
            interrupt: config.interrupt.clone(),
        };
        Ok(Registry {
            shared: Arc::new(shared),
        })
    }

    /// A client for repository `name` sharing this registry's pool and session
    /// (python-dxf `DXF.from_base`). Docker Hub names get the `library/` prefix.
    pub fn repository(&self, name: &str) -> Result<Repository> {
        Ok(Repository {
            name: self.shared.session.snapshot().repository(name)?,
            registry: self.clone(),
        })
    }

    /// Runs any dxf-proto operation against this registry (built from
    /// [`session`](Self::session)).
    pub fn run<O: Operation + Scoped>(&self, op: O) -> Result<O::Output> {
        Ok(run(&self.shared, op, Source::None, None)?.0)
    }

    /// The registry's repositories, page by page (no page size is sent unless given).
    pub fn list_repos(&self, page_size: Option<u32>) -> Result<Names<Catalog>> {
        Ok(self.names(Catalog::new(&self.session(), page_size)?))
    }

    fn names<Op>(&self, first: Op) -> Names<Op> {
        Names {
            shared: self.shared.clone(),
            next: Some(first),
            items: Vec::new().into_iter(),
        }
    }
}

/// A repository of a [`Registry`] (python-dxf's `DXF`).
#[derive(Clone, Debug)]
pub struct Repository {
    registry: Registry,
    name: dxf_proto::Repository,
}

impl Repository {
    dxf_proto::repository_methods!();

    /// Pushes the file at `path` and returns its digest (python-dxf `push_blob(filename)`).
    /// The file is hashed first unless `options.digest` is given or `options.single_pass`.
    pub fn push_blob_path(&self, path: &Path, options: PushOptions<'_>) -> Result<Pushed> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let (session, len) = (self.session(), meta.len());
        let (op, digest) = match options.plan_file(&session, &self.name, len, meta.is_file())? {
            FilePush::AsStream => return self.push_blob_reader(&mut file, options),
            FilePush::SinglePass(op) => (op, None),
            FilePush::KnownDigest => {
                let digest = match options.digest.clone() {
                    Some(d) => d,
                    None => hash_reader(&mut file)?.0,
                };
                let op = options.known_upload(&session, &self.name, &digest, len)?;
                (op, Some(digest))
            }
        };
        let (mut progress, mut checkpoints) = options.into_reports(digest, Some(len));
        let kept = checkpoints.kept();
        let mut observe = |op: &Upload| checkpoints.observe(op);
        let observe = kept.then_some(&mut observe as ObserveFn<'_, Upload>);
        let source = Source::Seekable(&mut file);
        Ok(run_observed(
            self.shared(),
            op,
            source,
            Some(&mut |n| progress.sent(n)),
            observe,
        )?
        .0)
    }

    /// Pushes everything `reader` yields in one pass (chunked, hashed while sending) and
    /// returns the digest. With `options.digest`, the data must hash to it or nothing is
    /// committed.
    pub fn push_blob_reader(
        &self,
        reader: &mut dyn Read,
        options: PushOptions<'_>,
    ) -> Result<Pushed> {
        let op = options.stream_upload(&self.session(), &self.name)?;
        let digest = options.digest.clone();
        let (mut progress, _) = options.into_reports(digest, None);
        let source = Source::Stream(reader);
        Ok(run(self.shared(), op, source, Some(&mut |n| progress.sent(n)))?.0)
    }

    /// Starts downloading a blob; the reader verifies digest and length as it is read.
    pub fn pull_blob(&self, digest: &Digest, expected_size: Option<u64>) -> Result<BlobReader> {
        self.pull(GetBlob::new(
            &self.session(),
            &self.name,
            digest,
            expected_size,
        )?)
    }

    fn pull(&self, op: GetBlob) -> Result<BlobReader> {
        let (download, body) = run(self.shared(), op, Source::None, None)?;
        let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
        let pull = BlobPull::new(&self.session(), &self.name, &download)
            .with_trace(self.shared().session.trace().cloned());
        // A body that breaks midway is continued with the request the pull decides on.
        let shared = self.shared().clone();
        let resume: crate::body::Resume = Box::new(move |from| {
            let op = from
                .op(&shared.session.snapshot())
                .map_err(io::Error::other)?;
            let (download, body) =
                run(&shared, op, Source::None, None).map_err(io::Error::other)?;
            let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
            Ok((body, download.offset))
        });
        let interrupt = self.shared().interrupt.clone();
        Ok(BlobReader::new(
            body,
            download.verifier,
            pull,
            resume,
            interrupt,
        ))
    }

    /// The repository's aliases (tags), page by page.
    pub fn list_aliases(&self, page_size: Option<u32>) -> Result<Names<ListTags>> {
        let op = ListTags::new(&self.session(), &self.name, page_size)?;
        Ok(self.registry.names(op))
    }
}

mod copy;
