//! Settings of a run: flags over a configuration file. The file is the subset of Schemathesis's
//! `schemathesis.toml` this tester understands, so one file configures both and results compare one
//! to one. Keys outside that subset are refused, never silently ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use toml::Table;

use crate::cases::{Mode, Phase};
use crate::checks::{Check, Expectations};
use crate::filter::{Field, Filter, Selector};
use crate::model::Op;

/// A login operation the tester calls itself to obtain a bearer token.
#[derive(Debug, Clone)]
pub struct Login {
    pub path: String,
    pub payload: Value,
    /// JSON pointer to the token in the response body.
    pub token_pointer: String,
    /// The security scheme the token is for; every token scheme when `None`.
    pub scheme: Option<String>,
}

/// Per-operation adjustments (`[[operations]]`): the operations its filters select, whether they
/// are tested at all, and their checks.
#[derive(Debug, Clone, Default)]
pub struct OperationRule {
    pub selector: Selector,
    pub enabled: Option<bool>,
    pub expected: BTreeMap<Check, Vec<String>>,
    pub checks: BTreeMap<Check, bool>,
}

/// A credential for one named scheme (`[auth.openapi.<scheme>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeCredential {
    Bearer(String),
    ApiKey(String),
    Basic { user: String, password: String },
}

/// `tls-verify`: on, off, or a CA bundle to verify against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsVerify {
    On,
    Off,
    CaFile(PathBuf),
}

/// At most `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub per: Duration,
}

impl std::str::FromStr for RateLimit {
    type Err = String;

    /// `100/s`, `1000/m`, `5000/h` (Schemathesis's form).
    fn from_str(text: &str) -> Result<Self, String> {
        let (count, unit) =
            text.split_once('/').ok_or_else(|| format!("rate limit {text:?}: expected N/s, N/m or N/h"))?;
        let count: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| format!("rate limit {text:?}: N must be a positive integer"))?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => return Err(format!("rate limit {text:?}: {other:?} is not s, m or h")),
        };
        Ok(Self { count, per })
    }
}

/// What the configuration file says; flags override it.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    pub base_url: Option<String>,
    pub login: Option<Login>,
    pub headers: Vec<(String, String)>,
    pub basic: Option<(String, String)>,
    pub schemes: Vec<(String, SchemeCredential)>,
    pub workers: Option<usize>,
    pub request_timeout: Option<Duration>,
    pub tls_verify: Option<TlsVerify>,
    pub request_cert: Option<PathBuf>,
    pub request_cert_key: Option<PathBuf>,
    pub rate_limit: Option<RateLimit>,
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
            .find_map(|r| r.selector.selects(op).then(|| r.checks.get(&check).copied()).flatten());
        rule.unwrap_or_else(|| self.checks.contains(&check))
    }

    fn expected(&self, op: &Op, check: Check) -> Vec<String> {
        let rule = self
            .operations
            .iter()
            .rev()
            .find_map(|r| r.selector.selects(op).then(|| r.expected.get(&check).cloned()).flatten());
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
        only(
            &root,
            "",
            &[
                "base-url",
                "headers",
                "auth",
                "generation",
                "phases",
                "checks",
                "operations",
                "seed",
                "workers",
                "request-timeout",
                "tls-verify",
                "request-cert",
                "request-cert-key",
                "rate-limit",
            ],
        )?;
        let mut config = FileConfig::default();
        let string = |value: &toml::Value, at: &str| -> Result<String, String> {
            substitute(value.as_str().ok_or_else(|| format!("{at} must be a string"))?)
        };
        if let Some(url) = root.get("base-url") {
            config.base_url = Some(string(url, "base-url")?);
        }
        for (name, value) in root.get("headers").map(|h| table(h, "headers")).transpose()?.into_iter().flatten() {
            config.headers.push((name.clone(), string(value, &format!("headers.{name}"))?));
        }
        if let Some(workers) = root.get("workers") {
            config.workers =
                Some(workers.as_integer().filter(|n| *n > 0).ok_or("workers must be a positive integer")? as usize);
        }
        if let Some(timeout) = root.get("request-timeout") {
            let seconds = timeout.as_float().or(timeout.as_integer().map(|i| i as f64)).filter(|s| *s > 0.0);
            config.request_timeout =
                Some(Duration::from_secs_f64(seconds.ok_or("request-timeout must be a positive number of seconds")?));
        }
        config.tls_verify = match root.get("tls-verify") {
            None => None,
            Some(toml::Value::Boolean(true)) => Some(TlsVerify::On),
            Some(toml::Value::Boolean(false)) => Some(TlsVerify::Off),
            Some(path @ toml::Value::String(_)) => Some(TlsVerify::CaFile(string(path, "tls-verify")?.into())),
            Some(_) => return Err("tls-verify must be true, false or the path of a CA bundle".into()),
        };
        if let Some(cert) = root.get("request-cert") {
            config.request_cert = Some(string(cert, "request-cert")?.into());
        }
        if let Some(key) = root.get("request-cert-key") {
            config.request_cert_key = Some(string(key, "request-cert-key")?.into());
        }
        if let Some(limit) = root.get("rate-limit") {
            config.rate_limit = Some(string(limit, "rate-limit")?.parse()?);
        }
        // `[checks.max_response_time] limit = 0.5`: seconds, as Schemathesis reads it.
        let limit = root.get("checks").and_then(|c| c.get("max_response_time")).and_then(|m| m.get("limit"));
        if let Some(seconds) = limit.and_then(|v| v.as_float().or(v.as_integer().map(|i| i as f64))) {
            config.max_response_time = Some(Duration::from_secs_f64(seconds));
        }
        if let Some(auth) = root.get("auth") {
            let auth = table(auth, "auth")?;
            only(auth, "auth.", &["basic", "openapi", "dynamic"])?;
            if let Some(basic) = auth.get("basic") {
                let basic = table(basic, "auth.basic")?;
                only(basic, "auth.basic.", &["username", "password"])?;
                let field = |k: &str| {
                    basic
                        .get(k)
                        .ok_or(format!("auth.basic.{k} is required"))
                        .and_then(|v| string(v, &format!("auth.basic.{k}")))
                };
                config.basic = Some((field("username")?, field("password")?));
            }
            for (scheme, value) in
                auth.get("openapi").map(|o| table(o, "auth.openapi")).transpose()?.into_iter().flatten()
            {
                let at = format!("auth.openapi.{scheme}.");
                let credential = table(value, &at)?;
                only(credential, &at, &["bearer", "api_key", "username", "password"])?;
                let field = |k: &str| credential.get(k).map(|v| string(v, &format!("{at}{k}"))).transpose();
                let parsed = match (field("bearer")?, field("api_key")?, field("username")?, field("password")?) {
                    (Some(token), None, None, None) => SchemeCredential::Bearer(token),
                    (None, Some(key), None, None) => SchemeCredential::ApiKey(key),
                    (None, None, Some(user), Some(password)) => SchemeCredential::Basic { user, password },
                    _ => return Err(format!("{at}: give bearer, api_key, or username and password")),
                };
                config.schemes.push((scheme.clone(), parsed));
            }
            if let Some(dynamic) = auth.get("dynamic") {
                let dynamic = table(dynamic, "auth.dynamic")?;
                only(dynamic, "auth.dynamic.", &["openapi"])?;
                let schemes = table(dynamic.get("openapi").expect("only key"), "auth.dynamic.openapi")?;
                for (scheme, value) in schemes {
                    let at = format!("auth.dynamic.openapi.{scheme}.");
                    let login = table(value, &at)?;
                    only(login, &at, &["path", "payload", "extract_selector"])?;
                    let path =
                        login.get("path").and_then(toml::Value::as_str).ok_or(format!("{at}path is required"))?;
                    config.login = Some(Login {
                        path: path.to_string(),
                        // `${VAR}`s are filled in when this login is used (flags may replace it).
                        payload: login.get("payload").map(to_json).transpose()?.unwrap_or(Value::Null),
                        token_pointer: login
                            .get("extract_selector")
                            .and_then(toml::Value::as_str)
                            .unwrap_or("/access_token")
                            .to_string(),
                        scheme: Some(scheme.clone()),
                    });
                }
            }
        }
        if let Some(seed) = root.get("seed") {
            config.seed = Some(seed.as_integer().ok_or("seed must be an integer")? as u64);
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
            if let Some(seed) = generation.get("seed").and_then(toml::Value::as_integer) {
                config.seed = Some(seed as u64);
            }
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
            let mut parsed = OperationRule::default();
            for (key, value) in rule {
                match key.as_str() {
                    "enabled" => {
                        parsed.enabled = Some(value.as_bool().ok_or(format!("{at}enabled must be true or false"))?)
                    }
                    "checks" => check_tables(
                        table(value, &format!("{at}checks"))?,
                        &format!("{at}checks."),
                        &mut parsed.checks,
                        &mut parsed.expected,
                    )?,
                    other => {
                        let filter = filter_key(other, value, &format!("{at}{other}"))?
                            .ok_or_else(|| format!("{at}{other} is not supported here (supported: enabled, checks, include-*/exclude-* by operation-id, name, path, method, tag, with -regex)"))?;
                        let (include, filter) = filter;
                        if include {
                            parsed.selector.include.push(filter)
                        } else {
                            parsed.selector.exclude.push(filter)
                        }
                    }
                }
            }
            if parsed.selector.is_empty() {
                return Err(format!("{at}: a rule needs an include-* or exclude-* filter"));
            }
            config.operations.push(parsed);
        }
        Ok(config)
    }
}

/// `include-path = "/users"`, `exclude-tag = ["admin"]`, `include-path-regex = "^/v2/"`, ...
fn filter_key(key: &str, value: &toml::Value, at: &str) -> Result<Option<(bool, Filter)>, String> {
    let (include, rest) = match (key.strip_prefix("include-"), key.strip_prefix("exclude-")) {
        (Some(rest), _) => (true, rest),
        (_, Some(rest)) => (false, rest),
        _ => return Ok(None),
    };
    let (field, regex) = match rest.strip_suffix("-regex") {
        Some(field) => (field, true),
        None => (rest, false),
    };
    let field = match field {
        "operation-id" => Field::OperationId,
        "name" => Field::Name,
        "path" => Field::Path,
        "method" => Field::Method,
        "tag" => Field::Tag,
        _ => return Ok(None),
    };
    let values: Vec<String> = match value {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(String::from).ok_or(format!("{at}: expected strings")))
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("{at}: expected a string or a list of strings")),
    };
    let written = format!("{at} = {values:?}");
    Ok(Some((
        include,
        if regex {
            let [pattern] = values.as_slice() else { return Err(format!("{at}: one regular expression")) };
            Filter::regex(field, pattern, written)?
        } else {
            Filter::exact(field, values, written)
        },
    )))
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
        assert_eq!(config.operations.len(), 3);
        assert!(config.operations[0].expected[&Check::PositiveDataAcceptance].contains(&"412".to_string()));
        assert!(config.operations[2].expected[&Check::PositiveDataAcceptance].contains(&"400".to_string()));
        assert_eq!(login.scheme.as_deref(), Some("BearerAuth"));
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
        let e = FileConfig::parse("[[operations]]\ninclude-pth = \"/a\"").unwrap_err();
        assert!(e.contains("operations[0].include-pth is not supported"), "{e}");
        let e = FileConfig::parse("[auth.openapi.key]\ntoken = \"x\"").unwrap_err();
        assert!(e.contains("auth.openapi.key.token is not supported"), "{e}");
    }

    #[test]
    fn the_schemathesis_keys_for_credentials_transport_and_filters_are_read() {
        let config = FileConfig::parse(
            r#"
headers = { X-Trace = "ci" }
workers = 4
request-timeout = 2.5
tls-verify = false
rate-limit = "100/m"
request-cert = "client.pem"
request-cert-key = "client.key"
[auth]
basic = { username = "ann", password = "pw" }
[auth.openapi.ApiKeyAuth]
api_key = "k-1"
[[operations]]
include-path-regex = "^/admin"
exclude-method = ["GET"]
enabled = false
"#,
        )
        .unwrap();
        assert_eq!(config.headers, [("X-Trace".to_string(), "ci".to_string())]);
        assert_eq!((config.workers, config.request_timeout), (Some(4), Some(Duration::from_millis(2500))));
        assert_eq!(config.tls_verify, Some(TlsVerify::Off));
        assert_eq!(config.rate_limit, Some(RateLimit { count: 100, per: Duration::from_secs(60) }));
        assert_eq!(config.basic, Some(("ann".into(), "pw".into())));
        assert_eq!(config.schemes, [("ApiKeyAuth".to_string(), SchemeCredential::ApiKey("k-1".into()))]);
        let rule = &config.operations[0];
        assert_eq!((rule.enabled, rule.selector.include.len(), rule.selector.exclude.len()), (Some(false), 1, 1));
        assert!("3/d".parse::<RateLimit>().is_err());
    }
}
