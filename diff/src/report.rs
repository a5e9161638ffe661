//! The three outputs of `commerce diff`: text for a terminal, markdown for a pull-request comment,
//! JSON for programs. Findings are listed breaking first, then warnings, then compatible changes,
//! each in document order.

use serde_json::{Value, json};

use crate::rules::Level;
use crate::{Comparison, Finding, Side};

fn ordered(c: &Comparison) -> Vec<&Finding> {
    let mut out: Vec<&Finding> = c.findings.iter().collect();
    out.sort_by_key(|f| std::cmp::Reverse(f.level));
    out
}

fn location(f: &Finding) -> String {
    let side = match f.side {
        Side::Base => "base",
        Side::Head => "head",
    };
    format!("{side}#{}", f.pointer)
}

fn level_label(f: &Finding) -> String {
    if f.accepted { format!("{} (accepted: new major version)", f.level) } else { f.level.to_string() }
}

fn summary(c: &Comparison) -> String {
    let accepted = c.findings.iter().filter(|f| f.accepted).count();
    let mut text = format!(
        "{} breaking, {} warning(s), {} compatible",
        c.count(Level::Breaking),
        c.count(Level::Warning),
        c.count(Level::Info)
    );
    if accepted > 0 {
        text.push_str(&format!(
            "; {accepted} breaking change(s) accepted by the major version {} -> {}",
            c.base_version, c.head_version
        ));
    }
    text
}

pub fn text(c: &Comparison, (base, head): (&str, &str)) -> String {
    let mut out = format!("commerce diff: {base} ({}) -> {head} ({})\n", c.base_version, c.head_version);
    if c.findings.is_empty() {
        out.push_str("no changes that affect clients\n");
        return out;
    }
    out.push('\n');
    for f in ordered(c) {
        out.push_str(&format!("{:<9} {}", level_label(f), f.rule));
        if let Some(op) = &f.operation {
            out.push_str(&format!("  {op}"));
        }
        out.push_str(&format!("\n          {}\n          at {}\n", f.message, location(f)));
    }
    out.push_str(&format!("\n{}\n", summary(c)));
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(c: &Comparison, (base, head): (&str, &str)) -> String {
    let mut out = format!(
        "### API changes: `{}` ({}) → `{}` ({})\n\n",
        cell(base),
        cell(&c.base_version),
        cell(head),
        cell(&c.head_version)
    );
    if c.findings.is_empty() {
        out.push_str("No changes that affect clients.\n");
        return out;
    }
    out.push_str(&format!("**{}**\n\n", summary(c)));
    out.push_str("| Level | Rule | Operation | Change | Where |\n|---|---|---|---|---|\n");
    for f in ordered(c) {
        let op = f.operation.as_ref().map_or(String::new(), |o| cell(&o.to_string()));
        out.push_str(&format!(
            "| {} | `{}` | {} | {} | `{}` |\n",
            cell(&level_label(f)),
            f.rule,
            op,
            cell(&f.message),
            cell(&location(f))
        ));
    }
    out
}

pub fn json(c: &Comparison, (base, head): (&str, &str)) -> String {
    let findings: Vec<Value> = ordered(c)
        .into_iter()
        .map(|f| {
            json!({
                "rule": f.rule,
                "level": f.level.name(),
                "accepted": f.accepted,
                "operation": f.operation.as_ref().map(|o| json!({
                    "method": o.method,
                    "path": o.path,
                    "operationId": o.operation_id,
                })),
                "document": match f.side { Side::Base => "base", Side::Head => "head" },
                "pointer": f.pointer,
                "message": f.message,
            })
        })
        .collect();
    let doc = json!({
        "base": {"location": base, "version": c.base_version},
        "head": {"location": head, "version": c.head_version},
        "majorVersionBump": c.major_bump,
        "summary": {
            "breaking": c.count(Level::Breaking),
            "warning": c.count(Level::Warning),
            "info": c.count(Level::Info),
            "accepted": c.findings.iter().filter(|f| f.accepted).count(),
        },
        "findings": findings,
    });
    format!("{}\n", serde_json::to_string_pretty(&doc).expect("a JSON value"))
}
