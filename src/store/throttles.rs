//! Login throttles: failed logins counted in the database, so every instance sees the same counts.
//!
//! Three counts, each over a 15-minute window from its first failure:
//! - per account **and** client address (`pair:`): past `max` failures that address is refused for
//!   that account for 1 minute, doubling with each further failure up to 15 minutes;
//! - per address (`address:`): past `6 × max` (one address trying many accounts), 1 minute;
//! - per account (`account:`): past `20 × max` (many addresses trying one account), 1 minute.
//!
//! A refused attempt is not counted, so one address cannot push an account over its own threshold:
//! the owner, from another address, can always log in once the short account-wide refusal ends.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, ExprTrait, QueryFilter, QuerySelect,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::entities::login_throttle::{self, Column};
use crate::error::AppError;

const WINDOW_MINUTES: i64 = 15;
const MAX_BLOCK_MINUTES: i64 = 15;

/// How long a key is refused, given its failures and its threshold.
type Refusal = fn(i64, i64) -> Duration;

/// The keys a login attempt is counted under.
pub struct Attempt {
    pair: String,
    address: String,
    account: String,
}

impl Attempt {
    pub fn new(tenant: &str, email: &str, address: std::net::IpAddr) -> Self {
        let account = format!("{}/{}", tenant.to_lowercase(), email.trim().to_lowercase());
        Self {
            pair: format!("pair:{account}@{address}"),
            address: format!("address:{address}"),
            account: format!("account:{account}"),
        }
    }

    /// Each key with the failures it allows and how long it refuses past them.
    fn keys(&self, max: u32) -> [(&str, i64, Refusal); 3] {
        let max = i64::from(max);
        [
            (&self.pair, max, |failures, max| {
                Duration::minutes(Ord::min(1i64 << Ord::clamp(failures - max, 0, 4), MAX_BLOCK_MINUTES))
            }),
            (&self.address, max * 6, |_, _| Duration::minutes(1)),
            (&self.account, max * 20, |_, _| Duration::minutes(1)),
        ]
    }
}

fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (Ord::max((until - now).num_milliseconds(), 1) as u64).div_ceil(1000)
}

/// `Err(429)` with the seconds to wait while any of the attempt's keys is refused.
pub async fn check(db: &DatabaseConnection, attempt: &Attempt) -> Result<(), AppError> {
    let now = super::now();
    let rows = login_throttle::Entity::find()
        .filter(Column::Key.is_in([attempt.pair.as_str(), attempt.address.as_str(), attempt.account.as_str()]))
        .filter(Column::BlockedUntil.gt(now))
        .all(db)
        .await?;
    match rows.iter().filter_map(|r| r.blocked_until).max() {
        Some(until) => Err(AppError::TooManyFailedLogins { retry_after: seconds_until(until, now) }),
        None => Ok(()),
    }
}

/// Counts a failed login under each of the attempt's keys, refusing the keys past their threshold.
pub async fn failed(db: &DatabaseConnection, attempt: &Attempt, max: u32) -> Result<(), AppError> {
    let now = super::now();
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let txn = db.begin_with_options(options).await?;
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    for (key, threshold, block) in attempt.keys(max) {
        let mut select = login_throttle::Entity::find_by_id(key.to_string());
        if postgres {
            select = select.lock_exclusive();
        }
        let row = select.one(&txn).await?;
        let (failures, started) = match &row {
            Some(row) if row.window_started_at > now - Duration::minutes(WINDOW_MINUTES) => {
                (row.failures.saturating_add(1), row.window_started_at)
            }
            _ => (1, now),
        };
        let blocked_until = (i64::from(failures) >= threshold).then(|| now + block(i64::from(failures), threshold));
        let model = login_throttle::ActiveModel {
            key: Set(key.to_string()),
            failures: Set(failures),
            window_started_at: Set(started),
            blocked_until: Set(blocked_until.or(row.as_ref().and_then(|r| r.blocked_until))),
        };
        login_throttle::Entity::insert(model)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(Column::Key)
                    .update_columns([Column::Failures, Column::WindowStartedAt, Column::BlockedUntil])
                    .to_owned(),
            )
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A successful login clears the account's count for that address.
pub async fn succeeded(db: &DatabaseConnection, attempt: &Attempt) -> Result<(), AppError> {
    login_throttle::Entity::delete_by_id(attempt.pair.clone()).exec(db).await?;
    Ok(())
}

/// Forgets counts whose window and refusal have both ended (keeps the table small).
pub async fn forget_expired(db: &DatabaseConnection) -> Result<u64, AppError> {
    let now = super::now();
    let deleted = login_throttle::Entity::delete_many()
        .filter(Column::WindowStartedAt.lt(now - Duration::minutes(WINDOW_MINUTES)))
        .filter(Column::BlockedUntil.is_null().or(Column::BlockedUntil.lt(now)))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_hold_for_the_largest_configured_limit() {
        let attempt = Attempt::new("demo", "a@example.com", std::net::IpAddr::from([127, 0, 0, 1]));
        let keys = attempt.keys(u32::MAX);
        assert_eq!(keys.map(|(_, threshold, _)| threshold), [4_294_967_295, 25_769_803_770, 85_899_345_900]);
        assert!(keys.iter().all(|(_, threshold, _)| *threshold > 0), "no overflow into a negative threshold");
    }
}
