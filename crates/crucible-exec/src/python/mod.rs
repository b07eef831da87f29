//! Warm, sandboxed Python workers ("zygotes") and the protocol to drive them.
//!
//! A fresh interpreter per sample costs 20-90 ms of start-up; a worker starts once, inside a
//! sandbox whose PID 1 it is, preloads the standard modules and freezes its heap. It never
//! reads a request: ahead of each request it forks a handler R from that clean state. R
//! forks T, the program's process to be, which reads the program frame and nothing else and
//! becomes S, the program; only after T has read its frame does R read the tests, and its
//! test driver D (a thread of R) calls the program's functions in S with plain values. S only
//! ever holds the template, the program, its stdin and its limits; the test code and expected
//! values live in R and D (and here). When R has replied, the zygote kills and reaps
//! everything R left, so no process that saw one request serves another. See `zygote.py` for
//! the processes and the crate README ("Python workers") for what the design closes and what
//! remains open.
//!
//! A [`WorkerKind::Driver`] worker (tests the judge trusts, and runs without tests) forks no R:
//! one long-lived driver process D serves request after request, and a clean template C, forked
//! by D before any request, forks each request's T. D writes the same frames (`ready`, `reply`,
//! `end`), so the exchange below is the same for both kinds.
//!
//! The exchange, on the worker's stdin (requests) and stdout (replies):
//!
//! 1. Settling, before a request: R (already forked) answers `{"ready": pid}`, T's pid in the
//!    sandbox, once T is in the program's own cgroup. On cgroup v1 T moved itself there with
//!    descriptors of the cgroup's `tasks` files the worker got at start (a move from outside
//!    waits for an RCU grace period, about 20 ms); otherwise the executor moves T now, while
//!    it waits.
//! 2. The request: the executor sets that cgroup's limits for it and writes `G`, the program
//!    frame (read by T) and the handler frame (limits and, in test modes, the tests; read by R
//!    once T has read its frame).
//! 3. R supervises S and answers `{"reply": ...}` (or `{"error": ...}`). Meanwhile the
//!    executor polls the program's cgroup and kills everything in it when its CPU time,
//!    children included, passes the limit.
//! 4. The zygote reaps R, kills whatever is left, and answers `{"end": status}`, then forks
//!    the next R (step 1). A handler that did not finish the exchange (status not 0) ends the
//!    worker: what is left in the request pipe is never read.
//!
//! Frames are a little-endian `u32` length and JSON.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::limits::Limits;
use crate::runner::{base_env, bind};
use crate::sandbox::cgroup::Slot;
use crate::sandbox::{Command, Process, Sandbox, Stdin, sys};
use crate::{Error, Result};

/// The worker's source, embedded in the binary and written to the cache at start.
const ZYGOTE_SOURCE: &str = include_str!("zygote.py");

/// Where the worker's directory is mounted in its sandbox.
const HARNESS_MOUNT: &str = "/opt/crucible";

/// Requests a worker serves before it is replaced.
const RECYCLE_AFTER: usize = 2000;

/// How long the steps around a run (handing over the program, moving S, cleaning up) may
/// take before the worker is given up as broken.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a new worker may take to start its interpreter and say it is ready. No program
/// runs before that, so the wait can be long: on a loaded machine (a build beside a run, the
/// run niced) a start took more than `STEP_TIMEOUT`, and each such start cost a sample a
/// `judge_error`.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a caller waits for a settling worker before it boots another.
const SETTLE_WAIT: Duration = Duration::from_millis(250);

/// How often the executor reads the program's cgroup while it runs.
const CPU_POLL: Duration = Duration::from_millis(10);

/// Which test code a worker may run, and so how it serves requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkerKind {
    /// A fresh handler process per request runs the tests (model-written test code: nothing it
    /// leaves behind meets another request).
    Handler,
    /// One long-lived driver process runs the tests of request after request, and only the
    /// program's process is forked per request (`--trusted` in zygote.py): for test code the
    /// judge trusts (a benchmark's, the user's own) and for runs without test code.
    Driver,
}

impl WorkerKind {
    fn index(self) -> usize {
        match self {
            WorkerKind::Handler => 0,
            WorkerKind::Driver => 1,
        }
    }
}

/// A pool of warm workers.
///
/// Workers' sandboxes are cloned by one long-lived thread: a sandbox dies with the thread that
/// cloned it (`PR_SET_PDEATHSIG`), and pooled workers must outlive the callers' threads. The
/// caller that needs a worker waits for its interpreter to boot, so workers boot in parallel.
/// A worker
/// that served a request is settled (its zygote's clean-up read, the next program process
/// moved into its cgroup) on a short-lived thread of its own before it rejoins the idle ones,
/// so callers do not wait for that.
#[derive(Debug)]
pub(crate) struct Workers {
    pool: Arc<Pool>,
    spawner: Mutex<Option<Sender<SpawnOrder>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A worker to start, and where to send it.
type SpawnOrder = (WorkerKind, Sender<Result<Starting>>);

/// The workers themselves, shared with the settling threads.
#[derive(Debug)]
struct Pool {
    idle: Mutex<Vec<Zygote>>,
    /// Workers that exist (idle, serving or settling), by kind ([`WorkerKind::index`]).
    live: Mutex<[usize; 2]>,
    /// Workers being settled, by kind ([`WorkerKind::index`]); warming ones included.
    settling: Mutex<[usize; 2]>,
    /// Of those, workers warming up ([`Workers::warm`]): still booting their interpreter.
    /// A caller waits for one of these rather than boot another, however long it takes: it
    /// started first, so it is ready first.
    booting: Mutex<[usize; 2]>,
    /// A worker became idle or stopped (waited on with `live`).
    freed: Condvar,
    /// A settling thread finished (waited on with `settling`).
    settled: Condvar,
    max: usize,
    sandbox: Arc<Sandbox>,
}

/// What the spawner thread needs to start a worker.
#[derive(Debug, Clone)]
struct SpawnSpec {
    interpreter: PathBuf,
    harness_dir: PathBuf,
    /// What the interpreter runs, in `harness_dir`: the worker compiled ahead, or its source.
    script: String,
    memory_bytes: u64,
}

#[derive(Debug)]
struct Zygote {
    kind: WorkerKind,
    process: Process,
    /// The request pipe (non-blocking: a handler that stops reading must not block us).
    requests: File,
    reader: FrameReader,
    served: usize,
    /// The program's own cgroup. The next request's T is moved into it while it waits;
    /// limits are set and counters reset per request.
    subject: Option<Slot>,
    /// Each program's process moves itself into `subject` (cgroup v1); else we move it.
    self_join: bool,
    /// The zygote's `end` of the last request is still to be read.
    end_pending: bool,
    /// The next request's T has been announced (and moved into `subject`).
    next_ready: bool,
}

/// The program's half of a request: everything the program's process may hold.
#[derive(Debug, Serialize)]
pub(crate) struct ProgramFrame<'a> {
    /// `run` (no tests), `io`, `code` or `calls`.
    pub(crate) mode: &'static str,
    pub(crate) source: &'a str,
    pub(crate) stdin: &'a str,
    pub(crate) cpu_ms: u64,
    pub(crate) wall_ms: u64,
    pub(crate) memory_bytes: u64,
    pub(crate) output_bytes: u64,
    pub(crate) file_size_bytes: u64,
    pub(crate) open_files: u32,
    /// Limit the program's address space too (`RLIMIT_AS`): a `MemoryError` is evidence of
    /// running out of memory, and without a cgroup it is the only memory limit.
    pub(crate) address_space: bool,
}

/// What R needs: the limits it enforces and, in test modes, the tests (which it reads only
/// after T has read the program). `cgroup_watch`: we watch the program's cgroup, so R counts
/// CPU time only as a backstop.
#[derive(Debug, Serialize)]
struct HandlerFrame<'a, 'b> {
    mode: &'static str,
    cpu_ms: u64,
    wall_ms: u64,
    output_bytes: u64,
    file_size_bytes: u64,
    open_files: u32,
    cgroup_watch: bool,
    tests: Option<&'b TestsFrame<'a>>,
}

/// The tests: read by R only once the program's process has read its frame; held by R and D.
#[derive(Debug, Serialize)]
pub(crate) struct TestsFrame<'a> {
    /// `code` or `calls`.
    pub(crate) mode: &'static str,
    pub(crate) tests: &'a str,
    pub(crate) entry_point: Option<&'a str>,
    pub(crate) cases: Vec<WorkerCase<'a>>,
    pub(crate) atol: f64,
}

/// One call-based test case.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerCase<'a> {
    pub(crate) args: &'a str,
    pub(crate) expected: &'a str,
}

/// What R saw of one run, plus what the executor measured of the program's cgroup. Byte
/// strings travel as Latin-1 text.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct WorkerReply {
    #[serde(default)]
    pub(crate) stdout: String,
    #[serde(default)]
    pub(crate) stderr: String,
    #[serde(default)]
    pub(crate) wall_ms: u64,
    /// Why R stopped the program: `cpu`, `wall` or `output`.
    #[serde(default)]
    pub(crate) killed: Option<String>,
    /// The signal that ended the program's process, when it ended by itself (not by R).
    #[serde(default)]
    pub(crate) signal: Option<i32>,
    /// The program's exit status, when it ended by itself.
    #[serde(default)]
    pub(crate) exit_code: Option<i32>,
    /// CPU time of the program and all its descendants (R's count; the cgroup's when larger).
    #[serde(default)]
    pub(crate) cpu_ms: u64,
    #[serde(default)]
    pub(crate) peak_kb: u64,
    /// D's lines (test modes).
    #[serde(default)]
    pub(crate) report: Option<String>,
    /// The compiler's message: the program did not compile (no program code ran).
    #[serde(default)]
    pub(crate) compile_error: Option<String>,
    /// An uncaught `MemoryError` ended the program.
    #[serde(default)]
    pub(crate) memory_error: bool,
    /// Set by the executor: the program's cgroup recorded an OOM kill.
    #[serde(skip)]
    pub(crate) oom: bool,
    /// Set by the executor: it killed the program because its cgroup's CPU time passed the
    /// limit.
    #[serde(skip)]
    pub(crate) cpu_killed: bool,
}

/// How a request to a worker ended.
#[derive(Debug)]
pub(crate) enum Served {
    Reply(WorkerReply),
    /// The handler ended without a reply. `by_signal`: it was killed, and only the program's
    /// processes can signal it (they run as the same user inside the sandbox).
    Lost {
        by_signal: bool,
        detail: String,
    },
    /// The judge failed on this request (an internal error, a worker that stopped
    /// answering).
    Failed(String),
}

/// One frame from the worker.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(default)]
    ready: Option<i32>,
    #[serde(default)]
    reply: Option<WorkerReply>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    end: Option<i32>,
    /// The program's processes killed one of the judge's (a long-lived driver's template).
    #[serde(default)]
    lost: Option<String>,
}

impl WorkerReply {
    pub(crate) fn stdout_bytes(&self) -> Vec<u8> {
        latin1(&self.stdout)
    }

    pub(crate) fn stderr_bytes(&self) -> Vec<u8> {
        latin1(&self.stderr)
    }
}

fn latin1(s: &str) -> Vec<u8> {
    s.chars().map(|c| c as u32 as u8).collect()
}

impl Workers {
    /// Prepare a pool of at most `max` workers whose sandboxes may use `memory_bytes` together
    /// (a request's own memory limit is enforced per request inside).
    pub(crate) fn new(
        sandbox: Arc<Sandbox>,
        cache_dir: &Path,
        interpreter: PathBuf,
        max: usize,
        memory_bytes: u64,
    ) -> Result<Workers> {
        let harness_dir = cache_dir.join("python");
        std::fs::create_dir_all(&harness_dir).map_err(|e| Error::io(&harness_dir, e))?;
        let path = harness_dir.join("zygote.py");
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != ZYGOTE_SOURCE {
            // Unique per call: executors made at once in one process (tests) must not share it.
            static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = harness_dir.join(format!("zygote.py.{}.{n}", std::process::id()));
            std::fs::write(&tmp, ZYGOTE_SOURCE).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        }
        let script = precompile(&interpreter, &harness_dir);
        let spec = SpawnSpec {
            interpreter,
            harness_dir,
            script,
            memory_bytes,
        };
        let (tx, rx) = channel::<SpawnOrder>();
        let thread_sandbox = Arc::clone(&sandbox);
        let thread = std::thread::Builder::new()
            .name("crucible-python-spawner".into())
            .spawn(move || {
                for (kind, reply) in rx {
                    let _ = reply.send(start(&thread_sandbox, &spec, kind));
                }
            })
            .map_err(Error::spawn)?;
        Ok(Workers {
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
                live: Mutex::new([0; 2]),
                settling: Mutex::new([0; 2]),
                booting: Mutex::new([0; 2]),
                freed: Condvar::new(),
                settled: Condvar::new(),
                max: max.max(1),
                sandbox,
            }),
            spawner: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Run one request on a free worker (starting one if needed). `Err` only when no worker
    /// could be had; what happens to the request itself is in [`Served`]. `trusted_tests`: the
    /// test code is the judge's or the user's own, never a model's; it then runs in a
    /// long-lived driver, as runs without tests always do.
    pub(crate) fn call(
        &self,
        program: &ProgramFrame<'_>,
        tests: Option<&TestsFrame<'_>>,
        trusted_tests: bool,
        limits: &Limits,
    ) -> Result<Served> {
        let kind = if tests.is_none() || trusted_tests {
            WorkerKind::Driver
        } else {
            WorkerKind::Handler
        };
        let mut zygote = self.acquire(kind)?;
        let (served, reusable) = match exchange(&mut zygote, program, tests, limits) {
            Ok(done) => done,
            Err(err) => (Served::Failed(err.to_string()), false),
        };
        if reusable && zygote.served + 1 < RECYCLE_AFTER {
            zygote.served += 1;
            self.pool.settle_later(zygote);
        } else {
            self.pool.retire(zygote);
        }
        Ok(served)
    }

    /// A settled worker of `kind`: an idle one, a new one, or the next one to finish settling.
    /// Each kind has up to `max` workers, so a mix of requests (a strategy's model-written
    /// tests beside the benchmark's) never boots one kind in place of the other.
    fn acquire(&self, kind: WorkerKind) -> Result<Zygote> {
        let pool = &self.pool;
        let k = kind.index();
        let mut live = pool.live.lock().map_err(|_| poisoned())?;
        let wait_until = Instant::now() + SETTLE_WAIT;
        loop {
            let idle = {
                let mut idle = pool.idle.lock().map_err(|_| poisoned())?;
                idle.iter()
                    .rposition(|z| z.kind == kind)
                    .map(|at| idle.swap_remove(at))
            };
            if let Some(mut z) = idle {
                if z.process.is_alive() {
                    return Ok(z);
                }
                // Its spawning thread ended (PDEATHSIG) or it crashed: replace it.
                drop(live);
                pool.retire(z);
                live = pool.live.lock().map_err(|_| poisoned())?;
                continue;
            }
            // A worker that is settling is ready within milliseconds; booting another costs
            // an interpreter's start-up (about 0.1-0.2 s of CPU). Wait for one a little first,
            // and again when another caller took the one that became free, up to SETTLE_WAIT
            // in all (a single wait let two callers woken by one worker boot a third).
            let settling = pool.settling.lock().map_err(|_| poisoned())?[k];
            let booting = pool.booting.lock().map_err(|_| poisoned())?[k];
            let left = wait_until.saturating_duration_since(Instant::now());
            if live[k] < pool.max && (booting > 0 || settling > 0 && !left.is_zero()) {
                let wait = if booting > 0 { STEP_TIMEOUT } else { left };
                live = pool
                    .freed
                    .wait_timeout(live, wait)
                    .map_err(|_| poisoned())?
                    .0;
                continue;
            }
            if live[k] < pool.max {
                live[k] += 1;
                drop(live);
                let fresh = self.spawner().and_then(|tx| boot(&tx, pool, kind));
                return fresh.inspect_err(|_| {
                    if let Ok(mut live) = pool.live.lock() {
                        live[k] -= 1;
                    }
                    pool.freed.notify_one();
                });
            }
            live = pool.freed.wait(live).map_err(|_| poisoned())?;
        }
    }

    /// The spawner thread's order queue.
    fn spawner(&self) -> Result<Sender<SpawnOrder>> {
        self.spawner
            .lock()
            .map_err(|_| poisoned())?
            .clone()
            .ok_or_else(|| Error::Worker("the worker pool is shut down".into()))
    }

    /// Start booting up to `count` more workers of `kind` (never past the pool's maximum)
    /// on threads of their own, so that the first requests find them ready: a caller waits
    /// for a booting worker rather than boot another. `crucible score` starts them before it
    /// reads the samples and opens the run directory, which then cost no time of their own.
    pub(crate) fn warm(&self, kind: WorkerKind, count: usize) {
        let pool = &self.pool;
        let k = kind.index();
        let Ok(tx) = self.spawner() else {
            return;
        };
        for _ in 0..count {
            match pool.live.lock() {
                Ok(mut live) if live[k] < pool.max => live[k] += 1,
                _ => return,
            }
            if let Ok(mut settling) = pool.settling.lock() {
                settling[k] += 1;
            }
            if let Ok(mut booting) = pool.booting.lock() {
                booting[k] += 1;
            }
            let (pool, tx) = (Arc::clone(pool), tx.clone());
            let started = std::thread::Builder::new()
                .name("crucible-python-warm".into())
                .spawn(move || pool.warmed(kind, boot(&tx, &pool, kind)));
            if let Err(err) = started {
                // No thread to spare: give its place back; the first request boots it.
                self.pool.warmed(kind, Err(Error::spawn(err)));
                return;
            }
        }
    }

    /// Stop all workers and the spawner thread (whose end takes every sandbox it started).
    pub(crate) fn shutdown(&self) {
        let pool = &self.pool;
        if let Ok(mut settling) = pool.settling.lock() {
            while settling.iter().sum::<usize>() > 0 {
                match pool.settled.wait(settling) {
                    Ok(guard) => settling = guard,
                    Err(_) => break,
                }
            }
        }
        let drained: Vec<Zygote> = match pool.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => return,
        };
        for zygote in drained {
            pool.retire(zygote);
        }
        if let Ok(mut spawner) = self.spawner.lock() {
            spawner.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

/// A new worker of `kind`, booted by the spawner thread and settled; stopped again if it
/// cannot settle.
fn boot(spawner: &Sender<SpawnOrder>, pool: &Pool, kind: WorkerKind) -> Result<Zygote> {
    let (tx, rx) = channel();
    spawner
        .send((kind, tx))
        .map_err(|_| Error::Worker("the worker spawner stopped".into()))?;
    let mut zygote = rx
        .recv()
        .map_err(|_| Error::Worker("the worker spawner stopped".into()))??
        .ready(&pool.sandbox)?;
    match zygote.settle() {
        Ok(()) => Ok(zygote),
        Err(err) => {
            zygote.process.finish(&pool.sandbox);
            if let Some(slot) = zygote.subject.take() {
                pool.sandbox.release_slot(slot);
            }
            Err(err)
        }
    }
}

/// The worker compiled to bytecode by `interpreter`, once per worker source and interpreter
/// (its name carries both), so a worker's boot does not compile it again: that was 10-20 ms
/// of each interpreter's start on this machine, as much as a few requests. Falls back to the
/// source, with a warning, when it cannot be compiled.
fn precompile(interpreter: &Path, harness_dir: &Path) -> String {
    let source = "zygote.py".to_owned();
    let mut hasher = Sha256::new();
    hasher.update(ZYGOTE_SOURCE.as_bytes());
    hasher.update(interpreter.as_os_str().as_encoded_bytes());
    // A new interpreter at the same path (an upgrade) reads other bytecode.
    if let Ok(meta) = std::fs::metadata(interpreter) {
        hasher.update(meta.len().to_le_bytes());
        if let Ok(modified) = meta.modified()
            && let Ok(since) = modified.duration_since(std::time::UNIX_EPOCH)
        {
            hasher.update(since.as_nanos().to_le_bytes());
        }
    }
    let digest: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let compiled = format!("zygote-{digest}.pyc");
    if harness_dir.join(&compiled).is_file() {
        return compiled;
    }
    // Unique per call, as the source's temporary file: executors start at once in tests.
    static COMPILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COMPILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = harness_dir.join(format!("{compiled}.{}.{n}", std::process::id()));
    let status = std::process::Command::new(interpreter)
        .args(["-I", "-B", "-c"])
        .arg(
            "import py_compile, sys\n\
             py_compile.compile(sys.argv[1], cfile=sys.argv[2], dfile=sys.argv[3], doraise=True)",
        )
        .arg(harness_dir.join(&source))
        .arg(&tmp)
        .arg(format!("{HARNESS_MOUNT}/{source}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    let failure = match status {
        Ok(out) if out.status.success() => match std::fs::rename(&tmp, harness_dir.join(&compiled))
        {
            Ok(()) => None,
            Err(err) => Some(err.to_string()),
        },
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(err) => Some(err.to_string()),
    };
    // Bytecode of other worker sources stays: another Crucible binary sharing this home may
    // be booting from it.
    let Some(failure) = failure else {
        return compiled;
    };
    let _ = std::fs::remove_file(&tmp);
    tracing::warn!(
        interpreter = %interpreter.display(),
        "could not compile the Python worker ahead ({failure}); each worker compiles it at start"
    );
    source
}

impl Pool {
    /// Settle a worker that served a request on a thread of its own, then make it idle.
    fn settle_later(self: &Arc<Pool>, zygote: Zygote) {
        if let Ok(mut settling) = self.settling.lock() {
            settling[zygote.kind.index()] += 1;
        }
        let pool = Arc::clone(self);
        let parked = Arc::new(Mutex::new(Some(zygote)));
        let handed = Arc::clone(&parked);
        let started = std::thread::Builder::new()
            .name("crucible-python-settle".into())
            .spawn(move || {
                if let Some(zygote) = handed.lock().ok().and_then(|mut z| z.take()) {
                    pool.settle_and_park(zygote);
                }
            });
        if started.is_err() {
            // No thread to spare: settle here.
            if let Some(zygote) = parked.lock().ok().and_then(|mut z| z.take()) {
                self.settle_and_park(zygote);
            }
        }
    }

    /// The end of a warming worker's boot ([`Workers::warm`]): `fresh` is parked, or its place
    /// is given back.
    fn warmed(&self, kind: WorkerKind, fresh: Result<Zygote>) {
        let k = kind.index();
        {
            // Under `live`, as in `settle_and_park`; and a caller woken below must not see this
            // worker as booting still, or it would wait for it in vain.
            let mut live = self.live.lock();
            match fresh {
                Ok(zygote) => {
                    if let Ok(mut idle) = self.idle.lock() {
                        idle.push(zygote);
                    }
                }
                Err(err) => {
                    tracing::debug!("a Python worker did not warm up: {err}");
                    if let Ok(live) = live.as_mut() {
                        live[k] -= 1;
                    }
                }
            }
            if let Ok(mut booting) = self.booting.lock() {
                booting[k] -= 1;
            }
        }
        self.freed.notify_all();
        if let Ok(mut settling) = self.settling.lock() {
            settling[k] -= 1;
        }
        self.settled.notify_all();
    }

    fn settle_and_park(&self, mut zygote: Zygote) {
        let kind = zygote.kind;
        match zygote.settle() {
            Ok(()) => {
                // Under `live`, which a caller holds from its look at `idle` until it waits on
                // `freed`: the notification below cannot fall between the two.
                let _live = self.live.lock();
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push(zygote);
                }
            }
            // It did not finish cleaning up after its request: replace it.
            Err(_) => self.retire(zygote),
        }
        self.freed.notify_all();
        if let Ok(mut settling) = self.settling.lock() {
            settling[kind.index()] -= 1;
        }
        self.settled.notify_all();
    }

    /// Stop a worker: its sandbox dies with it, and every process in the program's cgroup
    /// with that.
    fn retire(&self, mut zygote: Zygote) {
        zygote.process.finish(&self.sandbox);
        if let Some(slot) = zygote.subject.take() {
            self.sandbox.release_slot(slot);
        }
        if let Ok(mut live) = self.live.lock() {
            live[zygote.kind.index()] -= 1;
        }
        self.freed.notify_all();
    }
}

/// A worker whose sandbox is cloned but whose interpreter may still be starting.
#[derive(Debug)]
struct Starting {
    kind: WorkerKind,
    process: Process,
    requests: OwnedFd,
    subject: Option<Slot>,
    self_join: bool,
}

/// Clone a worker's sandbox (on the spawner thread: the sandbox dies with the thread that
/// cloned it). The caller waits for the interpreter with [`Starting::ready`], so several
/// workers boot at once.
fn start(sandbox: &Sandbox, spec: &SpawnSpec, kind: WorkerKind) -> Result<Starting> {
    let limits = Limits {
        cpu_time: Duration::from_secs(600),
        wall_time: Duration::from_secs(1800),
        memory_bytes: spec.memory_bytes,
        processes: 512,
        output_bytes: 1 << 20,
        file_size_bytes: 1 << 30,
        open_files: 4096,
        tmp_bytes: 512 << 20,
    };
    // The program's cgroup; its limits are set per request. On cgroup v1 the worker gets
    // descriptors with which each program's process moves itself in (see `join_cgroup` in
    // zygote.py); otherwise the executor moves it.
    let subject = sandbox.acquire_slot(spec.memory_bytes, limits.processes)?;
    let join = match subject.as_ref().map(Slot::join_files).transpose() {
        Ok(join) => join.flatten(),
        Err(err) => {
            if let Some(slot) = subject {
                sandbox.release_slot(slot);
            }
            return Err(Error::Worker(format!(
                "cannot open the program's cgroup: {err}"
            )));
        }
    };
    let mut args = vec![
        "-I".into(),
        "-B".into(),
        format!("{HARNESS_MOUNT}/{}", spec.script),
    ];
    if kind == WorkerKind::Driver {
        args.push("--trusted".into());
    }
    let mut extra_fds = Vec::new();
    if let Some(files) = join {
        let numbers: Vec<String> = (3..)
            .take(files.len())
            .map(|n: i32| n.to_string())
            .collect();
        extra_fds = files.into_iter().map(OwnedFd::from).zip(3..).collect();
        args.push("--join-fds".into());
        args.push(numbers.join(","));
    }
    let self_join = !extra_fds.is_empty();
    let command = Command {
        program: spec.interpreter.clone(),
        args,
        env: [
            base_env(),
            vec![("PYTHONDONTWRITEBYTECODE".into(), "1".into())],
        ]
        .concat(),
        binds: vec![bind(&spec.harness_dir, HARNESS_MOUNT, false)],
        cwd: None,
        stdin: Stdin::Pipe,
        extra_fds,
        limits,
        as_init: true,
        address_space_limit: false,
    };
    let mut process = match sandbox.spawn(command) {
        Ok(process) => process,
        Err(err) => {
            if let Some(slot) = subject {
                sandbox.release_slot(slot);
            }
            return Err(err);
        }
    };
    let Some(requests) = process.stdin.take() else {
        process.finish(sandbox);
        if let Some(slot) = subject {
            sandbox.release_slot(slot);
        }
        return Err(Error::Worker("no request pipe".into()));
    };
    Ok(Starting {
        kind,
        process,
        requests,
        subject,
        self_join,
    })
}

impl Starting {
    /// Wait for the interpreter's `READY`: a worker that can serve.
    fn ready(self, sandbox: &Sandbox) -> Result<Zygote> {
        let Starting {
            kind,
            mut process,
            requests,
            mut subject,
            self_join,
        } = self;
        let mut ready = [0u8; 6];
        let started = read_exact(&process.stdout, &mut ready, Instant::now() + BOOT_TIMEOUT);
        let failure = if started.is_err() || &ready != b"READY\n" {
            Some(Error::Worker(format!(
                "the worker did not start: {started:?}"
            )))
        } else {
            sys::set_nonblocking(&requests).err().map(Error::spawn)
        };
        if let Some(err) = failure {
            process.finish(sandbox);
            if let Some(slot) = subject.take() {
                sandbox.release_slot(slot);
            }
            return Err(err);
        }
        Ok(Zygote {
            kind,
            process,
            requests: File::from(requests),
            reader: FrameReader::default(),
            served: 0,
            subject,
            self_join,
            end_pending: false,
            next_ready: false,
        })
    }
}

impl Zygote {
    /// Before a request: read the zygote's end of the last one (it cleaned up), and the next
    /// handler's announcement of its T, which is in the program's cgroup already (it moved
    /// itself) or goes there now, while it waits for the program.
    fn settle(&mut self) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        if self.end_pending {
            let frame = self.reader.next(&self.process.stdout, deadline)?;
            if frame.end != Some(0) {
                return Err(Error::Worker(format!(
                    "the worker's last request ended with {:?}",
                    frame.end
                )));
            }
            self.end_pending = false;
        }
        if !self.next_ready {
            let frame = self.reader.next(&self.process.stdout, deadline)?;
            let ns_pid = frame
                .ready
                .ok_or_else(|| Error::Worker("the worker sent a frame out of turn".into()))?;
            if let Some(slot) = self.subject.as_ref().filter(|_| !self.self_join) {
                let host = host_pid(self.process.pid, ns_pid).ok_or_else(|| {
                    Error::Worker(format!(
                        "cannot find the program's process ({ns_pid} in the sandbox)"
                    ))
                })?;
                slot.add(host).map_err(|e| {
                    Error::Worker(format!("cannot move the program into its cgroup: {e}"))
                })?;
            }
            self.next_ready = true;
        }
        Ok(())
    }
}

fn poisoned() -> Error {
    Error::Worker("a worker pool lock was poisoned".into())
}

/// One request (a settled worker): the limits, the frames, the reply. The flag says whether
/// the worker may serve again.
fn exchange(
    zygote: &mut Zygote,
    program: &ProgramFrame<'_>,
    tests: Option<&TestsFrame<'_>>,
    limits: &Limits,
) -> Result<(Served, bool)> {
    // The worker's own cgroup (zygote, handler, driver): an OOM kill there is the judge's.
    let worker_ooms = zygote.process.oom_kills();
    let mut cpu_base = 0;
    if let Some(slot) = zygote.subject.as_mut() {
        slot.configure(limits.memory_bytes, limits.processes)
            .map_err(|e| Error::Worker(format!("cannot set the program's cgroup: {e}")))?;
        cpu_base = slot.cpu_ns().unwrap_or(0);
    }
    let handler = HandlerFrame {
        mode: program.mode,
        cpu_ms: program.cpu_ms,
        wall_ms: program.wall_ms,
        output_bytes: program.output_bytes,
        file_size_bytes: program.file_size_bytes,
        open_files: program.open_files,
        cgroup_watch: zygote.subject.is_some(),
        tests,
    };
    let mut out = vec![b'G'];
    out.extend(frame_bytes(program)?);
    out.extend(frame_bytes(&handler)?);
    zygote.next_ready = false;
    let deadline = Instant::now() + limits.wall_time + STEP_TIMEOUT;
    let mut written = 0;
    let mut cpu_killed = false;
    let mut reply = loop {
        if written < out.len() {
            // R reads the tests only once T has read the program; the pipe holds what it holds.
            match zygote.requests.write(&out[written..]) {
                Ok(n) => written += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(Error::Worker(format!("cannot send a request: {e}"))),
            }
        }
        let wait = if written < out.len() {
            Duration::from_millis(1)
        } else {
            CPU_POLL
        };
        let frame = zygote.reader.poll(&zygote.process.stdout, wait)?;
        if let Some(slot) = &zygote.subject
            && !cpu_killed
            && Duration::from_nanos(slot.cpu_ns().unwrap_or(0).saturating_sub(cpu_base))
                > limits.cpu_time
        {
            slot.kill_all();
            cpu_killed = true;
        }
        match frame {
            None if Instant::now() > deadline => {
                return Ok((
                    Served::Failed("the worker did not reply in time".into()),
                    false,
                ));
            }
            None => {}
            Some(Frame {
                reply: Some(reply), ..
            }) => break reply,
            Some(other) => {
                return Ok((unexpected(other, zygote, worker_ooms)?, false));
            }
        }
    };
    // R killed and reaped the program's processes before it replied: the counts are final.
    zygote.end_pending = true;
    if let Some(slot) = &zygote.subject {
        let usage = slot.usage();
        reply.oom = usage.oom_kills > 0;
        reply.cpu_ms = reply
            .cpu_ms
            .max(usage.cpu_ns.saturating_sub(cpu_base) / 1_000_000);
    }
    reply.cpu_killed = cpu_killed;
    Ok((Served::Reply(reply), true))
}

/// A frame other than the one the exchange expected: the handler's end or its error.
fn unexpected(frame: Frame, zygote: &mut Zygote, worker_ooms: u64) -> Result<Served> {
    if let Some(error) = frame.error {
        // The worker is not reused after this.
        return Ok(Served::Failed(format!("the worker failed: {error}")));
    }
    if let Some(detail) = frame.lost {
        return Ok(Served::Lost {
            by_signal: true,
            detail,
        });
    }
    if let Some(status) = frame.end {
        if zygote.process.oom_kills() > worker_ooms {
            return Ok(Served::Failed(format!(
                "the worker ran out of memory (its limit is for the judge's processes; raise \
                 `python_worker_memory_bytes`); its request handler ended with status {status}"
            )));
        }
        let by_signal = libc::WIFSIGNALED(status);
        let detail = if by_signal {
            format!(
                "the judge's request handler was killed by signal {}",
                libc::WTERMSIG(status)
            )
        } else {
            format!(
                "the judge's request handler exited with status {}",
                libc::WEXITSTATUS(status)
            )
        };
        return Ok(Served::Lost { by_signal, detail });
    }
    Err(Error::Worker("the worker sent a frame out of turn".into()))
}

fn frame_bytes<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let body = serde_json::to_vec(value).map_err(|e| Error::Worker(e.to_string()))?;
    let len = u32::try_from(body.len())
        .map_err(|_| Error::Worker("a request frame is larger than 4 GiB".into()))?;
    let mut frame = len.to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Frames from the worker's reply pipe, read as they arrive.
#[derive(Debug, Default)]
struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// A complete frame, if one has arrived or arrives within `wait`.
    fn poll(&mut self, fd: &OwnedFd, wait: Duration) -> Result<Option<Frame>> {
        if let Some(frame) = self.take()? {
            return Ok(Some(frame));
        }
        let ready = sys::poll_readable(&[fd.as_raw_fd()], wait.as_millis() as i32)
            .map_err(|e| Error::Worker(format!("cannot wait for the worker: {e}")))?;
        if ready[0] {
            let mut chunk = vec![0u8; 1 << 16];
            match sys::read(fd.as_raw_fd(), &mut chunk) {
                Ok(0) => return Err(Error::Worker("the worker exited".into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => return Err(Error::Worker(format!("cannot read the reply: {e}"))),
            }
        }
        self.take()
    }

    /// The next frame, waiting until `deadline`.
    fn next(&mut self, fd: &OwnedFd, deadline: Instant) -> Result<Frame> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Worker("timed out waiting for the worker".into()));
            }
            if let Some(frame) = self.poll(fd, left.min(Duration::from_secs(1)))? {
                return Ok(frame);
            }
        }
    }

    /// A complete frame from the buffer.
    fn take(&mut self) -> Result<Option<Frame>> {
        let Some(head) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*head) as usize;
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let frame = serde_json::from_slice(&self.buf[4..4 + len])
            .map_err(|e| Error::Worker(format!("bad reply: {e}")));
        self.buf.drain(..4 + len);
        frame.map(Some)
    }
}

/// The host pid of the program's process, whose innermost pid is `ns_pid`: a grandchild of
/// the zygote (Z, R, T) or, in a [`WorkerKind::Driver`] worker, a great-grandchild (Z, D, C, T).
fn host_pid(zygote: i32, ns_pid: i32) -> Option<i32> {
    let mut level = children(zygote);
    for _ in 0..2 {
        level = level.into_iter().flat_map(children).collect();
        if let Some(pid) = level
            .iter()
            .copied()
            .find(|&p| innermost_pid(p) == Some(ns_pid))
        {
            return Some(pid);
        }
    }
    None
}

fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

fn innermost_pid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn read_exact(fd: &OwnedFd, buf: &mut [u8], deadline: Instant) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
        }
        let ready = sys::poll_readable(&[fd.as_raw_fd()], left.as_millis().min(1000) as i32 + 1)?;
        if !ready[0] {
            continue;
        }
        match sys::read(fd.as_raw_fd(), &mut buf[filled..]) {
            Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
