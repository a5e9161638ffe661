//! Cross-origin requests from browsers (the Fetch standard's CORS protocol), for the origins
//! `--cors-allow-origin` names; none by default.
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an allowed origin,
//! on a path the spec documents, answers 204 naming the path's methods and the request headers the
//! spec reads (its header parameters, its apiKey headers, `Authorization`, `Content-Type`). Any
//! request from an allowed origin gets `Access-Control-Allow-Origin` and the response headers the
//! spec documents in `Access-Control-Expose-Headers`. Other origins get no CORS headers, and so the
//! browser keeps the response from the page; the request itself is served as any other (a refusal
//! here would also refuse same-origin pages such as `/docs`, whose POSTs carry `Origin` too).
//! Credentials mode is not offered: the API's credentials are headers, not cookies.

use poem::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use poem::http::{HeaderMap, HeaderValue, Method, StatusCode};
use poem::{Request, Response};
use serde_json::Value;

use crate::spec::ApiDocument;

/// How long a browser may keep a preflight's answer, in seconds.
const MAX_AGE: &str = "600";

pub struct Cors {
    /// Serialized origins (`https://shop.example.com`), or empty for none.
    origins: Vec<String>,
    /// `*`: every origin.
    any: bool,
    /// `Access-Control-Allow-Headers`: what the spec reads from requests.
    request_headers: HeaderValue,
    /// `Access-Control-Expose-Headers`: what the spec documents on responses.
    response_headers: HeaderValue,
}

impl Cors {
    pub fn new(origins: &[String], spec: &ApiDocument) -> Self {
        let document: Value = serde_json::from_str(&spec.json).unwrap_or_default();
        let (mut request, mut response) = (Vec::new(), Vec::new());
        collect_headers(&document, &mut Vec::new(), &mut request, &mut response);
        request.extend(["authorization".into(), "content-type".into()]);
        let list = |mut names: Vec<String>| {
            names.sort();
            names.dedup();
            HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static(""))
        };
        Self {
            any: origins.iter().any(|o| o == "*"),
            origins: origins.iter().filter(|o| *o != "*").cloned().collect(),
            request_headers: list(request),
            response_headers: list(response),
        }
    }

    pub fn enabled(&self) -> bool {
        self.any || !self.origins.is_empty()
    }

    fn allowed<'a>(&self, req_headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = req_headers.get(ORIGIN)?;
        let text = origin.to_str().ok()?;
        (self.any || self.origins.iter().any(|o| o.eq_ignore_ascii_case(text))).then_some(origin)
    }

    /// The answer to a preflight from an allowed origin on a documented path; `None` for every other
    /// request, which is served as usual.
    pub fn preflight(&self, req: &Request, spec: &ApiDocument) -> Option<Response> {
        if req.method() != Method::OPTIONS || !req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            return None;
        }
        let origin = self.allowed(req.headers())?;
        let methods = spec.allowed_methods(req.uri().path())?;
        Some(
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone())
                .header(ACCESS_CONTROL_ALLOW_METHODS, methods.join(", "))
                .header(ACCESS_CONTROL_ALLOW_HEADERS, self.request_headers.clone())
                .header(ACCESS_CONTROL_MAX_AGE, MAX_AGE)
                .header(VARY, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
                .finish(),
        )
    }

    /// Adds the CORS headers of a response to a request with `request` headers.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        if !self.enabled() || response.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
            return;
        }
        // The answer depends on the Origin: shared caches must keep one per origin.
        response.append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed(request) {
            response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, self.response_headers.clone());
        }
    }
}

/// The header names `document` reads from requests (header parameters, apiKey schemes in a header)
/// and documents on responses (the keys of each response's `headers`), lower-cased.
fn collect_headers(value: &Value, at: &mut Vec<String>, request: &mut Vec<String>, response: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let in_header = map.get("in").and_then(Value::as_str) == Some("header");
            if in_header && let Some(name) = map.get("name").and_then(Value::as_str) {
                request.push(name.to_ascii_lowercase());
            }
            for (key, child) in map {
                // `components/headers` is keyed by component names, not header names.
                let named_headers = key == "headers" && at.as_slice() != ["components"];
                if named_headers && let Some(headers) = child.as_object() {
                    response.extend(headers.keys().map(|k| k.to_ascii_lowercase()).filter(|k| k != "content-type"));
                }
                at.push(key.clone());
                collect_headers(child, at, request, response);
                at.pop();
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_headers(item, at, request, response)),
        _ => {}
    }
}

/// `--cors-allow-origin`: `*`, or an origin as browsers send it: `scheme://host[:port]`, no path.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let hint = "an origin is scheme://host[:port] with no path or trailing slash, e.g. https://shop.example.com \
                or http://localhost:3000; or * for every origin";
    if text == "*" {
        return Ok(text.into());
    }
    let Some((scheme, authority)) = text.split_once("://") else { return Err(hint.into()) };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let authority_ok = !authority.is_empty() && !authority.contains(['/', '?', '#', '@', ' ']);
    if !scheme_ok || !authority_ok {
        return Err(hint.into());
    }
    Ok(text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_for_their_shape() {
        assert_eq!(parse_origin("https://Shop.Example.com").unwrap(), "https://shop.example.com");
        assert_eq!(parse_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        assert_eq!(parse_origin("*").unwrap(), "*");
        for bad in ["shop.example.com", "https://shop.example.com/", "https://", "https://a/b", "://x"] {
            assert!(parse_origin(bad).unwrap_err().contains("scheme://host[:port]"), "{bad}");
        }
    }

    #[test]
    fn the_spec_names_the_headers_requests_send_and_responses_expose() {
        let spec = ApiDocument::load();
        let cors = Cors::new(&["*".into()], &spec);
        let request = cors.request_headers.to_str().unwrap();
        for name in ["authorization", "content-type", "idempotency-key", "if-match", "x-api-key"] {
            assert!(request.split(", ").any(|h| h == name), "{name} not in {request}");
        }
        let response = cors.response_headers.to_str().unwrap();
        for name in ["etag", "location", "ratelimit", "retry-after", "x-request-id", "www-authenticate"] {
            assert!(response.split(", ").any(|h| h == name), "{name} not in {response}");
        }
        assert!(!response.contains("requestid"), "a component's name is not a header: {response}");
    }
}
