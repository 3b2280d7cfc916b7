//! What vigil's benchmarks share: the polled futures, every monitor variant, criterion's setup.
//!
//! `benches/benches/poll_path.rs` times each variant with criterion and
//! `examples/poll_instructions.rs` counts its instructions per poll under callgrind; both
//! take the list from [`for_each_variant`], so a new variant is one line there. Every bench
//! target starts from [`criterion`]. Run them with `cargo xtask bench`.

mod classic;
mod config;
mod floor;
mod variants;

pub use classic::{Classic, ClassicMetrics, CLASSIC_WINDOW};
pub use config::criterion;
pub use floor::{ClockFloor, PollCounter};
pub use variants::{
    for_each_variant, spinning, vigil_all_monitors, vigil_full_stack, vigil_on, vigil_scheduling,
    vigil_stack, VariantVisitor,
};
