//! [`bounded`]: the one pool for moving several blobs at a time — [`copy_to`]'s blobs,
//! and the CLI's `push-blob --jobs` and `pull-blob --output DIR`: at most N scoped
//! threads, no new item after the first error, results in item order, and a worker's
//! panic resumed rather than taken for a worker with no results.
//!
//! [`copy_to`]: crate::Repository::copy_to

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Raises `stop` if the worker holding it unwinds, so that a panic, like an error, ends
/// the taking of new items.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs `work` on each of `items` on at most `jobs` scoped threads (at least one; no
/// more than there are items), each taking the next item not yet taken. Once an item has
/// failed, no further item is started; those already running finish (`work` stops them
/// early itself if it wants to).
///
/// Returns the results in item order: one for every item when none failed, else one for
/// each item started — a prefix of `items` with at least one error among them. A panic
/// in `work` is resumed here once every worker has ended: the results are never returned
/// with a panicked worker's missing.
pub fn bounded<T: Sync, R: Send, E: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R, E> + Sync,
) -> Vec<Result<R, E>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut done: Vec<(usize, Result<R, E>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.max(1).min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let _guard = StopOnPanic(&stop);
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = work(item);
                        if r.is_err() {
                            stop.store(true, Ordering::Relaxed);
                        }
                        mine.push((i, r));
                    }
                    mine
                })
            })
            .collect();
        // The scope joins the other workers before the panic goes on.
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    use std::collections::HashSet;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::{Barrier, Mutex};
    use std::time::Duration;

    fn pause(ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    #[test]
    fn results_come_in_item_order() {
        let items: Vec<u64> = (0..20).collect();
        // Later items finish first.
        let out = bounded(&items, 3, |i| {
            pause(20 - i);
            Ok::<_, ()>(i * 2)
        });
        assert_eq!(out, items.iter().map(|i| Ok(i * 2)).collect::<Vec<_>>());
    }

    #[test]
    fn at_most_jobs_threads_run_at_once() {
        let items: Vec<u32> = (0..12).collect();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let threads = Mutex::new(HashSet::new());
        let out = bounded(&items, 3, |i| {
            threads.lock().unwrap().insert(std::thread::current().id());
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            pause(30);
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ()>(*i)
        });
        assert_eq!(out.len(), 12);
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(threads.lock().unwrap().len(), 3);
    }

    #[test]
    fn no_more_threads_than_items_and_none_for_none() {
        let threads = Mutex::new(HashSet::new());
        let out = bounded(&[1, 2], 8, |i| {
            threads.lock().unwrap().insert(std::thread::current().id());
            pause(30);
            Ok::<_, ()>(*i)
        });
        assert_eq!(out, vec![Ok(1), Ok(2)]);
        assert_eq!(threads.lock().unwrap().len(), 2);
        let none: Vec<Result<u8, ()>> = bounded(&[] as &[u8], 4, |_| panic!("no item"));
        assert!(none.is_empty());
    }

    #[test]
    fn zero_jobs_is_one_at_a_time() {
        let items: Vec<u32> = (0..5).collect();
        assert_eq!(bounded(&items, 0, |i| Ok::<_, ()>(*i)).len(), 5);
    }

    #[test]
    fn no_item_starts_after_the_first_error() {
        let items: Vec<u32> = (0..10).collect();
        let started = AtomicUsize::new(0);
        let out = bounded(&items, 1, |i| {
            started.fetch_add(1, Ordering::SeqCst);
            if *i == 2 {
                Err(*i)
            } else {
                Ok(*i)
            }
        });
        assert_eq!(out, vec![Ok(0), Ok(1), Err(2)]);
        assert_eq!(started.load(Ordering::SeqCst), 3);

        // Several threads: the one in flight finishes, nothing else starts.
        let items: Vec<u32> = (0..100).collect();
        let started = AtomicUsize::new(0);
        let out = bounded(&items, 2, |i| {
            started.fetch_add(1, Ordering::SeqCst);
            match i {
                0 => Err(0),
                _ => {
                    pause(20);
                    Ok(*i)
                }
            }
        });
        assert_eq!(out.first(), Some(&Err(0)));
        assert!(out.len() <= 3, "{out:?}");
        assert_eq!(started.load(Ordering::SeqCst), out.len());
    }

    #[test]
    fn every_result_of_a_failed_run_is_kept_in_order() {
        let items: Vec<u32> = (0..6).collect();
        // All six start before any ends; then they end last to first.
        let all_started = Barrier::new(6);
        let out = bounded(&items, 6, |i| {
            all_started.wait();
            pause(u64::from(6 - i) * 10);
            if i % 2 == 1 {
                Err(*i)
            } else {
                Ok(*i)
            }
        });
        assert_eq!(out, vec![Ok(0), Err(1), Ok(2), Err(3), Ok(4), Err(5)]);
    }

    /// Issue 14: the CLI's pools took a panicked worker for one with no results
    /// (`join().unwrap_or_default()`), and went on with the others'.
    #[test]
    #[should_panic(expected = "worker bug")]
    fn a_panicked_worker_is_not_taken_for_an_empty_one() {
        let items: Vec<u32> = (0..8).collect();
        let _ = bounded(&items, 2, |i| {
            if *i == 3 {
                panic!("worker bug");
            }
            Ok::<_, ()>(*i)
        });
    }

    #[test]
    fn a_panic_stops_the_taking_of_items() {
        let items: Vec<u32> = (0..40).collect();
        let started = AtomicUsize::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            bounded(&items, 2, |i| {
                started.fetch_add(1, Ordering::SeqCst);
                if *i == 0 {
                    panic!("worker bug");
                }
                pause(100);
                Ok::<_, ()>(*i)
            })
        }));
        assert!(result.is_err());
        // The panic hook (a backtrace, perhaps) runs before the unwinding that raises the
        // stop: the other worker may take a few items meanwhile, not all of them.
        let started = started.load(Ordering::SeqCst);
        assert!(started <= 20, "{started} of 40 items started");
    }
}
