//! The `users` collection.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::{FindOptions, ReturnDocument};
use mongodb::{Collection, Database};

use super::ensure_index;
use serde::{Deserialize, Serialize};

use crate::domain::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: String,
    /// Lowercased; unique.
    pub username: String,
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    /// Bumped on password change, role change, disable and logout-all: every access
    /// token carries the version it was issued under and dies when it changes.
    pub token_version: i64,
    pub created_at: DateTime,
}

#[derive(Clone)]
pub struct UserStore {
    coll: Collection<UserDoc>,
    /// Every update of a user document holds that user's lock (see `locks`): a
    /// lost `token_version` bump would keep revoked tokens alive.
    locks: std::sync::Arc<super::locks::KeyedLocks>,
}

impl UserStore {
    pub fn new(db: &Database) -> Self {
        Self {
            coll: db.collection("users"),
            locks: std::sync::Arc::default(),
        }
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        ensure_index(&self.coll, doc! { "username": 1 }, "username_unique", true).await
    }

    /// Inserts a new user; a taken username is a duplicate-key error.
    pub async fn insert(&self, user: &UserDoc) -> mongodb::error::Result<()> {
        self.coll.insert_one(user).await.map(|_| ())
    }

    pub async fn by_id(&self, id: &str) -> mongodb::error::Result<Option<UserDoc>> {
        self.coll.find_one(doc! { "_id": id }).await
    }

    pub async fn by_username(&self, username: &str) -> mongodb::error::Result<Option<UserDoc>> {
        self.coll.find_one(doc! { "username": username }).await
    }

    pub async fn by_ids(&self, ids: &[String]) -> mongodb::error::Result<Vec<UserDoc>> {
        self.coll
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await
    }

    /// Users whose username starts with `prefix`, after `cursor`, in username order.
    /// Usernames are `[a-z0-9_.-]`, so every match sorts below `prefix + "~"`.
    pub async fn search_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> mongodb::error::Result<Vec<UserDoc>> {
        let lower = match after {
            Some(cursor) if cursor >= prefix => doc! { "$gt": cursor },
            _ => doc! { "$gte": prefix },
        };
        let mut range = lower;
        range.insert("$lt", format!("{prefix}~"));
        let options = FindOptions::builder()
            .sort(doc! { "username": 1 })
            .limit(i64::from(limit))
            .build();
        self.coll
            .find(doc! { "username": range, "disabled": false })
            .with_options(options)
            .await?
            .try_collect()
            .await
    }

    pub async fn set_display_name(
        &self,
        id: &str,
        name: &str,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id).await;
        self.coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "display_name": name } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Sets the role and revokes earlier tokens.
    pub async fn set_role(&self, id: &str, role: Role) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id).await;
        let role = mongodb::bson::to_bson(&role).unwrap_or_default();
        self.coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "role": role }, "$inc": { "token_version": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    pub async fn set_disabled(
        &self,
        id: &str,
        disabled: bool,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id).await;
        self.coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "disabled": disabled }, "$inc": { "token_version": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    pub async fn set_password(
        &self,
        id: &str,
        hash: &str,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id).await;
        self.coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "password_hash": hash }, "$inc": { "token_version": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Revokes every access token of the user (logout everywhere).
    pub async fn bump_token_version(&self, id: &str) -> mongodb::error::Result<()> {
        let _user = self.locks.lock(id).await;
        self.coll
            .update_one(doc! { "_id": id }, doc! { "$inc": { "token_version": 1 } })
            .await
            .map(|_| ())
    }
}
