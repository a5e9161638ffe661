//! The source spec, compiled into the binary: served as-is at `/openapi.yaml` and `/openapi.json`,
//! and the JSON Schemas every request body is checked against (draft 2020-12, formats on), so the
//! spec's constraints are enforced exactly as written, with a pointer to each failing field.

use std::collections::HashMap;

use commerce_generated::models::FieldError;
use commerce_spec::Spec;
use serde_json::Value;

use crate::error::AppError;

/// `openapi/commerce.yaml` as written.
pub const SOURCE_YAML: &str = include_str!("../openapi/commerce.yaml");

/// At most this many field errors are listed for one body; `errorCount` says how many there were.
pub const MAX_ERRORS: usize = commerce_runtime::validation::MAX_PROBLEMS;

/// The spec, ready to serve and to validate with.
pub struct ApiDocument {
    pub yaml: &'static str,
    pub json: String,
    /// The document's rules for bodies and parameters (`commerce_runtime::Validation`).
    validation: commerce_runtime::Validation,
    /// `(METHOD, path template, parameter name)` -> the parameter's schema, for explaining rejections.
    parameters: HashMap<(String, String, String), ParameterSchema>,
    /// Every path template, split into segments: `/products/{productId}` -> ["products", "{productId}"],
    /// with the methods it serves.
    paths: Vec<PathItem>,
}

/// A path template split into segments, with the methods it serves and their operationIds.
struct PathItem {
    segments: Vec<String>,
    /// Upper case, in the order of `commerce_spec::METHODS`.
    methods: Vec<String>,
    /// The operationId of each of `methods`.
    operation_ids: Vec<String>,
    /// The query and header parameters of each of `methods`: `(location, name)`.
    text_parameters: Vec<Vec<(String, String)>>,
}

impl ApiDocument {
    /// Parses the embedded spec and compiles one validator per operation with a JSON body.
    pub fn load() -> Self {
        Self::from_yaml(SOURCE_YAML).expect("the embedded spec is valid (checked by the test suite)")
    }

    pub fn from_yaml(yaml: &'static str) -> Result<Self, String> {
        let spec = Spec::parse(yaml).map_err(|e| e.0)?;
        let validation = commerce_runtime::Validation::new(&spec)?;
        let mut parameters = HashMap::new();
        for op in spec.operations().map_err(|e| e.0)? {
            for p in &op.parameters {
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&spec.standalone_schema(p.schema))
                    .map_err(|e| format!("{}: parameter {} does not compile: {e}", op.name, p.name))?;
                let resolved = spec.resolve(p.schema).map_err(|e| e.0)?;
                let ty = commerce_spec::primary_type(resolved).unwrap_or("string").to_string();
                let key = (op.method.to_uppercase(), op.path.to_string(), p.name.to_string());
                parameters.insert(key, ParameterSchema { location: p.location.to_string(), ty, validator });
            }
        }
        let json = serde_json::to_string_pretty(&spec.doc).map_err(|e| e.to_string())?;
        let paths = spec
            .doc
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(template, item)| {
                let served: Vec<(&str, &Value)> =
                    commerce_spec::METHODS.iter().filter_map(|m| Some((*m, item.get(*m)?))).collect();
                let text_parameters = served
                    .iter()
                    .map(|(m, _)| {
                        let prefix = (m.to_uppercase(), template.clone());
                        parameters
                            .iter()
                            .filter(|((method, path, _), p)| {
                                (method, path) == (&prefix.0, &prefix.1)
                                    && matches!(p.location.as_str(), "query" | "header")
                            })
                            .map(|((_, _, name), p)| (p.location.clone(), name.clone()))
                            .collect()
                    })
                    .collect();
                PathItem {
                    segments: template.trim_matches('/').split('/').map(String::from).collect(),
                    text_parameters,
                    methods: served.iter().map(|(m, _)| m.to_uppercase()).collect(),
                    operation_ids: served
                        .iter()
                        .map(|(_, op)| op.get("operationId").and_then(Value::as_str).unwrap_or_default().to_string())
                        .collect(),
                }
            })
            .collect();
        Ok(Self { yaml, json, validation, parameters, paths })
    }

    /// Why the raw value of parameter `name` breaks its schema, in the words body errors use
    /// ("101 is greater than the maximum of 100"); `None` if the spec has no such parameter.
    pub fn explain_parameter(&self, method: &str, path: &str, query: Option<&str>, name: &str) -> Option<String> {
        let template = self.template(path)?;
        let key = (method.to_string(), format!("/{}", template.join("/")), name.to_string());
        let param = self.parameters.get(&key)?;
        let raw = match param.location.as_str() {
            "query" => serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
                .ok()?
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)?,
            "path" => {
                let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
                let index = template.iter().position(|t| *t == format!("{{{name}}}"))?;
                segments.get(index)?.to_string()
            }
            _ => return None,
        };
        // Query and path values are text: read them as the type the schema declares, so that the
        // schema, not the parser, says what is wrong.
        let value = commerce_spec::read_parameter(&[param.ty.as_str()], &raw);
        param.validator.iter_errors(&value).next().map(|e| e.to_string())
    }

    /// The methods the spec documents for the path template `request_path` matches.
    pub fn allowed_methods(&self, request_path: &str) -> Option<&[String]> {
        self.matching(request_path).map(|item| item.methods.as_slice())
    }

    fn template(&self, request_path: &str) -> Option<&Vec<String>> {
        self.matching(request_path).map(|item| &item.segments)
    }

    fn matching(&self, request_path: &str) -> Option<&PathItem> {
        let segments: Vec<&str> = request_path.trim_matches('/').split('/').collect();
        self.paths.iter().find(|item| {
            let t = &item.segments;
            t.len() == segments.len() && t.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s)
        })
    }

    /// The operationId that serves `method` on `request_path`, if the spec has one (every request
    /// asks, for the metrics and the timeout: no allocation beyond the path's split).
    pub fn operation_id(&self, method: &str, request_path: &str) -> Option<&str> {
        let item = self.matching(request_path)?;
        let index = item.methods.iter().position(|m| m == method)?;
        Some(item.operation_ids[index].as_str())
    }

    /// The name of the `index`-th path parameter of the template `request_path` matches.
    pub fn path_parameter(&self, request_path: &str, index: usize) -> Option<&str> {
        self.template(request_path)?.iter().filter_map(|t| t.strip_prefix('{')?.strip_suffix('}')).nth(index)
    }

    /// Refuses query and header parameters of the operation serving `method` on `path` whose text
    /// no parameter can hold: a query value that is not UTF-8 once decoded or holds a NUL, a header
    /// value that is not visible ASCII. (Undeclared parameters are ignored, as everywhere.)
    pub fn check_parameter_text(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &poem::http::HeaderMap,
    ) -> Result<(), AppError> {
        let Some(item) = self.matching(path) else { return Ok(()) };
        let Some(index) = item.methods.iter().position(|m| m == method) else { return Ok(()) };
        for (location, name) in &item.text_parameters[index] {
            if location == "header" {
                for value in headers.get_all(name.as_str()) {
                    if !value.as_bytes().iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)) {
                        return Err(AppError::invalid_parameter(name, "the value is not visible ASCII"));
                    }
                }
                continue;
            }
            for pair in query.unwrap_or_default().split('&') {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if percent_decode(key).as_deref() != Ok(name.as_str()) {
                    continue;
                }
                match percent_decode(value) {
                    Err(()) => {
                        return Err(AppError::invalid_parameter(name, "the value is not UTF-8 once percent-decoded"));
                    }
                    Ok(text) if text.contains('\0') => {
                        return Err(AppError::invalid_parameter(name, "the value holds a NUL character"));
                    }
                    Ok(_) => {}
                }
            }
        }
        Ok(())
    }

    /// Checks `body` against the request schema of `operation_id`: 422 with one pointer per problem
    /// (the first [`MAX_ERRORS`] of them, and how many there are). Strings holding NUL are refused
    /// too: no database stores them the same way.
    pub fn validate_body(&self, operation_id: &str, body: &Value) -> Result<(), AppError> {
        self.validation.body(operation_id, body).map_err(invalid)
    }

    /// Checks the parameters of `operation_id` in `req` against their schemas, read as their
    /// styles say: 400 naming each.
    pub fn validate_parameters(&self, operation_id: &str, req: &poem::Request) -> Result<(), AppError> {
        self.validation.parameters(operation_id, req).map_err(|invalid| {
            let errors: Vec<FieldError> = invalid.problems.into_iter().map(field_error).collect();
            AppError::BadRequest { code: "invalid_parameter", detail: validation_detail(&errors), errors }
        })
    }
}

/// The runtime's problems as the API's field errors.
fn field_error(problem: commerce_runtime::Problem) -> FieldError {
    FieldError { pointer: problem.pointer, parameter: problem.parameter, detail: problem.detail }
}

fn validation_detail(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("{}: {}", one.pointer.as_deref().or(one.parameter.as_deref()).unwrap_or("body"), one.detail),
        many => format!("the request has {} invalid fields", many.len()),
    }
}

/// A body's problems as a 422: every one listed, or the first [`MAX_ERRORS`] and the count.
pub fn invalid(invalid: commerce_runtime::Invalid) -> AppError {
    let total = invalid.total;
    let errors: Vec<FieldError> = invalid.problems.into_iter().map(field_error).collect();
    if total > errors.len() {
        AppError::TooManyValidationErrors { errors, total }
    } else {
        AppError::Validation(errors)
    }
}

/// `text` percent-decoded (`+` is a space in a query), `Err` if the bytes are not UTF-8.
fn percent_decode(text: &str) -> Result<std::borrow::Cow<'_, str>, ()> {
    let text = text.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&text).collect();
    String::from_utf8(bytes).map(std::borrow::Cow::Owned).map_err(|_| ())
}

struct ParameterSchema {
    location: String,
    /// The schema's JSON type (`integer`, `boolean`, ...), to read the raw text as.
    ty: String,
    validator: jsonschema::Validator,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(result: Result<(), AppError>) -> Vec<String> {
        match result {
            Err(AppError::Validation(errors)) => errors.into_iter().filter_map(|e| e.pointer).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn errors_point_at_the_offending_fields() {
        let doc = ApiDocument::load();
        let body =
            json!({"sku": "ok-1", "name": "", "category": "food", "price": -1, "currency": "USD", "colour": "red"});
        let mut found = pointers(doc.validate_body("createProduct", &body));
        found.sort();
        assert_eq!(found, ["/category", "/colour", "/name", "/price"]);
    }

    #[test]
    fn missing_fields_point_at_the_field_itself() {
        let doc = ApiDocument::load();
        let found = pointers(doc.validate_body("login", &json!({"tenant": "demo", "email": "a@example.com"})));
        assert_eq!(found, ["/password"]);
    }

    #[test]
    fn the_served_spec_is_the_one_the_code_was_generated_from() {
        use sha2::{Digest, Sha256};
        assert_eq!(
            hex::encode(Sha256::digest(SOURCE_YAML.as_bytes())),
            commerce_generated::SPEC_SHA256,
            "openapi/commerce.yaml changed since the last `cargo xtask codegen`"
        );
    }

    #[test]
    fn path_parameters_are_named_from_the_matching_template() {
        let doc = ApiDocument::load();
        assert_eq!(doc.path_parameter("/products/not-a-uuid", 0), Some("productId"));
        assert_eq!(doc.path_parameter("/orders/x/status", 0), Some("orderId"));
        assert_eq!(doc.path_parameter("/nowhere/x", 0), None);
        assert_eq!(doc.allowed_methods("/products/x").unwrap(), ["GET", "DELETE", "PATCH"]);
    }

    #[test]
    fn parameter_rejections_are_explained_by_the_schema() {
        let doc = ApiDocument::load();
        let explain = |query: &str, name: &str| doc.explain_parameter("GET", "/products", Some(query), name);
        assert_eq!(explain("pageSize=101", "pageSize").as_deref(), Some("101 is greater than the maximum of 100"));
        assert_eq!(explain("page=two", "page").as_deref(), Some("\"two\" is not of type \"integer\""));
        assert_eq!(explain("active=maybe", "active").as_deref(), Some("\"maybe\" is not of type \"boolean\""));
        assert!(explain("category=food", "category").unwrap().contains("is not one of"));
        assert_eq!(
            doc.explain_parameter("GET", "/products/not-a-uuid", None, "productId").as_deref(),
            Some("\"not-a-uuid\" is not a \"uuid\"")
        );
        assert_eq!(explain("x=1", "nope"), None);
    }

    #[test]
    fn formats_are_checked() {
        let doc = ApiDocument::load();
        let body = json!({"tenant": "demo", "email": "not-an-email", "password": "x"});
        assert_eq!(pointers(doc.validate_body("login", &body)), ["/email"]);
    }

    #[test]
    fn valid_bodies_and_examples_pass() {
        let doc = ApiDocument::load();
        let spec = Spec::parse(SOURCE_YAML).unwrap();
        for op in spec.operations().unwrap() {
            let Some(example) = op.request_body.and_then(|b| b.pointer("/content/application~1json/example")) else {
                continue;
            };
            doc.validate_body(&op.name, example).unwrap_or_else(|e| panic!("{}: {e:?}", op.name));
        }
    }
}
