//! `listOrders`, `createOrder`, `getOrder`, `updateOrderStatus`: stock, history, the lifecycle,
//! visibility and tenancy.

use commerce::auth::Role;
use serde_json::{Value, json};

use crate::assert_body_snapshot;
use crate::helpers::{Auth, Response, TestApp, TestDatabase, address, sample_customer, spawn_app, spawn_app_on};

const UNKNOWN: &str = "0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// An app with an admin token, a customer and a product with `stock` units at 1250 a piece.
struct Shop {
    app: TestApp,
    admin: String,
    customer: String,
    product: String,
}

async fn shop(stock: i64) -> Shop {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = app.create_customer(Auth::Bearer(&admin), sample_customer("sofia@example.com")).await;
    assert_eq!(customer.status, 201);
    let product = app.product(&admin, "SKU-A", json!({"price": 1250, "stock": stock})).await;
    Shop { customer: id(&customer.body), product: id(&product), app, admin }
}

fn order_body(customer: &str, lines: &[(&str, i64)]) -> Value {
    json!({
        "customerId": customer,
        "items": lines.iter().map(|(p, q)| json!({"productId": p, "quantity": q})).collect::<Vec<_>>(),
        "shippingAddress": address(),
    })
}

async fn stock(shop: &Shop, product: &str) -> i64 {
    shop.app.get_product(Auth::Bearer(&shop.admin), product).await.body["stock"].as_i64().unwrap()
}

impl Shop {
    async fn order(&self, lines: &[(&str, i64)]) -> Response {
        self.app.create_order(Auth::Bearer(&self.admin), order_body(&self.customer, lines)).await
    }

    async fn move_to(&self, order: &str, body: Value) -> Response {
        self.app.update_order_status(Auth::Bearer(&self.admin), order, body).await
    }
}

#[tokio::test]
async fn creating_an_order_takes_stock_and_copies_the_products_into_its_lines() {
    let shop = shop(10).await;

    let res = shop.order(&[(&shop.product, 3)]).await;

    assert_eq!(res.status, 201);
    assert_eq!(res.header("location"), Some(format!("/orders/{}", id(&res.body)).as_str()));
    assert_body_snapshot!("create_order_201", &res.body);
    assert_eq!((res.body["subtotal"].as_i64(), res.body["total"].as_i64()), (Some(3750), Some(3750)));
    assert_eq!(stock(&shop, &shop.product).await, 7);
    let fetched = shop.app.get_order(Auth::Bearer(&shop.admin), &id(&res.body)).await;
    assert_eq!(fetched.body, res.body);
    assert_eq!(fetched.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn editing_or_deleting_a_product_never_changes_order_history() {
    let shop = shop(10).await;
    let order = shop.order(&[(&shop.product, 2)]).await.body;
    let auth = Auth::Bearer(&shop.admin);

    shop.app.update_product(auth, &shop.product, json!({"price": 9999, "name": "Renamed", "sku": "SKU-Z"})).await;
    shop.app.delete_product(auth, &shop.product).await;

    assert_eq!(shop.app.get_order(auth, &id(&order)).await.body, order);
    assert_eq!(order["items"][0]["sku"], "SKU-A");
}

#[tokio::test]
async fn lines_of_the_same_product_add_up() {
    let shop = shop(5).await;
    let res = shop.order(&[(&shop.product, 2), (&shop.product, 3)]).await;
    assert_eq!(res.status, 201);
    assert_eq!(stock(&shop, &shop.product).await, 0);
    let too_many = shop.order(&[(&shop.product, 1), (&shop.product, 1)]).await;
    assert_eq!((too_many.status, too_many.code()), (409, "insufficient_stock"));
}

#[tokio::test]
async fn insufficient_stock_is_a_409_naming_the_sku_and_takes_nothing() {
    let shop = shop(10).await;
    let scarce = id(&shop.app.product(&shop.admin, "SCARCE-1", json!({"price": 100, "stock": 1})).await);

    let res = shop.order(&[(&shop.product, 4), (&scarce, 2)]).await;

    assert_eq!((res.status, res.code()), (409, "insufficient_stock"));
    assert_eq!(res.body["detail"], "not enough stock of SCARCE-1: 2 requested, 1 available");
    assert_eq!(res.error_locations(), ["/items/1/quantity"]);
    assert_eq!(stock(&shop, &shop.product).await, 10, "the first line's stock was given back");
    assert_eq!(stock(&shop, &scarce).await, 1);
    assert_eq!(shop.app.list_orders(Auth::Bearer(&shop.admin), &[]).await.body["pagination"]["total"], 0);
}

#[tokio::test]
async fn unknown_and_deleted_products_are_422_pointing_at_their_line() {
    let shop = shop(10).await;
    let gone = id(&shop.app.product(&shop.admin, "GONE-1", json!({})).await);
    shop.app.delete_product(Auth::Bearer(&shop.admin), &gone).await;

    for missing in [UNKNOWN, gone.as_str()] {
        let res = shop.order(&[(&shop.product, 1), (missing, 1)]).await;
        assert_eq!((res.status, res.code()), (422, "validation_failed"));
        assert_eq!(res.error_locations(), ["/items/1/productId"]);
    }
    assert_eq!(stock(&shop, &shop.product).await, 10);
}

#[tokio::test]
async fn an_order_has_one_currency() {
    let shop = shop(10).await;
    let euro = id(&shop.app.product(&shop.admin, "EUR-1", json!({"currency": "EUR"})).await);
    let res = shop.order(&[(&shop.product, 1), (&euro, 1)]).await;
    assert_eq!((res.status, res.error_locations()), (422, vec!["/items/1/productId".to_string()]));
    assert_eq!(stock(&shop, &shop.product).await, 10);
}

#[tokio::test]
async fn the_client_cannot_set_prices_totals_status_or_tenant() {
    let shop = shop(10).await;
    let mut body = order_body(&shop.customer, &[(&shop.product, 1)]);
    body["total"] = json!(1);
    body["status"] = json!("delivered");
    body["items"][0]["unitPrice"] = json!(1);
    body["tenantId"] = json!(UNKNOWN);

    let res = shop.app.create_order(Auth::Bearer(&shop.admin), body).await;

    assert_eq!(res.status, 422);
    assert_eq!(res.error_locations(), ["/items/0/unitPrice", "/status", "/tenantId", "/total"]);
}

#[tokio::test]
async fn staff_must_name_an_existing_customer() {
    let shop = shop(10).await;
    let mut body = order_body(&shop.customer, &[(&shop.product, 1)]);
    body.as_object_mut().unwrap().remove("customerId");
    let missing = shop.app.create_order(Auth::Bearer(&shop.admin), body).await;
    assert_eq!((missing.status, missing.error_locations()), (422, vec!["/customerId".to_string()]));

    let unknown = shop.app.create_order(Auth::Bearer(&shop.admin), order_body(UNKNOWN, &[(&shop.product, 1)])).await;
    assert_eq!((unknown.status, unknown.error_locations()), (422, vec!["/customerId".to_string()]));
}

#[tokio::test]
async fn five_hundred_concurrent_orders_for_fifty_units_sell_exactly_fifty() {
    let shop = shop(50).await;
    let body = order_body(&shop.customer, &[(&shop.product, 1)]);

    let attempts = (0..500).map(|_| shop.app.create_order(Auth::Bearer(&shop.admin), body.clone()));
    let results = futures_util::future::join_all(attempts).await;

    let created = results.iter().filter(|r| r.status == 201).count();
    let refused = results.iter().filter(|r| r.status == 409 && r.code() == "insufficient_stock").count();
    assert_eq!((created, refused), (50, 450), "statuses: {:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(stock(&shop, &shop.product).await, 0);
    let listed = shop.app.list_orders(Auth::Bearer(&shop.admin), &[("pageSize", "1")]).await;
    assert_eq!(listed.body["pagination"]["total"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_sqlite_file_an_order_and_another_write_wait_for_a_write_lock_held_elsewhere() {
    // The order desk writes on a connection of its own, beside the one every other write uses:
    // each must wait for a write lock another connection holds, not fail.
    let (database, path) = TestDatabase::sqlite_file();
    let app = spawn_app_on(database).await;
    let admin = app.admin_token().await;
    let customer = id(&app.create_customer(Auth::Bearer(&admin), sample_customer("wait@example.com")).await.body);
    let product = id(&app.product(&admin, "SKU-W", json!({"stock": 10})).await);
    let (locked, holding) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).expect("opens the file");
        conn.execute_batch("BEGIN IMMEDIATE").expect("takes the write lock");
        locked.send(()).expect("the test waits");
        std::thread::sleep(std::time::Duration::from_millis(300));
        conn.execute_batch("COMMIT").expect("lets it go");
    });
    holding.recv().expect("the lock is held");

    let started = std::time::Instant::now();
    let (order, update) = tokio::join!(
        app.create_order(Auth::Bearer(&admin), order_body(&customer, &[(&product, 3)])),
        app.update_product(Auth::Bearer(&admin), &product, json!({"price": 990})),
    );
    assert_eq!((order.status, update.status), (201, 200), "{:#} {:#}", order.body, update.body);
    assert!(started.elapsed() >= std::time::Duration::from_millis(250), "both waited: {:?}", started.elapsed());
    holder.join().expect("the holder ends");
    let read = app.get_product(Auth::Bearer(&admin), &product).await.body;
    assert_eq!((read["stock"].clone(), read["price"].clone()), (json!(7), json!(990)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_placed_while_their_product_changes_are_decided_on_the_change() {
    // Another writer changes the product and holds its transaction open while orders arrive: the
    // orders must be decided on what it commits. A batch locks its products before it decides
    // (PostgreSQL: `FOR UPDATE`, which waits for the writer; SQLite: the write lock), so
    // it reads the change; a desk that read them before locking would decide on stale values.
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    let shop = shop(10).await;
    let product: uuid::Uuid = shop.product.parse().unwrap();
    let writer = Database::connect(&shop.app.database().url).await.expect("a connection of its own");
    let backend = writer.get_database_backend();
    let change = |sql: &'static str, value: i64| {
        let writer = writer.clone();
        async move {
            let txn = writer.begin().await.expect("begins");
            let update = Statement::from_sql_and_values(backend, sql, [value.into(), product.into()]);
            assert_eq!(txn.execute_raw(update).await.expect("updates").rows_affected(), 1);
            txn
        }
    };
    let commit_later = |txn: sea_orm::DatabaseTransaction| async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        txn.commit().await.expect("commits");
    };

    // A new price: the order is made at it.
    let held = change("UPDATE products SET price = $1, version = version + 1 WHERE id = $2", 1999).await;
    let one_unit = [(shop.product.as_str(), 1)];
    let (order, ()) = tokio::join!(shop.order(&one_unit), commit_later(held));
    assert_eq!(order.status, 201, "{:#}", order.body);
    assert_eq!((order.body["items"][0]["unitPrice"].clone(), order.body["total"].clone()), (json!(1999), json!(1999)));
    assert_eq!(stock(&shop, &shop.product).await, 9);

    // The stock cut to 1: of an order for 2 and an order for 1, only the one for 1 is made.
    let held = change("UPDATE products SET stock = $1, version = version + 1 WHERE id = $2", 1).await;
    let two_units = [(shop.product.as_str(), 2)];
    let (two, one, ()) = tokio::join!(shop.order(&two_units), shop.order(&one_unit), commit_later(held));
    assert_eq!((two.status, two.code()), (409, "insufficient_stock"), "{:#}", two.body);
    assert_eq!(one.status, 201, "{:#}", one.body);
    assert_eq!(stock(&shop, &shop.product).await, 0);
    let listed = shop.app.list_orders(Auth::Bearer(&shop.admin), &[("pageSize", "1")]).await;
    assert_eq!(listed.body["pagination"]["total"], 2);
}

/// A connection of its own to a shop's database: another writer than the service.
struct Writer {
    db: sea_orm::DatabaseConnection,
    product: uuid::Uuid,
}

impl Writer {
    async fn of(shop: &Shop) -> Self {
        let db = sea_orm::Database::connect(&shop.app.database().url).await.expect("a connection of its own");
        Self { db, product: shop.product.parse().unwrap() }
    }

    /// Sets the shop's product's `column` to `value`, as any write of a product does with its
    /// version; it must change one row.
    async fn set(&self, column: &str, value: sea_orm::Value) {
        use sea_orm::ConnectionTrait;
        let sql = format!("UPDATE products SET {column} = $1, version = version + 1 WHERE id = $2");
        let update =
            sea_orm::Statement::from_sql_and_values(self.db.get_database_backend(), sql, [value, self.product.into()]);
        assert_eq!(self.db.execute_raw(update).await.expect("updates").rows_affected(), 1);
    }
}

#[tokio::test]
async fn orders_after_another_writer_changed_their_product_are_decided_on_the_change() {
    // On PostgreSQL the desk decides a batch of one product it knows on what its last batch left
    // of that product, and writes it without locking it first (`orders::Known`): another writer's
    // committed change (another instance, here SQL) must still decide the next order.
    let shop = shop(10).await;
    let writer = Writer::of(&shop).await;
    let one_unit = [(shop.product.as_str(), 1)];
    let price = |order: &Response| (order.status, order.body["items"][0]["unitPrice"].clone());
    assert_eq!(price(&shop.order(&one_unit).await), (201, json!(1250)));
    assert_eq!(price(&shop.order(&one_unit).await), (201, json!(1250)), "the desk knows the product now");

    writer.set("price", 1999.into()).await;
    assert_eq!(price(&shop.order(&one_unit).await), (201, json!(1999)));
    assert_eq!(stock(&shop, &shop.product).await, 7);

    writer.set("stock", 1.into()).await;
    let two = shop.order(&[(shop.product.as_str(), 2)]).await;
    assert_eq!((two.status, two.code()), (409, "insufficient_stock"), "{:#}", two.body);
    assert_eq!(two.body["detail"], "not enough stock of SKU-A: 2 requested, 1 available");

    writer.set("stock", 5.into()).await;
    assert_eq!(price(&shop.order(&[(shop.product.as_str(), 5)]).await), (201, json!(1999)), "restocked");
    assert_eq!(stock(&shop, &shop.product).await, 0);

    writer.set("stock", 5.into()).await;
    writer.set("active", false.into()).await;
    let inactive = shop.order(&one_unit).await;
    assert_eq!((inactive.status, inactive.error_locations()), (422, vec!["/items/0/productId".to_string()]));
    let listed = shop.app.list_orders(Auth::Bearer(&shop.admin), &[("pageSize", "1")]).await;
    assert_eq!(listed.body["pagination"]["total"], 4);
}

#[tokio::test]
async fn waves_of_orders_after_each_price_change_are_all_made_at_the_new_price() {
    // On PostgreSQL the desk decides a batch of one product it knows on what its last batch left
    // (`orders::Known`). After another writer's change, the first batch of a wave of concurrent
    // orders is decided on the old price: it must find the product changed and take the lock, and
    // the batches after it must be decided on what that one read.
    let shop = shop(1000).await;
    let writer = Writer::of(&shop).await;
    let body = order_body(&shop.customer, &[(&shop.product, 1)]);
    let mut made = 0;
    for price in [1250, 1300, 1400, 1500, 1600] {
        if price != 1250 {
            writer.set("price", price.into()).await;
        }
        let wave = (0..48).map(|_| shop.app.create_order(Auth::Bearer(&shop.admin), body.clone()));
        let prices: Vec<(u16, Value)> = futures_util::future::join_all(wave)
            .await
            .into_iter()
            .map(|order| (order.status, order.body["items"][0]["unitPrice"].clone()))
            .collect();
        assert!(prices.iter().all(|order| *order == (201, json!(price))), "at {price}: {prices:?}");
        made += prices.len() as i64;
    }
    assert_eq!(stock(&shop, &shop.product).await, 1000 - made);
    let listed = shop.app.list_orders(Auth::Bearer(&shop.admin), &[("pageSize", "1")]).await;
    assert_eq!(listed.body["pagination"]["total"], made);
}

#[tokio::test]
async fn an_order_walks_the_whole_lifecycle() {
    let shop = shop(10).await;
    let order = id(&shop.order(&[(&shop.product, 1)]).await.body);

    for status in ["confirmed", "shipped", "delivered", "refunded"] {
        let mut body = json!({"status": status});
        if status == "shipped" {
            body = json!({"status": "shipped", "trackingNumber": "1Z999AA10123456784", "carrier": "UPS"});
        }
        let res = shop.move_to(&order, body).await;
        assert_eq!((res.status, res.body["status"].as_str()), (200, Some(status)));
    }
    let done = shop.app.get_order(Auth::Bearer(&shop.admin), &order).await;
    assert_eq!(
        (done.body["trackingNumber"].as_str(), done.body["carrier"].as_str()),
        (Some("1Z999AA10123456784"), Some("UPS"))
    );
    assert_eq!(done.header("etag"), Some("\"5\""));
    assert_eq!(stock(&shop, &shop.product).await, 9, "a refund does not restock");
}

#[tokio::test]
async fn every_invalid_transition_is_refused_with_the_current_and_allowed_statuses() {
    let shop = shop(50).await;
    let shipped = json!({"status": "shipped", "trackingNumber": "T1", "carrier": "UPS"});
    // The path to each status, and where the lifecycle allows it to go.
    let cases: [(&[&str], &[&str]); 6] = [
        (&[], &["confirmed", "cancelled"]),
        (&["confirmed"], &["shipped", "cancelled"]),
        (&["confirmed", "shipped"], &["delivered"]),
        (&["confirmed", "shipped", "delivered"], &["refunded"]),
        (&["confirmed", "shipped", "delivered", "refunded"], &[]),
        (&["cancelled"], &[]),
    ];
    let all = ["pending", "confirmed", "shipped", "delivered", "cancelled", "refunded"];
    for (path, allowed) in cases {
        let order = id(&shop.order(&[(&shop.product, 1)]).await.body);
        for step in path {
            let body = if *step == "shipped" { shipped.clone() } else { json!({"status": step}) };
            assert_eq!(shop.move_to(&order, body).await.status, 200);
        }
        let current = path.last().copied().unwrap_or("pending");
        for target in all.iter().filter(|t| !allowed.contains(t)) {
            let body = if *target == "shipped" { shipped.clone() } else { json!({"status": target}) };
            let res = shop.move_to(&order, body).await;
            assert_eq!((res.status, res.code()), (409, "invalid_transition"), "{current} -> {target}");
            assert_eq!(res.body["currentStatus"], current);
            assert_eq!(res.body["allowedStatuses"], json!(allowed));
        }
    }
}

#[tokio::test]
async fn cancelling_gives_the_stock_back_once() {
    let shop = shop(10).await;
    let order = id(&shop.order(&[(&shop.product, 4)]).await.body);
    shop.move_to(&order, json!({"status": "confirmed"})).await;

    let res = shop.move_to(&order, json!({"status": "cancelled"})).await;
    assert_eq!((res.status, stock(&shop, &shop.product).await), (200, 10));

    let again = shop.move_to(&order, json!({"status": "cancelled"})).await;
    assert_eq!(again.status, 409);
    assert_eq!(stock(&shop, &shop.product).await, 10, "a second cancel gives nothing back");
}

#[tokio::test]
async fn shipping_needs_a_tracking_number_and_a_carrier() {
    let shop = shop(10).await;
    let order = id(&shop.order(&[(&shop.product, 1)]).await.body);
    shop.move_to(&order, json!({"status": "confirmed"})).await;

    let res = shop.move_to(&order, json!({"status": "shipped", "carrier": "UPS"})).await;

    assert_eq!((res.status, res.error_locations()), (422, vec!["/trackingNumber".to_string()]));
}

#[tokio::test]
async fn a_stale_if_match_is_a_412_and_changes_nothing() {
    let shop = shop(10).await;
    let order = id(&shop.order(&[(&shop.product, 1)]).await.body);
    let auth = Auth::Bearer(&shop.admin);
    let path = [("orderId", order.as_str())];
    let update = |etag: &'static str, status: &'static str| {
        let app = &shop.app;
        let path = &path;
        async move {
            let body = Some(json!({"status": status}).into());
            app.call_with_headers("updateOrderStatus", auth, path, &[], body, &[("If-Match", etag)]).await
        }
    };

    let res = update("\"1\"", "confirmed").await;
    assert_eq!((res.status, res.header("etag")), (200, Some("\"2\"")));
    let stale = update("\"1\"", "cancelled").await;
    assert_eq!((stale.status, stale.code()), (412, "precondition_failed"));
    assert_eq!(shop.app.get_order(auth, &order).await.body["status"], "confirmed");
    assert_eq!(stock(&shop, &shop.product).await, 9);
}

#[tokio::test]
async fn customers_see_and_cancel_only_their_own_orders() {
    let shop = shop(10).await;
    let alice = shop.app.token_with_role(Role::Customer).await;
    let bob = shop.app.token_with_role(Role::Customer).await;
    let body = json!({"items": [{"productId": shop.product, "quantity": 1}], "shippingAddress": address()});

    let mine = shop.app.create_order(Auth::Bearer(&alice), body.clone()).await;
    assert_eq!(mine.status, 201, "a customer orders for itself without naming itself");
    let order = id(&mine.body);
    let staff_order = id(&shop.order(&[(&shop.product, 1)]).await.body);

    assert_eq!(shop.app.get_order(Auth::Bearer(&bob), &order).await.status, 404);
    assert_eq!(shop.app.get_order(Auth::Bearer(&alice), &staff_order).await.status, 404);
    let listed = shop.app.list_orders(Auth::Bearer(&alice), &[]).await;
    let seen: Vec<String> = listed.body["data"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(seen, std::slice::from_ref(&order));
    assert_eq!(shop.app.list_orders(Auth::Bearer(&shop.admin), &[]).await.body["pagination"]["total"], 2);

    let for_other =
        shop.app.create_order(Auth::Bearer(&alice), order_body(&shop.customer, &[(&shop.product, 1)])).await;
    assert_eq!((for_other.status, for_other.error_locations()), (422, vec!["/customerId".to_string()]));
    let confirm = shop.app.update_order_status(Auth::Bearer(&alice), &order, json!({"status": "confirmed"})).await;
    assert_eq!(confirm.status, 403);
    let bob_cancel = shop.app.update_order_status(Auth::Bearer(&bob), &order, json!({"status": "cancelled"})).await;
    assert_eq!(bob_cancel.status, 404);
    let cancel = shop.app.update_order_status(Auth::Bearer(&alice), &order, json!({"status": "cancelled"})).await;
    assert_eq!((cancel.status, cancel.body["status"].as_str()), (200, Some("cancelled")));
}

#[tokio::test]
async fn list_filters_by_status_and_creation_time_with_pagination() {
    let shop = shop(50).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id(&shop.order(&[(&shop.product, 1)]).await.body));
    }
    shop.move_to(&ids[0], json!({"status": "confirmed"})).await;
    shop.move_to(&ids[1], json!({"status": "confirmed"})).await;
    let auth = Auth::Bearer(&shop.admin);

    let confirmed = shop.app.list_orders(auth, &[("status", "confirmed")]).await;
    assert_eq!(confirmed.body["pagination"]["total"], 2);
    let newest_first = shop.app.list_orders(auth, &[("pageSize", "2"), ("page", "1")]).await;
    assert_eq!(
        newest_first.body["data"].as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        [ids[4].clone(), ids[3].clone()]
    );
    assert_eq!(newest_first.body["pagination"]["totalPages"], 3);

    let third = shop.app.get_order(auth, &ids[2]).await.body["createdAt"].as_str().unwrap().to_string();
    let from = shop.app.list_orders(auth, &[("from", third.as_str())]).await;
    assert_eq!(from.body["pagination"]["total"], 3, "from is inclusive");
    let to = shop.app.list_orders(auth, &[("to", third.as_str())]).await;
    assert_eq!(to.body["pagination"]["total"], 2, "to is exclusive");
    let window =
        shop.app.list_orders(auth, &[("from", third.as_str()), ("to", third.as_str()), ("status", "pending")]).await;
    assert_eq!(window.body["pagination"]["total"], 0);
    let bad = shop.app.list_orders(auth, &[("from", "yesterday")]).await;
    assert_eq!((bad.status, bad.error_locations()), (400, vec!["from".to_string()]));
}

#[tokio::test]
async fn orders_placed_at_once_are_each_decided_as_if_alone() {
    // Orders arriving together share a transaction and its commit; each must still get the answer it
    // would get alone, after the ones before it, and a refused one must take nothing.
    let shop = shop(10).await;
    let admin = Auth::Bearer(&shop.admin);
    let scarce = id(&shop.app.product(&shop.admin, "SCARCE-1", json!({"price": 100, "stock": 1})).await);
    let euro = id(&shop.app.product(&shop.admin, "EUR-1", json!({"currency": "EUR", "stock": 5})).await);
    let acme = shop.app.other_tenant_token("acme").await;
    let theirs = Auth::Bearer(&acme);
    let their_customer = id(&shop.app.create_customer(theirs, sample_customer("ana@example.com")).await.body);
    let their_product = id(&shop.app.product(&acme, "ACME-1", json!({"price": 700, "stock": 3})).await);

    // (who, order, expected status, expected error pointer)
    let mut attempts: Vec<(Auth, Value, u16, Option<&str>)> = Vec::new();
    for _ in 0..6 {
        attempts.push((admin, order_body(&shop.customer, &[(&shop.product, 1)]), 201, None));
        attempts.push((theirs, order_body(&their_customer, &[(&their_product, 1)]), 201, None));
    }
    let over = order_body(&shop.customer, &[(&shop.product, 1), (&scarce, 2)]);
    attempts.push((admin, over, 409, Some("/items/1/quantity")));
    let mixed = order_body(&shop.customer, &[(&shop.product, 1), (&euro, 1)]);
    attempts.push((admin, mixed, 422, Some("/items/1/productId")));
    attempts.push((admin, order_body(UNKNOWN, &[(&shop.product, 1)]), 422, Some("/customerId")));
    attempts.push((theirs, order_body(&their_customer, &[(&shop.product, 1)]), 422, Some("/items/0/productId")));
    attempts.push((theirs, order_body(&shop.customer, &[(&their_product, 1)]), 422, Some("/customerId")));

    let sent = attempts.iter().map(|(auth, body, ..)| shop.app.create_order(*auth, body.clone()));
    let results = futures_util::future::join_all(sent).await;

    let mut theirs_created = 0;
    for (result, (auth, body, status, pointer)) in results.iter().zip(&attempts) {
        let pointers: Vec<String> = pointer.iter().map(|p| p.to_string()).collect();
        if result.status == 409 && *status == 201 {
            // Only the three units of ACME-1 run out: the fourth and later of its six orders.
            assert_eq!(result.body["detail"], "not enough stock of ACME-1: 1 requested, 0 available", "{body}");
            continue;
        }
        assert_eq!((result.status, result.error_locations()), (*status, pointers), "{body} -> {:#}", result.body);
        if result.status == 201 {
            let stored = shop.app.get_order(*auth, result.body["id"].as_str().unwrap()).await;
            assert_eq!(stored.body, result.body, "the answer is what was stored");
            theirs_created += usize::from(body["items"][0]["productId"] == json!(their_product));
        }
    }
    assert_eq!(theirs_created, 3, "exactly ACME-1's three units were sold");
    assert_eq!(stock(&shop, &shop.product).await, 4, "six single units taken, none by the refused orders");
    assert_eq!(stock(&shop, &scarce).await, 1);
    assert_eq!(stock(&shop, &euro).await, 5);
    assert_eq!(shop.app.get_product(theirs, &their_product).await.body["stock"], 0);
    assert_eq!(shop.app.list_orders(admin, &[]).await.body["pagination"]["total"], 6);
    assert_eq!(shop.app.list_orders(theirs, &[]).await.body["pagination"]["total"], 3);
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_touch_an_order() {
    let shop = shop(10).await;
    let order = id(&shop.order(&[(&shop.product, 1)]).await.body);
    let intruder = shop.app.other_tenant_token("acme").await;
    let auth = Auth::Bearer(&intruder);

    assert_eq!(shop.app.get_order(auth, &order).await.status, 404);
    assert_eq!(shop.app.update_order_status(auth, &order, json!({"status": "cancelled"})).await.status, 404);
    assert_eq!(shop.app.list_orders(auth, &[]).await.body["pagination"]["total"], 0);
    let theirs = json!({"customerId": shop.customer, "items": [{"productId": shop.product, "quantity": 1}], "shippingAddress": address()});
    let res = shop.app.create_order(auth, theirs).await;
    assert_eq!((res.status, res.error_locations()), (422, vec!["/customerId".to_string()]));
    assert_eq!(stock(&shop, &shop.product).await, 9);
    assert_eq!(shop.app.get_order(Auth::Bearer(&shop.admin), &order).await.body["status"], "pending");
}

#[tokio::test]
async fn on_postgresql_the_database_refuses_an_order_naming_another_tenants_customer() {
    // The desk never writes one (`another_tenant_can_neither_see_nor_touch_an_order`); on
    // PostgreSQL the schema refuses it too (`migrations::OrdersCustomerInTenant`). SQLite keeps
    // its two single-column keys.
    use sea_orm::{ConnectionTrait, Database};
    let shop = shop(10).await;
    if !shop.app.database().url.starts_with("postgres") {
        return;
    }
    assert_eq!(shop.order(&[(&shop.product, 1)]).await.status, 201);
    shop.app.other_tenant_token("acme").await;
    let db = Database::connect(&shop.app.database().url).await.expect("a connection of its own");
    // A copy of the order under a new id, in the tenant `slug`.
    let copy_into = |slug: &str| {
        format!(
            "INSERT INTO orders (id, tenant_id, customer_id, status, currency, subtotal, total, shipping_address, \
             shipping_method, created_at, updated_at, version) \
             SELECT gen_random_uuid(), t.id, o.customer_id, o.status, o.currency, o.subtotal, o.total, \
             o.shipping_address, o.shipping_method, o.created_at, o.updated_at, 1 \
             FROM orders o, tenants t WHERE t.slug = '{slug}'"
        )
    };
    let refused = db.execute_unprepared(&copy_into("acme")).await.expect_err("another tenant's customer");
    assert!(refused.to_string().contains("orders_customer_in_tenant"), "{refused}");
    // The same row in the customer's own tenant is accepted.
    assert_eq!(db.execute_unprepared(&copy_into("demo")).await.expect("its own tenant").rows_affected(), 1);
}
