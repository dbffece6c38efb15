//! Authentication: the RFC 7235 challenge parser, the token response decoder, token
//! [`Scope`]s, and [`Authed`], the wrapper that adds auth to any operation.

mod authed;
pub mod challenge;
pub mod refresh_grant;
pub mod token_response;

pub use authed::{Authed, Scoped};
pub use challenge::{parse_challenges, Challenge, ChallengeError};
pub use refresh_grant::refresh_token_grant;
pub use token_response::{parse_rfc3339, parse_token_response, TokenResponse, TokenResponseError};

use crate::reference::Repository;

/// The token scopes an operation needs, e.g. `repository:foo/bar:pull,push`.
///
/// An *inclusive* scope (the default) asks the token server for the challenge's scopes plus
/// these; an *exact* scope (python-dxf's `authenticate(actions=…)`) asks for these only.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scope {
    items: Vec<String>,
    exact: bool,
}

impl Scope {
    /// No declared scope: use whatever the challenge asks for.
    pub fn none() -> Scope {
        Scope::default()
    }

    /// `repository:<repo>:<actions>`, e.g. actions `"pull"` or `"pull,push"`.
    pub fn repository(repo: &Repository, actions: &str) -> Scope {
        Scope {
            items: vec![format!("repository:{}:{actions}", repo.as_str())],
            exact: false,
        }
    }

    /// Exactly `repository:<repo>:<actions joined by ','>` (python-dxf `auth REPO ACTION…`).
    pub fn exact_repository(repo: &Repository, actions: &[&str]) -> Scope {
        Scope {
            items: vec![format!(
                "repository:{}:{}",
                repo.as_str(),
                actions.join(",")
            )],
            exact: true,
        }
    }

    /// `registry:catalog:*`, for registry-level calls.
    pub fn catalog() -> Scope {
        Scope {
            items: vec!["registry:catalog:*".to_owned()],
            exact: false,
        }
    }

    /// A cross-repository mount: push to `to`, pull from `from`.
    pub fn mount(to: &Repository, from: &Repository) -> Scope {
        Scope {
            items: vec![
                format!("repository:{}:pull,push", to.as_str()),
                format!("repository:{}:pull", from.as_str()),
            ],
            exact: false,
        }
    }

    /// The scope strings.
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// Whether only these scopes are requested.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The token-cache key: the scope strings joined by a space.
    pub fn key(&self) -> String {
        self.items.join(" ")
    }

    /// The scopes to request, given the challenge's `scope` parameter.
    pub(crate) fn to_request(&self, challenge_scope: Option<&str>) -> Vec<String> {
        if self.exact {
            return self.items.clone();
        }
        let mut out: Vec<String> = challenge_scope
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        for item in &self.items {
            if !out.contains(item) {
                out.push(item.clone());
            }
        }
        out
    }
}
