//! `healthz`, `readyz` and `metrics`: what orchestrators, load balancers and scrapers ask.

use commerce_generated::models::{Health, HealthStatus};
use commerce_generated::{HealthzResponse, MetricsResponse, ReadyzResponse};

use crate::http::metrics::PoolState;
use commerce_runtime::Json;
use poem_openapi::payload::PlainText;

use super::Handlers;

pub fn healthz() -> HealthzResponse {
    HealthzResponse::Ok(Json::new(Health { status: HealthStatus::Ok, checks: None }))
}

/// Ready when the database answers a ping.
pub async fn readyz(app: &Handlers) -> ReadyzResponse {
    let database = match app.db.ping().await {
        Ok(()) => HealthStatus::Ok,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            HealthStatus::Unavailable
        }
    };
    let health = Health { status: database, checks: Some([("database".to_string(), database)].into()) };
    match database {
        HealthStatus::Ok => ReadyzResponse::Ok(Json::new(health)),
        HealthStatus::Unavailable => ReadyzResponse::ServiceUnavailable(Json::new(health)),
    }
}

pub fn metrics(app: &Handlers) -> MetricsResponse {
    let pool = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = app.db.get_postgres_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        sea_orm::DbBackend::Sqlite => {
            let pool = app.db.get_sqlite_connection_pool();
            Some((pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        _ => None,
    };
    let pool = pool.map(|(open, idle, max)| PoolState { open: open.into(), idle: idle as u64, max: max.into() });
    let search_index = app.reads.words.as_ref().and_then(|words| words.held());
    MetricsResponse::Ok(PlainText(app.metrics.render(pool, search_index)))
}
