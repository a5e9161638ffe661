//! `login`, `refreshToken`, `logout`, and how every operation treats credentials.

use commerce::auth::Permission;
use serde_json::json;

use crate::assert_body_snapshot;
use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Auth, Body, spawn_app};

#[tokio::test]
async fn login_with_valid_credentials_returns_a_bearer_token_pair() {
    let app = spawn_app().await;

    let res = app.login(json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;

    assert_eq!(res.status, 200);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_body_snapshot!("login_200", &res.body);
    let token = res.body["accessToken"].as_str().unwrap();
    assert_eq!(app.list_products(Auth::Bearer(token), &[]).await.status, 200);
}

#[tokio::test]
async fn login_email_is_case_insensitive() {
    let app = spawn_app().await;
    let res = app.login(json!({"tenant": "demo", "email": "ADMIN@Example.com", "password": ADMIN_PASSWORD})).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn a_wrong_password_unknown_email_or_unknown_tenant_all_answer_the_same_401() {
    let app = spawn_app().await;
    let attempts = [
        json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": "wrong"}),
        json!({"tenant": "demo", "email": "nobody@example.com", "password": ADMIN_PASSWORD}),
        json!({"tenant": "nowhere", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    ];
    for attempt in attempts {
        let res = app.login(attempt).await;
        assert_eq!(res.status, 401);
        assert_eq!(res.code(), "invalid_credentials");
        assert_eq!(res.body["detail"], "the tenant, email or password is wrong");
    }
}

#[tokio::test]
async fn login_refuses_malformed_and_invalid_bodies() {
    let app = spawn_app().await;

    let not_json = app.login(Body::Raw("application/json", "{\"tenant\": ")).await;
    assert_eq!((not_json.status, not_json.code()), (400, "invalid_json"));

    let missing = app.login(json!({"tenant": "demo", "email": ADMIN_EMAIL})).await;
    assert_eq!((missing.status, missing.code()), (422, "validation_failed"));
    assert_eq!(missing.error_locations(), ["/password"]);
    assert_body_snapshot!("login_422_missing_password", &missing.body);

    let bad =
        app.login(json!({"tenant": "Demo Store", "email": "not-an-email", "password": "x", "remember": true})).await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.error_locations(), ["/email", "/remember", "/tenant"]);

    let form = app.login(Body::Raw("application/x-www-form-urlencoded", "tenant=demo")).await;
    assert_eq!((form.status, form.code()), (415, "unsupported_media_type"));
}

#[tokio::test]
async fn refresh_rotates_the_pair_and_the_old_refresh_token_stops_working() {
    let app = spawn_app().await;
    let first = app.login(json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    let old_refresh = first.body["refreshToken"].as_str().unwrap();

    let second = app.refresh_token(old_refresh).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("cache-control"), Some("no-store"));
    let new_access = second.body["accessToken"].as_str().unwrap();
    assert_ne!(second.body["refreshToken"], first.body["refreshToken"]);
    assert_eq!(app.list_products(Auth::Bearer(new_access), &[]).await.status, 200);

    let reused = app.refresh_token(old_refresh).await;
    assert_eq!((reused.status, reused.code()), (401, "invalid_refresh_token"));
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family() {
    let app = spawn_app().await;
    let first = app.login(json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    let a = first.body["refreshToken"].as_str().unwrap().to_string();
    let b = app.refresh_token(&a).await.body["refreshToken"].as_str().unwrap().to_string();

    assert_eq!(app.refresh_token(&a).await.status, 401, "the rotated token is refused");

    let after = app.refresh_token(&b).await;
    assert_eq!(after.status, 401, "the reuse revoked the newer token of the same family too");
}

#[tokio::test]
async fn an_unknown_refresh_token_is_refused() {
    let app = spawn_app().await;
    let res = app.refresh_token("rt_not-a-real-token").await;
    assert_eq!((res.status, res.code()), (401, "invalid_refresh_token"));
}

#[tokio::test]
async fn logout_revokes_the_access_token_and_its_refresh_token() {
    let app = spawn_app().await;
    let pair = app.login(json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    let access = pair.body["accessToken"].as_str().unwrap();
    let refresh = pair.body["refreshToken"].as_str().unwrap();
    let other_session = app.admin_token().await;

    let res = app.logout(Auth::Bearer(access)).await;
    assert_eq!(res.status, 204);

    let revoked = app.list_products(Auth::Bearer(access), &[]).await;
    assert_eq!((revoked.status, revoked.code()), (401, "unauthorized"));
    assert_eq!(revoked.body["detail"], "the session has ended (logged out)");
    assert_eq!(app.refresh_token(refresh).await.status, 401);
    assert_eq!(app.list_products(Auth::Bearer(&other_session), &[]).await.status, 200, "other sessions live on");
}

#[tokio::test]
async fn logout_with_an_api_key_is_forbidden() {
    let app = spawn_app().await;
    let key = app.api_key(&[Permission::ProductsRead]).await;
    let res = app.logout(Auth::ApiKey(&key)).await;
    assert_eq!((res.status, res.code()), (403, "session_required"));
}

#[tokio::test]
async fn operations_refuse_missing_malformed_and_forged_credentials() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let (header, payload, _) = {
        let mut parts = token.split('.');
        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap())
    };
    let forged = format!("{header}.{payload}.c2lnbmF0dXJl");
    for auth in [Auth::None, Auth::Bearer("not-a-jwt"), Auth::Bearer(&forged), Auth::ApiKey("ck_unknown")] {
        let res = app.list_products(auth, &[]).await;
        assert_eq!((res.status, res.code()), (401, "unauthorized"), "{auth:?}");
        // RFC 9110 §11.6.1 and RFC 6750 §3: the challenge, and why a presented bearer token failed.
        let challenge = match auth {
            Auth::Bearer(_) => r#"Bearer realm="commerce", error="invalid_token""#,
            _ => r#"Bearer realm="commerce""#,
        };
        assert_eq!(res.header("www-authenticate"), Some(challenge), "{auth:?}");
    }
    let login = app.login(json!({"tenant": "demo", "email": "admin@example.com", "password": "wrong-password"})).await;
    assert_eq!((login.status, login.header("www-authenticate")), (401, Some(r#"Bearer realm="commerce""#)));
}

#[tokio::test]
async fn an_api_key_authenticates_with_its_scopes() {
    let app = spawn_app().await;
    let reader = app.api_key(&[Permission::ProductsRead]).await;

    assert_eq!(app.list_products(Auth::ApiKey(&reader), &[]).await.status, 200);
    let write = app.create_product(Auth::ApiKey(&reader), crate::helpers::sample_product("KEY-1")).await;
    assert_eq!((write.status, write.code()), (403, "forbidden"));
    assert_eq!(write.body["detail"], "this operation needs the products:write permission");

    let writer = app.api_key(&[Permission::ProductsRead, Permission::ProductsWrite]).await;
    assert_eq!(app.create_product(Auth::ApiKey(&writer), crate::helpers::sample_product("KEY-1")).await.status, 201);
}

#[tokio::test]
async fn api_key_scopes_gate_orders_and_customers_too() {
    let app = spawn_app().await;
    let readers = app.api_key(&[Permission::OrdersRead, Permission::CustomersRead]).await;
    let auth = Auth::ApiKey(&readers);

    assert_eq!(app.list_orders(auth, &[]).await.status, 200);
    assert_eq!(app.list_customers(auth, &[]).await.status, 200);
    let customer = app.create_customer(auth, crate::helpers::sample_customer("x@example.com")).await;
    assert_eq!(
        (customer.status, customer.body["detail"].as_str()),
        (403, Some("this operation needs the customers:write permission"))
    );
    let order = json!({"customerId": "0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01", "items": [{"productId": "0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01", "quantity": 1}], "shippingAddress": crate::helpers::address()});
    assert_eq!(app.create_order(auth, order).await.status, 403);
    let products = app.list_products(auth, &[]).await;
    assert_eq!(
        (products.status, products.body["detail"].as_str()),
        (403, Some("this operation needs the products:read permission"))
    );
}
