//! `healthz` and `readyz`: what orchestrators and load balancers ask.

use commerce_generated::models::{Health, HealthStatus};
use commerce_generated::{HealthzResponse, ReadyzResponse};
use poem_openapi::payload::Json;

use super::Handlers;

pub fn healthz() -> HealthzResponse {
    HealthzResponse::Ok(Json(Health { status: HealthStatus::Ok, checks: None }))
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
        HealthStatus::Ok => ReadyzResponse::Ok(Json(health)),
        HealthStatus::Unavailable => ReadyzResponse::ServiceUnavailable(Json(health)),
    }
}
