//! Tag and catalog pagination, and the version check.

use super::*;
use crate::testing::{MemoryRegistry, Reply};
use crate::{Catalog, Error, ListTags, Operation, Page, ProtocolViolation, VersionCheck};

/// Collects every page the way an adapter's iterator would.
fn all_pages<O>(
    first: O,
    s: &mut Session,
    peer: &mut ScriptedRegistry,
) -> Result<Vec<Vec<String>>, crate::testing::DriveError>
where
    O: Operation<Output = Page<O>> + Scoped,
{
    let mut pages = Vec::new();
    let mut next = Some(first);
    while let Some(op) = next {
        let out = run(op, s, peer, b"")?.output;
        pages.push(out.items);
        next = out.next.map(|b| *b);
    }
    Ok(pages)
}

#[test]
fn catalog_follows_relative_links_without_sending_n() {
    let reg = MemoryRegistry::new();
    {
        let mut st = reg.state.borrow_mut();
        st.max_entries = 2;
        for r in ["a", "b", "c", "d", "e"] {
            st.blobs.insert((r.into(), "sha256:x".into()), Vec::new());
        }
    }
    let mut s = session();
    let mut peer = reg.peer();
    let pages = all_pages(Catalog::new(&s, None).unwrap(), &mut s, &mut peer).unwrap();
    assert_eq!(pages, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
    assert_eq!(peer.sent[0].uri, "https://reg.test/v2/_catalog");
    assert_eq!(peer.sent[1].uri, "https://reg.test/v2/_catalog?last=b&n=2");
}

#[test]
fn a_page_size_is_sent_only_when_asked_and_the_registry_cap_is_an_error() {
    let reg = MemoryRegistry::new();
    reg.state.borrow_mut().max_entries = 2;
    reg.state
        .borrow_mut()
        .blobs
        .insert(("a".into(), "x".into()), Vec::new());
    let mut s = session();
    let mut peer = reg.peer();
    let e = err(run(
        Catalog::new(&s, Some(100)).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(
        matches!(e, Error::UnexpectedStatus { ref oci, .. } if oci[0].code == "PAGINATION_NUMBER_INVALID"),
        "{e:?}"
    );
    assert_eq!(peer.sent[0].uri, "https://reg.test/v2/_catalog?n=100");
}

#[test]
fn tags_follow_absolute_links_and_null_lists_are_empty() {
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![
        Reply::status(200)
            .header(
                "link",
                r#"<https://reg.test/v2/a/tags/list?last=t1&n=1>; rel="next""#,
            )
            .body(r#"{"name":"a","tags":["t1"]}"#),
        Reply::status(200)
            .header("link", r#"</v2/a/tags/list?last=t2&n=1>; rel=next"#)
            .body(r#"{"name":"a","tags":["t2"]}"#),
        Reply::status(200).body(r#"{"name":"a","tags":null}"#),
    ]);
    let pages = all_pages(
        ListTags::new(&s, &repo("a"), None).unwrap(),
        &mut s,
        &mut peer,
    )
    .unwrap();
    assert_eq!(pages, [vec!["t1"], vec!["t2"], vec![]]);
    assert_eq!(
        peer.sent[2].uri,
        "https://reg.test/v2/a/tags/list?last=t2&n=1"
    );
}

#[test]
fn a_link_to_the_same_page_is_refused() {
    let mut s = session();
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200)
        .header("link", r#"</v2/a/tags/list>; rel="next""#)
        .body(r#"{"tags":["x"]}"#)]);
    let e = err(run(
        ListTags::new(&s, &repo("a"), None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(
        matches!(e, Error::Protocol(ProtocolViolation::BadLink(_))),
        "{e:?}"
    );
}

#[test]
fn pagination_is_bounded() {
    let mut s = session().with_limits(crate::Limits {
        max_pages: 3,
        ..Default::default()
    });
    let mut n = 0;
    let mut peer = ScriptedRegistry::new(move |_| {
        n += 1;
        Reply::status(200)
            .header("link", &format!("</v2/a/tags/list?last={n}>; rel=\"next\""))
            .body(r#"{"tags":["x"]}"#)
    });
    let r = all_pages(
        ListTags::new(&s, &repo("a"), None).unwrap(),
        &mut s,
        &mut peer,
    );
    assert_eq!(err(r), Error::Protocol(ProtocolViolation::TooManyPages(3)));
    assert_eq!(peer.sent.len(), 3);
}

#[test]
fn repository_without_tags_is_not_found_and_bad_json_is_reported() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let e = err(run(
        ListTags::new(&s, &repo("a"), None).unwrap(),
        &mut s,
        &mut reg.peer(),
        b"",
    ));
    assert!(
        matches!(e, Error::NotFound { ref oci, .. } if oci[0].code == "NAME_UNKNOWN"),
        "{e:?}"
    );
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body(r#"{"tags":[1,2]}"#)]);
    let e = err(run(
        ListTags::new(&s, &repo("a"), None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert!(
        matches!(
            e,
            Error::Protocol(ProtocolViolation::BadJson {
                what: "tag list",
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn oversized_pages_are_rejected() {
    let mut s = session().with_limits(crate::Limits {
        list_body: 100,
        ..Default::default()
    });
    let body = format!(r#"{{"tags":["{}"]}}"#, "x".repeat(200));
    let mut peer = ScriptedRegistry::sequence(vec![Reply::status(200).body(body)]);
    peer.feed_split = 10;
    let e = err(run(
        ListTags::new(&s, &repo("a"), None).unwrap(),
        &mut s,
        &mut peer,
        b"",
    ));
    assert_eq!(e, Error::BodyTooLarge { limit: 100 });
}

#[test]
fn version_check_reports_the_api_version() {
    let reg = MemoryRegistry::new();
    let mut s = session();
    let out = run(VersionCheck::new(&s).unwrap(), &mut s, &mut reg.peer(), b"").unwrap();
    assert_eq!(out.output.api_version.as_deref(), Some("registry/2.0"));
    assert_eq!(out.output.body, b"{}");
}
