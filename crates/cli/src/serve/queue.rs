//! The one generation queue for the local model. OpenAI-compatible requests wait for their turn
//! in arrival order (tokio's semaphore is fair), at most `capacity` of them and each for at most
//! `max_wait`; beyond either they are refused (503 with `Retry-After`). The UI's questions do not
//! wait: while the model is taken they are refused with `busy`, as the UI contract says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct GenerationQueue {
    turn: Arc<Semaphore>,
    waiting: AtomicUsize,
    pub capacity: usize,
    pub max_wait: Duration,
}

/// Why a request got no turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `capacity` requests are waiting already.
    Full,
    /// The turn did not come within `max_wait`.
    TimedOut,
}

/// The model is this request's until the turn is dropped.
pub type Turn = OwnedSemaphorePermit;

/// Counts a waiting request for as long as it lives (also when its client leaves while queued).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl GenerationQueue {
    pub fn new(capacity: usize, max_wait: Duration) -> GenerationQueue {
        GenerationQueue {
            turn: Arc::new(Semaphore::new(1)),
            waiting: AtomicUsize::new(0),
            capacity,
            max_wait,
        }
    }

    /// The turn now, or `None` while another request has it or is waiting for it.
    pub fn try_take(&self) -> Option<Turn> {
        self.turn.clone().try_acquire_owned().ok()
    }

    /// Waits in line for the turn.
    pub async fn wait_turn(&self) -> Result<Turn, Refusal> {
        if let Some(turn) = self.try_take() {
            return Ok(turn);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Refusal::Full);
        }
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.max_wait, self.turn.clone().acquire_owned()).await {
            Ok(Ok(turn)) => Ok(turn),
            // The semaphore is never closed; a timeout is the only way to get here in practice.
            Ok(Err(_)) | Err(_) => Err(Refusal::TimedOut),
        }
    }

    /// Requests waiting for the turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Whether a request has the turn now.
    pub fn generating(&self) -> bool {
        self.turn.available_permits() == 0
    }

    /// What a refused client is told to wait before trying again, in seconds.
    pub fn retry_after_secs(&self) -> u64 {
        self.max_wait.as_secs().clamp(1, 30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn waits_in_order_then_refuses_when_full_or_too_long() {
        let queue = Arc::new(GenerationQueue::new(1, Duration::from_millis(100)));
        let first = queue.wait_turn().await.unwrap();
        assert!(queue.generating());
        assert!(queue.try_take().is_none());
        let q = queue.clone();
        let second = tokio::spawn(async move { q.wait_turn().await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert_eq!(queue.waiting(), 1);
        assert_eq!(queue.wait_turn().await.unwrap_err(), Refusal::Full);
        drop(first);
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(queue.waiting(), 0);
        let held = queue.wait_turn().await.unwrap();
        assert_eq!(queue.wait_turn().await.unwrap_err(), Refusal::TimedOut);
        assert_eq!(queue.waiting(), 0);
        drop(held);
        assert!(!queue.generating());
    }
}
