//! Resource limits of one run and the CPU priority of sandboxed processes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Limits applied to one execution (one compile, one stdin/stdout case or one test run).
///
/// Time is judged on CPU time, which stays honest when the machine is busy (for example with
/// LLM decoding beside us); the wall-clock limit is only a generous backstop for programs that
/// sleep or block. The ranges accepted by [`Limits::validate`] are listed on each field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU time of all the run's processes together (10 ms to 10 min).
    pub cpu_time: Duration,
    /// Wall-clock backstop (at least `cpu_time`, at most 30 min).
    pub wall_time: Duration,
    /// Memory of all the run's processes, page cache of its files included (16 MiB to 64 GiB).
    pub memory_bytes: u64,
    /// Processes and threads alive at once (1 to 4096).
    pub processes: u32,
    /// Bytes of stdout plus stderr kept; more is an `output_limit` verdict (1 KiB to 1 GiB).
    pub output_bytes: u64,
    /// Largest file the program may write (`RLIMIT_FSIZE`; 1 KiB to 4 GiB).
    pub file_size_bytes: u64,
    /// Open file descriptors per process (16 to 65536).
    pub open_files: u32,
    /// Size of the private `/tmp` (1 MiB to 4 GiB); its pages count as the run's memory.
    pub tmp_bytes: u64,
}

/// Scheduling priority of sandboxed processes.
///
/// On a small machine that also decodes with llama.cpp, sandboxed programs should yield the
/// CPU: decoding threads that cannot run stall the whole batch. `Idle` (`SCHED_IDLE`) gives
/// the CPU to any normal thread first; `Nice(n)` is the gentler `nice` level `n` (0 to 19).
/// Verdicts stay fair because time limits are judged on CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuPriority {
    #[default]
    Normal,
    Nice(i32),
    Idle,
}

const MIB: u64 = 1024 * 1024;

impl Limits {
    /// Limits for a run with the given CPU time and memory; the rest are defaults sized for
    /// contest and benchmark programs. The wall backstop is `3 * cpu + 2 s`.
    pub fn new(cpu_time: Duration, memory_bytes: u64) -> Limits {
        Limits {
            cpu_time,
            wall_time: cpu_time * 3 + Duration::from_secs(2),
            memory_bytes,
            processes: 64,
            output_bytes: 8 * MIB,
            file_size_bytes: 64 * MIB,
            open_files: 256,
            tmp_bytes: 64 * MIB,
        }
    }

    /// Limits for a compiler: generous time and memory, many processes (gcc, ld, javac threads).
    pub fn compiler() -> Limits {
        Limits {
            processes: 256,
            output_bytes: MIB,
            file_size_bytes: 1024 * MIB,
            open_files: 1024,
            tmp_bytes: 1024 * MIB,
            ..Limits::new(Duration::from_secs(60), 2048 * MIB)
        }
    }

    /// Check every field against its documented range.
    pub fn validate(&self) -> Result<()> {
        let ms = |d: Duration| d.as_millis() as u64;
        check("cpu time (ms)", ms(self.cpu_time), 10, 600_000)?;
        check(
            "wall time (ms)",
            ms(self.wall_time),
            ms(self.cpu_time),
            1_800_000,
        )?;
        check("memory (MiB)", self.memory_bytes / MIB, 16, 65_536)?;
        check("processes", u64::from(self.processes), 1, 4096)?;
        check("output (bytes)", self.output_bytes, 1024, 1024 * MIB)?;
        check("file size (bytes)", self.file_size_bytes, 1024, 4096 * MIB)?;
        check("open files", u64::from(self.open_files), 16, 65_536)?;
        check("tmp size (MiB)", self.tmp_bytes / MIB, 1, 4096)?;
        Ok(())
    }
}

impl CpuPriority {
    /// Check the nice level.
    pub fn validate(self) -> Result<()> {
        match self {
            CpuPriority::Nice(n) if !(0..=19).contains(&n) => Err(Error::LimitOutOfRange {
                what: "nice level",
                value: n.to_string(),
                range: "0..=19".into(),
            }),
            _ => Ok(()),
        }
    }
}

fn check(what: &'static str, value: u64, min: u64, max: u64) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::LimitOutOfRange {
            what,
            value: value.to_string(),
            range: format!("{min}..={max}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let ok = Limits::new(Duration::from_secs(2), 256 * MIB);
        assert!(ok.validate().is_ok());
        assert!(Limits::compiler().validate().is_ok());
        let too_small = Limits::new(Duration::from_millis(1), 256 * MIB);
        assert_eq!(
            too_small.validate().unwrap_err().to_string(),
            "cpu time (ms) `1` is out of range 10..=600000"
        );
        let no_memory = Limits::new(Duration::from_secs(1), MIB);
        assert!(no_memory.validate().is_err());
        assert!(CpuPriority::Nice(20).validate().is_err());
        assert!(CpuPriority::Idle.validate().is_ok());
    }
}
