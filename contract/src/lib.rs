//! `commerce contract`: checks a running deployment against an OpenAPI 3.1 document.
//!
//! Four phases build the requests (`examples`, `coverage`, `fuzzing`, `stateful`); the checks that judge
//! the responses are Schemathesis's, by name and definition; the configuration file is the subset of
//! `schemathesis.toml` this tester understands. The document is read by `commerce-spec`, the same code
//! the generator reads it with.

pub mod cases;
pub mod checks;
pub mod config;
pub mod model;
pub mod report;
pub mod runner;
pub mod values;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cases::{Builder, Mode, Phase};
use checks::Check;
use config::{FileConfig, Login, Settings};
use model::Api;
use runner::{Credentials, Runner};

/// Exit status: every check passed.
pub const EXIT_PASSED: u8 = 0;
/// Exit status: a check failed, or a request got no response.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: the document, the configuration or the login is unusable.
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

/// Check a running deployment against an OpenAPI 3.1 document, with Schemathesis's checks.
///
/// Examples:
///   commerce contract --base-url http://127.0.0.1:8080 --config schemathesis.toml
///   commerce contract --spec api.yaml --base-url https://staging.example.com --bearer "$TOKEN" --report junit
///
/// Exit status: 0 when every check passed, 1 on failures, 2 on a bad document or configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The OpenAPI 3.1 document, YAML or JSON.
    #[arg(long, default_value = "openapi/commerce.yaml")]
    pub spec: PathBuf,
    /// Where the deployment answers; overrides `base-url` of the configuration file.
    #[arg(long, env = "COMMERCE_CONTRACT_BASE_URL")]
    pub base_url: Option<String>,
    /// A `schemathesis.toml` (the subset of it this tester understands: auth.dynamic, generation,
    /// phases, checks, operations).
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
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Test only these operations (repeatable).
    #[arg(long = "include-operation-id")]
    pub include_operation_id: Vec<String>,
    /// A bearer token for operations secured by an http bearer (or OAuth) scheme.
    #[arg(long, env = "COMMERCE_CONTRACT_BEARER", hide_env_values = true)]
    pub bearer: Option<String>,
    /// An API key for operations secured by an apiKey scheme.
    #[arg(long, env = "COMMERCE_CONTRACT_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// A login path to POST `--login-payload` to; the token at `--login-token-pointer` becomes the bearer.
    #[arg(long)]
    pub login_path: Option<String>,
    /// The login's JSON body (`${VAR}` is replaced from the environment).
    #[arg(long, hide_env_values = true)]
    pub login_payload: Option<String>,
    /// JSON pointer to the token in the login's response.
    #[arg(long, default_value = "/accessToken")]
    pub login_token_pointer: String,
    /// Fail responses slower than this many milliseconds (`max_response_time`; off by default).
    #[arg(long)]
    pub max_response_time: Option<u64>,
    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 10)]
    pub request_timeout: u64,
    /// Write a report: junit or json (repeatable).
    #[arg(long, value_enum)]
    pub report: Vec<ReportFormat>,
    /// Where reports are written.
    #[arg(long, default_value = "contract-reports")]
    pub report_dir: PathBuf,
    /// No live progress line, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

/// A run's resolved plan.
struct Plan {
    base_url: reqwest::Url,
    phases: Vec<Phase>,
    mode: Mode,
    max_examples: usize,
    seed: u64,
    login: Option<Login>,
    settings: Settings,
}

fn plan(args: &Args, api: &Api) -> Result<Plan, String> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let base_url = args.base_url.clone().or(file.base_url.clone()).ok_or("--base-url is required")?;
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
        Check::ALL.into_iter().filter(|c| file.check_enabled.get(c).copied().unwrap_or(on)).collect()
    } else {
        parse_checks(&args.checks)?
    };
    let excluded = parse_checks(&args.exclude_checks)?;
    checks.retain(|c| !excluded.contains(c));
    for id in &args.include_operation_id {
        if api.operation(id).is_none() {
            return Err(format!("--include-operation-id {id}: the document has no such operation"));
        }
    }
    let login = match (&args.login_path, &args.login_payload) {
        (Some(path), payload) => {
            let payload = match payload {
                Some(text) => serde_json::from_str(text).map_err(|e| format!("--login-payload is not JSON: {e}"))?,
                None => serde_json::Value::Null,
            };
            Some(Login { path: path.clone(), payload, token_pointer: args.login_token_pointer.clone() })
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
        login,
        settings: Settings { checks, expected: file.expected, operations: file.operations, max_response_time },
    })
}

fn known_checks() -> String {
    Check::ALL.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
}

/// What a run found, and which checks judged it.
pub struct Outcome {
    pub summary: report::Summary,
    pub checks: Vec<Check>,
}

/// Runs the contract check and returns the process exit status, having printed the summary and
/// written the reports asked for.
pub async fn run(args: Args) -> u8 {
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

/// Runs every phase and returns what was found; `Err` for an unusable document, configuration or login.
pub async fn check(args: &Args) -> Result<Outcome, String> {
    let api = commerce_spec::Spec::load(&args.spec).and_then(Api::compile).map_err(|e| e.to_string())?;
    let plan = plan(args, &api)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.request_timeout.max(1)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.workers.max(1))
        .build()
        .map_err(|e| e.to_string())?;
    let mut credentials = Credentials { bearer: args.bearer.clone(), api_key: args.api_key.clone(), generation: 0 };
    if let Some(login) = &plan.login {
        credentials.bearer = Some(runner::log_in(&client, &plan.base_url, login).await?);
    }
    let include = |op: &model::Op| args.include_operation_id.is_empty() || args.include_operation_id.contains(&op.id);
    let runner =
        Runner::new(&api, plan.base_url.clone(), client, credentials, plan.login.clone(), &plan.settings, args.workers);
    let started = Instant::now();
    let live = !args.no_progress && std::io::stderr().is_terminal();
    eprintln!(
        "commerce contract: {} against {} ({} operations; phases {}; seed {})",
        args.spec.display(),
        plan.base_url,
        api.operations.iter().filter(|op| include(op)).count(),
        plan.phases.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
        plan.seed
    );
    for phase in &plan.phases {
        let phase_started = Instant::now();
        let before = runner.sent.load(Ordering::Relaxed);
        let progress = live.then(|| show_progress(&runner, phase.name()));
        let work = async {
            if *phase == Phase::Stateful {
                runner.run_stateful(plan.seed, plan.max_examples.div_ceil(10), &include).await;
                return;
            }
            let mut cases = Vec::new();
            for (index, _) in api.operations.iter().enumerate().filter(|(_, op)| include(op)) {
                let mut builder = Builder::new(&api, index, plan.seed);
                cases.extend(match phase {
                    Phase::Examples => builder.examples(),
                    Phase::Coverage => builder.coverage(plan.mode),
                    Phase::Fuzzing => builder.fuzzing(plan.mode, plan.max_examples),
                    Phase::Stateful => unreachable!("handled above"),
                });
            }
            runner.run_cases(cases).await;
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
    let tally = std::mem::take(&mut *runner.tally.lock().unwrap());
    let summary = report::Summary::new(
        &api,
        &args.spec.display().to_string(),
        plan.base_url.as_str(),
        plan.seed,
        started.elapsed(),
        tally,
    );
    Ok(Outcome { summary, checks: plan.settings.checks })
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
