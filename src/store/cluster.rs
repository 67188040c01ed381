//! `redis_generations`: whether a cluster namespace ever had a Redis generation.
//!
//! Redis keeps the owner leases; when it restarts empty (or is flushed) the
//! leases are gone, but a node that renewed one moments before may still trust
//! it (`ownership::Ownership::holds`). The first node that finds Redis empty
//! starts a new generation there, and when this database says the namespace had
//! one before, the new generation begins with a quiet period in which no free
//! lease is taken (`ownership::QUIET`). The fact lives here because it must
//! outlive Redis: a node that just started cannot tell a fresh cluster from a
//! Redis that lost its data otherwise.

use mongodb::Database;
use mongodb::bson::{DateTime, doc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GenerationDoc {
    /// The cluster namespace (`REDIS_NAMESPACE`).
    #[serde(rename = "_id")]
    namespace: String,
    /// When the namespace's first generation was started.
    at: DateTime,
}

fn collection(db: &Database) -> mongodb::Collection<GenerationDoc> {
    db.collection("redis_generations")
}

/// Whether the namespace has had a Redis generation before (an `_id` lookup).
pub async fn had_generation(db: &Database, namespace: &str) -> mongodb::error::Result<bool> {
    Ok(collection(db)
        .find_one(doc! { "_id": namespace })
        .await?
        .is_some())
}

/// Records that the namespace has a Redis generation (idempotent).
pub async fn record_generation(db: &Database, namespace: &str) -> mongodb::error::Result<()> {
    let record = GenerationDoc {
        namespace: namespace.to_owned(),
        at: super::now(),
    };
    match collection(db).insert_one(&record).await {
        Ok(_) => Ok(()),
        Err(err) if super::is_duplicate_key(&err) => Ok(()),
        Err(err) => Err(err),
    }
}
