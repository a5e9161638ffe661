//! What the tester puts on the wire, as a target records it: every kind of credential, every body
//! media type, parameters in their styles, and a request resent after its connection dropped.

use base64::Engine as _;
use serde_json::json;

use crate::support::{Reply, Seen, document, run, target, text};

const SECURED: &str = r#"
openapi: 3.0.3
info: {title: Secured, version: '1'}
paths:
  /basic: {get: {operationId: basic, security: [{basicAuth: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /bearer: {get: {operationId: bearer, security: [{bearerAuth: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /header-key: {get: {operationId: headerKey, security: [{headerKey: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /query-key: {get: {operationId: queryKey, security: [{queryKey: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /cookie-key: {get: {operationId: cookieKey, security: [{cookieKey: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /oauth: {get: {operationId: oauth, security: [{oauth: [orders:read]}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /oidc: {get: {operationId: oidc, security: [{oidc: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /both: {get: {operationId: both, security: [{headerKey: [], bearerAuth: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /custom: {get: {operationId: custom, security: [{tenantHeader: []}], responses: {'200': {description: ok}, '401': {description: no}}}}
  /public: {get: {operationId: public, security: [], responses: {'200': {description: ok}}}}
components:
  securitySchemes:
    basicAuth: {type: http, scheme: basic}
    bearerAuth: {type: http, scheme: bearer}
    headerKey: {type: apiKey, in: header, name: X-API-Key}
    queryKey: {type: apiKey, in: query, name: api_key}
    cookieKey: {type: apiKey, in: cookie, name: session}
    tenantHeader: {type: apiKey, in: header, name: X-Tenant-Token}
    oauth:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: /oauth/token, scopes: {orders:read: read orders}}}
    oidc: {type: openIdConnect, openIdConnectUrl: /.well-known/openid-configuration}
"#;

/// Whether `seen` carries the credential its path is secured by.
fn authorised(seen: &Seen) -> bool {
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ann:s3cret"));
    match seen.path.as_str() {
        "/basic" => seen.header("authorization") == Some(basic.as_str()),
        "/bearer" => seen.header("authorization") == Some("Bearer tok-1"),
        "/header-key" => seen.header("x-api-key") == Some("key-1"),
        "/query-key" => seen.query.split('&').any(|p| p == "api_key=key-1"),
        "/cookie-key" => seen.header("cookie").is_some_and(|c| c.split("; ").any(|p| p == "session=cookie-1")),
        "/oauth" | "/oidc" => seen.header("authorization") == Some("Bearer issued-token"),
        "/both" => seen.header("x-api-key") == Some("key-1") && seen.header("authorization") == Some("Bearer tok-1"),
        "/custom" => seen.header("x-tenant-token") == Some("t-9"),
        _ => true,
    }
}

#[tokio::test]
async fn every_security_scheme_type_sends_its_credential_and_is_probed_without_it() {
    let server = target(|seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => Reply::json(200, json!({"token_endpoint": "/oauth/token"})),
        ("POST", "/oauth/token") => {
            let client = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("client-1:secret-1"));
            if seen.header("authorization") == Some(client.as_str())
                && seen.text().contains("grant_type=client_credentials")
            {
                Reply::json(200, json!({"access_token": "issued-token", "token_type": "bearer"}))
            } else {
                Reply::json(401, json!({"error": "invalid_client"}))
            }
        }
        ("GET", _) if authorised(seen) => Reply::empty(200),
        ("GET", _) => Reply::empty(401),
        _ => Reply::empty(405).with("allow", "GET"),
    })
    .await;
    let (_dir, path) = document(SECURED);
    let outcome = run(&[
        "--spec",
        &path,
        "--base-url",
        &server.base,
        "--seed",
        "5",
        "--max-examples",
        "5",
        "--auth",
        "ann:s3cret",
        "--credential",
        "bearerAuth=tok-1",
        "--api-key",
        "key-1",
        "--credential",
        "cookieKey=cookie-1",
        "--oauth-client-id",
        "client-1",
        "--oauth-client-secret",
        "secret-1",
        "-H",
        "X-Tenant-Token: t-9",
    ])
    .await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    // The client-credentials flow asked for the scopes the document requires.
    let token_requests = server.to("POST", "/oauth/token");
    assert!(!token_requests.is_empty());
    assert!(token_requests.iter().all(|r| r.text().contains("scope=orders%3Aread")), "{:?}", token_requests[0].text());
    for path in ["/basic", "/bearer", "/header-key", "/query-key", "/cookie-key", "/oauth", "/oidc", "/both", "/custom"]
    {
        let seen: Vec<Seen> = server.requests().into_iter().filter(|s| s.path == path).collect();
        let (with, without): (Vec<&Seen>, Vec<&Seen>) = seen.iter().partition(|s| authorised(s));
        // ignored_auth probed each once: without the credential, with an invalid one, and where the
        // credential is an Authorization value, with it under another scheme.
        let probes = if ["/basic", "/bearer", "/oauth", "/oidc", "/both"].contains(&path) { 3 } else { 2 };
        assert_eq!(without.len(), probes, "{path}: the probes");
        let id = path.trim_start_matches('/').replace("-key", "Key");
        assert_eq!(
            outcome.summary.operations[&id].cases,
            with.len(),
            "{path}: every other request carried the credential"
        );
    }
    let invalid_basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("invalid-user:invalid-password"));
    assert!(server.to("GET", "/basic").iter().any(|s| s.header("authorization") == Some(invalid_basic.as_str())));
    assert!(
        server.to("GET", "/custom").iter().any(|s| s.header("x-tenant-token").is_none()),
        "the -H credential was left out in a probe"
    );
    assert!(
        server.to("GET", "/public").iter().all(|s| s.header("x-tenant-token") == Some("t-9")),
        "-H goes with every request"
    );
    assert_eq!(
        outcome.summary.judged["ignored_auth"],
        9 * 2 + 5,
        "two probes for each of the nine secured operations, and the other scheme for the five sent in Authorization"
    );
}

#[tokio::test]
async fn every_body_media_type_is_written_as_documented() {
    let (_dir, path) = document(
        r#"
openapi: 3.1.0
info: {title: Media, version: '1'}
paths:
  /json:
    post:
      operationId: json
      requestBody: {required: true, content: {application/vnd.api+json: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}}}
      responses: {'204': {description: ok}}
  /form:
    post:
      operationId: form
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema: {type: object, required: [a, b], properties: {a: {type: integer}, b: {type: string}, tags: {type: array, items: {type: string}}}}
            example: {a: 1, b: two}
      responses: {'204': {description: ok}}
  /upload:
    post:
      operationId: upload
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file, meta]
              properties:
                file: {type: string, format: binary}
                meta: {type: object, properties: {title: {type: string}}}
                note: {type: string}
      responses: {'204': {description: ok}}
  /text:
    post:
      operationId: text
      requestBody: {required: true, content: {text/plain: {schema: {type: string, minLength: 3}, example: hello there}}}
      responses: {'204': {description: ok}}
  /bytes:
    put:
      operationId: bytes
      requestBody: {required: true, content: {application/octet-stream: {schema: {type: string, format: binary}}}}
      responses: {'204': {description: ok}}
  /xml:
    post:
      operationId: xml
      requestBody:
        required: true
        content:
          application/xml:
            schema:
              type: object
              xml: {name: pet}
              required: [id, name]
              properties:
                id: {type: integer, xml: {attribute: true}}
                name: {type: string}
                tags: {type: array, xml: {wrapped: true}, items: {type: string, xml: {name: tag}}}
      responses: {'204': {description: ok}}
  /xml-example:
    post:
      operationId: xmlExample
      requestBody: {required: true, content: {text/xml: {example: '<order><id>7</id></order>'}}}
      responses: {'204': {description: ok}}
"#,
    );
    let server = target(|_| Reply::empty(204)).await;
    let outcome = run(&[
        "--spec",
        &path,
        "--base-url",
        &server.base,
        "--seed",
        "3",
        "--max-examples",
        "10",
        "--mode",
        "positive",
    ])
    .await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    let json = server.to("POST", "/json");
    assert!(json.iter().all(|s| s.header("content-type") == Some("application/vnd.api+json")));
    // An integer, sometimes written `7.0` (JSON Schema counts it as one).
    let integral = |v: serde_json::Value| v["n"].as_f64().is_some_and(|n| n.fract() == 0.0);
    assert!(json.iter().all(|s| serde_json::from_slice::<serde_json::Value>(&s.body).is_ok_and(integral)));
    let form = server.to("POST", "/form");
    assert!(
        form.iter().any(|s| s.text() == "a=1&b=two"),
        "the example is sent as a=1&b=two: {:?}",
        form.iter().map(Seen::text).collect::<Vec<_>>()
    );
    assert!(form.iter().all(|s| s.header("content-type") == Some("application/x-www-form-urlencoded")));
    assert!(form.iter().any(|s| s.text().matches("tags=").count() >= 2), "arrays are repeated fields");
    let upload = server.to("POST", "/upload");
    let first = upload.first().expect("uploads were sent");
    let content_type = first.header("content-type").unwrap();
    assert!(content_type.starts_with("multipart/form-data; boundary="), "{content_type}");
    let body = first.text();
    assert!(body.contains("Content-Disposition: form-data; name=\"file\"; filename=\"file.bin\"\r\nContent-Type: application/octet-stream"), "{body}");
    assert!(body.contains("Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json"), "{body}");
    let text_bodies = server.to("POST", "/text");
    assert!(text_bodies.iter().any(|s| s.text() == "hello there" && s.header("content-type") == Some("text/plain")));
    assert!(!server.to("PUT", "/bytes").is_empty());
    let xml = server.to("POST", "/xml");
    let document = xml.first().expect("XML was sent").text();
    assert!(document.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><pet id=\""), "{document}");
    assert!(document.contains("<name>") && document.ends_with("</pet>"), "{document}");
    assert!(
        xml.iter().any(|s| s.text().contains("<tags><tag>")),
        "wrapped arrays: {:?}",
        xml.iter().map(Seen::text).collect::<Vec<_>>()
    );
    assert!(server.to("POST", "/xml-example").iter().any(|s| s.text() == "<order><id>7</id></order>"));
}

#[tokio::test]
async fn parameters_arrive_in_their_styles() {
    let (_dir, path) = document(
        r#"
openapi: 3.1.0
info: {title: Styles, version: '1'}
paths:
  /items/{ids}/{point}:
    get:
      operationId: items
      parameters:
        - {name: ids, in: path, required: true, style: label, explode: true, schema: {type: array, minItems: 2, maxItems: 2, items: {type: integer, minimum: 1, maximum: 9}}, example: [3, 4]}
        - {name: point, in: path, required: true, style: matrix, schema: {type: object, required: [x], properties: {x: {type: integer}}, additionalProperties: false}, example: {x: 5}}
        - {name: filter, in: query, required: true, style: deepObject, schema: {type: object, required: [color], properties: {color: {type: string, enum: [red]}}, additionalProperties: false}, example: {color: red}}
        - {name: tag, in: query, required: true, schema: {type: array, items: {type: string, enum: [a, b]}, minItems: 2, maxItems: 2, uniqueItems: true}, example: [a, b]}
        - {name: sizes, in: query, required: true, style: pipeDelimited, explode: false, schema: {type: array, minItems: 2, maxItems: 2, items: {type: integer, enum: [1, 2]}}, example: [1, 2]}
        - {name: X-Trace, in: header, required: true, schema: {type: array, minItems: 2, maxItems: 2, items: {type: string, enum: [p, q]}}, example: [p, q]}
        - {name: prefs, in: cookie, required: true, schema: {type: string, enum: [dark]}, example: dark}
      responses: {'200': {description: ok}}
"#,
    );
    let server = target(|_| Reply::empty(200)).await;
    let outcome = run(&["--spec", &path, "--base-url", &server.base, "--phases", "examples"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    let seen = server.requests();
    let example = seen.first().expect("the example was sent");
    assert_eq!(example.path, "/items/.3.4/;point=x,5");
    assert_eq!(example.query, "filter[color]=red&tag=a&tag=b&sizes=1|2");
    assert_eq!(example.header("x-trace"), Some("p,q"));
    assert_eq!(example.header("cookie"), Some("prefs=dark"));
}

#[tokio::test]
async fn a_request_whose_connection_dropped_is_sent_again_on_a_fresh_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that, like uvicorn after a 500, drops every other connection after reading the
    // request and before answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        let mut connection = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            connection += 1;
            let drop_it = connection % 2 == 1;
            let count = count.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 8192];
                let Ok(n) = socket.read(&mut buffer).await else { return };
                if n == 0 || drop_it {
                    return;
                }
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let answer: &[u8] = if buffer.starts_with(b"GET ") {
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    b"HTTP/1.1 405 Method Not Allowed\r\nallow: GET\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = socket.write_all(answer).await;
            });
        }
    });
    let (_dir, path) = document(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /ping:\n    get:\n      operationId: ping\n      responses: {'200': {description: ok}}\n",
    );
    let outcome = run(&["--spec", &path, "--base-url", &base, "--phases", "coverage", "--workers", "1"]).await;
    assert!(outcome.summary.passed(), "{}", text(&outcome));
    assert!(outcome.summary.resent > 0, "{}", text(&outcome));
    assert!(text(&outcome).contains("sent again on a fresh connection"), "{}", text(&outcome));
    assert_eq!(served.load(std::sync::atomic::Ordering::Relaxed), outcome.summary.cases);
}
