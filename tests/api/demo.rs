//! Swagger UI's "Try it out", as prefilled, on a fresh first start: the spec's examples and the demo
//! data agree. Each operation is called with exactly what the page prefills (path parameters and
//! request bodies from the examples; nothing else) in the order a visitor would try them, and must
//! answer its documented success. `tests/browser/swagger-ui.mjs` drives the same through the page.

use serde_json::Value;

use crate::helpers::{Auth, Body, TestDatabase, spawn_app_with};

/// The order a visitor tries the operations in: log in, read and write the catalogue, customers and
/// orders, delete, then log out. Every operation of the spec is listed (checked below).
const NATURAL_ORDER: [&str; 19] = [
    "healthz",
    "readyz",
    "metrics",
    "login",
    "refreshToken",
    "listProducts",
    "createProduct",
    "getProduct",
    "updateProduct",
    "listCustomers",
    "createCustomer",
    "getCustomer",
    "updateCustomer",
    "listOrders",
    "createOrder",
    "getOrder",
    "updateOrderStatus",
    "deleteProduct",
    "logout",
];

fn document() -> Value {
    serde_json::from_str(commerce_generated::DOCUMENT).unwrap()
}

fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => document.pointer(reference.trim_start_matches('#')).expect("a local reference"),
        None => value,
    }
}

/// What Swagger UI prefills for an operation.
struct Prefilled {
    route: String,
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

/// The operation's method and path, and the parameters and body the page prefills from examples.
fn prefilled(document: &Value, id: &str) -> Prefilled {
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" || op.get("operationId").and_then(Value::as_str) != Some(id) {
                continue;
            }
            let (mut path, mut query) = (Vec::new(), Vec::new());
            let shared = item.get("parameters").and_then(Value::as_array).into_iter().flatten();
            for p in shared.chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten()) {
                let p = resolve(document, p);
                let name = p["name"].as_str().unwrap().to_string();
                let example = p.get("example").map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string));
                match (p["in"].as_str(), example) {
                    (Some("header"), Some(example)) => {
                        panic!("{id}: header {name} is prefilled with {example}: a shared fixed value")
                    }
                    (Some("path"), Some(example)) => path.push((name, example)),
                    (Some("path"), None) => panic!("{id}: path parameter {name} has no example"),
                    (Some("query"), Some(example)) => query.push((name, example)),
                    _ => {}
                }
            }
            let body = op
                .pointer("/requestBody/content/application~1json/example")
                .cloned()
                .or_else(|| op.pointer("/requestBody").map(|_| panic!("{id}: its body has no example")));
            return Prefilled { route: format!("{method} {template}"), path, query, body };
        }
    }
    panic!("no operation {id}")
}

#[tokio::test]
async fn every_operation_succeeds_as_swagger_ui_prefills_it_on_a_fresh_first_start() {
    let document = document();
    let mut documented: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values().filter_map(|op| op.get("operationId")?.as_str()))
        .collect();
    documented.sort();
    let mut listed = NATURAL_ORDER.to_vec();
    listed.sort();
    assert_eq!(listed, documented, "NATURAL_ORDER lists every operation once");

    // A first start as `cargo run` makes it: the demo data, no chosen password, a loopback address.
    let app = spawn_app_with(TestDatabase::new().await, |config| {
        config.seed_demo = true;
        config.admin_password = None;
    })
    .await;
    let mut token = String::new();
    for id in NATURAL_ORDER {
        let Prefilled { route, path, query, mut body } = prefilled(&document, id);
        // The visitor pastes what login answered: the token into "Authorize", the refresh token
        // into refreshToken's body. Everything else is as prefilled.
        if id == "refreshToken" {
            let login = app.login(prefilled(&document, "login").body.unwrap()).await;
            body = Some(serde_json::json!({ "refreshToken": login.body["refreshToken"] }));
        }
        let path: Vec<(&str, &str)> = path.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let auth = if token.is_empty() { Auth::None } else { Auth::Bearer(&token) };
        let response = app.call(id, auth, &path, &query, body.map(Body::Json)).await;
        assert!(
            (200..300).contains(&response.status),
            "{id} ({route}) as prefilled answered {}: {:#}",
            response.status,
            response.body
        );
        if id == "login" {
            token = response.body["accessToken"].as_str().unwrap().to_string();
        }
        // No filter is prefilled: each listing shows all the demo data.
        match id {
            "listProducts" => assert_eq!(response.body["pagination"]["total"], 8, "{:#}", response.body),
            "listCustomers" | "listOrders" => {
                assert_eq!(response.body["pagination"]["total"], 1, "{:#}", response.body)
            }
            _ => {}
        }
    }
}
