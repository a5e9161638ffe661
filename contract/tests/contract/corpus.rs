//! The corpus: documents written here in the shapes real APIs publish (Swagger 2.0 with body and
//! formData parameters, OpenAPI 3.0 with `nullable`, 3.1 with type arrays; every serialization
//! style, security type and media type; multi-file `$ref`s; missing operationIds). Each is loaded
//! with `--dry-run`, and each row asserts the requests built for the constructs it holds, or the
//! reason an operation cannot be tested, named by its JSON pointer.

use commerce_contract::report::Coverage;
use commerce_contract::{DryRun, Outcome};

use crate::support::{Reply, dry, run, target, text};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// Every request the dry run built for `op`, as `METHOD URL`, headers and body on their lines.
fn requests(plan: &DryRun, op: &str) -> Vec<String> {
    let operation = plan.operations.iter().find(|o| o.id == op).unwrap_or_else(|| {
        panic!("no operation {op}: {:?}", plan.operations.iter().map(|o| &o.id).collect::<Vec<_>>())
    });
    operation
        .requests
        .iter()
        .map(|(_, sent)| {
            let mut url = sent.url.clone();
            for (name, shown) in &sent.credential_query {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("{name}={shown}"));
            }
            let mut out = format!("{} {url}\n", sent.method);
            for (name, value) in sent.headers.iter().chain(&sent.credential_headers) {
                out.push_str(&format!("{name}: {value}\n"));
            }
            if let Some(body) = &sent.body {
                out.push_str(&format!("\n{body}"));
            }
            out
        })
        .collect()
}

/// One document and what its dry run must show.
struct Row {
    file: &'static str,
    /// Extra arguments (credentials, filters).
    args: &'static [&'static str],
    /// `(operation, text)`: some request built for the operation contains the text.
    sends: &'static [(&'static str, &'static str)],
    /// `(operation, text)`: no request built for the operation contains the text.
    never: &'static [(&'static str, &'static str)],
    /// `(operation, start of the reason)` of operations that cannot be tested; every other
    /// operation must be testable.
    untestable: &'static [(&'static str, &'static str)],
}

const CREDENTIALS: &[&str] = &["--bearer", "T0KEN", "--api-key", "K3Y", "--auth", "ann:pw"];

const ROWS: &[Row] = &[
    // ---------------------------------------------------------------- Swagger 2.0
    Row {
        file: "swagger2-petstore.yaml",
        args: CREDENTIALS,
        sends: &[
            ("addPet", "POST http://api.test/pet\nContent-Type: application/json\n"),
            ("addPet", "POST http://api.test/pet\nContent-Type: application/xml\n"),
            ("findPetsByStatus", "status=available&status="),
            ("getPetById", "api_key: $CONTRACT_API_KEY"),
            (
                "updatePetWithForm",
                "Content-Type: application/x-www-form-urlencoded\nAuthorization: Bearer $CONTRACT_BEARER\n\nname=",
            ),
            (
                "uploadFile",
                "Content-Disposition: form-data; name=\"file\"; filename=\"file.bin\"\r\nContent-Type: application/octet-stream",
            ),
            ("getInventory", "GET http://api.test/store/inventory\napi_key: $CONTRACT_API_KEY"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "swagger2-collection-formats.json",
        args: &["--phases", "coverage,fuzzing"],
        sends: &[
            ("getReports", "?regions=eu|us"),
            ("getReports", "words=alpha%20beta"),
            ("getReports", "\nX-Flags: a,b\n"),
        ],
        never: &[("getReports", "regions=eu&regions=us")],
        untestable: &[],
    },
    Row {
        file: "swagger2-basic-auth.yaml",
        args: CREDENTIALS,
        sends: &[("getPerson", "Authorization: Basic $CONTRACT_BASIC"), ("getVcard", "GET http://api.test/people/")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "swagger2-basic-auth.yaml",
        args: &[],
        sends: &[],
        never: &[],
        untestable: &[
            ("getPerson", "/paths/~1people~1{uid}/get/security: no credentials were given for basicAuth (http basic)"),
            ("getVcard", "/paths/~1people~1{uid}~1vcard/get/security: no credentials"),
        ],
    },
    Row {
        file: "swagger2-shared-parameters.yaml",
        args: &[],
        sends: &[
            ("listMembers", "X-Request-Id: "),
            ("listMembers", "page="),
            ("addMember", "POST http://api.test/orgs/"),
            ("addMember", "\"login\":"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "swagger2-no-operation-ids.yaml",
        args: &[],
        sends: &[
            ("GET /warehouses", "GET http://api.test/warehouses"),
            ("GET /warehouses/{code}/stock", "GET http://api.test/warehouses/AMS/stock"),
            ("PUT /warehouses/{code}/stock", "Content-Type: application/json"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "swagger2-query-apikey.json",
        args: CREDENTIALS,
        sends: &[
            ("currentWeather", "&appid=$CONTRACT_API_KEY"),
            ("forecast", "Authorization: Bearer $CONTRACT_BEARER"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "swagger2-form-login.yaml",
        args: &[],
        sends: &[
            ("login", "POST http://api.test/session\nContent-Type: application/x-www-form-urlencoded\n\nusername="),
            ("login", "&remember=true"),
            ("login", "&scopes=read%2Cwrite"),
        ],
        never: &[],
        untestable: &[],
    },
    // ---------------------------------------------------------------- OpenAPI 3.0
    Row {
        file: "oas30-nullable.yaml",
        args: &[],
        sends: &[("createContact", "\"phone\":null"), ("getManager", "GET http://api.test/contacts/")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-exclusive-bounds.yaml",
        args: &[],
        // The boolean exclusiveMinimum: 0 excluded, 1 the smallest valid value; example -> examples.
        sends: &[("history", "hours=12"), ("history", "hours=1\n"), ("history", "hours=0\n")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-query-styles.yaml",
        args: &["--phases", "examples"],
        sends: &[(
            "searchProducts",
            "GET http://api.test/products?tag=new&tag=sale&ids=3,4&words=red%20shoe&sizes=s|m&filter[color]=red&min=10&max=20&point=x,1\n",
        )],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-path-styles.yaml",
        args: &["--phases", "examples"],
        sends: &[
            ("simpleStyle", "GET http://api.test/simple/3,4,5/R=100,G=200\n"),
            ("labelStyle", "GET http://api.test/label/.blue/.blue,black\n"),
            ("matrixStyle", "GET http://api.test/matrix/;color=blue/;list=blue;list=black/;R=100\n"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-headers-cookies.yaml",
        args: &["--phases", "examples"],
        sends: &[(
            "feed",
            "X-Client-Version: 4.2\nX-Features: beta,dark\nX-Viewport: w=800,h=600\nCookie: session_id=abcdef123456; locale=en-GB\n",
        )],
        // OpenAPI 3.1 §4.8.12.1: a header parameter named Accept is ignored.
        never: &[("feed", "Accept:")],
        untestable: &[],
    },
    Row {
        file: "oas30-content-parameters.yaml",
        args: &[],
        sends: &[
            ("findPlaces", "near=%7B%22lat%22%3A52.37%2C%22lng%22%3A4.9%7D"),
            ("findPlaces", "X-Context: {\"tenant\":\"acme\"}"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-multipart.yaml",
        args: &[],
        sends: &[
            ("uploadDocument", "Content-Type: multipart/form-data; boundary=commerce-contract-boundary-"),
            ("uploadDocument", "name=\"file\"; filename=\"file.bin\"\r\nContent-Type: application/octet-stream"),
            ("uploadDocument", "name=\"thumbnails\"; filename=\"thumbnails.bin\""),
            ("uploadDocument", "name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{\"title\":"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-form-urlencoded.yaml",
        args: &["--phases", "examples"],
        sends: &[(
            "createCharge",
            "Content-Type: application/x-www-form-urlencoded\n\namount=2000&currency=usd&metadata%5Border_id%5D=6735",
        )],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-xml.yaml",
        args: &[],
        sends: &[
            (
                "addBook",
                "Content-Type: application/xml\n\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><lib:book xmlns:lib=\"http://example.com/schema/library\" isbn=\"",
            ),
            ("addBook", "<authors><author>"),
            (
                "importBooks",
                "Content-Type: text/xml\n\n<catalog><book isbn=\"9780140449136\"><title>The Odyssey</title></book></catalog>",
            ),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-text-and-binary.yaml",
        args: &[],
        sends: &[
            ("putNote", "Content-Type: text/plain\n\nRemember the milk"),
            ("putBlob", "Content-Type: application/octet-stream\n"),
            ("putBlob", "Content-Type: image/png\n"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-oauth2-client-credentials.yaml",
        args: &["--oauth-client-id", "cid", "--oauth-client-secret", "secret"],
        sends: &[
            ("listShipments", "Authorization: Bearer $CONTRACT_PARTNEROAUTH"),
            ("createShipment", "Authorization: Bearer $CONTRACT_PARTNEROAUTH"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-openid-connect.yaml",
        args: &["--bearer", "T0KEN"],
        sends: &[("me", "Authorization: Bearer $CONTRACT_BEARER")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-security-alternatives.yaml",
        args: &["--api-key", "K3Y"],
        // No bearer token: the `{}` alternative makes /catalog public; /orders takes the key
        // alternative; /partner/orders needs both keys at once, which one flag gives.
        sends: &[
            ("catalog", "GET http://api.test/catalog\n"),
            ("orders", "X-API-Key: $CONTRACT_API_KEY"),
            ("partnerOrders", "X-API-Key: $CONTRACT_API_KEY\nX-Partner-Id: $CONTRACT_API_KEY"),
        ],
        never: &[("catalog", "Authorization"), ("status", "X-API-Key")],
        untestable: &[],
    },
    Row {
        file: "oas30-read-write-only.yaml",
        args: &[],
        sends: &[("createAccount", "\"password\":")],
        never: &[("createAccount", "\"id\""), ("createAccount", "createdAt")],
        untestable: &[],
    },
    Row {
        file: "oas30-multi-file/openapi.yaml",
        args: &[],
        sends: &[("listPets", "limit="), ("createPet", "\"kind\":\"")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-deep-pointers.yaml",
        args: &[],
        sends: &[
            ("getUser", "GET http://api.test/users/u-"),
            ("setRoles", "PUT http://api.test/users/u-"),
            ("setRoles", "[\""),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-vendor-json.json",
        args: &[],
        sends: &[("createArticle", "Content-Type: application/vnd.api+json\n\n{\"data\":")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas30-untestable-xml-parameter.yaml",
        args: &[],
        sends: &[("ping", "GET http://api.test/legacy/ping")],
        never: &[],
        untestable: &[(
            "legacySearch",
            "/paths/~1legacy~1search/get/parameters/0/content: parameters of media type application/xml cannot be written",
        )],
    },
    Row {
        file: "oas30-allow-reserved.yaml",
        args: &["--phases", "examples"],
        sends: &[("go", "GET http://api.test/go?to=/a/b?c%3Dd\n")],
        never: &[],
        untestable: &[],
    },
    // ---------------------------------------------------------------- OpenAPI 3.1
    Row {
        file: "oas31-type-arrays.yaml",
        args: &[],
        sends: &[
            ("addReading", "{\"sensor\":\"thermo-1\",\"value\":21.5,\"unit\":\"C\",\"position\":[1.5,2]}"),
            ("addReading", "\"value\":null"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-ref-siblings.yaml",
        args: &["--phases", "coverage"],
        // The sibling maximum applies beside the referenced minimum.
        sends: &[
            ("createQuote", "\"amount\":1000"),
            ("createQuote", "\"amount\":1001"),
            ("createQuote", "\"amount\":0"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-path-item-components.yaml",
        args: &[],
        sends: &[
            ("GET /v1/health", "GET http://api.test/v1/health"),
            ("GET /v2/health", "GET http://api.test/v2/health"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-mutual-tls.yaml",
        args: &[],
        sends: &[],
        never: &[],
        untestable: &[(
            "submitTransfer",
            "/paths/~1transfers/post/security: no credentials were given for mtls (mutualTLS)",
        )],
    },
    Row {
        file: "oas31-basic-or-bearer.yaml",
        args: &["--auth", "ann:pw"],
        sends: &[("catalog", "Authorization: Basic $CONTRACT_BASIC")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-cookie-auth.yaml",
        args: &["--api-key", "K3Y"],
        sends: &[("getCart", "Cookie: SESSIONID=$CONTRACT_API_KEY"), ("getCart", "Cookie: currency=")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-no-operation-ids.yaml",
        args: &["--exclude-name", "DELETE /users/{id}"],
        sends: &[
            ("GET /users", "GET http://api.test/users"),
            ("POST /users", "{\"name\":"),
            ("GET /users/{id}", "GET http://api.test/users/"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-default-and-ranges.yaml",
        args: &[],
        sends: &[("submitJob", "{\"cmd\":")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-links.yaml",
        args: &[],
        sends: &[
            ("createNote", "{\"text\":"),
            ("getNote", "GET http://api.test/notes/"),
            ("DELETE /notes/{noteId}", "DELETE http://api.test/notes/"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-json-schema-2020.yaml",
        args: &[],
        sends: &[("createShipment", "\"mode\":\"sea\""), ("createShipment", "\"container\":")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-content-media-type.yaml",
        args: &[],
        sends: &[
            ("putAvatar", "name=\"image\"; filename=\"image.bin\"\r\nContent-Type: image/png"),
            ("putAvatarRaw", "Content-Type: image/png\n"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-composition.yaml",
        args: &[],
        sends: &[("createPayment", "\"type\":\"card\""), ("createPayment", "\"type\":\"bank_transfer\"")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-crud-large.json",
        args: &["--bearer", "T0KEN", "--exclude-tag", "admin"],
        sends: &[
            ("listCustomers", "limit="),
            ("updateCustomer", "Content-Type: application/merge-patch+json"),
            ("createOrder", "\"lines\":[{"),
            ("createOrder", "Idempotency-Key: "),
        ],
        never: &[("createCustomer", "\"id\""), ("createOrder", "\"status\"")],
        untestable: &[],
    },
    Row {
        file: "oas31-http-digest.yaml",
        args: &[],
        sends: &[],
        never: &[],
        untestable: &[(
            "snapshot",
            "/paths/~1snapshot/get/security: no credentials were given for digest (http digest)",
        )],
    },
    Row {
        file: "oas31-http-digest.yaml",
        args: &["--credential", "digest=username=\"ann\""],
        sends: &[("snapshot", "Authorization: Digest $CONTRACT_DIGEST")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-nested-arrays.yaml",
        args: &["--phases", "coverage"],
        // Constraints at every level: the inner items' range, both sides of it.
        sends: &[("postMatrix", "\n\n[[10,"), ("postMatrix", "\n\n[[0,"), ("postMatrix", "\n\n[[-1,")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-recursive.yaml",
        args: &[],
        sends: &[("replaceTree", "\"children\":[{\"")],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas31-formats.yaml",
        args: &["--phases", "fuzzing"],
        sends: &[
            ("eventsOfDay", "GET http://api.test/events/20"),
            ("subscribe", "@example.com\""),
            ("subscribe", "\"callback\":\"https://"),
        ],
        never: &[],
        untestable: &[],
    },
    Row {
        file: "oas32-query-method.yaml",
        args: &[],
        sends: &[("search", "GET http://api.test/search")],
        never: &[],
        untestable: &[],
    },
    Row { file: "oas31-webhooks-only.yaml", args: &[], sends: &[], never: &[], untestable: &[] },
];

#[tokio::test]
async fn every_document_of_the_corpus_builds_the_requests_its_constructs_call_for() {
    let mut failures = Vec::new();
    for row in ROWS {
        let path = format!("{CORPUS}/{}", row.file);
        let mut argv = vec!["--spec", path.as_str()];
        argv.extend_from_slice(row.args);
        let plan = dry(&argv).await;
        for operation in &plan.operations {
            let expected = row.untestable.iter().find(|(op, _)| *op == operation.id);
            match (&operation.coverage, expected) {
                (Coverage::NotTested(why), Some((_, start))) if why.starts_with(start) => {}
                (Coverage::NotTested(why), _) => {
                    failures.push(format!("{}: {} is not testable: {why}", row.file, operation.id))
                }
                (Coverage::Tested, Some(_)) => {
                    failures.push(format!("{}: {} was expected untestable", row.file, operation.id))
                }
                (Coverage::Tested, None) if operation.requests.is_empty() => {
                    failures.push(format!("{}: {} built no request", row.file, operation.id))
                }
                _ => {}
            }
        }
        for (op, wanted) in row.sends {
            if !requests(&plan, op).iter().any(|r| r.contains(wanted)) {
                failures.push(format!(
                    "{}: no request of {op} contains {wanted:?}; the first: {:?}",
                    row.file,
                    requests(&plan, op).first()
                ));
            }
        }
        for (op, unwanted) in row.never {
            if let Some(r) = requests(&plan, op).iter().find(|r| r.contains(unwanted)) {
                failures.push(format!("{}: a request of {op} contains {unwanted:?}: {r}", row.file));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_corpus_holds_forty_documents_and_each_has_a_row() {
    let mut documents: Vec<String> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            if e.path().is_dir() {
                format!("{}/openapi.yaml", e.file_name().to_string_lossy())
            } else {
                e.file_name().to_string_lossy().into_owned()
            }
        })
        .collect();
    documents.sort();
    assert!(documents.len() >= 40, "{} documents", documents.len());
    let refused = ["swagger2-tsv.yaml"];
    let missing: Vec<&String> = documents
        .iter()
        .filter(|d| !refused.contains(&d.as_str()) && !ROWS.iter().any(|r| r.file == d.as_str()))
        .collect();
    assert!(missing.is_empty(), "documents without a row: {missing:?}");
}

#[tokio::test]
async fn a_construct_without_a_translation_refuses_the_document_by_pointer() {
    let path = format!("{CORPUS}/swagger2-tsv.yaml");
    let args = crate::support::args(&["--spec", &path, "--base-url", "http://api.test", "--dry-run"]);
    let e = commerce_contract::dry_run(&args).await.err().expect("refused");
    assert!(
        e.ends_with("/paths/~1rows/get/parameters/0/collectionFormat: collectionFormat tsv in query has no OpenAPI 3 serialization (Swagger 2.0)"),
        "{e}"
    );
}

#[tokio::test]
async fn webhooks_are_said_to_be_untested_not_skipped_silently() {
    let plan = dry(&["--spec", &format!("{CORPUS}/oas31-webhooks-only.yaml")]).await;
    assert!(plan.operations.is_empty());
    assert!(
        plan.text(false).contains("webhooks_not_tested: /webhooks: 1 (orderShipped) not tested"),
        "{}",
        plan.text(false)
    );
}

#[tokio::test]
async fn a_document_is_read_from_a_url_with_the_files_it_references() {
    // The multi-file document served over HTTP: its relative references are fetched from the server.
    let root = format!("{CORPUS}/oas30-multi-file");
    let server = target(move |seen| match std::fs::read_to_string(format!("{root}{}", seen.path)) {
        Ok(text) => Reply { status: 200, headers: vec![("content-type", "application/yaml".into())], body: text },
        Err(_) => Reply::empty(404),
    })
    .await;
    let url = format!("{}/openapi.yaml", server.base);
    let plan = dry(&["--spec", &url]).await;
    assert!(requests(&plan, "createPet").iter().any(|r| r.contains("\"kind\":\"")));
    let fetched: Vec<String> = server.requests().iter().map(|s| s.path.clone()).collect();
    for file in [
        "/openapi.yaml",
        "/schemas/pet.yaml",
        "/schemas/kind.yaml",
        "/common/schemas.yaml",
        "/common/parameters.yaml",
        "/common/responses.yaml",
    ] {
        assert!(fetched.contains(&file.to_string()), "{file} was not fetched: {fetched:?}");
    }
}

#[tokio::test]
async fn a_corpus_document_is_tested_end_to_end_against_a_target() {
    // Swagger 2.0 read, converted and run against a target that checks what it receives.
    let server = target(|seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("PUT", p) if p.starts_with("/warehouses/AMS/stock") || p.starts_with("/warehouses/BER/stock") => {
            let levels: serde_json::Value = serde_json::from_slice(&seen.body).unwrap_or_default();
            let ok = levels.as_object().is_some_and(|m| m.values().all(|v| v.as_i64().is_some_and(|n| n >= 0)));
            Reply::empty(if ok { 204 } else { 400 })
        }
        ("GET", "/warehouses") => Reply::json(200, serde_json::json!(["AMS", "BER"])),
        ("GET", p) if p == "/warehouses/AMS/stock" || p == "/warehouses/BER/stock" => {
            Reply::json(200, serde_json::json!({"SKU-1": 4}))
        }
        ("GET", _) | ("PUT", _) => Reply::empty(404),
        _ => Reply::empty(405).with("allow", "GET, PUT"),
    })
    .await;
    let outcome: Outcome = run(&[
        "--spec",
        &format!("{CORPUS}/swagger2-no-operation-ids.yaml"),
        "--base-url",
        &server.base,
        "--seed",
        "3",
    ])
    .await;
    let report = text(&outcome);
    // The converted document documents no 400 or 404: the target's refusals are found.
    assert!(report.contains("PUT /warehouses/{code}/stock — status_code_conformance"), "{report}");
    assert_eq!(outcome.summary.untested().count(), 0, "{report}");
}
