//! Shared by the registry's model tests: the panic they provoke on purpose, kept quiet.

use std::panic;
use std::sync::Once;

/// The payload of the panics the model tests provoke; the panic hook keeps them quiet.
#[derive(Debug)]
pub(crate) struct ModelPanic;

/// Installs (once) a panic hook that hides [`ModelPanic`]s and reports any other panic (a
/// failed assertion) as usual.
pub(crate) fn quiet_model_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<ModelPanic>().is_none() {
                previous(info);
            }
        }));
    });
}
