//! Product queries. Every read filters by tenant and hides soft-deleted rows.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, ExprTrait,
    FromQueryResult, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, SqlErr, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::product::{self, Column};
use super::idempotency::Fence;
use super::reads::{self, Expansion, Frequencies, Lexized, Reads, Shares};
use super::word_index;
use super::{Page, Total, escape_like};
use crate::error::AppError;

/// A new product, already checked against the spec.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: i64,
    pub currency: String,
    pub stock: i32,
    pub active: bool,
    pub tags: Vec<String>,
    pub images: Vec<String>,
}

/// The fields a PATCH supplies; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub price: Option<i64>,
    pub currency: Option<String>,
    pub stock: Option<i32>,
    pub active: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub images: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    Name,
    Price,
    Stock,
    CreatedAt,
}

/// Filters, order and page of a product listing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProductQuery {
    pub search: Option<String>,
    pub category: Option<String>,
    pub active: Option<bool>,
    /// Only active products, whatever `active` asks (a shopper's listing: inactive products are
    /// hidden from shoppers).
    pub shopper: bool,
    /// `None`: by relevance when searching, otherwise by creation.
    pub sort: Option<SortField>,
    pub descending: bool,
    pub page: Page,
    /// Keyset pagination: the page starts just after this row of the previous one (`page` then
    /// only numbers it).
    pub after: Option<After>,
}

impl ProductQuery {
    /// The order rows are listed in: `None` for relevance.
    pub fn effective_sort(&self) -> Option<SortField> {
        self.sort.or(if self.search.is_some() { None } else { Some(SortField::CreatedAt) })
    }
}

/// The value of a row's sort key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    Text(String),
    Int(i64),
    Time(chrono::DateTime<chrono::Utc>),
}

/// A row a keyset page starts after: its sort key and id (which breaks ties).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct After {
    pub value: KeyValue,
    pub id: Uuid,
}

/// The sort key of `row` for `field`.
pub fn key_of(field: SortField, row: &product::Model) -> KeyValue {
    match field {
        SortField::Name => KeyValue::Text(row.name.clone()),
        SortField::Price => KeyValue::Int(row.price),
        SortField::Stock => KeyValue::Int(row.stock.into()),
        SortField::CreatedAt => KeyValue::Time(row.created_at),
    }
}

fn sku_taken(sku: &str) -> AppError {
    AppError::Conflict {
        code: "sku_taken",
        detail: format!("a product with sku {sku} already exists"),
        errors: vec![commerce_generated::models::FieldError {
            pointer: Some("/sku".into()),
            parameter: None,
            detail: "already taken".into(),
        }],
    }
}

fn map_unique(e: sea_orm::DbErr, sku: &str) -> AppError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => sku_taken(sku),
        _ => e.into(),
    }
}

/// The row a new product is stored as.
fn new_row(tenant_id: Uuid, new: NewProduct, now: chrono::DateTime<chrono::Utc>) -> product::ActiveModel {
    product::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        sku: Set(new.sku),
        name: Set(new.name),
        description: Set(new.description),
        category: Set(new.category),
        price: Set(new.price),
        currency: Set(new.currency),
        stock: Set(new.stock),
        active: Set(new.active),
        tags: Set(Value::from(new.tags)),
        images: Set(Value::from(new.images)),
        created_at: Set(now),
        updated_at: Set(now),
        deleted_at: Set(None),
        version: Set(1),
    }
}

/// Creates a product; with an idempotency claim's `fence`, records it under the claim in the same
/// transaction (or creates nothing if the claim was taken over).
pub async fn create(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    new: NewProduct,
    fence: Option<Fence>,
) -> Result<product::Model, AppError> {
    let sku = new.sku.clone();
    let row = new_row(tenant_id, new, super::now());
    let Some(fence) = fence else {
        return product::Entity::insert(row).exec_with_returning(db).await.map_err(|e| map_unique(e, &sku));
    };
    let txn = db.begin().await?;
    let created = product::Entity::insert(row).exec_with_returning(&txn).await.map_err(|e| map_unique(e, &sku))?;
    super::idempotency::record(&txn, &fence, created.id).await?;
    txn.commit().await?;
    Ok(created)
}

/// What seeding does with a sku the tenant already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Refuse,
    Skip,
}

/// Creates a product with the given id (the demo data, whose ids the spec's examples name).
pub async fn create_with_id(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    id: Uuid,
    new: NewProduct,
) -> Result<product::Model, AppError> {
    let sku = new.sku.clone();
    let mut row = new_row(tenant_id, new, super::now());
    row.id = Set(id);
    product::Entity::insert(row).exec_with_returning(db).await.map_err(|e| map_unique(e, &sku))
}

/// Creates many products at once, for seeding, in one transaction: on a SQLite file through
/// [`create_many_sqlite`], on PostgreSQL through [`create_many_postgres`], otherwise (an in-memory
/// SQLite database) 500 to a statement. A sku the tenant already has is refused by name (nothing
/// is written), or skipped; returns how many were created.
pub async fn create_many(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    products: Vec<NewProduct>,
    existing: Existing,
) -> Result<u64, AppError> {
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        let file = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
        if file.is_file() {
            return tokio::task::spawn_blocking(move || create_many_sqlite(&file, tenant_id, &products, existing))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?;
        }
    }
    if db.get_database_backend() == DatabaseBackend::Postgres {
        return create_many_postgres(db.get_postgres_connection_pool(), tenant_id, &products, existing).await;
    }
    let now = super::now();
    let txn = db.begin().await?;
    let mut created = 0;
    for chunk in products.chunks(500) {
        let taken: std::collections::HashSet<String> = product::Entity::find()
            .select_only()
            .column(Column::Sku)
            .filter(Column::TenantId.eq(tenant_id))
            .filter(Column::DeletedAt.is_null())
            .filter(Column::Sku.is_in(chunk.iter().map(|p| p.sku.as_str())))
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        if existing == Existing::Refuse
            && let Some(first) = chunk.iter().find(|p| taken.contains(&p.sku))
        {
            return Err(sku_taken(&first.sku));
        }
        let rows: Vec<_> =
            chunk.iter().filter(|p| !taken.contains(&p.sku)).cloned().map(|new| new_row(tenant_id, new, now)).collect();
        let Some(first) = rows.first().map(|r| r.sku.clone().unwrap()) else { continue };
        let count = rows.len() as u64;
        product::Entity::insert_many(rows).exec(&txn).await.map_err(|e| map_unique(e, &first))?;
        created += count;
    }
    txn.commit().await?;
    Ok(created)
}

/// The search index's insert trigger on SQLite.
const SEARCH_TRIGGER: &str = "products_search_insert";

/// The insert triggers [`create_many_sqlite`] sets aside, each with the statement that does its
/// work for every product inserted after rowid `?1` at once. Without the counts' trigger, an insert
/// of one row also needs no statement journal (a copy of each page it changes: 5% of a seed's time).
fn set_aside() -> [(&'static str, String); 2] {
    let counts = "INSERT INTO product_counts (tenant_id, category, active, n) \
         SELECT tenant_id, category, active, COUNT(*) FROM products WHERE rowid > ?1 AND deleted_at IS NULL \
         GROUP BY tenant_id, category, active \
         ON CONFLICT (tenant_id, category, active) DO UPDATE SET n = n + excluded.n";
    [
        (SEARCH_TRIGGER, super::migrations::search_index_fill(" AND rowid > ?1")),
        ("product_counts_insert", counts.into()),
    ]
}

/// [`create_many`] on a SQLite file: one synchronous connection, one prepared statement per row,
/// one transaction. The search index and the counts take the rows in one statement each
/// ([`set_aside`]): their insert triggers are set aside inside the transaction (no other
/// connection can see the schema without them) and put back, from their own stored SQL, before the
/// commit. Row by row, FTS5 flushes its index at every statement's savepoint, and a million rows
/// took 4.5 minutes instead of seconds; that statement takes them newest first
/// (`migrations::search_index_fill`: a million products' seed 85 -> 52 s).
fn create_many_sqlite(
    file: &std::path::Path,
    tenant_id: Uuid,
    products: &[NewProduct],
    existing: Existing,
) -> Result<u64, AppError> {
    use rusqlite::OptionalExtension;
    let failed = reads::failed;
    let mut conn = rusqlite::Connection::open(file).map_err(failed)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(failed)?;
    // A page cache that holds the indexes' working set (SQLite's default is 2 MiB: past it every
    // batch rewrote the same index pages), and the WAL's fsync at checkpoints only.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY;",
    )
    .map_err(failed)?;
    let now = reads::text_time(super::now());
    let tenant = tenant_id.as_bytes().as_slice();
    let mut created = 0;
    let txn = conn.transaction().map_err(failed)?;
    let before: i64 =
        txn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM products", [], |r| r.get(0)).map_err(failed)?;
    let mut aside = Vec::new();
    for (name, fill) in set_aside() {
        let trigger: Option<String> = txn
            .query_row("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(failed)?;
        if let Some(trigger) = trigger {
            txn.execute_batch(&format!("DROP TRIGGER {name}")).map_err(failed)?;
            aside.push((name, trigger, fill));
        }
    }
    {
        let mut taken = txn
            .prepare_cached("SELECT 1 FROM products WHERE tenant_id = ?1 AND sku = ?2 AND deleted_at IS NULL")
            .map_err(failed)?;
        let mut insert = txn
            .prepare_cached(
                "INSERT INTO products (id, tenant_id, sku, name, description, category, price, currency, stock, \
                 active, tags, images, created_at, updated_at, deleted_at, version) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, NULL, 1)",
            )
            .map_err(failed)?;
        for p in products {
            if taken.exists(rusqlite::params![tenant, p.sku]).map_err(failed)? {
                match existing {
                    // The transaction is rolled back: nothing is written.
                    Existing::Refuse => return Err(sku_taken(&p.sku)),
                    Existing::Skip => continue,
                }
            }
            let inserted = insert.execute(rusqlite::params![
                Uuid::now_v7().as_bytes().as_slice(),
                tenant,
                p.sku,
                p.name,
                p.description,
                p.category,
                p.price,
                p.currency,
                p.stock,
                p.active,
                Value::from(p.tags.clone()).to_string(),
                Value::from(p.images.clone()).to_string(),
                now,
            ]);
            match inserted {
                Ok(_) => created += 1,
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                    return Err(sku_taken(&p.sku));
                }
                Err(e) => return Err(failed(e)),
            }
        }
    }
    for (name, trigger, fill) in aside {
        let hash_size = match name {
            SEARCH_TRIGGER => Some(fts5_hash_size(&txn, SEED_HASH_SIZE)?),
            _ => None,
        };
        txn.execute(&fill, [before]).map_err(failed)?;
        if let Some(held) = hash_size {
            fts5_hash_size(&txn, held)?;
        }
        txn.execute_batch(&trigger).map_err(failed)?;
    }
    txn.commit().map_err(failed)?;
    Ok(created)
}

/// Bytes of pending terms FTS5 holds before it writes them out as a segment while a seed fills
/// the search index. FTS5's own 1 MiB made a batch of 50,000 products about 20 segments, which it
/// then merged again and again.
const SEED_HASH_SIZE: i64 = 64 << 20;

/// Sets the search index's `hashsize` (FTS5's bytes of pending terms) for this connection's
/// transaction and stores it; the one it replaced (FTS5's default when none was stored).
fn fts5_hash_size(txn: &rusqlite::Transaction<'_>, bytes: i64) -> Result<i64, AppError> {
    use rusqlite::OptionalExtension;
    let held: Option<i64> = txn
        .query_row("SELECT v FROM products_search_config WHERE k = 'hashsize'", [], |r| r.get(0))
        .optional()
        .map_err(reads::failed)?;
    txn.execute("INSERT INTO products_search (products_search, rank) VALUES ('hashsize', ?1)", [bytes])
        .map_err(reads::failed)?;
    Ok(held.unwrap_or(1 << 20))
}

/// [`create_many`] on PostgreSQL, in one transaction: the rows streamed with `COPY` into a
/// temporary table, then moved into `products` by one statement, which skips the tenant's live skus
/// (`Existing::Skip`) or fails on the first (`Existing::Refuse`: nothing is written, and the sku is
/// looked up to be named). Batched `INSERT`s, each batch first asking which of its skus exist,
/// wrote 283,000 of a million products in 12 minutes: the question was planned as a scan of the
/// tenant's products (the table had no statistics yet), and each row's trigger cost more than its
/// insert (see `migrations::CountsPerStatement`).
async fn create_many_postgres(
    pool: &sea_orm::sqlx::PgPool,
    tenant_id: Uuid,
    products: &[NewProduct],
    existing: Existing,
) -> Result<u64, AppError> {
    use sea_orm::sqlx;
    let failed = |e: sqlx::Error| AppError::from(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e.into())));
    let mut txn = pool.begin().await.map_err(failed)?;
    sqlx::query(
        "CREATE TEMPORARY TABLE seeded (n bigint, id uuid, sku text, name text, description text, category text, \
         price bigint, currency text, stock integer, active boolean, tags json, images json) ON COMMIT DROP",
    )
    .execute(&mut *txn)
    .await
    .map_err(failed)?;
    let mut copy = txn.copy_in_raw("COPY seeded FROM STDIN").await.map_err(failed)?;
    let mut data = String::with_capacity(1 << 20);
    for (n, p) in products.iter().enumerate() {
        let (tags, images) = (Value::from(p.tags.clone()).to_string(), Value::from(p.images.clone()).to_string());
        let text = [&p.sku, &p.name, &p.description, &p.category].map(|t| copy_text(t));
        let [sku, name, description, category] = &text;
        let (price, currency, stock, active) = (p.price, copy_text(&p.currency), p.stock, p.active);
        let (tags, images) = (copy_text(&tags), copy_text(&images));
        let id = Uuid::now_v7();
        data.push_str(&format!(
            "{n}\t{id}\t{sku}\t{name}\t{description}\t{category}\t{price}\t{currency}\t{stock}\t{active}\t{tags}\t{images}\n"
        ));
        if data.len() >= 1 << 20 {
            copy.send(data.as_bytes()).await.map_err(failed)?;
            data.clear();
        }
    }
    copy.send(data.as_bytes()).await.map_err(failed)?;
    copy.finish().await.map_err(failed)?;
    let skip = match existing {
        Existing::Skip => "ON CONFLICT (tenant_id, sku) WHERE deleted_at IS NULL DO NOTHING",
        Existing::Refuse => "",
    };
    // Only our constants are formatted in.
    let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO products (id, tenant_id, sku, name, description, category, price, currency, stock, active, \
         tags, images, created_at, updated_at, deleted_at, version) \
         SELECT id, $1, sku, name, description, category, price, currency, stock, active, tags, images, $2, $2, NULL, 1 \
         FROM seeded ORDER BY n {skip}"
    )))
    .bind(tenant_id)
    .bind(super::now())
    .execute(&mut *txn)
    .await;
    match moved {
        Ok(done) => {
            txn.commit().await.map_err(failed)?;
            Ok(done.rows_affected())
        }
        Err(e) if e.as_database_error().is_some_and(|e| e.is_unique_violation()) => {
            drop(txn); // rolled back: nothing of this batch is written
            let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
            let taken: std::collections::HashSet<String> = sqlx::query_scalar(
                "SELECT sku FROM products WHERE tenant_id = $1 AND deleted_at IS NULL AND sku = ANY($2)",
            )
            .bind(tenant_id)
            .bind(&skus)
            .fetch_all(pool)
            .await
            .map_err(failed)?
            .into_iter()
            .collect();
            // Else the same sku twice in the batch itself.
            let mut seen = std::collections::HashSet::new();
            match skus.iter().find(|s| taken.contains(**s) || !seen.insert(**s)) {
                Some(first) => Err(sku_taken(first)),
                None => Err(failed(e)),
            }
        }
        Err(e) => Err(failed(e)),
    }
}

/// `text` as a field of `COPY`'s text format: backslash, tab, newline and carriage return escaped.
fn copy_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\\', '\t', '\n', '\r']) {
        return text.into();
    }
    text.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n").replace('\r', "\\r").into()
}

/// Planner statistics for the products and their counts, after a bulk load, and the tables
/// vacuumed. PostgreSQL's autovacuum gathers statistics only a minute or more later (and not at all
/// where it is turned off): until then a product read by id was planned as a scan of the tenant's
/// products (10,000 seeded products: 2.9k reads/s instead of 22.7k). The vacuum merges the search
/// index's pending list (see `migrations::SearchPendingList`) and marks the new rows visible to
/// all, so the first reads after a load do not each write hint bits (a million products: 0.8 s).
/// SQLite's plans do not depend on statistics here.
pub async fn analyze(db: &DatabaseConnection) -> Result<(), AppError> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute_unprepared("VACUUM (ANALYZE) products, product_counts").await?;
    }
    Ok(())
}

/// The highest number `n` among the tenant's live skus `{prefix}n`, or 0.
pub async fn highest_numbered_sku(db: &DatabaseConnection, tenant_id: Uuid, prefix: &str) -> Result<u64, AppError> {
    // Numbers are zero-padded to at least five digits, so the longest, then greatest, is the highest.
    let skus: Vec<String> = product::Entity::find()
        .select_only()
        .column(Column::Sku)
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::DeletedAt.is_null())
        .filter(Expr::col(Column::Sku).like(LikeExpr::new(format!("{}%", escape_like(prefix))).escape('\\')))
        .order_by(Expr::cust("LENGTH(sku)"), Order::Desc)
        .order_by(Column::Sku, Order::Desc)
        .limit(50)
        .into_tuple()
        .all(db)
        .await?;
    Ok(skus.iter().filter_map(|s| s.strip_prefix(prefix)?.parse::<u64>().ok()).max().unwrap_or(0))
}

/// The live product `id` of the tenant.
pub async fn get(reads: &Reads, tenant_id: Uuid, id: Uuid) -> Result<Option<product::Model>, AppError> {
    match (reads.sqlite(), live_sqlite()) {
        (Some(sqlite), Some(sql)) => {
            Ok(sqlite.query_sql(sql, [id.as_bytes().as_slice(), tenant_id.as_bytes()], product_row)?.pop())
        }
        (Some(sqlite), None) => {
            Ok(sqlite.query(&live(tenant_id, id).build(DatabaseBackend::Sqlite), product_row)?.pop())
        }
        (None, _) => Ok(live(tenant_id, id).one(&reads.db).await?),
    }
}

/// [`live`]'s SQL on SQLite, built once, when its two values are the product's id, then the
/// tenant's (as a uuid binds: 16 bytes). Built per read, sea-query's statement was 8% of the
/// service's time under GETs of random ids of a million (perf, wrk -c32).
fn live_sqlite() -> Option<&'static str> {
    static SQL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let (tenant, id) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let built = live(tenant, id).build(DatabaseBackend::Sqlite);
        let values = built.values.map(|v| v.0).unwrap_or_default();
        (values == [id.into(), tenant.into()]).then_some(built.sql)
    })
    .as_deref()
}

/// The select of the live product `id` of the tenant.
fn live(tenant_id: Uuid, id: Uuid) -> sea_orm::Select<product::Entity> {
    product::Entity::find_by_id(id).filter(Column::TenantId.eq(tenant_id)).filter(Column::DeletedAt.is_null())
}

/// A product row as sea-orm selects it (every column, in the entity's order), from SQLite.
fn product_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<product::Model> {
    Ok(product::Model {
        id: reads::uuid(row, 0)?,
        tenant_id: reads::uuid(row, 1)?,
        sku: row.get(2)?,
        name: row.get(3)?,
        description: row.get(4)?,
        category: row.get(5)?,
        price: row.get(6)?,
        currency: row.get(7)?,
        stock: row.get(8)?,
        active: row.get(9)?,
        tags: reads::json(row, 10)?,
        images: reads::json(row, 11)?,
        created_at: reads::time(row, 12)?,
        updated_at: reads::time(row, 13)?,
        deleted_at: reads::optional_time(row, 14)?,
        version: row.get(15)?,
    })
}

/// The words of a search: runs of letters and digits, lower-cased (at most 16).
fn search_words(search: &str) -> Vec<String> {
    search.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(16).map(str::to_lowercase).collect()
}

/// How many live products a listing without a search matches, from the counts the triggers keep
/// (`product_counts`): a sum of at most ten rows, however large the catalogue.
async fn live_count(reads: &Reads, tenant_id: Uuid, q: &ProductQuery) -> Result<u64, AppError> {
    let mut counts = sea_orm::sea_query::Query::select();
    counts
        .expr_as(Expr::cust("CAST(COALESCE(SUM(n), 0) AS BIGINT)"), "n")
        .from("product_counts")
        .and_where(Expr::col("tenant_id").eq(tenant_id));
    if let Some(category) = &q.category {
        counts.and_where(Expr::col("category").eq(category.as_str()));
    }
    if let Some(active) = q.active {
        counts.and_where(Expr::col("active").eq(active));
    }
    if q.shopper {
        counts.and_where(Expr::col("active").eq(true));
    }
    let n: i64 = match reads.sqlite() {
        Some(sqlite) => {
            let n = sqlite.query(&DatabaseBackend::Sqlite.build(&counts), |row| row.get(0))?;
            n.first().copied().unwrap_or(0)
        }
        None => match reads.db.query_one(&counts).await? {
            Some(row) => row.try_get("", "n")?,
            None => 0,
        },
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// How many matches a search counts before it stops: past it, the total is a lower bound, and
/// says so (a word in a tenth of a million products would otherwise cost a count of 100,000 rows
/// on every page).
pub const SEARCH_COUNT_CAP: u64 = 10_000;

/// How many matches a search on PostgreSQL counts where its page is read newest first from the
/// listing's index ([`dense`]): each match counted is a read of its product there (the index
/// cannot count a tenant's matches alone), and at a million products a word in 2.5% of them
/// took 30-50 ms to count to 10,000, 5-8 ms to 1,000, for a page that costs 2 ms.
pub const DENSE_COUNT_CAP: u64 = 1_000;

/// One page of the tenant's live products, and how many match in all.
///
/// A search without `sort` lists best matches first: products whose name holds every word, then
/// those where some word is only in the description, newest first within each (`descending`
/// reverses the whole order). On SQLite the index's rowids are in that order within each group:
/// below the cap, the groups are formed from the rowids of every match and of the name's matches,
/// and only the page's rows are read; past it, each group's page is read from the index in its own
/// row order, so a page costs what its rows cost, however many products match.
pub async fn list(reads: &Reads, tenant_id: Uuid, q: &ProductQuery) -> Result<(Vec<product::Model>, Total), AppError> {
    let Some(search) = &q.search else {
        let rows = fetch(reads, paged(filtered(tenant_id, q, None), q)?).await?;
        return Ok((rows, Total::exact(live_count(reads, tenant_id, q).await?)));
    };
    let words = search_words(search);
    if words.is_empty() {
        return Ok((Vec::new(), Total::exact(0))); // no word to look for: nothing matches
    }
    let (offset, size) = (q.page.offset(), q.page.size);
    // Counted far enough to know whether a page follows this one.
    let cap = Ord::max(SEARCH_COUNT_CAP, offset + size + 1);
    if reads.db.get_database_backend() != DatabaseBackend::Sqlite {
        let lexemes = search_lexemes(reads, &words).await?;
        if lexemes.is_empty() {
            return Ok((Vec::new(), Total::exact(0))); // no word the dictionary knows: nothing matches
        }
        let expansions = prefix_lexemes(reads, &lexemes).await?;
        if expansions.iter().any(|e| *e == Expansion::Lexemes(Vec::new())) {
            return Ok((Vec::new(), Total::exact(0))); // a word no product holds: nothing matches
        }
        let frequencies = frequencies(reads).await?;
        let dense = dense(&frequencies, &lexemes, &expansions, offset + size);
        let cap = if dense { Ord::max(DENSE_COUNT_CAP, offset + size + 1) } else { cap };
        let words = Words { prefixes: &lexemes, expansions: &expansions, frequencies: &frequencies, dense };
        return search_postgres(&reads.db, tenant_id, q, words, cap).await;
    }
    let search = Search { tenant_id, q: q.clone(), words, cap };
    match reads.sqlite() {
        Some(sqlite) => sqlite.snapshot(move |conn| completed(search.run(&Snapshot(conn)))).await,
        None => {
            let txn = reads.db.begin().await?;
            let found = search.run(&txn).await;
            txn.commit().await?;
            found
        }
    }
}

/// The page of a search without a sort, as the ids of its products, and its total, from the
/// search index in memory ([`word_index`]); none where it cannot answer (a sort, no index loaded,
/// or on SQLite a word FTS5 reads as more than one token, a phrase: [`list`] answers). Counted as
/// [`list`] counts on SQLite: to [`SEARCH_COUNT_CAP`], or one past the page.
pub async fn search_in_memory(
    reads: &Reads,
    tenant_id: Uuid,
    q: &ProductQuery,
) -> Result<Option<(Vec<Uuid>, Total)>, AppError> {
    let (Some(index), Some(search), None, None) = (&reads.words, &q.search, q.sort, &q.after) else {
        return Ok(None);
    };
    let words = search_words(search);
    let lexemes = match (words.is_empty(), reads.db.get_database_backend()) {
        (true, _) => Vec::new(),
        (false, DatabaseBackend::Sqlite) => {
            let mut lexemes = Vec::with_capacity(words.len());
            for word in &words {
                match super::fts5_tokens::prefix(word)?.as_mut_slice() {
                    [token] => lexemes.push(std::mem::take(token)),
                    _ => return Ok(None),
                }
            }
            lexemes
        }
        (false, _) => search_lexemes(reads, &words).await?,
    };
    if lexemes.is_empty() {
        return Ok(None); // nothing matches: `list` says so
    }
    let filter = word_index::Filter {
        category: q.category.as_deref(),
        active: q.active,
        shopper: q.shopper,
        descending: q.descending,
    };
    let (offset, size) = (q.page.offset(), q.page.size);
    let Some(found) = index.search(tenant_id, &lexemes, &filter, offset, size) else {
        return Ok(None);
    };
    let cap = Ord::max(SEARCH_COUNT_CAP, offset + size + 1);
    Ok(Some((found.ids, Total::counted(Ord::min(found.matched, cap), cap))))
}

/// The tenant's live products of `ids`, in that order (one deleted since it was found is left out).
pub async fn by_ids(reads: &Reads, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<product::Model>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The ids drive: on SQLite the unary `+` keeps the tenant's index out, which it otherwise
    // chose, reading every product of the tenant (10,000 products: 1.35 ms a page, not 0.05).
    let tenant = match reads.db.get_database_backend() {
        DatabaseBackend::Sqlite => Expr::cust_with_values("+products.tenant_id = ?", [tenant_id]),
        _ => Expr::col((product::Entity, Column::TenantId)).eq(tenant_id),
    };
    let select = product::Entity::find()
        .filter(tenant)
        .filter(Column::DeletedAt.is_null())
        .filter(Column::Id.is_in(ids.iter().copied()));
    let mut rows = fetch(reads, select).await?;
    let at: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(at, id)| (*id, at)).collect();
    rows.sort_unstable_by_key(|row| at.get(&row.id).copied().unwrap_or(usize::MAX));
    Ok(rows)
}

/// After this instance wrote the product `id` (created, changed or deleted it): the search index
/// in memory reads it again, so this instance's next search finds what was written.
pub async fn written(reads: &Reads, id: Uuid) {
    if let Some(index) = &reads.words {
        index.refresh(reads, id).await;
    }
}

/// How many of the tenant's products, in a sort's order, a search with more than a cap of matches
/// on PostgreSQL reads to find its page before it sorts the matches instead.
const WALK_BUDGET: u64 = 5_000;

/// The same, newest first (the order of best-first groups), as [`dense`] weighs a search: the
/// rows lie in the order they were written, about 0.9 µs each at a million products against 4-5 µs
/// a match sorted from the search index, so a walk of 20,000 costs what sorting 4,000 matches
/// does. A group's own walk is budgeted by what sorting it would cost ([`walk_budget`]).
const NEWEST_WALK_BUDGET: u64 = 20_000;

/// A search on PostgreSQL. Its GIN index finds matches but not in any order, so a page of them in
/// best-first order is one pass over at most `cap` matches: the page sorted from them and, in the
/// same statement, how many there were. Only when there are at least `cap` (a common word in a
/// large catalogue) is that pass not the page: then each group is read newest first from the
/// tenant's listing index, keeping the rows that match, as far as sorting it would cost (a common
/// word fills a page within a few thousand rows); a group too sparse for that is sorted in full.
/// Measured at a million products: sorting every match of "lamp" (25,000) for its page took
/// 220 ms; the walk, 0.9 ms. Where the statistics say there will be that many (`dense`), the
/// pass is not made: the matches are counted ([`count_dense`]) while the groups are read, on two
/// connections at once.
async fn search_postgres(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    q: &ProductQuery,
    words: Words<'_>,
    cap: u64,
) -> Result<(Vec<product::Model>, Total), AppError> {
    let Words { prefixes: lexemes, expansions, dense, .. } = words;
    // Whether the product holds every prefix, of weight `weights` (A: the name; empty: anywhere):
    // one of the lexemes it stands for, or the prefix itself where it stands for many; each quoted,
    // so the `tsquery` reads it as it is. The query stays in the expression, where the planner sees it:
    // behind an InitPlan, after an ANALYZE of a catalogue with orders, it read every product of the
    // tenant instead of the index (10,000 products: 690 searches/s, not 2,430).
    let quoted = |lexeme: &str| format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"));
    let query = |weights: &str| {
        lexemes
            .iter()
            .zip(expansions)
            .map(|(prefix, expansion)| match expansion {
                Expansion::Many => format!("{}:*{weights}", quoted(prefix)),
                Expansion::Lexemes(exact) => {
                    let weights = if weights.is_empty() { String::new() } else { format!(":{weights}") };
                    let any: Vec<String> = exact.iter().map(|lexeme| format!("{}{weights}", quoted(lexeme))).collect();
                    format!("({})", any.join(" | "))
                }
            })
            .collect::<Vec<_>>()
            .join(" & ")
    };
    // Read as a `tsquery` as it is written: `to_tsquery` would parse each lexeme again, making a
    // phrase of a hyphenated one (`water-resist`: 'water-resist' <-> 'water' <-> 'resist'), which
    // the index cannot answer without reading every candidate's positions.
    let matches = |weights: &str| Expr::cust_with_values("products.search @@ $1::tsquery", [query(weights)]);
    // The same as `matches("A")`, through the names' own index (`migrations::SearchVocabulary`).
    let named = || Expr::cust_with_values("to_tsvector('english', products.name) @@ $1::tsquery", [query("")]);
    if q.sort.is_some() {
        // Counted first: how many match decides how the page is read.
        let n = count_at_most(filtered(tenant_id, q, Some(matches(""))), cap, db).await?;
        let sorted = |select| paged(select, q);
        let walk = (n >= cap).then_some(WALK_BUDGET);
        let all = || matches("");
        let page = page_of(db, tenant_id, q, (&all, &all), walk, &sorted, q.page.size).await?;
        return Ok((page, Total::counted(n, cap)));
    }
    let (offset, size) = (q.page.offset(), q.page.size);
    let groups = Groups { tenant_id, q, words, matches: &matches, named: &named };
    if dense {
        let (n, page) = tokio::try_join!(count_dense(db, &groups, cap), best_first(db, &groups, offset, size))?;
        return Ok((page, Total::counted(n, cap)));
    }
    // Best first: a name holding every word first, then the newest (`descending` reverses both).
    // The pass keeps only the keys (the count holds every matched row until it is known), and the
    // page's rows are read by id.
    let pass = filtered(tenant_id, q, Some(matches("")))
        .select_only()
        .column(Column::Id)
        .column(Column::CreatedAt)
        .expr_as(matches("A"), "in_name")
        .limit(cap)
        .into_query();
    // The page's keys and, in the same statement, how many the pass met: beside the page's rows,
    // or alone where the page is past every match (two-word searches at 10,000 products, with a
    // few matches, asked for page 2 or 3 four times in ten, each a second statement).
    let (pass, values) = pass.build(sea_orm::sea_query::PostgresQueryBuilder);
    let direction = if q.descending { "ASC" } else { "DESC" };
    let keys = ["in_name", "created_at", "id"].map(|key| format!("{key} {direction}")).join(", ");
    let columns = <Column as sea_orm::Iterable>::iter()
        .map(|column| format!("products.\"{}\"", sea_orm::IdenStatic::as_str(&column)))
        .collect::<Vec<_>>()
        .join(", ");
    let nulls = vec!["NULL"; <Column as sea_orm::Iterable>::iter().count()].join(", ");
    let statement = sea_orm::Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        format!(
            "WITH pass AS ({pass}), page AS (SELECT *, COUNT(*) OVER () AS matched FROM pass \
             ORDER BY {keys} OFFSET {offset} LIMIT {size}) \
             SELECT * FROM (SELECT {columns}, page.matched, page.in_name, page.created_at AS created, page.id AS key \
             FROM page JOIN products ON products.id = page.id \
             UNION ALL SELECT {nulls}, (SELECT COUNT(*) FROM pass), NULL, NULL, NULL WHERE NOT EXISTS (SELECT FROM page)) \
             AS found ORDER BY in_name {direction}, created {direction}, key {direction}"
        ),
        values,
    );
    let rows = db.query_all_raw(statement).await?;
    let n = match rows.first() {
        Some(row) => u64::try_from(row.try_get::<i64>("", "matched")?).unwrap_or(0),
        None => return Err(AppError::Internal("a search's page came without its count".into())),
    };
    // The count alone: no page.
    let rows = match rows.first().map(|row| row.try_get::<Option<Uuid>>("", "id")).transpose()? {
        Some(None) => &[][..],
        _ => &rows[..],
    };
    let total = Total::counted(n, cap);
    if n < cap {
        let page = rows.iter().map(|row| product::Model::from_query_result(row, "")).collect::<Result<_, _>>()?;
        return Ok((page, total));
    }
    // At least `cap` matches: the pass saw only some of them.
    Ok((best_first(db, &groups, offset, size).await?, total))
}

/// What a best-first search on PostgreSQL reads: the tenant's products that `q` filters and
/// `matches` holds (of the weights it is given: `A`, the name; empty, anywhere), and the same as
/// `matches("A")` through the names' own index (`named`).
struct Groups<'a> {
    tenant_id: Uuid,
    q: &'a ProductQuery,
    words: Words<'a>,
    matches: &'a (dyn Fn(&str) -> Expr + Sync),
    named: &'a (dyn Fn() -> Expr + Sync),
}

/// The page of `size` from `offset` of a search's matches best first, group by group: each group
/// is walked where the statistics say that costs at most half what sorting it does ([`walk_budget`]),
/// or else sorted from an index: the names' for the names' matches (a word common in descriptions
/// but rare in names would otherwise have every match read to find the few in a name).
async fn best_first(
    db: &DatabaseConnection,
    groups: &Groups<'_>,
    offset: u64,
    size: u64,
) -> Result<Vec<product::Model>, AppError> {
    let Groups { tenant_id, q, words, matches, named } = *groups;
    let Words { prefixes: lexemes, expansions, frequencies, .. } = words;
    let order = if q.descending { Order::Asc } else { Order::Desc };
    let (names, everywhere) = (
        prefix_shares(&frequencies.names, lexemes, expansions),
        prefix_shares(&frequencies.anywhere, lexemes, expansions),
    );
    let (in_names, anywhere) = (names.iter().product::<f64>(), everywhere.iter().product::<f64>());
    // What sorting each group costs: the names' matches from the names' index, the others from the
    // search index (every match, the names' ones left out after they are read).
    let entries = |shares: &[f64]| shares.iter().sum::<f64>() * frequencies.rows;
    let sorted = [
        sorting_cost(entries(&names), in_names * frequencies.rows),
        sorting_cost(entries(&everywhere), anywhere * frequencies.rows),
    ];
    let (in_name, elsewhere) = (|| matches("A"), || matches("").and(matches("A").not()));
    let groups: [(Group<'_>, f64, f64); 2] =
        [((&in_name, named), in_names, sorted[0]), ((&elsewhere, &elsewhere), anywhere - in_names, sorted[1])];
    let [first, second] = if q.descending { [groups[1], groups[0]] } else { groups };
    let walk = |(_, share, sorted): (Group<'_>, f64, f64), wanted: u64| walk_budget(share, wanted, sorted);
    // Each group newest first (oldest first when descending), `size` rows from `offset` on.
    let newest = |offset: u64, size: u64| {
        let order = order.clone();
        move |select: sea_orm::Select<product::Entity>| {
            Ok(select
                .order_by(Column::CreatedAt, order.clone())
                .order_by(Column::Id, order.clone())
                .offset(offset)
                .limit(size))
        }
    };
    let mut page = page_of(db, tenant_id, q, first.0, walk(first, offset + size), &newest(offset, size), size).await?;
    let taken = page.len() as u64;
    if taken < size {
        // How many rows the first group has: all it had from the offset on, or (none there) a count.
        let in_first = match taken {
            0 => count_at_most(filtered(tenant_id, q, Some((first.0.1)())), offset + 1, db).await?,
            _ => offset + taken,
        };
        let (offset, size) = (offset + taken - in_first, size - taken);
        let walk = walk(second, offset + size);
        page.extend(page_of(db, tenant_id, q, second.0, walk, &newest(offset, size), size).await?);
    }
    Ok(page)
}

/// How many products a `dense` search matches, counted to `cap`: walking the tenant's newest rows
/// where the statistics say `cap` matches lie well within what the search index would cost, else
/// through the search index. The index reads every entry of every lexeme before it yields a
/// match: at a million products, counting `load` (in every description) to 1,000 took 80 ms
/// there, and 1 ms walked.
async fn count_dense(db: &DatabaseConnection, groups: &Groups<'_>, cap: u64) -> Result<u64, AppError> {
    let Groups { tenant_id, q, words, matches, .. } = *groups;
    let Words { prefixes, expansions, frequencies, .. } = words;
    if let Some(budget) = count_walk(frequencies, prefixes, expansions, cap) {
        let walked = filtered(tenant_id, q, None)
            .select_only()
            .expr_as(matches(""), "matching")
            .order_by(Column::CreatedAt, Order::Desc)
            .order_by(Column::Id, Order::Desc)
            .limit(budget)
            .into_query();
        let counted = sea_orm::sea_query::Query::select()
            .expr(Expr::cust("1"))
            .from_subquery(walked, "walked")
            .and_where(Expr::cust("matching"))
            .limit(cap)
            .to_owned();
        if count_rows(counted, db).await? >= cap {
            return Ok(cap);
        }
        // Fewer within the walk: counted again, through the index.
    }
    count_at_most(filtered(tenant_id, q, Some(matches(""))), cap, db).await
}

/// How many of the newest rows to walk to count `cap` matches of `prefixes` ([`walk_budget`]
/// against counting them through the search index); none where the index is cheaper.
fn count_walk(frequencies: &Frequencies, prefixes: &[String], expansions: &[Expansion], cap: u64) -> Option<u64> {
    let shares = prefix_shares(&frequencies.anywhere, prefixes, expansions);
    let share = shares.iter().product::<f64>();
    let counted =
        sorting_cost(shares.iter().sum::<f64>() * frequencies.rows, (share * frequencies.rows).min(cap as f64));
    walk_budget(share, cap, counted)
}

/// What reading `matches` through a search index costs, in rows walked newest first from the
/// listing's index (about 0.9 µs each at a million products): the index reads every entry of
/// every lexeme before it yields a match, a fifteenth of a row each (80 ms for the million
/// entries of `load`), and then each match's product, five rows each (4-8 µs).
fn sorting_cost(entries: f64, matches: f64) -> f64 {
    entries / 15.0 + matches * 5.0
}

/// How many of the newest rows to walk for `wanted` rows of a group holding `share` of the
/// products, where the walk likely costs at most half what the search index does (`indexed`, in
/// rows walked): then at most that many, so that a walk falling short (the statistics take words
/// as independent, and two that fill the same place in a name are not: `portable waterproof`) and
/// then reading the index costs at most twice the index alone; none where the index is cheaper.
fn walk_budget(share: f64, wanted: u64, indexed: f64) -> Option<u64> {
    let walk = wanted as f64 / share;
    (share > 0.0 && walk * 2.0 <= indexed).then_some(indexed as u64)
}

/// A group of a search's matches: how a row read in a listing's order is tested for it, and how a
/// search index is asked for it (the same products, by a test a row needs no index for, and by one
/// an index answers).
type Group<'a> = (&'a (dyn Fn() -> Expr + Sync), &'a (dyn Fn() -> Expr + Sync));

/// What a search on PostgreSQL looks for: its prefixes, the lexemes each stands for, and how common
/// they are.
#[derive(Clone, Copy)]
struct Words<'a> {
    prefixes: &'a [String],
    expansions: &'a [Expansion],
    frequencies: &'a Frequencies,
    /// Whether its page is read group by group with its matches counted to [`DENSE_COUNT_CAP`].
    dense: bool,
}

/// The page `paging` makes (its order, cursor, offset and limit; at most `size` rows) of the
/// tenant's products that `q` filters and `group` holds. Where many match (at least a cap), the
/// page is read in its order's index within the `walk` budget of rows, each row kept if it matches;
/// otherwise (or when the walk falls short) every match comes from the search index and is sorted.
/// Left to itself, the planner cannot tell a rare word from a common one here (the search's words
/// are a parameter): at a million products it walked the whole price index for a word that matched
/// nothing, sorted by price (1.5-2.9 s).
async fn page_of(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    q: &ProductQuery,
    (matching, indexed): Group<'_>,
    walk: Option<u64>,
    paging: &(dyn Fn(sea_orm::Select<product::Entity>) -> Result<sea_orm::Select<product::Entity>, AppError> + Sync),
    size: u64,
) -> Result<Vec<product::Model>, AppError> {
    // `select`'s rows read from `rows` (named `products`, so the page's columns name them).
    let over = |rows: sea_orm::sea_query::SelectStatement| {
        let mut select = product::Entity::find();
        QueryTrait::query(&mut select).from_clear().from_subquery(rows, "products");
        select
    };
    if let Some(budget) = walk {
        // The first rows of the page's order, each saying whether it matches (the LIMIT keeps
        // the match out of the index scan), then the page of those that do.
        let mut walked = paging(filtered(tenant_id, q, None).expr_as(matching(), "matching"))?;
        QueryTrait::query(&mut walked).reset_offset().limit(budget);
        let walk = paging(over(walked.into_query()).filter(Expr::cust("matching")))?;
        let rows = walk.all(db).await?;
        if rows.len() as u64 == size {
            return Ok(rows);
        }
    }
    // Every match from the search index (`OFFSET 0` keeps the planner from walking the order's
    // index instead), then sorted.
    let all = filtered(tenant_id, q, Some(indexed())).offset(0).into_query();
    Ok(paging(over(all))?.all(db).await?)
}

/// Where a search on SQLite reads, all of it from one snapshot of the database.
trait Reader {
    async fn products(&self, select: sea_orm::Select<product::Entity>) -> Result<Vec<product::Model>, AppError>;
    async fn integer(&self, statement: sea_orm::Statement) -> Result<i64, AppError>;
    /// Hands each row's first column, an integer, to `row` until it returns false.
    async fn scan(
        &self,
        statement: sea_orm::Statement,
        row: &mut (dyn FnMut(i64) -> bool + Send),
    ) -> Result<(), AppError>;
}

/// A read transaction of the synchronous readers.
struct Snapshot<'a>(&'a rusqlite::Connection);

impl Reader for Snapshot<'_> {
    async fn products(&self, select: sea_orm::Select<product::Entity>) -> Result<Vec<product::Model>, AppError> {
        reads::run(self.0, &select.build(DatabaseBackend::Sqlite), product_row)
    }

    async fn integer(&self, statement: sea_orm::Statement) -> Result<i64, AppError> {
        Ok(reads::run(self.0, &statement, |row| row.get(0))?.first().copied().unwrap_or(0))
    }

    async fn scan(
        &self,
        statement: sea_orm::Statement,
        row: &mut (dyn FnMut(i64) -> bool + Send),
    ) -> Result<(), AppError> {
        reads::scan(self.0, &statement, row)
    }
}

impl Reader for sea_orm::DatabaseTransaction {
    async fn products(&self, select: sea_orm::Select<product::Entity>) -> Result<Vec<product::Model>, AppError> {
        Ok(select.all(self).await?)
    }

    async fn integer(&self, statement: sea_orm::Statement) -> Result<i64, AppError> {
        Ok(match self.query_one_raw(statement).await? {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        })
    }

    async fn scan(
        &self,
        statement: sea_orm::Statement,
        row: &mut (dyn FnMut(i64) -> bool + Send),
    ) -> Result<(), AppError> {
        for next in self.query_all_raw(statement).await? {
            if !row(next.try_get_by_index(0)?) {
                break;
            }
        }
        Ok(())
    }
}

/// The output of a future that never waits (its reads are synchronous).
fn completed<T>(future: impl Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut context) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(AppError::Internal("a synchronous read waited".into())),
    }
}

/// A search of the SQLite search index (see `migrations::search_scope` for its scope words).
struct Search {
    tenant_id: Uuid,
    q: ProductQuery,
    words: Vec<String>,
    /// How far to count.
    cap: u64,
}

impl Search {
    async fn run(&self, reader: &impl Reader) -> Result<(Vec<product::Model>, Total), AppError> {
        let (q, tenant) = (&self.q, self.tenant_id.simple().to_string());
        let active = match (q.shopper, q.active) {
            (true, Some(false)) => return Ok((Vec::new(), Total::exact(0))), // a shopper asking for inactive products
            (true, _) => Some(true),
            (false, active) => active,
        };
        // The tenant's scope word, left out when the tenant holds every product there is (the
        // same snapshot says so): a single-tenant catalogue of a million would otherwise have
        // every search walk a million entries of the index alongside its words' own.
        let within = match &q.category {
            Some(category) => Some(format!("k{tenant}c{}q", hex::encode(category))),
            None if self.everything(reader).await? => None,
            None => Some(format!("k{tenant}q")),
        };
        let scoped = |words: String| {
            let mut query = format!("({words})");
            if let Some(within) = &within {
                query = format!("{query} AND {{scope}}: \"{within}\"");
            }
            match active {
                Some(true) => format!("({query}) NOT {{scope}}: \"k{tenant}iq\""),
                Some(false) => format!("{query} AND {{scope}}: \"k{tenant}iq\""),
                None => query,
            }
        };
        // FTS5: each word quoted (no query syntax gets through) and a prefix.
        let phrases = self.words.iter().map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" ");
        // Only a word that might start a scope word (they all start with `k`) needs the column
        // filter, which costs FTS5 each match's positions: a count at 10,000 products 30-40% more.
        // A word whose first character is a letter or digit of ASCII other than `k` starts its
        // first token, which neither the folding of diacritics nor stemming changes.
        let reaches_scope = self.words.iter().any(|w| !w.starts_with(|c: char| c.is_ascii_alphanumeric() && c != 'k'));
        let columns = if reaches_scope { "{name description}: " } else { "" };
        let all = scoped(format!("{columns}({phrases})"));
        if q.sort.is_some() {
            let n = u64::try_from(reader.integer(count_matches(&all, self.cap)).await?).unwrap_or(0);
            let total = Total::counted(n, self.cap);
            // Fewer than the cap match: read from the index, then sorted. Left to itself, SQLite
            // walked the sort's index probing the matches, every row of it for a word that matched
            // nothing (a million products: 170 ms warm, 1.4 s cold).
            if n < self.cap {
                return Ok((
                    reader.products(paged(from_index(filtered(self.tenant_id, q, None), &all), q)?).await?,
                    total,
                ));
            }
            return Ok((self.sorted_of_many(reader, &all).await?, total));
        }
        // Best first: every word in the name, then the rest; newest first within each.
        let in_name = scoped(format!("{{name}}: ({phrases})"));
        let (offset, size) = (q.page.offset(), q.page.size);
        let matched = index_rowids(reader, &all, self.cap).await?;
        let n = matched.len() as u64;
        let total = Total::counted(n, self.cap);
        if n < self.cap {
            // Every match is known: the groups come from one more read of the index's rowids (the
            // name's matches) and the page's rows by rowid. Four statements over the index (the
            // count, each group's page, a group's count) were most of a search's time at 10,000.
            if offset >= n {
                return Ok((Vec::new(), total));
            }
            // Ascending, the page needs the name's matches only up to its end: past them it lies
            // wholly among them (a common word's name matches at a million run to thousands).
            let wanted = if q.descending { self.cap } else { offset + size };
            let named = index_rowids(reader, &in_name, wanted).await?;
            // Both ascending, so each group stays newest first.
            let (first, second): (Vec<i64>, Vec<i64>) =
                matched.into_iter().partition(|rowid| named.binary_search(rowid).is_ok());
            let in_order: Vec<i64> = if q.descending {
                second.into_iter().rev().chain(first.into_iter().rev()).collect()
            } else {
                first.into_iter().chain(second).collect()
            };
            let page: Vec<i64> = in_order
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(size).unwrap_or(usize::MAX))
                .map(|rowid| -rowid)
                .collect();
            return Ok((self.by_rowid(reader, &page).await?, total));
        }
        let elsewhere = scoped(format!("{columns}({phrases}) NOT {{name}}: ({phrases})"));
        let (first, second) = if q.descending { (elsewhere, in_name) } else { (in_name, elsewhere) };
        let mut rows = reader.products(self.in_index_order(&first, offset, size)).await?;
        let taken = rows.len() as u64;
        if taken < size {
            // How many rows the first group has: all it had from the offset on, or (none there) a count.
            let in_first = match taken {
                0 => u64::try_from(reader.integer(count_matches(&first, offset + 1)).await?).unwrap_or(0),
                _ => offset + taken,
            };
            let skip = offset + taken - in_first;
            rows.extend(reader.products(self.in_index_order(&second, skip, size - taken)).await?);
        }
        Ok((rows, total))
    }

    /// The tenant's live products of `rowids`, in that order.
    async fn by_rowid(&self, reader: &impl Reader, rowids: &[i64]) -> Result<Vec<product::Model>, AppError> {
        if rowids.is_empty() {
            return Ok(Vec::new());
        }
        let mut place = sea_orm::sea_query::CaseStatement::new();
        for (i, rowid) in rowids.iter().enumerate() {
            place = place.case(Expr::cust("products.rowid").eq(*rowid), i as i64);
        }
        // The rowids drive (the unary `+` keeps SQLite off the tenant's index, which it otherwise
        // chose, reading every product of the tenant: 0.75 ms at 10,000).
        let select = product::Entity::find()
            .filter(Expr::cust("products.rowid").is_in(rowids.iter().copied()))
            .filter(Expr::cust_with_values("+products.tenant_id = ?", [self.tenant_id]))
            .filter(Column::DeletedAt.is_null())
            .order_by(Expr::expr(place), Order::Asc);
        reader.products(select).await
    }

    /// The page in `q`'s sort order of a search that matches at least the cap (`query` is all its
    /// words): the set of matches read from the index once, then the sort's index walked until the
    /// page is full, keeping the rows in the set. A common word fills a page within a few rows.
    /// Left to SQLite, `rowid IN (the matches)` built a B-tree of every match before it walked the
    /// sort's index: at a million products, 0.6-0.7 s for `search=a&sort=price` or
    /// `search=seeded&sort=stock`.
    async fn sorted_of_many(&self, reader: &impl Reader, query: &str) -> Result<Vec<product::Model>, AppError> {
        let q = &self.q;
        let mut matched = Rowids::default();
        let matches = sea_orm::Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT -rowid FROM products_search WHERE products_search MATCH ?",
            [query.into()],
        );
        reader
            .scan(matches, &mut |rowid| {
                matched.insert(rowid);
                true
            })
            .await?;
        let mut walk = paged(filtered(self.tenant_id, q, None), q)?.select_only().expr(Expr::cust("products.rowid"));
        QueryTrait::query(&mut walk).reset_offset().reset_limit();
        // A cursor's page starts right after it; otherwise `offset` matches are passed over.
        let skip = if q.after.is_some() { 0 } else { q.page.offset() };
        let (mut passed, mut page) = (0, Vec::new());
        reader
            .scan(walk.build(DatabaseBackend::Sqlite), &mut |rowid| {
                if matched.contains(rowid) {
                    if passed < skip {
                        passed += 1;
                    } else {
                        page.push(rowid);
                    }
                }
                (page.len() as u64) < q.page.size
            })
            .await?;
        if page.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = paged(filtered(self.tenant_id, q, Some(Expr::cust("products.rowid").is_in(page))), q)?;
        QueryTrait::query(&mut rows).reset_offset();
        reader.products(rows).await
    }

    /// Whether the tenant's live products are all the live products there are.
    async fn everything(&self, reader: &impl Reader) -> Result<bool, AppError> {
        let statement = sea_orm::Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT COALESCE(SUM(n), 0) = COALESCE(SUM(CASE WHEN tenant_id = ? THEN n ELSE 0 END), 0) FROM product_counts",
            [self.tenant_id.into()],
        );
        Ok(reader.integer(statement).await? == 1)
    }

    /// `size` products from `offset` on of the index's matches of `query`, newest first (oldest
    /// first when descending), in the order the index keeps its rows.
    fn in_index_order(&self, query: &str, offset: u64, size: u64) -> sea_orm::Select<product::Entity> {
        let select =
            product::Entity::find().filter(Column::TenantId.eq(self.tenant_id)).filter(Column::DeletedAt.is_null());
        // Its row order (the products' rowids negated: newest first) is the page's.
        let order = if self.q.descending { Order::Desc } else { Order::Asc };
        from_index(select, query).order_by(Expr::cust("products_search.rowid"), order).offset(offset).limit(size)
    }
}

/// A set of SQLite rowids, a bit each: a million products' take 125 kB.
#[derive(Default)]
struct Rowids(Vec<u64>);

impl Rowids {
    fn insert(&mut self, rowid: i64) {
        let Ok(bit) = usize::try_from(rowid) else { return }; // rowids of rows are positive
        if bit / 64 >= self.0.len() {
            self.0.resize(bit / 64 + 1, 0);
        }
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    fn contains(&self, rowid: i64) -> bool {
        usize::try_from(rowid).is_ok_and(|bit| self.0.get(bit / 64).is_some_and(|word| word & (1 << (bit % 64)) != 0))
    }
}

/// SQLite: `select`'s products that the search index matches with `query`, the index driving
/// (CROSS JOIN fixes the loop's order): a join costs what the matches cost.
fn from_index(mut select: sea_orm::Select<product::Entity>, query: &str) -> sea_orm::Select<product::Entity> {
    QueryTrait::query(&mut select)
        .from_clear()
        .from("products_search")
        .cross_join(product::Entity)
        .and_where(Expr::cust("products.rowid = -products_search.rowid"))
        .and_where(Expr::cust_with_values("products_search MATCH ?", [query.to_string()]));
    select
}

/// The search index's rowids (the products' negated: newest first) that match `query`, ascending,
/// at most `cap` of them.
async fn index_rowids(reader: &impl Reader, query: &str, cap: u64) -> Result<Vec<i64>, AppError> {
    let statement = sea_orm::Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        "SELECT rowid FROM products_search WHERE products_search MATCH ? ORDER BY rowid LIMIT ?",
        [query.into(), i64::try_from(cap).unwrap_or(i64::MAX).into()],
    );
    let mut rowids = Vec::new();
    reader
        .scan(statement, &mut |rowid| {
            rowids.push(rowid);
            true
        })
        .await?;
    Ok(rowids)
}

/// Counts the search index's rows that match `query`, at most `cap` of them.
fn count_matches(query: &str, cap: u64) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        "SELECT COUNT(*) FROM (SELECT 1 FROM products_search WHERE products_search MATCH ? LIMIT ?)",
        [query.into(), i64::try_from(cap).unwrap_or(i64::MAX).into()],
    )
}

/// At most this many words' stems are remembered (then all are forgotten at once), each word of at
/// most [`STEMMED_WORD_KEPT`] bytes: what a client can make the service hold stays under a few MB.
const STEMS_KEPT: usize = 10_000;
const STEMMED_WORD_KEPT: usize = 32;

/// PostgreSQL: what a search looks for in `products.search`, each as a prefix: every word stemmed
/// as the index was (English). The index leaves stop words out, so among other words a stop word
/// is left out of the search too; a search of stop words alone looks for each as typed ("so"
/// towards "socks"). `to_tsquery('english', ...)` dropped every stop word, so such a search matched
/// nothing, where SQLite's index, which keeps stop words, finds them. None: nothing can match.
///
/// A word's stem is a function of the word alone, so it is asked of PostgreSQL once and remembered.
/// Stemmed inside the search's statement, it made the statement twice as long to plan and to run
/// (`EXPLAIN ANALYZE` at 10,000 products: 0.29 and 0.71 ms against 0.14 and 0.35 ms; searches/s
/// 9% more).
async fn search_lexemes(reads: &Reads, words: &[String]) -> Result<Vec<String>, AppError> {
    let known = |stems: &HashMap<String, Lexized>| -> Vec<Option<Lexized>> {
        words.iter().map(|word| stems.get(word).cloned()).collect()
    };
    let mut lexized = known(&reads.stems.lock().unwrap_or_else(|e| e.into_inner()));
    let missing: Vec<&str> =
        words.iter().zip(&lexized).filter(|(_, l)| l.is_none()).map(|(word, _)| word.as_str()).collect();
    if !missing.is_empty() {
        let statement = sea_orm::Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT word, stems[1] AS stem, cardinality(stems) AS n \
             FROM (SELECT word, ts_lexize('english_stem', word) AS stems \
             FROM unnest(string_to_array($1, ' ')) AS word) AS stemmed",
            [missing.join(" ").into()],
        );
        let mut asked = HashMap::new();
        for row in reads.db.query_all_raw(statement).await? {
            let word: String = row.try_get("", "word")?;
            let lexeme = match row.try_get::<Option<i32>>("", "n")? {
                None => Lexized::Unrecognised,
                Some(0) => Lexized::Stop,
                Some(_) => Lexized::Stem(row.try_get::<Option<String>>("", "stem")?.unwrap_or_else(|| word.clone())),
            };
            asked.insert(word, lexeme);
        }
        for (word, lexeme) in words.iter().zip(lexized.iter_mut()) {
            if lexeme.is_none() {
                *lexeme = asked.get(word).cloned();
            }
        }
        let mut stems = reads.stems.lock().unwrap_or_else(|e| e.into_inner());
        if stems.len() + asked.len() > STEMS_KEPT {
            stems.clear();
        }
        stems.extend(asked.into_iter().filter(|(word, _)| word.len() <= STEMMED_WORD_KEPT));
    }
    Ok(lexemes_of(words, &lexized))
}

/// How many lexemes a prefix is spelled out as at most (a longer list would cost the index more
/// than the prefix itself).
const PREFIX_LEXEMES: usize = 16;

/// PostgreSQL: the lexemes of the search vocabulary (`migrations::SearchVocabulary`) each of the
/// `prefixes` stands for, at most [`PREFIX_LEXEMES`] (more: [`Expansion::Many`]); one statement
/// for those not remembered ([`reads::Prefixes`]).
async fn prefix_lexemes(reads: &Reads, prefixes: &[String]) -> Result<Vec<Expansion>, AppError> {
    let known = &reads.prefixes;
    let (generation, read) = (known.generation(), std::time::Instant::now());
    let mut expansions: Vec<Option<Expansion>> = prefixes.iter().map(|prefix| known.get(prefix)).collect();
    // Each prefix's lexemes are one range of the vocabulary's bytewise order: from the prefix up to
    // the next string that does not start with it.
    let ranges: Vec<Value> = prefixes
        .iter()
        .zip(&expansions)
        .filter(|(_, expansion)| expansion.is_none())
        .filter_map(|(prefix, _)| Some(serde_json::json!({ "prefix": prefix, "upper": successor(prefix)? })))
        .collect();
    if !ranges.is_empty() {
        let statement = sea_orm::Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT p.prefix, v.lexeme FROM json_to_recordset($1::json) AS p(prefix text, upper text), \
             LATERAL (SELECT lexeme FROM search_vocabulary \
             WHERE lexeme >= p.prefix COLLATE \"C\" AND lexeme < p.upper COLLATE \"C\" ORDER BY lexeme LIMIT $2) AS v",
            [Value::from(ranges).to_string().into(), i64::try_from(PREFIX_LEXEMES + 1).unwrap_or(i64::MAX).into()],
        );
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for row in reads.db.query_all_raw(statement).await? {
            found.entry(row.try_get("", "prefix")?).or_default().push(row.try_get("", "lexeme")?);
        }
        let mut read_now = Vec::new();
        for (prefix, expansion) in prefixes.iter().zip(expansions.iter_mut()) {
            if expansion.is_some() || successor(prefix).is_none() {
                continue;
            }
            let lexemes = found.get(prefix).cloned().unwrap_or_default();
            let expanded = if lexemes.len() > PREFIX_LEXEMES { Expansion::Many } else { Expansion::Lexemes(lexemes) };
            if prefix.len() <= STEMMED_WORD_KEPT {
                read_now.push((prefix.clone(), expanded.clone()));
            }
            *expansion = Some(expanded);
        }
        known.put(generation, read, read_now);
    }
    // A prefix of the last characters only: asked for as a prefix.
    Ok(expansions.into_iter().map(|expansion| expansion.unwrap_or(Expansion::Many)).collect())
}

/// How long the planner's statistics of the search index are kept before they are read again.
const FREQUENCIES_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// PostgreSQL: the planner's statistics of the search indexes' lexemes (`pg_stats` of the
/// products' `search` and of the names' index: the most common lexemes and their shares of the
/// products; and the products counted, every tenant's), read at most once a [`FREQUENCIES_KEPT`].
/// None gathered yet (a table never analyzed): every word is taken as common ([`share`]).
async fn frequencies(reads: &Reads) -> Result<std::sync::Arc<Frequencies>, AppError> {
    let kept = reads.frequencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(kept) = kept.filter(|f| f.read.is_some_and(|read| read.elapsed() < FREQUENCIES_KEPT)) {
        return Ok(kept);
    }
    let statement = sea_orm::Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT s.tablename AS of, to_json(s.most_common_elems::text::text[])::text AS elems, \
         to_json(s.most_common_elem_freqs)::text AS freqs, c.reltuples::float8 AS rows \
         FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() \
         AND ((s.tablename = 'products' AND s.attname = 'search') OR s.tablename = 'products_name_search') \
         WHERE c.oid = 'products'::regclass",
        [],
    );
    let mut read = Frequencies { read: Some(std::time::Instant::now()), ..Default::default() };
    for row in reads.db.query_all_raw(statement).await? {
        let json = |column: &str| -> Result<Value, AppError> {
            let text: Option<String> = row.try_get("", column)?;
            Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null))
        };
        let (elems, freqs) = (json("elems")?, json("freqs")?);
        let freqs: Vec<f64> = freqs.as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        let elems: Vec<&str> = elems.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        // One share per lexeme, then the least and the greatest share (and, for arrays but not for
        // a tsvector, the share of nulls).
        if !elems.is_empty() && freqs.len() >= elems.len() + 2 {
            let shares = Shares {
                common: elems.iter().zip(&freqs).map(|(lexeme, share)| (lexeme.to_string(), *share)).collect(),
                floor: freqs[elems.len()],
            };
            match row.try_get::<Option<String>>("", "of")?.as_deref() {
                Some("products") => read.anywhere = shares,
                _ => read.names = shares,
            }
        }
        read.rows = row.try_get::<f64>("", "rows")?.max(0.0);
    }
    let read = std::sync::Arc::new(read);
    *reads.frequencies.lock().unwrap_or_else(|e| e.into_inner()) = Some(read.clone());
    Ok(read)
}

/// The share of the products that hold every one of `prefixes` by `shares` (the words taken as
/// independent).
fn share(shares: &Shares, prefixes: &[String], expansions: &[Expansion]) -> f64 {
    prefix_shares(shares, prefixes, expansions).iter().product::<f64>()
}

/// The share of the products that hold each of `prefixes` by `shares` (a prefix's lexemes added
/// up). No statistics yet: every prefix taken as in every product, so its page is walked for first.
fn prefix_shares(shares: &Shares, prefixes: &[String], expansions: &[Expansion]) -> Vec<f64> {
    if shares.common.is_empty() {
        return vec![1.0; prefixes.len()];
    }
    let of = |lexeme: &str| shares.common.get(lexeme).copied().unwrap_or(shares.floor);
    let each = prefixes.iter().zip(expansions).map(|(prefix, expansion)| match expansion {
        Expansion::Lexemes(lexemes) => lexemes.iter().map(|l| of(l)).sum::<f64>(),
        // Those of its lexemes among the common ones.
        Expansion::Many => shares.common.iter().filter(|(l, _)| l.starts_with(prefix.as_str())).map(|(_, s)| s).sum(),
    });
    each.map(|share| share.min(1.0)).collect()
}

/// Whether `wanted` rows of a group holding `share` of the products are likely found within half
/// the [`NEWEST_WALK_BUDGET`] of the newest ones.
fn walkable(share: f64, wanted: u64) -> bool {
    share * (NEWEST_WALK_BUDGET / 2) as f64 >= wanted as f64
}

/// Whether a search's page costs less read newest first from the listing's index, its matches
/// counted to [`DENSE_COUNT_CAP`], than sorted from the search index with its matches counted to
/// [`SEARCH_COUNT_CAP`], by the planner's statistics, a row walked costing a fifth of a match
/// read from the search index (measured at a million products: 0.9 µs and 4-5 µs). A wrong guess
/// costs time, never the answer: a walk that falls short sorts the matches instead.
fn dense(frequencies: &Frequencies, prefixes: &[String], expansions: &[Expansion], wanted: u64) -> bool {
    let share = share(&frequencies.anywhere, prefixes, expansions);
    if share <= 0.0 || !walkable(share, wanted) {
        return false;
    }
    // Rows walked to the page's last one, and matches in all.
    let (walked, matches) = (wanted as f64 / share, share * frequencies.rows);
    let read = |cap: u64| matches.min(cap as f64) * 5.0;
    let sorted = read(SEARCH_COUNT_CAP) + if matches >= SEARCH_COUNT_CAP as f64 { walked } else { 0.0 };
    walked + read(DENSE_COUNT_CAP) < sorted
}

/// The least string after every string that starts with `prefix`, in code point order (UTF-8's
/// byte order); none when every character is the last one.
pub(super) fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The lexemes a search of `words` looks for, given what the dictionary made of each (`None`: not
/// known, taken as not recognised).
fn lexemes_of(words: &[String], lexized: &[Option<Lexized>]) -> Vec<String> {
    // Recognised words: whether any of them has a stem (none recognised: neither).
    let recognised = lexized.iter().filter(|l| !matches!(l, None | Some(Lexized::Unrecognised)));
    let any_stem = recognised.clone().next().map(|_| recognised.clone().any(|l| matches!(l, Some(Lexized::Stem(_)))));
    words
        .iter()
        .zip(lexized)
        .filter_map(|(word, lexized)| match lexized {
            Some(Lexized::Stem(stem)) => Some(stem.clone()),
            // Only where no word has a stem, and some word was recognised.
            _ if any_stem == Some(false) => Some(word.clone()),
            _ => None,
        })
        .collect()
}

/// Runs a select of products.
async fn fetch(reads: &Reads, select: sea_orm::Select<product::Entity>) -> Result<Vec<product::Model>, AppError> {
    match reads.sqlite() {
        Some(sqlite) => sqlite.query_long(select.build(DatabaseBackend::Sqlite), product_row).await,
        None => Ok(select.all(&reads.db).await?),
    }
}

/// How many rows `select` returns, counting at most `cap`.
async fn count_at_most(
    select: sea_orm::Select<product::Entity>,
    cap: u64,
    db: &DatabaseConnection,
) -> Result<u64, AppError> {
    let limited = select.select_only().column_as(Expr::cust("1"), "one").limit(cap).into_query();
    count_rows(limited, db).await
}

/// How many rows `rows` returns.
async fn count_rows(rows: sea_orm::sea_query::SelectStatement, db: &DatabaseConnection) -> Result<u64, AppError> {
    let counting = sea_orm::sea_query::Query::select()
        .expr_as(Expr::cust("COUNT(*)"), "n")
        .from_subquery(rows, "matches")
        .to_owned();
    let n: i64 = match db.query_one(&counting).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The select of the tenant's live products that `q` filters, `matches` also holding (a search).
fn filtered(tenant_id: Uuid, q: &ProductQuery, matches: Option<Expr>) -> sea_orm::Select<product::Entity> {
    let mut select = product::Entity::find().filter(Column::TenantId.eq(tenant_id)).filter(Column::DeletedAt.is_null());
    if let Some(matches) = matches {
        select = select.filter(matches);
    }
    if let Some(category) = &q.category {
        select = select.filter(Column::Category.eq(category.as_str()));
    }
    if let Some(active) = q.active {
        select = select.filter(Column::Active.eq(active));
    }
    if q.shopper {
        select = select.filter(Column::Active.eq(true));
    }
    select
}

/// `select`'s page that `q` asks for, in `q`'s sort order (by creation without one).
fn paged(
    mut select: sea_orm::Select<product::Entity>,
    q: &ProductQuery,
) -> Result<sea_orm::Select<product::Entity>, AppError> {
    let order = if q.descending { Order::Desc } else { Order::Asc };
    if let Some(after) = &q.after {
        // Rows strictly beyond the last one listed, in the listing's own order: an index range
        // instead of an offset, so a deep page costs what the first one does.
        let (key, value): (Expr, Expr) = match (q.effective_sort(), &after.value) {
            (Some(SortField::Name), KeyValue::Text(name)) => (
                Func::lower(Expr::col((product::Entity, Column::Name))).into(),
                Func::lower(Expr::val(name.clone())).into(),
            ),
            (Some(SortField::Price), KeyValue::Int(v)) => (Expr::col((product::Entity, Column::Price)), Expr::val(*v)),
            (Some(SortField::Stock), KeyValue::Int(v)) => (Expr::col((product::Entity, Column::Stock)), Expr::val(*v)),
            (Some(SortField::CreatedAt), KeyValue::Time(t)) => {
                (Expr::col((product::Entity, Column::CreatedAt)), Expr::val(*t))
            }
            _ => return Err(AppError::invalid_parameter("cursor", "the cursor does not belong to this listing")),
        };
        // One row-value comparison, `(key, id) > (value, id)`: both databases seek the listing's
        // index to it. Spelled `key > value OR (key = value AND id > ...)`, SQLite walked every row
        // sharing the key (a seeded batch shares one creation time) on every page.
        let (row, last) =
            (Expr::tuple([key, Expr::col((product::Entity, Column::Id))]), Expr::tuple([value, Expr::val(after.id)]));
        select = select.filter(if q.descending { row.lt(last) } else { row.gt(last) });
    }
    select = match q.sort {
        // Case-insensitive, so both databases agree on the order.
        Some(SortField::Name) => {
            select.order_by(Expr::expr(Func::lower(Expr::col((product::Entity, Column::Name)))), order.clone())
        }
        Some(SortField::Price) => select.order_by(Column::Price, order.clone()),
        Some(SortField::Stock) => select.order_by(Column::Stock, order.clone()),
        Some(SortField::CreatedAt) | None => select.order_by(Column::CreatedAt, order.clone()),
    };
    // The id breaks ties, so pages never overlap or skip.
    let offset = if q.after.is_some() { 0 } else { q.page.offset() };
    Ok(select.order_by(Column::Id, order).offset(offset).limit(q.page.size))
}

/// Applies `changes` to the live product `id` if it still has `if_version` (when given); `None`
/// when there is no such product.
pub async fn update(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    id: Uuid,
    changes: ProductChanges,
    if_version: Option<i64>,
) -> Result<Option<product::Model>, AppError> {
    let sku = changes.sku.clone().unwrap_or_default();
    let mut update = product::Entity::update_many()
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(super::now()));
    let set = |update: sea_orm::UpdateMany<product::Entity>, col: Column, v: Option<sea_orm::Value>| match v {
        Some(v) => update.col_expr(col, Expr::value(v)),
        None => update,
    };
    update = set(update, Column::Sku, changes.sku.map(Into::into));
    update = set(update, Column::Name, changes.name.map(Into::into));
    update = set(update, Column::Description, changes.description.map(Into::into));
    update = set(update, Column::Category, changes.category.map(Into::into));
    update = set(update, Column::Price, changes.price.map(Into::into));
    update = set(update, Column::Currency, changes.currency.map(Into::into));
    update = set(update, Column::Stock, changes.stock.map(Into::into));
    update = set(update, Column::Active, changes.active.map(Into::into));
    update = set(update, Column::Tags, changes.tags.map(|v| Value::from(v).into()));
    update = set(update, Column::Images, changes.images.map(|v| Value::from(v).into()));
    update =
        update.filter(Column::Id.eq(id)).filter(Column::TenantId.eq(tenant_id)).filter(Column::DeletedAt.is_null());
    if let Some(version) = if_version {
        update = update.filter(Column::Version.eq(version));
    }
    let result = update.exec(db).await.map_err(|e| map_unique(e, &sku))?;
    match (result.rows_affected, live(tenant_id, id).one(db).await?) {
        (_, None) => Ok(None),
        (0, Some(current)) => Err(super::stale("product", if_version, current.version)),
        (_, Some(current)) => Ok(Some(current)),
    }
}

/// Soft-deletes the live product `id`; `false` when there is no such product.
pub async fn delete(db: &DatabaseConnection, tenant_id: Uuid, id: Uuid) -> Result<bool, AppError> {
    let now = super::now();
    let result = product::Entity::update_many()
        .col_expr(Column::DeletedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .filter(Column::Id.eq(id))
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_point_read_on_sqlite_is_built_once_with_the_id_bound_before_the_tenant() {
        // Were sea-query's values in another order, every GET would build its statement again.
        let sql = live_sqlite().expect("the values are the id, then the tenant");
        assert!(sql.contains("\"id\" = ? AND") && sql.contains("\"tenant_id\" = ?"), "{sql}");
    }

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn a_search_looks_for_stems_and_for_stop_words_only_when_it_has_nothing_else() {
        let stem = |s: &str| Some(Lexized::Stem(s.to_string()));
        let (stop, unknown) = (Some(Lexized::Stop), Some(Lexized::Unrecognised));
        // Stems as the dictionary made them; a stop word among them is left out, as the index left it.
        assert_eq!(lexemes_of(&words("running so boots"), &[stem("run"), stop.clone(), stem("boot")]), ["run", "boot"]);
        // Stop words alone are looked for as typed ("so" towards "socks").
        assert_eq!(lexemes_of(&words("so the"), &[stop.clone(), stop.clone()]), ["so", "the"]);
        // A word the dictionary does not recognise goes with the stop words: kept only beside them.
        assert_eq!(lexemes_of(&words("x lamp"), &[unknown.clone(), stem("lamp")]), ["lamp"]);
        assert_eq!(lexemes_of(&words("x so"), &[unknown.clone(), stop]), ["x", "so"]);
        // Nothing recognised: nothing to look for.
        assert!(lexemes_of(&words("x"), &[unknown]).is_empty());
        assert!(lexemes_of(&words("x"), &[None]).is_empty());
    }

    #[test]
    fn a_common_word_is_counted_by_walking_the_newest_rows_and_a_rare_one_through_the_index() {
        let common = [("load", 1.0), ("portabl", 0.08), ("watch", 0.025), ("waterproof", 0.08)];
        let anywhere = Shares { common: common.iter().map(|(l, s)| (l.to_string(), *s)).collect(), floor: 0.0001 };
        let million = Frequencies { anywhere, rows: 1e6, ..Default::default() };
        let lexemes = |l: &[&str]| Expansion::Lexemes(l.iter().map(|l| l.to_string()).collect());
        // In every product: 1,000 of them within the newest 1,000 rows, against an index read of
        // a million entries; the walk may go on until it would have cost what the index does.
        let budget = count_walk(&million, &words("load"), &[lexemes(&["load"])], 1_000);
        assert!(budget.is_some_and(|rows| (2_000..1_000_000).contains(&rows)), "{budget:?}");
        // In one product in 120: 120,000 rows walked, against an index read of 185,000 entries and
        // 1,000 products (what 17,000 rows walked cost).
        let words2 = words("portabl wat");
        assert_eq!(
            count_walk(&million, &words2, &[lexemes(&["portabl"]), lexemes(&["watch", "waterproof"])], 1_000),
            None
        );
        // A word no statistics know: as rare as the least common one.
        assert_eq!(count_walk(&million, &words("zebra"), &[lexemes(&["zebra"])], 1_000), None);
        // No statistics yet (a table never analyzed counts no rows): never walked.
        let none = Frequencies::default();
        assert_eq!(count_walk(&none, &words("load"), &[lexemes(&["load"])], 1_000), None);
        // A group is walked where its page likely lies within half what sorting it costs, and
        // then at most that far: a walk falling short and the sort after it cost at most twice the sort.
        assert_eq!(walk_budget(0.01, 20, 30_000.0), Some(30_000));
        assert_eq!(walk_budget(0.001, 20, 30_000.0), None);
        assert_eq!(walk_budget(0.0, 20, 30_000.0), None);
    }

    #[test]
    fn a_prefix_range_ends_at_the_first_string_that_does_not_start_with_it() {
        assert_eq!(successor("lam").as_deref(), Some("lan"));
        assert_eq!(successor("az").as_deref(), Some("a{"));
        // Past the surrogates, which no string holds.
        assert_eq!(successor("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        // The last character cannot grow: the one before it does.
        assert_eq!(successor("b\u{10ffff}").as_deref(), Some("c"));
        assert_eq!(successor("\u{10ffff}"), None);
        for (prefix, inside, outside) in
            [("lam", "lampshad", "lan"), ("\u{e9}t\u{e9}", "\u{e9}t\u{e9}s", "\u{e9}t\u{ea}")]
        {
            let upper = successor(prefix).unwrap();
            // Byte order, as the vocabulary's "C" collation compares.
            assert!(prefix.as_bytes() <= inside.as_bytes() && inside.as_bytes() < upper.as_bytes());
            assert!(outside.as_bytes() >= upper.as_bytes());
        }
    }
}
