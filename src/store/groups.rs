//! `groups` and `memberships`.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

mod counts;

use super::cache::{BoundedCache, Changed};
use super::ensure_index;
use super::user_groups::UserGroups;

mod scope;
use crate::ids::{GroupId, UserId};
use crate::permissions::GroupRole;

/// Cached memberships ((group, user) pairs, absent ones included) and groups;
/// each map is cleared when full.
const MEMBERSHIP_CACHE_CAPACITY: usize = 200_000;
const GROUP_CACHE_CAPACITY: usize = 50_000;
/// Users whose list of groups is cached (`groups_of`).
const GROUPS_OF_CACHE_CAPACITY: usize = 50_000;

/// A membership's `_id`: what an access check looks it up by.
pub fn membership_id(group_id: &GroupId, user_id: &UserId) -> String {
    format!("{group_id}:{user_id}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupDoc {
    /// Also the id of the group's conversation.
    #[serde(rename = "_id")]
    pub id: GroupId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub owner_id: UserId,
    pub created_at: DateTime,
    /// The number of members (what responses show as `member_count`), so that showing a group never counts
    /// `memberships` (a scan on FerretDB that grows with every membership
    /// stored). Changed after each membership insert or delete by a
    /// compare-and-set on the value read (`bump_members`; FerretDB applies
    /// `$inc` as read-modify-write, so concurrent joins would lose increments).
    /// How it becomes true again: a crash between the membership's write and
    /// the count's leaves it off by one, until the sweep recounts
    /// (`recount_members`, every 10 minutes). Absent on groups created before
    /// it: counted by a scan when first shown (`counted`), and stored then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipDoc {
    /// `<group id>:<user id>` (`membership_id`); unique by construction.
    #[serde(rename = "_id")]
    pub id: String,
    /// Orders the member list by joining (a fresh ObjectId hex at join time).
    #[serde(default)]
    pub joined_key: String,
    pub group_id: GroupId,
    pub user_id: UserId,
    pub role: GroupRole,
    pub joined_at: DateTime,
}

#[derive(Clone)]
pub struct GroupStore {
    db: Database,
    groups: Collection<GroupDoc>,
    members: Collection<MembershipDoc>,
    /// Membership by `membership_id`, `None` for "not a member". Changed by this
    /// store's own writes (add, role change, remove, group delete).
    membership_cache: BoundedCache<String, Option<MembershipDoc>>,
    /// Groups, for access checks and their stored member count; existing ones
    /// only.
    /// Changed by update, set_owner, delete and a change of the stored count.
    group_cache: BoundedCache<GroupId, GroupDoc>,
    /// The groups each user is a member of (`groups_of`, for search). Changed by
    /// the same writes and events as `membership_cache` (a user's entry is
    /// dropped whenever one of their memberships changes, every entry when a
    /// group is deleted), with the same bound after a lost event (`CACHE_TTL`).
    groups_of_cache: BoundedCache<UserId, std::sync::Arc<Vec<GroupId>>>,
    /// The other nodes' caches (cluster mode): told of every change.
    peers: super::cache::Peers,
    /// Each user's groups, a superset of their memberships (`user_groups`).
    user_groups: UserGroups,
    /// Held while a group's stored member count is read and written (`members`).
    count_locks: std::sync::Arc<super::locks::KeyedLocks>,
}

fn role_bson(role: GroupRole) -> mongodb::bson::Bson {
    mongodb::bson::to_bson(&role).unwrap_or_default()
}

impl GroupStore {
    pub fn new(db: &Database, peers: super::cache::Peers) -> Self {
        Self {
            db: db.clone(),
            groups: db.collection("groups"),
            members: db.collection("memberships"),
            membership_cache: BoundedCache::new(MEMBERSHIP_CACHE_CAPACITY),
            group_cache: BoundedCache::new(GROUP_CACHE_CAPACITY),
            groups_of_cache: BoundedCache::new(GROUPS_OF_CACHE_CAPACITY),
            peers,
            user_groups: UserGroups::new(db),
            count_locks: std::sync::Arc::default(),
        }
    }

    /// Drops what this node remembers of the group and its memberships: the next
    /// reads come from the database (under a cluster-wide lock, after another
    /// node's change that this node's cache may not have heard of yet).
    pub fn reread(&self, id: &GroupId) {
        self.forget(&Changed::GroupDeleted(id.clone()));
    }

    /// Forgets every cached group and membership (events may have been lost).
    pub fn forget_all(&self) {
        self.group_cache.clear();
        self.membership_cache.clear();
        self.groups_of_cache.clear();
    }

    /// Another node changed a group or a membership: read it from the database
    /// next time.
    pub fn forget(&self, changed: &Changed) {
        match changed {
            Changed::Group(id) => self.group_cache.invalidate(id),
            Changed::Membership(id) => {
                self.membership_cache.invalidate(id);
                if let Some((_, user)) = id.split_once(':') {
                    self.groups_of_cache.invalidate(&UserId::from_trusted(user));
                }
            }
            Changed::GroupDeleted(id) => {
                let prefix = format!("{id}:");
                self.membership_cache
                    .invalidate_where(|key| key.starts_with(&prefix));
                self.group_cache.invalidate(id);
                self.groups_of_cache.clear();
            }
            Changed::User(_) | Changed::Block(_) => {}
        }
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        // The composed `_id` makes (group_id, user_id) unique; the old unique index
        // would also refuse the migration's copy of a membership.
        if let Err(err) = self.members.drop_index("group_user_unique").await {
            tracing::debug!(error = %err, "no group_user_unique index to drop");
        }
        ensure_index(
            &self.members,
            doc! { "group_id": 1, "joined_key": 1 },
            "group_joined",
            false,
        )
        .await?;
        ensure_index(&self.members, doc! { "user_id": 1 }, "user_id", false).await?;
        ensure_index(&self.groups, doc! { "visibility": 1 }, "visibility", false).await?;
        self.migrate_membership_ids().await?;
        self.migrate_user_groups().await
    }

    /// Fills `user_groups` from `memberships`, once per database (one scan, at
    /// start-up). Memberships added meanwhile by other nodes add themselves;
    /// one removed meanwhile may come back as an extra entry, pruned by its
    /// first reader (`user_groups` is a superset).
    async fn migrate_user_groups(&self) -> mongodb::error::Result<()> {
        const NAME: &str = "user_groups_v1";
        if super::users::migrated(&self.db, NAME).await? {
            return Ok(());
        }
        let all: Vec<MembershipDoc> = self.members.find(doc! {}).await?.try_collect().await?;
        self.user_groups
            .fill(all.into_iter().map(|m| (m.user_id, m.group_id)))
            .await?;
        super::users::mark_migrated(&self.db, NAME).await
    }

    /// Re-keys memberships stored with a random `_id` to `membership_id`, keeping
    /// their joining order (`joined_key` = the old id). Runs once per database; a
    /// copy is inserted before the original is deleted, so a crash loses nothing.
    async fn migrate_membership_ids(&self) -> mongodb::error::Result<()> {
        const NAME: &str = "membership_ids_v1";
        if super::users::migrated(&self.db, NAME).await? {
            return Ok(());
        }
        let old: Vec<MembershipDoc> = self.members.find(doc! {}).await?.try_collect().await?;
        for membership in old {
            let id = membership_id(&membership.group_id, &membership.user_id);
            if membership.id == id {
                continue;
            }
            let copy = MembershipDoc {
                id,
                joined_key: membership.id.clone(),
                ..membership.clone()
            };
            match self.members.insert_one(&copy).await {
                Ok(_) => {}
                Err(err) if super::is_duplicate_key(&err) => {}
                Err(err) => return Err(err),
            }
            self.members
                .delete_one(doc! { "_id": &membership.id })
                .await?;
        }
        super::users::mark_migrated(&self.db, NAME).await
    }

    #[tracing::instrument(name = "store.groups.insert", level = "info", skip_all, fields(group = %group.id), err)]
    pub async fn insert(&self, group: &GroupDoc) -> mongodb::error::Result<()> {
        self.groups.insert_one(group).await.map(|_| ())
    }

    /// The group as stored, for access checks on the hot path: served from
    /// memory when possible. Its `members` is absent on a group stored before
    /// counts were (`by_id` counts those).
    pub async fn by_id_uncounted(&self, id: &GroupId) -> mongodb::error::Result<Option<GroupDoc>> {
        if let Some(group) = self.group_cache.get(id) {
            return Ok(Some(group));
        }
        let epoch = self.group_cache.epoch();
        let group = self.find_group(id).await?;
        if let Some(group) = &group {
            self.group_cache
                .fill(epoch, group.id.clone(), group.clone());
        }
        Ok(group)
    }

    /// The database read behind `by_id_uncounted` (cache hits create no span).
    #[tracing::instrument(name = "store.groups.by_id", level = "info", skip(self), fields(group = %id), err)]
    async fn find_group(&self, id: &GroupId) -> mongodb::error::Result<Option<GroupDoc>> {
        self.groups.find_one(doc! { "_id": id }).await
    }

    pub async fn by_id(&self, id: &GroupId) -> mongodb::error::Result<Option<GroupDoc>> {
        match self.by_id_uncounted(id).await? {
            Some(group) => Ok(self.counted(vec![group]).await?.pop()),
            None => Ok(None),
        }
    }

    /// The groups of `ids` that exist, by id: an `_id` lookup each (from
    /// memory when cached; an `$in` would scan the collection on FerretDB).
    #[tracing::instrument(name = "store.groups.by_ids", level = "info", skip_all, fields(count = ids.len()), err)]
    pub async fn by_ids(&self, ids: &[GroupId]) -> mongodb::error::Result<Vec<GroupDoc>> {
        let found =
            futures_util::future::try_join_all(ids.iter().map(|id| self.by_id_uncounted(id)))
                .await?;
        let mut groups: Vec<GroupDoc> = found.into_iter().flatten().collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        groups.dedup_by(|a, b| a.id == b.id);
        self.counted(groups).await
    }

    /// The group with `members` (a group stored before counts were is counted:
    /// a scan of `memberships` on FerretDB, once), for responses that show it.
    pub async fn with_member_count(&self, group: GroupDoc) -> mongodb::error::Result<GroupDoc> {
        let mut counted = self.counted(vec![group]).await?;
        counted.pop().ok_or_else(|| {
            mongodb::error::Error::custom("counting members lost the group".to_owned())
        })
    }

    /// Public groups after `cursor` (an id), oldest first.
    #[tracing::instrument(name = "store.groups.public_page", level = "info", skip(self), err)]
    pub async fn public_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> mongodb::error::Result<Vec<GroupDoc>> {
        let groups = super::keyset_page(
            &self.groups,
            doc! { "visibility": "public" },
            "_id",
            after,
            limit,
        )
        .await?;
        self.counted(groups).await
    }

    #[tracing::instrument(name = "store.groups.update", level = "info", skip(self, name, description), fields(group = %id), err)]
    pub async fn update(
        &self,
        id: &GroupId,
        name: Option<&str>,
        description: Option<&str>,
        visibility: Option<Visibility>,
    ) -> mongodb::error::Result<Option<GroupDoc>> {
        let mut set = doc! {};
        if let Some(name) = name {
            set.insert("name", name);
        }
        if let Some(description) = description {
            set.insert("description", description);
        }
        if let Some(visibility) = visibility {
            set.insert(
                "visibility",
                mongodb::bson::to_bson(&visibility).unwrap_or_default(),
            );
        }
        if set.is_empty() {
            return self.by_id(id).await;
        }
        let result = self
            .groups
            .update_one(doc! { "_id": id }, doc! { "$set": set })
            .await;
        self.group_cache.invalidate(id);
        self.peers.tell(Changed::Group(id.clone()));
        result?;
        self.by_id(id).await
    }

    /// Moves the ownership from `from` to `to`, only if `from` still owns the group
    /// (a compare-and-set on `owner_id`): `false` when it did not, and nothing is
    /// written. This fences a transfer decided under a lock its node has lost
    /// (stalled past the lock's trust): a transfer that landed meanwhile wins.
    #[tracing::instrument(name = "store.groups.set_owner", level = "info", skip(self), fields(group = %id, from = %from, to = %to), err)]
    pub async fn set_owner(
        &self,
        id: &GroupId,
        from: &UserId,
        to: &UserId,
    ) -> mongodb::error::Result<bool> {
        let result = self
            .groups
            .update_one(
                doc! { "_id": id, "owner_id": from },
                doc! { "$set": { "owner_id": to } },
            )
            .await;
        self.group_cache.invalidate(id);
        self.peers.tell(Changed::Group(id.clone()));
        Ok(result?.matched_count > 0)
    }

    #[tracing::instrument(name = "store.groups.delete", level = "info", skip(self), fields(group = %id), err)]
    pub async fn delete(&self, id: &GroupId) -> mongodb::error::Result<()> {
        let members = self.members.delete_many(doc! { "group_id": id }).await;
        let prefix = format!("{id}:");
        self.membership_cache
            .invalidate_where(|key| key.starts_with(&prefix));
        self.groups_of_cache.clear();
        members?;
        let group = self.groups.delete_one(doc! { "_id": id }).await;
        self.group_cache.invalidate(id);
        self.peers.tell(Changed::GroupDeleted(id.clone()));
        group.map(|_| ())
    }

    /// What memory says of the user's membership of the group, without asking
    /// the database: `None` when not cached.
    pub fn cached_membership(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
    ) -> Option<Option<MembershipDoc>> {
        self.membership_cache.get(&membership_id(group_id, user_id))
    }

    /// The user's membership of the group: an `_id` lookup, or memory (absent
    /// memberships are remembered too).
    pub async fn membership(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
    ) -> mongodb::error::Result<Option<MembershipDoc>> {
        let id = membership_id(group_id, user_id);
        if let Some(cached) = self.membership_cache.get(&id) {
            return Ok(cached);
        }
        let epoch = self.membership_cache.epoch();
        let found = self.find_membership(&id).await?;
        self.membership_cache.fill(epoch, id, found.clone());
        Ok(found)
    }

    /// The database read behind `membership` (cache hits create no span).
    #[tracing::instrument(name = "store.groups.membership", level = "info", skip(self), err)]
    async fn find_membership(&self, id: &str) -> mongodb::error::Result<Option<MembershipDoc>> {
        self.members.find_one(doc! { "_id": id }).await
    }

    /// Adds a member; `false` when they already were one (the unique index decides).
    #[tracing::instrument(name = "store.groups.add_member", level = "info", skip(self), fields(group = %group_id, user = %user_id), err)]
    pub async fn add_member(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
        role: GroupRole,
    ) -> mongodb::error::Result<bool> {
        let membership = MembershipDoc {
            id: membership_id(group_id, user_id),
            joined_key: crate::ids::new_id(),
            group_id: group_id.clone(),
            user_id: user_id.clone(),
            role,
            joined_at: super::now(),
        };
        // The user's groups first: they may list more than the memberships,
        // never fewer.
        self.user_groups
            .add(user_id, std::slice::from_ref(group_id))
            .await?;
        let inserted = self.members.insert_one(&membership).await;
        self.peers.tell(Changed::Membership(membership.id.clone()));
        self.groups_of_cache.invalidate(user_id);
        match inserted {
            Ok(_) => {
                self.membership_cache
                    .set(membership.id.clone(), Some(membership));
                self.bump_members(group_id, 1).await;
                Ok(true)
            }
            Err(err) => {
                self.membership_cache.invalidate(&membership.id);
                if super::is_duplicate_key(&err) {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Changes a member's role, only if the stored membership still has the role
    /// `expected` (a compare-and-set: `None`, nothing written, when it had changed or
    /// is gone). This fences a change decided under a lock its node has lost.
    #[tracing::instrument(name = "store.groups.set_member_role", level = "info", skip(self), fields(group = %group_id, user = %user_id), err)]
    pub async fn set_member_role(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
        expected: GroupRole,
        role: GroupRole,
    ) -> mongodb::error::Result<Option<MembershipDoc>> {
        let id = membership_id(group_id, user_id);
        let result = self
            .members
            .find_one_and_update(
                doc! { "_id": &id, "role": role_bson(expected) },
                doc! { "$set": { "role": role_bson(role) } },
            )
            .return_document(ReturnDocument::After)
            .await;
        self.peers.tell(Changed::Membership(id.clone()));
        match &result {
            Ok(Some(updated)) => self.membership_cache.set(id, Some(updated.clone())),
            _ => self.membership_cache.invalidate(&id),
        }
        result
    }

    /// Removes a member, only if the stored membership still has the role
    /// `expected` (a compare-and-set, as `set_member_role`): `false` when nothing
    /// was removed.
    #[tracing::instrument(name = "store.groups.remove_member", level = "info", skip(self), fields(group = %group_id, user = %user_id), err)]
    pub async fn remove_member(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
        expected: GroupRole,
    ) -> mongodb::error::Result<bool> {
        let id = membership_id(group_id, user_id);
        let result = self
            .members
            .delete_one(doc! { "_id": &id, "role": role_bson(expected) })
            .await;
        self.peers.tell(Changed::Membership(id.clone()));
        self.groups_of_cache.invalidate(user_id);
        match &result {
            Ok(done) if done.deleted_count > 0 => self.membership_cache.set(id, None),
            _ => self.membership_cache.invalidate(&id),
        }
        let removed = result?.deleted_count > 0;
        if removed {
            self.bump_members(group_id, -1).await;
        }
        if removed && let Err(err) = self.user_groups.remove(user_id, group_id).await {
            // An extra entry: its next reader finds no membership and prunes it.
            tracing::warn!(error = %err, group = %group_id, user = %user_id, "a removed membership stays in user_groups until pruned");
        }
        Ok(removed)
    }

    /// A page of members in joining order, after the `joined_key` `cursor`.
    #[tracing::instrument(name = "store.groups.members_page", level = "info", skip(self), fields(group = %group_id), err)]
    pub async fn members_page(
        &self,
        group_id: &GroupId,
        after: Option<&str>,
        limit: u32,
    ) -> mongodb::error::Result<Vec<MembershipDoc>> {
        super::keyset_page(
            &self.members,
            doc! { "group_id": group_id },
            "joined_key",
            after,
            limit,
        )
        .await
    }

    /// Every member's user id (for fan-out).
    #[tracing::instrument(name = "store.groups.member_ids", level = "info", skip(self), fields(group = %group_id), err)]
    pub async fn member_ids(&self, group_id: &GroupId) -> mongodb::error::Result<Vec<UserId>> {
        let docs: Vec<MembershipDoc> = self
            .members
            .find(doc! { "group_id": group_id })
            .await?
            .try_collect()
            .await?;
        Ok(docs.into_iter().map(|m| m.user_id).collect())
    }
}
