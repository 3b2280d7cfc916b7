//! What vigil's benchmarks share: polled futures, monitor variants, criterion setup, eviction.
//!
//! `benches/benches/poll_path.rs` times each variant with criterion and
//! `examples/poll_instructions.rs` counts its instructions per poll under callgrind; both
//! take the list from [`for_each_variant`], so a new variant is one line there (and its id
//! one line in [`ids`], which `cargo xtask bench` reads too). Every bench
//! target starts from [`criterion()`](fn@criterion) and starts services on a [`runtime`]; the cold snapshot
//! benchmarks evict the caches with a [`CacheEvictor`] and compare with [`sum_words`]. Run
//! them with `cargo xtask bench`.

mod affinity;
mod classic;
mod config;
mod floor;
pub mod ids;
mod memory;
mod runtime;
mod variants;

pub use affinity::pin_current_thread;
pub use classic::{Classic, ClassicMetrics, CLASSIC_WINDOW};
pub use config::criterion;
pub use floor::{ClockFloor, PollCounter};
pub use memory::{floor_words, sum_words, CacheEvictor, EVICTION_BYTES};
pub use runtime::{runtime, runtime_with_time, WORKER_THREADS};
pub use variants::{
    for_each_variant, for_each_wake_variant, parked, spinning, vigil_all_monitors,
    vigil_full_stack, vigil_on, vigil_profiler, vigil_scheduling, vigil_stack, ParkedWaker,
    VariantVisitor,
};
