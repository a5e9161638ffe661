//! Access tokens (HS256 JWTs with pinned algorithm and checked `exp`, `nbf`, `iat`, `iss`, `aud`)
//! and opaque secrets (refresh tokens, API keys), which are stored only as SHA-256 digests.

use std::collections::HashMap;
use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Actor, Permission, Plan, Principal, Role};

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
    /// The customer record of a customer-role user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<Uuid>,
    /// The tenant's rate-limit plan.
    pub plan: String,
    pub jti: Uuid,
    /// The session: the refresh-token family the token was issued in. Tokens issued before
    /// sessions existed have none; their own `jti` stands for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    pub iat: i64,
    /// Not before: the issue time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// How many verified tokens [`JwtKeys`] remembers; past it, it starts again empty.
const VERIFIED: usize = 10_000;

/// Signs and checks access tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens whose signature and claims were checked, with what they name: a token seen again
    /// skips the signature and the JSON, and only its expiry is checked again. A token is its own
    /// key, so only the exact bytes that verified can match.
    verified: RwLock<HashMap<String, Principal>>,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: RwLock::default(),
        }
    }

    /// A new access token for a user in session `session`; returns the token and its claims.
    pub fn issue(&self, subject: &Subject, session: Uuid, now: i64) -> (String, Claims) {
        let role = subject.role;
        let claims = Claims {
            sub: subject.user_id,
            tid: subject.tenant_id,
            role: role.as_str().to_string(),
            perms: role.permissions().iter().map(|p| p.as_str().to_string()).collect(),
            cid: subject.customer_id,
            plan: subject.plan.as_str().to_string(),
            jti: Uuid::new_v4(),
            sid: Some(session),
            iat: now,
            nbf: Some(now),
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
        self.verify_at(token, jsonwebtoken::get_current_timestamp() as i64)
    }

    /// [`Self::verify`] at `now` (Unix seconds).
    fn verify_at(&self, token: &str, now: i64) -> Result<Principal, String> {
        let remembered = self.verified.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned();
        if let Some(principal) = remembered {
            // The same rule as the full check: expired once `exp` is more than the leeway ago.
            return match principal.actor {
                Actor::User { expires_at, .. } if expires_at < now - self.validation.leeway as i64 => {
                    Err("the access token has expired".to_string())
                }
                _ => Ok(principal),
            };
        }
        let principal = self.check(token)?;
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED {
            verified.clear();
        }
        verified.insert(token.to_string(), principal.clone());
        Ok(principal)
    }

    /// The full check: signature, algorithm, claims.
    fn check(&self, token: &str) -> Result<Principal, String> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the access token has expired".to_string(),
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => "the access token is not valid yet".to_string(),
                _ => "the access token is not valid".to_string(),
            })?;
        let claims = data.claims;
        // A token issued in the future was not issued by this service's clock.
        if claims.iat > jsonwebtoken::get_current_timestamp() as i64 + self.validation.leeway as i64 {
            return Err("the access token is not valid yet".to_string());
        }
        let invalid = |_| "the access token is not valid".to_string();
        let role: Role = claims.role.parse().map_err(invalid)?;
        let plan: Plan = claims.plan.parse().map_err(invalid)?;
        Ok(Principal {
            tenant_id: claims.tid,
            actor: Actor::User {
                id: claims.sub,
                role,
                customer_id: claims.cid,
                session: claims.sid.unwrap_or(claims.jti),
                expires_at: claims.exp,
            },
            permissions: role.permissions(),
            plan,
        })
    }
}

/// Whom an access token is issued to.
#[derive(Debug, Clone)]
pub struct Subject {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub customer_id: Option<Uuid>,
    pub plan: Plan,
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

    fn subject(role: Role) -> Subject {
        Subject { tenant_id: Uuid::new_v4(), user_id: Uuid::new_v4(), role, customer_id: None, plan: Plan::Standard }
    }

    #[test]
    fn a_token_verifies_to_its_principal() {
        let keys = JwtKeys::new(b"secret");
        let who = Subject { customer_id: Some(Uuid::new_v4()), plan: Plan::Enterprise, ..subject(Role::Customer) };
        let session = Uuid::new_v4();
        let (token, claims) = keys.issue(&who, session, now());
        let principal = keys.verify(&token).unwrap();
        assert_eq!(principal.tenant_id, who.tenant_id);
        assert_eq!(principal.plan, Plan::Enterprise);
        let expected = Actor::User {
            id: who.user_id,
            role: Role::Customer,
            customer_id: who.customer_id,
            session,
            expires_at: claims.exp,
        };
        assert_eq!(principal.actor, expected);
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let keys = JwtKeys::new(b"secret");
        let issued = now();
        let (token, claims) = keys.issue(&subject(Role::Staff), Uuid::new_v4(), issued);
        assert!(keys.verify_at(&token, issued).is_ok());
        assert!(keys.verified.read().unwrap().contains_key(&token), "remembered after the full check");
        let leeway = keys.validation.leeway as i64;
        assert!(keys.verify_at(&token, claims.exp + leeway).is_ok(), "valid up to the leeway");
        assert_eq!(keys.verify_at(&token, claims.exp + leeway + 1).unwrap_err(), "the access token has expired");
        // A different token (one byte changed) is not the remembered one: it gets the full check.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(keys.verify_at(&String::from_utf8(tampered).unwrap(), issued).is_err());
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_are_refused() {
        let keys = JwtKeys::new(b"secret");
        let (expired, _) = keys.issue(&subject(Role::Admin), Uuid::new_v4(), now() - 2 * ACCESS_TOKEN_TTL_SECS);
        assert_eq!(keys.verify(&expired).unwrap_err(), "the access token has expired");
        let (foreign, _) = JwtKeys::new(b"other").issue(&subject(Role::Admin), Uuid::new_v4(), now());
        assert!(keys.verify(&foreign).is_err());
        let (token, _) = keys.issue(&subject(Role::Customer), Uuid::new_v4(), now());
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"00000000-0000-0000-0000-000000000000","role":"admin"}"#);
        parts[1] = &forged;
        assert!(keys.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn tokens_not_valid_yet_are_refused_by_nbf_and_iat() {
        let keys = JwtKeys::new(b"secret");
        let later = now() + 600;
        let (token, _) = keys.issue(&subject(Role::Staff), Uuid::new_v4(), later);
        assert_eq!(keys.verify(&token).unwrap_err(), "the access token is not valid yet");
        // Only iat in the future (nbf absent, as a foreign issuer might write it).
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        claims.as_object_mut().unwrap().remove("nbf");
        let forged = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert_eq!(keys.verify(&forged).unwrap_err(), "the access token is not valid yet");
    }

    #[test]
    fn the_none_algorithm_is_refused() {
        let keys = JwtKeys::new(b"secret");
        let (token, _) = keys.issue(&subject(Role::Admin), Uuid::new_v4(), now());
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
