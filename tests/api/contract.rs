//! The spec as the tests hold the server to it: every response an operation gives must have a
//! documented status, a documented Content-Type, a body valid against the documented schema
//! (draft 2020-12, formats on), and every documented required header.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use commerce_spec::Spec;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// What one documented response promises.
struct Documented {
    /// `(media type, schema validator)`; `None` for a response without content.
    content: Option<(String, jsonschema::Validator)>,
    required_headers: Vec<String>,
}

/// One operation: where it is served and what it may answer.
pub struct Operation {
    pub id: String,
    pub method: reqwest::Method,
    pub path: String,
    /// Names of the path parameters, in order.
    pub path_params: Vec<String>,
    /// Whether any credential is required.
    pub secured: bool,
    /// The documented example of the JSON request body, if the operation takes one.
    pub body_example: Option<Value>,
    responses: HashMap<u16, Documented>,
}

impl Operation {
    pub fn documents(&self, status: u16) -> bool {
        self.responses.contains_key(&status)
    }
}

pub struct Contract {
    operations: HashMap<String, Operation>,
    /// Where exercised `(operation, status)` pairs are appended, when `COMMERCE_CONTRACT_COVERAGE` names
    /// a folder (`cargo xtask test` sets it and fails on documented pairs no test exercised).
    coverage: Option<Mutex<std::fs::File>>,
}

pub static CONTRACT: LazyLock<Contract> = LazyLock::new(Contract::load);

impl Contract {
    fn load() -> Self {
        let spec = Spec::load(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/commerce.yaml")).expect("the spec loads");
        let mut operations = HashMap::new();
        for op in spec.operations().expect("the spec's operations are readable") {
            let mut responses = HashMap::new();
            for (status, response) in &op.responses {
                let status: u16 = status.parse().expect("statuses are numeric");
                let content = response.get("content").and_then(Value::as_object).and_then(|c| c.iter().next()).map(
                    |(media_type, media)| {
                        let schema = media.get("schema").cloned().unwrap_or(Value::Bool(true));
                        let validator = jsonschema::options()
                            .with_draft(jsonschema::Draft::Draft202012)
                            .should_validate_formats(true)
                            .build(&spec.standalone_schema(&schema))
                            .unwrap_or_else(|e| panic!("{} {status}: schema does not compile: {e}", op.name));
                        (media_type.clone(), validator)
                    },
                );
                let required_headers = response
                    .get("headers")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(_, h)| {
                        spec.resolve(h).ok().and_then(|h| h.get("required")).and_then(Value::as_bool) == Some(true)
                    })
                    .map(|(name, _)| name.to_ascii_lowercase())
                    .collect();
                responses.insert(status, Documented { content, required_headers });
            }
            let method = op.method.to_uppercase().parse().expect("a valid method");
            let path_params =
                op.parameters.iter().filter(|p| p.location == "path").map(|p| p.name.to_string()).collect();
            let body_example = op.request_body.and_then(|b| b.pointer("/content/application~1json/example")).cloned();
            let operation = Operation {
                id: op.name.to_string(),
                method,
                path: op.path.to_string(),
                path_params,
                secured: !op.security.is_empty(),
                body_example,
                responses,
            };
            operations.insert(op.name.to_string(), operation);
        }
        let coverage = std::env::var_os("COMMERCE_CONTRACT_COVERAGE").map(|dir| {
            std::fs::create_dir_all(&dir).expect("the coverage folder");
            let file = std::path::Path::new(&dir).join(format!("{}.txt", std::process::id()));
            Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(file).expect("a coverage file"))
        });
        Self { operations, coverage }
    }

    /// Every operation, sorted by operationId.
    pub fn operations(&self) -> Vec<&Operation> {
        let mut all: Vec<&Operation> = self.operations.values().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Whether `path` is one of the API's paths (which tests may only reach through operations).
    pub fn is_api_path(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations.values().any(|op| {
            let template: Vec<&str> = op.path.trim_matches('/').split('/').collect();
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s)
        })
    }

    fn record(&self, operation_id: &str, status: u16) {
        if let Some(file) = &self.coverage {
            use std::io::Write;
            writeln!(file.lock().unwrap(), "{operation_id} {status}").expect("records coverage");
        }
    }

    pub fn operation(&self, operation_id: &str) -> &Operation {
        self.operations.get(operation_id).unwrap_or_else(|| panic!("the spec has no operation {operation_id}"))
    }

    /// Checks one response of `operation_id` against the spec; returns the parsed body.
    pub fn check(&self, operation_id: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
        let op = self.operation(operation_id);
        let Some(documented) = op.responses.get(&status) else {
            let mut listed: Vec<_> = op.responses.keys().collect();
            listed.sort();
            return Err(format!("status {status} is not documented (documented: {listed:?})"));
        };
        for header in &documented.required_headers {
            if !headers.contains_key(header.as_str()) {
                return Err(format!("status {status}: the required header {header} is missing"));
            }
        }
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let Some((media_type, validator)) = &documented.content else {
            return if body.is_empty() {
                self.record(operation_id, status);
                Ok(Value::Null)
            } else {
                Err(format!("status {status} documents no content, got {} bytes of {content_type:?}", body.len()))
            };
        };
        if essence != media_type {
            return Err(format!("status {status}: Content-Type {content_type:?}, documented {media_type:?}"));
        }
        // A JSON body is checked as its JSON value; a text body (the metrics) as a string.
        let value: Value = if commerce_contract::model::is_json(media_type) {
            serde_json::from_slice(body).map_err(|e| {
                format!("status {status}: the body is not JSON ({e}): {}", String::from_utf8_lossy(body))
            })?
        } else {
            Value::String(String::from_utf8_lossy(body).into_owned())
        };
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("  at {:?}: {e}", e.instance_path().as_str())).collect();
        if !errors.is_empty() {
            return Err(format!(
                "status {status}: the body breaks the schema:\n{}\nbody: {value:#}",
                errors.join("\n")
            ));
        }
        self.record(operation_id, status);
        Ok(value)
    }
}
