//! Settings of a run: flags over a configuration file. The file is the subset of Schemathesis's
//! `schemathesis.toml` this tester understands, so one file configures both and results compare one
//! to one. Keys outside that subset are refused, never silently ignored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use toml::Table;

use crate::cases::{Mode, Phase};
use crate::checks::{Check, Expectations};
use crate::model::Op;

/// A login operation the tester calls itself to obtain a bearer token.
#[derive(Debug, Clone)]
pub struct Login {
    pub path: String,
    pub payload: Value,
    /// JSON pointer to the token in the response body.
    pub token_pointer: String,
}

/// Per-operation adjustments (`[[operations]]`).
#[derive(Debug, Clone, Default)]
pub struct OperationRule {
    pub ids: Vec<String>,
    pub expected: BTreeMap<Check, Vec<String>>,
    pub enabled: BTreeMap<Check, bool>,
}

/// What the configuration file says; flags override it.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    pub base_url: Option<String>,
    pub login: Option<Login>,
    pub mode: Option<Mode>,
    pub max_examples: Option<usize>,
    pub seed: Option<u64>,
    pub phases: BTreeMap<Phase, bool>,
    pub checks_enabled: Option<bool>,
    pub check_enabled: BTreeMap<Check, bool>,
    pub expected: BTreeMap<Check, Vec<String>>,
    pub operations: Vec<OperationRule>,
    pub max_response_time: Option<Duration>,
}

/// The settings the checks consult.
pub struct Settings {
    pub checks: Vec<Check>,
    pub expected: BTreeMap<Check, Vec<String>>,
    pub operations: Vec<OperationRule>,
    pub max_response_time: Option<Duration>,
}

impl Expectations for Settings {
    fn enabled(&self, op: &Op, check: Check) -> bool {
        let rule = self
            .operations
            .iter()
            .rev()
            .find_map(|r| r.ids.contains(&op.id).then(|| r.enabled.get(&check).copied()).flatten());
        rule.unwrap_or_else(|| self.checks.contains(&check))
    }

    fn expected(&self, op: &Op, check: Check) -> Vec<String> {
        let rule = self
            .operations
            .iter()
            .rev()
            .find_map(|r| r.ids.contains(&op.id).then(|| r.expected.get(&check).cloned()).flatten());
        rule.or_else(|| self.expected.get(&check).cloned())
            .unwrap_or_else(|| check.default_expected().iter().map(|s| s.to_string()).collect())
    }

    fn max_response_time(&self) -> Option<Duration> {
        self.max_response_time
    }
}

/// `value` with every `${NAME}` in its strings replaced by the environment variable NAME.
pub fn substitute_env(value: &Value) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(substitute(s)?),
        Value::Array(items) => Value::Array(items.iter().map(substitute_env).collect::<Result<_, _>>()?),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| Ok((k.clone(), substitute_env(v)?))).collect::<Result<_, String>>()?)
        }
        other => other.clone(),
    })
}

/// Replaces `${NAME}` with the environment variable NAME; a missing variable is an error.
fn substitute(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else { return Err(format!("unclosed ${{ in {text:?}")) };
        let name = &rest[start + 2..start + end];
        let value = std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn to_json(value: &toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        toml::Value::Table(table) => {
            Value::Object(table.iter().map(|(k, v)| Ok((k.clone(), to_json(v)?))).collect::<Result<_, String>>()?)
        }
        toml::Value::Datetime(d) => Value::String(d.to_string()),
    })
}

fn table<'t>(value: &'t toml::Value, at: &str) -> Result<&'t Table, String> {
    value.as_table().ok_or_else(|| format!("{at} must be a table"))
}

fn only(table: &Table, at: &str, allowed: &[&str]) -> Result<(), String> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!("{at}{key} is not supported here (supported: {})", allowed.join(", "))),
        None => Ok(()),
    }
}

fn statuses(value: &toml::Value, at: &str) -> Result<Vec<String>, String> {
    let items = value.as_array().ok_or_else(|| format!("{at} must be a list of statuses"))?;
    items
        .iter()
        .map(|s| match s {
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::String(s) => Ok(s.clone()),
            _ => Err(format!("{at}: {s:?} is not a status")),
        })
        .collect()
}

/// `[checks.<name>]` tables: `enabled` and `expected-statuses` (and `limit` of `max_response_time`).
fn check_tables(
    table: &Table,
    at: &str,
    enabled: &mut BTreeMap<Check, bool>,
    expected: &mut BTreeMap<Check, Vec<String>>,
) -> Result<(), String> {
    for (name, value) in table {
        if name == "enabled" {
            continue;
        }
        let check = Check::from_name(name).ok_or_else(|| format!("{at}{name} is not a check"))?;
        let inner = self::table(value, &format!("{at}{name}"))?;
        let keys: &[&str] = match check {
            Check::MaxResponseTime => &["enabled", "expected-statuses", "limit"],
            _ => &["enabled", "expected-statuses"],
        };
        only(inner, &format!("{at}{name}."), keys)?;
        if let Some(on) = inner.get("enabled").and_then(toml::Value::as_bool) {
            enabled.insert(check, on);
        }
        if let Some(list) = inner.get("expected-statuses") {
            expected.insert(check, statuses(list, &format!("{at}{name}.expected-statuses"))?);
        }
    }
    Ok(())
}

impl FileConfig {
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let root: Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        only(&root, "", &["base-url", "auth", "generation", "phases", "checks", "operations"])?;
        let mut config = FileConfig::default();
        if let Some(url) = root.get("base-url").and_then(toml::Value::as_str) {
            config.base_url = Some(substitute(url)?);
        }
        // `[checks.max_response_time] limit = 0.5`: seconds, as Schemathesis reads it.
        let limit = root.get("checks").and_then(|c| c.get("max_response_time")).and_then(|m| m.get("limit"));
        if let Some(seconds) = limit.and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64))) {
            config.max_response_time = Some(Duration::from_secs_f64(seconds));
        }
        if let Some(auth) = root.get("auth") {
            let auth = table(auth, "auth")?;
            only(auth, "auth.", &["dynamic"])?;
            let dynamic = table(auth.get("dynamic").expect("only key"), "auth.dynamic")?;
            only(dynamic, "auth.dynamic.", &["openapi"])?;
            let schemes = table(dynamic.get("openapi").expect("only key"), "auth.dynamic.openapi")?;
            for (scheme, value) in schemes {
                let at = format!("auth.dynamic.openapi.{scheme}.");
                let login = table(value, &at)?;
                only(login, &at, &["path", "payload", "extract_selector"])?;
                let path = login.get("path").and_then(toml::Value::as_str).ok_or(format!("{at}path is required"))?;
                config.login = Some(Login {
                    path: path.to_string(),
                    // `${VAR}`s are filled in when this login is used (flags may replace it).
                    payload: login.get("payload").map(to_json).transpose()?.unwrap_or(Value::Null),
                    token_pointer: login
                        .get("extract_selector")
                        .and_then(toml::Value::as_str)
                        .unwrap_or("/access_token")
                        .to_string(),
                });
            }
        }
        if let Some(generation) = root.get("generation") {
            let generation = table(generation, "generation")?;
            only(generation, "generation.", &["mode", "max-examples", "seed"])?;
            if let Some(mode) = generation.get("mode") {
                config.mode = Some(
                    mode.clone()
                        .try_into()
                        .map_err(|_| format!("generation.mode: {mode:?} is not positive, negative or all"))?,
                );
            }
            config.max_examples =
                generation.get("max-examples").and_then(toml::Value::as_integer).map(|n| n.max(1) as usize);
            config.seed = generation.get("seed").and_then(toml::Value::as_integer).map(|n| n as u64);
        }
        if let Some(phases) = root.get("phases") {
            let phases = table(phases, "phases")?;
            for (name, value) in phases {
                let phase =
                    Phase::ALL.into_iter().find(|p| p.name() == name).ok_or(format!("phases.{name} is not a phase"))?;
                let inner = table(value, &format!("phases.{name}"))?;
                only(inner, &format!("phases.{name}."), &["enabled"])?;
                config.phases.insert(phase, inner.get("enabled").and_then(toml::Value::as_bool).unwrap_or(true));
            }
        }
        if let Some(checks) = root.get("checks") {
            let checks = table(checks, "checks")?;
            config.checks_enabled = checks.get("enabled").and_then(toml::Value::as_bool);
            check_tables(checks, "checks.", &mut config.check_enabled, &mut config.expected)?;
        }
        for (n, rule) in root.get("operations").and_then(toml::Value::as_array).into_iter().flatten().enumerate() {
            let at = format!("operations[{n}].");
            let rule = table(rule, &at)?;
            only(rule, &at, &["include-operation-id", "checks"])?;
            let ids = match rule.get("include-operation-id") {
                Some(toml::Value::String(id)) => vec![id.clone()],
                Some(toml::Value::Array(ids)) => ids.iter().filter_map(|i| i.as_str().map(String::from)).collect(),
                _ => return Err(format!("{at}include-operation-id is required")),
            };
            let mut parsed = OperationRule { ids, ..Default::default() };
            if let Some(checks) = rule.get("checks") {
                check_tables(
                    table(checks, &format!("{at}checks"))?,
                    &format!("{at}checks."),
                    &mut parsed.enabled,
                    &mut parsed.expected,
                )?;
            }
            config.operations.push(parsed);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_schemathesis_toml_of_this_repository() {
        // SAFETY: this is the only test of the crate that touches the environment.
        unsafe {
            std::env::set_var("COMMERCE_ADMIN_EMAIL", "admin@demo.test");
            std::env::set_var("COMMERCE_ADMIN_PASSWORD", "pw");
        }
        let config =
            FileConfig::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemathesis.toml")))
                .unwrap();
        let login = config.login.unwrap();
        assert_eq!(login.path, "/auth/login");
        assert_eq!(login.payload["password"], "${COMMERCE_ADMIN_PASSWORD}");
        assert_eq!(substitute_env(&login.payload).unwrap()["password"], "pw");
        assert_eq!(login.token_pointer, "/accessToken");
        assert_eq!(config.mode, Some(Mode::All));
        assert_eq!(config.operations.len(), 2);
        assert!(config.operations[0].expected[&Check::PositiveDataAcceptance].contains(&"412".to_string()));
    }

    #[test]
    fn the_response_time_limit_is_read_where_schemathesis_reads_it() {
        let config = FileConfig::parse("[checks.max_response_time]\nlimit = 0.25").unwrap();
        assert_eq!(config.max_response_time, Some(Duration::from_millis(250)));
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = FileConfig::parse("[generation]\nmax-exmaples = 3").unwrap_err();
        assert!(e.contains("generation.max-exmaples"), "{e}");
        let e = FileConfig::parse("[checks.not_a_check]\nenabled = false").unwrap_err();
        assert!(e.contains("not a check"), "{e}");
    }
}
