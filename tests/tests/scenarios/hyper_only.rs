//! What only the async adapter has: many tasks sharing one client (one token fetch per
//! scope, pooled connections — counted by a TCP proxy in front of the registry), the
//! `Stream` side of a pulled blob, and cancellation (a dropped pull or push leaves no task
//! behind and never a bad blob).

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dxf_hyper::{BlobReader, PushOptions, Registry, Repository, UploadMode};
use dxf_tests::cli::{random_bytes, sha256};
use dxf_tests::{Mode, TestRegistry};
use futures_core::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::adapter::{hyper_config, Settings};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A TCP proxy on loopback in front of the registry that counts the connections it accepts.
/// Its tasks live on the test's runtime and end with it.
struct CountingProxy {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl CountingProxy {
    async fn start(upstream: u16) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                    let _ = inbound.shutdown().await;
                });
            }
        });
        CountingProxy { addr, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn read_with_async_read(mut reader: BlobReader) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    reader.read_to_end(&mut data).await?;
    Ok(data)
}

async fn read_with_stream(mut reader: BlobReader) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    while let Some(chunk) = poll_fn(|cx| Pin::new(&mut reader).poll_next(cx)).await {
        data.extend_from_slice(&chunk?);
    }
    Ok(data)
}

#[test]
fn thirty_two_tasks_share_one_token_per_scope_and_pooled_connections() {
    let reg = TestRegistry::start(Mode::Token);
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let proxy = CountingProxy::start(reg.port()).await;
        let mut settings = Settings::for_registry(&reg);
        settings.host = proxy.addr.to_string();
        let registry = Registry::new(&hyper_config(&settings)).unwrap();

        let mut tasks = JoinSet::new();
        for i in 0..32u64 {
            let repo = registry.repository("conc/blobs").unwrap();
            let path = dir.path().join(format!("blob{i}"));
            tasks.spawn(async move {
                let data = random_bytes(100_000 + i as usize * 4099, 100 + i);
                // Half from files (chunked: several requests each), half from streams.
                let pushed = if i % 2 == 0 {
                    tokio::fs::write(&path, &data).await.unwrap();
                    let options = PushOptions {
                        mode: UploadMode::Chunked,
                        ..PushOptions::new()
                    };
                    repo.push_blob_path(&path, options).await.unwrap()
                } else {
                    repo.push_blob_reader(&mut &data[..], PushOptions::new())
                        .await
                        .unwrap()
                };
                assert_eq!(pushed.digest.as_str(), sha256(&data));
                let reader = repo.pull_blob(&pushed.digest, None).await.unwrap();
                let back = if i % 2 == 0 {
                    read_with_async_read(reader).await
                } else {
                    read_with_stream(reader).await
                };
                assert!(back.unwrap() == data);
                pushed.digest
            });
        }
        let mut digests = Vec::new();
        while let Some(d) = tasks.join_next().await {
            digests.push(d.unwrap());
        }
        // One token for the push scope and one for the pull scope, not one per task.
        let tokens = reg.token_requests();
        assert!(tokens <= 2, "{tokens} token requests");
        // Each task sent at least 3 requests to the registry (upload start, commit, GET),
        // plus the first wave's 401s: ≥ 128 requests; without a pool, ~176 connections.
        // Under full concurrency hyper-util races a new connect against every checkout, so
        // some extra connections are expected — but far fewer than requests.
        let concurrent = proxy.accepted();
        assert!(
            concurrent < 96,
            "{concurrent} connections for ≥ 128 requests"
        );
        eprintln!("32 tasks: {tokens} token requests, {concurrent} connections");

        // Sequential requests reuse one pooled connection.
        let repo = registry.repository("conc/blobs").unwrap();
        let before = proxy.accepted();
        for d in &digests {
            assert!(repo.blob_exists(d).await.unwrap());
            let manifest = repo.make_manifest(std::slice::from_ref(d)).await.unwrap();
            repo.set_manifest("one", manifest.as_bytes()).await.unwrap();
        }
        let sequential = proxy.accepted() - before;
        assert!(
            sequential <= 1,
            "{sequential} new connections for 96 requests"
        );
        assert_eq!(reg.token_requests(), tokens, "cached tokens were reused");
    });
}

/// Waits (a bounded time) for every task of the runtime to end: connection tasks stop once
/// the client is dropped, and the driver spawns none of its own.
async fn no_task_left() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = Instant::now() + Duration::from_secs(5);
    while metrics.num_alive_tasks() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} tasks still alive",
            metrics.num_alive_tasks()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Shuts `rt` down, asserting it takes no time (no blocking task left either).
fn shuts_down_promptly(rt: Runtime) {
    let start = Instant::now();
    rt.shutdown_timeout(Duration::from_secs(10));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

fn plain_client(reg: &TestRegistry) -> Registry {
    Registry::new(&hyper_config(&Settings::for_registry(reg))).unwrap()
}

#[test]
fn dropping_a_pull_midway_leaves_no_task_and_the_client_usable() {
    let reg = TestRegistry::start(Mode::Plain);
    let rt = runtime();
    rt.block_on(async {
        let registry = plain_client(&reg);
        let repo = registry.repository("cancel/pull").unwrap();
        let data = random_bytes(8 << 20, 5);
        let pushed = repo
            .push_blob_reader(&mut &data[..], PushOptions::new())
            .await
            .unwrap();

        let (first_chunk, got_first_chunk) = oneshot::channel();
        let pull = async {
            let mut reader = repo.pull_blob(&pushed.digest, None).await.unwrap();
            let mut buf = vec![0; 64 * 1024];
            assert!(reader.read(&mut buf).await.unwrap() > 0);
            first_chunk.send(()).unwrap();
            std::future::pending::<()>().await;
            unreachable!("the pull is dropped while it holds the half-read blob")
        };
        tokio::select! {
            () = pull => {}
            _ = got_first_chunk => {}
        }

        // The dropped transfer's connection is closed, not reused half-read.
        let again = repo.pull_blob(&pushed.digest, None).await.unwrap();
        assert!(read_with_async_read(again).await.unwrap() == data);
        drop(repo);
        drop(registry);
        no_task_left().await;
    });
    shuts_down_promptly(rt);
}

/// Starts pushing `data` the given way and drops the push once 1 MiB went out.
async fn drop_push_midway(repo: &Repository, how: &str, data: &[u8], dir: &std::path::Path) {
    let (started, got_started) = oneshot::channel();
    let mut started = Some(started);
    let mut progress = |_: Option<&dxf_hyper::Digest>, done: u64, _: Option<u64>| {
        if done >= 1 << 20 {
            if let Some(tx) = started.take() {
                let _ = tx.send(());
            }
        }
    };
    let options = PushOptions {
        progress: Some(&mut progress),
        skip_if_exists: false,
        mode: if how == "chunked" {
            UploadMode::Chunked
        } else {
            UploadMode::Monolithic
        },
        ..PushOptions::new()
    };
    let path = dir.join(how);
    tokio::fs::write(&path, data).await.unwrap();
    let push = async {
        match how {
            "stream" => repo.push_blob_reader(&mut &data[..], options).await,
            _ => repo.push_blob_path(&path, options).await,
        }
    };
    tokio::select! {
        r = push => panic!("{how}: the push finished before it was dropped: {r:?}"),
        _ = got_started => {}
    }
}

#[test]
fn dropping_a_push_midway_leaves_no_task_and_no_bad_blob() {
    let reg = TestRegistry::start(Mode::Plain);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let mut settings = Settings::for_registry(&reg);
        settings.chunk_size = Some(256 * 1024);
        let registry = Registry::new(&hyper_config(&settings)).unwrap();
        let repo = registry.repository("cancel/push").unwrap();
        for (seed, how) in ["monolithic", "chunked", "stream"].into_iter().enumerate() {
            let data = random_bytes(16 << 20, 60 + seed as u64);
            drop_push_midway(&repo, how, &data, dir.path()).await;
            let digest = dxf_hyper::Digest::parse(&sha256(&data)).unwrap();
            // Absent, or (had the registry committed it) complete and correct.
            if repo.blob_exists(&digest).await.unwrap() {
                let reader = repo.pull_blob(&digest, None).await.unwrap();
                assert!(read_with_async_read(reader).await.unwrap() == data, "{how}");
            }
            // The client goes on working.
            let small = random_bytes(1000, seed as u64);
            let pushed = repo
                .push_blob_reader(&mut &small[..], PushOptions::new())
                .await
                .unwrap();
            let reader = repo.pull_blob(&pushed.digest, None).await.unwrap();
            assert!(read_with_async_read(reader).await.unwrap() == small);
        }
        drop(repo);
        drop(registry);
        no_task_left().await;
    });
    shuts_down_promptly(rt);
}
