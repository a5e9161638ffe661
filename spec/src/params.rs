//! How a server reads a parameter's text in each location and style (OpenAPI 3.1 §4.8.12.4:
//! form, spaceDelimited, pipeDelimited, deepObject, simple, label, matrix, with `explode`, or as its
//! `content` media type). One definition, used by the contract tester to classify what it sends and
//! by generated services to read and check what they receive.
//!
//! The text handed to [`read`] is the parameter's own part of the request: for a query parameter
//! its `key=value` pairs joined with `&` (still percent-encoded; [`query_text`] picks them out of a
//! whole query string), for a path parameter the text that replaced `{name}`, for a header its
//! value, for a cookie its `name=value` pair ([`cookie_text`]).

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use crate::Style;
use crate::schema::types;

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

impl Location {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "path" => Self::Path,
            "query" => Self::Query,
            "header" => Self::Header,
            "cookie" => Self::Cookie,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
            Self::Cookie => "cookie",
        }
    }
}

/// What decides how a parameter is written.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub name: &'a str,
    pub location: Location,
    pub style: Style,
    pub explode: bool,
    /// A parameter described with `content`: its value is that media type's text.
    pub content_type: Option<&'a str>,
}

/// `application/json` and `*/*+json`.
pub fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

fn decode(text: &str) -> Option<String> {
    percent_decode_str(text).decode_utf8().ok().map(|c| c.into_owned())
}

/// A parameter's text read as the JSON value a server sees, given the types its schema admits: a
/// number where a number is admitted, a boolean where one is, otherwise the text itself.
pub fn read_scalar(types: &[&str], text: &str) -> Value {
    crate::read_parameter(types, text)
}

fn read_item(array_schema: &Value, text: &str) -> Value {
    let items = array_schema.get("items").cloned().unwrap_or(Value::Bool(true));
    read_scalar(&types(&items), text)
}

fn read_property(object_schema: &Value, name: &str, text: &str) -> Value {
    let property = object_schema
        .get("properties")
        .and_then(|p| p.get(name))
        .or_else(|| object_schema.get("additionalProperties").filter(|a| a.is_object()))
        .cloned()
        .unwrap_or(Value::Bool(true));
    read_scalar(&types(&property), text)
}

/// The value `shape`'s text holds, read by its flattened schema `flat`: `None` when absent.
pub fn read(shape: &Shape<'_>, flat: &Value, text: &str) -> Option<Value> {
    if let Some(content_type) = shape.content_type {
        let raw = match shape.location {
            Location::Query | Location::Cookie => decode(text.split_once('=')?.1)?,
            Location::Path => decode(text)?,
            Location::Header => text.to_string(),
        };
        return Some(if is_json(content_type) {
            serde_json::from_str(&raw).unwrap_or(Value::String(raw))
        } else {
            read_scalar(&types(flat), &raw)
        });
    }
    let kinds = types(flat);
    let is_array = kinds.contains(&"array");
    let is_object = kinds.contains(&"object") && !is_array;
    match shape.location {
        Location::Query => {
            if text.is_empty() {
                return None;
            }
            let pairs: Vec<(String, String)> = text
                .split('&')
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k).unwrap_or_default(), decode(&v.replace('+', "%2B")).unwrap_or_default())
                })
                .collect();
            let delimiter = match shape.style {
                Style::SpaceDelimited => " ",
                Style::PipeDelimited => "|",
                _ => ",",
            };
            if is_array {
                let items: Vec<String> = if shape.explode {
                    pairs.into_iter().map(|(_, v)| v).collect()
                } else {
                    pairs.first()?.1.split(delimiter).map(String::from).collect()
                };
                return Some(Value::Array(items.iter().map(|i| read_item(flat, i)).collect()));
            }
            if is_object {
                let mut map = Map::new();
                match (shape.style, shape.explode) {
                    (Style::DeepObject, _) => {
                        for (k, v) in pairs {
                            let key = k.strip_prefix(&format!("{}[", shape.name))?.strip_suffix(']')?.to_string();
                            map.insert(key.clone(), read_property(flat, &key, &v));
                        }
                    }
                    (Style::Form, true) => {
                        for (k, v) in pairs {
                            map.insert(k.clone(), read_property(flat, &k, &v));
                        }
                    }
                    _ => {
                        let parts: Vec<&str> = pairs.first()?.1.split(delimiter).collect();
                        for chunk in parts.chunks(2) {
                            let key = chunk[0].to_string();
                            let value = chunk.get(1).copied().unwrap_or_default();
                            map.insert(key.clone(), read_property(flat, &key, value));
                        }
                    }
                }
                return Some(Value::Object(map));
            }
            // A repeated primitive is read as its first value.
            Some(read_scalar(&kinds, &pairs.first()?.1))
        }
        Location::Path | Location::Header => {
            let decoded = if shape.location == Location::Path { decode(text)? } else { text.to_string() };
            let (body, separator) = match shape.style {
                Style::Label => (decoded.strip_prefix('.')?.to_string(), if shape.explode { "." } else { "," }),
                Style::Matrix => {
                    // `;name=a,b` or `;name=a;name=b`; objects exploded are `;k=v;k=v`.
                    let rest = decoded.strip_prefix(';')?;
                    if is_object && shape.explode {
                        (rest.replace(';', ","), ",")
                    } else if shape.explode && is_array {
                        let prefix = format!("{}=", shape.name);
                        let items: Vec<&str> =
                            rest.split(';').filter_map(|p| p.strip_prefix(prefix.as_str())).collect();
                        (items.join(","), ",")
                    } else {
                        (rest.split_once('=').map_or(String::new(), |(_, v)| v.to_string()), ",")
                    }
                }
                _ => (decoded, ","),
            };
            if is_array {
                let items: Vec<Value> = if body.is_empty() {
                    Vec::new()
                } else {
                    body.split(separator).map(|i| read_item(flat, i)).collect()
                };
                return Some(Value::Array(items));
            }
            if is_object {
                let mut map = Map::new();
                if shape.explode {
                    for pair in body.split(separator) {
                        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                        map.insert(k.to_string(), read_property(flat, k, v));
                    }
                } else {
                    let parts: Vec<&str> = body.split(',').collect();
                    for chunk in parts.chunks(2) {
                        map.insert(
                            chunk[0].to_string(),
                            read_property(flat, chunk[0], chunk.get(1).copied().unwrap_or("")),
                        );
                    }
                }
                return Some(Value::Object(map));
            }
            Some(read_scalar(&kinds, &body))
        }
        Location::Cookie => {
            let value = decode(text.split_once('=')?.1)?;
            if is_array {
                return Some(Value::Array(value.split(',').map(|i| read_item(flat, i)).collect()));
            }
            if is_object {
                let parts: Vec<&str> = value.split(',').collect();
                let mut map = Map::new();
                for chunk in parts.chunks(2) {
                    map.insert(
                        chunk[0].to_string(),
                        read_property(flat, chunk[0], chunk.get(1).copied().unwrap_or("")),
                    );
                }
                return Some(Value::Object(map));
            }
            Some(read_scalar(&kinds, &value))
        }
    }
}

/// The pairs of a whole query string that belong to `shape` (by name; `name[key]` for deepObject;
/// the schema's property names for an exploded form object), as [`read`] takes them.
pub fn query_text(shape: &Shape<'_>, flat: &Value, query: &str) -> String {
    let object = types(flat).contains(&"object");
    let properties: Vec<&str> = flat
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let deep_prefix = format!("{}[", shape.name);
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            let key = decode(key).unwrap_or_default();
            match (shape.style, object && shape.explode) {
                (Style::DeepObject, _) => key.starts_with(&deep_prefix),
                (Style::Form, true) if shape.content_type.is_none() => properties.contains(&key.as_str()),
                _ => key == shape.name,
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The `name=value` pair of cookie `name` in a `Cookie` header, as [`read`] takes it.
pub fn cookie_text(name: &str, header: &str) -> Option<String> {
    header.split(';').map(str::trim).find(|pair| pair.split_once('=').is_some_and(|(k, _)| k == name)).map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(name: &str, location: Location, style: Style, explode: bool) -> Shape<'_> {
        Shape { name, location, style, explode, content_type: None }
    }

    #[test]
    fn every_style_reads_back_what_openapi_says_it_writes() {
        let ints = json!({"type": "array", "items": {"type": "integer"}});
        let rgb = json!({"type": "object", "properties": {"R": {"type": "integer"}, "G": {"type": "integer"}}});
        let q = |style, explode, text: &str| read(&shape("color", Location::Query, style, explode), &ints, text);
        assert_eq!(q(Style::Form, true, "color=3&color=4"), Some(json!([3, 4])));
        assert_eq!(q(Style::Form, false, "color=3,4"), Some(json!([3, 4])));
        assert_eq!(q(Style::SpaceDelimited, false, "color=3%204"), Some(json!([3, 4])));
        assert_eq!(q(Style::PipeDelimited, false, "color=3|4"), Some(json!([3, 4])));
        let deep = read(&shape("color", Location::Query, Style::DeepObject, true), &rgb, "color[R]=100&color[G]=200");
        assert_eq!(deep, Some(json!({"R": 100, "G": 200})));
        let p = |style, explode, text: &str| read(&shape("color", Location::Path, style, explode), &ints, text);
        assert_eq!(p(Style::Simple, false, "3,4"), Some(json!([3, 4])));
        assert_eq!(p(Style::Label, true, ".3.4"), Some(json!([3, 4])));
        assert_eq!(p(Style::Matrix, true, ";color=3;color=4"), Some(json!([3, 4])));
        let header = read(&shape("X-Rgb", Location::Header, Style::Simple, true), &rgb, "R=100,G=200");
        assert_eq!(header, Some(json!({"R": 100, "G": 200})));
        let cookie = read(&shape("n", Location::Cookie, Style::Form, true), &json!({"type": "integer"}), "n=5");
        assert_eq!(cookie, Some(json!(5)));
    }

    #[test]
    fn a_parameter_s_pairs_are_found_in_a_whole_query() {
        let rgb = json!({"type": "object", "properties": {"R": {"type": "integer"}}});
        let deep = shape("color", Location::Query, Style::DeepObject, true);
        assert_eq!(query_text(&deep, &rgb, "page=2&color[R]=1&x=3"), "color[R]=1");
        let exploded = shape("color", Location::Query, Style::Form, true);
        assert_eq!(query_text(&exploded, &rgb, "R=1&page=2"), "R=1");
        let plain = shape("page", Location::Query, Style::Form, true);
        assert_eq!(query_text(&plain, &json!({"type": "integer"}), "R=1&page=2&page=3"), "page=2&page=3");
        assert_eq!(cookie_text("sid", "a=1; sid=xyz; b=2").as_deref(), Some("sid=xyz"));
    }
}
