//! Reading a document that may span several files or URLs: every `$ref` to another document is
//! bundled into the root one, under `/x-bundled/<key>`, and rewritten to a local reference, so the
//! rest of the code (and a JSON Schema validator) sees one self-contained document.
//!
//! The loader does no I/O itself: it says which documents it still needs ([`Bundle::wanted`]) and is
//! given their text ([`Bundle::provide`]), so a file reader and an async HTTP client drive it alike.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use url::Url;

use crate::SpecError;

/// Where bundled documents live in the root document.
pub const BUNDLED: &str = "x-bundled";

/// Parses YAML or JSON text (JSON is YAML) into a value.
pub fn parse_text(text: &str, location: &str) -> Result<Value, SpecError> {
    // JSON documents (often the largest) are read by the JSON parser, many times faster; YAML
    // stays the judge of anything that is not strict JSON.
    if text.trim_start().starts_with('{')
        && let Ok(value) = serde_json::from_str(text)
    {
        return Ok(value);
    }
    yaml_serde::from_str(text).map_err(|e| SpecError(format!("{location}: not a YAML or JSON document: {e}")))
}

/// A location given by a user: an http(s) URL, a `file:` URL or a path.
pub fn location(text: &str) -> Result<Url, SpecError> {
    if let Ok(url) = Url::parse(text)
        && matches!(url.scheme(), "http" | "https" | "file")
    {
        return Ok(url);
    }
    let path = std::path::Path::new(text);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| SpecError(format!("cannot resolve {text}: {e}")))?.join(path)
    };
    Url::from_file_path(&absolute).map_err(|()| SpecError(format!("{text} is neither a URL nor a file path")))
}

/// Reads a `file:` URL.
pub fn read_file(url: &Url) -> Result<String, SpecError> {
    let path = url.to_file_path().map_err(|()| SpecError(format!("{url} is not a local file")))?;
    std::fs::read_to_string(&path).map_err(|e| SpecError(format!("cannot read {}: {e}", path.display())))
}

/// A root document and the documents its references reach, being gathered.
pub struct Bundle {
    root: Url,
    docs: BTreeMap<Url, Value>,
}

fn without_fragment(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

/// Every string `$ref` in `value`, with the JSON pointer of the object holding it.
pub fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push((at.to_string(), r.clone()));
            }
            for (key, child) in map {
                refs(child, &format!("{at}/{}", escape(key)), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A JSON pointer token: `~` -> `~0`, `/` -> `~1`.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

impl Bundle {
    pub fn new(root: Url, text: &str) -> Result<Self, SpecError> {
        let root = without_fragment(&root);
        let doc = parse_text(text, root.as_str())?;
        Ok(Self { docs: BTreeMap::from([(root.clone(), doc)]), root })
    }

    /// The documents referenced but not provided yet.
    pub fn wanted(&self) -> Result<Vec<Url>, SpecError> {
        let mut out = Vec::new();
        for (url, doc) in &self.docs {
            let mut found = Vec::new();
            refs(doc, "", &mut found);
            for (at, reference) in found {
                let target = without_fragment(&self.target(url, &at, &reference)?);
                if !self.docs.contains_key(&target) && !out.contains(&target) {
                    out.push(target);
                }
            }
        }
        Ok(out)
    }

    fn target(&self, base: &Url, at: &str, reference: &str) -> Result<Url, SpecError> {
        base.join(reference).map_err(|e| {
            SpecError(format!("{}#{at}: the reference {reference:?} is not a valid URI reference: {e}", base.as_str()))
        })
    }

    pub fn provide(&mut self, url: Url, text: &str) -> Result<(), SpecError> {
        let doc = parse_text(text, url.as_str())?;
        self.docs.insert(without_fragment(&url), doc);
        Ok(())
    }

    /// The key a document is bundled under: its address relative to the root's.
    fn key(&self, url: &Url) -> String {
        self.root.make_relative(url).filter(|r| !r.is_empty()).unwrap_or_else(|| url.to_string())
    }

    /// The root document with every other document placed under `/x-bundled/<key>` and every
    /// reference made local. Fails if a referenced document was never provided.
    pub fn finish(mut self) -> Result<Value, SpecError> {
        let urls: Vec<Url> = self.docs.keys().cloned().collect();
        let mut rewritten: BTreeMap<Url, Value> = BTreeMap::new();
        for url in &urls {
            let mut doc = self.docs.remove(url).expect("listed above");
            let prefix =
                if *url == self.root { String::new() } else { format!("/{BUNDLED}/{}", escape(&self.key(url))) };
            let mut found = Vec::new();
            refs(&doc, "", &mut found);
            for (at, reference) in found {
                let target = self.target(url, &at, &reference)?;
                let document = without_fragment(&target);
                let fragment = target.fragment().unwrap_or_default();
                let fragment = percent_encoding::percent_decode_str(fragment).decode_utf8_lossy().into_owned();
                if !fragment.is_empty() && !fragment.starts_with('/') {
                    return Err(SpecError(format!(
                        "{prefix}{at}: the reference {reference:?} names an anchor ({fragment}); only JSON pointers are supported"
                    )));
                }
                let local = if document == self.root {
                    format!("#{fragment}")
                } else if urls.contains(&document) {
                    format!("#/{BUNDLED}/{}{fragment}", escape(&self.key(&document)))
                } else {
                    return Err(SpecError(format!("{prefix}{at}: {reference} was not loaded")));
                };
                if let Some(Value::Object(holder)) = doc.pointer_mut(&at) {
                    holder.insert("$ref".into(), Value::String(local));
                }
            }
            rewritten.insert(url.clone(), doc);
        }
        let mut root = rewritten.remove(&self.root).expect("the root is always loaded");
        if !rewritten.is_empty() {
            let Some(object) = root.as_object_mut() else {
                return Err(SpecError("the document is not an object".into()));
            };
            let mut bundled = Map::new();
            for (url, doc) in rewritten {
                bundled.insert(self.key(&url), doc);
            }
            object.insert(BUNDLED.into(), Value::Object(bundled));
        }
        Ok(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_to_other_files_are_bundled_and_made_local() {
        let root = Url::parse("file:///api/openapi.yaml").unwrap();
        let mut bundle = Bundle::new(
            root,
            "paths: {}\ncomponents:\n  schemas:\n    Pet: {$ref: 'schemas/pet.yaml#/Pet'}\n    Own: {$ref: '#/components/schemas/Pet'}",
        )
        .unwrap();
        assert_eq!(bundle.wanted().unwrap(), [Url::parse("file:///api/schemas/pet.yaml").unwrap()]);
        bundle
            .provide(
                Url::parse("file:///api/schemas/pet.yaml").unwrap(),
                "Pet: {type: object, properties: {tag: {$ref: '#/Tag'}, owner: {$ref: '../common.yaml'}}}\nTag: {type: string}",
            )
            .unwrap();
        assert_eq!(bundle.wanted().unwrap(), [Url::parse("file:///api/common.yaml").unwrap()]);
        bundle.provide(Url::parse("file:///api/common.yaml").unwrap(), "type: string").unwrap();
        let doc = bundle.finish().unwrap();
        assert_eq!(doc.pointer("/components/schemas/Pet/$ref").unwrap(), "#/x-bundled/schemas~1pet.yaml/Pet");
        assert_eq!(doc.pointer("/components/schemas/Own/$ref").unwrap(), "#/components/schemas/Pet");
        assert_eq!(
            doc.pointer("/x-bundled/schemas~1pet.yaml/Pet/properties/tag/$ref").unwrap(),
            "#/x-bundled/schemas~1pet.yaml/Tag"
        );
        assert_eq!(
            doc.pointer("/x-bundled/schemas~1pet.yaml/Pet/properties/owner/$ref").unwrap(),
            "#/x-bundled/common.yaml"
        );
        assert_eq!(doc.pointer("/x-bundled/common.yaml/type").unwrap(), "string");
    }
}
