//! The document's own rules, checked at run time: every request body against its operation's JSON
//! Schema (draft 2020-12, formats on), and every parameter read as its style says and checked
//! against its schema. Generated code carries the types; this judges the values, so a rule the
//! Rust types cannot express (an enum of integers, a format, a constraint on nested items, a oneOf)
//! is still enforced, written once, in the document.

use std::collections::HashMap;

use commerce_spec::Spec;
use commerce_spec::params::{self, Location, Shape};
use commerce_spec::schema::types;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// At most this many problems are described for one request; [`Invalid::total`] counts them all.
pub const MAX_PROBLEMS: usize = 100;

/// One thing wrong with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A JSON Pointer into the body.
    pub pointer: Option<String>,
    /// The name of the parameter.
    pub parameter: Option<String>,
    pub detail: String,
}

/// Why a request breaks its operation's rules: the first problems, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub problems: Vec<Problem>,
    pub total: usize,
}

impl Invalid {
    pub fn summary(&self) -> String {
        match self.problems.as_slice() {
            [one] if self.total == 1 => {
                let at = one.pointer.as_deref().or(one.parameter.as_deref()).unwrap_or("");
                if at.is_empty() { one.detail.clone() } else { format!("{at}: {}", one.detail) }
            }
            _ => format!("the request has {} invalid fields", self.total),
        }
    }
}

struct ParamRule {
    name: String,
    /// For a path parameter: its position among the template's variables.
    path_index: Option<usize>,
    location: Location,
    style: commerce_spec::Style,
    explode: bool,
    content_type: Option<String>,
    flat: Value,
    validator: jsonschema::Validator,
}

impl ParamRule {
    /// The parameter's value in `req`, read as its style says; `None` when absent.
    fn read(&self, req: &poem::Request) -> Option<Value> {
        let shape = self.shape();
        let text = match self.location {
            // poem-openapi renames path variables `param0`, `param1`, ... in template order.
            Location::Path => req
                .raw_path_param(&self.name)
                .or_else(|| self.path_index.and_then(|i| req.raw_path_param(&format!("param{i}"))))
                .map(String::from),
            Location::Query => Some(params::query_text(&shape, &self.flat, req.uri().query().unwrap_or_default())),
            Location::Header => {
                let values: Vec<&str> =
                    req.headers().get_all(self.name.as_str()).iter().filter_map(|v| v.to_str().ok()).collect();
                (!values.is_empty()).then(|| values.join(","))
            }
            Location::Cookie => req
                .headers()
                .get_all("cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|header| params::cookie_text(&self.name, header)),
        };
        text.and_then(|text| params::read(&shape, &self.flat, &text))
    }

    fn shape(&self) -> Shape<'_> {
        Shape {
            name: &self.name,
            location: self.location,
            style: self.style,
            explode: self.explode,
            content_type: self.content_type.as_deref(),
        }
    }
}

/// How a member of a form or multipart body is read into JSON.
#[derive(Debug, Clone)]
struct Member {
    types: Vec<&'static str>,
    /// For an array: the types of its items.
    item_types: Vec<&'static str>,
    /// Bytes (`format: binary`/`byte`, `contentMediaType`): a file part becomes base64 text.
    octets: bool,
}

impl Member {
    fn of(spec: &Spec, schema: &Value) -> Self {
        let flat = spec.flatten(schema);
        let items = flat.get("items").map(|i| spec.flatten(i)).unwrap_or(Value::Bool(true));
        let octets = |s: &Value| {
            matches!(s.get("format").and_then(Value::as_str), Some("binary" | "byte"))
                || s.get("contentMediaType").is_some() && s.get("contentSchema").is_none()
        };
        let is_array = types(&flat).contains(&"array");
        Self {
            types: types(&flat),
            item_types: types(&items),
            octets: if is_array { octets(&items) } else { octets(&flat) },
        }
    }

    /// One form or multipart value as JSON: a number or boolean where the schema admits one, JSON
    /// where it wants an object, base64 for bytes, else the text.
    fn read(&self, types: &[&'static str], data: &[u8], json: bool) -> Value {
        if self.octets {
            return Value::String(crate::body::Octets(data.to_vec()).encode());
        }
        let text = String::from_utf8_lossy(data);
        if (json || types.iter().any(|t| *t == "object" || *t == "array"))
            && let Ok(value) = serde_json::from_str::<Value>(&text)
        {
            return value;
        }
        params::read_scalar(types, &text)
    }
}

struct BodyRule {
    /// The media type as documented (maybe a range such as `text/*`).
    media: String,
    validator: jsonschema::Validator,
    /// The members of an object body, for form and multipart bodies.
    members: HashMap<String, Member>,
    /// Members beyond the named ones.
    additional: Member,
}

#[derive(Default)]
struct Rules {
    /// One rule per documented request media type, in document order.
    bodies: Vec<BodyRule>,
    params: Vec<ParamRule>,
}

/// Every operation's rules, compiled once.
pub struct Validation {
    operations: HashMap<String, Rules>,
}

fn compile(spec: &Spec, schema: &Value, at: &str) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&spec.standalone_schema(schema))
        .map_err(|e| format!("{at}: the schema does not compile: {e}"))
}

fn essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

impl Validation {
    /// Compiles the rules of every operation of `spec` (by operationId, or derived name).
    pub fn new(spec: &Spec) -> Result<Self, String> {
        // Requests are judged by the request side's view: a readOnly member is never required of them.
        let request_side =
            Spec { doc: commerce_spec::schema::without_required(&spec.doc, "readOnly"), version: spec.version };
        let spec = &request_side;
        let mut operations = HashMap::new();
        for op in spec.operations().map_err(|e| e.0)? {
            let mut rules = Rules::default();
            for p in &op.parameters {
                let path_index = (p.place == Location::Path)
                    .then(|| commerce_spec::path_template_names(op.path).iter().position(|(n, _)| *n == p.name))
                    .flatten();
                rules.params.push(ParamRule {
                    name: p.name.to_string(),
                    path_index,
                    location: p.place,
                    style: p.style,
                    explode: p.explode,
                    content_type: p.content_type.map(String::from),
                    flat: spec.flatten(p.schema),
                    validator: compile(spec, p.schema, &format!("{}/schema", p.pointer))?,
                });
            }
            for (media_type, media) in
                op.request_body.and_then(|b| b.get("content")).and_then(Value::as_object).into_iter().flatten()
            {
                let schema = media.get("schema").cloned().unwrap_or(Value::Bool(true));
                let at = format!("{}/requestBody/content/{}", op.pointer, commerce_spec::escape(media_type));
                let flat = spec.flatten(&schema);
                let members = flat
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(name, property)| (name.clone(), Member::of(spec, property)))
                    .collect();
                let additional = Member::of(spec, flat.get("additionalProperties").unwrap_or(&Value::Bool(true)));
                rules.bodies.push(BodyRule {
                    media: media_type.clone(),
                    validator: compile(spec, &schema, &at)?,
                    members,
                    additional,
                });
            }
            operations.insert(op.name.to_string(), rules);
        }
        Ok(Self { operations })
    }

    /// Reads a document (YAML or JSON, any supported version) and compiles its rules.
    pub fn from_document(text: &str) -> Result<Self, String> {
        Self::new(&Spec::parse(text).map_err(|e| e.0)?)
    }

    /// Checks a JSON body of `operation` (its `application/json`-like media type, or the only one).
    pub fn body(&self, operation: &str, body: &Value) -> Result<(), Invalid> {
        let Some(rules) = self.operations.get(operation) else { return Ok(()) };
        let rule = rules
            .bodies
            .iter()
            .find(|rule| commerce_spec::params::is_json(&rule.media))
            .or_else(|| rules.bodies.first());
        let Some(rule) = rule else { return Ok(()) };
        check(&rule.validator, body)
    }

    /// Checks a body of `operation` received as `media_type` (read into JSON by
    /// [`Self::body_value`]) against that media type's schema.
    pub fn body_as(&self, operation: &str, media_type: &str, body: &Value) -> Result<(), Invalid> {
        let Some(rule) = self.body_rule(operation, media_type) else { return Ok(()) };
        check(&rule.validator, body)
    }

    fn body_rule(&self, operation: &str, media_type: &str) -> Option<&BodyRule> {
        let rules = self.operations.get(operation)?;
        rules
            .bodies
            .iter()
            .find(|rule| essence(&rule.media) == essence(media_type))
            .or_else(|| rules.bodies.iter().find(|rule| crate::body::media_matches(&rule.media, media_type)))
    }

    /// A received body as the JSON value its schema judges: JSON as it is; a form's or multipart
    /// body's members read by the types their schemas admit (repeated names and array members as
    /// arrays, file parts as base64); text as a string; octets as base64.
    pub fn body_value(&self, operation: &str, received: &crate::body::Received) -> Value {
        use crate::body::Content;
        let rule = self.body_rule(operation, &received.content_type);
        let member = |name: &str| rule.and_then(|r| r.members.get(name).or(Some(&r.additional)));
        let mut object = serde_json::Map::new();
        let mut put = |name: &str, value: Value, member: Option<&Member>| {
            let is_array = member.is_some_and(|m| m.types.contains(&"array"));
            match object.get_mut(name) {
                Some(Value::Array(items)) if is_array => items.push(value),
                // A name repeated where one value is documented: kept, as an array, for the
                // schema to refuse.
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None if is_array => {
                    object.insert(name.to_string(), Value::Array(vec![value]));
                }
                None => {
                    object.insert(name.to_string(), value);
                }
            }
        };
        match &received.content {
            Content::Json(value) => return value.clone(),
            Content::Text(text) => return Value::String(text.clone()),
            Content::Octets(bytes) => return Value::String(crate::body::Octets(bytes.to_vec()).encode()),
            Content::Form(pairs) => {
                for (name, text) in pairs {
                    let m = member(name);
                    let types = m.map(|m| if m.types.contains(&"array") { &m.item_types } else { &m.types });
                    let value = match (m, types) {
                        (Some(m), Some(types)) => m.read(types, text.as_bytes(), false),
                        _ => Value::String(text.clone()),
                    };
                    put(name, value, m);
                }
            }
            Content::Multipart(parts) => {
                for part in parts {
                    let m = member(&part.name);
                    let json = part.content_type.as_deref().is_some_and(commerce_spec::params::is_json);
                    let types = m.map(|m| if m.types.contains(&"array") { &m.item_types } else { &m.types });
                    let value = match (m, types) {
                        (Some(m), Some(types)) => m.read(types, &part.data, json),
                        _ => Value::String(String::from_utf8_lossy(&part.data).into_owned()),
                    };
                    put(&part.name, value, m);
                }
            }
        }
        Value::Object(object)
    }

    /// Checks every parameter of `operation` present in `req`, read as its style says. (A missing
    /// required parameter is refused by the typed layer before this runs.)
    pub fn parameters(&self, operation: &str, req: &poem::Request) -> Result<(), Invalid> {
        let Some(rules) = self.operations.get(operation) else { return Ok(()) };
        let mut problems = Vec::new();
        for rule in &rules.params {
            let Some(value) = rule.read(req) else { continue };
            if let Some(error) = rule.validator.iter_errors(&value).next() {
                let at = error.instance_path().as_str();
                let detail = if at.is_empty() { error.to_string() } else { format!("{at}: {error}") };
                problems.push(Problem { pointer: None, parameter: Some(rule.name.clone()), detail });
            }
        }
        let total = problems.len();
        if problems.is_empty() { Ok(()) } else { Err(Invalid { problems, total }) }
    }

    /// The value of parameter `name` of `operation` in `req`, read as its style says.
    pub fn read_parameter(&self, operation: &str, name: &str, req: &poem::Request) -> Option<Value> {
        self.operations.get(operation)?.params.iter().find(|p| p.name == name)?.read(req)
    }
}

/// Every problem of `body` under `validator`, NUL strings first.
fn check(validator: &jsonschema::Validator, body: &Value) -> Result<(), Invalid> {
    {
        let mut problems = Vec::new();
        // Pointers are spelled out only for a body that holds a NUL (each is a string to build).
        if holds_nul(body) {
            nul_strings(body, &mut String::new(), &mut problems);
        }
        let nul_pointers: Vec<String> = problems.iter().filter_map(|p| p.pointer.clone()).collect();
        let mut total = problems.len();
        problems.truncate(MAX_PROBLEMS);
        // The common case answers without building error values.
        if total == 0 && validator.is_valid(body) {
            return Ok(());
        }
        for error in validator.iter_errors(body) {
            let at = error.instance_path().as_str();
            // A NUL is reported once, in its own words, whatever pattern also refuses it.
            if matches!(error.kind(), ValidationErrorKind::Pattern { .. }) && nul_pointers.iter().any(|p| p == at) {
                continue;
            }
            match error.kind() {
                // Point at the missing or unexpected member itself, not at its parent.
                ValidationErrorKind::Required { property } => {
                    total += 1;
                    if problems.len() < MAX_PROBLEMS {
                        let name = property.as_str().unwrap_or_default();
                        problems.push(field(
                            format!("{at}/{}", commerce_spec::escape(name)),
                            format!("{name:?} is required"),
                        ));
                    }
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    total += unexpected.len();
                    for name in unexpected.iter().take(MAX_PROBLEMS.saturating_sub(problems.len())) {
                        problems.push(field(
                            format!("{at}/{}", commerce_spec::escape(name)),
                            format!("{name:?} is not a known field"),
                        ));
                    }
                }
                _ => {
                    total += 1;
                    if problems.len() < MAX_PROBLEMS {
                        problems.push(field(at.to_string(), error.to_string()));
                    }
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(Invalid { problems, total }) }
    }
}

fn field(pointer: String, detail: String) -> Problem {
    Problem { pointer: Some(pointer), parameter: None, detail }
}

/// Whether any string of `value` (value or member name) holds a NUL.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(key, item)| key.contains('\0') || holds_nul(item)),
        _ => false,
    }
}

/// A problem for every string (value or member name) of `value` that holds a NUL: no database
/// stores one the same way.
fn nul_strings(value: &Value, at: &mut String, problems: &mut Vec<Problem>) {
    match value {
        Value::String(s) if s.contains('\0') => {
            problems.push(field(at.clone(), "the string holds a NUL character".into()))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                nul_strings(item, at, problems);
                at.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = at.len();
                at.push('/');
                at.push_str(&commerce_spec::escape(key));
                if key.contains('\0') {
                    problems.push(field(at.clone(), "the member name holds a NUL character".into()));
                }
                nul_strings(item, at, problems);
                at.truncate(len);
            }
        }
        _ => {}
    }
}
