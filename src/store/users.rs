//! The `users` collection.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::{FindOptions, ReturnDocument};
use mongodb::{Collection, Database};

use super::cache::BoundedCache;
use super::ensure_index;
use serde::{Deserialize, Serialize};

use crate::domain::Role;
use crate::ids::UserId;

/// Users whose auth facts are kept in memory; the map is cleared when full.
const AUTH_CACHE_CAPACITY: usize = 100_000;

/// What every authenticated request needs of its caller, served from memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFacts {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub token_version: i64,
}

impl From<&UserDoc> for AuthFacts {
    fn from(user: &UserDoc) -> Self {
        Self {
            id: user.id.clone(),
            username: user.username.clone(),
            role: user.role,
            disabled: user.disabled,
            token_version: user.token_version,
        }
    }
}

/// `usernames`: the normalised username as `_id`, so a login finds its user with
/// two `_id` lookups. Inserted before the user; its `_id` decides who gets a name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsernameDoc {
    #[serde(rename = "_id")]
    pub username: String,
    pub user_id: UserId,
    /// When claimed (backfilled documents: the epoch), to tell a registration in
    /// progress from one that died between its two inserts.
    #[serde(default = "epoch")]
    pub claimed_at: DateTime,
}

fn epoch() -> DateTime {
    DateTime::from_millis(0)
}

/// A username document this old without its user is left over from a failed
/// registration and may be claimed again.
const ORPHAN_AFTER_MS: i64 = 60_000;

/// `migrations`: one document per finished one-off data migration.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MigrationDoc {
    #[serde(rename = "_id")]
    name: String,
    at: DateTime,
}

/// Whether the migration `name` has run in this database.
pub(crate) async fn migrated(db: &Database, name: &str) -> mongodb::error::Result<bool> {
    let coll: Collection<MigrationDoc> = db.collection("migrations");
    Ok(coll.find_one(doc! { "_id": name }).await?.is_some())
}

/// Records that the migration `name` has run.
pub(crate) async fn mark_migrated(db: &Database, name: &str) -> mongodb::error::Result<()> {
    let coll: Collection<MigrationDoc> = db.collection("migrations");
    let done = MigrationDoc {
        name: name.to_owned(),
        at: super::now(),
    };
    match coll.insert_one(&done).await {
        Ok(_) => Ok(()),
        Err(err) if super::is_duplicate_key(&err) => Ok(()),
        Err(err) => Err(err),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: UserId,
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
    db: Database,
    coll: Collection<UserDoc>,
    names: Collection<UsernameDoc>,
    /// Auth facts by user id. Changed only inside this store's update methods,
    /// under the user's lock, so a revocation is seen by the next request.
    auth: BoundedCache<UserId, AuthFacts>,
    /// Every update of a user document holds that user's lock (see `locks`): a
    /// lost `token_version` bump would keep revoked tokens alive.
    locks: std::sync::Arc<super::locks::KeyedLocks>,
    /// The other nodes' caches (cluster mode): told of every change.
    peers: super::cache::Peers,
}

impl UserStore {
    pub fn new(db: &Database, peers: super::cache::Peers) -> Self {
        Self {
            db: db.clone(),
            coll: db.collection("users"),
            names: db.collection("usernames"),
            auth: BoundedCache::new(AUTH_CACHE_CAPACITY),
            locks: std::sync::Arc::default(),
            peers,
        }
    }

    /// Another node changed the user: read them from the database next time.
    pub fn forget(&self, id: &UserId) {
        self.auth.invalidate(id);
    }

    /// Forgets every user's auth facts (events may have been lost).
    pub fn forget_all(&self) {
        self.auth.clear();
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        ensure_index(&self.coll, doc! { "username": 1 }, "username_unique", true).await?;
        self.backfill_usernames().await
    }

    /// Gives users created before `usernames` existed their username document.
    /// Runs once per database (a full scan of `users`, at start-up only).
    async fn backfill_usernames(&self) -> mongodb::error::Result<()> {
        const NAME: &str = "usernames_v1";
        if migrated(&self.db, NAME).await? {
            return Ok(());
        }
        let mut users = self.coll.find(doc! {}).await?;
        while let Some(user) = users.try_next().await? {
            let name = UsernameDoc {
                username: user.username,
                user_id: user.id,
                claimed_at: super::now(),
            };
            match self.names.insert_one(&name).await {
                Ok(_) => {}
                Err(err) if super::is_duplicate_key(&err) => {}
                Err(err) => return Err(err),
            }
        }
        mark_migrated(&self.db, NAME).await
    }

    /// Inserts a new user; a taken username is a duplicate-key error.
    ///
    /// The username document goes first: its `_id` decides who gets the name. If
    /// the user insert then fails, the name is released again.
    #[tracing::instrument(name = "store.users.insert", level = "info", skip_all, fields(user = %user.id, username = %user.username), err)]
    pub async fn insert(&self, user: &UserDoc) -> mongodb::error::Result<()> {
        let name = UsernameDoc {
            username: user.username.clone(),
            user_id: user.id.clone(),
            claimed_at: super::now(),
        };
        match self.names.insert_one(&name).await {
            Ok(_) => {}
            Err(err) if super::is_duplicate_key(&err) && self.release_orphan(&name).await? => {
                self.names.insert_one(&name).await?;
            }
            Err(err) => return Err(err),
        }
        if let Err(err) = self.coll.insert_one(user).await {
            // Only our own claim is released (a rare path, so two keys are fine).
            let ours = doc! { "_id": &user.username, "user_id": &user.id };
            if let Err(cleanup) = self.names.delete_one(ours).await {
                tracing::error!(error = %cleanup, username = %user.username, "could not release a username after a failed insert");
            }
            return Err(err);
        }
        Ok(())
    }

    /// Deletes the claim on `name.username` if it is an orphan: old, and its user
    /// was never stored. `true` when the name is free again.
    async fn release_orphan(&self, name: &UsernameDoc) -> mongodb::error::Result<bool> {
        let Some(claim) = self.names.find_one(doc! { "_id": &name.username }).await? else {
            return Ok(true);
        };
        let age = name.claimed_at.timestamp_millis() - claim.claimed_at.timestamp_millis();
        if age < ORPHAN_AFTER_MS || self.by_id(&claim.user_id).await?.is_some() {
            return Ok(false);
        }
        tracing::warn!(username = %claim.username, "releasing a username left by a failed registration");
        let orphan = doc! { "_id": &claim.username, "user_id": &claim.user_id };
        self.names.delete_one(orphan).await?;
        Ok(true)
    }

    #[tracing::instrument(name = "store.users.by_id", level = "info", skip(self), fields(user = %id), err)]
    pub async fn by_id(&self, id: &UserId) -> mongodb::error::Result<Option<UserDoc>> {
        let epoch = self.auth.epoch();
        let user = self.coll.find_one(doc! { "_id": id }).await?;
        if let Some(user) = &user {
            self.auth
                .fill(epoch, user.id.clone(), AuthFacts::from(user));
        }
        Ok(user)
    }

    /// The user's auth facts, from memory when possible. Unknown ids are not
    /// remembered (they cost a lookup each, never memory).
    pub async fn auth_facts(&self, id: &UserId) -> mongodb::error::Result<Option<AuthFacts>> {
        if let Some(facts) = self.auth.get(id) {
            return Ok(Some(facts));
        }
        Ok(self.by_id(id).await?.map(|u| AuthFacts::from(&u)))
    }

    /// The user's auth facts read from the database (and cached afresh): for the
    /// decisions that outlive a request (a refresh mints a 30-day token, a
    /// redeemed ticket opens a socket), so a change whose event this node missed
    /// cannot carry into them.
    pub async fn auth_facts_stored(
        &self,
        id: &UserId,
    ) -> mongodb::error::Result<Option<AuthFacts>> {
        Ok(self.by_id(id).await?.map(|u| AuthFacts::from(&u)))
    }

    /// Two `_id` lookups: `usernames`, then `users`.
    #[tracing::instrument(name = "store.users.by_username", level = "info", skip(self), err)]
    pub async fn by_username(&self, username: &str) -> mongodb::error::Result<Option<UserDoc>> {
        match self.names.find_one(doc! { "_id": username }).await? {
            Some(name) => Ok(self
                .by_id(&name.user_id)
                .await?
                .filter(|u| u.username == username)),
            None => Ok(None),
        }
    }

    /// Records the outcome of an update in the cache (called under the user's
    /// lock). After an error the update may or may not have landed: forget the user.
    fn updated(
        &self,
        id: &UserId,
        result: mongodb::error::Result<Option<UserDoc>>,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        match &result {
            Ok(Some(user)) => self.auth.set(user.id.clone(), AuthFacts::from(user)),
            _ => self.auth.invalidate(id),
        }
        self.peers.tell(super::cache::Changed::User(id.clone()));
        result
    }

    #[tracing::instrument(name = "store.users.by_ids", level = "info", skip_all, fields(count = ids.len()), err)]
    pub async fn by_ids(&self, ids: &[UserId]) -> mongodb::error::Result<Vec<UserDoc>> {
        self.coll
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await
    }

    /// Users whose username starts with `prefix`, after `cursor`, in username order.
    /// Usernames are `[a-z0-9_.-]`, so every match sorts below `prefix + "~"`.
    #[tracing::instrument(name = "store.users.search_prefix", level = "info", skip(self), err)]
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

    #[tracing::instrument(name = "store.users.set_display_name", level = "info", skip(self, name), fields(user = %id), err)]
    pub async fn set_display_name(
        &self,
        id: &UserId,
        name: &str,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id.as_str()).await;
        let result = self
            .coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "display_name": name } },
            )
            .return_document(ReturnDocument::After)
            .await;
        self.updated(id, result)
    }

    /// Sets the role and revokes earlier tokens.
    #[tracing::instrument(name = "store.users.set_role", level = "info", skip(self), fields(user = %id), err)]
    pub async fn set_role(
        &self,
        id: &UserId,
        role: Role,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id.as_str()).await;
        let role = mongodb::bson::to_bson(&role).unwrap_or_default();
        let result = self
            .coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "role": role }, "$inc": { "token_version": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await;
        self.updated(id, result)
    }

    #[tracing::instrument(name = "store.users.set_disabled", level = "info", skip(self), fields(user = %id), err)]
    pub async fn set_disabled(
        &self,
        id: &UserId,
        disabled: bool,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id.as_str()).await;
        let result = self
            .coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "disabled": disabled }, "$inc": { "token_version": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await;
        self.updated(id, result)
    }

    #[tracing::instrument(name = "store.users.set_password", level = "info", skip(self, hash), fields(user = %id), err)]
    pub async fn set_password(
        &self,
        id: &UserId,
        hash: &str,
    ) -> mongodb::error::Result<Option<UserDoc>> {
        let _user = self.locks.lock(id.as_str()).await;
        let result = self
            .coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "password_hash": hash }, "$inc": { "token_version": 1 } },
            )
            .return_document(ReturnDocument::After)
            .await;
        self.updated(id, result)
    }

    /// Revokes every access token of the user (logout everywhere).
    #[tracing::instrument(name = "store.users.bump_token_version", level = "info", skip(self), fields(user = %id), err)]
    pub async fn bump_token_version(&self, id: &UserId) -> mongodb::error::Result<()> {
        let _user = self.locks.lock(id.as_str()).await;
        let result = self
            .coll
            .find_one_and_update(doc! { "_id": id }, doc! { "$inc": { "token_version": 1 } })
            .return_document(ReturnDocument::After)
            .await;
        self.updated(id, result).map(|_| ())
    }
}
