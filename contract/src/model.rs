//! The document compiled for testing: every operation with its parameters (location, style,
//! explode), request body media types, documented responses, links and security; each schema
//! compiled once into a validator (draft 2020-12, formats on).
//!
//! Requests and responses see a schema differently (OpenAPI 3.1 §4.8.24.4 via JSON Schema's
//! `readOnly`/`writeOnly`): in the **request view** a readOnly property is neither required nor
//! sent; in the **response view** a writeOnly property is not required, and present it is a
//! failure (it leaked). Each view is the whole document rewritten once, so `$ref`s resolve in it.
//!
//! Whatever cannot be tested faithfully is recorded with its JSON pointer and why: on the media type
//! (`Media::unusable`), on the operation (`Op::untestable`), or as a refusal of the whole document.

use std::collections::BTreeMap;
use std::sync::Arc;

use commerce_spec::{Operation, Spec, SpecError, Style, escape};
use serde_json::{Map, Value};

/// A JSON Schema with its compiled validator.
pub struct Schema {
    /// The schema as written (its `$ref`s resolve against the view it was compiled in).
    pub raw: Value,
    pub validator: jsonschema::Validator,
}

impl Schema {
    fn compile(spec: &Spec, raw: &Value, at: &str) -> Result<Self, SpecError> {
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&spec.standalone_schema(raw))
            .map_err(|e| SpecError(format!("{at}: the schema does not compile: {e}")))?;
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

pub use commerce_spec::params::Location;

pub struct Param {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub schema: Schema,
    /// The schema with `$ref`s followed and `allOf` merged, to read the parameter's wire text by.
    pub flat: Value,
    pub style: Style,
    pub explode: bool,
    pub allow_reserved: bool,
    /// A parameter described with `content`: its value is that media type's text (JSON).
    pub content_type: Option<String>,
    /// Documented examples: the parameter's `example`, its `examples`, then its schema's.
    pub examples: Vec<Value>,
    pub pointer: String,
}

/// How a body media type is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`, `*+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data` (and other `multipart/*`).
    Multipart,
    /// `text/*` other than XML.
    Text,
    /// `application/xml`, `text/xml`, `*+xml`.
    Xml,
    /// `application/octet-stream` and any other media type with a binary string schema.
    Binary,
}

/// How one property of a form or multipart body is written (the media type's `encoding` map).
#[derive(Debug, Clone, Default)]
pub struct PropertyEncoding {
    pub style: Option<Style>,
    pub explode: Option<bool>,
    pub content_type: Option<String>,
}

/// One media type of a request body.
pub struct Media {
    pub media_type: String,
    pub encoding: Encoding,
    /// `None` for a media type without a schema (any content).
    pub schema: Option<Schema>,
    pub properties: BTreeMap<String, PropertyEncoding>,
    /// Documented examples: the media type's `example`/`examples`, then its schema's.
    pub examples: Vec<Value>,
    /// Why bodies of this media type cannot be generated, if they cannot.
    pub unusable: Option<String>,
    pub pointer: String,
}

impl Media {
    pub fn usable(&self) -> bool {
        self.unusable.is_none()
    }
}

pub struct Body {
    pub required: bool,
    pub media: Vec<Media>,
}

impl Body {
    /// The media types bodies can be generated for.
    pub fn usable(&self) -> impl Iterator<Item = (usize, &Media)> {
        self.media.iter().enumerate().filter(|(_, m)| m.usable())
    }
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

    /// Whether it documents a success (2XX; `default` is not counted).
    pub fn is_success(self) -> bool {
        matches!(self, Self::Exact(200..=299) | Self::Range(2))
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
    /// `(media type, schema)`; the schema is `None` for a media type without one, and for media
    /// types whose bodies cannot be read (`unreadable` says which).
    pub content: Vec<(String, Option<Schema>)>,
    /// Media types with a structured schema that this tester cannot parse (XML, ...).
    pub unreadable: Vec<String>,
    pub headers: Vec<Header>,
    pub links: Vec<Link>,
}

/// An OpenAPI link: how to call `operation` with values from this response.
#[derive(Clone)]
pub struct Link {
    pub name: String,
    /// Not written in the document, but implied by its paths (see [`infer_links`]).
    pub inferred: bool,
    /// Index of the target operation in `Api::operations`.
    pub target: usize,
    /// `(parameter name, runtime expression or constant)`.
    pub parameters: Vec<(String, Value)>,
    pub request_body: Option<Value>,
}

/// One scheme of a security requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub scheme: String,
    pub scopes: Vec<String>,
}

pub struct Op {
    /// The operationId, or a derived name: `GET /users/{id}`.
    pub id: String,
    /// Upper case: `GET`.
    pub method: String,
    pub path: String,
    pub tags: Vec<String>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub responses: Vec<Response>,
    /// Alternatives of AND-ed security schemes; empty means no authentication; an empty
    /// alternative makes it optional.
    pub security: Vec<Vec<Requirement>>,
    /// Why no request can be built for this operation, if none can.
    pub untestable: Option<String>,
    pub pointer: String,
}

impl Param {
    /// What decides how the parameter is written on the wire.
    pub fn shape(&self) -> commerce_spec::params::Shape<'_> {
        commerce_spec::params::Shape {
            name: &self.name,
            location: self.location,
            style: self.style,
            explode: self.explode,
            content_type: self.content_type.as_deref(),
        }
    }
}

impl Op {
    /// `GET /products/{productId}`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Whether every request needs credentials.
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

/// Where an apiKey is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIn {
    Header,
    Query,
    Cookie,
}

/// How a security scheme carries its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `type: http, scheme: bearer`.
    Bearer,
    /// `type: http, scheme: basic`.
    Basic,
    /// Another `type: http` scheme (`digest`, `hoba`, ...): sent as `Authorization: <scheme> <credential>`.
    OtherHttp(String),
    ApiKey {
        location: KeyIn,
        name: String,
    },
    /// OAuth 2: a bearer token, given or obtained with the client-credentials flow at `token_url`.
    OAuth2 {
        token_url: Option<String>,
    },
    /// OpenID Connect: a bearer token, given or obtained from the provider `discovery_url` names.
    OpenIdConnect {
        discovery_url: String,
    },
    /// A client certificate presented in the TLS handshake.
    MutualTls,
}

impl Scheme {
    pub fn describe(&self) -> String {
        match self {
            Scheme::Bearer => "http bearer".into(),
            Scheme::Basic => "http basic".into(),
            Scheme::OtherHttp(s) => format!("http {s}"),
            Scheme::ApiKey { location, name } => format!("apiKey {name} in {location:?}").to_lowercase(),
            Scheme::OAuth2 { .. } => "oauth2".into(),
            Scheme::OpenIdConnect { .. } => "openIdConnect".into(),
            Scheme::MutualTls => "mutualTLS".into(),
        }
    }
}

pub struct Api {
    /// The document as read (normalised to the 3.1 shape).
    pub spec: Spec,
    /// The request view: readOnly properties removed.
    pub requests: Spec,
    pub operations: Vec<Op>,
    pub schemes: BTreeMap<String, Scheme>,
    /// Every path with its documented methods (upper case), for the unsupported-method cases.
    pub paths: BTreeMap<String, Vec<String>>,
}

impl Api {
    pub fn compile(spec: Spec) -> Result<Arc<Self>, SpecError> {
        let requests = Spec { doc: view(&spec, View::Request), version: spec.version };
        let responses = Spec { doc: view(&spec, View::Response), version: spec.version };
        let mut schemes = BTreeMap::new();
        for (name, raw) in spec.components("securitySchemes") {
            let at = format!("/components/securitySchemes/{}", escape(name));
            schemes.insert(name.to_string(), scheme(&spec, raw, &at)?);
        }
        let req_ops = requests.operations()?;
        let resp_ops = responses.operations()?;
        let ids: Vec<String> = req_ops.iter().map(|o| o.name.to_string()).collect();
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(SpecError(format!("{}: the operationId {id} is used twice", req_ops[i].pointer)));
            }
        }
        let mut operations = Vec::with_capacity(req_ops.len());
        let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (req, resp) in req_ops.iter().zip(&resp_ops) {
            let mut op = compile_requests(&requests, req)?;
            op.responses = compile_responses(&responses, resp, &ids)?;
            for alternative in &op.security {
                for requirement in alternative {
                    if !schemes.contains_key(&requirement.scheme) {
                        return Err(SpecError(format!(
                            "{}/security: the scheme {} is not defined in components.securitySchemes",
                            op.pointer, requirement.scheme
                        )));
                    }
                }
            }
            paths.entry(req.path.to_string()).or_default().push(req.method.to_uppercase());
            operations.push(op);
        }
        drop((req_ops, resp_ops));
        infer_links(&mut operations);
        Ok(Arc::new(Self { spec, requests, operations, schemes, paths }))
    }

    /// The operation named `id` (an operationId, or a derived `METHOD /path`).
    pub fn operation(&self, id: &str) -> Option<usize> {
        self.operations.iter().position(|o| o.id == id)
    }
}

fn scheme(spec: &Spec, raw: &Value, at: &str) -> Result<Scheme, SpecError> {
    let raw = spec.resolve(raw)?;
    let field = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or_default();
    Ok(match field("type") {
        "http" => match field("scheme").to_ascii_lowercase().as_str() {
            "bearer" => Scheme::Bearer,
            "basic" => Scheme::Basic,
            "" => return Err(SpecError(format!("{at}: an http scheme needs `scheme`"))),
            other => Scheme::OtherHttp(other.to_string()),
        },
        "apiKey" => {
            let location = match field("in") {
                "header" => KeyIn::Header,
                "query" => KeyIn::Query,
                "cookie" => KeyIn::Cookie,
                other => return Err(SpecError(format!("{at}/in: {other:?} is not header, query or cookie"))),
            };
            if field("name").is_empty() {
                return Err(SpecError(format!("{at}: an apiKey scheme needs `name`")));
            }
            Scheme::ApiKey { location, name: field("name").to_string() }
        }
        "oauth2" => Scheme::OAuth2 {
            token_url: raw.pointer("/flows/clientCredentials/tokenUrl").and_then(Value::as_str).map(String::from),
        },
        "openIdConnect" => Scheme::OpenIdConnect { discovery_url: field("openIdConnectUrl").to_string() },
        "mutualTLS" => Scheme::MutualTls,
        other => return Err(SpecError(format!("{at}/type: {other:?} is not a security scheme type"))),
    })
}

// ---------------------------------------------------------------------------------------------
// Views

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Request,
    Response,
}

/// The document with every object schema rewritten for `view`.
fn view(spec: &Spec, view: View) -> Value {
    let mut doc = spec.doc.clone();
    rewrite(spec, &mut doc, view);
    doc
}

/// Keys whose values are data, not schemas or OpenAPI objects.
const DATA_KEYS: [&str; 5] = ["example", "examples", "const", "enum", "default"];

fn flag(spec: &Spec, schema: &Value, key: &str) -> bool {
    let resolved = spec.resolve(schema).unwrap_or(schema);
    [schema, resolved].iter().any(|s| s.get(key) == Some(&Value::Bool(true)))
}

fn rewrite(spec: &Spec, value: &mut Value, view: View) {
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            items.iter_mut().for_each(|v| rewrite(spec, v, view));
        }
        return;
    };
    if let Some(Value::Object(properties)) = map.get("properties") {
        let key = if view == View::Request { "readOnly" } else { "writeOnly" };
        let hidden: Vec<String> =
            properties.iter().filter(|(_, s)| flag(spec, s, key)).map(|(name, _)| name.clone()).collect();
        if !hidden.is_empty() {
            if let Some(Value::Array(required)) = map.get_mut("required") {
                required.retain(|r| !r.as_str().is_some_and(|r| hidden.iter().any(|h| h == r)));
            }
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for name in &hidden {
                    match view {
                        // Never sent.
                        View::Request => {
                            properties.remove(name);
                        }
                        // Present, it fails validation by name: a writeOnly value leaked.
                        View::Response => {
                            properties.insert(name.clone(), Value::Bool(false));
                        }
                    }
                }
            }
        }
    }
    for (key, child) in map.iter_mut() {
        if !DATA_KEYS.contains(&key.as_str()) && !key.starts_with("x-") || key == commerce_spec::load::BUNDLED {
            rewrite(spec, child, view);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operations

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

/// Essence of a media type, lower case: `application/json; charset=utf-8` -> `application/json`.
pub fn essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// `application/json`, `application/problem+json`, ...
pub fn is_json(media_type: &str) -> bool {
    let essence = essence(media_type);
    essence == "application/json" || essence.ends_with("+json") || essence == "*/*"
}

fn is_xml(media_type: &str) -> bool {
    let essence = essence(media_type);
    essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml")
}

/// Whether a (resolved) schema describes a string of bytes rather than structured data.
fn is_binary(spec: &Spec, schema: Option<&Value>) -> bool {
    let Some(schema) = schema else { return true };
    let flat = crate::values::flatten(spec, schema);
    if flat == Value::Bool(true) || flat.as_object().is_some_and(Map::is_empty) {
        return true;
    }
    let types = crate::values::types(&flat);
    types == ["string"]
        && (matches!(flat.get("format").and_then(Value::as_str), Some("binary" | "byte"))
            || flat.get("contentMediaType").is_some()
            || flat.get("contentEncoding").is_some()
            || flat.get("format").is_none())
}

fn media(spec: &Spec, media_type: &str, media: &Value, at: &str) -> Result<Media, SpecError> {
    let raw_schema = media.get("schema");
    let mut examples = examples_of(media);
    if let Some(raw) = raw_schema {
        examples.extend(examples_of(spec.resolve(raw)?));
    }
    let essence = essence(media_type);
    let structured = || -> Vec<&'static str> {
        raw_schema.map(|s| crate::values::types(&crate::values::flatten(spec, s))).unwrap_or_default()
    };
    let mut unusable = None;
    let encoding = if is_json(media_type) {
        Encoding::Json
    } else if essence == "application/x-www-form-urlencoded" {
        Encoding::Form
    } else if essence.starts_with("multipart/") {
        Encoding::Multipart
    } else if is_xml(media_type) {
        Encoding::Xml
    } else if essence.starts_with("text/") {
        Encoding::Text
    } else if is_binary(spec, raw_schema) {
        Encoding::Binary
    } else {
        unusable = Some(format!(
            "{media_type} bodies with a {} schema have no known serialization",
            structured().join(" or ")
        ));
        Encoding::Binary
    };
    if matches!(encoding, Encoding::Form | Encoding::Multipart) {
        let types = structured();
        if raw_schema.is_some() && !types.is_empty() && !types.contains(&"object") {
            unusable = Some(format!("a {media_type} body must be an object, the schema is {}", types.join(" or ")));
        }
    }
    if encoding == Encoding::Xml && raw_schema.is_none() && !examples.iter().any(Value::is_string) {
        unusable = Some(format!("{media_type}: no schema and no example to build XML from"));
    }
    if encoding == Encoding::Text {
        let types = structured();
        if types.iter().any(|t| matches!(*t, "object" | "array")) {
            unusable =
                Some(format!("{media_type} bodies with a {} schema have no known serialization", types.join(" or ")));
        }
    }
    let schema = match raw_schema {
        Some(raw) => Some(Schema::compile(spec, raw, &format!("{at}/schema"))?),
        None => None,
    };
    let mut properties = BTreeMap::new();
    for (name, encoding) in media.get("encoding").and_then(Value::as_object).into_iter().flatten() {
        let e_at = format!("{at}/encoding/{}", escape(name));
        let style = match encoding.get("style").and_then(Value::as_str) {
            None => None,
            Some(text) => Some(match text {
                "form" => Style::Form,
                "spaceDelimited" => Style::SpaceDelimited,
                "pipeDelimited" => Style::PipeDelimited,
                "deepObject" => Style::DeepObject,
                other => return Err(SpecError(format!("{e_at}/style: {other:?} is not a style of form fields"))),
            }),
        };
        properties.insert(
            name.clone(),
            PropertyEncoding {
                style,
                explode: encoding.get("explode").and_then(Value::as_bool),
                content_type: encoding.get("contentType").and_then(Value::as_str).map(String::from),
            },
        );
    }
    Ok(Media {
        media_type: media_type.to_string(),
        encoding,
        schema,
        properties,
        examples,
        unusable,
        pointer: at.into(),
    })
}

fn compile_requests(spec: &Spec, op: &Operation<'_>) -> Result<Op, SpecError> {
    let mut params = Vec::new();
    let mut untestable = None;
    for p in &op.parameters {
        let location = p.place;
        let at = &p.pointer;
        if location == Location::Header
            && ["accept", "content-type", "authorization"].contains(&p.name.to_ascii_lowercase().as_str())
        {
            // OpenAPI 3.1 §4.8.12.1: such header parameters are ignored; the tester sets them itself.
            continue;
        }
        let mut examples = examples_of(p.object);
        if let Some(media_object) = p.content_type.and_then(|c| p.object.get("content")?.get(c)) {
            examples.extend(examples_of(media_object));
        }
        examples.extend(examples_of(spec.resolve(p.schema)?));
        if let Some(content_type) = p.content_type
            && !is_json(content_type)
            && !essence(content_type).starts_with("text/")
        {
            let why = format!("{at}/content: parameters of media type {content_type} cannot be written");
            if p.required {
                untestable.get_or_insert(why);
            }
            continue;
        }
        params.push(Param {
            name: p.name.to_string(),
            location,
            required: p.required,
            schema: Schema::compile(spec, p.schema, &format!("{at}/schema"))?,
            flat: crate::values::flatten(spec, p.schema),
            style: p.style,
            explode: p.explode,
            allow_reserved: p.allow_reserved,
            content_type: p.content_type.map(String::from),
            examples,
            pointer: at.clone(),
        });
    }
    let body = match op.request_body {
        Some(body) => {
            let at = format!("{}/requestBody", op.pointer);
            let mut list = Vec::new();
            for (media_type, media_object) in body.get("content").and_then(Value::as_object).into_iter().flatten() {
                list.push(media(spec, media_type, media_object, &format!("{at}/content/{}", escape(media_type)))?);
            }
            let required = op.request_body_required();
            if list.is_empty() {
                return Err(SpecError(format!("{at}/content: a request body must name a media type")));
            }
            if required && !list.iter().any(Media::usable) {
                let reasons: Vec<String> = list.iter().filter_map(|m| m.unusable.clone()).collect();
                untestable.get_or_insert(format!("{at}: {}", reasons.join("; ")));
            }
            Some(Body { required, media: list })
        }
        None => None,
    };
    let security = op
        .security
        .iter()
        .map(|alternative| {
            alternative
                .iter()
                .map(|r| Requirement {
                    scheme: r.scheme.to_string(),
                    scopes: r.scopes.iter().map(|s| s.to_string()).collect(),
                })
                .collect()
        })
        .collect();
    Ok(Op {
        id: op.name.to_string(),
        method: op.method.to_uppercase(),
        path: op.path.to_string(),
        tags: op
            .op
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        params,
        body,
        responses: Vec::new(),
        security,
        untestable,
        pointer: op.pointer.clone(),
    })
}

fn compile_responses(spec: &Spec, op: &Operation<'_>, ids: &[String]) -> Result<Vec<Response>, SpecError> {
    let mut responses = Vec::new();
    for (key, response) in &op.responses {
        let at = format!("{}/responses/{}", op.pointer, escape(key));
        let Some(status) = StatusKey::parse(key) else {
            return Err(SpecError(format!("{at}: {key:?} is not a status, a range like 4XX, or default")));
        };
        let mut content = Vec::new();
        let mut unreadable = Vec::new();
        for (media_type, media) in response.get("content").and_then(Value::as_object).into_iter().flatten() {
            let m_at = format!("{at}/content/{}/schema", escape(media_type));
            let schema = match media.get("schema") {
                Some(raw) if is_json(media_type) => Some(Schema::compile(spec, raw, &m_at)?),
                Some(raw) if essence(media_type).starts_with("text/") && !is_xml(media_type) => {
                    let types = crate::values::types(&crate::values::flatten(spec, raw));
                    if types.iter().all(|t| *t == "string") {
                        Some(Schema::compile(spec, raw, &m_at)?)
                    } else {
                        unreadable.push(media_type.clone());
                        None
                    }
                }
                Some(raw) if !is_binary(spec, Some(raw)) => {
                    unreadable.push(media_type.clone());
                    None
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
            let h_at = format!("{at}/headers/{}", escape(name));
            let header = spec.resolve(header)?;
            let raw = header.get("schema").or_else(|| {
                header
                    .get("content")
                    .and_then(Value::as_object)
                    .and_then(|c| c.values().next())
                    .and_then(|m| m.get("schema"))
            });
            let schema = match raw {
                Some(raw) => Some(Schema::compile(spec, raw, &format!("{h_at}/schema"))?),
                None => None,
            };
            let required = header.get("required").and_then(Value::as_bool).unwrap_or(false);
            let flat = raw.map_or(Value::Bool(true), |raw| crate::values::flatten(spec, raw));
            headers.push(Header { name: name.clone(), required, schema, flat });
        }
        let mut links = Vec::new();
        for (name, link) in response.get("links").and_then(Value::as_object).into_iter().flatten() {
            let l_at = format!("{at}/links/{}", escape(name));
            let link = spec.resolve(link)?;
            let target_id = match (
                link.get("operationId").and_then(Value::as_str),
                link.get("operationRef").and_then(Value::as_str),
            ) {
                (Some(id), _) => id.to_string(),
                (None, Some(reference)) => match operation_by_ref(spec, reference, ids) {
                    Some(id) => id,
                    None => {
                        return Err(SpecError(format!(
                            "{l_at}/operationRef: {reference} names no operation of this document"
                        )));
                    }
                },
                (None, None) => return Err(SpecError(format!("{l_at}: a link needs operationId or operationRef"))),
            };
            let Some(target) = ids.iter().position(|id| *id == target_id) else {
                return Err(SpecError(format!("{l_at}/operationId: {target_id} names no operation")));
            };
            let parameters = link
                .get("parameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.rsplit('.').next().unwrap_or(k).to_string(), v.clone()))
                .collect();
            let request_body = link.get("requestBody").cloned();
            links.push(Link { name: name.clone(), inferred: false, target, parameters, request_body });
        }
        responses.push(Response { status, content, unreadable, headers, links });
    }
    Ok(responses)
}

/// The prefix of an inferred link parameter's expression: `$inferred:<name>` is the created
/// resource's identifier, read at run time from the response (see `runner::evaluate_expression`).
pub const INFERRED: &str = "$inferred:";

/// The names of a path template's parameters, in order.
pub fn template_names(path: &str) -> Vec<&str> {
    path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect()
}

/// Links a document does not write but its paths imply, as Schemathesis infers them: a success of
/// `POST /items` creates what `/items/{id}` serves, and what lives under it (`/items/{id}/parts`),
/// the new `{id}` named by the response (its `id` member, a member of the parameter's name, or the
/// last segment of its `Location` header) and the creator's own path parameters passed on. Only
/// responses without explicit links get them.
fn infer_links(operations: &mut [Op]) {
    let shapes: Vec<(String, String)> = operations.iter().map(|o| (o.method.clone(), o.path.clone())).collect();
    // Header and query parameters each target shares, by name, with its creator: a scope such as
    // a workspace or tenant header must be the same for the read as for the create.
    let shared: Vec<Vec<(String, Location)>> = operations
        .iter()
        .map(|o| {
            o.params
                .iter()
                .filter(|p| matches!(p.location, Location::Header | Location::Query))
                .map(|p| (p.name.clone(), p.location))
                .collect()
        })
        .collect();
    for (creator, op) in operations.iter_mut().enumerate().filter(|(_, o)| o.method == "POST") {
        let base = op.path.trim_end_matches('/');
        let own = template_names(base);
        let mut inferred = Vec::new();
        for (target, (method, path)) in shapes.iter().enumerate() {
            let Some(rest) = path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else { continue };
            let first = rest.split('/').next().unwrap_or_default();
            let Some(created) = first.strip_prefix('{').and_then(|f| f.strip_suffix('}')) else { continue };
            let others: Vec<&str> = template_names(path).into_iter().filter(|n| *n != created).collect();
            if !others.iter().all(|n| own.contains(n)) {
                continue;
            }
            let mut parameters = vec![(created.to_string(), Value::String(format!("{INFERRED}{created}")))];
            parameters.extend(others.iter().map(|n| (n.to_string(), Value::String(format!("$request.path.{n}")))));
            for (name, location) in shared[target].iter().filter(|p| shared[creator].contains(p)) {
                let place = if *location == Location::Header { "header" } else { "query" };
                parameters.push((name.clone(), Value::String(format!("$request.{place}.{name}"))));
            }
            inferred.push(Link {
                name: format!("inferred: {method} {path}"),
                inferred: true,
                target,
                parameters,
                request_body: None,
            });
        }
        if inferred.is_empty() {
            continue;
        }
        for response in op.responses.iter_mut().filter(|r| r.status.is_success()) {
            if response.links.is_empty() {
                response.links = inferred.clone();
            }
        }
    }
}

/// The operation a local `operationRef` (`#/paths/~1users~1{id}/get`) names.
fn operation_by_ref(spec: &Spec, reference: &str, ids: &[String]) -> Option<String> {
    let pointer = reference.strip_prefix('#')?;
    let mut tokens = pointer.trim_start_matches('/').split('/');
    if tokens.next()? != "paths" {
        return None;
    }
    let path = tokens.next()?.replace("~1", "/").replace("~0", "~");
    let method = tokens.next()?;
    let op = spec.doc.pointer(pointer)?;
    Some(match op.get("operationId").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => format!("{} {path}", method.to_uppercase()),
    })
    .filter(|id| ids.contains(id))
}
