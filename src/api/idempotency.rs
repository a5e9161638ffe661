//! Creates that are safe to retry with `Idempotency-Key` (see `store::idempotency`).

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Handlers;
use crate::auth::Principal;
use crate::error::AppError;
use crate::store::idempotency::{self, Claim, Fence};

/// What a create answered: the resource, its location and its version's ETag.
pub struct Created<T> {
    pub body: T,
    pub location: String,
    pub etag: String,
}

/// Runs `create` once per idempotency key (always, without a key), passing it the claim's fence to
/// record its resource with in its own transaction. A retry with the same key and request replays
/// the first answer; a retry after a crash that left the resource created answers with it, read by
/// `recover`; a failed first attempt frees the key for a retry.
pub async fn once<T, R, F, G>(
    app: &Handlers,
    principal: &Principal,
    key: Option<String>,
    operation_id: &str,
    request: &R,
    create: F,
    recover: G,
) -> Result<Created<T>, AppError>
where
    T: Serialize + DeserializeOwned,
    R: Serialize,
    F: AsyncFnOnce(Option<Fence>) -> Result<Created<T>, AppError>,
    G: AsyncFnOnce(Uuid) -> Result<Created<T>, AppError>,
{
    let Some(key) = key else { return create(None).await };
    let mut hasher = Sha256::new();
    hasher.update(operation_id.as_bytes());
    hasher.update([0]);
    // The typed request serializes canonically: defaults applied, fields in schema order.
    hasher.update(serde_json::to_vec(request).map_err(|e| AppError::Internal(e.to_string()))?);
    let hash = hex::encode(hasher.finalize());
    let lease = app.idempotency_lease;
    let (fence, created) = match idempotency::claim(&app.db, principal.tenant_id, &principal.key(), &key, &hash, lease)
        .await?
    {
        Claim::Replay { body, location, .. } => {
            return Ok(Created {
                body: serde_json::from_value(body).map_err(|e| AppError::Internal(format!("stored response: {e}")))?,
                location: location.unwrap_or_default(),
                // The replayed body is the created resource, and every resource is created at
                // version 1.
                etag: super::etag(super::CREATED_VERSION),
            });
        }
        Claim::Recover { fence, resource_id } => (fence, recover(resource_id).await?),
        Claim::Fresh(fence) => match create(Some(fence)).await {
            Ok(created) => (fence, created),
            Err(e) => {
                idempotency::abandon(&app.db, &fence).await?;
                return Err(e);
            }
        },
    };
    let body = serde_json::to_value(&created.body).map_err(|e| AppError::Internal(e.to_string()))?;
    idempotency::complete(&app.db, fence.id, 201, body, Some(created.location.clone())).await?;
    Ok(created)
}
