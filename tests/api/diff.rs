//! `commerce diff`, run as a process: the gate on our own spec (a breaking edit fails it, a
//! compatible one passes, a major version accepts a break), its three formats, the severity file,
//! `git:REV:path` sources and the exit statuses. The rules themselves are proven by the corpus in
//! `diff/tests/corpus.yaml`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/commerce.yaml");
const RELEASED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/released/2.4.0.yaml");

fn diff(args: &[&str], dir: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_commerce"));
    command.arg("diff").args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command.output().expect("the binary runs")
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr)
}

/// Our spec with `edit` applied, written as JSON into `dir`.
fn edited(dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = yaml_serde::from_str(&std::fs::read_to_string(SPEC).unwrap()).unwrap();
    edit(&mut doc);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

fn add_brand(doc: &mut Value, required: bool) {
    let create = doc.pointer_mut("/components/schemas/ProductCreate").unwrap();
    create["properties"]["brand"] = json!({"type": "string", "maxLength": 80});
    if required {
        create["required"].as_array_mut().unwrap().push(json!("brand"));
    }
}

fn set_version(doc: &mut Value, version: &str) {
    doc["info"]["version"] = json!(version);
}

#[test]
fn the_spec_keeps_every_promise_of_the_released_document() {
    let output = diff(&[RELEASED, SPEC], None);
    assert_eq!(output.status.code(), Some(0), "{}", out(&output));
}

#[test]
fn a_breaking_edit_to_our_spec_fails_the_gate_naming_rule_operation_and_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let head = edited(dir.path(), "head.json", |doc| {
        add_brand(doc, true);
        set_version(doc, "2.5.0");
    });
    let output = diff(&[RELEASED, &head], None);
    let text = out(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("breaking  request-required-property-added  createProduct (POST /products)"), "{text}");
    assert!(text.contains("at head#/components/schemas/ProductCreate/properties/brand"), "{text}");
    assert!(text.contains("major-version-not-bumped"), "{text}");
}

#[test]
fn a_compatible_edit_passes_the_gate_and_asks_for_a_version_bump() {
    let dir = tempfile::tempdir().unwrap();
    let unbumped = edited(dir.path(), "unbumped.json", |doc| add_brand(doc, false));
    let output = diff(&[RELEASED, &unbumped], None);
    let text = out(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("info      request-property-added  createProduct (POST /products)"), "{text}");
    assert!(text.contains("warning   version-not-bumped"), "{text}");
    let strict = diff(&[RELEASED, &unbumped, "--fail-on", "warning"], None);
    assert_eq!(strict.status.code(), Some(1), "{}", out(&strict));

    let bumped = edited(dir.path(), "bumped.json", |doc| {
        add_brand(doc, false);
        set_version(doc, "2.5.0");
    });
    // Against the spec itself (the released document may already differ from it by warnings).
    let output = diff(&[SPEC, &bumped, "--fail-on", "warning"], None);
    assert_eq!(output.status.code(), Some(0), "{}", out(&output));
}

#[test]
fn a_new_major_version_accepts_a_breaking_change() {
    let dir = tempfile::tempdir().unwrap();
    let head = edited(dir.path(), "major.json", |doc| {
        add_brand(doc, true);
        set_version(doc, "3.0.0");
    });
    let output = diff(&[RELEASED, &head], None);
    let text = out(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("breaking (accepted: new major version) request-required-property-added"), "{text}");
    assert!(text.contains("1 breaking change(s) accepted by the major version 2.4.0 -> 3.0.0"), "{text}");
}

#[test]
fn markdown_and_json_outputs_carry_every_finding() {
    let dir = tempfile::tempdir().unwrap();
    let head = edited(dir.path(), "head.json", |doc| {
        add_brand(doc, true);
        doc["components"]["schemas"]["ProductCreate"]["properties"]["name"]["maxLength"] = json!(100);
    });
    let markdown = out(&diff(&[SPEC, &head, "--format", "markdown"], None));
    assert!(markdown.starts_with("### API changes:"), "{markdown}");
    assert!(markdown.contains("| Level | Rule | Operation | Change | Where |"), "{markdown}");
    assert!(
        markdown.contains("| breaking | `request-length-narrowed` | createProduct (POST /products) |"),
        "{markdown}"
    );

    let output = diff(&[SPEC, &head, "--format", "json"], None);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(report["summary"]["breaking"], 3, "{report:#}"); // two edits and the version
    let rules: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        [
            "request-required-property-added",
            "request-length-narrowed",
            "major-version-not-bumped",
            "version-not-bumped"
        ]
    );
    let first = &report["findings"][0];
    assert_eq!(first["operation"], json!({"method": "POST", "path": "/products", "operationId": "createProduct"}));
    assert_eq!(first["document"], "head");
    assert_eq!(first["pointer"], "/components/schemas/ProductCreate/properties/brand");
}

#[test]
fn a_severity_file_raises_lowers_or_silences_rules_and_refuses_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let head = edited(dir.path(), "head.json", |doc| add_brand(doc, false));
    let raise = dir.path().join("raise.txt");
    std::fs::write(&raise, "# our clients decode strictly\nrequest-property-added breaking\n").unwrap();
    let output = diff(&[SPEC, &head, "--severity", raise.to_str().unwrap()], None);
    let text = out(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("breaking  request-property-added"), "{text}");

    let silence = dir.path().join("silence.txt");
    std::fs::write(&silence, "version-not-bumped none\n").unwrap();
    let output = diff(&[SPEC, &head, "--severity", silence.to_str().unwrap(), "--fail-on", "warning"], None);
    assert_eq!(output.status.code(), Some(0), "{}", out(&output));

    let unknown = dir.path().join("unknown.txt");
    std::fs::write(&unknown, "request-property-added info\nno-such-rule breaking\n").unwrap();
    let output = diff(&[SPEC, &head, "--severity", unknown.to_str().unwrap()], None);
    let text = out(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("unknown.txt:2: no rule named \"no-such-rule\""), "{text}");
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
}

#[test]
fn a_git_revision_is_read_with_the_files_its_document_references() {
    let repo = tempfile::tempdir().unwrap();
    let api = repo.path().join("api");
    std::fs::create_dir_all(&api).unwrap();
    let root = "openapi: 3.1.0\ninfo: {title: T, version: 1.0.0}\npaths:\n  /notes:\n    post:\n      operationId: addNote\n      requestBody:\n        content:\n          application/json:\n            schema: {$ref: 'schemas.yaml#/Note'}\n      responses:\n        '204': {description: added}\n";
    std::fs::write(api.join("openapi.yaml"), root).unwrap();
    std::fs::write(
        api.join("schemas.yaml"),
        "Note: {type: object, properties: {text: {type: string, maxLength: 500}}}\n",
    )
    .unwrap();
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "first"]);
    // The working copy narrows the referenced schema.
    std::fs::write(
        api.join("schemas.yaml"),
        "Note: {type: object, properties: {text: {type: string, maxLength: 140}}}\n",
    )
    .unwrap();

    let output = diff(&["git:HEAD:openapi.yaml", "openapi.yaml"], Some(&api));
    let text = out(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("request-length-narrowed  addNote (POST /notes)"), "{text}");
    assert!(text.contains("maxLength 500 -> 140"), "{text}");

    let output = diff(&["git:no-such-rev:openapi.yaml", "openapi.yaml"], Some(&api));
    assert_eq!(output.status.code(), Some(2));
    assert!(out(&output).contains("no-such-rev is not a revision"), "{}", out(&output));
    let output = diff(&["git:HEAD:missing.yaml", "openapi.yaml"], Some(&api));
    assert_eq!(output.status.code(), Some(2));
    assert!(out(&output).contains("missing.yaml"), "{}", out(&output));
}

#[test]
fn unreadable_documents_exit_2_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let output = diff(&[RELEASED, "/nonexistent/openapi.yaml"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(out(&output).contains("HEAD /nonexistent/openapi.yaml: cannot read"), "{}", out(&output));

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n  /a/{id}:\n    get:\n      responses: {'200': {description: ok}}\n").unwrap();
    let output = diff(&[RELEASED, broken.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(out(&output).contains("/paths/~1a~1{id}/get: the path template names {id}"), "{}", out(&output));

    let output = diff(&["--list-rules"], None);
    assert_eq!(output.status.code(), Some(0));
    assert!(out(&output).contains("request-property-became-required"), "{}", out(&output));
}
