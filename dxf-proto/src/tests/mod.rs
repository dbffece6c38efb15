//! Scripted-peer tests of whole flows (auth, blobs, uploads, manifests, listings,
//! credential hygiene), driving the public operations through [`crate::testing::drive`].

mod auth;
mod blobs;
mod cancel;
mod container_registry;
mod foreign_origin;
mod hygiene;
mod identity_token;
mod lists;
mod malformed;
mod manifests;
mod mounts;
mod referrers;
mod retries;
mod upload;

mod copy;
mod delete_tag;

use crate::testing::{drive, DriveError, Driven, ScriptedRegistry};
use crate::{Authed, Digest, Operation, Repository, Scheme, Scoped, Session, Sha256, UnixTime};

pub(crate) const NOW: UnixTime = UnixTime(1_700_000_000);

pub(crate) fn session() -> Session {
    Session::new("reg.test", Scheme::Https).unwrap()
}

pub(crate) fn repo(name: &str) -> Repository {
    Repository::parse(name).unwrap()
}

pub(crate) fn sha(data: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

/// Runs `op` wrapped in `Authed` against `peer`, learning into `session`.
pub(crate) fn run<O: Operation + Scoped>(
    op: O,
    session: &mut Session,
    peer: &mut ScriptedRegistry,
    source: &[u8],
) -> Result<Driven<O::Output>, DriveError> {
    let mut authed = Authed::new(session, op);
    drive(&mut authed, peer, session, NOW, source)
}

pub(crate) fn err<T: std::fmt::Debug>(r: Result<T, DriveError>) -> crate::Error {
    match r {
        Err(DriveError::Op(e)) => e,
        other => panic!("expected an operation error, got {other:?}"),
    }
}
