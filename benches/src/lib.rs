//! The futures vigil's benchmarks poll: the self-waking workload and every monitor variant.
//!
//! `benches/poll_path.rs` times each variant with criterion and
//! `examples/poll_instructions.rs` counts its instructions per poll under callgrind; both
//! take the list from [`for_each_variant`], so a new variant is one line there. Run them
//! with `cargo xtask bench`.

mod classic;
mod floor;
mod variants;

pub use classic::{Classic, ClassicMetrics, CLASSIC_WINDOW};
pub use floor::{ClockFloor, PollCounter};
pub use variants::{
    for_each_variant, spinning, vigil_all_monitors, vigil_full_stack, vigil_on, vigil_scheduling,
    vigil_stack, VariantVisitor,
};
