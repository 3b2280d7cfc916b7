//! Snapshots taken while other threads start and end services stay consistent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vigil_registry::{Registry, ServiceObj};

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const STARTS_PER_THREAD: usize = 5_000;

/// Checks one snapshot; returns each name's lifetime counters `(starts, endings)` so the
/// caller can check that they never decrease.
fn check_snapshot(registry: &Registry) -> Vec<(u64, u64, u64)> {
    let snapshot = registry.metrics();
    let ids: Vec<_> = snapshot.iter().map(|(id, _)| id).collect();
    // Strictly increasing: sorted, no duplicates, whatever was starting or ending meanwhile.
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    for (id, metrics) in snapshot.iter() {
        assert!(metrics.utilization <= 100);
        assert_eq!(snapshot.get(id), Some(metrics));
    }
    for name in NAMES {
        let group_len = snapshot.instances_of(name).count();
        let group = snapshot.group(name);
        assert_eq!(group.map_or(0, |g| g.instances), group_len);
        if let Some(group) = group {
            // Every start is live or ended, never both, never neither.
            assert_eq!(group.starts, group.instances as u64 + group.endings.total());
        }
    }
    NAMES
        .iter()
        .map(|name| {
            snapshot.group(name).map_or((0, 0, 0), |group| {
                (group.starts, group.endings.total(), group.poll_count)
            })
        })
        .collect()
}

/// Keeps the services' deliberate panics out of the output; any other panic (a failed
/// assertion) is reported as usual.
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"stress panic") {
                default(info);
            }
        }));
    });
}

fn stress(runtime: &tokio::runtime::Runtime) {
    let registry = Arc::new(Registry::new());
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let registry = Arc::clone(&registry);
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut snapshots = 0_u64;
            let mut previous = vec![(0, 0, 0); NAMES.len()];
            // Relaxed: a stop flag; the join below orders everything else.
            while !done.load(Ordering::Relaxed) || snapshots == 0 {
                let counters = check_snapshot(&registry);
                for (now, then) in counters.iter().zip(&previous) {
                    assert!(now.0 >= then.0 && now.1 >= then.1 && now.2 >= then.2);
                }
                previous = counters;
                snapshots += 1;
            }
            snapshots
        })
    };

    let starters: Vec<_> = NAMES
        .iter()
        .map(|&name| {
            let registry = Arc::clone(&registry);
            let handle = runtime.handle().clone();
            std::thread::spawn(move || {
                let mut handles = Vec::with_capacity(STARTS_PER_THREAD);
                for i in 0..STARTS_PER_THREAD {
                    // A mix of endings: completed at once, after a yield, or panicked.
                    let service = match i % 3 {
                        0 => ServiceObj::new(name, async {}),
                        1 => ServiceObj::new(name, async { tokio::task::yield_now().await }),
                        _ => ServiceObj::new(name, async { panic!("stress panic") }),
                    };
                    handles.push((i % 3 == 2, registry.start_in(&handle, service)));
                }
                handles
            })
        })
        .collect();

    for starter in starters {
        for (panics, handle) in starter.join().unwrap() {
            let ending = runtime.block_on(handle);
            assert_eq!(ending.is_err(), panics);
            if let Err(error) = ending {
                assert!(error.is_panic());
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);

    // Quiescent: everything ended, nothing is reported live, every ending was counted once,
    // and the ids were gapless.
    let snapshot = registry.metrics();
    assert!(snapshot.is_empty());
    for name in NAMES {
        let group = snapshot.group(name).unwrap();
        let panicked = (STARTS_PER_THREAD / 3) as u64;
        assert_eq!(group.starts, STARTS_PER_THREAD as u64);
        assert_eq!(group.endings.panicked, panicked);
        assert_eq!(group.endings.completed, STARTS_PER_THREAD as u64 - panicked);
        // One poll each, but the yielding third: two.
        let yielding = (STARTS_PER_THREAD as u64 + 1) / 3;
        assert_eq!(group.poll_count, STARTS_PER_THREAD as u64 + yielding);
    }
    for name in NAMES {
        let (next_id, _) = registry
            .try_start_in(runtime.handle(), ServiceObj::new(name, async {}))
            .unwrap();
        assert_eq!(next_id.instance_id(), STARTS_PER_THREAD as u64);
    }
}

#[test]
fn snapshots_stay_consistent_under_concurrent_starts_multi_thread() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    quiet_expected_panics();
    stress(&runtime);
}

#[test]
fn snapshots_stay_consistent_under_concurrent_starts_current_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    quiet_expected_panics();
    stress(&runtime);
}
