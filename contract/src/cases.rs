//! Test cases: what to send to one operation, and what the request is meant to be (valid, invalid,
//! missing a header, an undocumented method). The examples, coverage and fuzzing phases are built
//! here, before anything is sent; the stateful phase builds its steps from responses (`runner.rs`).
//!
//! Parameters are held as written on the wire (`wire::Written`) and bodies as encoded payloads, so
//! what is classified is exactly what is sent. A case is valid or invalid by what the server reads
//! back (`wire::read_param`, `wire::read_body`) checked against the schema.

use std::collections::HashSet;

use rand::Rng as _;
use serde_json::Value;

use crate::model::{Api, Location, Media, Op, Param};
use crate::values::{Generator, flatten, variants};
use crate::wire::{Payload, Written, read_body, read_param, write_body, write_param};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Examples,
    Coverage,
    Fuzzing,
    Stateful,
}

impl Phase {
    pub const ALL: [Phase; 4] = [Phase::Examples, Phase::Coverage, Phase::Fuzzing, Phase::Stateful];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Examples => "examples",
            Phase::Coverage => "coverage",
            Phase::Fuzzing => "fuzzing",
            Phase::Stateful => "stateful",
        }
    }
}

/// What a request is meant to be, which decides the checks that apply to its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Valid by the schemas: `positive_data_acceptance` applies.
    Positive,
    /// Invalid by the schemas (the reason given): `negative_data_rejection` applies.
    Negative(String),
    /// A required header left out: `missing_required_header` applies.
    MissingHeader(String),
    /// A method the path does not document: `unsupported_method` applies, and
    /// `allow_header_conformance` to the `Allow` of a 405 (the path's documented methods given).
    UnsupportedMethod(Vec<String>),
    /// A request whose validity the document does not decide (the reason given): duplicate member
    /// names, whose meaning RFC 8259 leaves to the parser. Any 2xx or 4xx will do; only the
    /// response's own conformance and `not_a_server_error` judge it.
    Ambiguous(String),
    /// A valid body under a media type the operation does not document (given): only
    /// `unsupported_media_type` (opt-in) judges it.
    UndocumentedMediaType(String),
    /// OPTIONS on a path that does not document it: `allow_header_conformance` judges the `Allow`
    /// it answers against the path's documented methods (given, upper case).
    Options(Vec<String>),
}

impl Intent {
    /// Whether only its own check judges the answer (not the documented responses).
    pub fn judged_apart(&self) -> bool {
        matches!(self, Self::UndocumentedMediaType(_)) || self.is_undocumented_method()
    }

    /// A method the path does not document (OPTIONS included).
    pub fn is_undocumented_method(&self) -> bool {
        matches!(self, Self::UnsupportedMethod(_) | Self::Options(_))
    }
}

/// Which data generation a run uses (Schemathesis's `generation.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Positive,
    Negative,
    All,
}

impl Mode {
    fn positive(self) -> bool {
        self != Mode::Negative
    }
    fn negative(self) -> bool {
        self != Mode::Positive
    }
}

/// A request body of a case: the value, the media type it is written in, and the bytes.
#[derive(Debug, Clone)]
pub struct CaseBody {
    /// Index into the operation's body media types.
    pub media: usize,
    pub value: Value,
    pub payload: Payload,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Case {
    pub op: usize,
    pub phase: Phase,
    pub intent: Intent,
    /// Upper case; the operation's own method except for unsupported-method cases.
    pub method: String,
    /// `(parameter index, as written)`, in parameter order.
    pub params: Vec<(usize, Written)>,
    pub body: Option<CaseBody>,
    /// The injection probe this case carries (`SQL in query parameter q`): a 5xx answer to it is
    /// reported as a likely injection.
    pub probe: Option<String>,
}

impl Case {
    /// Whether any path parameter was made invalid (the request may then miss the route entirely).
    pub fn negative_in_path(&self) -> bool {
        matches!(&self.intent, Intent::Negative(why) if why.starts_with("path "))
    }

    /// The value the server reads for the parameter called `name` in `location` (any location when
    /// `None`), for link expressions such as `$request.path.id`.
    pub fn param_value(&self, op: &Op, name: &str, location: Option<Location>) -> Option<Value> {
        self.params.iter().find_map(|(i, written)| {
            let p = &op.params[*i];
            (p.name.eq_ignore_ascii_case(name) && location.is_none_or(|l| l == p.location))
                .then(|| read_param(p, written))
                .flatten()
        })
    }
}

/// The values of a request before they become a case.
#[derive(Clone)]
struct Parts {
    params: Vec<(usize, Written)>,
    body: Option<CaseBody>,
}

/// Real identifiers seen in answers, by the path parameter they fill: the key is the path template
/// up to and including the parameter, then `#` and its name (`/items/{itemId}#itemId`).
pub type Pool = std::collections::HashMap<String, Vec<Pooled>>;

/// An identifier an answer gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    pub value: Value,
    /// Whether this run created it (a create's answer), rather than saw it (a listing): only what
    /// the run created is ever changed or deleted, never the deployment's own data.
    pub created: bool,
    /// The path parameters of the request that gave it, by pool key: the user a note was created
    /// under (`/users/{userId}#userId`), with which the note is addressed again.
    pub parents: Vec<(String, Value)>,
}

impl Pooled {
    /// Whether it can be addressed under the enclosing values `fixed` (pool key to value): none of
    /// its parents disagrees with them.
    pub fn fits(&self, fixed: &[(String, Value)]) -> bool {
        self.parents.iter().all(|(key, value)| fixed.iter().all(|(k, v)| k != key || v == value))
    }
}

/// The pool key of path parameter `name` of `path`, if `path` has it.
pub fn pool_key(path: &str, name: &str) -> Option<String> {
    let placeholder = format!("{{{name}}}");
    let end = path.find(&placeholder)? + placeholder.len();
    Some(format!("{}#{name}", &path[..end]))
}

/// Builds the cases of one operation from a seeded generator.
pub struct Builder<'a> {
    api: &'a Api,
    index: usize,
    op: &'a Op,
    pub generator: Generator<'a>,
    /// Identifiers earlier answers gave, used for path parameters where they fit...
    pool: Option<&'a Pool>,
    /// ...this often (the coverage phase's base request always).
    pool_odds: f64,
    /// Whether the coverage phase sends a valid body under an undocumented media type (for the
    /// opt-in `unsupported_media_type` check).
    pub media_probe: bool,
}

/// Whether `written` reads back, for `param`, as a valid value (absent counts when optional).
fn param_valid(param: &Param, written: &Written) -> bool {
    match read_param(param, written) {
        Some(value) => param.schema.is_valid(&value),
        None => !param.required,
    }
}

impl<'a> Builder<'a> {
    /// The seed mixes the operation's id in, so an operation's cases do not depend on the others.
    pub fn new(api: &'a Api, index: usize, seed: u64) -> Self {
        let op = &api.operations[index];
        let id_hash =
            op.id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        Self {
            api,
            index,
            op,
            generator: Generator::new(&api.requests, seed ^ id_hash),
            pool: None,
            pool_odds: 0.8,
            media_probe: false,
        }
    }

    /// Path parameters drawn, most of the time, from identifiers the server has answered with: a
    /// generated identifier rarely names anything, and the operation's logic is never reached.
    pub fn with_pool(mut self, pool: &'a Pool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Pooled identifiers for the path parameters, by parameter index, each written and fitting its
    /// schema, chosen together: the innermost first, then each enclosing one from the request that
    /// gave it (a note is read under the user it was created under, not under a user drawn on its
    /// own, which a server that checks ownership answers with 404). An enclosing parameter no
    /// chosen identifier names is drawn from its own pool, among the values that fit what is chosen.
    fn pooled_path(&mut self) -> std::collections::HashMap<usize, Written> {
        let mut chosen = std::collections::HashMap::new();
        let Some(pool) = self.pool else { return chosen };
        let op = self.op;
        let reads = matches!(op.method.as_str(), "GET" | "HEAD");
        let mut params: Vec<(usize, &Param, usize, String)> = op
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.location == Location::Path)
            .filter_map(|(i, p)| {
                let at = op.path.find(&format!("{{{}}}", p.name))?;
                Some((i, p, at, pool_key(&op.path, &p.name)?))
            })
            .collect();
        params.sort_by_key(|&(_, _, depth, _)| std::cmp::Reverse(depth));
        // Pool key -> the value an identifier chosen below it was given under.
        let mut fixed: Vec<(String, Value)> = Vec::new();
        for (i, param, _, key) in params {
            if let Some((_, value)) = fixed.iter().find(|(k, _)| *k == key)
                && let Some(written) = write_param(param, value).filter(|w| param_valid(param, w))
            {
                chosen.insert(i, written);
                continue;
            }
            let candidates: Vec<&Pooled> =
                pool.get(&key).into_iter().flatten().filter(|p| (reads || p.created) && p.fits(&fixed)).collect();
            if candidates.is_empty() || !self.generator.rng.random_bool(self.pool_odds) {
                continue;
            }
            let pick = candidates[self.generator.rng.random_range(0..candidates.len())];
            if let Some(written) = write_param(param, &pick.value).filter(|w| param_valid(param, w)) {
                chosen.insert(i, written);
                fixed.push((key, pick.value.clone()));
                for parent in &pick.parents {
                    if !fixed.iter().any(|(k, _)| *k == parent.0) {
                        fixed.push(parent.clone());
                    }
                }
            }
        }
        chosen
    }

    /// A valid written form of `param`: its `preferred` value if that reads back valid, else generated.
    fn param_text(&mut self, param: &Param, preferred: Option<&Value>) -> Option<Written> {
        if let Some(written) = preferred.and_then(|v| write_param(param, v)).filter(|w| param_valid(param, w)) {
            return Some(written);
        }
        for _ in 0..30 {
            let value = self.generator.positive(&param.schema.raw);
            if let Some(written) = write_param(param, &value).filter(|w| param_valid(param, w)) {
                return Some(written);
            }
        }
        None
    }

    /// Why no valid value of `param` could be written, for the report.
    pub fn param_failure(param: &Param) -> String {
        format!(
            "{}: no valid value of {} parameter {} could be written in style {}{} (it reads back invalid)",
            param.pointer,
            param.location.name(),
            param.name,
            param.style.name(),
            if param.explode { ", explode" } else { "" }
        )
    }

    fn encode(&self, media: usize, value: Value) -> Option<CaseBody> {
        let m = &self.op.body.as_ref()?.media[media];
        let flat = m.schema.as_ref().map_or(Value::Bool(true), |s| flatten(&self.api.requests, &s.raw));
        let payload = write_body(m, &value, &flat, &self.api.requests)?;
        Some(CaseBody { media, value, payload })
    }

    /// Whether the server reads `body` as valid for its media type's schema.
    fn body_valid(&self, body: &CaseBody) -> Option<String> {
        let m = &self.op.body.as_ref()?.media[body.media];
        let schema = m.schema.as_ref()?;
        let flat = flatten(&self.api.requests, &schema.raw);
        schema.first_error(&read_body(m, &body.value, &flat, &self.api.requests))
    }

    /// A valid body of media type `media`: `preferred` if valid, else generated.
    fn body_value(&mut self, media: usize, preferred: Option<&Value>) -> Option<CaseBody> {
        let m: &Media = &self.op.body.as_ref()?.media[media];
        let Some(schema) = &m.schema else {
            // Any content is allowed: a small object for JSON, a few words or bytes otherwise.
            let value = preferred.cloned().unwrap_or_else(|| match m.encoding {
                crate::model::Encoding::Json => Value::Object(Default::default()),
                _ => Value::String(format!("contract-{}", self.generator.rng.random_range(0..1_000_000))),
            });
            return self.encode(media, value);
        };
        if let Some(body) =
            preferred.cloned().and_then(|v| self.encode(media, v)).filter(|b| self.body_valid(b).is_none())
        {
            return Some(body);
        }
        let raw = schema.raw.clone();
        for _ in 0..30 {
            let value = self.generator.positive(&raw);
            if let Some(body) = self.encode(media, value).filter(|b| self.body_valid(b).is_none()) {
                return Some(body);
            }
        }
        None
    }

    /// The usable media types of the body, JSON first.
    fn media_order(&self) -> Vec<usize> {
        let Some(body) = &self.op.body else { return Vec::new() };
        let mut order: Vec<usize> = body.usable().map(|(i, _)| i).collect();
        order.sort_by_key(|&i| body.media[i].encoding != crate::model::Encoding::Json);
        order
    }

    /// Valid parts: required parameters always, optional ones when `optional` says so; examples
    /// (the `nth`, cycling) preferred when `examples` is set; the body in media type `media`.
    fn parts(
        &mut self,
        examples: Option<usize>,
        media: Option<usize>,
        optional: &mut dyn FnMut(&mut Generator<'_>, &Param) -> bool,
    ) -> Result<Parts, String> {
        let op = self.op;
        let mut params = Vec::new();
        let mut pooled = self.pooled_path();
        for (i, param) in op.params.iter().enumerate() {
            let example = examples.and_then(|nth| param.examples.get(nth % param.examples.len().max(1)));
            if !(param.required || optional(&mut self.generator, param)) {
                continue;
            }
            if let Some(written) = pooled.remove(&i) {
                params.push((i, written));
                continue;
            }
            match self.param_text(param, example) {
                Some(written) => params.push((i, written)),
                None if param.required => return Err(Self::param_failure(param)),
                None => {}
            }
        }
        let body = match (&op.body, media) {
            (Some(body), Some(m)) => {
                let media = &body.media[m];
                let example = examples.and_then(|nth| media.examples.get(nth % media.examples.len().max(1)));
                match self.body_value(m, example) {
                    Some(b) => Some(b),
                    None if body.required => {
                        return Err(format!(
                            "{}: no valid {} body could be generated",
                            media.pointer, media.media_type
                        ));
                    }
                    None => None,
                }
            }
            _ => None,
        };
        Ok(Parts { params, body })
    }

    fn case(&self, phase: Phase, intent: Intent, parts: &Parts) -> Case {
        Case {
            op: self.index,
            phase,
            intent,
            method: self.op.method.clone(),
            params: parts.params.clone(),
            body: parts.body.clone(),
            probe: None,
        }
    }

    /// Why no valid request can be built for this operation, or `Ok` with one valid case.
    pub fn probe(&mut self) -> Result<Case, String> {
        if let Some(why) = &self.op.untestable {
            return Err(why.clone());
        }
        let media = self.media_order().first().copied();
        let parts = self.parts(Some(0), media, &mut |_, _| false)?;
        Ok(self.case(Phase::Coverage, Intent::Positive, &parts))
    }

    /// `examples`: one case per documented example of each body media type (or of the parameters,
    /// when the body has none), other values generated.
    pub fn examples(&mut self) -> Vec<Case> {
        let op = self.op;
        let mut out = Vec::new();
        let param_examples = op.params.iter().map(|p| p.examples.len()).max().unwrap_or(0);
        let mut media_examples: Vec<(Option<usize>, usize)> = self
            .media_order()
            .into_iter()
            .map(|m| (Some(m), op.body.as_ref().map_or(0, |b| b.media[m].examples.len())))
            .collect();
        if media_examples.iter().all(|(_, n)| *n == 0) {
            media_examples = vec![(self.media_order().first().copied(), 0)];
        }
        for (media, body_examples) in media_examples {
            let count = body_examples.max(param_examples);
            for nth in 0..count {
                let Ok(mut parts) = self.parts(Some(nth), media, &mut |_, p| !p.examples.is_empty()) else { continue };
                let mut intent = Intent::Positive;
                // A documented body example is sent as written, valid or not: an invalid example is a finding.
                if let Some(m) = media
                    && let Some(example) = op.body.as_ref().and_then(|b| b.media[m].examples.get(nth)).cloned()
                    && let Some(body) = self.encode(m, example)
                {
                    if let Some(error) = self.body_valid(&body) {
                        intent = Intent::Negative(format!("body: the documented example is invalid: {error}"));
                    }
                    parts.body = Some(body);
                }
                out.push(self.case(Phase::Examples, intent, &parts));
            }
        }
        out
    }

    /// `coverage`: from one valid request, every boundary variant of every parameter and of the
    /// body, each required parameter and the required body missing, a valid body of every other
    /// media type; and each undocumented method of the path.
    pub fn coverage(&mut self, mode: Mode) -> Vec<Case> {
        let order = self.media_order();
        // Every variant changes one thing of the base request: with a real identifier in its path,
        // each reaches the operation's logic rather than a 404.
        self.pool_odds = 1.0;
        let base = self.parts(Some(0), order.first().copied(), &mut |_, _| false);
        self.pool_odds = 0.8;
        let Ok(base) = base else { return Vec::new() };
        let mut out = Vec::new();
        let mut push = |case: Case| {
            let wanted = match case.intent {
                Intent::Positive => mode.positive(),
                _ => mode.negative(),
            };
            if wanted {
                out.push(case);
            }
        };
        push(self.case(Phase::Coverage, Intent::Positive, &base));
        for &m in order.iter().skip(1) {
            if let Ok(parts) = self.parts(Some(0), Some(m), &mut |_, _| false) {
                push(self.case(Phase::Coverage, Intent::Positive, &parts));
            }
        }
        let (api, op) = (self.api, self.op);
        let spec = &api.requests;
        for (i, param) in op.params.iter().enumerate() {
            let current = base.params.iter().find(|(j, _)| *j == i).map(|(_, t)| t.clone());
            let Some(current) = current.or_else(|| self.param_text(param, param.examples.first())) else { continue };
            let with = |written: Option<Written>| {
                let mut parts = base.clone();
                parts.params.retain(|(j, _)| *j != i);
                if let Some(written) = written {
                    parts.params.push((i, written));
                    parts.params.sort_by_key(|(j, _)| *j);
                }
                parts
            };
            let Some(base_value) = read_param(param, &current) else { continue };
            let mut seen = HashSet::new();
            for variant in variants(spec, &param.schema.raw, &base_value, &mut self.generator) {
                if variant.json_only {
                    continue;
                }
                let Some(written) = write_param(param, &variant.value) else { continue };
                if !seen.insert(written.clone()) {
                    continue;
                }
                let intent = if param_valid(param, &written) {
                    Intent::Positive
                } else {
                    Intent::Negative(format!("{} parameter {}: {}", param.location.name(), param.name, variant.what))
                };
                push(self.case(Phase::Coverage, intent, &with(Some(written))));
            }
            if param.required && param.location != Location::Path {
                let intent = match param.location {
                    Location::Header => Intent::MissingHeader(param.name.clone()),
                    location => {
                        Intent::Negative(format!("{} parameter {}: missing (required)", location.name(), param.name))
                    }
                };
                push(self.case(Phase::Coverage, intent, &with(None)));
            }
        }
        if let (Some(body), Some(base_body)) = (&op.body, &base.body)
            && let Some(schema) = body.media[base_body.media].schema.as_ref()
        {
            let m = base_body.media;
            let json = crate::model::is_json(&body.media[m].media_type);
            for variant in variants(spec, &schema.raw, &base_body.value, &mut self.generator) {
                if variant.json_only && !json {
                    continue;
                }
                // The same change made to a freshly generated body where one can be: a single base
                // body would make every creation after the first a conflict (its unique fields
                // taken), and a 409 hides whether the change itself was accepted.
                let fresh = self.body_value(m, None).and_then(|fresh| {
                    variants(spec, &schema.raw, &fresh.value, &mut self.generator)
                        .into_iter()
                        .find(|v| v.what == variant.what)
                });
                let value = fresh.map_or(variant.value, |v| v.value);
                let Some(encoded) = self.encode(m, value) else { continue };
                let intent = match self.body_valid(&encoded) {
                    None => Intent::Positive,
                    Some(_) => Intent::Negative(format!("body {}", variant.what)),
                };
                let parts = Parts { body: Some(encoded), ..base.clone() };
                push(self.case(Phase::Coverage, intent, &parts));
            }
        }
        if let Some(body) = &op.body
            && body.required
        {
            let parts = Parts { body: None, ..base.clone() };
            push(self.case(Phase::Coverage, Intent::Negative("body: missing (required)".into()), &parts));
        }
        for case in self.injection_probes(&base) {
            push(case);
        }
        // A valid body under a media type the operation does not document (RFC 9110 §15.5.16: 415).
        if self.media_probe
            && let (Some(body), Some(base_body)) = (&op.body, &base.body)
        {
            let documented = |m: &str| body.media.iter().any(|d| d.media_type.eq_ignore_ascii_case(m));
            if let Some(other) = ["text/plain", "application/octet-stream"].into_iter().find(|m| !documented(m)) {
                let payload =
                    crate::wire::Payload { content_type: other.to_string(), bytes: base_body.payload.bytes.clone() };
                let parts = Parts { body: Some(CaseBody { payload, ..base_body.clone() }), ..base.clone() };
                push(self.case(Phase::Coverage, Intent::UndocumentedMediaType(other.into()), &parts));
            }
        }
        // A JSON object body with a member named twice, the same value both times.
        if let Some(base_body) = &base.body
            && let Some(media) = op.body.as_ref().map(|b| &b.media[base_body.media])
            && crate::model::is_json(&media.media_type)
            && let Some((name, value)) = base_body.value.as_object().and_then(|o| o.iter().next())
        {
            let text = base_body.payload.bytes.clone();
            let member = format!("{}:{},", Value::String(name.clone()), value);
            if text.first() == Some(&b'{') {
                let bytes = [b"{".as_slice(), member.as_bytes(), &text[1..]].concat();
                let payload = crate::wire::Payload { content_type: base_body.payload.content_type.clone(), bytes };
                let twice = CaseBody { media: base_body.media, value: base_body.value.clone(), payload };
                let parts = Parts { body: Some(twice), ..base.clone() };
                let why = format!("body: the member {name} twice, with the same value");
                push(self.case(Phase::Coverage, Intent::Ambiguous(why), &parts));
            }
        }
        // Bodies no parser can read, in each JSON media type: cut short, and not UTF-8 (RFC 8259 §8.1).
        if let (Some(body), Some(base_body)) = (&op.body, &base.body) {
            for (m, media) in body.media.iter().enumerate().filter(|(_, m)| crate::model::is_json(&m.media_type)) {
                let valid = if m == base_body.media { Some(base_body.payload.bytes.clone()) } else { None };
                let Some(valid) = valid.or_else(|| Some(self.body_value(m, None)?.payload.bytes)) else { continue };
                // An object, array or string missing its last byte; anything else with a stray `]`.
                let cut = match valid.first() {
                    Some(b'{' | b'[' | b'"') if valid.len() > 1 => valid[..valid.len() - 1].to_vec(),
                    _ => [valid.as_slice(), b"]"].concat(),
                };
                let mut latin1 = vec![0xff, 0xfe];
                latin1.extend_from_slice(&valid);
                for (bytes, what) in [(cut, "body: malformed JSON (cut short)"), (latin1, "body: not UTF-8")] {
                    let payload = crate::wire::Payload { content_type: media.media_type.clone(), bytes };
                    let broken = CaseBody { media: m, value: Value::Null, payload };
                    let parts = Parts { body: Some(broken), ..base.clone() };
                    push(self.case(Phase::Coverage, Intent::Negative(what.into()), &parts));
                }
            }
        }
        // Undocumented methods (Schemathesis's list), once per path (from its first operation).
        let methods = &api.paths[&op.path];
        if mode.negative() && methods.first() == Some(&op.method) {
            for method in ["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "TRACE", "QUERY"] {
                if methods.iter().any(|m| m == method) || shadowed(api, &op.path, method) {
                    continue;
                }
                let intent = match method {
                    "OPTIONS" => Intent::Options(methods.clone()),
                    _ => Intent::UnsupportedMethod(methods.clone()),
                };
                let mut case = self.case(Phase::Coverage, intent, &base);
                case.method = method.to_string();
                case.body = None;
                out.push(case);
            }
        }
        out
    }

    /// Injection probes: each string parameter and each string member of the body, in turn, set to
    /// text that a query, template or path built by concatenation would choke on. Valid or not by
    /// the schema, the server must not fail with a 5xx.
    fn injection_probes(&mut self, base: &Parts) -> Vec<Case> {
        let mut out = Vec::new();
        let op = self.op;
        for (i, param) in op.params.iter().enumerate() {
            let stringy = param.schema.raw.get("type").is_none_or(|t| t == "string");
            if !stringy || param.content_type.is_some() {
                continue;
            }
            for (kind, text) in INJECTIONS {
                let Some(written) = write_param(param, &Value::String(text.to_string())) else { continue };
                let mut parts = base.clone();
                parts.params.retain(|(j, _)| *j != i);
                parts.params.push((i, written.clone()));
                parts.params.sort_by_key(|(j, _)| *j);
                let place = format!("{} parameter {}", param.location.name(), param.name);
                out.push(self.probe_case(&parts, param_valid(param, &written), kind, &place));
            }
        }
        if let Some(base_body) = &base.body
            && let Some(members) = base_body.value.as_object()
        {
            let strings: Vec<String> = members.iter().filter(|(_, v)| v.is_string()).map(|(k, _)| k.clone()).collect();
            for member in strings {
                for (kind, text) in INJECTIONS {
                    let mut value = base_body.value.clone();
                    value[&member] = Value::String(text.to_string());
                    let Some(encoded) = self.encode(base_body.media, value) else { continue };
                    let valid = self.body_valid(&encoded).is_none();
                    let parts = Parts { body: Some(encoded), ..base.clone() };
                    out.push(self.probe_case(&parts, valid, kind, &format!("body member {member}")));
                }
            }
        }
        out
    }

    fn probe_case(&self, parts: &Parts, valid: bool, kind: &str, place: &str) -> Case {
        let probe = format!("{kind} in {place}");
        let intent = if valid { Intent::Positive } else { Intent::Negative(format!("{place}: {kind} probe")) };
        Case { probe: Some(probe), ..self.case(Phase::Coverage, intent, parts) }
    }

    /// Cases one step smaller than `case`: each optional parameter left out, each optional member
    /// of a JSON object body left out (the body re-encoded).
    pub fn smaller(&self, case: &Case) -> Vec<Case> {
        let mut out = Vec::new();
        for (at, (i, _)) in case.params.iter().enumerate() {
            if !self.op.params[*i].required {
                let mut smaller = case.clone();
                smaller.params.remove(at);
                out.push(smaller);
            }
        }
        if let Some(body) = &case.body
            && let Some(members) = body.value.as_object()
            && crate::model::is_json(&body.payload.content_type)
        {
            let media = &self.op.body.as_ref().map(|b| &b.media[body.media]);
            let flat = media.and_then(|m| m.schema.as_ref()).map(|s| flatten(&self.api.requests, &s.raw));
            let required: Vec<&str> = flat
                .as_ref()
                .and_then(|f| f.get("required"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for name in members.keys().filter(|k| !required.contains(&k.as_str())) {
                let mut value = body.value.clone();
                value.as_object_mut().expect("an object").remove(name);
                if let Some(encoded) = self.encode(body.media, value) {
                    out.push(Case { body: Some(encoded), ..case.clone() });
                }
            }
        }
        out
    }

    /// `fuzzing`: `count` generated cases, alternating valid and invalid ones in mode `all`, cycling
    /// through the body's media types.
    pub fn fuzzing(&mut self, mode: Mode, count: usize) -> Vec<Case> {
        let order = self.media_order();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut attempts = 0;
        while out.len() < count && attempts < count * 3 {
            attempts += 1;
            let negative = match mode {
                Mode::Positive => false,
                Mode::Negative => true,
                Mode::All => attempts % 2 == 0,
            };
            let media = (!order.is_empty()).then(|| order[attempts % order.len()]);
            let Ok(parts) = self.parts(None, media, &mut |g, _| g.rng.random_bool(0.5)) else { continue };
            let case = if negative {
                match self.mutate(parts) {
                    Some(case) => case,
                    None => continue,
                }
            } else {
                self.case(Phase::Fuzzing, Intent::Positive, &parts)
            };
            let key = format!(
                "{} {:?} {:?}",
                case.method,
                case.params,
                case.body.as_ref().map(|b| (&b.payload.content_type, &b.payload.bytes))
            );
            if seen.insert(key) {
                out.push(case);
            }
        }
        out
    }

    /// One invalid variant of `parts`, in the body or in one parameter, chosen at random.
    fn mutate(&mut self, mut parts: Parts) -> Option<Case> {
        use rand::seq::IndexedRandom;
        let (api, op) = (self.api, self.op);
        let spec = &api.requests;
        let in_body = parts.body.is_some() && (op.params.is_empty() || self.generator.rng.random_bool(0.6));
        if in_body {
            let base = parts.body.take()?;
            let schema = op.body.as_ref()?.media[base.media].schema.as_ref()?;
            let mut invalid = Vec::new();
            for v in variants(spec, &schema.raw, &base.value, &mut self.generator) {
                if let Some(encoded) = self.encode(base.media, v.value)
                    && self.body_valid(&encoded).is_some()
                {
                    invalid.push((encoded, v.what));
                }
            }
            let (chosen, what) = invalid.choose(&mut self.generator.rng)?.clone();
            parts.body = Some(chosen);
            return Some(self.case(Phase::Fuzzing, Intent::Negative(format!("body {what}")), &parts));
        }
        if op.params.is_empty() {
            return None;
        }
        let i = self.generator.rng.random_range(0..op.params.len());
        let param = &op.params[i];
        let current = match parts.params.iter().find(|(j, _)| *j == i) {
            Some((_, written)) => written.clone(),
            None => self.param_text(param, None)?,
        };
        let base = read_param(param, &current)?;
        let invalid: Vec<(Written, String)> = variants(spec, &param.schema.raw, &base, &mut self.generator)
            .into_iter()
            .filter_map(|v| write_param(param, &v.value).map(|w| (w, v.what)))
            .filter(|(w, _)| !param_valid(param, w))
            .collect();
        let (written, what) = invalid.choose(&mut self.generator.rng)?.clone();
        parts.params.retain(|(j, _)| *j != i);
        parts.params.push((i, written));
        parts.params.sort_by_key(|(j, _)| *j);
        let why = format!("{} parameter {}: {what}", param.location.name(), param.name);
        Some(self.case(Phase::Fuzzing, Intent::Negative(why), &parts))
    }

    /// A valid case with the given parameter values and body forced (stateful steps follow links).
    /// Like [`Self::valid`], it leaves optional headers out.
    pub fn linked(&mut self, phase: Phase, params: &[(String, Value)], body: Option<Value>) -> Option<Case> {
        let media = self.media_order().first().copied();
        let mut parts = self
            .parts(None, media, &mut |g, p| {
                params.iter().any(|(name, _)| *name == p.name)
                    || (p.location != Location::Header && g.rng.random_bool(0.3))
            })
            .ok()?;
        for (name, value) in params {
            if let Some(i) = self.op.params.iter().position(|p| p.name == *name) {
                let written = write_param(&self.op.params[i], value)?;
                parts.params.retain(|(j, _)| *j != i);
                parts.params.push((i, written));
            }
        }
        parts.params.sort_by_key(|(j, _)| *j);
        if let (Some(value), Some(m)) = (body, media) {
            parts.body = Some(self.encode(m, value)?);
        }
        Some(self.case(phase, Intent::Positive, &parts))
    }

    /// A valid case with `params` and nothing optional: a plain read, such as a whole listing.
    pub fn bare(&mut self, phase: Phase, params: &[(String, Value)]) -> Option<Case> {
        let mut parts = self.parts(None, None, &mut |_, _| false).ok()?;
        for (name, value) in params {
            if let Some(i) = self.op.params.iter().position(|p| p.name == *name) {
                parts.params.retain(|(j, _)| *j != i);
                parts.params.push((i, write_param(&self.op.params[i], value)?));
            }
        }
        parts.params.sort_by_key(|(j, _)| *j);
        Some(self.case(phase, Intent::Positive, &parts))
    }

    /// A valid generated case. Optional headers are left out: they carry state (a replayed
    /// Idempotency-Key answers with a resource since deleted, a drawn If-Match with 412) that would
    /// end a resource's lifecycle before it is followed.
    pub fn valid(&mut self, phase: Phase) -> Option<Case> {
        let media = self.media_order().first().copied();
        let parts =
            self.parts(None, media, &mut |g, p| p.location != Location::Header && g.rng.random_bool(0.3)).ok()?;
        Some(self.case(phase, Intent::Positive, &parts))
    }
}

/// What the injection probes send, by kind: SQL, NoSQL operators, path traversal, template
/// expressions, and a shell substitution.
const INJECTIONS: [(&str, &str); 8] = [
    // An unbalanced quote of each kind breaks a statement built by concatenation; the balanced
    // one changes its meaning without breaking it.
    ("SQL injection", "O'Brien"),
    ("SQL injection", "x\")) --"),
    ("SQL injection", "' OR '1'='1' --"),
    ("NoSQL injection", "{\"$gt\": \"\"}"),
    ("path traversal", "../../../../etc/passwd"),
    ("template injection", "{{7*7}}${7*7}<%= 7*7 %>"),
    ("command injection", "$(sleep 0)`true`;|"),
    ("format string", "%s%s%s%n%x{0}"),
];

/// Whether `method` on the literal `path` is served by another documented path whose templated
/// segment matches the literal one (`GET /users/signup` is `GET /users/{id}` with id `signup`): a
/// request there never reaches a 405.
fn shadowed(api: &Api, path: &str, method: &str) -> bool {
    let segments: Vec<&str> = path.split('/').collect();
    api.paths.iter().any(|(other, methods)| {
        let theirs: Vec<&str> = other.split('/').collect();
        other != path
            && methods.iter().any(|m| m == method)
            && theirs.len() == segments.len()
            && theirs.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.starts_with('{')))
    })
}
