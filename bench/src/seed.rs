//! Seeds benchmark users straight into the `users` collection.
//!
//! Registering through `POST /auth/register` costs one argon2id hash per user on
//! the server, which is slow by design. Instead every benchmark user shares one
//! argon2id PHC hash (same parameters as the server: m = 19 MiB, t = 2, p = 1),
//! computed once here, and the documents follow the schema of
//! `src/store/users.rs`. Logging in still runs the server's real argon2 verify.

use anyhow::{Context, Result, anyhow};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::{Client, Collection};

/// The password of every seeded user.
pub const PASSWORD: &str = "bench passphrase orbit 4471";

pub struct Seeder {
    users: Collection<Document>,
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
            hash,
        })
    }

    /// Inserts `n` users named `{prefix}{i:05}` and returns their usernames.
    pub async fn users(&self, prefix: &str, n: usize) -> Result<Vec<String>> {
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:05}")).collect();
        for chunk in names.chunks(500) {
            let docs: Vec<Document> = chunk
                .iter()
                .map(|name| {
                    doc! {
                        "_id": ObjectId::new().to_hex(),
                        "username": name.to_lowercase(),
                        "display_name": name.clone(),
                        "password_hash": self.hash.clone(),
                        "role": "user",
                        "disabled": false,
                        "token_version": 0_i64,
                        "created_at": DateTime::now(),
                    }
                })
                .collect();
            self.users
                .insert_many(docs)
                .await
                .context("inserting benchmark users")?;
        }
        Ok(names)
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
