//! What every handler and connection shares: config, database, keys, limits.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::auth::password::PasswordHasher;
use crate::auth::throttle::Throttle;
use crate::auth::tokens::TokenKeys;
use crate::config::Config;
use crate::rate_limits::RateLimits;
use crate::realtime::hub::Hub;
use crate::store::Store;

/// Brute-force limits, keyed by username or client address (cluster mode:
/// counted across nodes).
pub struct Throttles {
    pub login_per_user: Throttle,
    pub login_per_ip: Throttle,
    /// Wrong current passwords at `PUT /auth/password`, by user id: its own
    /// counter, so a login lockout someone else caused never stops the owner of
    /// a session from changing their password.
    pub password_change_per_user: Throttle,
    pub register_per_ip: Throttle,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub keys: Arc<TokenKeys>,
    pub hasher: PasswordHasher,
    pub throttles: Arc<Throttles>,
    pub hub: Arc<Hub>,
    /// Per-user limits of sends, reads, typing, joins and tickets (REST and WS).
    pub rate_limits: Arc<RateLimits>,
    /// One writer per conversation in use, and the batcher that stores messages.
    pub writers: Arc<crate::chat::writer::Writers>,
    /// Cluster mode (`REDIS_URL`): the link to the other nodes.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Cluster-wide locks for the core (`chat::exclusive`): the cluster's, or
    /// none on one node.
    pub locks: Option<Arc<dyn crate::chat::Locks>>,
    /// Where sends are stored (`chat::Router`): this node's writers, or the
    /// owner node of each conversation.
    pub router: Arc<dyn crate::chat::Router>,
    /// Where revocations close connections (the hub).
    pub revoker: Arc<dyn crate::auth::Revoker>,
}

/// Why the state could not be built (a setting that cannot be used).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use MONGO_URI: {0}")]
    Database(#[from] mongodb::error::Error),
    #[error("cannot use REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
}

impl AppState {
    /// Builds the state; the database is dialled lazily on first use.
    pub async fn new(config: Config) -> Result<Self, StartError> {
        let cluster = match &config.redis_url {
            Some(url) => Some(crate::cluster::Cluster::new(url, &config.redis_namespace)?),
            None => None,
        };
        // Cluster mode: limits are counted in the same Redis, under the namespace.
        let shared: Option<Arc<dyn crate::rate_limits::SharedCounter>> = match &config.redis_url {
            Some(url) => Some(Arc::new(crate::cluster::limits::SharedLimits::new(
                url,
                &config.redis_namespace,
            )?)),
            None => None,
        };
        let mut store = Store::connect(
            config.mongo_uri.expose_secret(),
            &config.database,
            config.db_timeout,
        )
        .await?;
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
        let writers = crate::chat::writer::Writers::new(
            store.clone(),
            Arc::clone(&hub) as Arc<dyn crate::chat::fanout::Fanout>,
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
        Ok(Self {
            hasher: PasswordHasher::new(config.hash_concurrency, config.hash_queue),
            keys: Arc::new(keys),
            revoker: Arc::clone(&hub) as Arc<dyn crate::auth::Revoker>,
            throttles: Arc::new(throttles),
            rate_limits: Arc::new(rate_limits),
            hub,
            writers,
            router,
            locks: cluster
                .as_ref()
                .map(|cluster| Arc::clone(cluster) as Arc<dyn crate::chat::Locks>),
            cluster,
            store,
            config: Arc::new(config),
        })
    }

    /// Creates indexes and the bootstrap admin. Both are idempotent.
    pub async fn init(&self) -> Result<(), crate::error::ApiError> {
        self.store.ensure_indexes().await?;
        crate::auth::sessions::bootstrap_admin(self).await
    }
}
