//! What API designers and Swagger UI users read: the source spec, served as written, and /docs.

use commerce_spec::Spec;
use serde_json::Value;

use crate::helpers::{Auth, spawn_app};

const SOURCE: &str = include_str!("../../openapi/commerce.yaml");

#[tokio::test]
async fn the_source_spec_is_served_as_written() {
    let app = spawn_app().await;

    let yaml = app.get_path("/openapi.yaml").await;
    assert_eq!(yaml.status(), 200);
    assert_eq!(yaml.text().await.unwrap(), SOURCE);

    let json = app.get_path("/openapi.json").await;
    assert_eq!(json.headers()["content-type"], "application/json");
    let served: Value = json.json().await.unwrap();
    assert_eq!(served, Spec::parse(SOURCE).unwrap().doc);
    assert_eq!(served["openapi"], "3.1.0", "never poem-openapi's 3.0 document");
    assert_eq!(served["info"]["version"], "2.4.0");
}

#[tokio::test]
async fn swagger_ui_is_served_under_docs_over_the_source_spec() {
    let app = spawn_app().await;

    let page = app.get_path("/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("swagger-ui"));

    let init = app.get_path("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");

    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");
}

#[tokio::test]
async fn redoc_is_served_under_redoc_from_the_vendored_bundle() {
    let app = spawn_app().await;
    let page = app.get_path("/redoc").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("worker-src 'self' blob:"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<redoc spec-url="/openapi.json">"#) && html.contains("/redoc/redoc.standalone.js"));
    let bundle = app.get_path("/redoc/redoc.standalone.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(bundle.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(bundle.bytes().await.unwrap().len() > 500_000, "the whole bundle, from no CDN");
    assert_eq!(app.get_path("/redoc/other.js").await.status(), 404);
}

#[tokio::test]
async fn the_docs_link_the_document_as_yaml_and_json_and_redoc() {
    let app = spawn_app().await;
    let served: Value = app.get_path("/openapi.json").await.json().await.unwrap();
    let description = served["info"]["description"].as_str().unwrap();
    for link in ["](/docs/)", "](/redoc)", "](/openapi.yaml)", "](/openapi.json)"] {
        assert!(description.contains(link), "info.description lacks {link}");
    }
}

#[tokio::test]
async fn unknown_routes_answer_a_404_problem() {
    let app = spawn_app().await;
    let res = app.get_path("/no/such/route").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn the_request_id_is_echoed_and_quoted_in_problems() {
    let app = spawn_app().await;
    let res = app.list_products(Auth::None, &[]).await;
    let echoed = res.header("x-request-id").expect("every response carries X-Request-Id");
    assert_eq!(res.body["requestId"], echoed);

    let chosen =
        app.call_with_headers("listProducts", Auth::None, &[], &[], None, &[("X-Request-Id", "trace-42")]).await;
    assert_eq!(chosen.header("x-request-id"), Some("trace-42"));
    assert_eq!(chosen.body["requestId"], "trace-42");
}

#[tokio::test]
async fn the_probes_answer_alive_and_ready_and_readiness_follows_the_database() {
    let app = spawn_app().await;

    let alive = app.call("healthz", Auth::None, &[], &[], None).await;
    assert_eq!((alive.status, &alive.body), (200, &serde_json::json!({"status": "ok"})));
    let ready = app.call("readyz", Auth::None, &[], &[], None).await;
    assert_eq!((ready.status, &ready.body["checks"]["database"]), (200, &serde_json::json!("ok")));
    crate::assert_body_snapshot!("readyz_200", &ready.body);
    crate::assert_body_snapshot!("healthz_200", &alive.body);

    app.db.clone().close().await.unwrap();

    let down = app.call("readyz", Auth::None, &[], &[], None).await;
    assert_eq!((down.status, &down.body["status"]), (503, &serde_json::json!("unavailable")));
    crate::assert_body_snapshot!("readyz_503", &down.body);
    let still_alive = app.call("healthz", Auth::None, &[], &[], None).await;
    assert_eq!(still_alive.status, 200, "liveness does not depend on the database");
}

/// A fresh app, its admin's token, and three requests: two reads of a missing product, a listing.
async fn two_misses_and_a_listing() -> (crate::helpers::TestApp, String) {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for _ in 0..2 {
        let missing = app.get_product(Auth::Bearer(&token), "0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01").await;
        assert_eq!(missing.status, 404);
    }
    assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.status, 200);
    (app, token)
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_status_with_a_latency_histogram() {
    let (app, _) = two_misses_and_a_listing().await;
    let metrics = app.call("metrics", Auth::None, &[], &[], None).await;
    assert_eq!(metrics.header("content-type"), Some("text/plain; charset=utf-8"));
    let text = metrics.body.as_str().unwrap();
    // The values (latencies) vary, and the series come in hash order: the snapshot holds the
    // series, sorted, without their values.
    let mut series: Vec<String> = text
        .lines()
        .map(|l| if l.starts_with('#') { l.to_string() } else { format!("{} [value]", l.rsplit_once(' ').unwrap().0) })
        .collect();
    series.sort();
    crate::assert_body_snapshot!("metrics_200", &Value::from(series));
    for line in [
        r#"commerce_http_requests_total{operation="getProduct",status="404"} 2"#,
        r#"commerce_http_requests_total{operation="listProducts",status="200"} 1"#,
        r#"commerce_http_requests_total{operation="login",status="200"} 1"#,
        r#"commerce_http_request_duration_seconds_count{operation="getProduct"} 2"#,
        "# TYPE commerce_http_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    }
}

#[tokio::test]
async fn metrics_report_the_product_cache_the_order_desk_the_pool_the_process_and_the_build() {
    let (app, token) = two_misses_and_a_listing().await;
    let product = app.create_product(Auth::Bearer(&token), crate::helpers::sample_product("MET-1")).await;
    let id = product.body["id"].as_str().unwrap();
    for _ in 0..2 {
        assert_eq!(app.get_product(Auth::Bearer(&token), id).await.status, 200);
        assert_eq!(app.list_products(Auth::Bearer(&token), &[]).await.status, 200);
    }
    let customer = app.create_customer(Auth::Bearer(&token), crate::helpers::sample_customer("met@example.com")).await;
    let order = serde_json::json!({
        "customerId": customer.body["id"],
        "items": [{"productId": id, "quantity": 1}],
        "shippingAddress": crate::helpers::address(),
    });
    assert_eq!(app.create_order(Auth::Bearer(&token), order).await.status, 201);

    let metrics = app.call("metrics", Auth::None, &[], &[], None).await;
    let text = metrics.body.as_str().unwrap();
    for line in [
        r#"commerce_product_cache_total{cache="product",outcome="miss"} 3"#,
        r#"commerce_product_cache_total{cache="product",outcome="hit"} 1"#,
        r#"commerce_product_cache_total{cache="list",outcome="miss"} 2"#,
        r#"commerce_product_cache_total{cache="list",outcome="hit"} 1"#,
        "commerce_order_desk_batch_size_count 1",
        "commerce_order_desk_batch_size_sum 1.0",
        &format!(r#"commerce_build_info{{version="{}",api_version="2.4.0"}} 1"#, env!("CARGO_PKG_VERSION")),
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    }
    let value = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    assert!(value("commerce_db_pool_max_connections") >= 1.0);
    assert!(
        value(r#"commerce_db_pool_connections{state="idle"}"#)
            + value(r#"commerce_db_pool_connections{state="in_use"}"#)
            >= 1.0
    );
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_cpu_seconds_total") > 0.0);
    assert!(value("process_open_fds") > 0.0 && value("process_threads") >= 1.0);
    assert!(value("process_start_time_seconds") > 1.7e9);
}

#[tokio::test]
async fn the_real_process_reports_each_database_connection_acquire() {
    let database = crate::helpers::TestDatabase::new().await;
    let server = crate::helpers::ServerProcess::start(&database, &[]);
    let client = reqwest::Client::new();
    let login = serde_json::json!({
        "tenant": "demo", "email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD
    });
    let token: Value =
        client.post(format!("{}/auth/login", server.base)).json(&login).send().await.unwrap().json().await.unwrap();
    for _ in 0..3 {
        let listed = client
            .get(format!("{}/products?search=x", server.base))
            .bearer_auth(token["accessToken"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), 200);
    }
    let text = client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("commerce_db_pool_acquire_seconds_count "))
        .unwrap_or_else(|| panic!("no acquire histogram in:\n{text}"));
    assert!(count.parse::<u64>().unwrap() >= 4, "a login and three listings each acquired a connection: {count}");
}

#[tokio::test]
async fn an_api_key_is_checked_in_memory_without_a_database_round_trip() {
    let database = crate::helpers::TestDatabase::new().await;
    let server = crate::helpers::ServerProcess::start(&database, &[]);
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["api-key", "create", "--tenant", "demo", "--name", "erp", "--scopes", "products:read"])
        .env("DATABASE_URL", &database.url)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let key = String::from_utf8(created.stdout).unwrap().trim().to_string();
    let client = reqwest::Client::new();
    let list = || client.get(format!("{}/products", server.base)).header("X-API-Key", &key).send();
    let acquires = || async {
        let text = client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("commerce_db_pool_acquire_seconds_count "))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap()
    };
    // The first use reads the key (created after the server started) and the page from the database.
    assert_eq!(list().await.unwrap().status(), 200);
    let before = acquires().await;
    for _ in 0..20 {
        assert_eq!(list().await.unwrap().status(), 200);
    }
    let during = acquires().await - before;
    // The page comes from the product cache; the key from memory. Only the once-a-second reloads of
    // ended sessions and live keys may take a connection meanwhile.
    assert!(during <= 4, "20 requests with an API key took {during} database connections");
}
