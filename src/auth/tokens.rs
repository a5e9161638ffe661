//! Access tokens (HS256 JWTs with pinned algorithm and checked `exp`, `iss`, `aud`) and opaque
//! secrets (refresh tokens, API keys), which are stored only as SHA-256 digests.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Actor, Permission, Principal, Role};

/// Access tokens live one hour (the spec's `expiresIn`).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 3600;
/// Refresh tokens live thirty days, or until used once.
pub const REFRESH_TOKEN_TTL_DAYS: i64 = 30;
const ISSUER: &str = "commerce-api";
const AUDIENCE: &str = "commerce-api";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The tenant id.
    pub tid: Uuid,
    pub role: String,
    /// The permissions the role grants, for clients and for audit; the server re-derives them.
    pub perms: Vec<String>,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// Signs and checks access tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    /// A new access token for a user; returns the token and its claims.
    pub fn issue(&self, tenant_id: Uuid, user_id: Uuid, role: Role, now: i64) -> (String, Claims) {
        let claims = Claims {
            sub: user_id,
            tid: tenant_id,
            role: role.as_str().to_string(),
            perms: role.permissions().iter().map(|p| p.as_str().to_string()).collect(),
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + ACCESS_TOKEN_TTL_SECS,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail");
        (token, claims)
    }

    /// The principal an access token names, if its signature, algorithm, expiry, issuer and
    /// audience are right. Revocation is checked by the caller.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the access token has expired".to_string(),
                _ => "the access token is not valid".to_string(),
            })?;
        let claims = data.claims;
        let role: Role = claims.role.parse().map_err(|_| "the access token is not valid".to_string())?;
        Ok(Principal {
            tenant_id: claims.tid,
            actor: Actor::User { id: claims.sub, role, jti: claims.jti, expires_at: claims.exp },
            permissions: role.permissions(),
        })
    }
}

/// A fresh random secret with a readable prefix: `rt_...` (refresh token), `ck_...` (API key).
pub fn opaque_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The digest an opaque secret is stored and looked up by.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Parses API-key scopes; unknown names are an error, so a typo cannot silently grant nothing.
pub fn parse_scopes<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Permission>, String> {
    names.into_iter().map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_token_verifies_to_its_principal() {
        let keys = JwtKeys::new(b"secret");
        let (tenant, user) = (Uuid::new_v4(), Uuid::new_v4());
        let (token, claims) = keys.issue(tenant, user, Role::Staff, now());
        let principal = keys.verify(&token).unwrap();
        assert_eq!(principal.tenant_id, tenant);
        assert_eq!(
            principal.actor,
            Actor::User { id: user, role: Role::Staff, jti: claims.jti, expires_at: claims.exp }
        );
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_are_refused() {
        let keys = JwtKeys::new(b"secret");
        let (expired, _) = keys.issue(Uuid::new_v4(), Uuid::new_v4(), Role::Admin, now() - 2 * ACCESS_TOKEN_TTL_SECS);
        assert_eq!(keys.verify(&expired).unwrap_err(), "the access token has expired");
        let (foreign, _) = JwtKeys::new(b"other").issue(Uuid::new_v4(), Uuid::new_v4(), Role::Admin, now());
        assert!(keys.verify(&foreign).is_err());
        let (token, _) = keys.issue(Uuid::new_v4(), Uuid::new_v4(), Role::Customer, now());
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"00000000-0000-0000-0000-000000000000","role":"admin"}"#);
        parts[1] = &forged;
        assert!(keys.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn the_none_algorithm_is_refused() {
        let keys = JwtKeys::new(b"secret");
        let (token, _) = keys.issue(Uuid::new_v4(), Uuid::new_v4(), Role::Admin, now());
        let payload = token.split('.').nth(1).unwrap();
        let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#));
        assert!(keys.verify(&unsigned).is_err());
    }

    #[test]
    fn secrets_are_random_and_digests_stable() {
        let (a, b) = (opaque_secret("rt"), opaque_secret("rt"));
        assert_ne!(a, b);
        assert!(a.starts_with("rt_") && a.len() == 3 + 43);
        assert_eq!(digest(&a), digest(&a));
        assert_eq!(digest(&a).len(), 64);
    }
}
