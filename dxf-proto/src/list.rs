//! Tag lists (`GET /v2/<name>/tags/list`) and the catalog (`GET /v2/_catalog`), one page
//! per operation. A page's `next` is a new operation for the `Link: <…>; rel="next"` target
//! (relative or absolute), so names can be consumed page by page; the page count is bounded
//! and a link back to the same URL is refused. A page size `n` is sent only when asked
//! (registries cap it and answer 400 above their cap). A `null` list is empty.

use http::{Method, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::auth::Scope;
use crate::error::{Error, OpKind, ProtocolViolation};
use crate::exchange::{delegate_operation, Flow, HeadAction, Machine, Next};
use crate::headers::next_link;
use crate::operation::Body;
use crate::reference::Repository;
use crate::session::Session;
use crate::url::{request, resolve};

/// One page of names and the operation that fetches the next one.
#[derive(Debug)]
pub struct Page<Op> {
    /// The names on this page, in the registry's order.
    pub items: Vec<String>,
    /// The next page, when the registry linked one (boxed: an operation's output holds
    /// the next operation).
    pub next: Option<Box<Op>>,
}

#[derive(Clone, Debug)]
enum Target {
    Tags(Repository),
    Catalog,
}

#[derive(Debug)]
pub(crate) struct ListFlow {
    target: Target,
    url: Url,
    page: u32,
    max_pages: u32,
    limit: u64,
}

#[derive(Deserialize)]
struct TagsBody {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct CatalogBody {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

impl ListFlow {
    fn new(session: &Session, target: Target, page_size: Option<u32>) -> Result<ListFlow, Error> {
        let path = match &target {
            Target::Tags(repo) => format!("{}/tags/list", repo.as_str()),
            Target::Catalog => "_catalog".to_owned(),
        };
        let mut url = session.v2_url(&path)?;
        if let Some(n) = page_size {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        Ok(ListFlow {
            target,
            url,
            page: 0,
            max_pages: session.limits().max_pages,
            limit: session.limits().list_body,
        })
    }

    fn next_flow(&self, head: &http::response::Parts) -> Result<Option<ListFlow>, Error> {
        let values = head
            .headers
            .get_all(http::header::LINK)
            .iter()
            .map(http::HeaderValue::as_bytes);
        let Some(target) =
            next_link(values).map_err(|e| ProtocolViolation::BadLink(e.to_string()))?
        else {
            return Ok(None);
        };
        let url =
            resolve(&self.url, &target).map_err(|e| ProtocolViolation::BadLink(e.to_string()))?;
        if url == self.url {
            return Err(ProtocolViolation::BadLink("next page is this page".into()).into());
        }
        let page = self.page + 1;
        if page >= self.max_pages {
            return Err(ProtocolViolation::TooManyPages(self.max_pages).into());
        }
        Ok(Some(ListFlow {
            target: self.target.clone(),
            url,
            page,
            max_pages: self.max_pages,
            limit: self.limit,
        }))
    }

    fn items(&self, body: &[u8]) -> Result<Vec<String>, Error> {
        let bad = |e: serde_json::Error| ProtocolViolation::BadJson {
            what: match self.target {
                Target::Tags(_) => "tag list",
                Target::Catalog => "catalog",
            },
            detail: e.to_string(),
        };
        Ok(match self.target {
            Target::Tags(_) => serde_json::from_slice::<TagsBody>(body)
                .map_err(bad)?
                .tags
                .unwrap_or_default(),
            Target::Catalog => serde_json::from_slice::<CatalogBody>(body)
                .map_err(bad)?
                .repositories
                .unwrap_or_default(),
        })
    }
}

macro_rules! list_op {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name(Machine<ListPageFlow<$name>>);

        impl From<ListFlow> for $name {
            fn from(flow: ListFlow) -> $name {
                $name(Machine::new(ListPageFlow {
                    flow,
                    _op: std::marker::PhantomData,
                }))
            }
        }

        impl $name {
            /// Which page (0-based) this operation fetches.
            pub fn page_index(&self) -> u32 {
                self.0.flow.flow.page
            }
        }

        delegate_operation!($name, Page<$name>);
    };
}

/// The flow of one page, producing a `Page<Op>` whose `next` is an `Op`.
#[derive(Debug)]
pub(crate) struct ListPageFlow<Op> {
    flow: ListFlow,
    _op: std::marker::PhantomData<fn() -> Op>,
}

impl<Op: From<ListFlow>> Flow for ListPageFlow<Op> {
    type Output = Page<Op>;

    fn kind(&self) -> OpKind {
        match self.flow.target {
            Target::Tags(_) => OpKind::ListTags,
            Target::Catalog => OpKind::Catalog,
        }
    }

    fn scope(&self) -> Scope {
        match &self.flow.target {
            Target::Tags(repo) => Scope::repository(repo, "pull"),
            Target::Catalog => Scope::catalog(),
        }
    }

    fn start(&mut self) -> Result<Next<Page<Op>>, Error> {
        Ok(Next::Send(request(
            Method::GET,
            &self.flow.url,
            Body::Empty,
            None,
        )?))
    }

    fn expects(&self, status: StatusCode) -> bool {
        status == StatusCode::OK
    }

    fn on_head(&mut self, _: &http::response::Parts) -> Result<HeadAction<Page<Op>>, Error> {
        Ok(HeadAction::Feed(self.flow.limit))
    }

    fn on_response(
        &mut self,
        head: http::response::Parts,
        body: Vec<u8>,
    ) -> Result<Next<Page<Op>>, Error> {
        let items = self.flow.items(&body)?;
        let next = self.flow.next_flow(&head)?.map(|f| Box::new(Op::from(f)));
        Ok(Next::Done(Page { items, next }))
    }
}

list_op!(
    ListTags,
    "One page of a repository's tags. Output: `Page<ListTags>`."
);
list_op!(
    Catalog,
    "One page of the registry's repositories. Output: `Page<Catalog>`."
);

impl ListTags {
    /// The first page of `repo`'s tags; `page_size` sends `n` (only when given).
    pub fn new(
        session: &Session,
        repo: &Repository,
        page_size: Option<u32>,
    ) -> Result<ListTags, Error> {
        Ok(ListFlow::new(session, Target::Tags(repo.clone()), page_size)?.into())
    }
}

impl Catalog {
    /// The first page of the catalog; `page_size` sends `n` (only when given).
    pub fn new(session: &Session, page_size: Option<u32>) -> Result<Catalog, Error> {
        Ok(ListFlow::new(session, Target::Catalog, page_size)?.into())
    }
}
