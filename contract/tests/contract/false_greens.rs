//! Each way the tester used to report a pass for what it had not tested, against a target written
//! here: now the operation is tested, or the run fails saying which operation was not and why.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use commerce_contract::report::Coverage;
use serde_json::json;

use crate::support::{Reply, document, refused, run, target, text};

fn not_tested<'o>(outcome: &'o commerce_contract::Outcome, id: &str) -> &'o str {
    match &outcome.summary.operations[id].coverage {
        Coverage::NotTested(why) => why,
        other => panic!("{id} is {other:?}: {}", text(outcome)),
    }
}

#[tokio::test]
async fn a_required_array_query_parameter_is_sent_not_skipped() {
    // Before: 0 requests, "All checks passed", exit 0.
    let (_dir, path) = document(
        r#"
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /search:
    get:
      operationId: search
      parameters:
        - {name: ids, in: query, required: true, schema: {type: array, minItems: 1, items: {type: integer, minimum: 1}}}
        - {name: fields, in: query, required: true, explode: false, schema: {type: array, items: {type: string, enum: [id, name]}}}
      responses: {'200': {description: ok}, '400': {description: bad}}
"#,
    );
    let server = target(|seen| {
        let pairs: Vec<(&str, &str)> = seen.query.split('&').filter_map(|p| p.split_once('=')).collect();
        let ids: Vec<&str> = pairs.iter().filter(|(k, _)| *k == "ids").map(|(_, v)| *v).collect();
        let fields: Vec<&str> = pairs.iter().filter(|(k, _)| *k == "fields").map(|(_, v)| *v).collect();
        let ok = !ids.is_empty()
            && ids.iter().all(|i| i.parse::<i64>().is_ok_and(|n| n >= 1))
            && fields.len() == 1
            && fields[0].split("%2C").flat_map(|f| f.split(',')).all(|f| f == "id" || f == "name");
        Reply::empty(match (seen.method.as_str(), ok) {
            ("GET", true) => 200,
            ("GET", false) => 400,
            _ => 405,
        })
        .with("allow", "GET")
    })
    .await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--seed", "2", "--max-examples", "20"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    let searches = server.to("GET", "/search");
    assert!(searches.len() > 20, "{} requests", searches.len());
    assert!(searches.iter().any(|s| s.query.matches("ids=").count() > 1), "exploded arrays repeat the name");
    assert!(searches.iter().any(|s| s.query.contains("fields=id%2Cname")
        || s.query.contains("fields=id,name")
        || s.query.contains("fields=name,id")));
}

#[tokio::test]
async fn an_operation_no_request_can_be_built_for_fails_the_run_by_name() {
    let (_dir, path) = document(
        r#"
openapi: 3.1.0
info: {title: t, version: '1'}
paths:
  /report:
    get:
      operationId: report
      parameters:
        - {name: q, in: query, required: true, content: {application/xml: {schema: {type: object}}}}
      responses: {'200': {description: ok}}
  /ping:
    get: {operationId: ping, responses: {'200': {description: ok}}}
"#,
    );
    let server = target(|seen| Reply::empty(if seen.method == "GET" { 200 } else { 405 }).with("allow", "GET")).await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base]).await;
    assert!(!outcome.summary.passed(), "{}", text(&outcome));
    let why = not_tested(&outcome, "report");
    assert!(
        why.starts_with(
            "/paths/~1report/get/parameters/0/content: parameters of media type application/xml cannot be written"
        ),
        "{why}"
    );
    assert!(text(&outcome).contains("1 operations were NOT TESTED"), "{}", text(&outcome));
    assert!(server.to("GET", "/report").is_empty());
    // Excluded, it no longer fails the run.
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--exclude-operation-id", "report"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    assert_eq!(outcome.summary.operations["report"].coverage, Coverage::Excluded);
}

const SECURED: &str = r#"
openapi: 3.1.0
info: {title: t, version: '1'}
security: [{basic: []}]
paths:
  /orders:
    get: {operationId: listOrders, responses: {'200': {description: ok}, '401': {description: who?}}}
  /health:
    get: {operationId: health, security: [], responses: {'200': {description: ok}}}
components:
  securitySchemes:
    basic: {type: http, scheme: basic}
"#;

fn basic_only(seen: &crate::support::Seen) -> Reply {
    let right = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ann:right"));
    match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/health") => Reply::empty(200),
        ("GET", _) if seen.header("authorization") == Some(right.as_str()) => Reply::empty(200),
        ("GET", _) => Reply::empty(401).with("www-authenticate", "Basic"),
        _ => Reply::empty(405).with("allow", "GET"),
    }
}

#[tokio::test]
async fn secured_operations_without_credentials_are_not_tested_and_fail_the_run() {
    // Before: every secured operation answered 401 and the run passed.
    let (_dir, path) = document(SECURED);
    let server = target(basic_only).await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base]).await;
    assert!(!outcome.summary.passed(), "{}", text(&outcome));
    let why = not_tested(&outcome, "listOrders");
    assert_eq!(why, "/paths/~1orders/get/security: no credentials were given for basic (http basic)");
    assert!(server.to("GET", "/orders").is_empty(), "nothing is sent for an operation that cannot be authenticated");
    assert_eq!(outcome.summary.operations["health"].coverage, Coverage::Tested);
}

#[tokio::test]
async fn refused_credentials_make_every_secured_operation_not_tested_and_ignored_auth_not_run() {
    // Before: a basic-only deployment answered 401 to every request and ignored_auth "passed".
    let (_dir, path) = document(SECURED);
    let server = target(basic_only).await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--auth", "ann:wrong", "--seed", "1"]).await;
    assert!(!outcome.summary.passed());
    let why = not_tested(&outcome, "listOrders");
    assert!(why.starts_with("every response was 401/403/429 ("), "{why}");
    assert!(why.ends_with("the credentials were refused or lack permission (missing_auth)"), "{why}");
    assert!(!outcome.summary.judged.contains_key("ignored_auth"));
    assert!(
        text(&outcome).contains(
            "ignored_auth                    not run: no authenticated request to a secured operation was accepted"
        ),
        "{}",
        text(&outcome)
    );
    // The right credentials: tested, and the probes without them, with invalid ones and with them
    // under another scheme ran.
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--auth", "ann:right", "--seed", "1"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    assert_eq!(outcome.summary.judged["ignored_auth"], 3);
}

#[tokio::test]
async fn rate_limited_answers_are_waited_out_and_reported() {
    // Before: 613 of 2,460 responses were 429 and the run passed without a word.
    let (_dir, path) = document(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /items:\n    get:\n      operationId: items\n      responses: {'200': {description: ok}, '429': {description: slow down}}\n",
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = target(move |seen| {
        if seen.method != "GET" {
            return Reply::empty(405).with("allow", "GET");
        }
        // Every third request is refused, asking for a short wait.
        if counter.fetch_add(1, Ordering::Relaxed).is_multiple_of(3) {
            Reply::empty(429).with("retry-after", "0.2")
        } else {
            Reply::empty(200)
        }
    })
    .await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--workers", "1", "--max-examples", "5"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    assert!(outcome.summary.rate_limited > 0);
    assert!(outcome.summary.waited_seconds >= 0.2 * outcome.summary.rate_limited as f64 * 0.9, "{}", text(&outcome));
    assert!(
        !outcome.summary.operations["items"].statuses.contains_key(&429),
        "every 429 was retried: {:?}",
        outcome.summary.operations["items"].statuses
    );
    assert!(outcome.summary.warnings.iter().any(|w| w.kind == "rate_limit"));
    let report = text(&outcome);
    assert!(report.contains("429 Too Many Requests") && report.contains("waited"), "{report}");

    // A deployment that never lets a request through: not tested, and the run fails.
    let always = target(|_| Reply::empty(429).with("retry-after", "0")).await;
    let outcome = run(&["--spec", &path, "--base-url", &always.base, "--phases", "coverage"]).await;
    let why = not_tested(&outcome, "items");
    assert!(why.contains("the rate limit stopped every request"), "{why}");
}

#[tokio::test]
async fn a_form_login_is_sent_with_its_form_body() {
    // Before: a form login was sent with no body, and its 422 counted as a correct refusal.
    let (_dir, path) = document(
        r#"
swagger: '2.0'
info: {title: t, version: '1'}
paths:
  /login:
    post:
      operationId: login
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: username, in: formData, type: string, required: true, minLength: 1}
        - {name: password, in: formData, type: string, required: true, minLength: 1}
      responses: {'200': {description: ok}, '422': {description: invalid}}
"#,
    );
    let server = target(|seen| {
        let form: Vec<(String, String)> =
            seen.text().split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
        let has = |k: &str| form.iter().any(|(name, v)| name == k && !v.is_empty());
        match seen.method.as_str() {
            "POST" if has("username") && has("password") => Reply::empty(200),
            "POST" => Reply::empty(422),
            _ => Reply::empty(405).with("allow", "POST"),
        }
    })
    .await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--seed", "4", "--max-examples", "10"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    let logins = server.to("POST", "/login");
    let accepted = logins
        .iter()
        .filter(|s| {
            s.header("content-type") == Some("application/x-www-form-urlencoded") && s.text().starts_with("username=")
        })
        .count();
    assert!(accepted > 5, "{accepted} form bodies");
}

#[tokio::test]
async fn read_only_properties_are_never_sent_and_write_only_ones_never_expected() {
    let (_dir, path) = document(
        r#"
openapi: 3.1.0
info: {title: t, version: '1'}
paths:
  /users:
    post:
      operationId: createUser
      requestBody: {required: true, content: {application/json: {schema: {$ref: '#/components/schemas/User'}}}}
      responses:
        '201': {description: created, content: {application/json: {schema: {$ref: '#/components/schemas/User'}}}}
        '422': {description: invalid}
components:
  schemas:
    User:
      type: object
      additionalProperties: false
      required: [id, email, password]
      properties:
        id: {type: string, readOnly: true}
        email: {type: string, minLength: 3}
        password: {type: string, writeOnly: true, minLength: 8}
"#,
    );
    let leak = Arc::new(AtomicUsize::new(0));
    let leaking = leak.clone();
    let server = target(move |seen| {
        if seen.method != "POST" {
            return Reply::empty(405).with("allow", "POST");
        }
        let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
        let valid = body.get("id").is_none()
            && body["email"].as_str().is_some_and(|e| e.chars().count() >= 3)
            && body["password"].as_str().is_some_and(|p| p.chars().count() >= 8)
            && body.as_object().is_some_and(|o| o.keys().all(|k| k == "email" || k == "password"));
        if !valid {
            return Reply::empty(422);
        }
        let mut user = json!({"id": "u-1", "email": body["email"]});
        if leaking.load(Ordering::Relaxed) == 1 {
            user["password"] = body["password"].clone();
        }
        Reply::json(201, user)
    })
    .await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--seed", "9", "--max-examples", "20"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    assert!(server.to("POST", "/users").iter().all(|s| !s.text().contains("\"id\"")), "readOnly id was sent");
    // A server that echoes the writeOnly password fails response_schema_conformance at /password.
    leak.store(1, Ordering::Relaxed);
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--seed", "9", "--max-examples", "5"]).await;
    let failure = outcome
        .summary
        .failures
        .iter()
        .find(|g| g.check == "response_schema_conformance")
        .unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert!(failure.example.message.contains("/password"), "{}", failure.example.message);
}

#[tokio::test]
async fn an_operation_the_server_never_serves_is_not_tested() {
    let (_dir, path) = document(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /things:\n    delete:\n      responses: {'204': {description: gone}}\n",
    );
    let server = target(|_| Reply::empty(405).with("allow", "GET")).await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--phases", "coverage"]).await;
    let why = not_tested(&outcome, "DELETE /things");
    assert!(why.starts_with("every response was 405"), "{why}");
}

#[tokio::test]
async fn a_server_that_never_answers_fails_with_a_reproduction() {
    let (_dir, path) = document(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: {responses: {'200': {description: ok}}}\n",
    );
    // Nothing listens on port 9.
    let outcome =
        run(&["--spec", &path, "--base-url", "http://127.0.0.1:9", "--phases", "coverage", "--request-timeout", "2"])
            .await;
    assert!(!outcome.summary.passed());
    let why = not_tested(&outcome, "GET /a");
    assert!(why.contains("got a response"), "{why}");
    assert!(outcome.summary.errors.iter().all(|e| e.contains("Reproduce: curl -X ")), "{:?}", outcome.summary.errors);
}

#[tokio::test]
async fn filters_that_match_nothing_and_unknown_schemes_are_refused_by_name() {
    let (_dir, path) = document(SECURED);
    let e = refused(&["--spec", &path, "--base-url", "http://127.0.0.1:9", "--include-tag", "orderz"]).await;
    assert_eq!(e, "--include-tag orderz: no operation of the document matches");
    let e = refused(&["--spec", &path, "--base-url", "http://127.0.0.1:9", "--credential", "bearer=x"]).await;
    assert_eq!(e, "--credential: the document has no security scheme \"bearer\" (it has: basic)");
    let e = refused(&["--spec", &path, "--base-url", "http://127.0.0.1:9", "--include-path-regex", "(["]).await;
    assert!(e.starts_with("--include-path-regex ([: not a regular expression"), "{e}");
}
