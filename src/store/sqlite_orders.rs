//! The order desk's batches on a SQLite file, written on a synchronous connection of the desk's own
//! thread: a batch is one `BEGIN IMMEDIATE ... COMMIT` of prepared statements, with no hand-off
//! between threads per statement and no query built per batch. Through sea-orm, each statement
//! went to sqlx's connection thread and back, and building the batch's statements (values, active
//! models) took more of the runtime's time than the HTTP requests themselves (orders of random
//! products at 10,000: the desk's code 18% of the service's samples, sqlx's thread 27%).
//!
//! What a batch decides, and the guarantees, are those of [`orders::create_batch`]: the decisions
//! are the same function ([`orders::decide`]); the values are stored as sqlx stores them (uuids as
//! 16-byte blobs, times as RFC 3339 text, JSON as text, booleans as 0/1), so sea-orm reads them back.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::orders::{self, NewOrder, OrderWithItems, Stocked};
use super::reads::{failed, text_time, uuid};
use crate::error::AppError;

/// Opens the desk's connection to the SQLite file `path` (already migrated, in WAL mode), with the
/// settings of the service's writer (`store::options`): the log synced at checkpoints rather than
/// at each commit (`synchronous = NORMAL`: a commit survives the process, as the other writes do),
/// foreign keys enforced, no map of the file, statement journals in memory, the same automatic
/// checkpoint threshold, and the same wait for the write lock the service's connection may hold.
pub fn connect(path: &str) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_handler(Some(super::wait_for_write_lock))?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA mmap_size = 0; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {};",
        super::WRITERS_CHECKPOINT_PAGES
    ))?;
    Ok(conn)
}

/// [`orders::create_batch`] on `conn`: the same decisions and guarantees, in one immediate
/// transaction (it takes SQLite's write lock at once, so the products read are the ones the
/// updates change). `Err` means the transaction failed as a whole and nothing was written.
pub fn create_batch(
    conn: &mut Connection,
    batch: &[(Uuid, NewOrder)],
) -> Result<Vec<Result<OrderWithItems, AppError>>, AppError> {
    let product_ids: BTreeSet<Uuid> =
        batch.iter().flat_map(|(_, new)| new.lines.iter().map(|line| line.product_id)).collect();
    let customer_ids: BTreeSet<Uuid> = batch.iter().map(|(_, new)| new.customer_id).collect();
    let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
    let mut products = HashMap::with_capacity(product_ids.len());
    {
        let mut read = txn
            .prepare_cached(
                "SELECT id, tenant_id, sku, name, price, currency, stock, active, version FROM products \
                 WHERE id = ?1 AND deleted_at IS NULL",
            )
            .map_err(failed)?;
        for id in product_ids {
            let found = read
                .query_row([id.as_bytes().as_slice()], |row| {
                    Ok(Stocked {
                        id: uuid(row, 0)?,
                        tenant_id: uuid(row, 1)?,
                        sku: row.get(2)?,
                        name: row.get(3)?,
                        price: row.get(4)?,
                        currency: row.get(5)?,
                        stock: row.get(6)?,
                        active: row.get(7)?,
                        version: row.get(8)?,
                    })
                })
                .optional()
                .map_err(failed)?;
            products.extend(found.map(|p| (p.id, p)));
        }
    }
    let mut customers = HashMap::with_capacity(customer_ids.len());
    {
        let mut read = txn.prepare_cached("SELECT tenant_id FROM customers WHERE id = ?1").map_err(failed)?;
        for id in customer_ids {
            let tenant = read.query_row([id.as_bytes().as_slice()], |row| uuid(row, 0)).optional().map_err(failed)?;
            customers.extend(tenant.map(|tenant| (id, tenant)));
        }
    }

    let now = super::now();
    let mut taken: BTreeMap<Uuid, i64> = BTreeMap::new();
    let results: Vec<Result<OrderWithItems, AppError>> = batch
        .iter()
        .map(|(tenant_id, new)| orders::decide(*tenant_id, new, &customers, &mut products, &mut taken, now))
        .collect();
    if results.iter().all(Result::is_err) {
        return Ok(results);
    }
    write(&txn, &taken, &results)?;
    // Each keyed order is recorded under its claim in this transaction; a claim taken over by a
    // retry fails the whole batch, which the desk then retries order by order.
    {
        let mut record = txn
            .prepare_cached(
                "UPDATE idempotency_keys SET resource_id = ?1 WHERE id = ?2 AND claim_token = ?3 AND resource_id IS NULL",
            )
            .map_err(failed)?;
        for ((_, new), result) in batch.iter().zip(&results) {
            if let (Some(fence), Ok((order, _))) = (&new.fence, result) {
                let ids = [order.id.as_bytes(), fence.id.as_bytes(), fence.token.as_bytes()];
                if record.execute(ids.map(|id| id.as_slice())).map_err(failed)? != 1 {
                    return Err(super::idempotency::taken_over());
                }
            }
        }
    }
    txn.commit().map_err(failed)?;
    Ok(results)
}

/// The stock taken (one conditional update per product, which must match), then the orders
/// created and their lines.
fn write(
    txn: &rusqlite::Transaction<'_>,
    taken: &BTreeMap<Uuid, i64>,
    results: &[Result<OrderWithItems, AppError>],
) -> Result<(), AppError> {
    let mut take = txn
        .prepare_cached(
            "UPDATE products SET stock = stock - ?2, version = version + 1 \
             WHERE id = ?1 AND deleted_at IS NULL AND stock >= ?2",
        )
        .map_err(failed)?;
    for (product_id, quantity) in taken {
        if take.execute(params![product_id.as_bytes().as_slice(), quantity]).map_err(failed)? != 1 {
            // Unreachable while the lock holds; refuse the whole batch rather than oversell.
            return Err(AppError::Internal(format!("the stock of {product_id} changed under the write lock")));
        }
    }
    let mut place = txn
        .prepare_cached(
            "INSERT INTO orders (id, tenant_id, customer_id, status, currency, subtotal, total, shipping_address, \
             shipping_method, tracking_number, carrier, created_at, updated_at, version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(failed)?;
    let mut line = txn
        .prepare_cached(
            "INSERT INTO order_items (id, order_id, tenant_id, position, product_id, sku, name, quantity, \
             unit_price, line_total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(failed)?;
    for (order, items) in results.iter().filter_map(|r| r.as_ref().ok()) {
        let address = serde_json::to_string(&order.shipping_address).map_err(|e| AppError::Internal(e.to_string()))?;
        place
            .execute(params![
                order.id.as_bytes().as_slice(),
                order.tenant_id.as_bytes().as_slice(),
                order.customer_id.as_bytes().as_slice(),
                order.status,
                order.currency,
                order.subtotal,
                order.total,
                address,
                order.shipping_method,
                order.tracking_number,
                order.carrier,
                text_time(order.created_at),
                text_time(order.updated_at),
                order.version,
            ])
            .map_err(failed)?;
        for item in items {
            line.execute(params![
                item.id.as_bytes().as_slice(),
                item.order_id.as_bytes().as_slice(),
                item.tenant_id.as_bytes().as_slice(),
                item.position,
                item.product_id.as_bytes().as_slice(),
                item.sku,
                item.name,
                item.quantity,
                item.unit_price,
                item.line_total,
            ])
            .map_err(failed)?;
        }
    }
    Ok(())
}
