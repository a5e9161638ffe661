//! Request ids and problem details for everything that fails outside a handler: poem-openapi's
//! rejections (bad parameters, wrong content type, missing credentials), unknown routes, and
//! bodies refused before decoding. Each becomes the same `application/problem+json` as handler
//! errors, with the request id echoed as `X-Request-Id`.

use commerce_runtime::BodyRejection;
use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::header::{AUTHORIZATION, CACHE_CONTROL};
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{AuthorizationError, ContentTypeError, ParseParamError, ParsePathError};
use tracing::Instrument;

use std::net::IpAddr;
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
    /// Failed authentications per client address.
    pub failed_auth: Arc<crate::ratelimit::FailedAuth>,
    /// Whether the client address is `X-Forwarded-For`'s first entry.
    pub trust_forwarded_for: bool,
    pub cors: super::cors::Cors,
}

/// The longest request line (method, target, version) served; longer ones answer 414.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The largest header section served; larger ones answer 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The client's address: the peer's, or the first `X-Forwarded-For` entry when that is trusted.
fn client_address(req: &Request, trust_forwarded_for: bool) -> IpAddr {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.split(',').next()?.trim().parse().ok())
        .flatten();
    forwarded.or_else(|| req.remote_addr().as_socket_addr().map(|a| a.ip())).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// Refusals before routing: a request line or header section over the limits, parameter text no
/// parameter can hold.
fn precheck(req: &Request, spec: &ApiDocument) -> Result<(), AppError> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target + req.method().as_str().len() + 10 > MAX_REQUEST_LINE {
        return Err(AppError::Rejected(
            StatusCode::URI_TOO_LONG,
            format!("the request line is longer than {MAX_REQUEST_LINE} bytes"),
        ));
    }
    let header_bytes: usize = req.headers().iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(AppError::Rejected(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the header section is larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    spec.check_parameter_text(req.method().as_str(), req.uri().path(), req.uri().query(), req.headers())
}

pub async fn middleware<E: Endpoint>(next: E, mut req: Request, settings: Arc<Settings>) -> poem::Result<Response> {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let client = client_address(&req, settings.trust_forwarded_for);
    let ctx = RequestContext {
        request_id: request_id.clone(),
        method: req.method().as_str().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(String::from),
        client,
        rate_limit: Arc::default(),
        tenant: Arc::default(),
    };
    let usage = ctx.rate_limit.clone();
    let tenant = ctx.tenant.clone();
    let operation = settings.spec.operation_id(&ctx.method, &ctx.path).unwrap_or(super::metrics::UNMATCHED).to_string();
    // The probes, the metrics and the docs answer whatever the load and whoever asks: they are what
    // tells a slow instance from a dead one.
    let api = operation != super::metrics::UNMATCHED && !matches!(operation.as_str(), "healthz" | "readyz" | "metrics");
    let credentialed = req.headers().contains_key(AUTHORIZATION) || req.headers().contains_key("x-api-key");
    let bearer_presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
    let docs = ctx.path == "/docs" || ctx.path.starts_with("/docs/");
    let redoc = ctx.path == "/redoc" || ctx.path.starts_with("/redoc/");
    let preflight = settings.cors.preflight(&req, &settings.spec);
    let request_headers = settings.cors.enabled().then(|| req.headers().clone());
    let cors = settings.clone();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %ctx.method,
        path = %ctx.path,
        operation = %operation
    );
    let started = std::time::Instant::now();
    let mut response = context::scope(
        ctx,
        async move {
            let refused = precheck(&req, &settings.spec).and_then(|()| match api {
                true => settings.failed_auth.check(client),
                false => Ok(()),
            });
            let response = match refused {
                _ if let Some(preflight) = preflight => preflight,
                Err(e) => {
                    let retry = e.retry_after();
                    let mut response = problem_response(&e.to_problem());
                    if let Some(seconds) = retry {
                        response.headers_mut().insert("retry-after", seconds.into());
                    }
                    response
                }
                Ok(()) => {
                    let super::RequestTimeout(limit) = settings.timeout;
                    // The body is read within the request's time: a body that trickles in (chunked,
                    // one byte a second) is cut at the timeout like a slow handler.
                    // Boxed, as the layers below are: they are kilobytes, and every layer above
                    // would move them (`commerce_generated::api`).
                    let work = Box::pin(async {
                        limit_body(&mut req, settings.body_limit.0).await?;
                        next.call(req).await
                    });
                    let outcome = if !api {
                        work.await
                    } else if limit.is_zero() {
                        // A zero budget is spent before the request starts.
                        Err(AppError::Timeout(0).into())
                    } else {
                        match tokio::time::timeout(limit, work).await {
                            Ok(outcome) => outcome,
                            Err(_) => Err(AppError::Timeout(limit.as_millis() as u64).into()),
                        }
                    };
                    match outcome {
                        Ok(response) => response.into_response(),
                        Err(error) => to_problem(error, &settings.spec),
                    }
                }
            };
            if response.status() == StatusCode::UNAUTHORIZED && api {
                settings.failed_auth.failed(client);
            }
            // One access-log line per request; headers and bodies (credentials) are never logged.
            let elapsed = started.elapsed().as_secs_f64();
            let status = response.status().as_u16();
            match tenant.get() {
                Some(tenant) => tracing::info!(status, latency_ms = elapsed * 1000.0, %tenant, "served"),
                None => tracing::info!(status, latency_ms = elapsed * 1000.0, "served"),
            }
            settings.metrics.record(&operation, status, elapsed);
            response
        }
        .instrument(span),
    )
    .await;
    let status_unauthorized = response.status() == StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    if let Some(request_headers) = &request_headers {
        cors.cors.decorate(request_headers, headers);
    }
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
    if status_unauthorized && api {
        // RFC 9110 §11.6.1: a 401 carries a challenge; RFC 6750 §3 says why a bearer token failed.
        let challenge = if bearer_presented {
            r#"Bearer realm="commerce", error="invalid_token""#
        } else {
            r#"Bearer realm="commerce""#
        };
        headers.insert("www-authenticate", HeaderValue::from_static(challenge));
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // What was answered to a credential is the credential holder's: no cache may keep it.
    if credentialed && !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if redoc {
        // ReDoc's bundle only; it styles with inline styles and parses in a blob: web worker.
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
            ),
        );
    }
    if docs {
        // Swagger UI's own assets only; its page is never framed by another site.
        headers.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
            ),
        );
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
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
        let errors: Vec<commerce_generated::models::FieldError> = e
            .problems
            .iter()
            .map(|p| commerce_generated::models::FieldError {
                pointer: p.pointer.clone(),
                parameter: p.parameter.clone(),
                detail: p.detail.clone(),
            })
            .collect();
        match (e.status.as_u16(), errors.is_empty()) {
            (422, true) => AppError::Validation(vec![commerce_generated::models::FieldError {
                pointer: Some(String::new()),
                parameter: None,
                detail: e.detail.clone(),
            }]),
            (422, false) if e.total > errors.len() => AppError::TooManyValidationErrors { errors, total: e.total },
            (422, false) => AppError::Validation(errors),
            _ => AppError::BadRequest { code: e.code, detail: e.detail.clone(), errors },
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
