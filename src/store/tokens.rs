//! `refresh_tokens` and `ws_tickets`: opaque secrets stored only as SHA-256 hashes.

use mongodb::bson::{DateTime, doc};
use mongodb::{Collection, Database};

use super::ensure_index;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshDoc {
    /// SHA-256 (hex) of the token.
    #[serde(rename = "_id")]
    pub hash: String,
    pub user_id: String,
    /// Every token rotated from one login shares the family; reuse revokes it all.
    pub family_id: String,
    /// The token this one was rotated from, or `root:<own hash>` for a login's first
    /// token. Unique: a token can be rotated once, decided by the index itself (an
    /// atomic arbiter on MongoDB and FerretDB alike, unlike a read-modify-write).
    pub parent: String,
    pub created_at: DateTime,
    pub expires_at: DateTime,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketDoc {
    /// SHA-256 (hex) of the ticket.
    #[serde(rename = "_id")]
    pub hash: String,
    pub user_id: String,
    /// The user's token version when issued: a ticket dies with the tokens of its
    /// time (logout-all, password change, role change, disable).
    pub token_version: i64,
    pub expires_at: DateTime,
}

#[derive(Clone)]
pub struct TokenStore {
    refresh: Collection<RefreshDoc>,
    tickets: Collection<TicketDoc>,
}

impl TokenStore {
    pub fn new(db: &Database) -> Self {
        Self {
            refresh: db.collection("refresh_tokens"),
            tickets: db.collection("ws_tickets"),
        }
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        for field in ["user_id", "family_id", "expires_at"] {
            ensure_index(&self.refresh, doc! { field: 1 }, field, false).await?;
        }
        ensure_index(&self.refresh, doc! { "parent": 1 }, "parent_unique", true).await?;
        ensure_index(&self.tickets, doc! { "expires_at": 1 }, "expires_at", false).await
    }

    pub async fn insert_refresh(&self, token: &RefreshDoc) -> mongodb::error::Result<()> {
        self.refresh.insert_one(token).await.map(|_| ())
    }

    /// The token rotated from `hash`, if any: its existence means `hash` was used.
    pub async fn child_of(&self, hash: &str) -> mongodb::error::Result<Option<RefreshDoc>> {
        self.refresh.find_one(doc! { "parent": hash }).await
    }

    pub async fn refresh_by_hash(&self, hash: &str) -> mongodb::error::Result<Option<RefreshDoc>> {
        self.refresh.find_one(doc! { "_id": hash }).await
    }

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

    pub async fn revoke_user(&self, user_id: &str) -> mongodb::error::Result<u64> {
        let res = self
            .refresh
            .update_many(
                doc! { "user_id": user_id, "revoked": false },
                doc! { "$set": { "revoked": true } },
            )
            .await?;
        Ok(res.modified_count)
    }

    pub async fn insert_ticket(&self, ticket: &TicketDoc) -> mongodb::error::Result<()> {
        self.tickets.insert_one(ticket).await.map(|_| ())
    }

    /// Consumes a ticket: it works once. Whoever's delete removed the document
    /// owns it (a delete count is atomic on both servers).
    pub async fn take_ticket(&self, hash: &str) -> mongodb::error::Result<Option<TicketDoc>> {
        let Some(ticket) = self
            .tickets
            .find_one(doc! { "_id": hash, "expires_at": { "$gt": DateTime::now() } })
            .await?
        else {
            return Ok(None);
        };
        let deleted = self
            .tickets
            .delete_one(doc! { "_id": hash })
            .await?
            .deleted_count;
        Ok((deleted == 1).then_some(ticket))
    }

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
        Ok(a.deleted_count + b.deleted_count)
    }
}
