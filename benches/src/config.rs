//! The criterion configuration every bench target of `vigil-benches` starts from.

use std::time::Duration;

use criterion::Criterion;

/// Warm-up time unless a group or criterion's flags say otherwise.
const WARM_UP_TIME: Duration = Duration::from_secs(1);
/// Measurement time unless a group or criterion's flags say otherwise.
const MEASUREMENT_TIME: Duration = Duration::from_secs(3);

/// Criterion with defaults short enough for the whole suite to finish in a few minutes on
/// two cores; criterion's own flags (`--warm-up-time`, `--measurement-time`, `--quick`, a
/// filter, ...) override them.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(WARM_UP_TIME)
        .measurement_time(MEASUREMENT_TIME)
        .configure_from_args()
}
