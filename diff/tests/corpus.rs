//! The table of (base, head, expected findings) pairs in `corpus.yaml`: each case edits a template
//! document (or gives both documents whole) and lists the findings it must produce, as
//! `rule@operationId` (or `rule` for a document-level one); no more, no fewer. Edits are applied
//! as `remove` (pointers), then `move` (from -> to), then `set` (pointer -> value; `-` appends). Version rules are
//! left out of the comparison unless a case asks for them (`versions: true`).

use std::collections::BTreeMap;

use commerce_diff::rules::{RULES, Severities};
use commerce_spec::Spec;
use serde_json::{Map, Value};

const VERSION_RULES: [&str; 3] = ["version-not-bumped", "version-not-semver", "major-version-not-bumped"];

fn corpus() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus.yaml")).unwrap();
    yaml_serde::from_str(&text).unwrap()
}

fn tokens(pointer: &str) -> Vec<String> {
    pointer.split('/').skip(1).map(|t| t.replace("~1", "/").replace("~0", "~")).collect()
}

/// Sets `value` at `pointer`, creating objects on the way; `-` appends to an array.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let tokens = tokens(pointer);
    let (last, parents) = tokens.split_last().expect("a pointer below the root");
    let mut node = doc;
    for token in parents {
        node = match node {
            Value::Object(map) => map.entry(token.clone()).or_insert_with(|| Value::Object(Map::new())),
            Value::Array(items) => &mut items[token.parse::<usize>().unwrap_or_else(|_| panic!("{pointer}"))],
            _ => panic!("{pointer}: {token} is below a scalar"),
        };
    }
    match node {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) if last == "-" => items.push(value),
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = value,
        _ => panic!("{pointer}: the parent is a scalar"),
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let tokens = tokens(pointer);
    let (last, parents) = tokens.split_last().expect("a pointer below the root");
    let parent_pointer: String =
        parents.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect();
    match doc.pointer_mut(&parent_pointer) {
        Some(Value::Object(map)) => {
            map.remove(last).unwrap_or_else(|| panic!("{pointer} names nothing"));
        }
        Some(Value::Array(items)) => {
            items.remove(last.parse::<usize>().unwrap());
        }
        _ => panic!("{pointer} names nothing"),
    }
}

fn edit(doc: &mut Value, edits: Option<&Value>) {
    let Some(edits) = edits else { return };
    for pointer in edits.get("remove").and_then(Value::as_array).into_iter().flatten() {
        remove(doc, pointer.as_str().unwrap());
    }
    for (from, to) in edits.get("move").and_then(Value::as_object).into_iter().flatten() {
        let value = doc.pointer(from).unwrap_or_else(|| panic!("{from} names nothing")).clone();
        remove(doc, from);
        set(doc, to.as_str().unwrap(), value);
    }
    for (pointer, value) in edits.get("set").and_then(Value::as_object).into_iter().flatten() {
        set(doc, pointer, value.clone());
    }
}

fn documents(corpus: &Value, case: &Value) -> (Value, Value) {
    if let (Some(base), Some(head)) = (case.get("base_doc"), case.get("head_doc")) {
        return (base.clone(), head.clone());
    }
    let template = case.get("template").and_then(Value::as_str).unwrap_or("shop");
    let mut base = corpus["templates"][template].clone();
    assert!(base.is_object(), "no template {template}");
    edit(&mut base, case.get("base"));
    let mut head = base.clone();
    edit(&mut head, case.get("head"));
    (base, head)
}

fn findings(case: &Value, base: Value, head: Value) -> Result<Vec<String>, String> {
    let base = Spec::from_value(base).map_err(|e| format!("base: {e}"))?;
    let head = Spec::from_value(head).map_err(|e| format!("head: {e}"))?;
    let comparison = commerce_diff::diff(&base, &head, &Severities::default())?;
    let versions = case.get("versions") == Some(&Value::Bool(true));
    let mut out: Vec<String> = comparison
        .findings
        .iter()
        .filter(|f| versions || !VERSION_RULES.contains(&f.rule))
        .map(|f| {
            let accepted = if f.accepted { " (accepted)" } else { "" };
            match f.operation.as_ref() {
                Some(op) => format!(
                    "{}@{}{accepted}",
                    f.rule,
                    op.operation_id.clone().unwrap_or(format!("{} {}", op.method, op.path))
                ),
                None => format!("{}{accepted}", f.rule),
            }
        })
        .collect();
    out.sort();
    Ok(out)
}

#[test]
fn every_case_of_the_corpus_gives_exactly_its_findings() {
    let corpus = corpus();
    let cases = corpus["cases"].as_array().unwrap();
    assert!(cases.len() >= 80, "the corpus holds {} cases; the issue asks for at least 80", cases.len());
    let mut failures = Vec::new();
    let mut names = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        assert!(!names.contains(&name), "two cases are named {name:?}");
        names.push(name);
        let mut expected: Vec<String> =
            case["expect"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect();
        expected.sort();
        let (base, head) = documents(&corpus, case);
        match findings(case, base, head) {
            Ok(found) if found == expected => {}
            Ok(found) => failures.push(format!("{name}\n    expected {expected:?}\n    found    {found:?}")),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_rule_is_exercised_by_a_case_of_the_corpus() {
    let corpus = corpus();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for case in corpus["cases"].as_array().unwrap() {
        for e in case["expect"].as_array().unwrap() {
            let rule = e.as_str().unwrap().split(['@', ' ']).next().unwrap().to_string();
            *seen.entry(rule).or_default() += 1;
        }
    }
    let missing: Vec<&str> = RULES.iter().map(|r| r.id).filter(|id| !seen.contains_key(*id)).collect();
    assert!(missing.is_empty(), "no case of the corpus expects {missing:?}");
    let unknown: Vec<&String> = seen.keys().filter(|id| !RULES.iter().any(|r| r.id == id.as_str())).collect();
    assert!(unknown.is_empty(), "the corpus expects rules that do not exist: {unknown:?}");
}

#[test]
fn a_document_compared_with_itself_has_no_findings() {
    let corpus = corpus();
    for (name, template) in corpus["templates"].as_object().unwrap() {
        let spec = Spec::from_value(template.clone()).unwrap();
        let c = commerce_diff::diff(&spec, &spec, &Severities::default()).unwrap();
        assert!(c.findings.is_empty(), "{name}: {:?}", c.findings);
    }
    let ours = Spec::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/commerce.yaml")).unwrap();
    let c = commerce_diff::diff(&ours, &ours, &Severities::default()).unwrap();
    assert!(c.findings.is_empty(), "{:?}", c.findings);
}

#[test]
fn a_reference_that_names_nothing_is_refused_with_its_pointer() {
    let corpus = corpus();
    let mut head = corpus["templates"]["shop"].clone();
    set(
        &mut head,
        "/components/schemas/Order/properties/total",
        serde_json::json!({"$ref": "#/components/schemas/Cash"}),
    );
    let base = Spec::from_value(corpus["templates"]["shop"].clone()).unwrap();
    let head = Spec::from_value(head).unwrap();
    let e = commerce_diff::diff(&base, &head, &Severities::default()).unwrap_err();
    assert_eq!(
        e,
        "head: /components/schemas/Order/properties/total/$ref: #/components/schemas/Cash names nothing in the document"
    );
}
