//! python-dxf's `authenticate`: which `GET /v2/` to run and which token to report.

use crate::auth::Scope;
use crate::error::Error;
use crate::session::Session;
use crate::version::VersionCheck;

/// python-dxf's `authenticate(repo, actions)`: the `GET /v2/` to run — with `actions`, for
/// exactly `repository:<repo>:<actions>`; otherwise for whatever the registry's challenge
/// asks — and the scope whose token the call returns once it ran
/// ([`Session::bearer_token`]; `None` for Basic or anonymous registries).
pub fn authentication(
    session: &Session,
    repo: Option<&str>,
    actions: &[&str],
) -> Result<(VersionCheck, Scope), Error> {
    let scope = match repo {
        Some(r) if !actions.is_empty() => Scope::exact_repository(&session.repository(r)?, actions),
        _ => Scope::none(),
    };
    Ok((VersionCheck::with_scope(session, scope.clone())?, scope))
}
