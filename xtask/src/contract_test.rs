//! `cargo xtask test`: the whole test suite, then the contract coverage gate: every (operation,
//! documented status) pair of the spec must have been answered in some test, else it fails listing
//! the missing pairs. (A status no request can cause should be removed from the spec instead.) Then
//! the README's tour on a scratch copy (`crate::tour`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitCode};

use commerce_spec::Spec;

pub fn run(root: &Path, cargo_args: &[String]) -> ExitCode {
    let coverage_dir = root.join("target/contract-coverage");
    let _ = std::fs::remove_dir_all(&coverage_dir);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["test", "--workspace"])
        .args(cargo_args)
        .env("COMMERCE_CONTRACT_COVERAGE", &coverage_dir)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(_) => return ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask test: cannot run cargo: {e}");
            return ExitCode::from(2);
        }
    }
    if !cargo_args.is_empty() {
        println!("contract coverage: not checked (the suite was filtered by {cargo_args:?})");
        return ExitCode::SUCCESS;
    }
    match missing_pairs(&root.join("openapi/commerce.yaml"), &coverage_dir) {
        Ok((missing, total)) if missing.is_empty() => {
            println!("contract coverage: all {total} documented (operation, status) pairs were exercised");
            tour(root)
        }
        Ok((missing, total)) => {
            eprintln!(
                "contract coverage: {} of {total} documented (operation, status) pairs no test exercised:",
                missing.len()
            );
            for (operation, status) in missing {
                eprintln!("  {operation} {status}");
            }
            eprintln!(
                "add a test that causes each, or remove the status from openapi/commerce.yaml if it cannot happen"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("contract coverage: {e}");
            ExitCode::from(2)
        }
    }
}

/// The README's tour (`cargo xtask tour`), once per machine: not again in the PostgreSQL run, which
/// changes nothing it checks.
fn tour(root: &Path) -> ExitCode {
    if std::env::var_os("COMMERCE_TEST_POSTGRES").is_some() {
        println!("tour: run by the SQLite pass of `cargo xtask test`");
        return ExitCode::SUCCESS;
    }
    match crate::tour::run(root) {
        Ok(()) => {
            println!(
                "tour: a oneOf edit of the spec causes one compile error, in the handler to write; then a typed value in it"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tour: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The documented pairs absent from the recorded ones, and how many are documented.
fn missing_pairs(spec: &Path, recorded: &Path) -> Result<(Vec<(String, String)>, usize), String> {
    let spec = Spec::load(spec).map_err(|e| e.0)?;
    let mut documented = BTreeSet::new();
    for op in spec.operations().map_err(|e| e.0)? {
        for (status, _) in &op.responses {
            documented.insert((op.name.to_string(), status.to_string()));
        }
    }
    let mut exercised = BTreeSet::new();
    let files =
        std::fs::read_dir(recorded).map_err(|e| format!("no coverage was recorded in {}: {e}", recorded.display()))?;
    for file in files.flatten() {
        let text = std::fs::read_to_string(file.path()).map_err(|e| e.to_string())?;
        for line in text.lines() {
            if let Some((op, status)) = line.split_once(' ') {
                exercised.insert((op.to_string(), status.to_string()));
            }
        }
    }
    let total = documented.len();
    Ok((documented.difference(&exercised).cloned().collect(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_no_test_recorded_are_reported() {
        let dir = std::env::temp_dir().join(format!("xtask-coverage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1.txt"), "login 200\nlogin 401\n").unwrap();
        std::fs::write(dir.join("2.txt"), "login 400\n").unwrap();
        let spec = crate::codegen::workspace_root().join("openapi/commerce.yaml");
        let (missing, total) = missing_pairs(&spec, &dir).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert!(total > 50);
        assert!(!missing.contains(&("login".into(), "401".into())));
        assert!(missing.contains(&("login".into(), "415".into())));
        assert!(missing.contains(&("getOrder".into(), "404".into())));
    }
}
