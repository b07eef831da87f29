//! Ctrl-C handling: the first interrupt asks running work to stop cleanly; the second one
//! exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Exit code for a run stopped by Ctrl-C (128 + SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// Install the handler. Safe to call more than once.
pub(crate) fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let res = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: the user does not want to wait for a clean stop.
                #[expect(clippy::exit, reason = "second Ctrl-C is an explicit request to quit")]
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        });
        if let Err(err) = res {
            tracing::warn!("could not install the Ctrl-C handler: {err}");
        }
    });
}

/// Whether Ctrl-C was pressed.
pub(crate) fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
