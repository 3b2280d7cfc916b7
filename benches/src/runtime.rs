//! The tokio runtimes the registry and supervisor benchmarks start services on.

use tokio::runtime::{Builder, Runtime};

/// Workers of every benchmark runtime: one per core of the reference VM.
pub const WORKER_THREADS: usize = 2;

/// A multi-thread runtime with [`WORKER_THREADS`] workers and no drivers.
///
/// # Panics
///
/// If the runtime cannot be built.
pub fn runtime() -> Runtime {
    workers()
        .build()
        .expect("failed to build the benchmark runtime")
}

/// The same with tokio's timer enabled (the supervisor's backoff sleeps on it).
///
/// # Panics
///
/// If the runtime cannot be built.
pub fn runtime_with_time() -> Runtime {
    workers()
        .enable_time()
        .build()
        .expect("failed to build the benchmark runtime")
}

fn workers() -> Builder {
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(WORKER_THREADS);
    builder
}
