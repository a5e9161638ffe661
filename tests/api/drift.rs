//! Drift between the typed layer and the spec: poem-openapi's own document (3.0, never served) must
//! describe the same operations as `openapi/commerce.yaml` — paths, methods, parameters with their
//! constraints, request bodies and response statuses. Every mismatch is listed.

use std::collections::BTreeMap;

use commerce_spec::Spec;
use serde_json::{Value, json};

use crate::assert_body_snapshot;
use crate::helpers::spawn_app;

/// A document reduced to what both must agree on, keyed by operationId.
fn normalize(doc: &Value) -> BTreeMap<String, Value> {
    let resolve = |v: &Value| -> Value {
        let mut v = v.clone();
        for _ in 0..8 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else { break };
            v = doc.pointer(r.trim_start_matches('#')).cloned().unwrap_or(Value::Null);
        }
        v
    };
    let constraints = |schema: &Value| -> Value {
        let mut schema = resolve(schema);
        // poem-openapi writes a $ref with a default as `allOf: [$ref, {default}]` (3.0 forbids siblings).
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array).cloned() {
            let outer = schema.as_object().cloned().unwrap_or_default();
            schema = json!({});
            for part in parts.iter().map(resolve).chain([Value::Object(outer)]) {
                for (k, v) in part.as_object().into_iter().flatten().filter(|(k, _)| *k != "allOf") {
                    schema[k] = v.clone();
                }
            }
        }
        let mut out = serde_json::Map::new();
        for key in ["type", "format", "minimum", "maximum", "minLength", "maxLength", "pattern", "enum"] {
            if let Some(v) = schema.get(key) {
                // Numbers compare by value (poem-openapi writes bounds as floats).
                let v = match v {
                    Value::Number(n) => json!(n.as_f64()),
                    other => other.clone(),
                };
                out.insert(key.into(), v);
            }
        }
        Value::Object(out)
    };
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let shared: Vec<Value> = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        for method in commerce_spec::METHODS {
            let Some(op) = item.get(method) else { continue };
            let mut params = BTreeMap::new();
            for p in shared.iter().chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten()) {
                let p = resolve(p);
                let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
                let key = format!("{} {}", p["in"].as_str().unwrap(), p["name"].as_str().unwrap());
                params.insert(key, json!({"required": required, "schema": constraints(&p["schema"])}));
            }
            let body = op.get("requestBody").map(|b| {
                let b = resolve(b);
                let (media, content) = b["content"].as_object().unwrap().iter().next().unwrap();
                let schema = content["schema"]["$ref"].as_str().unwrap_or("inline").rsplit('/').next().unwrap();
                json!({"required": b.get("required").and_then(Value::as_bool).unwrap_or(false),
                       "media": media.split(';').next().unwrap(), "schema": schema})
            });
            let mut statuses: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            statuses.sort();
            ops.insert(
                op["operationId"].as_str().unwrap().to_string(),
                json!({"route": format!("{} {path}", method.to_uppercase()), "parameters": params, "body": body, "statuses": statuses}),
            );
        }
    }
    ops
}

fn mismatches(source: &BTreeMap<String, Value>, typed: &BTreeMap<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    for (id, spec) in source {
        let Some(code) = typed.get(id) else {
            found.push(format!("{id}: in the spec, not served by the typed layer"));
            continue;
        };
        for field in ["route", "body", "statuses"] {
            if spec[field] != code[field] {
                found.push(format!("{id}: {field}: spec {} vs typed layer {}", spec[field], code[field]));
            }
        }
        let (sp, cp) = (spec["parameters"].as_object().unwrap(), code["parameters"].as_object().unwrap());
        for name in sp.keys().chain(cp.keys()).collect::<std::collections::BTreeSet<_>>() {
            if sp.get(name) != cp.get(name) {
                found.push(format!(
                    "{id}: parameter {name}: spec {:?} vs typed layer {:?}",
                    sp.get(name),
                    cp.get(name)
                ));
            }
        }
    }
    for id in typed.keys().filter(|id| !source.contains_key(*id)) {
        found.push(format!("{id}: served by the typed layer, not in the spec"));
    }
    found
}

#[tokio::test]
async fn the_typed_layer_matches_the_spec() {
    let app = spawn_app().await;
    let typed: Value = serde_json::from_str(&commerce::http::openapi_service(app.handlers.clone()).spec()).unwrap();
    let source = Spec::parse(commerce::spec::SOURCE_YAML).unwrap().doc;

    let found = mismatches(&normalize(&source), &normalize(&typed));

    assert!(found.is_empty(), "the typed layer and openapi/commerce.yaml disagree:\n  {}", found.join("\n  "));
}

#[tokio::test]
async fn the_served_route_table_is_the_spec_s_operations() {
    let app = spawn_app().await;
    let typed: Value = serde_json::from_str(&commerce::http::openapi_service(app.handlers.clone()).spec()).unwrap();
    let routes: BTreeMap<String, Value> =
        normalize(&typed).into_iter().map(|(id, op)| (op["route"].as_str().unwrap().to_string(), json!(id))).collect();
    assert_body_snapshot!("route_table", &routes);
}

#[test]
fn the_drift_check_names_each_kind_of_mismatch() {
    let base = json!({"paths": {"/x/{id}": {"get": {
        "operationId": "getX",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}}],
        "responses": {"200": {}, "404": {}}}}}});
    let mut renamed = base.clone();
    renamed["paths"]["/x/{id}"]["get"]["parameters"][1]["name"] = json!("size");
    let mut tightened = base.clone();
    tightened["paths"]["/x/{id}"]["get"]["parameters"][1]["schema"]["maximum"] = json!(50);
    let mut status_removed = base.clone();
    status_removed["paths"]["/x/{id}"]["get"]["responses"].as_object_mut().unwrap().remove("404");

    assert!(mismatches(&normalize(&base), &normalize(&base)).is_empty());
    let found = mismatches(&normalize(&base), &normalize(&renamed));
    assert!(found.iter().any(|m| m.contains("getX: parameter query limit")), "{found:?}");
    let found = mismatches(&normalize(&base), &normalize(&tightened));
    assert!(found.iter().any(|m| m.contains("getX: parameter query limit") && m.contains("50")), "{found:?}");
    let found = mismatches(&normalize(&base), &normalize(&status_removed));
    assert!(found.iter().any(|m| m.starts_with("getX: statuses")), "{found:?}");
}
