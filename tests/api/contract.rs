//! The spec as the tests hold the server to it, judged by the contract tester's own function
//! (`commerce_contract::checks::response_conformance`), so this suite and `commerce contract`
//! judge responses identically: a documented status, a documented Content-Type, every required
//! header valid by its schema, a body valid by its schema, and no body where none is documented.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use commerce_contract::checks::{Check, Received, response_conformance};
use commerce_spec::Spec;
use reqwest::header::HeaderMap;
use serde_json::Value;

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
    /// The documented statuses.
    statuses: Vec<u16>,
}

impl Operation {
    pub fn documents(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }
}

pub struct Contract {
    operations: HashMap<String, Operation>,
    /// The document as the contract tester compiles it.
    api: std::sync::Arc<commerce_contract::model::Api>,
    /// Where exercised `(operation, status)` pairs are appended, when `COMMERCE_CONTRACT_COVERAGE` names
    /// a folder (`cargo xtask test` sets it and fails on documented pairs no test exercised).
    coverage: Option<Mutex<std::fs::File>>,
}

pub static CONTRACT: LazyLock<Contract> = LazyLock::new(Contract::load);

impl Contract {
    fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/commerce.yaml");
        let spec = Spec::load(path).expect("the spec loads");
        let api = commerce_contract::model::Api::compile(Spec::load(path).expect("the spec loads"))
            .expect("the contract tester compiles the spec");
        let mut operations = HashMap::new();
        for op in spec.operations().expect("the spec's operations are readable") {
            let statuses =
                op.responses.iter().map(|(status, _)| status.parse().expect("statuses are numeric")).collect();
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
                statuses,
            };
            operations.insert(op.name.to_string(), operation);
        }
        let coverage = std::env::var_os("COMMERCE_CONTRACT_COVERAGE").map(|dir| {
            std::fs::create_dir_all(&dir).expect("the coverage folder");
            let file = std::path::Path::new(&dir).join(format!("{}.txt", std::process::id()));
            Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(file).expect("a coverage file"))
        });
        Self { operations, api, coverage }
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

    /// Checks one response of `operation_id` against the spec, as `commerce contract` would with
    /// every check on; returns the parsed body.
    pub fn check(&self, operation_id: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
        let index =
            self.api.operation(operation_id).unwrap_or_else(|| panic!("the spec has no operation {operation_id}"));
        let op = &self.api.operations[index];
        let received = Received { status, headers, body, elapsed: std::time::Duration::ZERO };
        let mut failures = Vec::new();
        response_conformance(op, &received, &mut |check: Check, message: String| {
            failures.push(format!("{}: {message}", check.name()))
        });
        if !failures.is_empty() {
            return Err(format!(
                "{operation_id} answered {status}:\n{}\nbody: {}",
                failures.join("\n"),
                String::from_utf8_lossy(body)
            ));
        }
        self.record(operation_id, status);
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        Ok(match body {
            [] => Value::Null,
            _ if commerce_contract::model::is_json(content_type) => {
                serde_json::from_slice(body).expect("response_conformance read it as JSON")
            }
            _ => Value::String(String::from_utf8_lossy(body).into_owned()),
        })
    }
}
