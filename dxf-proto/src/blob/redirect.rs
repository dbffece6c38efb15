//! Following redirects (301, 302, 303, 307, 308) with a bound. Whether `Authorization`
//! goes along is decided by [`Authed`](crate::Authed), which stamps only the registry's
//! own origin: a redirect to storage on another host travels without credentials.

use http::StatusCode;
use url::Url;

use crate::error::{Error, ProtocolViolation};
use crate::url::location;

/// Whether `status` is a redirect we follow.
pub(crate) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// A bounded redirect follower for one logical request.
#[derive(Clone, Debug)]
pub(crate) struct Redirects {
    count: u32,
    max: u32,
}

impl Redirects {
    pub(crate) fn new(max: u32) -> Redirects {
        Redirects { count: 0, max }
    }

    /// The target of the redirect `head`, which answered a request to `current`.
    pub(crate) fn follow(
        &mut self,
        current: &Url,
        head: &http::response::Parts,
    ) -> Result<Url, Error> {
        self.count += 1;
        if self.count > self.max {
            return Err(ProtocolViolation::TooManyRedirects(self.max).into());
        }
        location(current, head)
    }
}
