//! Access tokens (JWT, HS256 pinned) and opaque secrets (refresh tokens, tickets).

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::Role;
use crate::limits::OPAQUE_TOKEN_BYTES;

/// The only `typ` an access token carries; anything else is refused.
pub const ACCESS_TYP: &str = "access";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The user's token version when issued.
    pub tv: i64,
    pub typ: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, access_ttl: Duration) -> Self {
        // Only HS256 is accepted: no `none`, no RS/HS confusion.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            access_ttl,
        }
    }

    /// Issues an access token for `user_id`.
    pub fn issue_access(&self, user_id: &str, role: Role, token_version: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_owned(),
            role,
            iat: now,
            exp: now + self.access_ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            tv: token_version,
            typ: ACCESS_TYP.to_owned(),
        };
        // HS256 signing of a plain struct does not fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks signature, algorithm, issuer, audience, expiry and `typ`.
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.claims.typ != ACCESS_TYP {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }
}

/// A fresh opaque secret (256 random bits, base64url) and its SHA-256 for storage.
pub fn new_opaque() -> (String, String) {
    let mut bytes = [0u8; OPAQUE_TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_opaque(&token);
    (token, hash)
}

/// The stored form of an opaque secret.
pub fn hash_opaque(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const SECRET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCD";

    fn keys() -> TokenKeys {
        TokenKeys::new(SECRET, "confab", "confab-api", Duration::from_secs(900))
    }

    fn sign(claims: &serde_json::Value, alg: Algorithm, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn claims_json(keys: &TokenKeys) -> serde_json::Value {
        let token = keys.issue_access("u1", Role::User, 3);
        serde_json::to_value(keys.verify_access(&token).unwrap()).unwrap()
    }

    #[test]
    fn an_issued_token_round_trips_with_every_claim() {
        let keys = keys();
        let claims = keys
            .verify_access(&keys.issue_access("u1", Role::Admin, 7))
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role, claims.tv),
            ("u1", Role::Admin, 7)
        );
        assert_eq!(
            (claims.iss.as_str(), claims.aud.as_str()),
            ("confab", "confab-api")
        );
        assert_eq!(claims.typ, "access");
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(!claims.jti.is_empty());
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = keys();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims_json(&keys).to_string());
        assert_eq!(
            keys.verify_access(&format!("{header}.{payload}.")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn other_algorithms_and_other_secrets_are_refused() {
        let keys = keys();
        let claims = claims_json(&keys);
        assert!(
            keys.verify_access(&sign(&claims, Algorithm::HS512, SECRET))
                .is_err()
        );
        assert!(
            keys.verify_access(&sign(
                &claims,
                Algorithm::HS256,
                b"another-secret-of-enough-length!!"
            ))
            .is_err()
        );
    }

    #[test]
    fn wrong_issuer_audience_type_and_expiry_are_refused() {
        let keys = keys();
        let base = claims_json(&keys);
        for (field, value) in [("iss", "evil"), ("aud", "other-api"), ("typ", "refresh")] {
            let mut c = base.clone();
            c[field] = value.into();
            assert_eq!(
                keys.verify_access(&sign(&c, Algorithm::HS256, SECRET)),
                Err(TokenError::Invalid),
                "{field}"
            );
        }
        let mut expired = base.clone();
        expired["exp"] = (chrono::Utc::now().timestamp() - 1).into();
        assert_eq!(
            keys.verify_access(&sign(&expired, Algorithm::HS256, SECRET)),
            Err(TokenError::Expired)
        );
        let mut missing = base;
        missing.as_object_mut().unwrap().remove("exp");
        assert!(
            keys.verify_access(&sign(&missing, Algorithm::HS256, SECRET))
                .is_err()
        );
    }

    #[test]
    fn opaque_tokens_are_long_random_and_stored_hashed() {
        let (a, hash_a) = new_opaque();
        let (b, _) = new_opaque();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_a, hash_opaque(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(!hash_a.contains(&a));
    }
}
