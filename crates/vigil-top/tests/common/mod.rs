//! What the tests that attach vigil-top to a real endpoint share: the target's runtime and
//! its services.
// Each test crate that includes it uses a part of it.
#![allow(dead_code)]

use std::time::Duration;

use vigil::prelude::*;

/// The runtime a target serves from: two workers, timers and I/O.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A service `name` whose every poll spins for `spin` (zero: no spin), then sleeps 5 ms.
pub(crate) fn spinning(name: &'static str, spin: Duration) -> ServiceObj {
    ServiceObj::new(name, async move {
        loop {
            let start = std::time::Instant::now();
            while start.elapsed() < spin {
                std::hint::spin_loop();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}
