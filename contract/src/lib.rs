//! `commerce contract`: checks a running deployment against its OpenAPI document (Swagger 2.0,
//! OpenAPI 3.0 or 3.1, from a file or a URL).
//!
//! Four phases build the requests (`examples`, `coverage`, `fuzzing`, `stateful`); the checks that judge
//! the responses are Schemathesis's, by name and definition; the configuration file is the subset of
//! `schemathesis.toml` this tester understands. The document is read by `commerce-spec`, the same code
//! the generator reads it with.
//!
//! Never a false green: every operation ends as tested or "not tested" with the reason (no
//! credentials for its scheme, no request could be built, every answer 401 or 429, ...), and an
//! operation not tested fails the run unless the user excludes it.

pub mod auth;
pub mod cases;
pub mod checks;
pub mod config;
pub mod filter;
pub mod model;
pub mod report;
pub mod runner;
pub mod values;
pub mod wire;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use auth::{AuthMode, Credentials, Secret};
use cases::{Builder, Case, Mode, Phase};
use checks::Check;
use config::{FileConfig, Login, RateLimit, SchemeCredential, Settings, TlsVerify};
use filter::{Field, Filter, Selector};
use model::{Api, Scheme};
use report::{Coverage, Sent, Warning};
use runner::{Renewal, Runner, Transport};

/// Exit status: every check passed and every operation was tested.
pub const EXIT_PASSED: u8 = 0;
/// Exit status: a check failed, a request got no response, or an operation was not tested.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: the document, the configuration, the credentials or the login is unusable.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Junit,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PhaseArg {
    Examples,
    Coverage,
    Fuzzing,
    Stateful,
}

/// Check a running deployment against its OpenAPI document (Swagger 2.0, OpenAPI 3.0 or 3.1), with
/// Schemathesis's checks.
///
/// Examples:
///   commerce contract --base-url http://127.0.0.1:8080 --config schemathesis.toml
///   commerce contract --spec https://api.example.com/openapi.json --base-url https://staging.example.com \
///       --bearer "$TOKEN" --exclude-tag admin --report junit
///   commerce contract --spec api.yaml --base-url http://localhost:8000 --dry-run
///
/// Every operation ends "tested" or "NOT TESTED: <why>"; an operation not tested fails the run
/// unless a filter excludes it. Exit status: 0 when every check passed and every operation was
/// tested, 1 otherwise, 2 on an unusable document, configuration or credential.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Run")]
pub struct Args {
    /// The document: a path or an http(s) URL; YAML or JSON; Swagger 2.0, OpenAPI 3.0 or 3.1.
    #[arg(long, default_value = "openapi/commerce.yaml")]
    pub spec: String,
    /// Where the deployment answers; overrides `base-url` of the configuration file.
    #[arg(long, env = "COMMERCE_CONTRACT_BASE_URL")]
    pub base_url: Option<String>,
    /// A `schemathesis.toml` (the subset of it this tester understands; any other key is refused).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Phases to run, comma-separated (default: all four).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub phases: Vec<PhaseArg>,
    /// Checks to run, comma-separated, or `all` (default).
    #[arg(long, value_delimiter = ',')]
    pub checks: Vec<String>,
    /// Checks not to run, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude_checks: Vec<String>,
    /// Valid data, invalid data, or both (default: the configuration file's, else all).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Fuzzing cases per operation, and a tenth as many stateful chains (default 100).
    #[arg(long)]
    pub max_examples: Option<usize>,
    /// Seed of the generated data: the same seed sends the same requests (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Requests in flight at once (default 8).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Build every case and print what would be sent per operation, and why an operation cannot be
    /// tested; send nothing. Exit 1 if an operation (not excluded) cannot be tested.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run, print every request (as a curl command) instead of the first of each phase.
    #[arg(long, requires = "dry_run")]
    pub show_requests: bool,

    #[command(flatten)]
    pub filters: FilterArgs,
    #[command(flatten)]
    pub credentials: CredentialArgs,
    #[command(flatten)]
    pub transport: TransportArgs,

    /// Fail responses slower than this many milliseconds (`max_response_time`; off by default).
    #[arg(long, help_heading = "Report")]
    pub max_response_time: Option<u64>,
    /// Write a report: junit or json (repeatable).
    #[arg(long, value_enum, help_heading = "Report")]
    pub report: Vec<ReportFormat>,
    /// Where reports are written.
    #[arg(long, default_value = "contract-reports", help_heading = "Report")]
    pub report_dir: PathBuf,
    /// No live progress line, even on a terminal.
    #[arg(long, help_heading = "Report")]
    pub no_progress: bool,
}

/// Which operations to test. Each include flag narrows the set (any of its values matches); each
/// exclude flag removes what it matches. An operation without operationId is named `METHOD /path`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Operations")]
pub struct FilterArgs {
    /// Only these operationIds (or derived names such as `GET /users/{id}`); repeatable.
    #[arg(long = "include-operation-id")]
    pub include_operation_id: Vec<String>,
    /// Leave out these operationIds (or derived names); repeatable.
    #[arg(long = "exclude-operation-id")]
    pub exclude_operation_id: Vec<String>,
    /// Only operations named `METHOD /path` exactly; repeatable.
    #[arg(long = "include-name")]
    pub include_name: Vec<String>,
    /// Leave out operations named `METHOD /path`; repeatable.
    #[arg(long = "exclude-name")]
    pub exclude_name: Vec<String>,
    /// Only these path templates exactly (`/users/{id}`); repeatable.
    #[arg(long = "include-path")]
    pub include_path: Vec<String>,
    /// Leave out these path templates; repeatable.
    #[arg(long = "exclude-path")]
    pub exclude_path: Vec<String>,
    /// Only path templates matching this regular expression (searched: `^/v2/`).
    #[arg(long = "include-path-regex")]
    pub include_path_regex: Option<String>,
    /// Leave out path templates matching this regular expression.
    #[arg(long = "exclude-path-regex")]
    pub exclude_path_regex: Option<String>,
    /// Only these methods; repeatable or comma-separated.
    #[arg(long = "include-method", value_delimiter = ',')]
    pub include_method: Vec<String>,
    /// Leave out these methods; repeatable or comma-separated.
    #[arg(long = "exclude-method", value_delimiter = ',')]
    pub exclude_method: Vec<String>,
    /// Only operations with this tag; repeatable.
    #[arg(long = "include-tag")]
    pub include_tag: Vec<String>,
    /// Leave out operations with this tag; repeatable.
    #[arg(long = "exclude-tag")]
    pub exclude_tag: Vec<String>,
}

/// Credentials, for each kind of security scheme. A scheme without one makes the operations that
/// need it "not tested".
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Credentials")]
pub struct CredentialArgs {
    /// A bearer token, for http bearer, oauth2 and openIdConnect schemes.
    #[arg(long, env = "COMMERCE_CONTRACT_BEARER", hide_env_values = true)]
    pub bearer: Option<String>,
    /// A bearer token the deployment issued that has expired: the `ignored_auth` probes send it in
    /// place of the configured one, and expect it refused (a tester cannot sign one itself).
    #[arg(long, env = "COMMERCE_CONTRACT_EXPIRED_BEARER", hide_env_values = true)]
    pub expired_bearer: Option<String>,
    /// USER:PASSWORD for http basic schemes.
    #[arg(long, env = "COMMERCE_CONTRACT_AUTH", hide_env_values = true)]
    pub auth: Option<String>,
    /// A key for every apiKey scheme (header, query or cookie, as each says).
    #[arg(long, env = "COMMERCE_CONTRACT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// SCHEME=VALUE: the credential of one named security scheme (a token, a key, or USER:PASSWORD
    /// for basic); repeatable. Overrides the flags above for that scheme.
    #[arg(long = "credential")]
    pub credential: Vec<String>,
    /// 'Name: value', a header sent with every request (repeatable). A header a scheme reads
    /// (Authorization, an apiKey's header) counts as that scheme's credential.
    #[arg(short = 'H', long = "header")]
    pub header: Vec<String>,
    /// OAuth 2 client credentials flow: the client id (with --oauth-client-secret); the token is
    /// fetched from the scheme's tokenUrl, or from an openIdConnect scheme's discovered endpoint.
    #[arg(long, env = "COMMERCE_CONTRACT_OAUTH_CLIENT_ID")]
    pub oauth_client_id: Option<String>,
    /// The OAuth 2 client secret.
    #[arg(long, env = "COMMERCE_CONTRACT_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_client_secret: Option<String>,
    /// Scopes to request (default: every scope the document's operations require); repeatable.
    #[arg(long = "oauth-scope")]
    pub oauth_scope: Vec<String>,
    /// A client certificate (PEM) for mutualTLS schemes, with --client-key.
    #[arg(long)]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long)]
    pub client_key: Option<PathBuf>,
    /// A login path to POST `--login-payload` to; the token at `--login-token-pointer` is the bearer.
    #[arg(long)]
    pub login_path: Option<String>,
    /// The login's JSON body (`${VAR}` is replaced from the environment).
    #[arg(long, hide_env_values = true)]
    pub login_payload: Option<String>,
    /// JSON pointer to the token in the login's response.
    #[arg(long, default_value = "/accessToken")]
    pub login_token_pointer: String,
}

#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Transport")]
pub struct TransportArgs {
    /// Give up on a request after this many seconds (default 10).
    #[arg(long)]
    pub request_timeout: Option<f64>,
    /// Do not verify the server's TLS certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Verify the server's certificate against this CA bundle (PEM) as well as the system's.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// At most this many requests: N/s, N/m or N/h (e.g. 100/s).
    #[arg(long)]
    pub rate_limit: Option<RateLimit>,
    /// Longest wait for one 429 answer before retrying, in seconds (default 60).
    #[arg(long, default_value_t = 60.0)]
    pub max_rate_limit_wait: f64,
}

/// A run's resolved plan.
struct Plan {
    base_url: reqwest::Url,
    phases: Vec<Phase>,
    mode: Mode,
    max_examples: usize,
    seed: u64,
    workers: usize,
    login: Option<Login>,
    settings: Settings,
    selector: Selector,
    file: FileConfig,
}

fn selector(args: &FilterArgs) -> Result<Selector, String> {
    let mut selector = Selector::default();
    let mut exact = |include: bool, field: Field, values: &[String]| {
        if !values.is_empty() {
            let written =
                format!("--{}-{} {}", if include { "include" } else { "exclude" }, field.flag(), values.join(", "));
            let filter = Filter::exact(field, values.to_vec(), written);
            if include { selector.include.push(filter) } else { selector.exclude.push(filter) }
        }
    };
    exact(true, Field::OperationId, &args.include_operation_id);
    exact(false, Field::OperationId, &args.exclude_operation_id);
    exact(true, Field::Name, &args.include_name);
    exact(false, Field::Name, &args.exclude_name);
    exact(true, Field::Path, &args.include_path);
    exact(false, Field::Path, &args.exclude_path);
    exact(true, Field::Method, &args.include_method);
    exact(false, Field::Method, &args.exclude_method);
    exact(true, Field::Tag, &args.include_tag);
    exact(false, Field::Tag, &args.exclude_tag);
    for (include, pattern) in [(true, &args.include_path_regex), (false, &args.exclude_path_regex)] {
        if let Some(pattern) = pattern {
            let written = format!("--{}-path-regex {pattern}", if include { "include" } else { "exclude" });
            let filter = Filter::regex(Field::Path, pattern, written)?;
            if include { selector.include.push(filter) } else { selector.exclude.push(filter) }
        }
    }
    Ok(selector)
}

fn plan(args: &Args, api: &Api) -> Result<Plan, String> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let base_url = args.base_url.clone().or(file.base_url.clone()).ok_or_else(|| {
        let servers: Vec<&str> = api
            .spec
            .doc
            .get("servers")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("url").and_then(serde_json::Value::as_str))
            .collect();
        if servers.is_empty() {
            "--base-url is required".to_string()
        } else {
            format!("--base-url is required (the document's servers: {})", servers.join(", "))
        }
    })?;
    let base_url = reqwest::Url::parse(&base_url).map_err(|e| format!("--base-url {base_url}: {e}"))?;
    if !matches!(base_url.scheme(), "http" | "https") {
        return Err(format!("--base-url {base_url}: expected an http:// or https:// URL"));
    }
    let phases: Vec<Phase> = if args.phases.is_empty() {
        Phase::ALL.into_iter().filter(|p| file.phases.get(p).copied().unwrap_or(true)).collect()
    } else {
        args.phases
            .iter()
            .map(|p| match p {
                PhaseArg::Examples => Phase::Examples,
                PhaseArg::Coverage => Phase::Coverage,
                PhaseArg::Fuzzing => Phase::Fuzzing,
                PhaseArg::Stateful => Phase::Stateful,
            })
            .collect()
    };
    let parse_checks = |names: &[String]| -> Result<Vec<Check>, String> {
        names
            .iter()
            .filter(|n| n.as_str() != "all")
            .map(|n| Check::from_name(n).ok_or_else(|| format!("{n} is not a check (known: {})", known_checks())))
            .collect()
    };
    let mut checks: Vec<Check> = if args.checks.is_empty() || args.checks.iter().any(|c| c == "all") {
        let on = file.checks_enabled.unwrap_or(true);
        let named_all = args.checks.iter().any(|c| c == "all");
        Check::ALL
            .into_iter()
            .filter(|c| file.check_enabled.get(c).copied().unwrap_or(on && (named_all || !c.opt_in())))
            .collect()
    } else {
        parse_checks(&args.checks)?
    };
    let excluded = parse_checks(&args.exclude_checks)?;
    checks.retain(|c| !excluded.contains(c));
    let selector = selector(&args.filters)?;
    for filter in selector.include.iter() {
        if !api.operations.iter().any(|op| filter.matches(op)) {
            return Err(format!("{}: no operation of the document matches", filter.written));
        }
    }
    let credentials = &args.credentials;
    let login = match (&credentials.login_path, &credentials.login_payload) {
        (Some(path), payload) => {
            let payload = match payload {
                Some(text) => serde_json::from_str(text).map_err(|e| format!("--login-payload is not JSON: {e}"))?,
                None => serde_json::Value::Null,
            };
            Some(Login {
                path: path.clone(),
                payload,
                token_pointer: credentials.login_token_pointer.clone(),
                scheme: None,
            })
        }
        (None, Some(_)) => return Err("--login-payload needs --login-path".into()),
        (None, None) => match &file.login {
            Some(login) => Some(Login { payload: config::substitute_env(&login.payload)?, ..login.clone() }),
            None => None,
        },
    };
    let seed = args.seed.or(file.seed).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64 % 1_000_000)
    });
    let max_response_time = args.max_response_time.map(Duration::from_millis).or(file.max_response_time);
    if !checks.contains(&Check::MaxResponseTime) || max_response_time.is_none() {
        // Like Schemathesis, max_response_time judges only with a limit given.
        checks.retain(|c| *c != Check::MaxResponseTime);
    }
    Ok(Plan {
        base_url,
        phases,
        mode: args.mode.or(file.mode).unwrap_or(Mode::All),
        max_examples: args.max_examples.or(file.max_examples).unwrap_or(100).max(1),
        seed,
        workers: args.workers.or(file.workers).unwrap_or(8).max(1),
        login,
        settings: Settings {
            checks,
            expected: file.expected.clone(),
            operations: file.operations.clone(),
            max_response_time,
        },
        selector,
        file,
    })
}

fn known_checks() -> String {
    Check::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
}

/// Reads the document at `location` (a path or an http(s) URL) and every document it references.
pub async fn load_document(location: &str, client: &reqwest::Client) -> Result<commerce_spec::Spec, String> {
    use commerce_spec::load::{Bundle, location as parse_location, read_file};
    let root = parse_location(location).map_err(|e| e.0)?;
    let read = async |url: &reqwest::Url| -> Result<String, String> {
        if url.scheme() == "file" {
            return read_file(url).map_err(|e| e.0);
        }
        let response = client.get(url.clone()).send().await.map_err(|e| format!("cannot fetch {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("cannot fetch {url}: it answered {}", response.status()));
        }
        response.text().await.map_err(|e| format!("cannot fetch {url}: {e}"))
    };
    let text = read(&root).await?;
    let mut bundle = Bundle::new(root, &text).map_err(|e| e.0)?;
    loop {
        let wanted = bundle.wanted().map_err(|e| e.0)?;
        if wanted.is_empty() {
            break;
        }
        for url in wanted {
            let text = read(&url).await?;
            bundle.provide(url, &text).map_err(|e| e.0)?;
        }
    }
    let doc = bundle.finish().map_err(|e| e.0)?;
    commerce_spec::Spec::from_value(doc).map_err(|e| format!("{location}: {}", e.0))
}

fn client_builder(
    transport: &TransportArgs,
    file: &FileConfig,
    workers: usize,
) -> Result<reqwest::ClientBuilder, String> {
    let timeout = transport
        .request_timeout
        .map(Duration::from_secs_f64)
        .or(file.request_timeout)
        .unwrap_or(Duration::from_secs(10));
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(workers);
    let verify = match (&transport.ca_file, transport.insecure) {
        (_, true) => TlsVerify::Off,
        (Some(path), false) => TlsVerify::CaFile(path.clone()),
        (None, false) => file.tls_verify.clone().unwrap_or(TlsVerify::On),
    };
    match verify {
        TlsVerify::On => {}
        TlsVerify::Off => builder = builder.danger_accept_invalid_certs(true),
        TlsVerify::CaFile(path) => {
            let pem = std::fs::read(&path).map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: not a PEM certificate bundle: {e}", path.display()))?
            {
                builder = builder.add_root_certificate(certificate);
            }
        }
    }
    Ok(builder)
}

/// The clients of a run: with the client certificate if one is given, without, and one that keeps
/// no connection for resends.
fn transport(args: &Args, plan: &Plan) -> Result<Transport, String> {
    let file = &plan.file;
    let cert = args.credentials.client_cert.clone().or(file.request_cert.clone());
    let key = args.credentials.client_key.clone().or(file.request_cert_key.clone());
    let identity = match (cert, key) {
        (Some(cert), key) => {
            let mut pem = std::fs::read(&cert)
                .map_err(|e| format!("cannot read the client certificate {}: {e}", cert.display()))?;
            if let Some(key) = key {
                pem.push(b'\n');
                pem.extend(
                    std::fs::read(&key).map_err(|e| format!("cannot read the client key {}: {e}", key.display()))?,
                );
            }
            Some(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("the client certificate and key are not usable PEM: {e}"))?,
            )
        }
        (None, Some(_)) => return Err("--client-key needs --client-cert".into()),
        (None, None) => None,
    };
    let build = |builder: reqwest::ClientBuilder| {
        builder.build().map_err(|e| {
            let cause = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            format!("cannot set up the HTTP client: {e}{cause}")
        })
    };
    let with_identity = |builder: reqwest::ClientBuilder| match &identity {
        Some(identity) => builder.identity(identity.clone()),
        None => builder,
    };
    let mut headers = file.headers.clone();
    for header in &args.credentials.header {
        let (name, value) = header.split_once(':').ok_or_else(|| format!("-H {header:?}: expected 'Name: value'"))?;
        let (name, value) = (name.trim(), value.trim());
        reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("-H {header:?}: {name:?} is not a header name"))?;
        reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| format!("-H {header:?}: the value is not a valid header value"))?;
        headers.push((name.to_string(), value.to_string()));
    }
    let rate_limit = args.transport.rate_limit.or(file.rate_limit);
    let throttle = rate_limit.map(|limit| {
        let quota = governor::Quota::with_period(limit.per / limit.count)
            .expect("a positive period")
            .allow_burst(std::num::NonZeroU32::MIN);
        governor::RateLimiter::direct(quota)
    });
    Ok(Transport {
        client: build(with_identity(client_builder(&args.transport, file, plan.workers)?))?,
        anonymous: build(client_builder(&args.transport, file, plan.workers)?)?,
        has_certificate: identity.is_some(),
        fresh: build(with_identity(client_builder(&args.transport, file, 0)?.pool_max_idle_per_host(0)))?,
        headers,
        max_wait: Duration::from_secs_f64(args.transport.max_rate_limit_wait.max(0.0)),
        throttle,
    })
}

/// Where each scheme's credential comes from, and how tokens are renewed. In a dry run nothing is
/// fetched: obtained tokens are placeholders.
async fn credentials(
    args: &CredentialArgs,
    plan: &Plan,
    api: &Api,
    transport: &Transport,
    dry_run: bool,
) -> Result<(Credentials, Vec<Renewal>), String> {
    let mut by_scheme = BTreeMap::new();
    let mut renewals = Vec::new();
    let basic = match &args.auth {
        Some(text) => {
            let (user, password) = text.split_once(':').ok_or("--auth: expected USER:PASSWORD")?;
            Some((user.to_string(), password.to_string()))
        }
        None => plan.file.basic.clone(),
    };
    let mut named: BTreeMap<String, SchemeCredential> = plan.file.schemes.iter().cloned().collect();
    for text in &args.credential {
        let (scheme, value) =
            text.split_once('=').ok_or_else(|| format!("--credential {text}: expected SCHEME=VALUE"))?;
        let credential = match api.schemes.get(scheme) {
            Some(Scheme::Basic) => {
                let (user, password) = value
                    .split_once(':')
                    .ok_or_else(|| format!("--credential {scheme}=...: basic credentials are USER:PASSWORD"))?;
                SchemeCredential::Basic { user: user.into(), password: password.into() }
            }
            Some(Scheme::ApiKey { .. }) => SchemeCredential::ApiKey(value.into()),
            Some(_) => SchemeCredential::Bearer(value.into()),
            None => return Err(unknown_scheme(api, scheme, "--credential")),
        };
        named.insert(scheme.to_string(), credential);
    }
    for scheme in named.keys() {
        if !api.schemes.contains_key(scheme) {
            return Err(unknown_scheme(api, scheme, "[auth.openapi]"));
        }
    }
    if let Some(scheme) = plan.login.as_ref().and_then(|l| l.scheme.as_ref())
        && !api.schemes.contains_key(scheme)
    {
        return Err(unknown_scheme(api, scheme, "[auth.dynamic.openapi]"));
    }
    let header_named =
        |name: &str| transport.headers.iter().find(|(h, _)| h.eq_ignore_ascii_case(name)).map(|(h, _)| h.clone());
    let token = if dry_run {
        None
    } else {
        match &plan.login {
            Some(login) => Some(runner::log_in(&transport.client, &plan.base_url, login).await?),
            None => None,
        }
    };
    let mut login_schemes = Vec::new();
    let required_scopes: Vec<String> = {
        let mut scopes: Vec<String> =
            api.operations.iter().flat_map(|o| o.security.iter().flatten().flat_map(|r| r.scopes.clone())).collect();
        scopes.sort();
        scopes.dedup();
        scopes
    };
    for (name, scheme) in &api.schemes {
        let var = auth::variable_for(name);
        if let Some(credential) = named.get(name) {
            let secret = match credential {
                SchemeCredential::Bearer(t) => Secret::Token(t.clone()),
                SchemeCredential::ApiKey(k) => Secret::Key(k.clone()),
                SchemeCredential::Basic { user, password } => {
                    Secret::Basic { user: user.clone(), password: password.clone() }
                }
            };
            by_scheme.insert(name.clone(), (secret, var));
            continue;
        }
        // A header given with -H that this scheme reads is its credential (more specific than the
        // flags for every scheme of a type).
        let carried_by = match scheme {
            Scheme::ApiKey { location: model::KeyIn::Header, name } => header_named(name),
            Scheme::ApiKey { .. } | Scheme::MutualTls => None,
            _ => header_named("authorization"),
        };
        if let Some(header) = carried_by {
            by_scheme.insert(name.clone(), (Secret::Header(header), String::new()));
            continue;
        }
        let login_applies = plan.login.as_ref().is_some_and(|l| match &l.scheme {
            Some(s) => s == name,
            None => matches!(scheme, Scheme::Bearer | Scheme::OAuth2 { .. } | Scheme::OpenIdConnect { .. }),
        });
        let secret = match scheme {
            _ if login_applies => {
                login_schemes.push(name.clone());
                Some((
                    Secret::Token(token.clone().unwrap_or_else(|| "<obtained by logging in>".into())),
                    "CONTRACT_BEARER".to_string(),
                ))
            }
            Scheme::Bearer => args.bearer.clone().map(|t| (Secret::Token(t), "CONTRACT_BEARER".into())),
            Scheme::OAuth2 { token_url } => match (&args.oauth_client_id, token_url) {
                (Some(id), Some(url)) if args.bearer.is_none() => {
                    let secret =
                        args.oauth_client_secret.clone().ok_or("--oauth-client-id needs --oauth-client-secret")?;
                    let url = plan.base_url.join(url).map_err(|e| format!("{name}: tokenUrl {url}: {e}"))?;
                    let scopes =
                        if args.oauth_scope.is_empty() { required_scopes.clone() } else { args.oauth_scope.clone() };
                    let token = if dry_run {
                        "<obtained from the token endpoint>".to_string()
                    } else {
                        auth::client_credentials(&transport.client, &url, id, &secret, &scopes).await?
                    };
                    renewals.push(Renewal::ClientCredentials {
                        scheme: name.clone(),
                        token_url: url,
                        id: id.clone(),
                        secret,
                        scopes,
                    });
                    Some((Secret::Token(token), var.clone()))
                }
                _ => args.bearer.clone().map(|t| (Secret::Token(t), "CONTRACT_BEARER".into())),
            },
            Scheme::OpenIdConnect { discovery_url } => match &args.oauth_client_id {
                Some(id) if args.bearer.is_none() => {
                    let secret =
                        args.oauth_client_secret.clone().ok_or("--oauth-client-id needs --oauth-client-secret")?;
                    let discovery = plan
                        .base_url
                        .join(discovery_url)
                        .map_err(|e| format!("{name}: openIdConnectUrl {discovery_url}: {e}"))?;
                    let scopes =
                        if args.oauth_scope.is_empty() { required_scopes.clone() } else { args.oauth_scope.clone() };
                    let (token, url) = if dry_run {
                        ("<obtained from the discovered token endpoint>".to_string(), discovery.clone())
                    } else {
                        let url = auth::discover_token_endpoint(&transport.client, &discovery).await?;
                        (auth::client_credentials(&transport.client, &url, id, &secret, &scopes).await?, url)
                    };
                    renewals.push(Renewal::ClientCredentials {
                        scheme: name.clone(),
                        token_url: url,
                        id: id.clone(),
                        secret,
                        scopes,
                    });
                    Some((Secret::Token(token), var.clone()))
                }
                _ => args.bearer.clone().map(|t| (Secret::Token(t), "CONTRACT_BEARER".into())),
            },
            Scheme::Basic => {
                basic.clone().map(|(user, password)| (Secret::Basic { user, password }, "CONTRACT_BASIC".into()))
            }
            Scheme::ApiKey { .. } => args.api_key.clone().map(|k| (Secret::Key(k), "CONTRACT_API_KEY".into())),
            Scheme::OtherHttp(_) => None,
            Scheme::MutualTls => transport.has_certificate.then(|| (Secret::Certificate, String::new())),
        };
        if let Some(secret) = secret {
            by_scheme.insert(name.clone(), secret);
        }
    }
    if let Some(login) = &plan.login {
        if login_schemes.is_empty() {
            return Err(format!(
                "the login at {} gives a token, but the document has no bearer, oauth2 or openIdConnect scheme to send it with",
                login.path
            ));
        }
        renewals.push(Renewal::Login { login: login.clone(), schemes: login_schemes });
    }
    Ok((Credentials { by_scheme, generation: 0, expired_bearer: args.expired_bearer.clone() }, renewals))
}

fn unknown_scheme(api: &Api, scheme: &str, source: &str) -> String {
    let known: Vec<&str> = api.schemes.keys().map(String::as_str).collect();
    format!(
        "{source}: the document has no security scheme {scheme:?} (it has: {})",
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )
}

/// What a run found, and which checks judged it.
pub struct Outcome {
    pub summary: report::Summary,
    pub checks: Vec<Check>,
}

/// What a dry run would send.
pub struct DryRun {
    pub operations: Vec<DryOperation>,
    /// What the document holds that is not tested, and other notices (not tied to one operation).
    pub warnings: Vec<Warning>,
}

pub struct DryOperation {
    pub id: String,
    pub coverage: Coverage,
    /// Cases per phase (the stateful phase: chains it would start).
    pub cases: BTreeMap<Phase, usize>,
    /// Every case built, as it would be sent.
    pub requests: Vec<(Phase, Sent)>,
    /// Body media types that cannot be generated, with why.
    pub notes: Vec<String>,
}

impl DryRun {
    pub fn untested(&self) -> impl Iterator<Item = &DryOperation> {
        self.operations.iter().filter(|o| matches!(o.coverage, Coverage::NotTested(_)))
    }

    pub fn text(&self, all_requests: bool) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for op in &self.operations {
            match &op.coverage {
                Coverage::Excluded => continue,
                Coverage::NotTested(why) => {
                    writeln!(out, "{}: NOT TESTABLE: {why}", op.id).unwrap();
                    continue;
                }
                Coverage::Tested => {}
            }
            let counts: Vec<String> = op.cases.iter().map(|(p, n)| format!("{} {n}", p.name())).collect();
            writeln!(out, "{}: {}", op.id, counts.join(", ")).unwrap();
            for note in &op.notes {
                writeln!(out, "  note: {note}").unwrap();
            }
            let mut shown = std::collections::BTreeSet::new();
            for (phase, sent) in &op.requests {
                if all_requests || shown.insert(*phase) {
                    writeln!(out, "  {}: {}", phase.name(), sent.curl()).unwrap();
                }
            }
        }
        for warning in &self.warnings {
            writeln!(out, "{}: {}", warning.kind, warning.message).unwrap();
        }
        let untested = self.untested().count();
        let excluded = self.operations.iter().filter(|o| o.coverage == Coverage::Excluded).count();
        writeln!(
            out,
            "\n{} operations can be tested, {untested} cannot{}.",
            self.operations.len() - untested - excluded,
            if excluded > 0 { format!(", {excluded} excluded") } else { String::new() }
        )
        .unwrap();
        out
    }
}

/// Runs the contract check and returns the process exit status, having printed the summary and
/// written the reports asked for.
pub async fn run(args: Args) -> u8 {
    if args.dry_run {
        return match dry_run(&args).await {
            Ok(plan) => {
                print!("{}", plan.text(args.show_requests));
                if plan.untested().next().is_some() { EXIT_FAILED } else { EXIT_PASSED }
            }
            Err(e) => {
                eprintln!("commerce contract: {e}");
                EXIT_USAGE
            }
        };
    }
    let outcome = match check(&args).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("commerce contract: {e}");
            return EXIT_USAGE;
        }
    };
    let Outcome { summary, checks } = outcome;
    print!("{}", summary.text(&checks));
    for format in &args.report {
        let (name, text) = match format {
            ReportFormat::Junit => ("junit.xml", summary.junit(&checks)),
            ReportFormat::Json => ("report.json", serde_json::to_string_pretty(&summary).unwrap_or_default()),
        };
        let path = args.report_dir.join(name);
        if let Err(e) = std::fs::create_dir_all(&args.report_dir).and_then(|()| std::fs::write(&path, text)) {
            eprintln!("commerce contract: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
        eprintln!("report written to {}", path.display());
    }
    if summary.passed() { EXIT_PASSED } else { EXIT_FAILED }
}

/// Everything a run needs before it sends anything.
struct Prepared {
    api: std::sync::Arc<Api>,
    plan: Plan,
    transport: Transport,
    credentials: Credentials,
    renewals: Vec<Renewal>,
    /// Per operation: excluded, untestable (with why), or to be tested.
    coverage: Vec<Coverage>,
    warnings: Vec<Warning>,
}

async fn prepare(args: &Args, dry_run: bool) -> Result<Prepared, String> {
    let loader = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .danger_accept_invalid_certs(args.transport.insecure)
        .build()
        .map_err(|e| e.to_string())?;
    let spec = load_document(&args.spec, &loader).await?;
    let api = Api::compile(spec).map_err(|e| format!("{}: {}", args.spec, e.0))?;
    let plan = plan(args, &api)?;
    let transport = transport(args, &plan)?;
    let (credentials, renewals) = credentials(&args.credentials, &plan, &api, &transport, dry_run).await?;
    let mut warnings = Vec::new();
    for filter in plan.selector.exclude.iter() {
        if !api.operations.iter().any(|op| filter.matches(op)) {
            warnings.push(Warning {
                kind: "unmatched_filter",
                operation: None,
                message: format!("{} matches no operation", filter.written),
            });
        }
    }
    // As in Schemathesis, --base-url includes the API's base path: a base URL without one, for a
    // document whose server has one, most likely misses every route.
    let server_path = api
        .spec
        .doc
        .pointer("/servers/0/url")
        .and_then(serde_json::Value::as_str)
        .map(|url| reqwest::Url::parse(url).map(|u| u.path().to_string()).unwrap_or_else(|_| url.to_string()))
        .map(|path| path.trim_end_matches('/').to_string())
        .filter(|path| !path.is_empty() && !path.contains('{'));
    if let Some(path) = server_path
        && plan.base_url.path().trim_end_matches('/').is_empty()
    {
        let suggested = plan.base_url.join(path.trim_start_matches('/')).map(|u| u.to_string()).unwrap_or_default();
        warnings.push(Warning {
            kind: "base_path",
            operation: None,
            message: format!(
                "/servers/0/url: the document's server has the base path {path}, and --base-url {} has none: \
                 requests go to the paths as written; if the API lives under {path}, pass --base-url {suggested}",
                plan.base_url
            ),
        });
    }
    // Webhooks and callbacks are requests the API sends, not ones it answers: said, not skipped silently.
    let webhooks: Vec<String> = api
        .spec
        .doc
        .get("webhooks")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys().cloned())
        .collect();
    if !webhooks.is_empty() {
        warnings.push(Warning {
            kind: "webhooks_not_tested",
            operation: None,
            message: format!(
                "/webhooks: {} ({}) not tested: webhooks are requests the API sends, not requests it answers",
                webhooks.len(),
                webhooks.join(", ")
            ),
        });
    }
    let mut coverage = Vec::with_capacity(api.operations.len());
    for (index, op) in api.operations.iter().enumerate() {
        if let Some(callbacks) =
            api.spec.doc.pointer(&format!("{}/callbacks", op.pointer)).and_then(serde_json::Value::as_object)
        {
            warnings.push(Warning {
                kind: "webhooks_not_tested",
                operation: Some(op.id.clone()),
                message: format!(
                    "{}/callbacks: {} not tested: callbacks are requests the API sends",
                    op.pointer,
                    callbacks.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let disabled =
            plan.file.operations.iter().rev().find_map(|r| r.selector.selects(op).then_some(r.enabled).flatten())
                == Some(false);
        if !plan.selector.selects(op) || disabled {
            coverage.push(Coverage::Excluded);
            continue;
        }
        if let Some(why) = credentials.missing(&api, op) {
            coverage.push(Coverage::NotTested(why));
            continue;
        }
        match Builder::new(&api, index, plan.seed).probe() {
            Ok(_) => coverage.push(Coverage::Tested),
            Err(why) => coverage.push(Coverage::NotTested(why)),
        }
        for media in op.body.iter().flat_map(|b| &b.media) {
            if let Some(why) = &media.unusable {
                warnings.push(Warning {
                    kind: "unsupported_media_type",
                    operation: Some(op.id.clone()),
                    message: format!("{}: not generated: {why}", media.pointer),
                });
            }
        }
        for response in &op.responses {
            if !response.unreadable.is_empty() {
                warnings.push(Warning {
                    kind: "missing_deserializer",
                    operation: Some(op.id.clone()),
                    message: format!(
                        "response {}: {} bodies are not validated against their schema (no deserializer)",
                        response.status.label(),
                        response.unreadable.join(", ")
                    ),
                });
            }
        }
    }
    Ok(Prepared { api, plan, transport, credentials, renewals, coverage, warnings })
}

/// The cases of every phase but stateful, for the operations to be tested (of those, the ones
/// `wave` picks).
fn build_cases(
    api: &Api,
    plan: &Plan,
    coverage: &[Coverage],
    phase: Phase,
    pool: &cases::Pool,
    wave: impl Fn(&model::Op) -> bool,
) -> Vec<Case> {
    let mut cases = Vec::new();
    for index in (0..api.operations.len()).filter(|i| coverage[*i] == Coverage::Tested && wave(&api.operations[*i])) {
        let mut builder = Builder::new(api, index, plan.seed).with_pool(pool);
        builder.media_probe = plan.settings.checks.contains(&Check::UnsupportedMediaType);
        cases.extend(match phase {
            Phase::Examples => builder.examples(),
            Phase::Coverage => builder.coverage(plan.mode),
            Phase::Fuzzing => builder.fuzzing(plan.mode, plan.max_examples),
            Phase::Stateful => Vec::new(),
        });
    }
    cases
}

/// Builds every case and renders every request, sending nothing.
pub async fn dry_run(args: &Args) -> Result<DryRun, String> {
    let Prepared { api, plan, transport, credentials, renewals, coverage, warnings } = prepare(args, true).await?;
    let runner =
        Runner::new(&api, plan.base_url.clone(), transport, credentials, renewals, &plan.settings, plan.workers);
    let mut operations: Vec<DryOperation> = api
        .operations
        .iter()
        .zip(&coverage)
        .map(|(op, coverage)| DryOperation {
            id: op.id.clone(),
            coverage: coverage.clone(),
            cases: BTreeMap::new(),
            requests: Vec::new(),
            notes: warnings
                .iter()
                .filter(|w| w.operation.as_deref() == Some(op.id.as_str()))
                .map(|w| w.message.clone())
                .collect(),
        })
        .collect();
    for phase in &plan.phases {
        if *phase == Phase::Stateful {
            for (index, op) in api.operations.iter().enumerate() {
                if coverage[index] == Coverage::Tested && op.responses.iter().any(|r| !r.links.is_empty()) {
                    operations[index].cases.insert(Phase::Stateful, plan.max_examples.div_ceil(10));
                }
            }
            continue;
        }
        for case in build_cases(&api, &plan, &coverage, *phase, &cases::Pool::new(), |_| true) {
            let entry = &mut operations[case.op];
            *entry.cases.entry(*phase).or_default() += 1;
            if let Some((rendered, _)) = runner.render(&case, AuthMode::Configured) {
                entry.requests.push((*phase, rendered.sent));
            }
        }
    }
    let warnings = warnings.into_iter().filter(|w| w.operation.is_none()).collect();
    Ok(DryRun { operations, warnings })
}

/// Runs every phase and returns what was found; `Err` for an unusable document, configuration or login.
pub async fn check(args: &Args) -> Result<Outcome, String> {
    let Prepared { api, plan, transport, credentials, renewals, mut coverage, mut warnings } =
        prepare(args, false).await?;
    let runner =
        Runner::new(&api, plan.base_url.clone(), transport, credentials, renewals, &plan.settings, plan.workers);
    let started = Instant::now();
    let live = !args.no_progress && std::io::stderr().is_terminal();
    let testable = coverage.iter().filter(|c| **c == Coverage::Tested).count();
    eprintln!(
        "commerce contract: {} ({}) against {} ({testable} operations to test of {}; phases {}; seed {})",
        args.spec,
        api.spec.version.label(),
        plan.base_url,
        api.operations.len(),
        plan.phases.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        plan.seed
    );
    let include = |i: usize| coverage[i] == Coverage::Tested;
    for phase in &plan.phases {
        let phase_started = Instant::now();
        let before = runner.sent.load(Ordering::Relaxed);
        let progress = live.then(|| show_progress(&runner, phase.name()));
        let work = async {
            if *phase == Phase::Stateful {
                runner.run_stateful(plan.seed, plan.max_examples.div_ceil(10), &include).await;
                runner.run_races(plan.seed, &include).await;
                return;
            }
            // Identifiers the earlier phases were answered with fill this phase's path parameters,
            // and so do those this phase's operations with fewer path parameters are answered
            // with: the operations run in groups by how many they have, fewest first (`/users`'
            // create, then `/users/{id}/notes`' create, then the reads of one note), each group's
            // cases built after the groups before it answered. Built all at once, an operation on
            // one resource had only what the earlier phases created, often nothing (no examples),
            // and its cases went to identifiers that do not exist: a defect behind a valid request
            // to an existing resource was then found or not by the fuzzing's luck (the zoo's
            // `updateAccount` with `"bio": null`, missed in one bench run of two). The deletes run
            // last, innermost first: in a group of their own depth they took away what that
            // group's reads and updates were built to reach (a collection-wide `DELETE` all of it).
            let wave_of = |op: &model::Op| {
                let depth = op.params.iter().filter(|p| p.location == model::Location::Path).count();
                if op.method == "DELETE" { (true, usize::MAX - depth) } else { (false, depth) }
            };
            let waves: std::collections::BTreeSet<(bool, usize)> = api.operations.iter().map(wave_of).collect();
            for wave in waves {
                let pool = runner.pool.lock().unwrap().clone();
                runner.run_cases(build_cases(&api, &plan, &coverage, *phase, &pool, |op| wave_of(op) == wave)).await;
            }
        };
        match progress {
            Some(ticker) => {
                tokio::select! {
                    _ = work => {}
                    _ = ticker => {}
                }
                eprint!("\r\x1b[2K");
            }
            None => work.await,
        }
        eprintln!(
            "  {:9} {:>6} requests in {:.2} s, {} failures so far",
            phase.name(),
            runner.sent.load(Ordering::Relaxed) - before,
            phase_started.elapsed().as_secs_f64(),
            runner.failed.load(Ordering::Relaxed)
        );
    }
    runner.shrink_failures().await;
    // What the run created, deleted where the document has a DELETE for it.
    let removed = runner.clean_up(plan.seed, &include).await;
    if removed > 0 {
        eprintln!("  cleanup   {removed:>6} resources the run created were deleted");
    }
    let tally = std::mem::take(&mut *runner.tally.lock().unwrap());
    for (index, op) in api.operations.iter().enumerate() {
        if coverage[index] != Coverage::Tested {
            continue;
        }
        let stats = tally.per_operation.get(&index).cloned().unwrap_or_default();
        if let Some(why) = not_reached(op, &stats, &plan.phases) {
            coverage[index] = Coverage::NotTested(why);
        } else {
            warnings.extend(status_warnings(op, &stats));
        }
    }
    if tally.rate_limited > 0 {
        warnings.push(Warning {
            kind: "rate_limit",
            operation: None,
            message: format!(
                "the server answered 429 Too Many Requests {} times; the tester waited {:.1} s in all and retried (raise the server's limit, or pass --rate-limit)",
                tally.rate_limited,
                tally.waited.as_secs_f64()
            ),
        });
    }
    let summary = report::Summary::new(
        &api,
        &args.spec,
        plan.base_url.as_str(),
        plan.seed,
        started.elapsed(),
        tally,
        coverage,
        warnings,
    );
    Ok(Outcome { summary, checks: plan.settings.checks })
}

/// Why an operation counts as not tested after its requests were sent: none answered, or every
/// answer came from before the operation (authentication, rate limiting, an unserved method).
fn not_reached(op: &model::Op, stats: &runner::OpStats, phases: &[Phase]) -> Option<String> {
    if stats.sent == 0 {
        return Some(if stats.no_response > 0 {
            format!("none of its {} requests got a response", stats.no_response)
        } else {
            let names: Vec<&str> = phases.iter().map(|p| p.name()).collect();
            format!("no request was built for it in the phases run ({})", names.join(", "))
        });
    }
    let answered: usize = stats.statuses.values().sum();
    if answered == 0 {
        return None;
    }
    let count = |codes: &[u16]| codes.iter().map(|c| stats.statuses.get(c).copied().unwrap_or(0)).sum::<usize>();
    if count(&[401, 403, 429]) == answered {
        let breakdown: Vec<String> = stats.statuses.iter().map(|(s, n)| format!("{n}×{s}")).collect();
        let (statuses, why) = if count(&[429]) == answered {
            ("429", "the rate limit stopped every request, even after waiting as the server asked")
        } else {
            ("401/403/429", "the credentials were refused or lack permission (missing_auth)")
        };
        return Some(format!("every response was {statuses} ({}): {why}", breakdown.join(", ")));
    }
    if count(&[405]) == answered && op.response(405).is_none() {
        return Some(format!("every response was 405 ({answered}×): the server does not serve {} here", op.method));
    }
    None
}

/// Schemathesis's warnings for one operation: `missing_auth`, `missing_test_data`,
/// `validation_mismatch`.
fn status_warnings(op: &model::Op, stats: &runner::OpStats) -> Vec<Warning> {
    let mut out = Vec::new();
    let total = stats.statuses.values().sum::<usize>() as f64;
    if total == 0.0 {
        return out;
    }
    let get = |map: &BTreeMap<u16, usize>, code: u16| map.get(&code).copied().unwrap_or(0);
    let warn = |kind: &'static str, message: String| Warning { kind, operation: Some(op.id.clone()), message };
    for code in [401, 403] {
        if get(&stats.statuses, code) as f64 >= 0.9 * total {
            out.push(warn(
                "missing_auth",
                format!("{} of {total} responses were {code}: check the credentials", get(&stats.statuses, code)),
            ));
        }
    }
    let only_4xx = stats.statuses.keys().all(|s| (400..500).contains(s) || *s >= 500);
    let four: usize = stats.statuses.iter().filter(|(s, _)| (400..500).contains(*s)).map(|(_, n)| n).sum();
    if only_4xx && four > 0 && get(&stats.statuses, 404) as f64 >= 0.1 * four as f64 {
        out.push(warn(
            "missing_test_data",
            format!("{} of {total} responses were 404: generated identifiers name no resource; tests rarely reach the operation's logic", get(&stats.statuses, 404)),
        ));
    }
    let positive: usize = stats.positive.values().sum();
    let accepted: usize = stats.positive.iter().filter(|(s, _)| (200..400).contains(*s)).map(|(_, n)| n).sum();
    let refused: usize = stats
        .positive
        .iter()
        .filter(|(s, _)| (400..500).contains(*s) && ![401, 403, 404].contains(*s))
        .map(|(_, n)| n)
        .sum();
    if positive > 0 && accepted == 0 && refused as f64 >= 0.1 * positive as f64 {
        out.push(warn(
            "validation_mismatch",
            format!("{refused} of {positive} schema-valid requests were refused with 4xx and none accepted: the server validates more than the document says"),
        ));
    }
    out
}

/// Redraws one progress line on stderr until dropped.
async fn show_progress(runner: &Runner<'_>, phase: &'static str) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        eprint!(
            "\r\x1b[2K  {phase:9} {:>6} requests, {} failures",
            runner.sent.load(Ordering::Relaxed),
            runner.failed.load(Ordering::Relaxed)
        );
    }
}
