//! One internal model for every version: a Swagger 2.0 document is converted to OpenAPI 3.0, and a
//! 3.0 document to 3.1, before anything else reads it. Only what differs between the versions is
//! rewritten; every other part of the document is kept as written, so JSON pointers into a 3.x
//! document stay the same.
//!
//! 3.0 -> 3.1 changes Schema Objects only (`nullable`, boolean `exclusiveMinimum`/`Maximum`,
//! `example`, siblings of `$ref`). Swagger 2.0 -> 3.0 moves `definitions`, `parameters`,
//! `responses` and `securityDefinitions` into `components`; turns `body` and `formData` parameters
//! into request bodies of the `consumes` media types; response schemas into `content` of the
//! `produces` ones; `collectionFormat` into `style`/`explode`; and `host`/`basePath` into `servers`.
//! A construct that has no faithful translation is refused, naming its JSON pointer.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::SpecError;
use crate::load::escape;

/// The version a document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Swagger2,
    OpenApi30,
    OpenApi31,
    /// Read as 3.1; its new constructs are refused where they appear.
    OpenApi32,
}

impl Version {
    pub fn label(self) -> &'static str {
        match self {
            Version::Swagger2 => "Swagger 2.0",
            Version::OpenApi30 => "OpenAPI 3.0",
            Version::OpenApi31 => "OpenAPI 3.1",
            Version::OpenApi32 => "OpenAPI 3.2",
        }
    }
}

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        // `openapi: 3.0` unquoted in YAML is a number.
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Which version `doc` declares.
pub fn version(doc: &Value) -> Result<Version, SpecError> {
    if let Some(swagger) = text_of(doc.get("swagger")) {
        return match swagger.as_str() {
            "2.0" | "2" => Ok(Version::Swagger2),
            other => Err(SpecError(format!("/swagger: {other:?} is not a supported version (2.0 is)"))),
        };
    }
    let Some(openapi) = text_of(doc.get("openapi")) else {
        return Err(SpecError(
            "/: neither `openapi` nor `swagger` is set: this is not an OpenAPI or Swagger document".into(),
        ));
    };
    let mut parts = openapi.split('.');
    match (parts.next(), parts.next()) {
        (Some("3"), Some("0")) => Ok(Version::OpenApi30),
        (Some("3"), Some("1")) => Ok(Version::OpenApi31),
        (Some("3"), Some("2")) => Ok(Version::OpenApi32),
        _ => Err(SpecError(format!(
            "/openapi: {openapi:?} is not a supported version (Swagger 2.0 and OpenAPI 3.0, 3.1 and 3.2 are)"
        ))),
    }
}

/// `doc` in the OpenAPI 3.1 shape, and the version it was written in.
pub fn normalize(doc: Value) -> Result<(Value, Version), SpecError> {
    if !doc.is_object() {
        return Err(SpecError("/: the document is not an object".into()));
    }
    let version = version(&doc)?;
    let doc = match version {
        Version::Swagger2 => from_openapi30(from_swagger2(doc)?)?,
        Version::OpenApi30 => from_openapi30(doc)?,
        Version::OpenApi31 | Version::OpenApi32 => doc,
    };
    Ok((doc, version))
}

// ---------------------------------------------------------------------------------------------
// OpenAPI 3.0 -> 3.1

/// The kinds of object that hold schemas, to walk a document by its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Schema,
    Parameter,
    RequestBody,
    Response,
    Header,
    MediaType,
    PathItem,
    Callback,
}

const OPERATION_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn from_openapi30(mut doc: Value) -> Result<Value, SpecError> {
    doc["openapi"] = Value::from("3.1.0");
    let mut work: Vec<(String, Kind)> = Vec::new();
    let sections = [
        ("schemas", Kind::Schema),
        ("parameters", Kind::Parameter),
        ("requestBodies", Kind::RequestBody),
        ("responses", Kind::Response),
        ("headers", Kind::Header),
        ("callbacks", Kind::Callback),
        ("pathItems", Kind::PathItem),
    ];
    for (section, kind) in sections {
        for name in keys(&doc, &format!("/components/{section}")) {
            work.push((format!("/components/{section}/{}", escape(&name)), kind));
        }
    }
    for path in keys(&doc, "/paths") {
        work.push((format!("/paths/{}", escape(&path)), Kind::PathItem));
    }
    let mut seen = HashSet::new();
    while let Some((at, kind)) = work.pop() {
        if !seen.insert((at.clone(), kind)) {
            continue;
        }
        let Some(value) = doc.pointer_mut(&at) else { continue };
        let Some(object) = value.as_object_mut() else { continue };
        if kind == Kind::Schema {
            convert_schema(object, &at, &mut work);
            continue;
        }
        if let Some(Value::String(reference)) = object.get("$ref") {
            if let Some(target) = reference.strip_prefix('#') {
                work.push((target.to_string(), kind));
            }
            continue;
        }
        let child = |key: &str| format!("{at}/{}", escape(key));
        let push_map = |object: &Map<String, Value>, key: &str, kind: Kind, work: &mut Vec<(String, Kind)>| {
            for name in object.get(key).and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                work.push((format!("{}/{}", child(key), escape(name)), kind));
            }
        };
        match kind {
            Kind::Parameter | Kind::Header => {
                if object.contains_key("schema") {
                    work.push((child("schema"), Kind::Schema));
                }
                push_map(object, "content", Kind::MediaType, &mut work);
            }
            Kind::RequestBody => push_map(object, "content", Kind::MediaType, &mut work),
            Kind::Response => {
                push_map(object, "content", Kind::MediaType, &mut work);
                push_map(object, "headers", Kind::Header, &mut work);
            }
            Kind::MediaType => {
                if object.contains_key("schema") {
                    work.push((child("schema"), Kind::Schema));
                }
                for (name, encoding) in object.get("encoding").and_then(Value::as_object).into_iter().flatten() {
                    for header in encoding.get("headers").and_then(Value::as_object).into_iter().flat_map(|m| m.keys())
                    {
                        work.push((
                            format!("{}/{}/headers/{}", child("encoding"), escape(name), escape(header)),
                            Kind::Header,
                        ));
                    }
                }
            }
            Kind::Callback => {
                for expression in object.keys() {
                    work.push((child(expression), Kind::PathItem));
                }
            }
            Kind::PathItem => {
                for (i, _) in object.get("parameters").and_then(Value::as_array).into_iter().flatten().enumerate() {
                    work.push((format!("{}/{i}", child("parameters")), Kind::Parameter));
                }
                for method in OPERATION_METHODS {
                    let Some(op) = object.get(method) else { continue };
                    let op_at = child(method);
                    for (i, _) in op.get("parameters").and_then(Value::as_array).into_iter().flatten().enumerate() {
                        work.push((format!("{op_at}/parameters/{i}"), Kind::Parameter));
                    }
                    if op.get("requestBody").is_some() {
                        work.push((format!("{op_at}/requestBody"), Kind::RequestBody));
                    }
                    for status in op.get("responses").and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                        work.push((format!("{op_at}/responses/{}", escape(status)), Kind::Response));
                    }
                    for name in op.get("callbacks").and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
                        work.push((format!("{op_at}/callbacks/{}", escape(name)), Kind::Callback));
                    }
                }
            }
            Kind::Schema => unreachable!("handled above"),
        }
    }
    Ok(doc)
}

fn keys(doc: &Value, at: &str) -> Vec<String> {
    doc.pointer(at).and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

/// Keywords that annotate and may stay beside a `$ref`.
const ANNOTATIONS: [&str; 5] = ["description", "title", "deprecated", "readOnly", "writeOnly"];

/// One 3.0 Schema Object (and, through `work`, its subschemas) rewritten as JSON Schema 2020-12.
fn convert_schema(schema: &mut Map<String, Value>, at: &str, work: &mut Vec<(String, Kind)>) {
    if let Some(Value::Bool(true)) = schema.remove("x-nullable") {
        schema.insert("nullable".into(), Value::Bool(true));
    }
    if let Some(Value::String(reference)) = schema.get("$ref") {
        // 3.0 ignores a $ref's siblings; `nullable` beside one is honoured, as tools commonly do.
        if let Some(target) = reference.strip_prefix('#') {
            work.push((target.to_string(), Kind::Schema));
        }
        let nullable = schema.get("nullable") == Some(&Value::Bool(true));
        let reference = Value::String(reference.clone());
        schema.retain(|k, _| k == "$ref" || ANNOTATIONS.contains(&k.as_str()));
        if nullable {
            schema.remove("$ref");
            schema.insert("anyOf".into(), json!([{"$ref": reference}, {"type": "null"}]));
        }
        return;
    }
    if schema.get("type") == Some(&Value::from("file")) {
        schema.insert("type".into(), Value::from("string"));
        schema.insert("format".into(), Value::from("binary"));
    }
    if let Some(Value::String(property)) = schema.get("discriminator") {
        let property = property.clone();
        schema.insert("discriminator".into(), json!({"propertyName": property}));
    }
    for (bound, exclusive) in [("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")] {
        match schema.get(exclusive) {
            Some(Value::Bool(true)) => match schema.remove(bound) {
                Some(limit) => {
                    schema.insert(exclusive.into(), limit);
                }
                None => {
                    schema.remove(exclusive);
                }
            },
            Some(Value::Bool(false)) => {
                schema.remove(exclusive);
            }
            _ => {}
        }
    }
    if let Some(example) = schema.remove("example")
        && !schema.contains_key("examples")
    {
        schema.insert("examples".into(), Value::Array(vec![example]));
    }
    // A 3.0 `items` may only be a schema; an array there is draft-04 tuple validation.
    if let Some(Value::Array(_)) = schema.get("items") {
        let tuple = schema.remove("items").expect("checked");
        schema.insert("prefixItems".into(), tuple);
    }
    for key in ["items", "additionalProperties", "not", "contains", "propertyNames"] {
        if schema.get(key).is_some_and(Value::is_object) {
            work.push((format!("{at}/{key}"), Kind::Schema));
        }
    }
    for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
        for (i, _) in schema.get(key).and_then(Value::as_array).into_iter().flatten().enumerate() {
            work.push((format!("{at}/{key}/{i}"), Kind::Schema));
        }
    }
    for key in ["properties", "patternProperties"] {
        for name in schema.get(key).and_then(Value::as_object).into_iter().flat_map(|m| m.keys()) {
            work.push((format!("{at}/{key}/{}", escape(name)), Kind::Schema));
        }
    }
    if schema.remove("nullable") == Some(Value::Bool(true)) {
        match schema.get_mut("type") {
            Some(Value::String(t)) => {
                let t = t.clone();
                schema.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) => {
                if !types.contains(&Value::from("null")) {
                    types.push(Value::from("null"));
                }
            }
            _ => {
                // Without `type`, null is admitted beside whatever the schema admits.
                let inner = std::mem::take(schema);
                let (annotations, rest): (Map<String, Value>, Map<String, Value>) =
                    inner.into_iter().partition(|(k, _)| ANNOTATIONS.contains(&k.as_str()));
                *schema = annotations;
                schema.insert("anyOf".into(), json!([Value::Object(rest), {"type": "null"}]));
                // The moved subschemas were queued under their old pointers: queue the new ones too.
                work.push((format!("{at}/anyOf/0"), Kind::Schema));
                return;
            }
        }
        if let Some(Value::Array(members)) = schema.get_mut("enum")
            && !members.contains(&Value::Null)
        {
            members.push(Value::Null);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Swagger 2.0 -> OpenAPI 3.0

/// Keywords of a non-body 2.0 parameter (or of its `items`) that belong in its schema.
const PARAMETER_SCHEMA_KEYS: [&str; 18] = [
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
    "x-nullable",
    "example",
];

struct Swagger<'a> {
    doc: &'a Value,
}

fn sw_err<T>(at: &str, message: impl std::fmt::Display) -> Result<T, SpecError> {
    Err(SpecError(format!("{at}: {message} (Swagger 2.0)")))
}

impl Swagger<'_> {
    /// A `$ref` followed, for parameters and responses (which are inlined), with the pointer reached.
    fn follow(&self, value: &Value, at: &str) -> Result<(Value, String), SpecError> {
        let mut current = value.clone();
        let mut here = at.to_string();
        for _ in 0..32 {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else { return Ok((current, here)) };
            let Some(pointer) = reference.strip_prefix('#') else {
                return sw_err(&here, format!("the reference {reference} is not local"));
            };
            here = pointer.to_string();
            current = match self.doc.pointer(pointer) {
                Some(v) => v.clone(),
                None => return sw_err(at, format!("{reference} names nothing in the document")),
            };
        }
        sw_err(at, "a $ref chain is longer than 32 links (a cycle?)")
    }

    /// The schema of a non-body parameter, header or `items` object.
    fn simple_schema(&self, p: &Map<String, Value>, at: &str) -> Result<Value, SpecError> {
        let mut schema = Map::new();
        for key in PARAMETER_SCHEMA_KEYS {
            if let Some(value) = p.get(key) {
                schema.insert(key.into(), value.clone());
            }
        }
        if let Some(items) = p.get("items") {
            let Some(items) = items.as_object() else {
                return sw_err(&format!("{at}/items"), "items is not an object");
            };
            if items.get("type") == Some(&Value::from("array")) && items.contains_key("collectionFormat") {
                let format = items["collectionFormat"].as_str().unwrap_or_default();
                if format != "csv" {
                    return sw_err(
                        &format!("{at}/items/collectionFormat"),
                        format!("nested arrays in collectionFormat {format} have no OpenAPI 3 serialization"),
                    );
                }
            }
            schema.insert("items".into(), self.simple_schema(items, &format!("{at}/items"))?);
        }
        Ok(Value::Object(schema))
    }

    /// `collectionFormat` as OpenAPI 3 `style` and `explode`, for a parameter in `location`.
    fn style(p: &Map<String, Value>, location: &str, at: &str) -> Result<Option<(&'static str, bool)>, SpecError> {
        if p.get("type") != Some(&Value::from("array")) {
            return Ok(None);
        }
        let format = p.get("collectionFormat").and_then(Value::as_str).unwrap_or("csv");
        let form_like = matches!(location, "query" | "formData" | "cookie");
        Ok(Some(match (format, form_like) {
            ("csv", true) => ("form", false),
            ("csv", false) => ("simple", false),
            ("multi", true) => ("form", true),
            ("ssv", true) => ("spaceDelimited", false),
            ("pipes", true) => ("pipeDelimited", false),
            (other, _) => {
                return sw_err(
                    &format!("{at}/collectionFormat"),
                    format!("collectionFormat {other} in {location} has no OpenAPI 3 serialization"),
                );
            }
        }))
    }

    fn convert(&self) -> Result<Value, SpecError> {
        let doc = self.doc.as_object().expect("checked by normalize");
        let mut out = Map::new();
        out.insert("openapi".into(), Value::from("3.0.3"));
        for (key, value) in doc {
            if key.starts_with("x-") || matches!(key.as_str(), "info" | "tags" | "externalDocs" | "security") {
                out.insert(key.clone(), value.clone());
            }
        }
        let base_path = doc.get("basePath").and_then(Value::as_str).unwrap_or("");
        let servers: Vec<Value> = match doc.get("host").and_then(Value::as_str) {
            Some(host) => {
                let schemes: Vec<&str> = doc
                    .get("schemes")
                    .and_then(Value::as_array)
                    .map(|s| s.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_else(|| vec!["https"]);
                schemes.iter().map(|s| json!({"url": format!("{s}://{host}{base_path}")})).collect()
            }
            None if !base_path.is_empty() => vec![json!({"url": base_path})],
            None => vec![],
        };
        if !servers.is_empty() {
            out.insert("servers".into(), Value::Array(servers));
        }
        let global_consumes = media_list(doc.get("consumes"));
        let global_produces = media_list(doc.get("produces"));
        let mut components = Map::new();
        if let Some(definitions) = doc.get("definitions") {
            components.insert("schemas".into(), definitions.clone());
        }
        let mut responses = Map::new();
        for (name, response) in doc.get("responses").and_then(Value::as_object).into_iter().flatten() {
            let at = format!("/responses/{}", escape(name));
            responses.insert(name.clone(), self.response(response, &at, &global_produces)?);
        }
        if !responses.is_empty() {
            components.insert("responses".into(), Value::Object(responses));
        }
        let mut schemes = Map::new();
        for (name, scheme) in doc.get("securityDefinitions").and_then(Value::as_object).into_iter().flatten() {
            let at = format!("/securityDefinitions/{}", escape(name));
            schemes.insert(name.clone(), security_scheme(scheme, &at)?);
        }
        if !schemes.is_empty() {
            components.insert("securitySchemes".into(), Value::Object(schemes));
        }
        if !components.is_empty() {
            out.insert("components".into(), Value::Object(components));
        }
        let mut paths = Map::new();
        for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
            if path.starts_with("x-") {
                paths.insert(path.clone(), item.clone());
                continue;
            }
            let at = format!("/paths/{}", escape(path));
            let (item, item_at) = self.follow(item, &at)?;
            let shared: Vec<Value> = item.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut converted = Map::new();
            for (key, value) in item.as_object().into_iter().flatten() {
                let op_at = format!("{item_at}/{key}");
                if OPERATION_METHODS.contains(&key.as_str()) {
                    let op = self.operation(value, &op_at, &shared, &global_consumes, &global_produces)?;
                    converted.insert(key.clone(), op);
                } else if key.starts_with("x-") || key == "summary" || key == "description" {
                    converted.insert(key.clone(), value.clone());
                }
            }
            paths.insert(path.clone(), Value::Object(converted));
        }
        out.insert("paths".into(), Value::Object(paths));
        if let Some(bundled) = doc.get(crate::load::BUNDLED) {
            out.insert(crate::load::BUNDLED.into(), bundled.clone());
        }
        let mut out = Value::Object(out);
        rename_refs(&mut out);
        Ok(out)
    }

    fn operation(
        &self,
        op: &Value,
        at: &str,
        shared: &[Value],
        global_consumes: &[String],
        global_produces: &[String],
    ) -> Result<Value, SpecError> {
        let Some(op_map) = op.as_object() else { return sw_err(at, "an operation is not an object") };
        let consumes = op.get("consumes").map_or_else(|| global_consumes.to_vec(), |c| media_list(Some(c)));
        let produces = op.get("produces").map_or_else(|| global_produces.to_vec(), |p| media_list(Some(p)));
        let mut out = Map::new();
        for (key, value) in op_map {
            if key.starts_with("x-")
                || matches!(
                    key.as_str(),
                    "tags" | "summary" | "description" | "externalDocs" | "operationId" | "deprecated" | "security"
                )
            {
                out.insert(key.clone(), value.clone());
            }
        }
        // Path-level parameters, overridden by operation-level ones of the same name and location.
        let mut params: Vec<(Value, String)> = Vec::new();
        let own = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
        let path_at = at.rsplit_once('/').map_or(at, |(p, _)| p);
        for (list, list_at) in [(shared, format!("{path_at}/parameters")), (own.as_slice(), format!("{at}/parameters"))]
        {
            for (i, raw) in list.iter().enumerate() {
                let (p, p_at) = self.follow(raw, &format!("{list_at}/{i}"))?;
                let key = |v: &Value| (v.get("name").cloned(), v.get("in").cloned());
                params.retain(|(q, _)| key(q) != key(&p));
                params.push((p, p_at));
            }
        }
        let mut parameters = Vec::new();
        let mut form = Map::new();
        let mut form_required = Vec::new();
        let mut form_encoding = Map::new();
        let mut has_file = false;
        let mut request_body = None;
        for (p, p_at) in &params {
            let Some(map) = p.as_object() else { return sw_err(p_at, "a parameter is not an object") };
            let location = map.get("in").and_then(Value::as_str).unwrap_or_default();
            let name = map.get("name").and_then(Value::as_str).unwrap_or_default();
            match location {
                "body" => {
                    let schema = map.get("schema").cloned().unwrap_or(json!({}));
                    let media =
                        if consumes.is_empty() { vec!["application/json".to_string()] } else { consumes.clone() };
                    let content: Map<String, Value> =
                        media.iter().map(|m| (m.clone(), json!({"schema": schema.clone()}))).collect();
                    let mut body = json!({"content": content});
                    if let Some(d) = map.get("description") {
                        body["description"] = d.clone();
                    }
                    if map.get("required") == Some(&Value::Bool(true)) {
                        body["required"] = Value::Bool(true);
                    }
                    request_body = Some(body);
                }
                "formData" => {
                    let mut schema = self.simple_schema(map, p_at)?;
                    if schema.get("format") == Some(&Value::from("binary")) || map.get("type") == Some(&"file".into()) {
                        has_file = true;
                    }
                    if let Some(d) = map.get("description") {
                        schema["description"] = d.clone();
                    }
                    if let Some((style, explode)) = Self::style(map, "formData", p_at)? {
                        form_encoding.insert(name.to_string(), json!({"style": style, "explode": explode}));
                    }
                    if map.get("required") == Some(&Value::Bool(true)) {
                        form_required.push(Value::from(name));
                    }
                    form.insert(name.to_string(), schema);
                }
                "query" | "header" | "path" => {
                    let mut out_p = Map::new();
                    for key in ["name", "in", "description", "required", "allowEmptyValue", "deprecated"] {
                        if let Some(v) = map.get(key) {
                            out_p.insert(key.into(), v.clone());
                        }
                    }
                    for (key, value) in map.iter().filter(|(k, _)| k.starts_with("x-") && *k != "x-nullable") {
                        out_p.insert(key.clone(), value.clone());
                    }
                    out_p.insert("schema".into(), self.simple_schema(map, p_at)?);
                    if let Some((style, explode)) = Self::style(map, location, p_at)? {
                        out_p.insert("style".into(), Value::from(style));
                        out_p.insert("explode".into(), Value::Bool(explode));
                    }
                    parameters.push(Value::Object(out_p));
                }
                other => return sw_err(&format!("{p_at}/in"), format!("{other:?} is not a parameter location")),
            }
        }
        if !form.is_empty() {
            if request_body.is_some() {
                return sw_err(at, "an operation has both a body and formData parameters");
            }
            let mut schema = json!({"type": "object", "properties": form});
            if !form_required.is_empty() {
                schema["required"] = Value::Array(form_required.clone());
            }
            let mut media: Vec<String> = consumes
                .iter()
                .filter(|m| {
                    let m = m.to_ascii_lowercase();
                    m.starts_with("multipart/form-data") || m.starts_with("application/x-www-form-urlencoded")
                })
                .cloned()
                .collect();
            if has_file {
                media.retain(|m| m.to_ascii_lowercase().starts_with("multipart/"));
            }
            if media.is_empty() {
                media.push(if has_file { "multipart/form-data" } else { "application/x-www-form-urlencoded" }.into());
            }
            let content: Map<String, Value> = media
                .iter()
                .map(|m| {
                    let mut media_object = json!({"schema": schema.clone()});
                    if !form_encoding.is_empty()
                        && m.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
                    {
                        media_object["encoding"] = Value::Object(form_encoding.clone());
                    }
                    (m.clone(), media_object)
                })
                .collect();
            let mut body = json!({"content": content});
            if !form_required.is_empty() {
                body["required"] = Value::Bool(true);
            }
            request_body = Some(body);
        }
        if !parameters.is_empty() {
            out.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(body) = request_body {
            out.insert("requestBody".into(), body);
        }
        let mut responses = Map::new();
        for (status, response) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
            if status.starts_with("x-") {
                continue;
            }
            let r_at = format!("{at}/responses/{}", escape(status));
            if response.get("$ref").is_some() {
                responses.insert(status.clone(), response.clone());
            } else {
                responses.insert(status.clone(), self.response(response, &r_at, &produces)?);
            }
        }
        out.insert("responses".into(), Value::Object(responses));
        Ok(Value::Object(out))
    }

    fn response(&self, response: &Value, at: &str, produces: &[String]) -> Result<Value, SpecError> {
        let Some(map) = response.as_object() else { return sw_err(at, "a response is not an object") };
        let mut out = Map::new();
        out.insert("description".into(), map.get("description").cloned().unwrap_or(Value::from("")));
        for (key, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
            out.insert(key.clone(), value.clone());
        }
        let examples = map.get("examples").and_then(Value::as_object);
        let media: Vec<String> = if produces.is_empty() { vec!["application/json".into()] } else { produces.to_vec() };
        if map.contains_key("schema") || examples.is_some() {
            let mut content = Map::new();
            for m in &media {
                let mut media_object = Map::new();
                if let Some(schema) = map.get("schema") {
                    media_object.insert("schema".into(), schema.clone());
                }
                if let Some(example) = examples.and_then(|e| e.get(m)) {
                    media_object.insert("example".into(), example.clone());
                }
                content.insert(m.clone(), Value::Object(media_object));
            }
            // Examples documented for a media type `produces` does not list still name one.
            for (m, example) in examples.into_iter().flatten() {
                if !content.contains_key(m) {
                    let mut media_object = json!({"example": example});
                    if let Some(schema) = map.get("schema") {
                        media_object["schema"] = schema.clone();
                    }
                    content.insert(m.clone(), media_object);
                }
            }
            out.insert("content".into(), Value::Object(content));
        }
        let mut headers = Map::new();
        for (name, header) in map.get("headers").and_then(Value::as_object).into_iter().flatten() {
            let h_at = format!("{at}/headers/{}", escape(name));
            let Some(h) = header.as_object() else { return sw_err(&h_at, "a header is not an object") };
            let mut out_h = Map::new();
            if let Some(d) = h.get("description") {
                out_h.insert("description".into(), d.clone());
            }
            out_h.insert("schema".into(), self.simple_schema(h, &h_at)?);
            if let Some((style, explode)) = Self::style(h, "header", &h_at)? {
                out_h.insert("style".into(), Value::from(style));
                out_h.insert("explode".into(), Value::Bool(explode));
            }
            headers.insert(name.clone(), Value::Object(out_h));
        }
        if !headers.is_empty() {
            out.insert("headers".into(), Value::Object(headers));
        }
        Ok(Value::Object(out))
    }
}

fn media_list(value: Option<&Value>) -> Vec<String> {
    value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
}

fn security_scheme(scheme: &Value, at: &str) -> Result<Value, SpecError> {
    let field = |k: &str| scheme.get(k).cloned().unwrap_or(Value::Null);
    let mut out = match scheme.get("type").and_then(Value::as_str) {
        Some("basic") => json!({"type": "http", "scheme": "basic"}),
        Some("apiKey") => json!({"type": "apiKey", "name": field("name"), "in": field("in")}),
        Some("oauth2") => {
            let scopes = scheme.get("scopes").cloned().unwrap_or(json!({}));
            let (name, flow) = match scheme.get("flow").and_then(Value::as_str) {
                Some("implicit") => {
                    ("implicit", json!({"authorizationUrl": field("authorizationUrl"), "scopes": scopes}))
                }
                Some("password") => ("password", json!({"tokenUrl": field("tokenUrl"), "scopes": scopes})),
                Some("application") => ("clientCredentials", json!({"tokenUrl": field("tokenUrl"), "scopes": scopes})),
                Some("accessCode") => (
                    "authorizationCode",
                    json!({"authorizationUrl": field("authorizationUrl"), "tokenUrl": field("tokenUrl"), "scopes": scopes}),
                ),
                other => return sw_err(&format!("{at}/flow"), format!("{other:?} is not an OAuth2 flow")),
            };
            json!({"type": "oauth2", "flows": {name: flow}})
        }
        other => return sw_err(&format!("{at}/type"), format!("{other:?} is not a security scheme type")),
    };
    if let Some(d) = scheme.get("description") {
        out["description"] = d.clone();
    }
    Ok(out)
}

/// 2.0 references into `definitions` and `responses` now point into `components`.
fn rename_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                for (old, new) in
                    [("#/definitions/", "#/components/schemas/"), ("#/responses/", "#/components/responses/")]
                {
                    if let Some(rest) = reference.strip_prefix(old) {
                        *reference = format!("{new}{rest}");
                    }
                }
            }
            map.values_mut().for_each(rename_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rename_refs),
        _ => {}
    }
}

fn from_swagger2(doc: Value) -> Result<Value, SpecError> {
    Swagger { doc: &doc }.convert()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        yaml_serde::from_str(text).unwrap()
    }

    #[test]
    fn openapi_3_0_schemas_become_json_schema_2020_12() {
        let (doc, version) = normalize(yaml(
            r#"
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /pets:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 0, exclusiveMinimum: true, example: 5}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet', nullable: true, description: the pet}
components:
  schemas:
    Pet:
      type: object
      properties:
        name: {type: string, nullable: true}
        kind: {type: string, enum: [cat, dog], nullable: true}
        owner: {allOf: [{$ref: '#/components/schemas/Owner'}], nullable: true}
    Owner: {type: object, properties: {age: {type: integer, maximum: 150, exclusiveMaximum: false}}}
"#,
        ))
        .unwrap();
        assert_eq!(version, Version::OpenApi30);
        assert_eq!(doc["openapi"], "3.1.0");
        let pet = &doc["components"]["schemas"]["Pet"]["properties"];
        assert_eq!(pet["name"], json!({"type": ["string", "null"]}));
        assert_eq!(pet["kind"], json!({"type": ["string", "null"], "enum": ["cat", "dog", null]}));
        assert_eq!(pet["owner"]["anyOf"][1], json!({"type": "null"}));
        assert_eq!(
            doc.pointer("/components/schemas/Owner/properties/age").unwrap(),
            &json!({"type": "integer", "maximum": 150})
        );
        let limit = doc.pointer("/paths/~1pets/get/parameters/0/schema").unwrap();
        assert_eq!(limit, &json!({"type": "integer", "exclusiveMinimum": 0, "examples": [5]}));
        let schema = doc.pointer("/paths/~1pets/get/responses/200/content/application~1json/schema").unwrap();
        assert_eq!(
            schema,
            &json!({"description": "the pet", "anyOf": [{"$ref": "#/components/schemas/Pet"}, {"type": "null"}]})
        );
    }

    #[test]
    fn swagger_2_0_becomes_openapi_3() {
        let (doc, version) = normalize(yaml(
            r#"
swagger: '2.0'
info: {title: t, version: '1'}
host: api.example.com
basePath: /v1
schemes: [https]
consumes: [application/json]
produces: [application/json]
securityDefinitions:
  basic: {type: basic}
  oauth: {type: oauth2, flow: application, tokenUrl: 'https://auth.example.com/token', scopes: {read: r}}
parameters:
  Limit: {name: limit, in: query, type: integer, maximum: 50}
paths:
  /pets:
    get:
      parameters:
        - $ref: '#/parameters/Limit'
        - {name: tags, in: query, type: array, items: {type: string}, collectionFormat: multi}
        - {name: ids, in: query, type: array, items: {type: integer}, collectionFormat: pipes}
      responses:
        '200':
          description: ok
          schema: {type: array, items: {$ref: '#/definitions/Pet'}}
          headers: {X-Rate: {type: integer}}
    post:
      parameters:
        - {name: pet, in: body, required: true, schema: {$ref: '#/definitions/Pet'}}
      responses: {'201': {description: created}}
  /pets/{id}/photo:
    post:
      consumes: [multipart/form-data]
      parameters:
        - {name: id, in: path, required: true, type: string}
        - {name: file, in: formData, type: file, required: true}
        - {name: caption, in: formData, type: string}
      responses: {'204': {description: stored}}
definitions:
  Pet: {type: object, discriminator: kind, properties: {kind: {type: string}, name: {type: string, x-nullable: true}}}
"#,
        ))
        .unwrap();
        assert_eq!(version, Version::Swagger2);
        assert_eq!(doc["servers"], json!([{"url": "https://api.example.com/v1"}]));
        let get = &doc["paths"]["/pets"]["get"];
        assert_eq!(get["parameters"][0]["schema"], json!({"type": "integer", "maximum": 50}));
        assert_eq!((&get["parameters"][1]["style"], &get["parameters"][1]["explode"]), (&json!("form"), &json!(true)));
        assert_eq!(get["parameters"][2]["style"], "pipeDelimited");
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"],
            "#/components/schemas/Pet"
        );
        assert_eq!(get["responses"]["200"]["headers"]["X-Rate"]["schema"], json!({"type": "integer"}));
        let post = &doc["paths"]["/pets"]["post"];
        assert_eq!(post["requestBody"]["required"], true);
        assert_eq!(post["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Pet");
        let photo = &doc["paths"]["/pets/{id}/photo"]["post"]["requestBody"];
        let form = &photo["content"]["multipart/form-data"]["schema"];
        assert_eq!(form["properties"]["file"], json!({"type": "string", "format": "binary"}));
        assert_eq!(form["required"], json!(["file"]));
        let pet = &doc["components"]["schemas"]["Pet"];
        assert_eq!(pet["discriminator"], json!({"propertyName": "kind"}));
        assert_eq!(pet["properties"]["name"]["type"], json!(["string", "null"]));
        assert_eq!(doc["components"]["securitySchemes"]["basic"], json!({"type": "http", "scheme": "basic"}));
        assert_eq!(
            doc["components"]["securitySchemes"]["oauth"]["flows"]["clientCredentials"]["tokenUrl"],
            "https://auth.example.com/token"
        );
    }

    #[test]
    fn constructs_without_a_translation_are_refused_by_pointer() {
        let e = normalize(yaml(
            "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      parameters:\n        - {name: t, in: query, type: array, items: {type: string}, collectionFormat: tsv}\n      responses: {'200': {description: ok}}",
        ))
        .unwrap_err();
        assert!(e.0.starts_with("/paths/~1a/get/parameters/0/collectionFormat: collectionFormat tsv"), "{e}");
        let e = normalize(yaml("openapi: 4.0.0\npaths: {}")).unwrap_err();
        assert!(e.0.contains("not a supported version"), "{e}");
        let e = normalize(yaml("info: {title: t}")).unwrap_err();
        assert!(e.0.contains("neither `openapi` nor `swagger`"), "{e}");
    }
}
