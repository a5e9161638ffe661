//! `commerce contract` proven, not assumed: against the real service it reports nothing; against
//! variants of the service that each break one rule (middleware around the real routes) it reports
//! that rule's check by its Schemathesis name, with a curl command that reproduces the failure.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use clap::Parser;
use commerce_contract::checks::Check;
use commerce_contract::{Args, Outcome};
use poem::endpoint::BoxEndpoint;
use poem::http::{Method, StatusCode, header};
use poem::{Endpoint, EndpointExt, IntoResponse, Request};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, TestDatabase, spawn_app_with, spawn_app_wrapped};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/commerce.yaml");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemathesis.toml");
const PRODUCT_OPERATIONS: [&str; 5] = ["listProducts", "createProduct", "getProduct", "updateProduct", "deleteProduct"];

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

/// `commerce contract` over `app` as the admin, limited to `operations` (all when empty).
async fn contract(app: &TestApp, operations: &[&str], max_examples: usize) -> Outcome {
    contract_with(app, SPEC, operations, max_examples).await
}

/// [`contract`] with another document (the released one, for the compatibility gate).
async fn contract_with(app: &TestApp, spec: &str, operations: &[&str], max_examples: usize) -> Outcome {
    let payload = json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let mut argv: Vec<String> = [
        "contract",
        "--spec",
        spec,
        "--config",
        CONFIG,
        "--base-url",
        &app.base,
        "--seed",
        "7",
        "--max-examples",
        &max_examples.to_string(),
        "--login-path",
        "/auth/login",
        "--login-payload",
        &payload,
        "--no-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for op in operations {
        argv.extend(["--include-operation-id".to_string(), op.to_string()]);
    }
    commerce_contract::check(&Cli::parse_from(argv).args).await.expect("the run starts")
}

fn failed_checks(outcome: &Outcome) -> BTreeSet<&'static str> {
    outcome.summary.failures.iter().map(|g| g.check).collect()
}

/// Runs `curl` as printed, with the admin's token in `$CONTRACT_BEARER`, and returns the status.
/// (Asynchronously: the server under test runs on this test's runtime.)
async fn reproduce(curl: &str, token: &str) -> u16 {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{curl} -s -o /dev/null -w '%{{http_code}}'"))
        .env("CONTRACT_BEARER", token)
        .output()
        .await
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).parse().unwrap_or_else(|_| panic!("curl printed {output:?}"))
}

/// How a failure's curl command is replayed after the run.
#[derive(PartialEq)]
enum Replay {
    /// As printed.
    AsPrinted,
    /// With the product id replaced by a product that exists now: the stateful phase found the
    /// failure on a product it created and, later in the same chain, deleted.
    OnALiveProduct,
    /// Not replayed: creating the same product again answers 409 (its sku is taken).
    No,
}

/// Starts the service wrapped by `wrap`, runs the tester over the product operations, and asserts
/// that exactly `expected` checks failed, each failure reproducible by its curl command.
async fn assert_reports<E: Endpoint + 'static>(
    wrap: impl FnOnce(BoxEndpoint<'static>) -> E + 'static,
    expected: &[Check],
    replay: Replay,
) -> TestApp {
    let app = spawn_app_wrapped(TestDatabase::new().await, raise_limits, wrap).await;
    let outcome = contract(&app, &PRODUCT_OPERATIONS, 10).await;
    let wanted: BTreeSet<&str> = expected.iter().map(|c| c.name()).collect();
    assert_eq!(failed_checks(&outcome), wanted, "{}", outcome.summary.text(&outcome.checks));
    assert!(outcome.summary.errors.is_empty(), "{:?}", outcome.summary.errors);
    if replay != Replay::No {
        let token = app.admin_token().await;
        let live = app.product(&token, "LIVE-1", json!({})).await["id"].as_str().unwrap().to_string();
        for group in &outcome.summary.failures {
            assert!(group.curl.starts_with("curl -X "), "{}", group.curl);
            let mut curl = group.curl.clone();
            if replay == Replay::OnALiveProduct {
                let id = curl.split("/products/").nth(1).and_then(|rest| rest.get(..36)).expect("a product id");
                curl = curl.replace(&id.to_string(), &live);
            }
            assert_eq!(
                reproduce(&curl, &token).await,
                group.example.status,
                "{} does not reproduce {}",
                group.curl,
                group.check
            );
        }
    }
    app
}

fn raise_limits(config: &mut commerce::config::Config) {
    config.rate_limit_standard = 1_000_000;
    config.rate_limit_enterprise = 1_000_000;
    // The tester sends many requests without credentials and many failing logins, from one address.
    config.rate_limit_unauthenticated = 1_000_000;
    config.login_max_failures = 1_000_000;
}

fn is_product_item(req: &Request) -> bool {
    req.uri().path().strip_prefix("/products/").is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Middleware rewriting responses of requests `applies` selects.
fn rewrite_responses(
    endpoint: BoxEndpoint<'static>,
    applies: fn(&Request) -> bool,
    change: fn(poem::Response) -> poem::Response,
) -> impl Endpoint {
    endpoint.around(move |inner, req| async move {
        let applies = applies(&req);
        let response = inner.get_response(req).await;
        Ok(if applies { change(response) } else { response })
    })
}

/// Middleware removing `member` from the JSON object of the 200 responses `applies` selects: a
/// server build that drops a documented field.
fn drop_member(endpoint: BoxEndpoint<'static>, applies: fn(&Request) -> bool, member: &'static str) -> impl Endpoint {
    endpoint.around(move |inner, req| async move {
        let applies = applies(&req);
        let mut response = inner.get_response(req).await;
        if applies && response.status() == StatusCode::OK {
            let mut body = json_body(&mut response).await;
            body.as_object_mut().expect("a JSON object").remove(member);
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response.set_body(body.to_string());
        }
        Ok(response)
    })
}

async fn json_body(response: &mut poem::Response) -> Value {
    let bytes = response.take_body().into_bytes().await.expect("a body");
    serde_json::from_slice(&bytes).expect("a JSON body")
}

#[tokio::test]
async fn the_real_service_passes_every_phase_and_check() {
    let app = spawn_app_with(TestDatabase::new().await, raise_limits).await;
    let outcome = contract(&app, &[], 25).await;
    let summary = &outcome.summary;
    assert!(summary.passed(), "{}", summary.text(&outcome.checks));
    for phase in ["examples", "coverage", "fuzzing", "stateful"] {
        assert!(summary.cases_by_phase.get(phase).copied().unwrap_or(0) > 0, "no {phase} cases: {summary:?}");
    }
    let documented = commerce_spec::Spec::load(SPEC).unwrap().operations().unwrap().len();
    assert_eq!(summary.operations.len(), documented, "every operation was tested");
    let names: Vec<&str> = outcome.checks.iter().map(|c| c.name()).collect();
    let by_default = commerce_contract::checks::Check::ALL.iter().filter(|c| !c.opt_in()).count();
    assert_eq!(
        names.len(),
        by_default - 1,
        "every default check but max_response_time (no limit given) ran: {names:?}"
    );
    for stateful in ["use_after_free", "ensure_resource_availability", "stale_read"] {
        assert!(
            summary.judged.get(stateful).is_some_and(|n| *n > 0),
            "{stateful} judged nothing: {:?}",
            summary.judged
        );
    }
}

/// The on-the-wire half of `cargo xtask compat`: the published document, not the edited one, is
/// what a new server build is checked against.
const RELEASED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/released/2.4.0.yaml");

#[tokio::test]
async fn the_service_keeps_every_promise_of_the_released_document() {
    let app = spawn_app_with(TestDatabase::new().await, raise_limits).await;
    let outcome = contract_with(&app, RELEASED, &[], 10).await;
    assert!(outcome.summary.passed(), "{}", outcome.summary.text(&outcome.checks));
    let released = commerce_spec::Spec::load(RELEASED).unwrap().operations().unwrap().len();
    assert_eq!(outcome.summary.operations.len(), released, "every released operation was tested");
}

#[tokio::test]
async fn a_server_build_that_drops_a_documented_field_breaks_the_released_document_on_the_wire() {
    // A build whose product reads lose `sku`, a required member of Product in 2.4.0.
    fn product_read(req: &Request) -> bool {
        req.method() == Method::GET && is_product_item(req)
    }
    let wrap = |endpoint| drop_member(endpoint, product_read, "sku");
    let app = spawn_app_wrapped(TestDatabase::new().await, raise_limits, wrap).await;
    let outcome = contract_with(&app, RELEASED, &PRODUCT_OPERATIONS, 10).await;
    assert_eq!(failed_checks(&outcome), BTreeSet::from(["response_schema_conformance"]));
    for failure in &outcome.summary.failures {
        assert_eq!(failure.operation, "getProduct", "{}", failure.example.message);
        assert!(
            failure.example.message.contains("sku"),
            "the failure names the dropped field: {}",
            failure.example.message
        );
    }
}

#[tokio::test]
async fn an_undocumented_status_fails_status_code_conformance() {
    fn applies(req: &Request) -> bool {
        req.method() == Method::GET && is_product_item(req)
    }
    fn change(mut response: poem::Response) -> poem::Response {
        if response.status() == StatusCode::OK {
            response.set_status(StatusCode::NON_AUTHORITATIVE_INFORMATION);
        }
        response
    }
    assert_reports(|e| rewrite_responses(e, applies, change), &[Check::StatusCodeConformance], Replay::OnALiveProduct)
        .await;
}

#[tokio::test]
async fn a_body_violating_its_schema_fails_response_schema_conformance() {
    fn listing(req: &Request) -> bool {
        req.method() == Method::GET && req.uri().path() == "/products"
    }
    let wrap = |endpoint| drop_member(endpoint, listing, "pagination");
    assert_reports(wrap, &[Check::ResponseSchemaConformance], Replay::AsPrinted).await;
}

#[tokio::test]
async fn a_wrong_content_type_fails_content_type_conformance() {
    fn applies(req: &Request) -> bool {
        req.method() == Method::GET && is_product_item(req)
    }
    fn change(mut response: poem::Response) -> poem::Response {
        if response.status() == StatusCode::OK {
            response.headers_mut().insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        }
        response
    }
    assert_reports(|e| rewrite_responses(e, applies, change), &[Check::ContentTypeConformance], Replay::OnALiveProduct)
        .await;
}

#[tokio::test]
async fn a_500_on_an_odd_input_fails_not_a_server_error() {
    // The largest page size the spec allows crashes this variant; coverage sends exactly that value.
    let wrap = |endpoint: BoxEndpoint<'static>| {
        endpoint.around(|inner, req| async move {
            if req.uri().path() == "/products" && req.uri().query().unwrap_or_default().contains("pageSize=100") {
                return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
            Ok(inner.get_response(req).await)
        })
    };
    // 500 is not documented for listProducts, so status_code_conformance fails with it.
    assert_reports(wrap, &[Check::NotAServerError, Check::StatusCodeConformance], Replay::AsPrinted).await;
}

#[tokio::test]
async fn accepting_an_invalid_body_fails_negative_data_rejection() {
    // This variant "repairs" a negative price instead of refusing it.
    let wrap = |endpoint: BoxEndpoint<'static>| {
        endpoint.around(|inner, mut req| async move {
            if req.method() == Method::POST && req.uri().path() == "/products" {
                let bytes = req.take_body().into_bytes().await?;
                let mut body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                if let Some(price) = body.get("price").and_then(Value::as_i64).filter(|p| *p < 0) {
                    body["price"] = json!(-price);
                    req.headers_mut().remove(header::CONTENT_LENGTH);
                    req.set_body(body.to_string());
                } else {
                    req.set_body(bytes);
                }
            }
            Ok(inner.get_response(req).await)
        })
    };
    assert_reports(wrap, &[Check::NegativeDataRejection], Replay::No).await;
}

#[tokio::test]
async fn serving_requests_without_credentials_fails_ignored_auth() {
    // This variant lets anonymous listings through as the admin.
    let token: Arc<Mutex<Option<String>>> = Arc::default();
    let shared = token.clone();
    let wrap = move |endpoint: BoxEndpoint<'static>| {
        endpoint.around(move |inner, mut req| {
            let token = shared.lock().unwrap().clone();
            async move {
                let anonymous =
                    !req.headers().contains_key(header::AUTHORIZATION) && !req.headers().contains_key("x-api-key");
                let listing = req.method() == Method::GET && req.uri().path() == "/products";
                if let (true, true, Some(token)) = (anonymous, listing, token) {
                    req.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
                }
                Ok(inner.get_response(req).await)
            }
        })
    };
    let app = spawn_app_wrapped(TestDatabase::new().await, raise_limits, wrap).await;
    *token.lock().unwrap() = Some(app.admin_token().await);
    let outcome = contract(&app, &PRODUCT_OPERATIONS, 10).await;
    assert_eq!(failed_checks(&outcome), BTreeSet::from(["ignored_auth"]), "{}", outcome.summary.text(&outcome.checks));
    let failure = &outcome.summary.failures[0];
    assert_eq!(failure.operation, "listProducts");
    assert!(!failure.curl.contains("Authorization"), "the probe sent no credentials: {}", failure.curl);
    assert_eq!(reproduce(&failure.curl, "").await, 200);
}

#[tokio::test]
async fn a_resource_readable_after_delete_fails_use_after_free() {
    // This variant caches product reads and serves the cached copy when the product is gone.
    type Cached = (poem::http::HeaderMap, Vec<u8>);
    let cache: Arc<Mutex<HashMap<String, Cached>>> = Arc::default();
    let wrap = move |endpoint: BoxEndpoint<'static>| {
        endpoint.around(move |inner, req| {
            let cache = cache.clone();
            async move {
                let key = (req.method() == Method::GET && is_product_item(&req)).then(|| req.uri().path().to_string());
                let mut response = inner.get_response(req).await;
                let Some(key) = key else { return Ok(response) };
                if response.status() == StatusCode::OK {
                    let bytes = response.take_body().into_bytes().await?.to_vec();
                    cache.lock().unwrap().insert(key, (response.headers().clone(), bytes.clone()));
                    response.set_body(bytes);
                } else if response.status() != StatusCode::NOT_FOUND {
                    return Ok(response);
                } else if let Some((headers, bytes)) = cache.lock().unwrap().get(&key).cloned() {
                    let mut stale = poem::Response::builder().status(StatusCode::OK).body(bytes);
                    *stale.headers_mut() = headers;
                    return Ok(stale);
                }
                Ok(response)
            }
        })
    };
    assert_reports(wrap, &[Check::UseAfterFree], Replay::AsPrinted).await;
}

#[tokio::test]
async fn a_created_resource_not_retrievable_fails_ensure_resource_availability() {
    // This variant reads from a lagging replica: products created through it stay invisible.
    let created: Arc<Mutex<HashSet<String>>> = Arc::default();
    let wrap = move |endpoint: BoxEndpoint<'static>| {
        endpoint.around(move |inner, mut req| {
            let created = created.clone();
            async move {
                let creating = req.method() == Method::POST && req.uri().path() == "/products";
                if req.method() == Method::GET && is_product_item(&req) {
                    let id = req.uri().path().trim_start_matches("/products/").to_string();
                    if created.lock().unwrap().contains(&id) {
                        // The replica has never heard of it: ask for an id no one has.
                        *req.uri_mut() = format!("/products/{}", uuid::Uuid::new_v4()).parse().unwrap();
                    }
                }
                let mut response = inner.get_response(req).await;
                if creating && response.status() == StatusCode::CREATED {
                    let body = json_body(&mut response).await;
                    created.lock().unwrap().insert(body["id"].as_str().unwrap_or_default().to_string());
                    response.set_body(body.to_string());
                }
                Ok(response)
            }
        })
    };
    assert_reports(wrap, &[Check::EnsureResourceAvailability], Replay::AsPrinted).await;
}

#[tokio::test]
async fn a_missing_documented_header_fails_response_headers_conformance() {
    fn applies(req: &Request) -> bool {
        req.method() == Method::GET && is_product_item(req)
    }
    fn change(mut response: poem::Response) -> poem::Response {
        response.headers_mut().remove(header::ETAG);
        response
    }
    assert_reports(
        |e| rewrite_responses(e, applies, change),
        &[Check::ResponseHeadersConformance],
        Replay::OnALiveProduct,
    )
    .await;
}

#[tokio::test]
async fn an_undocumented_method_answered_200_fails_unsupported_method() {
    // This variant answers PUT /products (undocumented) as if it were GET.
    let wrap = |endpoint: BoxEndpoint<'static>| {
        endpoint.around(|inner, mut req| async move {
            if req.method() == Method::PUT && req.uri().path() == "/products" {
                req.set_method(Method::GET);
                req.set_body(Vec::new());
            }
            Ok(inner.get_response(req).await)
        })
    };
    assert_reports(wrap, &[Check::UnsupportedMethod], Replay::AsPrinted).await;
}

#[tokio::test]
async fn a_required_header_ignored_fails_missing_required_header() {
    // The spec's only required request header is Authorization (through security), which
    // ignored_auth covers; missing_required_header is proven on a spec that requires one.
    let spec = commerce_spec::Spec::parse(
        r#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /healthz:
    get:
      operationId: healthz
      parameters:
        - {name: X-Tenant, in: header, required: true, schema: {type: string, minLength: 1}}
      responses:
        '200': {description: alive, content: {application/json: {schema: {type: object}}}}
"#,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.json");
    std::fs::write(&path, serde_json::to_string(&spec.doc).unwrap()).unwrap();
    let app = spawn_app_with(TestDatabase::new().await, raise_limits).await;
    let argv = ["contract", "--spec", path.to_str().unwrap(), "--base-url", &app.base, "--seed", "1", "--no-progress"];
    let outcome = commerce_contract::check(&Cli::parse_from(argv).args).await.expect("the run starts");
    let failed = failed_checks(&outcome);
    assert!(failed.contains("missing_required_header"), "{}", outcome.summary.text(&outcome.checks));
    // The service ignores X-Tenant entirely, so any invalid value of it is accepted too.
    assert!(failed.is_subset(&BTreeSet::from(["missing_required_header", "negative_data_rejection"])), "{failed:?}");
}

/// Runs the `commerce contract` binary against `app` with `spec` and `extra` arguments.
async fn contract_process(app: &TestApp, spec: &str, extra: &[&str]) -> std::process::Output {
    let payload = json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["contract", "--spec", spec, "--config", CONFIG, "--base-url", &app.base, "--login-path", "/auth/login"])
        .args(["--login-payload", &payload, "--seed", "3", "--include-operation-id", "listProducts"])
        .args(extra)
        .output()
        .await
        .expect("the binary runs")
}

#[tokio::test]
async fn the_contract_command_exits_0_1_or_2_and_writes_junit_and_json_reports() {
    let app = spawn_app_with(TestDatabase::new().await, raise_limits).await;
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().to_str().unwrap();

    let passed = contract_process(&app, SPEC, &["--report", "junit", "--report", "json", "--report-dir", dir]).await;
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert_eq!(passed.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&passed.stderr));
    assert!(stdout.contains("All checks passed."), "{stdout}");
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    assert!(junit.contains(r#"<testsuite name="listProducts""#) && junit.contains(r#"name="not_a_server_error""#));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).unwrap()).unwrap();
    assert!(json["cases"].as_u64().unwrap() > 0 && json["failures"] == json!([]), "{json:#}");

    // Every response takes longer than 0 ms: max_response_time fails them, with a curl command each.
    let failed = contract_process(&app, SPEC, &["--phases", "examples", "--max-response-time", "0"]).await;
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("listProducts — max_response_time") && stdout.contains("Reproduce: curl -X GET"),
        "{stdout}"
    );

    // An https deployment is tried (here nothing listens): no response is a failure, not a usage error.
    let tls = Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["contract", "--spec", SPEC, "--base-url", "https://127.0.0.1:9", "--phases", "coverage"])
        .args(["--include-operation-id", "healthz", "--no-progress"])
        .output()
        .await
        .unwrap();
    assert_eq!(tls.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&tls.stdout).contains("GET https://127.0.0.1:9/healthz: error sending request"));

    let unknown_check = contract_process(&app, SPEC, &["--checks", "not_a_check"]).await;
    assert_eq!(unknown_check.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_check.stderr).contains("not_a_check is not a check"));
    let dir = tempfile::tempdir().unwrap();
    let not_openapi = dir.path().join("not-openapi.yaml");
    std::fs::write(&not_openapi, "asyncapi: 2.6.0\ninfo: {title: t, version: '1'}\nchannels: {}\n").unwrap();
    let bad_spec = contract_process(&app, not_openapi.to_str().unwrap(), &[]).await;
    assert_eq!(bad_spec.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad_spec.stderr);
    assert!(stderr.contains("neither `openapi` nor `swagger` is set"), "{stderr}");
}

#[test]
fn the_suite_s_response_check_is_the_tester_s_and_refuses_what_it_refuses() {
    use crate::contract::CONTRACT;
    use reqwest::header::{HeaderMap, HeaderValue};
    let headers = |pairs: &[(&'static str, &str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    };
    let json = [("content-type", "application/json"), ("x-request-id", "r-1")];
    let refused =
        |status, h: &HeaderMap, body: &str| CONTRACT.check("healthz", status, h, body.as_bytes()).unwrap_err();
    assert!(refused(418, &headers(&json), "{}").contains("status_code_conformance"));
    assert!(
        refused(200, &headers(&[("content-type", "text/html"), ("x-request-id", "r-1")]), "<p>")
            .contains("content_type_conformance")
    );
    let long_id = "r".repeat(129);
    let header_broken = headers(&[("content-type", "application/json"), ("x-request-id", &long_id)]);
    assert!(refused(200, &header_broken, r#"{"status":"ok"}"#).contains("response_headers_conformance"));
    assert!(refused(200, &headers(&json), r#"{"status":7}"#).contains("response_schema_conformance"));
    let no_content = CONTRACT.check("logout", 204, &headers(&[("x-request-id", "r-1")]), b"{}").unwrap_err();
    assert!(no_content.contains("undocumented_body"), "{no_content}");
    assert!(CONTRACT.check("logout", 204, &headers(&[("x-request-id", "r-1")]), b"").is_ok());
}

#[tokio::test]
async fn the_real_service_refuses_an_expired_token_it_issued() {
    let app = spawn_app_with(TestDatabase::new().await, raise_limits).await;
    let demo = commerce::store::tenants::find_tenant(&app.db, "demo").await.unwrap().unwrap();
    let admin = commerce::store::tenants::find_user(&app.db, demo.id, ADMIN_EMAIL).await.unwrap().unwrap();
    let subject = commerce::auth::tokens::Subject {
        tenant_id: demo.id,
        user_id: admin.id,
        role: commerce::auth::Role::Admin,
        customer_id: None,
        plan: commerce::auth::Plan::Standard,
    };
    // Signed with the service's own key, two hours ago: it expired an hour ago.
    let two_hours_ago = chrono::Utc::now().timestamp() - 7200;
    let (expired, _) = app.handlers.keys.issue(&subject, uuid::Uuid::new_v4(), two_hours_ago);
    let payload = json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let argv = [
        "contract",
        "--spec",
        SPEC,
        "--base-url",
        &app.base,
        "--seed",
        "3",
        "--max-examples",
        "5",
        "--phases",
        "examples,coverage",
        "--config",
        CONFIG,
        "--login-path",
        "/auth/login",
        "--login-payload",
        &payload,
        "--expired-bearer",
        &expired,
        "--include-operation-id",
        "listProducts",
        "--no-progress",
    ];
    let outcome = commerce_contract::check(&Cli::parse_from(argv).args).await.expect("the run starts");
    assert!(outcome.summary.passed(), "{}", outcome.summary.text(&outcome.checks));
    assert!(outcome.summary.judged["ignored_auth"] >= 5, "the expired probe among them: {:?}", outcome.summary.judged);
}
