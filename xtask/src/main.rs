//! Developer tasks, run as `cargo xtask <task>` (an alias in .cargo/config.toml).
//!
//! - `codegen [--check]`: regenerate `generated/` (and the generator's fixture) from the specs, or
//!   fail naming every stale file.
//! - `test [cargo test args]`: the whole test suite, then the contract coverage gate.
//! - `bench [catalogue|scale|zoo|contract]`: the release service under wrk against a bare poem route, at
//!   10,000 and at 1,000,000 products, and the contract testers (on our service and on the zoo);
//!   prints the table. `scale`: only the million; `zoo`, `contract`: only the testers.
//! - `compat [RELEASED]`: `commerce diff` from the released document to the spec, and `commerce
//!   contract` with the released document against the service built from this checkout.
//! - `tour`: the README's tour on a scratch copy (a oneOf edit: one compile error, then typed).

mod bench;
mod codegen;
mod compat;
mod contract_test;
mod scale;
mod tour;

use std::process::ExitCode;

const USAGE: &str =
    "usage: cargo xtask codegen [--check] | test [-- cargo test args] | bench [catalogue|scale|zoo|contract] | compat [RELEASED] | tour

  codegen          regenerate generated/ from openapi/commerce.yaml (and xtask's fixture crate)
  codegen --check  change nothing; exit 1 naming each stale file if the output is out of date
  test             cargo test --workspace, then fail if a documented (operation, status) pair
                   of the spec was exercised by no test
  bench            the release service under wrk, against a bare poem route (BENCHMARKS.md)
  bench catalogue  only the part at 10,000 products
  bench scale      only the part at 1,000,000 products
  bench zoo        only the contract testers on the zoo's deployments
  bench contract   only the contract testers on this service
  compat           the compatibility gate: `commerce diff` from the newest openapi/released/*.yaml
                   (or RELEASED) to openapi/commerce.yaml fails on a breaking change without a new
                   major version, and the service built here must pass `commerce contract` with
                   the released document
  tour             the README's tour on a scratch copy: a oneOf edit to the spec causes one compile
                   error (the handler to write), then compiles with a typed value (also run by test)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = codegen::workspace_root();
    match args.as_slice() {
        ["codegen"] => match codegen::write_all(&root) {
            Ok(written) if written.is_empty() => {
                println!("codegen: everything is up to date");
                ExitCode::SUCCESS
            }
            Ok(written) => {
                for path in written {
                    println!("codegen: wrote {}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("codegen: {e}");
                ExitCode::from(2)
            }
        },
        ["codegen", "--check"] => match codegen::stale_files(&root) {
            Ok(stale) if stale.is_empty() => {
                println!("codegen --check: generated code matches the specs");
                ExitCode::SUCCESS
            }
            Ok(stale) => {
                for path in stale {
                    eprintln!("codegen --check: {} is stale", path.display());
                }
                eprintln!("codegen --check: run `cargo xtask codegen` and commit the result with the spec change");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("codegen --check: {e}");
                ExitCode::from(2)
            }
        },
        ["bench"] => bench::run(&root),
        ["bench", "catalogue"] => bench::run_catalogue(&root),
        ["bench", "scale"] => bench::run_scale(&root),
        ["bench", "zoo"] => bench::run_testers(&root, false),
        ["bench", "contract"] => bench::run_testers(&root, true),
        ["compat"] => compat::run(&root, None),
        ["compat", released] => compat::run(&root, Some(released)),
        ["tour"] => match tour::run(&root) {
            Ok(()) => {
                println!("tour: one compile error, in the handler to write; then a typed value in it");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tour: {e}");
                ExitCode::FAILURE
            }
        },
        ["test", rest @ ..] => {
            let rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            contract_test::run(&root, &rest)
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
