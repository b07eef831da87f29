//! Wall-clock and CPU time of the phases of one request (a completion's retrieval and
//! generation), for the timing records the language server logs. CPU time is the process's
//! (every thread's user and system time, from `getrusage`), since llama.cpp decodes on threads
//! of its own; on a shared machine wall time mostly measures the wait for a core, CPU time the
//! work.

use std::time::{Duration, Instant};

use serde::Serialize;

/// The time one phase took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseTime {
    /// Wall-clock milliseconds.
    pub wall_ms: f64,
    /// Milliseconds of the process's CPU time (all threads, user and system).
    pub cpu_ms: f64,
}

/// Both times together (a phase run twice, as in iterative retrieval).
impl std::ops::Add for PhaseTime {
    type Output = PhaseTime;

    fn add(self, other: PhaseTime) -> PhaseTime {
        PhaseTime {
            wall_ms: self.wall_ms + other.wall_ms,
            cpu_ms: self.cpu_ms + other.cpu_ms,
        }
    }
}

impl std::fmt::Display for PhaseTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} ms (cpu {:.1} ms)", self.wall_ms, self.cpu_ms)
    }
}

/// Times consecutive phases: each [`Stopwatch::lap`] is the time since the last one.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    /// Start timing now.
    pub fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: process_cpu(),
        }
    }

    /// The time since the start or the last lap; the next lap starts now.
    pub fn lap(&mut self) -> PhaseTime {
        let now = Stopwatch::start();
        let took = PhaseTime {
            wall_ms: (now.wall - self.wall).as_secs_f64() * 1e3,
            cpu_ms: now.cpu.saturating_sub(self.cpu).as_secs_f64() * 1e3,
        };
        *self = now;
        took
    }
}

/// The process's CPU time so far (user and system, all threads); zero where `getrusage`
/// fails, so a timing record never fails a request.
#[expect(unsafe_code, reason = "getrusage(2) into a zeroed struct")]
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes the struct it is given; all zeroes is a valid `rusage`.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laps_split_wall_and_cpu_time_between_phases() {
        let mut watch = Stopwatch::start();
        // Work until the process has used 20 ms more CPU (bounded, for a loaded machine).
        let from = process_cpu();
        let give_up = Instant::now() + Duration::from_secs(20);
        let mut spins = 0u64;
        while process_cpu() < from + Duration::from_millis(20) && Instant::now() < give_up {
            spins = std::hint::black_box(spins + 1);
        }
        let busy = watch.lap();
        assert!(busy.cpu_ms >= 20.0, "the busy phase's CPU time: {busy}");
        assert!(busy.wall_ms > 0.0, "{busy}");
        // The next lap starts where the last ended: a sleep takes wall time.
        std::thread::sleep(Duration::from_millis(20));
        let idle = watch.lap();
        assert!(idle.wall_ms >= 20.0, "{idle}");
        let both = busy + idle;
        assert_eq!(both.wall_ms, busy.wall_ms + idle.wall_ms);
        assert_eq!(both.cpu_ms, busy.cpu_ms + idle.cpu_ms);
    }
}
