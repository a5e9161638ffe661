//! Comparing two JSON Schemas in one direction: what a client sends (a request may only widen) or
//! what it reads (a response may only narrow). `$ref`s are followed on both sides, so a change inside
//! a shared schema is reported at every use; `allOf` parts are merged; a `null` alternative of a
//! `oneOf`/`anyOf` counts as nullability. A keyword this module does not judge is still reported
//! (`schema-keyword-changed`), never passed over.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

use commerce_spec::{Spec, escape};
use serde_json::{Map, Value};

use crate::Side;
use crate::compare::Walk;

/// Who writes the value: the client (request) or the server (response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Request,
    Response,
}

/// Keywords that only document a schema.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "example",
    "examples",
    "$comment",
    "externalDocs",
    "xml",
    "$schema",
    "$id",
    "$defs",
    "definitions",
    "deprecated",
    "$anchor",
];

/// Keywords this module judges.
const JUDGED: &[&str] = &[
    "type",
    "format",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "oneOf",
    "anyOf",
    "allOf",
    "$ref",
    "default",
    "readOnly",
    "writeOnly",
];

/// A schema as compared: `$ref`s followed, `allOf` merged, null alternatives folded into `nullable`.
pub(crate) struct Node {
    /// The merged keywords (without `properties`, `required`, `allOf`).
    map: Map<String, Value>,
    /// Where the schema was reached (after `$ref`s), for pointers in findings.
    at: String,
    /// Where each keyword came from (an `allOf` part may hold it).
    keyword_at: BTreeMap<String, String>,
    properties: BTreeMap<String, (Value, String)>,
    required: BTreeSet<String>,
    nullable: bool,
    /// The `$ref` names the schema went through, to match oneOf branches by name.
    names: Vec<String>,
}

impl Node {
    pub(crate) fn read(spec: &Spec, value: &Value, at: &str) -> Node {
        let mut node = Node {
            map: Map::new(),
            at: at.to_string(),
            keyword_at: BTreeMap::new(),
            properties: BTreeMap::new(),
            required: BTreeSet::new(),
            nullable: false,
            names: Vec::new(),
        };
        node.merge(spec, value, at, 0, true);
        node.fold_null_alternatives(spec);
        node
    }

    fn merge(&mut self, spec: &Spec, value: &Value, at: &str, depth: usize, top: bool) {
        if depth > 16 {
            return;
        }
        let owned;
        let (value, at) = match value {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                owned = serde_json::json!({"not": {}});
                (&owned, at.to_string())
            }
            _ => (value, at.to_string()),
        };
        let Some(map) = value.as_object() else { return };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            self.names.push(reference.rsplit('/').next().unwrap_or(reference).to_string());
            if let Ok(target) = spec.pointer(reference) {
                let target_at = reference.trim_start_matches('#').to_string();
                if top && map.len() == 1 {
                    self.at = target_at.clone();
                }
                self.merge(spec, target, &target_at, depth + 1, top && map.len() == 1);
            }
        }
        for (key, v) in map {
            let key_at = format!("{at}/{}", escape(key));
            match key.as_str() {
                "$ref" => {}
                "allOf" => {
                    for (i, part) in v.as_array().into_iter().flatten().enumerate() {
                        self.merge(spec, part, &format!("{key_at}/{i}"), depth + 1, false);
                    }
                }
                "properties" => {
                    for (name, schema) in v.as_object().into_iter().flatten() {
                        let prop_at = format!("{key_at}/{}", escape(name));
                        self.properties.insert(name.clone(), (schema.clone(), prop_at));
                    }
                }
                "required" => {
                    self.required
                        .extend(v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from));
                }
                _ => {
                    let keep = match (self.map.get(key), v) {
                        (None, _) => true,
                        // Both parts of an allOf apply: the tighter bound wins.
                        (Some(Value::Number(old)), Value::Number(new)) if is_max(key) => new.as_f64() < old.as_f64(),
                        (Some(Value::Number(old)), Value::Number(new)) if is_min(key) => new.as_f64() > old.as_f64(),
                        _ => false,
                    };
                    if keep {
                        self.map.insert(key.clone(), v.clone());
                        self.keyword_at.insert(key.clone(), key_at);
                    }
                }
            }
        }
        if let Some(Value::Array(types)) = self.map.get("type") {
            if types.iter().any(|t| t == "null") {
                self.nullable = true;
            }
        } else if self.map.get("type") == Some(&Value::from("null")) {
            self.nullable = true;
        }
        if map.get("nullable") == Some(&Value::Bool(true)) {
            self.nullable = true;
        }
    }

    /// `oneOf: [X, {type: null}]` is a nullable X: the null alternative is folded into
    /// `nullable`, and a single remaining alternative merged in.
    fn fold_null_alternatives(&mut self, spec: &Spec) {
        for key in ["oneOf", "anyOf"] {
            let Some(Value::Array(alternatives)) = self.map.get(key) else { continue };
            let is_null = |a: &Value| {
                let resolved = spec.resolve(a).unwrap_or(a);
                resolved.get("type") == Some(&Value::from("null"))
                    || resolved.get("const") == Some(&Value::Null) && resolved.get("const").is_some()
            };
            if !alternatives.iter().any(is_null) {
                continue;
            }
            self.nullable = true;
            let base_at = self.keyword_at.get(key).cloned().unwrap_or_default();
            let rest: Vec<(usize, Value)> =
                alternatives.iter().cloned().enumerate().filter(|(_, a)| !is_null(a)).collect();
            if rest.len() == 1 {
                self.map.remove(key);
                let (i, only) = &rest[0];
                self.merge(spec, only, &format!("{base_at}/{i}"), 1, false);
            } else {
                self.map.insert(key.into(), Value::Array(rest.into_iter().map(|(_, a)| a).collect()));
            }
        }
        // `type: [X, "null"]`: the null is `nullable`.
        if let Some(Value::Array(types)) = self.map.get_mut("type") {
            types.retain(|t| t != "null");
        }
        if self.map.get("type") == Some(&Value::from("null")) {
            self.map.remove("type");
        }
    }

    fn keyword_at(&self, key: &str) -> String {
        self.keyword_at.get(key).cloned().unwrap_or_else(|| format!("{}/{}", self.at, escape(key)))
    }

    /// The JSON types the schema admits (besides null); empty for any.
    fn types(&self) -> BTreeSet<&'static str> {
        commerce_spec::schema::types(&Value::Object(self.map.clone())).into_iter().filter(|t| *t != "null").collect()
    }

    fn flag(&self, key: &str) -> bool {
        self.map.get(key) == Some(&Value::Bool(true))
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.map.get(key).and_then(Value::as_f64)
    }

    /// The allowed values (`enum`, or `const` as a one-value enum), if restricted.
    fn values(&self) -> Option<Vec<Value>> {
        if let Some(Value::Array(values)) = self.map.get("enum") {
            return Some(values.iter().filter(|v| !v.is_null()).cloned().collect());
        }
        self.map.get("const").filter(|v| !v.is_null()).map(|v| vec![v.clone()])
    }
}

/// A member of the value at `place`: `request body application/json: lines[].sku`.
fn join(place: &str, name: &str) -> String {
    match place {
        "" => name.to_string(),
        _ if place.ends_with(':') => format!("{place} {name}"),
        _ => format!("{place}.{name}"),
    }
}

/// A sentence about the value at `place`.
fn say(place: &str, text: &str) -> String {
    match place {
        "" => text.to_string(),
        _ if place.ends_with(':') => format!("{place} {text}"),
        _ => format!("{place}: {text}"),
    }
}

fn is_max(key: &str) -> bool {
    matches!(key, "maxLength" | "maximum" | "exclusiveMaximum" | "maxItems" | "maxProperties")
}

fn is_min(key: &str) -> bool {
    matches!(key, "minLength" | "minimum" | "exclusiveMinimum" | "minItems" | "minProperties")
}

/// Whether a value of type `t` is accepted by a schema admitting `types` (empty: any).
fn admits(types: &BTreeSet<&str>, t: &str) -> bool {
    types.is_empty() || types.contains(t) || (t == "integer" && types.contains("number"))
}

/// Whether every value valid under format `narrow` is valid under format `wide`.
fn format_within(wide: Option<&str>, narrow: Option<&str>) -> bool {
    match (wide, narrow) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(w), Some(n)) => w == n || matches!((w, n), ("int64", "int32") | ("double", "float")),
    }
}

fn show(values: &[Value]) -> String {
    values.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
}

fn show_types(types: &BTreeSet<&str>) -> String {
    if types.is_empty() { "any type".into() } else { types.iter().copied().collect::<Vec<_>>().join(" | ") }
}

/// The bounds compared, the family each belongs to (for the request rule), and whether it caps
/// from above.
const BOUNDS: &[(&str, &str, bool)] = &[
    ("minLength", "request-length-narrowed", false),
    ("maxLength", "request-length-narrowed", true),
    ("minimum", "request-range-narrowed", false),
    ("maximum", "request-range-narrowed", true),
    ("exclusiveMinimum", "request-range-narrowed", false),
    ("exclusiveMaximum", "request-range-narrowed", true),
    ("minItems", "request-item-count-narrowed", false),
    ("maxItems", "request-item-count-narrowed", true),
    ("minProperties", "request-property-count-narrowed", false),
    ("maxProperties", "request-property-count-narrowed", true),
];

/// How a child schema is reached from its parent, to name it in sentences.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Member(String),
    Items,
    Branch(&'static str, String),
}

impl Step {
    fn place(&self, place: &str) -> String {
        match self {
            Step::Member(name) => join(place, name),
            Step::Items if place.is_empty() => "[]".into(),
            Step::Items if place.ends_with(':') => format!("{place} []"),
            Step::Items => format!("{place}[]"),
            Step::Branch(key, label) if place.is_empty() => format!("({key} {label})"),
            Step::Branch(key, label) => format!("{place} ({key} {label})"),
        }
    }
}

/// A finding of one schema pair, its sentence relative to the pair (`member` names the property
/// it concerns, if any).
#[derive(Debug)]
struct Change {
    rule: &'static str,
    side: Side,
    at: String,
    member: Option<String>,
    text: String,
}

/// A schema pair to compare below another.
#[derive(Debug)]
struct Child {
    base: Value,
    base_at: String,
    head: Value,
    head_at: String,
    step: Step,
}

/// What comparing one schema pair found by itself, and the pairs below it: computed once per
/// pair for the whole document, then replayed at every operation that reaches it.
#[derive(Debug)]
pub(crate) struct Local {
    /// The pair after `$ref`s, which decides recursion.
    key: (String, String, bool),
    changes: Vec<Change>,
    children: Vec<Child>,
}

/// Compares one schema pair without descending: the children are recorded, not compared.
struct Recorder<'a> {
    base: &'a Spec,
    head: &'a Spec,
    changes: Vec<Change>,
    children: Vec<Child>,
}

impl Walk<'_> {
    /// Compares the schema `base` (at `base_at` in the base document) with `head`, as `dir` sees
    /// them; `place` names the value for sentences (`request body application/json: lines[].sku`).
    pub(crate) fn schema(&mut self, base: (&Value, &str), head: (&Value, &str), dir: Dir, place: &str) {
        if !self.loud(base, head, dir, 0) {
            return; // nothing differs below this pair
        }
        let local = self.local(base, head, dir);
        let key = &local.key;
        if self.stack.contains(key) || self.stack.len() > 48 || self.done.contains(key) {
            return; // a recursive schema, or one already compared for this operation
        }
        self.stack.push(key.clone());
        for change in &local.changes {
            let place = match &change.member {
                Some(name) => join(place, name),
                None => place.to_string(),
            };
            self.emit(change.rule, change.side, &change.at, say(&place, &change.text));
        }
        for child in &local.children {
            self.schema((&child.base, &child.base_at), (&child.head, &child.head_at), dir, &child.step.place(place));
        }
        self.stack.pop();
        self.done.insert(key.clone());
    }

    /// The pair's own changes and children, computed once per pair (by the pointers it was reached at).
    fn local(&mut self, base: (&Value, &str), head: (&Value, &str), dir: Dir) -> Rc<Local> {
        let raw = (base.1.to_string(), head.1.to_string(), dir == Dir::Request);
        if let Some(local) = self.locals.get(&raw) {
            return local.clone();
        }
        let b = Node::read(self.base, base.0, base.1);
        let h = Node::read(self.head, head.0, head.1);
        let mut recorder = Recorder { base: self.base, head: self.head, changes: Vec::new(), children: Vec::new() };
        recorder.compare_nodes(&b, &h, dir);
        let local = Rc::new(Local {
            key: (b.at.clone(), h.at.clone(), dir == Dir::Request),
            changes: recorder.changes,
            children: recorder.children,
        });
        self.locals.insert(raw, local.clone());
        local
    }

    /// Whether a change can be found at or below the pair: Tarjan's strongly connected
    /// components over the pairs, so a cycle is judged as a whole and every answer is kept for
    /// the rest of the document. Walking only loud pairs keeps a dense schema graph cheap.
    fn loud(&mut self, base: (&Value, &str), head: (&Value, &str), dir: Dir, depth: usize) -> bool {
        let raw = (base.1.to_string(), head.1.to_string(), dir == Dir::Request);
        if let Some(&loud) = self.scc.loud.get(&raw) {
            return loud; // judged once for the document, whichever operation reaches it again
        }
        if base == head {
            let mut inner = Vec::new();
            crate::compare::refs(base.0, &mut inner);
            if inner.iter().all(|r| self.unchanged.contains(*r)) {
                // The same schema at the same place, referencing only unchanged schemas.
                self.scc.loud.insert(raw, false);
                return false;
            }
        }
        if depth > 1_000 {
            return true; // too deep to judge here: walked, never skipped
        }
        let index = self.scc.next;
        self.scc.next += 1;
        self.scc.index.insert(raw.clone(), (index, index));
        self.scc.stack.push(raw.clone());
        let local = self.local(base, head, dir);
        let mut loud = !local.changes.is_empty();
        for child in &local.children {
            let key = (child.base_at.clone(), child.head_at.clone(), dir == Dir::Request);
            if let Some(&done) = self.scc.loud.get(&key) {
                loud |= done;
                continue;
            }
            match self.scc.index.get(&key).copied() {
                None => {
                    let child_loud =
                        self.loud((&child.base, &child.base_at), (&child.head, &child.head_at), dir, depth + 1);
                    match self.scc.index.get(&key).copied() {
                        // Still open: in this node's component, judged when the component closes.
                        Some((_, low)) if !self.scc.loud.contains_key(&key) => {
                            let entry = self.scc.index.get_mut(&raw).expect("opened above");
                            entry.1 = entry.1.min(low);
                            loud |= self.scc.own.get(&key).copied().unwrap_or(false);
                        }
                        _ => loud |= child_loud,
                    }
                }
                Some((child_index, _)) => {
                    // On the stack: a cycle back to an open pair.
                    let entry = self.scc.index.get_mut(&raw).expect("opened above");
                    entry.1 = entry.1.min(child_index);
                }
            }
        }
        self.scc.own.insert(raw.clone(), loud);
        let (index, low) = self.scc.index[&raw];
        if index == low {
            let mut members = Vec::new();
            while let Some(member) = self.scc.stack.pop() {
                let last = member == raw;
                members.push(member);
                if last {
                    break;
                }
            }
            let any = members.iter().any(|m| self.scc.own.get(m).copied().unwrap_or(true));
            for m in members {
                self.scc.loud.insert(m, any);
            }
            return any;
        }
        loud
    }
}

/// Tarjan's bookkeeping for [`Walk::loud`].
#[derive(Debug, Default)]
pub(crate) struct Scc {
    next: usize,
    /// (index, lowlink) of every pair visited.
    index: HashMap<RawKey, (usize, usize)>,
    stack: Vec<RawKey>,
    /// A pair's own verdict: its changes, and what its children already decided.
    own: HashMap<RawKey, bool>,
    /// Final verdicts.
    loud: HashMap<RawKey, bool>,
}

type RawKey = (String, String, bool);

impl Recorder<'_> {
    fn emit(&mut self, rule: &'static str, side: Side, at: &str, text: String) {
        self.changes.push(Change { rule, side, at: at.to_string(), member: None, text });
    }

    fn emit_member(&mut self, rule: &'static str, side: Side, at: &str, member: &str, text: String) {
        self.changes.push(Change { rule, side, at: at.to_string(), member: Some(member.to_string()), text });
    }

    fn child(&mut self, base: (&Value, &str), head: (&Value, &str), step: Step) {
        self.children.push(Child {
            base: base.0.clone(),
            base_at: base.1.to_string(),
            head: head.0.clone(),
            head_at: head.1.to_string(),
            step,
        });
    }

    fn compare_nodes(&mut self, b: &Node, h: &Node, dir: Dir) {
        if self.one_sided_union(b, h, dir) {
            return;
        }
        let here = |s: &str| s.to_string();
        // Types and null first: a changed type makes the other keywords' changes noise.
        let (bt, ht) = (b.types(), h.types());
        let (sent, judged) = if dir == Dir::Request { (&bt, &ht) } else { (&ht, &bt) };
        let lost: Vec<&str> = sent.iter().copied().filter(|t| !admits(judged, t)).collect();
        let lost_any = sent.is_empty() && !judged.is_empty();
        if !lost.is_empty() || lost_any {
            let (rule, side) = if dir == Dir::Request {
                ("request-type-changed", Side::Head)
            } else {
                ("response-type-changed", Side::Head)
            };
            let at = h.keyword_at("type");
            self.emit(rule, side, &at, here(&format!("type changed from {} to {}", show_types(&bt), show_types(&ht))));
            return;
        }
        if bt != ht {
            let rule = if dir == Dir::Request { "request-type-widened" } else { "response-type-narrowed" };
            self.emit(
                rule,
                Side::Head,
                &h.keyword_at("type"),
                here(&format!("type {} -> {}", show_types(&bt), show_types(&ht))),
            );
        }
        match (dir, b.nullable, h.nullable) {
            (Dir::Request, true, false) => {
                self.emit("request-nullable-removed", Side::Head, &h.at, here("null is no longer accepted"))
            }
            (Dir::Request, false, true) => {
                self.emit("request-type-widened", Side::Head, &h.at, here("null is now accepted"))
            }
            (Dir::Response, false, true) => {
                self.emit("response-nullable-added", Side::Head, &h.at, here("may now be null"))
            }
            (Dir::Response, true, false) => {
                self.emit("response-type-narrowed", Side::Head, &h.at, here("is never null any more"))
            }
            _ => {}
        }
        self.compare_format(b, h, dir, &here);
        self.compare_values(b, h, dir, &here);
        self.compare_bounds(b, h, dir, &here);
        self.compare_pattern(b, h, dir, &here);
        self.compare_multiple_of(b, h, dir, &here);
        if dir == Dir::Request
            && let Some(old) = b.map.get("default")
            && h.map.get("default") != Some(old)
        {
            let now = h.map.get("default").map_or("none".to_string(), Value::to_string);
            let (side, at) = if h.map.contains_key("default") {
                (Side::Head, h.keyword_at("default"))
            } else {
                (Side::Base, b.keyword_at("default"))
            };
            self.emit("request-default-changed", side, &at, here(&format!("default {old} -> {now}")));
        }
        self.compare_properties(b, h, dir);
        self.compare_additional(b, h, dir);
        self.compare_items(b, h);
        for key in ["oneOf", "anyOf"] {
            self.compare_branches(b, h, key, dir);
        }
        // Whatever else differs is reported, never passed over.
        let keys: BTreeSet<&String> = b.map.keys().chain(h.map.keys()).collect();
        for key in keys {
            if JUDGED.contains(&key.as_str())
                || ANNOTATIONS.contains(&key.as_str())
                || key.starts_with("x-")
                || key == "nullable"
            {
                continue;
            }
            if b.map.get(key) != h.map.get(key) {
                let at = if h.map.contains_key(key) { h.keyword_at(key) } else { b.keyword_at(key) };
                let side = if h.map.contains_key(key) { Side::Head } else { Side::Base };
                self.emit("schema-keyword-changed", side, &at, here(&format!("`{key}` changed; not analysed")));
            }
        }
    }

    fn compare_format(&mut self, b: &Node, h: &Node, dir: Dir, here: &dyn Fn(&str) -> String) {
        let (bf, hf) = (b.map.get("format").and_then(Value::as_str), h.map.get("format").and_then(Value::as_str));
        if bf == hf {
            return;
        }
        let text = here(&format!("format {} -> {}", bf.unwrap_or("none"), hf.unwrap_or("none")));
        let at = if hf.is_some() { h.keyword_at("format") } else { b.keyword_at("format") };
        let side = if hf.is_some() { Side::Head } else { Side::Base };
        let rule = match dir {
            Dir::Request if format_within(hf, bf) => "request-constraint-relaxed",
            Dir::Request => "request-format-changed",
            Dir::Response if format_within(bf, hf) => "response-constraint-tightened",
            Dir::Response if hf.is_none() => "response-constraint-relaxed",
            Dir::Response => "response-format-changed",
        };
        self.emit(rule, side, &at, text);
    }

    fn compare_values(&mut self, b: &Node, h: &Node, dir: Dir, here: &dyn Fn(&str) -> String) {
        let (bv, hv) = (b.values(), h.values());
        let key = |n: &Node| if n.map.contains_key("enum") { "enum" } else { "const" };
        match (dir, &bv, &hv) {
            (_, None, None) => {}
            (Dir::Request, _, Some(head)) => {
                let removed: Vec<Value> = match &bv {
                    Some(base) => base.iter().filter(|v| !head.contains(v)).cloned().collect(),
                    None => vec![],
                };
                if bv.is_none() {
                    self.emit(
                        "request-enum-value-removed",
                        Side::Head,
                        &h.keyword_at(key(h)),
                        here(&format!("now restricted to {}", show(head))),
                    );
                } else if !removed.is_empty() {
                    self.emit(
                        "request-enum-value-removed",
                        Side::Head,
                        &h.keyword_at(key(h)),
                        here(&format!("no longer accepts {}", show(&removed))),
                    );
                }
                if let Some(base) = &bv {
                    let added: Vec<Value> = head.iter().filter(|v| !base.contains(v)).cloned().collect();
                    if !added.is_empty() {
                        self.emit(
                            "request-enum-value-added",
                            Side::Head,
                            &h.keyword_at(key(h)),
                            here(&format!("now accepts {}", show(&added))),
                        );
                    }
                }
            }
            (Dir::Request, Some(_), None) => self.emit(
                "request-constraint-relaxed",
                Side::Base,
                &b.keyword_at(key(b)),
                here("no longer restricted to an enum"),
            ),
            (Dir::Response, Some(base), Some(head)) => {
                let added: Vec<Value> = head.iter().filter(|v| !base.contains(v)).cloned().collect();
                if !added.is_empty() {
                    self.emit(
                        "response-enum-value-added",
                        Side::Head,
                        &h.keyword_at(key(h)),
                        here(&format!("may now be {}", show(&added))),
                    );
                }
                if base.iter().any(|v| !head.contains(v)) {
                    let removed: Vec<Value> = base.iter().filter(|v| !head.contains(v)).cloned().collect();
                    self.emit(
                        "response-constraint-tightened",
                        Side::Head,
                        &h.keyword_at(key(h)),
                        here(&format!("is never {} any more", show(&removed))),
                    );
                }
            }
            (Dir::Response, Some(_), None) => self.emit(
                "response-constraint-relaxed",
                Side::Base,
                &b.keyword_at(key(b)),
                here("is no longer restricted to an enum"),
            ),
            (Dir::Response, None, Some(head)) => self.emit(
                "response-constraint-tightened",
                Side::Head,
                &h.keyword_at(key(h)),
                here(&format!("now restricted to {}", show(head))),
            ),
        }
    }

    fn compare_bounds(&mut self, b: &Node, h: &Node, dir: Dir, here: &dyn Fn(&str) -> String) {
        for &(key, family, caps) in BOUNDS {
            let (old, new) = (b.number(key), h.number(key));
            let tightened = match (old, new) {
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some(o), Some(n)) if o == n => continue,
                (Some(o), Some(n)) => (n < o) == caps,
                (None, None) => continue,
            };
            let show_n =
                |v: Option<f64>| v.map_or("none".to_string(), |v| Value::from(v).to_string().replace(".0", ""));
            let text = here(&format!("{key} {} -> {}", show_n(old), show_n(new)));
            let (at, side) =
                if new.is_some() { (h.keyword_at(key), Side::Head) } else { (b.keyword_at(key), Side::Base) };
            let rule = match (dir, tightened) {
                (Dir::Request, true) => family,
                (Dir::Request, false) => "request-constraint-relaxed",
                (Dir::Response, true) => "response-constraint-tightened",
                (Dir::Response, false) => "response-constraint-relaxed",
            };
            self.emit(rule, side, &at, text);
        }
        if b.flag("uniqueItems") != h.flag("uniqueItems") {
            let added = h.flag("uniqueItems");
            let rule = match (dir, added) {
                (Dir::Request, true) => "request-item-count-narrowed",
                (Dir::Request, false) => "request-constraint-relaxed",
                (Dir::Response, true) => "response-constraint-tightened",
                (Dir::Response, false) => "response-constraint-relaxed",
            };
            let text = if added { "items must now be unique" } else { "items need no longer be unique" };
            let (at, side) = if added {
                (h.keyword_at("uniqueItems"), Side::Head)
            } else {
                (b.keyword_at("uniqueItems"), Side::Base)
            };
            self.emit(rule, side, &at, here(text));
        }
    }

    fn compare_pattern(&mut self, b: &Node, h: &Node, dir: Dir, here: &dyn Fn(&str) -> String) {
        let (bp, hp) = (b.map.get("pattern").and_then(Value::as_str), h.map.get("pattern").and_then(Value::as_str));
        if bp == hp {
            return;
        }
        let text = here(&format!("pattern {} -> {}", bp.unwrap_or("none"), hp.unwrap_or("none")));
        let (at, side) =
            if hp.is_some() { (h.keyword_at("pattern"), Side::Head) } else { (b.keyword_at("pattern"), Side::Base) };
        let rule = match (dir, bp, hp) {
            (Dir::Request, _, Some(_)) => "request-pattern-changed",
            (Dir::Request, _, None) => "request-constraint-relaxed",
            (Dir::Response, None, _) => "response-constraint-tightened",
            (Dir::Response, Some(_), None) => "response-constraint-relaxed",
            (Dir::Response, Some(_), Some(_)) => "response-pattern-changed",
        };
        self.emit(rule, side, &at, text);
    }

    fn compare_multiple_of(&mut self, b: &Node, h: &Node, dir: Dir, here: &dyn Fn(&str) -> String) {
        let (bm, hm) = (b.number("multipleOf"), h.number("multipleOf"));
        if bm == hm {
            return;
        }
        // Every multiple of `narrow` is a multiple of `wide` when narrow / wide is a whole number.
        let within = |wide: Option<f64>, narrow: Option<f64>| match (wide, narrow) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(w), Some(n)) => {
                let q = n / w;
                (q - q.round()).abs() < 1e-9
            }
        };
        let text = here(&format!(
            "multipleOf {} -> {}",
            bm.map_or("none".into(), |v| v.to_string()),
            hm.map_or("none".into(), |v| v.to_string())
        ));
        let (at, side) = if hm.is_some() {
            (h.keyword_at("multipleOf"), Side::Head)
        } else {
            (b.keyword_at("multipleOf"), Side::Base)
        };
        let rule = match dir {
            Dir::Request if within(hm, bm) => "request-constraint-relaxed",
            Dir::Request => "request-multiple-of-changed",
            Dir::Response if within(bm, hm) => "response-constraint-tightened",
            Dir::Response => "response-constraint-relaxed",
        };
        self.emit(rule, side, &at, text);
    }

    /// The members `dir` sees: readOnly ones are not part of a request, writeOnly ones not of a
    /// response.
    fn visible(&self, spec: &Spec, node: &Node, dir: Dir) -> BTreeMap<String, (Value, String)> {
        let hidden = if dir == Dir::Request { "readOnly" } else { "writeOnly" };
        node.properties
            .iter()
            .filter(|(_, (schema, at))| !Node::read(spec, schema, at).flag(hidden))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn compare_properties(&mut self, b: &Node, h: &Node, dir: Dir) {
        let (base, head) = (self.base, self.head);
        let (bp, hp) = (self.visible(base, b, dir), self.visible(head, h, dir));
        let hidden = if dir == Dir::Request { "readOnly" } else { "writeOnly" };
        let names: BTreeSet<&String> = bp.keys().chain(hp.keys()).collect();
        for name in names {
            let (br, hr) = (b.required.contains(name), h.required.contains(name));
            match (bp.get(name), hp.get(name)) {
                (None, Some((_, at))) => {
                    let (rule, text) = match (dir, hr) {
                        (Dir::Request, true) => ("request-required-property-added", "new required property"),
                        (Dir::Request, false) => ("request-property-added", "new optional property"),
                        (Dir::Response, _) => ("response-property-added", "new property"),
                    };
                    let text = if h.properties.contains_key(name) && b.properties.contains_key(name) {
                        format!("{text} (no longer {})", if dir == Dir::Request { "readOnly" } else { "writeOnly" })
                    } else {
                        text.to_string()
                    };
                    self.emit_member(rule, Side::Head, at, name, text);
                }
                (Some((_, at)), None) => {
                    let why = if h.properties.contains_key(name) { format!(" (now {hidden})") } else { String::new() };
                    let rule = match (dir, br) {
                        (Dir::Request, _) => "request-property-removed",
                        (Dir::Response, true) => "response-required-property-removed",
                        (Dir::Response, false) => "response-optional-property-removed",
                    };
                    self.emit_member(rule, Side::Base, at, name, format!("removed{why}"));
                }
                (Some(bs), Some(hs)) => {
                    if br != hr {
                        let rule = match (dir, hr) {
                            (Dir::Request, true) => "request-property-became-required",
                            (Dir::Request, false) => "request-property-became-optional",
                            (Dir::Response, false) => "response-property-became-optional",
                            (Dir::Response, true) => "response-constraint-tightened",
                        };
                        let text = if hr { "now required" } else { "now optional" };
                        self.emit_member(rule, Side::Head, &hs.1, name, text.to_string());
                    }
                    self.child((&bs.0, &bs.1), (&hs.0, &hs.1), Step::Member(name.clone()));
                }
                (None, None) => {}
            }
        }
        // Required names without a property schema (allowed by JSON Schema).
        let unnamed = |n: &Node, name: &String| !n.properties.contains_key(name);
        for name in h.required.difference(&b.required) {
            if dir == Dir::Request && unnamed(h, name) && unnamed(b, name) {
                let at = h.keyword_at("required");
                self.emit_member("request-property-became-required", Side::Head, &at, name, "now required".into());
            }
        }
        for name in b.required.difference(&h.required) {
            if dir == Dir::Response && unnamed(h, name) && unnamed(b, name) {
                let at = b.keyword_at("required");
                self.emit_member("response-property-became-optional", Side::Base, &at, name, "now optional".into());
            }
        }
    }

    fn compare_additional(&mut self, b: &Node, h: &Node, dir: Dir) {
        let (ba, ha) = (b.map.get("additionalProperties"), h.map.get("additionalProperties"));
        if ba == ha {
            return;
        }
        let closed = |v: Option<&Value>| v == Some(&Value::Bool(false));
        let open = |v: Option<&Value>| v.is_none() || v == Some(&Value::Bool(true));
        let at = if ha.is_some() { h.keyword_at("additionalProperties") } else { b.keyword_at("additionalProperties") };
        let side = if ha.is_some() { Side::Head } else { Side::Base };
        if closed(ha) && !closed(ba) {
            let rule = if dir == Dir::Request {
                "request-additional-properties-closed"
            } else {
                "response-constraint-tightened"
            };
            self.emit(rule, side, &at, "undeclared members are no longer allowed".into());
        } else if closed(ba) && !closed(ha) {
            let rule = if dir == Dir::Request { "request-constraint-relaxed" } else { "response-constraint-relaxed" };
            self.emit(rule, side, &at, "undeclared members are now allowed".into());
        } else {
            // Two schemas (or a schema and "anything"): the members' values compared as values.
            let any = Value::Bool(true);
            let b_at = b.keyword_at("additionalProperties");
            let h_at = h.keyword_at("additionalProperties");
            let (bv, hv) =
                (if open(ba) { &any } else { ba.unwrap_or(&any) }, if open(ha) { &any } else { ha.unwrap_or(&any) });
            self.child((bv, &b_at), (hv, &h_at), Step::Member("{*}".into()));
        }
    }

    fn compare_items(&mut self, b: &Node, h: &Node) {
        let (bi, hi) = (b.map.get("items"), h.map.get("items"));
        if bi.is_none() && hi.is_none() {
            return;
        }
        let any = Value::Bool(true);
        self.child(
            (bi.unwrap_or(&any), &b.keyword_at("items")),
            (hi.unwrap_or(&any), &h.keyword_at("items")),
            Step::Items,
        );
    }

    fn compare_branches(&mut self, b: &Node, h: &Node, key: &'static str, dir: Dir) {
        let empty = Vec::new();
        let (bb, hb) = (
            b.map.get(key).and_then(Value::as_array).unwrap_or(&empty),
            h.map.get(key).and_then(Value::as_array).unwrap_or(&empty),
        );
        if bb.is_empty() || hb.is_empty() {
            return; // one-sided unions are compared by `one_sided_union`
        }
        let b_list: Vec<Branch> = branches(bb, &b.keyword_at(key));
        let h_list: Vec<Branch> = branches(hb, &h.keyword_at(key));
        let by_name = b_list.iter().chain(&h_list).all(|x| x.named);
        self.match_branches(&b_list, &h_list, by_name, key, dir);
    }

    fn match_branches(&mut self, b_list: &[Branch], h_list: &[Branch], by_name: bool, key: &'static str, dir: Dir) {
        let mut matched = Vec::new();
        for (i, x) in b_list.iter().enumerate() {
            let partner =
                if by_name { h_list.iter().position(|y| y.label == x.label) } else { (i < h_list.len()).then_some(i) };
            match partner {
                Some(j) => {
                    matched.push(j);
                    let y = &h_list[j];
                    self.child((&x.value, &x.at), (&y.value, &y.at), Step::Branch(key, x.label.clone()));
                }
                None => {
                    let rule =
                        if dir == Dir::Request { "request-branch-removed" } else { "response-constraint-tightened" };
                    self.emit(rule, Side::Base, &x.at, format!("{key} alternative {} removed", x.label));
                }
            }
        }
        for (j, y) in h_list.iter().enumerate() {
            if !matched.contains(&j) {
                let rule = if dir == Dir::Request { "request-constraint-relaxed" } else { "response-branch-added" };
                self.emit(rule, Side::Head, &y.at, format!("{key} alternative {} added", y.label));
            }
        }
    }

    /// A schema that became a oneOf/anyOf (or the reverse): the plain side is compared with the
    /// alternative of the same `$ref` name, the others are added or removed alternatives. Returns
    /// whether it applied.
    fn one_sided_union(&mut self, b: &Node, h: &Node, dir: Dir) -> bool {
        let union = |n: &Node| {
            ["oneOf", "anyOf"]
                .into_iter()
                .find(|k| n.map.get(*k).and_then(Value::as_array).is_some_and(|a| !a.is_empty()))
        };
        let (key, plain_is_base) = match (union(b), union(h)) {
            (None, Some(k)) => (k, true),
            (Some(k), None) => (k, false),
            _ => return false,
        };
        let (plain, other) = if plain_is_base { (b, h) } else { (h, b) };
        let list = branches(other.map[key].as_array().expect("checked"), &other.keyword_at(key));
        let Some(name) = plain.names.first() else {
            let at = other.keyword_at(key);
            let side = if plain_is_base { Side::Head } else { Side::Base };
            self.emit(
                "schema-keyword-changed",
                side,
                &at,
                format!("`{key}` added or removed around an inline schema; not analysed"),
            );
            return true;
        };
        let own = Branch {
            label: name.clone(),
            value: serde_json::json!({"$ref": format!("#{}", plain.at)}),
            at: plain.at.clone(),
            named: true,
        };
        if plain_is_base {
            self.match_branches(&[own], &list, true, key, dir);
        } else {
            self.match_branches(&list, &[own], true, key, dir);
        }
        true
    }
}

/// One alternative of a oneOf/anyOf, labelled by its `$ref` name (or its position).
struct Branch {
    label: String,
    value: Value,
    at: String,
    named: bool,
}

fn branches(list: &[Value], at: &str) -> Vec<Branch> {
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let name = v.get("$ref").and_then(Value::as_str).map(|r| r.rsplit('/').next().unwrap_or(r).to_string());
            Branch {
                named: name.is_some(),
                label: name.unwrap_or(format!("#{i}")),
                value: v.clone(),
                at: format!("{at}/{i}"),
            }
        })
        .collect()
}
