//! Starting the real process wrong: every failure names its cause and the remedy, at once, and
//! leaves nothing half made.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn serve(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_commerce"));
    command
        .arg("serve")
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("COMMERCE_ADMIN_PASSWORD")
        .env("COMMERCE_JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("commerce-startup-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_database_url_that_cannot_work_is_refused_naming_why() {
    let dir = scratch("urls");
    let not_a_database = dir.join("notes.txt");
    std::fs::write(&not_a_database, "these are not SQLite pages, but text long enough to be read as a header").unwrap();
    let cases = [
        ("nonsense".to_string(), "DATABASE_URL must be sqlite://PATH"),
        ("mysql://root@localhost/shop".to_string(), "\"mysql\" is not a database this service runs on"),
        (format!("sqlite://{}/missing/dir/shop.db?mode=rwc", dir.display()), "does not exist: create it"),
        (format!("sqlite://{}/absent.db", dir.display()), "add ?mode=rwc"),
        (format!("sqlite://{}", not_a_database.display()), "is not an SQLite database"),
        ("postgres://postgres@127.0.0.1:1/test".to_string(), "PostgreSQL at 127.0.0.1:1 cannot be reached"),
    ];
    for (url, cause) in cases {
        let started = Instant::now();
        let output = serve(&["--listen", "127.0.0.1:0"], &[("DATABASE_URL", &url)]);
        assert!(!output.status.success(), "{url} started");
        assert!(stderr(&output).contains(cause), "{url}: expected {cause:?} in {}", stderr(&output));
        assert!(started.elapsed() < Duration::from_secs(5), "{url}: refused only after {:?}", started.elapsed());
    }
}

#[test]
fn flags_out_of_range_are_refused_with_a_hint() {
    for (args, hint) in [
        (&["--listen", "8080"][..], "expected HOST:PORT"),
        (&["--request-timeout-ms", "0"][..], "0 is not in 1.."),
        (&["--rate-limit-standard", "0"][..], "0 is not in 1.."),
        (&["--max-body-bytes", "0"][..], "must be at least 1"),
    ] {
        let output = serve(args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains(hint), "{args:?}: {}", stderr(&output));
    }
}

#[test]
fn a_port_in_use_is_refused_before_any_first_start_setup() {
    let dir = scratch("port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let database = dir.join("shop.db");
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let output = serve(&["--listen", &address], &[("DATABASE_URL", &url)]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("another process listens there"), "{}", stderr(&output));
    assert!(!database.exists(), "no database was created");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("First start"), "no password was printed");
}

#[test]
fn an_admin_password_given_for_an_existing_database_is_said_to_be_unused_in_plain_text() {
    let dir = scratch("admin");
    let url = format!("sqlite://{}?mode=rwc", dir.join("shop.db").display());
    // A first start (by `seed`) makes the database non-empty.
    let seed = Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["seed", "--products", "1"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(seed.status.success(), "{}", stderr(&seed));
    let mut child = Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", &url)
        .env("COMMERCE_ADMIN_PASSWORD", "a-new-password")
        .env("COMMERCE_JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let logged = stderr(&output);
    assert!(logged.contains("COMMERCE_ADMIN_PASSWORD is set, but the database already has"), "{logged}");
    // Logged to a pipe, not a terminal: plain text, no colour codes.
    assert!(logged.contains("WARN") && !logged.contains('\u{1b}'), "{logged:?}");
}

/// Starts `commerce serve` and returns its stdout and stderr once it serves (then stops it), or
/// its output if it exits first.
fn serve_briefly(args: &[&str], url: &str) -> (bool, String, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_commerce"))
        .arg("serve")
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("COMMERCE_ADMIN_PASSWORD")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut logged = String::new();
    let mut served = false;
    for line in lines.by_ref().map_while(Result::ok) {
        logged.push_str(&line);
        logged.push('\n');
        if line.contains("serving the Commerce API") {
            served = true;
            break;
        }
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    (served, String::from_utf8_lossy(&output.stdout).into_owned(), logged)
}

#[test]
fn the_documented_demo_password_is_served_on_loopback_only() {
    let dir = scratch("demo");
    let url = format!("sqlite://{}?mode=rwc", dir.join("shop.db").display());
    let (served, printed, logged) = serve_briefly(&["--listen", "127.0.0.1:0"], &url);
    assert!(served, "{logged}");
    assert!(printed.contains("password correct-horse-battery-staple"), "the first start says it: {printed}");
    assert!(printed.contains("commerce user set-password --tenant demo --email admin@example.com"), "{printed}");

    let (served, _, logged) = serve_briefly(&["--listen", "0.0.0.0:0"], &url);
    assert!(!served, "served the documented password beyond loopback");
    assert!(logged.contains("still has the documented demo password"), "{logged}");
    assert!(logged.contains("commerce user set-password --tenant demo --email admin@example.com"), "{logged}");

    let reset = Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["user", "set-password", "--tenant", "demo", "--email", "admin@example.com"])
        .env("DATABASE_URL", &url)
        .env("COMMERCE_USER_PASSWORD", "a-password-of-our-own")
        .output()
        .unwrap();
    assert!(reset.status.success(), "{}", stderr(&reset));
    let (served, _, logged) = serve_briefly(&["--listen", "0.0.0.0:0"], &url);
    assert!(served, "a changed password serves anywhere: {logged}");

    // A first start beyond loopback never uses the documented password: it generates one.
    let elsewhere = format!("sqlite://{}?mode=rwc", dir.join("public.db").display());
    let (served, printed, logged) = serve_briefly(&["--listen", "0.0.0.0:0"], &elsewhere);
    assert!(served, "{logged}");
    assert!(printed.contains("password pw_") && printed.contains("shown once"), "{printed}");
}
