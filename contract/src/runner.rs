//! Sends cases concurrently, applies the checks, probes authentication, follows links (the stateful
//! phase) and collects what failed, each failure with the request that reproduces it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::cases::{Builder, Case, Intent, Phase};
use crate::checks::{Check, Expectations, Received, evaluate};
use crate::config::Login;
use crate::model::{Api, Link, Op, Scheme};
use crate::report::{Finding, Sent};
use crate::values::to_wire;

/// The credentials a run sends where operations require them.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub bearer: Option<String>,
    pub api_key: Option<String>,
    /// Counts logins, so that concurrent workers seeing the same revoked token log in once.
    pub generation: u64,
}

/// Calls the login and returns the token it answers with.
pub async fn log_in(client: &reqwest::Client, base: &reqwest::Url, login: &Login) -> Result<String, String> {
    let url = format!("{}/{}", base.as_str().trim_end_matches('/'), login.path.trim_start_matches('/'));
    let response = client.post(&url).json(&login.payload).send().await.map_err(|e| format!("login at {url}: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("login at {url}: the answer is not JSON: {e}"))?;
    if !status.is_success() {
        return Err(format!("login at {url} answered {status}: {body}"));
    }
    body.pointer(&login.token_pointer)
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| format!("login at {url}: no string at {} in the answer", login.token_pointer))
}

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthMode {
    Configured,
    Without,
    Invalid,
}

/// What a run saw, shared by the workers.
#[derive(Default)]
pub struct Tally {
    pub cases: BTreeMap<Phase, usize>,
    /// Per operation index: cases sent.
    pub per_operation: BTreeMap<usize, usize>,
    pub findings: Vec<Finding>,
    /// Requests that got no response (connection refused, timeout).
    pub errors: Vec<String>,
}

pub struct Runner<'a> {
    pub api: &'a Api,
    pub base_url: reqwest::Url,
    pub client: reqwest::Client,
    /// Replaced by a fresh login when the token in use is revoked (the API's logout does that).
    credentials: std::sync::RwLock<Credentials>,
    login: Option<Login>,
    relogin: tokio::sync::Mutex<()>,
    pub settings: &'a dyn Expectations,
    pub workers: usize,
    pub tally: Mutex<Tally>,
    pub sent: AtomicUsize,
    pub failed: AtomicUsize,
    /// Operations whose authentication was already confirmed by the `ignored_auth` probes.
    probed: Mutex<HashSet<usize>>,
}

/// One request and its response.
pub struct Exchange {
    pub sent: Sent,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    pub elapsed: Duration,
    /// Which login's token the request carried.
    pub generation: u64,
}

impl Exchange {
    fn received(&self) -> Received<'_> {
        Received { status: self.status, headers: &self.headers, body: &self.body, elapsed: self.elapsed }
    }
}

impl<'a> Runner<'a> {
    pub fn new(
        api: &'a Api,
        base_url: reqwest::Url,
        client: reqwest::Client,
        credentials: Credentials,
        login: Option<Login>,
        settings: &'a dyn Expectations,
        workers: usize,
    ) -> Self {
        Self {
            api,
            base_url,
            client,
            credentials: std::sync::RwLock::new(credentials),
            login,
            relogin: tokio::sync::Mutex::new(()),
            settings,
            workers: workers.max(1),
            tally: Mutex::new(Tally::default()),
            sent: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            probed: Mutex::new(HashSet::new()),
        }
    }

    /// Sends `cases` with up to `workers` in flight, checking each response.
    pub async fn run_cases(&self, cases: Vec<Case>) {
        futures_util::stream::iter(cases)
            .for_each_concurrent(self.workers, |case| async move {
                self.execute(&case).await;
            })
            .await;
    }

    /// Sends one case, checks it, and probes authentication where it applies. Returns the exchange.
    async fn execute(&self, case: &Case) -> Option<Exchange> {
        let op = &self.api.operations[case.op];
        let mut exchange = self.send(case, AuthMode::Configured).await?;
        if exchange.status == 401 && exchange.sent.authenticated && self.renew(exchange.generation).await {
            exchange = self.send(case, AuthMode::Configured).await?;
        }
        {
            let mut tally = self.tally.lock().unwrap();
            *tally.cases.entry(case.phase).or_default() += 1;
            *tally.per_operation.entry(case.op).or_default() += 1;
        }
        for (check, message) in evaluate(op, case, &exchange.received(), self.settings) {
            self.record(case, check, message, &exchange);
        }
        self.probe_auth(op, case, &exchange).await;
        Some(exchange)
    }

    fn record(&self, case: &Case, check: Check, message: String, exchange: &Exchange) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let why = match &case.intent {
            Intent::Negative(why) => Some(why.clone()),
            Intent::MissingHeader(name) => Some(format!("header {name}: missing (required)")),
            _ => None,
        };
        self.tally.lock().unwrap().findings.push(Finding {
            operation: self.api.operations[case.op].id.clone(),
            check,
            phase: case.phase,
            message,
            invalid: why,
            status: exchange.status,
            request: exchange.sent.clone(),
        });
    }

    /// `ignored_auth`: a secured operation that answered 2xx must refuse the same request without
    /// credentials and with invalid ones (checked once per operation), and must never answer 2xx to
    /// a request that carried no credentials.
    async fn probe_auth(&self, op: &Op, case: &Case, exchange: &Exchange) {
        if !op.secured()
            || !self.settings.enabled(op, Check::IgnoredAuth)
            || case.negative_in_path()
            || case.intent == Intent::UnsupportedMethod
            || !(200..300).contains(&exchange.status)
        {
            return;
        }
        if !exchange.sent.authenticated {
            let message = format!(
                "API accepts requests without authentication\nExpected 401 or 403, got {} for {}",
                exchange.status,
                op.label()
            );
            self.record(case, Check::IgnoredAuth, message, exchange);
            return;
        }
        if !self.probed.lock().unwrap().insert(case.op) {
            return;
        }
        for (mode, title) in [
            (AuthMode::Without, "API accepts requests without authentication"),
            (AuthMode::Invalid, "API accepts invalid authentication"),
        ] {
            let Some(probe) = self.send(case, mode).await else { continue };
            let refused = matches!(probe.status, 401 | 403 | 300..=399);
            if !refused {
                let message = format!("{title}\nExpected 401 or 403, got {} for {}", probe.status, op.label());
                self.record(case, Check::IgnoredAuth, message, &probe);
            }
        }
    }

    /// Logs in anew if the token of `generation` is still the current one; whether a token newer
    /// than `generation` is now in use.
    async fn renew(&self, generation: u64) -> bool {
        let Some(login) = &self.login else { return false };
        let _one_at_a_time = self.relogin.lock().await;
        if self.credentials.read().unwrap().generation != generation {
            return true;
        }
        match log_in(&self.client, &self.base_url, login).await {
            Ok(token) => {
                let mut credentials = self.credentials.write().unwrap();
                credentials.bearer = Some(token);
                credentials.generation += 1;
                true
            }
            Err(e) => {
                self.tally.lock().unwrap().errors.push(format!("renewing the login: {e}"));
                false
            }
        }
    }

    /// Sends `case` with the credentials `mode` says; `None` (and an error recorded) without a response.
    async fn send(&self, case: &Case, mode: AuthMode) -> Option<Exchange> {
        let op = &self.api.operations[case.op];
        let credentials = self.credentials.read().unwrap().clone();
        let mut url = self.base_url.clone();
        {
            let mut segments = match url.path_segments_mut() {
                Ok(s) => s,
                Err(()) => return None,
            };
            segments.pop_if_empty();
            for template in op.path.trim_start_matches('/').split('/') {
                let mut segment = template.to_string();
                for (name, value) in &case.path_params {
                    segment = segment.replace(&format!("{{{name}}}"), value);
                }
                segments.push(&segment);
            }
        }
        let mut sent = Sent {
            method: case.method.clone(),
            url: String::new(),
            headers: case.headers.clone(),
            credential_headers: Vec::new(),
            body: None,
            authenticated: false,
        };
        let mut secret_values: Vec<(String, String)> = Vec::new();
        let mut secret_query: Vec<(String, String)> = Vec::new();
        if let Some(alternative) = self.satisfiable_alternative(op).filter(|_| mode != AuthMode::Without) {
            for name in alternative {
                let scheme = &self.api.schemes[name];
                let (real, shown) = match (scheme, mode) {
                    (Scheme::Bearer | Scheme::OAuth, AuthMode::Invalid) => {
                        ("Bearer invalid-token".to_string(), "Bearer invalid-token".to_string())
                    }
                    (Scheme::Bearer | Scheme::OAuth, _) => (
                        format!("Bearer {}", credentials.bearer.as_deref().unwrap_or_default()),
                        "Bearer $CONTRACT_BEARER".to_string(),
                    ),
                    (Scheme::ApiKey { .. }, AuthMode::Invalid) => ("invalid-key".into(), "invalid-key".into()),
                    (Scheme::ApiKey { .. }, _) => {
                        (credentials.api_key.clone().unwrap_or_default(), "$CONTRACT_API_KEY".into())
                    }
                    (Scheme::Basic, _) => continue,
                };
                match scheme {
                    Scheme::ApiKey { location, name } if location == "query" => {
                        secret_query.push((name.clone(), real));
                        sent.credential_headers.push((format!("?{name}"), shown));
                    }
                    Scheme::ApiKey { location, name } if location == "cookie" => {
                        secret_values.push(("cookie".into(), format!("{name}={real}")));
                        sent.credential_headers.push(("Cookie".into(), format!("{name}={shown}")));
                    }
                    Scheme::ApiKey { name, .. } => {
                        secret_values.push((name.clone(), real));
                        sent.credential_headers.push((name.clone(), shown));
                    }
                    _ => {
                        secret_values.push(("authorization".into(), real));
                        sent.credential_headers.push(("Authorization".into(), shown));
                    }
                }
                sent.authenticated = mode == AuthMode::Configured;
            }
        }
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &case.query {
                pairs.append_pair(name, value);
            }
        }
        if !secret_query.is_empty() {
            // The shown URL carries placeholders; the real one the secrets.
            sent.url = url.to_string();
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &secret_query {
                pairs.append_pair(name, value);
            }
        } else {
            sent.url = url.to_string();
        }
        if url.query() == Some("") {
            url.set_query(None);
            sent.url = url.to_string();
        }
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).ok()?;
        let mut request = self.client.request(method, url);
        for (name, value) in case.headers.iter().chain(&secret_values) {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = &case.body {
            let media_type = op.body.as_ref().map_or("application/json", |b| b.media_type.as_str());
            let text = body.to_string();
            sent.headers.push(("Content-Type".into(), media_type.to_string()));
            request = request.header("content-type", media_type).body(text.clone());
            sent.body = Some(text);
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let outcome = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        match outcome {
            Ok((status, headers, body)) => Some(Exchange {
                sent,
                status,
                headers,
                body,
                elapsed: started.elapsed(),
                generation: credentials.generation,
            }),
            Err(e) => {
                let detail = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
                self.tally.lock().unwrap().errors.push(format!("{} {}: {e}{detail}", sent.method, sent.url));
                None
            }
        }
    }

    /// The first security alternative of `op` whose every scheme has a credential.
    fn satisfiable_alternative<'o>(&self, op: &'o Op) -> Option<&'o Vec<String>> {
        let credentials = self.credentials.read().unwrap();
        op.security.iter().find(|alternative| {
            !alternative.is_empty()
                && alternative.iter().all(|name| match self.api.schemes.get(name) {
                    Some(Scheme::Bearer | Scheme::OAuth) => credentials.bearer.is_some(),
                    Some(Scheme::ApiKey { .. }) => credentials.api_key.is_some(),
                    _ => false,
                })
        })
    }

    /// The stateful phase: for each operation whose success documents links, `chains` times: create,
    /// then follow every link (reads first, then updates, then deletes), then read again.
    /// `ensure_resource_availability` and `use_after_free` judge the reads.
    pub async fn run_stateful(&self, seed: u64, chains: usize, include: &dyn Fn(&Op) -> bool) {
        let creators: Vec<usize> = (0..self.api.operations.len())
            .filter(|&i| {
                let op = &self.api.operations[i];
                include(op) && op.responses.iter().any(|r| !r.links.is_empty())
            })
            .collect();
        let jobs: Vec<(usize, usize)> = creators.iter().flat_map(|&c| (0..chains).map(move |n| (c, n))).collect();
        futures_util::stream::iter(jobs)
            .for_each_concurrent(self.workers, |(creator, n)| async move {
                self.chain(creator, seed.wrapping_add(n as u64)).await;
            })
            .await;
    }

    async fn chain(&self, creator: usize, seed: u64) {
        // Generated data, not the examples: the examples phase has created those already, and a
        // second creation of the same resource is refused (409), which would end the chain.
        let mut builder = Builder::new(self.api, creator, seed.wrapping_add(0x5747_4154));
        let Some(case) = builder.valid(Phase::Stateful) else { return };
        let Some(created) = self.execute(&case).await else { return };
        if !(200..300).contains(&created.status) {
            return;
        }
        let op = &self.api.operations[creator];
        let Some(response) = op.response(created.status) else { return };
        let body = serde_json::from_slice::<Value>(&created.body).ok();
        let mut links: Vec<&Link> = response.links.iter().collect();
        let rank = |link: &&Link| match self.api.operations[link.target].method.as_str() {
            "GET" | "HEAD" => 0,
            "DELETE" => 2,
            _ => 1,
        };
        links.sort_by_key(rank);
        let mut deleted = None;
        for link in &links {
            let Some(step) = self.link_case(link, &case, &created, body.as_ref(), seed) else { continue };
            let Some(exchange) = self.execute(&step).await else { continue };
            let target = &self.api.operations[link.target];
            if target.method == "GET"
                && exchange.status == 404
                && self.settings.enabled(target, Check::EnsureResourceAvailability)
            {
                let message = format!(
                    "Resource is not available after creation\nThe API returned 404 for a resource that was just created.\nCreated with      : {}\nNot available with: {}",
                    op.label(),
                    target.label()
                );
                self.record(&step, Check::EnsureResourceAvailability, message, &exchange);
            }
            if target.method == "DELETE" && (200..300).contains(&exchange.status) {
                deleted = Some(target.label());
            }
        }
        let Some(free) = deleted else { return };
        for link in links.iter().filter(|l| self.api.operations[l.target].method == "GET") {
            let Some(step) = self.link_case(link, &case, &created, body.as_ref(), seed ^ 1) else { continue };
            let Some(exchange) = self.execute(&step).await else { continue };
            let target = &self.api.operations[link.target];
            if (200..400).contains(&exchange.status) && self.settings.enabled(target, Check::UseAfterFree) {
                let message = format!(
                    "Use after free\nThe API did not return 404 (got {}) for a resource that was previously deleted.\nThe resource was deleted with {free}",
                    exchange.status
                );
                self.record(&step, Check::UseAfterFree, message, &exchange);
            }
        }
    }

    /// The case a link describes: its parameters and body evaluated against the creating exchange.
    fn link_case(
        &self,
        link: &Link,
        request: &Case,
        created: &Exchange,
        body: Option<&Value>,
        seed: u64,
    ) -> Option<Case> {
        let mut params = Vec::new();
        for (name, expression) in &link.parameters {
            let value = evaluate_expression(expression, request, created, body)?;
            params.push((name.clone(), to_wire(&value)?));
        }
        let link_body = match &link.request_body {
            Some(expression) => Some(evaluate_expression(expression, request, created, body)?),
            None => None,
        };
        Builder::new(self.api, link.target, seed).linked(Phase::Stateful, &params, link_body)
    }
}

/// An OpenAPI runtime expression (`$response.body#/id`, `$request.path.id`, `$response.header.ETag`,
/// `$statusCode`, ...) or a constant.
fn evaluate_expression(expression: &Value, request: &Case, created: &Exchange, body: Option<&Value>) -> Option<Value> {
    let Some(text) = expression.as_str() else { return Some(expression.clone()) };
    if !text.starts_with('$') {
        return Some(expression.clone());
    }
    let lookup = |pairs: &[(String, String)], name: &str| {
        pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| Value::String(v.clone()))
    };
    if let Some(pointer) = text.strip_prefix("$response.body") {
        let pointer = pointer.strip_prefix('#').unwrap_or(pointer);
        return body?.pointer(pointer).cloned();
    }
    if let Some(name) = text.strip_prefix("$response.header.") {
        return created.headers.get(name).and_then(|v| v.to_str().ok()).map(|v| Value::String(v.to_string()));
    }
    if let Some(pointer) = text.strip_prefix("$request.body") {
        let pointer = pointer.strip_prefix('#').unwrap_or(pointer);
        return request.body.as_ref()?.pointer(pointer).cloned();
    }
    if let Some(name) = text.strip_prefix("$request.path.") {
        return lookup(&request.path_params, name);
    }
    if let Some(name) = text.strip_prefix("$request.query.") {
        return lookup(&request.query, name);
    }
    if let Some(name) = text.strip_prefix("$request.header.") {
        return lookup(&request.headers, name);
    }
    match text {
        "$statusCode" => Some(Value::from(created.status)),
        "$method" => Some(Value::String(request.method.clone())),
        "$url" => Some(Value::String(created.sent.url.clone())),
        _ => None,
    }
}
