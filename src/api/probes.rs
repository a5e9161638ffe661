//! `healthz`, `readyz` and `metrics`: what orchestrators, load balancers and scrapers ask.

use commerce_generated::models::{Health, HealthStatus};
use commerce_generated::{HealthzResponse, MetricsResponse, ReadyzResponse};
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
    MetricsResponse::Ok(PlainText(app.metrics.render()))
}
