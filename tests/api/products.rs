//! `listProducts`, `createProduct`, `getProduct`, `updateProduct`, `deleteProduct`.

use commerce::auth::Role;
use serde_json::{Value, json};

use crate::assert_body_snapshot;
use crate::helpers::{Auth, Body, TestApp, sample_product, spawn_app};

fn id(product: &Value) -> String {
    product["id"].as_str().unwrap().to_string()
}

fn skus(res: &crate::helpers::Response) -> Vec<String> {
    res.body["data"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_string()).collect()
}

async fn app_with_admin() -> (TestApp, String) {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    (app, token)
}

#[tokio::test]
async fn create_answers_201_with_the_product_and_its_location() {
    let (app, token) = app_with_admin().await;

    let res = app.create_product(Auth::Bearer(&token), sample_product("FW-RUN-001")).await;

    assert_eq!(res.status, 201);
    assert_body_snapshot!("create_product_201", &res.body);
    assert_eq!(res.header("location"), Some(format!("/products/{}", id(&res.body)).as_str()));
    assert_eq!(res.body["createdAt"], res.body["updatedAt"]);
    let fetched = app.get_product(Auth::Bearer(&token), &id(&res.body)).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, res.body, "a read returns exactly what the create answered");
    // The 201 carries the new version's ETag: a client can update safely without a read first.
    assert_eq!(res.header("etag"), fetched.header("etag"));
    let changed = app
        .call_with_headers(
            "updateProduct",
            Auth::Bearer(&token),
            &[("productId", &id(&res.body))],
            &[],
            Some(json!({"stock": 7}).into()),
            &[("If-Match", res.header("etag").unwrap())],
        )
        .await;
    assert_eq!(changed.status, 200);
}

#[tokio::test]
async fn create_applies_the_spec_defaults() {
    let (app, token) = app_with_admin().await;
    let body = json!({"sku": "MIN-1", "name": "Minimal", "category": "home", "price": 0, "currency": "EUR"});

    let res = app.create_product(Auth::Bearer(&token), body).await;

    assert_eq!(res.status, 201);
    assert_eq!(
        (&res.body["description"], &res.body["stock"], &res.body["active"], &res.body["tags"], &res.body["images"]),
        (&json!(""), &json!(0), &json!(true), &json!([]), &json!([]))
    );
}

#[tokio::test]
async fn create_needs_the_products_write_permission() {
    let app = spawn_app().await;
    let customer = app.token_with_role(Role::Customer).await;
    let staff = app.token_with_role(Role::Staff).await;

    let refused = app.create_product(Auth::Bearer(&customer), sample_product("C-1")).await;
    assert_eq!((refused.status, refused.code()), (403, "forbidden"));
    assert_body_snapshot!("create_product_403", &refused.body);

    assert_eq!(app.create_product(Auth::Bearer(&staff), sample_product("C-1")).await.status, 201);
    assert_eq!(app.list_products(Auth::Bearer(&customer), &[]).await.status, 200, "customers can browse");
}

#[tokio::test]
async fn create_points_at_every_invalid_field() {
    let (app, token) = app_with_admin().await;
    let body = json!({
        "sku": "not a sku!",
        "name": "",
        "category": "food",
        "price": -1,
        "currency": "usd",
        "stock": 1.5,
        "tags": ["a", "a"],
        "images": ["not a url"],
        "colour": "red"
    });

    let res = app.create_product(Auth::Bearer(&token), body).await;

    assert_eq!((res.status, res.code()), (422, "validation_failed"));
    assert_eq!(
        res.error_locations(),
        ["/category", "/colour", "/currency", "/images/0", "/name", "/price", "/sku", "/stock", "/tags"]
    );
    assert_body_snapshot!("create_product_422", &res.body);
}

#[tokio::test]
async fn create_refuses_bodies_that_are_not_json_objects() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);

    let truncated = app.create_product(auth, Body::Raw("application/json", "{\"sku\": \"A\"")).await;
    assert_eq!((truncated.status, truncated.code()), (400, "invalid_json"));
    let empty = app.create_product(auth, Body::Raw("application/json", "")).await;
    assert_eq!((empty.status, empty.code()), (400, "empty_body"));
    let array = app.create_product(auth, json!([1, 2])).await;
    assert_eq!(array.status, 422);
    let text = app.create_product(auth, Body::Raw("text/plain", "sku=A")).await;
    assert_eq!(text.status, 415);
}

#[tokio::test]
async fn a_duplicate_sku_is_a_409_until_the_first_product_is_deleted() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    let first = app.product(&token, "DUP-1", json!({})).await;

    let duplicate = app.create_product(auth, sample_product("DUP-1")).await;
    assert_eq!((duplicate.status, duplicate.code()), (409, "sku_taken"));
    assert_eq!(duplicate.error_locations(), ["/sku"]);

    assert_eq!(app.delete_product(auth, &id(&first)).await.status, 204);
    assert_eq!(app.create_product(auth, sample_product("DUP-1")).await.status, 201, "a deleted product frees its sku");
}

#[tokio::test]
async fn get_answers_404_for_unknown_ids_and_400_for_malformed_ones() {
    let (app, token) = app_with_admin().await;

    let missing = app.get_product(Auth::Bearer(&token), "0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01").await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));

    let malformed = app.get_product(Auth::Bearer(&token), "not-a-uuid").await;
    assert_eq!((malformed.status, malformed.code()), (400, "invalid_parameter"));
    assert_eq!(malformed.error_locations(), ["productId"]);
}

#[tokio::test]
async fn list_filters_by_category_active_and_search() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    app.product(&token, "F-1", json!({"name": "Trail Runner", "category": "footwear"})).await;
    app.product(&token, "F-2", json!({"name": "City Sneaker", "category": "footwear", "active": false})).await;
    app.product(
        &token,
        "A-1",
        json!({"name": "Rain Shell", "category": "apparel", "description": "Taped seams, RUNNER fit"}),
    )
    .await;
    app.product(&token, "H-1", json!({"name": "50% Off Mug", "category": "home", "description": "mug"})).await;

    assert_eq!(skus(&app.list_products(auth, &[("category", "footwear"), ("sort", "name")]).await), ["F-2", "F-1"]);
    assert_eq!(skus(&app.list_products(auth, &[("active", "false")]).await), ["F-2"]);
    assert_eq!(skus(&app.list_products(auth, &[("search", "runner"), ("sort", "name")]).await), ["A-1", "F-1"]);
    assert_eq!(skus(&app.list_products(auth, &[("search", "50%")]).await), ["H-1"], "the word 50; % is no wildcard");
    assert_eq!(
        skus(&app.list_products(auth, &[("search", "0_")]).await),
        Vec::<String>::new(),
        "no word starts with 0"
    );
    assert_eq!(skus(&app.list_products(auth, &[("search", "%_*\"")]).await), Vec::<String>::new(), "no word at all");
    let combined = app.list_products(auth, &[("category", "footwear"), ("active", "true"), ("search", "TRAIL")]).await;
    assert_eq!(skus(&combined), ["F-1"]);
    assert_eq!(
        combined.body["pagination"],
        json!({"page": 1, "pageSize": 20, "total": 1, "totalPages": 1, "totalExact": true})
    );
}

#[tokio::test]
async fn search_is_full_text_stemmed_prefixed_ranked_and_kept_current() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    let make = |sku: &'static str, name: &'static str, description: &'static str| {
        let (app, token) = (&app, &token);
        async move { app.product(token, sku, json!({"name": name, "description": description})).await }
    };
    make("MUG", "Ceramic Mug", "A mug for coffee.").await;
    make("BEANS", "Coffee Beans", "Roasted beans.").await;
    make("RACK", "Mugs Rack", "Holds six.").await;
    let cup = make("CUP", "Tea Cup", "Not quite a mug: a ceramic cup.").await;
    let intruder = app.other_tenant_token("acme").await;
    app.product(&intruder, "OTHER", json!({"name": "Ceramic Mug of another tenant"})).await;

    let search = |query: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move { skus(&app.list_products(auth, &query).await) }
    };
    // Stemmed (mugs finds mug), name matches before description matches, other tenants unseen.
    let mugs = search(vec![("search", "mugs")]).await;
    assert_eq!(mugs.len(), 3, "{mugs:?}");
    assert_eq!(mugs[2], "CUP", "a description match ranks after name matches: {mugs:?}");
    // A prefix, as typed; every word must match.
    assert_eq!(search(vec![("search", "cer")]).await, ["MUG", "CUP"]);
    assert_eq!(search(vec![("search", "coffee mug")]).await, ["MUG"]);
    assert_eq!(search(vec![("search", "CERAMIC")]).await, ["MUG", "CUP"], "case is ignored");
    // A word as typed so far is a prefix even where it is a whole stop word ("so" of "socks").
    make("SOCKS", "Wool Socks", "Knitted.").await;
    assert_eq!(search(vec![("search", "so")]).await, ["SOCKS"]);
    assert_eq!(search(vec![("search", "wool so")]).await, ["SOCKS"]);
    // A word longer than the stems PostgreSQL's search remembers is found all the same, twice.
    make("LONG", "Pneumonoultramicroscopicsilicovolcanoconiosis Kit", "Words.").await;
    for _ in 0..2 {
        assert_eq!(search(vec![("search", "pneumonoultramicroscopicsilicovolcanoconiosis")]).await, ["LONG"]);
    }
    // An explicit sort replaces relevance; order=desc reverses relevance.
    assert_eq!(search(vec![("search", "cer"), ("sort", "name")]).await, ["MUG", "CUP"]);
    assert_eq!(search(vec![("search", "cer"), ("order", "desc")]).await, ["CUP", "MUG"]);
    assert_eq!(search(vec![("search", "mug"), ("sort", "name"), ("order", "desc")]).await, ["CUP", "RACK", "MUG"]);
    // The index follows every write, in the product's own transaction.
    let renamed = app.update_product(auth, cup["id"].as_str().unwrap(), json!({"name": "Espresso Cup"})).await;
    assert_eq!(renamed.status, 200, "{:#}", renamed.body);
    assert_eq!(search(vec![("search", "espresso")]).await, ["CUP"]);
    assert_eq!(search(vec![("search", "tea")]).await, Vec::<String>::new());
    assert_eq!(app.delete_product(auth, cup["id"].as_str().unwrap()).await.status, 204);
    assert_eq!(search(vec![("search", "espresso")]).await, Vec::<String>::new());
    let other = skus(&app.list_products(Auth::Bearer(&intruder), &[("search", "mug")]).await);
    assert_eq!(other, ["OTHER"], "each tenant sees only its own matches");
}

#[tokio::test]
async fn a_prefix_finds_the_words_written_since_it_was_searched_and_any_number_of_words() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    let search = |search: &'static str| {
        let app = &app;
        async move { skus(&app.list_products(auth, &[("search", search), ("pageSize", "100")]).await) }
    };
    let lamp = app.product(&token, "LAMP", json!({"name": "Desk Lamp", "description": "Bright."})).await;
    assert_eq!(search("lam").await, ["LAMP"]);
    assert_eq!(search("lamb").await, Vec::<String>::new());
    // Words no product held when the same prefixes were searched a moment ago: a new product's,
    // then a renamed one's.
    app.product(&token, "LAMB", json!({"name": "Lambskin Gloves", "description": "Soft."})).await;
    assert_eq!(search("lam").await, ["LAMB", "LAMP"]);
    assert_eq!(search("lamb").await, ["LAMB"]);
    assert_eq!(search("lampl").await, Vec::<String>::new());
    let renamed = app.update_product(auth, lamp["id"].as_str().unwrap(), json!({"name": "Lamplighter Stand"})).await;
    assert_eq!(renamed.status, 200, "{:#}", renamed.body);
    assert_eq!(search("lampl").await, ["LAMP"]);
    assert_eq!(search("desk").await, Vec::<String>::new());
    // A prefix of more words than a search spells out finds every product holding one, alone and
    // beside another word; and one that no word starts matches nothing, beside any other.
    let mut made = Vec::new();
    for letter in 'a'..='t' {
        let (sku, name) = (format!("ZETA-{letter}"), format!("Zeta{letter}{letter} Widget"));
        app.product(&token, &sku, json!({"name": name, "description": "One of twenty."})).await;
        made.push(sku);
    }
    made.reverse(); // newest first
    assert_eq!(search("zet").await, made);
    assert_eq!(search("widget zet").await, made);
    assert_eq!(search("zetaj").await, ["ZETA-j"]);
    assert_eq!(search("zetq widget").await, Vec::<String>::new());
}

#[tokio::test]
async fn search_lists_name_matches_then_description_matches_newest_first_across_pages() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    // Created oldest first; "lantern" in the name (N) or only in the description (D).
    for (sku, name, description) in [
        ("N-1", "Brass Lantern", "For the porch."),
        ("D-1", "Porch Light", "Brighter than a lantern."),
        ("N-2", "Camping Lantern", "Folds flat."),
        ("D-2", "Tea Light", "Lantern-sized candle."),
        ("N-3", "Lantern Hook", "Holds one."),
        ("OTHER", "Garden Hose", "Twenty metres."),
    ] {
        app.product(&token, sku, json!({"name": name, "description": description, "category": "home"})).await;
    }
    let listed = |query: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move {
            let res = app.list_products(auth, &query).await;
            assert_eq!(res.status, 200, "{query:?}: {:#}", res.body);
            res
        }
    };
    let best_first = ["N-3", "N-2", "N-1", "D-2", "D-1"];
    assert_eq!(skus(&listed(vec![("search", "lantern")]).await), best_first);
    let mut worst_first = best_first;
    worst_first.reverse();
    assert_eq!(skus(&listed(vec![("search", "lant"), ("order", "desc")]).await), worst_first);
    // Pages of two cross from the name matches to the others and continue in them, by page number
    // and by cursor alike; each page counts the same total.
    let (mut numbered, mut walked, mut cursor) = (Vec::new(), Vec::new(), None::<String>);
    // Pages past the last match (right after it and far beyond) are empty and count the same.
    for page in ["1", "2", "3", "4", "9"] {
        let res = listed(vec![("search", "lantern"), ("pageSize", "2"), ("page", page)]).await;
        assert_eq!(res.body["pagination"]["total"], 5);
        assert_eq!(res.body["pagination"]["totalExact"], true);
        numbered.push(skus(&res));
    }
    assert_eq!(numbered, [vec!["N-3", "N-2"], vec!["N-1", "D-2"], vec!["D-1"], vec![], vec![]]);
    for page in ["1", "2"] {
        let res = listed(vec![("search", "lanterns zeppelin"), ("page", page)]).await;
        assert_eq!((skus(&res).len(), &res.body["pagination"]["total"]), (0, &json!(0)), "nothing matches");
    }
    let mut reversed = Vec::new();
    for page in ["1", "2", "3"] {
        reversed.push(skus(
            &listed(vec![("search", "lantern"), ("order", "desc"), ("pageSize", "2"), ("page", page)]).await,
        ));
    }
    assert_eq!(reversed, [vec!["D-1", "D-2"], vec!["N-1", "N-2"], vec!["N-3"]]);
    loop {
        let mut query = vec![("search", "lantern"), ("pageSize", "2")];
        let c = cursor.clone().unwrap_or_default();
        if cursor.is_some() {
            query.push(("cursor", &c));
        }
        let res = app.list_products(auth, &query).await;
        walked.extend(skus(&res));
        match res.body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(walked, best_first);
    // A word in the name of one and the description of another: both words must match somewhere.
    assert_eq!(skus(&listed(vec![("search", "porch lantern")]).await), ["D-1", "N-1"]);
    // An explicit sort replaces relevance and keeps the same matches.
    assert_eq!(skus(&listed(vec![("search", "lantern"), ("sort", "name")]).await), ["N-1", "N-2", "N-3", "D-1", "D-2"]);
}

#[tokio::test]
async fn search_totals_count_only_the_tenant_s_live_products_its_filters_keep() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let auth = Auth::Bearer(&token);
    let shopper = app.token_with_role(Role::Customer).await;
    let intruder = app.other_tenant_token("acme").await;
    let kettle =
        |category: &'static str, active: bool| json!({"name": "Steel Kettle", "category": category, "active": active});
    let a = app.product(&token, "K-HOME", kettle("home", true)).await;
    app.product(&token, "K-HOME-OFF", kettle("home", false)).await;
    let b = app.product(&token, "K-ELEC", kettle("electronics", true)).await;
    let count = |who: &'static str, query: Vec<(&'static str, &'static str)>| {
        let (app, token, shopper) = (&app, &token, &shopper);
        async move {
            let auth = Auth::Bearer(if who == "shopper" { shopper } else { token });
            let mut query = query;
            query.push(("search", "kettle"));
            let res = app.list_products(auth, &query).await;
            assert_eq!(res.status, 200, "{:#}", res.body);
            assert_eq!(res.body["pagination"]["total"].as_u64().unwrap() as usize, skus(&res).len(), "{:#}", res.body);
            let mut found = skus(&res);
            found.sort();
            found
        }
    };
    // Alone in the catalogue, then beside another tenant's match.
    assert_eq!(count("admin", vec![]).await, ["K-ELEC", "K-HOME", "K-HOME-OFF"]);
    app.product(&intruder, "K-ACME", kettle("home", true)).await;
    assert_eq!(count("admin", vec![]).await, ["K-ELEC", "K-HOME", "K-HOME-OFF"], "never the other tenant's");
    assert_eq!(count("admin", vec![("category", "home")]).await, ["K-HOME", "K-HOME-OFF"]);
    assert_eq!(count("admin", vec![("active", "false")]).await, ["K-HOME-OFF"]);
    assert_eq!(count("admin", vec![("active", "true"), ("category", "home")]).await, ["K-HOME"]);
    assert_eq!(count("shopper", vec![]).await, ["K-ELEC", "K-HOME"], "a shopper never sees inactive ones");
    assert_eq!(count("shopper", vec![("active", "false")]).await, Vec::<String>::new());
    // The index follows a product's category, active flag and deletion in the same write.
    let moved = app.update_product(auth, b["id"].as_str().unwrap(), json!({"category": "home", "active": false})).await;
    assert_eq!(moved.status, 200, "{:#}", moved.body);
    assert_eq!(count("admin", vec![("category", "home"), ("active", "false")]).await, ["K-ELEC", "K-HOME-OFF"]);
    assert_eq!(count("admin", vec![("category", "electronics")]).await, Vec::<String>::new());
    assert_eq!(count("shopper", vec![]).await, ["K-HOME"]);
    assert_eq!(app.delete_product(auth, a["id"].as_str().unwrap()).await.status, 204);
    assert_eq!(count("admin", vec![]).await, ["K-ELEC", "K-HOME-OFF"]);
    let theirs = app.list_products(Auth::Bearer(&intruder), &[("search", "kettle")]).await;
    assert_eq!((skus(&theirs), &theirs.body["pagination"]["total"]), (vec!["K-ACME".to_string()], &json!(1)));
    // A typed word never reaches the scope the index keeps as words (`k`, the tenant's id in hex,
    // `q`, ...): `k` and `k` with a hex digit find only products with such a word.
    app.product(&token, "MUG", json!({"name": "Plain Mug", "description": "Stoneware."})).await;
    for typed in
        ["k", "K", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "ka", "kb", "kc", "kd", "ke", "kf"]
    {
        let found = app.list_products(Auth::Bearer(&token), &[("search", typed), ("pageSize", "50")]).await;
        let kettles = if ["k", "K", "ke"].contains(&typed) { vec!["K-ELEC", "K-HOME-OFF"] } else { vec![] };
        let mut found_skus = skus(&found);
        found_skus.sort();
        assert_eq!(found_skus, kettles, "{typed}: {}", found.body);
    }
}

#[tokio::test]
async fn a_cursor_walks_every_listing_as_page_numbers_do_and_refuses_other_queries() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    for (i, (name, price, stock)) in [
        ("delta", 300, 5),
        ("Alpha", 100, 5),
        ("charlie", 300, 2),
        ("bravo", 200, 9),
        ("echo", 100, 1),
        ("Foxtrot", 500, 5),
        ("golf", 300, 7),
    ]
    .into_iter()
    .enumerate()
    {
        let changes = json!({"name": name, "price": price, "stock": stock, "description": "same words"});
        app.product(&token, &format!("K-{i}"), changes).await;
    }
    let queries: [&[(&str, &str)]; 7] = [
        &[],
        &[("sort", "price")],
        &[("sort", "price"), ("order", "desc")],
        &[("sort", "name")],
        &[("sort", "stock"), ("order", "desc")],
        &[("sort", "createdAt"), ("order", "desc")],
        &[("search", "same words")],
    ];
    for query in queries {
        let mut numbered = Vec::new();
        for page in ["1", "2", "3"] {
            let mut q = query.to_vec();
            q.extend([("pageSize", "3"), ("page", page)]);
            numbered.extend(skus(&app.list_products(auth, &q).await));
        }
        let (mut walked, mut cursor, mut pages) = (Vec::new(), None::<String>, Vec::new());
        loop {
            let mut q = query.to_vec();
            q.push(("pageSize", "3"));
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let res = app.list_products(auth, &q).await;
            assert_eq!(res.status, 200, "{query:?}: {:#}", res.body);
            walked.extend(skus(&res));
            pages.push(res.body["pagination"]["page"].as_i64().unwrap());
            match res.body.get("nextCursor").and_then(|c| c.as_str()) {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
        }
        assert_eq!(walked, numbered, "{query:?}: the cursor walk lists what page numbers list");
        assert_eq!(pages, [1, 2, 3], "{query:?}");
    }

    // A cursor continues its own query only, and only a cursor the service wrote is read.
    let first = app.list_products(auth, &[("sort", "price"), ("pageSize", "3")]).await;
    let cursor = first.body["nextCursor"].as_str().unwrap().to_string();
    for wrong in [vec![("sort", "name"), ("pageSize", "3")], vec![("sort", "price"), ("pageSize", "4")]] {
        let mut q = wrong.clone();
        q.push(("cursor", &cursor));
        let res = app.list_products(auth, &q).await;
        assert_eq!((res.status, res.code()), (400, "invalid_parameter"), "{wrong:?}");
        assert_eq!(res.error_locations(), ["cursor"]);
    }
    let forged = app.list_products(auth, &[("cursor", "bm90LWEtY3Vyc29y")]).await;
    assert_eq!((forged.status, forged.code()), (400, "invalid_parameter"));

    // Keyset pages never repeat a row when one is inserted ahead of them meanwhile.
    let page_one = skus(&first);
    app.product(&token, "K-CHEAP", json!({"name": "cheap", "price": 1})).await;
    let next = app.list_products(auth, &[("sort", "price"), ("pageSize", "3"), ("cursor", &cursor)]).await;
    assert!(skus(&next).iter().all(|s| !page_one.contains(s)), "{page_one:?} then {:?}", skus(&next));
}

#[tokio::test]
async fn listing_totals_follow_every_write_without_counting_the_catalogue() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    let total = |query: Vec<(&'static str, &'static str)>| {
        let app = &app;
        async move { app.list_products(auth, &query).await.body["pagination"]["total"].as_i64().unwrap() }
    };
    let start = total(vec![]).await; // the demo catalogue, if any
    let home = total(vec![("category", "home")]).await;
    let a = app.product(&token, "T-1", json!({"category": "home"})).await;
    let b = app.product(&token, "T-2", json!({"category": "home"})).await;
    app.product(&token, "T-3", json!({"category": "apparel", "active": false})).await;
    assert_eq!(total(vec![]).await, start + 3);
    assert_eq!(total(vec![("category", "home")]).await, home + 2);
    let inactive = total(vec![("active", "false")]).await;
    assert!(inactive >= 1);
    // A move to another category, a deactivation and a delete each move the counts.
    let id = |p: &serde_json::Value| p["id"].as_str().unwrap().to_string();
    assert_eq!(app.update_product(auth, &id(&a), json!({"category": "apparel"})).await.status, 200);
    assert_eq!(app.update_product(auth, &id(&b), json!({"active": false})).await.status, 200);
    assert_eq!(total(vec![("category", "home")]).await, home + 1);
    assert_eq!(total(vec![("category", "home"), ("active", "true")]).await, home);
    assert_eq!(total(vec![("active", "false")]).await, inactive + 1);
    assert_eq!(app.delete_product(auth, &id(&b)).await.status, 204);
    assert_eq!(total(vec![("category", "home")]).await, home);
    assert_eq!(total(vec![]).await, start + 2);
    // Every total equals the rows it counts.
    for query in [
        vec![],
        vec![("category", "apparel")],
        vec![("active", "false")],
        vec![("category", "home"), ("active", "true")],
    ] {
        let mut all = query.clone();
        all.push(("pageSize", "100"));
        let listed = app.list_products(auth, &all).await;
        let rows = listed.body["data"].as_array().unwrap().len() as i64;
        assert_eq!(listed.body["pagination"]["total"].as_i64().unwrap(), rows, "{query:?}");
    }
    let other = app.other_tenant_token("acme").await;
    let theirs = app.list_products(Auth::Bearer(&other), &[]).await;
    assert_eq!(theirs.body["pagination"]["total"], 0, "each tenant counts its own");
}

#[tokio::test]
async fn list_sorts_by_each_field_in_both_directions() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    app.product(&token, "S-1", json!({"name": "banana", "price": 300, "stock": 1})).await;
    app.product(&token, "S-2", json!({"name": "Apple", "price": 100, "stock": 3})).await;
    app.product(&token, "S-3", json!({"name": "cherry", "price": 200, "stock": 2})).await;

    let sorted = |sort: &'static str, order: &'static str| {
        let app = &app;
        async move { skus(&app.list_products(auth, &[("sort", sort), ("order", order)]).await) }
    };
    assert_eq!(sorted("name", "asc").await, ["S-2", "S-1", "S-3"], "names sort case-insensitively");
    assert_eq!(sorted("price", "desc").await, ["S-1", "S-3", "S-2"]);
    assert_eq!(sorted("stock", "asc").await, ["S-1", "S-3", "S-2"]);
    assert_eq!(sorted("createdAt", "desc").await, ["S-3", "S-2", "S-1"]);
    assert_eq!(skus(&app.list_products(auth, &[]).await), ["S-1", "S-2", "S-3"], "default: createdAt ascending");
}

#[tokio::test]
async fn list_pages_cover_every_product_exactly_once() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    for i in 0..7 {
        app.product(&token, &format!("P-{i}"), json!({"price": 100})).await;
    }

    let mut seen = Vec::new();
    for page in ["1", "2", "3"] {
        let res = app.list_products(auth, &[("pageSize", "3"), ("page", page), ("sort", "price")]).await;
        assert_eq!(res.body["pagination"]["total"], 7);
        assert_eq!(res.body["pagination"]["totalPages"], 3);
        seen.extend(skus(&res));
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("P-{i}")).collect::<Vec<_>>());
    let beyond = app.list_products(auth, &[("pageSize", "3"), ("page", "4")]).await;
    assert_eq!((beyond.status, skus(&beyond).len()), (200, 0));
    assert_body_snapshot!("list_products_200_beyond_last_page", &beyond.body);
}

#[tokio::test]
async fn list_refuses_out_of_range_and_malformed_parameters() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    for (name, value) in [
        ("pageSize", "101"),
        ("pageSize", "0"),
        ("page", "0"),
        ("page", "two"),
        ("category", "food"),
        ("sort", "colour"),
        ("order", "up"),
        ("active", "maybe"),
        ("search", ""),
    ] {
        let res = app.list_products(auth, &[(name, value)]).await;
        assert_eq!((res.status, res.code()), (400, "invalid_parameter"), "{name}={value}");
        assert_eq!(res.error_locations(), [name], "{name}={value}");
    }
    let too_big = app.list_products(auth, &[("pageSize", "101")]).await;
    assert_eq!(too_big.body["errors"][0]["detail"], "101 is greater than the maximum of 100", "the spec explains it");
    assert_body_snapshot!("list_products_400", &too_big.body);
}

#[tokio::test]
async fn patch_changes_only_the_supplied_fields() {
    let (app, token) = app_with_admin().await;
    let created = app.product(&token, "PATCH-1", json!({})).await;

    let res = app.update_product(Auth::Bearer(&token), &id(&created), json!({"price": 11900, "tags": ["sale"]})).await;

    assert_eq!(res.status, 200);
    let mut expected = created.clone();
    expected["price"] = json!(11900);
    expected["tags"] = json!(["sale"]);
    expected["updatedAt"] = res.body["updatedAt"].clone();
    assert_eq!(res.body, expected);
    assert!(res.body["updatedAt"].as_str() > created["updatedAt"].as_str(), "updatedAt moves forward");
    assert_eq!(app.get_product(Auth::Bearer(&token), &id(&created)).await.body, res.body);
}

#[tokio::test]
async fn patch_refuses_empty_unknown_and_invalid_fields() {
    let (app, token) = app_with_admin().await;
    let product = id(&app.product(&token, "PATCH-2", json!({})).await);
    let auth = Auth::Bearer(&token);

    let empty = app.update_product(auth, &product, json!({})).await;
    assert_eq!(empty.status, 422);
    let unknown = app.update_product(auth, &product, json!({"id": "0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01"})).await;
    assert_eq!((unknown.status, unknown.error_locations()), (422, vec!["/id".to_string()]));
    let invalid = app.update_product(auth, &product, json!({"stock": -5})).await;
    assert_eq!((invalid.status, invalid.error_locations()), (422, vec!["/stock".to_string()]));
}

#[tokio::test]
async fn patch_to_a_taken_sku_is_a_409_and_changes_nothing() {
    let (app, token) = app_with_admin().await;
    app.product(&token, "TAKEN", json!({})).await;
    let other = app.product(&token, "OTHER", json!({})).await;

    let res = app.update_product(Auth::Bearer(&token), &id(&other), json!({"sku": "TAKEN", "price": 1})).await;

    assert_eq!((res.status, res.code()), (409, "sku_taken"));
    assert_eq!(app.get_product(Auth::Bearer(&token), &id(&other)).await.body, other);
}

#[tokio::test]
async fn delete_is_soft_and_the_product_vanishes_from_every_read() {
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    let product = id(&app.product(&token, "DEL-1", json!({})).await);
    app.product(&token, "KEEP-1", json!({})).await;

    assert_eq!(app.delete_product(auth, &product).await.status, 204);

    assert_eq!(app.get_product(auth, &product).await.status, 404);
    assert_eq!(skus(&app.list_products(auth, &[]).await), ["KEEP-1"]);
    assert_eq!(app.update_product(auth, &product, json!({"price": 1})).await.status, 404);
    assert_eq!(app.delete_product(auth, &product).await.status, 404);
}

#[tokio::test]
async fn patch_and_delete_need_the_products_write_permission() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let customer = app.token_with_role(Role::Customer).await;
    let product = id(&app.product(&admin, "PERM-1", json!({})).await);

    assert_eq!(app.update_product(Auth::Bearer(&customer), &product, json!({"price": 1})).await.status, 403);
    assert_eq!(app.delete_product(Auth::Bearer(&customer), &product).await.status, 403);
    assert_eq!(app.get_product(Auth::Bearer(&customer), &product).await.status, 200);
}

#[tokio::test]
async fn another_tenant_can_neither_see_nor_touch_a_product() {
    let (app, token) = app_with_admin().await;
    let product = app.product(&token, "MINE-1", json!({})).await;
    let intruder = app.other_tenant_token("acme").await;
    let auth = Auth::Bearer(&intruder);

    assert_eq!(app.get_product(auth, &id(&product)).await.status, 404);
    assert_eq!(app.update_product(auth, &id(&product), json!({"price": 1})).await.status, 404);
    assert_eq!(app.delete_product(auth, &id(&product)).await.status, 404);
    assert_eq!(skus(&app.list_products(auth, &[]).await), Vec::<String>::new());

    // The same sku is free in the other tenant, and the original is untouched.
    assert_eq!(app.create_product(auth, sample_product("MINE-1")).await.status, 201);
    assert_eq!(app.get_product(Auth::Bearer(&token), &id(&product)).await.body, product);
}

#[tokio::test]
async fn reads_carry_an_etag_and_a_stale_if_match_is_a_412() {
    let (app, token) = app_with_admin().await;
    let product = id(&app.product(&token, "ETAG-1", json!({})).await);
    let auth = Auth::Bearer(&token);
    let path = [("productId", product.as_str())];
    let patch = |etag: &'static str, price: i64| {
        let (app, path) = (&app, &path);
        async move {
            let body = Some(json!({"price": price}).into());
            app.call_with_headers("updateProduct", auth, path, &[], body, &[("If-Match", etag)]).await
        }
    };

    assert_eq!(app.get_product(auth, &product).await.header("etag"), Some("\"1\""));
    let applied = patch("\"1\"", 100).await;
    assert_eq!((applied.status, applied.header("etag")), (200, Some("\"2\"")));
    let stale = patch("\"1\"", 200).await;
    assert_eq!((stale.status, stale.code()), (412, "precondition_failed"));
    assert_eq!(app.get_product(auth, &product).await.body["price"], 100, "nothing changed");
    assert_eq!(patch("*", 300).await.status, 200, "* matches any version");
    let gone = app.delete_product(auth, &product).await;
    assert_eq!(gone.status, 204);
    assert_eq!(patch("\"4\"", 400).await.status, 404, "a deleted product is gone, whatever the tag");
}

#[tokio::test]
async fn a_read_after_a_write_on_the_same_instance_is_never_stale() {
    // Each step reads first (so the product and the listing are cached), writes, and reads again at
    // once, by id and through a listing page.
    let (app, token) = app_with_admin().await;
    let auth = Auth::Bearer(&token);
    let query = [("search", "fresh"), ("sort", "price"), ("pageSize", "5")];
    let listed = async || {
        let page = app.list_products(auth, &query).await.body;
        let skus = page["data"].as_array().unwrap().iter().map(|p| (p["sku"].clone(), p["stock"].clone())).collect();
        (skus, page["pagination"]["total"].clone())
    };
    let skus = |entries: &[(&str, i64)]| entries.iter().map(|(s, n)| (json!(s), json!(n))).collect::<Vec<_>>();
    assert_eq!(listed().await, (vec![], json!(0)));
    let product = app.product(&token, "FRESH-1", json!({"stock": 10, "price": 500, "name": "Fresh 1"})).await;
    assert_eq!(listed().await, (skus(&[("FRESH-1", 10)]), json!(1)), "after a create");
    let id = product["id"].as_str().unwrap();
    let stock = async || app.get_product(auth, id).await.body["stock"].clone();

    assert_eq!(stock().await, json!(10));
    assert_eq!(app.update_product(auth, id, json!({"stock": 9})).await.status, 200);
    assert_eq!(stock().await, json!(9), "after an update");
    let cheaper = app.product(&token, "FRESH-2", json!({"stock": 1, "price": 100, "name": "Fresh 2"})).await;
    assert_eq!(listed().await, (skus(&[("FRESH-2", 1), ("FRESH-1", 9)]), json!(2)), "after an update and a create");
    assert_eq!(app.update_product(auth, cheaper["id"].as_str().unwrap(), json!({"price": 900})).await.status, 200);
    assert_eq!(listed().await, (skus(&[("FRESH-1", 9), ("FRESH-2", 1)]), json!(2)), "after a price change");

    let customer = app.create_customer(auth, crate::helpers::sample_customer("fresh@example.com")).await;
    let order = app
        .create_order(
            auth,
            json!({"customerId": customer.body["id"], "items": [{"productId": id, "quantity": 2}], "shippingAddress": crate::helpers::address()}),
        )
        .await;
    assert_eq!(order.status, 201);
    assert_eq!(stock().await, json!(7), "after an order took stock");
    assert_eq!(listed().await.0[0], (json!("FRESH-1"), json!(7)), "listed after an order took stock");

    let order_id = order.body["id"].as_str().unwrap();
    assert_eq!(app.update_order_status(auth, order_id, json!({"status": "cancelled"})).await.status, 200);
    assert_eq!(stock().await, json!(9), "after a cancellation gave it back");
    assert_eq!(listed().await.0[0], (json!("FRESH-1"), json!(9)), "listed after a cancellation");

    assert_eq!(app.delete_product(auth, id).await.status, 204);
    assert_eq!(app.get_product(auth, id).await.status, 404, "after a delete");
    assert_eq!(listed().await, (skus(&[("FRESH-2", 1)]), json!(1)), "listed after a delete");
}
