//! `spawn_app()`: the real server on port 0 over a fresh database, and a [`TestApp`] with one method
//! per operationId. Every response of an operation passes through the contract check; there is no
//! other way for a test to call the API.

use commerce::App;
use commerce::auth::{Permission, Plan, Role};
use commerce::config::Config;
use commerce::store;
use reqwest::header::HeaderMap;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::contract::CONTRACT;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "test-admin-password";
pub const USER_PASSWORD: &str = "test-user-password";

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
}

/// A request body: JSON, or raw bytes with a content type (for malformed-input tests).
pub enum Body {
    Json(Value),
    Raw(&'static str, &'static str),
}

impl From<Value> for Body {
    fn from(v: Value) -> Self {
        Body::Json(v)
    }
}

/// A response that has passed the contract check.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `code` of a problem response.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The `pointer`s (or `parameter`s) of a problem's `errors`, sorted.
    pub fn error_locations(&self) -> Vec<String> {
        let mut found: Vec<String> = self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["pointer"].as_str().or(e["parameter"].as_str()).map(String::from))
            .collect();
        found.sort();
        found
    }
}

pub struct TestApp {
    pub base: String,
    pub db: DatabaseConnection,
    pub handlers: std::sync::Arc<commerce::api::Handlers>,
    client: reqwest::Client,
    database: TestDatabase,
}

/// A fresh, empty database: a temporary SQLite file, or a new PostgreSQL database when
/// `COMMERCE_TEST_POSTGRES` names a server (`postgres://user@host/db`), dropped when this is.
pub struct TestDatabase {
    pub url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    /// `(server admin URL, database name)` of a PostgreSQL test database.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn new() -> Self {
        match std::env::var("COMMERCE_TEST_POSTGRES") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("commerce_test_{}", Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url).await.expect("the PostgreSQL server is reachable");
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("creates a test database");
                let (server, _db) = admin_url.rsplit_once('/').expect("a URL with a database name");
                Self { url: format!("{server}/{name}"), _sqlite_dir: None, postgres: Some((admin_url, name)) }
            }
            _ => {
                let dir = tempfile::tempdir().expect("a temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Self { url, _sqlite_dir: Some(dir), postgres: None }
            }
        }
    }
}

impl TestDatabase {
    /// A SQLite file, whatever `COMMERCE_TEST_POSTGRES` says (for what only SQLite has); its path.
    pub fn sqlite_file() -> (Self, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("test.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        (Self { url, _sqlite_dir: Some(dir), postgres: None }, path)
    }

    /// The same database, for a second instance over it; the original keeps (and drops) it.
    pub fn alias(&self) -> Self {
        Self { url: self.url.clone(), _sqlite_dir: None, postgres: None }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else { return };
        // Drop runs inside the test's runtime, which cannot be blocked on: use a runtime of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await?;
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// Starts the service on 127.0.0.1:0 over a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDatabase::new().await).await
}

/// Starts the service on 127.0.0.1:0 over `database` (first start: tenant `demo` and its admin).
pub async fn spawn_app_on(database: TestDatabase) -> TestApp {
    spawn_app_with(database, |_| {}).await
}

/// Starts the service over `database` with the test configuration changed by `adjust`.
pub async fn spawn_app_with(database: TestDatabase, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_wrapped(database, adjust, |endpoint| endpoint).await
}

/// [`spawn_app_with`], serving `wrap(the service)`: middleware that breaks one rule on purpose.
pub async fn spawn_app_wrapped<E: poem::Endpoint + 'static>(
    database: TestDatabase,
    adjust: impl FnOnce(&mut Config),
    wrap: impl FnOnce(poem::endpoint::BoxEndpoint<'static>) -> E + 'static,
) -> TestApp {
    let mut config = Config::for_database(database.url.clone());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config.seed_demo = false;
    adjust(&mut config);
    let app = App::build(&config).await.expect("the app builds");
    let db = app.handlers.db.clone();
    let handlers = app.handlers.clone();
    let (addr, server) = app.bind_wrapped("127.0.0.1:0", std::future::pending(), wrap).await.expect("binds");
    tokio::spawn(server);
    // Searches are answered from the catalogue's words in memory once they have loaded (the
    // database answers until then): tests search there.
    if let Some(words) = handlers.reads.words.as_ref().filter(|_| config.search_index_bytes() > 0) {
        let started = std::time::Instant::now();
        while !words.ready() {
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "the search index did not load");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    TestApp { base: format!("http://{addr}"), db, handlers, client: reqwest::Client::new(), database }
}

impl TestApp {
    /// The database this app serves.
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// Calls `operation_id` and checks the response against the spec (panicking with the mismatch).
    pub async fn call(
        &self,
        operation_id: &str,
        auth: Auth<'_>,
        path_params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<Body>,
    ) -> Response {
        self.call_with_headers(operation_id, auth, path_params, query, body, &[]).await
    }

    /// [`Self::call`] with extra request headers.
    pub async fn call_with_headers(
        &self,
        operation_id: &str,
        auth: Auth<'_>,
        path_params: &[(&str, &str)],
        query: &[(&str, &str)],
        body: Option<Body>,
        headers: &[(&str, &str)],
    ) -> Response {
        let op = CONTRACT.operation(operation_id);
        let mut path = op.path.clone();
        for (name, value) in path_params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        let mut request = self.client.request(op.method.clone(), format!("{}{path}", self.base)).query(query);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::ApiKey(key) => request.header("X-API-Key", key),
        };
        request = match body {
            None => request,
            Some(Body::Json(value)) => request.json(&value),
            Some(Body::Raw(content_type, text)) => request.header("content-type", content_type).body(text),
        };
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = CONTRACT.check(operation_id, status, &headers, &bytes).unwrap_or_else(|e| {
            panic!(
                "{operation_id} answered against the spec: {e}\n(response body: {})",
                String::from_utf8_lossy(&bytes)
            )
        });
        Response { status, headers, body }
    }

    /// A plain GET of a path outside the API's operations (docs, the spec itself, unknown routes).
    /// API paths are refused: their responses must go through the contract check.
    pub async fn get_path(&self, path: &str) -> reqwest::Response {
        assert!(!CONTRACT.is_api_path(path), "{path} is an API path: call its operation instead");
        self.client.get(format!("{}{path}", self.base)).send().await.expect("the server answers")
    }

    // --- one method per operationId -------------------------------------------------------------

    pub async fn login(&self, body: impl Into<Body>) -> Response {
        self.call("login", Auth::None, &[], &[], Some(body.into())).await
    }

    pub async fn refresh_token(&self, refresh_token: &str) -> Response {
        self.call("refreshToken", Auth::None, &[], &[], Some(json!({ "refreshToken": refresh_token }).into())).await
    }

    pub async fn logout(&self, auth: Auth<'_>) -> Response {
        self.call("logout", auth, &[], &[], None).await
    }

    pub async fn list_products(&self, auth: Auth<'_>, query: &[(&str, &str)]) -> Response {
        self.call("listProducts", auth, &[], query, None).await
    }

    pub async fn create_product(&self, auth: Auth<'_>, body: impl Into<Body>) -> Response {
        self.call("createProduct", auth, &[], &[], Some(body.into())).await
    }

    pub async fn get_product(&self, auth: Auth<'_>, id: &str) -> Response {
        self.call("getProduct", auth, &[("productId", id)], &[], None).await
    }

    pub async fn update_product(&self, auth: Auth<'_>, id: &str, body: impl Into<Body>) -> Response {
        self.call("updateProduct", auth, &[("productId", id)], &[], Some(body.into())).await
    }

    pub async fn delete_product(&self, auth: Auth<'_>, id: &str) -> Response {
        self.call("deleteProduct", auth, &[("productId", id)], &[], None).await
    }

    pub async fn list_orders(&self, auth: Auth<'_>, query: &[(&str, &str)]) -> Response {
        self.call("listOrders", auth, &[], query, None).await
    }

    pub async fn create_order(&self, auth: Auth<'_>, body: impl Into<Body>) -> Response {
        self.call("createOrder", auth, &[], &[], Some(body.into())).await
    }

    pub async fn get_order(&self, auth: Auth<'_>, id: &str) -> Response {
        self.call("getOrder", auth, &[("orderId", id)], &[], None).await
    }

    pub async fn update_order_status(&self, auth: Auth<'_>, id: &str, body: impl Into<Body>) -> Response {
        self.call("updateOrderStatus", auth, &[("orderId", id)], &[], Some(body.into())).await
    }

    pub async fn list_customers(&self, auth: Auth<'_>, query: &[(&str, &str)]) -> Response {
        self.call("listCustomers", auth, &[], query, None).await
    }

    pub async fn create_customer(&self, auth: Auth<'_>, body: impl Into<Body>) -> Response {
        self.call("createCustomer", auth, &[], &[], Some(body.into())).await
    }

    pub async fn get_customer(&self, auth: Auth<'_>, id: &str) -> Response {
        self.call("getCustomer", auth, &[("customerId", id)], &[], None).await
    }

    pub async fn update_customer(&self, auth: Auth<'_>, id: &str, body: impl Into<Body>) -> Response {
        self.call("updateCustomer", auth, &[("customerId", id)], &[], Some(body.into())).await
    }

    // --- arranging state ------------------------------------------------------------------------

    /// Logs in and returns the access token, asserting success.
    pub async fn token_for(&self, tenant: &str, email: &str, password: &str) -> String {
        let res = self.login(json!({ "tenant": tenant, "email": email, "password": password })).await;
        assert_eq!(res.status, 200, "login as {email} failed: {:#}", res.body);
        res.body["accessToken"].as_str().unwrap().to_string()
    }

    /// A token for the admin of tenant `demo`.
    pub async fn admin_token(&self) -> String {
        self.token_for("demo", ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A token for a new user of `role` in tenant `demo`.
    pub async fn token_with_role(&self, role: Role) -> String {
        let tenant = store::tenants::find_tenant(&self.db, "demo").await.unwrap().unwrap();
        let email = format!("{}-{}@example.com", role.as_str(), Uuid::new_v4().simple());
        store::tenants::create_user(&self.db, tenant.id, &email, USER_PASSWORD, role).await.unwrap();
        self.token_for("demo", &email, USER_PASSWORD).await
    }

    /// A new tenant `slug` with an admin; returns that admin's token.
    pub async fn other_tenant_token(&self, slug: &str) -> String {
        let tenant = store::tenants::create_tenant(&self.db, slug, slug, Plan::Standard).await.unwrap();
        store::tenants::create_user(&self.db, tenant.id, ADMIN_EMAIL, USER_PASSWORD, Role::Admin).await.unwrap();
        self.token_for(slug, ADMIN_EMAIL, USER_PASSWORD).await
    }

    /// A new standard-plan API key of tenant `demo` with `scopes`; returns its secret.
    pub async fn api_key(&self, scopes: &[Permission]) -> String {
        self.api_key_on("demo", scopes, Plan::Standard).await
    }

    /// A new API key of tenant `slug` with `scopes` on `plan`; returns its secret.
    pub async fn api_key_on(&self, slug: &str, scopes: &[Permission], plan: Plan) -> String {
        let tenant = store::tenants::find_tenant(&self.db, slug).await.unwrap().unwrap();
        store::tenants::create_api_key(&self.db, tenant.id, "test", scopes, plan).await.unwrap().1
    }

    /// Creates a product from `sample_product(sku)` with `changes` merged in; returns its body.
    pub async fn product(&self, token: &str, sku: &str, changes: Value) -> Value {
        let mut body = sample_product(sku);
        body.as_object_mut().unwrap().extend(changes.as_object().cloned().unwrap_or_default());
        let res = self.create_product(Auth::Bearer(token), body).await;
        assert_eq!(res.status, 201, "{:#}", res.body);
        res.body
    }
}

/// The real `commerce serve` process over a database, with everything it logs kept in `log`.
pub struct ServerProcess {
    child: std::process::Child,
    pub base: String,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts the binary on a free port with the test admin password and `env`; waits until it listens.
    pub fn start(database: &TestDatabase, env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", &database.url)
            .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("COMMERCE_SEED_DEMO", "false")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the server starts");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("serving the Commerce API") {
                    let addr = line.split("addr").nth(1).map(|rest| {
                        rest.trim_start_matches(['=', '"', ':'])
                            .split(['"', ' ', ',', '}'])
                            .next()
                            .unwrap_or_default()
                            .to_string()
                    });
                    let _ = addr_tx.send(addr.unwrap_or_default());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the server stopped before listening:\n{}", log.lock().unwrap().join("\n")));
        Self { child, base: format!("http://{addr}"), log }
    }

    /// SIGTERM: asks the process to stop (it finishes what is in flight first).
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM failed");
    }

    /// Waits for the process to end (blocking) and returns its exit status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("the server process can be waited for")
    }

    /// SIGKILL: the process ends at once, mid-request if need be.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A valid `Address`.
pub fn address() -> Value {
    json!({"name": "Sofia Chen", "line1": "123 Madison Ave", "city": "New York", "state": "NY", "postalCode": "10016", "country": "US"})
}

/// A valid `CustomerCreate` body.
pub fn sample_customer(email: &str) -> Value {
    json!({"email": email, "firstName": "Sofia", "lastName": "Chen", "phone": "+15551234567", "defaultAddress": address()})
}

/// A valid `ProductCreate` body.
pub fn sample_product(sku: &str) -> Value {
    json!({
        "sku": sku,
        "name": "Trail Runner",
        "description": "Lightweight trail running shoe.",
        "category": "footwear",
        "price": 12900,
        "currency": "USD",
        "stock": 42,
        "tags": ["running", "trail"],
        "images": ["https://cdn.example.com/p/1.jpg"]
    })
}

/// `text` with every UUID replaced by `[id]`, so paths and messages that name a resource snapshot stably.
pub fn redact_uuids(text: &str) -> String {
    let is_uuid = |s: &str| {
        s.len() == 36
            && s.char_indices()
                .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if rest.len() >= 36 && rest.is_char_boundary(36) && is_uuid(&rest[..36]) {
            out.push_str("[id]");
            rest = &rest[36..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Asserts a JSON snapshot in `snapshots/`, with ids, timestamps, tokens and request ids redacted.
#[macro_export]
macro_rules! assert_body_snapshot {
    ($name:expr, $body:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_sort_maps(true);
        for (selector, replacement) in [
            (".id", "[id]"),
            (".data[].id", "[id]"),
            (".createdAt", "[timestamp]"),
            (".updatedAt", "[timestamp]"),
            (".data[].createdAt", "[timestamp]"),
            (".data[].updatedAt", "[timestamp]"),
            (".accessToken", "[jwt]"),
            (".customerId", "[id]"),
            (".items[].productId", "[id]"),
            (".data[].customerId", "[id]"),
            (".data[].items[].productId", "[id]"),
            (".refreshToken", "[refresh token]"),
            (".requestId", "[request id]"),
        ] {
            settings.add_redaction(selector, replacement);
        }
        for selector in [".instance", ".detail", ".errors[].detail"] {
            settings.add_dynamic_redaction(selector, |value, _| match value.as_str() {
                Some(text) => insta::internals::Content::from($crate::helpers::redact_uuids(text)),
                None => value,
            });
        }
        settings.bind(|| insta::assert_json_snapshot!($name, $body));
    }};
}
