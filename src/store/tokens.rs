//! `refresh_tokens` and `ws_tickets`: opaque secrets stored only as SHA-256 hashes.

use mongodb::bson::{DateTime, doc};
use mongodb::{Collection, Database};

use super::ensure_index;
use crate::ids::UserId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshDoc {
    /// SHA-256 (hex) of the token.
    #[serde(rename = "_id")]
    pub hash: String,
    pub user_id: UserId,
    /// Every token rotated from one login shares the family; reuse revokes it all.
    pub family_id: String,
    /// The token this one was rotated from, or `root:<own hash>` for a login's first
    /// token. Unique: a token can be rotated once, decided by the index itself (an
    /// atomic arbiter on MongoDB and FerretDB alike, unlike a read-modify-write).
    pub parent: String,
    pub created_at: DateTime,
    pub expires_at: DateTime,
    pub revoked: bool,
    /// The user's token version when minted: a refresh after logout-all, a password
    /// or role change or a disable is refused even if this token escaped the
    /// revocation sweep. (Tokens minted before this field existed read as 0.)
    #[serde(default)]
    pub token_version: i64,
}

/// `refresh_rotations`: one document per rotated refresh token, keyed by the
/// rotated token's hash. Its unique `_id` is the arbiter: the first rotation of a
/// token inserts it, any later one is a replay. Found by `_id`, never by a query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotationDoc {
    /// SHA-256 (hex) of the rotated (parent) token.
    #[serde(rename = "_id")]
    pub parent: String,
    /// SHA-256 (hex) of the token it was rotated into.
    pub child: String,
    pub family_id: String,
    pub user_id: UserId,
    /// The parent's expiry: after it the parent is refused anyway.
    pub expires_at: DateTime,
    /// When the rotation happened: the parent presented again within
    /// `REFRESH_REUSE_GRACE_SECS` of it is a retry, not a replay. (None in
    /// documents written before it existed: no grace.)
    #[serde(default)]
    pub rotated_at: Option<DateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketDoc {
    /// SHA-256 (hex) of the ticket.
    #[serde(rename = "_id")]
    pub hash: String,
    pub user_id: UserId,
    /// The user's token version when issued: a ticket dies with the tokens of its
    /// time (logout-all, password change, role change, disable).
    pub token_version: i64,
    pub expires_at: DateTime,
}

#[derive(Clone)]
pub struct TokenStore {
    refresh: Collection<RefreshDoc>,
    rotations: Collection<RotationDoc>,
    tickets: Collection<TicketDoc>,
}

impl TokenStore {
    pub fn new(db: &Database) -> Self {
        Self {
            refresh: db.collection("refresh_tokens"),
            rotations: db.collection("refresh_rotations"),
            tickets: db.collection("ws_tickets"),
        }
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        for field in ["user_id", "family_id", "expires_at"] {
            ensure_index(&self.refresh, doc! { field: 1 }, field, false).await?;
        }
        ensure_index(&self.refresh, doc! { "parent": 1 }, "parent_unique", true).await?;
        ensure_index(
            &self.rotations,
            doc! { "expires_at": 1 },
            "expires_at",
            false,
        )
        .await?;
        ensure_index(&self.tickets, doc! { "expires_at": 1 }, "expires_at", false).await
    }

    #[tracing::instrument(name = "store.tokens.insert_refresh", level = "info", skip_all, err)]
    pub async fn insert_refresh(&self, token: &RefreshDoc) -> mongodb::error::Result<()> {
        self.refresh.insert_one(token).await.map(|_| ())
    }

    /// The rotation of the token `hash`, if any: its existence means `hash` was used.
    #[tracing::instrument(name = "store.tokens.rotation_of", level = "info", skip_all, err)]
    pub async fn rotation_of(&self, hash: &str) -> mongodb::error::Result<Option<RotationDoc>> {
        self.rotations.find_one(doc! { "_id": hash }).await
    }

    /// Claims the one rotation of `rotation.parent`; `false` when it was rotated
    /// already (a replay). The unique `_id` decides, atomically on both servers.
    #[tracing::instrument(name = "store.tokens.claim_rotation", level = "info", skip_all, err)]
    pub async fn claim_rotation(&self, rotation: &RotationDoc) -> mongodb::error::Result<bool> {
        match self.rotations.insert_one(rotation).await {
            Ok(_) => Ok(true),
            Err(err) if super::is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    #[tracing::instrument(name = "store.tokens.refresh_by_hash", level = "info", skip_all, err)]
    pub async fn refresh_by_hash(&self, hash: &str) -> mongodb::error::Result<Option<RefreshDoc>> {
        self.refresh.find_one(doc! { "_id": hash }).await
    }

    #[tracing::instrument(name = "store.tokens.revoke_family", level = "info", skip_all, err)]
    pub async fn revoke_family(&self, family_id: &str) -> mongodb::error::Result<u64> {
        let res = self
            .refresh
            .update_many(
                doc! { "family_id": family_id },
                doc! { "$set": { "revoked": true } },
            )
            .await?;
        Ok(res.modified_count)
    }

    #[tracing::instrument(name = "store.tokens.revoke_user", level = "info", skip(self), fields(user = %user_id), err)]
    pub async fn revoke_user(&self, user_id: &UserId) -> mongodb::error::Result<u64> {
        let res = self
            .refresh
            .update_many(
                doc! { "user_id": user_id, "revoked": false },
                doc! { "$set": { "revoked": true } },
            )
            .await?;
        Ok(res.modified_count)
    }

    #[tracing::instrument(name = "store.tokens.insert_ticket", level = "info", skip_all, err)]
    pub async fn insert_ticket(&self, ticket: &TicketDoc) -> mongodb::error::Result<()> {
        self.tickets.insert_one(ticket).await.map(|_| ())
    }

    /// Consumes a ticket: it works once. Whoever's delete removed the document
    /// owns it (a delete count is atomic on both servers).
    #[tracing::instrument(name = "store.tokens.take_ticket", level = "info", skip_all, err)]
    pub async fn take_ticket(&self, hash: &str) -> mongodb::error::Result<Option<TicketDoc>> {
        // `_id` alone (the indexed path on FerretDB); expiry is checked here.
        let Some(ticket) = self.tickets.find_one(doc! { "_id": hash }).await? else {
            return Ok(None);
        };
        let deleted = self
            .tickets
            .delete_one(doc! { "_id": hash })
            .await?
            .deleted_count;
        let fresh = ticket.expires_at > DateTime::now();
        Ok((deleted == 1 && fresh).then_some(ticket))
    }

    #[tracing::instrument(name = "store.tokens.delete_expired", level = "info", skip_all, err)]
    pub async fn delete_expired(&self) -> mongodb::error::Result<u64> {
        let now = DateTime::now();
        let a = self
            .refresh
            .delete_many(doc! { "expires_at": { "$lte": now } })
            .await?;
        let b = self
            .tickets
            .delete_many(doc! { "expires_at": { "$lte": now } })
            .await?;
        let c = self
            .rotations
            .delete_many(doc! { "expires_at": { "$lte": now } })
            .await?;
        Ok(a.deleted_count + b.deleted_count + c.deleted_count)
    }
}
