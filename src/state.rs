//! The composition root: builds every part once, bottom-up, and chooses the
//! mode (one node, or cluster mode with `REDIS_URL`) by choosing each port's
//! implementation. The core gets its context (`chat::Chat`, `auth::Auth`); the
//! edges (REST, the WebSocket gateway) get `AppState`.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::auth::password::PasswordHasher;
use crate::auth::throttle::{Throttle, Throttles};
use crate::auth::tokens::TokenKeys;
use crate::config::Config;
use crate::rate_limits::RateLimits;
use crate::realtime::hub::Hub;
use crate::store::Store;

/// What the edges share (REST handlers, the WebSocket gateway): one `Arc`, so
/// each request and each connection holding it costs a pointer (an idle socket
/// keeps one for its whole life).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts behind `AppState`.
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Store,
    pub hub: Arc<Hub>,
    /// One writer per conversation in use, and the batcher that stores messages.
    pub writers: Arc<crate::chat::writer::Writers>,
    /// Cluster mode (`REDIS_URL`): the link to the other nodes.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// This node's search index (`SEARCH_INDEX_DIR`), the chat core's
    /// `SearchIndex`; `None` with `SEARCH_ENABLED=false`.
    pub search: Option<Arc<crate::search::Engine>>,
    /// The chat core's context: the store, the writers, the rate limits and the
    /// ports the mode chose (router, locks, changes); the same handles as above.
    pub chat: crate::chat::Chat,
    /// Identity's context: the store, keys, hasher, throttles and the revoker
    /// the mode chose.
    pub auth: Arc<crate::auth::Auth>,
}

/// Why the state could not be built (a setting that cannot be used).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use MONGO_URI: {0}")]
    Database(#[from] mongodb::error::Error),
    #[error("cannot use REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot use SEARCH_INDEX_DIR: {0}")]
    Search(#[from] tantivy::TantivyError),
}

impl AppState {
    /// Builds the state; the database is dialled lazily on first use.
    pub async fn new(config: Config) -> Result<Self, StartError> {
        let db = Store::connect(
            config.mongo_uri.expose_secret(),
            &config.database,
            config.db_timeout,
        )
        .await?;
        let cluster = match &config.redis_url {
            Some(url) => Some(crate::cluster::Cluster::new(
                url,
                &config.redis_namespace,
                db.clone(),
            )?),
            None => None,
        };
        // Cluster mode: limits are counted in the same Redis, under the namespace.
        // One Redis client for the cluster and its counters.
        let shared: Option<Arc<dyn crate::rate_limits::SharedCounter>> =
            cluster.as_ref().map(|cluster| {
                Arc::new(cluster.counters(&config.redis_namespace))
                    as Arc<dyn crate::rate_limits::SharedCounter>
            });
        // Cluster mode: cache changes go to the other nodes.
        let peers = cluster
            .as_ref()
            .map(|cluster| cluster.peers())
            .unwrap_or_default();
        let mut store = Store::new(db, peers);
        store.messages = store.messages.with_durability(config.message_durability);
        let keys = TokenKeys::new(
            config.jwt_secret.expose_secret(),
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl,
        );
        let throttles = Throttles {
            login_per_user: Throttle::new(
                "login_per_user",
                config.login_max_failures_per_user,
                config.login_failure_window,
                shared.clone(),
            ),
            login_per_ip: Throttle::new(
                "login_per_ip",
                config.login_max_failures_per_ip,
                config.login_failure_window,
                shared.clone(),
            ),
            password_change_per_user: Throttle::new(
                "password_change_per_user",
                config.login_max_failures_per_user,
                config.login_failure_window,
                shared.clone(),
            ),
            register_per_ip: Throttle::new(
                "register_per_ip",
                config.register_max_per_ip,
                config.register_window,
                shared.clone(),
            ),
        };
        let rate_limits = match shared {
            Some(shared) => RateLimits::new(&config).shared(&config, shared),
            None => RateLimits::new(&config),
        };
        let hub = Arc::new(match &cluster {
            Some(cluster) => cluster.new_hub(),
            None => Hub::default(),
        });
        // `SEARCH_ENABLED=false`: no index on this node.
        let search: Option<Arc<crate::search::Engine>> = match config.search_enabled {
            true => {
                let engine =
                    crate::search::Engine::open(store.clone(), config.search_index_dir.as_deref())?;
                engine.start();
                Some(engine)
            }
            false => None,
        };
        let index: Arc<dyn crate::chat::search::SearchIndex> = match &search {
            Some(engine) => Arc::clone(engine) as Arc<dyn crate::chat::search::SearchIndex>,
            None => Arc::new(crate::chat::search::NoIndex),
        };
        let writers = crate::chat::writer::Writers::new(
            store.clone(),
            Arc::clone(&hub) as Arc<dyn crate::chat::fanout::Fanout>,
            Arc::clone(&index),
        );
        writers.start();
        if let Some(cluster) = &cluster {
            cluster.start(&hub, &writers, &store);
        }
        let router: Arc<dyn crate::chat::Router> = match &cluster {
            Some(cluster) => Arc::new(crate::cluster::ClusterRouter::new(
                Arc::clone(cluster),
                Arc::clone(&writers),
            )),
            None => Arc::clone(&writers) as Arc<dyn crate::chat::Router>,
        };
        let config = Arc::new(config);
        let rate_limits = Arc::new(rate_limits);
        let auth = crate::auth::Auth {
            rate_limits: Arc::clone(&rate_limits),
            config: Arc::clone(&config),
            store: store.clone(),
            keys: Arc::new(keys),
            hasher: PasswordHasher::new(config.hash_concurrency, config.hash_queue),
            throttles: Arc::new(throttles),
            revoker: Arc::clone(&hub) as Arc<dyn crate::auth::Revoker>,
        };
        let chat = crate::chat::Chat {
            config: Arc::clone(&config),
            store: store.clone(),
            writers: Arc::clone(&writers),
            rate_limits,
            changes: Arc::clone(&hub) as Arc<dyn crate::chat::fanout::Changes>,
            search: index,
            router,
            locks: cluster
                .as_ref()
                .map(|cluster| Arc::clone(cluster) as Arc<dyn crate::chat::Locks>),
            local_locks: Arc::default(),
            toggles: Arc::default(),
        };
        Ok(Self(Arc::new(Shared {
            chat,
            auth: Arc::new(auth),
            hub,
            writers,
            cluster,
            search,
            store,
            config,
        })))
    }

    /// Creates indexes and the bootstrap admin. Both are idempotent.
    pub async fn init(&self) -> Result<(), crate::error::ApiError> {
        self.store.ensure_indexes().await?;
        crate::auth::sessions::bootstrap_admin(&self.auth).await
    }
}

#[cfg(test)]
mod tests {
    /// A connection keeps a clone of the state for its whole life: it must stay
    /// a pointer (issue 21's contexts made the parts behind it larger).
    #[test]
    fn the_state_a_connection_keeps_is_one_pointer() {
        assert_eq!(
            std::mem::size_of::<super::AppState>(),
            std::mem::size_of::<usize>()
        );
    }
}
