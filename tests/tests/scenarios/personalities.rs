//! The scenario list under every registry personality (`dxf_tests::personality`), for each
//! client: dxf-ureq and dxf-hyper (through [`Adapter`]) and the `dxf` binary. One test per
//! (personality × client) runs every scenario, collects the outcomes, prints them (and,
//! when every column of this run is in, the whole matrix for the README), then asserts
//! that each scenario did what it should there: it worked — with what the registry holds
//! checked on the registry itself, behind the personality — or, where the registry lacks
//! what the scenario needs ([`Refuses`]), it failed with one clear line naming the status
//! the registry answered. Each test also asserts that every quirk of its personality was
//! met at least once, so that no personality passes by never showing its manners.
//!
//! The scenarios only know a [`Target`] (host, TLS, credentials, what it refuses), plus,
//! when there is one, the fault proxy in front of it (to cut an upload for the resumable
//! scenario) and the registry behind it (to look at what it holds): any registry can be
//! run through [`run_scenarios`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use super::adapter::{connect, connect_copy, CopyAdapter, Kind, Push, Settings, Tls};
use dxf_tests::cli::{clean_command, dxf_bin, random_bytes, run_command, sha256, Run};
use dxf_tests::fault_proxy::{direct, Fault, FaultProxy, Rule};
use dxf_tests::personality::{Emulated, Personality, Quirk, Refuses, Target};
use dxf_tests::TestRegistry;
use dxf_ureq::dxf_proto::manifest::alias::{BlobDescriptor, OciArtifactOptions};
use dxf_ureq::dxf_proto::{
    Credentials, Digest, Interrupt, PerPlatform, RetryPolicy, UploadCheckpoint,
};

const MIB: usize = 1 << 20;
/// The libraries' chunk size.
const CHUNK: u64 = MIB as u64;
/// Files and streams whose size matters: over GHCR's 4 MiB `PATCH` cap, and two chunks
/// at ECR's 5 MiB minimum.
const BIG: usize = 5 * MIB + 12345;
/// The CLI's chunked push: two of its 8 MiB chunks.
const CLI_CHUNKED: usize = 8 * MIB + 12345;
/// Blobs whose size does not matter (several reads of the relay buffers).
const SMALL: usize = 300_000 + 7;
const SIG_TYPE: &str = "application/vnd.example.sig";

/// Who runs the scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    Ureq,
    Hyper,
    Cli,
}

impl Client {
    const ALL: [Client; 3] = [Client::Ureq, Client::Hyper, Client::Cli];

    fn name(self) -> &'static str {
        match self {
            Client::Ureq => "ureq",
            Client::Hyper => "hyper",
            Client::Cli => "cli",
        }
    }

    fn kind(self) -> Option<Kind> {
        match self {
            Client::Ureq => Some(Kind::Ureq),
            Client::Hyper => Some(Kind::Hyper),
            Client::Cli => None,
        }
    }
}

/// How a scenario went wrong.
#[derive(Clone, Debug)]
enum Failed {
    /// dxf refused or failed, with one clear line.
    Dxf(String),
    /// Anything else: a wrong result, an unclear error.
    Wrong(String),
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Dxf(e) => write!(f, "dxf: {}", e.trim_start_matches("dxf: ")),
            Failed::Wrong(e) => write!(f, "wrong: {e}"),
        }
    }
}

/// A scenario's result: a note on success.
type Out = Result<String, Failed>;

fn wrong<T>(what: impl Into<String>) -> Result<T, Failed> {
    Err(Failed::Wrong(what.into()))
}

/// A library error as a [`Failed`]: clear when it is one line.
fn lib_err(e: impl std::fmt::Display) -> Failed {
    let text = e.to_string();
    if text.contains('\n') || text.is_empty() {
        Failed::Wrong(format!("unclear error: {text:?}"))
    } else {
        Failed::Dxf(text)
    }
}

/// What a scenario should do against a target.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expect {
    Works,
    /// Fails with a clear error naming this status.
    Refused(u16),
}

fn expectation(t: &Target, scenario: &str, client: Client) -> Expect {
    let refused = |code: Option<u16>| code.map_or(Expect::Works, Expect::Refused);
    let Refuses {
        delete,
        tag_list,
        chunked_uploads,
        opaque_config,
    } = t.refuses;
    match scenario {
        // A stream of unknown length, or a file hashed while it is sent, can only go in
        // chunks: the digest a monolithic PUT needs up front is known at the end — unless
        // the stream fits in the first chunk, which is kept until acknowledged (the CLI's
        // 8 MiB; the libraries here use 1 MiB).
        "push stdin" if client == Client::Cli && BIG < 8 * MIB => Expect::Works,
        "push stdin" | "single pass" => refused(chunked_uploads),
        "pull anonymously" if !t.anonymous_pull => Expect::Refused(401),
        "alias" => refused(opaque_config),
        "list aliases" => refused(tag_list),
        "del alias" | "del alias --only" => refused(delete),
        _ => Expect::Works,
    }
}

/// Everything a scenario runs with.
struct Ctx<'a> {
    target: &'a Target,
    client: Client,
    lib: Option<Arc<dyn CopyAdapter>>,
    /// The fault proxy in front of the target, if any.
    proxy: Option<&'a FaultProxy>,
    /// The registry behind the target, if any (plain http, anonymous).
    backing: Option<&'a TestRegistry>,
    dir: PathBuf,
}

/// The libraries' settings for `t` (1 MiB chunks, default retries).
fn settings(t: &Target) -> Settings {
    Settings {
        host: t.host.clone(),
        insecure: t.insecure,
        tls: match &t.ca {
            Some(ca) => Tls::CaBundle(ca.clone()),
            None => Tls::WebPki,
        },
        credentials: match &t.credentials {
            Some((username, password)) => Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            None => Credentials::None,
        },
        token: None,
        chunk_size: Some(CHUNK),
        timeout: Some(Duration::from_secs(30)),
        retries: RetryPolicy::default(),
        interrupt: Interrupt::new(),
        blob_cache: None,
    }
}

/// How a file is pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Monolithic,
    Chunked,
    SinglePass,
}

impl Ctx<'_> {
    fn lib(&self) -> &dyn CopyAdapter {
        &**self.lib.as_ref().expect("a library client")
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    /// Runs `dxf args` with the target's environment plus `extra` (`None` removes a
    /// variable): stdout on success, else its one-line error.
    fn dxf(
        &self,
        args: &[&str],
        extra: &[(&str, Option<&str>)],
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, Failed> {
        let run = self.dxf_run(args, extra, stdin);
        if run.code == 0 {
            return Ok(run.stdout);
        }
        let err = run.stderr.trim_end_matches('\n');
        if err.lines().count() == 1
            && err.starts_with("dxf: ")
            && !err.contains("panicked")
            && run.stdout.is_empty()
        {
            Err(Failed::Dxf(err.to_owned()))
        } else {
            wrong(format!(
                "exit {}, unclear error: {:?}",
                run.code, run.stderr
            ))
        }
    }

    fn dxf_run(&self, args: &[&str], extra: &[(&str, Option<&str>)], stdin: Option<&[u8]>) -> Run {
        let mut env = self.target.dxf_env();
        env.push((
            "DXF_STATE_DIR".into(),
            self.dir.join("state").display().to_string(),
        ));
        env.push(("DXF_TIMEOUT".into(), "30".into()));
        let mut cmd = clean_command(dxf_bin(), env, extra, stdin.is_some());
        cmd.args(args);
        run_command(cmd, stdin)
    }

    /// A client straight to the registry behind the target (or, without one, the target
    /// itself through dxf-ureq): for putting things in place and looking at them.
    fn seeder(&self) -> Arc<dyn super::adapter::Adapter> {
        match self.backing {
            Some(reg) => connect(Kind::Ureq, &Settings::for_registry(reg)),
            None => connect(Kind::Ureq, &settings(self.target)),
        }
    }

    fn seed_blob(&self, repo: &str, data: &[u8]) -> Result<Digest, Failed> {
        match self.seeder().push_reader(repo, data, Push::new()) {
            Ok(pushed) => Ok(pushed.digest),
            Err(e) => wrong(format!("putting a blob in place in {repo}: {e}")),
        }
    }

    /// An OCI alias of `blobs` (every registry takes that form), put in place directly.
    fn seed_alias(&self, repo: &str, alias: &str, blobs: &[&[u8]]) -> Result<Vec<Digest>, Failed> {
        let digests = blobs
            .iter()
            .map(|b| self.seed_blob(repo, b))
            .collect::<Result<Vec<_>, _>>()?;
        let pairs: Vec<_> = digests.iter().map(|d| (d.clone(), None)).collect();
        match self
            .seeder()
            .set_alias_oci(repo, alias, &pairs, &OciArtifactOptions::default())
        {
            Ok(_) => Ok(digests),
            Err(e) => wrong(format!("putting {repo}:{alias} in place: {e}")),
        }
    }

    /// Whether the registry holds `blob` in `repo` (asked behind the target: distribution
    /// checks a blob's digest when an upload is committed, so a `HEAD` of the digest with
    /// the right length says it holds exactly these bytes).
    fn holds(&self, repo: &str, blob: &Blob) -> Result<(), Failed> {
        let d = blob.digest.as_str();
        let len = blob.data.len() as u64;
        let Some(reg) = self.backing else {
            let got = self
                .seeder()
                .pull(repo, &blob.digest, Some(len))
                .map_err(|e| Failed::Wrong(format!("{d} not in {repo}: {e}")))?;
            return match got.1 {
                Ok(bytes) if bytes == blob.data => Ok(()),
                other => wrong(format!("{d} in {repo} reads back wrong: {other:?}")),
            };
        };
        let path = format!("/v2/{repo}/blobs/{d}");
        let head = direct(&reg.host(), "HEAD", &path).map_err(|e| Failed::Wrong(e.to_string()))?;
        let size = head
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        match (head.status, size) {
            (200, Some(n)) if n == len => Ok(()),
            (s, n) => wrong(format!(
                "{d} ({len} bytes) is not in {repo}: HEAD {s}, {n:?} bytes"
            )),
        }
    }

    /// The manifest `repo:alias` as stored (read behind the target).
    fn manifest(&self, repo: &str, alias: &str) -> Result<Vec<u8>, Failed> {
        match self.seeder().get_manifest(repo, alias, None) {
            Ok(PerPlatform::Single(m)) => Ok(m),
            Ok(other) => wrong(format!("{repo}:{alias}: {other:?}")),
            Err(e) => wrong(format!("{repo}:{alias}: {e}")),
        }
    }

    fn push_path(&self, repo: &str, path: &Path, how: How) -> Result<String, Failed> {
        if self.client == Client::Cli {
            let p = path.display().to_string();
            let mut args = vec!["push-blob"];
            match how {
                How::Monolithic => {}
                How::Chunked => args.push("--resumable"),
                How::SinglePass => args.push("--single-pass"),
            }
            args.extend([repo, p.as_str()]);
            return self.dxf(&args, &[], None).map(|out| text(&out));
        }
        let push = Push {
            chunked: how == How::Chunked,
            single_pass: how == How::SinglePass,
            ..Push::new()
        };
        let pushed = self.lib().push_path(repo, path, push).map_err(lib_err)?;
        Ok(pushed.digest.as_str().to_owned())
    }

    fn get_alias(&self, repo: &str, alias: &str) -> Result<Vec<String>, Failed> {
        if self.client == Client::Cli {
            let out = self.dxf(&["get-alias", repo, alias], &[], None)?;
            return Ok(lines(&out));
        }
        match self.lib().get_alias(repo, alias, None).map_err(lib_err)? {
            PerPlatform::Single(layers) => Ok(layers
                .into_iter()
                .map(|(d, _)| d.as_str().to_owned())
                .collect()),
            other => wrong(format!("not one platform: {other:?}")),
        }
    }
}

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// Test data and its digest (hashed once: hashing is slow in debug builds).
struct Blob {
    data: Vec<u8>,
    digest: Digest,
}

impl Blob {
    fn random(len: usize, seed: u64) -> Blob {
        Blob::of(random_bytes(len, seed))
    }

    fn of(data: Vec<u8>) -> Blob {
        // ring's SHA-256 (assembly) rather than the sha2 crate, slow unoptimized.
        let hash = ring::digest::digest(&ring::digest::SHA256, &data);
        let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let digest = digest(&format!("sha256:{hex}"));
        Blob { data, digest }
    }

    fn hex(&self) -> String {
        self.digest.as_str().to_owned()
    }
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).trim_end().to_owned()
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), Failed> {
    if got == want {
        Ok(())
    } else {
        wrong(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn strs(digests: &[Digest]) -> Vec<String> {
    digests.iter().map(|d| d.as_str().to_owned()).collect()
}

// ---- The scenarios ---------------------------------------------------------------------

/// A file, pushed the default way (python-dxf's: one monolithic `PUT`).
fn push_file(c: &Ctx) -> Out {
    let blob = Blob::random(2 * MIB + 5, 1);
    let path = c.file("file.bin", &blob.data);
    let d = c.push_path("p/file", &path, How::Monolithic)?;
    same("digest", d, blob.hex())?;
    c.holds("p/file", &blob)?;
    Ok(String::new())
}

/// A file in chunks (the CLI's chunked push is `--resumable`, 8 MiB chunks).
fn push_chunked(c: &Ctx) -> Out {
    let len = if c.client == Client::Cli {
        CLI_CHUNKED
    } else {
        BIG
    };
    let blob = Blob::random(len, 2);
    let path = c.file("chunked.bin", &blob.data);
    let d = c.push_path("p/chunked", &path, How::Chunked)?;
    same("digest", d, blob.hex())?;
    c.holds("p/chunked", &blob)?;
    Ok(String::new())
}

/// A stream of unknown length (the CLI's standard input).
fn push_stdin(c: &Ctx) -> Out {
    let blob = Blob::random(BIG, 3);
    let d = if c.client == Client::Cli {
        text(&c.dxf(&["push-blob", "p/stdin", "-"], &[], Some(&blob.data))?)
    } else {
        let pushed = c
            .lib()
            .push_reader("p/stdin", &blob.data, Push::new())
            .map_err(lib_err)?;
        pushed.digest.as_str().to_owned()
    };
    same("digest", d, blob.hex())?;
    c.holds("p/stdin", &blob)?;
    Ok(String::new())
}

/// A file hashed while it is sent.
fn single_pass(c: &Ctx) -> Out {
    let blob = Blob::random(BIG, 4);
    let path = c.file("single.bin", &blob.data);
    let d = c.push_path("p/single", &path, How::SinglePass)?;
    same("digest", d, blob.hex())?;
    c.holds("p/single", &blob)?;
    Ok(String::new())
}

/// A chunked push cut between two chunks (the process dies), continued by a second run
/// from its checkpoint (libraries: `on_checkpoint` / `resume_from`; CLI: `--resumable`
/// run again). Without a proxy to cut it, the push just runs resumable to the end.
fn resumable(c: &Ctx) -> Out {
    let repo = "p/resume";
    // The libraries' chunks grow to 5 MiB at ECR: two of them; the CLI's is 8 MiB.
    let len = if c.client == Client::Cli {
        2 * MIB
    } else {
        BIG
    };
    let blob = Blob::random(len, 5);
    let path = c.file("resume.bin", &blob.data);
    // The libraries' second PATCH dies before any of its body went through; the CLI's
    // first (8 MiB chunks: one PATCH for this file).
    let skip = usize::from(c.client != Client::Cli);
    if let Some(proxy) = c.proxy {
        proxy.add(Rule::on("PATCH", "/blobs/uploads/", Fault::CloseRequestAfter(0)).skip(skip));
    }
    let result = resume_twice(c, repo, &path, &blob.hex());
    if let Some(proxy) = c.proxy {
        proxy.clear();
    }
    let note = result?;
    c.holds(repo, &blob)?;
    Ok(note)
}

fn resume_twice(c: &Ctx, repo: &str, path: &Path, d: &str) -> Out {
    if c.client == Client::Cli {
        let p = path.display().to_string();
        let args = ["push-blob", "--resumable", repo, p.as_str()];
        match c.dxf(&args, &[("DXF_RETRIES", Some("0"))], None) {
            Ok(out) => {
                same("digest", text(&out), d.to_owned())?;
                return Ok("not cut".into());
            }
            Err(Failed::Dxf(e)) if e.contains("run the same command again") => {}
            Err(e) => return Err(e),
        }
        let out = c.dxf(&args, &[], None)?;
        same("digest", text(&out), d.to_owned())?;
        let left = std::fs::read_dir(c.dir.join("state"))
            .map(|r| r.count())
            .unwrap_or(0);
        same("state files left", left, 0)?;
        return Ok("cut, continued".into());
    }
    let mut never = settings(c.target);
    never.retries = RetryPolicy::never();
    let once = connect_copy(c.client.kind().unwrap(), &never);
    let mut saved: Vec<UploadCheckpoint> = Vec::new();
    let mut save = |cp: &UploadCheckpoint| saved.push(cp.clone());
    let push = Push {
        digest: Some(digest(d)),
        chunked: true,
        on_checkpoint: Some(&mut save),
        ..Push::new()
    };
    let first = once.push_path(repo, path, push);
    drop(once);
    let e = match first {
        Ok(pushed) => {
            same("digest", pushed.digest.as_str().to_owned(), d.to_owned())?;
            return Ok("not cut".into());
        }
        Err(e) => e,
    };
    let Some(last) = saved.last().cloned() else {
        return Err(lib_err(e));
    };
    let push = Push {
        digest: Some(digest(d)),
        chunked: true,
        resume_from: Some(last.clone()),
        ..Push::new()
    };
    let pushed = c.lib().push_path(repo, path, push).map_err(lib_err)?;
    same("digest", pushed.digest.as_str().to_owned(), d.to_owned())?;
    Ok(format!("cut at {}, continued", last.offset))
}

/// A blob read back, verified.
fn pull(c: &Ctx) -> Out {
    let blob = Blob::random(SMALL, 6);
    c.seed_blob("p/pull", &blob.data)?;
    pull_as(c, "p/pull", &blob, false)
}

/// The same without credentials.
fn pull_anonymously(c: &Ctx) -> Out {
    let blob = Blob::random(1000, 7);
    c.seed_blob("p/anon", &blob.data)?;
    pull_as(c, "p/anon", &blob, true)
}

fn pull_as(c: &Ctx, repo: &str, blob: &Blob, anonymous: bool) -> Out {
    let len = blob.data.len() as u64;
    let got = if c.client == Client::Cli {
        let anon: &[(&str, Option<&str>)] = if anonymous {
            &[("DXF_USERNAME", None), ("DXF_PASSWORD", None)]
        } else {
            &[]
        };
        c.dxf(&["pull-blob", repo, blob.digest.as_str()], anon, None)?
    } else {
        let mut s = settings(c.target);
        if anonymous {
            s.credentials = Credentials::None;
        }
        let client = connect_copy(c.client.kind().unwrap(), &s);
        let (size, read) = client
            .pull(repo, &blob.digest, Some(len))
            .map_err(lib_err)?;
        same("size", size, Some(len))?;
        read.map_err(lib_err)?
    };
    if got != blob.data {
        return wrong(format!("{} bytes read back, not the blob", got.len()));
    }
    Ok(String::new())
}

/// A python-dxf alias (its config is the first blob): set, read back.
fn alias(c: &Ctx) -> Out {
    let repo = "p/alias";
    let (a, b) = (random_bytes(1000, 8), random_bytes(10, 9));
    let digests = [c.seed_blob(repo, &a)?, c.seed_blob(repo, &b)?];
    if c.client == Client::Cli {
        c.dxf(
            &[
                "set-alias",
                repo,
                "v1",
                digests[0].as_str(),
                digests[1].as_str(),
            ],
            &[],
            None,
        )?;
    } else {
        c.lib().set_alias(repo, "v1", &digests).map_err(lib_err)?;
    }
    same("alias", c.get_alias(repo, "v1")?, strs(&digests))?;
    Ok(String::new())
}

/// Aliases listed.
fn list_aliases(c: &Ctx) -> Out {
    let repo = "p/list";
    c.seed_alias(repo, "v1", &[b"one"])?;
    c.seed_alias(repo, "v2", &[b"two"])?;
    let mut names = if c.client == Client::Cli {
        lines(&c.dxf(&["list-aliases", repo], &[], None)?)
    } else {
        c.lib().list_aliases(repo, None).map_err(lib_err)?
    };
    names.sort();
    same("aliases", names, vec!["v1".to_owned(), "v2".to_owned()])?;
    Ok(String::new())
}

/// An alias deleted: it is gone, its blobs stay.
fn del_alias(c: &Ctx) -> Out {
    let repo = "p/del";
    let blob = Blob::of(b"deleted alias".to_vec());
    let digests = c.seed_alias(repo, "gone", &[&blob.data])?;
    if c.client == Client::Cli {
        let out = c.dxf(&["del-alias", repo, "gone"], &[], None)?;
        same("deleted blobs", lines(&out), strs(&digests))?;
    } else {
        c.lib().del_alias(repo, "gone").map_err(lib_err)?;
    }
    if c.seeder().get_manifest(repo, "gone", None).is_ok() {
        return wrong("the alias is still there");
    }
    c.holds(repo, &blob)?;
    Ok(String::new())
}

/// One of two aliases on a manifest deleted (`del-alias --only`): the other stays.
fn del_alias_only(c: &Ctx) -> Out {
    let repo = "p/del-only";
    c.seed_alias(repo, "gone", &[b"one of two aliases"])?;
    let manifest = c.manifest(repo, "gone")?;
    c.seeder()
        .set_manifest(repo, "kept", &manifest)
        .map_err(|e| Failed::Wrong(e.to_string()))?;
    if c.client == Client::Cli {
        c.dxf(&["del-alias", "--only", repo, "gone"], &[], None)?;
    } else {
        c.lib().del_alias_only(repo, "gone").map_err(lib_err)?;
    }
    if c.seeder().get_manifest(repo, "gone", None).is_ok() {
        return wrong("the alias is still there");
    }
    same("the other alias", c.manifest(repo, "kept")?, manifest)?;
    Ok(String::new())
}

/// An OCI artifact alias (`set-alias --oci`: the empty config `{}` is pushed), read back.
fn oci_alias(c: &Ctx) -> Out {
    let repo = "p/oci";
    let data = random_bytes(3000, 10);
    let d = c.seed_blob(repo, &data)?;
    if c.client == Client::Cli {
        let path = c.file("oci.bin", &data).display().to_string();
        c.dxf(&["set-alias", "--oci", repo, "art", &path], &[], None)?;
    } else {
        let blobs = [(d.clone(), Some("oci.bin".to_owned()))];
        c.lib()
            .set_alias_oci(repo, "art", &blobs, &OciArtifactOptions::default())
            .map_err(lib_err)?;
    }
    same(
        "alias",
        c.get_alias(repo, "art")?,
        vec![d.as_str().to_owned()],
    )?;
    c.holds(repo, &Blob::of(b"{}".to_vec()))?;
    Ok(String::new())
}

/// An artifact (a file) attached to an alias, then listed by `referrers` (the registry
/// has no referrers API: dxf keeps the `sha256-<hex>` tag's index).
fn attach_referrers(c: &Ctx) -> Out {
    let repo = "p/attach";
    // A python-dxf alias as the subject (so the empty config `{}` is not there yet), unless
    // the registry takes none of those.
    if c.target.refuses.opaque_config.is_some() {
        c.seed_alias(repo, "subject", &[b"the subject"])?;
    } else {
        let d = c.seed_blob(repo, b"the subject")?;
        if let Err(e) = c.seeder().set_alias(repo, "subject", &[d]) {
            return wrong(format!("putting {repo}:subject in place: {e}"));
        }
    }
    let sig = Blob::random(500, 11);
    let path = c.file("sig.bin", &sig.data);
    if c.client == Client::Cli {
        let p = path.display().to_string();
        let out = c.dxf(
            &["attach", "--artifact-type", SIG_TYPE, repo, "subject", &p],
            &[],
            None,
        )?;
        let attached = text(&out);
        let out = c.dxf(&["referrers", repo, "subject"], &[], None)?;
        same(
            "referrers",
            lines(&out),
            vec![format!("{attached} {SIG_TYPE}")],
        )?;
    } else {
        let lib = c.lib();
        let pushed = lib.push_path(repo, &path, Push::new()).map_err(lib_err)?;
        let mut descriptor = BlobDescriptor::new(pushed.digest, sig.data.len() as u64);
        descriptor.title = Some("sig.bin".into());
        let options = OciArtifactOptions {
            artifact_type: SIG_TYPE.into(),
            ..OciArtifactOptions::default()
        };
        let attached = lib
            .attach(repo, "subject", &[descriptor], &options)
            .map_err(lib_err)?;
        let list = lib.referrers(repo, "subject", None).map_err(lib_err)?;
        let got: Vec<_> = list
            .manifests
            .iter()
            .map(|m| (m.digest.clone(), m.artifact_type.clone()))
            .collect();
        same(
            "referrers",
            got,
            vec![(attached.digest, Some(SIG_TYPE.to_owned()))],
        )?;
    }
    c.holds(repo, &sig)?;
    Ok(String::new())
}

/// An alias copied to another repository of the same registry (blobs mounted, or uploaded
/// when the mount is refused).
fn copy_within(c: &Ctx) -> Out {
    copy_alias(c, "p/copy-src", "p/copy-dst", false)
}

/// An alias copied with `--to` (here the same registry, reached as a second one: blobs
/// streamed from one to the other, never mounted).
fn copy_to(c: &Ctx) -> Out {
    copy_alias(c, "p/copy-to-src", "p/copy-to-dst", true)
}

fn copy_alias(c: &Ctx, src: &str, dst: &str, to: bool) -> Out {
    let a = Blob::random(SMALL, 12 + u64::from(to));
    let b = Blob::random(77, 14);
    c.seed_alias(src, "v1", &[&a.data, &b.data])?;
    let manifest = c.manifest(src, "v1")?;
    let copied = if c.client == Client::Cli {
        let from = format!("{src}:v1");
        let out = if to {
            let env = c.target.dxf_to_env();
            let env: Vec<(&str, Option<&str>)> = env
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_str())))
                .collect();
            c.dxf(&["copy", "--to", &c.target.host, &from, dst], &env, None)?
        } else {
            c.dxf(&["copy", &from, dst], &[], None)?
        };
        text(&out)
    } else {
        let s = settings(c.target);
        let report = c
            .lib()
            .copy(src, "v1", to.then_some(&s), dst, None, 2)
            .map_err(lib_err)?;
        report.digest.as_str().to_owned()
    };
    same("manifest digest", copied, sha256(&manifest))?;
    same("copied manifest", c.manifest(dst, "v1")?, manifest)?;
    c.holds(dst, &a)?;
    c.holds(dst, &b)?;
    Ok(String::new())
}

/// One scenario: run it against a context.
type Scenario = fn(&Ctx) -> Out;

/// The scenario list, in table order.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("push file", push_file),
    ("push chunked", push_chunked),
    ("push stdin", push_stdin),
    ("single pass", single_pass),
    ("resumable", resumable),
    ("pull", pull),
    ("pull anonymously", pull_anonymously),
    ("alias", alias),
    ("list aliases", list_aliases),
    ("del alias", del_alias),
    ("del alias --only", del_alias_only),
    ("oci alias", oci_alias),
    ("attach + referrers", attach_referrers),
    ("copy", copy_within),
    ("copy --to", copy_to),
];

/// One scenario's outcome.
#[derive(Debug)]
pub(crate) struct Row {
    scenario: &'static str,
    expect: Expect,
    got: Out,
    secs: f64,
}

impl Row {
    /// Whether the scenario did what it should against its target.
    pub(crate) fn passed(&self) -> bool {
        match (&self.expect, &self.got) {
            (Expect::Works, Ok(_)) => true,
            (Expect::Refused(code), Err(Failed::Dxf(e))) => e.contains(&code.to_string()),
            _ => false,
        }
    }

    /// The matrix cell: `ok`, `refused NNN`, or `FAIL`.
    pub(crate) fn cell(&self) -> String {
        match (&self.expect, self.passed()) {
            (Expect::Works, true) => "ok".into(),
            (Expect::Refused(code), true) => format!("refused {code}"),
            (_, false) => "FAIL".into(),
        }
    }
}

/// Runs every scenario against `target` with `client`, each in a fresh directory.
pub(crate) fn run_scenarios(
    target: &Target,
    client: Client,
    proxy: Option<&FaultProxy>,
    backing: Option<&TestRegistry>,
) -> Vec<Row> {
    let lib = client.kind().map(|k| connect_copy(k, &settings(target)));
    let mut rows = Vec::new();
    for (scenario, run) in SCENARIOS {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            target,
            client,
            lib: lib.clone(),
            proxy,
            backing,
            dir: dir.path().to_path_buf(),
        };
        let start = Instant::now();
        let got = run(&ctx);
        rows.push(Row {
            scenario,
            expect: expectation(target, scenario, client),
            got,
            secs: start.elapsed().as_secs_f64(),
        });
    }
    rows
}

/// When this test process started (columns written before are from another run).
fn process_start() -> SystemTime {
    static START: OnceLock<SystemTime> = OnceLock::new();
    *START.get_or_init(SystemTime::now)
}

fn matrix_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("personality-matrix")
}

/// Writes this column of the matrix; once every column of this run is there, prints the
/// whole matrix (markdown, one cell per personality: `ureq / hyper / cli` when they
/// differ).
fn record_column(p: Personality, client: Client, rows: &[Row]) {
    let dir = matrix_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let cells: Vec<String> = rows.iter().map(Row::cell).collect();
    let file = dir.join(format!("{}.{}", p.name(), client.name()));
    std::fs::write(&file, cells.join("\n")).unwrap();
    let read = |p: Personality, c: Client| -> Option<Vec<String>> {
        let f = dir.join(format!("{}.{}", p.name(), c.name()));
        let fresh = std::fs::metadata(&f)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= process_start());
        fresh.then(|| {
            std::fs::read_to_string(&f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        })
    };
    let mut columns = Vec::new();
    for p in Personality::ALL {
        let mut per_client = Vec::new();
        for c in Client::ALL {
            match read(p, c) {
                Some(cells) if cells.len() == SCENARIOS.len() => per_client.push(cells),
                _ => return,
            }
        }
        columns.push(per_client);
    }
    let mut out = String::from("| scenario |");
    for p in Personality::ALL {
        out += &format!(" {} |", p.name());
    }
    out += "\n|---|";
    out += &"---|".repeat(Personality::ALL.len());
    out += "\n";
    for (i, (scenario, _)) in SCENARIOS.iter().enumerate() {
        out += &format!("| {scenario} |");
        for per_client in &columns {
            let cells: Vec<&str> = per_client.iter().map(|c| c[i].as_str()).collect();
            let cell = if cells.iter().all(|c| *c == cells[0]) {
                cells[0].to_owned()
            } else {
                cells.join(" / ")
            };
            out += &format!(" {cell} |");
        }
        out += "\n";
    }
    eprintln!("\nPersonality matrix (cells: ureq / hyper / cli when they differ):\n\n{out}");
}

/// One line per scenario: its cell, time, and what happened (with what was expected when
/// that is not what happened).
pub(crate) fn report(rows: &[Row]) -> String {
    let mut report = String::new();
    for row in rows {
        let detail = match &row.got {
            Ok(note) if note.is_empty() => String::new(),
            Ok(note) => format!(" ({note})"),
            Err(e) => format!(" — {e}"),
        };
        let expected = match (&row.expect, row.passed()) {
            (_, true) => String::new(),
            (Expect::Works, false) => " [expected: works]".into(),
            (Expect::Refused(code), false) => format!(" [expected: a clear error naming {code}]"),
        };
        report += &format!(
            "  {:<20} {:<12} {:>5.2}s{detail}{expected}\n",
            row.scenario,
            row.cell(),
            row.secs
        );
    }
    report
}

/// The scenarios that did not do what they should.
pub(crate) fn failed(rows: &[Row]) -> Vec<&'static str> {
    rows.iter()
        .filter(|r| !r.passed())
        .map(|r| r.scenario)
        .collect()
}

/// Every scenario under `p` with `client`.
fn personality(p: Personality, client: Client) {
    process_start();
    let start = Instant::now();
    let emulated = Emulated::start(p);
    let target = emulated.target();
    let rows = run_scenarios(
        &target,
        client,
        Some(emulated.proxy()),
        Some(emulated.registry()),
    );
    let hits = emulated.hits();
    let unmet: Vec<Quirk> = p
        .quirks()
        .iter()
        .copied()
        .filter(|q| !hits.contains_key(q))
        .collect();
    let mut report = format!(
        "\n== {} × {} ({:.1} s)\n{}  quirks met: {hits:?}\n",
        p.name(),
        client.name(),
        start.elapsed().as_secs_f64(),
        report(&rows)
    );
    if !unmet.is_empty() {
        report += &format!("  quirks NOT met: {unmet:?}\n");
    }
    eprint!("{report}");
    record_column(p, client, &rows);
    let failed = failed(&rows);
    assert!(
        failed.is_empty() && unmet.is_empty(),
        "{} × {}: failed {failed:?}, quirks not met {unmet:?}{report}",
        p.name(),
        client.name()
    );
}

/// `mod <personality> { fn ureq(); fn hyper(); fn cli() }`.
macro_rules! personalities {
    ($($name:ident => $p:ident),* $(,)?) => {$(
        mod $name {
            use super::{personality, Client, Personality};
            #[test]
            fn ureq() {
                personality(Personality::$p, Client::Ureq);
            }
            #[test]
            fn hyper() {
                personality(Personality::$p, Client::Hyper);
            }
            #[test]
            fn cli() {
                personality(Personality::$p, Client::Cli);
            }
        }
    )*};
}

personalities!(
    distribution => Distribution,
    ghcr => Ghcr,
    ecr => Ecr,
    gar => Gar,
    acr => Acr,
    harbor => Harbor,
    quay => Quay,
    docker_hub => DockerHub,
    container_registry => ContainerRegistry,
);
