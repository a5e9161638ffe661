//! The checks, named and defined as Schemathesis 4 defines them, so that results compare one to one.
//! Each looks at one exchange (request sent, response received) of one case; the stateful checks
//! (`use_after_free`, `ensure_resource_availability`) and the `ignored_auth` probes are driven by the
//! runner, which knows what happened before.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::cases::{Case, Intent};
use crate::model::{Op, is_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    NotAServerError,
    StatusCodeConformance,
    ContentTypeConformance,
    ResponseHeadersConformance,
    ResponseSchemaConformance,
    NegativeDataRejection,
    PositiveDataAcceptance,
    MissingRequiredHeader,
    UnsupportedMethod,
    UseAfterFree,
    EnsureResourceAvailability,
    IgnoredAuth,
    MaxResponseTime,
    AllowHeaderConformance,
    /// Beyond Schemathesis: a read after a successful update shows what the update answered.
    StaleRead,
    /// Beyond Schemathesis: a create refused when repeated (409) succeeds at most once when the
    /// same request arrives several times at once.
    ConcurrentCreation,
    /// Beyond Schemathesis, and only when asked for (many documents leave error bodies out): a
    /// response whose documented status has no `content` comes without a body.
    UndocumentedBody,
    /// Beyond Schemathesis, and only when asked for (most small servers parse whatever comes): a
    /// valid body sent under a media type the operation does not document answers 415.
    UnsupportedMediaType,
}

impl Check {
    pub const ALL: [Check; 18] = [
        Check::NotAServerError,
        Check::StatusCodeConformance,
        Check::ContentTypeConformance,
        Check::ResponseHeadersConformance,
        Check::ResponseSchemaConformance,
        Check::NegativeDataRejection,
        Check::PositiveDataAcceptance,
        Check::MissingRequiredHeader,
        Check::UnsupportedMethod,
        Check::UseAfterFree,
        Check::EnsureResourceAvailability,
        Check::IgnoredAuth,
        Check::MaxResponseTime,
        Check::AllowHeaderConformance,
        Check::StaleRead,
        Check::ConcurrentCreation,
        Check::UndocumentedBody,
        Check::UnsupportedMediaType,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::NotAServerError => "not_a_server_error",
            Check::StatusCodeConformance => "status_code_conformance",
            Check::ContentTypeConformance => "content_type_conformance",
            Check::ResponseHeadersConformance => "response_headers_conformance",
            Check::ResponseSchemaConformance => "response_schema_conformance",
            Check::NegativeDataRejection => "negative_data_rejection",
            Check::PositiveDataAcceptance => "positive_data_acceptance",
            Check::MissingRequiredHeader => "missing_required_header",
            Check::UnsupportedMethod => "unsupported_method",
            Check::UseAfterFree => "use_after_free",
            Check::EnsureResourceAvailability => "ensure_resource_availability",
            Check::IgnoredAuth => "ignored_auth",
            Check::MaxResponseTime => "max_response_time",
            Check::AllowHeaderConformance => "allow_header_conformance",
            Check::StaleRead => "stale_read",
            Check::ConcurrentCreation => "concurrent_creation",
            Check::UndocumentedBody => "undocumented_body",
            Check::UnsupportedMediaType => "unsupported_media_type",
        }
    }

    /// Whether the check runs only when named (`--checks`, or enabled in the configuration file).
    pub fn opt_in(self) -> bool {
        matches!(self, Check::UndocumentedBody | Check::UnsupportedMediaType)
    }

    pub fn from_name(name: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Schemathesis's default expected statuses, for the checks that have them.
    pub fn default_expected(self) -> &'static [&'static str] {
        match self {
            Check::NotAServerError => &["2xx", "3xx", "4xx"],
            Check::NegativeDataRejection => {
                &["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
            }
            Check::PositiveDataAcceptance => &["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"],
            Check::MissingRequiredHeader => &["400", "401", "403", "406", "415", "422"],
            _ => &[],
        }
    }
}

/// Whether `status` is among `expected` (`"404"`, `"4xx"`).
pub fn status_matches(status: u16, expected: &[String]) -> bool {
    expected.iter().any(|e| {
        let e = e.to_ascii_lowercase();
        match e.strip_suffix("xx") {
            Some(class) => class.parse::<u16>().is_ok_and(|c| status / 100 == c),
            None => e.parse::<u16>() == Ok(status),
        }
    })
}

/// What was received.
pub struct Received<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub elapsed: Duration,
}

impl Received<'_> {
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("content-type").and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(self.body).ok()
    }
}

/// The settings the checks read: which run, with which expected statuses.
pub trait Expectations {
    fn enabled(&self, op: &Op, check: Check) -> bool;
    fn expected(&self, op: &Op, check: Check) -> Vec<String>;
    fn max_response_time(&self) -> Option<Duration>;
}

/// The enabled checks that judge a response with `status` to `case` (for the summary's counts: a
/// check that judged nothing has not run, and is never reported as passed).
pub fn judging(op: &Op, case: &Case, status: u16, settings: &dyn Expectations) -> Vec<Check> {
    let mut out = vec![Check::NotAServerError];
    match &case.intent {
        Intent::UnsupportedMethod(_) => out.extend([Check::UnsupportedMethod, Check::AllowHeaderConformance]),
        Intent::Options(_) => out.push(Check::AllowHeaderConformance),
        Intent::UndocumentedMediaType(_) => out.push(Check::UnsupportedMediaType),
        Intent::MissingHeader(_) => out.push(Check::MissingRequiredHeader),
        Intent::Negative(_) => out.push(Check::NegativeDataRejection),
        Intent::Positive => out.push(Check::PositiveDataAcceptance),
        Intent::Ambiguous(_) => {}
    }
    if !case.intent.judged_apart() {
        out.push(Check::StatusCodeConformance);
        if let Some(documented) = op.response(status) {
            if !documented.content.is_empty() {
                out.push(Check::ContentTypeConformance);
            } else {
                out.push(Check::UndocumentedBody);
            }
            if !documented.headers.is_empty() {
                out.push(Check::ResponseHeadersConformance);
            }
            if documented.content.iter().any(|(_, s)| s.is_some()) {
                out.push(Check::ResponseSchemaConformance);
            }
        }
    }
    if settings.max_response_time().is_some() {
        out.push(Check::MaxResponseTime);
    }
    out.retain(|c| settings.enabled(op, *c));
    out
}

/// The checks that apply to every response of `case`, in [`Check::ALL`] order: `(check, message)` per failure.
pub fn evaluate(op: &Op, case: &Case, received: &Received<'_>, settings: &dyn Expectations) -> Vec<(Check, String)> {
    let mut failures = Vec::new();
    let mut fail = |check: Check, message: String| {
        if settings.enabled(op, check) {
            failures.push((check, message));
        }
    };
    let status = received.status;
    // RFC 9110 §15.6.2: 501 is the answer to a method the server implements for no resource.
    let not_implemented = status == 501 && case.intent.is_undocumented_method();
    if !not_implemented && !status_matches(status, &settings.expected(op, Check::NotAServerError)) {
        let cause = match &case.probe {
            Some(probe) => format!(" after a {probe}: a likely injection"),
            None => String::new(),
        };
        fail(Check::NotAServerError, format!("Server error: the response status is {status}{cause}"));
    }
    match &case.intent {
        Intent::UnsupportedMethod(documented) => {
            unsupported_method(op, case, received, &mut fail);
            if received.status == 405 {
                allow_header_conformance(documented, received, &mut fail);
            }
            return failures;
        }
        Intent::Options(documented) => {
            allow_header_conformance(documented, received, &mut fail);
            return failures;
        }
        Intent::MissingHeader(name) => {
            let expected = if name.eq_ignore_ascii_case("authorization") {
                vec!["401".to_string()]
            } else {
                settings.expected(op, Check::MissingRequiredHeader)
            };
            // A drawn identifier rarely exists: a 404 before the headers are read says nothing.
            let drawn_resource = status == 404 && op.path.contains('{');
            if !status_matches(status, &expected) && !drawn_resource {
                fail(
                    Check::MissingRequiredHeader,
                    format!("Got {status} when missing required '{name}' header, expected {}", expected.join(", ")),
                );
            }
        }
        Intent::Negative(why) => {
            let expected = settings.expected(op, Check::NegativeDataRejection);
            if !status_matches(status, &expected) {
                fail(
                    Check::NegativeDataRejection,
                    format!(
                        "Invalid data should have been rejected\nExpected: {}\nGot: {status}\nInvalid: {why}",
                        expected.join(", ")
                    ),
                );
            }
        }
        Intent::Ambiguous(_) => {}
        Intent::UndocumentedMediaType(media_type) => {
            if status != 415 {
                fail(
                    Check::UnsupportedMediaType,
                    format!(
                        "Undocumented media type not refused\nA valid body sent as {media_type}, which the operation does not document, got {status}; expected 415 Unsupported Media Type"
                    ),
                );
            }
            return failures;
        }
        Intent::Positive => {
            let expected = settings.expected(op, Check::PositiveDataAcceptance);
            if !status_matches(status, &expected) {
                fail(
                    Check::PositiveDataAcceptance,
                    format!("Valid data should have been accepted\nExpected: {}\nGot: {status}", expected.join(", ")),
                );
            }
        }
    }
    response_conformance(op, received, &mut fail);
    if let Some(limit) = settings.max_response_time().filter(|l| received.elapsed > *l) {
        fail(
            Check::MaxResponseTime,
            format!(
                "Response time limit exceeded\nActual: {:.2}ms\nLimit: {:.2}ms",
                received.elapsed.as_secs_f64() * 1000.0,
                limit.as_secs_f64() * 1000.0
            ),
        );
    }
    failures
}

fn unsupported_method(op: &Op, case: &Case, received: &Received<'_>, fail: &mut dyn FnMut(Check, String)) {
    let status = received.status;
    if status != 405 {
        // Generated identifiers rarely exist; routing may answer 404 before method dispatch. Auth and
        // rate limiting commonly run before routing too. A method the server implements for no
        // resource answers 501 (RFC 9110 §15.6.2).
        let excused = (status == 404 && op.path.contains('{'))
            || status == 501
            || ((status == 401 || status == 403) && op.secured())
            || status == 429;
        if !excused {
            fail(
                Check::UnsupportedMethod,
                format!("Unsupported method {} returned {status}, expected 405 Method Not Allowed", case.method),
            );
        }
        return;
    }
    if !received.headers.contains_key("allow") {
        fail(
            Check::UnsupportedMethod,
            format!("{} returned 405 without the Allow header RFC 9110 requires", case.method),
        );
    }
}

/// `Allow` (on an OPTIONS answer, or a 405) lists the path's documented methods: none missing, none
/// undocumented. HEAD and OPTIONS are left out of the comparison, as frameworks add them.
fn allow_header_conformance(documented: &[String], received: &Received<'_>, fail: &mut dyn FnMut(Check, String)) {
    let values: Vec<&str> = received.headers.get_all("allow").iter().filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        return;
    }
    let implicit = |m: &String| m == "HEAD" || m == "OPTIONS";
    let advertised: std::collections::BTreeSet<String> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty() && !implicit(m))
        .collect();
    let declared: std::collections::BTreeSet<String> =
        documented.iter().map(|m| m.to_ascii_uppercase()).filter(|m| !implicit(m)).collect();
    let missing: Vec<&String> = declared.difference(&advertised).collect();
    let undocumented: Vec<&String> = advertised.difference(&declared).collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing documented methods: {}", join(&missing)));
    }
    if !undocumented.is_empty() {
        parts.push(format!("undocumented methods advertised: {}", join(&undocumented)));
    }
    if !parts.is_empty() {
        fail(
            Check::AllowHeaderConformance,
            format!("`Allow: {}` does not match the document: {}", values.join(", "), parts.join("; ")),
        );
    }
}

fn join(methods: &[&String]) -> String {
    methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
}

/// What a response owes its document, whatever was asked: a documented status, a documented
/// Content-Type, its required headers valid by their schemas, a body valid by its schema (and with
/// `undocumented_body`, no body where none is documented). The integration suite of this
/// repository judges every response it sees with this same function.
pub fn response_conformance(op: &Op, received: &Received<'_>, fail: &mut dyn FnMut(Check, String)) {
    let status = received.status;
    let Some(documented) = op.response(status) else {
        fail(
            Check::StatusCodeConformance,
            format!("Undocumented HTTP status code\nReceived: {status}\nDocumented: {}", op.documented_statuses()),
        );
        return;
    };
    // Content type.
    let mut schema = None;
    if !documented.content.is_empty() {
        match received.content_type() {
            None => fail(
                Check::ContentTypeConformance,
                format!(
                    "Missing Content-Type header\nDocumented: {}",
                    documented.content.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
            Some(actual) => match documented.content.iter().find(|(media, _)| media_matches(media, actual)) {
                Some((_, s)) => schema = s.as_ref(),
                None => fail(
                    Check::ContentTypeConformance,
                    format!(
                        "Undocumented Content-Type\nReceived: {actual}\nDocumented: {}",
                        documented.content.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            },
        }
    }
    // Headers.
    let mut missing = Vec::new();
    for header in &documented.headers {
        match received.headers.get(header.name.as_str()).map(|v| v.to_str()) {
            None if header.required => missing.push(header.name.as_str()),
            None => {}
            Some(Err(_)) => {
                fail(Check::ResponseHeadersConformance, format!("Response header {} is not visible ASCII", header.name))
            }
            Some(Ok(text)) => {
                if let Some(schema) = &header.schema {
                    let value = crate::values::read_wire(&header.flat, text);
                    if let Some(error) = schema.first_error(&value) {
                        fail(
                            Check::ResponseHeadersConformance,
                            format!("Response header {} does not conform to its schema: {error}", header.name),
                        );
                    }
                }
            }
        }
    }
    if !missing.is_empty() {
        fail(Check::ResponseHeadersConformance, format!("Missing required headers: {}", missing.join(", ")));
    }
    // Body.
    if let Some(schema) = schema {
        let body = if received.content_type().is_some_and(is_json) {
            serde_json::from_slice::<Value>(received.body)
                .map_err(|e| format!("The response body is not valid JSON: {e}"))
        } else {
            // A text/* media type whose schema is a string.
            String::from_utf8(received.body.to_vec())
                .map(Value::String)
                .map_err(|_| "The response body is not valid UTF-8 text".to_string())
        };
        match body {
            Err(message) => fail(Check::ResponseSchemaConformance, message),
            Ok(body) => {
                if let Some(error) = schema.first_error(&body) {
                    fail(Check::ResponseSchemaConformance, format!("Response violates schema\n{error}"));
                }
            }
        }
    }
    if documented.content.is_empty() && !received.body.is_empty() {
        fail(
            Check::UndocumentedBody,
            format!(
                "Undocumented body\nStatus {status} documents no content; got {} bytes of {}",
                received.body.len(),
                received.content_type().unwrap_or("no Content-Type")
            ),
        );
    }
}

/// Whether a documented media type (possibly with wildcards) covers a received Content-Type.
fn media_matches(documented: &str, received: &str) -> bool {
    let parts = |m: &str| {
        let essence = m.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let (main, sub) = essence.split_once('/').unwrap_or((essence.as_str(), "*"));
        (main.to_string(), sub.to_string())
    };
    let (dm, ds) = parts(documented);
    let (rm, rs) = parts(received);
    (dm == "*" || dm == rm) && (ds == "*" || ds == rs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges_match_like_schemathesis() {
        let expected: Vec<String> = ["2xx", "404"].iter().map(|s| s.to_string()).collect();
        assert!(status_matches(201, &expected));
        assert!(status_matches(404, &expected));
        assert!(!status_matches(400, &expected));
        assert!(!status_matches(500, &expected));
    }

    #[test]
    fn media_types_match_with_wildcards_and_parameters() {
        assert!(media_matches("application/json", "application/json; charset=utf-8"));
        assert!(media_matches("application/*", "application/problem+json"));
        assert!(!media_matches("application/json", "text/plain"));
    }

    #[test]
    fn every_check_round_trips_its_schemathesis_name() {
        for check in Check::ALL {
            assert_eq!(Check::from_name(check.name()), Some(check));
        }
    }
}
