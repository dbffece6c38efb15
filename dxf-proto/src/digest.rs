//! Hashing: the pure [`Sha256`] digester the drivers use to hash a file before pushing it,
//! [`digest_of`] for small bodies (manifests), and [`BlobVerifier`], the value a driver runs
//! a downloaded blob through so that a corrupted or truncated blob is never reported as good.

use sha2::Digest as _;

use crate::error::Error;
use crate::reference::Digest;

/// An incremental SHA-256 hasher producing a [`Digest`].
#[derive(Clone, Debug, Default)]
pub struct Sha256 {
    inner: sha2::Sha256,
}

impl Sha256 {
    /// A hasher that has seen nothing.
    pub fn new() -> Sha256 {
        Sha256::default()
    }

    /// Hashes more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.inner.update(data);
    }

    /// The digest of everything seen, `sha256:<hex>`.
    pub fn finish(self) -> Digest {
        let out: [u8; 32] = self.inner.finalize().into();
        Digest::sha256_from_bytes(&out)
    }
}

/// The hash state for one of the algorithms dxf can verify.
#[derive(Clone, Debug)]
enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn for_digest(d: &Digest) -> Result<Hasher, Error> {
        match d.algorithm() {
            "sha256" => Ok(Hasher::Sha256(sha2::Sha256::new())),
            "sha512" => Ok(Hasher::Sha512(sha2::Sha512::new())),
            other => Err(Error::UnsupportedDigestAlgorithm(other.to_owned())),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn finish(self) -> Result<Digest, Error> {
        let (alg, bytes): (&str, Vec<u8>) = match self {
            Hasher::Sha256(h) => ("sha256", h.finalize().to_vec()),
            Hasher::Sha512(h) => ("sha512", h.finalize().to_vec()),
        };
        Ok(Digest::parse(&format!("{alg}:{}", hex(&bytes)))?)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(&c) = DIGITS.get(usize::from(nibble)) {
                s.push(char::from(c));
            }
        }
    }
    s
}

/// The digest of `data` in the algorithm of `like` (sha256 or sha512): used to check a
/// manifest body against the digest it was announced or requested under.
pub fn digest_of(like: &Digest, data: &[u8]) -> Result<Digest, Error> {
    let mut h = Hasher::for_digest(like)?;
    h.update(data);
    h.finish()
}

/// Checks `data` against `expected`: [`Error::DigestMismatch`] if it differs.
pub fn verify_bytes(expected: &Digest, data: &[u8]) -> Result<(), Error> {
    let actual = digest_of(expected, data)?;
    if &actual == expected {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            expected: expected.clone(),
            actual,
        })
    }
}

/// Verifies a blob while the driver streams it: feed every chunk to [`update`], then call
/// [`finish`] at end of body. A blob is good only if `finish` returns `Ok`.
///
/// [`update`]: BlobVerifier::update
/// [`finish`]: BlobVerifier::finish
#[derive(Clone, Debug)]
pub struct BlobVerifier {
    expected: Digest,
    expected_len: Option<u64>,
    hasher: Hasher,
    seen: u64,
}

impl BlobVerifier {
    /// A verifier for a blob that must hash to `expected` and, when given, be
    /// `expected_len` bytes long.
    pub fn new(expected: Digest, expected_len: Option<u64>) -> Result<BlobVerifier, Error> {
        Ok(BlobVerifier {
            hasher: Hasher::for_digest(&expected)?,
            expected,
            expected_len,
            seen: 0,
        })
    }

    /// Hashes the next chunk. Fails as soon as more bytes arrive than the expected length.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.seen = self.seen.saturating_add(chunk.len() as u64);
        if let Some(expected) = self.expected_len {
            if self.seen > expected {
                return Err(Error::LengthMismatch {
                    expected,
                    actual: self.seen,
                });
            }
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Bytes seen so far.
    pub fn bytes_seen(&self) -> u64 {
        self.seen
    }

    /// The digest the blob must have.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// The length the blob must have, when known.
    pub fn expected_len(&self) -> Option<u64> {
        self.expected_len
    }

    /// Ends the blob: `Ok(digest)` only if the length and the digest match.
    pub fn finish(self) -> Result<Digest, Error> {
        if let Some(expected) = self.expected_len {
            if self.seen != expected {
                return Err(Error::LengthMismatch {
                    expected,
                    actual: self.seen,
                });
            }
        }
        let actual = self.hasher.finish()?;
        if actual == self.expected {
            Ok(actual)
        } else {
            Err(Error::DigestMismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const ABC: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn sha256_of_abc_is_the_known_value() {
        let mut h = Sha256::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish().as_str(), ABC);
    }

    #[test]
    fn verifier_accepts_the_right_bytes_in_any_split() {
        let d = Digest::parse(ABC).unwrap();
        for split in 0..=3 {
            let mut v = BlobVerifier::new(d.clone(), Some(3)).unwrap();
            v.update(&b"abc"[..split]).unwrap();
            v.update(&b"abc"[split..]).unwrap();
            assert_eq!(v.finish().unwrap(), d);
        }
    }

    #[test]
    fn verifier_rejects_a_corrupted_byte() {
        let d = Digest::parse(ABC).unwrap();
        let mut v = BlobVerifier::new(d.clone(), Some(3)).unwrap();
        v.update(b"abd").unwrap();
        match v.finish() {
            Err(Error::DigestMismatch { expected, actual }) => {
                assert_eq!(expected, d);
                assert_ne!(actual, d);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn verifier_rejects_a_truncated_blob_even_without_a_length() {
        let d = Digest::parse(ABC).unwrap();
        let mut v = BlobVerifier::new(d.clone(), Some(3)).unwrap();
        v.update(b"ab").unwrap();
        assert_eq!(
            v.finish(),
            Err(Error::LengthMismatch {
                expected: 3,
                actual: 2
            })
        );
        let mut v = BlobVerifier::new(d, None).unwrap();
        v.update(b"ab").unwrap();
        assert!(matches!(v.finish(), Err(Error::DigestMismatch { .. })));
    }

    #[test]
    fn verifier_stops_at_the_first_byte_too_many() {
        let d = Digest::parse(ABC).unwrap();
        let mut v = BlobVerifier::new(d, Some(3)).unwrap();
        assert!(matches!(
            v.update(b"abcd"),
            Err(Error::LengthMismatch {
                expected: 3,
                actual: 4
            })
        ));
    }

    #[test]
    fn sha512_digests_are_verified_too() {
        let d = Digest::parse("sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f").unwrap();
        verify_bytes(&d, b"abc").unwrap();
        assert!(verify_bytes(&d, b"abd").is_err());
    }

    #[test]
    fn unknown_algorithms_are_refused() {
        let d = Digest::parse(
            "blake3:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        )
        .unwrap();
        assert!(matches!(
            BlobVerifier::new(d, None),
            Err(Error::UnsupportedDigestAlgorithm(_))
        ));
    }
}
