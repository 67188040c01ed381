//! Benchmark users.
//!
//! Small counts (up to [`API_USERS_MAX`]) are registered through the real API
//! (`POST /auth/register`), so they follow whatever storage layout the server
//! has. Large counts would cost one argon2id hash each on the server, which is
//! slow by design, so [`Seeder::seed_users`] writes them straight into the
//! database instead: every such user shares one argon2id PHC hash (same
//! parameters as the server: m = 19 MiB, t = 2, p = 1), computed once here.
//! That function is the ONLY place that knows the storage layout of users.
//! Logging in still runs the server's real argon2 verify either way. Groups and
//! memberships are always made through the API.

use anyhow::{Context, Result, anyhow};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use futures_util::{StreamExt, TryStreamExt, stream};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::InsertManyOptions;
use mongodb::{Client, Collection};

use crate::client::{Api, login_all};

/// Up to this many users at once are registered over the API; more are seeded.
pub const API_USERS_MAX: usize = 100;

/// The password of every seeded user.
pub const PASSWORD: &str = "bench passphrase orbit 4471";

pub struct Seeder {
    users: Collection<Document>,
    usernames: Collection<Document>,
    hash: String,
}

impl Seeder {
    /// Connects to the database named in `uri` (the same one the server uses).
    pub async fn connect(uri: &str) -> Result<Self> {
        let client = Client::with_uri_str(uri)
            .await
            .context("connecting to the database")?;
        let db = client.default_database().context(
            "--mongo-uri must name the server's database, e.g. mongodb://host:port/bench",
        )?;
        let hash = tokio::task::spawn_blocking(hash_password)
            .await
            .context("the hashing task failed")??;
        Ok(Self {
            users: db.collection("users"),
            usernames: db.collection("usernames"),
            hash,
        })
    }

    /// Inserts `n` users named `{prefix}{i:05}` straight into the database and
    /// returns their usernames (all share [`PASSWORD`]).
    ///
    /// This MUST follow `src/store/users.rs` (and the login path): it writes the
    /// `users` documents and, for the layout where login looks names up in a
    /// `usernames` collection (`{_id: <lowercased username>, user_id}`), those
    /// documents too. Writing both is harmless when the server reads only one.
    /// Keep every direct write of user data in this one function.
    pub async fn seed_users(&self, prefix: &str, n: usize) -> Result<Vec<String>> {
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:05}")).collect();
        let started = std::time::Instant::now();
        let mut last_report = started;
        let mut done = 0usize;
        for chunk in names.chunks(1000) {
            let mut users = Vec::with_capacity(chunk.len());
            let mut usernames = Vec::with_capacity(chunk.len());
            for name in chunk {
                let id = ObjectId::new().to_hex();
                let lower = name.to_lowercase();
                usernames.push(doc! { "_id": lower.clone(), "user_id": id.clone() });
                users.push(doc! {
                    "_id": id,
                    "username": lower,
                    "display_name": name.clone(),
                    "password_hash": self.hash.clone(),
                    "role": "user",
                    "disabled": false,
                    "token_version": 0_i64,
                    "created_at": DateTime::now(),
                });
            }
            let unordered = InsertManyOptions::builder().ordered(false).build();
            self.users
                .insert_many(users)
                .with_options(unordered.clone())
                .await
                .context("inserting benchmark users")?;
            self.usernames
                .insert_many(usernames)
                .with_options(unordered)
                .await
                .context("inserting benchmark usernames")?;
            done += chunk.len();
            if last_report.elapsed().as_secs_f64() >= 2.0 {
                last_report = std::time::Instant::now();
                eprintln!(
                    "seed: {done}/{n} users ({:.0}/s)",
                    done as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        Ok(names)
    }

    /// `n` users named `{prefix}{i:05}`, logged in: registered over the API when
    /// `n` is small, seeded with [`Seeder::seed_users`] otherwise. Returns the
    /// usernames and access tokens, in the same order.
    pub async fn accounts(
        &self,
        api: &Api,
        prefix: &str,
        n: usize,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let names = if n <= API_USERS_MAX {
            let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:05}")).collect();
            stream::iter(names.iter())
                .map(|u| api.register(u, PASSWORD))
                .buffer_unordered(4)
                .try_collect::<Vec<()>>()
                .await?;
            names
        } else {
            self.seed_users(prefix, n).await?
        };
        let started = std::time::Instant::now();
        let mut tokens = Vec::with_capacity(n);
        for chunk in names.chunks(200) {
            tokens.extend(login_all(api, chunk, PASSWORD, 4).await?);
            if n > API_USERS_MAX {
                eprintln!(
                    "seed: {}/{n} logged in ({:.1} s)",
                    tokens.len(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Ok((names, tokens))
    }
}

/// Drops the database named in `uri`.
pub async fn drop_database(uri: &str) -> Result<()> {
    let client = Client::with_uri_str(uri)
        .await
        .context("connecting to the database")?;
    let db = client
        .default_database()
        .context("--mongo-uri must name a database")?;
    db.drop().await.context("dropping the benchmark database")
}

fn hash_password() -> Result<String> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| anyhow!("argon2 params: {e}"))?;
    let salt = SaltString::encode_b64(b"confab-bench-salt!").map_err(|e| anyhow!("salt: {e}"))?;
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// A short tag unique to this process run, for usernames and group names.
pub fn run_tag() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:07x}", (nanos / 1000) as u64 & 0xfff_ffff)
}
