//! The README's tour, run for real on a scratch copy of the workspace: add an operation whose body
//! is a `oneOf` with a discriminator (a payment method, `card | bank_transfer`, on orders) to
//! `openapi/commerce.yaml`, regenerate, and check that the service then fails to compile in exactly
//! one place — the handler to write — and that, once written as a `match` over the typed payment
//! method, it compiles.
//!
//! `cargo check` shares the workspace's target directory, so only the workspace's own crates are
//! checked again.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::codegen;

const PATH_ITEM: &str = "  /orders/{orderId}/payments:
    post:
      operationId: payOrder
      tags: [Orders]
      summary: Pay for an order
      parameters:
        - name: orderId
          in: path
          required: true
          schema: {type: string, format: uuid}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/PaymentMethod'}
      responses:
        '200':
          description: The payment as recorded.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/PaymentReceipt'}
";

const SCHEMAS: &str = "    PaymentMethod:
      oneOf:
        - $ref: '#/components/schemas/CardPayment'
        - $ref: '#/components/schemas/BankTransferPayment'
      discriminator:
        propertyName: type
        mapping:
          card: '#/components/schemas/CardPayment'
          bank_transfer: '#/components/schemas/BankTransferPayment'
    CardPayment:
      type: object
      required: [type, last4]
      properties:
        type: {type: string, enum: [card]}
        last4: {type: string, pattern: '^[0-9]{4}$'}
    BankTransferPayment:
      type: object
      required: [type, iban]
      properties:
        type: {type: string, enum: [bank_transfer]}
        iban: {type: string, maxLength: 34}
    PaymentReceipt:
      type: object
      required: [reference]
      properties:
        reference: {type: string}
";

/// The handler the compiler asks for, written as a developer would: a `match` over the typed method.
const HANDLER: &str = "
    async fn pay_order(
        &self,
        _principal: Principal,
        order_id: uuid::Uuid,
        body: commerce_generated::models::PaymentMethod,
    ) -> poem::Result<commerce_generated::PayOrderResponse> {
        use commerce_generated::models::PaymentMethod;
        let reference = match body {
            PaymentMethod::Card(card) => format!(\"{order_id}: card ending {}\", card.last4),
            PaymentMethod::BankTransfer(transfer) => format!(\"{order_id}: transfer from {}\", transfer.iban),
        };
        Ok(commerce_generated::PayOrderResponse::Ok(commerce_runtime::Json::new(
            commerce_generated::models::PaymentReceipt { reference },
        )))
    }
";

/// Runs the tour; `Err` says which step did not hold.
pub fn run(root: &Path) -> Result<(), String> {
    let scratch = root.join("target/tour");
    let _ = std::fs::remove_dir_all(&scratch);
    copy_tracked(root, &scratch)?;

    // 1. Edit the spec.
    let spec_path = scratch.join("openapi/commerce.yaml");
    let spec = std::fs::read_to_string(&spec_path).map_err(|e| e.to_string())?;
    let spec = insert_after(&spec, "\npaths:\n", PATH_ITEM)?;
    let spec = insert_after(&spec, "\n  schemas:\n", SCHEMAS)?;
    std::fs::write(&spec_path, spec).map_err(|e| e.to_string())?;

    // 2. Regenerate.
    codegen::write_all(&scratch).map_err(|e| format!("codegen of the edited spec failed: {e}"))?;

    // 3. Follow the compiler: one error, the missing handler.
    let errors = check(root, &scratch)?;
    let expected = errors.len() == 1
        && errors[0].0.ends_with("src/api/mod.rs")
        && errors[0].1 == "E0046"
        && errors[0].2.contains("pay_order");
    if !expected {
        return Err(format!(
            "the edit should cause one error, the missing pay_order in src/api/mod.rs; got {errors:#?}"
        ));
    }
    let handlers = scratch.join("src/api/mod.rs");
    let source = std::fs::read_to_string(&handlers).map_err(|e| e.to_string())?;
    let source = insert_after(&source, "impl CommerceApi for Handlers {\n", HANDLER)?;
    std::fs::write(&handlers, source).map_err(|e| e.to_string())?;
    let errors = check(root, &scratch)?;
    if !errors.is_empty() {
        return Err(format!("the handler over the typed payment method does not compile: {errors:#?}"));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn insert_after(text: &str, anchor: &str, addition: &str) -> Result<String, String> {
    let at = text.find(anchor).ok_or_else(|| format!("{anchor:?} not found"))? + anchor.len();
    Ok(format!("{}{addition}{}", &text[..at], &text[at..]))
}

/// Copies the workspace as git sees it (tracked files, and new ones not ignored) into `to`.
fn copy_tracked(root: &Path, to: &Path) -> Result<(), String> {
    let listed = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()
        .map_err(|e| e.to_string())?;
    if !listed.status.success() {
        return Err("git ls-files failed".into());
    }
    let files: Vec<PathBuf> = listed
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .collect();
    for file in files {
        let (from, dest) = (root.join(&file), to.join(&file));
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::copy(&from, &dest).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    Ok(())
}

/// `cargo check` of the service's library in `scratch`: (file, error code, message) per error.
fn check(root: &Path, scratch: &Path) -> Result<Vec<(String, String, String)>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(scratch)
        .args(["check", "-p", "commerce", "--lib", "--message-format=json", "--quiet"])
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .map_err(|e| format!("cannot run cargo check: {e}"))?;
    let mut errors = Vec::new();
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<Value>(line) else { continue };
        if message["reason"] != "compiler-message" || message["message"]["level"] != "error" {
            continue;
        }
        let file = message["message"]["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find(|s| s["is_primary"] == true))
            .and_then(|s| s["file_name"].as_str())
            .unwrap_or_default()
            .to_string();
        let code = message["message"]["code"]["code"].as_str().unwrap_or_default().to_string();
        let text = message["message"]["message"].as_str().unwrap_or_default().to_string();
        errors.push((file, code, text));
    }
    if errors.is_empty() && !output.status.success() {
        return Err(format!(
            "cargo check failed without a compiler error: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(errors)
}
