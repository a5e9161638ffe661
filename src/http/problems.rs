//! Request ids and problem details for everything that fails outside a handler: poem-openapi's
//! rejections (bad parameters, wrong content type, missing credentials), unknown routes, and
//! bodies refused before decoding. Each becomes the same `application/problem+json` as handler
//! errors, with the request id echoed as `X-Request-Id`.

use commerce_runtime::BodyRejection;
use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseParamError, ParsePathError};
use tracing::Instrument;

use std::sync::Arc;

use super::context::{self, RequestContext};
use super::metrics::Metrics;
use crate::error::{AppError, ProblemResponse, problem_response};
use crate::spec::ApiDocument;

const REQUEST_ID: &str = "x-request-id";

/// What the middleware needs of the service.
pub struct Settings {
    pub spec: Arc<ApiDocument>,
    pub metrics: Arc<Metrics>,
    pub body_limit: super::BodyLimit,
    pub timeout: super::RequestTimeout,
}

pub async fn middleware<E: Endpoint>(next: E, mut req: Request, settings: Arc<Settings>) -> poem::Result<Response> {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ctx = RequestContext {
        request_id: request_id.clone(),
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(String::from),
        rate_limit: Arc::default(),
    };
    let usage = ctx.rate_limit.clone();
    let operation = settings.spec.operation_id(&ctx.method, &ctx.path).unwrap_or(super::metrics::UNMATCHED).to_string();
    let span = tracing::info_span!("request", request_id = %request_id, method = %ctx.method, path = %ctx.path);
    let started = std::time::Instant::now();
    let mut response = context::scope(
        ctx,
        async move {
            if let Err(e) = limit_body(&mut req, settings.body_limit.0).await {
                return problem_response(&e.to_problem());
            }
            // The probes and the metrics answer whatever the load: they are what tells a slow
            // instance from a dead one.
            let bounded = !matches!(operation.as_str(), "healthz" | "readyz" | "metrics");
            let super::RequestTimeout(limit) = settings.timeout;
            let outcome = if !bounded {
                next.call(req).await
            } else if limit.is_zero() {
                // A zero budget is spent before the request starts.
                Err(AppError::Timeout(0).into())
            } else {
                match tokio::time::timeout(limit, next.call(req)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(AppError::Timeout(limit.as_millis() as u64).into()),
                }
            };
            let response = match outcome {
                Ok(response) => response.into_response(),
                Err(error) => to_problem(error, &settings.spec),
            };
            // One access-log line per request; headers and bodies (credentials) are never logged.
            let elapsed = started.elapsed().as_secs_f64();
            let status = response.status().as_u16();
            tracing::info!(status, latency_ms = elapsed * 1000.0, "served");
            settings.metrics.record(&operation, status, elapsed);
            response
        }
        .instrument(span),
    )
    .await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID, value);
    }
    if let Some(usage) = usage.get() {
        for (name, value) in [("ratelimit-policy", usage.policy_header()), ("ratelimit", usage.header())] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    Ok(response)
}

/// Refuses a body over `max` bytes: by its Content-Length before reading it, or, for a body without
/// one (chunked), by reading at most `max` bytes of it.
async fn limit_body(req: &mut Request, max: usize) -> Result<(), AppError> {
    let declared =
        req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) if length > max as u64 => Err(AppError::PayloadTooLarge(max)),
        Some(_) => Ok(()),
        None if req.headers().contains_key("transfer-encoding") => {
            let bytes = req.take_body().into_bytes_limit(max).await.map_err(|e| match e {
                poem::error::ReadBodyError::PayloadTooLarge => AppError::PayloadTooLarge(max),
                other => AppError::BadRequest { code: "unreadable_body", detail: other.to_string(), errors: vec![] },
            })?;
            req.set_body(bytes);
            Ok(())
        }
        None => Ok(()),
    }
}

/// Maps a `poem::Error` to a problem response (runs inside the request's context).
fn to_problem(error: poem::Error, spec: &ApiDocument) -> Response {
    if let Some(problem) = error.downcast_ref::<ProblemResponse>() {
        return poem::error::ResponseError::as_response(problem);
    }
    let app_error = if let Some(e) = error.downcast_ref::<BodyRejection>() {
        if e.status.as_u16() == 422 {
            AppError::Validation(vec![commerce_generated::models::FieldError {
                pointer: Some(String::new()),
                parameter: None,
                detail: e.detail.clone(),
            }])
        } else {
            AppError::BadRequest { code: e.code, detail: e.detail.clone(), errors: vec![] }
        }
    } else if let Some(e) = error.downcast_ref::<ParseParamError>() {
        invalid_parameter(spec, e.name, &e.reason)
    } else if let Some(e) = error.downcast_ref::<ParsePathError>() {
        // poem-openapi names path parameters by position (`param0`); the spec knows their names.
        let name = e
            .name
            .strip_prefix("param")
            .and_then(|i| i.parse().ok())
            .and_then(|i| spec.path_parameter(&context::current().path, i))
            .unwrap_or(e.name);
        invalid_parameter(spec, name, &e.reason)
    } else if let Some(e) = error.downcast_ref::<ContentTypeError>() {
        AppError::UnsupportedMediaType(format!("{e}; send application/json"))
    } else if error.is::<AuthorizationError>() {
        AppError::Unauthorized(
            "a credential is required: send `Authorization: Bearer <token>` or `X-API-Key: <key>`".into(),
        )
    } else if error.is::<NotFoundError>() {
        AppError::NotFound { kind: "route", id: context::current().path }
    } else if error.is::<MethodNotAllowedError>() {
        // RFC 9110: a 405 lists the methods the resource supports.
        let allowed = spec.allowed_methods(&context::current().path).unwrap_or_default().join(", ");
        let mut response =
            problem_response(&AppError::MethodNotAllowed(format!("this path supports {allowed}")).to_problem());
        if let Ok(value) = HeaderValue::from_str(&allowed) {
            response.headers_mut().insert("allow", value);
        }
        return response;
    } else {
        let status = error.status();
        if status.is_client_error() {
            AppError::Rejected(status, error.to_string())
        } else {
            AppError::Internal(error.to_string())
        }
    };
    problem_response(&app_error.to_problem())
}

/// A 400 for parameter `name`, explained by its schema in the spec when the spec can (poem-openapi's
/// own reason otherwise).
fn invalid_parameter(spec: &ApiDocument, name: &str, reason: &str) -> AppError {
    let ctx = context::current();
    let detail = spec
        .explain_parameter(&ctx.method, &ctx.path, ctx.query.as_deref(), name)
        .unwrap_or_else(|| reason.to_string());
    AppError::invalid_parameter(name, detail)
}
