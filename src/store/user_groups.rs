//! `user_groups`: the groups of each user, one document per user (`_id` = the
//! user id), so that the groups of a user (search's scope, "my groups") are one
//! `_id` lookup and not a query of `memberships` by `user_id`, which scans the
//! whole collection on FerretDB and grows with every membership stored.
//!
//! **A superset of the memberships, never less.** A group is added to the
//! user's document before the membership is inserted, and taken out only after
//! the membership is gone, so a crash between the two leaves an extra entry,
//! never a missing one. The memberships stay the authority: a reader checks
//! every entry against its membership (memory or `_id`,
//! `GroupStore::groups_of`) and prunes the stale ones with a compare-and-set on
//! the document's `version`, which every add changes: a prune never takes out a
//! group added after it read.
//!
//! Databases from before this collection are filled once at start-up from
//! `memberships` (`GroupStore::migrate_user_groups`); from then on a user
//! without a document has no group.

use mongodb::bson::doc;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::ids::{GroupId, UserId};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserGroupsDoc {
    #[serde(rename = "_id")]
    pub user_id: UserId,
    #[serde(default)]
    pub groups: Vec<GroupId>,
    /// A fresh id at every add: what a prune (`prune`) expects to find.
    #[serde(default)]
    pub version: String,
}

#[derive(Clone)]
pub struct UserGroups {
    coll: Collection<UserGroupsDoc>,
}

impl UserGroups {
    pub fn new(db: &Database) -> Self {
        Self {
            coll: db.collection("user_groups"),
        }
    }

    /// Adds `groups` to the user's document (created when missing). Call it
    /// before the memberships are inserted.
    #[tracing::instrument(name = "store.user_groups.add", level = "info", skip(self, groups), fields(user = %user_id, n = groups.len()), err)]
    pub async fn add(&self, user_id: &UserId, groups: &[GroupId]) -> mongodb::error::Result<()> {
        self.coll
            .update_one(
                doc! { "_id": user_id },
                doc! {
                    "$addToSet": { "groups": { "$each": groups.to_vec() } },
                    "$set": { "version": crate::ids::new_id() },
                },
            )
            .upsert(true)
            .await
            .map(|_| ())
    }

    /// Adds every (user, group) pair: the one-time fill from `memberships`.
    pub async fn fill(
        &self,
        pairs: impl IntoIterator<Item = (UserId, GroupId)>,
    ) -> mongodb::error::Result<()> {
        let mut by_user: std::collections::BTreeMap<UserId, Vec<GroupId>> = Default::default();
        for (user, group) in pairs {
            by_user.entry(user).or_default().push(group);
        }
        tracing::info!(
            users = by_user.len(),
            "filling user_groups from memberships (once)"
        );
        for (user, groups) in &by_user {
            self.add(user, groups).await?;
        }
        Ok(())
    }

    /// Takes the group out of the user's document. Call it after the
    /// membership is gone (if it fails, the entry stays: a superset).
    #[tracing::instrument(name = "store.user_groups.remove", level = "info", skip(self), fields(user = %user_id, group = %group_id), err)]
    pub async fn remove(&self, user_id: &UserId, group_id: &GroupId) -> mongodb::error::Result<()> {
        self.coll
            .update_one(
                doc! { "_id": user_id },
                doc! { "$pull": { "groups": group_id } },
            )
            .await
            .map(|_| ())
    }

    /// The user's document (`None`: no group).
    #[tracing::instrument(name = "store.user_groups.of", level = "info", skip(self), fields(user = %user_id), err)]
    pub async fn of(&self, user_id: &UserId) -> mongodb::error::Result<Option<UserGroupsDoc>> {
        self.coll.find_one(doc! { "_id": user_id }).await
    }

    /// Keeps only `kept` (a subset of what was read at `version`), unless a
    /// group was added since (then nothing is written; `false`).
    #[tracing::instrument(name = "store.user_groups.prune", level = "info", skip(self, kept), fields(user = %user_id), err)]
    pub async fn prune(
        &self,
        user_id: &UserId,
        version: &str,
        kept: &[GroupId],
    ) -> mongodb::error::Result<bool> {
        let done = self
            .coll
            .update_one(
                doc! { "_id": user_id, "version": version },
                doc! { "$set": { "groups": kept.to_vec() } },
            )
            .await?;
        Ok(done.matched_count > 0)
    }
}
