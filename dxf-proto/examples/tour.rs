//! A tour of dxf-proto: drives the real state machines against the in-memory model registry
//! (`dxf_proto::testing::MemoryRegistry`, behind Bearer auth) and prints every request the
//! machines emit — push a file-like blob and a streamed one, set a python-dxf alias, read it
//! back, list tags, pull and verify a blob.
//!
//! Run: `cargo run -p dxf-proto --features testing --example tour`

use dxf_proto::manifest::alias::{docker_alias_manifest, BlobDescriptor};
use dxf_proto::testing::{drive, verify_delivered, MemoryAuth, MemoryRegistry, ScriptedRegistry};
use dxf_proto::{
    AliasContent, Authed, GetBlob, ListTags, Operation, PutManifest, ReadAlias, ReadOptions,
    Reference, Scheme, Scoped, Session, Sha256, UnixTime, Upload, UploadMode, UploadOptions,
};

fn run<O: Operation + Scoped>(
    op: O,
    session: &mut Session,
    peer: &mut ScriptedRegistry,
    source: &[u8],
) -> Result<dxf_proto::testing::Driven<O::Output>, Box<dyn std::error::Error>> {
    let before = peer.sent.len();
    let mut op = Authed::new(session, op);
    let now = UnixTime(1_700_000_000);
    let out = drive(&mut op, peer, session, now, source).map_err(|e| e.to_string())?;
    for sent in peer.sent.get(before..).unwrap_or_default() {
        let auth = sent
            .header("authorization")
            .map(|a| a.split(' ').next().unwrap_or_default())
            .unwrap_or("-");
        println!(
            "  {:<6} {} [auth: {auth}, {} body bytes]",
            sent.method,
            sent.uri,
            sent.body.len()
        );
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let registry = MemoryRegistry::with_auth(MemoryAuth::Bearer);
    let mut peer = registry.peer();
    let mut session = Session::new("registry.local:5000", Scheme::Https)?;
    let repo = session.repository("tour/data")?;

    let file: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let mut h = Sha256::new();
    h.update(&file);
    let file_digest = h.finish();

    println!("push-blob (known source, chunked 128 KiB):");
    let opts = UploadOptions {
        mode: UploadMode::Chunked,
        chunk_size: Some(128 * 1024),
        ..Default::default()
    };
    let op = Upload::known(&session, &repo, &file_digest, file.len() as u64, &opts)?;
    let pushed = run(op, &mut session, &mut peer, &file)?.output;
    println!("  → {} ({} bytes)", pushed.digest, pushed.size);

    println!("push-blob (stream source, single pass):");
    let text = b"hello from a pipe\n".to_vec();
    let op = Upload::stream(&session, &repo, None, &UploadOptions::default())?;
    let streamed = run(op, &mut session, &mut peer, &text)?.output;
    println!("  → {} ({} bytes)", streamed.digest, streamed.size);

    println!("set-alias tour/data latest (python-dxf manifest form):");
    let manifest = docker_alias_manifest(&[
        BlobDescriptor {
            digest: pushed.digest.clone(),
            size: pushed.size,
            title: None,
        },
        BlobDescriptor {
            digest: streamed.digest.clone(),
            size: streamed.size,
            title: None,
        },
    ])?;
    let op = PutManifest::new(
        &session,
        &repo,
        &Reference::parse("latest")?,
        manifest.clone().into_bytes(),
    )?;
    let manifest_digest = run(op, &mut session, &mut peer, b"")?.output;
    println!("  → manifest {manifest_digest}");

    println!("get-alias tour/data latest:");
    let op = ReadAlias::new(
        &session,
        &repo,
        &Reference::parse("latest")?,
        ReadOptions::default(),
    )?;
    let alias = run(op, &mut session, &mut peer, b"")?.output;
    if let AliasContent::Image { layers, .. } = &alias.content {
        for l in layers {
            println!("  → {} {}", l.digest, l.size);
        }
    }

    println!("list-aliases tour/data:");
    let page = run(
        ListTags::new(&session, &repo, None)?,
        &mut session,
        &mut peer,
        b"",
    )?
    .output;
    println!("  → {:?}", page.items);

    println!("pull-blob tour/data {}:", pushed.digest);
    let op = GetBlob::new(&session, &repo, &pushed.digest, Some(pushed.size))?;
    let out = run(op, &mut session, &mut peer, b"")?;
    let body = out.delivered.unwrap_or_default();
    let verified = verify_delivered(out.output.verifier, &body, 64 * 1024)?;
    println!("  → {} bytes, verified {verified}", body.len());

    println!(
        "token requests: {} (one per scope; cached afterwards)",
        registry.state.borrow().token_requests.len()
    );
    Ok(())
}
