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
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// `(header, shown value)`; a name starting with `?` is a query parameter.
    pub credential_headers: Vec<(String, String)>,
    pub body: Option<String>,
    #[serde(skip)]
    pub authenticated: bool,
}

impl Sent {
    /// A curl command that sends this request again.
    pub fn curl(&self) -> String {
        let mut url = self.url.clone();
        for (name, shown) in &self.credential_headers {
            if let Some(query) = name.strip_prefix('?') {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("{query}={shown}"));
            }
        }
        let mut out = format!("curl -X {} {}", self.method, quote(&url));
        for (name, value) in &self.headers {
            write!(out, " -H {}", quote(&format!("{name}: {value}"))).unwrap();
        }
        for (name, shown) in self.credential_headers.iter().filter(|(n, _)| !n.starts_with('?')) {
            // Double quotes, so the shell fills in the credential from the environment.
            write!(out, " -H \"{name}: {shown}\"").unwrap();
        }
        if let Some(body) = &self.body {
            write!(out, " -d {}", quote(body)).unwrap();
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
}

/// Failures grouped by (operation, check, first line of the message), the smallest request kept.
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
        let title = finding.message.lines().next().unwrap_or_default().to_string();
        let entry = groups.entry((finding.operation.clone(), finding.check, title)).or_insert((0, finding));
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
    /// Per operationId: cases sent and failures by check.
    pub operations: BTreeMap<String, OperationSummary>,
    pub failures_by_check: BTreeMap<&'static str, usize>,
    pub failures: Vec<Group>,
    pub errors: Vec<String>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct OperationSummary {
    pub cases: usize,
    pub failures: BTreeMap<&'static str, usize>,
}

impl Summary {
    pub fn new(api: &Api, spec: &str, base_url: &str, seed: u64, elapsed: Duration, tally: Tally) -> Self {
        let cases: usize = tally.cases.values().sum();
        let mut operations: BTreeMap<String, OperationSummary> = BTreeMap::new();
        for (index, count) in &tally.per_operation {
            operations.entry(api.operations[*index].id.clone()).or_default().cases = *count;
        }
        let mut failures_by_check = BTreeMap::new();
        for finding in &tally.findings {
            *operations
                .entry(finding.operation.clone())
                .or_default()
                .failures
                .entry(finding.check.name())
                .or_default() += 1;
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
            failures: group(&tally.findings),
            errors: tally.errors,
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.errors.is_empty()
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
            let verdict = if op.failures.is_empty() {
                "ok".to_string()
            } else {
                op.failures.iter().map(|(c, n)| format!("{c} ×{n}")).collect::<Vec<_>>().join(", ")
            };
            writeln!(out, "  {id:width$}  {:>5} cases  {verdict}", op.cases).unwrap();
        }
        writeln!(out, "\nChecks").unwrap();
        for check in checks {
            let failed = self.failures_by_check.get(check.name()).copied().unwrap_or(0);
            let verdict = if failed == 0 { "passed".to_string() } else { format!("FAILED ×{failed}") };
            writeln!(out, "  {:30}  {verdict}", check.name()).unwrap();
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
                writeln!(out, "   Reproduce: {}", group.curl).unwrap();
            }
            if self.failures.iter().any(|g| g.curl.contains("$CONTRACT_")) {
                writeln!(
                    out,
                    "\nThe curl commands read credentials from $CONTRACT_BEARER and $CONTRACT_API_KEY; export them first."
                )
                .unwrap();
            }
        }
        if !self.errors.is_empty() {
            writeln!(out, "\nRequests without a response ({})", self.errors.len()).unwrap();
            for error in self.errors.iter().take(10) {
                writeln!(out, "  {error}").unwrap();
            }
        }
        writeln!(out, "\n{}", if self.passed() { "All checks passed." } else { "Some checks FAILED." }).unwrap();
        out
    }

    /// JUnit XML: one suite per operation, one test case per check, failures with their curl command.
    pub fn junit(&self, checks: &[Check]) -> String {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("commerce contract");
        report.set_time(Duration::from_secs_f64(self.seconds));
        for id in self.operations.keys() {
            let mut suite = TestSuite::new(id.as_str());
            for check in checks {
                let failures: Vec<&Group> =
                    self.failures.iter().filter(|g| g.operation == *id && g.check == check.name()).collect();
                let status = if failures.is_empty() {
                    TestCaseStatus::success()
                } else {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(failures[0].example.message.lines().next().unwrap_or_default());
                    let description: Vec<String> =
                        failures.iter().map(|g| format!("{}\nReproduce: {}", g.example.message, g.curl)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_quotes_bodies_and_keeps_credentials_out() {
        let sent = Sent {
            method: "POST".into(),
            url: "http://127.0.0.1:8080/products".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            credential_headers: vec![("Authorization".into(), "Bearer $CONTRACT_BEARER".into())],
            body: Some(r#"{"name":"it's"}"#.into()),
            authenticated: true,
        };
        assert_eq!(
            sent.curl(),
            r#"curl -X POST 'http://127.0.0.1:8080/products' -H 'Content-Type: application/json' -H "Authorization: Bearer $CONTRACT_BEARER" -d '{"name":"it'\''s"}'"#
        );
    }
}
