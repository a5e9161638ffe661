//! Operations -> the API trait (one method per operation), a response enum per operation (one
//! variant per documented status, range or `default`), the security scheme types, the request body
//! and parameter descriptions the runtime reads by, the poem-openapi glue that mounts every
//! operation and delegates to the trait, and the `Webhooks` trait for webhooks and callbacks.
//!
//! Every construct either becomes code or a [`CodegenError`] naming its JSON pointer.

use std::collections::BTreeMap;
use std::fmt::Write;

use commerce_spec::params::Location;
use commerce_spec::{Operation, Parameter, Spec, Style, escape};
use serde_json::Value;

use super::models::{Models, RustType, View, split_null};
use super::names::{doc, lit, snake, upper_camel};
use super::{CodegenError, bail};

/// A security scheme the generated code accepts credentials for.
struct Scheme {
    name: String,
    ident: String,
    /// The type declarations (scheme struct, scopes enums, certificate spec).
    items: String,
    /// The Rust type of the credential handed to `authenticate`, and how to get it from the scheme.
    credential_ty: &'static str,
    credential_expr: &'static str,
}

/// The generated API: `api.rs`'s body.
pub fn render(spec: &Spec, models: &mut Models<'_>, trait_name: &str) -> Result<String, CodegenError> {
    let operations = spec.operations().map_err(|e| CodegenError(e.0))?;
    let schemes = schemes(spec)?;
    let mut out = String::new();

    // Tags.
    let tags: Vec<(String, Option<String>)> = spec
        .doc
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((t.get("name")?.as_str()?.to_string(), t.get("description").and_then(Value::as_str).map(String::from)))
        })
        .collect();
    if !tags.is_empty() {
        out.push_str("/// The spec's tags, which group operations in the document and in Swagger UI.\n");
        out.push_str("#[derive(poem_openapi::Tags)]\npub enum Tag {\n");
        for (name, description) in &tags {
            write!(out, "{}#[oai(rename = {})]\n{},\n", doc(description.as_deref()), lit(name), upper_camel(name))
                .unwrap();
        }
        out.push_str("}\n\n");
    }

    // Security schemes and the credential handed to `authenticate`.
    for s in &schemes {
        out.push_str(&s.items);
    }
    if !schemes.is_empty() {
        out.push_str("/// A credential as the client presented it, before the service has checked it.\n#[derive(Debug, Clone)]\npub enum Credential {\n");
        for s in &schemes {
            writeln!(out, "/// Presented under the `{}` scheme.\n{}({}),", s.name, s.ident, s.credential_ty).unwrap();
        }
        out.push_str("}\n\n");
        out.push_str("impl Credential {\n/// The name of the scheme it was presented under, as the document spells it.\npub fn scheme(&self) -> &'static str {\nmatch self {\n");
        for s in &schemes {
            writeln!(out, "Self::{}(_) => {},", s.ident, lit(&s.name)).unwrap();
        }
        out.push_str("}\n}\n}\n\n");
        for s in &schemes {
            writeln!(
                out,
                "impl From<{0}> for Credential {{ fn from(value: {0}) -> Self {{ Self::{0}({1}) }} }}\n",
                s.ident, s.credential_expr
            )
            .unwrap();
        }
    }
    let mut alternatives: BTreeMap<(Vec<String>, bool), String> = BTreeMap::new();
    for op in &operations {
        let (key, optional) = security_key(op, &schemes)?;
        if (key.len() > 1 || optional && !key.is_empty()) && !alternatives.contains_key(&(key.clone(), optional)) {
            let mut ident = key.iter().map(|n| upper_camel(n)).collect::<Vec<_>>().join("Or");
            if optional {
                ident.push_str("OrAnonymous");
            }
            write!(
                out,
                "/// Any one of: {}{}.\n#[derive(poem_openapi::SecurityScheme)]\npub enum {ident} {{\n",
                key.join(", "),
                if optional { ", or none" } else { "" }
            )
            .unwrap();
            for name in &key {
                writeln!(out, "{0}({0}),", upper_camel(name)).unwrap();
            }
            if optional {
                out.push_str("/// No credential.\n#[oai(fallback)]\nAnonymous,\n");
            }
            out.push_str("}\n\n");
            if optional {
                write!(
                    out,
                    "impl From<{ident}> for Option<Credential> {{ fn from(value: {ident}) -> Self {{ match value {{"
                )
                .unwrap();
                for name in &key {
                    write!(out, "{ident}::{0}(c) => Some(c.into()),", upper_camel(name)).unwrap();
                }
                out.push_str("{ident}::Anonymous => None, } } }\n\n".replace("{ident}", &ident).as_str());
            } else {
                write!(out, "impl From<{ident}> for Credential {{ fn from(value: {ident}) -> Self {{ match value {{")
                    .unwrap();
                for name in &key {
                    write!(out, "{ident}::{0}(c) => c.into(),", upper_camel(name)).unwrap();
                }
                out.push_str("} } }\n\n");
            }
            alternatives.insert((key, optional), ident);
        }
    }

    let mut trait_methods = String::new();
    let mut glue = String::new();
    for op in &operations {
        let op_ident = upper_camel(&op.name);
        let fn_name = snake(&op.name);
        let name_lit = lit(&op.name);
        let response = response_enum(op, models, &op_ident, &mut out)?;

        // Inputs: principal, path parameters in order, the other parameters as one struct, the body.
        let mut trait_args = Vec::new();
        let mut glue_args = vec!["req: &poem::Request".to_string()];
        let mut call_args = Vec::new();
        let mut prelude = String::new();
        let (security, optional) = security_key(op, &schemes)?;
        if !security.is_empty() {
            let ty =
                alternatives.get(&(security.clone(), optional)).cloned().unwrap_or_else(|| upper_camel(&security[0]));
            glue_args.push(format!("auth: {ty}"));
            // The scopes the operation asks of the scheme the credential came under.
            let mut scope_arms = String::new();
            for alternative in &op.security {
                if let [one] = alternative.as_slice()
                    && !one.scopes.is_empty()
                {
                    let scopes: Vec<String> = one.scopes.iter().map(|s| lit(s)).collect();
                    writeln!(scope_arms, "{} => &[{}],", lit(one.scheme), scopes.join(", ")).unwrap();
                }
            }
            let scopes_of = |credential: &str| {
                if scope_arms.is_empty() {
                    "&[]".to_string()
                } else {
                    format!("match {credential}.scheme() {{\n{scope_arms}_ => &[],\n}}")
                }
            };
            if optional {
                trait_args.push("principal: Option<Self::Principal>".to_string());
                writeln!(
                    prelude,
                    "let credential: Option<Credential> = auth.into();\nlet principal = match credential {{\nSome(credential) => {{\nlet scopes: &'static [&'static str] = {};\nSome(self.0.authenticate({name_lit}, credential, scopes).await?)\n}}\nNone => None,\n}};",
                    scopes_of("credential")
                )
                .unwrap();
            } else {
                trait_args.push("principal: Self::Principal".to_string());
                writeln!(
                    prelude,
                    "let credential: Credential = auth.into();\nlet scopes: &'static [&'static str] = {};\nlet principal = self.0.authenticate({name_lit}, credential, scopes).await?;",
                    scopes_of("credential")
                )
                .unwrap();
            }
            call_args.push("principal".to_string());
        }
        // Filled in below once it is known whether any parameter needs the document's own check.
        let check_marker = prelude.len();
        let mut document_checks_parameters = false;

        let mut param_fields = String::new();
        let mut param_inits = Vec::new();
        for p in &op.parameters {
            let context = match p.pointer.strip_prefix("/components/parameters/") {
                Some(component) if !component.contains('/') => {
                    upper_camel(&component.replace("~1", "/").replace("~0", "~"))
                }
                _ => format!("{op_ident}{}", upper_camel(p.name)),
            };
            let at = format!("{}/schema", p.pointer);
            let ty = models.rust_type_at(p.schema, &context, View::Request, &at)?;
            let ident = match snake(p.name).as_str() {
                "auth" | "body" | "principal" | "req" | "accept" | "params" => format!("{}_param", snake(p.name)),
                other => other.to_string(),
            };
            let base_ty = if ty.nullable && p.required { format!("Option<{}>", ty.ty) } else { ty.ty.clone() };
            let default = if p.required { None } else { models.default_literal(p.schema, &ty)? };
            let mut oai = vec![format!("name = {}", lit(p.name))];
            let value_ty = if let Some(literal) = &default {
                let default_fn = format!("default_{fn_name}_{ident}");
                writeln!(out, "fn {default_fn}() -> {base_ty} {{ {literal} }}\n").unwrap();
                oai.push(format!("default = {}", lit(&default_fn)));
                base_ty.clone()
            } else if p.required {
                base_ty.clone()
            } else {
                format!("Option<{base_ty}>")
            };
            if p.object.get("deprecated").and_then(Value::as_bool) == Some(true) {
                oai.push("deprecated".into());
            }
            let read_by_poem = poem_reads(spec, p, &ty);
            document_checks_parameters |= !read_by_poem || !typed_layer_checks(spec, p.schema);
            let (arg_ty, take) = if read_by_poem {
                // Item constraints of an array are the document's to check (validate_parameters):
                // poem-openapi's parameter validators see the whole list.
                if ty.ty.starts_with("Vec<") {
                    if !ty.list_validators.is_empty() {
                        oai.push(format!("validator({})", ty.list_validators.join(", ")));
                    }
                } else {
                    oai.extend(ty.validator_attr());
                }
                let extractor = match p.place {
                    Location::Path => "Path",
                    Location::Query => "Query",
                    Location::Header => "Header",
                    Location::Cookie => "Cookie",
                };
                if p.place == Location::Query && !p.explode {
                    oai.push("explode = false".into());
                }
                (format!("poem_openapi::param::{extractor}<{value_ty}>"), ".0")
            } else {
                // Read by the document's own reader (style, explode, content), typed by serde.
                let marker = format!("{op_ident}{}Param", upper_camel(p.name));
                let location = match p.place {
                    Location::Path => "Path",
                    Location::Query => "Query",
                    Location::Header => "Header",
                    Location::Cookie => "Cookie",
                };
                write!(
                    out,
                    "/// How `{}` reads its {} parameter `{}` (style {}{}).\npub struct {marker};\n\nimpl commerce_runtime::ParamSpec for {marker} {{\nconst OPERATION: &'static str = {name_lit};\nconst NAME: &'static str = {};\nconst IN: poem_openapi::registry::MetaParamIn = poem_openapi::registry::MetaParamIn::{location};\nfn validation() -> &'static commerce_runtime::Validation {{ &crate::VALIDATION }}\n}}\n\n",
                    op.name,
                    p.place.name(),
                    p.name,
                    p.style.name(),
                    if p.explode { ", exploded" } else { "" },
                    lit(p.name),
                )
                .unwrap();
                if p.content_type.is_none() {
                    oai.push(format!("style = {}", lit(style_attr(p.style))));
                    oai.push(format!("explode = {}", p.explode));
                }
                if !ty.ty.starts_with("Vec<") {
                    oai.extend(ty.validator_attr());
                }
                (format!("commerce_runtime::Styled<{value_ty}, {marker}>"), ".value")
            };
            glue_args.push(format!("#[oai({})] {ident}: {arg_ty}", oai.join(", ")));
            if p.place == Location::Path {
                trait_args.push(format!("{ident}: {value_ty}"));
                call_args.push(format!("{ident}{take}"));
            } else {
                writeln!(param_fields, "{}pub {ident}: {value_ty},", doc(p.description)).unwrap();
                param_inits.push(format!("{ident}: {ident}{take}"));
            }
        }
        if !param_fields.is_empty() {
            let params = format!("{op_ident}Params");
            write!(out, "/// The query, header and cookie parameters of `{}`.\n#[derive(Debug, Clone, PartialEq)]\npub struct {params} {{\n{param_fields}}}\n\n", op.name).unwrap();
            trait_args.push(format!("params: {params}"));
            call_args.push(format!("{params} {{ {} }}", param_inits.join(", ")));
        }
        if document_checks_parameters {
            prelude.insert_str(check_marker, &format!("self.0.validate_parameters({name_lit}, req)?;\n"));
        }
        if let Some(body) = op.request_body {
            let (glue_arg, trait_ty, body_prelude) = request_body(op, body, models, &op_ident, &mut out)?;
            glue_args.push(glue_arg);
            prelude.push_str(&body_prelude);
            trait_args.push(format!("body: {trait_ty}"));
            call_args.push("body".to_string());
        }
        // Content negotiation, for an operation that answers in several media types.
        let offered = offered_media(op);
        if op.responses.iter().any(|(_, r)| media_count(r) > 1) {
            let list: Vec<String> = offered.iter().map(|m| lit(m)).collect();
            writeln!(
                prelude,
                "let accept = commerce_runtime::Accept::from_request(req);\nconst OFFERED: &[&str] = &[{}];\nif accept.preferred(OFFERED).is_none() {{\nreturn Err(commerce_runtime::not_acceptable(OFFERED));\n}}",
                list.join(", ")
            )
            .unwrap();
            trait_args.push("accept: commerce_runtime::Accept".to_string());
            call_args.push("accept".to_string());
        }

        // The request itself only when the glue reads it (the document's check, `Accept`).
        if !prelude.contains("req)") {
            glue_args.retain(|arg| arg != "req: &poem::Request");
        }
        let summary = op.op.get("summary").and_then(Value::as_str);
        let description = op.op.get("description").and_then(Value::as_str);
        let title = format!(
            "`{} {}`{}",
            op.method.to_uppercase(),
            op.path,
            summary.map(|s| format!(": {s}")).unwrap_or_default()
        );
        write!(
            trait_methods,
            "/// {title}\nfn {fn_name}(&self, {}) -> impl std::future::Future<Output = poem::Result<{response}>> + Send;\n\n",
            trait_args.join(", ")
        )
        .unwrap();

        let mut oai = vec![format!("path = {}", lit(&poem_path(op.path))), format!("method = {}", lit(op.method))];
        if let Some(id) = op.operation_id {
            oai.push(format!("operation_id = {}", lit(id)));
        }
        for tag in op.op.get("tags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !tags.iter().any(|(name, _)| name == tag) {
                return bail(format!("{}/tags: the tag {tag:?} is not declared in the document's `tags`", op.pointer));
            }
            oai.push(format!("tag = \"Tag::{}\"", upper_camel(tag)));
        }
        if op.op.get("deprecated").and_then(Value::as_bool).unwrap_or(false) {
            oai.push("deprecated".into());
        }
        let mut glue_doc = summary.map(|s| doc(Some(s))).unwrap_or_default();
        if let Some(d) = description {
            glue_doc.push_str("///\n");
            glue_doc.push_str(&doc(Some(d)));
        }
        // The handler's future is boxed: poem's layers (routing, `MapToResponse`, the middleware)
        // each hold and move the future below them, and a handler's can be kilobytes (an order's
        // was 7 KiB): moving it took 12% of the workers' time under orders (perf).
        write!(
            glue,
            "{glue_doc}#[oai({})]\nasync fn {fn_name}(&self, {}) -> poem::Result<{response}> {{\n{prelude}Box::pin(self.0.{fn_name}({})).await\n}}\n\n",
            oai.join(", "),
            glue_args.join(", "),
            call_args.join(", ")
        )
        .unwrap();
    }

    let title = spec.doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("API");
    writeln!(out, "/// The {title}: one method per operation of the spec. Implement it, then mount [`Routes`].")
        .unwrap();
    writeln!(out, "pub trait {trait_name}: Send + Sync + 'static {{").unwrap();
    if !schemes.is_empty() {
        out.push_str(
            "/// Who a request acts for, as [`Self::authenticate`] establishes it.\ntype Principal: Send;\n\n",
        );
        out.push_str("/// Checks the credential of a secured operation before anything else about the request;\n/// `scopes` are those the operation's security requirement lists for the credential's scheme.\n");
        out.push_str("fn authenticate(&self, operation_id: &'static str, credential: Credential, scopes: &'static [&'static str]) -> impl std::future::Future<Output = poem::Result<Self::Principal>> + Send;\n\n");
    }
    out.push_str("/// Checks the request's parameters against the document's schemas (read as their styles say),\n/// after authentication and before the body. By default: [`crate::VALIDATION`].\n");
    out.push_str("fn validate_parameters(&self, operation_id: &'static str, req: &poem::Request) -> poem::Result<()> {\ncrate::VALIDATION.parameters(operation_id, req).map_err(|invalid| commerce_runtime::BodyRejection::invalid_parameters(invalid).into())\n}\n\n");
    out.push_str("/// Checks a request body (read into JSON for its media type) against the document's schema for\n/// that media type before it is decoded, and says what checked it. By default: [`crate::VALIDATION`].\n");
    out.push_str("fn validate_body(&self, operation_id: &'static str, media_type: &'static str, body: &serde_json::Value) -> poem::Result<commerce_runtime::BodyCheck> {\ncrate::VALIDATION.body_as(operation_id, media_type, body).map_err(commerce_runtime::BodyRejection::invalid_body)?;\nOk(commerce_runtime::BodyCheck::BySchema)\n}\n\n");
    out.push_str(&trait_methods);
    out.push_str("}\n\n");

    writeln!(out, "/// Mounts every operation on poem-openapi and hands each request to a [`{trait_name}`].").unwrap();
    out.push_str("pub struct Routes<H>(pub std::sync::Arc<H>);\n\n");
    write!(out, "#[poem_openapi::OpenApi]\nimpl<H: {trait_name}> Routes<H> {{\n{glue}}}\n").unwrap();

    out.push_str(&webhooks(spec, &operations, models)?);
    Ok(out)
}

/// The name poem-openapi's `style` attribute takes.
fn style_attr(style: Style) -> &'static str {
    match style {
        Style::Form => "form",
        Style::Simple => "simple",
        Style::Matrix => "matrix",
        Style::Label => "label",
        Style::SpaceDelimited => "space_delimited",
        Style::PipeDelimited => "pipe_delimited",
        Style::DeepObject => "deep_object",
    }
}

/// Whether poem-openapi's own extractor reads the parameter faithfully: a scalar in its location's
/// default style, or an array of scalars in a query form.
fn poem_reads(spec: &Spec, p: &Parameter<'_>, ty: &RustType) -> bool {
    if p.content_type.is_some() || ty.nullable || p.place == Location::Cookie {
        // poem-openapi reads cookies only with its `cookie` feature (and the `cookie` crate):
        // the document's reader reads them instead.
        return false;
    }
    let flat = split_null(&spec.flatten(p.schema)).0;
    let scalar = |schema: &Value| {
        let kinds = commerce_spec::schema::types(schema);
        let union = schema.get("oneOf").is_some() || schema.get("anyOf").is_some();
        !union && matches!(kinds.as_slice(), ["string" | "integer" | "number" | "boolean"])
            || !union
                && kinds.is_empty()
                && schema.get("enum").is_some_and(|e| e.as_array().is_some_and(|m| m.iter().all(Value::is_string)))
    };
    let default_style = matches!(
        (p.place, p.style),
        (Location::Path, Style::Simple)
            | (Location::Query, Style::Form)
            | (Location::Header, Style::Simple)
            | (Location::Cookie, Style::Form)
    );
    if scalar(&flat) {
        return default_style;
    }
    let items = flat.get("items").map(|i| split_null(&spec.flatten(i)));
    commerce_spec::schema::types(&flat) == ["array"]
        && p.place == Location::Query
        && p.style == Style::Form
        && items.is_some_and(|(items, nullable)| !nullable && scalar(&items))
}

/// The Rust name of a media type's variant: short for the common ones.
fn media_variant(media_type: &str) -> String {
    let essence = commerce_runtime::body::essence(media_type);
    match essence.as_str() {
        "application/json" => "Json".into(),
        "application/x-www-form-urlencoded" => "Form".into(),
        "multipart/form-data" => "Multipart".into(),
        "text/plain" => "Text".into(),
        "application/xml" => "Xml".into(),
        "application/octet-stream" => "Octets".into(),
        other => upper_camel(&other.replace('*', "any")),
    }
}

/// For a `$ref` to `#/components/{section}/{name}`: the Rust name base of what it holds and its
/// pointer, so a component shared by several operations becomes one type.
fn component_base(raw: Option<&Value>, section: &str) -> Option<(String, String)> {
    let reference = raw?.get("$ref")?.as_str()?;
    let name = reference.strip_prefix(&format!("#/components/{section}/"))?;
    if name.contains('/') {
        return None;
    }
    Some((upper_camel(&name.replace("~1", "/").replace("~0", "~")), reference[1..].to_string()))
}

/// Whether poem-openapi's extractor and validators enforce every constraint of a parameter it reads
/// (its type, a typed format, bounds, lengths, a pattern, an enum of strings; for an array, also its
/// sizes and such items), so that the document's own check would find nothing more. Anything else
/// (an enum of numbers, `const`, formats such as `email`, `multipleOf`, item bounds) is checked by
/// `validate_parameters`. The drift test holds the typed layer's constraints to the document's.
fn typed_layer_checks(spec: &Spec, schema: &Value) -> bool {
    const ANNOTATIONS: [&str; 7] = ["description", "title", "default", "example", "examples", "deprecated", "$comment"];
    const TYPED_FORMATS: [&str; 9] = ["uuid", "date", "date-time", "ipv4", "ipv6", "int32", "int64", "float", "double"];
    let scalar = |s: &Value| {
        s.as_object().is_some_and(|o| {
            o.iter().all(|(k, v)| match k.as_str() {
                "type" | "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "minLength"
                | "maxLength" | "pattern" => true,
                "format" => v.as_str().is_some_and(|f| TYPED_FORMATS.contains(&f)),
                "enum" => v.as_array().is_some_and(|m| m.iter().all(Value::is_string)),
                other => ANNOTATIONS.contains(&other),
            })
        })
    };
    let flat = spec.flatten(schema);
    if commerce_spec::schema::types(&flat) == ["array"] {
        let items = flat.get("items").map(|i| spec.flatten(i)).unwrap_or(Value::Bool(true));
        let item_ok = items.as_object().is_some_and(|o| {
            o.iter().all(|(k, v)| match k.as_str() {
                "type" => true,
                "format" => v.as_str().is_some_and(|f| TYPED_FORMATS.contains(&f)),
                "enum" => v.as_array().is_some_and(|m| m.iter().all(Value::is_string)),
                other => ANNOTATIONS.contains(&other),
            })
        });
        let list_ok = flat.as_object().is_some_and(|o| {
            o.keys().all(|k| {
                matches!(k.as_str(), "type" | "items" | "minItems" | "maxItems") || ANNOTATIONS.contains(&k.as_str())
            })
        });
        return item_ok && list_ok;
    }
    scalar(&flat)
}

/// The media types of a response.
fn media_count(response: &Value) -> usize {
    response.get("content").and_then(Value::as_object).map_or(0, |c| c.len())
}

/// Every media type the operation's success responses (2XX, else `default`) answer in.
fn offered_media<'a>(op: &Operation<'a>) -> Vec<&'a str> {
    let mut offered: Vec<&'a str> = Vec::new();
    let any_success = op.responses.iter().any(|(status, _)| status.starts_with('2'));
    for (status, response) in &op.responses {
        if !(status.starts_with('2') || !any_success && *status == "default") {
            continue;
        }
        for media in response.get("content").and_then(Value::as_object).into_iter().flat_map(|c| c.keys()) {
            if !offered.contains(&media.as_str()) {
                offered.push(media.as_str());
            }
        }
    }
    offered
}

/// How one media type's payload is spelled, as a response: (payload type, body type for errors).
fn response_payload(
    models: &mut Models<'_>,
    media_type: &str,
    media: &Value,
    context: &str,
    at: &str,
) -> Result<(String, Option<String>), CodegenError> {
    let essence = commerce_runtime::body::essence(media_type);
    if essence.contains('*') {
        return bail(format!(
            "{at}: the media range {media_type:?} names no Content-Type a response can carry; list the media types it answers in"
        ));
    }
    let schema = media.get("schema").cloned().unwrap_or(Value::Bool(true));
    Ok(match commerce_runtime::body::Kind::of(&essence) {
        commerce_runtime::body::Kind::Json => {
            let ty = models.rust_type_at(&schema, context, View::Response, &format!("{at}/schema"))?;
            let ty = if ty.nullable { format!("Option<{}>", ty.ty) } else { ty.ty };
            (format!("commerce_runtime::Json<{ty}>"), Some(ty))
        }
        _ if essence == "application/xml" || essence.ends_with("+xml") => {
            let ty = models.rust_type_at(&schema, context, View::Response, &format!("{at}/schema"))?;
            if !models.is_struct(&ty.ty) {
                return bail(format!("{at}/schema: an XML response is generated for object schemas only"));
            }
            (format!("poem_openapi::payload::Xml<{}>", ty.ty), None)
        }
        commerce_runtime::body::Kind::Text => ("poem_openapi::payload::PlainText<String>".into(), None),
        commerce_runtime::body::Kind::Form | commerce_runtime::body::Kind::Multipart => {
            return bail(format!("{at}: a {essence} response body is not generated (no server sends one)"));
        }
        commerce_runtime::body::Kind::Octets => ("poem_openapi::payload::Binary<Vec<u8>>".into(), None),
    })
}

/// Emits `{Op}Response` into `out` and returns its name.
fn response_enum(
    op: &Operation<'_>,
    models: &mut Models<'_>,
    op_ident: &str,
    out: &mut String,
) -> Result<String, CodegenError> {
    let name = format!("{op_ident}Response");
    if op.responses.is_empty() {
        return bail(format!(
            "{}/responses: the operation documents no response, so no handler could answer it",
            op.pointer
        ));
    }
    let mut variants = String::new();
    // (status pattern, variant, has a StatusCode field, optional header fields) of the variants an
    // error body alone can fill.
    let mut error_arms: Vec<(String, String, bool, usize)> = Vec::new();
    let mut error_body: Option<String> = None;
    for (status, response) in &op.responses {
        let raw = op.op.get("responses").and_then(|r| r.get(*status));
        let shared = component_base(raw, "responses");
        let (variant, status_attr, status_field, code) = match *status {
            "default" => ("Default".to_string(), None, true, None),
            s if s.len() == 3 && s.ends_with("XX") && s.as_bytes()[0].is_ascii_digit() => {
                let class = &s[..1];
                (format!("Status{class}xx"), Some(format!("status_range = {}", lit(s))), true, None)
            }
            s => match s.parse::<u16>() {
                Ok(code) if (100..600).contains(&code) => {
                    (variant_name(code), Some(format!("status = {code}")), false, Some(code))
                }
                _ => {
                    return bail(format!(
                        "{}/responses/{}: {s:?} is not an HTTP status, a range such as 4XX, or default",
                        op.pointer,
                        escape(s)
                    ));
                }
            },
        };
        let (base, at) = shared.clone().unwrap_or_else(|| {
            (format!("{op_ident}{variant}"), format!("{}/responses/{}", op.pointer, escape(status)))
        });
        let mut fields = Vec::new();
        if status_field {
            fields.push("poem::http::StatusCode".to_string());
        }
        let mut oai: Vec<String> = status_attr.into_iter().collect();
        let mut body_ty = None;
        let content = response.get("content").and_then(Value::as_object).cloned().unwrap_or_default();
        match content.len() {
            0 if status_field => fields.push("commerce_runtime::Empty".into()),
            0 => {}
            1 => {
                let (media_type, media) = content.iter().next().expect("one");
                let media_at = format!("{at}/content/{}", escape(media_type));
                let (payload, ty) = response_payload(models, media_type, media, &format!("{base}Body"), &media_at)?;
                if !payload_default_media(&payload, media_type) {
                    oai.push(format!("content_type = {}", lit(media_type)));
                }
                body_ty = ty;
                fields.push(payload);
            }
            _ => {
                // One payload per media type; the handler picks by the request's `Accept`.
                let content_ident = format!("{op_ident}{variant}Content");
                let mut content_variants = String::new();
                for (media_type, media) in &content {
                    let media_at = format!("{at}/content/{}", escape(media_type));
                    let media_variant = media_variant(media_type);
                    let (payload, _) =
                        response_payload(models, media_type, media, &format!("{base}{media_variant}Body"), &media_at)?;
                    let attr = if payload_default_media(&payload, media_type) {
                        String::new()
                    } else {
                        format!("#[oai(content_type = {})]\n", lit(media_type))
                    };
                    writeln!(content_variants, "/// `{media_type}`.\n{attr}{media_variant}({payload}),").unwrap();
                }
                write!(
                    out,
                    "/// The body of `{}`'s {status} response, in each media type it is documented in.\n#[derive(Debug, poem_openapi::ResponseContent)]\npub enum {content_ident} {{\n{content_variants}}}\n\n",
                    op.name
                )
                .unwrap();
                fields.push(content_ident);
            }
        }
        let (mut required_headers, mut optional_headers) = (0, 0);
        for (header, raw) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
            if header.eq_ignore_ascii_case("content-type") {
                continue; // OpenAPI: a Content-Type header description is ignored.
            }
            let (header_base, header_at) = component_base(Some(raw), "headers").unwrap_or_else(|| {
                (format!("{base}{}", upper_camel(header)), format!("{at}/headers/{}", escape(header)))
            });
            let h = models.spec().resolve(raw).map_err(|e| CodegenError(format!("{header_at}: {e}")))?;
            let schema = h
                .get("schema")
                .or_else(|| {
                    h.get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|m| m.get("schema"))
                })
                .cloned()
                .unwrap_or(Value::Bool(true));
            let ty = models.rust_type_at(&schema, &header_base, View::Response, &format!("{header_at}/schema"))?;
            if !is_header_type(&ty.ty) {
                return bail(format!(
                    "{header_at}/schema: a response header of type {} is not generated (headers carry scalars and enums)",
                    ty.ty
                ));
            }
            let required = h.get("required").and_then(Value::as_bool).unwrap_or(false);
            let field_ty = if required { ty.ty.clone() } else { format!("Option<{}>", ty.ty) };
            if h.get("x-middleware").and_then(Value::as_bool) == Some(true) {
                // Set by the service's middleware, not by handlers: documented on the variant, with
                // no field for a handler to fill (the contract checks still demand a required one).
                oai.push(format!("header(name = {}, ty = {})", lit(header), lit(&field_ty)));
                continue;
            }
            let described = doc(h.get("description").and_then(Value::as_str));
            fields.push(format!("{described}#[oai(header = {})] {field_ty}", lit(header)));
            if required {
                required_headers += 1;
            } else {
                optional_headers += 1;
            }
        }
        let description = response.get("description").and_then(Value::as_str);
        variants.push_str(&doc(description));
        if !oai.is_empty() {
            writeln!(variants, "#[oai({})]", oai.join(", ")).unwrap();
        }
        variants.push_str(&variant);
        if !fields.is_empty() {
            write!(variants, "({})", fields.join(", ")).unwrap();
        }
        variants.push_str(",\n");
        let is_error = code.is_some_and(|c| c >= 400)
            || status.starts_with('4')
            || status.starts_with('5')
            || *status == "default";
        if is_error
            && required_headers == 0
            && let Some(ty) = body_ty
            && error_body.get_or_insert_with(|| ty.clone()) == &ty
        {
            let pattern = match (code, *status) {
                (Some(code), _) => code.to_string(),
                (None, "default") => "_".to_string(),
                (None, range) => {
                    let class = &range[..1];
                    format!("{class}00..={class}99")
                }
            };
            error_arms.push((pattern, variant.clone(), status_field, optional_headers));
        }
    }
    write!(out, "/// Every response `{}` documents.\n#[derive(Debug, poem_openapi::ApiResponse)]\npub enum {name} {{\n{variants}}}\n\n", op.name).unwrap();
    if let Some(body) = error_body {
        // Exact statuses first, then ranges, then default.
        error_arms.sort_by_key(|(pattern, _, _, _)| match pattern.as_str() {
            "_" => 2,
            p if p.contains("..") => 1,
            _ => 0,
        });
        let arms: Vec<String> = error_arms
            .iter()
            .map(|(pattern, variant, status_field, optional_headers)| {
                let nones = ", None".repeat(*optional_headers);
                if *status_field {
                    format!(
                        "{pattern} => match poem::http::StatusCode::from_u16(status) {{ Ok(code) => Ok(Self::{variant}(code, commerce_runtime::Json::new(body){nones})), Err(_) => Err(body) }},"
                    )
                } else {
                    format!("{pattern} => Ok(Self::{variant}(commerce_runtime::Json::new(body){nones})),")
                }
            })
            .collect();
        let fallback = if error_arms.iter().any(|(p, _, _, _)| p == "_") { "" } else { "_ => Err(body),\n" };
        write!(
            out,
            "impl commerce_runtime::ErrorResponse for {name} {{\ntype Body = {body};\nfn from_error(status: u16, body: {body}) -> Result<Self, {body}> {{\nmatch status {{\n{}\n{fallback}}}\n}}\n}}\n\n",
            arms.join("\n")
        )
        .unwrap();
    }
    Ok(name)
}

/// Whether the payload type already sends `media_type` (so no `content_type` override is needed).
fn payload_default_media(payload: &str, media_type: &str) -> bool {
    let own = match payload.split('<').next().unwrap_or_default() {
        "commerce_runtime::Json" => "application/json",
        "poem_openapi::payload::PlainText" => "text/plain",
        "poem_openapi::payload::Xml" => "application/xml",
        "poem_openapi::payload::Binary" => "application/octet-stream",
        _ => return false,
    };
    media_type == own
}

fn is_header_type(ty: &str) -> bool {
    matches!(
        ty,
        "String"
            | "i32"
            | "i64"
            | "f32"
            | "f64"
            | "bool"
            | "uuid::Uuid"
            | "chrono::DateTime<chrono::Utc>"
            | "chrono::NaiveDate"
    ) || ty.starts_with("crate::models::") && !ty.contains('<')
}

/// The glue's body argument, the trait's body type, and the glue code that judges and types it.
fn request_body(
    op: &Operation<'_>,
    body: &Value,
    models: &mut Models<'_>,
    op_ident: &str,
    out: &mut String,
) -> Result<(String, String, String), CodegenError> {
    let (base, at) = component_base(op.op.get("requestBody"), "requestBodies")
        .unwrap_or_else(|| (format!("{op_ident}Body"), format!("{}/requestBody", op.pointer)));
    let name_lit = lit(&op.name);
    let required = op.request_body_required();
    let content = body.get("content").and_then(Value::as_object).cloned().unwrap_or_default();
    if content.is_empty() {
        return bail(format!("{at}/content: the request body documents no media type"));
    }
    // (media type, variant, Rust type)
    let mut media = Vec::new();
    for (media_type, item) in &content {
        let media_at = format!("{at}/content/{}", escape(media_type));
        let schema = item.get("schema").cloned().unwrap_or(Value::Bool(true));
        let variant = media_variant(media_type);
        let context = if content.len() == 1 { base.clone() } else { format!("{base}{variant}") };
        let ty = match commerce_runtime::body::Kind::of(media_type) {
            commerce_runtime::body::Kind::Json
            | commerce_runtime::body::Kind::Form
            | commerce_runtime::body::Kind::Multipart => {
                let ty = models.rust_type_at(&schema, &context, View::Request, &format!("{media_at}/schema"))?;
                if ty.nullable { format!("Option<{}>", ty.ty) } else { ty.ty }
            }
            commerce_runtime::body::Kind::Text => {
                // The handler gets the text; the document judges it as a string.
                let kinds = commerce_spec::schema::types(&models.spec().flatten(&schema));
                if !kinds.is_empty() && !kinds.contains(&"string") {
                    return bail(format!(
                        "{media_at}/schema: a {media_type} request body is read as text, which a schema of type {} cannot judge (XML and other structured text bodies are not generated: describe the body as `type: string`)",
                        kinds.join(" or ")
                    ));
                }
                "String".to_string()
            }
            commerce_runtime::body::Kind::Octets => "commerce_runtime::Octets".to_string(),
        };
        media.push((media_type.clone(), variant, ty));
    }
    // The common case: one required application/json body, read as poem-openapi's JSON payload.
    if let [(media_type, _, ty)] = media.as_slice()
        && required
        && commerce_runtime::body::essence(media_type) == "application/json"
    {
        let prelude = format!(
            "let checked = self.0.validate_body({name_lit}, {}, body.value())?;\nlet body = body.decode(checked)?;\n",
            lit(media_type)
        );
        return Ok((format!("body: commerce_runtime::JsonBody<{ty}>"), ty.clone(), prelude));
    }
    let spec_ident = format!("{op_ident}BodySpec");
    let media_list: Vec<String> = media.iter().map(|(m, _, _)| lit(m)).collect();
    let schema_refs: Vec<String> =
        media.iter().map(|(_, _, ty)| format!("<{ty} as poem_openapi::types::Type>::schema_ref()")).collect();
    let registers: Vec<String> =
        media.iter().map(|(_, _, ty)| format!("<{ty} as poem_openapi::types::Type>::register(registry);")).collect();
    let description =
        body.get("description").and_then(Value::as_str).map(|d| format!("Some({})", lit(d))).unwrap_or("None".into());
    write!(
        out,
        "/// The request body `{}` documents: its media types and their schemas.\npub struct {spec_ident};\n\nimpl commerce_runtime::BodySpec for {spec_ident} {{\nconst MEDIA: &'static [&'static str] = &[{}];\nconst REQUIRED: bool = {required};\nconst DESCRIPTION: Option<&'static str> = {description};\nfn schemas() -> Vec<poem_openapi::registry::MetaSchemaRef> {{ vec![{}] }}\nfn register(registry: &mut poem_openapi::registry::Registry) {{ {} }}\n}}\n\n",
        op.name,
        media_list.join(", "),
        schema_refs.join(", "),
        registers.join(" ")
    )
    .unwrap();
    let (typed, decode) = if media.len() == 1 {
        let ty = media[0].2.clone();
        (ty.clone(), format!("0 => commerce_runtime::decode_value::<{ty}>(value, checked)?,"))
    } else {
        let body_enum = format!("{op_ident}Body");
        let mut variants = String::new();
        let mut arms = String::new();
        for (i, (media_type, variant, ty)) in media.iter().enumerate() {
            writeln!(variants, "/// Sent as `{media_type}`.\n{variant}({ty}),").unwrap();
            writeln!(arms, "{i} => {body_enum}::{variant}(commerce_runtime::decode_value::<{ty}>(value, checked)?),")
                .unwrap();
        }
        write!(
            out,
            "/// The request body of `{}`, as the media type it was sent in.\n#[derive(Debug, Clone, PartialEq)]\npub enum {body_enum} {{\n{variants}}}\n\n",
            op.name
        )
        .unwrap();
        (body_enum, arms)
    };
    let received = if required {
        "let Some(received) = body.into_received() else { unreachable!(\"a required body is present\") };\n".to_string()
    } else {
        String::new()
    };
    let convert = format!(
        "let value = crate::VALIDATION.body_value({name_lit}, &received);\nlet media_type = <{spec_ident} as commerce_runtime::BodySpec>::MEDIA[received.media];\nlet checked = self.0.validate_body({name_lit}, media_type, &value)?;\nmatch received.media {{\n{decode}\n_ => unreachable!(\"the media index is one of MEDIA\"),\n}}"
    );
    let prelude = if required {
        format!("{received}let body = {{\n{convert}\n}};\n")
    } else {
        format!(
            "let body = match body.into_received() {{\nSome(received) => Some({{\n{convert}\n}}),\nNone => None,\n}};\n"
        )
    };
    let trait_ty = if required { typed } else { format!("Option<{typed}>") };
    Ok((format!("body: commerce_runtime::Body<{spec_ident}>"), trait_ty, prelude))
}

/// `/products/{productId}` -> `/products/:productId` (poem's route syntax).
fn poem_path(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => format!(":{name}"),
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn schemes(spec: &Spec) -> Result<Vec<Scheme>, CodegenError> {
    let mut out = Vec::new();
    for (name, raw) in spec.components("securitySchemes") {
        let at = format!("/components/securitySchemes/{}", escape(name));
        let s = spec.resolve(raw).map_err(|e| CodegenError(format!("{at}: {e}")))?;
        let field = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
        let ident = upper_camel(name);
        let described = s
            .get("description")
            .and_then(Value::as_str)
            .map(|d| doc(Some(d)))
            .unwrap_or_else(|| format!("/// The `{name}` security scheme.\n"));
        // The description as a Rust `Option<&str>` literal, for the extractor specs of the runtime.
        let description =
            s.get("description").and_then(Value::as_str).map(|d| format!("Some({})", lit(d))).unwrap_or("None".into());
        let mut oai = vec![format!("rename = {}", lit(name))];
        if let Some(d) = s.get("description").and_then(Value::as_str) {
            let _ = d; // carried by the doc comment, which poem-openapi reads
        }
        let mut items = String::new();
        let (inner, credential_ty, credential_expr) = match (
            field("type"),
            field("scheme").to_ascii_lowercase().as_str(),
        ) {
            ("http", "bearer") => {
                oai.push("ty = \"bearer\"".into());
                if !field("bearerFormat").is_empty() {
                    oai.push(format!("bearer_format = {}", lit(field("bearerFormat"))));
                }
                ("poem_openapi::auth::Bearer", "String", "value.0.token")
            }
            ("http", "basic") => {
                oai.push("ty = \"basic\"".into());
                ("poem_openapi::auth::Basic", "commerce_runtime::BasicCredential", "value.0.into()")
            }
            ("apiKey", _) if field("in") == "cookie" => {
                let spec_ident = format!("{ident}Cookie");
                write!(
                    items,
                    "{described}pub struct {spec_ident};\n\nimpl commerce_runtime::CookieKeySpec for {spec_ident} {{\nconst SCHEME: &'static str = {};\nconst NAME: &'static str = {};\nconst DESCRIPTION: Option<&'static str> = {description};\n}}\n\n/// The `{name}` scheme's credential: an API key in the `{}` cookie.\npub type {ident} = commerce_runtime::CookieKey<{spec_ident}>;\n\n",
                    lit(name),
                    lit(field("name")),
                    field("name")
                )
                .unwrap();
                out.push(Scheme {
                    name: name.to_string(),
                    ident,
                    items,
                    credential_ty: "String",
                    credential_expr: "value.key",
                });
                continue;
            }
            ("apiKey", _) => {
                let location = match field("in") {
                    "header" | "query" => field("in"),
                    other => return bail(format!("{at}/in: an apiKey cannot travel in {other:?}")),
                };
                oai.push("ty = \"api_key\"".into());
                oai.push(format!("key_name = {}", lit(field("name"))));
                oai.push(format!("key_in = {}", lit(location)));
                ("poem_openapi::auth::ApiKey", "String", "value.0.key")
            }
            ("oauth2", _) => {
                oai.push("ty = \"oauth2\"".into());
                let mut flows = Vec::new();
                for (flow, attr) in [
                    ("implicit", "implicit"),
                    ("password", "password"),
                    ("clientCredentials", "client_credentials"),
                    ("authorizationCode", "authorization_code"),
                ] {
                    let Some(f) = s.pointer(&format!("/flows/{flow}")) else { continue };
                    let mut args = Vec::new();
                    for (key, arg) in [
                        ("authorizationUrl", "authorization_url"),
                        ("tokenUrl", "token_url"),
                        ("refreshUrl", "refresh_url"),
                    ] {
                        if let Some(url) = f.get(key).and_then(Value::as_str) {
                            args.push(format!("{arg} = {}", lit(url)));
                        }
                    }
                    let scopes = f.get("scopes").and_then(Value::as_object).cloned().unwrap_or_default();
                    if !scopes.is_empty() {
                        let scopes_ident = format!("{ident}{}Scopes", upper_camel(flow));
                        let mut variants = String::new();
                        let mut seen = std::collections::BTreeSet::new();
                        for (scope, description) in &scopes {
                            let variant = upper_camel(scope);
                            if !seen.insert(variant.clone()) {
                                return bail(format!(
                                    "{at}/flows/{flow}/scopes: two scopes map to the Rust name {variant}"
                                ));
                            }
                            writeln!(
                                variants,
                                "{}#[oai(rename = {})]\n{variant},",
                                doc(description.as_str()),
                                lit(scope)
                            )
                            .unwrap();
                        }
                        write!(items, "/// The scopes of `{name}`'s {flow} flow.\n#[derive(poem_openapi::OAuthScopes)]\npub enum {scopes_ident} {{\n{variants}}}\n\n").unwrap();
                        args.push(format!("scopes = {}", lit(&scopes_ident)));
                    }
                    flows.push(format!("{attr}({})", args.join(", ")));
                }
                if flows.is_empty() {
                    return bail(format!("{at}/flows: an oauth2 scheme needs at least one flow"));
                }
                oai.push(format!("flows({})", flows.join(", ")));
                ("poem_openapi::auth::Bearer", "String", "value.0.token")
            }
            ("openIdConnect", _) => {
                oai.push("ty = \"openid_connect\"".into());
                let url = field("openIdConnectUrl");
                if url.is_empty() {
                    return bail(format!("{at}/openIdConnectUrl: an openIdConnect scheme needs its discovery URL"));
                }
                oai.push(format!("openid_connect_url = {}", lit(url)));
                ("poem_openapi::auth::Bearer", "String", "value.0.token")
            }
            ("mutualTLS", _) => {
                let header =
                    s.get("x-client-certificate-header").and_then(Value::as_str).unwrap_or("X-Client-Certificate");
                let spec_ident = format!("{ident}Certificate");
                write!(
                    items,
                    "{described}///\n/// mutualTLS: the certificate is verified by the TLS terminator in front of the service, which\n/// passes it in `{header}` (and must strip that header from clients' requests).\npub struct {spec_ident};\n\nimpl commerce_runtime::CertificateSpec for {spec_ident} {{\nconst SCHEME: &'static str = {};\nconst HEADER: &'static str = {};\nconst DESCRIPTION: Option<&'static str> = {description};\n}}\n\n/// The `{name}` scheme's credential.\npub type {ident} = commerce_runtime::ClientCertificate<{spec_ident}>;\n\n",
                    lit(name),
                    lit(header)
                )
                .unwrap();
                out.push(Scheme {
                    name: name.to_string(),
                    ident,
                    items,
                    credential_ty: "String",
                    credential_expr: "value.certificate",
                });
                continue;
            }
            ("http", scheme) => {
                return bail(format!(
                    "{at}/scheme: HTTP {scheme:?} authentication is not generated: the typed layer reads bearer and basic credentials only"
                ));
            }
            (ty, _) => {
                return bail(format!(
                    "{at}/type: {ty:?} is not a security scheme type (apiKey, http, oauth2, openIdConnect, mutualTLS)"
                ));
            }
        };
        write!(
            items,
            "{described}#[derive(poem_openapi::SecurityScheme)]\n#[oai({})]\npub struct {ident}(pub {inner});\n\n",
            oai.join(", ")
        )
        .unwrap();
        out.push(Scheme { name: name.to_string(), ident, items, credential_ty, credential_expr });
    }
    Ok(out)
}

/// The scheme names an operation accepts (any one of them), in document order of the schemes, and
/// whether it accepts no credential too (`{}` among its requirements).
fn security_key(op: &Operation<'_>, schemes: &[Scheme]) -> Result<(Vec<String>, bool), CodegenError> {
    let mut names = Vec::new();
    let mut optional = false;
    for (i, alternative) in op.security.iter().enumerate() {
        match alternative.as_slice() {
            [] => optional = true,
            [one] => names.push(one.scheme),
            _ => {
                let listed: Vec<&str> = alternative.iter().map(|r| r.scheme).collect();
                return bail(format!(
                    "{}/security/{i}: a requirement that needs several schemes at once ({}) is not generated: poem-openapi checks one scheme per request",
                    op.pointer,
                    listed.join(" and ")
                ));
            }
        }
    }
    for name in &names {
        if !schemes.iter().any(|s| s.name == *name) {
            return bail(format!("{}/security: {name:?} is not a scheme of components/securitySchemes", op.pointer));
        }
    }
    let known: Vec<String> =
        schemes.iter().filter(|s| names.contains(&s.name.as_str())).map(|s| s.name.clone()).collect();
    Ok((known, optional))
}

fn variant_name(code: u16) -> String {
    match code {
        200 => "Ok".into(),
        201 => "Created".into(),
        202 => "Accepted".into(),
        204 => "NoContent".into(),
        304 => "NotModified".into(),
        400 => "BadRequest".into(),
        401 => "Unauthorized".into(),
        403 => "Forbidden".into(),
        404 => "NotFound".into(),
        405 => "MethodNotAllowed".into(),
        406 => "NotAcceptable".into(),
        409 => "Conflict".into(),
        410 => "Gone".into(),
        412 => "PreconditionFailed".into(),
        413 => "PayloadTooLarge".into(),
        415 => "UnsupportedMediaType".into(),
        422 => "UnprocessableEntity".into(),
        429 => "TooManyRequests".into(),
        500 => "InternalServerError".into(),
        501 => "NotImplemented".into(),
        503 => "ServiceUnavailable".into(),
        other => format!("Status{other}"),
    }
}

/// One method of the `Webhooks` trait: its name, doc line, extra arguments, and the payload's Rust
/// type and media type.
type Outgoing = (String, String, String, Option<(String, String)>);

/// The `Webhooks` trait: one method per webhook (OpenAPI 3.1 `webhooks`) and per callback
/// operation, taking the typed payload the document describes; the service implements it to send.
fn webhooks(spec: &Spec, operations: &[Operation<'_>], models: &mut Models<'_>) -> Result<String, CodegenError> {
    let mut methods: Vec<Outgoing> = Vec::new();
    let mut outgoing =
        |item: &Value, item_at: &str, prefix: &str, label: &str, url: Option<&str>| -> Result<(), CodegenError> {
            let item = spec.resolve(item).map_err(|e| CodegenError(format!("{item_at}: {e}")))?;
            for method in commerce_spec::METHODS {
                let Some(op) = item.get(method) else { continue };
                let at = format!("{item_at}/{method}");
                let name = op.get("operationId").and_then(Value::as_str).map(snake).unwrap_or_else(|| {
                    if prefix.is_empty() {
                        format!("{}_{method}", snake(label))
                    } else {
                        format!("{prefix}_{}_{method}", snake(label))
                    }
                });
                let payload = match op.get("requestBody") {
                    Some(body) => {
                        let body = spec.resolve(body).map_err(|e| CodegenError(format!("{at}/requestBody: {e}")))?;
                        let content = body.get("content").and_then(Value::as_object).cloned().unwrap_or_default();
                        let Some((media_type, media)) = content.iter().next() else {
                            return bail(format!("{at}/requestBody/content: the payload documents no media type"));
                        };
                        if content.len() > 1 {
                            return bail(format!(
                                "{at}/requestBody/content: a webhook payload in several media types is not generated"
                            ));
                        }
                        let schema = media.get("schema").cloned().unwrap_or(Value::Bool(true));
                        let context = format!("{}Payload", upper_camel(&name));
                        let ty = match commerce_runtime::body::Kind::of(media_type) {
                            commerce_runtime::body::Kind::Text => "String".to_string(),
                            commerce_runtime::body::Kind::Octets => "commerce_runtime::Octets".to_string(),
                            _ => {
                                let ty = models.rust_type_at(
                                    &schema,
                                    &context,
                                    View::Response,
                                    &format!("{at}/requestBody/content/{}/schema", escape(media_type)),
                                )?;
                                if ty.nullable { format!("Option<{}>", ty.ty) } else { ty.ty }
                            }
                        };
                        Some((ty, media_type.clone()))
                    }
                    None => None,
                };
                let mut summary =
                    op.get("summary").and_then(Value::as_str).map(|s| format!(": {s}")).unwrap_or_default();
                if let Some((_, media_type)) = &payload {
                    summary.push_str(&format!(" (payload sent as `{media_type}`)"));
                }
                let line = match url {
                    Some(expression) => {
                        format!("Callback `{label}` ({at}): `{} {expression}`{summary}", method.to_uppercase())
                    }
                    None => format!("Webhook `{label}` ({at}): `{}`{summary}", method.to_uppercase()),
                };
                let args = if url.is_some() { "url: String, ".to_string() } else { String::new() };
                methods.push((name, line, args, payload));
            }
            Ok(())
        };
    for (name, item) in spec.doc.get("webhooks").and_then(Value::as_object).into_iter().flatten() {
        outgoing(item, &format!("/webhooks/{}", escape(name)), "", name, None)?;
    }
    for op in operations {
        for (callback, raw) in op.op.get("callbacks").and_then(Value::as_object).into_iter().flatten() {
            let at = format!("{}/callbacks/{}", op.pointer, escape(callback));
            let callback_obj = spec.resolve(raw).map_err(|e| CodegenError(format!("{at}: {e}")))?;
            for (expression, item) in callback_obj.as_object().into_iter().flatten() {
                if expression.starts_with("x-") {
                    continue;
                }
                let prefix = snake(&op.name);
                outgoing(item, &format!("{at}/{}", escape(expression)), &prefix, callback, Some(expression))?;
            }
        }
    }
    if methods.is_empty() {
        return Ok(String::new());
    }
    let mut names = std::collections::BTreeSet::new();
    for (name, line, _, _) in &methods {
        if !names.insert(name.clone()) {
            return bail(format!(
                "{line}: two webhooks or callbacks generate the method name {name}; give one an operationId"
            ));
        }
    }
    let mut out = String::from(
        "\n/// What the API sends rather than serves: its webhooks and its operations' callbacks, one method\n/// per outgoing request, with the payload typed as the document describes it. The service\n/// implements it to deliver them (the URL of a callback is its runtime expression, evaluated).\npub trait Webhooks: Send + Sync + 'static {\n",
    );
    for (name, line, args, payload) in &methods {
        let payload_arg = payload.as_ref().map(|(ty, _)| format!("payload: {ty}"));
        writeln!(
            out,
            "/// {line}\nfn {name}(&self, {args}{}) -> impl std::future::Future<Output = poem::Result<()>> + Send;\n",
            payload_arg.unwrap_or_default()
        )
        .unwrap();
    }
    out.push_str("}\n");
    Ok(out)
}
