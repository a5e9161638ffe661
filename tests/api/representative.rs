//! One representative response per (operation, status), snapshotted as `snapshots/<op>_<status>.snap`:
//! a scenario that walks every operation through its successes and business-rule refusals (the
//! generic refusals are snapshotted by `statuses.rs`), and a check that no documented pair with a
//! body lacks its snapshot.

use commerce_spec::Spec;
use serde_json::{Value, json};

use crate::assert_body_snapshot;
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Auth, Body, Response, address, sample_customer, sample_product, spawn_app,
};

fn snap(operation: &str, res: &Response) {
    assert_body_snapshot!(format!("{operation}_{}", res.status), &res.body);
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_operation_has_a_representative_response_per_status() {
    let app = spawn_app().await;
    let login = app.login(json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    snap("login", &login);
    let refreshed = app.refresh_token(login.body["refreshToken"].as_str().unwrap()).await;
    snap("refreshToken", &refreshed);
    // The reuse ends that session: the walk goes on in a new one.
    snap("refreshToken", &app.refresh_token(login.body["refreshToken"].as_str().unwrap()).await);
    snap("login", &app.login(json!({"tenant": "demo", "email": ADMIN_EMAIL, "password": "wrong"})).await);
    let token = app.admin_token().await;
    let auth = Auth::Bearer(&token);
    let if_match = |etag: &'static str| [("If-Match", etag)];

    // Products.
    let product = app.create_product(auth, sample_product("REP-1")).await;
    snap("createProduct", &product);
    snap("createProduct", &app.create_product(auth, sample_product("REP-1")).await);
    let pid = id(&product.body);
    app.product(&token, "REP-2", json!({})).await;
    snap("listProducts", &app.list_products(auth, &[("sort", "name")]).await);
    snap("getProduct", &app.get_product(auth, &pid).await);
    let path = [("productId", pid.as_str())];
    let body = || Some(Body::Json(json!({"price": 9900})));
    snap("updateProduct", &app.call_with_headers("updateProduct", auth, &path, &[], body(), &if_match("\"1\"")).await);
    snap("updateProduct", &app.call_with_headers("updateProduct", auth, &path, &[], body(), &if_match("\"1\"")).await);
    snap("updateProduct", &app.update_product(auth, &pid, json!({"sku": "REP-2"})).await);

    // Customers.
    let customer = app.create_customer(auth, sample_customer("rep@example.com")).await;
    snap("createCustomer", &customer);
    snap("createCustomer", &app.create_customer(auth, sample_customer("rep@example.com")).await);
    let cid = id(&customer.body);
    app.create_customer(auth, sample_customer("other@example.com")).await;
    snap("listCustomers", &app.list_customers(auth, &[("search", "rep@")]).await);
    snap("getCustomer", &app.get_customer(auth, &cid).await);
    let path = [("customerId", cid.as_str())];
    let body = || Some(Body::Json(json!({"lastName": "Chen-Li", "phone": null})));
    snap(
        "updateCustomer",
        &app.call_with_headers("updateCustomer", auth, &path, &[], body(), &if_match("\"1\"")).await,
    );
    snap(
        "updateCustomer",
        &app.call_with_headers("updateCustomer", auth, &path, &[], body(), &if_match("\"1\"")).await,
    );
    snap("updateCustomer", &app.update_customer(auth, &cid, json!({"email": "other@example.com"})).await);

    // Orders.
    let order_body = |quantity: i64| json!({"customerId": cid, "items": [{"productId": pid, "quantity": quantity}], "shippingAddress": address()});
    let order = app.create_order(auth, order_body(2)).await;
    snap("createOrder", &order);
    snap("createOrder", &app.create_order(auth, order_body(1000)).await);
    let oid = id(&order.body);
    snap("listOrders", &app.list_orders(auth, &[("status", "pending")]).await);
    snap("getOrder", &app.get_order(auth, &oid).await);
    let path = [("orderId", oid.as_str())];
    let body = || Some(Body::Json(json!({"status": "confirmed"})));
    snap(
        "updateOrderStatus",
        &app.call_with_headers("updateOrderStatus", auth, &path, &[], body(), &if_match("\"1\"")).await,
    );
    snap(
        "updateOrderStatus",
        &app.call_with_headers("updateOrderStatus", auth, &path, &[], body(), &if_match("\"1\"")).await,
    );
    snap("updateOrderStatus", &app.update_order_status(auth, &oid, json!({"status": "delivered"})).await);

    // Statuses without a body are checked by the contract, not snapshotted.
    assert_eq!(app.delete_product(auth, &pid).await.status, 204);
    assert_eq!(app.logout(auth).await.status, 204);
}

#[test]
fn every_documented_status_with_a_body_has_a_snapshot() {
    let spec = Spec::parse(commerce::spec::SOURCE_YAML).unwrap();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots");
    let mut missing = Vec::new();
    for op in spec.operations().unwrap() {
        for (status, response) in &op.responses {
            let has_body = response.get("content").is_some();
            let file = format!("{dir}/{}_{status}.snap", op.name);
            if has_body && !std::path::Path::new(&file).exists() {
                missing.push(format!("{} {status}", op.name));
            }
        }
    }
    assert!(missing.is_empty(), "no representative snapshot for: {missing:?}");
}
