//! HTTP: the one place that lists every path served, and the middleware around them.
//!
//! | path | what |
//! |---|---|
//! | every path of `openapi/commerce.yaml` | the API, through the generated poem-openapi glue |
//! | `/openapi.yaml`, `/openapi.json` | the source spec itself (never poem-openapi's 3.0 rendering) |
//! | `/docs` | Swagger UI over `/openapi.json` |
//!
//! Around them: request ids, the body limit, the request timeout, metrics, the access log and problem details.

pub mod context;
pub mod cors;
mod docs;
pub mod metrics;
mod problems;
pub mod server;

use std::sync::Arc;

use commerce_generated::Routes;
use poem::{Endpoint, EndpointExt, Route, get};
use poem_openapi::OpenApiService;

use crate::api::Handlers;

/// The poem-openapi service over the handlers. Its own document is used only to check it against
/// the source spec (tests); it is never served.
pub fn openapi_service(handlers: Arc<Handlers>) -> OpenApiService<Routes<Handlers>, ()> {
    OpenApiService::new(Routes(handlers), commerce_generated::TITLE, commerce_generated::VERSION)
}

/// The largest request body accepted, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The longest a request may take before it is abandoned with a 503.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub std::time::Duration);

/// Every route of the service, wrapped in the request-id, body-limit and problem-details middleware.
pub fn routes(
    handlers: Arc<Handlers>,
    body_limit: BodyLimit,
    timeout: RequestTimeout,
    trust_forwarded_for: bool,
    cors_allow_origins: Vec<String>,
) -> impl Endpoint {
    let spec = handlers.spec.clone();
    // The middleware holds what it needs rather than finding it in each request's extensions: a
    // `.data(...)` layer boxes its value into every request, whichever route serves it.
    let settings = Arc::new(problems::Settings {
        spec: spec.clone(),
        metrics: handlers.metrics.clone(),
        body_limit,
        timeout,
        failed_auth: handlers.failed_auth.clone(),
        trust_forwarded_for,
        cors: cors::Cors::new(&cors_allow_origins, &spec),
    });
    let swagger = docs::swagger_config();
    Route::new()
        .at("/openapi.yaml", get(docs::spec_yaml).data(spec.clone()))
        .at("/openapi.json", get(docs::spec_json).data(spec))
        .at("/docs", get(docs::swagger_ui).data(swagger.clone()))
        .at("/docs/*path", get(docs::swagger_ui).data(swagger))
        .at("/redoc", get(docs::redoc))
        .at("/redoc/*path", get(docs::redoc))
        .nest("/", openapi_service(handlers))
        .around(move |next, req| problems::middleware(next, req, settings.clone()))
}
