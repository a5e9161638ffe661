//! The catalogue of rules: every kind of change `commerce diff` reports, with its default level,
//! and the severity file that lowers or raises them.
//!
//! Requests and responses are judged in opposite directions: a client writes requests, so a request
//! schema may only widen (accept more); a client reads responses, so a response schema may only
//! narrow (produce less). readOnly members are not part of a request, writeOnly ones not part of a
//! response.

use std::collections::BTreeMap;
use std::fmt;

/// How much a change matters to clients written against the base document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Compatible: existing clients keep working.
    Info,
    /// Potentially breaking: some clients may fail (a new enum value, a constraint removed from a
    /// response, a changed default).
    Warning,
    /// Breaking: a client that was correct against the base document fails against the head.
    Breaking,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Breaking => "breaking",
        }
    }

    fn parse(text: &str) -> Option<Option<Self>> {
        Some(match text {
            "breaking" | "error" | "err" => Some(Level::Breaking),
            "warning" | "warn" => Some(Level::Warning),
            "info" => Some(Level::Info),
            "none" | "off" => None,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One kind of change.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub level: Level,
    pub summary: &'static str,
}

const fn rule(id: &'static str, level: Level, summary: &'static str) -> Rule {
    Rule { id, level, summary }
}

use Level::{Breaking, Info, Warning};

/// Every rule, grouped by what it looks at.
pub const RULES: &[Rule] = &[
    // Paths and operations.
    rule("path-removed", Breaking, "a path and every operation on it removed"),
    rule("path-added", Info, "a new path"),
    rule("operation-removed", Breaking, "a method removed from a path that stays"),
    rule("operation-added", Info, "a new method on a path"),
    rule("operation-id-changed", Warning, "an operationId changed: generated clients rename their method"),
    rule("operation-deprecated", Info, "an operation marked deprecated"),
    rule("path-parameter-renamed", Info, "a path template's parameter renamed (the URL is unchanged)"),
    // Security.
    rule("security-requirement-added", Breaking, "an operation asks for a credential a base client may not send"),
    rule("security-scope-added", Breaking, "an operation asks for scopes a base client's token may lack"),
    rule("security-requirement-relaxed", Info, "an operation accepts more credentials, or none"),
    rule("security-scheme-changed", Breaking, "a security scheme's type, location, name or flow changed"),
    rule("security-scheme-removed", Warning, "a security scheme removed from components"),
    // Parameters.
    rule("request-parameter-added-required", Breaking, "a new required parameter"),
    rule("request-parameter-added", Info, "a new optional parameter"),
    rule("request-parameter-removed", Warning, "a parameter removed: clients still sending it are ignored or refused"),
    rule("request-parameter-became-required", Breaking, "an optional parameter made required"),
    rule("request-parameter-became-optional", Info, "a required parameter made optional"),
    rule("request-parameter-moved", Breaking, "a parameter moved to another location (query, header, path, cookie)"),
    rule("request-parameter-renamed", Breaking, "a parameter renamed (the same schema under another name)"),
    rule("request-parameter-style-changed", Breaking, "a parameter's style, explode or media type changed"),
    rule("request-parameter-changed", Warning, "a parameter keyword changed that this tool does not analyse"),
    // Request bodies.
    rule("request-body-added-required", Breaking, "a required request body where there was none"),
    rule("request-body-added", Info, "an optional request body where there was none"),
    rule("request-body-removed", Warning, "the request body removed: clients still sending one may be refused"),
    rule("request-body-became-required", Breaking, "an optional request body made required"),
    rule("request-body-became-optional", Info, "a required request body made optional"),
    rule("request-media-type-removed", Breaking, "a request media type no longer accepted"),
    rule("request-media-type-added", Info, "a new request media type accepted"),
    // Request schemas (bodies and parameters): may only widen.
    rule("request-property-became-required", Breaking, "a request property made required"),
    rule("request-required-property-added", Breaking, "a new required request property"),
    rule("request-property-added", Info, "a new optional request property"),
    rule("request-property-removed", Warning, "a request property removed (or made readOnly)"),
    rule("request-property-became-optional", Info, "a required request property made optional"),
    rule("request-type-changed", Breaking, "a request value's type narrowed or changed"),
    rule("request-type-widened", Info, "a request value accepts more types"),
    rule("request-nullable-removed", Breaking, "a request value no longer accepts null"),
    rule("request-format-changed", Breaking, "a request value's format added or changed"),
    rule("request-enum-value-removed", Breaking, "a request value's enum lost values (or an enum was added)"),
    rule("request-enum-value-added", Info, "a request enum gained values"),
    rule("request-pattern-changed", Breaking, "a request string's pattern added or changed"),
    rule("request-length-narrowed", Breaking, "a request string's minLength raised or maxLength lowered"),
    rule("request-range-narrowed", Breaking, "a request number's minimum raised or maximum lowered"),
    rule(
        "request-multiple-of-changed",
        Breaking,
        "a request number's multipleOf added or no longer divides the old one",
    ),
    rule(
        "request-item-count-narrowed",
        Breaking,
        "a request array's minItems raised, maxItems lowered or uniqueItems added",
    ),
    rule(
        "request-property-count-narrowed",
        Breaking,
        "a request object's minProperties raised or maxProperties lowered",
    ),
    rule("request-additional-properties-closed", Breaking, "a request object no longer accepts undeclared members"),
    rule("request-branch-removed", Breaking, "a request oneOf/anyOf lost an alternative"),
    rule(
        "request-default-changed",
        Warning,
        "a request value's default changed or removed: omitting it now means something else",
    ),
    rule("request-constraint-relaxed", Info, "a request constraint removed or loosened"),
    // Responses.
    rule("response-status-removed", Breaking, "a success (1xx-3xx) response status removed"),
    rule("response-error-status-removed", Warning, "an error or default response removed"),
    rule("response-success-status-added", Warning, "a new success status: clients may not handle it"),
    rule("response-status-added", Info, "a new error status"),
    rule("response-media-type-removed", Breaking, "a response media type no longer produced"),
    rule("response-media-type-added", Info, "a new response media type"),
    rule("response-header-removed", Breaking, "a required response header removed"),
    rule("response-optional-header-removed", Warning, "an optional response header removed"),
    rule("response-header-became-optional", Breaking, "a required response header made optional"),
    rule("response-header-added", Info, "a new response header"),
    // Response schemas: may only narrow.
    rule("response-required-property-removed", Breaking, "a required response property removed (or made writeOnly)"),
    rule("response-optional-property-removed", Warning, "an optional response property removed"),
    rule("response-property-became-optional", Breaking, "a required response property made optional"),
    rule("response-property-added", Info, "a new response property"),
    rule("response-type-changed", Breaking, "a response value's type widened or changed"),
    rule("response-nullable-added", Breaking, "a response value may now be null"),
    rule("response-format-changed", Breaking, "a response value's format changed"),
    rule("response-enum-value-added", Warning, "a response enum gained values: clients may not handle them"),
    rule("response-branch-added", Warning, "a response oneOf/anyOf gained an alternative: clients may not handle it"),
    rule("response-pattern-changed", Warning, "a response string's pattern changed"),
    rule(
        "response-constraint-relaxed",
        Warning,
        "a response constraint removed or loosened: clients may get values they did not expect",
    ),
    rule("response-constraint-tightened", Info, "a response constraint added or tightened"),
    rule("response-type-narrowed", Info, "a response value produces fewer types"),
    // Anything else.
    rule(
        "schema-keyword-changed",
        Warning,
        "a schema keyword changed that this tool does not analyse: check it by hand",
    ),
    rule("webhooks-changed", Warning, "webhooks or callbacks changed: not analysed, check them by hand"),
    rule("server-url-changed", Warning, "the servers list changed: clients configured with a base URL may break"),
    // The document's version.
    rule("version-not-bumped", Warning, "the API changed but info.version did not"),
    rule("version-not-semver", Warning, "info.version is not a semantic version, so a major bump cannot be checked"),
    rule("major-version-not-bumped", Breaking, "a breaking change without a new major version"),
];

/// The rule named `id`. Panics on an id not in [`RULES`]: rules are named in code only.
pub fn find(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no rule {id}"))
}

/// Levels chosen by the user over the defaults; `None` silences a rule.
#[derive(Debug, Default, Clone)]
pub struct Severities {
    overrides: BTreeMap<&'static str, Option<Level>>,
}

impl Severities {
    /// Reads a severity file: one `rule-id level` per line (`breaking`, `warning`, `info` or
    /// `none`), `#` starting a comment. An unknown rule or level is refused with its line.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let mut overrides = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(id), Some(level), None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("{origin}:{}: expected `rule-id level`, found {line:?}", n + 1));
            };
            let Some(rule) = RULES.iter().find(|r| r.id == id) else {
                return Err(format!(
                    "{origin}:{}: no rule named {id:?} (`commerce diff --list-rules` lists them)",
                    n + 1
                ));
            };
            let Some(level) = Level::parse(level) else {
                return Err(format!("{origin}:{}: {level:?} is not a level (breaking, warning, info, none)", n + 1));
            };
            overrides.insert(rule.id, level);
        }
        Ok(Self { overrides })
    }

    /// The level `rule` is reported at, or `None` when it is silenced.
    pub fn level(&self, rule: &Rule) -> Option<Level> {
        self.overrides.get(rule.id).copied().unwrap_or(Some(rule.level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(!RULES[..i].iter().any(|o| o.id == r.id), "{} is listed twice", r.id);
        }
    }

    #[test]
    fn a_severity_file_overrides_and_silences_and_refuses_unknown_rules() {
        let s =
            Severities::parse("# ours\nresponse-enum-value-added breaking\nversion-not-bumped none\n", "f").unwrap();
        assert_eq!(s.level(find("response-enum-value-added")), Some(Level::Breaking));
        assert_eq!(s.level(find("version-not-bumped")), None);
        assert_eq!(s.level(find("path-removed")), Some(Level::Breaking));
        let e = Severities::parse("\nno-such-rule info", "f").unwrap_err();
        assert!(e.starts_with("f:2: no rule named \"no-such-rule\""), "{e}");
        let e = Severities::parse("path-removed fatal", "f").unwrap_err();
        assert!(e.contains("\"fatal\" is not a level"), "{e}");
    }
}
