//! Undocumented methods as Schemathesis tries them (OPTIONS, TRACE and QUERY included), the `Allow`
//! a server answers judged against the document, and literal paths told from templated ones.

use crate::support::{Reply, document, run_against, target, text};

const USERS: &str = r#"
openapi: 3.1.0
info: {title: users, version: '1'}
paths:
  /users/signup:
    post:
      operationId: signup
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string, minLength: 1, maxLength: 10}}}
      responses: {'201': {description: created}, '400': {description: invalid}}
  /users/{id}:
    get:
      operationId: getUser
      parameters: [{name: id, in: path, required: true, schema: {type: string, pattern: '^[a-z]{1,8}$'}}]
      responses: {'200': {description: found}, '400': {description: invalid}, '404': {description: missing}}
"#;

/// The users API; `allow` is what it says a path allows, `trace` what TRACE answers.
async fn users(allow_signup: &'static str, trace: u16) -> crate::support::Target {
    target(move |seen| {
        let signup = seen.path == "/users/signup";
        match (seen.method.as_str(), signup) {
            ("TRACE", _) if trace != 405 => Reply::empty(trace),
            ("POST", true) => {
                let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
                let ok = body["name"].as_str().is_some_and(|n| (1..=10).contains(&n.chars().count()))
                    && body.as_object().is_some_and(|o| o.len() == 1);
                Reply::empty(if ok { 201 } else { 400 })
            }
            // Routed as `/users/{id}`, like most frameworks: `signup` is no user.
            ("GET", _) => {
                let id = seen.path.trim_start_matches("/users/");
                let valid = (1..=8).contains(&id.len()) && id.chars().all(|c| c.is_ascii_lowercase());
                Reply::empty(if !valid {
                    400
                } else if id == "signup" {
                    404
                } else {
                    200
                })
            }
            ("OPTIONS", true) => Reply::empty(204).with("allow", allow_signup),
            ("OPTIONS", false) => Reply::empty(204).with("allow", "GET, HEAD, OPTIONS"),
            (_, true) => Reply::empty(405).with("allow", allow_signup),
            (_, false) => Reply::empty(405).with("allow", "GET"),
        }
    })
    .await
}

async fn check(allow_signup: &'static str, trace: u16) -> (commerce_contract::Outcome, crate::support::Target) {
    let (_dir, path) = document(USERS);
    let server = users(allow_signup, trace).await;
    let outcome =
        run_against(&path, &server.base, &["--seed", "5", "--phases", "coverage", "--max-examples", "5"]).await;
    (outcome, server)
}

fn failed(outcome: &commerce_contract::Outcome) -> Vec<(String, &str)> {
    outcome.summary.failures.iter().map(|g| (g.operation.clone(), g.check)).collect()
}

#[tokio::test]
async fn every_undocumented_method_is_tried_and_a_right_allow_passes() {
    let (outcome, server) = check("POST", 405).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    for method in ["PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "QUERY"] {
        assert!(!server.to(method, "/users/signup").is_empty(), "{method} was not tried");
    }
    assert!(
        server.to("GET", "/users/signup").is_empty(),
        "GET /users/signup is GET /users/{{id}}: it cannot answer 405, so it is not tried"
    );
    assert!(outcome.summary.judged.get("allow_header_conformance").is_some_and(|n| *n > 0));
}

#[tokio::test]
async fn an_allow_that_differs_from_the_document_fails_allow_header_conformance() {
    let (outcome, _) = check("GET, PUT", 405).await;
    let failures = failed(&outcome);
    assert!(failures.contains(&("signup".into(), "allow_header_conformance")), "{}", text(&outcome));
    let message =
        &outcome.summary.failures.iter().find(|g| g.check == "allow_header_conformance").unwrap().example.message;
    assert!(message.contains("missing documented methods: POST"), "{message}");
    assert!(message.contains("undocumented methods advertised: GET, PUT"), "{message}");
}

#[tokio::test]
async fn a_trace_that_is_served_fails_unsupported_method() {
    let (outcome, _) = check("POST", 200).await;
    let group = outcome.summary.failures.iter().find(|g| g.check == "unsupported_method");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert!(group.example.message.contains("Unsupported method TRACE returned 200"), "{}", group.example.message);
}

#[tokio::test]
async fn a_method_implemented_nowhere_may_answer_501() {
    // RFC 9110 §15.6.2, and what Python's http.server answers for a method it has no handler for.
    let (outcome, _) = check("POST", 501).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
}
