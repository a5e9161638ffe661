//! Drift between the typed layer and the spec: poem-openapi's own document (3.0, never served) must
//! describe the same operations as `openapi/commerce.yaml` — paths, methods, parameters with their
//! constraints, request bodies and responses with their media types, headers and members
//! (`commerce_spec::drift`, whose own tests show each kind of mismatch named). Every mismatch is
//! listed.

use std::collections::BTreeMap;

use commerce_spec::Spec;
use serde_json::{Value, json};

use crate::assert_body_snapshot;
use crate::helpers::spawn_app;

#[tokio::test]
async fn the_typed_layer_matches_the_spec() {
    let app = spawn_app().await;
    let typed: Value = serde_json::from_str(&commerce::http::openapi_service(app.handlers.clone()).spec()).unwrap();
    let source = Spec::parse(commerce::spec::SOURCE_YAML).unwrap().doc;

    let found = commerce_spec::drift::mismatches(&source, &typed);

    assert!(found.is_empty(), "the typed layer and openapi/commerce.yaml disagree:\n  {}", found.join("\n  "));
}

#[tokio::test]
async fn the_served_route_table_is_the_spec_s_operations() {
    let app = spawn_app().await;
    let typed: Value = serde_json::from_str(&commerce::http::openapi_service(app.handlers.clone()).spec()).unwrap();
    let typed = Spec::from_value(typed).unwrap();
    let routes: BTreeMap<String, Value> = typed
        .operations()
        .unwrap()
        .iter()
        .map(|op| (format!("{} {}", op.method.to_uppercase(), op.path), json!(op.operation_id)))
        .collect();
    assert_body_snapshot!("route_table", &routes);
}
