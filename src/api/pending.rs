//! Operations the spec documents that this release does not implement yet (orders and customers):
//! they answer 501 `not_implemented` problems, after authentication and body validation ran.

use crate::error::AppError;

/// A 501 for `operation_id`; the inputs are taken so the signature stays the operation's own.
pub fn not_yet<T, I>(operation_id: &'static str, _inputs: I) -> Result<T, AppError> {
    Err(AppError::NotImplemented(operation_id))
}
