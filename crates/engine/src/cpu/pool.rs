//! A fixed set of worker threads for the matmul kernels. A decoded token issues a few hundred
//! short parallel runs, so dispatch must cost microseconds: after a run the workers spin on a
//! generation counter for a while before parking on a condition variable, and a run allocates
//! nothing.
//!
//! Tasks are taken from a shared counter, and a worker must join a run before touching it: when
//! the caller has taken every task it closes the run, so on a busy machine it never waits for a
//! worker that was not scheduled in time, only for one that is still executing a task.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before parking: a decode step's runs come well within this.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(100);

type Task<'a> = dyn Fn(usize, usize) + Sync + 'a;

/// `Shared::state` bits.
const CLOSED: u64 = 1 << 31;
const INSIDE: u64 = CLOSED - 1;
const GENERATION: u64 = 1 << 32;

fn generation(state: u64) -> u64 {
    state >> 32
}

pub(crate) struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

struct Shared {
    /// The run's generation (high 32 bits; bumped once per run and on shutdown), `CLOSED`, and
    /// the number of workers inside the run (low bits).
    state: AtomicU64,
    /// The current run's task function; written only while every worker is idle.
    job: UnsafeCell<*const Task<'static>>,
    n_tasks: AtomicUsize,
    next_task: AtomicUsize,
    /// Guards against a second `run` (from another thread or from inside a task).
    running: AtomicBool,
    shutdown: AtomicBool,
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `job` is written by the one thread inside `run` (enforced by `running`) while no worker
// reads it (every joined worker has left and the run is closed), and published to the workers
// through `state` (release/acquire).
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl ThreadPool {
    /// A pool that runs tasks on `n_threads` threads: the caller of `run` plus `n_threads - 1`
    /// workers (at least one thread).
    pub(crate) fn new(n_threads: usize) -> ThreadPool {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(CLOSED),
            job: UnsafeCell::new(std::ptr::null::<fn(usize, usize)>() as *const Task<'static>),
            n_tasks: AtomicUsize::new(0),
            next_task: AtomicUsize::new(0),
            running: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            sleep_lock: Mutex::new(()),
            wake: Condvar::new(),
            panic: Mutex::new(None),
        });
        let workers = (1..n_threads.max(1))
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("almanac-cpu-{index}"))
                    .spawn(move || worker_loop(&shared, index))
                    .expect("spawning a matmul worker thread")
            })
            .collect();
        ThreadPool { shared, workers }
    }

    pub(crate) fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `task(i, thread)` once for every `i` in `0..n_tasks`, spread over the pool's threads
    /// (`thread` is in `0..threads()`, 0 being the caller), and returns when all are done. A panic
    /// in a task is re-raised here after every thread has stopped using `task`.
    pub(crate) fn run(&self, n_tasks: usize, task: &(dyn Fn(usize, usize) + Sync)) {
        if self.workers.is_empty() || n_tasks <= 1 {
            (0..n_tasks).for_each(|i| task(i, 0));
            return;
        }
        let shared = &*self.shared;
        assert!(
            !shared.running.swap(true, Ordering::Acquire),
            "ThreadPool::run called while a run is in progress"
        );
        // SAFETY: only the lifetime is erased; workers use the pointer only between joining
        // and leaving this run, and this function does not return before the run is closed
        // with nobody inside.
        let erased: *const Task<'static> = unsafe { std::mem::transmute(task as *const Task<'_>) };
        unsafe { *shared.job.get() = erased };
        shared.n_tasks.store(n_tasks, Ordering::Relaxed);
        shared.next_task.store(0, Ordering::Relaxed);
        // The previous run is closed and empty: open the next generation.
        let open = shared.state.load(Ordering::Relaxed) / GENERATION * GENERATION + GENERATION;
        shared.state.store(open, Ordering::SeqCst);
        if shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&shared.sleep_lock);
            shared.wake.notify_all();
        }

        let caller_result = panic::catch_unwind(AssertUnwindSafe(|| take_tasks(shared, task, 0)));
        close_when_empty(shared);
        shared.running.store(false, Ordering::Release);
        if let Err(payload) = caller_result {
            panic::resume_unwind(payload);
        }
        if let Some(payload) = lock(&shared.panic).take() {
            panic::resume_unwind(payload);
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.state.fetch_add(GENERATION, Ordering::SeqCst);
        {
            let _guard = lock(&self.shared.sleep_lock);
            self.shared.wake.notify_all();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn take_tasks(shared: &Shared, task: &Task<'_>, thread: usize) {
    let n_tasks = shared.n_tasks.load(Ordering::Relaxed);
    loop {
        let i = shared.next_task.fetch_add(1, Ordering::Relaxed);
        if i >= n_tasks {
            return;
        }
        task(i, thread);
    }
}

/// Waits until no worker is inside the current run, then closes it to late joiners.
fn close_when_empty(shared: &Shared) {
    let mut spins = 0u32;
    loop {
        let state = shared.state.load(Ordering::Acquire);
        if state & INSIDE == 0
            && shared
                .state
                .compare_exchange_weak(state, state | CLOSED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return;
        }
        spins += 1;
        if spins < 20_000 {
            std::hint::spin_loop();
        } else {
            // A worker inside was descheduled: give it the core instead of burning a slice.
            std::thread::yield_now();
        }
    }
}

fn worker_loop(shared: &Shared, thread: usize) {
    let mut seen = 0u64;
    loop {
        seen = wait_for_next_generation(shared, seen);
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        if !join(shared, seen) {
            continue;
        }
        // SAFETY: published before the generation we joined was opened; valid until we leave.
        let task = unsafe { &**shared.job.get() };
        let result = panic::catch_unwind(AssertUnwindSafe(|| take_tasks(shared, task, thread)));
        if let Err(payload) = result {
            lock(&shared.panic).get_or_insert(payload);
        }
        shared.state.fetch_sub(1, Ordering::Release);
    }
}

/// Enters run `generation_seen` unless it is over (closed, or superseded).
fn join(shared: &Shared, generation_seen: u64) -> bool {
    let mut state = shared.state.load(Ordering::Acquire);
    loop {
        if generation(state) != generation_seen || state & CLOSED != 0 {
            return false;
        }
        match shared.state.compare_exchange_weak(
            state,
            state + 1,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return true,
            Err(now) => state = now,
        }
    }
}

/// Spins, then parks, until the generation moves past `seen`; returns the new generation.
fn wait_for_next_generation(shared: &Shared, seen: u64) -> u64 {
    let started = Instant::now();
    let mut spins = 0u32;
    loop {
        let current = generation(shared.state.load(Ordering::Acquire));
        if current != seen {
            return current;
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(256) || started.elapsed() < SPIN_BEFORE_PARK {
            std::hint::spin_loop();
            continue;
        }
        let mut guard = lock(&shared.sleep_lock);
        shared.sleepers.fetch_add(1, Ordering::SeqCst);
        // Re-checked under the lock: `run` bumps the generation before it looks for sleepers.
        while generation(shared.state.load(Ordering::SeqCst)) == seen {
            guard = shared
                .wake
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
        shared.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The number of physical cores (distinct package/core id pairs in /sys), which is what a
/// compute-bound matmul scales with; falls back to the available parallelism.
pub(crate) fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    physical_cores_from_sys().map_or(logical, |n| n.min(logical))
}

fn physical_cores_from_sys() -> Option<usize> {
    let mut cores = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/sys/devices/system/cpu").ok()?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name
            .strip_prefix("cpu")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let topology = entry.path().join("topology");
        let read = |file: &str| std::fs::read_to_string(topology.join(file)).ok();
        if let (Some(package), Some(core)) = (read("physical_package_id"), read("core_id")) {
            cores.insert((package.trim().to_string(), core.trim().to_string()));
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_after_run(pool: &ThreadPool, n_tasks: usize) -> Vec<usize> {
        let counts: Vec<AtomicUsize> = (0..n_tasks).map(|_| AtomicUsize::new(0)).collect();
        let threads_seen = AtomicUsize::new(0);
        pool.run(n_tasks, &|i, thread| {
            assert!(thread < pool.threads());
            counts[i].fetch_add(1, Ordering::Relaxed);
            threads_seen.fetch_or(1 << thread, Ordering::Relaxed);
        });
        counts.into_iter().map(AtomicUsize::into_inner).collect()
    }

    #[test]
    fn every_task_runs_exactly_once() {
        for threads in [1, 2, 3, 4] {
            let pool = ThreadPool::new(threads);
            assert_eq!(pool.threads(), threads);
            for n_tasks in [0, 1, 2, 3, 7, 64, 1000] {
                assert!(counts_after_run(&pool, n_tasks).iter().all(|&c| c == 1));
            }
        }
    }

    #[test]
    fn many_back_to_back_runs_see_their_own_tasks() {
        let pool = ThreadPool::new(3);
        let total = AtomicUsize::new(0);
        for run in 0..5000usize {
            let n_tasks = 1 + run % 9;
            pool.run(n_tasks, &|i, _| {
                total.fetch_add(run * 16 + i, Ordering::Relaxed);
            });
        }
        let expected: usize = (0..5000usize)
            .map(|run| (0..1 + run % 9).map(|i| run * 16 + i).sum::<usize>())
            .sum();
        assert_eq!(total.into_inner(), expected);
    }

    #[test]
    fn runs_after_the_workers_have_parked_still_complete() {
        let pool = ThreadPool::new(2);
        for _ in 0..3 {
            std::thread::sleep(SPIN_BEFORE_PARK * 5);
            assert!(counts_after_run(&pool, 16).iter().all(|&c| c == 1));
        }
    }

    #[test]
    fn a_task_panic_reaches_the_caller_and_the_pool_keeps_working() {
        let pool = ThreadPool::new(2);
        for panicking_task in [0, 5, 15] {
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                pool.run(16, &|i, _| {
                    if i == panicking_task {
                        panic!("task {i} failed");
                    }
                });
            }));
            let payload = result.expect_err("the panic must propagate");
            let message = payload.downcast_ref::<String>().unwrap();
            assert_eq!(message, &format!("task {panicking_task} failed"));
        }
        assert!(counts_after_run(&pool, 10).iter().all(|&c| c == 1));
    }

    #[test]
    fn both_threads_take_work_when_tasks_are_slow() {
        let pool = ThreadPool::new(2);
        let threads_seen = AtomicUsize::new(0);
        pool.run(8, &|_, thread| {
            threads_seen.fetch_or(1 << thread, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        });
        assert_eq!(threads_seen.into_inner(), 0b11);
    }

    #[test]
    fn physical_cores_is_at_least_one_and_at_most_the_logical_count() {
        let n = physical_cores();
        assert!(n >= 1);
        assert!(n <= std::thread::available_parallelism().unwrap().get());
    }
}
