//! Hostile peers: every operation, answered by arbitrary sequences of registry-relevant
//! statuses, headers (valid, odd and garbage values) and bodies, split anywhere. Nothing may
//! panic, every run ends within the step bound, an upload is never done without a 201, and
//! a download's verifier never accepts bytes that do not hash to the digest.

use proptest::prelude::*;

use super::*;
use crate::testing::{verify_delivered, Reply};
use crate::{
    Catalog, DeleteBlob, DeleteManifest, GetBlob, GetManifest, HeadBlob, HeadManifest, ListTags,
    MountBlob, PutManifest, ReadAlias, ReadOptions, Reference, Upload, UploadMode, UploadOptions,
    VersionCheck,
};

const STATUSES: &[u16] = &[
    200, 201, 202, 204, 206, 301, 302, 307, 308, 400, 401, 403, 404, 405, 416, 429, 500, 503,
];

fn header_strategy() -> impl Strategy<Value = (String, String)> {
    let names = prop::sample::select(vec![
        "location",
        "range",
        "docker-content-digest",
        "www-authenticate",
        "link",
        "content-length",
        "content-type",
        "oci-chunk-min-length",
        "retry-after",
    ]);
    let values = prop_oneof![
        prop::sample::select(vec![
            "/v2/a/blobs/uploads/x?_state=1".to_owned(),
            "https://other.example/up?sig=1".to_owned(),
            "//evil.example/x".to_owned(),
            "ftp://x/y".to_owned(),
            "0-3".to_owned(),
            "0-0".to_owned(),
            "0--1".to_owned(),
            "bytes=0-9".to_owned(),
            "99999999999999999999".to_owned(),
            sha(b"abc").to_string(),
            "sha256:zz".to_owned(),
            r#"Bearer realm="https://auth.test/token",service="s",scope="repository:a:pull""#
                .to_owned(),
            r#"Basic realm="r""#.to_owned(),
            r#"Bearer realm="unterminated"#.to_owned(),
            r#"</v2/a/tags/list?last=x>; rel="next""#.to_owned(),
            "<https://reg.test/v2/_catalog?n=1&last=b>; rel=next".to_owned(),
            "3".to_owned(),
            "application/vnd.oci.image.index.v1+json".to_owned(),
            "1".to_owned(),
        ]),
        "[ -~]{0,40}",
    ];
    (names, values).prop_map(|(n, v)| (n.to_owned(), v))
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"abc".to_vec()),
        Just(br#"{"token":"t","expires_in":1}"#.to_vec()),
        Just(br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"x"}]}"#.to_vec()),
        Just(br#"{"tags":["a","b"],"repositories":null}"#.to_vec()),
        Just(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":3,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
                sha(b"abc")
            )
            .into_bytes()
        ),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn reply_strategy() -> impl Strategy<Value = Reply> {
    (
        prop::sample::select(STATUSES),
        prop::collection::vec(header_strategy(), 0..4),
        body_strategy(),
    )
        .prop_map(|(status, headers, body)| Reply {
            status,
            headers,
            body,
        })
}

fn peer(replies: Vec<Reply>, split: usize) -> ScriptedRegistry {
    let mut p = ScriptedRegistry::sequence(replies);
    p.feed_split = split;
    p.source_read = 5;
    p.max_steps = 500;
    p
}

fn check<T>(
    r: Result<crate::testing::Driven<T>, crate::testing::DriveError>,
) -> Option<crate::testing::Driven<T>> {
    match r {
        Ok(d) => Some(d),
        Err(crate::testing::DriveError::Op(_)) => None,
        Err(e) => panic!("{e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn uploads_never_succeed_without_a_201(replies in prop::collection::vec(reply_strategy(), 1..12), split in 1usize..8, chunked in any::<bool>(), stream in any::<bool>()) {
        let data = b"0123456789".to_vec();
        let d = sha(&data);
        let mut s = session();
        let opts = UploadOptions {
            skip_if_exists: !stream,
            mode: if chunked { UploadMode::Chunked } else { UploadMode::Monolithic },
            chunk_size: Some(4),
        };
        let op = if stream {
            Upload::stream(&s, &repo("a"), None, &opts).unwrap()
        } else {
            Upload::known(&s, &repo("a"), &d, 10, &opts).unwrap()
        };
        let mut p = peer(replies.clone(), split);
        if let Some(done) = check(run(op, &mut s, &mut p, &data)) {
            prop_assert_eq!(&done.output.digest, &d);
            let last = p.sent.len() - 1;
            if done.output.skipped {
                prop_assert_eq!(p.sent[last].method.as_str(), "HEAD");
            } else {
                prop_assert_eq!(replies[last].status, 201);
                prop_assert_eq!(p.sent[last].method.as_str(), "PUT");
            }
        }
    }

    #[test]
    fn downloads_never_verify_wrong_bytes(replies in prop::collection::vec(reply_strategy(), 1..8), split in 1usize..8) {
        let d = sha(b"abc");
        let mut s = session();
        // A Content-Length that disagrees with the body is a lie the verifier may refuse
        // even when the bytes happen to be right; with honest lengths it must accept them.
        let lengths_honest = replies.iter().all(|r| {
            r.headers.iter().all(|(n, v)| n != "content-length" || v.parse() == Ok(r.body.len()))
        });
        let mut p = peer(replies, split);
        if let Some(done) = check(run(GetBlob::new(&s, &repo("a"), &d, None).unwrap(), &mut s, &mut p, b"")) {
            let body = done.delivered.unwrap();
            let verdict = verify_delivered(done.output.verifier, &body, split);
            if verdict.is_ok() {
                prop_assert_eq!(&body[..], b"abc");
            } else if lengths_honest {
                prop_assert_ne!(&body[..], b"abc");
            }
        }
    }

    #[test]
    fn every_other_operation_ends_without_panic(replies in prop::collection::vec(reply_strategy(), 1..10), split in 1usize..8, which in 0usize..11) {
        let mut s = session();
        let r = repo("a");
        let d = sha(b"abc");
        let t = Reference::parse("v1").unwrap();
        let mut p = peer(replies, split);
        match which {
            0 => { check(run(HeadBlob::new(&s, &r, &d).unwrap(), &mut s, &mut p, b"")); }
            1 => { check(run(DeleteBlob::new(&s, &r, &d).unwrap(), &mut s, &mut p, b"")); }
            2 => { check(run(MountBlob::new(&s, &r, &repo("b"), &d, Default::default()).unwrap(), &mut s, &mut p, b"")); }
            3 => { check(run(GetManifest::new(&s, &r, &t).unwrap(), &mut s, &mut p, b"")); }
            4 => { check(run(HeadManifest::new(&s, &r, &t).unwrap(), &mut s, &mut p, b"")); }
            5 => { check(run(DeleteManifest::new(&s, &r, &Reference::Digest(d)).unwrap(), &mut s, &mut p, b"")); }
            6 => { check(run(PutManifest::new(&s, &r, &t, br#"{"mediaType":"x/y"}"#.to_vec()).unwrap(), &mut s, &mut p, b"")); }
            7 => { check(run(ReadAlias::new(&s, &r, &t, ReadOptions { platform: None, resolve_platforms: true }).unwrap(), &mut s, &mut p, b"")); }
            8 => { check(run(ListTags::new(&s, &r, None).unwrap(), &mut s, &mut p, b"")); }
            9 => { check(run(Catalog::new(&s, Some(2)).unwrap(), &mut s, &mut p, b"")); }
            _ => { check(run(VersionCheck::new(&s).unwrap(), &mut s, &mut p, b"")); }
        }
    }
}
