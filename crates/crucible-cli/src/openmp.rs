//! OpenMP wait policy for llama.cpp's worker threads.
//!
//! llama.cpp's CPU backend runs its threads under OpenMP. At every barrier (dozens per token)
//! a thread that arrives first either spins or sleeps. libgomp's default spins for 300,000
//! iterations and `OMP_WAIT_POLICY=ACTIVE` for billions: on a 2-core machine where compilers and
//! tests run next to decoding, a spinning thread whose partner has been preempted burns its time
//! slice, and decode was measured to fall from 20 to 0.4 tokens/s (active) and to 12 (default).
//! Sleeping at once (`OMP_WAIT_POLICY=PASSIVE`) avoids that but pays a futex wake-up at every
//! barrier: 28-31 tokens/s against 46-50 on a quiet machine. A short spin (`GOMP_SPINCOUNT=1000`,
//! a few microseconds) gets both: 47-50 tokens/s quiet and 20-24 beside two busy processes at
//! normal priority, where passive gave 15-30 (docs/PERFORMANCE.md, session 9, "The OpenMP wait").
//!
//! libgomp reads its settings from the environment once, when the library is loaded, so the only
//! way to choose them for ourselves is to set them and re-execute.

use std::os::unix::process::CommandExt;

use crucible_core::types::env::{CRUCIBLE_OPENMP_SET, GOMP_SPINCOUNT, OMP_WAIT_POLICY};

/// Set by the re-executed process so it never loops.
const MARKER: &str = CRUCIBLE_OPENMP_SET;

/// Barrier spin iterations before a llama.cpp thread sleeps.
const SPIN_COUNT: &str = "1000";

/// Re-execute this process with `GOMP_SPINCOUNT=1000` unless the user chose a policy.
/// Returns only if no re-execution happened (or it failed, which is logged).
pub(crate) fn ensure_short_spin() {
    let user_chose = [OMP_WAIT_POLICY, GOMP_SPINCOUNT, MARKER]
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
        .env(GOMP_SPINCOUNT, SPIN_COUNT)
        .env(MARKER, "1")
        .exec();
    tracing::warn!("could not re-execute with GOMP_SPINCOUNT={SPIN_COUNT}: {err}");
}
