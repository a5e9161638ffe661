//! The README's commands, run as written: every `sh` block after "Using the commands below" runs in
//! bash (`set -euo pipefail`, so any failing command fails it) against a fresh server started as
//! that section says, with the built `commerce` first on PATH as `cargo install` would put it. The
//! only change made to a block is the server's port, which is the test's own, not 8080.

use std::process::Command;

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess, TestDatabase};

const README: &str = include_str!("../../README.md");

/// The `sh` blocks after the heading that sets up their environment, with the line each starts on.
fn runnable_blocks() -> Vec<(usize, String)> {
    let start = README.find("\n## Using the commands below").expect("the README explains its commands");
    let first_line = README[..start].lines().count() + 1;
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in README[start..].lines().enumerate() {
        match (&mut current, line.trim()) {
            (None, "```sh") => current = Some((first_line + number + 1, String::new())),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some((_, text)), line) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[tokio::test]
async fn every_command_block_of_the_readme_runs_as_written() {
    let blocks = runnable_blocks();
    assert!(blocks.len() >= 3, "the README's contract, administration and curl blocks: {blocks:?}");
    let database = TestDatabase::new().await;
    // As "Using the commands below" starts it: a chosen admin password and raised limits.
    let server = ServerProcess::start(
        &database,
        &[
            ("COMMERCE_SEED_DEMO", "true"),
            ("COMMERCE_RATE_LIMIT_STANDARD", "100000000"),
            ("COMMERCE_RATE_LIMIT_UNAUTHENTICATED", "100000000"),
            ("COMMERCE_LOGIN_MAX_FAILURES", "100000000"),
        ],
    );
    let address = server.base.trim_start_matches("http://").to_string();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_commerce")).parent().unwrap();
    let path = format!("{}:{}", binary.display(), std::env::var("PATH").unwrap_or_default());
    let database_url = database.url.clone();
    for (line, block) in blocks {
        let (path, database_url) = (path.clone(), database_url.clone());
        let script = block.replace("127.0.0.1:8080", &address).replace("localhost:8080", &address);
        let output = tokio::task::spawn_blocking(move || {
            Command::new("bash")
                .args(["-euo", "pipefail", "-c", &script])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("PATH", path)
                .env("DATABASE_URL", database_url)
                .env("COMMERCE_ADMIN_EMAIL", ADMIN_EMAIL)
                .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
                .env("RUST_LOG", "error")
                .output()
                .expect("bash runs")
        });
        let output = output.await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "README.md line {line}: the block failed ({})\n{block}\nstdout:\n{stdout}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        println!("README.md line {line}:\n{stdout}");
        if block.contains("-X DELETE") {
            assert!(stdout.contains("204\n404"), "README.md line {line}: the delete, then a 404:\n{stdout}");
        }
    }
}
