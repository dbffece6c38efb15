//! [`BlobReader`]: a pulled blob as a `Read` that runs every byte through the
//! [`BlobVerifier`](dxf_proto::BlobVerifier) and fails the final `read` — never silently —
//! when the digest or length is wrong.

use std::io::{self, Read};

use dxf_proto::{BlobVerifier, Digest};

/// A blob being downloaded. Reads return the blob's bytes; the `read` that reaches the end
/// returns `Ok(0)` only if the blob matched its digest and length, and an
/// `io::ErrorKind::InvalidData` error carrying the [`dxf_proto::Error`] otherwise.
pub struct BlobReader {
    body: ureq::BodyReader<'static>,
    verifier: Option<BlobVerifier>,
    digest: Digest,
    len: Option<u64>,
    failed: Option<dxf_proto::Error>,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("len", &self.len)
            .finish()
    }
}

impl BlobReader {
    pub(crate) fn new(body: ureq::Body, verifier: BlobVerifier, len: Option<u64>) -> BlobReader {
        BlobReader {
            body: body.into_reader(),
            digest: verifier.expected().clone(),
            len: len.or(verifier.expected_len()),
            verifier: Some(verifier),
            failed: None,
        }
    }

    /// The blob's size, when the registry announced it.
    pub fn size(&self) -> Option<u64> {
        self.len
    }

    /// The digest the blob is verified against.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Reads the rest of the blob into `sink`, verifying it; returns the bytes copied.
    pub fn copy_to(&mut self, sink: &mut impl io::Write) -> io::Result<u64> {
        io::copy(self, sink)
    }
}

fn invalid(e: dxf_proto::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A failed blob stays failed: a caller that reads on never sees a clean end.
        if let Some(e) = &self.failed {
            return Err(invalid(e.clone()));
        }
        let Some(verifier) = self.verifier.as_mut() else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.body.read(buf)?;
        match buf.get(..n) {
            Some(chunk) if n > 0 => match verifier.update(chunk) {
                Ok(()) => Ok(n),
                Err(e) => {
                    self.failed = Some(e.clone());
                    Err(invalid(e))
                }
            },
            _ => match self.verifier.take().map(BlobVerifier::finish) {
                Some(Err(e)) => {
                    self.failed = Some(e.clone());
                    Err(invalid(e))
                }
                _ => Ok(0),
            },
        }
    }
}
