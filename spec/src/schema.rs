//! Reading JSON Schemas the way every consumer of the document needs: `$ref`s followed and `allOf`
//! merged into one schema ([`flatten`]), and the JSON types a schema admits ([`types`]).

use serde_json::{Map, Value, json};

use crate::Spec;

/// `schema` with `$ref`s followed and `allOf` merged into one schema. Keywords beside a `$ref`
/// (allowed in 3.1) apply together with its target, as if both were in an `allOf`.
pub fn flatten(spec: &Spec, schema: &Value) -> Value {
    flatten_at(spec, schema, 0)
}

fn flatten_at(spec: &Spec, schema: &Value, depth: usize) -> Value {
    if depth > 8 {
        return spec.resolve(schema).unwrap_or(schema).clone();
    }
    let siblings = schema
        .as_object()
        .filter(|m| m.contains_key("$ref") && m.keys().any(|k| k != "$ref" && !ANNOTATIONS.contains(&k.as_str())));
    let owned;
    let resolved = match siblings {
        Some(map) => {
            let mut rest = map.clone();
            let reference = rest.remove("$ref").expect("checked");
            let mut parts = vec![json!({"$ref": reference})];
            if let Some(Value::Array(more)) = rest.remove("allOf") {
                parts.extend(more);
            }
            rest.insert("allOf".into(), Value::Array(parts));
            owned = Value::Object(rest);
            &owned
        }
        None => spec.resolve(schema).unwrap_or(schema),
    };
    let Some(parts) = resolved.get("allOf").and_then(Value::as_array) else {
        return resolved.clone();
    };
    let mut merged = Map::new();
    let own: Map<String, Value> = resolved
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "allOf")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for part in parts.iter().map(|p| flatten_at(spec, p, depth + 1)).chain([Value::Object(own)]) {
        for (key, value) in part.as_object().into_iter().flatten() {
            match (key.as_str(), merged.get_mut(key)) {
                ("properties", Some(Value::Object(props))) => {
                    props.extend(value.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
                }
                ("required", Some(Value::Array(required))) => {
                    for name in value.as_array().into_iter().flatten() {
                        if !required.contains(name) {
                            required.push(name.clone());
                        }
                    }
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Value::Object(merged)
}

/// Keywords that only annotate a schema.
const ANNOTATIONS: [&str; 7] = ["description", "title", "deprecated", "readOnly", "writeOnly", "examples", "$comment"];

/// The JSON types a (flattened) schema admits, inferred from its keywords when `type` is absent.
pub fn types(schema: &Value) -> Vec<&'static str> {
    const NAMES: [&str; 7] = ["string", "integer", "number", "boolean", "null", "array", "object"];
    let named = |t: &str| NAMES.iter().copied().find(|n| *n == t);
    match schema.get("type") {
        Some(Value::String(t)) => named(t).into_iter().collect(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter_map(named).collect(),
        _ if schema.get("properties").is_some() || schema.get("required").is_some() => vec!["object"],
        _ if schema.get("items").is_some() => vec!["array"],
        _ if ["minLength", "maxLength", "pattern", "format"].iter().any(|k| schema.get(*k).is_some()) => vec!["string"],
        _ if ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]
            .iter()
            .any(|k| schema.get(*k).is_some()) =>
        {
            vec!["number"]
        }
        _ if schema
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|m| !m.is_empty() && m.iter().all(Value::is_string)) =>
        {
            vec!["string"]
        }
        _ => vec![],
    }
}

/// The document as one side of the wire sees it: every `required` list without the members flagged
/// `flag` (`readOnly` for requests, `writeOnly` for responses). OpenAPI: a required readOnly
/// property is required of responses only, a required writeOnly one of requests only.
pub fn without_required(doc: &Value, flag: &str) -> Value {
    let mut out = doc.clone();
    strip_required(doc, &mut out, flag, 0);
    out
}

fn strip_required(doc: &Value, node: &mut Value, flag: &str, depth: usize) {
    if depth > 64 {
        return;
    }
    match node {
        Value::Object(map) => {
            if map.contains_key("required") {
                let flagged = flagged_members(doc, &Value::Object(map.clone()), flag, 0);
                if let Some(Value::Array(required)) = map.get_mut("required") {
                    required.retain(|name| !name.as_str().is_some_and(|n| flagged.contains(&n.to_string())));
                }
            }
            for child in map.values_mut() {
                strip_required(doc, child, flag, depth + 1);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| strip_required(doc, item, flag, depth + 1)),
        _ => {}
    }
}

/// The member names an object schema (with its `allOf` parts) flags `flag`.
fn flagged_members(doc: &Value, schema: &Value, flag: &str, depth: usize) -> Vec<String> {
    let resolve = |v: &Value| -> Value {
        let mut v = v.clone();
        for _ in 0..8 {
            let Some(target) = v.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) else { break };
            v = doc.pointer(target).cloned().unwrap_or(Value::Null);
        }
        v
    };
    let mut names = Vec::new();
    if depth > 8 {
        return names;
    }
    for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
        if property.get(flag) == Some(&Value::Bool(true)) || resolve(property).get(flag) == Some(&Value::Bool(true)) {
            names.push(name.clone());
        }
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        names.extend(flagged_members(doc, &resolve(part), flag, depth + 1));
    }
    names
}
