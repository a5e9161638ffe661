//! Test cases: what to send to one operation, and what the request is meant to be (valid, invalid,
//! missing a header, an undocumented method). The examples, coverage and fuzzing phases are built
//! here, before anything is sent; the stateful phase builds its steps from responses (`stateful.rs`).

use std::collections::HashSet;

use rand::Rng as _;
use serde_json::Value;

use crate::model::{Api, Location, Op, Param};
use crate::values::{Generator, read_wire, to_wire, variants};

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
    /// A method the path does not document: `unsupported_method` applies.
    UnsupportedMethod,
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

/// One request to send.
#[derive(Debug, Clone)]
pub struct Case {
    pub op: usize,
    pub phase: Phase,
    pub intent: Intent,
    /// Upper case; the operation's own method except for unsupported-method cases.
    pub method: String,
    pub path_params: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Case {
    /// Whether any path parameter was made invalid (the request may then miss the route entirely).
    pub fn negative_in_path(&self) -> bool {
        matches!(&self.intent, Intent::Negative(why) if why.starts_with("path "))
    }
}

/// The values of a request before they become text.
#[derive(Clone)]
struct Parts {
    params: Vec<(usize, String)>,
    body: Option<Value>,
}

/// Builds the cases of one operation from a seeded generator.
pub struct Builder<'a> {
    api: &'a Api,
    index: usize,
    op: &'a Op,
    pub generator: Generator<'a>,
}

impl<'a> Builder<'a> {
    /// The seed mixes the operation's id in, so an operation's cases do not depend on the others.
    pub fn new(api: &'a Api, index: usize, seed: u64) -> Self {
        let op = &api.operations[index];
        let id_hash =
            op.id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        Self { api, index, op, generator: Generator::new(&api.spec, seed ^ id_hash) }
    }

    /// A valid text for `param`: its `preferred` value if that is valid on the wire, else generated.
    fn param_text(&mut self, param: &Param, preferred: Option<&Value>) -> Option<String> {
        if let Some(text) = preferred.and_then(to_wire).filter(|t| wire_valid(param, t)) {
            return Some(text);
        }
        for _ in 0..20 {
            let value = self.generator.positive(&param.schema.raw);
            if let Some(text) = to_wire(&value).filter(|t| wire_valid(param, t)) {
                return Some(text);
            }
        }
        None
    }

    /// A valid body: `preferred` if valid, else generated; `None` when none could be found.
    fn body_value(&mut self, preferred: Option<&Value>) -> Option<Value> {
        let schema = self.op.body.as_ref()?.schema.as_ref()?;
        if let Some(value) = preferred.filter(|v| schema.is_valid(v)) {
            return Some(value.clone());
        }
        (0..20).map(|_| self.generator.positive(&schema.raw)).find(|v| schema.is_valid(v))
    }

    /// Valid parts: required parameters always, optional ones when `optional` says so; examples
    /// (the `nth`, cycling) preferred when `examples` is set.
    fn parts(
        &mut self,
        examples: Option<usize>,
        optional: &mut dyn FnMut(&mut Generator<'_>, &Param) -> bool,
    ) -> Option<Parts> {
        let op = self.op;
        let mut params = Vec::new();
        for (i, param) in op.params.iter().enumerate() {
            let example = examples.and_then(|nth| param.examples.get(nth % param.examples.len().max(1)));
            if !(param.required || optional(&mut self.generator, param)) {
                continue;
            }
            params.push((i, self.param_text(param, example)?));
        }
        let body = match &op.body {
            Some(body) if body.schema.is_some() => {
                let example = examples.and_then(|nth| body.examples.get(nth % body.examples.len().max(1)));
                Some(self.body_value(example)?)
            }
            _ => None,
        };
        Some(Parts { params, body })
    }

    fn case(&self, phase: Phase, intent: Intent, parts: &Parts) -> Case {
        let mut case = Case {
            op: self.index,
            phase,
            intent,
            method: self.op.method.clone(),
            path_params: Vec::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: parts.body.clone(),
        };
        for (i, text) in &parts.params {
            let param = &self.op.params[*i];
            let slot = match param.location {
                Location::Path => &mut case.path_params,
                Location::Query => &mut case.query,
                Location::Header => &mut case.headers,
            };
            slot.push((param.name.clone(), text.clone()));
        }
        case
    }

    /// `examples`: one case per documented example of the body (or of the parameters, when the body
    /// has none), other values generated.
    pub fn examples(&mut self) -> Vec<Case> {
        let op = self.op;
        let body_examples = op.body.as_ref().map_or(0, |b| b.examples.len());
        let param_examples = self.op.params.iter().map(|p| p.examples.len()).max().unwrap_or(0);
        let count = body_examples.max(param_examples);
        let mut out = Vec::new();
        for nth in 0..count {
            // A documented body example is sent as written, valid or not: an invalid example is a finding.
            let raw_example = self.op.body.as_ref().and_then(|b| b.examples.get(nth)).cloned();
            let Some(mut parts) = self.parts(Some(nth), &mut |_, p| !p.examples.is_empty()) else { continue };
            let mut intent = Intent::Positive;
            if let (Some(example), Some(schema)) = (raw_example, self.op.body.as_ref().and_then(|b| b.schema.as_ref()))
            {
                if let Some(error) = schema.first_error(&example) {
                    intent = Intent::Negative(format!("body: the documented example is invalid: {error}"));
                }
                parts.body = Some(example);
            }
            out.push(self.case(Phase::Examples, intent, &parts));
        }
        out
    }

    /// `coverage`: from one valid request, every boundary variant of every parameter and of the body,
    /// each required parameter and the required body missing; and each undocumented method of the path.
    pub fn coverage(&mut self, mode: Mode) -> Vec<Case> {
        let Some(base) = self.parts(Some(0), &mut |_, _| false) else { return Vec::new() };
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
        let (api, op) = (self.api, self.op);
        let spec = &api.spec;
        for (i, param) in op.params.iter().enumerate() {
            let current = base.params.iter().find(|(j, _)| *j == i).map(|(_, t)| t.clone());
            let Some(current) = current.or_else(|| self.param_text(param, param.examples.first())) else { continue };
            let with = |text: Option<&str>| {
                let mut parts = base.clone();
                parts.params.retain(|(j, _)| *j != i);
                if let Some(text) = text {
                    parts.params.push((i, text.to_string()));
                    parts.params.sort_by_key(|(j, _)| *j);
                }
                parts
            };
            let base_value = read_wire(&param.flat, &current);
            let mut seen = HashSet::new();
            for variant in variants(spec, &param.schema.raw, &base_value, &mut self.generator) {
                let Some(text) = to_wire(&variant.value).filter(|t| wire_safe(param.location, t)) else { continue };
                if !seen.insert(text.clone()) {
                    continue;
                }
                let intent = if wire_valid(param, &text) {
                    Intent::Positive
                } else {
                    Intent::Negative(format!(
                        "{} parameter {}: {}",
                        location_name(param.location),
                        param.name,
                        variant.what
                    ))
                };
                push(self.case(Phase::Coverage, intent, &with(Some(&text))));
            }
            if param.required && param.location != Location::Path {
                let intent = match param.location {
                    Location::Header => Intent::MissingHeader(param.name.clone()),
                    _ => Intent::Negative(format!("query parameter {}: missing (required)", param.name)),
                };
                push(self.case(Phase::Coverage, intent, &with(None)));
            }
        }
        if let (Some(body), Some(base_body)) = (&op.body, &base.body) {
            let schema = body.schema.as_ref().expect("a generated body has a schema");
            for variant in variants(spec, &schema.raw, base_body, &mut self.generator) {
                // The same change made to a freshly generated body where one can be: a single base
                // body would make every creation after the first a conflict (its unique fields
                // taken), and a 409 hides whether the change itself was accepted.
                let fresh = self.body_value(None).and_then(|fresh| {
                    variants(spec, &schema.raw, &fresh, &mut self.generator)
                        .into_iter()
                        .find(|v| v.what == variant.what)
                });
                let value = fresh.map_or(variant.value, |v| v.value);
                let intent = match schema.first_error(&value) {
                    None => Intent::Positive,
                    Some(_) => Intent::Negative(format!("body {}", variant.what)),
                };
                let parts = Parts { body: Some(value), ..base.clone() };
                push(self.case(Phase::Coverage, intent, &parts));
            }
            if body.required {
                let parts = Parts { body: None, ..base.clone() };
                push(self.case(Phase::Coverage, Intent::Negative("body: missing (required)".into()), &parts));
            }
        }
        // Undocumented methods, once per path (from its first operation).
        let methods = &api.paths[&op.path];
        if mode.negative() && methods.first() == Some(&op.method) {
            for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
                if !methods.iter().any(|m| m == method) {
                    let mut case = self.case(Phase::Coverage, Intent::UnsupportedMethod, &base);
                    case.method = method.to_string();
                    case.body = None;
                    out.push(case);
                }
            }
        }
        out
    }

    /// `fuzzing`: `count` generated cases, alternating valid and invalid ones in mode `all`.
    pub fn fuzzing(&mut self, mode: Mode, count: usize) -> Vec<Case> {
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
            let Some(parts) = self.parts(None, &mut |g, _| g.rng.random_bool(0.5)) else { continue };
            let case = if negative {
                match self.mutate(parts) {
                    Some(case) => case,
                    None => continue,
                }
            } else {
                self.case(Phase::Fuzzing, Intent::Positive, &parts)
            };
            let key =
                format!("{} {:?} {:?} {:?} {:?}", case.method, case.path_params, case.query, case.headers, case.body);
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
        let spec = &api.spec;
        let in_body = parts.body.is_some() && (op.params.is_empty() || self.generator.rng.random_bool(0.6));
        if in_body {
            let schema = op.body.as_ref()?.schema.as_ref()?;
            let base = parts.body.take()?;
            let invalid: Vec<_> = variants(spec, &schema.raw, &base, &mut self.generator)
                .into_iter()
                .filter(|v| !schema.is_valid(&v.value))
                .collect();
            let chosen = invalid.choose(&mut self.generator.rng)?;
            parts.body = Some(chosen.value.clone());
            return Some(self.case(Phase::Fuzzing, Intent::Negative(format!("body {}", chosen.what)), &parts));
        }
        if op.params.is_empty() {
            return None;
        }
        let i = self.generator.rng.random_range(0..op.params.len());
        let param = &op.params[i];
        let current = match parts.params.iter().find(|(j, _)| *j == i) {
            Some((_, text)) => text.clone(),
            None => self.param_text(param, None)?,
        };
        let base = read_wire(&param.flat, &current);
        let invalid: Vec<(String, String)> = variants(spec, &param.schema.raw, &base, &mut self.generator)
            .into_iter()
            .filter_map(|v| to_wire(&v.value).map(|t| (t, v.what)))
            .filter(|(t, _)| wire_safe(param.location, t) && !wire_valid(param, t))
            .collect();
        let (text, what) = invalid.choose(&mut self.generator.rng)?.clone();
        parts.params.retain(|(j, _)| *j != i);
        parts.params.push((i, text));
        let why = format!("{} parameter {}: {what}", location_name(param.location), param.name);
        Some(self.case(Phase::Fuzzing, Intent::Negative(why), &parts))
    }

    /// A valid case with the given parameter texts and body forced (stateful steps follow links).
    /// Like [`Self::valid`], it leaves optional headers out.
    pub fn linked(&mut self, phase: Phase, params: &[(String, String)], body: Option<Value>) -> Option<Case> {
        let mut parts = self.parts(None, &mut |g, p| {
            params.iter().any(|(name, _)| *name == p.name) || (p.location != Location::Header && g.rng.random_bool(0.3))
        })?;
        for (name, text) in params {
            if let Some(i) = self.op.params.iter().position(|p| p.name == *name) {
                parts.params.retain(|(j, _)| *j != i);
                parts.params.push((i, text.clone()));
            }
        }
        parts.params.sort_by_key(|(j, _)| *j);
        if body.is_some() {
            parts.body = body;
        }
        Some(self.case(phase, Intent::Positive, &parts))
    }

    /// A valid generated case. Optional headers are left out: they carry state (a replayed
    /// Idempotency-Key answers with a resource since deleted, a drawn If-Match with 412) that would
    /// end a resource's lifecycle before it is followed.
    pub fn valid(&mut self, phase: Phase) -> Option<Case> {
        let parts = self.parts(None, &mut |g, p| p.location != Location::Header && g.rng.random_bool(0.3))?;
        Some(self.case(phase, Intent::Positive, &parts))
    }
}

fn location_name(location: Location) -> &'static str {
    match location {
        Location::Path => "path",
        Location::Query => "query",
        Location::Header => "header",
    }
}

/// Whether `text` can travel in `location` unchanged: no empty or dot path segments (clients
/// normalise them away), header values of visible ASCII without surrounding blanks.
fn wire_safe(location: Location, text: &str) -> bool {
    match location {
        Location::Path => !text.is_empty() && text != "." && text != "..",
        Location::Header => !text.is_empty() && text.trim() == text && text.bytes().all(|b| (0x20..0x7f).contains(&b)),
        Location::Query => true,
    }
}

/// Whether the server, reading `text` for `param`, gets a valid value.
fn wire_valid(param: &Param, text: &str) -> bool {
    wire_safe(param.location, text) && param.schema.is_valid(&read_wire(&param.flat, text))
}
