//! `listProducts`, `createProduct`, `getProduct`, `updateProduct`, `deleteProduct`.

use commerce_generated::models::{Product, ProductCreate, ProductList, ProductSortField, ProductUpdate, SortOrder};
use commerce_generated::{
    CreateProductParams, CreateProductResponse, DeleteProductResponse, GetProductResponse, ListProductsParams,
    ListProductsResponse, UpdateProductParams, UpdateProductResponse,
};
use commerce_runtime::Json;
use uuid::Uuid;

use super::cache::CachedProduct;
use super::idempotency::{self, Created};
use super::{Handlers, etag, if_match, page, pagination};
use crate::auth::{Permission, Principal};
use crate::error::AppError;
use crate::store::entities::product;
use crate::store::products::{NewProduct, ProductChanges, ProductQuery, SortField};
use crate::store::{self};

pub async fn list_products(
    app: &Handlers,
    principal: Principal,
    params: ListProductsParams,
) -> Result<ListProductsResponse, AppError> {
    principal.require(Permission::ProductsRead)?;
    let mut query = ProductQuery {
        search: params.search,
        category: params.category.map(|c| c.as_str().to_string()),
        active: params.active,
        shopper: principal.own_customer().is_some(),
        sort: params.sort.map(|sort| match sort {
            ProductSortField::Name => SortField::Name,
            ProductSortField::Price => SortField::Price,
            ProductSortField::Stock => SortField::Stock,
            ProductSortField::CreatedAt => SortField::CreatedAt,
        }),
        descending: params.order == SortOrder::Desc,
        page: page(params.page, params.page_size),
        after: None,
    };
    if let Some(text) = &params.cursor {
        let position = cursor::read(text, &query)?;
        query.page.number = position.page;
        query.after = position.after;
    }
    let body = match app.products.list(principal.tenant_id, &query) {
        Ok(cached) => cached,
        Err(epoch) => match store::products::search_in_memory(&app.reads, principal.tenant_id, &query).await? {
            Some((ids, total)) => {
                let number = i32::try_from(query.page.number).unwrap_or(i32::MAX);
                // Relevance pages by number: the cursor names the next one.
                let next_cursor = (!ids.is_empty() && query.page.number.saturating_mul(query.page.size) < total.n)
                    .then(|| cursor::write(&query, &cursor::Position { page: query.page.number + 1, after: None }));
                let list = ProductList {
                    data: Vec::new(),
                    pagination: pagination(number, params.page_size, total),
                    next_cursor,
                };
                let body = with_products(app, &principal, &ids, &list).await?;
                app.products.fill_list(principal.tenant_id, query, &body, epoch);
                body
            }
            None => {
                let (rows, total) = store::products::list(&app.reads, principal.tenant_id, &query).await?;
                let next_cursor = match rows.last() {
                    Some(last) if query.page.number.saturating_mul(query.page.size) < total.n => {
                        let after = query.effective_sort().map(|field| store::products::After {
                            value: store::products::key_of(field, last),
                            id: last.id,
                        });
                        Some(cursor::write(&query, &cursor::Position { page: query.page.number + 1, after }))
                    }
                    _ => None,
                };
                let data = rows.into_iter().map(|row| to_wire(row).map(|(p, _)| p)).collect::<Result<Vec<_>, _>>()?;
                let number = i32::try_from(query.page.number).unwrap_or(i32::MAX);
                let list = ProductList { data, pagination: pagination(number, params.page_size, total), next_cursor };
                let body = Json::encode(&list).map_err(|e| AppError::Internal(e.to_string()))?;
                app.products.fill_list(principal.tenant_id, query, &body, epoch);
                body
            }
        },
    };
    Ok(ListProductsResponse::Ok(Json::encoded(body)))
}

/// `list` (its `data` empty) encoded with the products `ids` as its `data`, in that order: each
/// product's body from the product cache, or read (all those missing, in one statement), encoded
/// and kept there, as `getProduct` does. A product deleted since it was found is left out, as is,
/// for a shopper, one made inactive since.
async fn with_products(
    app: &Handlers,
    principal: &Principal,
    ids: &[Uuid],
    list: &ProductList,
) -> Result<bytes::Bytes, AppError> {
    let (tenant, shopper) = (principal.tenant_id, principal.own_customer().is_some());
    let mut bodies: Vec<Option<bytes::Bytes>> = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match app.products.get(tenant, *id) {
            Ok(cached) => bodies.push((cached.active || !shopper).then_some(cached.body)),
            Err(epoch) => {
                missing.push((*id, bodies.len(), epoch));
                bodies.push(None);
            }
        }
    }
    if !missing.is_empty() {
        let wanted: Vec<Uuid> = missing.iter().map(|(id, _, _)| *id).collect();
        let rows = store::products::by_ids(&app.reads, tenant, &wanted).await?;
        for row in rows {
            let Some(&(id, at, epoch)) = missing.iter().find(|(id, _, _)| *id == row.id) else { continue };
            let active = row.active;
            let (product, version) = to_wire(row)?;
            let body = Json::encode(&product).map_err(|e| AppError::Internal(e.to_string()))?;
            app.products.fill(tenant, id, &CachedProduct { body: body.clone(), version, active }, epoch);
            bodies[at] = (active || !shopper).then_some(body);
        }
    }
    let encoded = Json::encode(list).map_err(|e| AppError::Internal(e.to_string()))?;
    let Some(rest) = encoded.strip_prefix(br#"{"data":[]"#.as_slice()) else {
        return Err(AppError::Internal("a product list encodes without its data first".into()));
    };
    let bodies: Vec<bytes::Bytes> = bodies.into_iter().flatten().collect();
    let mut body = Vec::with_capacity(rest.len() + 10 + bodies.iter().map(|b| b.len() + 1).sum::<usize>());
    body.extend_from_slice(br#"{"data":["#);
    for (n, product) in bodies.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(product);
    }
    body.push(b']');
    body.extend_from_slice(rest);
    Ok(body.into())
}

pub async fn create_product(
    app: &Handlers,
    principal: Principal,
    params: CreateProductParams,
    body: ProductCreate,
) -> Result<CreateProductResponse, AppError> {
    principal.require(Permission::ProductsWrite)?;
    // A new product may belong on any cached page of the tenant's listings.
    let _forget = app.products.writing(principal.tenant_id, Vec::new());
    let _words = app.reads.prefixes.changing();
    let create = async |fence| {
        let new = NewProduct {
            sku: body.sku.clone(),
            name: body.name.clone(),
            description: body.description.clone(),
            category: body.category.as_str().to_string(),
            price: body.price,
            currency: body.currency.clone(),
            stock: body.stock,
            active: body.active,
            tags: body.tags.clone().unwrap_or_default(),
            images: body.images.clone().unwrap_or_default(),
        };
        let row = store::products::create(&app.db, principal.tenant_id, new, fence).await?;
        store::products::written(&app.reads, row.id).await;
        let (product, version) = to_wire(row)?;
        Ok(Created { location: format!("/products/{}", product.id), etag: etag(version), body: product })
    };
    let recover = async |id| {
        let row = store::products::get(&app.reads, principal.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
        let (product, version) = to_wire(row)?;
        Ok(Created { location: format!("/products/{id}"), etag: etag(version), body: product })
    };
    let created =
        idempotency::once(app, &principal, params.idempotency_key, "createProduct", &body, create, recover).await?;
    Ok(CreateProductResponse::Created(Json::new(created.body), created.location, created.etag))
}

pub async fn get_product(app: &Handlers, principal: Principal, id: Uuid) -> Result<GetProductResponse, AppError> {
    principal.require(Permission::ProductsRead)?;
    let cached = match app.products.get(principal.tenant_id, id) {
        Ok(cached) => cached,
        Err(epoch) => {
            let row = store::products::get(&app.reads, principal.tenant_id, id).await?.ok_or_else(|| not_found(id))?;
            let active = row.active;
            let (product, version) = to_wire(row)?;
            let body = Json::encode(&product).map_err(|e| AppError::Internal(e.to_string()))?;
            let cached = CachedProduct { body, version, active };
            app.products.fill(principal.tenant_id, id, &cached, epoch);
            cached
        }
    };
    // Inactive products are hidden from shoppers: to a customer, one does not exist.
    if !cached.active && principal.own_customer().is_some() {
        return Err(not_found(id));
    }
    Ok(GetProductResponse::Ok(Json::encoded(cached.body), etag(cached.version)))
}

pub async fn update_product(
    app: &Handlers,
    principal: Principal,
    id: Uuid,
    params: UpdateProductParams,
    body: ProductUpdate,
) -> Result<UpdateProductResponse, AppError> {
    principal.require(Permission::ProductsWrite)?;
    let changes = ProductChanges {
        sku: body.sku,
        name: body.name,
        description: body.description,
        category: body.category.map(|c| c.as_str().to_string()),
        price: body.price,
        currency: body.currency,
        stock: body.stock,
        active: body.active,
        tags: body.tags,
        images: body.images,
    };
    let _forget = app.products.writing(principal.tenant_id, vec![id]);
    let _words = app.reads.prefixes.changing();
    let row = store::products::update(&app.db, principal.tenant_id, id, changes, if_match(params.if_match))
        .await?
        .ok_or_else(|| not_found(id))?;
    store::products::written(&app.reads, id).await;
    let (product, version) = to_wire(row)?;
    Ok(UpdateProductResponse::Ok(Json::new(product), etag(version)))
}

pub async fn delete_product(app: &Handlers, principal: Principal, id: Uuid) -> Result<DeleteProductResponse, AppError> {
    principal.require(Permission::ProductsWrite)?;
    let _forget = app.products.writing(principal.tenant_id, vec![id]);
    if store::products::delete(&app.db, principal.tenant_id, id).await? {
        store::products::written(&app.reads, id).await;
        Ok(DeleteProductResponse::NoContent)
    } else {
        Err(not_found(id))
    }
}

fn not_found(id: Uuid) -> AppError {
    AppError::NotFound { kind: "product", id: id.to_string() }
}

/// A stored product as the spec shows it, and its version.
fn to_wire(row: product::Model) -> Result<(Product, i64), AppError> {
    let id = row.id;
    let corrupt = |what: &str| AppError::Internal(format!("product {id} has an invalid {what}"));
    let version = row.version;
    let product = Product {
        id,
        category: row.category.parse().map_err(|_| corrupt("category"))?,
        tags: serde_json::from_value(row.tags).map_err(|_| corrupt("tags"))?,
        images: serde_json::from_value(row.images).map_err(|_| corrupt("images"))?,
        sku: row.sku,
        name: row.name,
        description: row.description,
        price: row.price,
        currency: row.currency,
        stock: row.stock,
        active: row.active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    Ok((product, version))
}

/// The opaque `cursor` of keyset pagination: base64url of a small JSON document naming the next
/// page's number, the row it starts after (none for relevance order, which pages by number), and
/// a digest of the query it belongs to, so a cursor is refused for any other query.
mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::{Deserialize, Serialize};
    use sha2::{Digest, Sha256};
    use uuid::Uuid;

    use crate::error::AppError;
    use crate::store::products::{After, KeyValue, ProductQuery};

    pub struct Position {
        pub page: u64,
        pub after: Option<After>,
    }

    /// The cursor as written: `{"p": 2, "q": "<digest>", "i": "<id>", "v": {"n": 42}}`.
    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        p: u64,
        q: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        i: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<Key>,
    }

    #[derive(Serialize, Deserialize)]
    enum Key {
        #[serde(rename = "s")]
        Text(String),
        #[serde(rename = "n")]
        Int(i64),
        #[serde(rename = "t")]
        Time(chrono::DateTime<chrono::Utc>),
    }

    /// The query a cursor continues: everything but where it starts.
    fn digest(q: &ProductQuery) -> String {
        let text = format!(
            "{:?}|{:?}|{:?}|{}|{:?}|{}|{}",
            q.search, q.category, q.active, q.shopper, q.sort, q.descending, q.page.size
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }

    pub fn write(q: &ProductQuery, at: &Position) -> String {
        let (i, v) = match &at.after {
            Some(After { value, id }) => (
                Some(*id),
                Some(match value {
                    KeyValue::Text(t) => Key::Text(t.clone()),
                    KeyValue::Int(n) => Key::Int(*n),
                    KeyValue::Time(t) => Key::Time(*t),
                }),
            ),
            None => (None, None),
        };
        let doc = Doc { p: at.page, q: digest(q), i, v };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&doc).expect("a cursor encodes"))
    }

    pub fn read(text: &str, q: &ProductQuery) -> Result<Position, AppError> {
        let refuse = |why: &str| AppError::invalid_parameter("cursor", why.to_string());
        let doc: Doc = URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .filter(|doc: &Doc| doc.p >= 2)
            .ok_or_else(|| refuse("not a cursor this service issued"))?;
        if doc.q != digest(q) {
            return Err(refuse(
                "the cursor belongs to another query: keep the filters, search, sort, order and pageSize of the page that gave it",
            ));
        }
        let after = match (doc.i, doc.v) {
            (None, None) => None,
            (Some(id), Some(key)) => {
                let value = match key {
                    Key::Text(t) => KeyValue::Text(t),
                    Key::Int(n) => KeyValue::Int(n),
                    Key::Time(t) => KeyValue::Time(t),
                };
                Some(After { value, id })
            }
            _ => return Err(refuse("not a cursor this service issued")),
        };
        if after.is_some() != q.effective_sort().is_some() {
            return Err(refuse("the cursor belongs to another query"));
        }
        Ok(Position { page: doc.p, after })
    }
}
