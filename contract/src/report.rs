//! What a run tells: the summary per operation and per check, each distinct failure once with the
//! smallest request that reproduces it as a curl command, and the JUnit and JSON reports for CI.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::cases::Phase;
use crate::checks::Check;
use crate::model::Api;
use crate::runner::Tally;

/// A request as sent, with credentials shown as shell variables (`$CONTRACT_BEARER`), never in clear.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    pub method: String,
    /// The URL without credentials sent in the query (those are in `credential_query`).
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// `(header, shown value)` of headers that carry credentials.
    pub credential_headers: Vec<(String, String)>,
    /// `(query parameter, shown value)` of credentials sent in the query.
    pub credential_query: Vec<(String, String)>,
    /// The body as text; bytes that are not UTF-8 are written `\xHH` (and `binary` is set).
    pub body: Option<String>,
    /// Whether `body` is escaped binary, which curl gets as ANSI-C quoted bytes.
    #[serde(skip)]
    pub binary: bool,
    #[serde(skip)]
    pub authenticated: bool,
    /// Whether the client certificate was presented.
    #[serde(skip)]
    pub certificate: bool,
}

impl Sent {
    /// A curl command that sends this request again.
    pub fn curl(&self) -> String {
        let mut url = quote(&self.url);
        let mut separator = if self.url.contains('?') { '&' } else { '?' };
        for (name, shown) in &self.credential_query {
            // Double quotes, so the shell fills in the credential from the environment.
            url.push_str(&format!("\"{separator}{name}={shown}\""));
            separator = '&';
        }
        let mut out = format!("curl -X {} {url}", self.method);
        for (name, value) in &self.headers {
            write!(out, " -H {}", quote(&format!("{name}: {value}"))).unwrap();
        }
        for (name, shown) in &self.credential_headers {
            write!(out, " -H \"{name}: {shown}\"").unwrap();
        }
        if self.certificate {
            out.push_str(" --cert \"$CONTRACT_CLIENT_CERT\" --key \"$CONTRACT_CLIENT_KEY\"");
        }
        match &self.body {
            // `$'\xff'` is bash's ANSI-C quoting: the escapes become the bytes.
            Some(body) if self.binary => write!(out, " --data-binary $'{}'", body.replace('\'', "\\'")).unwrap(),
            Some(body) => write!(out, " --data-binary {}", quote(body)).unwrap(),
            None => {}
        }
        out
    }
}

/// Single-quotes `text` for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// One check failing on one request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub operation: String,
    pub check: Check,
    pub phase: Phase,
    pub message: String,
    /// What made the request invalid, for negative cases.
    pub invalid: Option<String>,
    pub status: u16,
    pub request: Sent,
    /// The answer: status, Content-Type and the body's start.
    pub response: String,
}

/// The most of a response body a report shows.
const SHOWN_BODY: usize = 400;

/// `500 text/html [x-request-id: 7] (1234 bytes): <html>...`: the status, the Content-Type, the other
/// headers (but Content-Length and Date), and the body cut at [`SHOWN_BODY`] characters.
pub fn shown_response(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> String {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("no Content-Type");
    let text = String::from_utf8_lossy(body);
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let cut: String = flat.chars().take(SHOWN_BODY).collect();
    let more = if flat.chars().count() > SHOWN_BODY { "…" } else { "" };
    let mut listed: Vec<String> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "content-type" | "content-length" | "date"))
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    listed.sort();
    let mut others = listed.join("; ");
    if others.chars().count() > SHOWN_HEADERS {
        others = others.chars().take(SHOWN_HEADERS).collect::<String>() + "…";
    }
    let others = if others.is_empty() { String::new() } else { format!(" [{others}]") };
    match body.len() {
        0 => format!("{status} {content_type}{others}, no body"),
        n => format!("{status} {content_type}{others} ({n} bytes): {cut}{more}"),
    }
}

/// The most of a response's other headers a report shows.
const SHOWN_HEADERS: usize = 200;

/// A message with its particulars (numbers, quoted text) blanked: failures with the same cause
/// share it, whatever values the requests drew.
pub fn cause(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    let mut escaped = false;
    let mut last_digit = false;
    for c in message.chars() {
        if quoted && std::mem::take(&mut escaped) {
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                if quoted {
                    out.push_str("\"…\"");
                }
                last_digit = false;
            }
            _ if quoted => {}
            '0'..='9' => {
                if !last_digit {
                    out.push('#');
                }
                last_digit = true;
            }
            c => {
                out.push(c);
                last_digit = false;
            }
        }
    }
    out
}

/// Failures grouped by (operation, check, cause: the whole message with its values blanked), the
/// smallest request kept.
#[derive(Debug, serde::Serialize)]
pub struct Group {
    pub operation: String,
    pub check: &'static str,
    pub occurrences: usize,
    pub example: Finding,
    pub curl: String,
}

pub fn group(findings: &[Finding]) -> Vec<Group> {
    let mut groups: BTreeMap<(String, Check, String), (usize, &Finding)> = BTreeMap::new();
    for finding in findings {
        let entry =
            groups.entry((finding.operation.clone(), finding.check, cause(&finding.message))).or_insert((0, finding));
        entry.0 += 1;
        let size = |f: &Finding| f.request.curl().len();
        if size(finding) < size(entry.1) {
            entry.1 = finding;
        }
    }
    groups
        .into_values()
        .map(|(occurrences, f)| Group {
            operation: f.operation.clone(),
            check: f.check.name(),
            occurrences,
            example: f.clone(),
            curl: f.request.curl(),
        })
        .collect()
}

/// Whether an operation was tested.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum Coverage {
    Tested,
    /// Not tested, and why: this fails the run.
    NotTested(String),
    /// Left out by a filter.
    Excluded,
}

/// Something the user should know that is not a failed check (Schemathesis's warnings, by name).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub kind: &'static str,
    pub operation: Option<String>,
    pub message: String,
}

/// The run as a whole.
#[derive(Debug, serde::Serialize)]
pub struct Summary {
    pub spec: String,
    pub base_url: String,
    pub seed: u64,
    pub seconds: f64,
    pub cases: usize,
    pub cases_per_second: f64,
    pub cases_by_phase: BTreeMap<&'static str, usize>,
    /// Per operation (operationId or derived name): whether it was tested, cases sent, the
    /// statuses answered and failures by check.
    pub operations: BTreeMap<String, OperationSummary>,
    pub failures_by_check: BTreeMap<&'static str, usize>,
    /// How many responses each check judged; a check that judged none has not run.
    pub judged: BTreeMap<&'static str, usize>,
    pub failures: Vec<Group>,
    pub warnings: Vec<Warning>,
    pub errors: Vec<String>,
    /// 429 answers waited out, and the seconds spent waiting.
    pub rate_limited: usize,
    pub waited_seconds: f64,
    /// Requests sent again on a fresh connection after theirs closed before any response.
    pub resent: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct OperationSummary {
    pub coverage: Coverage,
    pub cases: usize,
    pub statuses: BTreeMap<u16, usize>,
    pub failures: BTreeMap<&'static str, usize>,
}

impl Summary {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api: &Api,
        spec: &str,
        base_url: &str,
        seed: u64,
        elapsed: Duration,
        tally: Tally,
        coverage: Vec<Coverage>,
        warnings: Vec<Warning>,
    ) -> Self {
        let cases: usize = tally.cases.values().sum();
        let mut operations: BTreeMap<String, OperationSummary> = BTreeMap::new();
        for (index, op) in api.operations.iter().enumerate() {
            let stats = tally.per_operation.get(&index).cloned().unwrap_or_default();
            operations.insert(
                op.id.clone(),
                OperationSummary {
                    coverage: coverage[index].clone(),
                    cases: stats.sent,
                    statuses: stats.statuses,
                    failures: BTreeMap::new(),
                },
            );
        }
        let mut failures_by_check = BTreeMap::new();
        for finding in &tally.findings {
            if let Some(op) = operations.get_mut(&finding.operation) {
                *op.failures.entry(finding.check.name()).or_default() += 1;
            }
            *failures_by_check.entry(finding.check.name()).or_default() += 1;
        }
        let seconds = elapsed.as_secs_f64();
        Self {
            spec: spec.to_string(),
            base_url: base_url.to_string(),
            seed,
            seconds,
            cases,
            cases_per_second: if seconds > 0.0 { cases as f64 / seconds } else { 0.0 },
            cases_by_phase: tally.cases.iter().map(|(p, n)| (p.name(), *n)).collect(),
            operations,
            failures_by_check,
            judged: tally.judged.iter().map(|(c, n)| (c.name(), *n)).collect(),
            failures: group(&tally.findings),
            warnings,
            errors: tally.errors,
            rate_limited: tally.rate_limited,
            waited_seconds: tally.waited.as_secs_f64(),
            resent: tally.resent,
        }
    }

    /// Operations that were meant to be tested and were not.
    pub fn untested(&self) -> impl Iterator<Item = (&str, &str)> {
        self.operations.iter().filter_map(|(id, op)| match &op.coverage {
            Coverage::NotTested(why) => Some((id.as_str(), why.as_str())),
            _ => None,
        })
    }

    /// No failure, no request without a response, and every operation not excluded was tested.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty() && self.untested().next().is_none()
    }

    /// The text summary for a terminal or a CI log.
    pub fn text(&self, checks: &[Check]) -> String {
        let mut out = String::new();
        let phases: Vec<String> = self.cases_by_phase.iter().map(|(p, n)| format!("{p} {n}")).collect();
        writeln!(
            out,
            "{} cases in {:.2} s ({:.0} cases/s; {}), seed {}",
            self.cases,
            self.seconds,
            self.cases_per_second,
            phases.join(", "),
            self.seed
        )
        .unwrap();
        writeln!(out, "\nOperations").unwrap();
        let width = self.operations.keys().map(String::len).max().unwrap_or(10);
        for (id, op) in &self.operations {
            let verdict = match &op.coverage {
                Coverage::Excluded => continue,
                Coverage::NotTested(why) => format!("NOT TESTED: {why}"),
                Coverage::Tested if op.failures.is_empty() => "ok".to_string(),
                Coverage::Tested => op.failures.iter().map(|(c, n)| format!("{c} ×{n}")).collect::<Vec<_>>().join(", "),
            };
            writeln!(out, "  {id:width$}  {:>5} cases  {verdict}", op.cases).unwrap();
        }
        let excluded = self.operations.values().filter(|o| o.coverage == Coverage::Excluded).count();
        if excluded > 0 {
            writeln!(out, "  ({excluded} operations excluded by filters)").unwrap();
        }
        writeln!(out, "\nChecks").unwrap();
        for check in checks {
            let failed = self.failures_by_check.get(check.name()).copied().unwrap_or(0);
            let judged = self.judged.get(check.name()).copied().unwrap_or(0);
            let verdict = if failed > 0 {
                format!("FAILED ×{failed}")
            } else if judged == 0 {
                format!("not run: {}", not_run_reason(*check))
            } else {
                format!("passed ({judged} judged)")
            };
            writeln!(out, "  {:30}  {verdict}", check.name()).unwrap();
        }
        if !self.warnings.is_empty() {
            writeln!(out, "\nWarnings ({})", self.warnings.len()).unwrap();
            for warning in &self.warnings {
                let on = warning.operation.as_deref().map(|o| format!("{o}: ")).unwrap_or_default();
                writeln!(out, "  {}: {on}{}", warning.kind, warning.message).unwrap();
            }
        }
        if self.rate_limited > 0 || self.resent > 0 {
            writeln!(out, "\nTransport").unwrap();
            if self.rate_limited > 0 {
                writeln!(
                    out,
                    "  429 Too Many Requests {} times; waited {:.1} s in all, as the server's Retry-After/RateLimit headers said, and retried",
                    self.rate_limited, self.waited_seconds
                )
                .unwrap();
            }
            if self.resent > 0 {
                writeln!(
                    out,
                    "  {} requests sent again on a fresh connection: the server closed theirs before answering",
                    self.resent
                )
                .unwrap();
            }
        }
        if !self.failures.is_empty() {
            writeln!(out, "\nFailures ({} distinct)", self.failures.len()).unwrap();
            for (n, group) in self.failures.iter().enumerate() {
                writeln!(
                    out,
                    "\n{}. {} — {} ({} {}, {} phase)",
                    n + 1,
                    group.operation,
                    group.check,
                    group.occurrences,
                    if group.occurrences == 1 { "case" } else { "cases" },
                    group.example.phase.name()
                )
                .unwrap();
                for line in group.example.message.lines() {
                    writeln!(out, "   {line}").unwrap();
                }
                if let Some(invalid) = &group.example.invalid {
                    writeln!(out, "   Request: {invalid}").unwrap();
                }
                writeln!(out, "   Response: {}", group.example.response).unwrap();
                writeln!(out, "   Reproduce: {}", group.curl).unwrap();
            }
            if self.failures.iter().any(|g| g.curl.contains("$CONTRACT_")) {
                writeln!(out, "\nThe curl commands read credentials from $CONTRACT_* variables; export them first.")
                    .unwrap();
            }
        }
        if !self.errors.is_empty() {
            writeln!(out, "\nRequests without a response ({})", self.errors.len()).unwrap();
            for error in self.errors.iter().take(10) {
                writeln!(out, "  {error}").unwrap();
            }
        }
        let untested = self.untested().count();
        let verdict = if self.passed() {
            "All checks passed.".to_string()
        } else if self.failures.is_empty() && self.errors.is_empty() {
            format!("{untested} operations were NOT TESTED (see above): the run fails; exclude them to accept that.")
        } else if untested > 0 {
            format!("Some checks FAILED, and {untested} operations were NOT TESTED.")
        } else {
            "Some checks FAILED.".to_string()
        };
        writeln!(out, "\n{verdict}").unwrap();
        out
    }

    /// JUnit XML: one suite per operation, one test case per check, failures with their curl command.
    pub fn junit(&self, checks: &[Check]) -> String {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("commerce contract");
        report.set_time(Duration::from_secs_f64(self.seconds));
        for (id, op) in &self.operations {
            let mut suite = TestSuite::new(id.as_str());
            match &op.coverage {
                Coverage::Excluded => continue,
                Coverage::NotTested(why) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(format!("not tested: {why}"));
                    suite.add_test_case(TestCase::new("tested", status));
                    report.add_test_suite(suite);
                    continue;
                }
                Coverage::Tested => {}
            }
            for check in checks {
                let failures: Vec<&Group> =
                    self.failures.iter().filter(|g| g.operation == *id && g.check == check.name()).collect();
                let status = if failures.is_empty() {
                    TestCaseStatus::success()
                } else {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(failures[0].example.message.lines().next().unwrap_or_default());
                    let description: Vec<String> = failures
                        .iter()
                        .map(|g| {
                            format!("{}\nResponse: {}\nReproduce: {}", g.example.message, g.example.response, g.curl)
                        })
                        .collect();
                    status.set_description(description.join("\n\n"));
                    status
                };
                suite.add_test_case(TestCase::new(check.name(), status));
            }
            report.add_test_suite(suite);
        }
        report.to_string().unwrap_or_default()
    }
}

/// Why a check that judged nothing did not run.
fn not_run_reason(check: Check) -> &'static str {
    match check {
        Check::IgnoredAuth => "no authenticated request to a secured operation was accepted",
        Check::UseAfterFree => "no resource was deleted through a link",
        Check::StaleRead => "no resource was updated and then read through a link",
        Check::ConcurrentCreation => "no create refused its own repetition (409)",
        Check::UndocumentedBody => "no response documented without content was received",
        Check::UnsupportedMediaType => "no operation takes a body",
        Check::EnsureResourceAvailability => "no resource was created and then read through a link",
        Check::NegativeDataRejection => "no invalid request was sent",
        Check::PositiveDataAcceptance => "no valid request was sent",
        Check::MissingRequiredHeader => "no operation has a required header",
        Check::UnsupportedMethod => "no undocumented method was tried",
        Check::AllowHeaderConformance => "no answer to an undocumented method carried Allow",
        Check::ResponseHeadersConformance => "no response documents headers",
        Check::ResponseSchemaConformance => "no response had a schema to check",
        Check::ContentTypeConformance => "no response documents a body",
        _ => "no response was judged",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_with_the_same_cause_share_it_whatever_the_values() {
        assert_eq!(
            cause("/price: -1 is less than the minimum of 0"),
            cause("/price: -25 is less than the minimum of 0")
        );
        assert_eq!(cause(r#"/sku: "ab" is too short"#), cause(r#"/sku: "" is too short"#));
        assert_ne!(
            cause("/price: -1 is less than the minimum of 0"),
            cause("/stock: -1 is less than the minimum of 0")
        );
        assert_ne!(cause("Response violates schema\n/a: wrong"), cause("Response violates schema\n/b: wrong"));
    }

    #[test]
    fn responses_are_shown_with_their_type_and_the_start_of_their_body() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("content-type", "text/html".parse().unwrap());
        let body = format!("<html>{}</html>", "x".repeat(1000));
        let shown = shown_response(500, &headers, body.as_bytes());
        assert!(shown.starts_with("500 text/html (1013 bytes): <html>xxx"), "{shown}");
        assert!(shown.ends_with('…') && shown.chars().count() < 460, "{shown}");
        assert_eq!(shown_response(204, &reqwest::header::HeaderMap::new(), b""), "204 no Content-Type, no body");
        headers.insert("x-request-id", "r-7".parse().unwrap());
        headers.insert("allow", "GET".parse().unwrap());
        assert!(
            shown_response(405, &headers, b"").starts_with("405 text/html [allow: GET; x-request-id: r-7], no body")
        );
    }

    #[test]
    fn curl_quotes_bodies_and_keeps_credentials_out() {
        let sent = Sent {
            method: "POST".into(),
            url: "http://127.0.0.1:8080/products".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            credential_headers: vec![("Authorization".into(), "Bearer $CONTRACT_BEARER".into())],
            credential_query: vec![("api_key".into(), "$CONTRACT_KEY".into())],
            body: Some(r#"{"name":"it's"}"#.into()),
            binary: false,
            authenticated: true,
            certificate: false,
        };
        assert_eq!(
            sent.curl(),
            r#"curl -X POST 'http://127.0.0.1:8080/products'"?api_key=$CONTRACT_KEY" -H 'Content-Type: application/json' -H "Authorization: Bearer $CONTRACT_BEARER" --data-binary '{"name":"it'\''s"}'"#
        );
    }
}
