//! Bodies no parser can read: JSON cut short and bytes that are not UTF-8, sent to every JSON body.
//! A server that answers them with an undocumented status, or falls over, is reported.

use crate::support::{Reply, document, run_against, target, text};

const NOTES: &str = r#"
openapi: 3.0.3
info: {title: notes, version: '1'}
paths:
  /notes:
    post:
      operationId: createNote
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [text]
              additionalProperties: false
              properties: {text: {type: string, minLength: 1, maxLength: 40}}
      responses:
        '201': {description: created}
        '422': {description: invalid}
"#;

/// Whether `body` is a note by the document: `{"text": <1 to 40 characters>}` and nothing else.
fn valid_note(body: &serde_json::Value) -> bool {
    body.as_object().is_some_and(|o| o.len() == 1)
        && body["text"].as_str().is_some_and(|t| (1..=40).contains(&t.chars().count()))
}

/// The notes API: 201 for a valid note, 422 for a JSON body that is not one, and for a body that
/// is not JSON at all, `unreadable`.
async fn notes(unreadable: fn(&[u8]) -> Reply) -> crate::support::Target {
    target(move |seen| {
        if seen.method != "POST" {
            return Reply::empty(405).with("allow", "POST");
        }
        let Ok(text) = std::str::from_utf8(&seen.body) else { return unreadable(&seen.body) };
        let Ok(body) = serde_json::from_str::<serde_json::Value>(text) else { return unreadable(&seen.body) };
        Reply::empty(if valid_note(&body) { 201 } else { 422 })
    })
    .await
}

async fn check(unreadable: fn(&[u8]) -> Reply) -> (commerce_contract::Outcome, crate::support::Target) {
    let (_dir, path) = document(NOTES);
    let server = notes(unreadable).await;
    let outcome =
        run_against(&path, &server.base, &["--seed", "9", "--phases", "coverage", "--max-examples", "5"]).await;
    (outcome, server)
}

#[tokio::test]
async fn unreadable_bodies_are_sent_and_a_documented_refusal_passes() {
    let (outcome, server) = check(|_| Reply::empty(422)).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    let posts = server.to("POST", "/notes");
    assert!(posts.iter().any(|s| std::str::from_utf8(&s.body).is_err()), "a body that is not UTF-8 was sent");
    assert!(
        posts
            .iter()
            .any(|s| s.text().starts_with('{') && serde_json::from_slice::<serde_json::Value>(&s.body).is_err()),
        "a JSON body cut short was sent"
    );
}

#[tokio::test]
async fn an_undocumented_400_for_malformed_json_fails_status_code_conformance() {
    // What many frameworks answer by default, here undocumented.
    let (outcome, _) = check(|_| Reply::empty(400)).await;
    let group = outcome.summary.failures.iter().find(|g| g.check == "status_code_conformance");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert!(group.example.invalid.as_deref().is_some_and(|w| w.starts_with("body: ")), "{:?}", group.example.invalid);
}

#[tokio::test]
async fn a_server_that_falls_over_on_bytes_that_are_not_utf8_is_reported_with_a_replayable_curl() {
    let (outcome, _) = check(|body| Reply::empty(if std::str::from_utf8(body).is_err() { 500 } else { 422 })).await;
    let group = outcome.summary.failures.iter().find(|g| g.check == "not_a_server_error");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert_eq!(group.example.invalid.as_deref(), Some("body: not UTF-8"));
    assert!(group.curl.contains("--data-binary $'\\xff\\xfe"), "{}", group.curl);
    assert!(text(&outcome).contains("   Response: 500 no Content-Type, no body"), "{}", text(&outcome));
}

const SEARCH: &str = r#"
openapi: 3.0.3
info: {title: search, version: '1'}
paths:
  /search:
    get:
      operationId: search
      parameters:
        - {name: q, in: query, required: true, schema: {type: string, maxLength: 50}}
      responses:
        '200': {description: results}
        '400': {description: invalid}
"#;

#[tokio::test]
async fn a_query_built_by_concatenation_is_reported_as_a_likely_injection() {
    let (_dir, path) = document(SEARCH);
    // As `format!("... LIKE '%{q}%'")` would: a quote breaks the statement.
    let server = target(|seen| match seen.method.as_str() {
        "GET" if seen.query.contains("%27") || seen.query.contains('\'') => Reply::empty(500),
        "GET" => Reply::empty(200),
        _ => Reply::empty(405).with("allow", "GET"),
    })
    .await;
    let outcome =
        run_against(&path, &server.base, &["--seed", "9", "--phases", "coverage", "--max-examples", "5"]).await;
    let messages: Vec<&str> = outcome
        .summary
        .failures
        .iter()
        .filter(|g| g.check == "not_a_server_error")
        .map(|g| g.example.message.as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("after a SQL injection in query parameter q: a likely injection")),
        "{}",
        text(&outcome)
    );
}

const LOOKUP: &str = r#"
openapi: 3.0.3
info: {title: lookup, version: '1'}
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters: [{name: id, in: path, required: true, schema: {type: integer, minimum: 1}}]
      responses:
        '200':
          description: the thing
          content:
            application/json:
              schema: {type: object}
        '404': {description: no such thing}
"#;

#[tokio::test]
async fn a_body_where_none_is_documented_is_reported_only_when_asked_for() {
    let (_dir, path) = document(LOOKUP);
    // As many APIs do: the 404 carries an error body its document leaves out.
    let server = target(|seen| match seen.method.as_str() {
        "GET" => Reply::json(404, serde_json::json!({"error": "no such thing"})),
        _ => Reply::empty(405).with("allow", "GET"),
    })
    .await;
    let by_default = run_against(&path, &server.base, &["--seed", "2", "--max-examples", "5"]).await;
    assert!(by_default.summary.passed(), "{}", text(&by_default));
    assert!(!by_default.summary.judged.contains_key("undocumented_body"), "opt-in: not run by default");
    let asked = run_against(&path, &server.base, &["--seed", "2", "--max-examples", "5", "--checks", "all"]).await;
    let group = asked.summary.failures.iter().find(|g| g.check == "undocumented_body");
    let group = group.unwrap_or_else(|| panic!("{}", text(&asked)));
    let message = &group.example.message;
    assert!(message.contains("Status 404 documents no content; got 25 bytes of application/json"), "{message}");
}

#[tokio::test]
async fn a_member_named_twice_is_sent_and_a_server_that_falls_over_on_it_is_reported() {
    // A strict parser may refuse it (a 4xx), a lenient one take either value: both pass. A 500 fails.
    async fn against(strict: u16) -> (commerce_contract::Outcome, crate::support::Target) {
        let (_dir, path) = document(NOTES);
        let server = target(move |seen| {
            if seen.method != "POST" {
                return Reply::empty(405).with("allow", "POST");
            }
            let text = seen.text();
            if text.matches("\"text\":").count() > 1 {
                return Reply::empty(strict);
            }
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            Reply::empty(if valid_note(&body) { 201 } else { 422 })
        })
        .await;
        let outcome =
            run_against(&path, &server.base, &["--seed", "9", "--phases", "coverage", "--max-examples", "5"]).await;
        (outcome, server)
    }
    let (outcome, server) = against(500).await;
    assert!(server.to("POST", "/notes").iter().any(|s| s.text().matches("\"text\":").count() == 2));
    let group = outcome.summary.failures.iter().find(|g| g.check == "not_a_server_error");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert_eq!(group.example.invalid.as_deref(), Some("body: the member text twice, with the same value"));
    let strict = against(422).await.0;
    assert!(strict.summary.passed(), "{}", text(&strict));
}

#[tokio::test]
async fn a_body_under_an_undocumented_media_type_must_get_415_only_when_asked_for() {
    let (_dir, path) = document(NOTES);
    // `strict` answers 415 to anything but JSON; otherwise it parses whatever comes, as most small
    // servers do.
    async fn notes_api(strict: bool) -> crate::support::Target {
        target(move |seen| {
            if seen.method != "POST" {
                return Reply::empty(405).with("allow", "POST");
            }
            if strict && !seen.body.is_empty() && seen.header("content-type") != Some("application/json") {
                return Reply::empty(415);
            }
            let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
            Reply::empty(if valid_note(&body) { 201 } else { 422 })
        })
        .await
    }
    let lenient = notes_api(false).await;
    let by_default = run_against(&path, &lenient.base, &["--seed", "9", "--phases", "coverage"]).await;
    assert!(by_default.summary.passed(), "{}", text(&by_default));
    let labelled = |t: &crate::support::Target| {
        t.requests().iter().filter(|s| s.header("content-type") == Some("text/plain")).count()
    };
    assert_eq!(labelled(&lenient), 0, "not sent unless asked for");
    let asked = ["--seed", "9", "--phases", "coverage", "--checks", "all"];
    let caught = run_against(&path, &lenient.base, &asked).await;
    let group = caught.summary.failures.iter().find(|g| g.check == "unsupported_media_type");
    let group = group.unwrap_or_else(|| panic!("{}", text(&caught)));
    assert!(group.example.message.contains("sent as text/plain"), "{}", group.example.message);
    let strict = notes_api(true).await;
    let passed = run_against(&path, &strict.base, &asked).await;
    assert!(passed.summary.passed(), "{}", text(&passed));
    assert!(labelled(&strict) > 0 && passed.summary.judged["unsupported_media_type"] > 0);
}

const WIDGETS: &str = r#"
openapi: 3.1.0
info: {title: widgets, version: '1'}
paths:
  /widgets:
    post:
      operationId: createWidget
      parameters:
        - {name: dryRun, in: query, schema: {type: boolean}}
        - {name: note, in: query, schema: {type: string, maxLength: 10}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              additionalProperties: false
              properties:
                name: {type: string, minLength: 1, maxLength: 10}
                color: {type: string, enum: [red, blue]}
                size: {type: integer, minimum: 1, maximum: 9}
                tags: {type: array, maxItems: 3, items: {type: string, maxLength: 5}}
      responses:
        '201': {description: created}
        '422': {description: invalid}
"#;

#[tokio::test]
async fn a_failure_is_shown_with_the_smallest_request_that_still_fails() {
    let (_dir, path) = document(WIDGETS);
    // Falls over whenever a color is given, whatever else comes with it.
    let server = target(|seen| match seen.method.as_str() {
        "POST" => {
            let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
            let Some(object) = body.as_object() else { return Reply::empty(422) };
            if object.get("name").and_then(|n| n.as_str()).is_none_or(|n| n.is_empty() || n.chars().count() > 10) {
                return Reply::empty(422);
            }
            Reply::empty(if object.contains_key("color") { 500 } else { 201 })
        }
        _ => Reply::empty(405).with("allow", "POST"),
    })
    .await;
    let outcome =
        run_against(&path, &server.base, &["--seed", "4", "--phases", "fuzzing", "--max-examples", "40"]).await;
    let group = outcome.summary.failures.iter().find(|g| g.check == "not_a_server_error");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    let curl = &group.curl;
    assert!(curl.contains("\"color\""), "{curl}");
    for gone in ["\"size\"", "\"tags\"", "dryRun=", "note="] {
        assert!(!curl.contains(gone), "{gone} stayed in {curl}");
    }
}
