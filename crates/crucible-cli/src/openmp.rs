//! OpenMP wait policy for llama.cpp's worker threads.
//!
//! llama.cpp's CPU backend runs its threads under OpenMP, whose default is to spin at every
//! barrier. On a 2-core machine where compilers and tests run next to decoding, a spinning
//! thread whose partner has been preempted burns its whole time slice: decode speed was measured
//! to fall from 20 to 0.5 tokens/s under such load. Passive waiting (a futex sleep) avoids
//! that collapse. libgomp reads its settings from the environment once, when the library is
//! loaded, so the only way to choose them for ourselves is to set them and re-execute.

use std::os::unix::process::CommandExt;

/// Set by the re-executed process so it never loops.
const MARKER: &str = "CRUCIBLE_OPENMP_SET";

/// Re-execute this process with `OMP_WAIT_POLICY=PASSIVE` unless the user chose a policy.
/// Returns only if no re-execution happened (or it failed, which is logged).
pub(crate) fn ensure_passive_wait() {
    let user_chose = ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT", MARKER]
        .iter()
        .any(|var| std::env::var_os(var).is_some());
    if user_chose {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .env(MARKER, "1")
        .exec();
    tracing::warn!("could not re-execute with OMP_WAIT_POLICY=PASSIVE: {err}");
}
