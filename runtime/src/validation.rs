//! The document's own rules, checked at run time: every request body against its operation's JSON
//! Schema (draft 2020-12, formats on), and every parameter read as its style says and checked
//! against its schema. Generated code carries the types; this judges the values, so a rule the
//! Rust types cannot express (an enum of integers, a format, a constraint on nested items, a oneOf)
//! is still enforced, written once, in the document.

use std::collections::HashMap;

use commerce_spec::Spec;
use commerce_spec::params::{self, Location, Shape};
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
    location: Location,
    style: commerce_spec::Style,
    explode: bool,
    content_type: Option<String>,
    flat: Value,
    validator: jsonschema::Validator,
}

impl ParamRule {
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

#[derive(Default)]
struct Rules {
    /// `(media type essence, validator)` per documented request media type.
    bodies: Vec<(String, jsonschema::Validator)>,
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
        let mut operations = HashMap::new();
        for op in spec.operations().map_err(|e| e.0)? {
            let mut rules = Rules::default();
            for p in &op.parameters {
                rules.params.push(ParamRule {
                    name: p.name.to_string(),
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
                rules.bodies.push((essence(media_type), compile(spec, &schema, &at)?));
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
        let validator = rules
            .bodies
            .iter()
            .find(|(media, _)| media == "application/json" || media.ends_with("+json"))
            .or_else(|| rules.bodies.first())
            .map(|(_, v)| v);
        let Some(validator) = validator else { return Ok(()) };
        let mut problems = Vec::new();
        nul_strings(body, &mut String::new(), &mut problems);
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

    /// Checks every parameter of `operation` present in `req`, read as its style says. (A missing
    /// required parameter is refused by the typed layer before this runs.)
    pub fn parameters(&self, operation: &str, req: &poem::Request) -> Result<(), Invalid> {
        let Some(rules) = self.operations.get(operation) else { return Ok(()) };
        let mut problems = Vec::new();
        for rule in &rules.params {
            let shape = rule.shape();
            let text = match rule.location {
                Location::Path => req.raw_path_param(&rule.name).map(String::from),
                Location::Query => Some(params::query_text(&shape, &rule.flat, req.uri().query().unwrap_or_default())),
                Location::Header => {
                    let values: Vec<&str> =
                        req.headers().get_all(rule.name.as_str()).iter().filter_map(|v| v.to_str().ok()).collect();
                    (!values.is_empty()).then(|| values.join(","))
                }
                Location::Cookie => req
                    .headers()
                    .get_all("cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|header| params::cookie_text(&rule.name, header)),
            };
            let Some(value) = text.and_then(|text| params::read(&shape, &rule.flat, &text)) else { continue };
            if let Some(error) = rule.validator.iter_errors(&value).next() {
                let at = error.instance_path().as_str();
                let detail = if at.is_empty() { error.to_string() } else { format!("{at}: {error}") };
                problems.push(Problem { pointer: None, parameter: Some(rule.name.clone()), detail });
            }
        }
        let total = problems.len();
        if problems.is_empty() { Ok(()) } else { Err(Invalid { problems, total }) }
    }
}

fn field(pointer: String, detail: String) -> Problem {
    Problem { pointer: Some(pointer), parameter: None, detail }
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
