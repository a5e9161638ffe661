//! Where `commerce diff` reads a document from: a file, or `git:REV:path`, the file as it is at a
//! revision of the repository holding the current directory (with every file it references read at
//! the same revision).

use std::path::{Path, PathBuf};
use std::process::Command;

use commerce_spec::{Spec, SpecError};

/// Reads the document a user named.
pub fn load(location: &str) -> Result<Spec, String> {
    if let Some(rest) = location.strip_prefix("git:") {
        let Some((rev, path)) = rest.split_once(':') else {
            return Err("expected git:REV:path, such as git:origin/main:openapi/commerce.yaml".into());
        };
        return from_git(rev, path);
    }
    if location.starts_with("http://") || location.starts_with("https://") {
        return Err("diff reads files and git:REV:path; download the document first (curl -o)".into());
    }
    Spec::load(location).map_err(|e| e.0)
}

fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git").args(args).output().map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!("git {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("git {}: the output is not UTF-8", args.join(" ")))
}

fn from_git(rev: &str, path: &str) -> Result<Spec, String> {
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    git(&["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
        .map_err(|_| format!("{rev} is not a revision of the repository at {}", top.display()))?;
    let here = std::env::current_dir().map_err(|e| e.to_string())?;
    let absolute = normalise(&here.join(path));
    let top = normalise(&top.canonicalize().unwrap_or(top));
    let absolute = canonical_prefix(&absolute);
    let root = url::Url::from_file_path(&absolute).map_err(|()| format!("{path} is not a usable path"))?;
    Spec::load_with(&root, &mut |url| {
        let file =
            url.to_file_path().map_err(|()| SpecError(format!("{url}: only files of the repository are read")))?;
        let relative = file
            .strip_prefix(&top)
            .map_err(|_| SpecError(format!("{} is outside the repository at {}", file.display(), top.display())))?;
        let spec = format!("{rev}:{}", relative.to_string_lossy());
        git(&["show", &spec]).map_err(|e| SpecError(format!("{}: {e}", file.display())))
    })
    .map_err(|e| e.0)
}

/// `a/./b/../c` -> `a/c`, without touching the file system (the file may not exist any more).
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The path with its longest existing ancestor canonicalised (symlinks such as /tmp -> /private/tmp
/// resolved), so it compares with git's top level.
fn canonical_prefix(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        let Some(name) = existing.file_name().map(|n| n.to_os_string()) else { break };
        rest.push(name);
        existing.pop();
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}
