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
    pub created_at: DateTime,
    pub expires_at: DateTime,
    /// Set when the token was exchanged for a new pair.
    pub rotated_at: Option<DateTime>,
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketDoc {
    /// SHA-256 (hex) of the ticket.
    #[serde(rename = "_id")]
    pub hash: String,
    pub user_id: String,
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
        ensure_index(&self.tickets, doc! { "expires_at": 1 }, "expires_at", false).await
    }

    pub async fn insert_refresh(&self, token: &RefreshDoc) -> mongodb::error::Result<()> {
        self.refresh.insert_one(token).await.map(|_| ())
    }

    /// Marks a live token rotated and returns it; `None` when it is unknown, expired,
    /// revoked or already rotated. Atomic: two concurrent uses cannot both win.
    pub async fn claim_refresh(&self, hash: &str) -> mongodb::error::Result<Option<RefreshDoc>> {
        let now = DateTime::now();
        self.refresh
            .find_one_and_update(
                doc! { "_id": hash, "rotated_at": null, "revoked": false, "expires_at": { "$gt": now } },
                doc! { "$set": { "rotated_at": now } },
            )
            .await
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

    /// Consumes a ticket: deleted as it is read, so it works once.
    pub async fn take_ticket(&self, hash: &str) -> mongodb::error::Result<Option<TicketDoc>> {
        self.tickets
            .find_one_and_delete(doc! { "_id": hash, "expires_at": { "$gt": DateTime::now() } })
            .await
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
