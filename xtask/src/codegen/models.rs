//! JSON Schema -> Rust types: one struct, enum or alias per component schema, plus the named types
//! that inline schemas (an enum inside a property, an object inside an array) are hoisted into.
//!
//! Every construct becomes a faithful type or a [`CodegenError`] naming its JSON pointer:
//! - `allOf` -> one struct with the parts' properties and `required` merged (a property two parts
//!   describe differently is an error);
//! - `oneOf`/`anyOf` -> an enum: tagged by the discriminator (and its mapping), or untagged, each
//!   value decoded into the alternative that keeps all of it;
//! - maps (`additionalProperties: {schema}`) -> `BTreeMap<String, T>`, beside properties too;
//! - recursion -> `Box` on every reference that closes a cycle outside a collection;
//! - arrays at any depth, of nullable items too; enums of strings -> Rust enums; enums and consts
//!   of other types -> their scalar type (the document's schema, checked at run time, enforces
//!   them: see `commerce_runtime::Validation`);
//! - readOnly/writeOnly -> two views of one schema: `X` for responses (no writeOnly property) and,
//!   when it differs, `XInput` for requests (no readOnly property);
//! - `{}` and `true` -> `serde_json::Value`, and only they.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use commerce_spec::{Spec, escape, primary_type};
use serde_json::{Map, Value};

use super::names::{doc, lit, snake, upper_camel};
use super::{CodegenError, bail};

/// Which side of the wire a type is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// Request bodies and parameters: readOnly properties are absent.
    Request,
    /// Responses (and webhook payloads): writeOnly properties are absent.
    Response,
}

/// How a schema is spelled in Rust, and the poem-openapi validators that carry its constraints.
#[derive(Debug, Clone, Default)]
pub struct RustType {
    pub ty: String,
    /// Validators for the value (for a list: for each element).
    pub validators: Vec<String>,
    /// Validators for the list itself.
    pub list_validators: Vec<String>,
    pub nullable: bool,
    /// The enum a `$ref` names, when it names one: lets a default of that enum be spelled.
    pub enum_name: Option<String>,
    /// The component schemas the type names directly (outside a collection): recursion is boxed.
    pub direct: BTreeSet<String>,
}

impl RustType {
    fn plain(ty: impl Into<String>) -> Self {
        Self { ty: ty.into(), ..Self::default() }
    }

    /// `validator(...)` for an `#[oai(...)]` attribute, or nothing.
    pub fn validator_attr(&self) -> Option<String> {
        let all: Vec<&String> = self.validators.iter().chain(&self.list_validators).collect();
        (!all.is_empty())
            .then(|| format!("validator({})", all.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
    }
}

/// What a schema is, for the type it becomes.
enum Shape {
    /// `{}` or `true`: any JSON value.
    Any,
    /// A component schema, and the keywords written beside the `$ref`.
    Ref(String),
    StringEnum(Vec<String>),
    Scalar(&'static str),
    Array(Value),
    /// An object with properties (allOf merged), maybe with additional properties of a schema.
    Struct(Value),
    /// An object of one value schema per key.
    Map(Value),
    Union {
        alternatives: Vec<Value>,
        discriminator: Option<String>,
        mapping: Vec<(String, String)>,
        one_of: bool,
    },
}

/// Collects the Rust source of every model type, in a deterministic order.
pub struct Models<'s> {
    spec: &'s Spec,
    /// Emitted type name -> source, sorted by name in the output.
    items: BTreeMap<String, String>,
    /// Which schema each emitted name stands for, to catch two schemas wanting one name.
    owners: BTreeMap<String, String>,
    /// Names of the string enums emitted so far, and their members.
    pub enums: BTreeMap<String, Vec<String>>,
    /// Component schemas on a cycle of direct references, by the cycle they are on.
    cycles: BTreeMap<String, usize>,
    /// Whether a component's view leaves something out (memoised).
    differs: HashMap<(String, View), bool>,
}

fn pointer_of(name: &str) -> String {
    format!("/components/schemas/{}", escape(name))
}

impl<'s> Models<'s> {
    pub fn new(spec: &'s Spec) -> Result<Self, CodegenError> {
        let mut models = Self {
            spec,
            items: BTreeMap::new(),
            owners: BTreeMap::new(),
            enums: BTreeMap::new(),
            cycles: BTreeMap::new(),
            differs: HashMap::new(),
        };
        models.cycles = models.find_cycles()?;
        // Every component gets its type even when no operation uses it; the views that leave
        // something out are emitted where they are used.
        for (name, _) in spec.schemas() {
            let view = if models.view_differs(name, View::Response) && !models.view_differs(name, View::Request) {
                View::Request
            } else {
                View::Response
            };
            models.component(name, view)?;
        }
        Ok(models)
    }

    pub fn spec(&self) -> &'s Spec {
        self.spec
    }

    /// The `models.rs` body.
    pub fn render(&self) -> String {
        self.items.values().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The Rust name of component `name` in `view`.
    ///
    /// A view that leaves a property out carries a suffix (`XInput` without the readOnly
    /// properties, `XOutput` without the writeOnly ones); a view that leaves nothing out is `X`.
    pub fn component_ident(&mut self, name: &str, view: View) -> String {
        let base = upper_camel(name);
        match view {
            View::Request if self.view_differs(name, view) => format!("{base}Input"),
            View::Response if self.view_differs(name, view) => format!("{base}Output"),
            _ => base,
        }
    }

    /// Emits component `name` in `view` (if not yet) and returns its Rust name.
    fn component(&mut self, name: &str, view: View) -> Result<String, CodegenError> {
        let ident = self.component_ident(name, view);
        if self.items.contains_key(&ident) {
            return Ok(ident);
        }
        let at = pointer_of(name);
        let schema = self.spec.pointer(&format!("#{at}")).map_err(|e| CodegenError(e.0))?.clone();
        self.claim(&ident, &at)?;
        let (inner, nullable) = split_null(&schema);
        match self.shape(&inner, &at)? {
            Shape::StringEnum(values) => self.emit_enum(&ident, name, &inner, &values)?,
            Shape::Struct(object) => self.emit_struct(&ident, &ident.clone(), &object, view, Some(name), &at)?,
            Shape::Union { alternatives, discriminator, mapping, one_of } => {
                self.emit_union(&ident, &inner, &alternatives, discriminator, &mapping, one_of, view, &at)?
            }
            _ => {
                let mut ty = self.rust_type_at(&schema, &format!("{ident}Value"), view, &at)?;
                if ty.nullable {
                    ty.ty = format!("Option<{}>", ty.ty);
                }
                let text = format!("{}pub type {ident} = {};\n", doc(description(&schema)), ty.ty);
                let _ = nullable;
                self.items.insert(ident.clone(), text);
            }
        }
        Ok(ident)
    }

    /// Reserves `ident` for the schema at `at`; two schemas wanting one name is an error.
    fn claim(&mut self, ident: &str, at: &str) -> Result<(), CodegenError> {
        match self.owners.get(ident) {
            Some(owner) if owner != at => {
                bail(format!("{at}: its Rust name {ident} is already the name of {owner}; rename one of them"))
            }
            _ => {
                self.owners.insert(ident.to_string(), at.to_string());
                Ok(())
            }
        }
    }

    /// Whether `ty` (as [`RustType::ty`] spells it) names a generated struct.
    pub fn is_struct(&self, ty: &str) -> bool {
        ty.strip_prefix("crate::models::")
            .and_then(|name| self.items.get(name))
            .is_some_and(|source| source.contains("poem_openapi::Object"))
    }

    /// The Rust type for the schema at JSON pointer `at` (named in errors); `context` names any
    /// type that must be hoisted.
    pub fn rust_type_at(
        &mut self,
        schema: &Value,
        context: &str,
        view: View,
        at: &str,
    ) -> Result<RustType, CodegenError> {
        let (inner, nullable) = split_null(schema);
        let mut ty = self.non_null_type(&inner, context, view, at)?;
        ty.nullable |= nullable;
        Ok(ty)
    }

    fn non_null_type(&mut self, schema: &Value, context: &str, view: View, at: &str) -> Result<RustType, CodegenError> {
        match self.shape(schema, at)? {
            Shape::Any => Ok(RustType::plain("serde_json::Value")),
            Shape::Ref(name) => {
                let target =
                    self.spec.pointer(&format!("#{}", pointer_of(&name))).map_err(|e| CodegenError(e.0))?.clone();
                let ident = self.component(&name, view)?;
                let path = format!("crate::models::{ident}");
                let (target_inner, _) = split_null(&target);
                let mut ty = match self.shape(&target_inner, &pointer_of(&name))? {
                    Shape::StringEnum(_) => RustType { enum_name: Some(path.clone()), ..RustType::plain(path) },
                    Shape::Scalar(_) | Shape::Any => {
                        // A plain value behind a name: its constraints apply where it is used.
                        let mut ty = self.non_null_type(&target_inner, &ident, view, &pointer_of(&name))?;
                        ty.ty = path;
                        ty
                    }
                    Shape::Array(_) | Shape::Map(_) => {
                        let mut ty = self.non_null_type(&target_inner, &ident, view, &pointer_of(&name))?;
                        ty.ty = path;
                        ty
                    }
                    Shape::Struct(_) | Shape::Union { .. } => RustType::plain(path),
                    Shape::Ref(_) => RustType::plain(path),
                };
                ty.direct.insert(name.clone());
                // Keywords beside the $ref (3.1) constrain the value too.
                ty.validators.extend(value_validators(schema));
                Ok(ty)
            }
            Shape::StringEnum(values) => {
                self.claim(context, at)?;
                self.emit_enum(context, context, schema, &values)?;
                let path = format!("crate::models::{context}");
                Ok(RustType { enum_name: Some(path.clone()), ..RustType::plain(path) })
            }
            Shape::Struct(object) => {
                self.claim(context, at)?;
                self.emit_struct(context, context, &object, view, None, at)?;
                Ok(RustType::plain(format!("crate::models::{context}")))
            }
            Shape::Union { alternatives, discriminator, mapping, one_of } => {
                self.claim(context, at)?;
                self.emit_union(context, schema, &alternatives, discriminator, &mapping, one_of, view, at)?;
                Ok(RustType::plain(format!("crate::models::{context}")))
            }
            Shape::Map(values) => {
                let value = self.rust_type_at(
                    &values,
                    &format!("{context}Value"),
                    view,
                    &format!("{at}/additionalProperties"),
                )?;
                let value_ty = if value.nullable { format!("Option<{}>", value.ty) } else { value.ty };
                Ok(RustType::plain(format!("std::collections::BTreeMap<String, {value_ty}>")))
            }
            Shape::Array(items) => {
                let item = self.rust_type_at(&items, &format!("{context}Item"), view, &format!("{at}/items"))?;
                let item_ty = if item.nullable { format!("Option<{}>", item.ty) } else { item.ty.clone() };
                let mut ty = RustType::plain(format!("Vec<{item_ty}>"));
                // poem-openapi checks one level of items; deeper constraints (and those of nullable
                // items) are the document's, checked at run time.
                if !item.ty.starts_with("Vec<") && !item.nullable {
                    ty.validators = item.validators;
                }
                ty.list_validators = list_validators(schema);
                Ok(ty)
            }
            Shape::Scalar(rust) => {
                let mut ty = RustType::plain(rust);
                // Lengths of bytes are the document's to check: the base64 text's length.
                if rust != "commerce_runtime::Octets" {
                    ty.validators = value_validators(schema);
                }
                Ok(ty)
            }
        }
    }

    /// What `schema` (null already split off) becomes; constructs with no faithful type are errors.
    fn shape(&self, schema: &Value, at: &str) -> Result<Shape, CodegenError> {
        let Some(object) = schema.as_object() else {
            return match schema {
                Value::Bool(true) => Ok(Shape::Any),
                _ => bail(format!("{at}: the schema `false` admits nothing, so no type can hold it")),
            };
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let Some(name) = reference.strip_prefix("#/components/schemas/").filter(|n| !n.contains('/')) else {
                // A deep pointer or a bundled file: the target itself, hoisted under this context.
                let target = self.spec.pointer(reference).map_err(|e| CodegenError(format!("{at}/$ref: {e}")))?;
                return self.shape(&split_null(target).0, &reference[1..]);
            };
            return Ok(Shape::Ref(name.replace("~1", "/").replace("~0", "~")));
        }
        if let Some(patterns) = object.get("patternProperties").and_then(Value::as_object) {
            // Members whose names match a pattern: a map of their schema (the document checks the
            // names), when every pattern has the same value schema and no other member is allowed.
            let schemas: BTreeSet<String> = patterns.values().map(Value::to_string).collect();
            if schemas.len() == 1 && object.get("additionalProperties") == Some(&Value::Bool(false)) {
                let mut rewritten = object.clone();
                let values = patterns.values().next().cloned().unwrap_or(Value::Bool(true));
                rewritten.remove("patternProperties");
                rewritten.insert("additionalProperties".into(), values);
                rewritten.entry("type").or_insert(Value::from("object"));
                return self.shape(&Value::Object(rewritten), at);
            }
            return bail(format!(
                "{at}/patternProperties: a map type needs one value schema for every member: give the patterns one schema and add `additionalProperties: false`"
            ));
        }
        for unsupported in ["prefixItems", "not"] {
            if object.contains_key(unsupported) {
                return bail(format!(
                    "{at}/{unsupported}: `{unsupported}` has no Rust type here (the generator does not model it)"
                ));
            }
        }
        if object.contains_key("allOf") {
            let merged = self.merge_all_of(schema, at)?;
            return match merged.get("properties") {
                Some(_) => Ok(Shape::Struct(merged)),
                None => {
                    let mut without = merged.clone();
                    without.as_object_mut().expect("an object").remove("allOf");
                    self.shape(&without, at)
                }
            };
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alternatives) = object.get(key).and_then(Value::as_array) {
                if object.contains_key("properties") {
                    return bail(format!(
                        "{at}: `{key}` beside `properties` is not supported (move the properties into each alternative, or into an allOf)"
                    ));
                }
                let alternatives: Vec<Value> = alternatives.clone();
                if alternatives.len() == 1 {
                    return self.shape(&alternatives[0], &format!("{at}/{key}/0"));
                }
                let discriminator =
                    schema.pointer("/discriminator/propertyName").and_then(Value::as_str).map(String::from);
                let mut mapping: Vec<(String, String)> = schema
                    .pointer("/discriminator/mapping")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(|(value, target)| Some((value.clone(), target.as_str()?.to_string())))
                    .collect();
                if discriminator.is_some() && mapping.is_empty() {
                    for (i, alternative) in alternatives.iter().enumerate() {
                        let Some(reference) = alternative.get("$ref").and_then(Value::as_str) else {
                            return bail(format!(
                                "{at}/{key}/{i}: a discriminated alternative must be a $ref to a component schema"
                            ));
                        };
                        let name = reference.rsplit('/').next().unwrap_or(reference).to_string();
                        mapping.push((name, reference.to_string()));
                    }
                }
                return Ok(Shape::Union { alternatives, discriminator, mapping, one_of: key == "oneOf" });
            }
        }
        if let Some(values) = object.get("enum").and_then(Value::as_array) {
            let strings: Vec<String> = values.iter().filter_map(Value::as_str).map(String::from).collect();
            if !strings.is_empty() && strings.len() == values.len() {
                return Ok(Shape::StringEnum(strings));
            }
        }
        if let Some(Value::String(constant)) = object.get("const") {
            return Ok(Shape::StringEnum(vec![constant.clone()]));
        }
        let types = commerce_spec::schema::types(schema);
        let non_null: Vec<&str> = types.iter().copied().filter(|t| *t != "null").collect();
        if non_null.len() > 1 {
            // `type: [string, integer]`: an untagged union of the scalar types.
            let alternatives: Vec<Value> = non_null
                .iter()
                .map(|t| {
                    let mut alt = object.clone();
                    alt.insert("type".into(), Value::from(*t));
                    Value::Object(alt)
                })
                .collect();
            return Ok(Shape::Union { alternatives, discriminator: None, mapping: Vec::new(), one_of: false });
        }
        if let Some(values) = object.get("enum").and_then(Value::as_array)
            && non_null.is_empty()
        {
            let kinds: BTreeSet<&str> = values.iter().filter(|v| !v.is_null()).map(json_kind).collect();
            if kinds.len() > 1 {
                return bail(format!(
                    "{at}/enum: an enum mixing {} has no single Rust type",
                    kinds.into_iter().collect::<Vec<_>>().join(" and ")
                ));
            }
            return self.shape(&with_type(schema, kinds.into_iter().next().unwrap_or("string")), at);
        }
        if let Some(constant) = object.get("const").filter(|_| non_null.is_empty()) {
            return self.shape(&with_type(schema, json_kind(constant)), at);
        }
        Ok(match non_null.first().copied() {
            None => Shape::Any,
            Some("object") => {
                let has_properties = object.get("properties").and_then(Value::as_object).is_some_and(|p| !p.is_empty());
                let extra = object.get("additionalProperties");
                match (has_properties, extra) {
                    (true, _) => Shape::Struct(schema.clone()),
                    (false, Some(values @ Value::Object(_))) => Shape::Map(values.clone()),
                    (false, Some(Value::Bool(false))) => Shape::Struct(schema.clone()),
                    // An object of anything: its members as JSON values, none of them lost.
                    _ => Shape::Map(Value::Bool(true)),
                }
            }
            Some("array") => Shape::Array(object.get("items").cloned().unwrap_or(Value::Bool(true))),
            Some("string") => Shape::Scalar(match object.get("format").and_then(Value::as_str) {
                Some("uuid") => "uuid::Uuid",
                Some("date-time") => "chrono::DateTime<chrono::Utc>",
                Some("date") => "chrono::NaiveDate",
                Some("ipv4") => "std::net::Ipv4Addr",
                Some("ipv6") => "std::net::Ipv6Addr",
                // Bytes, carried as base64 text.
                Some("byte" | "binary") => "commerce_runtime::Octets",
                _ if object.get("contentEncoding").and_then(Value::as_str) == Some("base64") => {
                    "commerce_runtime::Octets"
                }
                _ => "String",
            }),
            Some("integer") => Shape::Scalar(match object.get("format").and_then(Value::as_str) {
                Some("int32") => "i32",
                _ => "i64",
            }),
            Some("number") => Shape::Scalar(match object.get("format").and_then(Value::as_str) {
                Some("float") => "f32",
                _ => "f64",
            }),
            Some("boolean") => Shape::Scalar("bool"),
            Some(other) => return bail(format!("{at}/type: {other:?} is not a JSON type")),
        })
    }

    /// `allOf` parts (and the schema's own keywords) merged into one object schema.
    fn merge_all_of(&self, schema: &Value, at: &str) -> Result<Value, CodegenError> {
        let mut merged = Map::new();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        let mut parts: Vec<(String, Value)> = Vec::new();
        for (i, part) in schema.get("allOf").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let part_at = format!("{at}/allOf/{i}");
            let resolved = self.spec.resolve(part).map_err(|e| CodegenError(format!("{part_at}: {e}")))?;
            let resolved =
                if resolved.get("allOf").is_some() { self.merge_all_of(resolved, &part_at)? } else { resolved.clone() };
            parts.push((part_at, resolved));
        }
        let own: Map<String, Value> = schema
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "allOf")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        parts.push((at.to_string(), Value::Object(own)));
        for (part_at, part) in parts {
            if part.get("oneOf").is_some() || part.get("anyOf").is_some() {
                return bail(format!("{part_at}: a oneOf/anyOf inside an allOf has no single Rust type"));
            }
            for (key, value) in part.as_object().into_iter().flatten() {
                match key.as_str() {
                    "properties" => {
                        let properties = merged.entry("properties").or_insert_with(|| Value::Object(Map::new()));
                        for (name, property) in value.as_object().into_iter().flatten() {
                            if let Some(existing) = properties.get(name)
                                && existing != property
                            {
                                let first = sources.get(name).cloned().unwrap_or_default();
                                return bail(format!(
                                    "{part_at}/properties/{}: property {name:?} is also described, differently, at {first}/properties/{}",
                                    escape(name),
                                    escape(name)
                                ));
                            }
                            properties[name] = property.clone();
                            sources.entry(name.clone()).or_insert_with(|| part_at.clone());
                        }
                    }
                    "required" => {
                        let required = merged.entry("required").or_insert_with(|| Value::Array(Vec::new()));
                        for name in value.as_array().into_iter().flatten() {
                            let list = required.as_array_mut().expect("an array");
                            if !list.contains(name) {
                                list.push(name.clone());
                            }
                        }
                    }
                    "type" if merged.get("type").is_some_and(|t| t != value) => {
                        return bail(format!("{part_at}/type: the allOf parts disagree on the type"));
                    }
                    _ => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        if merged.contains_key("properties") {
            merged.entry("type").or_insert(Value::from("object"));
        }
        Ok(Value::Object(merged))
    }

    /// Whether component `name` leaves a property out in `view` (itself or through what it holds).
    fn view_differs(&mut self, name: &str, view: View) -> bool {
        let key = (name.to_string(), view);
        if let Some(known) = self.differs.get(&key) {
            return *known;
        }
        // Assume not while looking (cycles), then record what was found.
        self.differs.insert(key.clone(), false);
        let Ok(schema) = self.spec.pointer(&format!("#{}", pointer_of(name))).cloned() else { return false };
        let found = self.schema_differs(&schema, view, 0);
        self.differs.insert(key, found);
        found
    }

    fn schema_differs(&mut self, schema: &Value, view: View, depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str)
            && let Some(name) = reference.strip_prefix("#/components/schemas/").filter(|n| !n.contains('/'))
        {
            return self.view_differs(name, view);
        }
        let hidden = if view == View::Request { "readOnly" } else { "writeOnly" };
        let mut children: Vec<Value> = Vec::new();
        for key in ["items", "additionalProperties"] {
            if let Some(child) = schema.get(key).filter(|c| c.is_object()) {
                children.push(child.clone());
            }
        }
        for key in ["allOf", "oneOf", "anyOf"] {
            children.extend(schema.get(key).and_then(Value::as_array).into_iter().flatten().cloned());
        }
        for property in schema.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.values()) {
            let resolved = self.spec.resolve(property).unwrap_or(property);
            if flag(property, hidden) || flag(resolved, hidden) {
                return true;
            }
            children.push(property.clone());
        }
        children.iter().any(|child| self.schema_differs(child, view, depth + 1))
    }

    /// Components on cycles of direct references (not through an array or a map), numbered by cycle.
    fn find_cycles(&self) -> Result<BTreeMap<String, usize>, CodegenError> {
        let names: Vec<String> = self.spec.schemas().map(|(n, _)| n.to_string()).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, schema) in self.spec.schemas() {
            let mut out = BTreeSet::new();
            direct_refs(schema, &mut out, 0);
            edges.insert(name.to_string(), out);
        }
        // Reachability: a component is cyclic with every component it reaches that reaches it back.
        let reach = |from: &str| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from.to_string()];
            while let Some(next) = stack.pop() {
                for to in edges.get(&next).into_iter().flatten() {
                    if seen.insert(to.clone()) {
                        stack.push(to.clone());
                    }
                }
            }
            seen
        };
        let reaches: BTreeMap<String, BTreeSet<String>> = names.iter().map(|n| (n.clone(), reach(n))).collect();
        let mut cycles = BTreeMap::new();
        let mut next_id = 0;
        for name in &names {
            if cycles.contains_key(name) || !reaches[name].contains(name) {
                continue;
            }
            for other in &reaches[name] {
                if reaches.get(other).is_some_and(|r| r.contains(name)) {
                    cycles.insert(other.clone(), next_id);
                }
            }
            next_id += 1;
        }
        Ok(cycles)
    }

    /// Whether a field of component `owner` naming `ty` must be boxed (it closes a cycle).
    fn boxed(&self, owner: Option<&str>, ty: &RustType) -> bool {
        let Some(cycle) = owner.and_then(|o| self.cycles.get(o)) else { return false };
        ty.direct.iter().any(|name| self.cycles.get(name) == Some(cycle))
    }

    fn emit_enum(
        &mut self,
        ident: &str,
        schema_name: &str,
        schema: &Value,
        values: &[String],
    ) -> Result<(), CodegenError> {
        if self.items.contains_key(ident) {
            return Ok(());
        }
        let variants: Vec<String> = values.iter().map(|v| upper_camel(v)).collect();
        if variants.iter().collect::<BTreeSet<_>>().len() != variants.len() {
            return bail(format!("{schema_name}: two enum members map to the same Rust name"));
        }
        let mut s = doc(description(schema));
        s.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, poem_openapi::Enum)]\n");
        writeln!(s, "#[oai(rename = {})]", lit(schema_name)).unwrap();
        writeln!(s, "pub enum {ident} {{").unwrap();
        for (value, variant) in values.iter().zip(&variants) {
            writeln!(s, "#[oai(rename = {0})]\n#[serde(rename = {0})]\n{variant},", lit(value)).unwrap();
        }
        s.push_str("}\n\n");
        writeln!(s, "impl {ident} {{").unwrap();
        writeln!(s, "/// Every member, in the order the spec lists them.").unwrap();
        writeln!(
            s,
            "pub const ALL: [Self; {}] = [{}];",
            variants.len(),
            variants.iter().map(|v| format!("Self::{v}")).collect::<Vec<_>>().join(", ")
        )
        .unwrap();
        writeln!(s, "/// The member as it is spelled on the wire.").unwrap();
        writeln!(s, "pub const fn as_str(self) -> &'static str {{ match self {{").unwrap();
        for (value, variant) in values.iter().zip(&variants) {
            writeln!(s, "Self::{variant} => {},", lit(value)).unwrap();
        }
        s.push_str("} } }\n\n");
        writeln!(s, "impl poem_openapi::types::ToHeader for {ident} {{ fn to_header(&self) -> Option<poem::http::HeaderValue> {{ Some(poem::http::HeaderValue::from_static(self.as_str())) }} }}\n").unwrap();
        writeln!(s, "impl std::fmt::Display for {ident} {{ fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.as_str()) }} }}\n").unwrap();
        writeln!(s, "impl std::str::FromStr for {ident} {{ type Err = crate::UnknownMember; fn from_str(s: &str) -> Result<Self, Self::Err> {{ Self::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| crate::UnknownMember {{ ty: {}, value: s.to_string() }}) }} }}", lit(ident)).unwrap();
        self.enums.insert(ident.to_string(), values.to_vec());
        self.items.insert(ident.to_string(), s);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_union(
        &mut self,
        ident: &str,
        schema: &Value,
        alternatives: &[Value],
        discriminator: Option<String>,
        mapping: &[(String, String)],
        one_of: bool,
        view: View,
        at: &str,
    ) -> Result<(), CodegenError> {
        if self.items.contains_key(ident) {
            return Ok(());
        }
        self.items.insert(ident.to_string(), String::new());
        let key = if one_of { "oneOf" } else { "anyOf" };
        // (variant name, payload type, discriminator value)
        let mut variants: Vec<(String, String, Option<String>)> = Vec::new();
        if let Some(property) = &discriminator {
            for (value, reference) in mapping {
                let Some(name) = reference.strip_prefix("#/components/schemas/") else {
                    return bail(format!(
                        "{at}/discriminator/mapping/{}: {reference} is not a component schema",
                        escape(value)
                    ));
                };
                let ty = self.rust_type_at(
                    &serde_json::json!({"$ref": reference}),
                    &format!("{ident}{}", upper_camel(value)),
                    view,
                    at,
                )?;
                let target = self.spec.pointer(reference).map_err(|e| CodegenError(e.0))?;
                if self.spec.flatten(target).pointer(&format!("/properties/{}", escape(property))).is_none() {
                    return bail(format!(
                        "{}: the discriminator property {property:?} is not a property of {name}",
                        pointer_of(name)
                    ));
                }
                variants.push((upper_camel(value), ty.ty, Some(value.clone())));
            }
        } else {
            for (i, alternative) in alternatives.iter().enumerate() {
                let alt_at = format!("{at}/{key}/{i}");
                let name = alternative
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.rsplit('/').next())
                    .map(upper_camel)
                    .or_else(|| alternative.get("title").and_then(Value::as_str).map(upper_camel))
                    .unwrap_or_else(|| {
                        let kind = commerce_spec::schema::types(alternative)
                            .first()
                            .map_or("Value".to_string(), |t| upper_camel(t));
                        // Numbered only when another alternative has the same kind.
                        let same = alternatives
                            .iter()
                            .filter(|a| a.get("$ref").is_none() && a.get("title").is_none())
                            .filter(|a| {
                                commerce_spec::schema::types(a).first()
                                    == commerce_spec::schema::types(alternative).first()
                            })
                            .count();
                        if same > 1 { format!("{kind}{i}") } else { kind }
                    });
                let ty = self.rust_type_at(alternative, &format!("{ident}{name}"), view, &alt_at)?;
                if ty.nullable {
                    return bail(format!(
                        "{alt_at}: a nullable alternative inside a {key} (make the whole {key} nullable instead)"
                    ));
                }
                variants.push((name, ty.ty, None));
            }
        }
        if variants.iter().map(|v| &v.0).collect::<BTreeSet<_>>().len() != variants.len() {
            return bail(format!("{at}/{key}: two alternatives map to the same Rust name"));
        }
        let mut s = doc(description(schema));
        s.push_str("#[derive(Debug, Clone, PartialEq, poem_openapi::Union)]\n");
        let mut oai = Vec::new();
        if let Some(property) = &discriminator {
            oai.push(format!("discriminator_name = {}", lit(property)));
        }
        if one_of {
            oai.push("one_of".into());
        }
        if !oai.is_empty() {
            writeln!(s, "#[oai({})]", oai.join(", ")).unwrap();
        }
        writeln!(s, "pub enum {ident} {{").unwrap();
        for (variant, ty, value) in &variants {
            if let Some(value) = value {
                writeln!(s, "#[oai(mapping = {})]", lit(value)).unwrap();
            }
            writeln!(s, "{variant}({ty}),").unwrap();
        }
        s.push_str("}\n\n");
        // serde: written as the alternative itself; read by the discriminator, or into the
        // alternative that keeps every member of the value.
        writeln!(s, "impl serde::Serialize for {ident} {{ fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{ match self {{").unwrap();
        for (variant, _, _) in &variants {
            writeln!(s, "Self::{variant}(value) => serde::Serialize::serialize(value, serializer),").unwrap();
        }
        s.push_str("} } }\n\n");
        writeln!(s, "impl<'de> serde::Deserialize<'de> for {ident} {{ fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{").unwrap();
        s.push_str("let value = <serde_json::Value as serde::Deserialize>::deserialize(deserializer)?;\n");
        if let Some(property) = &discriminator {
            writeln!(s, "match value.get({}).and_then(serde_json::Value::as_str) {{", lit(property)).unwrap();
            for (variant, ty, value) in &variants {
                writeln!(
                    s,
                    "Some({}) => serde_json::from_value::<{ty}>(value).map(Self::{variant}).map_err(serde::de::Error::custom),",
                    lit(value.as_deref().unwrap_or_default())
                )
                .unwrap();
            }
            writeln!(s, "other => Err(serde::de::Error::custom(format!(\"{{}} is {{other:?}}, not one of the documented values\", {}))),", lit(property)).unwrap();
            s.push_str("}\n");
        } else {
            s.push_str("commerce_runtime::union::pick(&value, vec![\n");
            for (variant, ty, _) in &variants {
                writeln!(s, "serde_json::from_value::<{ty}>(value.clone()).map(Self::{variant}),").unwrap();
            }
            s.push_str("]).map_err(serde::de::Error::custom)\n");
        }
        s.push_str("} }\n");
        self.items.insert(ident.to_string(), s);
        Ok(())
    }

    fn emit_struct(
        &mut self,
        ident: &str,
        schema_name: &str,
        schema: &Value,
        view: View,
        component: Option<&str>,
        at: &str,
    ) -> Result<(), CodegenError> {
        if self.items.contains_key(ident) {
            return Ok(());
        }
        // Reserve the name first: a property may refer back to this type.
        self.items.insert(ident.to_string(), String::new());
        let hidden = if view == View::Request { "readOnly" } else { "writeOnly" };
        let required: BTreeSet<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let extra = schema.get("additionalProperties");
        let deny_unknown =
            extra == Some(&Value::Bool(false)) || schema.get("unevaluatedProperties") == Some(&Value::Bool(false));
        let mut fields = String::new();
        let mut defaults = String::new();
        let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        for (prop, prop_schema) in &properties {
            let resolved = self.spec.resolve(prop_schema).unwrap_or(prop_schema).clone();
            if flag(prop_schema, hidden) || flag(&resolved, hidden) {
                continue;
            }
            let field = snake(prop);
            let prop_at = format!("{at}/properties/{}", escape(prop));
            let ty = self.rust_type_at(prop_schema, &format!("{ident}{}", upper_camel(prop)), view, &prop_at)?;
            let boxed = self.boxed(component, &ty);
            let inner_ty = if boxed { format!("Box<{}>", ty.ty) } else { ty.ty.clone() };
            let is_required = required.contains(prop.as_str());
            let default = if is_required || boxed { None } else { self.default_literal(prop_schema, &ty)? };
            let mut oai = vec![format!("rename = {}", lit(prop))];
            let mut serde = vec![format!("rename = {}", lit(prop))];
            oai.extend(ty.validator_attr());
            if flag(prop_schema, "readOnly") || flag(&resolved, "readOnly") {
                oai.push("read_only".into());
            }
            if flag(prop_schema, "writeOnly") || flag(&resolved, "writeOnly") {
                oai.push("write_only".into());
            }
            let field_ty = if let Some(literal) = default {
                let fn_name = format!("default_{}_{}", snake(ident), field);
                writeln!(defaults, "fn {fn_name}() -> {} {{ {literal} }}", ty.ty).unwrap();
                oai.push(format!("default = {}", lit(&fn_name)));
                serde.push(format!("default = {}", lit(&fn_name)));
                ty.ty.clone()
            } else if is_required && !ty.nullable {
                inner_ty
            } else if is_required {
                // Present on the wire, possibly `null`.
                format!("Option<{inner_ty}>")
            } else if ty.nullable {
                // Absent, `null` and a value are three different requests (PATCH semantics).
                serde.push("default".into());
                serde.push("skip_serializing_if = \"poem_openapi::types::MaybeUndefined::is_undefined\"".into());
                format!("poem_openapi::types::MaybeUndefined<{inner_ty}>")
            } else {
                oai.push("skip_serializing_if_is_none".into());
                serde.push("default".into());
                serde.push("skip_serializing_if = \"Option::is_none\"".into());
                format!("Option<{inner_ty}>")
            };
            fields.push_str(&doc(description(prop_schema)));
            writeln!(fields, "#[oai({})]\n#[serde({})]\npub {field}: {field_ty},", oai.join(", "), serde.join(", "))
                .unwrap();
        }
        if let Some(values @ Value::Object(_)) = extra {
            // Members beyond the properties: kept, typed, never dropped.
            let value =
                self.rust_type_at(values, &format!("{ident}Additional"), view, &format!("{at}/additionalProperties"))?;
            let value_ty = if value.nullable { format!("Option<{}>", value.ty) } else { value.ty };
            fields.push_str("/// The members beyond the named properties (`additionalProperties`).\n");
            writeln!(fields, "#[oai(skip)]\n#[serde(flatten)]\npub additional_properties: std::collections::BTreeMap<String, {value_ty}>,").unwrap();
        }
        let mut s = doc(description(schema));
        s.push_str("#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, poem_openapi::Object)]\n");
        let mut oai = vec![format!("rename = {}", lit(schema_name))];
        if deny_unknown {
            oai.push("deny_unknown_fields".into());
            s.push_str("#[serde(deny_unknown_fields)]\n");
        }
        writeln!(s, "#[oai({})]\npub struct {ident} {{\n{fields}}}\n{defaults}", oai.join(", ")).unwrap();
        self.items.insert(ident.to_string(), s);
        Ok(())
    }

    /// A Rust expression for the schema's `default` (or, through a `$ref`, the target's), if any.
    pub fn default_literal(&self, schema: &Value, ty: &RustType) -> Result<Option<String>, CodegenError> {
        let own = schema.get("default");
        let via_ref = || self.spec.resolve(schema).ok().and_then(|t| t.get("default"));
        let Some(value) = own.or_else(via_ref) else { return Ok(None) };
        let literal = match (value, ty.ty.as_str()) {
            (Value::Bool(b), "bool") => b.to_string(),
            (Value::Number(n), "i32" | "i64") if n.is_i64() => format!("{n}_{}", ty.ty),
            (Value::Number(n), "f32" | "f64") => format!("{:?}_{}", n.as_f64().unwrap_or_default(), ty.ty),
            (Value::String(text), _) if ty.enum_name.is_some() => {
                let name = ty.enum_name.as_ref().unwrap();
                let local = name.trim_start_matches("crate::models::");
                if !self.enums.get(local).is_some_and(|members| members.contains(text))
                    && !self.enum_pending(schema, text)
                {
                    return bail(format!("default {text:?} is not a member of {name}"));
                }
                format!("{name}::{}", upper_camel(text))
            }
            (Value::String(text), "String") => format!("String::from({})", lit(text)),
            (Value::Array(items), t) if items.is_empty() && t.starts_with("Vec<") => "Vec::new()".into(),
            (other, t) => return bail(format!("a default of {other} for a {t} is not supported")),
        };
        Ok(Some(literal))
    }

    /// Whether a referenced enum that is not emitted yet lists `member`.
    fn enum_pending(&self, schema: &Value, member: &str) -> bool {
        self.spec
            .resolve(schema)
            .ok()
            .and_then(|t| t.get("enum"))
            .and_then(Value::as_array)
            .is_some_and(|values| values.iter().any(|v| v == member))
    }
}

/// The schema without its `null` alternative, and whether it had one: `type: [T, null]`,
/// `oneOf`/`anyOf` with `{type: null}`, an enum listing `null`.
pub fn split_null(schema: &Value) -> (Value, bool) {
    let Some(object) = schema.as_object() else { return (schema.clone(), false) };
    if let Some(Value::Array(types)) = object.get("type")
        && types.iter().any(|t| t == "null")
    {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let mut out = object.clone();
        match rest.as_slice() {
            [] => {
                out.remove("type");
            }
            [one] => {
                out.insert("type".into(), one.clone());
            }
            _ => {
                out.insert("type".into(), Value::Array(rest));
            }
        }
        if let Some(Value::Array(members)) = out.get_mut("enum") {
            members.retain(|m| !m.is_null());
        }
        return (Value::Object(out), true);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = object.get(key).and_then(Value::as_array) {
            let is_null = |a: &Value| {
                a.get("type") == Some(&Value::from("null"))
                    || a.get("const") == Some(&Value::Null) && a.get("const").is_some()
            };
            if alternatives.iter().any(is_null) {
                let rest: Vec<Value> = alternatives.iter().filter(|a| !is_null(a)).cloned().collect();
                let mut out = object.clone();
                if let [one] = rest.as_slice() {
                    out.remove(key);
                    // The remaining alternative stands for the schema; the outer keywords annotate it.
                    if out.keys().all(|k| ANNOTATIONS.contains(&k.as_str())) {
                        return (one.clone(), true);
                    }
                    out.insert("allOf".into(), Value::Array(vec![one.clone()]));
                } else {
                    out.insert(key.into(), Value::Array(rest));
                }
                return (Value::Object(out), true);
            }
        }
    }
    if let Some(Value::Array(members)) = object.get("enum")
        && members.iter().any(Value::is_null)
    {
        let mut out = object.clone();
        out.insert("enum".into(), Value::Array(members.iter().filter(|m| !m.is_null()).cloned().collect()));
        return (Value::Object(out), true);
    }
    (schema.clone(), false)
}

const ANNOTATIONS: [&str; 6] = ["description", "title", "deprecated", "readOnly", "writeOnly", "examples"];

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn with_type(schema: &Value, ty: &str) -> Value {
    let mut out = schema.as_object().cloned().unwrap_or_default();
    out.insert("type".into(), Value::from(ty));
    Value::Object(out)
}

/// The component schemas `schema` names outside any array or map.
fn direct_refs(schema: &Value, out: &mut BTreeSet<String>, depth: usize) {
    if depth > 32 {
        return;
    }
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        out.insert(name.to_string());
        return;
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for part in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
            direct_refs(part, out, depth + 1);
        }
    }
    for property in schema.get("properties").and_then(Value::as_object).into_iter().flat_map(|p| p.values()) {
        direct_refs(property, out, depth + 1);
    }
}

fn description(schema: &Value) -> Option<&str> {
    schema.get("description").and_then(Value::as_str)
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn value_validators(schema: &Value) -> Vec<String> {
    let mut v = Vec::new();
    // poem-openapi takes bounds as f64 literals.
    let num = |key: &str| schema.get(key).and_then(Value::as_f64).map(|n| format!("{n:?}"));
    let uint = |key: &str| schema.get(key).and_then(Value::as_u64);
    let string = primary_type(schema).is_none_or(|t| t == "string");
    if string {
        if let Some(n) = uint("maxLength") {
            v.push(format!("max_length = {n}"));
        }
        if let Some(n) = uint("minLength") {
            v.push(format!("min_length = {n}"));
        }
        // No `pattern`: poem-openapi compiles a pattern's regex on every check it makes (a fifth
        // of a search's time, measured), and the runtime's validation already judges every value
        // against the document's own schema, each regex compiled once.
    }
    let konst = schema.get("const").and_then(Value::as_f64).map(|n| format!("{n:?}"));
    match (num("maximum").or(konst.clone()), num("exclusiveMaximum")) {
        (_, Some(x)) => v.push(format!("maximum(value = {x}, exclusive)")),
        (Some(x), None) => v.push(format!("maximum(value = {x})")),
        _ => {}
    }
    match (num("minimum").or(konst), num("exclusiveMinimum")) {
        (_, Some(x)) => v.push(format!("minimum(value = {x}, exclusive)")),
        (Some(x), None) => v.push(format!("minimum(value = {x})")),
        _ => {}
    }
    if let Some(x) = schema.get("multipleOf").and_then(Value::as_f64) {
        v.push(format!("multiple_of = {x:?}"));
    }
    v
}

fn list_validators(schema: &Value) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(n) = schema.get("maxItems").and_then(Value::as_u64) {
        v.push(format!("max_items = {n}"));
    }
    if let Some(n) = schema.get("minItems").and_then(Value::as_u64) {
        v.push(format!("min_items = {n}"));
    }
    if flag(schema, "uniqueItems") {
        v.push("unique_items = true".into());
    }
    v
}
