//! The alias flows both clients run: [`SetAlias`] (python-dxf's `set_alias` and
//! `make_manifest`, and their OCI artifact forms), [`DeleteAlias`] (python-dxf's
//! `del_alias`, by digest, or one tag alone) and [`AttachArtifact`] (the empty config, then
//! the artifact and its referrers index).

use super::config::unique_u64;
use super::flow::{unexpected, Flow, FlowStep, Outcome, Produced, SubOperation};
use crate::blob::{HeadBlob, Upload};
use crate::error::{Error, Misuse};
use crate::manifest::alias::{
    docker_alias_manifest, oci_artifact_manifest, oci_layers_manifest, BlobDescriptor,
    OciArtifactOptions,
};
use crate::manifest::parse::Descriptor;
use crate::manifest::{
    AliasManifest, Attach, Attached, DeleteManifest, DeleteTag, PutManifest, ReadAlias, ReadOptions,
};
use crate::reference::{Digest, Reference, Repository};
use crate::session::Session;

/// Which manifest [`SetAlias`] writes.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per flow
enum Form {
    /// python-dxf's Docker form, byte for byte.
    Docker,
    /// An OCI artifact manifest (layers may carry titles) over the empty config.
    Oci(OciArtifactOptions),
    /// The same over layers given whole (no `HEAD` for their sizes).
    Layers(Vec<Descriptor>, OciArtifactOptions),
}

#[derive(Debug, PartialEq, Eq)]
enum SetPhase {
    Sizes,
    Config,
    Put,
    Done,
}

/// Points an alias at blobs: a `HEAD` per blob for its size, the manifest made from them
/// (python-dxf's byte-exact form, or an OCI artifact manifest whose empty config is pushed
/// first), then its `PUT`. Output: the manifest JSON. Without an alias, only makes the
/// manifest (python-dxf's `make_manifest`).
#[derive(Debug)]
pub struct SetAlias {
    session: Session,
    repo: Repository,
    alias: Option<Reference>,
    blobs: Vec<(Digest, Option<String>)>,
    sized: Vec<BlobDescriptor>,
    form: Form,
    manifest: String,
    phase: SetPhase,
}

impl SetAlias {
    fn new(
        session: &Session,
        repo: &Repository,
        alias: Option<&str>,
        blobs: Vec<(Digest, Option<String>)>,
        form: Form,
    ) -> Result<SetAlias, Error> {
        // An invalid alias is refused before any request.
        let alias = alias.map(Reference::parse).transpose()?;
        Ok(SetAlias {
            session: session.clone(),
            repo: repo.clone(),
            alias,
            sized: Vec::with_capacity(blobs.len()),
            blobs,
            form,
            manifest: String::new(),
            phase: SetPhase::Sizes,
        })
    }

    /// python-dxf's `set_alias(alias, *digests)`; with `alias` `None`, `make_manifest`.
    pub fn docker(
        session: &Session,
        repo: &Repository,
        alias: Option<&str>,
        digests: &[Digest],
    ) -> Result<SetAlias, Error> {
        let blobs = digests.iter().map(|d| (d.clone(), None)).collect();
        SetAlias::new(session, repo, alias, blobs, Form::Docker)
    }

    /// An OCI artifact manifest over these blobs (with optional titles) and the empty
    /// config, stored under `alias` (or, with `None`, only made).
    pub fn oci(
        session: &Session,
        repo: &Repository,
        alias: Option<&str>,
        blobs: &[(Digest, Option<String>)],
        options: &OciArtifactOptions,
    ) -> Result<SetAlias, Error> {
        let form = Form::Oci(options.clone());
        SetAlias::new(session, repo, alias, blobs.to_vec(), form)
    }

    /// An OCI artifact manifest over `layers`, sizes and media types known (the files
    /// and directories of `dxf push`), stored under `alias` after the empty config.
    pub fn oci_layers(
        session: &Session,
        repo: &Repository,
        alias: Option<&str>,
        layers: Vec<Descriptor>,
        options: &OciArtifactOptions,
    ) -> Result<SetAlias, Error> {
        let form = Form::Layers(layers, options.clone());
        SetAlias::new(session, repo, alias, Vec::new(), form)
    }

    fn make_manifest(&self) -> Result<String, Error> {
        match &self.form {
            Form::Docker => docker_alias_manifest(&self.sized)
                .map_err(|e| Misuse::InvalidArgument(e.to_string()).into()),
            Form::Oci(options) => Ok(oci_artifact_manifest(&self.sized, options)),
            Form::Layers(layers, options) => Ok(oci_layers_manifest(layers, options)),
        }
    }

    fn put(&mut self) -> Result<FlowStep<String>, Error> {
        let Some(alias) = &self.alias else {
            return Err(unexpected());
        };
        self.phase = SetPhase::Put;
        let op = PutManifest::new(
            &self.session,
            &self.repo,
            alias,
            self.manifest.as_bytes().to_vec(),
        )?;
        Ok(FlowStep::Run(SubOperation::new(op, |_| Produced::Finished)))
    }
}

impl Flow for SetAlias {
    type Output = String;

    fn step(&mut self, last: Option<Outcome>) -> Result<FlowStep<String>, Error> {
        match (&self.phase, last.map(|o| o.0)) {
            (SetPhase::Sizes, last) => {
                if let Some(produced) = last {
                    let (Produced::Blob(info), Some((digest, title))) =
                        (produced, self.blobs.get(self.sized.len()))
                    else {
                        return Err(unexpected());
                    };
                    self.sized.push(BlobDescriptor {
                        digest: digest.clone(),
                        size: info.size,
                        title: title.clone(),
                    });
                }
                if let Some((digest, _)) = self.blobs.get(self.sized.len()) {
                    let op = HeadBlob::new(&self.session, &self.repo, digest)?;
                    return Ok(FlowStep::Run(SubOperation::new(op, Produced::Blob)));
                }
                self.manifest = self.make_manifest()?;
                match (&self.alias, &self.form) {
                    (None, _) => {
                        self.phase = SetPhase::Done;
                        Ok(FlowStep::Done(std::mem::take(&mut self.manifest)))
                    }
                    (Some(_), Form::Oci(_) | Form::Layers(..)) => {
                        self.phase = SetPhase::Config;
                        let op = Upload::empty_config(&self.session, &self.repo)?;
                        Ok(FlowStep::Run(SubOperation::new(op, |_| Produced::Finished)))
                    }
                    (Some(_), Form::Docker) => self.put(),
                }
            }
            (SetPhase::Config, Some(Produced::Finished)) => self.put(),
            (SetPhase::Put, Some(Produced::Finished)) => {
                self.phase = SetPhase::Done;
                Ok(FlowStep::Done(std::mem::take(&mut self.manifest)))
            }
            _ => Err(unexpected()),
        }
    }
}

/// Deletes an alias: reads its manifest, then deletes the manifest **by digest**
/// (python-dxf's `del_alias`: every alias on that manifest goes too) or, with
/// [`DeleteAlias::only`], just this tag ([`DeleteTag`]). Output: the manifest it named.
#[derive(Debug)]
pub struct DeleteAlias {
    session: Session,
    repo: Repository,
    alias: Reference,
    only: bool,
    manifest: Option<AliasManifest>,
}

impl DeleteAlias {
    /// python-dxf's `del_alias`: the manifest, by digest.
    pub fn by_digest(
        session: &Session,
        repo: &Repository,
        alias: &str,
    ) -> Result<DeleteAlias, Error> {
        Ok(DeleteAlias {
            session: session.clone(),
            repo: repo.clone(),
            alias: Reference::parse(alias)?,
            only: false,
            manifest: None,
        })
    }

    /// Only this alias; the manifest and its other aliases stay. Refused for a digest.
    pub fn only(session: &Session, repo: &Repository, alias: &str) -> Result<DeleteAlias, Error> {
        let mut flow = DeleteAlias::by_digest(session, repo, alias)?;
        if !matches!(flow.alias, Reference::Tag(_)) {
            return Err(Misuse::InvalidArgument(format!(
                "{alias} is a digest, not an alias: only an alias can be deleted on its own"
            ))
            .into());
        }
        flow.only = true;
        Ok(flow)
    }
}

impl Flow for DeleteAlias {
    type Output = AliasManifest;

    fn step(&mut self, last: Option<Outcome>) -> Result<FlowStep<AliasManifest>, Error> {
        match (last.map(|o| o.0), self.manifest.take()) {
            (None, None) => {
                let options = ReadOptions::default();
                let op = ReadAlias::new(&self.session, &self.repo, &self.alias, options)?;
                Ok(FlowStep::Run(SubOperation::new(op, |m| {
                    Produced::Alias(Box::new(m))
                })))
            }
            (Some(Produced::Alias(manifest)), None) => {
                let op = match &self.alias {
                    Reference::Tag(tag) if self.only => {
                        let original = (manifest.body.clone(), manifest.media_type.clone());
                        let nonce = format!("{:016x}", unique_u64());
                        let op =
                            DeleteTag::new(&self.session, &self.repo, tag, &nonce, Some(original))?;
                        SubOperation::new(op, |_| Produced::Finished)
                    }
                    _ => {
                        let by_digest = Reference::Digest(manifest.digest.clone());
                        let op = DeleteManifest::new(&self.session, &self.repo, &by_digest)?;
                        SubOperation::new(op, |()| Produced::Finished)
                    }
                };
                self.manifest = Some(*manifest);
                Ok(FlowStep::Run(op))
            }
            (Some(Produced::Finished), Some(manifest)) => Ok(FlowStep::Done(manifest)),
            _ => Err(unexpected()),
        }
    }
}

/// Attaches an artifact to a subject: the empty config, then [`Attach`] (the artifact
/// manifest and the referrers index where the registry has no referrers API).
#[derive(Debug)]
pub struct AttachArtifact {
    config: Option<Upload>,
    attach: Option<Attach>,
}

impl AttachArtifact {
    /// Attaches these blobs, as an artifact, to `alias` of `repo`.
    pub fn new(
        session: &Session,
        repo: &Repository,
        alias: &str,
        blobs: &[BlobDescriptor],
        options: &OciArtifactOptions,
    ) -> Result<AttachArtifact, Error> {
        let subject = Reference::parse(alias)?;
        let attach = Attach::new(session, repo, &subject, blobs, options)?;
        Ok(AttachArtifact {
            config: Some(Upload::empty_config(session, repo)?),
            attach: Some(attach),
        })
    }
}

impl Flow for AttachArtifact {
    type Output = Attached;

    fn step(&mut self, last: Option<Outcome>) -> Result<FlowStep<Attached>, Error> {
        if let Some(config) = self.config.take() {
            return Ok(FlowStep::Run(SubOperation::new(config, |_| {
                Produced::Finished
            })));
        }
        match (last.map(|o| o.0), self.attach.take()) {
            (Some(Produced::Finished), Some(attach)) => {
                Ok(FlowStep::Run(SubOperation::new(attach, Produced::Attached)))
            }
            (Some(Produced::Attached(attached)), None) => Ok(FlowStep::Done(attached)),
            _ => Err(unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{AliasContent, HeadManifest};
    use crate::session::Scheme;
    use crate::testing::{drive, MemoryRegistry, ScriptedRegistry};
    use crate::{Authed, Operation, Retrying, Scoped, UnixTime};

    /// Runs `op` wrapped as a driver does.
    fn run<O: Operation + Scoped>(
        op: O,
        peer: &mut ScriptedRegistry,
        s: &mut Session,
    ) -> O::Output {
        let mut op = Authed::new(s, Retrying::new(s, op));
        drive(&mut op, peer, s, UnixTime(1), b"").unwrap().output
    }

    /// Runs a flow as a driver does; also returns the number of operations it ran.
    fn run_flow<F: Flow>(
        mut flow: F,
        peer: &mut ScriptedRegistry,
        s: &mut Session,
    ) -> (F::Output, usize) {
        let (mut last, mut ran) = (None, 0);
        loop {
            match flow.step(last.take()).unwrap() {
                FlowStep::Run(op) => {
                    ran += 1;
                    last = Some(run(op, peer, s));
                }
                FlowStep::Done(out) => return (out, ran),
            }
        }
    }

    fn setup() -> (
        MemoryRegistry,
        ScriptedRegistry,
        Session,
        Repository,
        Vec<Digest>,
    ) {
        let registry = MemoryRegistry::new();
        let mut peer = registry.peer();
        let mut s = Session::new("r.test", Scheme::Https).unwrap();
        let repo = s.repository("team/data").unwrap();
        let mut digests = Vec::new();
        for data in [&b"hello"[..], b"world!"] {
            let op = Upload::bytes(&s, &repo, data.to_vec(), &Default::default()).unwrap();
            digests.push(run(op, &mut peer, &mut s).digest);
        }
        (registry, peer, s, repo, digests)
    }

    #[test]
    fn set_alias_heads_every_blob_then_puts_python_dxf_bytes() {
        let (_registry, mut peer, mut s, repo, digests) = setup();
        let flow = SetAlias::docker(&s, &repo, Some("latest"), &digests).unwrap();
        let (manifest, ran) = run_flow(flow, &mut peer, &mut s);
        assert_eq!(ran, 3, "two HEADs and the PUT");
        let sized: Vec<_> = digests
            .iter()
            .zip([5, 6])
            .map(|(d, size)| BlobDescriptor {
                digest: d.clone(),
                size,
                title: None,
            })
            .collect();
        assert_eq!(manifest, docker_alias_manifest(&sized).unwrap());
        let op = HeadManifest::new(&s, &repo, &Reference::parse("latest").unwrap()).unwrap();
        assert_eq!(run(op, &mut peer, &mut s).size, Some(manifest.len() as u64));
    }

    #[test]
    fn make_manifest_sends_no_put_and_bad_aliases_send_nothing() {
        let (_registry, mut peer, mut s, repo, digests) = setup();
        let (_, ran) = run_flow(
            SetAlias::docker(&s, &repo, None, &digests).unwrap(),
            &mut peer,
            &mut s,
        );
        assert_eq!(ran, 2);
        assert!(SetAlias::docker(&s, &repo, Some("bad alias!"), &digests).is_err());
        let flow = SetAlias::docker(&s, &repo, Some("x"), &[]).unwrap();
        let mut flow = flow;
        assert!(matches!(flow.step(None), Err(Error::Misuse(_))), "no blobs");
    }

    #[test]
    fn an_oci_alias_pushes_the_empty_config_before_its_manifest() {
        let (registry, mut peer, mut s, repo, digests) = setup();
        let blobs = vec![(digests[0].clone(), Some("a.txt".to_owned()))];
        let flow = SetAlias::oci(&s, &repo, Some("v1"), &blobs, &Default::default()).unwrap();
        let (manifest, ran) = run_flow(flow, &mut peer, &mut s);
        assert_eq!(ran, 3, "HEAD, the empty config, the PUT");
        assert!(manifest.contains("a.txt"));
        assert_eq!(
            registry.state.borrow().blobs.len(),
            3,
            "the empty config was pushed"
        );
    }

    #[test]
    fn deleting_an_alias_by_digest_or_alone() {
        let (registry, mut peer, mut s, repo, digests) = setup();
        for tag in ["a", "b"] {
            let flow = SetAlias::docker(&s, &repo, Some(tag), &digests).unwrap();
            run_flow(flow, &mut peer, &mut s);
        }
        let flow = DeleteAlias::only(&s, &repo, "a").unwrap();
        let (manifest, _) = run_flow(flow, &mut peer, &mut s);
        assert!(matches!(manifest.content, AliasContent::Image { .. }));
        {
            let state = registry.state.borrow();
            let tags: Vec<_> = state.tags.keys().map(|(_, t)| t.as_str()).collect();
            assert_eq!(tags, ["b"], "only a went");
        }
        let (deleted, ran) = run_flow(
            DeleteAlias::by_digest(&s, &repo, "b").unwrap(),
            &mut peer,
            &mut s,
        );
        assert_eq!((deleted.digest, ran), (manifest.digest, 2));
        assert!(registry.state.borrow().manifests.is_empty());
        let digest = format!("{}", digests[0]);
        assert!(matches!(
            DeleteAlias::only(&s, &repo, &digest),
            Err(Error::Misuse(_))
        ));
    }

    #[test]
    fn attaching_pushes_the_empty_config_first() {
        let (registry, mut peer, mut s, repo, digests) = setup();
        run_flow(
            SetAlias::docker(&s, &repo, Some("subject"), &digests).unwrap(),
            &mut peer,
            &mut s,
        );
        let blobs = [BlobDescriptor {
            digest: digests[1].clone(),
            size: 6,
            title: None,
        }];
        let options = OciArtifactOptions {
            artifact_type: "application/x.sig".into(),
            ..Default::default()
        };
        let flow = AttachArtifact::new(&s, &repo, "subject", &blobs, &options).unwrap();
        let (attached, ran) = run_flow(flow, &mut peer, &mut s);
        assert!(ran >= 2);
        assert_eq!(
            registry.state.borrow().blobs.len(),
            3,
            "the empty config was pushed"
        );
        let state = registry.state.borrow();
        assert!(state
            .manifests
            .keys()
            .any(|(_, d)| d == attached.digest.as_str()));
    }

    #[test]
    fn a_flow_handed_the_wrong_outcome_fails_cleanly() {
        let (_registry, _peer, s, repo, digests) = setup();
        let mut flow = SetAlias::docker(&s, &repo, Some("x"), &digests).unwrap();
        assert!(matches!(flow.step(None), Ok(FlowStep::Run(_))));
        let wrong = Outcome(Produced::Finished);
        assert!(matches!(flow.step(Some(wrong)), Err(Error::Misuse(_))));
    }
}
