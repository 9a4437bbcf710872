//! A fixed set of worker threads for the matmul kernels. A decoded token issues a few hundred
//! short parallel runs, so dispatch must cost microseconds: after a run the workers spin on a
//! generation counter for a while before parking on a condition variable, and a run allocates
//! nothing.

use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before parking: a decode step's runs come well within this.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(100);

type Task<'a> = dyn Fn(usize, usize) + Sync + 'a;

pub(crate) struct ThreadPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

struct Shared {
    /// Bumped once per run (and on shutdown); workers wait for it to change.
    generation: AtomicUsize,
    /// The current run's task function; written only while every worker is idle.
    job: UnsafeCell<*const Task<'static>>,
    n_tasks: AtomicUsize,
    next_task: AtomicUsize,
    /// Workers that have not yet finished the current run.
    active: AtomicUsize,
    /// Guards against a second `run` (from another thread or from inside a task).
    running: AtomicBool,
    shutdown: AtomicBool,
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

// SAFETY: `job` is written by the one thread inside `run` (enforced by `running`) while no worker
// reads it, and published to the workers through the `generation` counter (release/acquire).
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl ThreadPool {
    /// A pool that runs tasks on `n_threads` threads: the caller of `run` plus `n_threads - 1`
    /// workers (at least one thread).
    pub(crate) fn new(n_threads: usize) -> ThreadPool {
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            job: UnsafeCell::new(std::ptr::null::<fn(usize, usize)>() as *const Task<'static>),
            n_tasks: AtomicUsize::new(0),
            next_task: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
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
        // SAFETY: only the lifetime is erased; the pointer is used by workers only until they
        // decrement `active`, and this function does not return before `active` reaches zero.
        let erased: *const Task<'static> = unsafe { std::mem::transmute(task as *const Task<'_>) };
        unsafe { *shared.job.get() = erased };
        shared.n_tasks.store(n_tasks, Ordering::Relaxed);
        shared.next_task.store(0, Ordering::Relaxed);
        shared.active.store(self.workers.len(), Ordering::Relaxed);
        shared.generation.fetch_add(1, Ordering::SeqCst);
        if shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&shared.sleep_lock);
            shared.wake.notify_all();
        }

        let caller_result = panic::catch_unwind(AssertUnwindSafe(|| take_tasks(shared, task, 0)));
        let mut spins = 0u32;
        while shared.active.load(Ordering::Acquire) != 0 {
            spins += 1;
            if spins < 20_000 {
                std::hint::spin_loop();
            } else {
                // A worker was descheduled: give it the core instead of burning a time slice.
                std::thread::yield_now();
            }
        }
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
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
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

fn worker_loop(shared: &Shared, thread: usize) {
    let mut seen = 0usize;
    loop {
        seen = wait_for_next_generation(shared, seen);
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: published before the generation bump we just observed; valid until we
        // decrement `active` below.
        let task = unsafe { &**shared.job.get() };
        if let Err(payload) =
            panic::catch_unwind(AssertUnwindSafe(|| take_tasks(shared, task, thread)))
        {
            lock(&shared.panic).get_or_insert(payload);
        }
        shared.active.fetch_sub(1, Ordering::Release);
    }
}

/// Spins, then parks, until `generation` moves past `seen`; returns the new generation.
fn wait_for_next_generation(shared: &Shared, seen: usize) -> usize {
    let started = Instant::now();
    let mut spins = 0u32;
    loop {
        let generation = shared.generation.load(Ordering::Acquire);
        if generation != seen {
            return generation;
        }
        spins = spins.wrapping_add(1);
        if spins % 256 != 0 || started.elapsed() < SPIN_BEFORE_PARK {
            std::hint::spin_loop();
            continue;
        }
        let mut guard = lock(&shared.sleep_lock);
        shared.sleepers.fetch_add(1, Ordering::SeqCst);
        // Re-checked under the lock: `run` bumps the generation before it looks for sleepers.
        while shared.generation.load(Ordering::SeqCst) == seen {
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
