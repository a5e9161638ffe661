//! Values on the wire: each parameter written in its style (OpenAPI 3.1 §4.8.12.4: form,
//! spaceDelimited, pipeDelimited, deepObject, simple, label, matrix, with `explode`, or as its
//! `content` media type), each body in its media type (JSON, form-urlencoded, multipart with file
//! parts, text, XML, bytes); and the reverse, read the way a server reads them.
//!
//! A case is classified valid or invalid on what the server will read back, never on what the
//! generator meant: `"5"` for an integer query parameter arrives as 5, and an array item containing
//! the style's delimiter arrives as two items.

use std::fmt::Write as _;

use commerce_spec::Style;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::model::{Encoding, Location, Media, Param, is_json};
use crate::values::{read_scalar, types};

/// Characters escaped in a value: everything but RFC 3986 unreserved characters.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// With `allowReserved`, RFC 3986 reserved characters pass too (but never `&`, `=`, `#` or `+`,
/// which would change how the query string itself is read).
const RESERVED_ALLOWED: &AsciiSet = &VALUE
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'[')
    .remove(b']')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';');

fn encode(text: &str, set: &'static AsciiSet) -> String {
    utf8_percent_encode(text, set).to_string()
}

/// `text` percent-encoded for a query string: everything but RFC 3986 unreserved characters.
pub fn encode_value(text: &str) -> String {
    encode(text, VALUE)
}

/// A primitive as text; `None` for null, arrays and objects.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A parameter's value in the request: query pairs are already percent-encoded (`k=v&k=w`),
/// a path parameter is the encoded text that replaces `{name}`, a header its value, a cookie its
/// `name=value` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Written(pub String);

/// Writes `value` as `param` says; `None` when the value cannot travel there.
pub fn write_param(param: &Param, value: &Value) -> Option<Written> {
    if let Some(content_type) = &param.content_type {
        let text = if is_json(content_type) { value.to_string() } else { scalar_text(value)? };
        return Some(Written(match param.location {
            Location::Query => format!("{}={}", encode(&param.name, VALUE), encode(&text, VALUE)),
            Location::Path => {
                if text.is_empty() {
                    return None;
                }
                encode(&text, VALUE)
            }
            Location::Header => header_safe(&text)?,
            Location::Cookie => format!("{}={}", param.name, encode(&text, VALUE)),
        }));
    }
    let set = if param.allow_reserved { RESERVED_ALLOWED } else { VALUE };
    let atom = |v: &Value| scalar_text(v).map(|t| encode(&t, set));
    let name = encode(&param.name, VALUE);
    let written = match param.location {
        Location::Path => {
            let text = match param.style {
                Style::Label => label_or_matrix(value, &name, param.explode, '.', &atom)?,
                Style::Matrix => label_or_matrix(value, &name, param.explode, ';', &atom)?,
                _ => simple(value, param.explode, &atom)?,
            };
            // Clients normalise empty, `.` and `..` segments away.
            if text.is_empty() || text == "." || text == ".." {
                return None;
            }
            text
        }
        Location::Header => {
            // Header values are not percent-encoded: they must be visible ASCII as they are.
            let raw = |v: &Value| scalar_text(v);
            let text = simple(value, param.explode, &raw)?;
            if let Value::Array(items) = value
                && items.iter().filter_map(scalar_text).any(|t| t.contains(','))
            {
                return None;
            }
            header_safe(&text)?
        }
        Location::Cookie => match value {
            Value::Array(_) | Value::Object(_) if param.explode => return None,
            _ => format!("{}={}", param.name, simple(value, false, &atom)?),
        },
        Location::Query => query(value, &name, param.style, param.explode, &atom)?,
    };
    Some(Written(written))
}

fn header_safe(text: &str) -> Option<String> {
    (!text.is_empty() && text.trim() == text && text.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .then(|| text.to_string())
}

/// Pairs of an object, flattened: `{R: 100, G: 200}` -> [R, 100, G, 200].
fn object_atoms(map: &Map<String, Value>, atom: &dyn Fn(&Value) -> Option<String>) -> Option<Vec<(String, String)>> {
    map.iter().map(|(k, v)| Some((encode(k, VALUE), atom(v)?))).collect()
}

fn simple(value: &Value, explode: bool, atom: &dyn Fn(&Value) -> Option<String>) -> Option<String> {
    Some(match value {
        Value::Array(items) => items.iter().map(atom).collect::<Option<Vec<_>>>()?.join(","),
        Value::Object(map) => {
            let pairs = object_atoms(map, atom)?;
            if explode {
                pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
            } else {
                pairs.iter().map(|(k, v)| format!("{k},{v}")).collect::<Vec<_>>().join(",")
            }
        }
        other => atom(other)?,
    })
}

fn label_or_matrix(
    value: &Value,
    name: &str,
    explode: bool,
    prefix: char,
    atom: &dyn Fn(&Value) -> Option<String>,
) -> Option<String> {
    let matrix = prefix == ';';
    Some(match value {
        Value::Array(items) => {
            let atoms = items.iter().map(atom).collect::<Option<Vec<_>>>()?;
            match (matrix, explode) {
                (true, true) => atoms.iter().map(|a| format!(";{name}={a}")).collect(),
                (true, false) => format!(";{name}={}", atoms.join(",")),
                (false, true) => atoms.iter().map(|a| format!(".{a}")).collect(),
                (false, false) => format!(".{}", atoms.join(",")),
            }
        }
        Value::Object(map) => {
            let pairs = object_atoms(map, atom)?;
            match (matrix, explode) {
                (true, true) => pairs.iter().map(|(k, v)| format!(";{k}={v}")).collect(),
                (true, false) => {
                    format!(";{name}={}", pairs.iter().map(|(k, v)| format!("{k},{v}")).collect::<Vec<_>>().join(","))
                }
                (false, true) => pairs.iter().map(|(k, v)| format!(".{k}={v}")).collect(),
                (false, false) => {
                    format!(".{}", pairs.iter().map(|(k, v)| format!("{k},{v}")).collect::<Vec<_>>().join(","))
                }
            }
        }
        other => {
            let a = atom(other)?;
            if matrix {
                if a.is_empty() { format!(";{name}") } else { format!(";{name}={a}") }
            } else {
                format!(".{a}")
            }
        }
    })
}

fn query(
    value: &Value,
    name: &str,
    style: Style,
    explode: bool,
    atom: &dyn Fn(&Value) -> Option<String>,
) -> Option<String> {
    let delimiter = match style {
        Style::SpaceDelimited => "%20",
        Style::PipeDelimited => "|",
        _ => ",",
    };
    Some(match value {
        Value::Array(items) => {
            let atoms = items.iter().map(atom).collect::<Option<Vec<_>>>()?;
            if atoms.is_empty() {
                // No pairs at all: the parameter is absent.
                String::new()
            } else if explode {
                atoms.iter().map(|a| format!("{name}={a}")).collect::<Vec<_>>().join("&")
            } else {
                format!("{name}={}", atoms.join(delimiter))
            }
        }
        Value::Object(map) => {
            let pairs = object_atoms(map, atom)?;
            match (style, explode) {
                (Style::DeepObject, _) => {
                    pairs.iter().map(|(k, v)| format!("{name}[{k}]={v}")).collect::<Vec<_>>().join("&")
                }
                (Style::Form, true) => pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"),
                _ => format!(
                    "{name}={}",
                    pairs.iter().map(|(k, v)| format!("{k}{delimiter}{v}")).collect::<Vec<_>>().join(delimiter)
                ),
            }
        }
        other => format!("{name}={}", atom(other)?),
    })
}

/// What a server reads from `written` for `param` (see [`commerce_spec::params::read`]): `None`
/// when the parameter is absent.
pub fn read_param(param: &Param, written: &Written) -> Option<Value> {
    commerce_spec::params::read(&param.shape(), &param.flat, &written.0)
}

// ---------------------------------------------------------------------------------------------
// Bodies

/// A request body as sent.
#[derive(Debug, Clone)]
pub struct Payload {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Payload {
    /// The body as text for a report or a curl command (binary bytes escaped).
    pub fn shown(&self) -> String {
        match std::str::from_utf8(&self.bytes) {
            Ok(text) => text.to_string(),
            Err(_) => self.bytes.iter().map(|b| format!("\\x{b:02x}")).collect(),
        }
    }

    /// Whether [`Self::shown`] escapes the bytes.
    pub fn binary(&self) -> bool {
        std::str::from_utf8(&self.bytes).is_err()
    }
}

/// The multipart boundary: fixed, so the same seed sends the same bytes.
pub const BOUNDARY: &str = "commerce-contract-boundary-7MA4YWxkTrZu0gW";

/// Writes `value` in `media`'s media type; `None` when it cannot be written faithfully.
/// `schema_flat` is the body schema flattened (for property types and `xml` names).
pub fn write_body(media: &Media, value: &Value, flat: &Value, spec: &commerce_spec::Spec) -> Option<Payload> {
    let content_type = media.media_type.clone();
    let bytes = match media.encoding {
        Encoding::Json => value.to_string().into_bytes(),
        Encoding::Text => scalar_text(value)?.into_bytes(),
        Encoding::Binary => match value {
            Value::String(s) => s.clone().into_bytes(),
            other => scalar_text(other)?.into_bytes(),
        },
        Encoding::Form => fields(media, value, flat, spec)?
            .iter()
            .map(|f| format!("{}={}", encode(&f.name, VALUE), encode(&f.text, VALUE)))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes(),
        Encoding::Multipart => {
            let mut out = Vec::new();
            for field in fields(media, value, flat, spec)? {
                let name = field.name.replace('"', "%22");
                let filename = if field.file { format!("; filename=\"{name}.bin\"") } else { String::new() };
                let part_type = field.content_type.as_deref().unwrap_or("text/plain");
                write!(
                    out_text(&mut out),
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\nContent-Type: {part_type}\r\n\r\n"
                )
                .ok()?;
                out.extend_from_slice(field.text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
            return Some(Payload { content_type: format!("{content_type}; boundary={BOUNDARY}"), bytes: out });
        }
        Encoding::Xml => match value {
            Value::String(document) if media.schema.as_ref().is_none_or(|s| !s.is_valid(value)) => {
                document.clone().into_bytes()
            }
            other => xml_document(other, flat, spec)?.into_bytes(),
        },
    };
    Some(Payload { content_type, bytes })
}

fn is_structured(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Object(_) | Value::Array(_)))
}

/// A `Vec<u8>` as a `fmt::Write` target for the ASCII headers of multipart parts.
fn out_text(out: &mut Vec<u8>) -> impl std::fmt::Write + '_ {
    struct W<'a>(&'a mut Vec<u8>);
    impl std::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    W(out)
}

/// One field of a form or multipart body, as written.
struct Field {
    name: String,
    text: String,
    /// The part's media type (multipart).
    content_type: Option<String>,
    /// Sent as a file part (multipart).
    file: bool,
}

fn property_schema(flat: &Value, name: &str, spec: &commerce_spec::Spec) -> Value {
    flat.get("properties")
        .and_then(|p| p.get(name))
        .or_else(|| flat.get("additionalProperties").filter(|a| a.is_object()))
        .map_or(Value::Bool(true), |p| crate::values::flatten(spec, p))
}

/// The fields a form or multipart body of `value` is written as (OpenAPI 3.1 §4.8.15: objects as
/// JSON unless an encoding says otherwise; arrays of primitives repeated, or delimited when
/// `explode: false`; deepObject as `name[key]`; binary strings as file parts).
fn fields(media: &Media, value: &Value, flat: &Value, spec: &commerce_spec::Spec) -> Option<Vec<Field>> {
    let multipart = media.encoding == Encoding::Multipart;
    let mut out = Vec::new();
    for (name, v) in value.as_object()? {
        let encoding = media.properties.get(name);
        let declared = encoding.and_then(|e| e.content_type.clone());
        let style = encoding.and_then(|e| e.style).unwrap_or(Style::Form);
        let explode = encoding.and_then(|e| e.explode).unwrap_or(style == Style::Form);
        let property = property_schema(flat, name, spec);
        let is_file = |schema: &Value| {
            matches!(schema.get("format").and_then(Value::as_str), Some("binary" | "byte"))
                || schema.get("contentMediaType").is_some()
        };
        let mut push = |text: String, schema: &Value, structured: bool| {
            let file = multipart && !structured && is_file(schema);
            let content_type = multipart.then(|| match (&declared, structured, file) {
                (Some(declared), _, _) => declared.clone(),
                (None, true, _) => "application/json".to_string(),
                (None, false, true) => "application/octet-stream".to_string(),
                (None, false, false) => "text/plain".to_string(),
            });
            out.push(Field { name: name.clone(), text, content_type, file });
        };
        let declared_json = declared.as_deref().is_some_and(is_json);
        match v {
            _ if declared_json => push(v.to_string(), &property, true),
            Value::Array(items) if items.iter().all(|i| !is_structured(Some(i))) => {
                let item_schema = property.get("items").map_or(Value::Bool(true), |i| crate::values::flatten(spec, i));
                let texts: Vec<String> = items.iter().map(scalar_text).collect::<Option<_>>()?;
                if explode || multipart {
                    for text in texts {
                        push(text, &item_schema, false);
                    }
                } else {
                    let delimiter = match style {
                        Style::SpaceDelimited => " ",
                        Style::PipeDelimited => "|",
                        _ => ",",
                    };
                    push(texts.join(delimiter), &property, false);
                }
            }
            Value::Object(map) if style == Style::DeepObject && !multipart => {
                for (k, item) in map {
                    out.push(Field {
                        name: format!("{name}[{k}]"),
                        text: scalar_text(item)?,
                        content_type: None,
                        file: false,
                    });
                }
            }
            Value::Object(_) | Value::Array(_) => push(v.to_string(), &property, true),
            Value::Null => push(String::new(), &property, false),
            other => push(scalar_text(other)?, &property, false),
        }
    }
    Some(out)
}

/// What a server reads from a body written by [`write_body`]: form and multipart fields as written,
/// each read by its property's schema (JSON where the property is structured, a scalar otherwise,
/// repeated fields as an array, a missing field absent); text read by the schema's type; the value
/// itself for the other media types.
pub fn read_body(media: &Media, value: &Value, flat: &Value, spec: &commerce_spec::Spec) -> Value {
    match media.encoding {
        Encoding::Form | Encoding::Multipart => {
            let Some(fields) = fields(media, value, flat, spec) else { return value.clone() };
            let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
            for field in fields {
                match grouped.iter_mut().find(|(name, _)| *name == field.name) {
                    Some((_, texts)) => texts.push(field.text),
                    None => grouped.push((field.name, vec![field.text])),
                }
            }
            let mut out = Map::new();
            for (name, texts) in grouped {
                if let Some((outer, key)) = name.strip_suffix(']').and_then(|n| n.split_once('['))
                    && media.properties.get(outer).and_then(|e| e.style) == Some(Style::DeepObject)
                {
                    let inner = property_schema(&property_schema(flat, outer, spec), key, spec);
                    let entry = out.entry(outer.to_string()).or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(map) = entry {
                        map.insert(key.to_string(), read_text(&inner, &texts[0]));
                    }
                    continue;
                }
                let property = property_schema(flat, &name, spec);
                let encoding = media.properties.get(&name);
                let read = if types(&property).contains(&"array")
                    && !encoding.and_then(|e| e.content_type.as_deref()).is_some_and(is_json)
                {
                    let item_schema =
                        property.get("items").map_or(Value::Bool(true), |i| crate::values::flatten(spec, i));
                    let delimiter = match encoding.and_then(|e| e.style) {
                        Some(Style::SpaceDelimited) => " ",
                        Some(Style::PipeDelimited) => "|",
                        _ => ",",
                    };
                    let exploded =
                        encoding.and_then(|e| e.explode).unwrap_or(true) || media.encoding == Encoding::Multipart;
                    let items: Vec<&str> = if exploded {
                        texts.iter().map(String::as_str).collect()
                    } else {
                        texts[0].split(delimiter).collect()
                    };
                    Value::Array(items.iter().map(|t| read_text(&item_schema, t)).collect())
                } else {
                    read_text(&property, &texts[0])
                };
                out.insert(name, read);
            }
            Value::Object(out)
        }
        Encoding::Text => scalar_text(value).map_or(value.clone(), |t| read_scalar(&types(flat), &t)),
        _ => value.clone(),
    }
}

/// A field's text read by its schema: JSON where the schema is structured, a scalar otherwise.
fn read_text(schema: &Value, text: &str) -> Value {
    let kinds = types(schema);
    if kinds.iter().any(|k| matches!(*k, "object" | "array")) {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
    } else {
        read_scalar(&kinds, text)
    }
}

/// An XML document for `value` (OpenAPI 3.1 §4.8.26: the `xml` keyword's name, attribute,
/// wrapped, prefix and namespace).
fn xml_document(value: &Value, flat: &Value, spec: &commerce_spec::Spec) -> Option<String> {
    let root = flat.pointer("/xml/name").and_then(Value::as_str).unwrap_or("root").to_string();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    xml_element(&root, value, flat, spec, &mut out, 0)?;
    Some(out)
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn xml_name(default: &str, schema: &Value) -> String {
    let name = schema.pointer("/xml/name").and_then(Value::as_str).unwrap_or(default);
    match schema.pointer("/xml/prefix").and_then(Value::as_str) {
        Some(prefix) => format!("{prefix}:{name}"),
        None => name.to_string(),
    }
}

fn xml_element(
    name: &str,
    value: &Value,
    schema: &Value,
    spec: &commerce_spec::Spec,
    out: &mut String,
    depth: usize,
) -> Option<()> {
    if depth > 16 {
        return None;
    }
    let schema = crate::values::flatten(spec, schema);
    let tag = xml_name(name, &schema);
    let namespace = schema.pointer("/xml/namespace").and_then(Value::as_str).map(|ns| {
        match schema.pointer("/xml/prefix").and_then(Value::as_str) {
            Some(prefix) => format!(" xmlns:{prefix}=\"{ns}\""),
            None => format!(" xmlns=\"{ns}\""),
        }
    });
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").cloned().unwrap_or_default();
            let mut attributes = String::new();
            let mut children = String::new();
            for (key, v) in map {
                let property =
                    properties.get(key).map(|p| crate::values::flatten(spec, p)).unwrap_or(Value::Bool(true));
                if property.pointer("/xml/attribute") == Some(&Value::Bool(true)) {
                    write!(attributes, " {}=\"{}\"", xml_name(key, &property), xml_escape(&scalar_text(v)?)).ok()?;
                } else {
                    xml_element(key, v, &property, spec, &mut children, depth + 1)?;
                }
            }
            write!(out, "<{tag}{}{attributes}>{children}</{tag}>", namespace.unwrap_or_default()).ok()?;
        }
        Value::Array(items) => {
            let item_schema = crate::values::flatten(spec, schema.get("items").unwrap_or(&Value::Bool(true)));
            let mut inner = String::new();
            for item in items {
                xml_element(name, item, &item_schema, spec, &mut inner, depth + 1)?;
            }
            if schema.pointer("/xml/wrapped") == Some(&Value::Bool(true)) {
                write!(out, "<{tag}{}>{inner}</{tag}>", namespace.unwrap_or_default()).ok()?;
            } else {
                out.push_str(&inner);
            }
        }
        Value::Null => write!(out, "<{tag}/>").ok()?,
        other => write!(out, "<{tag}>{}</{tag}>", xml_escape(&scalar_text(other)?)).ok()?,
    }
    Some(())
}
