//! `groups` and `memberships`.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::{FindOptions, ReturnDocument};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::ensure_index;
use crate::permissions::GroupRole;

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
    pub id: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub owner_id: String,
    pub created_at: DateTime,
    /// Counted from `memberships` whenever a group is read, never stored: FerretDB
    /// applies `$inc` as read-modify-write, so a stored counter would drift under
    /// concurrent joins.
    #[serde(default, skip_serializing)]
    pub member_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MembershipDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub group_id: String,
    pub user_id: String,
    pub role: GroupRole,
    pub joined_at: DateTime,
}

#[derive(Clone)]
pub struct GroupStore {
    groups: Collection<GroupDoc>,
    members: Collection<MembershipDoc>,
}

fn role_bson(role: GroupRole) -> mongodb::bson::Bson {
    mongodb::bson::to_bson(&role).unwrap_or_default()
}

impl GroupStore {
    pub fn new(db: &Database) -> Self {
        Self {
            groups: db.collection("groups"),
            members: db.collection("memberships"),
        }
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        ensure_index(
            &self.members,
            doc! { "group_id": 1, "user_id": 1 },
            "group_user_unique",
            true,
        )
        .await?;
        ensure_index(&self.members, doc! { "user_id": 1 }, "user_id", false).await?;
        ensure_index(&self.groups, doc! { "visibility": 1 }, "visibility", false).await
    }

    pub async fn insert(&self, group: &GroupDoc) -> mongodb::error::Result<()> {
        self.groups.insert_one(group).await.map(|_| ())
    }

    /// The group without `member_count` (0): for access checks on the hot path,
    /// where counting members would cost an aggregation per message.
    pub async fn by_id_uncounted(&self, id: &str) -> mongodb::error::Result<Option<GroupDoc>> {
        self.groups.find_one(doc! { "_id": id }).await
    }

    pub async fn by_id(&self, id: &str) -> mongodb::error::Result<Option<GroupDoc>> {
        match self.groups.find_one(doc! { "_id": id }).await? {
            Some(group) => Ok(self.counted(vec![group]).await?.pop()),
            None => Ok(None),
        }
    }

    pub async fn by_ids(&self, ids: &[String]) -> mongodb::error::Result<Vec<GroupDoc>> {
        let options = FindOptions::builder().sort(doc! { "_id": 1 }).build();
        let groups = self
            .groups
            .find(doc! { "_id": { "$in": ids } })
            .with_options(options)
            .await?;
        self.counted(groups.try_collect().await?).await
    }

    /// Fills in `member_count`.
    async fn counted(&self, mut groups: Vec<GroupDoc>) -> mongodb::error::Result<Vec<GroupDoc>> {
        let counts = futures_util::future::try_join_all(groups.iter().map(|g| {
            self.members
                .count_documents(doc! { "group_id": &g.id })
                .into_future()
        }))
        .await?;
        for (group, count) in groups.iter_mut().zip(counts) {
            group.member_count = i64::try_from(count).unwrap_or(i64::MAX);
        }
        Ok(groups)
    }

    /// Public groups after `cursor` (an id), oldest first.
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

    pub async fn update(
        &self,
        id: &str,
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
        self.groups
            .update_one(doc! { "_id": id }, doc! { "$set": set })
            .await?;
        self.by_id(id).await
    }

    pub async fn set_owner(&self, id: &str, owner_id: &str) -> mongodb::error::Result<()> {
        self.groups
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "owner_id": owner_id } },
            )
            .await
            .map(|_| ())
    }

    pub async fn delete(&self, id: &str) -> mongodb::error::Result<()> {
        self.members.delete_many(doc! { "group_id": id }).await?;
        self.groups.delete_one(doc! { "_id": id }).await.map(|_| ())
    }

    pub async fn membership(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> mongodb::error::Result<Option<MembershipDoc>> {
        self.members
            .find_one(doc! { "group_id": group_id, "user_id": user_id })
            .await
    }

    /// Adds a member; `false` when they already were one (the unique index decides).
    pub async fn add_member(
        &self,
        group_id: &str,
        user_id: &str,
        role: GroupRole,
    ) -> mongodb::error::Result<bool> {
        let membership = MembershipDoc {
            id: super::new_id(),
            group_id: group_id.to_owned(),
            user_id: user_id.to_owned(),
            role,
            joined_at: super::now(),
        };
        match self.members.insert_one(&membership).await {
            Ok(_) => Ok(true),
            Err(err) if super::is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    pub async fn set_member_role(
        &self,
        group_id: &str,
        user_id: &str,
        role: GroupRole,
    ) -> mongodb::error::Result<Option<MembershipDoc>> {
        self.members
            .find_one_and_update(
                doc! { "group_id": group_id, "user_id": user_id },
                doc! { "$set": { "role": role_bson(role) } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Removes a member; `false` when they were not one.
    pub async fn remove_member(
        &self,
        group_id: &str,
        user_id: &str,
    ) -> mongodb::error::Result<bool> {
        let res = self
            .members
            .delete_one(doc! { "group_id": group_id, "user_id": user_id })
            .await?;
        Ok(res.deleted_count > 0)
    }

    /// A page of members in joining order, after the membership id `cursor`.
    pub async fn members_page(
        &self,
        group_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> mongodb::error::Result<Vec<MembershipDoc>> {
        super::keyset_page(
            &self.members,
            doc! { "group_id": group_id },
            "_id",
            after,
            limit,
        )
        .await
    }

    /// Every member's user id (for fan-out).
    pub async fn member_ids(&self, group_id: &str) -> mongodb::error::Result<Vec<String>> {
        let docs: Vec<MembershipDoc> = self
            .members
            .find(doc! { "group_id": group_id })
            .await?
            .try_collect()
            .await?;
        Ok(docs.into_iter().map(|m| m.user_id).collect())
    }

    /// The user's memberships after the group id `cursor`, in group id order.
    pub async fn memberships_of(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> mongodb::error::Result<Vec<MembershipDoc>> {
        super::keyset_page(
            &self.members,
            doc! { "user_id": user_id },
            "group_id",
            after,
            limit,
        )
        .await
    }
}
