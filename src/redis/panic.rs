//! The panic policy: a panic is a bug, and the release build aborts on it
//! (`panic = "abort"`: unwinding through Redis's C frames is undefined).
//! Before the abort, this hook writes the message and location to the Redis
//! log, where an operator looks first.

use std::sync::Once;

/// Installs the hook (once, from OnLoad).
pub fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            redis_module::logging::log_warning(format!(
                "like module: panic (a bug; the server aborts): {info}"
            ));
            previous(info);
        }));
    });
}
