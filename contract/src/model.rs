//! The document compiled for testing: every operation with its parameters, body, documented responses,
//! links and security, each schema compiled once into a validator (draft 2020-12, formats on).

use std::collections::BTreeMap;
use std::sync::Arc;

use commerce_spec::{Operation, Spec, SpecError};
use serde_json::Value;

/// A JSON Schema with its compiled validator.
pub struct Schema {
    /// The schema as written (its `$ref`s resolve against `Api::spec`).
    pub raw: Value,
    pub validator: jsonschema::Validator,
}

impl Schema {
    fn compile(spec: &Spec, raw: &Value, what: &str) -> Result<Self, SpecError> {
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&spec.standalone_schema(raw))
            .map_err(|e| SpecError(format!("{what}: the schema does not compile: {e}")))?;
        Ok(Self { raw: raw.clone(), validator })
    }

    pub fn is_valid(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
    }

    /// The first validation error, as `pointer: message`.
    pub fn first_error(&self, value: &Value) -> Option<String> {
        self.validator.iter_errors(value).next().map(|e| {
            let at = e.instance_path().as_str();
            if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    Path,
    Query,
    Header,
}

pub struct Param {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub schema: Schema,
    /// The schema with `$ref`s followed and `allOf` merged, to read the parameter's wire text by.
    pub flat: Value,
    /// Documented examples: the parameter's `example`, its `examples`, then its schema's.
    pub examples: Vec<Value>,
}

pub struct Body {
    pub media_type: String,
    pub required: bool,
    /// `None` when the media type is not JSON: such bodies are not generated.
    pub schema: Option<Schema>,
    pub examples: Vec<Value>,
}

/// Which statuses a documented response covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKey {
    Exact(u16),
    /// `4XX`: the hundreds digit.
    Range(u16),
    Default,
}

impl StatusKey {
    fn parse(key: &str) -> Option<Self> {
        if key == "default" {
            return Some(Self::Default);
        }
        if let Some(class) = key.strip_suffix("XX").or_else(|| key.strip_suffix("xx")) {
            return class.parse().ok().filter(|c| (1..=5).contains(c)).map(Self::Range);
        }
        key.parse().ok().filter(|s| (100..=599).contains(s)).map(Self::Exact)
    }

    pub fn label(self) -> String {
        match self {
            Self::Exact(s) => s.to_string(),
            Self::Range(c) => format!("{c}XX"),
            Self::Default => "default".into(),
        }
    }
}

pub struct Header {
    pub name: String,
    pub required: bool,
    pub schema: Option<Schema>,
    /// The schema flattened, to read the header's text by.
    pub flat: Value,
}

pub struct Response {
    pub status: StatusKey,
    /// `(media type, schema)`; the schema is `None` for a media type without one.
    pub content: Vec<(String, Option<Schema>)>,
    pub headers: Vec<Header>,
    pub links: Vec<Link>,
}

/// An OpenAPI link: how to call `operation` with values from this response.
pub struct Link {
    pub name: String,
    /// Index of the target operation in `Api::operations`.
    pub target: usize,
    /// `(parameter name, runtime expression or constant)`.
    pub parameters: Vec<(String, Value)>,
    pub request_body: Option<Value>,
}

pub struct Op {
    pub id: String,
    /// Upper case: `GET`.
    pub method: String,
    pub path: String,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub responses: Vec<Response>,
    /// Alternatives of AND-ed security scheme names; empty means no authentication.
    pub security: Vec<Vec<String>>,
}

impl Op {
    /// `GET /products/{productId}`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub fn secured(&self) -> bool {
        !self.security.is_empty() && !self.security.iter().any(Vec::is_empty)
    }

    /// The documented response for `status`: an exact match, then its range, then `default`.
    pub fn response(&self, status: u16) -> Option<&Response> {
        let find = |key: StatusKey| self.responses.iter().find(|r| r.status == key);
        find(StatusKey::Exact(status))
            .or_else(|| find(StatusKey::Range(status / 100)))
            .or_else(|| find(StatusKey::Default))
    }

    pub fn documented_statuses(&self) -> String {
        self.responses.iter().map(|r| r.status.label()).collect::<Vec<_>>().join(", ")
    }
}

/// How a security scheme carries its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `type: http, scheme: bearer`.
    Bearer,
    /// `type: http, scheme: basic`.
    Basic,
    /// `type: apiKey` in a header, query parameter or cookie.
    ApiKey { location: String, name: String },
    /// OAuth2 and OpenID Connect send bearer tokens too.
    OAuth,
}

pub struct Api {
    pub spec: Spec,
    pub operations: Vec<Op>,
    pub schemes: BTreeMap<String, Scheme>,
    /// Every path with its documented methods (upper case), for the unsupported-method cases.
    pub paths: BTreeMap<String, Vec<String>>,
}

impl Api {
    pub fn compile(spec: Spec) -> Result<Arc<Self>, SpecError> {
        let ops = spec.operations()?;
        let ids: Vec<String> = ops.iter().map(|o| o.operation_id.to_string()).collect();
        let mut operations = Vec::with_capacity(ops.len());
        let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for op in &ops {
            operations.push(compile_operation(&spec, op, &ids)?);
            paths.entry(op.path.to_string()).or_default().push(op.method.to_uppercase());
        }
        let mut schemes = BTreeMap::new();
        for (name, raw) in spec.components("securitySchemes") {
            let raw = spec.resolve(raw)?;
            let field = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or_default();
            let scheme = match (field("type"), field("scheme").to_ascii_lowercase().as_str()) {
                ("http", "bearer") => Scheme::Bearer,
                ("http", "basic") => Scheme::Basic,
                ("apiKey", _) => Scheme::ApiKey { location: field("in").into(), name: field("name").into() },
                ("oauth2" | "openIdConnect", _) => Scheme::OAuth,
                (kind, scheme) => {
                    return Err(SpecError(format!("security scheme {name}: {kind} {scheme} is not supported")));
                }
            };
            schemes.insert(name.to_string(), scheme);
        }
        drop(ops);
        Ok(Arc::new(Self { spec, operations, schemes, paths }))
    }

    pub fn operation(&self, id: &str) -> Option<usize> {
        self.operations.iter().position(|o| o.id == id)
    }
}

fn examples_of(holder: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(example) = holder.get("example") {
        out.push(example.clone());
    }
    match holder.get("examples") {
        // Media and parameter objects: a map of Example objects.
        Some(Value::Object(named)) => out.extend(named.values().filter_map(|e| e.get("value")).cloned()),
        // Schemas: an array of values.
        Some(Value::Array(values)) => out.extend(values.iter().cloned()),
        _ => {}
    }
    out
}

fn compile_operation(spec: &Spec, op: &Operation<'_>, ids: &[String]) -> Result<Op, SpecError> {
    let what = |detail: &str| format!("{} {}", op.operation_id, detail);
    let mut params = Vec::new();
    for p in &op.parameters {
        let location = match p.location {
            "path" => Location::Path,
            "query" => Location::Query,
            "header" => Location::Header,
            // Cookies are not sent by this tester.
            _ => continue,
        };
        let raw = p.schema;
        let resolved = spec.resolve(raw)?;
        let mut examples = Vec::new();
        if let Some(param_object) = parameter_object(spec, op, p.name, p.location) {
            examples.extend(examples_of(param_object));
        }
        examples.extend(examples_of(resolved));
        params.push(Param {
            name: p.name.to_string(),
            location,
            required: p.required,
            schema: Schema::compile(spec, raw, &what(&format!("parameter {}", p.name)))?,
            flat: crate::values::flatten(spec, raw),
            examples,
        });
    }
    let body = match op.request_body.and_then(|b| b.get("content")).and_then(Value::as_object) {
        Some(content) => {
            let json = content.iter().find(|(media, _)| is_json(media));
            let (media_type, media) = json.or_else(|| content.iter().next()).expect("content has a media type");
            let schema = match (is_json(media_type), media.get("schema")) {
                (true, Some(raw)) => Some(Schema::compile(spec, raw, &what("request body"))?),
                (true, None) => Some(Schema::compile(spec, &Value::Bool(true), &what("request body"))?),
                _ => None,
            };
            let mut examples = examples_of(media);
            if let Some(raw) = media.get("schema") {
                examples.extend(examples_of(spec.resolve(raw)?));
            }
            Some(Body { media_type: media_type.clone(), required: op.request_body_required(), schema, examples })
        }
        None => None,
    };
    let mut responses = Vec::new();
    for (key, response) in &op.responses {
        let Some(status) = StatusKey::parse(key) else {
            return Err(SpecError(what(&format!("response key {key:?} is not a status"))));
        };
        let mut content = Vec::new();
        for (media_type, media) in response.get("content").and_then(Value::as_object).into_iter().flatten() {
            let schema = match media.get("schema") {
                Some(raw) if is_json(media_type) => {
                    Some(Schema::compile(spec, raw, &what(&format!("response {key} {media_type}")))?)
                }
                _ => None,
            };
            content.push((media_type.clone(), schema));
        }
        let mut headers = Vec::new();
        for (name, header) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
            // Content-Type is described by `content`, never by `headers` (OpenAPI 3.1 §4.8.21).
            if name.eq_ignore_ascii_case("content-type") {
                continue;
            }
            let header = spec.resolve(header)?;
            let schema = match header.get("schema") {
                Some(raw) => Some(Schema::compile(spec, raw, &what(&format!("response {key} header {name}")))?),
                None => None,
            };
            let required = header.get("required").and_then(Value::as_bool).unwrap_or(false);
            let flat = header.get("schema").map_or(Value::Bool(true), |raw| crate::values::flatten(spec, raw));
            headers.push(Header { name: name.clone(), required, schema, flat });
        }
        let mut links = Vec::new();
        for (name, link) in response.get("links").and_then(Value::as_object).into_iter().flatten() {
            let link = spec.resolve(link)?;
            let Some(target_id) = link.get("operationId").and_then(Value::as_str) else {
                // operationRef links are not followed.
                continue;
            };
            let Some(target) = ids.iter().position(|id| id == target_id) else {
                return Err(SpecError(what(&format!("link {name} names an unknown operation {target_id}"))));
            };
            let parameters = link
                .get("parameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.rsplit('.').next().unwrap_or(k).to_string(), v.clone()))
                .collect();
            links.push(Link { name: name.clone(), target, parameters, request_body: link.get("requestBody").cloned() });
        }
        responses.push(Response { status, content, headers, links });
    }
    Ok(Op {
        id: op.operation_id.to_string(),
        method: op.method.to_uppercase(),
        path: op.path.to_string(),
        params,
        body,
        responses,
        security: op.security.iter().map(|alt| alt.iter().map(|s| s.to_string()).collect()).collect(),
    })
}

/// The parameter object itself (for its `example`), found again by name and location.
fn parameter_object<'a>(spec: &'a Spec, op: &Operation<'a>, name: &str, location: &str) -> Option<&'a Value> {
    let path_item = spec.doc.get("paths")?.get(op.path)?;
    let lists = [path_item.get("parameters"), op.op.get("parameters")];
    lists.into_iter().flatten().filter_map(Value::as_array).flatten().filter_map(|p| spec.resolve(p).ok()).rfind(|p| {
        p.get("name").and_then(Value::as_str) == Some(name) && p.get("in").and_then(Value::as_str) == Some(location)
    })
}

/// `application/json`, `application/problem+json`, ...
pub fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}
