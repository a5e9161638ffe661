//! Values from JSON Schemas: random ones meant to be valid (fuzzing), and the deterministic variants
//! of a valid value that sit at and beyond each constraint (coverage, negative fuzzing).
//!
//! Nothing here decides whether a value is valid: callers ask the compiled validator, so a case is
//! positive or negative by the schema's own verdict, never by what a generator intended.

use std::collections::HashMap;

use commerce_spec::Spec;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Number, Value, json};

/// Nesting below which optional properties and array items are no longer generated.
const MAX_DEPTH: usize = 5;

pub use commerce_spec::schema::{flatten, types};

/// How a server reads one piece of text given the types its schema admits (see
/// [`commerce_spec::read_parameter`]): `"5"` sent for an integer arrives as 5.
pub fn read_scalar(types: &[&str], text: &str) -> Value {
    commerce_spec::read_parameter(types, text)
}

/// How a server reads a header's or a scalar parameter's text, by its (flattened) schema.
pub fn read_wire(schema: &Value, text: &str) -> Value {
    read_scalar(&types(schema), text)
}

/// Random values meant to satisfy a schema, from a seeded generator.
pub struct Generator<'a> {
    spec: &'a Spec,
    pub rng: StdRng,
    regexes: HashMap<String, Option<rand_regex::Regex>>,
    /// How often an optional property is generated (1.0: every one, for the fullest bodies).
    pub optional_odds: f64,
}

impl<'a> Generator<'a> {
    pub fn new(spec: &'a Spec, seed: u64) -> Self {
        Self { spec, rng: StdRng::seed_from_u64(seed), regexes: HashMap::new(), optional_odds: 0.5 }
    }

    /// A random value for `schema`. Usually valid; callers check with the validator.
    pub fn positive(&mut self, schema: &Value) -> Value {
        self.value(schema, 0)
    }

    fn value(&mut self, schema: &Value, depth: usize) -> Value {
        let schema = flatten(self.spec, schema);
        match &schema {
            Value::Bool(true) => return json!("x"),
            Value::Bool(false) => return Value::Null,
            _ => {}
        }
        if let Some(value) = schema.get("const") {
            return value.clone();
        }
        if let Some(members) = schema.get("enum").and_then(Value::as_array).filter(|m| !m.is_empty()) {
            return members.choose(&mut self.rng).cloned().unwrap_or(Value::Null);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alternatives) = schema.get(key).and_then(Value::as_array).filter(|a| !a.is_empty()) {
                let pick = alternatives.choose(&mut self.rng).cloned().unwrap_or(Value::Bool(true));
                return self.value(&pick, depth);
            }
        }
        let types = types(&schema);
        let non_null: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
        if non_null.is_empty() && types.contains(&"null")
            || (!non_null.is_empty() && types.contains(&"null") && self.rng.random_bool(0.1))
        {
            return Value::Null;
        }
        let chosen = non_null.choose(&mut self.rng).copied().unwrap_or("string");
        match chosen {
            "string" => Value::String(self.string(&schema)),
            "integer" => Value::from(self.integer(&schema)),
            "number" => self.number(&schema),
            "boolean" => Value::Bool(self.rng.random_bool(0.5)),
            "array" => self.array(&schema, depth),
            "object" => self.object(&schema, depth),
            _ => Value::Null,
        }
    }

    fn string(&mut self, schema: &Value) -> String {
        let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = schema.get("maxLength").and_then(Value::as_u64).map_or(min + 24, |m| m as usize).max(min);
        if let Some(formatted) = schema.get("format").and_then(Value::as_str).and_then(|f| self.formatted(f)) {
            return formatted;
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            let regex = self.regexes.entry(pattern.to_string()).or_insert_with(|| {
                let unanchored = pattern.strip_prefix('^').unwrap_or(pattern);
                let unanchored = match unanchored.strip_suffix('$') {
                    Some(rest) if !rest.ends_with('\\') => rest,
                    _ => unanchored,
                };
                rand_regex::Regex::compile(unanchored, 16).ok()
            });
            if let Some(regex) = regex {
                return self.rng.sample::<String, _>(&*regex);
            }
        }
        let len = self.rng.random_range(min..=max.min(min + 24));
        const PLAIN: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ ";
        const ODD: [char; 6] = ['é', 'ß', '日', '\u{1F600}', '\'', '"'];
        (0..len)
            .map(|_| {
                if self.rng.random_bool(0.05) {
                    *ODD.choose(&mut self.rng).unwrap_or(&'x')
                } else {
                    *PLAIN.choose(&mut self.rng).unwrap_or(&b'x') as char
                }
            })
            .collect()
    }

    fn formatted(&mut self, format: &str) -> Option<String> {
        let r = &mut self.rng;
        Some(match format {
            "uuid" => {
                let b: [u8; 16] = r.random();
                let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
            }
            "date-time" => format!(
                "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                r.random_range(0..30),
                r.random_range(1..=12),
                r.random_range(1..=28),
                r.random_range(0..24),
                r.random_range(0..60),
                r.random_range(0..60)
            ),
            "date" => {
                format!("20{:02}-{:02}-{:02}", r.random_range(0..30), r.random_range(1..=12), r.random_range(1..=28))
            }
            "email" => format!("user{}@example.com", r.random_range(0..100_000)),
            "uri" | "url" => format!("https://example.com/{}", r.random_range(0..100_000)),
            "uri-reference" => format!("/items/{}", r.random_range(0..100_000)),
            "hostname" => format!("host{}.example.com", r.random_range(0..1000)),
            "ipv4" => format!("10.{}.{}.{}", r.random_range(0..256), r.random_range(0..256), r.random_range(1..255)),
            "ipv6" => format!("2001:db8::{:x}", r.random_range(1..0xffff)),
            _ => return None,
        })
    }

    fn integer(&mut self, schema: &Value) -> i64 {
        let (low, high) = integer_bounds(schema);
        let low = low.unwrap_or(high.map_or(-1000, |h| h.saturating_sub(1000)));
        let high = high.unwrap_or(low.saturating_add(1000)).max(low);
        let mut value = if self.rng.random_bool(0.2) {
            *[low, high].choose(&mut self.rng).unwrap_or(&low)
        } else {
            self.rng.random_range(low..=high)
        };
        if let Some(step) = schema.get("multipleOf").and_then(Value::as_i64).filter(|s| *s > 0) {
            value = value.div_euclid(step) * step;
            if value < low {
                value += step;
            }
        }
        value
    }

    fn number(&mut self, schema: &Value) -> Value {
        if self.rng.random_bool(0.5) {
            return Value::from(self.integer(schema));
        }
        let low = schema.get("minimum").and_then(Value::as_f64).unwrap_or(-1000.0);
        let high = schema.get("maximum").and_then(Value::as_f64).unwrap_or(low + 1000.0).max(low);
        let value = self.rng.random_range(low..=high);
        Number::from_f64((value * 100.0).round() / 100.0).map_or(Value::from(0), Value::Number)
    }

    fn array(&mut self, schema: &Value, depth: usize) -> Value {
        let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = schema.get("maxItems").and_then(Value::as_u64).map_or(min + 3, |m| m as usize).max(min);
        let len = if depth >= MAX_DEPTH { min } else { self.rng.random_range(min..=max.min(min + 3)) };
        let items = schema.get("items").cloned().unwrap_or(Value::Bool(true));
        let unique = schema.get("uniqueItems").and_then(Value::as_bool).unwrap_or(false);
        let mut out: Vec<Value> = Vec::with_capacity(len);
        let mut attempts = 0;
        while out.len() < len && attempts < len * 4 + 4 {
            attempts += 1;
            let item = self.value(&items, depth + 1);
            if !(unique && out.contains(&item)) {
                out.push(item);
            }
        }
        Value::Array(out)
    }

    fn object(&mut self, schema: &Value, depth: usize) -> Value {
        let required: Vec<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let mut out = Map::new();
        for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let wanted =
                required.contains(&name.as_str()) || (depth < MAX_DEPTH && self.rng.random_bool(self.optional_odds));
            if wanted && property.get("readOnly") != Some(&Value::Bool(true)) {
                out.insert(name.clone(), self.value(property, depth + 1));
            }
        }
        Value::Object(out)
    }
}

/// Inclusive integer bounds from `minimum`/`maximum` and their exclusive forms.
fn integer_bounds(schema: &Value) -> (Option<i64>, Option<i64>) {
    let get = |k: &str| schema.get(k).and_then(Value::as_f64);
    let low = match (get("minimum"), get("exclusiveMinimum")) {
        (Some(m), Some(e)) => Some((m.ceil() as i64).max(e.floor() as i64 + 1)),
        (Some(m), None) => Some(m.ceil() as i64),
        (None, Some(e)) => Some(e.floor() as i64 + 1),
        (None, None) => None,
    };
    let high = match (get("maximum"), get("exclusiveMaximum")) {
        (Some(m), Some(e)) => Some((m.floor() as i64).min(e.ceil() as i64 - 1)),
        (Some(m), None) => Some(m.floor() as i64),
        (None, Some(e)) => Some(e.ceil() as i64 - 1),
        (None, None) => None,
    };
    (low, high)
}

/// One deterministic variant of a value: the value and what was done to it.
pub struct Variant {
    pub value: Value,
    pub what: String,
    /// A variant only JSON text tells apart from the base (an integer written `7.0`): as a
    /// parameter or form field its text reads as another value.
    pub json_only: bool,
}

/// The variants of `base` (a valid value of `schema`) at and beyond each of the schema's constraints,
/// nested properties and items included: lengths and ranges at their limits and one past them, each
/// enum member and a non-member, each required property missing, an undeclared property where none is
/// allowed, and a value of each other JSON type. `filler` supplies valid values where `base` has none.
/// The ending of a variant's description that marks it [`Variant::json_only`].
const IN_JSON: &str = " (in JSON)";

pub fn variants(spec: &Spec, schema: &Value, base: &Value, filler: &mut Generator<'_>) -> Vec<Variant> {
    let mut out = Vec::new();
    collect(spec, schema, base, "", filler, 0, &mut |value, what| {
        let json_only = what.ends_with(IN_JSON);
        out.push(Variant { value, what, json_only })
    });
    out
}

fn collect(
    spec: &Spec,
    schema: &Value,
    base: &Value,
    at: &str,
    filler: &mut Generator<'_>,
    depth: usize,
    emit: &mut dyn FnMut(Value, String),
) {
    let schema = flatten(spec, schema);
    let place = if at.is_empty() { "the value".to_string() } else { at.to_string() };
    let types = types(&schema);
    // A value of each JSON type the schema does not name.
    if !types.is_empty() {
        let others = [
            ("string", json!("text")),
            ("integer", json!(7)),
            ("number", json!(0.5)),
            ("boolean", json!(true)),
            ("null", Value::Null),
            ("array", json!([])),
            ("object", json!({})),
        ];
        for (name, sample) in others {
            let admitted = types.contains(&name) || (name == "integer" && types.contains(&"number"));
            if !admitted {
                emit(sample, format!("{place}: a {name} where {} is expected", types.join(" or ")));
            }
        }
    }
    // `null` where the schema admits it: a classic failure of code written for the usual value.
    if types.contains(&"null") && !base.is_null() {
        emit(Value::Null, format!("{place}: null, which the schema admits{IN_JSON}"));
    }
    if let Some(members) = schema.get("enum").and_then(Value::as_array) {
        for member in members {
            emit(member.clone(), format!("{place}: enum member {member}"));
        }
        emit(json!("not-a-member"), format!("{place}: a value outside the enum"));
    }
    if let Some(constant) = schema.get("const") {
        emit(constant.clone(), format!("{place}: the const value"));
        emit(json!("not-the-const"), format!("{place}: a value other than the const"));
    }
    let Some(kind) = kind_of(base, &types) else { return };
    match kind {
        "string" => {
            let text = base.as_str().unwrap_or_default();
            let min = schema.get("minLength").and_then(Value::as_u64).map(|m| m as usize);
            let max = schema.get("maxLength").and_then(Value::as_u64).map(|m| m as usize);
            for (len, why) in [
                (min, "minLength"),
                (min.and_then(|m| m.checked_sub(1)), "below minLength"),
                (max, "maxLength"),
                (max.map(|m| m + 1), "above maxLength"),
            ] {
                if let Some(len) = len {
                    emit(Value::String(resize(text, len)), format!("{place}: {len} characters ({why})"));
                }
            }
            if schema.get("pattern").is_some() {
                emit(json!("!"), format!("{place}: a string not matching the pattern"));
            }
            if let Some(format) = schema.get("format").and_then(Value::as_str) {
                emit(json!(format!("not-a-{format}")), format!("{place}: a string that is not a {format}"));
            }
        }
        "integer" | "number" => {
            let (low, high) = integer_bounds(&schema);
            for (value, why) in [
                (low, "at the minimum"),
                (low.and_then(|l| l.checked_sub(1)), "below the minimum"),
                (high, "at the maximum"),
                (high.and_then(|h| h.checked_add(1)), "above the maximum"),
            ] {
                if let Some(value) = value {
                    emit(Value::from(value), format!("{place}: {value} ({why})"));
                }
            }
            if kind == "integer" {
                emit(json!(1.5), format!("{place}: a fraction where an integer is expected"));
                // JSON Schema counts 771.0 as an integer: a valid value many servers refuse.
                if let Some(n) = base.as_i64().filter(|n| n.unsigned_abs() < 1 << 53) {
                    emit(json!(n as f64), format!("{place}: {n} written as {n}.0{IN_JSON}"));
                }
            }
            if let Some(step) = schema.get("multipleOf").and_then(Value::as_i64).filter(|s| *s > 1) {
                emit(Value::from(step + 1), format!("{place}: not a multiple of {step}"));
            }
        }
        "array" => {
            let items = base.as_array().cloned().unwrap_or_default();
            let item_schema = schema.get("items").cloned().unwrap_or(Value::Bool(true));
            let min = schema.get("minItems").and_then(Value::as_u64).map(|m| m as usize);
            let max = schema.get("maxItems").and_then(Value::as_u64).map(|m| m as usize);
            for (len, why) in
                [(min.and_then(|m| m.checked_sub(1)), "below minItems"), (max.map(|m| m + 1), "above maxItems")]
            {
                let Some(len) = len else { continue };
                if len > 1000 {
                    continue;
                }
                let mut resized = items.clone();
                resized.truncate(len);
                while resized.len() < len {
                    resized.push(items.first().cloned().unwrap_or_else(|| filler.positive(&item_schema)));
                }
                emit(Value::Array(resized), format!("{place}: {len} items ({why})"));
            }
            if let Some(first) = items.first().filter(|_| depth < MAX_DEPTH) {
                collect(spec, &item_schema, first, &format!("{at}/0"), filler, depth + 1, &mut |value, what| {
                    let mut changed = items.clone();
                    changed[0] = value;
                    emit(Value::Array(changed), what);
                });
            }
        }
        "object" => {
            let object = base.as_object().cloned().unwrap_or_default();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for name in &required {
                if object.contains_key(*name) {
                    let mut without = object.clone();
                    without.remove(*name);
                    emit(Value::Object(without), format!("{at}/{name}: missing (required)"));
                }
            }
            let closed = [schema.get("additionalProperties"), schema.get("unevaluatedProperties")]
                .iter()
                .any(|k| *k == Some(&Value::Bool(false)));
            if closed {
                let mut extra = object.clone();
                extra.insert("undeclaredProperty".into(), json!(1));
                emit(Value::Object(extra), format!("{at}/undeclaredProperty: a property the schema does not declare"));
            }
            if depth >= MAX_DEPTH {
                return;
            }
            for (name, property) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
                let current = object.get(name).cloned().unwrap_or_else(|| filler.positive(property));
                if !object.contains_key(name) {
                    let mut added = object.clone();
                    added.insert(name.clone(), current.clone());
                    emit(Value::Object(added), format!("{at}/{name}: present"));
                }
                collect(spec, property, &current, &format!("{at}/{name}"), filler, depth + 1, &mut |value, what| {
                    let mut changed = object.clone();
                    changed.insert(name.clone(), value);
                    emit(Value::Object(changed), what);
                });
            }
        }
        _ => {}
    }
}

/// Which JSON type a value takes, when the schema admits it.
fn kind_of<'t>(value: &Value, types: &[&'t str]) -> Option<&'t str> {
    let actual = match value {
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            if types.contains(&"integer") {
                "integer"
            } else {
                "number"
            }
        }
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => return None,
    };
    types.iter().copied().find(|t| *t == actual)
}

/// `text` cut or padded (with its own characters, else `a`) to exactly `len` characters.
fn resize(text: &str, len: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() >= len {
        return chars[..len].iter().collect();
    }
    let pad = if chars.is_empty() { vec!['a'] } else { chars.clone() };
    chars.iter().copied().chain(pad.iter().copied().cycle()).take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::parse(
            r#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths: {}
components:
  schemas:
    Item:
      type: object
      additionalProperties: false
      required: [sku, qty]
      properties:
        sku: {type: string, pattern: '^[A-Z]{3}-[0-9]{2}$'}
        qty: {type: integer, minimum: 1, maximum: 9}
        tags: {type: array, maxItems: 2, items: {type: string, enum: [a, b]}}
"#,
        )
        .unwrap()
    }

    fn validator(spec: &Spec) -> jsonschema::Validator {
        let schema = spec.standalone_schema(&json!({"$ref": "#/components/schemas/Item"}));
        jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&schema).unwrap()
    }

    #[test]
    fn generated_values_satisfy_patterns_and_ranges() {
        let spec = spec();
        let v = validator(&spec);
        let mut g = Generator::new(&spec, 7);
        let schema = json!({"$ref": "#/components/schemas/Item"});
        let valid = (0..200).filter(|_| v.is_valid(&g.positive(&schema))).count();
        assert_eq!(valid, 200);
    }

    #[test]
    fn the_same_seed_gives_the_same_values() {
        let spec = spec();
        let schema = json!({"$ref": "#/components/schemas/Item"});
        let run = |seed| {
            let mut g = Generator::new(&spec, seed);
            (0..20).map(|_| g.positive(&schema)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn variants_reach_every_limit_and_both_sides_of_it() {
        let spec = spec();
        let v = validator(&spec);
        let base = json!({"sku": "ABC-12", "qty": 5, "tags": ["a"]});
        let mut g = Generator::new(&spec, 0);
        let all = variants(&spec, &json!({"$ref": "#/components/schemas/Item"}), &base, &mut g);
        let verdict = |what: &str| {
            let variant = all.iter().find(|x| x.what == what).unwrap_or_else(|| panic!("no variant {what}"));
            v.is_valid(&variant.value)
        };
        assert!(verdict("/qty: 1 (at the minimum)"));
        assert!(!verdict("/qty: 0 (below the minimum)"));
        assert!(verdict("/qty: 9 (at the maximum)"));
        assert!(!verdict("/qty: 10 (above the maximum)"));
        assert!(!verdict("/sku: missing (required)"));
        assert!(!verdict("/undeclaredProperty: a property the schema does not declare"));
        assert!(!verdict("/tags: 3 items (above maxItems)"));
        assert!(verdict("/tags/0: enum member \"b\""));
        assert!(!verdict("/tags/0: a value outside the enum"));
        assert!(!verdict("/sku: a string not matching the pattern"));
        assert!(!verdict("/qty: a string where integer is expected"));
    }

    #[test]
    fn parameters_are_classified_as_the_server_reads_them() {
        let schema = json!({"type": "integer"});
        assert_eq!(read_wire(&schema, "5"), json!(5));
        assert_eq!(read_wire(&schema, "five"), json!("five"));
        assert_eq!(read_wire(&json!({"type": "boolean"}), "true"), json!(true));
        assert_eq!(read_wire(&json!({"type": "string"}), "5"), json!("5"));
    }
}
