//! Forged credentials for every secured operation that was accepted with the configured one: the
//! token under another scheme, an unsigned JWT (alg none), a JWT with its signature altered. A server
//! that accepts any of them is reported under `ignored_auth`; one that checks properly passes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::support::{Reply, Seen, document, run, target, text};

const ACCOUNT: &str = r#"
openapi: 3.1.0
info: {title: account, version: '1'}
security: [{jwt: []}]
paths:
  /me:
    get:
      operationId: me
      responses: {'200': {description: you}, '401': {description: who are you}}
components:
  securitySchemes:
    jwt: {type: http, scheme: bearer, bearerFormat: JWT}
"#;

/// A token as the server issued it: HS256, its signature a fixed made-up value (this server keeps
/// the one it issued and compares).
fn issued() -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"ann","exp":4102444800}"#);
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]))
}

/// A token the server issued an hour ago, expired since.
fn expired() -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"ann","exp":1000000000}"#);
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([9u8; 32]))
}

#[derive(Clone, Copy)]
enum Server {
    /// Knows every token it issued, and never looks at `exp`.
    ExpiryIgnored,
    /// Compares the whole `Authorization` value.
    Strict,
    /// Reads the claims, never the signature (and honours alg none).
    SignatureIgnored,
    /// Takes whatever follows the scheme word.
    SchemeIgnored,
}

fn accepts(server: Server, seen: &Seen) -> bool {
    let Some(value) = seen.header("authorization") else { return false };
    match server {
        Server::Strict => value == format!("Bearer {}", issued()),
        Server::ExpiryIgnored => value == format!("Bearer {}", issued()) || value == format!("Bearer {}", expired()),
        Server::SchemeIgnored => value.split_once(' ').is_some_and(|(_, token)| token == issued()),
        Server::SignatureIgnored => value.strip_prefix("Bearer ").is_some_and(|token| {
            let payload = token.split('.').nth(1).and_then(|p| URL_SAFE_NO_PAD.decode(p).ok());
            payload.is_some_and(|p| String::from_utf8_lossy(&p).contains(r#""sub":"ann""#))
        }),
    }
}

async fn check(server: Server) -> commerce_contract::Outcome {
    check_with(server, &[]).await
}

async fn check_with(server: Server, extra: &[&str]) -> commerce_contract::Outcome {
    let (_dir, path) = document(ACCOUNT);
    let target = target(move |seen| match seen.method.as_str() {
        "GET" => Reply::empty(if accepts(server, seen) { 200 } else { 401 }),
        _ => Reply::empty(405).with("allow", "GET"),
    })
    .await;
    let bearer = issued();
    let mut argv =
        vec!["--spec", &path, "--base-url", &target.base, "--bearer", &bearer, "--seed", "4", "--max-examples", "5"];
    argv.extend_from_slice(extra);
    run(&argv).await
}

fn ignored_auth_titles(outcome: &commerce_contract::Outcome) -> Vec<String> {
    outcome
        .summary
        .failures
        .iter()
        .filter(|g| g.check == "ignored_auth")
        .map(|g| g.example.message.lines().next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_server_that_checks_its_tokens_passes_every_forged_probe() {
    let outcome = check(Server::Strict).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    assert!(outcome.summary.judged["ignored_auth"] >= 5, "without, invalid, and the three forged: {}", text(&outcome));
}

#[tokio::test]
async fn a_server_that_never_checks_signatures_is_caught_twice() {
    let titles = ignored_auth_titles(&check(Server::SignatureIgnored).await);
    assert!(titles.contains(&"API accepts an unsigned JWT (alg none)".to_string()), "{titles:?}");
    assert!(titles.contains(&"API accepts a JWT whose signature was altered".to_string()), "{titles:?}");
}

#[tokio::test]
async fn a_server_that_ignores_the_scheme_word_is_caught() {
    let titles = ignored_auth_titles(&check(Server::SchemeIgnored).await);
    assert_eq!(titles, ["API accepts its credential under another authentication scheme"], "{titles:?}");
}

#[tokio::test]
async fn an_expired_token_given_with_expired_bearer_must_be_refused() {
    let stale = expired();
    let strict = check_with(Server::Strict, &["--expired-bearer", &stale]).await;
    assert!(strict.summary.passed(), "{}", text(&strict));
    let titles = ignored_auth_titles(&check_with(Server::ExpiryIgnored, &["--expired-bearer", &stale]).await);
    assert_eq!(titles, ["API accepts an expired token"], "{titles:?}");
    // Without the flag there is no expired token to send: that server then passes.
    assert!(check(Server::ExpiryIgnored).await.summary.passed());
}
