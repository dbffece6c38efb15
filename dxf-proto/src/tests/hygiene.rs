//! Credential hygiene: credentials and tokens go only to the registry's origin and the token
//! realm; never to a cross-host redirect or upload `Location`; never over plain http unless
//! the caller allowed it; the realm is forced to https unless plain http is allowed.

use super::*;
use crate::testing::{Reply, Sent};
use crate::{Credentials, Error, GetBlob, Upload, UploadMode, UploadOptions, VersionCheck};

fn basic_session(scheme: Scheme) -> Session {
    Session::new("reg.test", scheme)
        .unwrap()
        .with_credentials(Credentials::Basic {
            username: "u".into(),
            password: "p".into(),
        })
}

#[test]
fn cross_host_redirect_drops_authorization() {
    let mut s = session();
    s.set_token(Some("tok".into()));
    let blob = b"hello".to_vec();
    let d = sha(&blob);
    let b2 = blob.clone();
    let mut peer = ScriptedRegistry::new(move |sent: &Sent| {
        if sent.uri.starts_with("https://reg.test/") {
            Reply::status(307).header(
                "location",
                "https://s3.example/bucket/blob?X-Amz-Signature=abc",
            )
        } else {
            Reply::status(200)
                .header("content-length", &b2.len().to_string())
                .body(b2.clone())
        }
    });
    let out = run(
        GetBlob::new(&s, &repo("a"), &d, None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(peer.sent[0].header("authorization"), Some("Bearer tok"));
    assert_eq!(
        peer.sent[1].uri,
        "https://s3.example/bucket/blob?X-Amz-Signature=abc"
    );
    assert_eq!(peer.sent[1].header("authorization"), None);
    let body = out.delivered.unwrap();
    crate::testing::verify_delivered(out.output.verifier, &body, 2).unwrap();
}

#[test]
fn same_host_redirect_keeps_authorization() {
    let mut s = session();
    s.set_token(Some("tok".into()));
    let d = sha(b"x");
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(302).header("location", "/v2/a/blobs/elsewhere"),
        Reply::status(200).header("content-length", "1").body("x"),
    ]);
    run(
        GetBlob::new(&s, &repo("a"), &d, None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    )
    .unwrap();
    assert_eq!(peer.sent[1].uri, "https://reg.test/v2/a/blobs/elsewhere");
    assert_eq!(peer.sent[1].header("authorization"), Some("Bearer tok"));
}

#[test]
fn redirect_loops_are_bounded() {
    let mut s = session();
    let mut peer =
        ScriptedRegistry::new(|_| Reply::status(307).header("location", "/v2/a/blobs/again"));
    let e = err(run(
        GetBlob::new(&s, &repo("a"), &sha(b"x"), None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(
        matches!(
            e,
            Error::Protocol(crate::ProtocolViolation::TooManyRedirects(5))
        ),
        "{e:?}"
    );
    assert_eq!(peer.sent.len(), 6);
}

#[test]
fn cross_host_upload_location_gets_no_credentials() {
    let mut s = basic_session(Scheme::Https);
    s.handle_event(crate::session::SessionEvent(
        crate::session::Event::BasicAccepted,
    ));
    let data = b"0123456789".to_vec();
    let d = sha(&data);
    let d2 = d.to_string();
    let mut peer = ScriptedRegistry::new(move |sent: &Sent| match sent.method.as_str() {
        "POST" => Reply::status(202).header("location", "https://upload.example/u/1?sig=x"),
        "PATCH" => Reply::status(202).header("range", &format!("0-{}", sent.body.len() - 1)),
        "PUT" => Reply::status(201).header("docker-content-digest", &d2),
        _ => Reply::status(500),
    });
    let opts = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Chunked,
        chunk_size: Some(4),
    };
    run(
        Upload::known(&s, &repo("a"), &d, 10, &opts).unwrap(),
        &mut s,
        &mut peer,
        &data,
    )
    .unwrap();
    assert_eq!(peer.sent[0].header("authorization"), Some("Basic dTpw"));
    for sent in &peer.sent[1..] {
        assert!(
            sent.uri.starts_with("https://upload.example/u/1?sig=x"),
            "{}",
            sent.uri
        );
        assert_eq!(
            sent.header("authorization"),
            None,
            "{} {}",
            sent.method,
            sent.uri
        );
    }
}

#[test]
fn credentials_over_plain_http_are_refused_unless_allowed() {
    let challenge = || Reply::status(401).header("www-authenticate", r#"Basic realm="r""#);
    let mut s = basic_session(Scheme::Http);
    let mut peer = ScriptedRegistry::new(move |_| challenge());
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert_eq!(e, Error::CredentialsOverPlainHttp);
    assert_eq!(peer.sent.len(), 1);

    let mut s = basic_session(Scheme::Http).with_credentials_over_http(true);
    let mut peer = ScriptedRegistry::sequence(vec![challenge(), Reply::status(200).body("{}")]);
    run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b"").unwrap();
    assert_eq!(peer.sent[1].header("authorization"), Some("Basic dTpw"));
}

#[test]
fn a_preset_token_is_not_sent_over_plain_http() {
    let mut s = Session::new("reg.test", Scheme::Http).unwrap();
    s.set_token(Some("tok".into()));
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body("{}")]);
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert_eq!(e, Error::CredentialsOverPlainHttp);
    assert!(peer.sent.is_empty(), "nothing was sent");
}

#[test]
fn anonymous_token_flow_over_plain_http_is_refused_too() {
    // python-dxf: DXFAuthInsecureError — a bearer token is a credential.
    let mut s = Session::new("reg.test", Scheme::Http).unwrap();
    let mut peer = ScriptedRegistry::new(|_| {
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        )
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert_eq!(e, Error::CredentialsOverPlainHttp);
}

#[test]
fn an_http_realm_is_forced_to_https_unless_plain_http_is_allowed() {
    for (allow, want) in [
        (false, "https://auth.test/token"),
        (true, "http://auth.test/token"),
    ] {
        let mut s = basic_session(Scheme::Https).with_credentials_over_http(allow);
        let mut peer = ScriptedRegistry::new(|sent: &Sent| {
            if sent.uri.contains("auth.test") {
                return Reply::status(200).body(r#"{"token":"good"}"#);
            }
            if sent.header("authorization").is_some() {
                return Reply::status(200).body("{}");
            }
            Reply::status(401).header(
                "www-authenticate",
                r#"Bearer realm="http://auth.test/token""#,
            )
        });
        run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b"").unwrap();
        assert_eq!(peer.sent[1].uri, want);
        assert_eq!(peer.sent[1].header("authorization"), Some("Basic dTpw"));
    }
}

#[test]
fn the_token_goes_only_to_the_registry_not_to_the_realm() {
    let mut s = session();
    s.set_token(Some("old".into()));
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.starts_with("https://auth.test") {
            return Reply::status(200).body(r#"{"token":"good"}"#);
        }
        if sent.header("authorization") == Some("Bearer good") {
            return Reply::status(200).body("{}");
        }
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="https://auth.test/token""#,
        )
    });
    run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b"").unwrap();
    assert_eq!(
        peer.sent[1].header("authorization"),
        None,
        "no bearer token to the realm"
    );
}
