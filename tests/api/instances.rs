//! Two service processes over one database, as behind a load balancer: what one writes, the other
//! reads at once, and a token one revokes, the other refuses within a second. (CI runs this on
//! PostgreSQL too.)

use commerce::api::cache::TTL as PRODUCT_TTL;
use commerce::auth::revocations::RELOAD_INTERVAL;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess, TestDatabase, sample_customer, sample_product};

struct Instance {
    _process: ServerProcess,
    base: String,
    client: reqwest::Client,
}

impl Instance {
    fn start(database: &TestDatabase) -> Self {
        Self::start_with(database, &[])
    }

    fn start_with(database: &TestDatabase, env: &[(&str, &str)]) -> Self {
        let process = ServerProcess::start(database, env);
        Self { base: process.base.clone(), _process: process, client: reqwest::Client::new() }
    }

    /// Whether the process has logged a line holding `text`.
    fn logged(&self, text: &str) -> bool {
        self._process.log.lock().unwrap().iter().any(|line| line.contains(text))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the instance answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(self.client.get(format!("{}{path}", self.base)).bearer_auth(token)).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    async fn login(&self) -> Value {
        let (status, body) = self
            .post("/auth/login", None, json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .await;
        assert_eq!(status, 200, "{body:#}");
        body
    }
}

#[tokio::test]
async fn two_instances_over_one_database_see_each_other_s_writes_and_revocations() {
    let database = TestDatabase::new().await;
    let a = Instance::start(&database);
    let b = Instance::start(&database);
    let session = a.login().await;
    let token = session["accessToken"].as_str().unwrap();

    // A token one instance issued, the other accepts; a write on one is read on the other.
    let mut body = sample_product("TWO-1");
    body["name"] = json!("Two Instances");
    let (status, product) = a.post("/products", Some(token), body).await;
    assert_eq!(status, 201);
    let path = format!("/products/{}", product["id"].as_str().unwrap());
    assert_eq!(b.get(&path, token).await, (200, product.clone()));
    let patch = b.client.patch(format!("{}{path}", b.base)).bearer_auth(token).json(&json!({"stock": 7}));
    let (status, updated) = b.send(patch).await;
    assert_eq!((status, &updated["stock"]), (200, &json!(7)));
    assert_eq!(a.get(&path, token).await, (200, updated));

    // A read cached by one instance (by id, and a listing's page) sees the other's write within the
    // cache's time to live.
    let listing = "/products?search=two%20instances";
    assert_eq!(a.get(listing, token).await.1["data"][0]["stock"], json!(7));
    let patch = b.client.patch(format!("{}{path}", b.base)).bearer_auth(token).json(&json!({"stock": 6}));
    assert_eq!(b.send(patch).await.0, 200);
    let written = std::time::Instant::now();
    while a.get(&path, token).await.1["stock"] != json!(6) {
        let waited = written.elapsed();
        assert!(waited < PRODUCT_TTL * 3, "instance A still serves the old product after {waited:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    while a.get(listing, token).await.1["data"][0]["stock"] != json!(6) {
        let waited = written.elapsed();
        assert!(waited < PRODUCT_TTL * 3, "instance A still lists the old product after {waited:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A word new to the catalogue, written on one instance, is found by its prefix on the other
    // within the time the other trusts what it read of the search's words (there, the lexemes a
    // prefix stands for), though it searched that prefix just before.
    assert_eq!(a.get("/products?search=zeppel", token).await.1["data"], json!([]));
    let mut body = sample_product("TWO-2");
    body["name"] = json!("Zeppelin Lamp");
    assert_eq!(b.post("/products", Some(token), body).await.0, 201);
    let written = std::time::Instant::now();
    while a.get("/products?search=zeppel", token).await.1["data"][0]["sku"] != json!("TWO-2") {
        let waited = written.elapsed();
        assert!(waited < PRODUCT_TTL * 3, "instance A still finds no new word after {waited:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // An Idempotency-Key used on one instance is replayed by the other, not applied twice.
    let create = |instance: &Instance| {
        instance
            .client
            .post(format!("{}/customers", instance.base))
            .bearer_auth(token)
            .header("Idempotency-Key", "two-instances-1")
            .json(&sample_customer("two@example.com"))
    };
    let (first_status, first) = a.send(create(&a)).await;
    assert_eq!(first_status, 201, "{first:#}");
    assert_eq!(b.send(create(&b)).await, (201, first));

    // A refresh token rotated on one instance is refused when replayed on the other.
    let refresh = session["refreshToken"].as_str().unwrap();
    let (status, _) = a.post("/auth/refresh", None, json!({"refreshToken": refresh})).await;
    assert_eq!(status, 200);
    let (status, _) = b.post("/auth/refresh", None, json!({"refreshToken": refresh})).await;
    assert_eq!(status, 401, "a replayed refresh token is refused everywhere");

    // A logout revokes the token at once on the instance that served it, and on the other within its
    // reload interval of the revoked tokens.
    let fresh = b.login().await;
    let fresh = fresh["accessToken"].as_str().unwrap();
    assert_eq!(a.get("/products", fresh).await.0, 200);
    let logout = b.client.delete(format!("{}/auth/logout", b.base)).bearer_auth(fresh);
    assert_eq!(b.send(logout).await.0, 204);
    assert_eq!(b.get("/products", fresh).await.0, 401);
    let logged_out = std::time::Instant::now();
    while a.get("/products", fresh).await.0 != 401 {
        let waited = logged_out.elapsed();
        assert!(waited < RELOAD_INTERVAL * 3, "instance A still accepts a revoked token after {waited:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Two instances' desks take orders of one product at once: each decides a batch on what it last
/// knew of the product and writes it unlocked if the product has not changed since (PostgreSQL),
/// the other's batches changing it all the time. Exactly the stock is sold, each order once.
#[tokio::test]
async fn two_instances_selling_one_product_at_once_sell_exactly_its_stock() {
    let database = TestDatabase::new().await;
    let a = Instance::start(&database);
    let b = Instance::start(&database);
    let session = a.login().await;
    let token = session["accessToken"].as_str().unwrap();
    let mut body = sample_product("RUSH-1");
    body["stock"] = json!(120);
    let (status, product) = a.post("/products", Some(token), body).await;
    assert_eq!(status, 201, "{product:#}");
    let (status, customer) = b.post("/customers", Some(token), json!(sample_customer("rush@example.com"))).await;
    assert_eq!(status, 201, "{customer:#}");
    let order = json!({
        "customerId": customer["id"],
        "items": [{"productId": product["id"], "quantity": 1}],
        "shippingAddress": {"name": "R", "line1": "1 Main St", "city": "Town", "postalCode": "1000", "country": "US"},
    });
    // Each instance learns the product first, so that both decide on what they know.
    for instance in [&a, &b] {
        assert_eq!(instance.post("/orders", Some(token), order.clone()).await.0, 201);
    }
    let attempts =
        (0..400).map(|n| if n % 2 == 0 { &a } else { &b }).map(|i| i.post("/orders", Some(token), order.clone()));
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let refused =
        results.iter().filter(|(status, body)| *status == 409 && body["code"] == "insufficient_stock").count();
    assert_eq!((created, refused), (118, 282), "{:?}", results.iter().map(|r| r.0).collect::<Vec<_>>());
    let path = format!("/products/{}", product["id"].as_str().unwrap());
    assert_eq!(a.get(&path, token).await.1["stock"], json!(0));
    let ids: std::collections::BTreeSet<&str> =
        results.iter().filter(|r| r.0 == 201).map(|(_, order)| order["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 118, "every order is its own");
    let (status, listed) = b.get("/orders?pageSize=1", token).await;
    assert_eq!((status, &listed["pagination"]["total"]), (200, &json!(120)));
}

/// A search without a sort is answered from the catalogue's words in memory; an instance without
/// that index (`COMMERCE_SEARCH_INDEX_MIB=0`) searches the database (PostgreSQL's GIN index,
/// SQLite's FTS5). Both list the same page, in the same order, with the same total, for words,
/// prefixes, stems, diacritics, filters, pages and both orders, and the index follows what the
/// other instance writes. The catalogue is large enough that its common words are held as bitsets,
/// its rarer ones as lists and each product's number as one entry.
#[tokio::test]
async fn a_search_in_memory_lists_what_the_database_s_search_lists() {
    let database = TestDatabase::new().await;
    let seeded = std::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["seed", "--products", "2000"])
        .env("DATABASE_URL", &database.url)
        .env("COMMERCE_SEED_DEMO", "false")
        .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    let memory = Instance::start(&database);
    let disk = Instance::start_with(&database, &[("COMMERCE_SEARCH_INDEX_MIB", "0")]);
    {
        let started = std::time::Instant::now();
        while !memory.logged("the search index has loaded") {
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "the index did not load");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!disk.logged("the search index has loaded"), "an index of 0 MiB is none");
    }
    let session = memory.login().await;
    let token = session["accessToken"].as_str().unwrap();
    {
        // What it holds is reported: every live product (the seeded ones and the demo's), in so
        // many bytes; none on the other.
        let held = |instance: &Instance| {
            let metrics = instance.client.get(format!("{}/metrics", instance.base)).send();
            async move {
                let text = metrics.await.unwrap().text().await.unwrap();
                let value = |name: &str| -> u64 {
                    let line =
                        text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
                    line.rsplit(' ').next().unwrap().parse().unwrap()
                };
                (value("commerce_search_index_products"), value("commerce_search_index_bytes"))
            }
        };
        let live = memory.get("/products?pageSize=1", token).await.1["pagination"]["total"].as_u64().unwrap();
        assert!(live > 2000, "{live}");
        let (products, bytes) = held(&memory).await;
        assert_eq!(products, live);
        assert!((2000 * 40..2000 * 400).contains(&bytes), "{bytes} bytes for {live} products");
        assert_eq!(held(&disk).await, (0, 0));
    }
    // Written on the other instance: a name to find, and words to stem and fold.
    let mut created = Vec::new();
    for body in [
        json!({"sku": "ZEPH-1", "name": "Zephyr Walnut Boot", "description": "A boot for load tests.",
               "category": "footwear", "price": 1000, "currency": "USD", "stock": 3}),
        json!({"sku": "ZEPH-2", "name": "Crème Running Shoes", "description": "Naïve relational runners' façade.",
               "category": "footwear", "price": 1200, "currency": "USD", "stock": 3}),
    ] {
        let (status, product) = disk.post("/products", Some(token), body).await;
        assert_eq!(status, 201, "{product:#}");
        created.push(product);
    }
    let product = &created[0];
    // Found here within the time the index follows the other instance.
    let written = std::time::Instant::now();
    while memory.get("/products?search=zeph", token).await.1["data"][0]["sku"] != json!("ZEPH-1") {
        let waited = written.elapsed();
        assert!(waited < PRODUCT_TTL * 3, "the index does not follow the other instance after {waited:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let filters: [&str; 6] =
        ["", "&category=footwear", "&active=true", "&active=false", "&order=desc", "&category=home&order=desc"];
    let words = [
        "seeded",
        "boo",
        "urban boo",
        "lea",
        "premium leather bo",
        "load",
        "wal",
        "zzz",
        "so",
        "12",
        "crè",
        "CREME",
        "running",
        "runn shoe",
        "naive",
        "relations",
        "façade",
        "runners",
    ];
    for words in words {
        for filter in filters {
            for page in [1, 2, 7] {
                let path = format!("/products?search={words}&pageSize=20&page={page}{filter}");
                let (mut in_memory, mut searched) = (memory.get(&path, token).await, disk.get(&path, token).await);
                assert_eq!(in_memory.0, 200, "{path}: {:#}", in_memory.1);
                // The database counts a word this common only so far (`totalExact: false`, at
                // least `total`); the index counts every match.
                if searched.1["pagination"]["totalExact"] == json!(false) {
                    let total = |body: &Value| body["pagination"]["total"].as_u64().unwrap();
                    assert!(total(&in_memory.1) >= total(&searched.1), "{path}");
                    for body in [&mut in_memory.1, &mut searched.1] {
                        let pagination = body["pagination"].as_object_mut().unwrap();
                        ["total", "totalPages", "totalExact"].iter().for_each(|field| drop(pagination.remove(*field)));
                    }
                }
                assert_eq!(in_memory, searched, "{path}");
            }
        }
    }
    // Deleted on the other instance: gone here too.
    let path = format!("/products/{}", product["id"].as_str().unwrap());
    assert_eq!(disk.send(disk.client.delete(format!("{}{path}", disk.base)).bearer_auth(token)).await.0, 204);
    let deleted = std::time::Instant::now();
    while memory.get("/products?search=zeph", token).await.1["data"] != json!([]) {
        let waited = deleted.elapsed();
        assert!(waited < PRODUCT_TTL * 3, "the index still finds a deleted product after {waited:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
