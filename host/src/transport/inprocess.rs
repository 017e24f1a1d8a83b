//! The firmware in the daemon's own process (the embedded default).
//!
//! The engine is the simulator, whose calls go through
//! `sam_firmware::abi::serve_owned`, the in-process form of the entry a
//! CP5 module's command handler runs. Calls run on tokio's blocking pool:
//! firmware commands are CPU-bound (RSA key generation takes seconds) and
//! the firmware serves requests in parallel, so each call gets its own
//! worker thread and the async reactor is never blocked.

use super::{CallFuture, Transport, TransportError};
use std::fmt;
use std::sync::Arc;

/// Something that serves firmware commands synchronously: the simulator,
/// or a test's own engine around a firmware on the test platform.
pub trait Engine: Send + Sync + 'static {
    /// Runs one command; returns the status word and the answer body.
    fn serve(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>);
}

impl Engine for sam_simulator::Simulator {
    fn serve(&self, sub_function: u16, body: &[u8]) -> (u16, Vec<u8>) {
        self.call(sub_function, body)
    }
}

/// An [`Engine`] in this process.
pub struct InProcess<E> {
    engine: Arc<E>,
    /// Bounds the calls inside the firmware at once, if set. The firmware
    /// is no_std and its locks spin: with one blocking-pool thread per
    /// request, 64 concurrent requests on two cores spent a sixth of
    /// samd's CPU spinning (perf, issue 18). Calls beyond the bound wait
    /// here, asleep, before entering. Measured with `sam-bench soak
    /// --clients 64` on two cores: the same requests/s with a bound of 16
    /// as without, and a p99 latency of 85-111 ms instead of 144-198 ms.
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
}

impl<E> fmt::Debug for InProcess<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl<E: Engine> InProcess<E> {
    /// Serves calls with `engine`.
    pub fn new(engine: Arc<E>) -> Self {
        Self {
            engine,
            in_flight: None,
        }
    }

    /// At most `n` calls in the firmware at once (0: no bound).
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.in_flight = (n > 0).then(|| Arc::new(tokio::sync::Semaphore::new(n)));
        self
    }

    /// The engine, for tests that steer the platform (clock, faults).
    pub fn engine(&self) -> &Arc<E> {
        &self.engine
    }
}

impl<E: Engine> Transport for InProcess<E> {
    fn call(&self, sub_function: u16, body: Vec<u8>) -> CallFuture<'_> {
        let engine = Arc::clone(&self.engine);
        let in_flight = self.in_flight.clone();
        Box::pin(async move {
            let permit = match in_flight {
                Some(s) => Some(
                    s.acquire_owned()
                        .await
                        .map_err(|e| TransportError::Internal(e.to_string()))?,
                ),
                None => None,
            };
            tokio::task::spawn_blocking(move || {
                let answer = engine.serve(sub_function, &body);
                drop(permit);
                answer
            })
            .await
            .map_err(|e| TransportError::Internal(e.to_string()))
        })
    }

    fn kind(&self) -> &'static str {
        "inprocess"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Counts how many calls are inside `serve` at once.
    #[derive(Default)]
    struct Counting {
        inside: AtomicUsize,
        most: AtomicUsize,
    }

    impl Engine for Counting {
        fn serve(&self, sub_function: u16, _body: &[u8]) -> (u16, Vec<u8>) {
            let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            self.inside.fetch_sub(1, Ordering::SeqCst);
            (sub_function, Vec::new())
        }
    }

    async fn most_inside_at_once(bound: usize, calls: usize) -> usize {
        let engine = Arc::new(Counting::default());
        let t = Arc::new(InProcess::new(Arc::clone(&engine)).with_max_in_flight(bound));
        let tasks: Vec<_> = (0..calls)
            .map(|i| {
                let t = Arc::clone(&t);
                let code = u16::try_from(i).unwrap();
                tokio::spawn(async move { t.call(code, Vec::new()).await })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let (status, _) = task.await.unwrap().unwrap();
            assert_eq!(usize::from(status), i, "each call gets its own answer");
        }
        engine.most.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_calls_than_the_bound_are_inside_the_engine() {
        assert_eq!(most_inside_at_once(3, 24).await, 3);
        // Without a bound the blocking pool lets them all in.
        assert!(most_inside_at_once(0, 24).await > 3);
    }
}
