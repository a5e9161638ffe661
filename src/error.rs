//! The one error type of the service and its one mapping to the wire: RFC 9457
//! `application/problem+json` with a stable `code`, the request id and, for invalid input, a pointer
//! to each offending field. Internal causes are logged with their chain and never sent.

use commerce_generated::models::{FieldError, Problem};
use commerce_runtime::ErrorResponse;
use poem::http::StatusCode;
use poem::{IntoResponse, Response};

use crate::http::context;

/// Everything a request can fail with. Each variant says the status it answers.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: a parameter or the body is malformed.
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// 401: the credential is missing, malformed, expired or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// 401 from `login`: the tenant, email or password is wrong (never says which).
    #[error("the tenant, email or password is wrong")]
    InvalidCredentials,
    /// 401 from `refreshToken`.
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// 403: authenticated, but not allowed.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// 404: nothing of that kind with that id in the caller's tenant.
    #[error("no {kind} {id}")]
    NotFound { kind: &'static str, id: String },
    /// 405: the path exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the request conflicts with the current state (a duplicate unique field).
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String, errors: Vec<FieldError> },
    /// 412: `If-Match` names a version the resource no longer has.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 409 for an order: the transition is not allowed from the current status.
    #[error("an order cannot move from {current} to {requested}")]
    InvalidTransition { current: String, requested: String, allowed: Vec<String> },
    /// 429: the credential (or, for failed authentications, the client address) used its quota;
    /// retry after `retry_after` seconds.
    #[error("the rate limit of {limit} requests per minute is used up; retry in {retry_after} s")]
    RateLimited { limit: u32, retry_after: u64 },
    /// 429 from `login`: too many failed logins for this account from this address (or from this
    /// address, or for this account); even the right password is refused until then.
    #[error("too many failed logins; retry in {retry_after} s")]
    TooManyFailedLogins { retry_after: u64 },
    /// 413: the body is larger than the configured limit (bytes).
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 503: the request did not finish within the request timeout (milliseconds) and was abandoned.
    #[error("the request did not finish within {} s", *.0 as f64 / 1000.0)]
    Timeout(u64),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the body is well-formed JSON that breaks the schema.
    #[error("{}", validation_summary(.0))]
    Validation(Vec<FieldError>),
    /// 422 with more invalid fields than a problem lists: the first ones, and how many in all.
    #[error("the request has {total} invalid fields; the first {} are listed", .errors.len())]
    TooManyValidationErrors { errors: Vec<FieldError>, total: usize },
    /// 501: the operation is documented but not implemented yet.
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
    /// Any other 4xx the HTTP layer raised (a body over the size limit, say), kept as it came.
    #[error("{1}")]
    Rejected(StatusCode, String),
    /// 500: a database failure (its cause is logged; clients get a generic problem).
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// 500: any other internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

fn validation_summary(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("{}: {}", one.pointer.as_deref().or(one.parameter.as_deref()).unwrap_or("body"), one.detail),
        many => format!("the request has {} invalid fields", many.len()),
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::InvalidCredentials | Self::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } | Self::InvalidTransition { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } | Self::TooManyFailedLogins { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::TooManyValidationErrors { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Rejected(status, _) => *status,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Forbidden { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::NotFound { .. } => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PreconditionFailed(_) => "precondition_failed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Timeout(_) => "request_timeout",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyFailedLogins { .. } => "too_many_failed_logins",
            Self::Validation(_) | Self::TooManyValidationErrors { .. } => "validation_failed",
            Self::NotImplemented(_) => "not_implemented",
            Self::Rejected(..) => "request_rejected",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden { code: "forbidden", detail: detail.into() }
    }

    pub fn invalid_parameter(parameter: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::BadRequest {
            code: "invalid_parameter",
            detail: format!("{parameter}: {detail}"),
            errors: vec![FieldError { parameter: Some(parameter.to_string()), pointer: None, detail }],
        }
    }

    /// The problem document for this error, for the request being served.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Internal causes stay in the log.
            tracing::error!(error = ?self, "request failed");
            "the server failed to process the request; quote the requestId when reporting it".to_string()
        } else {
            self.to_string()
        };
        let errors = match self {
            Self::BadRequest { errors, .. }
            | Self::Conflict { errors, .. }
            | Self::Validation(errors)
            | Self::TooManyValidationErrors { errors, .. } => Some(errors.clone()).filter(|e| !e.is_empty()),
            _ => None,
        };
        let (current_status, allowed_statuses) = match self {
            Self::InvalidTransition { current, allowed, .. } => {
                (current.parse().ok(), Some(allowed.iter().filter_map(|s| s.parse().ok()).collect()))
            }
            _ => (None, None),
        };
        let ctx = context::current();
        Problem {
            type_: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: i32::from(status.as_u16()),
            detail: Some(detail),
            instance: Some(ctx.path),
            code: self.code().to_string(),
            request_id: ctx.request_id,
            errors,
            error_count: match self {
                Self::TooManyValidationErrors { total, .. } => Some(*total as i32),
                _ => None,
            },
            current_status,
            allowed_statuses,
        }
    }
}

/// A problem document ready to be sent, for the paths that answer through `poem::Error`
/// (failures outside an operation's documented statuses, and poem-openapi's own rejections).
#[derive(Debug)]
pub struct ProblemResponse(pub Problem, pub Option<u64>);

impl std::fmt::Display for ProblemResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.detail.as_deref().unwrap_or(&self.0.title))
    }
}

impl std::error::Error for ProblemResponse {}

impl poem::error::ResponseError for ProblemResponse {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn as_response(&self) -> Response {
        let mut response = problem_response(&self.0);
        if let Some(seconds) = self.1 {
            response.headers_mut().insert("retry-after", seconds.into());
        }
        response
    }
}

/// Renders a problem as `application/problem+json`.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).expect("a problem always serializes");
    body.with_status(status).with_content_type("application/problem+json").into_response()
}

impl AppError {
    /// The seconds a 429 asks the client to wait.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after, .. } | AppError::TooManyFailedLogins { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

impl From<AppError> for poem::Error {
    fn from(e: AppError) -> Self {
        let retry_after = e.retry_after();
        poem::Error::new(ProblemResponse(e.to_problem(), retry_after), e.status())
    }
}

/// Answers an operation: a success as is, an error as the operation's documented variant for its
/// status. A status the operation does not document is a bug: it is logged and answered as 500.
pub fn respond<R>(result: Result<R, AppError>) -> poem::Result<R>
where
    R: ErrorResponse<Body = Problem>,
{
    let error = match result {
        Ok(response) => return Ok(response),
        Err(e) => e,
    };
    let status = error.status();
    R::from_error(status.as_u16(), error.to_problem()).map_err(|problem| {
        if status.is_server_error() {
            // Internal failures are never documented per operation; the cause is already logged.
            return poem::Error::new(ProblemResponse(problem, None), status);
        }
        tracing::error!(status = problem.status, code = %problem.code, "an operation answered a status its spec does not document");
        AppError::Internal(format!("undocumented status {}", problem.status)).into()
    })
}
