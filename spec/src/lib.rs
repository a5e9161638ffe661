//! Reads an OpenAPI document as plain JSON and walks it: loading (YAML or JSON, from files or
//! through a caller's fetcher, with references to other documents bundled in), normalising Swagger
//! 2.0 and OpenAPI 3.0 into the 3.1 shape (`upgrade`), local `$ref` resolution, and the operations
//! with their effective parameters, bodies, responses and security.
//!
//! The document stays a `serde_json::Value` on purpose: typed OpenAPI models drop parts of 3.1
//! (`const`, `{}` schemas, `$defs`), and the generator, the service and the contract tester need
//! the schemas exactly as written.

pub mod drift;
pub mod load;
pub mod params;
pub mod schema;
pub mod upgrade;

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

pub use load::escape;
pub use upgrade::Version;

/// The HTTP methods an OpenAPI path item can hold, in the order the generator emits them.
pub const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Why a document could not be read or walked. Messages start with the JSON pointer of the
/// construct at fault where there is one.
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

/// An OpenAPI document held as JSON, in the OpenAPI 3.1 shape whatever version it was written in.
#[derive(Debug, Clone)]
pub struct Spec {
    pub doc: Value,
    /// The version the document was written in.
    pub version: Version,
}

/// One operation of the document, with path-level parameters merged in and `$ref`s resolved.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    pub method: &'static str,
    pub path: &'a str,
    /// The operationId, or for an operation without one a name derived from it: `GET /users/{id}`.
    pub name: Cow<'a, str>,
    pub operation_id: Option<&'a str>,
    /// JSON pointer of the operation object: `/paths/~1users~1{id}/get`.
    pub pointer: String,
    pub op: &'a Value,
    pub parameters: Vec<Parameter<'a>>,
    /// The resolved request body object, if the operation has one.
    pub request_body: Option<&'a Value>,
    /// `(status, resolved response object)` in document order; `default` is kept as written.
    pub responses: Vec<(&'a str, &'a Value)>,
    /// The effective security requirements: each inner list is one alternative of AND-ed schemes;
    /// an empty alternative (`{}`) makes authentication optional.
    pub security: Vec<Vec<Requirement<'a>>>,
}

/// One scheme of a security requirement, with the scopes it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement<'a> {
    pub scheme: &'a str,
    pub scopes: Vec<&'a str>,
}

/// How a parameter's value is written on the wire (OpenAPI 3.1 §4.8.12.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Form,
    Simple,
    Matrix,
    Label,
    SpaceDelimited,
    PipeDelimited,
    DeepObject,
}

impl Style {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "form" => Style::Form,
            "simple" => Style::Simple,
            "matrix" => Style::Matrix,
            "label" => Style::Label,
            "spaceDelimited" => Style::SpaceDelimited,
            "pipeDelimited" => Style::PipeDelimited,
            "deepObject" => Style::DeepObject,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Style::Form => "form",
            Style::Simple => "simple",
            Style::Matrix => "matrix",
            Style::Label => "label",
            Style::SpaceDelimited => "spaceDelimited",
            Style::PipeDelimited => "pipeDelimited",
            Style::DeepObject => "deepObject",
        }
    }

    /// The styles a location allows, the default first.
    fn allowed(location: &str) -> &'static [Style] {
        match location {
            "path" => &[Style::Simple, Style::Label, Style::Matrix],
            "query" => &[Style::Form, Style::SpaceDelimited, Style::PipeDelimited, Style::DeepObject],
            "header" => &[Style::Simple],
            "cookie" => &[Style::Form],
            _ => &[],
        }
    }
}

/// A resolved parameter object.
#[derive(Debug, Clone)]
pub struct Parameter<'a> {
    pub name: &'a str,
    /// `path`, `query`, `header` or `cookie`.
    pub location: &'a str,
    pub place: params::Location,
    pub required: bool,
    /// Its `schema`, or for a parameter described with `content`, that media type's schema.
    pub schema: &'a Value,
    pub description: Option<&'a str>,
    pub style: Style,
    pub explode: bool,
    pub allow_reserved: bool,
    /// The media type of a parameter described with `content` (its value is that media type's
    /// serialization, JSON for `application/json`) instead of `schema` and `style`.
    pub content_type: Option<&'a str>,
    /// The parameter object itself (for its `example` and `examples`).
    pub object: &'a Value,
    /// JSON pointer of the parameter as it was reached (through `$ref`s, the target's).
    pub pointer: String,
}

static TRUE: Value = Value::Bool(true);

impl Spec {
    /// Reads a document from a `.yaml`, `.yml` or `.json` file, with every file it references.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let path = path.as_ref();
        let location = load::location(&path.to_string_lossy())?;
        Self::load_with(&location, &mut |url| {
            if url.scheme() == "file" {
                load::read_file(url)
            } else {
                err(format!("{url}: only local files can be read here (the contract tester reads URLs)"))
            }
        })
    }

    /// Reads the document at `location` and every document it references, each read by `read`.
    pub fn load_with(
        location: &url::Url,
        read: &mut dyn FnMut(&url::Url) -> Result<String, SpecError>,
    ) -> Result<Self, SpecError> {
        let text = read(location)?;
        let mut bundle = load::Bundle::new(location.clone(), &text)?;
        loop {
            let wanted = bundle.wanted()?;
            if wanted.is_empty() {
                break;
            }
            for url in wanted {
                let text = read(&url)?;
                bundle.provide(url, &text)?;
            }
        }
        Self::from_value(bundle.finish()?)
    }

    /// Parses a self-contained document from YAML or JSON text (JSON is YAML).
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let root = url::Url::parse("memory:/document").expect("a valid URL");
        let bundle = load::Bundle::new(root, text)?;
        if let Some(other) = bundle.wanted()?.first() {
            return err(format!("the document references {other}, but it was given as text, not read from a place"));
        }
        Self::from_value(bundle.finish()?)
    }

    /// A document already read (and bundled), normalised to the OpenAPI 3.1 shape.
    pub fn from_value(doc: Value) -> Result<Self, SpecError> {
        let (doc, version) = upgrade::normalize(doc)?;
        Ok(Self { doc, version })
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

    /// [`Self::resolve`], also returning the pointer of the object reached (`at` when no `$ref`).
    pub fn resolve_at<'a>(&'a self, mut value: &'a Value, at: &str) -> Result<(&'a Value, String), SpecError> {
        let mut here = at.to_string();
        for _ in 0..32 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok((value, here));
            };
            value = self.pointer(reference).map_err(|e| SpecError(format!("{here}: {e}")))?;
            here = reference.trim_start_matches('#').to_string();
        }
        err(format!("{at}: a $ref chain is longer than 32 links (a cycle?)"))
    }

    /// The value a local reference such as `#/components/schemas/Product` names.
    pub fn pointer<'a>(&'a self, reference: &str) -> Result<&'a Value, SpecError> {
        let Some(pointer) = reference.strip_prefix('#') else {
            return err(format!("only local references are supported, found {reference}"));
        };
        self.doc.pointer(pointer).ok_or_else(|| SpecError(format!("{reference} names nothing in the document")))
    }

    /// `schema` as a standalone JSON Schema (draft 2020-12) that a validator can compile: the
    /// document's `components` (and bundled documents) sit under `$defs/openapi`, and its local
    /// references (`#/components/...`) are pointed there, so they resolve.
    ///
    /// Under `$defs`, not beside the schema as `components`: a validator keeps a copy of every
    /// member of a schema that is not a keyword (an annotation), so each compiled schema of the
    /// service held the whole of `components` (heaptrack at start: 10.7 MB of a 16.1 MB heap).
    pub fn standalone_schema(&self, schema: &Value) -> Value {
        let mut document = Map::new();
        let mut components = self.doc.get("components").cloned().unwrap_or_else(|| Value::Object(Map::new()));
        // Each section of `components` maps names to what it holds, as the bundled documents do.
        if let Value::Object(sections) = &mut components {
            for section in sections.values_mut() {
                point_local_references_at(section, STANDALONE_DOCUMENT, true);
            }
        }
        document.insert("components".into(), components);
        if let Some(bundled) = self.doc.get(load::BUNDLED) {
            let mut bundled = bundled.clone();
            point_local_references_at(&mut bundled, STANDALONE_DOCUMENT, true);
            document.insert(load::BUNDLED.into(), bundled);
        }
        let mut schema = schema.clone();
        point_local_references_at(&mut schema, STANDALONE_DOCUMENT, false);
        let mut root = Map::new();
        root.insert("$schema".into(), Value::from("https://json-schema.org/draft/2020-12/schema"));
        root.insert("$defs".into(), serde_json::json!({ "openapi": Value::Object(document) }));
        root.insert("allOf".into(), Value::Array(vec![schema]));
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
            if path.starts_with("x-") {
                continue;
            }
            let item_at = format!("/paths/{}", escape(path));
            if !path.starts_with('/') {
                return err(format!("{item_at}: a path must start with /"));
            }
            let (item, item_at) = self.resolve_at(item, &item_at)?;
            for unsupported in ["query", "additionalOperations"] {
                if item.get(unsupported).is_some() {
                    return err(format!("{item_at}/{unsupported}: OpenAPI 3.2's `{unsupported}` is not supported yet"));
                }
            }
            let shared = item.get("parameters").and_then(Value::as_array);
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let pointer = format!("{item_at}/{method}");
                let operation_id = op.get("operationId").and_then(Value::as_str);
                let name: Cow<'_, str> = match operation_id {
                    Some(id) => Cow::Borrowed(id),
                    None => Cow::Owned(format!("{} {path}", method.to_uppercase())),
                };
                let mut parameters: Vec<Parameter<'_>> = Vec::new();
                let lists = [
                    (shared, format!("{item_at}/parameters")),
                    (op.get("parameters").and_then(Value::as_array), format!("{pointer}/parameters")),
                ];
                for (list, list_at) in lists {
                    for (i, raw) in list.into_iter().flatten().enumerate() {
                        let p = self.parameter(raw, &format!("{list_at}/{i}"))?;
                        // An operation-level parameter overrides a path-level one of the same name and location.
                        parameters.retain(|q| !(q.name == p.name && q.location == p.location));
                        parameters.push(p);
                    }
                }
                for (name, _) in path_template_names(path) {
                    if !parameters.iter().any(|p| p.location == "path" && p.name == name) {
                        return err(format!(
                            "{pointer}: the path template names {{{name}}}, but no path parameter describes it"
                        ));
                    }
                }
                let request_body = match op.get("requestBody") {
                    Some(b) => Some(self.resolve_at(b, &format!("{pointer}/requestBody"))?.0),
                    None => None,
                };
                let mut responses = Vec::new();
                for (status, response) in op.get("responses").and_then(Value::as_object).unwrap_or(empty) {
                    if status.starts_with("x-") {
                        continue;
                    }
                    let at = format!("{pointer}/responses/{}", escape(status));
                    responses.push((status.as_str(), self.resolve_at(response, &at)?.0));
                }
                let security = op
                    .get("security")
                    .or(global_security)
                    .and_then(Value::as_array)
                    .map(|alternatives| {
                        alternatives
                            .iter()
                            .filter_map(Value::as_object)
                            .map(|req| {
                                req.iter()
                                    .map(|(scheme, scopes)| Requirement {
                                        scheme: scheme.as_str(),
                                        scopes: scopes
                                            .as_array()
                                            .into_iter()
                                            .flatten()
                                            .filter_map(Value::as_str)
                                            .collect(),
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Operation {
                    method,
                    path,
                    name,
                    operation_id,
                    pointer,
                    op,
                    parameters,
                    request_body,
                    responses,
                    security,
                });
            }
        }
        Ok(out)
    }

    fn parameter<'a>(&'a self, raw: &'a Value, at: &str) -> Result<Parameter<'a>, SpecError> {
        let (p, at) = self.resolve_at(raw, at)?;
        let field = |name: &str| p.get(name).and_then(Value::as_str);
        let (Some(name), Some(location)) = (field("name"), field("in")) else {
            return err(format!("{at}: a parameter lacks `name` or `in`"));
        };
        let allowed = Style::allowed(location);
        if allowed.is_empty() {
            let why = if location == "querystring" {
                "OpenAPI 3.2's querystring parameters are not supported yet"
            } else {
                "not a parameter location (path, query, header, cookie)"
            };
            return err(format!("{at}/in: {location:?} is {why}"));
        }
        let (schema, content_type) = match (p.get("schema"), p.get("content").and_then(Value::as_object)) {
            (Some(schema), None) => (schema, None),
            (None, Some(content)) => {
                let mut media = content.iter();
                let (Some((media_type, media_object)), None) = (media.next(), media.next()) else {
                    return err(format!("{at}/content: a parameter's content must name exactly one media type"));
                };
                (media_object.get("schema").unwrap_or(&TRUE), Some(media_type.as_str()))
            }
            (Some(_), Some(_)) => return err(format!("{at}: a parameter has both `schema` and `content`")),
            (None, None) => return err(format!("{at}: parameter {name} has neither `schema` nor `content`")),
        };
        let style = match field("style") {
            None => allowed[0],
            Some(text) => match Style::parse(text).filter(|s| allowed.contains(s)) {
                Some(style) => style,
                None => {
                    let names: Vec<&str> = allowed.iter().map(|s| s.name()).collect();
                    return err(format!(
                        "{at}/style: {text:?} is not a style of {location} parameters ({})",
                        names.join(", ")
                    ));
                }
            },
        };
        Ok(Parameter {
            name,
            location,
            place: params::Location::parse(location).expect("checked by Style::allowed"),
            required: location == "path" || p.get("required").and_then(Value::as_bool).unwrap_or(false),
            schema,
            description: field("description"),
            style,
            explode: p.get("explode").and_then(Value::as_bool).unwrap_or(style == Style::Form),
            allow_reserved: p.get("allowReserved").and_then(Value::as_bool).unwrap_or(false),
            content_type,
            object: p,
            pointer: at,
        })
    }
}

/// The `{name}` expressions of a path template, with their byte offsets.
pub fn path_template_names(path: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut rest = path;
    let mut offset = 0;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else { break };
        out.push((&rest[start + 1..start + end], offset + start));
        offset += start + end + 1;
        rest = &rest[start + end + 1..];
    }
    out
}

impl Parameter<'_> {
    /// What decides how the parameter is written on the wire.
    pub fn shape(&self) -> params::Shape<'_> {
        params::Shape {
            name: self.name,
            location: self.place,
            style: self.style,
            explode: self.explode,
            content_type: self.content_type,
        }
    }
}

impl Spec {
    /// `schema` with `$ref`s followed and `allOf` merged (see [`schema::flatten`]).
    pub fn flatten(&self, schema: &Value) -> Value {
        schema::flatten(self, schema)
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

/// Where [`Spec::standalone_schema`] puts the document, as a JSON pointer.
const STANDALONE_DOCUMENT: &str = "/$defs/openapi";

/// Points every reference into the document (`#`, `#/...`) within `value` at `prefix` in it.
/// `names`: `value` maps names to schemas (`properties`, `$defs`, a `components` section), so
/// its keys are not keywords. Left as they are: references under a schema with an `$id` of its
/// own (relative to that resource, not the document), anchors (`#name`), other documents, and
/// the instance values of `const`, `enum`, `default` and examples, which are data.
fn point_local_references_at(value: &mut Value, prefix: &str, names: bool) {
    match value {
        Value::Object(object) if names => {
            object.values_mut().for_each(|value| point_local_references_at(value, prefix, false));
        }
        Value::Object(object) => {
            if object.get("$id").is_some_and(Value::is_string) {
                return;
            }
            for (key, value) in object.iter_mut() {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) if reference == "#" || reference.starts_with("#/") => {
                        reference.replace_range(..1, &format!("#{prefix}"));
                    }
                    ("const" | "enum" | "default" | "example" | "examples", _) => {}
                    ("properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas", value) => {
                        point_local_references_at(value, prefix, true);
                    }
                    (_, value) => point_local_references_at(value, prefix, false),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| point_local_references_at(item, prefix, false)),
        _ => {}
    }
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
    fn a_standalone_schema_holds_the_document_under_defs_and_points_its_references_there() {
        let spec = Spec::parse(
            r#"
openapi: 3.1.0
info: {title: x, version: '1'}
paths: {}
components:
  schemas:
    const:
      type: object
      properties:
        default: {$ref: '#/components/schemas/enum'}
        tag: {const: {$ref: '#/not/a/reference'}}
    enum: {type: string}
    Other:
      $id: https://example.com/other
      properties:
        self: {$ref: '#/properties/self'}
"#,
        )
        .unwrap();
        let root = spec.standalone_schema(&serde_json::json!({"$ref": "#/components/schemas/const"}));

        let mut members: Vec<&String> = root.as_object().unwrap().keys().collect();
        members.sort();
        assert_eq!(members, ["$defs", "$schema", "allOf"], "nothing a validator would keep as an annotation");
        assert_eq!(root["allOf"][0]["$ref"], "#/$defs/openapi/components/schemas/const");
        let schemas = &root["$defs"]["openapi"]["components"]["schemas"];
        // A schema named `const`, a property named `default`: names, not keywords.
        assert_eq!(schemas["const"]["properties"]["default"]["$ref"], "#/$defs/openapi/components/schemas/enum");
        assert_eq!(schemas["const"]["properties"]["tag"]["const"]["$ref"], "#/not/a/reference", "data stays");
        assert_eq!(schemas["Other"]["properties"]["self"]["$ref"], "#/properties/self", "relative to its $id");
    }

    #[test]
    fn operations_merge_path_parameters_and_resolve_refs() {
        let spec = Spec::parse(PETS).unwrap();
        let ops = spec.operations().unwrap();
        assert_eq!(ops.iter().map(|o| o.name.as_ref()).collect::<Vec<_>>(), ["getPet", "DELETE /pets/{petId}"]);
        assert_eq!(ops[1].operation_id, None, "the second operation has no operationId: its name is derived");
        let get = &ops[0];
        assert_eq!(
            get.parameters.iter().map(|p| (p.name, p.location, p.required)).collect::<Vec<_>>(),
            [("petId", "path", true), ("verbose", "query", false)]
        );
        assert_eq!(get.responses[0].1["description"], "a pet");
        assert_eq!(get.security, vec![vec![Requirement { scheme: "key", scopes: vec![] }]]);
        assert_eq!(get.parameters[1].pointer, "/components/parameters/Verbose");
        assert_eq!((get.parameters[1].style, get.parameters[1].explode), (Style::Form, true));
        assert!(ops[1].security.is_empty(), "an empty operation-level security overrides the global one");
    }

    #[test]
    fn every_version_is_read_into_the_3_1_shape() {
        for (text, version) in [
            ("openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {}", Version::OpenApi30),
            ("openapi: 3.1.1\ninfo: {title: x, version: '1'}\npaths: {}", Version::OpenApi31),
            ("swagger: '2.0'\ninfo: {title: x, version: '1'}\npaths: {}", Version::Swagger2),
        ] {
            let spec = Spec::parse(text).unwrap();
            assert_eq!(
                (spec.version, spec.doc["openapi"].as_str()),
                (version, Some(if version == Version::OpenApi31 { "3.1.1" } else { "3.1.0" }))
            );
        }
    }

    #[test]
    fn parameters_with_content_styles_and_unknown_constructs() {
        let spec = Spec::parse(
            r#"
openapi: 3.1.0
info: {title: x, version: '1'}
paths:
  /items/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, style: matrix, explode: true, schema: {type: array, items: {type: integer}}}
        - {name: filter, in: query, content: {application/json: {schema: {type: object}}}}
        - {name: sid, in: cookie, schema: {type: string}}
      responses: {'200': {description: ok}}
"#,
        )
        .unwrap();
        let ops = spec.operations().unwrap();
        let p = &ops[0].parameters;
        assert_eq!((p[0].style, p[0].explode), (Style::Matrix, true));
        assert_eq!(
            (p[1].content_type, p[1].schema),
            (Some("application/json"), &serde_json::json!({"type": "object"}))
        );
        assert_eq!((p[2].location, p[2].style, p[2].explode), ("cookie", Style::Form, true));
        let refused = |text: &str| Spec::parse(text).unwrap().operations().unwrap_err().0;
        let e = refused(
            "openapi: 3.1.0\npaths:\n  /a:\n    get:\n      parameters: [{name: a, in: query, style: matrix, schema: {type: string}}]\n      responses: {}",
        );
        assert!(
            e.starts_with("/paths/~1a/get/parameters/0/style: \"matrix\" is not a style of query parameters"),
            "{e}"
        );
        let e = refused("openapi: 3.1.0\npaths:\n  /a/{b}:\n    get:\n      responses: {}");
        assert!(e.starts_with("/paths/~1a~1{b}/get: the path template names {b}"), "{e}");
        let e = refused(
            "openapi: 3.1.0\npaths:\n  /a:\n    get:\n      parameters: [{name: a, in: query}]\n      responses: {}",
        );
        assert!(e.contains("neither `schema` nor `content`"), "{e}");
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
