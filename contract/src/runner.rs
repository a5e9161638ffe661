//! Sends cases concurrently, applies the checks, probes authentication, follows links (the stateful
//! phase) and collects what failed, each failure with the request that reproduces it; and counts,
//! per operation, what the server answered, so that an operation that was never really tested
//! (every answer 401, 429 or none at all) is reported as such, never as a pass.
//!
//! Transport: a request whose connection was closed or reset before any response byte is sent again
//! once on a fresh connection (servers such as uvicorn close keep-alive connections after a 500); a
//! 429 is waited out as `Retry-After` or the `RateLimit` headers say, then retried.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use crate::auth::{AuthMode, Credentials, Secret};
use crate::cases::{Builder, Case, Intent, Phase};
use crate::checks::{Check, Expectations, Received, evaluate};
use crate::config::Login;
use crate::model::{Api, Link, Location, Op};
use crate::report::{Finding, Sent};

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

/// How a refused token is replaced.
#[derive(Debug, Clone)]
pub enum Renewal {
    /// Log in again (the token goes to `schemes`).
    Login { login: Login, schemes: Vec<String> },
    /// Run the client-credentials flow again.
    ClientCredentials { scheme: String, token_url: reqwest::Url, id: String, secret: String, scopes: Vec<String> },
}

/// What the server answered one operation (to requests carrying the configured credentials).
#[derive(Debug, Default, Clone)]
pub struct OpStats {
    pub sent: usize,
    /// Responses to requests of the operation's own method (not the undocumented-method probes).
    pub statuses: BTreeMap<u16, usize>,
    /// Responses to positive cases, by status.
    pub positive: BTreeMap<u16, usize>,
    pub no_response: usize,
    /// Whether an authenticated request was accepted (2xx), so `ignored_auth` could probe.
    pub auth_probed: bool,
}

/// What a run saw, shared by the workers.
#[derive(Default)]
pub struct Tally {
    pub cases: BTreeMap<Phase, usize>,
    pub per_operation: BTreeMap<usize, OpStats>,
    pub findings: Vec<Finding>,
    /// The case behind each of `findings`, index for index (for shrinking).
    pub finding_cases: Vec<Case>,
    /// Requests that got no response (connection refused, timeout), after the one resend.
    pub errors: Vec<String>,
    /// How many responses each check judged.
    pub judged: BTreeMap<Check, usize>,
    /// 429 answers waited out, and the time spent waiting.
    pub rate_limited: usize,
    pub waited: Duration,
    /// Requests sent again on a fresh connection after theirs was closed before any response.
    pub resent: usize,
}

/// The transport settings of a run.
pub struct Transport {
    pub client: reqwest::Client,
    /// The same, without a client certificate (the mutual-TLS "without credentials" probe).
    pub anonymous: reqwest::Client,
    /// Whether `client` presents a client certificate.
    pub has_certificate: bool,
    /// A client that keeps no idle connections: resends go out on a fresh one.
    pub fresh: reqwest::Client,
    /// Headers given with `-H`, sent with every request.
    pub headers: Vec<(String, String)>,
    /// Most time to wait out one 429 before retrying.
    pub max_wait: Duration,
    /// At most this many requests a second, when set.
    pub throttle: Option<governor::DefaultDirectRateLimiter>,
}

pub struct Runner<'a> {
    pub api: &'a Api,
    pub base_url: reqwest::Url,
    pub transport: Transport,
    credentials: std::sync::RwLock<Credentials>,
    renewals: Vec<Renewal>,
    renewing: tokio::sync::Mutex<()>,
    pub settings: &'a dyn Expectations,
    pub workers: usize,
    pub tally: Mutex<Tally>,
    pub sent: AtomicUsize,
    pub failed: AtomicUsize,
    /// Operations whose authentication was already confirmed by the `ignored_auth` probes.
    probed: Mutex<HashSet<usize>>,
    /// Identifiers the server answered with, for later phases' path parameters.
    pub pool: Mutex<crate::cases::Pool>,
}

/// One request and its response.
pub struct Exchange {
    pub sent: Sent,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    pub elapsed: Duration,
    /// Which credentials' generation the request carried.
    pub generation: u64,
}

impl Exchange {
    fn received(&self) -> Received<'_> {
        Received { status: self.status, headers: &self.headers, body: &self.body, elapsed: self.elapsed }
    }
}

/// A request ready to go: what is sent, and what is shown.
pub struct Rendered {
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub sent: Sent,
    pub withhold_certificate: bool,
}

impl<'a> Runner<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api: &'a Api,
        base_url: reqwest::Url,
        transport: Transport,
        credentials: Credentials,
        renewals: Vec<Renewal>,
        settings: &'a dyn Expectations,
        workers: usize,
    ) -> Self {
        Self {
            api,
            base_url,
            transport,
            credentials: std::sync::RwLock::new(credentials),
            renewals,
            renewing: tokio::sync::Mutex::new(()),
            settings,
            workers: workers.max(1),
            tally: Mutex::new(Tally::default()),
            sent: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            probed: Mutex::new(HashSet::new()),
            pool: Mutex::default(),
        }
    }

    /// Why `op` cannot be authenticated with the credentials given, when it cannot.
    pub fn missing_credentials(&self, op: &Op) -> Option<String> {
        self.credentials.read().unwrap().missing(self.api, op)
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
        let outcome = self.send(case, AuthMode::Configured).await;
        let mut exchange = match outcome {
            Some(exchange) => exchange,
            None => {
                self.tally.lock().unwrap().per_operation.entry(case.op).or_default().no_response += 1;
                return None;
            }
        };
        if exchange.status == 401 && exchange.sent.authenticated && self.renew(exchange.generation).await {
            exchange = self.send(case, AuthMode::Configured).await?;
        }
        let failures = evaluate(op, case, &exchange.received(), self.settings);
        {
            let mut tally = self.tally.lock().unwrap();
            *tally.cases.entry(case.phase).or_default() += 1;
            let stats = tally.per_operation.entry(case.op).or_default();
            stats.sent += 1;
            if !case.intent.judged_apart() {
                *stats.statuses.entry(exchange.status).or_default() += 1;
            }
            if case.intent == Intent::Positive {
                *stats.positive.entry(exchange.status).or_default() += 1;
            }
            for check in crate::checks::judging(op, case, exchange.status, self.settings) {
                *tally.judged.entry(check).or_default() += 1;
            }
        }
        for (check, message) in failures {
            self.record(case, check, message, &exchange);
        }
        self.probe_auth(op, case, &exchange).await;
        self.capture(case, &exchange);
        Some(exchange)
    }

    /// Keeps the identifiers a successful answer gives: what a create made (for each path under it,
    /// as inferred links name it), and the `id`s a listing shows; a successful DELETE gives its
    /// identifier back.
    fn capture(&self, case: &Case, exchange: &Exchange) {
        // Whatever a 2xx created, a valid request or not, is real: kept for later phases and cleanup.
        if !(200..300).contains(&exchange.status) || case.intent.is_undocumented_method() {
            return;
        }
        let op = &self.api.operations[case.op];
        // The request's path parameters, by pool key: what an identifier it gives lives under.
        let parents: Vec<(String, Value)> = case
            .params
            .iter()
            .filter(|(i, _)| op.params[*i].location == crate::model::Location::Path)
            .filter_map(|(i, written)| {
                let param = &op.params[*i];
                Some((crate::cases::pool_key(&op.path, &param.name)?, crate::wire::read_param(param, written)?))
            })
            .collect();
        let mut pool = self.pool.lock().unwrap();
        if op.method == "DELETE" {
            forget_deleted(&mut pool, &op.path, &parents);
            return;
        }
        let body = serde_json::from_slice::<Value>(&exchange.body).ok();
        let base = op.path.trim_end_matches('/');
        for path in self.api.paths.keys() {
            let Some(rest) = path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else { continue };
            let first = rest.split('/').next().unwrap_or_default();
            let Some(name) = first.strip_prefix('{').and_then(|f| f.strip_suffix('}')) else { continue };
            let Some(key) = crate::cases::pool_key(path, name) else { continue };
            let found: Vec<crate::cases::Pooled> = match op.method.as_str() {
                "POST" => created_identifier(name, exchange, body.as_ref())
                    .map(|value| crate::cases::Pooled { value, created: true, parents: parents.clone() })
                    .into_iter()
                    .collect(),
                "GET" => listed_identifiers(name, body.as_ref())
                    .into_iter()
                    .map(|value| crate::cases::Pooled { value, created: false, parents: parents.clone() })
                    .collect(),
                _ => Vec::new(),
            };
            let values = pool.entry(key).or_default();
            for found in found {
                if let Some(known) = values.iter_mut().find(|p| p.value == found.value && p.parents == found.parents) {
                    known.created |= found.created;
                } else if values.len() < POOL_LIMIT {
                    values.push(found);
                }
            }
        }
    }

    fn record(&self, case: &Case, check: Check, message: String, exchange: &Exchange) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let why = match &case.intent {
            Intent::Negative(why) | Intent::Ambiguous(why) => Some(why.clone()),
            Intent::MissingHeader(name) => Some(format!("header {name}: missing (required)")),
            _ => None,
        };
        let mut tally = self.tally.lock().unwrap();
        tally.finding_cases.push(case.clone());
        tally.findings.push(Finding {
            operation: self.api.operations[case.op].id.clone(),
            check,
            phase: case.phase,
            message,
            invalid: why,
            status: exchange.status,
            request: exchange.sent.clone(),
            response: crate::report::shown_response(exchange.status, &exchange.headers, &exchange.body),
        });
    }

    /// `ignored_auth`: a secured operation that answered 2xx to an authenticated request must refuse
    /// the same request without credentials and with invalid ones (checked once per operation), and
    /// must never answer 2xx to a request that carried no credentials. It judges only operations
    /// where an authenticated request was accepted: otherwise it has not run.
    async fn probe_auth(&self, op: &Op, case: &Case, exchange: &Exchange) {
        if !op.secured()
            || !self.settings.enabled(op, Check::IgnoredAuth)
            || case.negative_in_path()
            || case.intent.judged_apart()
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
        self.tally.lock().unwrap().per_operation.entry(case.op).or_default().auth_probed = true;
        for (mode, title) in [
            (AuthMode::Without, "API accepts requests without authentication"),
            (AuthMode::Invalid, "API accepts invalid authentication"),
            (AuthMode::WrongScheme, "API accepts its credential under another authentication scheme"),
            (AuthMode::AlgNone, "API accepts an unsigned JWT (alg none)"),
            (AuthMode::ForgedSignature, "API accepts a JWT whose signature was altered"),
            (AuthMode::Expired, "API accepts an expired token"),
        ] {
            if AuthMode::FORGED.contains(&mode) && !self.forgeable(op, mode) {
                continue;
            }
            let Some(probe) = self.send(case, mode).await else { continue };
            *self.tally.lock().unwrap().judged.entry(Check::IgnoredAuth).or_default() += 1;
            let refused = matches!(probe.status, 401 | 403 | 300..=399);
            if !refused {
                let message = format!("{title}\nExpected 401 or 403, got {} for {}", probe.status, op.label());
                self.record(case, Check::IgnoredAuth, message, &probe);
            }
        }
    }

    /// Whether the forged probe `mode` applies to the credentials `op` is sent with.
    fn forgeable(&self, op: &Op, mode: AuthMode) -> bool {
        let credentials = self.credentials.read().unwrap();
        credentials.alternative(op).is_some_and(|alternative| credentials.apply(self.api, alternative, mode).forged)
    }

    /// Renews the refused credentials if those of `generation` are still in use; whether newer
    /// credentials are now in use.
    async fn renew(&self, generation: u64) -> bool {
        if self.renewals.is_empty() {
            return false;
        }
        let _one_at_a_time = self.renewing.lock().await;
        if self.credentials.read().unwrap().generation != generation {
            return true;
        }
        match renew_all(&self.transport.client, &self.base_url, &self.renewals).await {
            Ok(tokens) => {
                let mut credentials = self.credentials.write().unwrap();
                for (scheme, token) in tokens {
                    if let Some((secret, _)) = credentials.by_scheme.get_mut(&scheme) {
                        *secret = Secret::Token(token);
                    }
                }
                credentials.generation += 1;
                true
            }
            Err(e) => {
                self.tally.lock().unwrap().errors.push(format!("renewing the credentials: {e}"));
                false
            }
        }
    }

    /// The request `case` becomes, with the credentials `mode` says.
    pub fn render(&self, case: &Case, mode: AuthMode) -> Option<(Rendered, u64)> {
        let op = &self.api.operations[case.op];
        let credentials = self.credentials.read().unwrap();
        let applied = match credentials.alternative(op) {
            Some(alternative) => credentials.apply(self.api, alternative, mode),
            None => Default::default(),
        };
        let generation = credentials.generation;
        drop(credentials);
        // The path: the base URL's path, then the template with each parameter's written text.
        let mut path = op.path.clone();
        for (i, written) in &case.params {
            let param = &op.params[*i];
            if param.location == Location::Path {
                path = path.replace(&format!("{{{}}}", param.name), &written.0);
            }
        }
        let base = self.base_url.as_str().trim_end_matches('/');
        let query: Vec<&str> = case
            .params
            .iter()
            .filter(|(i, w)| op.params[*i].location == Location::Query && !w.0.is_empty())
            .map(|(_, w)| w.0.as_str())
            .collect();
        let mut shown_url = format!("{base}{path}");
        let mut real_url = shown_url.clone();
        let mut separator = '?';
        if !query.is_empty() {
            let q = query.join("&");
            shown_url = format!("{shown_url}?{q}");
            real_url = format!("{real_url}?{q}");
            separator = '&';
        }
        let mut credential_query = Vec::new();
        for (name, real, shown) in &applied.query {
            real_url.push(separator);
            real_url.push_str(&format!("{}={}", crate::wire::encode_value(name), crate::wire::encode_value(real)));
            credential_query.push((name.clone(), shown.clone()));
            separator = '&';
        }
        let url = reqwest::Url::parse(&real_url).ok()?;
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut shown_headers: Vec<(String, String)> = Vec::new();
        let mut credential_headers: Vec<(String, String)> = Vec::new();
        for (name, value) in &self.transport.headers {
            if !applied.suppressed_headers.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                headers.push((name.clone(), value.clone()));
                shown_headers.push((name.clone(), value.clone()));
            }
        }
        for (i, written) in &case.params {
            if op.params[*i].location == Location::Header {
                headers.push((op.params[*i].name.clone(), written.0.clone()));
                shown_headers.push((op.params[*i].name.clone(), written.0.clone()));
            }
        }
        for (name, real, shown) in &applied.headers {
            headers.push((name.clone(), real.clone()));
            credential_headers.push((name.clone(), shown.clone()));
        }
        let mut cookies: Vec<String> = case
            .params
            .iter()
            .filter(|(i, _)| op.params[*i].location == Location::Cookie)
            .map(|(_, w)| w.0.clone())
            .collect();
        let mut shown_cookies = cookies.clone();
        for (name, real, shown) in &applied.cookies {
            cookies.push(format!("{name}={real}"));
            shown_cookies.push(format!("{name}={shown}"));
        }
        if !cookies.is_empty() {
            headers.push(("Cookie".into(), cookies.join("; ")));
            let target = if applied.cookies.is_empty() { &mut shown_headers } else { &mut credential_headers };
            target.push(("Cookie".into(), shown_cookies.join("; ")));
        }
        let mut body = None;
        let mut shown_body = None;
        let mut binary = false;
        if let Some(case_body) = &case.body {
            binary = case_body.payload.binary();
            headers.push(("Content-Type".into(), case_body.payload.content_type.clone()));
            shown_headers.push(("Content-Type".into(), case_body.payload.content_type.clone()));
            body = Some(case_body.payload.bytes.clone());
            shown_body = Some(case_body.payload.shown());
        }
        let sent = Sent {
            method: case.method.clone(),
            url: shown_url,
            headers: shown_headers,
            credential_headers,
            credential_query,
            body: shown_body,
            binary,
            authenticated: applied.authenticated,
            certificate: !applied.withhold_certificate && self.transport.has_certificate,
        };
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).ok()?;
        Some((
            Rendered { method, url, headers, body, sent, withhold_certificate: applied.withhold_certificate },
            generation,
        ))
    }

    /// Sends `case` with the credentials `mode` says; `None` (and an error recorded) without a
    /// response after one resend.
    async fn send(&self, case: &Case, mode: AuthMode) -> Option<Exchange> {
        let (rendered, generation) = self.render(case, mode)?;
        let mut waits = 0;
        let mut resent = false;
        loop {
            if let Some(throttle) = &self.transport.throttle {
                throttle.until_ready().await;
            }
            let client = match (resent, rendered.withhold_certificate) {
                (_, true) => &self.transport.anonymous,
                (true, false) => &self.transport.fresh,
                (false, false) => &self.transport.client,
            };
            let mut request = client.request(rendered.method.clone(), rendered.url.clone());
            for (name, value) in &rendered.headers {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(body) = &rendered.body {
                request = request.body(body.clone());
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
                Ok((429, headers, _)) if waits < 3 => {
                    let wait =
                        retry_after(&headers).unwrap_or(Duration::from_secs(1 << waits)).min(self.transport.max_wait);
                    waits += 1;
                    {
                        let mut tally = self.tally.lock().unwrap();
                        tally.rate_limited += 1;
                        tally.waited += wait;
                    }
                    tokio::time::sleep(wait).await;
                }
                Ok((status, headers, body)) => {
                    return Some(Exchange {
                        sent: rendered.sent,
                        status,
                        headers,
                        body,
                        elapsed: started.elapsed(),
                        generation,
                    });
                }
                Err(e) if !resent && closed_before_response(&e) => {
                    resent = true;
                    self.tally.lock().unwrap().resent += 1;
                }
                Err(e) => {
                    let detail = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
                    let again = if resent { " (also when sent again on a fresh connection)" } else { "" };
                    self.tally.lock().unwrap().errors.push(format!(
                        "{} {}: {e}{detail}{again}\n    Reproduce: {}",
                        rendered.sent.method,
                        rendered.sent.url,
                        rendered.sent.curl()
                    ));
                    return None;
                }
            }
        }
    }

    /// The stateful phase: for each operation whose success documents links, `chains` times: create,
    /// then follow every link (reads first, then updates, then deletes), then read again.
    /// `ensure_resource_availability` and `use_after_free` judge the reads.
    pub async fn run_stateful(&self, seed: u64, chains: usize, include: &dyn Fn(usize) -> bool) {
        let creators: Vec<usize> = (0..self.api.operations.len())
            .filter(|&i| {
                let op = &self.api.operations[i];
                include(i) && op.responses.iter().any(|r| !r.links.is_empty())
            })
            .collect();
        let jobs: Vec<(usize, usize)> = creators.iter().flat_map(|&c| (0..chains).map(move |n| (c, n))).collect();
        futures_util::stream::iter(jobs)
            .for_each_concurrent(self.workers, |(creator, n)| async move {
                self.chain(creator, stream(seed, n as u64), include).await;
            })
            .await;
    }

    async fn chain(&self, creator: usize, seed: u64, include: &dyn Fn(usize) -> bool) {
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
        self.check_listed(creator, &case, &created, body.as_ref(), seed, include).await;
        let mut links: Vec<&Link> = response.links.iter().filter(|l| include(l.target)).collect();
        let rank = |link: &&Link| match self.api.operations[link.target].method.as_str() {
            "GET" | "HEAD" => 0,
            "DELETE" => 2,
            _ => 1,
        };
        links.sort_by_key(rank);
        let mut deleted = None;
        for link in &links {
            let target = &self.api.operations[link.target];
            // An update is tried with several full bodies (every optional member), each read back:
            // a state only some values reach (a flag set, a date filled in) is then visited.
            let update = matches!(target.method.as_str(), "PUT" | "PATCH");
            for attempt in 0..if update { UPDATES_PER_LINK } else { 1 } {
                let Some(step) = self.link_case(link, &case, &created, body.as_ref(), stream(seed, attempt), update)
                else {
                    continue;
                };
                let Some(exchange) = self.execute(&step).await else { continue };
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
                if target.method == "GET" {
                    *self.tally.lock().unwrap().judged.entry(Check::EnsureResourceAvailability).or_default() += 1;
                }
                if update && (200..300).contains(&exchange.status) {
                    let answered = answered_members(&step, &exchange);
                    self.check_fresh(
                        &links,
                        &target.path,
                        answered,
                        &case,
                        &created,
                        body.as_ref(),
                        stream(seed, attempt),
                    )
                    .await;
                }
                if target.method == "DELETE" && (200..300).contains(&exchange.status) {
                    deleted = Some(target.label());
                }
            }
        }
        let Some(free) = deleted else { return };
        for link in links.iter().filter(|l| self.api.operations[l.target].method == "GET") {
            let Some(step) =
                self.link_case(link, &case, &created, body.as_ref(), stream(seed, UPDATES_PER_LINK), false)
            else {
                continue;
            };
            let Some(exchange) = self.execute(&step).await else { continue };
            let target = &self.api.operations[link.target];
            *self.tally.lock().unwrap().judged.entry(Check::UseAfterFree).or_default() += 1;
            if (200..400).contains(&exchange.status) && self.settings.enabled(target, Check::UseAfterFree) {
                let message = format!(
                    "Use after free\nThe API did not return 404 (got {}) for a resource that was previously deleted.\nThe resource was deleted with {free}",
                    exchange.status
                );
                self.record(&step, Check::UseAfterFree, message, &exchange);
            }
        }
    }

    /// Shrinks each distinct failure (operation, check, cause) of a valid request: drops optional
    /// parameters and body members one at a time while the same check still fails for the same
    /// cause, and keeps the smallest request (at most [`SHRINK_ATTEMPTS`] requests per failure).
    pub async fn shrink_failures(&self) {
        let (findings, cases) = {
            let tally = self.tally.lock().unwrap();
            (tally.findings.clone(), tally.finding_cases.clone())
        };
        let mut seen = HashSet::new();
        for (index, (finding, case)) in findings.iter().zip(&cases).enumerate() {
            let cause = crate::report::cause(&finding.message);
            if !matches!(case.intent, Intent::Positive | Intent::Ambiguous(_))
                || case.phase == Phase::Stateful
                || !seen.insert((finding.operation.clone(), finding.check, cause.clone()))
            {
                continue;
            }
            if let Some((smaller, exchange, message)) = self.shrink(case, finding.check, &cause).await {
                let mut tally = self.tally.lock().unwrap();
                let kept = &mut tally.findings[index];
                kept.message = message;
                kept.status = exchange.status;
                kept.response = crate::report::shown_response(exchange.status, &exchange.headers, &exchange.body);
                kept.request = exchange.sent;
                tally.finding_cases[index] = smaller;
            }
        }
    }

    async fn shrink(&self, case: &Case, check: Check, cause: &str) -> Option<(Case, Exchange, String)> {
        let op = &self.api.operations[case.op];
        let mut best = None;
        let mut current = case.clone();
        let mut attempts = 0;
        loop {
            let mut improved = false;
            for candidate in Builder::new(self.api, case.op, 0).smaller(&current) {
                attempts += 1;
                if attempts > SHRINK_ATTEMPTS {
                    return best;
                }
                let Some(exchange) = self.send(&candidate, AuthMode::Configured).await else { continue };
                let failing = evaluate(op, &candidate, &exchange.received(), self.settings)
                    .into_iter()
                    .find(|(c, m)| *c == check && crate::report::cause(m) == cause);
                if let Some((_, message)) = failing {
                    current = candidate.clone();
                    best = Some((candidate, exchange, message));
                    improved = true;
                    break;
                }
            }
            if !improved {
                return best;
            }
        }
    }

    /// Deletes, through each DELETE operation whose path ends with a parameter, every identifier the
    /// run created for it (never what a listing showed: the deployment's own data), a nested one
    /// under the identifiers it was created under; the innermost resources first, before what they
    /// live under. Returns how many were deleted. The requests are judged like any other.
    pub async fn clean_up(&self, seed: u64, include: &dyn Fn(usize) -> bool) -> usize {
        let mut removed = 0;
        let mut deletes: Vec<(usize, Vec<&str>)> = (0..self.api.operations.len())
            .filter(|&i| self.api.operations[i].method == "DELETE" && include(i))
            .map(|i| (i, crate::model::template_names(&self.api.operations[i].path)))
            .filter(|(i, names)| {
                names.last().is_some_and(|name| ending_parameter(&self.api.operations[*i].path) == Some(*name))
            })
            .collect();
        deletes.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
        for (index, names) in deletes {
            let op = &self.api.operations[index];
            let Some((last, enclosing)) = names.split_last() else { continue };
            let Some(key) = crate::cases::pool_key(&op.path, last) else { continue };
            let created: Vec<crate::cases::Pooled> =
                self.pool.lock().unwrap().get(&key).into_iter().flatten().filter(|p| p.created).cloned().collect();
            for pooled in created {
                // Each enclosing parameter from the request that created it; without one, it is left.
                let enclosing: Option<Vec<(String, Value)>> = enclosing
                    .iter()
                    .map(|name| {
                        let key = crate::cases::pool_key(&op.path, name)?;
                        let value = pooled.parents.iter().find(|(k, _)| *k == key)?.1.clone();
                        Some((name.to_string(), value))
                    })
                    .collect();
                let Some(mut params) = enclosing else { continue };
                params.push((last.to_string(), pooled.value));
                let Some(case) = Builder::new(self.api, index, seed).linked(Phase::Stateful, &params, None) else {
                    continue;
                };
                if self.execute(&case).await.is_some_and(|e| (200..300).contains(&e.status)) {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// `concurrent_creation`, for each create (a POST with a body) whose repetition is refused with
    /// 409: the server keeps something unique. A fresh request is then sent [`RACE_COPIES`] times at
    /// once; more than one success means the check and the insert are not one step.
    pub async fn run_races(&self, seed: u64, include: &dyn Fn(usize) -> bool) {
        let creators: Vec<usize> = (0..self.api.operations.len())
            .filter(|&i| {
                let op = &self.api.operations[i];
                include(i)
                    && op.method == "POST"
                    && op.body.is_some()
                    && op.responses.iter().any(|r| r.status.is_success())
            })
            .collect();
        for creator in creators {
            self.race(creator, seed).await;
        }
    }

    async fn race(&self, creator: usize, seed: u64) {
        let mut builder = Builder::new(self.api, creator, seed.wrapping_add(0x5241_4345));
        let Some(first) = builder.valid(Phase::Stateful) else { return };
        let Some(created) = self.execute(&first).await else { return };
        if !(200..300).contains(&created.status) {
            return;
        }
        let Some(repeated) = self.execute(&first).await else { return };
        if repeated.status != 409 {
            return;
        }
        let Some(fresh) = builder.valid(Phase::Stateful) else { return };
        let answers = futures_util::future::join_all((0..RACE_COPIES).map(|_| self.execute(&fresh))).await;
        let succeeded: Vec<&Exchange> = answers.iter().flatten().filter(|e| (200..300).contains(&e.status)).collect();
        *self.tally.lock().unwrap().judged.entry(Check::ConcurrentCreation).or_default() += 1;
        let op = &self.api.operations[creator];
        if succeeded.len() > 1 && self.settings.enabled(op, Check::ConcurrentCreation) {
            let message = format!(
                "Concurrent creation\nThe same request, refused with 409 when repeated, succeeded {} times of {RACE_COPIES} when sent at once.",
                succeeded.len()
            );
            self.record(&fresh, Check::ConcurrentCreation, message, succeeded[1]);
        }
    }

    /// `ensure_resource_availability` on the listing: after a create, a GET of the creator's own
    /// path (its collection) that answers a short list (fewer than [`SHORT_LIST`] items, so no page
    /// boundary can hide it) without the new identifier fails.
    async fn check_listed(
        &self,
        creator: usize,
        case: &Case,
        created: &Exchange,
        body: Option<&Value>,
        seed: u64,
        include: &dyn Fn(usize) -> bool,
    ) {
        let op = &self.api.operations[creator];
        let Some(list) = self.api.operations.iter().position(|o| {
            o.method == "GET"
                && o.path == op.path
                && !o.params.iter().any(|p| p.required && p.location != Location::Path)
        }) else {
            return;
        };
        if !include(list) {
            return;
        }
        let Some(id) = created_identifier("id", created, body) else { return };
        let params: Vec<(String, Value)> = op
            .params
            .iter()
            .filter(|p| p.location == Location::Path)
            .filter_map(|p| Some((p.name.clone(), case.param_value(op, &p.name, Some(Location::Path))?)))
            .collect();
        let Some(step) = Builder::new(self.api, list, seed).bare(Phase::Stateful, &params) else { return };
        let Some(exchange) = self.execute(&step).await else { return };
        let Some(listed) = serde_json::from_slice::<Value>(&exchange.body).ok().filter(|_| exchange.status == 200)
        else {
            return;
        };
        let Some(items) = listed.as_array().or_else(|| listed.as_object()?.values().find_map(Value::as_array)) else {
            return;
        };
        if items.len() >= SHORT_LIST {
            return;
        }
        *self.tally.lock().unwrap().judged.entry(Check::EnsureResourceAvailability).or_default() += 1;
        let text = |v: &Value| v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
        let shown = items.iter().any(|item| item.get("id").is_some_and(|v| text(v) == text(&id)));
        let target = &self.api.operations[list];
        if !shown && self.settings.enabled(target, Check::EnsureResourceAvailability) {
            let message = format!(
                "Created resource missing from the listing\nThe listing answered {} item(s) without the one just created ({}).\nCreated with: {}\nListed with : {}",
                items.len(),
                text(&id),
                op.label(),
                target.label()
            );
            self.record(&step, Check::EnsureResourceAvailability, message, &exchange);
        }
    }

    /// After a successful update of `path`, each read of it through a link (its answer checked like
    /// any other), and `stale_read`: the read shows what the update `answered` for the members it
    /// sent, when it answered them.
    #[allow(clippy::too_many_arguments)]
    async fn check_fresh(
        &self,
        links: &[&Link],
        path: &str,
        answered: Option<serde_json::Map<String, Value>>,
        case: &Case,
        created: &Exchange,
        body: Option<&Value>,
        seed: u64,
    ) {
        let reads = links.iter().filter(|l| {
            let target = &self.api.operations[l.target];
            target.method == "GET" && target.path == path
        });
        for link in reads {
            let Some(step) = self.link_case(link, case, created, body, stream(seed, 0), false) else { continue };
            let Some(exchange) = self.execute(&step).await else { continue };
            let target = &self.api.operations[link.target];
            let Some(answered) = &answered else { continue };
            let Some(read) = serde_json::from_slice::<Value>(&exchange.body).ok().filter(|_| exchange.status == 200)
            else {
                continue;
            };
            *self.tally.lock().unwrap().judged.entry(Check::StaleRead).or_default() += 1;
            let stale: Vec<String> = answered
                .iter()
                .filter_map(|(member, value)| {
                    let now = read.get(member)?;
                    (now != value).then(|| format!("{member}: the update answered {value}, the read shows {now}"))
                })
                .collect();
            if !stale.is_empty() && self.settings.enabled(target, Check::StaleRead) {
                let message = format!(
                    "Stale read after update\nA read after a successful update does not show what the update answered.\n{}",
                    stale.join("\n")
                );
                self.record(&step, Check::StaleRead, message, &exchange);
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
        full: bool,
    ) -> Option<Case> {
        let op = &self.api.operations[request.op];
        let mut params = Vec::new();
        for (name, expression) in &link.parameters {
            params.push((name.clone(), evaluate_expression(expression, op, request, created, body)?));
        }
        let link_body = match &link.request_body {
            Some(expression) => Some(evaluate_expression(expression, op, request, created, body)?),
            None => None,
        };
        let mut builder = Builder::new(self.api, link.target, seed);
        if full {
            builder.generator.optional_odds = 1.0;
        }
        builder.linked(Phase::Stateful, &params, link_body)
    }
}

/// Fetches fresh tokens for every renewal: `(scheme, token)`.
pub async fn renew_all(
    client: &reqwest::Client,
    base: &reqwest::Url,
    renewals: &[Renewal],
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for renewal in renewals {
        match renewal {
            Renewal::Login { login, schemes } => {
                let token = log_in(client, base, login).await?;
                out.extend(schemes.iter().map(|s| (s.clone(), token.clone())));
            }
            Renewal::ClientCredentials { scheme, token_url, id, secret, scopes } => {
                let token = crate::auth::client_credentials(client, token_url, id, secret, scopes).await?;
                out.push((scheme.clone(), token));
            }
        }
    }
    Ok(out)
}

/// Whether the connection was closed or reset before any response byte arrived: the request may
/// never have reached the server, and is sent again.
fn closed_before_response(error: &reqwest::Error) -> bool {
    if error.is_timeout() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed())
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// How long a 429 asks to wait: `Retry-After` (seconds or an HTTP date), `RateLimit-Reset`,
/// `X-RateLimit-Reset` (seconds, or a Unix time), or the `t=`/`reset=` of a `RateLimit` field.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(value) = text("retry-after") {
        if let Ok(seconds) = value.parse::<f64>() {
            return Some(Duration::from_secs_f64(seconds.max(0.0)));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            return Some(date.duration_since(std::time::SystemTime::now()).unwrap_or_default());
        }
    }
    for name in ["ratelimit-reset", "x-ratelimit-reset"] {
        if let Some(seconds) = text(name).and_then(|v| v.parse::<f64>().ok()) {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            // Values past 2001 in seconds are Unix times, not delays.
            return Some(if seconds > 1e9 {
                Duration::from_secs_f64((seconds - now.as_secs_f64()).max(0.0))
            } else {
                Duration::from_secs_f64(seconds.max(0.0))
            });
        }
    }
    let field = text("ratelimit")?;
    field.split([';', ',']).find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        matches!(key.trim(), "t" | "reset")
            .then(|| value.trim().parse::<f64>().ok())
            .flatten()
            .map(|s| Duration::from_secs_f64(s.max(0.0)))
    })
}

/// The most requests spent shrinking one failure.
const SHRINK_ATTEMPTS: usize = 40;

/// The most identifiers kept per path parameter.
const POOL_LIMIT: usize = 64;

/// The identifiers a listing shows: the `id` (or the parameter's name) of each object in the
/// answer's array, or in the first array member of an envelope (`data`, `items`, ...).
fn listed_identifiers(name: &str, body: Option<&Value>) -> Vec<Value> {
    let Some(body) = body else { return Vec::new() };
    let items = body.as_array().or_else(|| body.as_object()?.values().find_map(Value::as_array));
    items
        .into_iter()
        .flatten()
        .filter_map(|item| item.get(name).or_else(|| item.get("id")))
        .filter(|v| v.is_string() || v.is_number())
        .cloned()
        .collect()
}

/// A listing shorter than this is taken to be whole (no page boundary can hide an item).
const SHORT_LIST: usize = 10;

/// How many updates the stateful phase sends through each update link, each read back.
const UPDATES_PER_LINK: u64 = 4;

/// The seed of stream `n` drawn from `seed` (SplitMix64's step and mix): the chains' seeds from
/// the run's, each step's from its chain's. Drawn as `seed + n` and `seed ^ attempt`, chains `s`
/// and `s + 1` tried the same update bodies: a run of three chains tried 4 bodies, not 12, and 3
/// of 168 runs of the zoo's tasks target by hand missed the planted defect behind a flag no body
/// set.
fn stream(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How many copies of one create the race probe sends at once.
const RACE_COPIES: usize = 8;

/// The members an update sent that its JSON answer also holds, with the answered values.
fn answered_members(step: &Case, exchange: &Exchange) -> Option<serde_json::Map<String, Value>> {
    let sent = step.body.as_ref()?.value.as_object()?;
    let answer: Value = serde_json::from_slice(&exchange.body).ok()?;
    let answer = answer.as_object()?;
    let members: serde_json::Map<String, Value> =
        sent.keys().filter_map(|k| Some((k.clone(), answer.get(k)?.clone()))).collect();
    (!members.is_empty()).then_some(members)
}

/// The name of the parameter `path` ends with (`noteId` of `/users/{userId}/notes/{noteId}`), if it
/// ends with one: the resource a `DELETE` of it deletes.
fn ending_parameter(path: &str) -> Option<&str> {
    path.trim_end_matches('/').rsplit('/').next()?.strip_prefix('{')?.strip_suffix('}')
}

/// Takes out of `pool` what a successful `DELETE` of `path` with path parameters `parents` (pool
/// key to value) removed: when the path ends with a parameter, that identifier (under the same
/// enclosing values) and everything created or listed under it; otherwise (`DELETE
/// /users/{userId}/notes`, `DELETE /notes`) every identifier of the paths under it, under the same
/// enclosing values. The identifiers it lives under stay: deleting a note leaves its user.
fn forget_deleted(pool: &mut crate::cases::Pool, path: &str, parents: &[(String, Value)]) {
    let path = path.trim_end_matches('/');
    let under = format!("{path}/");
    let Some(name) = ending_parameter(path) else {
        for (key, values) in pool.iter_mut() {
            if key.starts_with(&under) {
                values.retain(|p| !p.fits(parents));
            }
        }
        return;
    };
    let Some(gone_key) = crate::cases::pool_key(path, name) else { return };
    let Some((_, gone)) = parents.iter().find(|(k, _)| *k == gone_key) else { return };
    for (key, values) in pool.iter_mut() {
        values.retain(|p| {
            let itself = *key == gone_key && p.value == *gone && p.fits(parents);
            !itself && !p.parents.iter().any(|(k, v)| *k == gone_key && v == gone)
        });
    }
}

/// The identifier of what a create answered: its body's member named like the parameter, or its
/// `id` (also inside a `data` envelope), or else the last segment of its `Location` header.
fn created_identifier(name: &str, created: &Exchange, body: Option<&Value>) -> Option<Value> {
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_)).then(|| v.clone());
    let from_body = body.and_then(|body| {
        [format!("/{name}"), "/id".into(), format!("/data/{name}"), "/data/id".into()]
            .iter()
            .find_map(|pointer| body.pointer(pointer).and_then(scalar))
    });
    from_body.or_else(|| {
        let location = created.headers.get("location")?.to_str().ok()?;
        let path = location.split(['?', '#']).next()?.trim_end_matches('/');
        let last = path.rsplit('/').next().filter(|s| !s.is_empty())?;
        let decoded = percent_encoding::percent_decode_str(last).decode_utf8().ok()?;
        Some(Value::String(decoded.into_owned()))
    })
}

/// An OpenAPI runtime expression (`$response.body#/id`, `$request.path.id`, `$response.header.ETag`,
/// `$statusCode`, ...) or a constant.
fn evaluate_expression(
    expression: &Value,
    op: &Op,
    request: &Case,
    created: &Exchange,
    body: Option<&Value>,
) -> Option<Value> {
    let Some(text) = expression.as_str() else { return Some(expression.clone()) };
    if !text.starts_with('$') {
        return Some(expression.clone());
    }
    if let Some(name) = text.strip_prefix(crate::model::INFERRED) {
        return created_identifier(name, created, body);
    }
    if let Some(pointer) = text.strip_prefix("$response.body") {
        let pointer = pointer.strip_prefix('#').unwrap_or(pointer);
        return body?.pointer(pointer).cloned();
    }
    if let Some(name) = text.strip_prefix("$response.header.") {
        return created.headers.get(name).and_then(|v| v.to_str().ok()).map(|v| Value::String(v.to_string()));
    }
    if let Some(pointer) = text.strip_prefix("$request.body") {
        let pointer = pointer.strip_prefix('#').unwrap_or(pointer);
        return request.body.as_ref()?.value.pointer(pointer).cloned();
    }
    for (prefix, location) in [
        ("$request.path.", Location::Path),
        ("$request.query.", Location::Query),
        ("$request.header.", Location::Header),
    ] {
        if let Some(name) = text.strip_prefix(prefix) {
            return request.param_value(op, name, Some(location));
        }
    }
    match text {
        "$statusCode" => Some(Value::from(created.status)),
        "$method" => Some(Value::String(request.method.clone())),
        "$url" => Some(Value::String(created.sent.url.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    /// A pool of two users, `u1` with notes `n1` and `n2`, `u2` with a note also called `n1`.
    fn notebooks_pool() -> crate::cases::Pool {
        let (users, notes) = ("/users/{userId}#userId", "/users/{userId}/notes/{noteId}#noteId");
        let pooled = |value: &str, parents: &[(&str, &str)]| crate::cases::Pooled {
            value: Value::from(value),
            created: true,
            parents: parents.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect(),
        };
        crate::cases::Pool::from([
            (users.to_string(), vec![pooled("u1", &[]), pooled("u2", &[])]),
            (
                notes.to_string(),
                vec![pooled("n1", &[(users, "u1")]), pooled("n2", &[(users, "u1")]), pooled("n1", &[(users, "u2")])],
            ),
        ])
    }

    /// What the pool holds under `key`: each value with its user.
    fn held(pool: &crate::cases::Pool, key: &str) -> Vec<String> {
        pool[key]
            .iter()
            .map(|p| {
                let parent = p.parents.first().map(|(_, v)| format!("{}/", v.as_str().unwrap())).unwrap_or_default();
                format!("{parent}{}", p.value.as_str().unwrap())
            })
            .collect()
    }

    #[test]
    fn a_delete_forgets_what_it_deleted_and_what_lived_under_it_and_nothing_above() {
        let (users, notes) = ("/users/{userId}#userId", "/users/{userId}/notes/{noteId}#noteId");
        let request = |pairs: &[(&str, &str)]| -> Vec<(String, Value)> {
            pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
        };

        // One note: the user stays, and so does another user's note of the same name.
        let mut pool = notebooks_pool();
        forget_deleted(&mut pool, "/users/{userId}/notes/{noteId}", &request(&[(users, "u1"), (notes, "n1")]));
        assert_eq!(held(&pool, users), ["u1", "u2"]);
        assert_eq!(held(&pool, notes), ["u1/n2", "u2/n1"]);

        // A user: its notes go with it.
        let mut pool = notebooks_pool();
        forget_deleted(&mut pool, "/users/{userId}", &request(&[(users, "u1")]));
        assert_eq!(held(&pool, users), ["u2"]);
        assert_eq!(held(&pool, notes), ["u2/n1"]);

        // A user's whole collection of notes, and every user's.
        let mut pool = notebooks_pool();
        forget_deleted(&mut pool, "/users/{userId}/notes", &request(&[(users, "u2")]));
        assert_eq!(held(&pool, users), ["u1", "u2"]);
        assert_eq!(held(&pool, notes), ["u1/n1", "u1/n2"]);
        forget_deleted(&mut pool, "/users", &[]);
        assert!(pool[users].is_empty() && pool[notes].is_empty());
    }

    #[test]
    fn every_chain_of_a_run_tries_its_own_update_bodies() {
        // The seeds of every step of a run's chains (100 chains, each update link's attempts and
        // the reads after), for many runs' seeds: none repeats within a run.
        for run in (0..2_000u64).chain([316_852, u64::MAX]) {
            let mut seen = HashSet::new();
            for chain in (0..100).map(|n| stream(run, n)) {
                for step in (0..=UPDATES_PER_LINK).map(|attempt| stream(chain, attempt)) {
                    assert!(seen.insert(step), "run {run}: a step's seed repeats");
                }
            }
        }
    }

    #[test]
    fn rate_limit_waits_are_read_from_every_common_header() {
        let wait = |name: &'static str, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_str(value).unwrap());
            retry_after(&headers)
        };
        assert_eq!(wait("retry-after", "3"), Some(Duration::from_secs(3)));
        assert_eq!(wait("ratelimit-reset", "2"), Some(Duration::from_secs(2)));
        assert_eq!(wait("ratelimit", "\"default\";r=0;t=7"), Some(Duration::from_secs(7)));
        assert_eq!(wait("ratelimit", "limit=10, remaining=0, reset=4"), Some(Duration::from_secs(4)));
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        assert!(
            wait("retry-after", &soon).is_some_and(|d| d <= Duration::from_secs(30) && d >= Duration::from_secs(28))
        );
        assert_eq!(wait("x-unrelated", "5"), None);
    }
}
