//! Credentials for every kind of security scheme: http bearer and basic (and other http schemes
//! given a credential), apiKey in a header, query parameter or cookie, OAuth 2 and OpenID Connect
//! (a token given, or obtained with the client-credentials flow), mutual TLS (a client certificate),
//! a login the tester calls itself, and headers given with `-H` that carry a scheme's credential.
//!
//! Which alternative of an operation's `security` is used is decided per request: the first whose
//! every scheme has a credential. An operation none of whose alternatives can be met is not tested,
//! and says so; `{}` among the alternatives makes credentials optional.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::model::{Api, KeyIn, Op, Requirement, Scheme};

/// A credential for one scheme.
#[derive(Debug, Clone)]
pub enum Secret {
    /// A bearer token (http bearer, OAuth 2, OpenID Connect), or the credential of another http
    /// scheme.
    Token(String),
    Basic {
        user: String,
        password: String,
    },
    /// An apiKey's value.
    Key(String),
    /// The client certificate configured on the connection (mutual TLS).
    Certificate,
    /// Supplied by a header given with `-H` (named here), sent with every request.
    Header(String),
}

/// Where each scheme's credential comes from, and the shell variable a curl command shows it as.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub by_scheme: BTreeMap<String, (Secret, String)>,
    /// Counts renewals, so concurrent workers seeing the same refused token renew it once.
    pub generation: u64,
    /// An expired token the deployment issued (`--expired-bearer`), for the expired probe.
    pub expired_bearer: Option<String>,
}

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Configured,
    Without,
    Invalid,
    /// The configured credential under another scheme (a bearer token sent as `Basic`, ...).
    WrongScheme,
    /// The configured JWT re-written with `"alg": "none"` and no signature.
    AlgNone,
    /// The configured JWT with its signature altered.
    ForgedSignature,
    /// An expired token the deployment issued (`--expired-bearer`), in place of the bearer one.
    Expired,
}

impl AuthMode {
    /// The probes that re-use the configured credential (see [`forge`]).
    pub const FORGED: [AuthMode; 4] =
        [AuthMode::WrongScheme, AuthMode::AlgNone, AuthMode::ForgedSignature, AuthMode::Expired];
}

/// The configured `Authorization` value `real` re-written as a forged `mode` says, with how it is
/// shown; `None` when the probe does not apply to it (a JWT probe on a token that is not a JWT).
pub fn forge(real: &str, shown: &str, mode: AuthMode) -> Option<(String, String)> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (scheme, credential) = real.split_once(' ')?;
    match mode {
        AuthMode::WrongScheme => {
            let other = if scheme.eq_ignore_ascii_case("bearer") { "Basic" } else { "Bearer" };
            let shown_credential = shown.split_once(' ').map_or(shown, |(_, c)| c);
            Some((format!("{other} {credential}"), format!("{other} {shown_credential}")))
        }
        AuthMode::AlgNone | AuthMode::ForgedSignature => {
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            let mut parts = credential.split('.');
            let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
            let decoded: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
            if parts.next().is_some() || decoded.get("alg").is_none() || signature.is_empty() {
                return None;
            }
            if mode == AuthMode::AlgNone {
                let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
                return Some((
                    format!("Bearer {none}.{payload}."),
                    "Bearer <the configured JWT with alg none and no signature>".into(),
                ));
            }
            let mut forged: Vec<u8> = URL_SAFE_NO_PAD.decode(signature).ok()?;
            forged.iter_mut().for_each(|b| *b ^= 0x5a);
            let forged = URL_SAFE_NO_PAD.encode(forged);
            Some((
                format!("Bearer {header}.{payload}.{forged}"),
                "Bearer <the configured JWT with its signature altered>".into(),
            ))
        }
        _ => None,
    }
}

/// What a request carries for authentication: real values and the values shown in reports.
#[derive(Debug, Default)]
pub struct Applied {
    /// `(header, real value, shown value)`.
    pub headers: Vec<(String, String, String)>,
    /// `(query parameter, real value, shown value)`.
    pub query: Vec<(String, String, String)>,
    /// `(cookie, real value, shown value)`.
    pub cookies: Vec<(String, String, String)>,
    /// Names of `-H` headers that must not be sent (they carry a credential being left out).
    pub suppressed_headers: Vec<String>,
    /// Whether the request carries the configured credentials of a required scheme.
    pub authenticated: bool,
    /// Whether the client certificate must be withheld (probing a mutual-TLS operation).
    pub withhold_certificate: bool,
    /// Whether a forged probe applied to some credential (otherwise it would repeat another probe).
    pub forged: bool,
}

impl Credentials {
    pub fn has(&self, scheme: &str) -> bool {
        self.by_scheme.contains_key(scheme)
    }

    /// The first alternative of `op` whose every scheme has a credential; `Some(&[])` when
    /// authentication is not needed (no security, or `{}` allowed).
    pub fn alternative<'o>(&self, op: &'o Op) -> Option<&'o [Requirement]> {
        if op.security.is_empty() {
            return Some(&[]);
        }
        op.security
            .iter()
            .find(|alt| !alt.is_empty() && alt.iter().all(|r| self.has(&r.scheme)))
            .or_else(|| op.security.iter().find(|alt| alt.is_empty()))
            .map(Vec::as_slice)
    }

    /// Why `op` cannot be authenticated, when it cannot.
    pub fn missing(&self, api: &Api, op: &Op) -> Option<String> {
        if self.alternative(op).is_some() {
            return None;
        }
        let options: Vec<String> = op
            .security
            .iter()
            .map(|alt| {
                alt.iter()
                    .map(|r| {
                        format!("{} ({})", r.scheme, api.schemes.get(&r.scheme).map_or("?".into(), Scheme::describe))
                    })
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect();
        Some(format!("{}/security: no credentials were given for {}", op.pointer, options.join(", or ")))
    }

    /// The credentials of `alternative`, as `mode` says.
    pub fn apply(&self, api: &Api, alternative: &[Requirement], mode: AuthMode) -> Applied {
        let mut applied = Applied::default();
        for requirement in alternative {
            let Some((secret, shown_var)) = self.by_scheme.get(&requirement.scheme) else { continue };
            let scheme = &api.schemes[&requirement.scheme];
            if let Secret::Header(name) = secret {
                match mode {
                    AuthMode::Configured => applied.authenticated = true,
                    AuthMode::Without => applied.suppressed_headers.push(name.clone()),
                    AuthMode::Invalid => {
                        applied.suppressed_headers.push(name.clone());
                        let (real, shown) = invalid(scheme);
                        applied.headers.push((name.clone(), real, shown));
                    }
                    // A header given with -H is sent as given: there is no credential to forge.
                    _ => applied.suppressed_headers.push(name.clone()),
                }
                continue;
            }
            if let Secret::Certificate = secret {
                // A connection without the certificate is both the "without" and the "invalid" probe.
                applied.withhold_certificate = mode != AuthMode::Configured;
                applied.authenticated |= mode == AuthMode::Configured;
                continue;
            }
            if mode == AuthMode::Without {
                continue;
            }
            let (real, shown) = match mode {
                AuthMode::Invalid => invalid(scheme),
                AuthMode::Configured => valid(scheme, secret, shown_var),
                _ => {
                    let (real, shown) = valid(scheme, secret, shown_var);
                    let is_header = matches!(
                        scheme,
                        Scheme::Bearer
                            | Scheme::Basic
                            | Scheme::OtherHttp(_)
                            | Scheme::OAuth2 { .. }
                            | Scheme::OpenIdConnect { .. }
                    );
                    let bearer =
                        matches!(scheme, Scheme::Bearer | Scheme::OAuth2 { .. } | Scheme::OpenIdConnect { .. });
                    let forged = match mode {
                        AuthMode::Expired => self
                            .expired_bearer
                            .as_ref()
                            .filter(|_| bearer)
                            .map(|t| (format!("Bearer {t}"), "Bearer $CONTRACT_EXPIRED_BEARER".to_string())),
                        _ => is_header.then(|| forge(&real, &shown, mode)).flatten(),
                    };
                    match forged {
                        Some(forged) => {
                            applied.forged = true;
                            forged
                        }
                        None => continue,
                    }
                }
            };
            applied.authenticated |= mode == AuthMode::Configured;
            let header = match scheme {
                Scheme::ApiKey { location: KeyIn::Query, name } => {
                    applied.query.push((name.clone(), real, shown));
                    continue;
                }
                Scheme::ApiKey { location: KeyIn::Cookie, name } => {
                    applied.cookies.push((name.clone(), real, shown));
                    continue;
                }
                Scheme::ApiKey { location: KeyIn::Header, name } => name.clone(),
                _ => "Authorization".to_string(),
            };
            // A -H header of the same name would send the credential twice.
            applied.suppressed_headers.push(header.clone());
            applied.headers.push((header, real, shown));
        }
        applied
    }
}

fn valid(scheme: &Scheme, secret: &Secret, var: &str) -> (String, String) {
    match (scheme, secret) {
        (Scheme::Basic, Secret::Basic { user, password }) => (
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))),
            format!("Basic ${var}"),
        ),
        (Scheme::Basic, Secret::Token(encoded)) => (format!("Basic {encoded}"), format!("Basic ${var}")),
        (Scheme::OtherHttp(name), Secret::Token(value)) => {
            (format!("{} {value}", capitalise(name)), format!("{} ${var}", capitalise(name)))
        }
        (Scheme::ApiKey { .. }, Secret::Key(key) | Secret::Token(key)) => (key.clone(), format!("${var}")),
        (_, Secret::Token(token) | Secret::Key(token)) => (format!("Bearer {token}"), format!("Bearer ${var}")),
        (_, _) => (String::new(), String::new()),
    }
}

/// A well-formed credential of the scheme's kind that no server issued.
fn invalid(scheme: &Scheme) -> (String, String) {
    let value = match scheme {
        Scheme::Basic => {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("invalid-user:invalid-password"))
        }
        Scheme::ApiKey { .. } => "invalid-key".into(),
        Scheme::OtherHttp(name) => format!("{} invalid-credential", capitalise(name)),
        _ => "Bearer invalid-token".into(),
    };
    (value.clone(), value)
}

fn capitalise(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// A shell variable name for a scheme's credential: `CONTRACT_<SCHEME>`.
pub fn variable_for(scheme: &str) -> String {
    let cleaned: String =
        scheme.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("CONTRACT_{cleaned}")
}

/// The OAuth 2 client-credentials flow (RFC 6749 §4.4), the client authenticated with HTTP basic.
pub async fn client_credentials(
    client: &reqwest::Client,
    token_url: &reqwest::Url,
    client_id: &str,
    client_secret: &str,
    scopes: &[String],
) -> Result<String, String> {
    let mut form = vec![("grant_type", "client_credentials".to_string())];
    if !scopes.is_empty() {
        form.push(("scope", scopes.join(" ")));
    }
    let response = client
        .post(token_url.clone())
        .basic_auth(client_id, Some(client_secret))
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("token request to {token_url}: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("token request to {token_url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("token request to {token_url} answered {status}: {text}"));
    }
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| format!("token request to {token_url}: the answer is not JSON: {e}"))?;
    body.get("access_token")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| format!("token request to {token_url}: no access_token in {text}"))
}

/// The token endpoint an OpenID Connect discovery document names.
pub async fn discover_token_endpoint(
    client: &reqwest::Client,
    discovery: &reqwest::Url,
) -> Result<reqwest::Url, String> {
    let response =
        client.get(discovery.clone()).send().await.map_err(|e| format!("OpenID discovery at {discovery}: {e}"))?;
    let body: Value = response.json().await.map_err(|e| format!("OpenID discovery at {discovery}: {e}"))?;
    let endpoint = body
        .get("token_endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("OpenID discovery at {discovery}: no token_endpoint"))?;
    discovery.join(endpoint).map_err(|e| format!("OpenID discovery at {discovery}: token_endpoint {endpoint}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_encoded_and_shown_as_a_variable() {
        let (real, shown) =
            valid(&Scheme::Basic, &Secret::Basic { user: "ann".into(), password: "s3cret".into() }, "CONTRACT_BASIC");
        assert_eq!(real, "Basic YW5uOnMzY3JldA==");
        assert_eq!(shown, "Basic $CONTRACT_BASIC");
        assert_eq!(variable_for("petstore_auth"), "CONTRACT_PETSTORE_AUTH");
    }
}
