//! Versioned schema migrations (sea-orm-migration). Each migration is a frozen snapshot: never edit
//! one that has shipped; add the next. Applying them is idempotent (`seaql_migrations` records what
//! ran), on SQLite and PostgreSQL alike.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, integer, integer_null, json, json_null, string, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(SessionsThrottlesLeases),
            Box::new(ProductSearch),
            Box::new(SearchScopes),
            Box::new(CountsPerStatement),
            Box::new(SearchPendingList),
            Box::new(SearchOneLetter),
            Box::new(SearchVocabulary),
            Box::new(ProductsChanged),
            Box::new(ProductsChangedSqlite),
            Box::new(NoProductsTenantCreated),
            Box::new(OrdersCustomerInTenant),
        ]
    }
}

/// Tenants, users, products, customers, orders, idempotency keys, tokens, API keys and settings.
struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261122_000001_initial"
    }
}

fn pk(name: &'static str) -> ColumnDef {
    uuid(name).primary_key().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tenants")
                .col(pk("id"))
                .col(string("slug").unique_key())
                .col(string("name"))
                .col(string("plan").default("standard"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("users")
                .col(pk("id"))
                .col(uuid("tenant_id"))
                .col(string("email"))
                .col(string("password_hash"))
                .col(string("role"))
                .col(uuid_null("customer_id"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(ForeignKey::create().from("users", "tenant_id").to("tenants", "id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("users_tenant_email").table("users").col("tenant_id").col("email").unique().to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("products")
                .col(pk("id"))
                .col(uuid("tenant_id"))
                .col(string("sku"))
                .col(string("name"))
                .col(text("description"))
                .col(string("category"))
                .col(big_integer("price"))
                .col(string("currency"))
                .col(integer("stock"))
                .col(boolean("active"))
                .col(json("tags"))
                .col(json("images"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("deleted_at"))
                .col(big_integer("version").default(1))
                .foreign_key(ForeignKey::create().from("products", "tenant_id").to("tenants", "id"))
                .to_owned(),
        )
        .await?;
        // A SKU is unique among a tenant's live products: a deleted product's SKU can be reused.
        // Partial indexes read the same on SQLite and PostgreSQL.
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX products_tenant_sku_live ON products (tenant_id, sku) WHERE deleted_at IS NULL",
            )
            .await?;
        m.create_index(
            Index::create()
                .name("products_tenant_created")
                .table("products")
                .col("tenant_id")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        // Listings filter live products by category and sort them (by price most often): these let both
        // databases read a page in index order instead of sorting the tenant's whole catalogue.
        for sql in [
            "CREATE INDEX products_live_category_price ON products (tenant_id, category, price, id) WHERE deleted_at IS NULL",
            "CREATE INDEX products_live_price ON products (tenant_id, price, id) WHERE deleted_at IS NULL",
        ] {
            m.get_connection().execute_unprepared(sql).await?;
        }
        m.create_table(
            Table::create()
                .table("customers")
                .col(pk("id"))
                .col(uuid("tenant_id"))
                .col(string("email"))
                .col(string("first_name"))
                .col(string("last_name"))
                .col(string_null("phone"))
                .col(json_null("default_address"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version").default(1))
                .foreign_key(ForeignKey::create().from("customers", "tenant_id").to("tenants", "id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("customers_tenant_email")
                .table("customers")
                .col("tenant_id")
                .col("email")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("orders")
                .col(pk("id"))
                .col(uuid("tenant_id"))
                .col(uuid("customer_id"))
                .col(string("status"))
                .col(string("currency"))
                .col(big_integer("subtotal"))
                .col(big_integer("total"))
                .col(json("shipping_address"))
                .col(string("shipping_method"))
                .col(string_null("tracking_number"))
                .col(string_null("carrier"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(big_integer("version").default(1))
                .foreign_key(ForeignKey::create().from("orders", "tenant_id").to("tenants", "id"))
                .foreign_key(ForeignKey::create().from("orders", "customer_id").to("customers", "id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("orders_tenant_created").table("orders").col("tenant_id").col("created_at").to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("order_items")
                .col(pk("id"))
                .col(uuid("order_id"))
                .col(uuid("tenant_id"))
                .col(integer("position"))
                .col(uuid("product_id"))
                .col(string("sku"))
                .col(string("name"))
                .col(integer("quantity"))
                .col(big_integer("unit_price"))
                .col(big_integer("line_total"))
                .foreign_key(ForeignKey::create().from("order_items", "order_id").to("orders", "id"))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("order_items_order").table("order_items").col("order_id").to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table("idempotency_keys")
                .col(pk("id"))
                .col(uuid("tenant_id"))
                .col(string("principal"))
                .col(string("key"))
                .col(string("request_hash"))
                .col(integer_null("response_status"))
                .col(json_null("response_body"))
                .col(string_null("response_location"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idempotency_keys_scope")
                .table("idempotency_keys")
                .col("tenant_id")
                .col("principal")
                .col("key")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("refresh_tokens")
                .col(pk("id"))
                .col(uuid("tenant_id"))
                .col(uuid("user_id"))
                .col(uuid("family_id"))
                .col(string("token_hash").unique_key())
                .col(uuid("access_jti"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(ForeignKey::create().from("refresh_tokens", "user_id").to("users", "id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("refresh_tokens_family").table("refresh_tokens").col("family_id").to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("refresh_tokens_access").table("refresh_tokens").col("access_jti").to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("revoked_access_tokens")
                .col(pk("jti"))
                .col(uuid("tenant_id"))
                .col(timestamp_with_time_zone("expires_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("api_keys")
                .col(pk("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                .col(string("key_hash").unique_key())
                .col(json("scopes"))
                .col(string("plan"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .foreign_key(ForeignKey::create().from("api_keys", "tenant_id").to("tenants", "id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create().table("settings").col(string("key").primary_key()).col(text("value")).to_owned(),
        )
        .await?;
        Ok(())
    }
}

/// Sessions revoked as a whole (replacing single revoked access tokens), login throttles shared by
/// every instance, and idempotency claims that expire (a lease with a fencing token) and record the
/// resource they created in the same transaction as the resource.
struct SessionsThrottlesLeases;

impl MigrationName for SessionsThrottlesLeases {
    fn name(&self) -> &str {
        "m20261204_000002_sessions_throttles_leases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SessionsThrottlesLeases {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("revoked_sessions")
                .col(pk("session_id"))
                .col(uuid("tenant_id"))
                .col(timestamp_with_time_zone("expires_at"))
                .to_owned(),
        )
        .await?;
        // A token issued before sessions existed stands for its own session (its jti).
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO revoked_sessions (session_id, tenant_id, expires_at) \
                 SELECT jti, tenant_id, expires_at FROM revoked_access_tokens",
            )
            .await?;
        m.drop_table(Table::drop().table("revoked_access_tokens").to_owned()).await?;
        m.create_table(
            Table::create()
                .table("login_throttles")
                .col(string("key").primary_key())
                .col(integer("failures"))
                .col(timestamp_with_time_zone("window_started_at"))
                .col(timestamp_with_time_zone_null("blocked_until"))
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [timestamp_with_time_zone_null("lease_until"), uuid_null("claim_token"), uuid_null("resource_id")]
        {
            m.alter_table(Table::alter().table("idempotency_keys").add_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// Full-text search over product names and descriptions, maintained in the same transaction as the
/// product: on SQLite an FTS5 index (external content, Porter stemming, prefix indexes) kept by
/// triggers; on PostgreSQL a stored generated `tsvector` (English stemming) with a GIN index. And an
/// index per sort order of a listing (id breaking ties), so a page, and a keyset page at any depth,
/// is read in index order.
struct ProductSearch;

impl MigrationName for ProductSearch {
    fn name(&self) -> &str {
        "m20261204_000003_product_search"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ProductSearch {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let statements: &[&str] = match m.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => &[
                "CREATE VIRTUAL TABLE products_fts USING fts5(name, description, content='products', \
                 content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')",
                "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN \
                 INSERT INTO products_fts(rowid, name, description) VALUES (new.rowid, new.name, new.description); END",
                "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN \
                 INSERT INTO products_fts(products_fts, rowid, name, description) \
                 VALUES ('delete', old.rowid, old.name, old.description); END",
                "CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN \
                 INSERT INTO products_fts(products_fts, rowid, name, description) \
                 VALUES ('delete', old.rowid, old.name, old.description); \
                 INSERT INTO products_fts(rowid, name, description) VALUES (new.rowid, new.name, new.description); END",
                "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
            ],
            _ => &[
                "ALTER TABLE products ADD COLUMN search tsvector GENERATED ALWAYS AS \
                 (setweight(to_tsvector('english', name), 'A') || setweight(to_tsvector('english', description), 'B')) STORED",
                "CREATE INDEX products_search ON products USING GIN (search)",
            ],
        };
        let orders = [
            "CREATE INDEX products_live_name ON products (tenant_id, lower(name), id) WHERE deleted_at IS NULL",
            "CREATE INDEX products_live_stock ON products (tenant_id, stock, id) WHERE deleted_at IS NULL",
            "CREATE INDEX products_live_created ON products (tenant_id, created_at, id) WHERE deleted_at IS NULL",
            "INSERT INTO product_counts (tenant_id, category, active, n) \
             SELECT tenant_id, category, active, COUNT(*) FROM products WHERE deleted_at IS NULL \
             GROUP BY tenant_id, category, active",
        ];
        let counts: &[&str] = match m.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => &[
                "CREATE TRIGGER product_counts_insert AFTER INSERT ON products WHEN new.deleted_at IS NULL BEGIN \
                 INSERT INTO product_counts (tenant_id, category, active, n) VALUES (new.tenant_id, new.category, new.active, 1) \
                 ON CONFLICT (tenant_id, category, active) DO UPDATE SET n = n + 1; END",
                "CREATE TRIGGER product_counts_delete AFTER DELETE ON products WHEN old.deleted_at IS NULL BEGIN \
                 UPDATE product_counts SET n = n - 1 \
                 WHERE tenant_id = old.tenant_id AND category = old.category AND active = old.active; END",
                "CREATE TRIGGER product_counts_leave AFTER UPDATE OF category, active, deleted_at ON products \
                 WHEN old.deleted_at IS NULL BEGIN UPDATE product_counts SET n = n - 1 \
                 WHERE tenant_id = old.tenant_id AND category = old.category AND active = old.active; END",
                "CREATE TRIGGER product_counts_enter AFTER UPDATE OF category, active, deleted_at ON products \
                 WHEN new.deleted_at IS NULL BEGIN \
                 INSERT INTO product_counts (tenant_id, category, active, n) VALUES (new.tenant_id, new.category, new.active, 1) \
                 ON CONFLICT (tenant_id, category, active) DO UPDATE SET n = n + 1; END",
            ],
            _ => &[
                "CREATE FUNCTION product_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN \
                   UPDATE product_counts SET n = n - 1 \
                   WHERE tenant_id = OLD.tenant_id AND category = OLD.category AND active = OLD.active; \
                 END IF; \
                 IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.deleted_at IS NULL THEN \
                   INSERT INTO product_counts (tenant_id, category, active, n) \
                   VALUES (NEW.tenant_id, NEW.category, NEW.active, 1) \
                   ON CONFLICT (tenant_id, category, active) DO UPDATE SET n = product_counts.n + 1; \
                 END IF; \
                 RETURN NULL; END $$",
                "CREATE TRIGGER product_counts_keep AFTER INSERT OR DELETE OR UPDATE OF category, active, deleted_at \
                 ON products FOR EACH ROW EXECUTE FUNCTION product_counts_keep()",
            ],
        };
        // Live products per tenant, category and active flag, kept by triggers in the writing
        // transaction: a listing's total without a scan of the catalogue.
        m.create_table(
            Table::create()
                .table("product_counts")
                .col(uuid("tenant_id"))
                .col(string("category"))
                .col(boolean("active"))
                .col(big_integer("n"))
                .primary_key(Index::create().col("tenant_id").col("category").col("active"))
                .to_owned(),
        )
        .await?;
        for sql in statements.iter().chain(&orders).chain(counts) {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

/// SQLite: the search index holds only live products, each with its scope (its tenant; its
/// tenant and category; inactive, if so) as words of a third column, so that a search and its count
/// are answered by the index alone, whatever the catalogue's size: joining every match to its
/// product to filter by tenant cost about a microsecond a match (80 ms for a word in 86,000 of a
/// million products). Contentless (the words are all it needs; deletes by rowid). Its rowids are
/// the products' negated, so its own order (ascending; FTS5 walks backwards at extra cost) is
/// newest first. PostgreSQL filters in the same statement as its GIN index, and is unchanged.
struct SearchScopes;

impl MigrationName for SearchScopes {
    fn name(&self) -> &str {
        "m20261205_000004_search_scopes"
    }
}

/// The scope words of the `products` row `row` (`new`, `products`) in the search index: `k<tenant>q`,
/// `k<tenant>c<category>q`, and `k<tenant>iq` when inactive, ids and categories in hex.
/// `store::products` writes the ones a search asks for; the two must agree, and a change to either
/// needs a migration that rebuilds the index.
pub(crate) fn search_scope(row: &str) -> String {
    let tenant = format!("'k' || hex({row}.tenant_id)");
    format!(
        "{tenant} || 'q ' || {tenant} || 'c' || hex({row}.category) || 'q' || \
         (CASE WHEN {row}.active THEN '' ELSE ' ' || {tenant} || 'iq' END)"
    )
}

/// SQLite: the statement that puts the live products (those `and` also keeps, on `products`) into
/// the search index in one go, newest first. The index's rowids are the products' negated, and
/// FTS5 writes its pending terms out as a new segment whenever a rowid is lower than the last one
/// it took: oldest first wrote a segment per row and spent most of its time merging them (a million
/// products: 43 s, and 6.8 s newest first).
pub(crate) fn search_index_fill(and: &str) -> String {
    format!(
        "INSERT INTO products_search (rowid, name, description, scope) \
         SELECT -rowid, name, description, {} FROM products WHERE deleted_at IS NULL{and} ORDER BY rowid DESC",
        search_scope("products")
    )
}

#[async_trait::async_trait]
impl MigrationTrait for SearchScopes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        let insert = |row: &str| {
            format!(
                "INSERT INTO products_search (rowid, name, description, scope) \
                 SELECT -{row}.rowid, {row}.name, {row}.description, {} WHERE {row}.deleted_at IS NULL",
                search_scope(row)
            )
        };
        let statements = [
            "DROP TRIGGER products_fts_insert".to_string(),
            "DROP TRIGGER products_fts_delete".to_string(),
            "DROP TRIGGER products_fts_update".to_string(),
            "DROP TABLE products_fts".to_string(),
            "CREATE VIRTUAL TABLE products_search USING fts5(name, description, scope, content='', \
             contentless_delete=1, tokenize='porter unicode61 remove_diacritics 2', prefix='2 3')"
                .to_string(),
            format!("CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN {}; END", insert("new")),
            "CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN \
             DELETE FROM products_search WHERE rowid = -old.rowid; END"
                .to_string(),
            format!(
                "CREATE TRIGGER products_search_update \
                 AFTER UPDATE OF tenant_id, name, description, category, active, deleted_at ON products BEGIN \
                 DELETE FROM products_search WHERE rowid = -old.rowid; {}; END",
                insert("new")
            ),
            format!(
                "INSERT INTO products_search (rowid, name, description, scope) \
                 SELECT -rowid, name, description, {} FROM products WHERE deleted_at IS NULL",
                search_scope("products")
            ),
        ];
        for sql in statements {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

/// PostgreSQL: the kept counts take an insert's rows per statement, from its transition table,
/// instead of row by row: the row trigger's upsert cost about 100 µs a row (50,000 seeded products:
/// 7.1 s with it, 2.0 s without), a million products most of a seed's time. Deletes and the updates
/// that move a product between counts (category, active, deleted_at) stay row triggers: PostgreSQL
/// keeps no transition table for an `UPDATE OF` some columns, and a transition table on every
/// update would be built for each order's stock change. SQLite's triggers are unchanged (its
/// seeding already takes a batch per transaction).
struct CountsPerStatement;

impl MigrationName for CountsPerStatement {
    fn name(&self) -> &str {
        "m20261206_000005_counts_per_statement"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CountsPerStatement {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let statements = [
            // Groups in key order: two inserts that share groups take their rows' locks alike.
            "CREATE FUNCTION product_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             INSERT INTO product_counts (tenant_id, category, active, n) \
             SELECT tenant_id, category, active, count(*) FROM added WHERE deleted_at IS NULL \
             GROUP BY tenant_id, category, active ORDER BY tenant_id, category, active \
             ON CONFLICT (tenant_id, category, active) DO UPDATE SET n = product_counts.n + excluded.n; \
             RETURN NULL; END $$",
            "DROP TRIGGER product_counts_keep ON products",
            "CREATE TRIGGER product_counts_keep AFTER DELETE OR UPDATE OF category, active, deleted_at \
             ON products FOR EACH ROW EXECUTE FUNCTION product_counts_keep()",
            "CREATE TRIGGER product_counts_add AFTER INSERT ON products REFERENCING NEW TABLE AS added \
             FOR EACH STATEMENT EXECUTE FUNCTION product_counts_add()",
        ];
        for sql in statements {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

/// PostgreSQL: the search index's pending list kept short. A GIN index takes new entries into an
/// unsorted pending list (`fastupdate`) and every search reads all of it, up to 4 MB by default
/// until a vacuum merges it: 10,000 freshly seeded products were all in it (251 pages), and each
/// search read them (a two-word count 4.3 ms instead of 0.26 ms; searches 158/s instead of 1.3k/s
/// in the bench). A 128 kB list (at most 16 pages to read) is merged by the insert that fills it;
/// seeding a million products took 62 s with it, 68 s with 4 MB, and 86 s with no list at all
/// (`fastupdate = off`, every insert into the index's trees). What the list holds now is merged.
struct SearchPendingList;

impl MigrationName for SearchPendingList {
    fn name(&self) -> &str {
        "m20261207_000006_search_pending_list"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SearchPendingList {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        for sql in [
            "ALTER INDEX products_search SET (gin_pending_list_limit = 128)",
            "SELECT gin_clean_pending_list('products_search')",
        ] {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

/// SQLite: the search index keeps one-letter prefixes too (`prefix='1 2 3'`). A search types its
/// words as prefixes, and a one-letter word (the first key of a search as you type) had FTS5 merge
/// the doclists of every word starting with that letter before it could return a first match: at a
/// million products `search=a` took 0.4 s, its count alone 247 ms, and 1.2 ms with the prefix
/// indexed. The index grows 6% and takes 25% longer to build (a million products: 14.8 -> 18.4 s).
/// Rebuilt from the products by [`search_index_fill`].
struct SearchOneLetter;

impl MigrationName for SearchOneLetter {
    fn name(&self) -> &str {
        "m20261208_000007_search_one_letter"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SearchOneLetter {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
            return Ok(());
        }
        // The triggers name the table and find the new one.
        let statements = [
            "DROP TABLE products_search".to_string(),
            "CREATE VIRTUAL TABLE products_search USING fts5(name, description, scope, content='', \
             contentless_delete=1, tokenize='porter unicode61 remove_diacritics 2', prefix='1 2 3')"
                .to_string(),
            search_index_fill(""),
        ];
        for sql in statements {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

/// PostgreSQL: every lexeme the search index holds, kept in the product's transaction (new ones
/// only: a lexeme no product holds any more stays, and matches nothing). A search types its words as
/// prefixes, and GIN answers a prefix (`'lam':*`) by collecting every match of every lexeme it
/// starts into a bitmap before it can intersect or count: at a million products `wool lam` spent
/// 33 ms there and `lamp` 11 ms, against 3 ms and 5 ms for the same lexemes matched exactly
/// (`'wool' & 'lamp'`). A search now reads the lexemes its prefixes stand for here and asks the
/// index for them exactly (`products::prefix_lexemes`). Seeding a million products writes a
/// million lexemes more (their numbers), about 8 s.
struct SearchVocabulary;

impl MigrationName for SearchVocabulary {
    fn name(&self) -> &str {
        "m20261209_000008_search_vocabulary"
    }
}

/// The statement that adds the lexemes of the products `rows` (a relation with a `search` column)
/// that the vocabulary lacks. Those it has are skipped before the insert, so that transactions
/// writing products with common words never wait on each other's uncommitted lexemes; new ones go
/// in sorted, so two that add the same ones wait in one order, never on each other.
fn vocabulary_add(rows: &str) -> String {
    format!(
        "INSERT INTO search_vocabulary (lexeme) \
         SELECT DISTINCT l.lexeme FROM {rows}, unnest(search) AS l \
         WHERE NOT EXISTS (SELECT 1 FROM search_vocabulary v WHERE v.lexeme = l.lexeme) \
         ORDER BY 1 ON CONFLICT DO NOTHING"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for SearchVocabulary {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let statements = [
            // Bytewise order: a prefix's lexemes are one range of the key.
            "CREATE TABLE search_vocabulary (lexeme text COLLATE \"C\" PRIMARY KEY)".to_string(),
            format!(
                "CREATE FUNCTION search_vocabulary_added() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {}; \
                 RETURN NULL; END $$",
                vocabulary_add("added")
            ),
            "CREATE TRIGGER search_vocabulary_insert AFTER INSERT ON products REFERENCING NEW TABLE AS added \
             FOR EACH STATEMENT EXECUTE FUNCTION search_vocabulary_added()"
                .to_string(),
            format!(
                "CREATE FUNCTION search_vocabulary_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {}; \
                 RETURN NULL; END $$",
                vocabulary_add("(SELECT NEW.search AS search) AS changed")
            ),
            "CREATE TRIGGER search_vocabulary_update AFTER UPDATE OF name, description ON products FOR EACH ROW \
             WHEN (OLD.search IS DISTINCT FROM NEW.search) EXECUTE FUNCTION search_vocabulary_changed()"
                .to_string(),
            vocabulary_add("products"),
            // The names' lexemes alone: a search's best matches, those whose name holds every
            // word, found without reading the others (a word common in descriptions but rare in
            // names had every match read to find the few: `canvas loa` at a million products,
            // 62,000 reads and 250 ms). No weights, so the index answers without a recheck.
            "CREATE INDEX products_name_search ON products USING GIN (to_tsvector('english', name)) \
             WITH (gin_pending_list_limit = 128) WHERE deleted_at IS NULL"
                .to_string(),
        ];
        for sql in statements {
            m.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

/// PostgreSQL: products by when they last changed, so that the search index in memory reads the
/// products changed since its last look (`word_index`, every second) without a scan of the
/// catalogue: at a million products that scan took 170 ms of three server processes each second.
struct ProductsChanged;

impl MigrationName for ProductsChanged {
    fn name(&self) -> &str {
        "m20261216_000009_products_changed"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ProductsChanged {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        products_changed(m, sea_orm::DatabaseBackend::Postgres).await
    }
}

/// The index of products by when they last changed, where the database is `backend`.
async fn products_changed(m: &SchemaManager<'_>, backend: sea_orm::DatabaseBackend) -> Result<(), DbErr> {
    if m.get_database_backend() == backend {
        m.get_connection().execute_unprepared("CREATE INDEX products_changed ON products (updated_at, id)").await?;
    }
    Ok(())
}

/// SQLite: the same index as [`ProductsChanged`], now that the search index in memory serves
/// SQLite too and looks for changed products every second (another process may write the file).
struct ProductsChangedSqlite;

impl MigrationName for ProductsChangedSqlite {
    fn name(&self) -> &str {
        "m20261217_000010_products_changed_sqlite"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ProductsChangedSqlite {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        products_changed(m, sea_orm::DatabaseBackend::Sqlite).await
    }
}

/// Drops `products_tenant_created (tenant_id, created_at)`: every read of products by tenant and
/// creation reads live products only, through `products_live_created (tenant_id, created_at, id)
/// WHERE deleted_at IS NULL`, so the older index was only written, never read: a ninth b-tree to
/// update for each product written (by hand, seeding a million products on PostgreSQL 58.8 s with
/// it, 51.8 s without).
struct NoProductsTenantCreated;

impl MigrationName for NoProductsTenantCreated {
    fn name(&self) -> &str {
        "m20261218_000011_no_products_tenant_created"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for NoProductsTenantCreated {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX IF EXISTS products_tenant_created").await?;
        Ok(())
    }
}

/// PostgreSQL: an order's customer is named with its tenant, `(tenant_id, customer_id)` referencing
/// `customers (tenant_id, id)`, in place of two foreign keys (`customer_id` to `customers`,
/// `tenant_id` to `tenants`). The database now refuses an order whose customer is another tenant's,
/// which the order desk already never writes; the order's tenant exists because the customer's
/// does (`customers.tenant_id` references `tenants`). And an order costs one key check instead of
/// two: under orders of one product (a batch of 32 orders a transaction) the tenant's checks took
/// 0.20 ms of the batch's 1.9 ms statement (`auto_explain` with triggers). SQLite keeps its two
/// keys: changing a constraint there means copying the table, and its checks cost the desk little.
struct OrdersCustomerInTenant;

impl MigrationName for OrdersCustomerInTenant {
    fn name(&self) -> &str {
        "m20261220_000012_orders_customer_in_tenant"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OrdersCustomerInTenant {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        // An existing order whose customer is another tenant's fails the migration, by name.
        let statements = [
            "ALTER TABLE customers ADD CONSTRAINT customers_tenant_id_id UNIQUE (tenant_id, id)",
            "ALTER TABLE orders ADD CONSTRAINT orders_customer_in_tenant FOREIGN KEY (tenant_id, customer_id) \
             REFERENCES customers (tenant_id, id)",
            "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey, DROP CONSTRAINT orders_tenant_id_fkey",
        ];
        for sql in statements {
            m.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
