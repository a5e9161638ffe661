//! `cargo xtask compat [RELEASED]`: the compatibility gate, on paper and on the wire.
//!
//! 1. `commerce diff RELEASED openapi/commerce.yaml`: no breaking change unless `info.version`
//!    is a new major version.
//! 2. The service built from this checkout, on a fresh SQLite database, is checked by
//!    `commerce contract` against the RELEASED document: every promise of the published API kept by
//!    the new server, not only by the new document.
//!
//! RELEASED defaults to the newest `openapi/released/<version>.yaml`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::bench::{ADMIN_PASSWORD, cargo_build, free_port, start_service};

/// Fuzzing cases per operation in the wire check (and a tenth as many stateful chains).
const MAX_EXAMPLES: &str = "25";

/// The newest released document: the highest `MAJOR.MINOR.PATCH` file name in `openapi/released/`.
fn newest_release(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join("openapi/released");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut releases: Vec<(Vec<u64>, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_string();
            let version: Option<Vec<u64>> = stem.split('.').map(|p| p.parse().ok()).collect();
            Some((version?, path))
        })
        .collect();
    releases.sort();
    releases.pop().map(|(_, path)| path).ok_or_else(|| format!("no <version>.yaml in {}", dir.display()))
}

pub fn run(root: &Path, released: Option<&str>) -> ExitCode {
    match gate(root, released) {
        Ok(()) => {
            println!("compat: the head keeps every promise of the released document, on paper and on the wire");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compat: {e}");
            ExitCode::FAILURE
        }
    }
}

fn gate(root: &Path, released: Option<&str>) -> Result<(), String> {
    let released = match released {
        Some(path) => root.join(path),
        None => newest_release(root)?,
    };
    cargo_build(root, &["--quiet", "-p", "commerce", "--bin", "commerce"], "the service does not build")?;
    let bin = root.join("target/debug/commerce");
    let head = root.join("openapi/commerce.yaml");

    println!("compat: commerce diff {} openapi/commerce.yaml", released.display());
    let diff = Command::new(&bin).current_dir(root).arg("diff").arg(&released).arg(&head).status();
    let paper = match diff.map_err(|e| e.to_string())?.code() {
        Some(0) => Ok(()),
        Some(1) => Err("the document has a breaking change without a new major version (above)".to_string()),
        _ => return Err("commerce diff could not compare the documents (above)".into()),
    };

    println!("\ncompat: commerce contract --spec {} against the service built from this checkout", released.display());
    let work = std::env::temp_dir().join(format!("commerce-compat-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}/compat.db?mode=rwc", work.display());
    let port = free_port();
    let base_url = format!("http://127.0.0.1:{port}");
    let (server, _) = start_service(&bin, &url, port)?;
    let wire = Command::new(&bin)
        .current_dir(root)
        .arg("contract")
        .arg("--spec")
        .arg(&released)
        .args(["--base-url", &base_url, "--config", "schemathesis.toml", "--max-examples", MAX_EXAMPLES])
        .args(["--no-progress", "--report", "junit", "--report-dir", "target/compat-reports"])
        .env("COMMERCE_ADMIN_EMAIL", "admin@example.com")
        .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .status()
        .map_err(|e| e.to_string())?;
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
    let wire = match wire.code() {
        Some(0) => Ok(()),
        Some(1) => Err("the service breaks a promise of the released document (above)".to_string()),
        _ => Err("commerce contract could not run (above)".to_string()),
    };
    match (paper, wire) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(a), Err(b)) => Err(format!("{a}; and {b}")),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}
