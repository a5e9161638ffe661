//! JSON Schema -> Rust types: one struct or enum per component schema, plus the named types that
//! inline schemas (an enum inside a property, an object inside an array) are hoisted into.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use commerce_spec::{Spec, is_nullable, non_null_variant, primary_type, ref_name};
use serde_json::Value;

use super::names::{doc, lit, snake, upper_camel};
use super::{CodegenError, bail};

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

/// Collects the Rust source of every model type, in a deterministic order.
pub struct Models<'s> {
    spec: &'s Spec,
    /// Emitted type name -> source, sorted by name in the output.
    items: BTreeMap<String, String>,
    /// Component schemas that are plain values (`Sku: {type: string, pattern: ...}`): used through
    /// a type alias, with their constraints applied where they are used.
    aliases: BTreeSet<String>,
    /// Names of the enums emitted so far, and their members.
    pub enums: BTreeMap<String, Vec<String>>,
}

impl<'s> Models<'s> {
    pub fn new(spec: &'s Spec) -> Result<Self, CodegenError> {
        let mut models = Self { spec, items: BTreeMap::new(), aliases: BTreeSet::new(), enums: BTreeMap::new() };
        for (name, schema) in spec.schemas() {
            if classify(schema) == Kind::Value {
                models.aliases.insert(name.to_string());
            }
        }
        for (name, schema) in spec.schemas() {
            models.component(name, schema)?;
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

    fn component(&mut self, name: &str, schema: &Value) -> Result<(), CodegenError> {
        let ident = upper_camel(name);
        match classify(schema) {
            Kind::Enum(values) => self.emit_enum(&ident, name, schema, &values),
            Kind::Object => self.emit_struct(&ident, name, schema),
            Kind::Value => {
                let ty = self.rust_type(schema, &ident)?;
                let text = format!("{}pub type {ident} = {};\n", doc(description(schema)), ty.ty);
                self.items.insert(ident, text);
                Ok(())
            }
        }
    }

    /// The Rust type for a schema used somewhere; `context` names any type that must be hoisted.
    pub fn rust_type(&mut self, schema: &Value, context: &str) -> Result<RustType, CodegenError> {
        let nullable = is_nullable(schema);
        let inner = non_null_variant(schema);
        let mut ty = self.non_null_type(inner, context)?;
        ty.nullable |= nullable;
        Ok(ty)
    }

    fn non_null_type(&mut self, schema: &Value, context: &str) -> Result<RustType, CodegenError> {
        if let Some(name) = ref_name(schema) {
            let target = self.spec.resolve(schema).map_err(|e| CodegenError(e.0))?;
            let ident = upper_camel(name);
            let path = format!("crate::models::{ident}");
            if self.aliases.contains(name) {
                let mut ty = self.non_null_type(target, &ident)?;
                ty.ty = path;
                return Ok(ty);
            }
            let enum_name = matches!(classify(target), Kind::Enum(_)).then(|| path.clone());
            return Ok(RustType { enum_name, ..RustType::plain(path) });
        }
        match classify(schema) {
            Kind::Enum(values) => {
                self.emit_enum(context, context, schema, &values)?;
                let path = format!("crate::models::{context}");
                return Ok(RustType { enum_name: Some(path.clone()), ..RustType::plain(path) });
            }
            Kind::Object => {
                if schema.get("properties").is_some() {
                    self.emit_struct(context, context, schema)?;
                    return Ok(RustType::plain(format!("crate::models::{context}")));
                }
                if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                    let value = self.rust_type(values, &format!("{context}Value"))?;
                    return Ok(RustType::plain(format!("std::collections::BTreeMap<String, {}>", value.ty)));
                }
                return Ok(RustType::plain("serde_json::Value"));
            }
            Kind::Value => {}
        }
        let mut ty = match primary_type(schema) {
            Some("string") => RustType::plain(match schema.get("format").and_then(Value::as_str) {
                Some("uuid") => "uuid::Uuid",
                Some("date-time") => "chrono::DateTime<chrono::Utc>",
                Some("date") => "chrono::NaiveDate",
                _ => "String",
            }),
            Some("integer") => RustType::plain(match schema.get("format").and_then(Value::as_str) {
                Some("int32") => "i32",
                _ => "i64",
            }),
            Some("number") => RustType::plain(match schema.get("format").and_then(Value::as_str) {
                Some("float") => "f32",
                _ => "f64",
            }),
            Some("boolean") => RustType::plain("bool"),
            Some("array") => {
                let items = schema.get("items").unwrap_or(&Value::Bool(true));
                let item = self.rust_type(items, &format!("{context}Item"))?;
                if item.nullable {
                    return bail(format!("{context}: arrays of nullable items are not supported"));
                }
                let mut ty = RustType::plain(format!("Vec<{}>", item.ty));
                ty.validators = item.validators;
                ty.list_validators = list_validators(schema);
                return Ok(ty);
            }
            // `{}`, `true`, or a composition this generator does not model: any JSON value.
            _ => return Ok(RustType::plain("serde_json::Value")),
        };
        ty.validators = value_validators(schema);
        Ok(ty)
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
        writeln!(s, "impl std::fmt::Display for {ident} {{ fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.as_str()) }} }}\n").unwrap();
        writeln!(s, "impl std::str::FromStr for {ident} {{ type Err = crate::UnknownMember; fn from_str(s: &str) -> Result<Self, Self::Err> {{ Self::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| crate::UnknownMember {{ ty: {}, value: s.to_string() }}) }} }}", lit(ident)).unwrap();
        self.enums.insert(ident.to_string(), values.to_vec());
        self.items.insert(ident.to_string(), s);
        Ok(())
    }

    fn emit_struct(&mut self, ident: &str, schema_name: &str, schema: &Value) -> Result<(), CodegenError> {
        if self.items.contains_key(ident) {
            return Ok(());
        }
        // Reserve the name first: a property may refer back to this type.
        self.items.insert(ident.to_string(), String::new());
        let required: BTreeSet<&str> =
            schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let deny_unknown = schema.get("additionalProperties") == Some(&Value::Bool(false));
        let mut fields = String::new();
        let mut defaults = String::new();
        let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        for (prop, prop_schema) in &properties {
            let field = snake(prop);
            let ty = self.rust_type(prop_schema, &format!("{ident}{}", upper_camel(prop)))?;
            let is_required = required.contains(prop.as_str());
            let default = if is_required { None } else { self.default_literal(prop_schema, &ty)? };
            let mut oai = vec![format!("rename = {}", lit(prop))];
            let mut serde = vec![format!("rename = {}", lit(prop))];
            if flag(prop_schema, "readOnly") {
                oai.push("read_only".into());
            }
            if flag(prop_schema, "writeOnly") {
                oai.push("write_only".into());
            }
            oai.extend(ty.validator_attr());
            let field_ty = if let Some(literal) = default {
                let fn_name = format!("default_{}_{}", snake(ident), field);
                writeln!(defaults, "fn {fn_name}() -> {} {{ {literal} }}", ty.ty).unwrap();
                oai.push(format!("default = {}", lit(&fn_name)));
                serde.push(format!("default = {}", lit(&fn_name)));
                ty.ty.clone()
            } else if is_required && !ty.nullable {
                ty.ty.clone()
            } else if is_required {
                // Present on the wire, possibly `null`.
                format!("Option<{}>", ty.ty)
            } else if ty.nullable {
                // Absent, `null` and a value are three different requests (PATCH semantics).
                serde.push("default".into());
                serde.push("skip_serializing_if = \"poem_openapi::types::MaybeUndefined::is_undefined\"".into());
                format!("poem_openapi::types::MaybeUndefined<{}>", ty.ty)
            } else {
                oai.push("skip_serializing_if_is_none".into());
                serde.push("default".into());
                serde.push("skip_serializing_if = \"Option::is_none\"".into());
                format!("Option<{}>", ty.ty)
            };
            fields.push_str(&doc(description(prop_schema)));
            writeln!(fields, "#[oai({})]\n#[serde({})]\npub {field}: {field_ty},", oai.join(", "), serde.join(", "))
                .unwrap();
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

#[derive(Debug, PartialEq)]
enum Kind {
    Enum(Vec<String>),
    Object,
    Value,
}

fn classify(schema: &Value) -> Kind {
    let schema = non_null_variant(schema);
    if schema.get("$ref").is_some() {
        return Kind::Value;
    }
    if primary_type(schema) == Some("string") || primary_type(schema).is_none() {
        let members = schema
            .get("enum")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).map(String::from).collect::<Vec<_>>())
            .or_else(|| schema.get("const").and_then(Value::as_str).map(|c| vec![c.to_string()]));
        if let Some(members) = members.filter(|m| !m.is_empty()) {
            return Kind::Enum(members);
        }
    }
    if primary_type(schema) == Some("object") || schema.get("properties").is_some() {
        return Kind::Object;
    }
    Kind::Value
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
    if let Some(n) = uint("maxLength") {
        v.push(format!("max_length = {n}"));
    }
    if let Some(n) = uint("minLength") {
        v.push(format!("min_length = {n}"));
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        v.push(format!("pattern = {}", lit(p)));
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
