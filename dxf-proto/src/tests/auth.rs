//! The auth wrapper: Basic, Bearer (Docker Hub, GHCR styles), anonymous tokens, scopes,
//! token caching and expiry, second 401.

use super::*;
use crate::testing::{MemoryAuth, MemoryRegistry, Reply, Sent};
use crate::{Credentials, Error, HeadBlob, Scope, VersionCheck};

fn creds() -> Credentials {
    Credentials::Basic {
        username: "alice".into(),
        password: "secret".into(),
    }
}

const ALICE: &str = "Basic YWxpY2U6c2VjcmV0";

fn head_op(s: &Session, r: &Repository, d: &Digest) -> HeadBlob {
    HeadBlob::new(s, r, d).unwrap()
}

/// A registry that wants `Bearer good` and issues it from `realm_challenge`'s realm.
fn bearer_registry(challenge: &'static str, token_json: &'static str) -> ScriptedRegistry {
    ScriptedRegistry::new(move |sent: &Sent| {
        if sent.uri.starts_with("https://auth.") || sent.uri.starts_with("https://ghcr.io/token") {
            return Reply::status(200).body(token_json);
        }
        if sent.header("authorization") == Some("Bearer good") {
            Reply::status(200).header("content-length", "3")
        } else {
            Reply::status(401).header("www-authenticate", challenge)
        }
    })
}

#[test]
fn docker_hub_style_bearer_challenge_fetches_a_token_and_retries() {
    let mut s = Session::new("registry-1.docker.io", Scheme::Https).unwrap();
    let r = s.repository("alpine").unwrap();
    let d = sha(b"abc");
    let mut peer = bearer_registry(
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        r#"{"token":"good","access_token":"good","expires_in":300,"issued_at":"2023-11-14T22:13:20Z"}"#,
    );
    let out = run(head_op(&s, &r, &d), &mut s, &mut peer, b"").unwrap();
    assert_eq!(out.output.size, 3);
    assert_eq!(peer.sent.len(), 3);
    assert!(peer.sent[0].header("authorization").is_none());
    assert_eq!(
        peer.sent[1].uri,
        "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Falpine%3Apull"
    );
    assert!(
        peer.sent[1].header("authorization").is_none(),
        "anonymous token flow"
    );
    assert_eq!(peer.sent[2].header("authorization"), Some("Bearer good"));
    assert_eq!(peer.sent[2].uri, peer.sent[0].uri);
}

#[test]
fn ghcr_style_challenge_with_access_token_only() {
    let mut s = Session::new("ghcr.io", Scheme::Https)
        .unwrap()
        .with_credentials(creds());
    let r = repo("user/image");
    let d = sha(b"abc");
    let mut peer = bearer_registry(
        r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#,
        r#"{"access_token":"good"}"#,
    );
    run(head_op(&s, &r, &d), &mut s, &mut peer, b"").unwrap();
    assert_eq!(
        peer.sent[1].header("authorization"),
        Some(ALICE),
        "credentials go to the realm"
    );
    assert_eq!(peer.sent[2].header("authorization"), Some("Bearer good"));
}

#[test]
fn access_token_wins_over_token_and_empty_access_token_falls_back() {
    for (body, want) in [
        (r#"{"token":"t1","access_token":"good"}"#, "good"),
        (r#"{"token":"good","access_token":""}"#, "good"),
    ] {
        let mut s = session();
        let r = repo("a");
        let d = sha(b"abc");
        let body: &'static str = Box::leak(body.to_owned().into_boxed_str());
        let mut peer = bearer_registry(r#"Bearer realm="https://auth.test/t""#, body);
        let out = run(head_op(&s, &r, &d), &mut s, &mut peer, b"");
        assert!(out.is_ok(), "{body}");
        assert_eq!(
            peer.sent[2].header("authorization"),
            Some(format!("Bearer {want}").as_str())
        );
    }
}

#[test]
fn basic_challenge_retries_with_basic_and_the_session_sends_it_up_front_afterwards() {
    let reg = MemoryRegistry::with_auth(MemoryAuth::Basic("alice".into(), "secret".into()));
    let mut s = session().with_credentials(creds());
    let mut peer = reg.peer();
    run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b"").unwrap();
    assert_eq!(peer.sent.len(), 2);
    assert_eq!(peer.sent[1].header("authorization"), Some(ALICE));
    run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b"").unwrap();
    assert_eq!(peer.sent.len(), 3, "no second challenge");
    assert_eq!(peer.sent[2].header("authorization"), Some(ALICE));
}

#[test]
fn basic_challenge_without_credentials_is_unauthorized() {
    let reg = MemoryRegistry::with_auth(MemoryAuth::Basic("alice".into(), "secret".into()));
    let mut s = session();
    let e = err(run(
        VersionCheck::new(&s).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
}

#[test]
fn second_401_is_unauthorized_with_the_oci_errors() {
    let mut s = session().with_credentials(creds());
    let mut peer = ScriptedRegistry::new(|_| {
        Reply::status(401)
            .header("www-authenticate", r#"Basic realm="r""#)
            .body(r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad password"}]}"#)
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert_eq!(peer.sent.len(), 2, "one retry only");
    match e {
        Error::Unauthorized { oci, .. } => assert_eq!(oci[0].code, "UNAUTHORIZED"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn challenge_with_quoted_comma_and_two_scopes_sends_one_scope_parameter_each() {
    let mut s = session();
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.starts_with("https://auth.test") {
            return Reply::status(200).body(r#"{"token":"good"}"#);
        }
        if sent.header("authorization") == Some("Bearer good") {
            return Reply::status(201).header("docker-content-digest", sha(b"abc").as_str());
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token?x=1",service="reg, test",scope="repository:dst:pull,push repository:src:pull""#,
        )
    });
    let op = crate::MountBlob::new(
        &s,
        &repo("dst"),
        &repo("src"),
        &sha(b"abc"),
        Default::default(),
    )
    .unwrap();
    run(op, &mut s, &mut peer, b"").unwrap();
    assert_eq!(
        peer.sent[1].uri,
        "https://auth.test/token?x=1&service=reg%2C+test&scope=repository%3Adst%3Apull%2Cpush&scope=repository%3Asrc%3Apull"
    );
}

#[test]
fn tokens_are_cached_per_scope_and_refetched_when_expired() {
    let reg = MemoryRegistry::with_auth(MemoryAuth::Bearer);
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), sha(b"abc").to_string()), b"abc".to_vec());
    let mut s = session();
    let r = repo("a");
    let d = sha(b"abc");
    let mut peer = reg.peer();
    run(head_op(&s, &r, &d), &mut s, &mut peer, b"").unwrap();
    assert_eq!(peer.sent.len(), 3, "401, token, retry");
    // Same scope: the cached token goes up front.
    run(head_op(&s, &r, &d), &mut s, &mut peer, b"").unwrap();
    assert_eq!(peer.sent.len(), 4);
    assert_eq!(peer.sent[3].header("authorization"), Some("Bearer tok-0"));
    // Later than expires_in (300 s): the realm is known, so the token is refetched first.
    let mut later = Authed::new(&s, head_op(&s, &r, &d));
    drive(&mut later, &mut peer, &mut s, NOW.plus(400), b"").unwrap();
    assert_eq!(peer.sent.len(), 6, "token, then the request");
    assert!(peer.sent[4].uri.starts_with("https://auth.test/token"));
    assert_eq!(peer.sent[5].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(reg.state.borrow().token_requests.len(), 2);
}

#[test]
fn a_token_rejected_later_triggers_one_new_round() {
    // The cached token is refused (revoked): one new round, then success.
    let mut s = session();
    let r = repo("a");
    let d = sha(b"abc");
    let mut peer = bearer_registry(
        r#"Bearer realm="https://auth.test/token""#,
        r#"{"token":"good"}"#,
    );
    s.set_token(Some("stale".into()));
    run(head_op(&s, &r, &d), &mut s, &mut peer, b"").unwrap();
    assert_eq!(peer.sent[0].header("authorization"), Some("Bearer stale"));
    assert_eq!(peer.sent[2].header("authorization"), Some("Bearer good"));
}

#[test]
fn auth_host_override_replaces_the_realm_host() {
    let mut s = session().with_auth_host(Some("auth.test:8443".into()));
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.starts_with("https://auth.test:8443/") {
            return Reply::status(200).body(r#"{"token":"good"}"#);
        }
        if sent.header("authorization").is_some() {
            return Reply::status(200).body("{}");
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://elsewhere.example/token",service="svc""#,
        )
    });
    run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b"").unwrap();
    assert_eq!(peer.sent[1].uri, "https://auth.test:8443/token?service=svc");
}

#[test]
fn exact_scope_asks_only_for_the_given_actions_and_leaves_the_token_in_the_session() {
    let mut s = session();
    let r = repo("a/b");
    let mut peer = bearer_registry(
        r#"Bearer realm="https://auth.test/token",service="svc",scope="repository:a/b:pull""#,
        r#"{"token":"good"}"#,
    );
    let scope = Scope::exact_repository(&r, &["pull", "push"]);
    let op = VersionCheck::with_scope(&s, scope.clone()).unwrap();
    run(op, &mut s, &mut peer, b"").unwrap();
    assert_eq!(
        peer.sent[1].uri,
        "https://auth.test/token?service=svc&scope=repository%3Aa%2Fb%3Apull%2Cpush"
    );
    assert_eq!(s.bearer_token(&scope, NOW), Some("good"));
}

#[test]
fn catalog_without_challenge_scope_asks_for_registry_catalog() {
    let mut s = session();
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.starts_with("https://auth.test") {
            return Reply::status(200).body(r#"{"token":"good"}"#);
        }
        if sent.header("authorization").is_some() {
            return Reply::status(200).body(r#"{"repositories":["x"]}"#);
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        )
    });
    let out = run(
        crate::Catalog::new(&s, None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(out.output.items, ["x"]);
    assert_eq!(
        peer.sent[1].uri,
        "https://auth.test/token?scope=registry%3Acatalog%3A*"
    );
}

#[test]
fn token_server_refusal_is_unauthorized_and_errors_are_reported() {
    let mut s = session().with_credentials(creds());
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.starts_with("https://auth.test") {
            return Reply::status(401).body(r#"{"errors":[{"code":"DENIED","message":"no"}]}"#);
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        )
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert!(
        matches!(e, Error::Unauthorized { ref oci, .. } if oci[0].code == "DENIED"),
        "{e:?}"
    );
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.starts_with("https://auth.test") {
            return Reply::status(200).body(r#"{"nothing":1}"#);
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        )
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert!(
        matches!(e, Error::Protocol(crate::ProtocolViolation::BadToken(_))),
        "{e:?}"
    );
}

#[test]
fn oversized_token_response_is_rejected() {
    let mut s = session();
    let big = format!(r#"{{"token":"{}"}}"#, "a".repeat(2 * 1024 * 1024));
    let mut peer = ScriptedRegistry::new(move |sent: &Sent| {
        if sent.uri.starts_with("https://auth.test") {
            return Reply::status(200).body(big.clone());
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        )
    });
    peer.feed_split = 64 * 1024;
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert_eq!(e, Error::BodyTooLarge { limit: 1024 * 1024 });
}

#[test]
fn unparseable_challenges_are_protocol_errors_and_unknown_schemes_unauthorized() {
    let mut s = session();
    let mut peer = ScriptedRegistry::new(|_| {
        Reply::status(401).header("www-authenticate", r#"Bearer realm="unterminated"#)
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert!(
        matches!(
            e,
            Error::Protocol(crate::ProtocolViolation::BadChallenge(_))
        ),
        "{e:?}"
    );
    let mut peer = ScriptedRegistry::new(|_| {
        Reply::status(401).header("www-authenticate", r#"Negotiate abc=="#)
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    let mut peer = ScriptedRegistry::new(|_| {
        Reply::status(401).header("www-authenticate", r#"Bearer service="x""#)
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert!(
        matches!(
            e,
            Error::Protocol(crate::ProtocolViolation::BadChallenge(_))
        ),
        "{e:?}"
    );
}

#[test]
fn auth_rounds_are_bounded() {
    // Every token is accepted by the token server and refused by the registry with a new
    // challenge (cached-token path): the wrapper gives up after its round limit.
    let mut s = session();
    s.set_token(Some("x".into()));
    let mut n = 0;
    let mut peer = ScriptedRegistry::new(move |sent: &Sent| {
        if sent.uri.starts_with("https://auth.test") {
            n += 1;
            return Reply::status(200).body(format!(r#"{{"token":"t{n}"}}"#));
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        )
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert!(peer.sent.len() <= 8, "{}", peer.sent.len());
}

#[test]
fn a_token_fetched_meanwhile_by_another_operation_is_adopted_instead_of_fetching_again() {
    let reg = MemoryRegistry::with_auth(MemoryAuth::Bearer);
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), sha(b"abc").to_string()), b"abc".to_vec());
    let mut s = session();
    let r = repo("a");
    let d = sha(b"abc");
    // Two operations start before either has a token.
    let mut first = Authed::new(&s, head_op(&s, &r, &d));
    let mut second = Authed::new(&s, head_op(&s, &r, &d));
    let mut peer = reg.peer();
    drive(&mut first, &mut peer, &mut s, NOW, b"").unwrap();
    assert_eq!(reg.state.borrow().token_requests.len(), 1);
    // The second meets its 401 and is about to fetch a token: it adopts the session's.
    let crate::Step::Send(req) = second.poll(NOW).unwrap() else {
        panic!()
    };
    assert!(req.headers().get("authorization").is_none());
    let head = http::Response::builder()
        .status(401)
        .header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token",service="test-registry""#,
        )
        .body(())
        .unwrap();
    assert_eq!(
        second.handle_response(head, NOW).unwrap(),
        crate::BodyPlan::Discard
    );
    let crate::Step::Send(token_req) = second.poll(NOW).unwrap() else {
        panic!()
    };
    assert!(token_req
        .uri()
        .to_string()
        .starts_with("https://auth.test/token"));
    assert_eq!(
        second.token_request_scope(),
        Some("repository:a:pull".to_owned())
    );
    assert!(second.adopt_session_token(&s, NOW));
    assert_eq!(second.token_request_scope(), None);
    let crate::Step::Send(replay) = second.poll(NOW).unwrap() else {
        panic!()
    };
    assert_eq!(replay.headers()["authorization"], "Bearer tok-0");
    assert_eq!(reg.state.borrow().token_requests.len(), 1);
    // Nothing to adopt when the session has no better token.
    let mut third = Authed::new(
        &Session::new("reg.test", Scheme::Https).unwrap(),
        head_op(&s, &r, &d),
    );
    assert!(!third.adopt_session_token(&s, NOW));
}

/// Fuzz finding (push_chunked): a token that expired between the last response and the
/// next poll made the wrapper fetch a new one although the operation had nothing left to
/// send. Tokens are fetched only for a request the inner operation wants sent.
#[test]
fn no_token_is_fetched_once_the_operation_has_nothing_left_to_send() {
    let reg = MemoryRegistry::with_auth(MemoryAuth::Bearer);
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), sha(b"abc").to_string()), b"abc".to_vec());
    let mut s = session();
    let r = repo("a");
    let d = sha(b"abc");
    let mut peer = reg.peer();
    run(head_op(&s, &r, &d), &mut s, &mut peer, b"").unwrap(); // learns realm + token
    let mut op = Authed::new(&s, head_op(&s, &r, &d));
    let crate::Step::Send(req) = op.poll(NOW).unwrap() else {
        panic!()
    };
    assert_eq!(req.headers()["authorization"], "Bearer tok-0");
    let head = http::Response::builder()
        .status(200)
        .header("content-length", "3")
        .body(())
        .unwrap();
    assert_eq!(
        op.handle_response(head, NOW).unwrap(),
        crate::BodyPlan::Discard
    );
    // Much later: the token has expired, but the operation is done — no token request.
    match op.poll(NOW.plus(100_000)).unwrap() {
        crate::Step::Done(info) => assert_eq!(info.size, 3),
        other => panic!("expected Done, got {other:?}"),
    }
    assert_eq!(reg.state.borrow().token_requests.len(), 1);
}
