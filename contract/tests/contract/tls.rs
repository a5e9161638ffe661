//! https deployments: a private CA (`--ca-file`), `--insecure`, and mutual TLS with a client
//! certificate (`--client-cert`/`--client-key`), against a Python standard-library HTTPS target
//! (`tests/targets/tls_target.py`) with certificates made by `openssl` for each test.

use std::path::Path;
use std::process::{Command, Stdio};

use commerce_contract::report::Coverage;
use tokio::io::AsyncBufReadExt;

use crate::support::{document, run, text};

const SPEC: &str = r#"
openapi: 3.1.0
info: {title: Settlement status, version: '1'}
components:
  securitySchemes:
    mtls: {type: mutualTLS}
paths:
  /transfers-status:
    get:
      operationId: status
      security: [{mtls: []}]
      responses: {'200': {description: ok}, '401': {description: no certificate}}
"#;

fn openssl(dir: &Path, args: &[&str]) {
    let status =
        Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).status().expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by the CA.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=contract test CA",
        ],
    );
    // X.509 v3 (extensions given), as rustls requires.
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n").unwrap();
    for (name, subject, ext) in
        [("server", "/CN=127.0.0.1", "server.ext"), ("client", "/CN=partner bank", "client.ext")]
    {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject]);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                ext,
            ],
        );
    }
}

/// Starts the HTTPS target; returns the child and its base URL.
async fn tls_target(dir: &Path, client_ca: bool) -> (tokio::process::Child, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/targets/tls_target.py");
    let mut command = tokio::process::Command::new("python3");
    command.arg(script).arg(dir.join("server.pem")).arg(dir.join("server.key"));
    if client_ca {
        command.arg(dir.join("ca.pem"));
    }
    let mut child = command.stdout(Stdio::piped()).kill_on_drop(true).spawn().expect("python3 runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines.next_line().await.unwrap().expect("the target prints its port");
    (child, format!("https://127.0.0.1:{port}"))
}

#[tokio::test]
async fn a_private_ca_is_trusted_with_ca_file_or_skipped_with_insecure_and_refused_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let (_child, base) = tls_target(dir.path(), false).await;
    let (_spec_dir, path) = document(&SPEC.replace("security: [{mtls: []}]", "security: []"));
    let unverified = run(&["--spec", &path, "--base-url", &base, "--phases", "coverage"]).await;
    assert!(!unverified.summary.passed());
    assert!(
        matches!(&unverified.summary.operations["status"].coverage, Coverage::NotTested(why) if why.contains("got a response")),
        "{}",
        text(&unverified)
    );
    let ca = dir.path().join("ca.pem");
    let trusted =
        run(&["--spec", &path, "--base-url", &base, "--phases", "coverage", "--ca-file", ca.to_str().unwrap()]).await;
    assert!(trusted.summary.passed(), "{}", text(&trusted));
    let insecure = run(&["--spec", &path, "--base-url", &base, "--phases", "coverage", "--insecure"]).await;
    assert!(insecure.summary.passed(), "{}", text(&insecure));
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate_and_probes_without_it() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let (_child, base) = tls_target(dir.path(), true).await;
    let (_spec_dir, path) = document(SPEC);
    let ca = dir.path().join("ca.pem");
    let (cert, key) = (dir.path().join("client.pem"), dir.path().join("client.key"));
    let without = run(&["--spec", &path, "--base-url", &base, "--ca-file", ca.to_str().unwrap()]).await;
    assert!(
        matches!(&without.summary.operations["status"].coverage, Coverage::NotTested(why) if why.contains("no credentials were given for mtls (mutualTLS)"))
    );
    let with = run(&[
        "--spec",
        &path,
        "--base-url",
        &base,
        "--ca-file",
        ca.to_str().unwrap(),
        "--client-cert",
        cert.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
        "--phases",
        "coverage",
    ])
    .await;
    assert!(with.summary.passed(), "{}", text(&with));
    // The probes went out without the certificate and were refused: ignored_auth judged them.
    assert_eq!(with.summary.judged.get("ignored_auth"), Some(&2), "{}", text(&with));
}
