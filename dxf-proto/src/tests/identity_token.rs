//! Identity-token credentials (docker's `identitytoken`): tokens come from the OAuth2
//! refresh-token grant (`POST realm`, form body), never from a GET with Basic; a Basic
//! registry gets nothing; plain http is refused.

use super::*;
use crate::testing::{Reply, Sent};
use crate::{Credentials, Error, HeadBlob, Scope, VersionCheck};

fn identity() -> Credentials {
    Credentials::IdentityToken("refresh-me".into())
}

/// A registry wanting `Bearer good`; its token server grants it only for the refresh
/// token `refresh-me` sent as docker does.
fn oauth_registry() -> ScriptedRegistry {
    ScriptedRegistry::new(|sent: &Sent| {
        if sent.uri.starts_with("https://auth.test/token") {
            let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
                .into_owned()
                .collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            if sent.method == "POST"
                && get("grant_type") == Some("refresh_token")
                && get("refresh_token") == Some("refresh-me")
            {
                return Reply::status(200)
                    .body(r#"{"access_token":"good","refresh_token":"next","expires_in":300}"#);
            }
            return Reply::status(401).body(r#"{"error":"invalid_grant"}"#);
        }
        if sent.header("authorization") == Some("Bearer good") {
            Reply::status(200).header("content-length", "3")
        } else {
            Reply::status(401).header(
                "www-authenticate",
                r#"Bearer realm="https://auth.test/token?realm-own=1",service="reg.test",scope="repository:a/b:pull""#,
            )
        }
    })
}

#[test]
fn the_token_is_fetched_with_the_refresh_token_grant() {
    let mut s = session().with_credentials(identity());
    let r = repo("a/b");
    let d = sha(b"abc");
    let mut peer = oauth_registry();
    let out = run(HeadBlob::new(&s, &r, &d).unwrap(), &mut s, &mut peer, b"").unwrap();
    assert_eq!(out.output.size, 3);
    assert_eq!(peer.sent.len(), 3);
    let grant = &peer.sent[1];
    assert_eq!(grant.method, "POST");
    assert_eq!(grant.uri, "https://auth.test/token?realm-own=1");
    assert_eq!(
        grant.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        grant.header("content-length"),
        Some(grant.body.len().to_string().as_str())
    );
    assert!(
        grant.header("authorization").is_none(),
        "no Basic with a refresh token"
    );
    assert_eq!(
        String::from_utf8(grant.body.clone()).unwrap(),
        "grant_type=refresh_token&refresh_token=refresh-me&service=reg.test\
         &scope=repository%3Aa%2Fb%3Apull&client_id=dxf"
    );
    assert_eq!(peer.sent[2].header("authorization"), Some("Bearer good"));
}

#[test]
fn a_refused_refresh_token_is_unauthorized() {
    let mut s = session().with_credentials(Credentials::IdentityToken("stale".into()));
    let mut peer = oauth_registry();
    let e = err(run(
        VersionCheck::with_scope(&s, Scope::none()).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    assert_eq!(peer.sent.len(), 2, "no retry with a refused grant");
}

#[test]
fn a_basic_registry_gets_no_credentials_from_an_identity_token() {
    let mut s = session().with_credentials(identity());
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        assert!(sent.header("authorization").is_none(), "{sent:?}");
        Reply::status(401).header("www-authenticate", r#"Basic realm="x""#)
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
}

#[test]
fn the_refresh_token_is_never_sent_over_plain_http() {
    let mut s = Session::new("reg.test", Scheme::Http)
        .unwrap()
        .with_credentials(identity());
    let mut peer = ScriptedRegistry::new(|_: &Sent| {
        Reply::status(401).header(
            "www-authenticate",
            r#"Bearer realm="http://auth.test/token",service="reg.test""#,
        )
    });
    let e = err(run(VersionCheck::new(&s).unwrap(), &mut s, &mut peer, b""));
    assert_eq!(e, Error::CredentialsOverPlainHttp);
    assert_eq!(peer.sent.len(), 1);
}

#[test]
fn the_identity_token_is_not_printed() {
    assert_eq!(format!("{:?}", identity()), "IdentityToken(***)");
}
