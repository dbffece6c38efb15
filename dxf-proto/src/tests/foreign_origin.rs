//! Credentials never follow a request to another origin. A 401 from a host other than the
//! registry — a blob GET's redirect target, a tag list's `Link` next page, an upload
//! `Location` — is not answered, whatever it asks for (a Bearer realm on itself, a realm on
//! a third host, the registry's own realm with another scope, Basic, or nothing): the
//! operation fails with [`Error::ForeignChallenge`] naming that host, and the session learns
//! nothing from it (no realm, no switch to Basic). A 403 from another host is that host's
//! answer, not an expired token of ours: no token refresh.
//!
//! The table runs every mechanism × every challenge the other host may send × every kind
//! of credentials: username and password (`DXF_USERNAME`/`DXF_PASSWORD`), a raw
//! `Authorization` value (`DXF_AUTHORIZATION`), an identity token (the refresh-token grant),
//! a preset token (`DXF_TOKEN`) and a token already cached from the registry's own realm.
//! Credentials from docker's `config.json` (`auth`, `identitytoken`, a credential helper)
//! and `copy --to`'s two sets (one for each registry) reach dxf-proto as these same
//! [`Credentials`] values, one [`Session`] per registry, so the table covers them too;
//! [`two_registries_never_get_each_others_credentials`] checks that with two sessions
//! neither set reaches the other registry or a third host.
//!
//! The realm named by the registry's *own* challenge may be on any host (that is how token
//! auth works): credentials go there — or to the `DXF_AUTH_HOST` override when set.

use super::*;
use crate::auth::Scope;
use crate::session::{BearerRealm, CachedToken, Event, SessionEvent};
use crate::testing::{Reply, Sent};
use crate::{
    Credentials, Error, GetBlob, HeadBlob, ListTags, OpKind, Upload, UploadMode, UploadOptions,
};

/// The registry.
const REGISTRY: &str = "reg.test";
/// The realm the registry's own challenge names (a host of its own, as on Docker Hub).
const OWN_REALM: &str = "https://auth.test/token";
/// A realm on yet another host, named by the registry's own challenge (allowed).
const OTHER_REALM: &str = "https://realm.example/token";
/// Where the registry sends a request: storage, a mirror, an attacker.
const THIRD: &str = "third.example";
/// A realm on a third host, named by the other host's challenge.
const HARVEST: &str = "harvest.example";

/// What `Credentials::Basic { u, p }` sends.
const PASSWORD: &str = "Basic dTpw";
/// A raw `Authorization` value (`DXF_AUTHORIZATION`).
const RAW: &str = "Custom raw-secret";
/// An identity token (docker's `identitytoken`).
const REFRESH: &str = "refresh-me";
/// Everything secret the credential kinds hold or obtain; none may reach another host.
const SECRETS: [&str; 5] = ["dTpw", "raw-secret", REFRESH, "preset", "good"];

/// How a request reaches another origin.
#[derive(Clone, Copy, Debug)]
enum Mechanism {
    /// A blob GET answered 307 with a `Location` on another host.
    Redirect,
    /// A tag list whose `Link` next page is on another host.
    Link,
    /// An upload whose `Location` is on another host.
    UploadLocation,
}

/// What the other host answers with.
#[derive(Clone, Copy, Debug)]
enum Foreign {
    /// `401`, `Bearer realm` on itself.
    RealmOnItself,
    /// `401`, `Bearer realm` on a third host.
    RealmOnThirdHost,
    /// `401`, `Bearer` naming the registry's own realm, asking for another scope.
    RegistryRealm,
    /// `401`, `Basic`.
    Basic,
    /// `401` without a challenge.
    Bare,
}

/// The kind of credentials in the session.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `DXF_USERNAME` / `DXF_PASSWORD`.
    Password,
    /// `DXF_AUTHORIZATION`.
    RawAuthorization,
    /// docker's `identitytoken`.
    IdentityToken,
    /// `DXF_TOKEN`.
    PresetToken,
    /// A token (and the realm) already learned from the registry's own challenge; the
    /// session also holds the password.
    CachedToken,
}

const MECHANISMS: [Mechanism; 3] = [
    Mechanism::Redirect,
    Mechanism::Link,
    Mechanism::UploadLocation,
];
const FOREIGN: [Foreign; 5] = [
    Foreign::RealmOnItself,
    Foreign::RealmOnThirdHost,
    Foreign::RegistryRealm,
    Foreign::Basic,
    Foreign::Bare,
];
const KINDS: [Kind; 5] = [
    Kind::Password,
    Kind::RawAuthorization,
    Kind::IdentityToken,
    Kind::PresetToken,
    Kind::CachedToken,
];

fn host_of(sent: &Sent) -> String {
    url::Url::parse(&sent.uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

fn path_of(sent: &Sent) -> String {
    let u = url::Url::parse(&sent.uri).unwrap();
    match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    }
}

/// A token server: a token for the password, the raw value or the refresh-token grant.
fn token_server(sent: &Sent) -> Reply {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    let grant = sent.method == "POST"
        && form
            .iter()
            .any(|(k, v)| k == "refresh_token" && v == REFRESH);
    if grant || matches!(sent.header("authorization"), Some(PASSWORD | RAW)) {
        Reply::status(200).body(r#"{"token":"good","access_token":"good","expires_in":300}"#)
    } else {
        Reply::status(401).body(r#"{"errors":[{"code":"DENIED","message":"no"}]}"#)
    }
}

/// The first page of repository `a`'s tags, its `Link` next page on [`THIRD`].
fn first_tags_page() -> Reply {
    Reply::status(200)
        .header(
            "link",
            r#"<https://third.example/v2/a/tags/list?last=1>; rel="next""#,
        )
        .body(r#"{"name":"a","tags":["1"]}"#)
}

/// The registry: wants `Bearer good` (from its realm) or `Bearer preset`, challenging with
/// `own_realm`; sends blob GETs, next pages and uploads to [`THIRD`].
fn registry(sent: &Sent, own_realm: &str) -> Reply {
    if !matches!(
        sent.header("authorization"),
        Some("Bearer good" | "Bearer preset")
    ) {
        return Reply::status(401).header(
            "www-authenticate",
            &format!(r#"Bearer realm="{own_realm}",service="reg.test""#),
        );
    }
    let path = path_of(sent);
    match (sent.method.as_str(), path.as_str()) {
        ("GET", "/v2/a/tags/list") => first_tags_page(),
        ("GET", p) if p.starts_with("/v2/a/blobs/") => {
            Reply::status(307).header("location", "https://third.example/blob/1?sig=x")
        }
        ("HEAD", p) if p.starts_with("/v2/a/blobs/") => {
            Reply::status(200).header("content-length", "3")
        }
        ("POST", "/v2/a/blobs/uploads/") => {
            Reply::status(202).header("location", "https://third.example/upload/1?sig=x")
        }
        _ => Reply::status(404),
    }
}

/// The other host: a token for anyone at `/token` (so a token request there would
/// succeed), else `401` with the challenge of `foreign`.
fn third(sent: &Sent, foreign: Foreign) -> Reply {
    if path_of(sent).starts_with("/token") {
        return Reply::status(200).body(r#"{"token":"stolen"}"#);
    }
    let challenge = match foreign {
        Foreign::RealmOnItself => r#"Bearer realm="https://third.example/token",service="third""#,
        Foreign::RealmOnThirdHost => r#"Bearer realm="https://harvest.example/token""#,
        Foreign::RegistryRealm => {
            r#"Bearer realm="https://auth.test/token",service="reg.test",scope="repository:other:push""#
        }
        Foreign::Basic => r#"Basic realm="third""#,
        Foreign::Bare => return Reply::status(401),
    };
    Reply::status(401).header("www-authenticate", challenge)
}

/// Every host of the table, answering by the request's host.
fn world(own_realm: &'static str, foreign: Foreign) -> ScriptedRegistry {
    ScriptedRegistry::new(move |sent: &Sent| match host_of(sent).as_str() {
        REGISTRY => registry(sent, own_realm),
        "auth.test" | "realm.example" => token_server(sent),
        THIRD => third(sent, foreign),
        HARVEST => Reply::status(200).body(r#"{"token":"stolen"}"#),
        _ => Reply::status(599),
    })
}

/// A session with credentials of `kind`; a cached token is for `scope`.
fn session_with(kind: Kind, scope: &Scope) -> Session {
    let password = Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    };
    let mut s = session();
    match kind {
        Kind::Password => s = s.with_credentials(password),
        Kind::RawAuthorization => s = s.with_credentials(Credentials::Authorization(RAW.into())),
        Kind::IdentityToken => {
            s = s.with_credentials(Credentials::IdentityToken(REFRESH.into()));
        }
        Kind::PresetToken => s.set_token(Some("preset".into())),
        Kind::CachedToken => {
            s = s.with_credentials(password);
            s.handle_event(SessionEvent(Event::Realm(BearerRealm {
                realm: OWN_REALM.into(),
                service: Some(REGISTRY.into()),
            })));
            s.handle_event(SessionEvent(Event::Token {
                key: scope.key(),
                token: CachedToken {
                    token: "good".into(),
                    expires_at: Some(NOW.plus(300)),
                },
            }));
        }
    }
    s
}

/// The `Authorization` each request to the registry and to its own realm carries, per
/// kind (the realm gets the identity token in a POST body, without `Authorization`).
fn expected(
    kind: Kind,
) -> (
    &'static [Option<&'static str>],
    &'static [Option<&'static str>],
) {
    match kind {
        Kind::Password => (&[None, Some("Bearer good")], &[Some(PASSWORD)]),
        Kind::RawAuthorization => (&[None, Some("Bearer good")], &[Some(RAW)]),
        Kind::IdentityToken => (&[None, Some("Bearer good")], &[None]),
        Kind::PresetToken => (&[Some("Bearer preset")], &[]),
        Kind::CachedToken => (&[Some("Bearer good")], &[]),
    }
}

/// The `Authorization` of every request sent to `host`, in order.
fn authorization_to(peer: &ScriptedRegistry, host: &str) -> Vec<Option<String>> {
    peer.sent
        .iter()
        .filter(|s| host_of(s) == host)
        .map(|s| s.header("authorization").map(str::to_owned))
        .collect()
}

fn owned(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|o| o.map(str::to_owned)).collect()
}

/// No secret in any header or body of any request to `host`.
fn assert_nothing_secret_reached(peer: &ScriptedRegistry, host: &str, case: &str) {
    for sent in peer.sent.iter().filter(|s| host_of(s) == host) {
        let body = String::from_utf8_lossy(&sent.body);
        for secret in SECRETS {
            assert!(
                !body.contains(secret),
                "{case}: {secret} in the body to {host}"
            );
            for (name, value) in &sent.headers {
                assert!(
                    !value.contains(secret),
                    "{case}: {secret} in {name} to {host}"
                );
            }
        }
    }
}

/// Runs the operation of `mechanism` (following a next page as an adapter's iterator
/// would); returns its error and the method and path of the request that reached [`THIRD`].
fn run_mechanism(
    mechanism: Mechanism,
    kind: Kind,
    peer: &mut ScriptedRegistry,
) -> (Error, Session, &'static str, &'static str) {
    let data = b"0123456789".to_vec();
    let d = sha(&data);
    let s0 = session();
    match mechanism {
        Mechanism::Redirect => {
            let op = GetBlob::new(&s0, &repo("a"), &d, None).unwrap();
            let mut s = session_with(kind, &op.scope());
            let e = err(run(op, &mut s, peer, b""));
            (e, s, "GET", "/blob/1?sig=x")
        }
        Mechanism::Link => {
            let op = ListTags::new(&s0, &repo("a"), None).unwrap();
            let mut s = session_with(kind, &op.scope());
            let page = run(op, &mut s, peer, b"").unwrap().output;
            assert_eq!(page.items, ["1"]);
            let next = *page.next.unwrap();
            let e = err(run(next, &mut s, peer, b""));
            (e, s, "GET", "/v2/a/tags/list?last=1")
        }
        Mechanism::UploadLocation => {
            let opts = UploadOptions {
                skip_if_exists: false,
                mode: UploadMode::Chunked,
                chunk_size: Some(4),
            };
            let op = Upload::known(&s0, &repo("a"), &d, 10, &opts).unwrap();
            let mut s = session_with(kind, &op.scope());
            let e = err(run(op, &mut s, peer, &data));
            (e, s, "PATCH", "/upload/1?sig=x")
        }
    }
}

#[test]
fn a_challenge_from_another_origin_is_never_answered() {
    for mechanism in MECHANISMS {
        for foreign in FOREIGN {
            for kind in KINDS {
                let case = format!("{mechanism:?} × {foreign:?} × {kind:?}");
                let mut peer = world(OWN_REALM, foreign);
                let (e, s, method, path) = run_mechanism(mechanism, kind, &mut peer);
                // The other host got the one request it was sent to, without credentials;
                // no token request, no replay; no host its challenge names got anything.
                let at_third: Vec<(&str, String, Option<&str>)> = peer
                    .sent
                    .iter()
                    .filter(|s| host_of(s) == THIRD)
                    .map(|s| (s.method.as_str(), path_of(s), s.header("authorization")))
                    .collect();
                assert_eq!(
                    at_third,
                    [(method, path.to_owned(), None)],
                    "{case}: {THIRD}"
                );
                assert_nothing_secret_reached(&peer, THIRD, &case);
                assert_eq!(authorization_to(&peer, HARVEST), [], "{case}: {HARVEST}");
                assert_eq!(
                    authorization_to(&peer, "realm.example"),
                    [],
                    "{case}: realm.example"
                );
                let (to_registry, to_realm) = expected(kind);
                assert_eq!(
                    authorization_to(&peer, "auth.test"),
                    owned(to_realm),
                    "{case}: the registry's realm"
                );
                assert_eq!(
                    authorization_to(&peer, REGISTRY),
                    owned(to_registry),
                    "{case}: the registry"
                );
                assert_eq!(e, Error::ForeignChallenge { host: THIRD.into() }, "{case}");
                // The session learned nothing from the other host.
                assert!(!s.basic_accepted(), "{case}: switched to Basic");
                let realm = s.realm().map(|r| r.realm.as_str());
                let want = match kind {
                    Kind::PresetToken => None,
                    _ => Some(OWN_REALM),
                };
                assert_eq!(realm, want, "{case}: realm");
            }
        }
    }
}

#[test]
fn the_error_names_the_host_with_its_port_on_one_line() {
    let mut s = session().with_credentials(Credentials::Authorization(RAW.into()));
    s.set_token(Some("preset".into()));
    let mut peer = ScriptedRegistry::new(|sent: &Sent| {
        if host_of(sent) == REGISTRY {
            Reply::status(307).header("location", "https://third.example:8443/b")
        } else {
            third(sent, Foreign::RealmOnItself)
        }
    });
    let e = err(run(
        GetBlob::new(&s, &repo("a"), &sha(b"x"), None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(
        e,
        Error::ForeignChallenge {
            host: "third.example:8443".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "401 Unauthorized from third.example:8443, which is not the registry: its challenge \
         is not answered (credentials go only to the registry and its token realm)"
    );
    assert!(!e.to_string().contains('\n'));
}

/// The positive control: the registry's own challenge may name a realm on any host, and
/// the credentials go there (python-dxf, docker), or to the `DXF_AUTH_HOST` override.
#[test]
fn the_realm_named_by_the_registrys_own_challenge_gets_the_credentials_on_any_host() {
    let d = sha(b"abc");
    for kind in KINDS {
        let case = format!("{kind:?}");
        let mut peer = world(OTHER_REALM, Foreign::RealmOnItself);
        let op = HeadBlob::new(&session(), &repo("a"), &d).unwrap();
        let mut s = session_with(kind, &op.scope());
        let out = run(op, &mut s, &mut peer, b"").unwrap();
        assert_eq!(out.output.size, 3, "{case}");
        let (to_registry, to_realm) = expected(kind);
        assert_eq!(
            authorization_to(&peer, REGISTRY),
            owned(to_registry),
            "{case}"
        );
        assert_eq!(
            authorization_to(&peer, "realm.example"),
            owned(to_realm),
            "{case}"
        );
        if let Kind::IdentityToken = kind {
            let grant = peer.sent.iter().find(|s| host_of(s) == "realm.example");
            let grant = grant.unwrap();
            assert_eq!(grant.method, "POST");
            assert!(String::from_utf8_lossy(&grant.body).contains(REFRESH));
        }
        assert_eq!(authorization_to(&peer, THIRD), [], "{case}");
    }

    // DXF_AUTH_HOST: the override gets them instead of the host the realm names.
    let mut peer = world(OTHER_REALM, Foreign::RealmOnItself);
    let op = HeadBlob::new(&session(), &repo("a"), &d).unwrap();
    let mut s = session_with(Kind::Password, &op.scope()).with_auth_host(Some("auth.test".into()));
    run(op, &mut s, &mut peer, b"").unwrap();
    assert_eq!(
        authorization_to(&peer, "auth.test"),
        [Some(PASSWORD.into())]
    );
    assert_eq!(authorization_to(&peer, "realm.example"), []);
    assert_eq!(
        s.realm().map(|r| r.realm.as_str()),
        Some(OTHER_REALM),
        "the realm as named; the override applies when a token is fetched"
    );
}

/// A 403 from storage (an expired signature, say) is that host's answer: no token
/// refresh from the registry's realm, the operation's own error.
#[test]
fn a_403_from_another_origin_does_not_refresh_the_token() {
    let mut peer = ScriptedRegistry::new(|sent: &Sent| match host_of(sent).as_str() {
        REGISTRY => registry(sent, OWN_REALM),
        "auth.test" => token_server(sent),
        _ => Reply::status(403),
    });
    let op = GetBlob::new(&session(), &repo("a"), &sha(b"x"), None).unwrap();
    let mut s = session_with(Kind::CachedToken, &op.scope());
    let e = err(run(op, &mut s, &mut peer, b""));
    assert!(
        matches!(
            e,
            Error::UnexpectedStatus {
                op: OpKind::BlobGet,
                status: http::StatusCode::FORBIDDEN,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(authorization_to(&peer, "auth.test"), [], "no refresh");
    assert_eq!(authorization_to(&peer, THIRD), [None], "no replay");
}

/// Two sessions, as `copy --to` runs them: a source and a destination registry with
/// credentials of their own, each registry sending requests to the other and to a third
/// host. Each set goes only to its own registry's realm.
#[test]
fn two_registries_never_get_each_others_credentials() {
    const ALICE: &str = "Basic YWxpY2U6b25l"; // alice:one, for src.test
    const BOB: &str = "Basic Ym9iOnR3bw=="; // bob:two, for dst.test
    fn reg(sent: &Sent, name: &str, token: &str) -> Reply {
        if sent.header("authorization") != Some(token) {
            return Reply::status(401).header(
                "www-authenticate",
                &format!(r#"Bearer realm="https://auth.{name}/token",service="{name}""#),
            );
        }
        match (sent.method.as_str(), path_of(sent).as_str()) {
            ("GET", "/v2/a/tags/list") => first_tags_page(),
            // The source redirects its blob to the destination registry...
            ("GET", p) if p.starts_with("/v2/a/blobs/") => {
                Reply::status(307).header("location", &format!("https://dst.test{p}"))
            }
            // ...and the destination points its upload at the source registry.
            ("POST", "/v2/a/blobs/uploads/") => {
                Reply::status(202).header("location", "https://src.test/v2/a/blobs/uploads/x")
            }
            _ => Reply::status(404),
        }
    }
    fn grant(sent: &Sent, user: &str, token: &str) -> Reply {
        if sent.header("authorization") == Some(user) {
            Reply::status(200).body(format!(r#"{{"token":"{token}"}}"#))
        } else {
            Reply::status(401)
        }
    }
    let mut peer = ScriptedRegistry::new(|sent: &Sent| match host_of(sent).as_str() {
        "src.test" => reg(sent, "src.test", "Bearer src-token"),
        "dst.test" => reg(sent, "dst.test", "Bearer dst-token"),
        "auth.src.test" => grant(sent, ALICE, "src-token"),
        "auth.dst.test" => grant(sent, BOB, "dst-token"),
        THIRD => third(sent, Foreign::RealmOnItself),
        _ => Reply::status(599),
    });
    let basic = |u: &str, p: &str| Credentials::Basic {
        username: u.into(),
        password: p.into(),
    };
    let mut src = Session::new("src.test", Scheme::Https)
        .unwrap()
        .with_credentials(basic("alice", "one"));
    let mut dst = Session::new("dst.test", Scheme::Https)
        .unwrap()
        .with_credentials(basic("bob", "two"));
    let data = b"0123456789".to_vec();
    let d = sha(&data);

    let pull = GetBlob::new(&src, &repo("a"), &d, None).unwrap();
    let pulled = err(run(pull, &mut src, &mut peer, b""));
    let opts = UploadOptions {
        skip_if_exists: false,
        mode: UploadMode::Monolithic,
        chunk_size: None,
    };
    let push = Upload::known(&dst, &repo("a"), &d, 10, &opts).unwrap();
    let pushed = err(run(push, &mut dst, &mut peer, &data));
    let list = ListTags::new(&src, &repo("a"), None).unwrap();
    let next = *run(list, &mut src, &mut peer, b"")
        .unwrap()
        .output
        .next
        .unwrap();
    let listed = err(run(next, &mut src, &mut peer, b""));

    // Each realm got its own registry's set, once; each registry only its own token.
    assert_eq!(
        authorization_to(&peer, "auth.src.test"),
        [Some(ALICE.into())]
    );
    assert_eq!(authorization_to(&peer, "auth.dst.test"), [Some(BOB.into())]);
    for (host, token) in [
        ("src.test", "Bearer src-token"),
        ("dst.test", "Bearer dst-token"),
    ] {
        for got in authorization_to(&peer, host) {
            assert!(
                got.is_none() || got.as_deref() == Some(token),
                "{host} got {got:?}"
            );
        }
    }
    assert_eq!(authorization_to(&peer, THIRD), [None]);
    let foreign = |host: &str| Error::ForeignChallenge { host: host.into() };
    assert_eq!(pulled, foreign("dst.test"));
    assert_eq!(pushed, foreign("src.test"));
    assert_eq!(listed, foreign(THIRD));
    assert_eq!(
        src.realm().map(|r| r.realm.as_str()),
        Some("https://auth.src.test/token")
    );
    assert_eq!(
        dst.realm().map(|r| r.realm.as_str()),
        Some("https://auth.dst.test/token")
    );
    assert!(!src.basic_accepted() && !dst.basic_accepted());
}
