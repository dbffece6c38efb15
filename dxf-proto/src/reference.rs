//! Validated names: [`Digest`] (content addresses), [`Repository`] (repository names),
//! [`Tag`], and [`Reference`] (what follows `/manifests/` in a URL), with the grammars of
//! the OCI image spec and the distribution reference grammar implemented by hand. Parsing
//! never panics, whatever the input; a value that exists is valid and safe to put in a URL
//! path. This module also owns python-dxf's Docker Hub rule ([`Repository::for_host`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest digest accepted, in bytes.
const MAX_DIGEST_LEN: usize = 256;
/// The longest repository name accepted by [`Repository::parse`], in bytes.
const MAX_REPOSITORY_LEN: usize = 255;
/// The longest tag accepted, in bytes.
const MAX_TAG_LEN: usize = 128;
/// How much of an offending input an error keeps.
const MAX_KEPT: usize = 256;
/// How much of an offending input an error shows.
const MAX_SHOWN: usize = 100;

/// A content digest, `algorithm:encoded`, e.g. `sha256:<64 lowercase hex>`.
///
/// Grammar (OCI image spec): algorithm `[a-z0-9]+([+._-][a-z0-9]+)*`, `:`, encoded
/// `[a-zA-Z0-9=_-]+`, at most 256 bytes in all. `sha256` requires exactly 64 lowercase hex
/// digits and `sha512` exactly 128; other algorithms are accepted by the grammar alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses and validates a digest.
    pub fn parse(s: &str) -> Result<Digest, ReferenceError> {
        if valid_digest(s) {
            Ok(Digest(s.to_owned()))
        } else {
            Err(ReferenceError::InvalidDigest(keep(s)))
        }
    }

    /// `sha256:` followed by the lowercase hex of `hash`.
    pub fn sha256_from_bytes(hash: &[u8; 32]) -> Digest {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(7 + 64);
        s.push_str("sha256:");
        for b in hash {
            for nibble in [b >> 4, b & 0x0f] {
                if let Some(&c) = DIGITS.get(usize::from(nibble)) {
                    s.push(char::from(c));
                }
            }
        }
        Digest(s)
    }

    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The encoded part (for sha256 and sha512, the hex) after the `:`.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, e)| e)
    }

    /// The whole digest, `algorithm:encoded`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the algorithm is `sha256` (the only one python-dxf accepts).
    pub fn is_sha256(&self) -> bool {
        self.algorithm() == "sha256"
    }
}

fn valid_digest(s: &str) -> bool {
    if s.len() > MAX_DIGEST_LEN {
        return false;
    }
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    if !valid_algorithm(algorithm) || encoded.is_empty() {
        return false;
    }
    let lower_hex = |n: usize| {
        encoded.len() == n
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match algorithm {
        "sha256" => lower_hex(64),
        "sha512" => lower_hex(128),
        _ => encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-')),
    }
}

/// `[a-z0-9]+([+._-][a-z0-9]+)*`
fn valid_algorithm(a: &str) -> bool {
    !a.is_empty()
        && a.split(['+', '.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(is_lower_alnum))
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A repository name, e.g. `library/alpine` or `team/data`.
///
/// Grammar (distribution reference): path components
/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` joined by single `/`, at most 255 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Repository(String);

impl Repository {
    /// Parses and validates a repository name.
    pub fn parse(s: &str) -> Result<Repository, ReferenceError> {
        if s.len() <= MAX_REPOSITORY_LEN && s.split('/').all(valid_path_component) {
            Ok(Repository(s.to_owned()))
        } else {
            Err(ReferenceError::InvalidRepository(keep(s)))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// python-dxf's rule (`_get_repo_path`): when the registry host, as given (`host` or
    /// `host:port`), ends with `docker.io` and the name has a single path component, the
    /// name gets the `library/` prefix. Like python-dxf this is a plain, case-sensitive
    /// suffix test on the host string: `registry-1.docker.io` and `docker.io` match,
    /// `index.docker.io:443` does not.
    ///
    /// The prefixed name may exceed the 255-byte bound of [`Repository::parse`] by the 8
    /// bytes of `library/`; the registry then rejects it.
    pub fn for_host(self, host: &str) -> Repository {
        if host.ends_with("docker.io") && !self.0.contains('/') {
            Repository(format!("library/{}", self.0))
        } else {
            self
        }
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let mut rest = c.as_bytes();
    loop {
        // One alphanumeric run.
        let run = rest.iter().take_while(|&&b| is_lower_alnum(b)).count();
        if run == 0 {
            return false;
        }
        rest = rest.get(run..).unwrap_or_default();
        if rest.is_empty() {
            return true;
        }
        // One separator, which must be followed by another run.
        let sep = match rest {
            [b'_', b'_', ..] => 2,
            [b'.' | b'_', ..] => 1,
            [b'-', ..] => rest.iter().take_while(|&&b| b == b'-').count(),
            _ => return false,
        };
        rest = rest.get(sep..).unwrap_or_default();
    }
}

/// A tag, `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// Parses and validates a tag.
    pub fn parse(s: &str) -> Result<Tag, ReferenceError> {
        let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
        let mut bytes = s.bytes();
        let ok = s.len() <= MAX_TAG_LEN
            && bytes.next().is_some_and(|b| word(&b))
            && bytes.all(|b| word(&b) || b == b'.' || b == b'-');
        if ok {
            Ok(Tag(s.to_owned()))
        } else {
            Err(ReferenceError::InvalidTag(keep(s)))
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What names a manifest: a tag or a digest (the part of the URL after `/manifests/`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    /// A tag, e.g. `latest`.
    Tag(Tag),
    /// A digest, e.g. `sha256:…`.
    Digest(Digest),
}

impl Reference {
    /// Parses a reference: a digest when `s` contains `:`, otherwise a tag.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.contains(':') {
            Digest::parse(s).map(Reference::Digest)
        } else {
            Tag::parse(s).map(Reference::Tag)
        }
    }

    /// The tag or digest as text.
    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(t) => t.as_str(),
            Reference::Digest(d) => d.as_str(),
        }
    }
}

impl From<Tag> for Reference {
    fn from(t: Tag) -> Self {
        Reference::Tag(t)
    }
}

impl From<Digest> for Reference {
    fn from(d: Digest) -> Self {
        Reference::Digest(d)
    }
}

/// Why a name was rejected. Each variant holds the offending input (its first 256
/// characters; [`Display`](fmt::Display) shows the first 100).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReferenceError {
    /// Not a valid digest.
    InvalidDigest(String),
    /// Not a valid repository name.
    InvalidRepository(String),
    /// Not a valid tag.
    InvalidTag(String),
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReferenceError::InvalidDigest(s) => write!(
                f,
                "invalid digest \"{}\": expected sha256:<64 lowercase hex> \
                 (or algorithm:encoded, at most {MAX_DIGEST_LEN} bytes)",
                Shown(s)
            ),
            ReferenceError::InvalidRepository(s) => write!(
                f,
                "invalid repository name \"{}\": expected lowercase components \
                 [a-z0-9] separated by '.', '_', '__' or '-', joined by '/', \
                 at most {MAX_REPOSITORY_LEN} bytes",
                Shown(s)
            ),
            ReferenceError::InvalidTag(s) => write!(
                f,
                "invalid tag \"{}\": expected [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}",
                Shown(s)
            ),
        }
    }
}

impl std::error::Error for ReferenceError {}

/// The first [`MAX_KEPT`] characters of an offending input.
fn keep(s: &str) -> String {
    s.chars().take(MAX_KEPT).collect()
}

/// Shows the first [`MAX_SHOWN`] characters of an offending input, escaped, with `…` when
/// there is more.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(MAX_SHOWN) {
            write!(f, "{}", c.escape_debug())?;
        }
        if chars.next().is_some() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

macro_rules! string_name {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $t {
            type Err = ReferenceError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $t::parse(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = ReferenceError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $t::parse(&s)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

string_name!(Digest);
string_name!(Repository);
string_name!(Tag);
string_name!(Reference);

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl From<Repository> for String {
    fn from(r: Repository) -> String {
        r.0
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const SHA512_ABC: &str = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

    #[test]
    fn digests() {
        let long_other = format!("blake3:{}", "a".repeat(249));
        let too_long_other = format!("blake3:{}", "a".repeat(250));
        assert_eq!(long_other.len(), 256);
        let valid = [
            ABC,
            SHA512_ABC,
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
            "blake3:0123ABCdef==",
            "a.b_c-d+e:x",
            long_other.as_str(),
        ];
        for s in valid {
            let d = Digest::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(d.as_str(), s);
            assert_eq!(d.to_string(), s);
            assert_eq!(format!("{}:{}", d.algorithm(), d.encoded()), s);
        }
        let invalid = [
            "",
            ":",
            "sha256",
            "sha256:",
            ":ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            // uppercase hex
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256:Ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            // wrong lengths
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add",
            "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha512:",
            // non-hex
            "sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            // algorithm grammar
            "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256-:abc",
            "-sha256:abc",
            "sha..256:abc",
            "sha 256:abc",
            // encoded grammar
            "blake3:abc.def",
            "blake3:abc/def",
            "blake3:abc:def",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ",
            " sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "blake3:é",
            too_long_other.as_str(),
        ];
        for s in invalid {
            assert_eq!(
                Digest::parse(s),
                Err(ReferenceError::InvalidDigest(s.chars().take(256).collect())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn digest_parts() {
        let d = Digest::parse(ABC).unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(
            d.encoded(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(d.is_sha256());
        let d = Digest::parse(SHA512_ABC).unwrap();
        assert_eq!(d.algorithm(), "sha512");
        assert_eq!(d.encoded().len(), 128);
        assert!(!d.is_sha256());
        assert_eq!(ABC.parse::<Digest>().unwrap(), Digest::parse(ABC).unwrap());
    }

    #[test]
    fn sha256_from_bytes() {
        let mut h = [0u8; 32];
        h[0] = 0xba;
        h[1] = 0x01;
        h[31] = 0xff;
        let d = Digest::sha256_from_bytes(&h);
        assert_eq!(d.as_str(), format!("sha256:ba01{}ff", "00".repeat(29)));
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    }

    #[test]
    fn repositories() {
        let max = format!("{}/{}", "a".repeat(127), "b".repeat(127));
        assert_eq!(max.len(), 255);
        let valid = [
            "a",
            "alpine",
            "library/alpine",
            "team/data",
            "a/b/c/d/e",
            "a__b",
            "a---b",
            "a-b",
            "a.b",
            "a_b",
            "a.b_c__d-e--f",
            "0",
            "9a/b9",
            max.as_str(),
        ];
        for s in valid {
            let r = Repository::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(r.as_str(), s);
            assert_eq!(r.to_string(), s);
        }
        let too_long = format!("{}/{}", "a".repeat(128), "b".repeat(127));
        let long_256 = "a".repeat(256);
        let invalid = [
            "",
            "A",
            "Alpine",
            "library/Alpine",
            "a..b",
            "a___b",
            "a_.b",
            "a._b",
            "a-_b",
            "a_-b",
            "-a",
            "a-",
            "_a",
            "a_",
            ".a",
            "a.",
            "/a",
            "a/",
            "a//b",
            "/",
            "a b",
            "a:b",
            "a@b",
            "a/.b",
            "é",
            too_long.as_str(),
            long_256.as_str(),
        ];
        for s in invalid {
            assert_eq!(
                Repository::parse(s),
                Err(ReferenceError::InvalidRepository(s.to_owned())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn for_host_mirrors_python_dxf() {
        let cases = [
            ("registry-1.docker.io", "alpine", "library/alpine"),
            ("docker.io", "alpine", "library/alpine"),
            ("index.docker.io", "alpine", "library/alpine"),
            // python-dxf tests the host string, port included
            ("index.docker.io:443", "alpine", "alpine"),
            ("registry-1.docker.io:443", "alpine", "alpine"),
            // a plain suffix test, as in python-dxf
            ("notdocker.io", "alpine", "library/alpine"),
            ("DOCKER.IO", "alpine", "alpine"),
            ("registry-1.docker.io", "team/data", "team/data"),
            ("registry-1.docker.io", "library/alpine", "library/alpine"),
            ("localhost:5000", "alpine", "alpine"),
            ("docker.io.example.com", "alpine", "alpine"),
            ("ghcr.io", "alpine", "alpine"),
        ];
        for (host, name, want) in cases {
            let r = Repository::parse(name).unwrap().for_host(host);
            assert_eq!(r.as_str(), want, "{host} {name}");
        }
    }

    #[test]
    fn tags() {
        let t128 = format!("a{}", "b".repeat(127));
        let valid = [
            "latest",
            "v1.2.3",
            "_private",
            "A",
            "9",
            "1.0-rc.1_build-2",
            "a..b",
            "a--",
            "UPPER",
            t128.as_str(),
        ];
        for s in valid {
            let t = Tag::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(t.as_str(), s);
        }
        let t129 = format!("a{}", "b".repeat(128));
        let invalid = [
            "",
            ".tag",
            "-tag",
            "tag:x",
            "tag/x",
            "tag x",
            "tag@x",
            "é",
            "ta+g",
            t129.as_str(),
        ];
        for s in invalid {
            assert_eq!(
                Tag::parse(s),
                Err(ReferenceError::InvalidTag(s.to_owned())),
                "{s:?}"
            );
        }
    }

    #[test]
    fn references() {
        assert_eq!(
            Reference::parse("latest").unwrap(),
            Reference::Tag(Tag::parse("latest").unwrap())
        );
        assert_eq!(
            Reference::parse(ABC).unwrap(),
            Reference::Digest(Digest::parse(ABC).unwrap())
        );
        assert_eq!(Reference::parse(ABC).unwrap().as_str(), ABC);
        assert_eq!(Reference::parse("v1").unwrap().to_string(), "v1");
        assert!(matches!(
            Reference::parse("sha256:abc"),
            Err(ReferenceError::InvalidDigest(_))
        ));
        assert!(matches!(
            Reference::parse(".x"),
            Err(ReferenceError::InvalidTag(_))
        ));
        assert_eq!(
            "v1".parse::<Reference>().unwrap(),
            Reference::from(Tag::parse("v1").unwrap())
        );
    }

    #[test]
    fn errors_display_bounded() {
        let e = Digest::parse("sha256:abc").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid digest \"sha256:abc\": expected sha256:<64 lowercase hex> \
             (or algorithm:encoded, at most 256 bytes)"
        );
        let huge = "x\n".repeat(100_000);
        let e = Repository::parse(&huge).unwrap_err();
        let ReferenceError::InvalidRepository(kept) = &e else {
            panic!()
        };
        assert_eq!(kept.chars().count(), 256);
        let shown = e.to_string();
        assert!(shown.len() < 400, "{shown}");
        assert!(shown.contains("x\\nx\\n"));
        assert!(shown.contains('…'));
        assert!(!Tag::parse("a b").unwrap_err().to_string().contains('…'));
        let e: Box<dyn std::error::Error> = Box::new(Tag::parse("").unwrap_err());
        assert!(e.to_string().starts_with("invalid tag \"\""));
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let d = Digest::parse(ABC).unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
        assert!(serde_json::from_str::<Digest>("42").is_err());
        let r: Repository = serde_json::from_str("\"team/data\"").unwrap();
        assert_eq!(r.as_str(), "team/data");
        assert!(serde_json::from_str::<Repository>("\"Team\"").is_err());
        let t: Tag = serde_json::from_str("\"v1\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"v1\"");
        assert!(serde_json::from_str::<Tag>("\".v1\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Digest::parse(&s).map(|d| d.to_string());
            let _ = Repository::parse(&s).map(|r| r.for_host("docker.io"));
            let _ = Tag::parse(&s);
            let _ = Reference::parse(&s);
            if let Err(e) = Reference::parse(&s) {
                let _ = e.to_string();
            }
        }

        #[test]
        fn grammar_like_inputs_round_trip(
            s in "sha256:[0-9a-f]{63,65}|sha512:[0-9a-f]{128}|[a-z0-9+._-]{0,8}:[a-zA-Z0-9=_.:-]{0,70}|[a-zA-Z0-9._/-]{0,40}"
        ) {
            if let Ok(d) = Digest::parse(&s) {
                let shown = d.to_string();
                prop_assert_eq!(&shown, &s);
                prop_assert_eq!(shown.parse::<Digest>().unwrap(), d);
            }
            if let Ok(r) = Repository::parse(&s) {
                let shown = r.to_string();
                prop_assert_eq!(&shown, &s);
                prop_assert_eq!(shown.parse::<Repository>().unwrap(), r);
            }
            if let Ok(t) = Tag::parse(&s) {
                let shown = t.to_string();
                prop_assert_eq!(&shown, &s);
                prop_assert_eq!(shown.parse::<Tag>().unwrap(), t);
            }
            if let Ok(x) = Reference::parse(&s) {
                let shown = x.to_string();
                prop_assert_eq!(&shown, &s);
                prop_assert_eq!(shown.parse::<Reference>().unwrap(), x);
            }
        }

        #[test]
        fn generated_valid_names_parse(
            comps in proptest::collection::vec("[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,3}", 1..5),
            tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
            hash in any::<[u8; 32]>(),
        ) {
            let name = comps.join("/");
            let r = Repository::parse(&name).unwrap();
            prop_assert_eq!(r.as_str(), name.as_str());
            prop_assert_eq!(Tag::parse(&tag).unwrap().to_string(), tag);
            let d = Digest::sha256_from_bytes(&hash);
            prop_assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        }
    }
}
