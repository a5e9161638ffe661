//! Drift between two documents that must describe the same API: the source document, and the one a
//! typed layer (poem-openapi) derives from the generated code. Both are read into the 3.1 shape and
//! compared operation by operation (keyed by method and path): operationId, every parameter (where,
//! required, style, explode, type and constraints), the request body (required, media types, the
//! members of each), and every response (status, media types, headers, the members of each body).
//! Members are compared as the wire sees them: a request leaves out readOnly ones, a response
//! writeOnly ones.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::{Operation, Spec};

/// Every difference between `source` and `typed`, one sentence each (empty: they agree).
pub fn mismatches(source: &Value, typed: &Value) -> Vec<String> {
    let (source, typed) = match (Spec::from_value(source.clone()), Spec::from_value(typed.clone())) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) => return vec![format!("the source document cannot be read: {e}")],
        (_, Err(e)) => return vec![format!("the typed document cannot be read: {e}")],
    };
    let (Ok(source_ops), Ok(typed_ops)) = (source.operations(), typed.operations()) else {
        return vec!["the operations of one of the documents cannot be walked".into()];
    };
    let key = |op: &Operation<'_>| format!("{} {}", op.method.to_uppercase(), op.path);
    let typed_by_route: BTreeMap<String, &Operation<'_>> = typed_ops.iter().map(|op| (key(op), op)).collect();
    let mut found = Vec::new();
    for op in &source_ops {
        let route = key(op);
        let Some(other) = typed_by_route.get(&route) else {
            found.push(format!("{route}: in the source, not served by the typed layer"));
            continue;
        };
        let (a, b) = (describe(&source, op), describe(&typed, other));
        for (field, value) in &a {
            let theirs = b.get(field);
            if theirs != Some(value) {
                found.push(format!(
                    "{route}: {field}: source {} vs typed layer {}",
                    value,
                    theirs.map_or("nothing".to_string(), Value::to_string)
                ));
            }
        }
        for field in b.keys().filter(|f| !a.contains_key(*f)) {
            found.push(format!("{route}: {field}: not in the source, but the typed layer has {}", b[field]));
        }
    }
    let source_routes: BTreeSet<String> = source_ops.iter().map(key).collect();
    for route in typed_by_route.keys().filter(|r| !source_routes.contains(*r)) {
        found.push(format!("{route}: served by the typed layer, not in the source"));
    }
    found
}

/// What both documents must agree on about one operation, as `field -> value`.
fn describe(spec: &Spec, op: &Operation<'_>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    out.insert("operationId".into(), json!(op.operation_id));
    for p in &op.parameters {
        let schema = constraints(spec, p.schema);
        // `explode` changes nothing for a scalar (poem-openapi writes `true` for every parameter).
        let composite = ["array", "object"].iter().any(|t| schema.get("type").is_some_and(|k| k == t));
        let value = json!({
            "required": p.required,
            "style": p.style.name(),
            "explode": if composite { json!(p.explode) } else { Value::Null },
            "schema": schema,
        });
        out.insert(format!("parameter {} {}", p.location, p.name), value);
    }
    if let Some(body) = op.request_body {
        out.insert("requestBody required".into(), json!(op.request_body_required()));
        for (media, item) in body.get("content").and_then(Value::as_object).into_iter().flatten() {
            let members = members(spec, item.get("schema"), "readOnly");
            out.insert(format!("requestBody {}", essence(media)), json!(members));
        }
    }
    for (status, response) in &op.responses {
        out.insert(format!("response {status}"), json!(true));
        for (media, item) in response.get("content").and_then(Value::as_object).into_iter().flatten() {
            let members = members(spec, item.get("schema"), "writeOnly");
            out.insert(format!("response {status} {}", essence(media)), json!(members));
        }
        for (name, header) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
            if name.eq_ignore_ascii_case("content-type") {
                continue;
            }
            let header = spec.resolve(header).unwrap_or(header);
            let required = header.get("required").and_then(Value::as_bool).unwrap_or(false);
            out.insert(
                format!("response {status} header {}", name.to_ascii_lowercase()),
                json!({"required": required}),
            );
        }
    }
    out
}

fn essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// The member names of an object schema as the wire sees them (without those flagged `hidden`);
/// `null` for a schema that is not an object with properties.
fn members(spec: &Spec, schema: Option<&Value>, hidden: &str) -> Value {
    let Some(schema) = schema else { return Value::Null };
    let flat = spec.flatten(crate::non_null_variant(&spec.flatten(schema)));
    let Some(properties) = flat.get("properties").and_then(Value::as_object) else { return Value::Null };
    let names: BTreeSet<&str> = properties
        .iter()
        .filter(|(_, p)| {
            let p = spec.resolve(p).unwrap_or(p);
            p.get(hidden).and_then(Value::as_bool) != Some(true)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    json!(names)
}

/// The type and constraints of a parameter's schema (numbers compared by value).
///
/// What the Rust types cannot say is left to the document's own rules at run time
/// (`commerce_runtime::Validation`), so it is not asked of the typed layer: the widths poem-openapi
/// writes for integers and numbers (`int64`, `double`), formats it has no type for (`email`, `uri`),
/// enums of numbers, and patterns (the generated types leave them to the runtime, which compiles
/// each once: poem-openapi compiles one on every check). Its `naive-date` is the document's `date`.
fn constraints(spec: &Spec, schema: &Value) -> Value {
    let flat = spec.flatten(schema);
    let flat = crate::non_null_variant(&flat);
    let mut out = serde_json::Map::new();
    fn typed_format(format: &str) -> Option<&str> {
        match format {
            "naive-date" => Some("date"),
            "naive-time" => Some("time"),
            "date" | "date-time" | "time" | "uuid" | "ipv4" | "ipv6" | "byte" | "binary" => Some(format),
            _ => None,
        }
    }
    for key in ["type", "format", "minimum", "maximum", "minLength", "maxLength", "enum", "minItems", "maxItems"] {
        if let Some(v) = flat.get(key) {
            if key == "format" {
                if let Some(format) = v.as_str().and_then(typed_format) {
                    out.insert(key.into(), json!(format));
                }
                continue;
            }
            if key == "enum" && !v.as_array().is_some_and(|members| members.iter().all(Value::is_string)) {
                continue;
            }
            let v = match v {
                Value::Number(n) => json!(n.as_f64()),
                Value::Array(items) if key == "type" => {
                    let kinds: Vec<&Value> = items.iter().filter(|t| *t != "null").collect();
                    if let [one] = kinds.as_slice() {
                        (*one).clone()
                    } else {
                        Value::Array(kinds.into_iter().cloned().collect())
                    }
                }
                other => other.clone(),
            };
            out.insert(key.into(), v);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/x/{id}": {"get": {
            "operationId": "getX",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}}],
            "responses": {
                "200": {"description": "ok", "headers": {"ETag": {"required": true, "schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "a": {"type": "string"}, "secret": {"type": "string", "writeOnly": true}}}}}},
                "404": {"description": "no"}}}}}})
    }

    #[test]
    fn agreeing_documents_have_no_mismatch() {
        assert_eq!(mismatches(&base(), &base()), Vec::<String>::new());
        // writeOnly members are not expected in a response.
        let mut without_secret = base();
        without_secret["paths"]["/x/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            ["properties"]
            .as_object_mut()
            .unwrap()
            .remove("secret");
        assert_eq!(mismatches(&base(), &without_secret), Vec::<String>::new());
    }

    #[test]
    fn each_kind_of_drift_is_named() {
        const OP: &str = "/paths/~1x~1{id}/get";
        type Edit = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "parameter query limit",
                Box::new(|d: &mut Value| {
                    d.pointer_mut(&format!("{OP}/parameters/1/name")).map(|v| *v = json!("size")).unwrap()
                }),
            ),
            (
                "parameter query limit",
                Box::new(|d: &mut Value| {
                    d.pointer_mut(&format!("{OP}/parameters/1/schema/maximum")).map(|v| *v = json!(50)).unwrap()
                }),
            ),
            (
                "response 404",
                Box::new(|d: &mut Value| {
                    d.pointer_mut(&format!("{OP}/responses")).unwrap().as_object_mut().unwrap().remove("404");
                }),
            ),
            (
                "response 200 header etag",
                Box::new(|d: &mut Value| {
                    d.pointer_mut(&format!("{OP}/responses/200/headers"))
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove("ETag");
                }),
            ),
            (
                "response 200 application/json",
                Box::new(|d: &mut Value| {
                    d.pointer_mut(&format!("{OP}/responses/200/content/application~1json/schema/properties"))
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove("a");
                }),
            ),
            (
                "response 200 text/csv",
                Box::new(|d: &mut Value| {
                    d.pointer_mut(&format!("{OP}/responses/200/content")).unwrap()["text/csv"] =
                        json!({"schema": {"type": "string"}});
                }),
            ),
            (
                "operationId",
                Box::new(|d: &mut Value| {
                    d.pointer_mut(&format!("{OP}/operationId")).map(|v| *v = json!("fetchX")).unwrap()
                }),
            ),
            (
                "GET /y",
                Box::new(|d: &mut Value| {
                    d["paths"]["/y"] = json!({"get": {"responses": {"200": {"description": "ok"}}}});
                }),
            ),
        ];
        for (expected, edit) in cases {
            let mut typed = base();
            edit(&mut typed);
            let found = mismatches(&base(), &typed);
            assert!(found.iter().any(|m| m.contains(expected)), "{expected}: {found:?}");
        }
    }
}
