//! `dxf push` / `dxf pull`: files and directories in one step, against the real registry —
//! a round trip that keeps contents, modes, symbolic links and empty directories; oras-py
//! (PyPI `oras` 0.2.43, installed by `scripts/install-deps`) pulling what dxf pushed and
//! dxf pulling what oras-py pushed; and hostile artifacts (titles and tar entries that
//! would land outside the output directory, collisions) refused with one line, exit 1,
//! and nothing written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use dxf_tests::cli::{dxf, dxf_with, random_bytes};
use dxf_tests::{Mode, TestRegistry};
use dxf_ureq::dxf_proto::client::{directory_layer, file_layer};
use dxf_ureq::dxf_proto::manifest::parse::Descriptor;
use dxf_ureq::dxf_proto::Digest;

/// A tree with what a directory layer must keep: nested files, an executable, an empty
/// directory, a relative symbolic link.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::write(root.join("a.txt"), b"alpha\n").unwrap();
    fs::write(root.join("sub/b.bin"), random_bytes(300_000, 7)).unwrap();
    fs::write(root.join("sub/deeper/c"), b"").unwrap();
    fs::write(root.join("run.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("sub/b.bin", root.join("link")).unwrap();
}

/// Every entry below `root`: relative path, kind, mode bits, contents or link target.
fn listing(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                let data = fs::read(&path).unwrap();
                format!(
                    "file {:o} {} {}",
                    meta.permissions().mode() & 0o777,
                    data.len(),
                    dxf_tests::cli::sha256(&data)
                )
            };
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn push_and_pull_round_trip_files_and_directories() {
    let reg = TestRegistry::start(Mode::Token);
    let dir = scratch();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let file = dir.path().join("notes.md");
    fs::write(&file, b"# notes\n").unwrap();
    let run = dxf(
        &reg,
        &[
            "push",
            "files/demo:v1",
            s(&file),
            s(&tree),
            "--annotation",
            "org.opencontainers.image.description=test",
        ],
    )
    .ok();
    let digest = run.out().trim().to_owned();
    assert!(digest.starts_with("sha256:"), "{run:#?}");
    // The manifest is what oras writes: titles, directory media type and unpack marks.
    let manifest = dxf(&reg, &["get-manifest", "files/demo", "v1"]).ok().out();
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "notes.md"
    );
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(
        layers[1]["annotations"]["org.opencontainers.image.title"],
        "tree"
    );
    assert_eq!(
        layers[1]["annotations"]["io.deis.oras.content.unpack"],
        "true"
    );
    assert_eq!(
        layers[1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        m["annotations"]["org.opencontainers.image.description"],
        "test"
    );
    // The digest printed is the manifest's.
    assert_eq!(dxf_tests::cli::sha256(manifest.as_bytes()), digest);

    let out = dir.path().join("out");
    let run = dxf(&reg, &["pull", "files/demo:v1", "-o", s(&out)]).ok();
    assert_eq!(run.out(), "notes.md\ntree\n");
    assert_eq!(fs::read(out.join("notes.md")).unwrap(), b"# notes\n");
    assert_eq!(listing(&out.join("tree")), listing(&tree));
    // Nothing else: no temporary or staging names left.
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["notes.md", "tree"]);

    // The wire trace reports each verified blob's size.
    let traced = dir.path().join("traced");
    let run = dxf_with(
        &reg,
        &["pull", "files/demo:v1", "-o", s(&traced)],
        &[("DXF_DEBUG", Some("1"))],
        None,
    )
    .ok();
    assert!(
        run.stderr.contains("dxf debug: < body: 8 bytes ("),
        "{}",
        run.stderr
    );

    // Pushing again uploads nothing new and gives the same artifact.
    let again = dxf(&reg, &["push", "files/demo:v2", s(&file)]).ok();
    assert!(again.out().starts_with("sha256:"));
    // Pulling over an existing directory is refused rather than merged.
    let run = dxf(&reg, &["pull", "files/demo:v1", "-o", s(&out)]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("exists"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn push_refuses_two_paths_with_one_title() {
    let reg = TestRegistry::start(Mode::Plain);
    let dir = scratch();
    fs::create_dir_all(dir.path().join("x")).unwrap();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("x/a.txt");
    fs::write(&a, b"1").unwrap();
    fs::write(&b, b"2").unwrap();
    let run = dxf(&reg, &["push", "r/dup:v1", s(&a), s(&b)]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.starts_with("dxf: "), "{}", run.stderr);
    assert!(run.stderr.contains("a.txt"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

/// An artifact whose layers are `layers` (blobs uploaded from `blobs`), stored as `alias`.
fn hostile(reg: &TestRegistry, repo: &str, alias: &str, blobs: &[&[u8]], layers: Vec<Descriptor>) {
    let config = reg_config(reg);
    let registry = dxf_ureq::Registry::new(&config).unwrap();
    let r = registry.repository(repo).unwrap();
    for blob in blobs {
        r.push_blob_reader(&mut &blob[..], dxf_ureq::PushOptions::new())
            .unwrap();
    }
    r.set_alias_layers(alias, layers, &Default::default())
        .unwrap();
}

fn reg_config(reg: &TestRegistry) -> dxf_ureq::Config {
    let mut c = dxf_ureq::Config::new(&reg.host());
    c.insecure = true;
    c
}

fn digest_of(data: &[u8]) -> Digest {
    Digest::parse(&dxf_tests::cli::sha256(data)).unwrap()
}

/// A gzip'd tar with raw entries: `(name, kind, link target, data)`; names are written as
/// they are (the tar crate refuses `..` through its own API).
fn evil_tar(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, kind, link, data) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = *kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        tar.extend_from_slice(&h);
        tar.extend_from_slice(data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.resize(tar.len() + 1024, 0);
    let mut gz = Vec::new();
    {
        let mut enc = GzipWriter::new(&mut gz);
        enc.write_all(&tar).unwrap();
        enc.finish();
    }
    gz
}

/// A minimal gzip writer (stored deflate blocks): enough for tests, no extra crate.
struct GzipWriter<'a> {
    out: &'a mut Vec<u8>,
    data: Vec<u8>,
}

impl<'a> GzipWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        GzipWriter {
            out,
            data: Vec::new(),
        }
    }

    fn finish(self) {
        let out = self.out;
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let chunks: Vec<&[u8]> = self.data.chunks(65535).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            out.push(u8::from(i + 1 == chunks.len()));
            let len = chunk.len() as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        out.extend_from_slice(&crc32(&self.data).to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
    }
}

impl Write for GzipWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `dxf pull` of `alias` into a fresh directory inside `dir`: exit 1, one line naming
/// `needle`, and nothing written (inside or next to the output directory).
#[track_caller]
fn assert_refused(reg: &TestRegistry, repo: &str, alias: &str, needle: &str) {
    let dir = scratch();
    let out = dir.path().join("out");
    let target = format!("{repo}:{alias}");
    let run = dxf(reg, &["pull", &target, "-o", s(&out)]);
    assert_eq!(run.code, 1, "{alias}: {run:#?}");
    assert!(run.stdout.is_empty(), "{alias}: {run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{alias}: {}", run.stderr);
    assert!(run.stderr.starts_with("dxf: "), "{alias}: {}", run.stderr);
    assert!(run.stderr.contains(needle), "{alias}: {}", run.stderr);
    let left: Vec<PathBuf> = fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{alias}: left {left:?}");
    let beside: Vec<PathBuf> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &out)
        .collect();
    assert!(beside.is_empty(), "{alias}: wrote {beside:?}");
}

#[test]
fn hostile_titles_and_archives_are_refused_and_nothing_is_written() {
    let reg = TestRegistry::start(Mode::Plain);
    let data: &[u8] = b"payload";
    let d = digest_of(data);
    for (alias, title) in [
        ("abs", "/tmp/dxf-evil"),
        ("up", "../evil"),
        ("deep", "a/../../evil"),
    ] {
        hostile(
            &reg,
            "evil/titles",
            alias,
            &[data],
            vec![file_layer(d.clone(), 7, title)],
        );
        assert_refused(&reg, "evil/titles", alias, "refusing");
    }
    hostile(
        &reg,
        "evil/titles",
        "twice",
        &[data],
        vec![
            file_layer(d.clone(), 7, "same"),
            file_layer(d.clone(), 7, "same"),
        ],
    );
    assert_refused(&reg, "evil/titles", "twice", "two layers");

    let tar_cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "other-top",
            evil_tar(&[("t/", b'5', "", b""), ("notes.md", b'0', "", b"x")]),
            "outside the layer's directory",
        ),
        (
            "dotdot",
            evil_tar(&[("t/../../evil", b'0', "", b"x")]),
            "refusing",
        ),
        (
            "absolute",
            evil_tar(&[("/tmp/dxf-evil-abs", b'0', "", b"x")]),
            "refusing",
        ),
        (
            "symlink-out",
            evil_tar(&[("t/", b'5', "", b""), ("t/l", b'2', "../../etc", b"")]),
            "link target",
        ),
        (
            "through-link",
            evil_tar(&[
                ("t/", b'5', "", b""),
                ("t/l", b'2', ".", b""),
                ("t/l/x", b'0', "", b"x"),
            ]),
            "refusing",
        ),
        (
            "device",
            evil_tar(&[("t/", b'5', "", b""), ("t/dev", b'3', "", b"")]),
            "refusing",
        ),
    ];
    for (alias, gz, needle) in &tar_cases {
        let layer = directory_layer(digest_of(gz), gz.len() as u64, "t", &digest_of(b""));
        hostile(&reg, "evil/tars", alias, &[gz], vec![layer]);
        assert_refused(&reg, "evil/tars", alias, needle);
    }
    assert!(!Path::new("/tmp/dxf-evil").exists());
    assert!(!Path::new("/tmp/dxf-evil-abs").exists());
}

/// Runs a Python snippet with oras-py against `reg` (plain http).
fn oras_py(reg: &TestRegistry, cwd: &Path, script: &str) {
    let full = format!(
        "import oras.client\nc = oras.client.OrasClient(hostname={host:?}, insecure=True)\n{script}",
        host = reg.host()
    );
    let out = Command::new("python3")
        .args(["-c", &full])
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras-py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn oras_py_pulls_what_dxf_pushed_and_dxf_pulls_what_oras_py_pushed() {
    let reg = TestRegistry::start(Mode::Plain);
    let host = reg.host();
    let dir = scratch();
    let src = dir.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let tree = src.join("tree");
    make_tree(&tree);
    fs::write(src.join("model.bin"), random_bytes(1_000_000, 3)).unwrap();

    // dxf push → oras-py pull.
    dxf(
        &reg,
        &["push", "interop/a:v1", s(&src.join("model.bin")), s(&tree)],
    )
    .ok();
    let oras_out = dir.path().join("oras-out");
    fs::create_dir_all(&oras_out).unwrap();
    oras_py(
        &reg,
        dir.path(),
        &format!(
            "c.pull(target={t:?}, outdir={o:?})",
            t = format!("{host}/interop/a:v1"),
            o = s(&oras_out)
        ),
    );
    assert_eq!(
        fs::read(oras_out.join("model.bin")).unwrap(),
        fs::read(src.join("model.bin")).unwrap()
    );
    assert_eq!(listing(&oras_out.join("tree")), listing(&tree));

    // oras-py push (paths relative to its working directory, as it requires) → dxf pull.
    oras_py(
        &reg,
        &src,
        &format!(
            "c.push(target={t:?}, files=['model.bin', 'tree'])",
            t = format!("{host}/interop/b:v1")
        ),
    );
    let out = dir.path().join("dxf-out");
    let run = dxf_with(&reg, &["pull", "interop/b:v1", "-o", s(&out)], &[], None).ok();
    assert_eq!(run.out(), "model.bin\ntree\n");
    assert_eq!(
        fs::read(out.join("model.bin")).unwrap(),
        fs::read(src.join("model.bin")).unwrap()
    );
    assert_eq!(listing(&out.join("tree")), listing(&tree));
}
