//! `listCustomers`, `createCustomer`, `getCustomer`, `updateCustomer`.

use commerce::auth::Role;
use serde_json::{Value, json};

use crate::assert_body_snapshot;
use crate::helpers::{Auth, sample_customer, spawn_app};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn emails(res: &crate::helpers::Response) -> Vec<String> {
    res.body["data"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn create_answers_201_with_the_customer_and_its_location() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let res = app.create_customer(Auth::Bearer(&token), sample_customer("Sofia.Chen@Example.com")).await;

    assert_eq!(res.status, 201);
    assert_body_snapshot!("create_customer_201", &res.body);
    assert_eq!(res.body["email"], "sofia.chen@example.com", "emails are stored lower-cased");
    assert_eq!(res.header("location"), Some(format!("/customers/{}", id(&res.body)).as_str()));
    let fetched = app.get_customer(Auth::Bearer(&token), &id(&res.body)).await;
    assert_eq!((fetched.status, &fetched.body), (200, &res.body));
    assert_eq!(fetched.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn a_duplicate_email_is_a_409_whatever_its_case() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.create_customer(Auth::Bearer(&token), sample_customer("dup@example.com")).await;

    let res = app.create_customer(Auth::Bearer(&token), sample_customer("DUP@example.com")).await;

    assert_eq!((res.status, res.code()), (409, "email_taken"));
    assert_eq!(res.error_locations(), ["/email"]);
}

#[tokio::test]
async fn create_points_at_invalid_fields() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let body =
        json!({"email": "nope", "firstName": "", "lastName": "C", "phone": "555", "defaultAddress": {"line1": "x"}});

    let res = app.create_customer(Auth::Bearer(&token), body).await;

    assert_eq!(res.status, 422);
    assert_eq!(
        res.error_locations(),
        [
            "/defaultAddress/city",
            "/defaultAddress/country",
            "/defaultAddress/name",
            "/defaultAddress/postalCode",
            "/email",
            "/firstName",
            "/phone"
        ]
    );
}

#[tokio::test]
async fn list_searches_names_and_emails_newest_first() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let auth = Auth::Bearer(&token);
    for (email, first, last) in
        [("a@example.com", "Ada", "Lovelace"), ("b@example.com", "Grace", "Hopper"), ("c@shop.test", "Alan", "Turing")]
    {
        let res = app.create_customer(auth, json!({"email": email, "firstName": first, "lastName": last})).await;
        assert_eq!(res.status, 201);
    }

    assert_eq!(emails(&app.list_customers(auth, &[]).await), ["c@shop.test", "b@example.com", "a@example.com"]);
    assert_eq!(emails(&app.list_customers(auth, &[("search", "HOPPER")]).await), ["b@example.com"]);
    assert_eq!(emails(&app.list_customers(auth, &[("search", "example")]).await), ["b@example.com", "a@example.com"]);
    let paged = app.list_customers(auth, &[("pageSize", "2"), ("page", "2")]).await;
    assert_eq!(emails(&paged), ["a@example.com"]);
    assert_eq!(
        paged.body["pagination"],
        json!({"page": 2, "pageSize": 2, "total": 3, "totalPages": 2, "totalExact": true})
    );
}

#[tokio::test]
async fn patch_changes_supplied_fields_and_null_clears() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let created = app.create_customer(Auth::Bearer(&token), sample_customer("p@example.com")).await.body;

    let res =
        app.update_customer(Auth::Bearer(&token), &id(&created), json!({"lastName": "Chen-Li", "phone": null})).await;

    assert_eq!((res.status, res.header("etag")), (200, Some("\"2\"")));
    let mut expected = created.clone();
    expected["lastName"] = json!("Chen-Li");
    expected["phone"] = Value::Null;
    expected["updatedAt"] = res.body["updatedAt"].clone();
    assert_eq!(res.body, expected);
    let cleared = app.update_customer(Auth::Bearer(&token), &id(&created), json!({"defaultAddress": null})).await;
    assert_eq!(cleared.body["defaultAddress"], Value::Null);
    assert_eq!(cleared.body["firstName"], "Sofia");
}

#[tokio::test]
async fn patch_with_a_stale_if_match_is_a_412_and_a_current_one_applies() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let customer = id(&app.create_customer(Auth::Bearer(&token), sample_customer("e@example.com")).await.body);
    let path = [("customerId", customer.as_str())];
    let patch = |etag: &'static str, name: &'static str| {
        let (app, path, token) = (&app, &path, &token);
        async move {
            let body = Some(json!({"firstName": name}).into());
            app.call_with_headers("updateCustomer", Auth::Bearer(token), path, &[], body, &[("If-Match", etag)]).await
        }
    };

    assert_eq!(patch("\"1\"", "First").await.status, 200);
    let stale = patch("\"1\"", "Second").await;
    assert_eq!((stale.status, stale.code()), (412, "precondition_failed"));
    assert_eq!(stale.body["detail"], "the customer has changed since ETag \"1\"; its current ETag is \"2\"");
    assert_eq!(app.get_customer(Auth::Bearer(&token), &customer).await.body["firstName"], "First");
    assert_eq!(patch("W/\"2\"", "Third").await.status, 200, "weak tags compare by version");
}

#[tokio::test]
async fn patch_to_a_taken_email_is_a_409() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.create_customer(Auth::Bearer(&token), sample_customer("taken@example.com")).await;
    let other = id(&app.create_customer(Auth::Bearer(&token), sample_customer("other@example.com")).await.body);

    let res = app.update_customer(Auth::Bearer(&token), &other, json!({"email": "Taken@example.com"})).await;

    assert_eq!((res.status, res.code()), (409, "email_taken"));
}

#[tokio::test]
async fn a_customer_account_sees_and_updates_only_its_own_record() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let someone = id(&app.create_customer(Auth::Bearer(&admin), sample_customer("someone@example.com")).await.body);
    let me = app.token_with_role(Role::Customer).await;
    let auth = Auth::Bearer(&me);

    let listed = app.list_customers(auth, &[]).await;
    assert_eq!(listed.body["pagination"]["total"], 1);
    let own = id(&listed.body["data"][0]);
    assert_ne!(own, someone);

    assert_eq!(app.get_customer(auth, &own).await.status, 200);
    assert_eq!(app.get_customer(auth, &someone).await.status, 404);
    assert_eq!(app.update_customer(auth, &someone, json!({"firstName": "X"})).await.status, 404);
    assert_eq!(app.update_customer(auth, &own, json!({"firstName": "Me"})).await.body["firstName"], "Me");
    let create = app.create_customer(auth, sample_customer("new@example.com")).await;
    assert_eq!((create.status, create.code()), (403, "forbidden"));
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_touch_a_customer() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = app.create_customer(Auth::Bearer(&admin), sample_customer("mine@example.com")).await.body;
    let intruder = app.other_tenant_token("acme").await;
    let auth = Auth::Bearer(&intruder);

    assert_eq!(app.get_customer(auth, &id(&customer)).await.status, 404);
    assert_eq!(app.update_customer(auth, &id(&customer), json!({"firstName": "X"})).await.status, 404);
    assert_eq!(app.list_customers(auth, &[]).await.body["pagination"]["total"], 0);
    assert_eq!(
        app.create_customer(auth, sample_customer("mine@example.com")).await.status,
        201,
        "emails are per tenant"
    );
    assert_eq!(app.get_customer(Auth::Bearer(&admin), &id(&customer)).await.body, customer);
}
