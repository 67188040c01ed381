//! A user's groups (search's scope, "my groups"), read from the user's
//! `user_groups` document (`store::user_groups`: a superset of their
//! memberships) and checked against the memberships: `_id` lookups or memory,
//! never a query of `memberships` by user.

use super::{GroupStore, MembershipDoc};
use crate::ids::{GroupId, UserId};

impl GroupStore {
    /// Every group the user is a member of (search's scope, "my groups"):
    /// memory, or the user's `user_groups` document (`_id`) with each entry
    /// checked against its membership (memory or `_id`).
    pub async fn groups_of(
        &self,
        user_id: &UserId,
    ) -> mongodb::error::Result<std::sync::Arc<Vec<GroupId>>> {
        Ok(self.groups_of_checked(user_id).await?.0)
    }

    /// `groups_of`, and, when the stored document listed groups without a
    /// membership (read from the database just now), its `version`: the
    /// caller may `prune_user_groups` to it, holding the user's groups lock.
    pub async fn groups_of_checked(
        &self,
        user_id: &UserId,
    ) -> mongodb::error::Result<(std::sync::Arc<Vec<GroupId>>, Option<String>)> {
        if let Some(cached) = self.groups_of_cache.get(user_id) {
            return Ok((cached, None));
        }
        let epoch = self.groups_of_cache.epoch();
        let (groups, stale) = self.find_groups_of(user_id).await?;
        let found = std::sync::Arc::new(groups);
        self.groups_of_cache
            .fill(epoch, user_id.clone(), std::sync::Arc::clone(&found));
        Ok((found, stale))
    }

    async fn find_groups_of(
        &self,
        user_id: &UserId,
    ) -> mongodb::error::Result<(Vec<GroupId>, Option<String>)> {
        let Some(listed) = self.user_groups.of(user_id).await? else {
            return Ok((Vec::new(), None));
        };
        let checked = futures_util::future::try_join_all(
            listed.groups.iter().map(|g| self.membership(g, user_id)),
        )
        .await?;
        let mut groups: Vec<GroupId> = listed
            .groups
            .iter()
            .zip(&checked)
            .filter(|(_, membership)| membership.is_some())
            .map(|(g, _)| g.clone())
            .collect();
        let stale = (groups.len() < listed.groups.len()).then_some(listed.version);
        groups.sort();
        groups.dedup();
        Ok((groups, stale))
    }

    /// Keeps only `kept` in the user's `user_groups` document, unless a group
    /// was added since `version` was read (then nothing changes). Hold the
    /// user's groups lock: FerretDB applies the compare-and-set as a
    /// read-modify-write.
    pub async fn prune_user_groups(
        &self,
        user_id: &UserId,
        version: &str,
        kept: &[GroupId],
    ) -> mongodb::error::Result<bool> {
        self.user_groups.prune(user_id, version, kept).await
    }

    /// The user's memberships after the group id `cursor`, in group id order:
    /// from `groups_of` (memory or `_id` lookups), never a query of
    /// `memberships` by user.
    pub async fn memberships_of(
        &self,
        user_id: &UserId,
        after: Option<&str>,
        limit: u32,
    ) -> mongodb::error::Result<Vec<MembershipDoc>> {
        let groups = self.groups_of(user_id).await?;
        let page = groups
            .iter()
            .filter(|g| after.is_none_or(|after| g.as_str() > after))
            .take(limit as usize);
        let found =
            futures_util::future::try_join_all(page.map(|g| self.membership(g, user_id))).await?;
        Ok(found.into_iter().flatten().collect())
    }
}
