//! Test targets: an HTTP server that records every request it receives and answers as the test
//! says, and helpers to run the tester against it from its command-line arguments.

use std::sync::{Arc, Mutex};

use clap::Parser;
use commerce_contract::{Args, DryRun, Outcome};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Request, Response};

/// One request as the target received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The raw query string, as sent.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An answer: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self { status, headers: vec![("content-type", "application/json".into())], body: body.to_string() }
    }

    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: String::new() }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// A running recording target.
pub struct Target {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Target {
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests to `path` (without query).
    pub fn to(&self, method: &str, path: &str) -> Vec<Seen> {
        self.requests().into_iter().filter(|s| s.method == method && s.path == path).collect()
    }
}

/// Starts a target on a free port that records every request and answers with `answer`.
pub async fn target(answer: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Target {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let answer = Arc::new(answer);
    let log = seen.clone();
    let endpoint = poem::endpoint::make(move |mut req: Request| {
        let (answer, log) = (answer.clone(), log.clone());
        async move {
            let body = req.take_body().into_vec().await.unwrap_or_default();
            let seen = Seen {
                method: req.method().to_string(),
                path: req.uri().path().to_string(),
                query: req.uri().query().unwrap_or_default().to_string(),
                headers: req
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect(),
                body,
            };
            let reply = answer(&seen);
            log.lock().unwrap().push(seen);
            let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
            for (name, value) in reply.headers {
                response = response.header(name, value);
            }
            Ok::<_, poem::Error>(response.body(reply.body))
        }
    });
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));
    Target { base: format!("http://{addr}"), seen }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

/// `commerce contract` arguments, parsed as the command line would.
pub fn args(argv: &[&str]) -> Args {
    let mut all = vec!["contract", "--no-progress"];
    all.extend_from_slice(argv);
    Cli::try_parse_from(all).unwrap_or_else(|e| panic!("{e}")).args
}

/// A run of the tester; panics on a usage error.
pub async fn run(argv: &[&str]) -> Outcome {
    commerce_contract::check(&args(argv)).await.unwrap_or_else(|e| panic!("the run did not start: {e}"))
}

/// A run of the tester over the document at `spec` against `base`, with `more` arguments.
pub async fn run_against(spec: &str, base: &str, more: &[&str]) -> Outcome {
    let mut argv = vec!["--spec", spec, "--base-url", base];
    argv.extend_from_slice(more);
    run(&argv).await
}

/// A run that is expected to be refused as unusable (exit 2): the message.
pub async fn refused(argv: &[&str]) -> String {
    match commerce_contract::check(&args(argv)).await {
        Ok(outcome) => panic!("the run started: {}", outcome.summary.text(&outcome.checks)),
        Err(e) => e,
    }
}

/// A dry run of the document at `path`.
pub async fn dry(argv: &[&str]) -> DryRun {
    let mut all = vec!["--dry-run", "--base-url", "http://api.test", "--seed", "1"];
    all.extend_from_slice(argv);
    commerce_contract::dry_run(&args(&all)).await.unwrap_or_else(|e| panic!("the dry run failed: {e}"))
}

/// A file written into a temporary directory (kept as long as the returned guard).
pub fn document(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.yaml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_string_lossy().into_owned();
    (dir, path)
}

/// The summary text, for assertion messages.
pub fn text(outcome: &Outcome) -> String {
    outcome.summary.text(&outcome.checks)
}
