//! The public API, the async twin of dxf-ureq's (python-dxf's module API): [`Registry`]
//! (python-dxf's `DXFBase`: version check, authenticate, token, list repositories) and
//! [`Repository`] (`DXF`: blobs, manifests, aliases), which shares its registry's connection
//! pool, credentials and token cache. Every method builds a dxf-proto operation or
//! [`Flow`](dxf_proto::client::Flow) and runs it; the choices are dxf-proto's.

use std::future::{poll_fn, Future};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use dxf_proto::client::{BlobPull, Config, FilePush, PushOptions};
use dxf_proto::{
    Catalog, Digest, GetBlob, ListTags, Operation, Page, Pushed, Scoped, Sha256, Upload,
};

use futures_core::Stream;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::body::BlobReader;
use crate::driver::{run, run_observed, Shared, Source};
use crate::error::Result;
use crate::tls::client;

/// A registry: cheap to clone, `Send + Sync`; clones share one connection pool, one session
/// (credentials, token cache) and fetch one token per scope at a time between them.
#[derive(Clone, Debug)]
pub struct Registry {
    shared: Arc<Shared>,
}

// Clients are shared between tasks and threads; readers and listings move between them.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    fn movable<T: Send + Unpin + 'static>() {}
    shareable::<Registry>();
    shareable::<Repository>();
    movable::<BlobReader>();
    movable::<Names<ListTags>>();
    movable::<Names<Catalog>>();
};

/// Hashes a readable source with SHA-256 (python-dxf's `hash_file`); returns the digest and
/// the number of bytes read.
pub async fn hash_reader(reader: &mut (impl AsyncRead + Unpin)) -> io::Result<(Digest, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf).await {
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

type PageFuture<Op> = Pin<Box<dyn Future<Output = Result<Page<Op>>> + Send>>;

/// A lazy [`Stream`] of names (tags or repositories), fetching a page at a time; also
/// usable without a stream combinator crate through [`next`](Names::next).
pub struct Names<Op> {
    shared: Arc<Shared>,
    next: Option<Op>,
    items: std::vec::IntoIter<String>,
    fetching: Option<PageFuture<Op>>,
}

impl<Op> std::fmt::Debug for Names<Op> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Names").finish_non_exhaustive()
    }
}

impl<Op> Names<Op>
where
    Op: Operation<Output = Page<Op>> + Scoped + Send + Unpin + 'static,
{
    fn new(shared: &Arc<Shared>, first: Op) -> Names<Op> {
        Names {
            shared: shared.clone(),
            next: Some(first),
            items: Vec::new().into_iter(),
            fetching: None,
        }
    }

    /// The next name, `None` after the last.
    pub async fn next(&mut self) -> Option<Result<String>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Every remaining name, or the first error.
    pub async fn collect_all(mut self) -> Result<Vec<String>> {
        let mut all = Vec::new();
        while let Some(name) = self.next().await {
            all.push(name?);
        }
        Ok(all)
    }
}

impl<Op> Stream for Names<Op>
where
    Op: Operation<Output = Page<Op>> + Scoped + Send + Unpin + 'static,
{
    type Item = Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<String>>> {
        let this = self.get_mut();
        loop {
            if let Some(name) = this.items.next() {
                return Poll::Ready(Some(Ok(name)));
            }
            let fetching = match &mut this.fetching {
                Some(f) => f,
                None => {
                    let Some(op) = this.next.take() else {
                        return Poll::Ready(None);
                    };
                    let shared = this.shared.clone();
                    this.fetching.insert(Box::pin(async move {
                        Ok(run(&shared, op, Source::None, None).await?.0)
                    }))
                }
            };
            let page = ready!(fetching.as_mut().poll(cx));
            this.fetching = None;
            match page {
                Ok(page) => {
                    this.items = page.items.into_iter();
                    this.next = page.next.map(|b| *b);
                }
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
    }
}

impl Registry {
    dxf_proto::registry_methods!(crate::driver::now; async await);

    /// A client for the registry `config` describes. Nothing is sent yet.
    pub fn new(config: &Config) -> Result<Registry> {
        Ok(Registry {
            shared: Arc::new(Shared {
                client: client(&config.transport, config.timeouts.connect)?,
                session: config.shared_session()?,
                interrupt: config.interrupt.clone(),
            }),
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
    pub async fn run<O: Operation + Scoped>(&self, op: O) -> Result<O::Output> {
        Ok(run(&self.shared, op, Source::None, None).await?.0)
    }

    /// The registry's repositories, page by page (no page size is sent unless given).
    pub fn list_repos(&self, page_size: Option<u32>) -> Result<Names<Catalog>> {
        Ok(self.names(Catalog::new(&self.session(), page_size)?))
    }

    fn names<Op>(&self, first: Op) -> Names<Op>
    where
        Op: Operation<Output = Page<Op>> + Scoped + Send + Unpin + 'static,
    {
        Names::new(&self.shared, first)
    }
}

/// A repository of a [`Registry`] (python-dxf's `DXF`).
#[derive(Clone, Debug)]
pub struct Repository {
    registry: Registry,
    name: dxf_proto::Repository,
}

impl Repository {
    dxf_proto::repository_methods!(async await);

    /// Pushes the file at `path` and returns its digest (python-dxf `push_blob(filename)`).
    /// The file is hashed first unless `options.digest` is given or `options.single_pass`.
    pub async fn push_blob_path(&self, path: &Path, options: PushOptions<'_>) -> Result<Pushed> {
        let mut file = tokio::fs::File::open(path).await?;
        let meta = file.metadata().await?;
        let (session, len) = (self.session(), meta.len());
        let (op, digest) = match options.plan_file(&session, &self.name, len, meta.is_file())? {
            FilePush::AsStream => return self.push_blob_reader(&mut file, options).await,
            FilePush::SinglePass(op) => (op, None),
            FilePush::KnownDigest => {
                let digest = match options.digest.clone() {
                    Some(d) => d,
                    None => crate::body::hash_file(path).await?.0,
                };
                let op = options.known_upload(&session, &self.name, &digest, len)?;
                (op, Some(digest))
            }
        };
        let (mut progress, mut checkpoints) = options.into_reports(digest, Some(len));
        let kept = checkpoints.kept();
        let mut observe = |op: &Upload| checkpoints.observe(op);
        let observe = kept.then_some(&mut observe as dxf_proto::client::ObserveFn<'_, Upload>);
        let source = Source::File(&mut file);
        let mut report = |n| progress.sent(n);
        let run = run_observed(self.shared(), op, source, Some(&mut report), observe);
        Ok(run.await?.0)
    }

    /// Pushes everything `reader` yields in one pass (chunked, hashed while sending) and
    /// returns the digest. With `options.digest`, the data must hash to it or nothing is
    /// committed.
    pub async fn push_blob_reader(
        &self,
        reader: &mut (dyn AsyncRead + Unpin + Send),
        options: PushOptions<'_>,
    ) -> Result<Pushed> {
        let op = options.stream_upload(&self.session(), &self.name)?;
        let digest = options.digest.clone();
        let (mut progress, _) = options.into_reports(digest, None);
        let source = Source::Stream(reader);
        Ok(
            run(self.shared(), op, source, Some(&mut |n| progress.sent(n)))
                .await?
                .0,
        )
    }

    /// Starts downloading a blob; the reader verifies digest and length as it is read.
    pub async fn pull_blob(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<BlobReader> {
        self.pull(GetBlob::new(
            &self.session(),
            &self.name,
            digest,
            expected_size,
        )?)
        .await
    }

    async fn pull(&self, op: GetBlob) -> Result<BlobReader> {
        let (download, body) = run(self.shared(), op, Source::None, None).await?;
        let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
        let pull = BlobPull::new(&self.session(), &self.name, &download)
            .with_trace(self.shared().session.trace().cloned());
        // A body that breaks midway is continued with the request the pull decides on.
        let shared = self.shared().clone();
        let resume: crate::body::Resume = Box::new(move |from| {
            let shared = shared.clone();
            Box::pin(async move {
                let op = from
                    .op(&shared.session.snapshot())
                    .map_err(io::Error::other)?;
                let (download, body) = run(&shared, op, Source::None, None)
                    .await
                    .map_err(io::Error::other)?;
                let body = body.ok_or_else(|| io::Error::other("blob body was not delivered"))?;
                Ok((body, download.offset))
            })
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
