//! Reads an OpenAPI 3.1 document as plain JSON and walks it: loading (YAML or JSON), local `$ref`
//! resolution, and the operations with their effective parameters, bodies, responses and security.
//!
//! The document stays a `serde_json::Value` on purpose: typed OpenAPI models drop parts of 3.1
//! (`const`, `{}` schemas, `$defs`), and both the generator and the service need the schemas exactly
//! as written.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

/// The HTTP methods an OpenAPI path item can hold, in the order the generator emits them.
pub const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Why a document could not be read or walked.
#[derive(Debug)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

fn err<T>(message: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError(message.into()))
}

/// An OpenAPI document held as JSON.
#[derive(Debug, Clone)]
pub struct Spec {
    pub doc: Value,
}

/// One operation of the document, with path-level parameters merged in and `$ref`s resolved.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    pub method: &'static str,
    pub path: &'a str,
    pub operation_id: &'a str,
    pub op: &'a Value,
    pub parameters: Vec<Parameter<'a>>,
    /// The resolved request body object, if the operation has one.
    pub request_body: Option<&'a Value>,
    /// `(status, resolved response object)` in document order; `default` is kept as written.
    pub responses: Vec<(&'a str, &'a Value)>,
    /// The effective security requirements: each inner list is one alternative of AND-ed scheme names.
    pub security: Vec<Vec<&'a str>>,
}

/// A resolved parameter object.
#[derive(Debug, Clone)]
pub struct Parameter<'a> {
    pub name: &'a str,
    pub location: &'a str,
    pub required: bool,
    pub schema: &'a Value,
    pub description: Option<&'a str>,
}

impl Spec {
    /// Reads a document from a `.yaml`, `.yml` or `.json` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| SpecError(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| SpecError(format!("{}: {e}", path.display())))
    }

    /// Parses a document from YAML or JSON text (JSON is YAML).
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let doc: Value =
            yaml_serde::from_str(text).map_err(|e| SpecError(format!("not a YAML or JSON document: {e}")))?;
        let version = doc.get("openapi").and_then(Value::as_str).unwrap_or_default();
        if !version.starts_with("3.1") {
            return err(format!("expected an OpenAPI 3.1 document, found openapi: {version:?}"));
        }
        Ok(Self { doc })
    }

    /// Follows a chain of local `$ref`s (`#/components/...`) to the object they name.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> Result<&'a Value, SpecError> {
        for _ in 0..32 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            value = self.pointer(reference)?;
        }
        err("a $ref chain is longer than 32 links (a cycle?)")
    }

    /// The value a local reference such as `#/components/schemas/Product` names.
    pub fn pointer<'a>(&'a self, reference: &str) -> Result<&'a Value, SpecError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return err(format!("only local references are supported, found {reference}"));
        };
        self.doc.pointer(pointer).ok_or_else(|| SpecError(format!("{reference} names nothing in the document")))
    }

    /// `schema` as a standalone JSON Schema (draft 2020-12) that a validator can compile: the
    /// document's `components` sit beside it, so its `#/components/...` references resolve.
    pub fn standalone_schema(&self, schema: &Value) -> Value {
        let mut root = Map::new();
        root.insert("$schema".into(), Value::from("https://json-schema.org/draft/2020-12/schema"));
        root.insert(
            "components".into(),
            self.doc.get("components").cloned().unwrap_or_else(|| Value::Object(Map::new())),
        );
        root.insert("allOf".into(), Value::Array(vec![schema.clone()]));
        Value::Object(root)
    }

    /// `components.schemas` in document order.
    pub fn schemas(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.components("schemas")
    }

    /// One `components` section (`schemas`, `securitySchemes`, ...) in document order.
    pub fn components(&self, section: &str) -> impl Iterator<Item = (&str, &Value)> {
        self.doc
            .pointer(&format!("/components/{section}"))
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|map| map.iter().map(|(k, v)| (k.as_str(), v)))
    }

    /// Every operation, in document order of paths and then [`METHODS`] order.
    pub fn operations(&self) -> Result<Vec<Operation<'_>>, SpecError> {
        static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        let empty: &'static Map<String, Value> = &EMPTY;
        let paths = self.doc.get("paths").and_then(Value::as_object).unwrap_or(empty);
        let global_security = self.doc.get("security");
        let mut out = Vec::new();
        for (path, item) in paths {
            let item = self.resolve(item)?;
            let shared = item.get("parameters").and_then(Value::as_array);
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let Some(operation_id) = op.get("operationId").and_then(Value::as_str) else {
                    return err(format!("{} {path} has no operationId", method.to_uppercase()));
                };
                let mut parameters: Vec<Parameter<'_>> = Vec::new();
                for raw in shared
                    .into_iter()
                    .flatten()
                    .chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten())
                {
                    let p = self.parameter(raw).map_err(|e| SpecError(format!("{operation_id}: {e}")))?;
                    // An operation-level parameter overrides a path-level one of the same name and location.
                    parameters.retain(|q| !(q.name == p.name && q.location == p.location));
                    parameters.push(p);
                }
                let request_body = op.get("requestBody").map(|b| self.resolve(b)).transpose()?;
                let mut responses = Vec::new();
                for (status, response) in op.get("responses").and_then(Value::as_object).unwrap_or(empty) {
                    responses.push((status.as_str(), self.resolve(response)?));
                }
                let security = op
                    .get("security")
                    .or(global_security)
                    .and_then(Value::as_array)
                    .map(|alternatives| {
                        alternatives
                            .iter()
                            .filter_map(Value::as_object)
                            .map(|req| req.keys().map(String::as_str).collect())
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Operation { method, path, operation_id, op, parameters, request_body, responses, security });
            }
        }
        Ok(out)
    }

    fn parameter<'a>(&'a self, raw: &'a Value) -> Result<Parameter<'a>, SpecError> {
        let p = self.resolve(raw)?;
        let field = |name: &str| p.get(name).and_then(Value::as_str);
        let (Some(name), Some(location)) = (field("name"), field("in")) else {
            return err("a parameter lacks `name` or `in`");
        };
        let Some(schema) = p.get("schema") else {
            return err(format!("parameter {name} has no schema (content-typed parameters are not supported)"));
        };
        Ok(Parameter {
            name,
            location,
            required: location == "path" || p.get("required").and_then(Value::as_bool).unwrap_or(false),
            schema,
            description: field("description"),
        })
    }
}

impl Operation<'_> {
    /// The schema of the request body for `media_type`, if documented.
    pub fn request_schema(&self, media_type: &str) -> Option<&Value> {
        self.request_body?.get("content")?.get(media_type)?.get("schema")
    }

    /// Whether the request body must be present.
    pub fn request_body_required(&self) -> bool {
        self.request_body.and_then(|b| b.get("required")).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// Whether a schema allows `null` under OpenAPI 3.1 rules: `type: [..., "null"]`, `const: null`, or
/// a `oneOf`/`anyOf` alternative that is `{type: "null"}`.
pub fn is_nullable(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::Array(types)) if types.iter().any(|t| t == "null") => return true,
        Some(Value::String(t)) if t == "null" => return true,
        _ => {}
    }
    if schema.get("const") == Some(&Value::Null) && schema.get("const").is_some() {
        return true;
    }
    ["oneOf", "anyOf"].iter().any(|k| {
        schema
            .get(*k)
            .and_then(Value::as_array)
            .is_some_and(|alts| alts.iter().any(|a| a.get("type") == Some(&Value::from("null"))))
    })
}

/// The non-null type of a schema: `type: [string, "null"]` -> `string`.
pub fn primary_type(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(types) => types.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// A schema with the `null` alternative of a nullable `oneOf`/`anyOf` removed, when exactly one other
/// alternative remains; otherwise the schema itself.
pub fn non_null_variant(schema: &Value) -> &Value {
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let rest: Vec<&Value> = alts.iter().filter(|a| a.get("type") != Some(&Value::from("null"))).collect();
            if rest.len() == 1 && rest.len() < alts.len() {
                return rest[0];
            }
        }
    }
    schema
}

/// A parameter's text read as the JSON value a server sees, given the types its schema admits: a
/// number where a number is admitted, a boolean where one is, otherwise the text itself. (`"5"` sent
/// for an integer parameter is 5; `"five"` stays a string, for the schema to refuse.)
pub fn read_parameter(types: &[&str], text: &str) -> Value {
    if types.iter().any(|t| *t == "integer" || *t == "number") {
        if let Ok(i) = text.parse::<i64>() {
            return Value::from(i);
        }
        if let Some(n) = text.parse::<f64>().ok().filter(|f| f.is_finite()).and_then(serde_json::Number::from_f64) {
            return Value::Number(n);
        }
    }
    if types.contains(&"boolean") && (text == "true" || text == "false") {
        return Value::Bool(text == "true");
    }
    Value::String(text.to_string())
}

/// The component name a `$ref` points at: `#/components/schemas/Product` -> `Product`.
pub fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.rsplit('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PETS: &str = r##"
openapi: 3.1.0
info: {title: Pets, version: "1"}
security: [{key: []}]
paths:
  /pets/{petId}:
    parameters:
      - {name: petId, in: path, required: true, schema: {type: string}}
    get:
      operationId: getPet
      parameters:
        - $ref: '#/components/parameters/Verbose'
      responses:
        '200': {$ref: '#/components/responses/Pet'}
    delete:
      operationId: deletePet
      security: []
      responses:
        '204': {description: gone}
components:
  parameters:
    Verbose: {name: verbose, in: query, schema: {type: boolean}}
  responses:
    Pet: {description: a pet}
"##;

    #[test]
    fn operations_merge_path_parameters_and_resolve_refs() {
        let spec = Spec::parse(PETS).unwrap();
        let ops = spec.operations().unwrap();
        assert_eq!(ops.iter().map(|o| o.operation_id).collect::<Vec<_>>(), ["getPet", "deletePet"]);
        let get = &ops[0];
        assert_eq!(
            get.parameters.iter().map(|p| (p.name, p.location, p.required)).collect::<Vec<_>>(),
            [("petId", "path", true), ("verbose", "query", false)]
        );
        assert_eq!(get.responses[0].1["description"], "a pet");
        assert_eq!(get.security, vec![vec!["key"]]);
        assert!(ops[1].security.is_empty(), "an empty operation-level security overrides the global one");
    }

    #[test]
    fn rejects_documents_that_are_not_openapi_3_1() {
        let e = Spec::parse("openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {}").unwrap_err();
        assert!(e.0.contains("3.1"), "{e}");
    }

    #[test]
    fn nullability_follows_openapi_3_1_forms() {
        let schema = |s: &str| -> Value { yaml_serde::from_str(s).unwrap() };
        assert!(is_nullable(&schema("type: [string, 'null']")));
        assert!(is_nullable(&schema("oneOf: [{$ref: '#/x'}, {type: 'null'}]")));
        assert!(!is_nullable(&schema("type: string")));
        assert_eq!(primary_type(&schema("type: ['null', integer]")), Some("integer"));
        assert_eq!(
            ref_name(non_null_variant(&schema("oneOf: [{$ref: '#/c/s/Address'}, {type: 'null'}]"))),
            Some("Address")
        );
    }
}
