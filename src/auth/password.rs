//! argon2id hashing on a fixed pool of dedicated, niced threads fed by a bounded
//! queue.
//!
//! The pool's threads are started once and live as long as the hasher. Each hash
//! allocates 19 MiB; the allocator keeps that memory per thread that ever hashed,
//! so a fixed pool bounds it (tokio's blocking pool could grow to hundreds of
//! threads). When the queue is full a request is refused at once with 503
//! `server_busy` and `Retry-After`, instead of waiting for a slot.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, oneshot};

use crate::domain::Password;
use crate::error::{ApiError, ErrorCode};

/// OWASP's argon2id parameters: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;

/// What a refused request is told to wait before trying again, in seconds.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

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

/// Lowers the scheduling priority of the calling thread (a hashing thread, at its
/// start).
fn yield_cpu_to_the_gateway() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; no memory is shared.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, HASH_NICE) != 0 {
            tracing::debug!("could not lower the hashing thread's priority");
        }
    }
}

/// Keeps glibc from hoarding freed hash memory. By default glibc raises its mmap
/// threshold to the size of the largest block freed, so after the first hash every
/// 19 MiB buffer comes from the heap and stays there, fragmented: measured on a
/// release build, 40 registrations left the server at ~400 MiB RSS with two
/// hashing threads, ~28 MiB with this fixed threshold (glibc's default value,
/// which turns the adjustment off). Process-wide, set once.
fn return_hash_memory_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator tuning.
            if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) } != 1 {
                tracing::debug!("could not fix the allocator's mmap threshold");
            }
        });
    }
}

/// One unit of work for the pool.
type Job = Box<dyn FnOnce() + Send>;

/// A hashing thread: takes jobs until every sender is gone.
fn worker(jobs: Arc<Mutex<Receiver<Job>>>) {
    yield_cpu_to_the_gateway();
    loop {
        // The lock is held only while waiting for the next job, not while hashing.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            // A panicking job must not take the thread with it; its caller sees
            // the dropped answer channel as a 500.
            Ok(job) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                    tracing::error!("a password hashing job panicked");
                }
            }
            Err(_) => return,
        }
    }
}

/// The answer when every thread is busy and the queue is full.
fn busy() -> ApiError {
    ApiError {
        retry_after: Some(BUSY_RETRY_AFTER_SECS),
        details: Some(crate::error::ErrorDetails {
            retry_after_secs: Some(BUSY_RETRY_AFTER_SECS),
            ..Default::default()
        }),
        ..ApiError::new(
            ErrorCode::ServerBusy,
            "the server is busy checking passwords; retry shortly",
        )
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    /// A hash to verify against when the user does not exist, so that a login for an
    /// unknown name costs as much as one for a known name.
    decoy: Arc<OnceCell<String>>,
}

impl PasswordHasher {
    /// Starts `concurrency` hashing threads behind a queue of `queue` waiting jobs.
    /// The threads end when the last clone of the hasher is dropped.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        return_hash_memory_to_the_system();
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..concurrency.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("confab-hash-{n}"))
                .spawn(move || worker(rx));
            if let Err(err) = spawned {
                // With no thread at all, every hash answers 500 (the queue is closed).
                tracing::error!(error = %err, "could not start a password hashing thread");
            }
        }
        Self {
            jobs,
            decoy: Arc::default(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller gave up (timeout, client gone): skip the work.
            if !tx.is_closed() {
                let _ = tx.send(job());
            }
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    event = "server_busy",
                    "password hashing queue full; refusing"
                );
                metrics::counter!("confab_hash_queue_full_total").increment(1);
                return Err(busy());
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("no password hashing thread is running");
                return Err(ApiError::internal());
            }
        }
        rx.await.map_err(|_| {
            tracing::error!("password hashing job failed");
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
        let hasher = PasswordHasher::new(2, 4);
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

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_with_retry_after() {
        let hasher = PasswordHasher::new(1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let (started_tx, started_rx) = oneshot::channel();
        // Occupies the only thread until released.
        let running = {
            let hasher = hasher.clone();
            let wait = wait.clone();
            tokio::spawn(async move {
                hasher
                    .run(move || {
                        let _ = started_tx.send(());
                        let _ = wait.lock().map(|rx| rx.recv());
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        // Fills the queue.
        let (done_tx, done_rx) = oneshot::channel();
        let filler: Job = Box::new(move || {
            let _ = done_tx.send(7);
        });
        assert!(hasher.jobs.try_send(filler).is_ok());
        let refused = hasher.run(|| 0).await.err();
        let err = refused.expect("a third job is refused while one runs and one waits");
        assert_eq!(err.code, ErrorCode::ServerBusy);
        assert_eq!(err.code.status().as_u16(), 503);
        assert_eq!(err.retry_after, Some(BUSY_RETRY_AFTER_SECS));
        release.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert_eq!(done_rx.await.unwrap(), 7);
    }
}
