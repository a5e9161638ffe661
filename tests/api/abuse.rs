//! Sessions, abuse and hostile clients, over HTTP on the configured database (SQLite, or
//! PostgreSQL with `COMMERCE_TEST_POSTGRES`): sessions end as a whole, logins and failed
//! authentications are throttled, hostile text is refused with a problem, and every response
//! carries the hardening headers.

use base64::Engine as _;
use commerce::auth::{Permission, Role};
use serde_json::{Value, json};

use crate::assert_body_snapshot;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Auth, Body, TestDatabase, spawn_app, spawn_app_on, spawn_app_with};

fn credentials(password: &str) -> Value {
    json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": password})
}

/// `(access, refresh)` of a fresh login.
async fn session(app: &crate::helpers::TestApp) -> (String, String) {
    let res = app.login(credentials(ADMIN_PASSWORD)).await;
    assert_eq!(res.status, 200, "{:#}", res.body);
    (res.body["accessToken"].as_str().unwrap().into(), res.body["refreshToken"].as_str().unwrap().into())
}

async fn refreshed(app: &crate::helpers::TestApp, refresh: &str) -> (String, String) {
    let res = app.refresh_token(refresh).await;
    assert_eq!(res.status, 200, "{:#}", res.body);
    (res.body["accessToken"].as_str().unwrap().into(), res.body["refreshToken"].as_str().unwrap().into())
}

async fn status_with(app: &crate::helpers::TestApp, token: &str) -> u16 {
    app.list_products(Auth::Bearer(token), &[]).await.status
}

#[tokio::test]
async fn logout_with_any_access_token_ends_the_whole_session() {
    let app = spawn_app().await;
    // Before: logging out with A1 left R2 and A2 working; logging out with A2 left A1 working.
    let (a1, r1) = session(&app).await;
    let (a2, r2) = refreshed(&app, &r1).await;
    let elsewhere = session(&app).await.0;
    assert_eq!(app.logout(Auth::Bearer(&a1)).await.status, 204);
    assert_eq!(app.refresh_token(&r2).await.status, 401, "the session's newest refresh token");
    let refused = app.list_products(Auth::Bearer(&a2), &[]).await;
    assert_eq!((refused.status, refused.body["detail"].as_str()), (401, Some("the session has ended (logged out)")));
    assert_eq!(status_with(&app, &a1).await, 401);
    assert_eq!(status_with(&app, &elsewhere).await, 200, "another session lives on");

    let (b1, s1) = session(&app).await;
    let (b2, _) = refreshed(&app, &s1).await;
    assert_eq!(app.logout(Auth::Bearer(&b2)).await.status, 204);
    assert_eq!(status_with(&app, &b1).await, 401, "logging out with the newer token ends the older one too");
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_session_access_tokens_included() {
    let app = spawn_app().await;
    // Before: reuse revoked the family's refresh tokens, but A1 and A2 kept working for their hour.
    let (a1, r1) = session(&app).await;
    let (a2, _) = refreshed(&app, &r1).await;
    assert_eq!(app.refresh_token(&r1).await.status, 401, "the reuse");
    assert_eq!(status_with(&app, &a1).await, 401);
    assert_eq!(status_with(&app, &a2).await, 401);
}

#[tokio::test]
async fn a_session_ended_on_one_instance_ends_on_the_other_within_the_reload_interval() {
    let database = TestDatabase::new().await;
    let alias = database.alias();
    let first = spawn_app_on(database).await;
    let second = spawn_app_on(alias).await;
    let (access, refresh) = session(&first).await;
    let (a2, r2) = refreshed(&first, &refresh).await;
    assert_eq!(first.refresh_token(&refresh).await.status, 401, "a reuse on the first instance");
    assert_eq!(second.refresh_token(&r2).await.status, 401, "its refresh tokens at once, everywhere");
    tokio::time::sleep(commerce::auth::revocations::RELOAD_INTERVAL * 2).await;
    assert_eq!(status_with(&second, &access).await, 401);
    assert_eq!(status_with(&second, &a2).await, 401);
}

/// An access token signed with the service's own secret, with `claims` changed.
async fn signed(app: &crate::helpers::TestApp, token: &str, change: impl FnOnce(&mut Value)) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let secret = commerce::store::tenants::jwt_secret(&app.db, None).await.unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let mut claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    change(&mut claims);
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&secret)).unwrap()
}

#[tokio::test]
async fn tokens_not_valid_yet_are_refused() {
    let app = spawn_app().await;
    let (access, _) = session(&app).await;
    let later = chrono::Utc::now().timestamp() + 3600;
    // Before: nbf was not checked.
    let not_before = signed(&app, &access, |c| c["nbf"] = json!(later)).await;
    let future = signed(&app, &access, |c| c["iat"] = json!(later)).await;
    for token in [not_before, future] {
        let res = app.list_products(Auth::Bearer(&token), &[]).await;
        assert_eq!((res.status, res.body["detail"].as_str()), (401, Some("the access token is not valid yet")));
    }
    assert_eq!(status_with(&app, &access).await, 200, "the token itself is fine");
}

fn trusting_proxies(config: &mut commerce::config::Config) {
    config.trust_forwarded_for = true;
}

async fn login_from(app: &crate::helpers::TestApp, address: &str, password: &str) -> crate::helpers::Response {
    app.call_with_headers(
        "login",
        Auth::None,
        &[],
        &[],
        Some(credentials(password).into()),
        &[("x-forwarded-for", address)],
    )
    .await
}

#[tokio::test]
async fn failed_logins_throttle_the_account_from_that_address_and_the_right_password_waits_too() {
    let app = spawn_app_with(TestDatabase::new().await, trusting_proxies).await;
    // Before: 300 wrong passwords, then the right one: 300 x 401, then 200.
    for _ in 0..5 {
        assert_eq!(login_from(&app, "203.0.113.7", "wrong-password").await.status, 401);
    }
    let refused = login_from(&app, "203.0.113.7", ADMIN_PASSWORD).await;
    assert_eq!((refused.status, refused.code()), (429, "too_many_failed_logins"));
    let wait: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let mut body = refused.body.clone();
    body["detail"] = json!("[too many failed logins; retry in N s]");
    assert_body_snapshot!("login_429", &body);
    // The attacker's address cannot lock the owner out: from elsewhere the right password works.
    assert_eq!(login_from(&app, "198.51.100.20", ADMIN_PASSWORD).await.status, 200);
    // Refused attempts are not counted, and a later failure from the blocked address only extends
    // its own refusal.
    assert_eq!(login_from(&app, "203.0.113.7", "wrong-password").await.status, 429);
}

#[tokio::test]
async fn login_throttles_hold_across_instances_sharing_the_database() {
    let database = TestDatabase::new().await;
    let alias = database.alias();
    let first = spawn_app_with(database, trusting_proxies).await;
    let second = spawn_app_with(alias, trusting_proxies).await;
    for n in 0..5 {
        let app = if n % 2 == 0 { &first } else { &second };
        assert_eq!(login_from(app, "203.0.113.9", "wrong-password").await.status, 401);
    }
    assert_eq!(login_from(&second, "203.0.113.9", ADMIN_PASSWORD).await.status, 429);
    assert_eq!(login_from(&first, "203.0.113.9", ADMIN_PASSWORD).await.status, 429);
}

#[tokio::test]
async fn a_password_spray_from_one_address_is_refused() {
    let app = spawn_app_with(TestDatabase::new().await, trusting_proxies).await;
    // Before: a spray over 8 accounts ran at 60 attempts/s with no 429.
    let mut statuses = Vec::new();
    for n in 0..40 {
        let body = json!({"tenant": "demo", "email": format!("user{}@example.com", n % 8), "password": "Winter2026!"});
        let res = app
            .call_with_headers("login", Auth::None, &[], &[], Some(body.into()), &[("x-forwarded-for", "192.0.2.44")])
            .await;
        statuses.push(res.status);
    }
    let first_refusal = statuses.iter().position(|s| *s == 429).expect("the spray is refused");
    assert!(first_refusal <= 30, "refused after {first_refusal} attempts: {statuses:?}");
}

#[tokio::test]
async fn requests_failing_authentication_are_limited_per_address() {
    let app = spawn_app_with(TestDatabase::new().await, |c| c.rate_limit_unauthenticated = 10).await;
    let key = app.api_key(&[Permission::ProductsRead]).await;
    // Before: 1,500 each of bogus tokens, keys, refresh tokens and no credential: all 401, no 429.
    let mut statuses = Vec::new();
    for n in 0..12 {
        let res = match n % 4 {
            0 => app.list_products(Auth::Bearer("bogus.token.here"), &[]).await,
            1 => app.list_products(Auth::ApiKey("ck_bogus"), &[]).await,
            2 => app.refresh_token("rt_bogus").await,
            _ => app.list_products(Auth::None, &[]).await,
        };
        statuses.push(res.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 10, "{statuses:?}");
    let limited = app.list_products(Auth::None, &[]).await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    assert!(limited.header("retry-after").is_some());
    let refresh = app.refresh_token("rt_bogus").await;
    assert_eq!(refresh.status, 429);
    let mut body = refresh.body.clone();
    body["detail"] = json!("[the rate limit is used up; retry in N s]");
    assert_body_snapshot!("refreshToken_429", &body);
    // Even a valid credential waits: the address is refused as a whole for the rest of the minute.
    assert_eq!(app.list_products(Auth::ApiKey(&key), &[]).await.status, 429);
}

#[tokio::test]
async fn strings_holding_nul_are_refused_with_a_pointer_on_every_database() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // Before: PostgreSQL answered 500 (error 22021); SQLite stored the NUL.
    let mut product = crate::helpers::sample_product("NUL-1");
    product["name"] = json!("a\u{0000}b");
    product["tags"] = json!(["ok", "x\u{0000}"]);
    let res = app.create_product(Auth::Bearer(&token), product).await;
    assert_eq!((res.status, res.code()), (422, "validation_failed"));
    assert_eq!(res.error_locations(), ["/name", "/tags/1"]);
    let search = app.list_products(Auth::Bearer(&token), &[("search", "a\u{0000}")]).await;
    assert_eq!((search.status, search.code()), (400, "invalid_parameter"));
    assert_eq!(search.error_locations(), ["search"]);
    assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.body["pagination"]["total"], 0);
}

#[tokio::test]
async fn a_query_that_is_not_utf8_is_a_400_problem() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // Before: search=%FF%FE answered 200.
    let res = reqwest::Client::new()
        .get(format!("{}/products?search=%FF%FE", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["errors"][0]["parameter"].as_str()),
        (Some("invalid_parameter"), Some("search"))
    );
}

#[tokio::test]
async fn a_body_with_sixty_thousand_unknown_members_gets_a_hundred_errors_and_a_count() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let mut product = crate::helpers::sample_product("MANY-1");
    for n in 0..60_000 {
        product[format!("x{n}")] = json!(1);
    }
    // Before: a 3.88 MB problem listing 60,005 errors.
    let res = app.create_product(Auth::Bearer(&token), product).await;
    assert_eq!(res.status, 422);
    assert_eq!(res.body["errors"].as_array().unwrap().len(), 100);
    assert_eq!(res.body["errorCount"], 60_000);
    assert!(res.body.to_string().len() < 20_000, "{} bytes", res.body.to_string().len());
}

#[tokio::test]
async fn json_media_types_the_operation_does_not_document_answer_415() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let body = crate::helpers::sample_product("MEDIA-1").to_string();
    // Before: accepted as if they were application/json.
    for media in ["application/merge-patch+json", "application/json-patch+json", "application/problem+json"] {
        let res =
            app.create_product(Auth::Bearer(&token), Body::Raw(media, Box::leak(body.clone().into_boxed_str()))).await;
        assert_eq!((res.status, res.code()), (415, "unsupported_media_type"), "{media}");
    }
    assert_eq!(
        app.create_product(
            Auth::Bearer(&token),
            Body::Raw("application/json; charset=utf-8", Box::leak(body.into_boxed_str()))
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn header_values_and_oversized_requests_get_problem_bodies() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let client = reqwest::Client::new();
    // A header value with bytes outside visible ASCII (obs-text) reaches the service: a 400 problem.
    let key = reqwest::header::HeaderValue::from_bytes(b"key-\xff\xfe").unwrap();
    let res = client
        .post(format!("{}/products", app.base))
        .bearer_auth(&token)
        .header("idempotency-key", key)
        .json(&crate::helpers::sample_product("HDR-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["parameter"], "Idempotency-Key");
    // 414 and 431 as problems (below the HTTP parser's own, body-less limits).
    let long = client
        .get(format!("{}/products?search={}", app.base, "a".repeat(9000)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 414);
    assert_eq!(long.headers()["content-type"], "application/problem+json");
    let mut big = client.get(format!("{}/products", app.base)).bearer_auth(&token);
    for n in 0..40 {
        big = big.header(format!("x-filler-{n}"), "v".repeat(1000));
    }
    let big = big.send().await.unwrap();
    assert_eq!(big.status(), 431);
    assert_eq!(big.json::<Value>().await.unwrap()["code"], "request_rejected");
}

#[tokio::test]
async fn every_response_says_nosniff_and_credentialed_ones_are_never_cached() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let listed = app.list_products(Auth::Bearer(&token), &[]).await;
    assert_eq!(listed.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(listed.header("cache-control"), Some("no-store"));
    let refused = app.list_products(Auth::None, &[]).await;
    assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));
    let health = app.call("healthz", Auth::None, &[], &[], None).await;
    assert_eq!(health.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(health.header("cache-control"), None, "an anonymous probe may be cached");
    let docs = app.get_path("/docs/").await;
    let csp = docs.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(docs.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn shoppers_neither_see_nor_order_inactive_products() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let hidden = app.product(&token, "HIDDEN-1", json!({"active": false})).await;
    let shown = app.product(&token, "SHOWN-1", json!({})).await;
    let customer = app.token_with_role(Role::Customer).await;
    // Before: customers listed, read and ordered inactive products.
    let listed = app.list_products(Auth::Bearer(&customer), &[]).await;
    let skus: Vec<&str> = listed.body["data"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["SHOWN-1"]);
    let asked = app.list_products(Auth::Bearer(&customer), &[("active", "false")]).await;
    assert_eq!(asked.body["pagination"]["total"], 0);
    let id = hidden["id"].as_str().unwrap();
    assert_eq!(app.get_product(Auth::Bearer(&customer), id).await.status, 404);
    assert_eq!(app.get_product(Auth::Bearer(&token), id).await.status, 200, "staff see the whole catalogue");
    let me = app.list_customers(Auth::Bearer(&customer), &[]).await.body["data"][0]["id"].clone();
    let order = |product: &Value| json!({"customerId": me, "items": [{"productId": product["id"], "quantity": 1}], "shippingAddress": crate::helpers::address()});
    let refused = app.create_order(Auth::Bearer(&customer), order(&hidden)).await;
    assert_eq!((refused.status, refused.error_locations()), (422, vec!["/items/0/productId".to_string()]));
    assert_eq!(app.create_order(Auth::Bearer(&token), order(&hidden)).await.status, 422, "not for sale to anyone");
    assert_eq!(app.create_order(Auth::Bearer(&customer), order(&shown)).await.status, 201);
}

#[test]
fn a_jwt_secret_shorter_than_32_bytes_is_refused_at_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["serve", "--jwt-secret", "a"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the JWT secret has 1 bytes; HS256 needs at least 32"), "{stderr}");
}
