//! MongoDB access: one file per collection, indexes created at start-up.
//!
//! Only features that both MongoDB 7 and FerretDB v1 support are used: no
//! transactions, change streams, `$lookup`, TTL or partial indexes.

pub mod annotations;
pub mod blocks;
pub mod cache;
pub mod changes;
pub mod cluster;
pub mod conversations;
pub mod groups;
pub mod locks;
pub mod message_doc;
pub mod messages;
pub mod threads;
pub mod tokens;
pub mod user_groups;
pub mod users;

use std::time::Duration;

use mongodb::bson::doc;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};

pub use conversations::ConversationStore;
pub use groups::GroupStore;
pub use messages::MessageStore;
pub use tokens::TokenStore;
pub use users::UserStore;

/// Duplicate key error of a unique index.
const DUPLICATE_KEY: i32 = 11000;

/// Handles to every collection.
#[derive(Clone)]
pub struct Store {
    pub db: Database,
    pub users: UserStore,
    pub tokens: TokenStore,
    pub groups: GroupStore,
    pub conversations: ConversationStore,
    pub messages: MessageStore,
    /// Which message each change (edit, delete) of a conversation touched.
    pub changes: changes::ChangeStore,
    /// The replies to each replied-to message.
    pub threads: threads::ThreadStore,
}

impl Store {
    /// The database, connected lazily: the driver dials on first use, so a down
    /// database makes requests fail with 503 rather than the process refusing to
    /// start.
    pub async fn connect(
        uri: &str,
        database: &str,
        timeout: Duration,
    ) -> mongodb::error::Result<Database> {
        let mut options = ClientOptions::parse(uri).await?;
        options.app_name = Some("confab".to_owned());
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        let client = Client::with_options(options)?;
        Ok(client.database(database))
    }

    /// Every collection of `db`; cache changes go to `peers` (cluster mode: the
    /// other nodes; `Peers::default()`: nowhere).
    pub fn new(db: Database, peers: cache::Peers) -> Self {
        Self {
            users: UserStore::new(&db, peers.clone()),
            tokens: TokenStore::new(&db),
            groups: GroupStore::new(&db, peers.clone()),
            conversations: ConversationStore::new(&db),
            messages: MessageStore::new(&db, peers),
            changes: changes::ChangeStore::new(&db),
            threads: threads::ThreadStore::new(&db),
            db,
        }
    }

    /// Another node changed a cached fact: this node reads it from the database
    /// next time.
    pub fn forget(&self, changed: &cache::Changed) {
        match changed {
            cache::Changed::User(id) => self.users.forget(id),
            cache::Changed::Block(id) => self.messages.forget_block(id),
            other => self.groups.forget(other),
        }
    }

    /// Events from other nodes may have been lost (the subscription dropped, or a
    /// gap in a node's event numbers): forget every cached fact, so each is read
    /// from the database again.
    pub fn forget_all(&self) {
        self.users.forget_all();
        self.groups.forget_all();
        self.messages.forget_blocks();
        metrics::counter!("confab_cache_forget_all_total").increment(1);
    }

    /// Creates every index; idempotent.
    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        self.users.ensure_indexes().await?;
        self.tokens.ensure_indexes().await?;
        self.groups.ensure_indexes().await?;
        self.conversations.ensure_indexes().await?;
        self.messages.ensure_indexes().await?;
        Ok(())
    }

    pub async fn ping(&self) -> mongodb::error::Result<()> {
        self.db.run_command(doc! { "ping": 1 }).await.map(|_| ())
    }

    /// Deletes expired refresh tokens and tickets (no TTL indexes on FerretDB).
    pub async fn sweep_expired(&self) -> mongodb::error::Result<u64> {
        self.tokens.delete_expired().await
    }
}

/// Creates one index (idempotent). Indexes are created one call each: FerretDB
/// v1.24 panics on a multi-index `createIndexes` whose indexes all exist already.
pub async fn ensure_index<T: Send + Sync>(
    coll: &mongodb::Collection<T>,
    keys: mongodb::bson::Document,
    name: &str,
    unique: bool,
) -> mongodb::error::Result<()> {
    let mut options = mongodb::options::IndexOptions::builder()
        .name(name.to_owned())
        .build();
    if unique {
        options.unique = Some(true);
    }
    let model = mongodb::IndexModel::builder()
        .keys(keys)
        .options(options)
        .build();
    coll.create_index(model).await.map(|_| ())
}

/// One page of `filter`'s documents in ascending `key` order, after `cursor`
/// (a `key` value from the previous page): keyset pagination, stable under inserts.
pub async fn keyset_page<T>(
    coll: &mongodb::Collection<T>,
    mut filter: mongodb::bson::Document,
    key: &str,
    cursor: Option<&str>,
    limit: u32,
) -> mongodb::error::Result<Vec<T>>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    use futures_util::TryStreamExt;
    if let Some(cursor) = cursor {
        filter.insert(key, doc! { "$gt": cursor });
    }
    let options = mongodb::options::FindOptions::builder()
        .sort(doc! { key: 1 })
        .limit(i64::from(limit))
        .build();
    coll.find(filter)
        .with_options(options)
        .await?
        .try_collect()
        .await
}

pub fn now() -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::now()
}

/// Database failures: outages become 503, everything else is logged and hidden.
impl From<mongodb::error::Error> for crate::error::ApiError {
    fn from(err: mongodb::error::Error) -> Self {
        if is_unavailable(&err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::database_unavailable()
        } else {
            tracing::error!(error = %err, "database error");
            Self::internal()
        }
    }
}

/// Whether an error means "the database is not reachable" (503) rather than a bug.
pub fn is_unavailable(err: &mongodb::error::Error) -> bool {
    matches!(
        *err.kind,
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
    )
}

/// Whether an insert or upsert failed on a unique index.
pub fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().any(|w| w.code == DUPLICATE_KEY)),
        _ => false,
    }
}
