//! An acknowledged order is never lost: the real server process is killed with SIGKILL in the middle
//! of a stream of order creations, restarted over the same database, and every order that got a 201
//! is there with its lines, and the stock equals what all stored orders took (nothing half-written).
//! On a SQLite file, what is committed is copied from the write-ahead log into the database by the
//! service's own thread, not only by the commit that makes the log long.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, ServerProcess, TestDatabase, address, sample_customer, sample_product};

fn start(database: &TestDatabase) -> (ServerProcess, String) {
    let server = ServerProcess::start(database, &[("COMMERCE_RATE_LIMIT_STANDARD", "1000000")]);
    let base = server.base.clone();
    (server, base)
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

async fn login(client: &reqwest::Client, base: &str) -> String {
    let res = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"tenant": "demo", "email": "admin@example.com", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    res.json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().to_string()
}

/// A started server, an admin's token, a product `sku` and a customer `email` of its tenant.
struct Shop {
    server: ServerProcess,
    base: String,
    client: reqwest::Client,
    token: String,
    product: Value,
    customer: Value,
}

impl Shop {
    async fn open(database: &TestDatabase, sku: &str, email: &str) -> Self {
        let client = reqwest::Client::new();
        let (server, base) = start(database);
        let token = login(&client, &base).await;
        let mut shop = Self { server, base, client, token, product: Value::Null, customer: Value::Null };
        shop.product = shop.post("/products", sample_product(sku)).await.json().await.unwrap();
        shop.customer = shop.post("/customers", sample_customer(email)).await.json().await.unwrap();
        shop
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body).send().await.unwrap()
    }

    /// An order of one of the product.
    fn order(&self) -> Value {
        json!({"customerId": self.customer["id"], "items": [{"productId": self.product["id"], "quantity": 1}], "shippingAddress": address()})
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_order_survives_a_sigkill() {
    let database = TestDatabase::new().await;
    let client = reqwest::Client::new();
    let (mut server, base) = start(&database);
    let token = login(&client, &base).await;
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send();
    let product = post("/products", {
        let mut p = sample_product("DURABLE-1");
        p["stock"] = json!(100_000);
        p
    })
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap();
    let customer =
        post("/customers", sample_customer("durable@example.com")).await.unwrap().json::<Value>().await.unwrap();
    let order = |quantity: i64| json!({"customerId": customer["id"], "items": [{"productId": product["id"], "quantity": quantity}], "shippingAddress": address()});

    // Eight writers stream orders until the server dies under them.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for worker in 0..8i64 {
        let (client, base, token, stop) = (client.clone(), base.clone(), token.clone(), stop.clone());
        let body = order(1 + worker % 3);
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match client.post(format!("{base}/orders")).bearer_auth(&token).json(&body).send().await {
                    Ok(res) if res.status() == 201 => acknowledged.push(res.json::<Value>().await.unwrap()),
                    Ok(res) => panic!("an order was refused before the kill: {}", res.status()),
                    Err(_) => break, // the server is gone: this request was never acknowledged
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() >= 20, "only {} orders before the kill", acknowledged.len());

    let (mut server, base) = start(&database);
    let token = login(&client, &base).await;
    let mut stored: BTreeMap<String, Value> = BTreeMap::new();
    for page in 1.. {
        let res = get_json(&client, &format!("{base}/orders?pageSize=100&page={page}"), &token).await;
        let data = res["data"].as_array().unwrap();
        stored.extend(data.iter().map(|o| (o["id"].as_str().unwrap().to_string(), o.clone())));
        if data.len() < 100 {
            break;
        }
    }
    let stock = get_json(&client, &format!("{base}/products/{}", product["id"].as_str().unwrap()), &token).await;
    server.kill();

    for order in &acknowledged {
        let id = order["id"].as_str().unwrap();
        assert_eq!(stored.get(id), Some(order), "acknowledged order {id} is missing or changed after the restart");
    }
    let ids: HashSet<&String> = stored.keys().collect();
    assert_eq!(ids.len(), stored.len());
    let taken: i64 = stored.values().map(|o| o["items"][0]["quantity"].as_i64().unwrap()).sum();
    assert!(stored.values().all(|o| o["items"].as_array().unwrap().len() == 1), "every stored order has its line");
    assert_eq!(stock["stock"].as_i64().unwrap() + taken, 100_000, "the stock matches the stored orders exactly");
    eprintln!("{} acknowledged, {} stored after the SIGKILL", acknowledged.len(), stored.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_every_in_flight_request_then_exits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let database = TestDatabase::new().await;
    let shop = Shop::open(&database, "TERM-1", "term@example.com").await;
    let body = shop.order().to_string();
    let Shop { mut server, base, client, token, .. } = shop;

    // Eight orders in flight: each has sent its head and half its body, and holds back the rest.
    let addr = base.trim_start_matches("http://").to_string();
    let mut in_flight = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /orders HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body.as_bytes()[..body.len() / 2]).await.unwrap();
        in_flight.push(stream);
    }
    // And a load of reads beside them, until the server stops answering.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (client, url, token, stop) = (client.clone(), format!("{base}/products"), token.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut served = 0;
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).bearer_auth(&token).send().await {
                    Ok(res) if res.status() == 200 => served += 1,
                    _ => break,
                }
            }
            served
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.terminate();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    // The rest of each body arrives after the SIGTERM: every order is still answered, and created.
    for mut stream in in_flight {
        stream.write_all(&body.as_bytes()[body.len() / 2..]).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 201"), "an in-flight order got: {response}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    assert!(reads > 0, "the load ran");
    let status = tokio::task::block_in_place(|| server.wait());
    assert!(status.success(), "the server exits cleanly after draining: {status:?}");

    let (server, base) = start(&database);
    let token = login(&client, &base).await;
    let orders = get_json(&client, &format!("{base}/orders?pageSize=100"), &token).await;
    assert_eq!(orders["pagination"]["total"], 8, "{orders:#}");
    drop(server);
}

/// (frames in the write-ahead log, frames copied back into the database) as the log's index of the
/// SQLite file `path` records them (`mxFrame` of its header, `nBackfill` of its checkpoint
/// information).
fn log_index(path: &std::path::Path) -> (u32, u32) {
    let shm = std::fs::read(format!("{}-shm", path.display())).expect("the log's index");
    let word = |at: usize| u32::from_ne_bytes(shm[at..at + 4].try_into().expect("four bytes"));
    (word(16), word(96))
}

/// Waits up to 5 s for every frame of the log to be copied back; the log's index then.
async fn copied_back(path: &std::path::Path) -> (u32, u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while log_index(path).0 != log_index(path).1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    log_index(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_files_log_is_copied_back_while_the_service_runs() {
    let (database, path) = TestDatabase::sqlite_file();
    let mut shop = Shop::open(&database, "COPIED-1", "copied@example.com").await;
    let (frames, copied) = copied_back(&path).await;
    assert!(frames > 0, "the start and the writes went through the log");
    // Far fewer frames than the writers' own threshold (10,000): only the service's thread copies them.
    assert!(frames < 1_000 && copied == frames, "{copied} of {frames} frames copied back");

    for _ in 0..5 {
        assert_eq!(shop.post("/orders", shop.order()).await.status(), 201);
    }
    let (after, copied) = copied_back(&path).await;
    assert!(after > 0 && copied == after, "the orders' frames are copied back: {copied} of {after}");
    shop.server.kill();
}
