//! Docker's `config.json`: [`DockerConfig`] decodes it (bounded by [`MAX_CONFIG_SIZE`]),
//! answers where a registry host's credentials are ([`DockerConfig::source`]) and where a
//! login stores them ([`DockerConfig::store_target`]), edits `auths` the way `docker
//! login`/`docker logout` do, and encodes it again with every key it does not know kept.
//!
//! Matching (docker's `ResolveAuthConfig` / file store `Get`): the registry's server
//! address is the host itself, except for Docker Hub (`docker.io`, `index.docker.io`,
//! `registry-1.docker.io`), whose address is [`DOCKER_HUB_SERVER`]. An `auths` key matches
//! when it equals that address, or when its host part ([`hostname_of`]: without
//! `http://`/`https://` and anything from the first `/`) equals the host. A helper named in
//! `credHelpers` for the address (or host) wins, then `credsStore`, then `auths`; with a
//! helper configured, `auths` is not used for the secret.

use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::session::Credentials;

/// The largest `config.json` read: 4 MiB.
pub const MAX_CONFIG_SIZE: usize = 4 * 1024 * 1024;

/// Docker Hub's server address, the key docker stores its credentials under.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Host names that are Docker Hub.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Docker's username marking an identity token in helper replies.
pub(crate) const TOKEN_USERNAME: &str = "<token>";

/// A `config.json` that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DockerConfigError {
    /// Larger than [`MAX_CONFIG_SIZE`].
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Not JSON, or not a JSON object.
    Json(String),
    /// A field of the wrong type, e.g. `auths` not an object.
    Field {
        /// Where, e.g. `auths["host"].auth`.
        field: String,
        /// What it should be.
        expected: &'static str,
    },
    /// An `auth` value that is not base64 of `username:password` with a username.
    BadAuth {
        /// The `auths` key.
        key: String,
    },
}

impl fmt::Display for DockerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerConfigError::TooLarge { limit } => {
                write!(f, "larger than {limit} bytes")
            }
            DockerConfigError::Json(why) => write!(f, "not a JSON object: {why}"),
            DockerConfigError::Field { field, expected } => {
                write!(f, "{field} must be {expected}")
            }
            DockerConfigError::BadAuth { key } => {
                write!(f, "auths[{key:?}].auth is not base64 of username:password")
            }
        }
    }
}

impl std::error::Error for DockerConfigError {}

/// Where a registry host's credentials are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// Nowhere: anonymous.
    None,
    /// In `auths`, decoded.
    Stored(Credentials),
    /// With a credential helper: run `docker-credential-<helper> get` with `server_url`
    /// on stdin (see [`super::helper`]).
    Helper {
        /// The helper's name (the program is `docker-credential-<helper>`).
        helper: String,
        /// The server address to ask it for.
        server_url: String,
    },
}

/// Where `login` stores credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreTarget {
    /// `auths[key].auth` in the file.
    File {
        /// The `auths` key.
        key: String,
    },
    /// `docker-credential-<helper> store`; the file then gets an empty `auths[key]` entry,
    /// as docker writes, which marks the host as logged in.
    Helper {
        /// The helper's name.
        helper: String,
        /// The server address (also the `auths` key).
        key: String,
    },
}

/// Docker's server address for registry `host` (`host[:port]`): the host itself, or
/// [`DOCKER_HUB_SERVER`] for Docker Hub.
pub fn server_address(host: &str) -> String {
    if DOCKER_HUB_HOSTS.contains(&host) {
        DOCKER_HUB_SERVER.to_owned()
    } else {
        host.to_owned()
    }
}

/// The host part of an `auths` key, as docker's `ConvertToHostname`: without a leading
/// `http://` or `https://`, up to the first `/`.
pub fn hostname_of(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// The host to compare `auths` keys' host parts with.
fn match_host(host: &str) -> &str {
    if DOCKER_HUB_HOSTS.contains(&host) {
        hostname_of(DOCKER_HUB_SERVER)
    } else {
        host
    }
}

/// A decoded `config.json`. Keys dxf does not use are kept as they were.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DockerConfig {
    root: Map<String, Value>,
}

impl DockerConfig {
    /// An empty configuration (what a missing file means).
    pub fn empty() -> DockerConfig {
        DockerConfig::default()
    }

    /// Decodes `bytes`, checking the types of the fields dxf uses (`auths` and its
    /// entries' `auth` and `identitytoken`, `credsStore`, `credHelpers`) and decoding every
    /// `auth` (docker refuses the whole file when one is bad). Empty input is an empty
    /// configuration.
    pub fn parse(bytes: &[u8]) -> Result<DockerConfig, DockerConfigError> {
        if bytes.len() > MAX_CONFIG_SIZE {
            return Err(DockerConfigError::TooLarge {
                limit: MAX_CONFIG_SIZE,
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(DockerConfig::empty());
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| DockerConfigError::Json(e.to_string()))?;
        let Value::Object(root) = value else {
            return Err(DockerConfigError::Json(
                "the top level is not an object".into(),
            ));
        };
        let config = DockerConfig { root };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), DockerConfigError> {
        let field = |field: String, expected| DockerConfigError::Field { field, expected };
        match self.root.get("credsStore") {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(field("credsStore".into(), "a string")),
        }
        match self.root.get("credHelpers") {
            None => {}
            Some(Value::Object(helpers)) => {
                for (k, v) in helpers {
                    if !v.is_string() {
                        return Err(field(format!("credHelpers[{k:?}]"), "a string"));
                    }
                }
            }
            Some(_) => return Err(field("credHelpers".into(), "an object")),
        }
        match self.root.get("auths") {
            None => {}
            Some(Value::Object(auths)) => {
                for (key, entry) in auths {
                    let Value::Object(entry) = entry else {
                        return Err(field(format!("auths[{key:?}]"), "an object"));
                    };
                    for name in ["auth", "identitytoken"] {
                        match entry.get(name) {
                            None | Some(Value::String(_)) | Some(Value::Null) => {}
                            Some(_) => {
                                return Err(field(format!("auths[{key:?}].{name}"), "a string"))
                            }
                        }
                    }
                    decode_entry(key, entry)?;
                }
            }
            Some(_) => return Err(field("auths".into(), "an object")),
        }
        Ok(())
    }

    /// Encodes the configuration as docker writes it (tab-indented JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Serializing a map of JSON values into a Vec cannot fail.
        let _ = serde::Serialize::serialize(&self.root, &mut ser);
        out
    }

    /// `credsStore`, if set and non-empty.
    pub fn creds_store(&self) -> Option<&str> {
        self.root
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The helper for registry `host` (`host[:port]`): `credHelpers` for its server
    /// address (or the host itself), else `credsStore`.
    pub fn helper_for(&self, host: &str) -> Option<&str> {
        let address = server_address(host);
        let helpers = self.root.get("credHelpers").and_then(Value::as_object);
        helpers
            .and_then(|h| h.get(&address).or_else(|| h.get(host)))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .or_else(|| self.creds_store())
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.root.get("auths").and_then(Value::as_object)
    }

    /// The `auths` key serving `host`: its server address if present, else the first key
    /// (in key order) whose host part is the host.
    fn auth_key_for(&self, host: &str) -> Option<&str> {
        let auths = self.auths()?;
        let address = server_address(host);
        if let Some((k, _)) = auths.get_key_value(&address) {
            return Some(k.as_str());
        }
        let want = match_host(host);
        auths
            .keys()
            .find(|k| hostname_of(k) == want)
            .map(String::as_str)
    }

    /// Where the credentials for registry `host` (`host[:port]`, as `DXF_HOST`) are.
    pub fn source(&self, host: &str) -> Result<CredentialSource, DockerConfigError> {
        if let Some(helper) = self.helper_for(host) {
            return Ok(CredentialSource::Helper {
                helper: helper.to_owned(),
                server_url: server_address(host),
            });
        }
        let Some(key) = self.auth_key_for(host) else {
            return Ok(CredentialSource::None);
        };
        let entry = self
            .auths()
            .and_then(|a| a.get(key))
            .and_then(Value::as_object);
        match entry {
            Some(entry) => match decode_entry(key, entry)? {
                Credentials::None => Ok(CredentialSource::None),
                c => Ok(CredentialSource::Stored(c)),
            },
            None => Ok(CredentialSource::None),
        }
    }

    /// Where `login` to `host` stores credentials: through the helper for the host, if
    /// any, else in `auths` under the server address.
    pub fn store_target(&self, host: &str) -> StoreTarget {
        let key = server_address(host);
        match self.helper_for(host) {
            Some(helper) => StoreTarget::Helper {
                helper: helper.to_owned(),
                key,
            },
            None => StoreTarget::File { key },
        }
    }

    /// Runs `edit` on `auths` (created when missing).
    fn edit_auths<R>(&mut self, edit: impl FnOnce(&mut Map<String, Value>) -> R) -> R {
        let mut auths = match self.root.remove("auths") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let out = edit(&mut auths);
        self.root.insert("auths".into(), Value::Object(auths));
        out
    }

    /// Sets `auths[key]` to `{"auth": base64("username:password")}` (docker's `login`
    /// without a helper), keeping the entry's other keys but dropping any identity token.
    pub fn set_auth(&mut self, key: &str, username: &str, password: &str) {
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.edit_auths(|auths| {
            let mut entry = match auths.remove(key) {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            entry.insert("auth".into(), Value::String(auth));
            entry.remove("identitytoken");
            auths.insert(key.to_owned(), Value::Object(entry));
        });
    }

    /// Makes `auths[key]` an empty entry (docker's mark for credentials kept by a helper).
    pub fn mark_logged_in(&mut self, key: &str) {
        self.edit_auths(|auths| auths.insert(key.to_owned(), Value::Object(Map::new())));
    }

    /// The `auths` keys that say `host` is logged in, as docker's `logout` looks for them:
    /// the server address, `host`, `http://host` and `https://host`.
    pub fn logged_in_keys(&self, host: &str) -> Vec<String> {
        let Some(auths) = self.auths() else {
            return Vec::new();
        };
        let mut candidates = vec![server_address(host)];
        if !DOCKER_HUB_HOSTS.contains(&host) {
            candidates.push(format!("http://{host}"));
            candidates.push(format!("https://{host}"));
        }
        candidates.dedup();
        candidates
            .into_iter()
            .filter(|k| auths.contains_key(k))
            .collect()
    }

    /// Removes `auths[key]`; whether it was there.
    pub fn remove_auth(&mut self, key: &str) -> bool {
        match self.root.get_mut("auths") {
            Some(Value::Object(auths)) => auths.remove(key).is_some(),
            _ => false,
        }
    }
}

/// The credentials of one `auths` entry: `identitytoken` if non-empty, else the decoded
/// `auth`, else none.
fn decode_entry(key: &str, entry: &Map<String, Value>) -> Result<Credentials, DockerConfigError> {
    let text = |name| entry.get(name).and_then(Value::as_str).unwrap_or_default();
    let auth = text("auth");
    let (username, password) = if auth.is_empty() {
        (String::new(), String::new())
    } else {
        decode_auth(auth).ok_or_else(|| DockerConfigError::BadAuth {
            key: key.to_owned(),
        })?
    };
    let identity = text("identitytoken");
    if !identity.is_empty() {
        return Ok(Credentials::IdentityToken(identity.to_owned()));
    }
    if auth.is_empty() {
        return Ok(Credentials::None);
    }
    Ok(Credentials::Basic { username, password })
}

/// base64 `username:password` (standard alphabet, padded; docker's `decodeAuth`); the
/// username must not be empty.
fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn basic(u: &str, p: &str) -> CredentialSource {
        CredentialSource::Stored(Credentials::Basic {
            username: u.into(),
            password: p.into(),
        })
    }

    fn config(json: &str) -> DockerConfig {
        DockerConfig::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn auths_match_by_address_or_host_part() {
        let c = config(&format!(
            r#"{{"auths": {{
                "reg.test:5000": {{"auth": "{}"}},
                "https://other.test/v1/": {{"auth": "{}"}},
                "http://plain.test": {{"auth": "{}"}}
            }}}}"#,
            b64("alice:s3cret:with:colons"),
            b64("bob:pw"),
            b64("carol:pw")
        ));
        assert_eq!(
            c.source("reg.test:5000").unwrap(),
            basic("alice", "s3cret:with:colons")
        );
        assert_eq!(c.source("other.test").unwrap(), basic("bob", "pw"));
        assert_eq!(c.source("plain.test").unwrap(), basic("carol", "pw"));
        assert_eq!(c.source("reg.test").unwrap(), CredentialSource::None);
        assert_eq!(c.source("reg.test:5001").unwrap(), CredentialSource::None);
    }

    #[test]
    fn the_exact_address_wins_over_a_host_part_match() {
        let c = config(&format!(
            r#"{{"auths": {{"https://reg.test": {{"auth": "{}"}}, "reg.test": {{"auth": "{}"}}}}}}"#,
            b64("a:1"),
            b64("b:2")
        ));
        assert_eq!(c.source("reg.test").unwrap(), basic("b", "2"));
    }

    #[test]
    fn docker_hub_hosts_use_the_index_address() {
        let c = config(&format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
            b64("hub:pw")
        ));
        for host in ["registry-1.docker.io", "index.docker.io", "docker.io"] {
            assert_eq!(c.source(host).unwrap(), basic("hub", "pw"), "{host}");
        }
        assert_eq!(server_address("registry-1.docker.io"), DOCKER_HUB_SERVER);
        assert_eq!(server_address("ghcr.io"), "ghcr.io");
        let c = config(&format!(
            r#"{{"auths": {{"index.docker.io": {{"auth": "{}"}}}}}}"#,
            b64("hub:pw")
        ));
        assert_eq!(
            c.source("registry-1.docker.io").unwrap(),
            basic("hub", "pw")
        );
    }

    #[test]
    fn helpers_win_in_docker_order() {
        let c = config(&format!(
            r#"{{"credsStore": "store", "credHelpers": {{"reg.test": "special", "https://index.docker.io/v1/": "hub"}},
                "auths": {{"reg.test": {{"auth": "{}"}}, "other.test": {{"auth": "{}"}}}}}}"#,
            b64("a:1"),
            b64("b:2")
        ));
        let helper = |h: &str, url: &str| CredentialSource::Helper {
            helper: h.into(),
            server_url: url.into(),
        };
        assert_eq!(c.source("reg.test").unwrap(), helper("special", "reg.test"));
        assert_eq!(
            c.source("other.test").unwrap(),
            helper("store", "other.test")
        );
        assert_eq!(
            c.source("registry-1.docker.io").unwrap(),
            helper("hub", DOCKER_HUB_SERVER)
        );
        assert_eq!(
            c.store_target("reg.test"),
            StoreTarget::Helper {
                helper: "special".into(),
                key: "reg.test".into()
            }
        );
        let c = config(r#"{"credsStore": "", "auths": {}}"#);
        assert_eq!(c.source("reg.test").unwrap(), CredentialSource::None);
        assert_eq!(
            c.store_target("reg.test"),
            StoreTarget::File {
                key: "reg.test".into()
            }
        );
    }

    #[test]
    fn identity_tokens_and_empty_entries() {
        let c = config(&format!(
            r#"{{"auths": {{"reg.test": {{"auth": "{}", "identitytoken": "rt"}}, "empty.test": {{}},
                "only.test": {{"identitytoken": "rt2"}}}}}}"#,
            b64("alice:")
        ));
        assert_eq!(
            c.source("reg.test").unwrap(),
            CredentialSource::Stored(Credentials::IdentityToken("rt".into()))
        );
        assert_eq!(
            c.source("only.test").unwrap(),
            CredentialSource::Stored(Credentials::IdentityToken("rt2".into()))
        );
        assert_eq!(c.source("empty.test").unwrap(), CredentialSource::None);
    }

    #[test]
    fn malformed_files_are_refused_with_what_is_wrong() {
        let e = |json: &str| {
            DockerConfig::parse(json.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert!(e("{").starts_with("not a JSON object: "), "{}", e("{"));
        assert_eq!(e("[]"), "not a JSON object: the top level is not an object");
        assert_eq!(e(r#"{"auths": []}"#), "auths must be an object");
        assert_eq!(
            e(r#"{"auths": {"h": 1}}"#),
            r#"auths["h"] must be an object"#
        );
        assert_eq!(
            e(r#"{"auths": {"h": {"auth": 5}}}"#),
            r#"auths["h"].auth must be a string"#
        );
        assert_eq!(e(r#"{"credsStore": 1}"#), "credsStore must be a string");
        assert_eq!(
            e(r#"{"credHelpers": {"h": true}}"#),
            r#"credHelpers["h"] must be a string"#
        );
        for bad in ["!!!", &b64("nocolon"), &b64(":emptyuser")] {
            assert_eq!(
                e(&format!(r#"{{"auths": {{"h": {{"auth": "{bad}"}}}}}}"#)),
                r#"auths["h"].auth is not base64 of username:password"#
            );
        }
        let big = vec![b' '; MAX_CONFIG_SIZE + 1];
        assert_eq!(
            DockerConfig::parse(&big).unwrap_err(),
            DockerConfigError::TooLarge {
                limit: MAX_CONFIG_SIZE
            }
        );
        assert_eq!(DockerConfig::parse(b" \n").unwrap(), DockerConfig::empty());
    }

    #[test]
    fn editing_keeps_unknown_keys_and_round_trips() {
        let mut c = config(
            r#"{"psFormat": "table", "auths": {"reg.test": {"auth": "eDp5", "email": "e@x", "identitytoken": "old"}},
                "proxies": {"default": {"httpProxy": "p"}}}"#,
        );
        c.set_auth("reg.test", "u", "p:w");
        c.set_auth("new.test:5000", "n", "");
        let again = DockerConfig::parse(&c.to_bytes()).unwrap();
        assert_eq!(again, c);
        let text = String::from_utf8(c.to_bytes()).unwrap();
        assert!(text.contains("\n\t\"psFormat\": \"table\""), "{text}");
        assert!(text.contains("\"httpProxy\": \"p\""), "{text}");
        assert!(text.contains("\"email\": \"e@x\""), "{text}");
        assert_eq!(again.source("reg.test").unwrap(), basic("u", "p:w"));
        assert_eq!(again.source("new.test:5000").unwrap(), basic("n", ""));
        assert!(c.remove_auth("reg.test"));
        assert!(!c.remove_auth("reg.test"));
        assert_eq!(c.source("reg.test").unwrap(), CredentialSource::None);
        assert!(c.to_bytes().starts_with(b"{\n\t\"auths\""));
    }

    #[test]
    fn logout_finds_the_keys_docker_looks_for() {
        let mut c = DockerConfig::empty();
        assert!(c.logged_in_keys("reg.test").is_empty());
        c.mark_logged_in("reg.test");
        c.set_auth("https://reg.test", "u", "p");
        c.set_auth("https://reg.test/v1/", "u", "p");
        assert_eq!(
            c.logged_in_keys("reg.test"),
            vec!["reg.test".to_owned(), "https://reg.test".to_owned()]
        );
        c.mark_logged_in(DOCKER_HUB_SERVER);
        assert_eq!(
            c.logged_in_keys("registry-1.docker.io"),
            vec![DOCKER_HUB_SERVER.to_owned()]
        );
        // An entry marked by a helper login carries no secret.
        assert_eq!(c.source("reg.test").unwrap(), CredentialSource::None);
    }

    #[test]
    fn hostname_of_strips_scheme_and_path() {
        assert_eq!(
            hostname_of("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(hostname_of("http://h:5000"), "h:5000");
        assert_eq!(hostname_of("h:5000/x"), "h:5000");
        assert_eq!(hostname_of("h"), "h");
    }
}
