//! Comparing two documents operation by operation: paths (matched with their template names
//! ignored), methods, security, parameters, request bodies and responses; schemas are compared by
//! `schema.rs` in the direction each one travels.

use std::collections::{BTreeMap, BTreeSet};

use commerce_spec::{Operation, Parameter, Spec, escape};
use serde_json::Value;

use crate::schema::Dir;
use crate::{Finding, OperationRef, Side, rules};

/// The state of one comparison: both documents, the operation being compared and the findings.
pub(crate) struct Walk<'a> {
    pub(crate) base: &'a Spec,
    pub(crate) head: &'a Spec,
    op: Option<OperationRef>,
    /// The schema pairs being compared, to stop at recursion.
    pub(crate) stack: Vec<(String, String, bool)>,
    /// The schema pairs compared for the current operation: a schema reached again (a shared
    /// schema used twice, the diamonds of a dense graph) is reported once per operation and
    /// direction, and the walk stays linear in the size of the document.
    pub(crate) done: std::collections::HashSet<(String, String, bool)>,
    /// What each schema pair (by the pointers it was reached at) finds by itself, computed once.
    pub(crate) locals: std::collections::HashMap<(String, String, bool), std::rc::Rc<crate::schema::Local>>,
    /// The `$ref` targets that are the same in both documents, down to everything they reference.
    pub(crate) unchanged: BTreeSet<String>,
    /// Which pairs can reach a change (see `Walk::loud`).
    pub(crate) scc: crate::schema::Scc,
    out: Vec<Finding>,
}

impl Walk<'_> {
    pub(crate) fn emit(&mut self, rule: &'static str, side: Side, pointer: &str, message: String) {
        let rule = rules::find(rule);
        self.out.push(Finding {
            rule: rule.id,
            level: rule.level,
            operation: self.op.clone(),
            side,
            pointer: pointer.to_string(),
            message,
            accepted: false,
        });
    }
}

/// A path with its template names blanked: `/items/{id}` and `/items/{itemId}` are one path.
fn path_key(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push('{');
            }
            '}' => {
                inside = false;
                out.push('}');
            }
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

fn reference(op: &Operation<'_>) -> OperationRef {
    OperationRef {
        method: op.method.to_uppercase(),
        path: op.path.to_string(),
        operation_id: op.operation_id.map(String::from),
    }
}

/// Every `$ref` string inside `value`.
pub(crate) fn refs<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The `$ref` targets whose value is the same in both documents and which reference only such
/// targets (the greatest such set, so unchanged cycles stay in it): comparing them finds nothing,
/// so the walk skips them.
fn unchanged(base: &Spec, head: &Spec) -> BTreeSet<String> {
    let mut targets: Vec<&str> = Vec::new();
    refs(&base.doc, &mut targets);
    refs(&head.doc, &mut targets);
    let mut same: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for target in targets {
        if same.contains_key(target) {
            continue;
        }
        let pointer = target.strip_prefix('#').unwrap_or(target);
        if let (Some(b), Some(h)) = (base.doc.pointer(pointer), head.doc.pointer(pointer))
            && b == h
        {
            let mut inner = Vec::new();
            refs(b, &mut inner);
            same.insert(target.to_string(), inner.into_iter().map(String::from).collect());
        }
    }
    loop {
        let gone: Vec<String> = same
            .iter()
            .filter(|(_, inner)| inner.iter().any(|r| !same.contains_key(r)))
            .map(|(k, _)| k.clone())
            .collect();
        if gone.is_empty() {
            return same.into_keys().collect();
        }
        for k in gone {
            same.remove(&k);
        }
    }
}

/// Refuses a document with a `$ref` that names nothing: comparing it would have to guess.
fn check_references(spec: &Spec, label: &str) -> Result<(), String> {
    let mut found = Vec::new();
    commerce_spec::load::refs(&spec.doc, "", &mut found);
    match found.into_iter().find(|(_, r)| spec.pointer(r).is_err()) {
        Some((at, r)) => Err(format!("{label}: {at}/$ref: {r} names nothing in the document")),
        None => Ok(()),
    }
}

/// Every change from `base` to `head`, at the rules' default levels, in document order.
pub fn compare(base: &Spec, head: &Spec) -> Result<Vec<Finding>, String> {
    check_references(base, "base")?;
    check_references(head, "head")?;
    let base_ops = base.operations().map_err(|e| format!("base: {e}"))?;
    let head_ops = head.operations().map_err(|e| format!("head: {e}"))?;
    let mut walk = Walk {
        base,
        head,
        op: None,
        stack: Vec::new(),
        done: Default::default(),
        locals: Default::default(),
        unchanged: unchanged(base, head),
        scc: Default::default(),
        out: Vec::new(),
    };
    let key = |op: &Operation<'_>| (path_key(op.path), op.method);
    let head_paths: BTreeSet<String> = head_ops.iter().map(|o| path_key(o.path)).collect();
    let base_paths: BTreeSet<String> = base_ops.iter().map(|o| path_key(o.path)).collect();
    for b in &base_ops {
        walk.op = Some(reference(b));
        walk.done.clear();
        match head_ops.iter().find(|h| key(h) == key(b)) {
            Some(h) => walk.operation(b, h),
            None if head_paths.contains(&path_key(b.path)) => walk.emit(
                "operation-removed",
                Side::Base,
                &b.pointer,
                format!("{} {} removed", b.method.to_uppercase(), b.path),
            ),
            None => walk.emit(
                "path-removed",
                Side::Base,
                &b.pointer,
                format!("{} {} removed with its path", b.method.to_uppercase(), b.path),
            ),
        }
    }
    for h in &head_ops {
        if base_ops.iter().any(|b| key(b) == key(h)) {
            continue;
        }
        walk.op = Some(reference(h));
        let (rule, text) = if base_paths.contains(&path_key(h.path)) {
            ("operation-added", "new operation")
        } else {
            ("path-added", "new operation on a new path")
        };
        walk.emit(rule, Side::Head, &h.pointer, format!("{text}: {} {}", h.method.to_uppercase(), h.path));
    }
    walk.op = None;
    walk.security_schemes();
    walk.document_level();
    Ok(walk.out)
}

impl Walk<'_> {
    fn operation(&mut self, b: &Operation<'_>, h: &Operation<'_>) {
        if b.operation_id != h.operation_id {
            self.emit(
                "operation-id-changed",
                Side::Head,
                &format!("{}/operationId", h.pointer),
                format!("operationId {} -> {}", b.operation_id.unwrap_or("none"), h.operation_id.unwrap_or("none")),
            );
        }
        let deprecated = |o: &Operation<'_>| o.op.get("deprecated") == Some(&Value::Bool(true));
        if deprecated(h) && !deprecated(b) {
            self.emit(
                "operation-deprecated",
                Side::Head,
                &format!("{}/deprecated", h.pointer),
                "now deprecated".into(),
            );
        }
        self.security(b, h);
        self.parameters(b, h);
        self.request_body(b, h);
        self.responses(b, h);
        if b.op.get("callbacks") != h.op.get("callbacks") {
            self.emit(
                "webhooks-changed",
                Side::Head,
                &format!("{}/callbacks", h.pointer),
                "callbacks changed; not analysed".into(),
            );
        }
    }

    fn security(&mut self, b: &Operation<'_>, h: &Operation<'_>) {
        type Alternative = BTreeMap<String, BTreeSet<String>>;
        let alternatives = |o: &Operation<'_>| -> Vec<Alternative> {
            if o.security.is_empty() {
                return vec![Alternative::new()];
            }
            o.security
                .iter()
                .map(|alt| {
                    alt.iter()
                        .map(|r| (r.scheme.to_string(), r.scopes.iter().map(|s| s.to_string()).collect()))
                        .collect()
                })
                .collect()
        };
        let (ba, ha) = (alternatives(b), alternatives(h));
        if ba == ha {
            return;
        }
        let at = if h.op.get("security").is_some() { format!("{}/security", h.pointer) } else { "/security".into() };
        let show = |alt: &Alternative| {
            if alt.is_empty() {
                return "no credential".to_string();
            }
            alt.iter()
                .map(|(s, scopes)| {
                    if scopes.is_empty() {
                        s.clone()
                    } else {
                        format!("{s} [{}]", scopes.iter().cloned().collect::<Vec<_>>().join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let mut broke = false;
        for alt in &ba {
            let within_schemes = |x: &Alternative| x.keys().all(|k| alt.contains_key(k));
            let accepted =
                ha.iter().any(|x| within_schemes(x) && x.iter().all(|(k, scopes)| scopes.is_subset(&alt[k])));
            if accepted {
                continue;
            }
            broke = true;
            let wanted = ha.iter().map(&show).collect::<Vec<_>>().join(" or ");
            if let Some(x) = ha.iter().find(|x| within_schemes(x)) {
                let more: Vec<String> = x
                    .iter()
                    .flat_map(|(k, s)| s.difference(&alt[k]).map(move |scope| format!("{k}:{scope}")))
                    .collect();
                self.emit(
                    "security-scope-added",
                    Side::Head,
                    &at,
                    format!("a client with {} now also needs the scopes {}", show(alt), more.join(", ")),
                );
            } else {
                self.emit(
                    "security-requirement-added",
                    Side::Head,
                    &at,
                    format!("a client with {} is no longer accepted; now {wanted}", show(alt)),
                );
            }
        }
        if !broke {
            let was = ba.iter().map(&show).collect::<Vec<_>>().join(" or ");
            let now = ha.iter().map(&show).collect::<Vec<_>>().join(" or ");
            self.emit("security-requirement-relaxed", Side::Head, &at, format!("security {was} -> {now}"));
        }
    }

    fn parameters(&mut self, b: &Operation<'_>, h: &Operation<'_>) {
        // Path parameters are positional: matched by their place in the template.
        let b_names = commerce_spec::path_template_names(b.path);
        let h_names = commerce_spec::path_template_names(h.path);
        let renamed = |name: &str| -> String {
            b_names
                .iter()
                .position(|(n, _)| *n == name)
                .and_then(|i| h_names.get(i))
                .map_or(name.to_string(), |(n, _)| n.to_string())
        };
        if b.path != h.path {
            self.emit(
                "path-parameter-renamed",
                Side::Head,
                &h.pointer.rsplit_once('/').map_or(h.pointer.clone(), |(p, _)| p.to_string()),
                format!("path template {} -> {}", b.path, h.path),
            );
        }
        let id = |p: &Parameter<'_>, name: String| {
            if p.location == "header" {
                (p.location.to_string(), name.to_ascii_lowercase())
            } else {
                (p.location.to_string(), name)
            }
        };
        let b_params: Vec<((String, String), &Parameter<'_>)> = b
            .parameters
            .iter()
            .map(|p| (id(p, if p.location == "path" { renamed(p.name) } else { p.name.to_string() }), p))
            .collect();
        let h_params: Vec<((String, String), &Parameter<'_>)> =
            h.parameters.iter().map(|p| (id(p, p.name.to_string()), p)).collect();
        let mut removed: Vec<&Parameter<'_>> = Vec::new();
        let mut added: Vec<&Parameter<'_>> = Vec::new();
        for (k, bp) in &b_params {
            match h_params.iter().find(|(hk, _)| hk == k) {
                Some((_, hp)) => self.parameter(bp, hp),
                None => removed.push(bp),
            }
        }
        for (k, hp) in &h_params {
            if !b_params.iter().any(|(bk, _)| bk == k) {
                added.push(hp);
            }
        }
        // A parameter gone from one place and found in another of the same name moved; one gone
        // and one new in the same place with the same schema was renamed.
        let mut paired: Vec<(usize, usize, &'static str)> = Vec::new();
        for (i, bp) in removed.iter().enumerate() {
            if let Some(j) = added.iter().position(|hp| hp.name.eq_ignore_ascii_case(bp.name)) {
                paired.push((i, j, "request-parameter-moved"));
            }
        }
        for (i, bp) in removed.iter().enumerate() {
            let same_place: Vec<usize> = added
                .iter()
                .enumerate()
                .filter(|(j, hp)| hp.location == bp.location && !paired.iter().any(|(_, pj, _)| pj == j))
                .map(|(j, _)| j)
                .collect();
            let leaving = removed.iter().filter(|r| r.location == bp.location).count();
            if !paired.iter().any(|(pi, _, _)| *pi == i)
                && let [j] = same_place[..]
                && leaving == 1
                && self.base.flatten(bp.schema) == self.head.flatten(added[j].schema)
            {
                paired.push((i, j, "request-parameter-renamed"));
            }
        }
        for (i, bp) in removed.iter().enumerate() {
            if let Some((_, j, rule)) = paired.iter().find(|(pi, _, _)| *pi == i) {
                let hp = added[*j];
                let text = if *rule == "request-parameter-moved" {
                    format!("parameter {} moved from {} to {}", bp.name, bp.location, hp.location)
                } else {
                    format!("{} parameter {} renamed {}", bp.location, bp.name, hp.name)
                };
                self.emit(rule, Side::Head, &hp.pointer, text);
                continue;
            }
            self.emit(
                "request-parameter-removed",
                Side::Base,
                &bp.pointer,
                format!("{} parameter {} removed", bp.location, bp.name),
            );
        }
        for (j, hp) in added.iter().enumerate() {
            if paired.iter().any(|(_, pj, _)| *pj == j) {
                continue;
            }
            let (rule, kind) = if hp.required {
                ("request-parameter-added-required", "required")
            } else {
                ("request-parameter-added", "optional")
            };
            self.emit(rule, Side::Head, &hp.pointer, format!("new {kind} {} parameter {}", hp.location, hp.name));
        }
    }

    fn parameter(&mut self, b: &Parameter<'_>, h: &Parameter<'_>) {
        let name = format!("{} parameter {}", h.location, h.name);
        match (b.required, h.required) {
            (false, true) => {
                self.emit("request-parameter-became-required", Side::Head, &h.pointer, format!("{name}: now required"))
            }
            (true, false) => {
                self.emit("request-parameter-became-optional", Side::Head, &h.pointer, format!("{name}: now optional"))
            }
            _ => {}
        }
        if (b.style, b.explode, b.content_type) != (h.style, h.explode, h.content_type) {
            let shape = |p: &Parameter<'_>| match p.content_type {
                Some(media) => format!("content {media}"),
                None => format!("style {} explode {}", p.style.name(), p.explode),
            };
            self.emit(
                "request-parameter-style-changed",
                Side::Head,
                &h.pointer,
                format!("{name}: {} -> {}", shape(b), shape(h)),
            );
        }
        const READ: &[&str] = &[
            "name",
            "in",
            "required",
            "schema",
            "content",
            "style",
            "explode",
            "description",
            "example",
            "examples",
            "deprecated",
        ];
        let keys: BTreeSet<&String> =
            b.object.as_object().into_iter().chain(h.object.as_object()).flat_map(|m| m.keys()).collect();
        for key in keys {
            if READ.contains(&key.as_str()) || key.starts_with("x-") {
                continue;
            }
            if b.object.get(key) != h.object.get(key) {
                self.emit(
                    "request-parameter-changed",
                    Side::Head,
                    &format!("{}/{}", h.pointer, escape(key)),
                    format!("{name}: `{key}` changed; not analysed"),
                );
            }
        }
        let schema_at = |p: &Parameter<'_>| match p.content_type {
            Some(media) => format!("{}/content/{}/schema", p.pointer, escape(media)),
            None => format!("{}/schema", p.pointer),
        };
        self.schema((b.schema, &schema_at(b)), (h.schema, &schema_at(h)), Dir::Request, &format!("{name}:"));
    }

    fn request_body(&mut self, b: &Operation<'_>, h: &Operation<'_>) {
        let body = |spec: &Spec, o: &Operation<'_>| -> Option<(Value, String)> {
            let raw = o.op.get("requestBody")?;
            spec.resolve_at(raw, &format!("{}/requestBody", o.pointer)).ok().map(|(v, at)| (v.clone(), at))
        };
        let (bb, hb) = (body(self.base, b), body(self.head, h));
        let required = |x: &Value| x.get("required") == Some(&Value::Bool(true));
        match (&bb, &hb) {
            (None, None) => {}
            (None, Some((hv, at))) => {
                let rule = if required(hv) { "request-body-added-required" } else { "request-body-added" };
                self.emit(rule, Side::Head, at, "the operation now takes a request body".into());
            }
            (Some((_, at)), None) => {
                self.emit("request-body-removed", Side::Base, at, "the operation no longer takes a request body".into())
            }
            (Some((bv, b_at)), Some((hv, h_at))) => {
                match (required(bv), required(hv)) {
                    (false, true) => self.emit(
                        "request-body-became-required",
                        Side::Head,
                        h_at,
                        "the request body is now required".into(),
                    ),
                    (true, false) => self.emit(
                        "request-body-became-optional",
                        Side::Head,
                        h_at,
                        "the request body is now optional".into(),
                    ),
                    _ => {}
                }
                self.content(bv, b_at, hv, h_at, Dir::Request, "request body");
            }
        }
    }

    /// Compares two `content` maps: media types removed or added, and the schemas of each pair.
    fn content(&mut self, b: &Value, b_at: &str, h: &Value, h_at: &str, dir: Dir, what: &str) {
        let empty = serde_json::Map::new();
        let bc = b.get("content").and_then(Value::as_object).unwrap_or(&empty);
        let hc = h.get("content").and_then(Value::as_object).unwrap_or(&empty);
        let any = Value::Bool(true);
        for (media, b_media) in bc {
            let b_schema_at = format!("{b_at}/content/{}/schema", escape(media));
            // A request type must still be accepted (a wildcard accepts it); a response type must
            // still be one the client was told about.
            let partner = hc
                .iter()
                .find(|(m, _)| same_media(m, media))
                .or_else(|| if dir == Dir::Request { hc.iter().find(|(m, _)| covers(m, media)) } else { None });
            match partner {
                Some((h_media, h_media_obj)) => {
                    let h_schema_at = format!("{h_at}/content/{}/schema", escape(h_media));
                    self.schema(
                        (b_media.get("schema").unwrap_or(&any), &b_schema_at),
                        (h_media_obj.get("schema").unwrap_or(&any), &h_schema_at),
                        dir,
                        &format!("{what} {media}:"),
                    );
                }
                None => {
                    let rule =
                        if dir == Dir::Request { "request-media-type-removed" } else { "response-media-type-removed" };
                    self.emit(
                        rule,
                        Side::Base,
                        &format!("{b_at}/content/{}", escape(media)),
                        format!("{what}: {media} removed"),
                    );
                }
            }
        }
        for media in hc.keys() {
            let known = bc.keys().any(|m| same_media(m, media) || (dir == Dir::Response && covers(m, media)));
            if !known {
                let rule = if dir == Dir::Request { "request-media-type-added" } else { "response-media-type-added" };
                self.emit(
                    rule,
                    Side::Head,
                    &format!("{h_at}/content/{}", escape(media)),
                    format!("{what}: {media} added"),
                );
            }
        }
    }

    fn responses(&mut self, b: &Operation<'_>, h: &Operation<'_>) {
        let located = |spec: &Spec, o: &Operation<'_>| -> Vec<(String, Value, String)> {
            let Some(responses) = o.op.get("responses").and_then(Value::as_object) else { return vec![] };
            responses
                .iter()
                .filter(|(status, _)| !status.starts_with("x-"))
                .filter_map(|(status, raw)| {
                    let at = format!("{}/responses/{}", o.pointer, escape(status));
                    spec.resolve_at(raw, &at).ok().map(|(v, at)| (status.to_ascii_uppercase(), v.clone(), at))
                })
                .collect()
        };
        let (br, hr) = (located(self.base, b), located(self.head, h));
        let success = |status: &str| matches!(status.as_bytes().first(), Some(b'1' | b'2' | b'3'));
        for (status, bv, b_at) in &br {
            match hr.iter().find(|(s, _, _)| s == status) {
                Some((_, hv, h_at)) => {
                    let what = format!("response {status}");
                    self.content(bv, b_at, hv, h_at, Dir::Response, &what);
                    self.headers(bv, b_at, hv, h_at, &what);
                }
                None => {
                    let rule =
                        if success(status) { "response-status-removed" } else { "response-error-status-removed" };
                    self.emit(rule, Side::Base, b_at, format!("response {status} removed"));
                }
            }
        }
        for (status, _, h_at) in &hr {
            if !br.iter().any(|(s, _, _)| s == status) {
                let rule = if success(status) { "response-success-status-added" } else { "response-status-added" };
                self.emit(rule, Side::Head, h_at, format!("response {status} added"));
            }
        }
    }

    fn headers(&mut self, b: &Value, b_at: &str, h: &Value, h_at: &str, what: &str) {
        let read = |spec: &Spec, response: &Value, at: &str| -> Vec<(String, Value, String)> {
            let Some(headers) = response.get("headers").and_then(Value::as_object) else { return vec![] };
            headers
                .iter()
                // A Content-Type header is ignored by OpenAPI: the media type says it.
                .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
                .filter_map(|(name, raw)| {
                    let at = format!("{at}/headers/{}", escape(name));
                    spec.resolve_at(raw, &at).ok().map(|(v, at)| (name.to_ascii_lowercase(), v.clone(), at))
                })
                .collect()
        };
        let (bh, hh) = (read(self.base, b, b_at), read(self.head, h, h_at));
        let required = |x: &Value| x.get("required") == Some(&Value::Bool(true));
        let schema_of = |x: &Value, at: &str| -> (Value, String) {
            if let Some(s) = x.get("schema") {
                return (s.clone(), format!("{at}/schema"));
            }
            if let Some((media, m)) = x.get("content").and_then(Value::as_object).and_then(|c| c.iter().next()) {
                return (
                    m.get("schema").cloned().unwrap_or(Value::Bool(true)),
                    format!("{at}/content/{}/schema", escape(media)),
                );
            }
            (Value::Bool(true), at.to_string())
        };
        for (name, bv, b_at) in &bh {
            match hh.iter().find(|(n, _, _)| n == name) {
                Some((_, hv, h_at)) => {
                    if required(bv) && !required(hv) {
                        self.emit(
                            "response-header-became-optional",
                            Side::Head,
                            h_at,
                            format!("{what}: header {name} is now optional"),
                        );
                    }
                    let (bs, bs_at) = schema_of(bv, b_at);
                    let (hs, hs_at) = schema_of(hv, h_at);
                    self.schema((&bs, &bs_at), (&hs, &hs_at), Dir::Response, &format!("{what} header {name}:"));
                }
                None => {
                    let rule =
                        if required(bv) { "response-header-removed" } else { "response-optional-header-removed" };
                    self.emit(rule, Side::Base, b_at, format!("{what}: header {name} removed"));
                }
            }
        }
        for (name, _, h_at) in &hh {
            if !bh.iter().any(|(n, _, _)| n == name) {
                self.emit("response-header-added", Side::Head, h_at, format!("{what}: header {name} added"));
            }
        }
    }

    fn security_schemes(&mut self) {
        let (base, head) = (self.base, self.head);
        for (name, raw) in base.components("securitySchemes") {
            let at = format!("/components/securitySchemes/{}", escape(name));
            let Some(h_raw) = head.doc.pointer(&at) else {
                self.emit("security-scheme-removed", Side::Base, &at, format!("security scheme {name} removed"));
                continue;
            };
            let (b, h) = (base.resolve(raw).unwrap_or(raw), head.resolve(h_raw).unwrap_or(h_raw));
            let lower = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_ascii_lowercase);
            for key in ["type", "in", "name", "scheme", "openIdConnectUrl"] {
                let (bv, hv) = if key == "scheme" || key == "in" {
                    (lower(b.get(key)), lower(h.get(key)))
                } else {
                    (
                        b.get(key).and_then(Value::as_str).map(String::from),
                        h.get(key).and_then(Value::as_str).map(String::from),
                    )
                };
                if bv != hv {
                    self.emit(
                        "security-scheme-changed",
                        Side::Head,
                        &format!("{at}/{key}"),
                        format!(
                            "security scheme {name}: {key} {} -> {}",
                            bv.unwrap_or_default(),
                            hv.unwrap_or_default()
                        ),
                    );
                }
            }
            let flows = |v: &Value| -> BTreeMap<String, (Option<Value>, Option<Value>)> {
                v.get("flows")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(flow, f)| (flow.clone(), (f.get("tokenUrl").cloned(), f.get("authorizationUrl").cloned())))
                    .collect()
            };
            let (bf, hf) = (flows(b), flows(h));
            for (flow, urls) in &bf {
                if hf.get(flow) != Some(urls) {
                    self.emit(
                        "security-scheme-changed",
                        Side::Head,
                        &format!("{at}/flows/{}", escape(flow)),
                        format!("security scheme {name}: the {flow} flow was removed or its URLs changed"),
                    );
                }
            }
        }
    }

    fn document_level(&mut self) {
        let urls = |spec: &Spec| -> BTreeSet<String> {
            spec.doc
                .get("servers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.get("url").and_then(Value::as_str))
                .map(|u| u.trim_end_matches('/').to_string())
                .collect()
        };
        let (bu, hu) = (urls(self.base), urls(self.head));
        let gone: Vec<&String> = bu.difference(&hu).collect();
        if !gone.is_empty() {
            self.emit(
                "server-url-changed",
                Side::Head,
                "/servers",
                format!("server {} no longer listed", gone.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
            );
        }
        if self.base.doc.get("webhooks") != self.head.doc.get("webhooks") {
            self.emit("webhooks-changed", Side::Head, "/webhooks", "webhooks changed; not analysed".into());
        }
    }
}

/// The essence of a media type: lower case, without parameters.
fn essence(media: &str) -> String {
    media.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn same_media(a: &str, b: &str) -> bool {
    essence(a) == essence(b)
}

/// Whether the media range `range` (`application/*`, `*/*`) covers `media`.
fn covers(range: &str, media: &str) -> bool {
    let (range, media) = (essence(range), essence(media));
    range == "*/*" || range.strip_suffix("/*").is_some_and(|kind| media.split('/').next() == Some(kind))
}
