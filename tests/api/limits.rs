//! Rate limits per credential, and creates made safe to retry with `Idempotency-Key`.

use commerce::auth::{Permission, Plan};
use commerce::store;
use serde_json::json;

use crate::helpers::{Auth, Body, TestApp, address, sample_customer, sample_product, spawn_app};

#[tokio::test]
async fn responses_carry_the_rate_limit_headers() {
    let app = spawn_app().await;
    let key = app.api_key(&[Permission::ProductsRead]).await;

    let first = app.list_products(Auth::ApiKey(&key), &[]).await;
    let second = app.list_products(Auth::ApiKey(&key), &[]).await;

    assert_eq!(first.header("ratelimit-policy"), Some("\"default\";q=1000;w=60"));
    assert_eq!(first.header("ratelimit"), Some("\"default\";r=999;t=1"));
    assert_eq!(second.header("ratelimit"), Some("\"default\";r=998;t=1"));
}

#[tokio::test]
async fn a_standard_key_is_refused_once_its_minute_of_quota_is_used_up() {
    let app = spawn_app().await;
    let key = app.api_key(&[Permission::ProductsRead]).await;
    let other = app.api_key(&[Permission::ProductsRead]).await;
    let started = std::time::Instant::now();

    for i in 0..1000 {
        let res = app.list_products(Auth::ApiKey(&key), &[("pageSize", "1")]).await;
        assert_eq!(res.status, 200, "request {} of the quota", i + 1);
    }
    // GCRA refills continuously (one request every 60 ms at 1000/min): only what refilled while the
    // first 1000 ran may pass before the first 429.
    let mut extra = 0;
    let refused = loop {
        let res = app.list_products(Auth::ApiKey(&key), &[("pageSize", "1")]).await;
        if res.status != 200 {
            break res;
        }
        extra += 1;
        assert!(extra <= 200, "no 429 after 1200 requests");
    };
    let refilled = (started.elapsed().as_secs_f64() * 1000.0 / 60.0).ceil() as u32;

    assert!(extra <= refilled + 1, "{extra} requests past the quota, {refilled} refilled");
    assert_eq!((refused.status, refused.code()), (429, "rate_limited"));
    let retry_after: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(refused.header("ratelimit"), Some("\"default\";r=0;t=60"));
    assert_eq!(refused.header("ratelimit-policy"), Some("\"default\";q=1000;w=60"));
    assert_eq!(app.list_products(Auth::ApiKey(&other), &[]).await.status, 200, "another key has its own quota");
}

#[tokio::test]
async fn an_enterprise_key_has_ten_times_the_quota() {
    let app = spawn_app().await;
    let key = app.api_key_on("demo", &[Permission::ProductsRead], Plan::Enterprise).await;
    let res = app.list_products(Auth::ApiKey(&key), &[]).await;
    assert_eq!(res.header("ratelimit-policy"), Some("\"default\";q=10000;w=60"));
}

async fn create_with_key(app: &TestApp, token: &str, key: &str, body: serde_json::Value) -> crate::helpers::Response {
    app.call_with_headers(
        "createProduct",
        Auth::Bearer(token),
        &[],
        &[],
        Some(Body::Json(body)),
        &[("Idempotency-Key", key)],
    )
    .await
}

#[tokio::test]
async fn a_retried_create_replays_the_first_response_and_creates_nothing_new() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let first = create_with_key(&app, &token, "key-1", sample_product("IDEM-1")).await;
    let retry = create_with_key(&app, &token, "key-1", sample_product("IDEM-1")).await;

    assert_eq!((first.status, retry.status), (201, 201));
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.body["pagination"]["total"], 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    create_with_key(&app, &token, "key-2", sample_product("IDEM-2")).await;

    let res = create_with_key(&app, &token, "key-2", sample_product("IDEM-3")).await;

    assert_eq!((res.status, res.error_locations()), (422, vec!["Idempotency-Key".to_string()]));
    assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.body["pagination"]["total"], 1);
}

/// The claim the admin's first request with `key` and `body` makes, as the store records it.
async fn claim_as_admin(
    app: &TestApp,
    key: &str,
    body: &serde_json::Value,
    lease: std::time::Duration,
) -> store::idempotency::Claim {
    let typed: commerce_generated::models::ProductCreate = serde_json::from_value(body.clone()).unwrap();
    claim_for(app, "createProduct", &typed, key, lease).await
}

/// The admin's claim of `key` for `operation` with the request body `typed`, as the service hashes it.
async fn claim_for(
    app: &TestApp,
    operation: &str,
    typed: &impl serde::Serialize,
    key: &str,
    lease: std::time::Duration,
) -> store::idempotency::Claim {
    let tenant = store::tenants::find_tenant(&app.db, "demo").await.unwrap().unwrap();
    let admin = store::tenants::find_user(&app.db, tenant.id, "admin@example.com").await.unwrap().unwrap();
    let hash = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(operation.as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(typed).unwrap());
        hex::encode(h.finalize())
    };
    store::idempotency::claim(&app.db, tenant.id, &format!("user:{}", admin.id), key, &hash, lease).await.unwrap()
}

fn new_product(body: &serde_json::Value) -> store::products::NewProduct {
    let typed: commerce_generated::models::ProductCreate = serde_json::from_value(body.clone()).unwrap();
    store::products::NewProduct {
        sku: typed.sku,
        name: typed.name,
        description: typed.description,
        category: typed.category.as_str().to_string(),
        price: typed.price,
        currency: typed.currency,
        stock: typed.stock,
        active: typed.active,
        tags: typed.tags.unwrap_or_default(),
        images: typed.images.unwrap_or_default(),
    }
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_is_a_409() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // The first request has claimed the key and not finished: what its claim looks like in the store.
    let body = sample_product("IDEM-4");
    claim_as_admin(&app, "key-4", &body, std::time::Duration::from_secs(60)).await;

    let res = create_with_key(&app, &token, "key-4", body).await;

    assert_eq!((res.status, res.code()), (409, "idempotency_key_in_use"));
    assert!(res.body["detail"].as_str().unwrap().contains("retry in"), "{:#}", res.body);
}

#[tokio::test]
async fn a_key_whose_create_committed_before_a_crash_answers_a_retry_with_its_resource() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let body = sample_product("CRASH-1");
    // The first request claimed the key and committed the product with it, then the process died
    // before storing the response.
    let store::idempotency::Claim::Fresh(fence) =
        claim_as_admin(&app, "crash-1", &body, std::time::Duration::from_secs(60)).await
    else {
        panic!("a fresh claim")
    };
    let tenant = store::tenants::find_tenant(&app.db, "demo").await.unwrap().unwrap();
    let created = store::products::create(&app.db, tenant.id, new_product(&body), Some(fence)).await.unwrap();

    // Before: 409 idempotency_key_in_use, forever; the client could never learn the outcome.
    let retry = create_with_key(&app, &token, "crash-1", body.clone()).await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.body["id"], created.id.to_string());
    assert_eq!(retry.header("location"), Some(format!("/products/{}", created.id).as_str()));
    let again = create_with_key(&app, &token, "crash-1", body).await;
    assert_eq!((again.status, again.body["id"].clone()), (201, retry.body["id"].clone()), "now replayed");
    assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.body["pagination"]["total"], 1);
}

#[tokio::test]
async fn a_key_left_by_a_request_that_died_before_creating_is_taken_over_after_its_lease() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let body = sample_product("CRASH-2");
    // The first request claimed the key and died before its transaction committed: its lease ends.
    claim_as_admin(&app, "crash-2", &body, std::time::Duration::ZERO).await;

    let retry = create_with_key(&app, &token, "crash-2", body.clone()).await;
    assert_eq!(retry.status, 201, "{:#}", retry.body);
    assert_eq!(create_with_key(&app, &token, "crash-2", body).await.body["id"], retry.body["id"]);
    assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.body["pagination"]["total"], 1);
}

#[tokio::test]
async fn a_request_whose_claim_was_taken_over_creates_nothing() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let body = sample_product("CRASH-3");
    let store::idempotency::Claim::Fresh(old) = claim_as_admin(&app, "crash-3", &body, std::time::Duration::ZERO).await
    else {
        panic!("a fresh claim")
    };
    // A retry takes the expired claim over and creates the product...
    assert_eq!(create_with_key(&app, &token, "crash-3", body.clone()).await.status, 201);
    // ...and the first request, still running somewhere, can no longer create a second one.
    let tenant = store::tenants::find_tenant(&app.db, "demo").await.unwrap().unwrap();
    let mut late = new_product(&body);
    late.sku = "CRASH-3-LATE".into();
    let refused = store::products::create(&app.db, tenant.id, late, Some(old)).await.unwrap_err();
    assert_eq!(refused.code(), "idempotency_key_in_use");
    assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.body["pagination"]["total"], 1, "rolled back");
}

#[tokio::test]
async fn an_order_whose_claim_was_taken_over_creates_nothing_and_takes_no_stock() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let product = app.product(&token, "CRASH-4", json!({"stock": 5})).await;
    let customer = app.create_customer(Auth::Bearer(&token), sample_customer("late@example.com")).await.body;
    let body = json!({
        "customerId": customer["id"],
        "items": [{"productId": product["id"], "quantity": 2}],
        "shippingAddress": address(),
    });
    let typed: commerce_generated::models::OrderCreate = serde_json::from_value(body.clone()).unwrap();
    let store::idempotency::Claim::Fresh(old) =
        claim_for(&app, "createOrder", &typed, "crash-4", std::time::Duration::ZERO).await
    else {
        panic!("a fresh claim")
    };
    // A retry takes the expired claim over and creates the order...
    let headers = [("Idempotency-Key", "crash-4")];
    let retry =
        app.call_with_headers("createOrder", Auth::Bearer(&token), &[], &[], Some(Body::Json(body)), &headers).await;
    assert_eq!(retry.status, 201, "{:#}", retry.body);
    // ...and the first request's order, reaching the order desk late, is refused as a whole.
    let tenant = store::tenants::find_tenant(&app.db, "demo").await.unwrap().unwrap();
    let late = store::orders::NewOrder {
        id: None,
        customer_id: typed.customer_id.unwrap(),
        lines: vec![store::orders::NewLine { product_id: typed.items[0].product_id, quantity: 2 }],
        shipping_address: address(),
        shipping_method: "standard".into(),
        fence: Some(old),
    };
    let refused = app.handlers.orders.create(tenant.id, late).await.unwrap_err();
    assert_eq!(refused.code(), "idempotency_key_in_use");
    let id = product["id"].as_str().unwrap();
    assert_eq!(app.get_product(Auth::Bearer(&token), id).await.body["stock"], 3, "only the retry took stock");
    let orders = app.list_orders(Auth::Bearer(&token), &[]).await;
    assert_eq!(orders.body["pagination"]["total"], 1, "{:#}", orders.body);
}

#[tokio::test]
async fn a_failed_create_frees_its_key_and_keys_are_per_principal() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.product(&token, "TAKEN-1", json!({})).await;

    let failed = create_with_key(&app, &token, "key-5", sample_product("TAKEN-1")).await;
    assert_eq!(failed.status, 409);
    let taken = app.list_products(Auth::Bearer(&token), &[]).await.body["data"][0]["id"].as_str().unwrap().to_string();
    app.update_product(Auth::Bearer(&token), &taken, json!({"sku": "MOVED-1"})).await;
    assert_eq!(
        create_with_key(&app, &token, "key-5", sample_product("TAKEN-1")).await.status,
        201,
        "the key was free again"
    );

    let colleague = app.token_with_role(commerce::auth::Role::Staff).await;
    let theirs = create_with_key(&app, &colleague, "key-5", sample_product("THEIRS-1")).await;
    assert_eq!(theirs.status, 201, "another principal's key of the same name is another key");
}

#[tokio::test]
async fn orders_and_customers_are_idempotent_too() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let auth = Auth::Bearer(&token);
    let headers = [("Idempotency-Key", "c-1")];
    let body = || Some(Body::Json(sample_customer("idem@example.com")));
    let first = app.call_with_headers("createCustomer", auth, &[], &[], body(), &headers).await;
    let again = app.call_with_headers("createCustomer", auth, &[], &[], body(), &headers).await;
    assert_eq!((first.status, again.status, &again.body), (201, 201, &first.body));
    // The replay answers the created resource's ETag, as the first answer did.
    assert_eq!((first.header("etag"), again.header("etag")), (Some("\"1\""), Some("\"1\"")));

    let product = app.product(&token, "ORD-1", json!({"stock": 5})).await;
    let order = json!({"customerId": first.body["id"], "items": [{"productId": product["id"], "quantity": 2}], "shippingAddress": crate::helpers::address()});
    let headers = [("Idempotency-Key", "o-1")];
    let one = app.call_with_headers("createOrder", auth, &[], &[], Some(Body::Json(order.clone())), &headers).await;
    let two = app.call_with_headers("createOrder", auth, &[], &[], Some(Body::Json(order)), &headers).await;
    assert_eq!((one.status, two.status, &two.body), (201, 201, &one.body));
    let stock = app.get_product(auth, product["id"].as_str().unwrap()).await.body["stock"].clone();
    assert_eq!(stock, 3, "the replay took no stock");
}

#[tokio::test]
async fn a_key_is_forgotten_after_24_hours() {
    use sea_orm::{EntityTrait, sea_query::Expr};
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(create_with_key(&app, &token, "old-key", sample_product("OLD-1")).await.status, 201);
    // Age the key past the window, as if a day had passed.
    store::entities::idempotency_key::Entity::update_many()
        .col_expr(
            store::entities::idempotency_key::Column::CreatedAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::hours(25)),
        )
        .exec(&app.db)
        .await
        .unwrap();

    let reused = create_with_key(&app, &token, "old-key", sample_product("OLD-2")).await;

    assert_eq!(reused.status, 201, "an expired key is a new key: no 422 for the other body");
    assert_eq!(reused.body["sku"], "OLD-2");
}
