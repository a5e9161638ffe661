//! Swagger UI's "Try it out", as prefilled, on a fresh first start: the spec's examples and the demo
//! data agree. Each operation is called with exactly what the page prefills (path parameters and
//! request bodies from the examples; nothing else) in the order a visitor would try them, and must
//! answer its documented success. `tests/browser/swagger-ui.mjs` drives the same through the page.

use commerce_spec::Spec;
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

/// What Swagger UI prefills for an operation.
struct Prefilled {
    route: String,
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

/// The operation's method and path, and the parameters (path-level ones included, `$ref`s
/// followed) and body the page prefills from examples.
fn prefilled(spec: &Spec, id: &str) -> Prefilled {
    let ops = spec.operations().expect("the spec's operations");
    let op = ops.iter().find(|o| o.operation_id == Some(id)).unwrap_or_else(|| panic!("no operation {id}"));
    let (mut path, mut query) = (Vec::new(), Vec::new());
    for p in &op.parameters {
        let name = p.name.to_string();
        let example = p.object.get("example").map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string));
        match (p.location, example) {
            ("header", Some(example)) => {
                panic!("{id}: header {name} is prefilled with {example}: a shared fixed value")
            }
            ("path", Some(example)) => path.push((name, example)),
            ("path", None) => panic!("{id}: path parameter {name} has no example"),
            ("query", Some(example)) => query.push((name, example)),
            _ => {}
        }
    }
    let body = op.request_body.map(|b| {
        b.pointer("/content/application~1json/example")
            .cloned()
            .unwrap_or_else(|| panic!("{id}: its body has no example"))
    });
    Prefilled { route: format!("{} {}", op.method, op.path), path, query, body }
}

#[tokio::test]
async fn every_operation_succeeds_as_swagger_ui_prefills_it_on_a_fresh_first_start() {
    let spec = Spec::parse(commerce_generated::DOCUMENT).expect("the generated document");
    let mut documented: Vec<String> =
        spec.operations().unwrap().iter().filter_map(|o| o.operation_id.map(String::from)).collect();
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
        let Prefilled { route, path, query, mut body } = prefilled(&spec, id);
        // The visitor pastes what login answered: the token into "Authorize", the refresh token
        // into refreshToken's body. Everything else is as prefilled.
        if id == "refreshToken" {
            let login = app.login(prefilled(&spec, "login").body.unwrap()).await;
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
