//! A group's stored member count (`GroupDoc::members`): read, moved after each
//! membership write, and recounted by the sweep.

use futures_util::TryStreamExt;
use mongodb::bson::doc;

use super::{GroupDoc, GroupStore};
use crate::ids::GroupId;
use crate::store::cache::Changed;

impl GroupStore {
    /// Fills in `members` of a group stored before counts were: counted (a
    /// scan) and the count stored.
    pub(super) async fn counted(
        &self,
        mut groups: Vec<GroupDoc>,
    ) -> mongodb::error::Result<Vec<GroupDoc>> {
        for group in &mut groups {
            if group.members.is_none() {
                let _count = self.count_locks.lock(group.id.as_str()).await;
                group.members = Some(self.store_count(&group.id, None).await?.0);
            }
        }
        Ok(groups)
    }

    /// Counts the group's members (a scan of `memberships`) and stores the count
    /// if the stored one is still `seen` (a compare-and-set; `None`: absent).
    /// Returns the count and whether it was stored.
    #[tracing::instrument(name = "store.groups.count_members", level = "info", skip(self), err)]
    async fn store_count(
        &self,
        id: &GroupId,
        seen: Option<i64>,
    ) -> mongodb::error::Result<(i64, bool)> {
        let count = self
            .members
            .count_documents(doc! { "group_id": id })
            .await?;
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let filter = match seen {
            Some(n) => doc! { "_id": id, "members": n },
            None => doc! { "_id": id, "members": { "$exists": false } },
        };
        let stored = self
            .groups
            .update_one(filter, doc! { "$set": { "members": count } })
            .await?
            .matched_count
            > 0;
        if stored {
            self.changed_group(id);
        }
        Ok((count, stored))
    }

    /// Moves the stored member count by `delta` after a membership was written:
    /// a compare-and-set on the count read, tried again while others move it.
    /// Never fails the membership change it follows (already stored): a count
    /// it could not write is off until the sweep (`recount_members`), logged.
    pub(super) async fn bump_members(&self, id: &GroupId, delta: i64) {
        const ATTEMPTS: usize = 32;
        // FerretDB's compare-and-set is itself a read-then-write: on one node
        // the lock serialises it; across nodes on FerretDB two may still race
        // (the sweep corrects it; MongoDB applies the filter atomically).
        let _count = self.count_locks.lock(id.as_str()).await;
        for _ in 0..ATTEMPTS {
            let outcome = async {
                let Some(group) = self.find_group(id).await? else {
                    return Ok(true); // deleted meanwhile
                };
                let Some(n) = group.members else {
                    // Stored before counts were: count it (this membership
                    // included); if another did first, move theirs.
                    return Ok(self.store_count(id, None).await?.1);
                };
                let moved = self
                    .groups
                    .update_one(
                        doc! { "_id": id, "members": n },
                        doc! { "$set": { "members": n.saturating_add(delta).max(0) } },
                    )
                    .await?;
                Ok::<bool, mongodb::error::Error>(moved.matched_count > 0)
            }
            .await;
            match outcome {
                Ok(true) => {
                    self.changed_group(id);
                    return;
                }
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, group = %id, delta, "a group's member count was not updated: off until the next recount");
                    return;
                }
            }
        }
        tracing::warn!(group = %id, delta, "a group's member count kept moving: off until the next recount");
    }

    /// Every node reads the group again (its cached copy has an old count).
    fn changed_group(&self, id: &GroupId) {
        self.group_cache.invalidate(id);
        self.peers.tell(Changed::Group(id.clone()));
    }

    /// Recounts every group's members (one scan of `memberships`, one of
    /// `groups`) and corrects a stored count that differs, by a recount of
    /// that group and a compare-and-set: what a crash between a membership's
    /// write and its count's left off. Returns how many were corrected. The
    /// sweep runs it (`SWEEP_EVERY`).
    #[tracing::instrument(name = "store.groups.recount_members", level = "info", skip(self), err)]
    pub async fn recount_members(&self) -> mongodb::error::Result<usize> {
        let mut tally: std::collections::HashMap<GroupId, i64> = Default::default();
        let mut all = self.members.find(doc! {}).await?;
        while let Some(m) = all.try_next().await? {
            *tally.entry(m.group_id).or_default() += 1;
        }
        let groups: Vec<GroupDoc> = self.groups.find(doc! {}).await?.try_collect().await?;
        let mut corrected = 0;
        for group in groups {
            let counted = tally.get(&group.id).copied().unwrap_or(0);
            if group.members == Some(counted) {
                continue;
            }
            // Recounted alone right before the write: a join between the scan
            // above and now is not lost.
            let _count = self.count_locks.lock(group.id.as_str()).await;
            let (count, stored) = self.store_count(&group.id, group.members).await?;
            if stored && Some(count) != group.members {
                corrected += 1;
                tracing::info!(group = %group.id, stored = ?group.members, count, "a group's member count was off: recounted");
            }
        }
        Ok(corrected)
    }
}
