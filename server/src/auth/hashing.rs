//! Password hashing on a small pool of its own: argon2id needs 19 MiB per hash, so a
//! burst of sign-ins must not become a burst of threads each holding (and, through the
//! allocator's per-thread arenas, keeping) that much memory. A fixed number of threads
//! (about the number of cores) each own one reusable block of argon2 memory; callers
//! wait briefly for a turn and are told to come back later (503) when the wait is over.

use argon2::password_hash::phc::{PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Why a hashing job did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread stayed busy for the whole allowed wait.
    #[error("password hashing is saturated")]
    Busy {
        /// Seconds a client should wait before retrying.
        retry_after_secs: u64,
    },
    /// Hashing itself failed (a bug or a corrupt stored hash being written).
    #[error("hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The pool. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<(Job, OwnedSemaphorePermit)>,
    turns: Arc<Semaphore>,
    wait: Duration,
}

impl Hasher {
    /// Starts `threads` hashing threads; a caller waits at most `wait` for one.
    pub fn start(threads: usize, wait: Duration) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<(Job, OwnedSemaphorePermit)>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok((job, permit))) = next else { return };
                        job(&mut memory);
                        drop(permit);
                    }
                })
                .expect("spawn a password hashing thread");
        }
        Self { jobs: tx, turns: Arc::new(Semaphore::new(threads)), wait }
    }

    /// The number of cores this process may use (the default pool size).
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let busy = || HashError::Busy { retry_after_secs: self.wait.as_secs().max(1) };
        let permit = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(work(memory));
        });
        self.jobs.send((job, permit)).map_err(|_| HashError::Failed("the hashing pool stopped".to_owned()))?;
        rx.await.map_err(|_| HashError::Failed("a hashing thread stopped".to_owned()))
    }

    /// Hashes a new password (argon2id, default parameters, random salt).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |memory| hash_with(memory, &password)).await?.map_err(HashError::Failed)
    }

    /// Whether `password` matches the stored `hash` (false for an unreadable hash).
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, HashError> {
        self.run(move |memory| verify_with(memory, &password, &hash)).await
    }
}

fn blocks(memory: &mut Vec<Block>, params: &Params) -> Result<(), String> {
    let n = params.block_count();
    // A stored hash decides the size; refuse absurd ones rather than allocate them.
    if n > 1 << 20 {
        return Err(format!("argon2 memory of {n} KiB is more than this server allows"));
    }
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    Ok(())
}

/// Hashes with a caller-owned block of argon2 memory.
pub fn hash_with(memory: &mut Vec<Block>, password: &str) -> Result<String, String> {
    let params = Params::default();
    blocks(memory, &params)?;
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory[..params.block_count()])
        .map_err(|e| e.to_string())?;
    let b64 = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(b)
    };
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        b64(&salt),
        b64(&out)
    ))
}

/// Verifies with a caller-owned block of argon2 memory; false for anything unreadable.
pub fn verify_with(memory: &mut Vec<Block>, password: &str, hash: &str) -> bool {
    let Ok(phc) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (phc.salt.as_ref(), phc.hash.as_ref()) else { return false };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else { return false };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&phc) else { return false };
    if blocks(memory, &params).is_err() {
        return false;
    }
    let salt: &Salt = salt;
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    if argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..params.block_count()],
        )
        .is_err()
    {
        return false;
    }
    constant_time_eq(&out, expected.as_ref())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn our_hashes_verify_with_the_argon2_crate_and_theirs_with_ours() {
        let mut mem = Vec::new();
        let ours = hash_with(&mut mem, "correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong horse", &parsed).is_err());
        let theirs = Argon2::default().hash_password(b"battery staple").unwrap().to_string();
        assert!(verify_with(&mut mem, "battery staple", &theirs));
        assert!(!verify_with(&mut mem, "battery stapler", &theirs));
        assert!(!verify_with(&mut mem, "x", "not a hash"));
    }

    #[test]
    fn hashes_are_salted() {
        let mut mem = Vec::new();
        assert_ne!(hash_with(&mut mem, "same").unwrap(), hash_with(&mut mem, "same").unwrap());
    }

    #[tokio::test]
    async fn callers_beyond_the_pool_wait_and_then_are_turned_away() {
        let pool = Hasher::start(1, Duration::from_millis(50));
        // Hold the only thread.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = pool.clone();
        let held = tokio::spawn(async move {
            holder
                .run(move |_| {
                    let _ = release_rx.recv();
                })
                .await
        });
        while pool.turns.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.verify("a".into(), "b".into()).await, Err(HashError::Busy { .. })));
        release_tx.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert!(!pool.verify("a".into(), "not a hash".into()).await.unwrap());
    }
}
