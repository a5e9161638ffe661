//! Hostile and careless connections, against the real process: a body that trickles in, a head
//! that trickles in, a connection that says nothing, more connections than the cap, and retries
//! with an Idempotency-Key after a SIGKILL.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{ADMIN_PASSWORD, ServerProcess, TestDatabase, address, sample_customer, sample_product};

async fn login(client: &reqwest::Client, base: &str) -> String {
    let body = json!({"tenant": "demo", "email": "admin@example.com", "password": ADMIN_PASSWORD});
    let res = client.post(format!("{base}/auth/login")).json(&body).send().await.unwrap();
    res.json::<Value>().await.unwrap()["accessToken"].as_str().unwrap().to_string()
}

/// Reads until the peer closes or `limit` passes: `(bytes read, whether it closed)`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buffer[..n]),
            Err(_) => return (out, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_that_trickles_in_is_cut_at_the_request_timeout() {
    let database = TestDatabase::new().await;
    let server = ServerProcess::start(&database, &[("COMMERCE_REQUEST_TIMEOUT_MS", "1500")]);
    let client = reqwest::Client::new();
    let token = login(&client, &server.base).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /products HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // One byte a second, as the probe did (before: no answer after 55 s with a 30 s timeout).
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in b"{\"sku\": \"SLOW-1\"" {
            if writer.write_all(format!("1\r\n{}\r\n", *byte as char).as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(6), reader.read(&mut response)).await.expect("answered").unwrap();
    let response = String::from_utf8_lossy(&response[..n]).to_string();
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("request_timeout") && response.contains("application/problem+json"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(4), "answered after {:?}", started.elapsed());
    trickle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_trickles_in_and_a_silent_connection_are_closed() {
    let database = TestDatabase::new().await;
    let server = ServerProcess::start(
        &database,
        &[("COMMERCE_HEADER_READ_TIMEOUT_MS", "1000"), ("COMMERCE_IDLE_TIMEOUT_MS", "2000")],
    );
    let addr = server.base.trim_start_matches("http://").to_string();
    // Before: headers at 1 byte/s stayed open 60 s.
    let slow = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let writer = tokio::spawn({
        let head = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: {}\r\n\r\n", "z".repeat(30));
        let (mut rd, mut wr) = slow.into_split();
        async move {
            for byte in head.bytes() {
                if wr.write_all(&[byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let mut rest = Vec::new();
            let _ = rd.read_to_end(&mut rest).await;
            rest
        }
    });
    let answered =
        tokio::time::timeout(Duration::from_secs(5), writer).await.expect("the connection was closed").unwrap();
    assert!(answered.is_empty(), "a head that never completed got an answer: {}", String::from_utf8_lossy(&answered));
    assert!(started.elapsed() < Duration::from_millis(2500), "closed after {:?}", started.elapsed());

    // Before: a silent connection stayed open past 75 s.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(6)).await;
    assert!(closed, "the silent connection is still open");
    assert!(
        (Duration::from_millis(1800)..Duration::from_secs(4)).contains(&started.elapsed()),
        "{:?}",
        started.elapsed()
    );

    // A connection kept alive between requests is served again within the idle time.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        kept.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let mut buffer = [0u8; 2048];
        let n = kept.read(&mut buffer).await.unwrap();
        assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let database = TestDatabase::new().await;
    let server =
        ServerProcess::start(&database, &[("COMMERCE_MAX_CONNECTIONS", "4"), ("COMMERCE_IDLE_TIMEOUT_MS", "60000")]);
    let addr = server.base.trim_start_matches("http://").to_string();
    // Before: 10,000 half-open connections were all held (10,014 file descriptors, 241 MB).
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
        let mut buffer = [0u8; 1024];
        assert!(stream.read(&mut buffer).await.unwrap() > 0, "the first four are served");
        held.push(stream);
    }
    let mut fifth = TcpStream::connect(&addr).await.expect("the kernel queues it");
    fifth.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
    let mut buffer = [0u8; 1024];
    let waiting = tokio::time::timeout(Duration::from_millis(500), fifth.read(&mut buffer)).await;
    assert!(waiting.is_err(), "a fifth connection was served beside four");
    held.pop();
    let served =
        tokio::time::timeout(Duration::from_secs(3), fifth.read(&mut buffer)).await.expect("served once one closed");
    assert!(String::from_utf8_lossy(&buffer[..served.unwrap()]).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_with_idempotency_keys_after_a_sigkill_each_create_exactly_one_order() {
    let database = TestDatabase::new().await;
    let env = [("COMMERCE_RATE_LIMIT_STANDARD", "1000000"), ("COMMERCE_REQUEST_TIMEOUT_MS", "1000")];
    let mut server = ServerProcess::start(&database, &env);
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let token = login(&client, &base).await;
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send();
    let mut product = sample_product("KEYED-1");
    product["stock"] = json!(100_000);
    let product: Value = post("/products", product).await.unwrap().json().await.unwrap();
    let customer: Value = post("/customers", sample_customer("keyed@example.com")).await.unwrap().json().await.unwrap();
    let order = json!({"customerId": customer["id"], "items": [{"productId": product["id"], "quantity": 1}], "shippingAddress": address()});

    // Eight writers send orders, each with a fresh key, until the server dies under them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for worker in 0..8 {
        let (client, base, token, stop, order) =
            (client.clone(), base.clone(), token.clone(), stop.clone(), order.clone());
        writers.push(tokio::spawn(async move {
            let mut sent: Vec<(String, Option<String>)> = Vec::new();
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let key = format!("w{worker}-{n}");
                let res = client
                    .post(format!("{base}/orders"))
                    .bearer_auth(&token)
                    .header("idempotency-key", &key)
                    .json(&order)
                    .send()
                    .await;
                match res {
                    Ok(res) if res.status() == 201 => {
                        let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
                        sent.push((key, Some(id)));
                    }
                    Ok(res) => panic!("refused before the kill: {}", res.status()),
                    Err(_) => {
                        sent.push((key, None)); // unanswered: the client does not know what happened
                        break;
                    }
                }
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = Vec::new();
    for writer in writers {
        sent.extend(writer.await.unwrap());
    }
    let unanswered = sent.iter().filter(|(_, id)| id.is_none()).count();
    assert!(unanswered > 0, "no request was in flight at the kill");

    let server = ServerProcess::start(&database, &env);
    let base = server.base.clone();
    let token = login(&client, &base).await;
    // Every key, retried: a replay, the resource its create committed, or a create now; never
    // "in use" forever (a claim left by a dead request expires after the request timeout).
    let mut orders = std::collections::BTreeSet::new();
    for (key, acknowledged) in &sent {
        let started = Instant::now();
        let id = loop {
            let res = client
                .post(format!("{base}/orders"))
                .bearer_auth(&token)
                .header("idempotency-key", key)
                .json(&order)
                .send()
                .await
                .unwrap();
            match res.status().as_u16() {
                201 => break res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string(),
                409 if started.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(250)).await
                }
                other => panic!("{key}: {other} after {:?}: {}", started.elapsed(), res.text().await.unwrap()),
            }
        };
        if let Some(acknowledged) = acknowledged {
            assert_eq!(&id, acknowledged, "{key}: the retry answers with the acknowledged order");
        }
        assert!(orders.insert(id), "{key}: two keys answered with one order");
    }
    let listed: Value =
        client.get(format!("{base}/orders?pageSize=1")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        listed["pagination"]["total"],
        sent.len(),
        "exactly one order per key: {} keys, {unanswered} unanswered",
        sent.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_connections_the_server_dropped_while_idle_are_replaced_before_use() {
    // A pooled connection is checked before use only once it has been idle for a second
    // (`store::IDLE_BEFORE_PING`): the server's end of every idle one is closed here, as a restart,
    // a proxy or a firewall would, and the next writes, on the service's pool and on the order
    // desk's, must each get a live connection instead of an error.
    use sea_orm::{ConnectionTrait, Database};
    let database = TestDatabase::new().await;
    if !database.url.starts_with("postgres") {
        return;
    }
    let server = ServerProcess::start(&database, &[]);
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let token = login(&client, &base).await;
    let post = |path: &str, body: Value| client.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send();
    let product: Value = post("/products", sample_product("IDLE-1")).await.unwrap().json().await.unwrap();
    let customer: Value = post("/customers", sample_customer("idle@example.com")).await.unwrap().json().await.unwrap();
    let order = json!({"customerId": customer["id"], "items": [{"productId": product["id"], "quantity": 1}], "shippingAddress": address()});
    assert_eq!(post("/orders", order.clone()).await.unwrap().status(), 201);

    let admin = Database::connect(&database.url).await.expect("a connection of its own");
    let closed = admin
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .expect("closes the service's connections");
    assert!(closed.rows_affected() >= 2, "the service's and the desk's connections: {}", closed.rows_affected());
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let created = post("/customers", sample_customer("after@example.com")).await.unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let ordered = post("/orders", order).await.unwrap();
    assert_eq!(ordered.status(), 201, "{}", ordered.text().await.unwrap());
}
