//! `push-blob --resumable` (or `DXF_RESUMABLE=1`): the checkpoints of a chunked upload kept
//! on disk, so that running the same command again after the push died continues it.
//!
//! **Where.** One directory ([`state_dir`]): `DXF_STATE_DIR` when set, else
//! `$XDG_STATE_HOME/dxf/uploads` (an absolute `XDG_STATE_HOME`, as the XDG spec asks), else
//! `$HOME/.local/state/dxf/uploads`. It is created when missing (mode 0700 on Unix). One
//! file per push, named by [`file_name`]: the hex SHA-256 of `host\nrepository\ndigest`, so
//! the same push finds it again and nothing else does.
//!
//! **What.** A small text file ([`render`], [`parse`]), seven lines each ending in `\n`,
//! in this order, a single space between key and value, and up to three optional ones
//! after them, in this order:
//!
//! ```text
//! dxf-upload-checkpoint 1
//! host localhost:5000
//! repo team/data
//! digest sha256:0123…
//! size 67108963
//! offset 33554432
//! location http://localhost:5000/v2/team/data/blobs/uploads/…?_state=…
//! max-chunk 4194304
//! strategy chunked
//! failed-resumes 1
//! ```
//!
//! `host` is `DXF_HOST` as given, `repo` the repository name as sent (`library/` added where
//! python-dxf adds it), `size` the file's length, `offset` the bytes the registry
//! acknowledged, `location` the upload session's URL. Values are printable ASCII without
//! spaces; numbers are plain decimal (no sign, no leading zero); `offset` is at most `size`;
//! `location` is an absolute `http`/`https` URL of at most 8 KiB. `max-chunk`, present
//! when the registry refused a larger chunk (`413`/`416`) during the push, is the chunk
//! size it learned (positive); the next run starts at that size instead of learning it
//! again ([`dxf_ureq::Registry::learn_upload_hints`]). `strategy`, present when the
//! registry refused one way of uploading during the push, is the way that is left:
//! `chunked` (a monolithic `PUT` refused, as container-registry does) or `monolithic` (a
//! `PATCH` refused, as GAR does). `failed-resumes` (positive) counts the runs that started
//! from this checkpoint and ended without a new one; at [`MAX_FAILED_RESUMES`] the file is
//! dropped, so a checkpoint that cannot be resumed is not kept forever. A file that breaks any of
//! these rules, or names another host, repository, digest or size than the push at hand, is
//! ignored and removed (the push starts afresh and writes its own).
//!
//! **How.** Written on every new checkpoint (after each acknowledged chunk) to a temporary
//! file in the same directory (`.<name>.tmp-<pid>-<n>`, mode 0600 on Unix: the location
//! may carry a session token) renamed over the old one, so a reader sees a whole file or
//! none. Not fsynced: after a power loss the file may be empty or older, which [`parse`]
//! rejects or the registry corrects (a resumed upload asks the registry what it holds and
//! never trusts the offset alone). Removed once the push succeeded; kept when it failed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use dxf_ureq::dxf_proto::{Digest, Sha256, UploadCheckpoint, UploadHints, MAX_URL_LEN};

/// The first line of a state file: the format and its version.
pub(crate) const MAGIC: &str = "dxf-upload-checkpoint 1";

/// Runs in a row that may start from one checkpoint and end without a new one, before it
/// is dropped (the next run starts afresh).
pub(crate) const MAX_FAILED_RESUMES: u32 = 3;

/// The largest state file read (a longer one is not ours).
const MAX_FILE_LEN: u64 = 16 * 1024;

/// The state directory below `XDG_STATE_HOME` (or `~/.local/state`).
const SUBDIR: &str = "dxf/uploads";

/// Temporary files created by this process so far (for unique names).
static TEMPS: AtomicU64 = AtomicU64::new(0);

/// Where upload state goes: `dxf_state_dir` (`DXF_STATE_DIR`) when given, else
/// `xdg_state_home/dxf/uploads` when that is absolute, else `home/.local/state/dxf/uploads`;
/// `None` when none of them is given (empty values count as not given).
pub(crate) fn state_dir(
    dxf_state_dir: Option<PathBuf>,
    xdg_state_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let given = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    given(&dxf_state_dir)
        .or_else(|| {
            given(&xdg_state_home)
                .filter(|p| p.is_absolute())
                .map(|p| p.join(SUBDIR))
        })
        .or_else(|| given(&home).map(|h| h.join(".local/state").join(SUBDIR)))
}

/// The state file name for a push of `digest` to `repo` at `host`: 64 hex digits.
pub(crate) fn file_name(host: &str, repo: &str, digest: &Digest) -> String {
    let mut h = Sha256::new();
    for part in [host, repo, digest.as_str()] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.finish().encoded().to_owned()
}

/// What a state file is about: the push it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    /// `DXF_HOST`.
    pub host: String,
    /// The repository name.
    pub repo: String,
    /// The blob's digest (`sha256:…`).
    pub digest: String,
    /// The file's length.
    pub size: u64,
}

/// Whether `value` can be a state file value: non-empty printable ASCII, no spaces.
fn storable(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether `location` is an upload URL worth continuing: an absolute `http`/`https` URL of
/// at most [`MAX_URL_LEN`] bytes.
fn valid_location(location: &str) -> bool {
    use dxf_ureq::dxf_proto::http::Uri;
    storable(location)
        && location.len() <= MAX_URL_LEN
        && location.parse::<Uri>().is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some()
        })
}

/// The one way of uploading a registry left after refusing the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Monolithic `PUT`s were refused.
    Chunked,
    /// `PATCH` chunks were refused.
    Monolithic,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::Chunked => "chunked",
            Strategy::Monolithic => "monolithic",
        }
    }
}

/// What a state file keeps: the checkpoint, and what the registry taught.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State {
    /// Where the upload stands.
    pub checkpoint: UploadCheckpoint,
    /// The largest chunk the registry took after refusing a larger one.
    pub max_chunk: Option<u64>,
    /// The way of uploading left after the registry refused the other.
    pub strategy: Option<Strategy>,
    /// Runs that started from this checkpoint and ended without a new one.
    pub failed_resumes: u32,
}

impl State {
    /// A fresh checkpoint, with what `hints` say the registry taught.
    pub(crate) fn new(checkpoint: UploadCheckpoint, hints: UploadHints) -> State {
        let strategy = if hints.monolithic_only {
            Some(Strategy::Monolithic)
        } else if hints.chunked_only {
            Some(Strategy::Chunked)
        } else {
            None
        };
        State {
            checkpoint,
            max_chunk: hints.max_chunk,
            strategy,
            failed_resumes: 0,
        }
    }

    /// The upload hints to give the registry client.
    pub(crate) fn hints(&self) -> UploadHints {
        UploadHints {
            max_chunk: self.max_chunk,
            monolithic_only: self.strategy == Some(Strategy::Monolithic),
            chunked_only: self.strategy == Some(Strategy::Chunked),
        }
    }
}

/// The state file's text for `state` of push `key`; `InvalidInput` when a value cannot be
/// written in the format (a host with a space, say).
pub(crate) fn render(key: &Key, state: &State) -> io::Result<String> {
    let cp = &state.checkpoint;
    let ok = storable(&key.host)
        && storable(&key.repo)
        && storable(&key.digest)
        && cp.offset <= key.size
        && valid_location(&cp.location)
        && state.max_chunk != Some(0);
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the checkpoint cannot be written as an upload state file",
        ));
    }
    let mut optional = String::new();
    if let Some(n) = state.max_chunk {
        optional.push_str(&format!("max-chunk {n}\n"));
    }
    if let Some(s) = state.strategy {
        optional.push_str(&format!("strategy {}\n", s.name()));
    }
    if state.failed_resumes > 0 {
        optional.push_str(&format!("failed-resumes {}\n", state.failed_resumes));
    }
    Ok(format!(
        "{MAGIC}\nhost {}\nrepo {}\ndigest {}\nsize {}\noffset {}\nlocation {}\n{optional}",
        key.host, key.repo, key.digest, key.size, cp.offset, cp.location
    ))
}

/// A plain decimal number: digits only, no leading zero (but `0`), fits a `u64`.
fn number(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// Parses a state file strictly (see the module documentation); `None` for anything else.
pub(crate) fn parse(text: &str) -> Option<(Key, State)> {
    let body = text.strip_suffix('\n')?;
    let mut lines = body.split('\n');
    if lines.next()? != MAGIC {
        return None;
    }
    let mut field = |key: &str| -> Option<&str> {
        let value = lines.next()?.strip_prefix(key)?.strip_prefix(' ')?;
        storable(value).then_some(value)
    };
    let host = field("host")?;
    let repo = field("repo")?;
    let digest = field("digest")?;
    let size = number(field("size")?)?;
    let offset = number(field("offset")?)?;
    let location = field("location")?.to_owned();
    let mut rest = lines.peekable();
    // The optional lines, each at most once, in their order.
    let mut optional = |key: &str| -> Option<Option<&str>> {
        match rest
            .peek()
            .and_then(|l| l.strip_prefix(key)?.strip_prefix(' '))
        {
            Some(value) => {
                rest.next();
                storable(value).then_some(Some(value))
            }
            None => Some(None),
        }
    };
    let positive = |v: Option<&str>| -> Option<Option<u64>> {
        match v {
            None => Some(None),
            Some(v) => number(v).filter(|&n| n > 0).map(Some),
        }
    };
    let max_chunk = positive(optional("max-chunk")?)?;
    let strategy = match optional("strategy")? {
        None => None,
        Some("chunked") => Some(Strategy::Chunked),
        Some("monolithic") => Some(Strategy::Monolithic),
        Some(_) => return None,
    };
    let failed_resumes = u32::try_from(positive(optional("failed-resumes")?)?.unwrap_or(0)).ok()?;
    if rest.next().is_some() || offset > size || !valid_location(&location) {
        return None;
    }
    Some((
        Key {
            host: host.to_owned(),
            repo: repo.to_owned(),
            digest: digest.to_owned(),
            size,
        },
        State {
            checkpoint: UploadCheckpoint { location, offset },
            max_chunk,
            strategy,
            failed_resumes,
        },
    ))
}

/// A new file at `path` (it must not exist), private to the user on Unix.
fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `text` to `dir/name` atomically: a temporary file in `dir`, renamed over it.
fn write_atomic(dir: &Path, name: &str, text: &str) -> io::Result<()> {
    let n = TEMPS.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let written = create_private(&temp)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .and_then(|()| fs::rename(&temp, dir.join(name)));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// The upload state directory, found usable.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    host: String,
}

impl Store {
    /// Creates `dir` if needed and checks that files can be created in it, for pushes to
    /// `host`.
    pub(crate) fn open(dir: &Path, host: &str) -> io::Result<Store> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
        let n = TEMPS.fetch_add(1, Ordering::Relaxed);
        let probe = dir.join(format!(".probe.tmp-{}-{n}", std::process::id()));
        drop(create_private(&probe)?);
        fs::remove_file(&probe)?;
        Ok(Store {
            dir: dir.to_owned(),
            host: host.to_owned(),
        })
    }

    /// The state of the push of `digest` (`size` bytes) to `repo`.
    pub(crate) fn entry(&self, repo: &str, digest: &Digest, size: u64) -> Entry<'_> {
        Entry {
            dir: &self.dir,
            name: file_name(&self.host, repo, digest),
            key: Key {
                host: self.host.clone(),
                repo: repo.to_owned(),
                digest: digest.as_str().to_owned(),
                size,
            },
        }
    }
}

/// One push's state file.
#[derive(Debug)]
pub(crate) struct Entry<'a> {
    dir: &'a Path,
    name: String,
    key: Key,
}

impl Entry<'_> {
    /// The file's path.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The checkpoint a failed earlier run of this push left, if its file parses and
    /// belongs to this push; a file that does not is removed.
    pub(crate) fn load(&self) -> Option<State> {
        let path = self.path();
        let mut text = String::new();
        let read = File::open(&path)
            .and_then(|f| f.take(MAX_FILE_LEN + 1).read_to_string(&mut text))
            .ok()?;
        match parse(&text) {
            Some((key, state)) if key == self.key && read as u64 <= MAX_FILE_LEN => Some(state),
            _ => {
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Replaces the file with `state`.
    pub(crate) fn save(&self, state: &State) -> io::Result<()> {
        write_atomic(self.dir, &self.name, &render(&self.key, state)?)
    }

    /// Removes the file (the push is done); a file already gone is fine.
    pub(crate) fn remove(&self) {
        let _ = fs::remove_file(self.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap()
    }

    fn key() -> Key {
        Key {
            host: "localhost:5000".into(),
            repo: "team/data".into(),
            digest: digest().as_str().into(),
            size: 1000,
        }
    }

    fn cp(offset: u64) -> State {
        State {
            checkpoint: UploadCheckpoint {
                location: "http://localhost:5000/v2/team/data/blobs/uploads/u-1?_state=x%3D".into(),
                offset,
            },
            max_chunk: None,
            strategy: None,
            failed_resumes: 0,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dxf-checkpoints-test-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn directory_precedence() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(state_dir(p("/s"), p("/x"), p("/h")), p("/s"));
        assert_eq!(state_dir(p(""), p("/x"), p("/h")), p("/x/dxf/uploads"));
        assert_eq!(
            state_dir(None, p(""), p("/h")),
            p("/h/.local/state/dxf/uploads")
        );
        // A relative XDG_STATE_HOME is invalid (XDG spec): ignored.
        assert_eq!(
            state_dir(None, p("rel"), p("/h")),
            p("/h/.local/state/dxf/uploads")
        );
        assert_eq!(state_dir(p("rel/dir"), None, None), p("rel/dir"));
        assert_eq!(state_dir(None, None, p("")), None);
        assert_eq!(state_dir(None, None, None), None);
    }

    #[test]
    fn names_depend_on_host_repo_and_digest() {
        let d = digest();
        let n = file_name("h", "r", &d);
        assert_eq!(n.len(), 64);
        assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(n, file_name("h", "r", &d));
        assert_ne!(n, file_name("h2", "r", &d));
        assert_ne!(n, file_name("h", "r2", &d));
        assert_ne!(file_name("h", "r/x", &d), file_name("h\nr", "x", &d));
        let other = Digest::parse(&format!("sha256:{}", "cd".repeat(32))).unwrap();
        assert_ne!(n, file_name("h", "r", &other));
    }

    #[test]
    fn render_and_parse_round_trip() {
        let text = render(&key(), &cp(400)).unwrap();
        assert!(text.starts_with("dxf-upload-checkpoint 1\nhost localhost:5000\n"));
        assert_eq!(text.lines().count(), 7);
        assert_eq!(parse(&text), Some((key(), cp(400))));
        // Offsets up to the size, zero included.
        for offset in [0, 1000] {
            let text = render(&key(), &cp(offset)).unwrap();
            assert_eq!(parse(&text), Some((key(), cp(offset))));
        }
        // The chunk size the registry taught, on an eighth line.
        let taught = State {
            max_chunk: Some(4 << 20),
            ..cp(400)
        };
        let text = render(&key(), &taught).unwrap();
        assert!(text.ends_with("\nmax-chunk 4194304\n"), "{text}");
        assert_eq!(parse(&text), Some((key(), taught.clone())));
        assert_eq!(taught.hints().max_chunk, Some(4 << 20));
        // The strategy left, and the failed resumes, on the lines after it.
        let learned = State {
            strategy: Some(Strategy::Chunked),
            failed_resumes: 2,
            ..taught
        };
        let text = render(&key(), &learned).unwrap();
        assert!(
            text.ends_with("\nmax-chunk 4194304\nstrategy chunked\nfailed-resumes 2\n"),
            "{text}"
        );
        assert_eq!(parse(&text), Some((key(), learned.clone())));
        assert!(learned.hints().chunked_only && !learned.hints().monolithic_only);
        let gar = State {
            strategy: Some(Strategy::Monolithic),
            ..cp(1)
        };
        let text = render(&key(), &gar).unwrap();
        assert!(text.ends_with("\nstrategy monolithic\n"), "{text}");
        assert_eq!(parse(&text), Some((key(), gar.clone())));
        assert!(gar.hints().monolithic_only);
        assert_eq!(
            State::new(cp(1).checkpoint, gar.hints()),
            State {
                failed_resumes: 0,
                ..gar
            }
        );
    }

    #[test]
    fn unwritable_values_are_refused() {
        let mut k = key();
        k.host = "a b".into();
        assert!(render(&k, &cp(0)).is_err());
        assert!(render(&key(), &cp(1001)).is_err());
        let mut c = cp(0);
        c.checkpoint.location = "/v2/relative".into();
        assert!(render(&key(), &c).is_err());
        c.checkpoint.location = "ftp://h/x".into();
        assert!(render(&key(), &c).is_err());
        c.checkpoint.location = format!("http://h/{}", "x".repeat(MAX_URL_LEN));
        assert!(render(&key(), &c).is_err());
        let zero = State {
            max_chunk: Some(0),
            ..cp(0)
        };
        assert!(render(&key(), &zero).is_err());
    }

    #[test]
    fn parsing_is_strict() {
        let good = render(&key(), &cp(400)).unwrap();
        let bad = [
            String::new(),
            "garbage".into(),
            good.trim_end().to_owned(),      // no final newline
            good.replace('\n', "\r\n"),      // CRLF
            good.replace(" 1\n", " 2\n"),    // another version
            good.replace("host ", "host  "), // two spaces
            good.replace("host ", "Host "),  // key case
            good.replace("offset 400", "offset 0400"),
            good.replace("offset 400", "offset +400"),
            good.replace("offset 400", "offset 1001"), // beyond the size
            good.replace("offset 400", "offset 99999999999999999999"),
            good.replace("size 1000", "size "),
            good.replace("location http", "location ftp"),
            good.replace("location http://", "location http:///"),
            format!("{good}extra 1\n"),
            format!("{good}\n"),
            format!("{good}max-chunk 0\n"),
            format!("{good}max-chunk 01\n"),
            format!("{good}max-chunk x\n"),
            format!("{good}max-chunk 5\nmax-chunk 5\n"),
            format!("{good}strategy sideways\n"),
            format!("{good}strategy chunked\nmax-chunk 5\n"), // out of order
            format!("{good}failed-resumes 0\n"),
            format!("{good}failed-resumes 99999999999\n"),
            format!("{good}failed-resumes 1\nstrategy chunked\n"),
            good.replace("repo team/data\n", ""),
            // Lines out of order.
            good.replace(
                "host localhost:5000\nrepo team/data",
                "repo team/data\nhost localhost:5000",
            ),
        ];
        for text in bad {
            assert_eq!(parse(&text), None, "{text:?}");
        }
    }

    #[test]
    fn entries_save_load_and_remove() {
        let dir = scratch("entries");
        let store = Store::open(&dir, "localhost:5000").unwrap();
        let d = digest();
        let entry = store.entry("team/data", &d, 1000);
        assert_eq!(entry.load(), None);
        entry.save(&cp(0)).unwrap();
        entry.save(&cp(400)).unwrap();
        assert_eq!(entry.load(), Some(cp(400)));
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(entry.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        // Another size (a different push under the same name) is not used, and removed.
        assert_eq!(store.entry("team/data", &d, 999).load(), None);
        assert!(!entry.path().exists());
        // Garbage is removed too.
        fs::write(entry.path(), b"not a checkpoint").unwrap();
        assert_eq!(entry.load(), None);
        assert!(!entry.path().exists());
        // Too long to be ours.
        let long = render(&key(), &cp(1)).unwrap() + &"x".repeat(MAX_FILE_LEN as usize);
        fs::write(entry.path(), long).unwrap();
        assert_eq!(entry.load(), None);
        entry.save(&cp(7)).unwrap();
        entry.remove();
        entry.remove();
        assert!(fs::read_dir(&dir).unwrap().next().is_none());
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn unusable_directories_are_reported() {
        let dir = scratch("unusable");
        fs::write(&dir, b"a file").unwrap();
        assert!(Store::open(&dir, "h").is_err());
        assert!(Store::open(&dir.join("below"), "h").is_err());
        fs::remove_file(&dir).unwrap();
        let store = Store::open(&dir.join("a/b"), "h").unwrap();
        assert!(store.dir.is_dir());
        fs::remove_dir_all(dir).unwrap();
    }
}
