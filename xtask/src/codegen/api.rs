//! Operations -> the API trait (one method per operationId), a response enum per operation (one
//! variant per documented status), the security scheme types, and the poem-openapi glue that mounts
//! every operation and delegates to the trait.

use std::collections::BTreeMap;
use std::fmt::Write;

use commerce_spec::{Operation, Spec};
use serde_json::Value;

use super::models::Models;
use super::names::{doc, lit, snake, upper_camel};
use super::{CodegenError, bail};

/// A security scheme the generator can accept credentials for.
struct Scheme {
    name: String,
    description: Option<String>,
    ident: String,
    /// The poem-openapi `#[oai(...)]` arguments describing the scheme.
    oai: String,
    /// The poem-openapi credential type the scheme wraps.
    inner: &'static str,
    /// The Rust type of the credential handed to `authenticate`, and how to get it from `inner`.
    credential_ty: &'static str,
    credential_expr: &'static str,
}

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
        let described = s
            .description
            .as_deref()
            .map(|d| doc(Some(d)))
            .unwrap_or_else(|| format!("/// The `{}` security scheme.\n", s.name));
        write!(
            out,
            "{described}#[derive(poem_openapi::SecurityScheme)]\n#[oai({})]\npub struct {}(pub {});\n\n",
            s.oai, s.ident, s.inner
        )
        .unwrap();
    }
    if !schemes.is_empty() {
        out.push_str("/// A credential as the client presented it, before the service has checked it.\n#[derive(Debug, Clone)]\npub enum Credential {\n");
        for s in &schemes {
            writeln!(out, "/// Presented under the `{}` scheme.\n{}({}),", s.name, s.ident, s.credential_ty).unwrap();
        }
        out.push_str("}\n\n");
        for s in &schemes {
            writeln!(
                out,
                "impl From<{0}> for Credential {{ fn from(value: {0}) -> Self {{ Self::{0}({1}) }} }}\n",
                s.ident, s.credential_expr
            )
            .unwrap();
        }
    }
    let mut alternatives: BTreeMap<Vec<String>, String> = BTreeMap::new();
    for op in &operations {
        let key = security_key(op, &schemes)?;
        if key.len() > 1 && !alternatives.contains_key(&key) {
            let ident = key.iter().map(|n| upper_camel(n)).collect::<Vec<_>>().join("Or");
            write!(
                out,
                "/// Any one of: {}.\n#[derive(poem_openapi::SecurityScheme)]\npub enum {ident} {{\n",
                key.join(", ")
            )
            .unwrap();
            for name in &key {
                writeln!(out, "{0}({0}),", upper_camel(name)).unwrap();
            }
            out.push_str("}\n\n");
            write!(out, "impl From<{ident}> for Credential {{ fn from(value: {ident}) -> Self {{ match value {{")
                .unwrap();
            for name in &key {
                write!(out, "{ident}::{0}(c) => c.into(),", upper_camel(name)).unwrap();
            }
            out.push_str("} } }\n\n");
            alternatives.insert(key, ident);
        }
    }

    let mut trait_methods = String::new();
    let mut glue = String::new();
    for op in &operations {
        let op_ident = upper_camel(&op.name);
        let fn_name = snake(&op.name);
        let response = response_enum(op, models, &op_ident, &mut out)?;

        // Inputs: principal, path parameters in order, the other parameters as one struct, the body.
        let mut trait_args = Vec::new();
        let mut glue_args = Vec::new();
        let mut call_args = Vec::new();
        let mut prelude = String::new();
        let security = security_key(op, &schemes)?;
        if !security.is_empty() {
            let ty = alternatives.get(&security).cloned().unwrap_or_else(|| upper_camel(&security[0]));
            trait_args.push("principal: Self::Principal".to_string());
            glue_args.push(format!("auth: {ty}"));
            writeln!(prelude, "let principal = self.0.authenticate({}, auth.into()).await?;", lit(&op.name)).unwrap();
            call_args.push("principal".to_string());
        }
        let mut param_fields = String::new();
        let mut param_inits = Vec::new();
        for p in &op.parameters {
            let context = format!("{op_ident}{}", upper_camel(p.name));
            let ty = models.rust_type(p.schema, &context)?;
            let default = if p.required { None } else { models.default_literal(p.schema, &ty)? };
            let ident = match snake(p.name).as_str() {
                "auth" | "body" | "principal" => format!("{}_param", snake(p.name)),
                other => other.to_string(),
            };
            let extractor = match p.location {
                "path" => "Path",
                "query" => "Query",
                "header" => "Header",
                "cookie" => "Cookie",
                other => return bail(format!("{}: parameters in {other} are not supported", op.name)),
            };
            let mut oai = vec![format!("name = {}", lit(p.name))];
            oai.extend(ty.validator_attr());
            let value_ty = if let Some(literal) = default {
                let default_fn = format!("default_{fn_name}_{ident}");
                writeln!(out, "fn {default_fn}() -> {} {{ {literal} }}\n", ty.ty).unwrap();
                oai.push(format!("default = {}", lit(&default_fn)));
                ty.ty.clone()
            } else if p.required {
                ty.ty.clone()
            } else {
                format!("Option<{}>", ty.ty)
            };
            glue_args.push(format!("#[oai({})] {ident}: poem_openapi::param::{extractor}<{value_ty}>", oai.join(", ")));
            if p.location == "path" {
                trait_args.push(format!("{ident}: {value_ty}"));
                call_args.push(format!("{ident}.0"));
            } else {
                writeln!(param_fields, "{}pub {ident}: {value_ty},", doc(p.description)).unwrap();
                param_inits.push(format!("{ident}: {ident}.0"));
            }
        }
        if !param_fields.is_empty() {
            let params = format!("{op_ident}Params");
            write!(out, "/// The query, header and cookie parameters of `{}`.\n#[derive(Debug, Clone, PartialEq)]\npub struct {params} {{\n{param_fields}}}\n\n", op.name).unwrap();
            trait_args.push(format!("params: {params}"));
            call_args.push(format!("{params} {{ {} }}", param_inits.join(", ")));
        }
        if let Some(body) = op.request_body {
            if !op.request_body_required() {
                return bail(format!("{}: optional request bodies are not supported", op.name));
            }
            let content = body.get("content").and_then(Value::as_object).cloned().unwrap_or_default();
            let Some(schema) = content.get("application/json").and_then(|m| m.get("schema")) else {
                return bail(format!("{}: only application/json request bodies are supported", op.name));
            };
            let ty = models.rust_type(schema, &format!("{op_ident}Body"))?;
            glue_args.push(format!("body: commerce_runtime::JsonBody<{}>", ty.ty));
            writeln!(
                prelude,
                "let checked = self.0.validate_body({}, body.value())?;\nlet body = body.decode(checked)?;",
                lit(&op.name)
            )
            .unwrap();
            trait_args.push(format!("body: {}", ty.ty));
            call_args.push("body".to_string());
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

        let mut oai = vec![
            format!("path = {}", lit(&poem_path(op.path))),
            format!("method = {}", lit(op.method)),
            format!("operation_id = {}", lit(&op.name)),
        ];
        for tag in op.op.get("tags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
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
        write!(
            glue,
            "{glue_doc}#[oai({})]\nasync fn {fn_name}(&self, {}) -> poem::Result<{response}> {{\n{prelude}self.0.{fn_name}({}).await\n}}\n\n",
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
        out.push_str("/// Checks the credential of a secured operation before anything else about the request.\n");
        out.push_str("fn authenticate(&self, operation_id: &'static str, credential: Credential) -> impl std::future::Future<Output = poem::Result<Self::Principal>> + Send;\n\n");
    }
    out.push_str("/// Checks a JSON request body against the operation's documented schema before it is decoded,\n/// and says what checked it (by default nothing: decoding then checks the types' constraints).\n");
    out.push_str("fn validate_body(&self, operation_id: &'static str, body: &serde_json::Value) -> poem::Result<commerce_runtime::BodyCheck> {\nlet _ = (operation_id, body);\nOk(commerce_runtime::BodyCheck::Unchecked)\n}\n\n");
    out.push_str(&trait_methods);
    out.push_str("}\n\n");

    writeln!(out, "/// Mounts every operation on poem-openapi and hands each request to a [`{trait_name}`].").unwrap();
    out.push_str("pub struct Routes<H>(pub std::sync::Arc<H>);\n\n");
    write!(out, "#[poem_openapi::OpenApi]\nimpl<H: {trait_name}> Routes<H> {{\n{glue}}}\n").unwrap();
    Ok(out)
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
        let s = spec.resolve(raw).map_err(|e| CodegenError(e.0))?;
        let field = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
        let mut oai = vec![format!("rename = {}", lit(name))];
        let (inner, credential_ty, credential_expr) =
            match (field("type"), field("scheme").to_ascii_lowercase().as_str()) {
                ("http", "bearer") => {
                    oai.push("ty = \"bearer\"".into());
                    if !field("bearerFormat").is_empty() {
                        oai.push(format!("bearer_format = {}", lit(field("bearerFormat"))));
                    }
                    ("poem_openapi::auth::Bearer", "String", "value.0.token")
                }
                ("http", "basic") => {
                    oai.push("ty = \"basic\"".into());
                    ("poem_openapi::auth::Basic", "poem_openapi::auth::Basic", "value.0")
                }
                ("apiKey", _) => {
                    let location = match field("in") {
                        "header" | "query" | "cookie" => field("in"),
                        other => return bail(format!("security scheme {name}: apiKey in {other:?}")),
                    };
                    oai.push("ty = \"api_key\"".into());
                    oai.push(format!("key_name = {}", lit(field("name"))));
                    oai.push(format!("key_in = {}", lit(location)));
                    ("poem_openapi::auth::ApiKey", "String", "value.0.key")
                }
                (ty, scheme) => return bail(format!("security scheme {name}: {ty} {scheme} is not supported")),
            };
        let description = s.get("description").and_then(Value::as_str).map(String::from);
        out.push(Scheme {
            description,
            name: name.to_string(),
            ident: upper_camel(name),
            oai: oai.join(", "),
            inner,
            credential_ty,
            credential_expr,
        });
    }
    Ok(out)
}

/// The scheme names an operation accepts (any one of them), in document order of the schemes.
fn security_key(op: &Operation<'_>, schemes: &[Scheme]) -> Result<Vec<String>, CodegenError> {
    let mut names = Vec::new();
    for alternative in &op.security {
        match alternative.as_slice() {
            [] => return Ok(Vec::new()), // `{}` makes the credential optional: treat as public.
            [one] => names.push(one.scheme),
            _ => {
                return bail(format!(
                    "{}: a security requirement that needs several schemes at once is not supported",
                    op.name
                ));
            }
        }
    }
    let known: Vec<String> =
        schemes.iter().filter(|s| names.contains(&s.name.as_str())).map(|s| s.name.clone()).collect();
    if known.len() != names.len() {
        return bail(format!("{}: security names an undefined scheme", op.name));
    }
    Ok(known)
}

/// Emits `{Op}Response` into `out` and returns its name.
fn response_enum(
    op: &Operation<'_>,
    models: &mut Models<'_>,
    op_ident: &str,
    out: &mut String,
) -> Result<String, CodegenError> {
    let name = format!("{op_ident}Response");
    let mut variants = String::new();
    let mut error_arms = Vec::new();
    let mut error_body: Option<String> = None;
    for (status, response) in &op.responses {
        let Ok(code) = status.parse::<u16>() else {
            return bail(format!("{}: response {status:?} is not supported: list each status", op.name));
        };
        let variant = variant_name(code);
        let mut fields = Vec::new();
        let mut oai = vec![format!("status = {code}")];
        let mut body_ty = None;
        if let Some(content) = response.get("content").and_then(Value::as_object) {
            let Some((media_type, media)) = content.iter().next() else { continue };
            let essence = media_type.split(';').next().unwrap_or_default();
            let is_json = essence == "application/json" || essence.ends_with("+json");
            let payload = if is_json {
                let schema = media.get("schema").unwrap_or(&Value::Bool(true));
                let ty = models.rust_type(schema, &format!("{op_ident}{variant}Body"))?;
                if essence != "application/json" {
                    oai.push(format!("content_type = {}", lit(media_type)));
                }
                body_ty = Some(ty.ty.clone());
                format!("commerce_runtime::Json<{}>", ty.ty)
            } else if essence.starts_with("text/") {
                "poem_openapi::payload::PlainText<String>".to_string()
            } else {
                "poem_openapi::payload::Binary<Vec<u8>>".to_string()
            };
            fields.push(payload);
        }
        let mut headers = 0;
        for (header, raw) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
            let h = models_spec_resolve(models, raw)?;
            // Optional headers are cross-cutting (rate limits): middleware sets them, the spec documents them.
            if !h.get("required").and_then(Value::as_bool).unwrap_or(false) {
                continue;
            }
            let schema = h.get("schema").cloned().unwrap_or(Value::Bool(true));
            let ty = match commerce_spec::primary_type(&schema) {
                Some("integer") => "i64",
                Some("boolean") => "bool",
                _ => "String",
            };
            fields.push(format!("#[oai(header = {})] {ty}", lit(header)));
            headers += 1;
        }
        let description = response.get("description").and_then(Value::as_str);
        write!(variants, "{}#[oai({})]\n{variant}", doc(description), oai.join(", ")).unwrap();
        if !fields.is_empty() {
            write!(variants, "({})", fields.join(", ")).unwrap();
        }
        variants.push_str(",\n");
        if code >= 400
            && headers == 0
            && let Some(ty) = body_ty
            && error_body.get_or_insert_with(|| ty.clone()) == &ty
        {
            error_arms.push(format!("{code} => Ok(Self::{variant}(commerce_runtime::Json::new(body))),"));
        }
    }
    write!(out, "/// Every response `{}` documents.\n#[derive(Debug, poem_openapi::ApiResponse)]\npub enum {name} {{\n{variants}}}\n\n", op.name).unwrap();
    if let Some(body) = error_body {
        write!(
            out,
            "impl commerce_runtime::ErrorResponse for {name} {{\ntype Body = {body};\nfn from_error(status: u16, body: {body}) -> Result<Self, {body}> {{\nmatch status {{\n{}\n_ => Err(body),\n}}\n}}\n}}\n\n",
            error_arms.join("\n")
        )
        .unwrap();
    }
    Ok(name)
}

fn models_spec_resolve<'a>(models: &Models<'a>, raw: &'a Value) -> Result<&'a Value, CodegenError> {
    models.spec().resolve(raw).map_err(|e| CodegenError(e.0))
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
