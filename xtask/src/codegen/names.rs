//! Turning OpenAPI names (`createdAt`, `X-API-Key`, `no-store`) into Rust identifiers.

/// Splits a name into lower-case words at separators and at lower->upper case boundaries:
/// `createdAt` -> [created, at], `X-API-Key` -> [x, api, key], `HTTPServer` -> [http, server].
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1);
        let boundary = c.is_ascii_uppercase()
            && prev.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(|n| n.is_ascii_lowercase()))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "try", "type", "unsafe", "use", "where", "while", "yield",
];

/// `createdAt` -> `created_at`; keywords get a trailing underscore (`type` -> `type_`).
pub fn snake(name: &str) -> String {
    let mut ident = words(name).join("_");
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert_str(0, "n_");
    }
    if KEYWORDS.contains(&ident.as_str()) {
        ident.push('_');
    }
    ident
}

/// `createdAt` -> `CreatedAt`, `no-store` -> `NoStore`, `404` -> `V404`.
pub fn upper_camel(name: &str) -> String {
    let mut ident: String = words(name)
        .iter()
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|f| f.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, 'V');
    }
    if ident == "Self" {
        ident.push('_');
    }
    ident
}

/// A Rust string literal for any text.
pub fn lit(text: &str) -> String {
    format!("{text:?}")
}

/// Doc-comment lines for a description, or nothing.
pub fn doc(text: Option<&str>) -> String {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return String::new();
    };
    text.lines()
        .map(|line| format!("/// {}\n", line.trim_end()).replace("///  ", "/// ").replace("/// \n", "///\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_rust_conventions() {
        assert_eq!(snake("createdAt"), "created_at");
        assert_eq!(snake("X-API-Key"), "x_api_key");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("2fa"), "n_2fa");
        assert_eq!(upper_camel("no-store"), "NoStore");
        assert_eq!(upper_camel("listProducts"), "ListProducts");
        assert_eq!(upper_camel("LUXE API"), "LuxeApi");
        assert_eq!(upper_camel("404"), "V404");
    }

    #[test]
    fn doc_comments_keep_paragraphs() {
        assert_eq!(doc(Some("One.\n\nTwo.")), "/// One.\n///\n/// Two.\n");
        assert_eq!(doc(Some("  ")), "");
    }
}
