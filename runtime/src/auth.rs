//! Credentials poem-openapi has no type for, or whose type generated code cannot hold.
//!
//! - [`BasicCredential`]: HTTP basic's user and password (cloneable; the password never printed).
//! - [`ClientCertificate`]: OpenAPI 3.1's `mutualTLS`. TLS is terminated in front of the service
//!   (a load balancer or proxy verifies the client's certificate against its CA); the service
//!   receives the verified certificate in a header the terminator sets, and only trusts it because
//!   the terminator strips that header from what clients send. The header is the scheme's
//!   `x-client-certificate-header`, else `X-Client-Certificate`.

use std::fmt;
use std::marker::PhantomData;

use poem::http::StatusCode;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::BodyRejection;

/// An HTTP basic credential as presented (not yet checked).
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredential {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for BasicCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredential").field("username", &self.username).field("password", &"***").finish()
    }
}

impl From<poem_openapi::auth::Basic> for BasicCredential {
    fn from(basic: poem_openapi::auth::Basic) -> Self {
        Self { username: basic.username, password: basic.password }
    }
}

/// What generated code says about a `mutualTLS` scheme.
pub trait CertificateSpec: Send + Sync + 'static {
    /// The scheme's name in the document.
    const SCHEME: &'static str;
    /// The header the TLS terminator puts the verified certificate in.
    const HEADER: &'static str;
    const DESCRIPTION: Option<&'static str> = None;
}

/// The client certificate a TLS terminator verified, as the text of its header (typically the
/// URL-encoded PEM, as nginx's `$ssl_client_escaped_cert`).
pub struct ClientCertificate<S> {
    pub certificate: String,
    _spec: PhantomData<fn() -> S>,
}

impl<'a, S: CertificateSpec> ApiExtractor<'a> for ClientCertificate<S> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            S::SCHEME,
            MetaSecurityScheme {
                ty: "mutualTLS",
                description: S::DESCRIPTION,
                name: None,
                key_in: None,
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![S::SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.headers().get(S::HEADER).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
            Some(certificate) => Ok(Self { certificate: certificate.to_string(), _spec: PhantomData }),
            None => Err(BodyRejection {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthenticated",
                detail: format!("the operation needs a client certificate ({} scheme)", S::SCHEME),
                problems: Vec::new(),
                total: 0,
            }
            .into()),
        }
    }
}

/// What generated code says about an `apiKey` scheme whose key travels in a cookie.
pub trait CookieKeySpec: Send + Sync + 'static {
    const SCHEME: &'static str;
    /// The cookie's name.
    const NAME: &'static str;
    const DESCRIPTION: Option<&'static str> = None;
}

/// An API key read from a cookie (poem-openapi reads cookies only with its `cookie` feature).
pub struct CookieKey<S> {
    pub key: String,
    _spec: PhantomData<fn() -> S>,
}

impl<'a, S: CookieKeySpec> ApiExtractor<'a> for CookieKey<S> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            S::SCHEME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: S::DESCRIPTION,
                name: Some(S::NAME),
                key_in: Some("cookie"),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![S::SCHEME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let key = request
            .headers()
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|header| commerce_spec::params::cookie_text(S::NAME, header))
            .and_then(|pair| pair.split_once('=').map(|(_, v)| v.to_string()))
            .filter(|key| !key.is_empty());
        match key {
            Some(key) => Ok(Self { key, _spec: PhantomData }),
            None => Err(BodyRejection {
                status: StatusCode::UNAUTHORIZED,
                code: "unauthenticated",
                detail: format!("the operation needs the {} cookie ({} scheme)", S::NAME, S::SCHEME),
                problems: Vec::new(),
                total: 0,
            }
            .into()),
        }
    }
}

/// The media types a client accepts (`Accept`), for operations that answer in several.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Accept {
    /// `(media range, quality)` in the order the client listed them; empty: anything.
    pub ranges: Vec<(String, f32)>,
}

impl Accept {
    pub fn from_request(request: &Request) -> Self {
        let mut ranges = Vec::new();
        for value in request.headers().get_all("accept").iter().filter_map(|v| v.to_str().ok()) {
            for item in value.split(',') {
                let mut pieces = item.split(';');
                let range = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
                if range.is_empty() {
                    continue;
                }
                let quality = pieces
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                ranges.push((range, quality));
            }
        }
        Self { ranges }
    }

    /// The offered media type the client prefers (highest quality, then the client's order, then
    /// the offer's order); `None` when it accepts none of them.
    pub fn preferred(&self, offered: &[&'static str]) -> Option<&'static str> {
        if self.ranges.is_empty() {
            return offered.first().copied();
        }
        let mut best: Option<(f32, usize, &'static str)> = None;
        for media in offered {
            // The most specific range that names the media type decides its quality (RFC 9110 §12.5.1).
            let quality = self
                .ranges
                .iter()
                .enumerate()
                .filter(|(_, (range, _))| crate::body::media_matches(range, media))
                .max_by_key(|(_, (range, _))| specificity(range))
                .map(|(i, (_, q))| (*q, i));
            if let Some((q, position)) = quality.filter(|(q, _)| *q > 0.0)
                && best.is_none_or(|(bq, bp, _)| q > bq || q == bq && position < bp)
            {
                best = Some((q, position, media));
            }
        }
        best.map(|(_, _, media)| media)
    }
}

fn specificity(range: &str) -> u8 {
    match range {
        "*/*" => 0,
        r if r.ends_with("/*") => 1,
        _ => 2,
    }
}

/// A 406 naming what the operation can answer with.
pub fn not_acceptable(offered: &[&str]) -> poem::Error {
    BodyRejection {
        status: StatusCode::NOT_ACCEPTABLE,
        code: "not_acceptable",
        detail: format!(
            "the operation answers only in {}; the request's Accept admits none of them",
            offered.join(", ")
        ),
        problems: Vec::new(),
        total: 0,
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(header: &str) -> Accept {
        Accept::from_request(&Request::builder().header("accept", header).finish())
    }

    #[test]
    fn the_client_s_preference_wins() {
        let offered = ["application/json", "text/csv"];
        assert_eq!(accept("text/csv").preferred(&offered), Some("text/csv"));
        assert_eq!(accept("text/csv;q=0.5, application/json").preferred(&offered), Some("application/json"));
        assert_eq!(accept("*/*").preferred(&offered), Some("application/json"));
        assert_eq!(accept("text/*, application/json;q=0.1").preferred(&offered), Some("text/csv"));
        assert_eq!(Accept::default().preferred(&offered), Some("application/json"));
        assert_eq!(accept("image/png").preferred(&offered), None);
        assert_eq!(accept("*/*, text/csv;q=0").preferred(&offered), Some("application/json"));
    }

    #[test]
    fn basic_passwords_are_not_printed() {
        let credential = BasicCredential { username: "ann".into(), password: "secret".into() };
        assert!(!format!("{credential:?}").contains("secret"));
    }
}
