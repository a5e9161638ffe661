//! Every documented error status of every operation, driven by the spec itself: for each operation
//! that documents a status, the request that must cause it, and the problem it answers (snapshotted
//! as `<operationId>_<status>`). Business-rule statuses (409, 412, ...) are tested with their rules.

use commerce::auth::Permission;
use serde_json::json;

use crate::assert_body_snapshot;
use crate::contract::{CONTRACT, Operation};
use crate::helpers::{Auth, Body, TestApp, TestDatabase, spawn_app, spawn_app_with};

/// A well-formed id that names nothing.
const NOWHERE: &str = "0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01";

fn path_with(op: &Operation, value: &str) -> Vec<(String, String)> {
    op.path_params.iter().map(|p| (p.clone(), value.to_string())).collect()
}

async fn call(
    app: &TestApp,
    op: &Operation,
    auth: Auth<'_>,
    path_value: &str,
    body: Option<Body>,
) -> crate::helpers::Response {
    let path = path_with(op, path_value);
    let path: Vec<(&str, &str)> = path.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.call(&op.id, auth, &path, &[], body).await
}

fn example(op: &Operation) -> Option<Body> {
    op.body_example.clone().map(Body::Json)
}

fn snapshot(op: &Operation, res: &crate::helpers::Response) {
    let mut body = res.body.clone();
    if res.status == 429 {
        // The retry time depends on how long the request took.
        body["detail"] = json!("[the rate limit is used up; retry in N s]");
    }
    assert_body_snapshot!(format!("{}_{}", op.id, res.status), &body);
}

#[tokio::test]
async fn every_secured_operation_answers_401_without_a_credential() {
    let app = spawn_app().await;
    for op in CONTRACT.operations().into_iter().filter(|op| op.secured) {
        let res = call(&app, op, Auth::None, NOWHERE, example(op)).await;
        assert_eq!((res.status, res.code()), (401, "unauthorized"), "{}", op.id);
        snapshot(op, &res);
    }
}

#[tokio::test]
async fn every_secured_operation_answers_403_to_a_key_without_its_scope() {
    let app = spawn_app().await;
    let key = app.api_key(&[]).await;
    for op in CONTRACT.operations().into_iter().filter(|op| op.secured) {
        let res = call(&app, op, Auth::ApiKey(&key), NOWHERE, example(op)).await;
        assert_eq!(res.status, 403, "{}: {:#}", op.id, res.body);
        snapshot(op, &res);
    }
}

#[tokio::test]
async fn every_operation_on_a_resource_answers_404_for_an_unknown_id() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for op in CONTRACT.operations().into_iter().filter(|op| !op.path_params.is_empty()) {
        let res = call(&app, op, Auth::Bearer(&token), NOWHERE, example(op)).await;
        assert_eq!((res.status, res.code()), (404, "not_found"), "{}", op.id);
        snapshot(op, &res);
    }
}

#[tokio::test]
async fn every_operation_answers_400_for_a_malformed_id_or_body() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for op in CONTRACT.operations().into_iter().filter(|op| op.documents(400)) {
        let res = if !op.path_params.is_empty() {
            call(&app, op, Auth::Bearer(&token), "not-a-uuid", example(op)).await
        } else if op.body_example.is_some() {
            call(&app, op, Auth::Bearer(&token), NOWHERE, Some(Body::Raw("application/json", "{\"truncated\": "))).await
        } else {
            app.call(&op.id, Auth::Bearer(&token), &[], &[("pageSize", "0")], None).await
        };
        assert_eq!(res.status, 400, "{}: {:#}", op.id, res.body);
        snapshot(op, &res);
    }
}

#[tokio::test]
async fn every_operation_with_a_body_answers_415_and_422() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for op in CONTRACT.operations().into_iter().filter(|op| op.body_example.is_some()) {
        let text = call(&app, op, Auth::Bearer(&token), NOWHERE, Some(Body::Raw("text/plain", "hello"))).await;
        assert_eq!((text.status, text.code()), (415, "unsupported_media_type"), "{}", op.id);
        snapshot(op, &text);

        let unknown = call(&app, op, Auth::Bearer(&token), NOWHERE, Some(json!({"unknownField": 1}).into())).await;
        assert_eq!((unknown.status, unknown.code()), (422, "validation_failed"), "{}", op.id);
        assert!(unknown.error_locations().contains(&"/unknownField".to_string()), "{}: {:#}", op.id, unknown.body);
        snapshot(op, &unknown);
    }
}

#[tokio::test]
async fn every_secured_operation_answers_429_past_the_rate_limit() {
    let app = spawn_app_with(TestDatabase::new().await, |config| config.rate_limit_standard = 1).await;
    for op in CONTRACT.operations().into_iter().filter(|op| op.secured) {
        let key = app.api_key(&Permission::ALL).await;
        call(&app, op, Auth::ApiKey(&key), NOWHERE, example(op)).await;
        let res = call(&app, op, Auth::ApiKey(&key), NOWHERE, example(op)).await;
        assert_eq!((res.status, res.code()), (429, "rate_limited"), "{}", op.id);
        assert!(res.header("retry-after").is_some(), "{}", op.id);
        snapshot(op, &res);
    }
}

#[tokio::test]
async fn every_operation_with_a_body_answers_413_past_the_body_limit() {
    let app = spawn_app_with(TestDatabase::new().await, |config| config.max_body_bytes = 2048).await;
    let token = app.admin_token().await;
    let oversized = json!({"padding": "x".repeat(4096)});
    for op in CONTRACT.operations().into_iter().filter(|op| op.body_example.is_some()) {
        let res = call(&app, op, Auth::Bearer(&token), NOWHERE, Some(oversized.clone().into())).await;
        assert_eq!((res.status, res.code()), (413, "payload_too_large"), "{}", op.id);
        snapshot(op, &res);
    }
    let fits = call(
        &app,
        CONTRACT.operation("createProduct"),
        Auth::Bearer(&token),
        NOWHERE,
        Some(crate::helpers::sample_product("FITS-1").into()),
    )
    .await;
    assert_eq!(fits.status, 201, "a body under the limit is served as usual");
}

#[tokio::test]
async fn a_chunked_body_past_the_limit_is_refused_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(TestDatabase::new().await, |config| config.max_body_bytes = 2048).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let chunk = "x".repeat(4096);
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("payload_too_large"), "{response}");
}

#[tokio::test]
async fn every_operation_answers_503_past_the_request_timeout() {
    // A zero timeout abandons every request before it starts.
    let app = spawn_app_with(TestDatabase::new().await, |config| config.request_timeout_ms = 0).await;
    let key = app.api_key(&Permission::ALL).await;
    let documented = CONTRACT.operations().into_iter().filter(|op| op.documents(503) && op.id != "readyz");
    let mut answered = 0;
    for op in documented {
        let res = call(&app, op, Auth::ApiKey(&key), NOWHERE, example(op)).await;
        assert_eq!((res.status, res.code()), (503, "request_timeout"), "{}: {:#}", op.id, res.body);
        snapshot(op, &res);
        answered += 1;
    }
    assert_eq!(answered, 16, "every business operation documents the timeout");
    // The probes and the metrics are never cut short.
    assert_eq!(app.call("healthz", Auth::None, &[], &[], None).await.status, 200);
    assert_eq!(app.call("metrics", Auth::None, &[], &[], None).await.status, 200);
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_is_abandoned_with_503() {
    // Verifying a password (argon2id, 19 MiB) takes well over 5 ms.
    let app = spawn_app_with(TestDatabase::new().await, |config| config.request_timeout_ms = 5).await;
    let login = json!({"tenant": "demo", "email": crate::helpers::ADMIN_EMAIL, "password": "wrong password"});
    let res = app.login(login).await;
    assert_eq!((res.status, res.code()), (503, "request_timeout"), "{:#}", res.body);
    assert_eq!(res.body["detail"], "the request did not finish within 0.005 s");
}
