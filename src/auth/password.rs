//! argon2id hashing off the async runtime, with a bound on concurrent hashes.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::domain::Password;
use crate::error::ApiError;

/// OWASP's argon2id parameters: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The parameters are constants that `Params::new` accepts.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Nice value for threads that hash. On a small machine a login storm otherwise
/// takes the CPU from the runtime and the database: measured on 2 cores (see
/// docs/benchmarks.md), fan-out p99 during a login storm dropped from seconds to
/// well under one when hashes run niced.
const HASH_NICE: i32 = 10;

/// Lowers the scheduling priority of the current (blocking-pool) thread, once.
/// The thread stays niced for later blocking work too, which in confab is only
/// more hashing (and the driver's rare DNS lookups).
fn yield_cpu_to_the_gateway() {
    thread_local! {
        static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    LOWERED.with(|lowered| {
        if !lowered.get() {
            lowered.set(true);
            #[cfg(target_os = "linux")]
            // SAFETY: plain syscalls on the calling thread; no memory is shared.
            unsafe {
                let tid = libc::gettid() as libc::id_t;
                if libc::setpriority(libc::PRIO_PROCESS, tid, HASH_NICE) != 0 {
                    tracing::debug!("could not lower the hashing thread's priority");
                }
            }
        }
    });
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash to verify against when the user does not exist, so that a login for an
    /// unknown name costs as much as one for a known name.
    decoy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            decoy: Arc::default(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::internal())?;
        let job = move || {
            yield_cpu_to_the_gateway();
            job()
        };
        tokio::task::spawn_blocking(job).await.map_err(|err| {
            tracing::error!(error = %err, "password hashing task failed");
            ApiError::internal()
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String, ApiError> {
        let secret = password.expose().to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            argon2()
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
        })
        .await?
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            ApiError::internal()
        })
    }

    /// Whether `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: &Password, hash: &str) -> Result<bool, ApiError> {
        let secret = password.expose().to_owned();
        let hash = hash.to_owned();
        self.run(move || {
            PasswordHash::new(&hash)
                .map(|parsed| argon2().verify_password(secret.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
    }

    /// Burns the same work as a real verification, for unknown usernames.
    pub async fn verify_decoy(&self, password: &Password) -> Result<(), ApiError> {
        let decoy = self
            .decoy
            .get_or_try_init(|| async {
                let filler = Password::parse_for_login("decoy password that never matches")
                    .map_err(|_| ApiError::internal())?;
                self.hash(&filler).await
            })
            .await?
            .clone();
        self.verify(password, &decoy).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::new(2);
        let pw = Password::parse_for_login("glacier violet anthem 77").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify(&pw, &hash).await.unwrap());
        let wrong = Password::parse_for_login("glacier violet anthem 78").unwrap();
        assert!(!hasher.verify(&wrong, &hash).await.unwrap());
        assert!(!hasher.verify(&pw, "not a phc string").await.unwrap());
    }
}
