//! CORS (the Fetch standard's protocol) for the origins `--cors-allow-origin` names, and none by
//! default. (`tests/browser/` checks the same from a real page on another origin.)

use crate::helpers::{Auth, TestDatabase, spawn_app, spawn_app_with};

const SHOP: &str = "http://shop.test:3000";

async fn preflight(base: &str, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{base}/products"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn without_the_flag_no_origin_is_allowed() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let asked = preflight(&app.base, SHOP, "POST", "authorization,content-type").await;
    assert!(asked.headers().get("access-control-allow-origin").is_none());
    assert!(!asked.status().is_success(), "no preflight succeeds: {}", asked.status());
    let listed = app.call_with_headers("listProducts", Auth::Bearer(&token), &[], &[], None, &[("Origin", SHOP)]).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn an_allowed_origin_gets_preflights_and_readable_responses_and_others_get_nothing() {
    let app = spawn_app_with(TestDatabase::new().await, |config| {
        config.cors_allow_origins = vec![SHOP.into(), "https://admin.example.com".into()];
    })
    .await;
    let token = app.admin_token().await;

    let asked = preflight(&app.base, SHOP, "POST", "authorization,content-type,idempotency-key").await;
    assert_eq!(asked.status(), 204);
    let header = |name: &str| asked.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(header("access-control-allow-origin"), SHOP);
    assert_eq!(header("access-control-allow-methods"), "GET, POST", "the methods /products documents");
    let allowed = header("access-control-allow-headers");
    for name in ["authorization", "content-type", "idempotency-key", "x-api-key"] {
        assert!(allowed.split(", ").any(|h| h == name), "{name} not in {allowed}");
    }
    assert_eq!(header("access-control-max-age"), "600");
    assert!(header("vary").contains("Origin"));
    assert!(asked.headers().get("access-control-allow-credentials").is_none(), "credentials are headers, not cookies");

    let listed = app.call_with_headers("listProducts", Auth::Bearer(&token), &[], &[], None, &[("Origin", SHOP)]).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.header("access-control-allow-origin"), Some(SHOP));
    assert_eq!(listed.header("vary"), Some("Origin"));
    let exposed = listed.header("access-control-expose-headers").unwrap_or_default();
    for name in ["etag", "location", "ratelimit", "ratelimit-policy", "retry-after", "x-request-id"] {
        assert!(exposed.split(", ").any(|h| h == name), "{name} not in {exposed}");
    }
    // A problem answer is readable too: a page must see why it was refused.
    let refused = app.call_with_headers("listProducts", Auth::None, &[], &[], None, &[("Origin", SHOP)]).await;
    assert_eq!((refused.status, refused.header("access-control-allow-origin")), (401, Some(SHOP)));

    let elsewhere = "https://evil.example.net";
    let asked = preflight(&app.base, elsewhere, "POST", "authorization").await;
    assert!(asked.headers().get("access-control-allow-origin").is_none());
    let listed =
        app.call_with_headers("listProducts", Auth::Bearer(&token), &[], &[], None, &[("Origin", elsewhere)]).await;
    assert_eq!(listed.status, 200, "served, but the browser keeps it from the page");
    assert_eq!((listed.header("access-control-allow-origin"), listed.header("vary")), (None, Some("Origin")));
}

#[tokio::test]
async fn the_flag_refuses_what_is_not_an_origin() {
    let database = TestDatabase::new().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["serve", "--cors-allow-origin", "https://shop.example.com/", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("scheme://host[:port]"));
}
