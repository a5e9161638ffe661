//! `tests/fixtures/<Schema>.json`: for every request schema of the spec, payloads that must pass it
//! and payloads that must fail it (with the pointer the failure names). The spec's schemas judge
//! them, and the server refuses every invalid one with a problem pointing at that field.

use std::collections::BTreeSet;

use commerce_spec::{Spec, ref_name};
use serde_json::Value;

use crate::helpers::{Auth, Body, spawn_app};

struct Fixture {
    schema: String,
    operation: String,
    path: Vec<(String, String)>,
    valid: Vec<Value>,
    invalid: Vec<(Value, String)>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let schema = entry.path().file_stem().unwrap().to_string_lossy().to_string();
        let f: Value = serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap();
        all.push(Fixture {
            schema,
            operation: f["operation"].as_str().unwrap().to_string(),
            path: f["path"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect(),
            valid: f["valid"].as_array().unwrap().clone(),
            invalid: f["invalid"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (i["body"].clone(), i["pointer"].as_str().unwrap().to_string()))
                .collect(),
        });
    }
    all.sort_by(|a, b| a.schema.cmp(&b.schema));
    all
}

fn spec() -> Spec {
    Spec::parse(commerce::spec::SOURCE_YAML).unwrap()
}

#[test]
fn every_request_schema_has_fixtures_and_the_spec_judges_them() {
    let spec = spec();
    let operations = spec.operations().unwrap();
    let request_schemas: BTreeSet<String> = operations
        .iter()
        .filter_map(|op| op.request_schema("application/json").and_then(ref_name).map(String::from))
        .collect();
    let fixtures = fixtures();
    assert_eq!(fixtures.iter().map(|f| f.schema.clone()).collect::<BTreeSet<_>>(), request_schemas);

    for f in &fixtures {
        let op = operations.iter().find(|op| op.name == f.operation).expect("a known operation");
        let schema = op.request_schema("application/json").unwrap();
        assert_eq!(ref_name(schema), Some(f.schema.as_str()), "{} takes another schema", f.operation);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&spec.standalone_schema(schema))
            .unwrap();
        for body in &f.valid {
            let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: valid fixture {body} fails: {errors:?}", f.schema);
        }
        for (body, pointer) in &f.invalid {
            assert!(!validator.is_valid(body), "{}: invalid fixture {body} passes", f.schema);
            let at: Vec<String> = validator.iter_errors(body).map(|e| e.instance_path().as_str().to_string()).collect();
            assert!(
                at.iter().any(|p| pointer.starts_with(p.as_str())),
                "{}: {body} fails at {at:?}, the fixture says {pointer}",
                f.schema
            );
        }
    }
}

#[tokio::test]
async fn the_server_refuses_every_invalid_fixture_with_a_pointer() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for f in fixtures() {
        let path: Vec<(&str, &str)> = f.path.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for (body, pointer) in &f.invalid {
            let res = app.call(&f.operation, Auth::Bearer(&token), &path, &[], Some(Body::Json(body.clone()))).await;
            assert_eq!(res.status, 422, "{} {body}: {:#}", f.operation, res.body);
            assert!(
                res.error_locations().contains(pointer),
                "{} {body}: expected {pointer}, got {:?}",
                f.operation,
                res.error_locations()
            );
        }
    }
}
