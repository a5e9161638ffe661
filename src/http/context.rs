//! The request being served, as a task-local: its id and path reach error documents and logs
//! without threading them through every handler.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use crate::ratelimit::Usage;

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// What an error document needs to know about the request it answers, and what the handlers
/// learned that the response headers must say (the caller's rate-limit usage).
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The client's address (the peer's, or `X-Forwarded-For`'s first when trusted).
    pub client: IpAddr,
    pub rate_limit: Arc<OnceLock<Usage>>,
    /// The tenant the request acted in, once authentication (or a login) named it.
    pub tenant: Arc<OnceLock<uuid::Uuid>>,
}

/// Records the tenant the request acts in, for the access log.
pub fn record_tenant(tenant: uuid::Uuid) {
    let _ = CONTEXT.try_with(|ctx| ctx.tenant.set(tenant));
}

/// Records the caller's rate-limit usage for the response headers.
pub fn record_usage(usage: Usage) {
    let _ = CONTEXT.try_with(|ctx| ctx.rate_limit.set(usage));
}

/// Runs `fut` with `ctx` as the current request.
pub async fn scope<F: Future>(ctx: RequestContext, fut: F) -> F::Output {
    CONTEXT.scope(ctx, fut).await
}

/// The current request, or a placeholder outside one (a background task).
pub fn current() -> RequestContext {
    CONTEXT.try_with(Clone::clone).unwrap_or_else(|_| RequestContext {
        request_id: "none".into(),
        method: String::new(),
        path: "/".into(),
        query: None,
        client: IpAddr::from([0, 0, 0, 0]),
        rate_limit: Arc::default(),
        tenant: Arc::default(),
    })
}
