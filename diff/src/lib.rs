//! `commerce diff BASE HEAD`: every change between two OpenAPI documents (Swagger 2.0, OpenAPI 3.0,
//! 3.1; files or `git:REV:path`), each with its JSON pointer, the operation, a sentence and a level:
//! breaking, potentially breaking (warning) or compatible (info). The rules are oasdiff's in spirit
//! (see `rules.rs`); `info.version` is held to semantic versioning.
//!
//! Both documents are read by `commerce-spec`, the reader of the generator and the contract tester,
//! so a document one tool accepts the others read the same way.

pub mod compare;
pub mod report;
pub mod rules;
pub mod schema;
pub mod source;

use std::path::PathBuf;

use commerce_spec::Spec;
use rules::{Level, Severities};

/// Exit status: no finding at or above `--fail-on`.
pub const EXIT_PASSED: u8 = 0;
/// Exit status: a finding at or above `--fail-on`.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: a document or the severity file could not be read.
pub const EXIT_USAGE: u8 = 2;

/// Which document a finding's pointer is in: removals point into the base, the rest into the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    Head,
}

/// The operation a finding concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRef {
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
}

impl std::fmt::Display for OperationRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.operation_id {
            Some(id) => write!(f, "{id} ({} {})", self.method, self.path),
            None => write!(f, "{} {}", self.method, self.path),
        }
    }
}

/// One change.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: &'static str,
    pub level: Level,
    pub operation: Option<OperationRef>,
    pub side: Side,
    /// JSON pointer of the construct, in the document `side` names.
    pub pointer: String,
    pub message: String,
    /// A breaking change the head's new major version announces.
    pub accepted: bool,
}

/// The outcome of comparing two documents.
#[derive(Debug)]
pub struct Comparison {
    pub base_version: String,
    pub head_version: String,
    /// Whether head's version is a new major one (semantic versioning; for 0.x, a new minor one).
    pub major_bump: bool,
    pub findings: Vec<Finding>,
}

impl Comparison {
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level && !f.accepted).count()
    }

    /// Whether a finding at or above `threshold` fails the run (accepted ones never do).
    pub fn fails(&self, threshold: Option<Level>) -> bool {
        threshold.is_some_and(|t| self.findings.iter().any(|f| f.level >= t && !f.accepted))
    }
}

/// `MAJOR.MINOR.PATCH` (a missing patch read as 0; a leading `v`, pre-release and build suffixes
/// allowed).
fn semver(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next().unwrap_or(Some(0))?;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

fn version(spec: &Spec) -> String {
    spec.doc.pointer("/info/version").and_then(|v| v.as_str()).unwrap_or("").to_string()
}

/// Compares `base` with `head`, applies `severities`, then the version rules.
pub fn diff(base: &Spec, head: &Spec, severities: &Severities) -> Result<Comparison, String> {
    let mut findings: Vec<Finding> = compare::compare(base, head)?
        .into_iter()
        .filter_map(|mut f| {
            f.level = severities.level(rules::find(f.rule))?;
            Some(f)
        })
        .collect();
    let (bv, hv) = (version(base), version(head));
    let (bs, hs) = (semver(&bv), semver(&hv));
    let major_bump = match (bs, hs) {
        (Some((0, bm, _)), Some((0, hm, _))) => hm > bm,
        (Some((b, ..)), Some((h, ..))) => h > b,
        _ => false,
    };
    let push = |rule: &'static str, message: String, findings: &mut Vec<Finding>| {
        let r = rules::find(rule);
        if let Some(level) = severities.level(r) {
            findings.push(Finding {
                rule,
                level,
                operation: None,
                side: Side::Head,
                pointer: "/info/version".into(),
                message,
                accepted: false,
            });
        }
    };
    if !findings.is_empty() && bv == hv {
        push("version-not-bumped", format!("the API changed but info.version is still {hv}"), &mut findings);
    } else if let (Some(b), Some(h)) = (bs, hs)
        && h < b
    {
        push("version-not-bumped", format!("info.version went backwards: {bv} -> {hv}"), &mut findings);
    }
    if bv != hv && (bs.is_none() || hs.is_none()) {
        let odd = if bs.is_none() { &bv } else { &hv };
        push("version-not-semver", format!("{odd:?} is not a semantic version (MAJOR.MINOR.PATCH)"), &mut findings);
    }
    let breaking = findings.iter().any(|f| f.level == Level::Breaking);
    if breaking && major_bump {
        for f in &mut findings {
            f.accepted = f.level == Level::Breaking;
        }
    } else if breaking {
        let n = findings.iter().filter(|f| f.level == Level::Breaking).count();
        push(
            "major-version-not-bumped",
            format!("{n} breaking change(s) need a new major version; info.version is {bv} -> {hv}"),
            &mut findings,
        );
    }
    Ok(Comparison { base_version: bv, head_version: hv, major_bump, findings })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Breaking,
    Warning,
    Info,
    Never,
}

/// Compare two OpenAPI documents and classify every change as breaking, potentially breaking
/// (warning) or compatible (info).
///
/// Examples:
///   commerce diff openapi/released/2.4.0.yaml openapi/commerce.yaml
///   commerce diff git:origin/main:openapi/commerce.yaml openapi/commerce.yaml --format markdown
///   commerce diff old.json new.yaml --fail-on warning --severity severities.txt
///
/// A breaking change is accepted when HEAD's info.version is a new major version (for 0.x, a new
/// minor one); otherwise it also needs one (`major-version-not-bumped`). Exit status: 0 when no
/// finding is at or above --fail-on, 1 when one is, 2 when a document or the severity file cannot be
/// read.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The document clients were written against: a path, or `git:REV:path` (read from the
    /// repository at REV, with every file it references).
    #[arg(required_unless_present = "list_rules")]
    pub base: Option<String>,
    /// The edited document: a path or `git:REV:path`.
    #[arg(required_unless_present = "list_rules")]
    pub head: Option<String>,
    /// Output format: text, markdown (for a pull-request comment) or json.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Exit 1 when a finding is at or above this level (accepted breaking changes never count).
    #[arg(long, value_enum, default_value = "breaking")]
    pub fail_on: FailOn,
    /// A file of `rule-id level` lines (breaking, warning, info or none) overriding the defaults.
    #[arg(long)]
    pub severity: Option<PathBuf>,
    /// Leave compatible (info) changes out of the output.
    #[arg(long)]
    pub no_info: bool,
    /// Print every rule with its default level and exit.
    #[arg(long)]
    pub list_rules: bool,
}

/// Runs `commerce diff` and returns its exit status.
pub fn run(args: Args) -> u8 {
    if args.list_rules {
        for rule in rules::RULES {
            println!("{:<40} {:<9} {}", rule.id, rule.level.name(), rule.summary);
        }
        return EXIT_PASSED;
    }
    let severities = match &args.severity {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => match Severities::parse(&text, &path.display().to_string()) {
                Ok(s) => s,
                Err(e) => return usage(&e),
            },
            Err(e) => return usage(&format!("cannot read {}: {e}", path.display())),
        },
        None => Severities::default(),
    };
    let (Some(base_at), Some(head_at)) = (&args.base, &args.head) else {
        return usage("BASE and HEAD are required");
    };
    let base = match source::load(base_at) {
        Ok(spec) => spec,
        Err(e) => return usage(&format!("BASE {base_at}: {e}")),
    };
    let head = match source::load(head_at) {
        Ok(spec) => spec,
        Err(e) => return usage(&format!("HEAD {head_at}: {e}")),
    };
    let mut comparison = match diff(&base, &head, &severities) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let threshold = match args.fail_on {
        FailOn::Breaking => Some(Level::Breaking),
        FailOn::Warning => Some(Level::Warning),
        FailOn::Info => Some(Level::Info),
        FailOn::Never => None,
    };
    let failed = comparison.fails(threshold);
    if args.no_info {
        comparison.findings.retain(|f| f.level > Level::Info);
    }
    let names = (base_at.as_str(), head_at.as_str());
    let text = match args.format {
        Format::Text => report::text(&comparison, names),
        Format::Markdown => report::markdown(&comparison, names),
        Format::Json => report::json(&comparison, names),
    };
    print!("{text}");
    if failed { EXIT_FAILED } else { EXIT_PASSED }
}

fn usage(message: &str) -> u8 {
    eprintln!("commerce diff: {message}");
    EXIT_USAGE
}
