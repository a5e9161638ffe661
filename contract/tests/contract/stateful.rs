//! State without written links: the tester infers them from the paths (`POST /items` creates what
//! `/items/{itemId}` serves), takes the new id from the answer, and follows create -> read -> update
//! -> read -> delete -> read, against an in-memory API written here, clean and with planted defects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::{Reply, Seen, document, run, target, text};

const ITEMS: &str = r#"
openapi: 3.1.0
info: {title: items, version: '1'}
paths:
  /items:
    post:
      operationId: createItem
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ItemInput'}
      responses:
        '201':
          description: created
          headers:
            Location: {schema: {type: string}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Item'}
        '400': {description: invalid}
  /items/{itemId}:
    parameters:
      - {name: itemId, in: path, required: true, schema: {type: string, pattern: '^[0-9]+$'}}
    get:
      operationId: getItem
      responses:
        '200':
          description: the item
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Item'}
        '404': {description: missing}
    patch:
      operationId: updateItem
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/ItemPatch'}
      responses:
        '200':
          description: updated
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Item'}
        '400': {description: invalid}
        '404': {description: missing}
    delete:
      operationId: deleteItem
      responses:
        '204': {description: deleted}
        '404': {description: missing}
components:
  schemas:
    ItemInput:
      type: object
      required: [name]
      additionalProperties: false
      properties:
        name: {type: string, minLength: 1, maxLength: 20}
        price: {type: integer, minimum: 0, maximum: 1000}
    ItemPatch:
      type: object
      minProperties: 1
      additionalProperties: false
      properties:
        name: {type: string, minLength: 1, maxLength: 20}
        price: {type: integer, minimum: 0, maximum: 1000}
        note: {type: [string, 'null'], maxLength: 20}
    Item:
      type: object
      required: [id, name, price]
      properties:
        id: {type: string}
        name: {type: string}
        price: {type: integer}
        note: {type: [string, 'null']}
"#;

/// What the in-memory API gets wrong on purpose.
#[derive(Clone, Copy, PartialEq)]
enum Defect {
    None,
    /// DELETE answers 204 and keeps the item.
    DeleteKeeps,
    /// PATCH answers the new values and stores nothing.
    PatchForgets,
    /// PATCH of an existing item with `note: null` fails (500).
    NullNoteFails,
    /// The listing answers from a copy taken at start: new items never appear in it.
    ListingFrozen,
}

fn valid(body: &Value, required: bool) -> bool {
    let Some(object) = body.as_object() else { return false };
    let name_ok = object.get("name").is_none_or(|n| n.as_str().is_some_and(|n| (1..=20).contains(&n.chars().count())));
    let price_ok =
        object.get("price").is_none_or(|p| p.as_f64().is_some_and(|p| p.fract() == 0.0 && (0.0..=1000.0).contains(&p)));
    let note_ok = object.get("note").is_none_or(|n| n.is_null() || n.as_str().is_some_and(|n| n.chars().count() <= 20));
    let known = object.keys().all(|k| k == "name" || k == "price" || (k == "note" && !required)) && note_ok;
    name_ok && price_ok && known && (!required || object.contains_key("name")) && !object.is_empty()
}

async fn items_api(defect: Defect) -> crate::support::Target {
    items_api_listing(defect, false).await
}

/// The items API; with `listing`, `GET /items` lists every item (otherwise it answers 405).
async fn items_api_listing(defect: Defect, listing: bool) -> crate::support::Target {
    let items: Arc<Mutex<(u64, HashMap<String, Value>)>> = Arc::default();
    target(move |seen: &Seen| {
        let mut state = items.lock().unwrap();
        let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
        let segments: Vec<&str> = seen.path.trim_matches('/').split('/').collect();
        match (seen.method.as_str(), segments.as_slice()) {
            ("POST", ["items"]) => {
                if !valid(&body, true) {
                    return Reply::empty(400);
                }
                state.0 += 1;
                let id = state.0.to_string();
                let item =
                    json!({"id": id, "name": body["name"], "price": body.get("price").cloned().unwrap_or(json!(0))});
                state.1.insert(id.clone(), item.clone());
                Reply::json(201, item).with("location", format!("/items/{id}"))
            }
            ("GET", ["items", id]) => match state.1.get(*id) {
                Some(item) => Reply::json(200, item.clone()),
                None => Reply::empty(404),
            },
            ("PATCH", ["items", id]) => {
                if !valid(&body, false) {
                    return Reply::empty(400);
                }
                let Some(item) = state.1.get(*id).cloned() else { return Reply::empty(404) };
                if defect == Defect::NullNoteFails && body.get("note").is_some_and(Value::is_null) {
                    return Reply::empty(500);
                }
                let mut changed = item.clone();
                for (k, v) in body.as_object().unwrap() {
                    changed[k] = v.clone();
                }
                if defect != Defect::PatchForgets {
                    state.1.insert(id.to_string(), changed.clone());
                }
                Reply::json(200, changed)
            }
            ("DELETE", ["items", id]) => {
                let existed = if defect == Defect::DeleteKeeps {
                    state.1.contains_key(*id)
                } else {
                    state.1.remove(*id).is_some()
                };
                Reply::empty(if existed { 204 } else { 404 })
            }
            ("GET", ["items"]) if listing => {
                let mut all: Vec<(u64, Value)> = state
                    .1
                    .iter()
                    .filter(|_| defect != Defect::ListingFrozen)
                    .map(|(id, item)| (id.parse().unwrap_or(0), item.clone()))
                    .collect();
                all.sort_by_key(|(id, _)| *id);
                Reply::json(200, Value::Array(all.into_iter().map(|(_, item)| item).collect()))
            }
            (_, ["items"]) => Reply::empty(405).with("allow", "POST"),
            (_, ["items", _]) => Reply::empty(405).with("allow", "GET, PATCH, DELETE"),
            _ => Reply::empty(404),
        }
    })
    .await
}

async fn check(defect: Defect) -> (commerce_contract::Outcome, crate::support::Target) {
    check_phases(defect, "stateful").await
}

async fn check_phases(defect: Defect, phases: &str) -> (commerce_contract::Outcome, crate::support::Target) {
    let (_dir, path) = document(ITEMS);
    let server = items_api(defect).await;
    let outcome =
        run(&["--spec", &path, "--base-url", &server.base, "--seed", "3", "--max-examples", "10", "--phases", phases])
            .await;
    (outcome, server)
}

#[tokio::test]
async fn identifiers_from_earlier_answers_reach_a_failure_only_an_existing_record_shows() {
    // With generated ids, every PATCH answers 404 and the null never reaches the code that fails.
    let (outcome, server) = check_phases(Defect::NullNoteFails, "fuzzing,coverage").await;
    let group = outcome.summary.failures.iter().find(|g| g.check == "not_a_server_error");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert_eq!(group.operation, "updateItem", "{}", text(&outcome));
    let created = server.to("POST", "/items").len() as u64;
    let existing = server.requests().into_iter().filter(|s| {
        s.method == "PATCH"
            && s.path
                .strip_prefix("/items/")
                .and_then(|id| id.parse::<u64>().ok())
                .is_some_and(|id| (1..=created).contains(&id))
    });
    assert!(existing.count() > 0, "PATCHes named items the server created");
}

fn failed(outcome: &commerce_contract::Outcome) -> Vec<(&str, &str)> {
    outcome.summary.failures.iter().map(|g| (g.operation.as_str(), g.check)).collect()
}

#[tokio::test]
async fn links_are_inferred_from_the_paths_and_a_clean_api_passes() {
    let (outcome, server) = check(Defect::None).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    let reads = server.to("GET", "/items/1");
    assert!(!reads.is_empty(), "the created item was read with the id its creation answered");
    assert!(!server.to("PATCH", "/items/1").is_empty() && !server.to("DELETE", "/items/1").is_empty());
    for check in ["ensure_resource_availability", "use_after_free", "stale_read"] {
        assert!(
            outcome.summary.judged.get(check).is_some_and(|n| *n > 0),
            "{check} judged nothing: {}",
            text(&outcome)
        );
    }
}

#[tokio::test]
async fn a_deleted_item_still_readable_is_a_use_after_free() {
    let (outcome, _server) = check(Defect::DeleteKeeps).await;
    assert!(failed(&outcome).contains(&("getItem", "use_after_free")), "{}", text(&outcome));
    assert!(!failed(&outcome).iter().any(|(_, c)| *c == "stale_read"), "{}", text(&outcome));
}

#[tokio::test]
async fn an_update_the_next_read_does_not_show_is_a_stale_read() {
    let (outcome, _server) = check(Defect::PatchForgets).await;
    assert!(failed(&outcome).contains(&("getItem", "stale_read")), "{}", text(&outcome));
    assert!(!failed(&outcome).iter().any(|(_, c)| *c == "use_after_free"), "{}", text(&outcome));
}

/// Items whose names are unique, checked before the insert with a wait between the two (as an
/// `await` on a database round trip would): `atomic` holds one lock over both.
async fn unique_names(atomic: bool) -> String {
    use poem::listener::{Acceptor, Listener, TcpListener};
    let names: Arc<tokio::sync::Mutex<std::collections::HashSet<String>>> = Arc::default();
    let endpoint = poem::endpoint::make(move |mut req: poem::Request| {
        let names = names.clone();
        async move {
            let status = |s: u16| poem::Response::builder().status(poem::http::StatusCode::from_u16(s).unwrap());
            if req.method() != poem::http::Method::POST || req.uri().path() != "/items" {
                return Ok::<_, poem::Error>(status(405).header("allow", "POST").finish());
            }
            let body: Value = serde_json::from_slice(&req.take_body().into_vec().await?).unwrap_or(Value::Null);
            if !valid(&body, true) {
                return Ok(status(400).finish());
            }
            let name = body["name"].as_str().unwrap_or_default().to_string();
            let held = if atomic { Some(names.lock().await) } else { None };
            let taken = match &held {
                Some(set) => set.contains(&name),
                None => names.lock().await.contains(&name),
            };
            if taken {
                return Ok(status(409).finish());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            match held {
                Some(mut set) => set.insert(name),
                None => names.lock().await.insert(name),
            };
            let item = json!({"id": "1", "name": body["name"], "price": 0});
            Ok(status(201).header("content-type", "application/json").body(item.to_string()))
        }
    });
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    format!("http://{addr}")
}

const UNIQUE: &str = r#"
openapi: 3.1.0
info: {title: items, version: '1'}
paths:
  /items:
    post:
      operationId: createItem
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              additionalProperties: false
              properties:
                name: {type: string, minLength: 1, maxLength: 20}
                price: {type: integer, minimum: 0, maximum: 1000}
      responses:
        '201': {description: created}
        '400': {description: invalid}
        '409': {description: the name is taken}
"#;

async fn race(atomic: bool) -> commerce_contract::Outcome {
    let (_dir, path) = document(UNIQUE);
    let base = unique_names(atomic).await;
    run(&["--spec", &path, "--base-url", &base, "--seed", "6", "--max-examples", "5", "--phases", "stateful"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_name_checked_apart_from_its_insert_is_a_concurrent_creation() {
    let outcome = race(false).await;
    let group = outcome.summary.failures.iter().find(|g| g.check == "concurrent_creation");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert!(group.example.message.contains("succeeded"), "{}", group.example.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_name_checked_with_its_insert_passes_the_race() {
    let outcome = race(true).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    assert_eq!(outcome.summary.judged.get("concurrent_creation"), Some(&1), "{}", text(&outcome));
}

#[tokio::test]
async fn what_the_run_created_is_deleted_at_its_end() {
    let (outcome, server) = check_phases(Defect::None, "examples,coverage,fuzzing,stateful").await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    let created = server.to("POST", "/items").len();
    assert!(created > 10, "{created} creates");
    let client = reqwest::Client::new();
    let mut left = Vec::new();
    for id in 1..=created {
        let status = client.get(format!("{}/items/{id}", server.base)).send().await.unwrap().status();
        if status == 200 {
            left.push(id);
        }
    }
    assert!(left.is_empty(), "items the run created and left behind: {left:?}");
}

#[tokio::test]
async fn the_deployment_s_own_data_seen_in_listings_is_read_but_never_changed_or_deleted() {
    let (_dir, path) = document(&ITEMS.replace(
        "  /items/{itemId}:",
        "    get:\n      operationId: listItems\n      responses:\n        '200':\n          description: every item\n          content:\n            application/json:\n              schema: {type: array, items: {$ref: '#/components/schemas/Item'}}\n  /items/{itemId}:",
    ));
    let server = items_api_listing(Defect::None, true).await;
    let client = reqwest::Client::new();
    let theirs = serde_json::json!({"name": "their item", "price": 5});
    let made = client.post(format!("{}/items", server.base)).json(&theirs).send().await.unwrap();
    assert_eq!(made.status(), 201);
    let before: Value = client.get(format!("{}/items/1", server.base)).send().await.unwrap().json().await.unwrap();
    let outcome = crate::support::run_against(&path, &server.base, &["--seed", "3", "--max-examples", "10"]).await;
    let after = client.get(format!("{}/items/1", server.base)).send().await.unwrap();
    assert_eq!(after.status(), 200, "their item was deleted: {}", text(&outcome));
    assert_eq!(after.json::<Value>().await.unwrap(), before, "their item was changed");
    let writes = server.requests().into_iter().filter(|s| s.path == "/items/1" && s.method != "GET").count();
    assert_eq!(writes, 0, "writes to their item");
    // Two of the reads are this test's own, before and after.
    assert!(server.to("GET", "/items/1").len() > 2, "their item, seen in the listing, was read");
}

#[tokio::test]
async fn a_created_item_missing_from_a_short_listing_fails_ensure_resource_availability() {
    let (_dir, path) = document(&ITEMS.replace(
        "  /items/{itemId}:",
        "    get:\n      operationId: listItems\n      responses:\n        '200':\n          description: every item\n          content:\n            application/json:\n              schema: {type: array, items: {$ref: '#/components/schemas/Item'}}\n  /items/{itemId}:",
    ));
    let frozen = items_api_listing(Defect::ListingFrozen, true).await;
    let outcome = crate::support::run_against(&path, &frozen.base, &["--seed", "3", "--phases", "stateful"]).await;
    let group = outcome.summary.failures.iter().find(|g| g.check == "ensure_resource_availability");
    let group = group.unwrap_or_else(|| panic!("{}", text(&outcome)));
    assert_eq!(group.operation, "listItems");
    assert!(
        group.example.message.starts_with("Created resource missing from the listing"),
        "{}",
        group.example.message
    );
    let live = items_api_listing(Defect::None, true).await;
    let outcome = crate::support::run_against(&path, &live.base, &["--seed", "3", "--phases", "stateful"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
}

/// Users, and each user's notes: a nested collection, whose create has a path parameter itself.
const NESTED: &str = r#"
openapi: 3.0.3
info: {title: notebooks, version: '1'}
paths:
  /users:
    post:
      operationId: addUser
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string, minLength: 1, maxLength: 12}}}
      responses:
        '201':
          description: added
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Created'}
        '400': {description: invalid}
  /users/{userId}/notes:
    parameters:
      - {name: userId, in: path, required: true, schema: {type: string, pattern: '^u[0-9]+$'}}
    post:
      operationId: addNote
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [text], properties: {text: {type: string, minLength: 1, maxLength: 12}}}
      responses:
        '201':
          description: added
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Created'}
        '400': {description: invalid}
        '404': {description: no such user}
  /users/{userId}/notes/{noteId}:
    parameters:
      - {name: userId, in: path, required: true, schema: {type: string, pattern: '^u[0-9]+$'}}
      - {name: noteId, in: path, required: true, schema: {type: string, pattern: '^n[0-9]+$'}}
    get:
      operationId: getNote
      responses:
        '200':
          description: the note
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Created'}
        '404': {description: missing}
    delete:
      operationId: deleteNote
      responses:
        '204': {description: deleted}
        '404': {description: missing}
components:
  schemas:
    Created:
      type: object
      required: [id]
      properties:
        id: {type: string}
"#;

/// The last id given, and each user's notes.
type Notebooks = (u64, HashMap<String, Vec<String>>);

/// What a notebooks target saw: its state, and how many reads or deletes named a note that exists
/// under a user that exists but is not its own.
#[derive(Default)]
struct Notebook {
    state: Mutex<Notebooks>,
    mismatched: std::sync::atomic::AtomicUsize,
}

/// Reading an existing note fails (500); every other answer is as documented. A note is found
/// only under its own user, as a server that checks ownership finds it.
async fn notebooks() -> (crate::support::Target, Arc<Notebook>) {
    let book: Arc<Notebook> = Arc::default();
    let seen_by_target = book.clone();
    let server = target(move |seen: &Seen| {
        let book = &seen_by_target;
        let mut state = book.state.lock().unwrap();
        let body: Option<Value> = serde_json::from_slice(&seen.body).ok();
        let text_of = |key: &str| body.as_ref().and_then(|b| b.get(key)?.as_str().map(str::len));
        let parts: Vec<&str> = seen.path.trim_matches('/').split('/').collect();
        match (seen.method.as_str(), parts.as_slice()) {
            ("POST", ["users"]) => match text_of("name") {
                Some(1..=12) => {
                    state.0 += 1;
                    let id = format!("u{}", state.0);
                    state.1.insert(id.clone(), Vec::new());
                    Reply::json(201, json!({"id": id}))
                }
                _ => Reply::empty(400),
            },
            ("POST", ["users", user, "notes"]) => {
                if !state.1.contains_key(*user) {
                    return Reply::empty(404);
                }
                match text_of("text") {
                    Some(1..=12) => {
                        state.0 += 1;
                        let id = format!("n{}", state.0);
                        state.1.get_mut(*user).unwrap().push(id.clone());
                        Reply::json(201, json!({"id": id}))
                    }
                    _ => Reply::empty(400),
                }
            }
            (method @ ("GET" | "DELETE"), ["users", user, "notes", note]) => {
                let own = state.1.get(*user).is_some_and(|notes| notes.iter().any(|n| n == note));
                if !own && state.1.contains_key(*user) && state.1.values().flatten().any(|n| n == note) {
                    book.mismatched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                match (own, method) {
                    (true, "GET") => Reply::empty(500),
                    (true, _) => {
                        state.1.get_mut(*user).unwrap().retain(|n| n != note);
                        Reply::empty(204)
                    }
                    (false, _) => Reply::empty(404),
                }
            }
            (_, ["users"]) => Reply::empty(405).with("allow", "POST"),
            (_, ["users", _, "notes"]) => Reply::empty(405).with("allow", "POST"),
            (_, ["users", _, "notes", _]) => Reply::empty(405).with("allow", "GET, DELETE"),
            _ => Reply::empty(404),
        }
    })
    .await;
    (server, book)
}

/// Each phase runs its operations by how many path parameters they have, fewest first, building each
/// group's cases from what the groups before it answered: the users' create, then the notes' create
/// (on a user that exists), then the reads of a note (of a note that exists), where the defect is.
/// With one group for every operation on a resource, the reads were built before any note existed.
/// A note is addressed under the user it was created under: drawn apart, most reads named another
/// user's note, which a server that checks ownership answers with 404. The deletes run after the
/// reads, and what the run created is deleted at its end, the notes under their users.
#[tokio::test]
async fn a_nested_collection_s_resources_are_read_once_created_in_the_same_phase() {
    let (_dir, path) = document(NESTED);
    for seed in ["1", "2", "3"] {
        let (server, book) = notebooks().await;
        let outcome = run(&["--spec", &path, "--base-url", &server.base, "--seed", seed, "--phases", "coverage"]).await;
        let failed: Vec<(&str, &str)> =
            outcome.summary.failures.iter().map(|g| (g.operation.as_str(), g.check)).collect();
        assert!(failed.contains(&("getNote", "not_a_server_error")), "seed {seed}:\n{}", text(&outcome));
        let mismatched = book.mismatched.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(mismatched, 0, "seed {seed}: notes addressed under another user\n{}", text(&outcome));
        let left: usize = book.state.lock().unwrap().1.values().map(Vec::len).sum();
        assert_eq!(left, 0, "seed {seed}: notes the run created and left\n{}", text(&outcome));
    }
}
