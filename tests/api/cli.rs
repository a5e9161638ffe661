//! The administration commands (`commerce tenant|user|api-key ...`), run as a process against a
//! database that the service then serves: what they create works over HTTP.

use std::process::{Command, Output};

use crate::helpers::{Auth, ServerProcess, TestDatabase, sample_product, spawn_app_on, spawn_app_with};
use commerce::auth::Permission;
use serde_json::json;

fn commerce(database: &TestDatabase, args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_commerce"));
    command.args(args).env("DATABASE_URL", &database.url).env_remove("COMMERCE_USER_PASSWORD").env("RUST_LOG", "error");
    if let Some(password) = password {
        command.env("COMMERCE_USER_PASSWORD", password);
    }
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn tenants_users_and_api_keys_created_by_the_cli_work_over_http() {
    let database = TestDatabase::new().await;
    stdout(&commerce(
        &database,
        &["tenant", "create", "--slug", "acme", "--name", "Acme", "--plan", "enterprise"],
        None,
    ));
    stdout(&commerce(
        &database,
        &["user", "create", "--tenant", "acme", "--email", "ops@acme.test", "--role", "staff"],
        Some("ops-password-1"),
    ));
    let key = stdout(&commerce(
        &database,
        &["api-key", "create", "--tenant", "acme", "--name", "erp", "--scopes", "products:read"],
        None,
    ));
    let key = key.trim().to_string();
    assert!(key.starts_with("ck_"), "{key}");
    let app = spawn_app_on(database).await;

    let token = app.token_for("acme", "ops@acme.test", "ops-password-1").await;
    let created = app.create_product(Auth::Bearer(&token), sample_product("CLI-1")).await;
    assert_eq!(created.status, 201);
    let listed = app.list_products(Auth::ApiKey(&key), &[]).await;
    assert_eq!(listed.body["pagination"]["total"], 1, "the key reads its own tenant");
    assert_eq!(listed.header("ratelimit-policy"), Some("\"default\";q=1000;w=60"), "keys are standard by default");
    let refused = app.create_product(Auth::ApiKey(&key), sample_product("CLI-2")).await;
    assert_eq!(refused.status, 403, "the key has only the scopes it was given");
    let staff = app.list_products(Auth::Bearer(&token), &[]).await;
    assert_eq!(staff.header("ratelimit-policy"), Some("\"default\";q=10000;w=60"), "users get their tenant's plan");
}

#[tokio::test]
async fn a_revoked_api_key_stops_working_within_the_reload_interval() {
    let app = spawn_app_on(TestDatabase::new().await).await;
    let key = app.api_key(&[Permission::ProductsRead]).await;
    assert_eq!(app.list_products(Auth::ApiKey(&key), &[]).await.status, 200);
    let id = commerce::store::tenants::find_api_key(&app.db, &key).await.unwrap().unwrap().id.to_string();

    stdout(&commerce(app.database(), &["api-key", "revoke", "--id", &id], None));

    // The server holds live keys in memory and reloads them every RELOAD_INTERVAL (1 s).
    let revoked_at = std::time::Instant::now();
    let refused = loop {
        let res = app.list_products(Auth::ApiKey(&key), &[]).await;
        if res.status == 401 || revoked_at.elapsed() > std::time::Duration::from_secs(3) {
            break res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!((refused.status, refused.code()), (401, "unauthorized"));
    let interval = commerce::auth::revocations::RELOAD_INTERVAL;
    assert!(revoked_at.elapsed() < interval * 2, "refused after {:?}", revoked_at.elapsed());
}

#[tokio::test]
async fn the_cli_refuses_bad_input_with_a_message() {
    let database = TestDatabase::new().await;
    let unknown_scope = commerce(
        &database,
        &["api-key", "create", "--tenant", "demo", "--name", "x", "--scopes", "products:delete"],
        None,
    );
    assert!(!unknown_scope.status.success());
    let message = String::from_utf8_lossy(&unknown_scope.stderr);
    assert!(message.contains("unknown permission \"products:delete\""), "{message}");
    assert!(
        message.contains("products:read, products:write, orders:read, orders:write, customers:read, customers:write")
    );

    let no_tenant = commerce(
        &database,
        &["user", "create", "--tenant", "nowhere", "--email", "a@b.test", "--role", "staff"],
        Some("long-enough"),
    );
    assert!(String::from_utf8_lossy(&no_tenant.stderr).contains("no tenant nowhere"));

    let bad_role = commerce(
        &database,
        &["user", "create", "--tenant", "demo", "--email", "a@b.test", "--role", "owner"],
        Some("long-enough"),
    );
    assert_eq!(bad_role.status.code(), Some(2), "clap rejects it as usage");

    let short = commerce(
        &database,
        &["user", "create", "--tenant", "demo", "--email", "a@b.test", "--role", "staff"],
        Some("short"),
    );
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
}

fn seed(database: &TestDatabase, args: &[&str]) -> Output {
    let mut seed = Command::new(env!("CARGO_BIN_EXE_commerce"));
    seed.arg("seed")
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env("COMMERCE_SEED_DEMO", "false")
        .env("COMMERCE_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
        .env("RUST_LOG", "error");
    seed.output().unwrap()
}

#[tokio::test]
async fn seed_adds_generated_products_and_can_be_rerun() {
    let database = TestDatabase::new().await;
    let first = stdout(&seed(&database, &["--products", "25"]));
    assert!(first.contains("created 25 products in tenant demo (SEED-00001 to SEED-00025)"), "{first}");
    let again = stdout(&seed(&database, &["--products", "25"]));
    assert!(
        again.contains("created 25 products in tenant demo (SEED-00026 to SEED-00050)"),
        "a rerun adds more: {again}"
    );

    let clash = seed(&database, &["--products", "5", "--first", "48"]);
    let message = String::from_utf8_lossy(&clash.stderr);
    assert!(!clash.status.success());
    assert!(message.contains("sku SEED-00048 already exists in tenant demo"), "the sku is named: {message}");
    assert!(message.contains("--skip-existing"), "the remedy is named: {message}");
    let skipped = stdout(&seed(&database, &["--products", "5", "--first", "48", "--skip-existing"]));
    assert!(skipped.contains("created 2 products"), "SEED-00051 and 52 only: {skipped}");

    let app = spawn_app_on(database).await;
    let token = app.admin_token().await;
    let listed = app.list_products(Auth::Bearer(&token), &[("search", "seeded product")]).await;
    assert_eq!(listed.body["pagination"]["total"], 52, "nothing of the refused run was written");
    // Seeded rows are in the search index and the kept counts like any others: the generated names
    // are searchable word by word, and a listing's total (from the counts) includes them.
    let word = listed.body["data"][0]["name"].as_str().unwrap().split(' ').next_back().unwrap().to_lowercase();
    let by_word = app.list_products(Auth::Bearer(&token), &[("search", &word)]).await;
    assert!(by_word.body["pagination"]["total"].as_u64().unwrap() >= 1, "{word}: {}", by_word.body);
    let everything = app.list_products(Auth::Bearer(&token), &[]).await;
    let demo = everything.body["pagination"]["total"].as_u64().unwrap() - 52;
    assert!(demo > 0, "the demo catalogue and the 52 seeded products: {}", everything.body);
    // The kept counts agree with the rows themselves, in every category (PostgreSQL counts a
    // seeding statement's rows at once; a refused batch counts nothing).
    for category in ["footwear", "apparel", "accessories", "electronics", "home"] {
        let (mut listed, mut page) = (0, 1);
        let total = loop {
            let query = [("category", category), ("pageSize", "100"), ("page", &page.to_string())];
            let res = app.list_products(Auth::Bearer(&token), &query).await;
            listed += res.body["data"].as_array().unwrap().len() as u64;
            if res.body.get("nextCursor").is_none() {
                break res.body["pagination"]["total"].as_u64().unwrap();
            }
            page += 1;
        };
        assert_eq!(total, listed, "{category}: the count kept says {total}, the rows are {listed}");
    }
    // Seeding leaves the planner statistics of what it wrote (PostgreSQL's autovacuum would only
    // gather them later, if at all): without them a product read by id scanned the tenant's.
    if app.database().url.starts_with("postgres") {
        use sea_orm::ConnectionTrait;
        let counted: Option<f32> = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT reltuples FROM pg_class WHERE relname = 'products'",
            ))
            .await
            .unwrap()
            .map(|row| row.try_get_by_index(0).unwrap());
        assert!(counted.is_some_and(|n| n >= 52.0), "products were analyzed: reltuples {counted:?}");
        // ... and vacuumed (the search index's pending list merged, the rows marked visible), and
        // the index keeps its pending list short (a search reads all of it).
        let kept: Option<(bool, String)> = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT (SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'products'), \
                 (SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'products_search')",
            ))
            .await
            .unwrap()
            .map(|row| (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap()));
        assert_eq!(kept, Some((true, "gin_pending_list_limit=128".to_string())));
    } else {
        // FTS5 held a seed's pending terms in a larger hash, for the seed's transaction only: what
        // is stored after it is FTS5's own 1 MiB, and the index the seed filled is whole.
        use sea_orm::ConnectionTrait;
        let sqlite = |sql: &str| sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Sqlite, sql);
        let stored = app.db.query_one_raw(sqlite("SELECT v FROM products_search_config WHERE k = 'hashsize'")).await;
        let stored: Option<i64> = stored.unwrap().map(|row| row.try_get_by_index(0).unwrap());
        assert_eq!(stored, Some(1 << 20));
        let checked = app
            .db
            .execute_raw(sqlite("INSERT INTO products_search (products_search, rank) VALUES ('integrity-check', 0)"))
            .await;
        assert!(checked.is_ok(), "{checked:?}");
    }
    // Seeding set the search index's and the counts' triggers aside only inside its own
    // transactions: a product created afterwards is found, and counted.
    let created = app.create_product(Auth::Bearer(&token), sample_product("AFTER-SEED-1")).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let found = app.list_products(Auth::Bearer(&token), &[("search", "trail runner"), ("pageSize", "100")]).await;
    let skus: Vec<&str> = found.body["data"].as_array().unwrap().iter().filter_map(|p| p["sku"].as_str()).collect();
    assert!(skus.contains(&"AFTER-SEED-1"), "{skus:?}");
    let after = app.list_products(Auth::Bearer(&token), &[]).await;
    assert_eq!(after.body["pagination"]["total"].as_u64().unwrap(), demo + 53, "{}", after.body);
}

#[tokio::test]
async fn a_refused_seed_batch_is_named_and_what_other_batches_wrote_is_counted() {
    let database = TestDatabase::new().await;
    let postgres = database.url.starts_with("postgres");
    stdout(&seed(&database, &["--products", "25"]));
    for size in ["0", "1000001"] {
        // A batch is held in memory while it is written: more than a million is refused as usage.
        let refused = seed(&database, &["--products", "5", "--batch", size]);
        assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("--batch"));
    }
    // Batches of five from SEED-00021: the first is taken. PostgreSQL writes batches two or more
    // at once, so SEED-00026 to 30 is written beside the refused one; SQLite writes one at a time.
    let clash = seed(&database, &["--products", "20", "--first", "21", "--batch", "5"]);
    let message = String::from_utf8_lossy(&clash.stderr).to_string();
    assert!(!clash.status.success());
    assert!(
        message.contains(
            "sku SEED-00021 already exists in tenant demo: nothing of its batch (SEED-00021 to SEED-00025) was written"
        ),
        "{message}"
    );
    let others = if postgres {
        let (count, rest) = message.split_once(", ").and_then(|(_, r)| r.split_once(' ')).expect(&message);
        assert!(rest.starts_with("products of other batches were; pass --skip-existing"), "{message}");
        assert!(!message.contains("--first"), "continuing after the highest would leave the batch out: {message}");
        count.parse::<u64>().unwrap()
    } else {
        assert!(message.contains("or leave out --first to continue after the highest"), "{message}");
        0
    };
    let app = spawn_app_on(database).await;
    let token = app.admin_token().await;
    let total = |body: &serde_json::Value| body["pagination"]["total"].as_u64().unwrap();
    let listed = app.list_products(Auth::Bearer(&token), &[("search", "seeded product")]).await;
    assert_eq!(total(&listed.body), 25 + others, "what the message counts is what was written");
    if postgres {
        assert!(others >= 5, "SEED-00026 to 30 were written beside the refused batch: {message}");
    }
    let database = app.database();
    let filled = stdout(&seed(database, &["--products", "20", "--first", "21", "--batch", "5", "--skip-existing"]));
    assert!(filled.contains(&format!("created {} products", 15 - others)), "{filled}");
    // Another process's writes: found within the second in which the search index (on PostgreSQL)
    // follows them, as the listing cache does.
    let written = std::time::Instant::now();
    loop {
        let listed = app.list_products(Auth::Bearer(&token), &[("search", "seeded product"), ("pageSize", "50")]).await;
        if total(&listed.body) == 40 {
            break; // SEED-00001 to 40, each once
        }
        assert!(written.elapsed() < std::time::Duration::from_secs(3), "{}", listed.body["pagination"]);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_search_counts_up_to_ten_thousand_matches_then_says_its_total_is_a_lower_bound() {
    let database = TestDatabase::new().await;
    // PostgreSQL searching the database (no search index in memory) counts the matches of a word
    // this common (every product's) to 1,000: its page is read newest first, and each match
    // counted would be a read of its product.
    let postgres = std::env::var("COMMERCE_TEST_POSTGRES").is_ok_and(|url| !url.is_empty());
    let cap = if postgres { 1_000 } else { 10_000 };
    let seeded = stdout(&seed(&database, &["--products", "10050"]));
    assert!(seeded.contains("created 10050 products"), "{seeded}");
    let app = spawn_app_with(database, |config| config.search_index_mib = Some(0)).await;
    let token = app.admin_token().await;
    let search = |page: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            let query = [("search", "seeded"), ("pageSize", "20"), ("page", page)];
            let res = app.list_products(Auth::Bearer(token), &query).await;
            assert_eq!(res.status, 200, "{:#}", res.body);
            res
        }
    };
    let first = search("1").await;
    assert_eq!(first.body["pagination"]["total"], cap, "{}", first.body["pagination"]);
    assert_eq!(first.body["pagination"]["totalExact"], false);
    assert_eq!(first.body["data"].as_array().unwrap().len(), 20);
    assert!(first.body["nextCursor"].is_string());
    // Past the cap, a page counts on to just beyond itself: here to the end, exactly.
    let last = search("503").await;
    assert_eq!(last.body["pagination"]["total"], 10_050, "{}", last.body["pagination"]);
    assert_eq!(last.body["pagination"]["totalExact"], true);
    assert_eq!(last.body["data"].as_array().unwrap().len(), 10);
    assert!(last.body.get("nextCursor").is_none());
    let deep = search("450").await;
    assert_eq!(
        (deep.body["pagination"]["totalExact"].clone(), deep.body["nextCursor"].is_string()),
        (json!(false), true)
    );
    // Past the cap a page is not sorted out of the matches counted: it is the page of the whole
    // order. Every match has the word only in its description (one group), so best first is
    // newest first, as the listing by creation lists them (oldest first when reversed).
    let skus = |res: &crate::helpers::Response| -> Vec<String> {
        res.body["data"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_string()).collect()
    };
    for (page, searched) in [("1", &first), ("450", &deep)] {
        let query = [("sort", "createdAt"), ("order", "desc"), ("pageSize", "20"), ("page", page)];
        let listed = app.list_products(Auth::Bearer(&token), &query).await;
        assert_eq!(skus(searched), skus(&listed), "page {page}");
    }
    let reversed = app.list_products(Auth::Bearer(&token), &[("search", "seeded"), ("order", "desc")]).await;
    let oldest = app.list_products(Auth::Bearer(&token), &[("sort", "createdAt"), ("pageSize", "100")]).await;
    let oldest_seeded: Vec<String> = skus(&oldest).into_iter().filter(|s| s.starts_with("SEED-")).take(20).collect();
    assert_eq!(skus(&reversed), oldest_seeded);
    // Sorted, past the cap: the cheapest matches, as the listing by price has them.
    let cheapest = app.list_products(Auth::Bearer(&token), &[("sort", "price"), ("pageSize", "100")]).await;
    let cheapest_seeded: Vec<String> = skus(&cheapest).into_iter().filter(|s| s.starts_with("SEED-")).collect();
    for page in ["1", "3"] {
        let query = [("search", "seeded"), ("sort", "price"), ("pageSize", "20"), ("page", page)];
        let by_price = app.list_products(Auth::Bearer(&token), &query).await;
        let from = (page.parse::<usize>().unwrap() - 1) * 20;
        assert_eq!(skus(&by_price), cheapest_seeded[from..from + 20], "page {page}");
        if page == "1" {
            // The page after it by its cursor, and the dearest first.
            let cursor = by_price.body["nextCursor"].as_str().unwrap();
            let query = [("search", "seeded"), ("sort", "price"), ("pageSize", "20"), ("cursor", cursor)];
            let next = app.list_products(Auth::Bearer(&token), &query).await;
            assert_eq!(skus(&next), cheapest_seeded[20..40], "{}", next.body);
        }
    }
    let query = [("search", "seeded"), ("sort", "price"), ("order", "desc"), ("pageSize", "20")];
    let dearest = app.list_products(Auth::Bearer(&token), &query).await;
    let by_price =
        app.list_products(Auth::Bearer(&token), &[("sort", "price"), ("order", "desc"), ("pageSize", "100")]).await;
    let dearest_seeded: Vec<String> = skus(&by_price).into_iter().filter(|s| s.starts_with("SEED-")).take(20).collect();
    assert_eq!(skus(&dearest), dearest_seeded);
    // Narrower searches are counted exactly (to the cap of so common a word); listings without a
    // search always are.
    let narrow = app.list_products(Auth::Bearer(&token), &[("search", "seeded"), ("category", "home")]).await;
    assert_eq!(
        (narrow.body["pagination"]["total"].clone(), narrow.body["pagination"]["totalExact"].clone()),
        if postgres { (json!(1000), json!(false)) } else { (json!(2010), json!(true)) }
    );
    let rarer =
        app.list_products(Auth::Bearer(&token), &[("search", "seeded lamp"), ("category", "electronics")]).await;
    let lamps = rarer.body["pagination"]["total"].as_u64().unwrap();
    assert!((200..1000).contains(&lamps), "{}", rarer.body["pagination"]);
    assert_eq!(rarer.body["pagination"]["totalExact"], true);
    let all = app.list_products(Auth::Bearer(&token), &[]).await;
    assert_eq!(all.body["pagination"]["totalExact"], true);
    assert!(all.body["pagination"]["total"].as_u64().unwrap() >= 10_050);
    if postgres {
        // With the catalogue's words in memory (the default), PostgreSQL counts as SQLite does.
        let indexed = ServerProcess::start(app.database(), &[]);
        let started = std::time::Instant::now();
        while !indexed.log.lock().unwrap().iter().any(|line| line.contains("the search index has loaded")) {
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "the index did not load");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let client = reqwest::Client::new();
        for (page, total, exact) in [("1", 10_000, false), ("503", 10_050, true)] {
            let url = format!("{}/products?search=seeded&pageSize=20&page={page}", indexed.base);
            let body: serde_json::Value =
                client.get(url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
            assert_eq!(body["pagination"]["total"], total, "page {page}: {}", body["pagination"]);
            assert_eq!(body["pagination"]["totalExact"], exact);
        }
    }
}

#[tokio::test]
async fn tenants_users_and_keys_are_listed_and_a_password_reset_ends_the_user_s_sessions() {
    let database = TestDatabase::new().await;
    stdout(&commerce(&database, &["tenant", "create", "--slug", "acme", "--name", "Acme Inc."], None));
    stdout(&commerce(
        &database,
        &["user", "create", "--tenant", "acme", "--email", "ops@acme.test", "--role", "staff"],
        Some("ops-password-1"),
    ));
    commerce(&database, &["api-key", "create", "--tenant", "acme", "--name", "erp", "--scopes", "orders:read"], None);
    let tenants = stdout(&commerce(&database, &["tenant", "list"], None));
    assert!(tenants.starts_with("SLUG"), "{tenants}");
    assert!(tenants.lines().any(|l| l.starts_with("acme ") && l.contains("Acme Inc.") && l.contains("standard")));
    let users = stdout(&commerce(&database, &["user", "list", "--tenant", "acme"], None));
    assert!(users.lines().any(|l| l.starts_with("ops@acme.test") && l.contains("staff")), "{users}");
    let keys = stdout(&commerce(&database, &["api-key", "list", "--tenant", "acme"], None));
    let row = keys.lines().find(|l| l.contains(" erp ")).unwrap_or_else(|| panic!("{keys}"));
    assert!(row.contains("orders:read") && row.ends_with("live"), "{row}");
    assert!(!keys.contains("ck_"), "a key's secret is never listed");
    let id = row.split_whitespace().next().unwrap();
    stdout(&commerce(&database, &["api-key", "revoke", "--id", id], None));
    let keys = stdout(&commerce(&database, &["api-key", "list", "--tenant", "acme"], None));
    assert!(keys.lines().any(|l| l.starts_with(id) && l.contains("revoked 20")), "{keys}");

    let app = spawn_app_on(database).await;
    let login =
        app.login(serde_json::json!({"tenant": "acme", "email": "ops@acme.test", "password": "ops-password-1"})).await;
    assert_eq!(login.status, 200);
    let access = login.body["accessToken"].as_str().unwrap().to_string();
    let refresh = login.body["refreshToken"].as_str().unwrap().to_string();

    let reset = stdout(&commerce(
        app.database(),
        &["user", "set-password", "--tenant", "acme", "--email", "ops@acme.test"],
        Some("ops-password-2"),
    ));
    assert!(reset.contains("ended 1 session(s)"), "{reset}");

    let old =
        app.login(serde_json::json!({"tenant": "acme", "email": "ops@acme.test", "password": "ops-password-1"})).await;
    assert_eq!(old.status, 401, "the old password stops working");
    app.token_for("acme", "ops@acme.test", "ops-password-2").await;
    assert_eq!(app.refresh_token(&refresh).await.status, 401, "the old session's refresh token is refused");
    // A running instance learns of ended sessions within its reload interval.
    let mut status = 0;
    for _ in 0..40 {
        status = app.list_products(Auth::Bearer(&access), &[]).await.status;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "the old session's access token is refused");

    let missing = commerce(
        app.database(),
        &["user", "set-password", "--tenant", "acme", "--email", "nobody@acme.test"],
        Some("ops-password-3"),
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user nobody@acme.test in tenant acme"));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = help(&["completions", shell]);
        assert!(script.contains("set-password") && script.contains("database-url"), "{shell}: {script}");
    }
}

/// The JSON access-log line of the request `request_id`, once the server has written it.
fn access_line(server: &crate::helpers::ServerProcess, request_id: &str) -> serde_json::Value {
    let line = (0..100)
        .find_map(|_| {
            let found = server.log.lock().unwrap().iter().find(|l| l.contains(request_id)).cloned();
            if found.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            found
        })
        .expect("an access-log line with the request id");
    serde_json::from_str(&line).expect("a JSON log line")
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_never_a_credential() {
    let database = TestDatabase::new().await;
    let server = crate::helpers::ServerProcess::start(&database, &[("COMMERCE_LOG_FORMAT", "json")]);
    let response = reqwest::Client::new()
        .get(format!("{}/products", server.base))
        .header("X-Request-Id", "trace-me-42")
        .bearer_auth("a-secret-token-value")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let entry = access_line(&server, "trace-me-42");
    assert_eq!(entry["message"], "served");
    assert_eq!(entry["status"], 401);
    assert_eq!(entry["span"]["request_id"], "trace-me-42");
    assert_eq!(entry["span"]["path"], "/products");
    assert_eq!(entry["span"]["operation"], "listProducts");
    assert!(entry.get("tenant").is_none(), "no tenant was named: {entry}");

    let client = reqwest::Client::new();
    let login = serde_json::json!({"tenant": "demo", "email": crate::helpers::ADMIN_EMAIL, "password": crate::helpers::ADMIN_PASSWORD});
    let login: serde_json::Value =
        client.post(format!("{}/auth/login", server.base)).json(&login).send().await.unwrap().json().await.unwrap();
    let token = login["accessToken"].as_str().unwrap();
    let listed = client
        .get(format!("{}/products", server.base))
        .header("X-Request-Id", "trace-me-43")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let entry = access_line(&server, "trace-me-43");
    let database = commerce::store::open_database(&database.url).await.unwrap();
    let demo = commerce::store::tenants::find_tenant(&database, "demo").await.unwrap().unwrap();
    assert_eq!(entry["tenant"], demo.id.to_string(), "the access line names the tenant: {entry}");
    assert_eq!(entry["span"]["operation"], "listProducts");
    assert!(!server.log.lock().unwrap().iter().any(|l| l.contains("a-secret-token-value")), "a credential was logged");
}

/// `commerce <args>` without a database; its output.
fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_commerce")).args(args).output().expect("the binary runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn each_subcommand_lists_only_its_own_flags() {
    let contract = help(&["contract", "--help"]);
    for service_flag in
        ["--database-url", "--listen", "--seed-demo", "--jwt-secret", "--rate-limit-standard", "--admin-password"]
    {
        assert!(!contract.contains(service_flag), "contract --help lists {service_flag}");
    }
    for own in [
        "--spec",
        "--exclude-operation-id",
        "--include-path-regex",
        "--auth",
        "--client-cert",
        "--dry-run",
        "--insecure",
    ] {
        assert!(contract.contains(own), "contract --help lacks {own}");
    }
    let revoke = help(&["api-key", "revoke", "--help"]);
    assert!(revoke.contains("--database-url") && revoke.contains("--id"), "{revoke}");
    assert!(!revoke.contains("--listen") && !revoke.contains("--rate-limit"), "{revoke}");
    let serve = help(&["serve", "--help"]);
    assert!(serve.contains("--listen") && serve.contains("--database-url") && !serve.contains("--spec"), "{serve}");
    assert_eq!(help(&["--version"]).trim(), format!("commerce {} (Commerce API 2.4.0)", env!("CARGO_PKG_VERSION")));
}
