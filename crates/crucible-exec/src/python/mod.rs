//! Warm, sandboxed Python workers ("zygotes") and the protocol to drive them.
//!
//! A fresh interpreter per sample costs 20-90 ms of start-up; a worker starts once, inside a
//! sandbox whose PID 1 it is, and forks per request (about a millisecond). Isolation between
//! requests: one request at a time per worker, every other process in its PID namespace is
//! killed after each request, `/tmp` is wiped, and a forked child's memory changes never
//! reach the worker. Tests run in a second child (the driver) that only exchanges plain values
//! with the program's child; see `zygote.py` for the protocol.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::runner::bind;
use crate::sandbox::{Command, Process, Sandbox, Stdin, sys};
use crate::{Error, Result};

/// The worker's source, embedded in the binary and written to the cache at start.
const ZYGOTE_SOURCE: &str = include_str!("zygote.py");

/// Requests a worker serves before it is replaced (its own CPU rlimit accumulates).
const RECYCLE_AFTER: usize = 2000;

/// A pool of warm workers.
///
/// Workers are started by one long-lived thread: a sandbox dies with the thread that cloned
/// it (`PR_SET_PDEATHSIG`), and pooled workers must outlive the callers' threads.
#[derive(Debug)]
pub(crate) struct Workers {
    idle: Mutex<Vec<Zygote>>,
    live: Mutex<usize>,
    freed: Condvar,
    max: usize,
    sandbox: Arc<Sandbox>,
    spawner: Mutex<Option<Sender<Sender<Result<Zygote>>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the spawner thread needs to start a worker.
#[derive(Debug, Clone)]
struct SpawnSpec {
    interpreter: PathBuf,
    harness_dir: PathBuf,
    memory_bytes: u64,
}

#[derive(Debug)]
struct Zygote {
    process: Process,
    requests: OwnedFd,
    served: usize,
    oom_seen: u64,
}

/// One request to a worker (see `handle` in `zygote.py`).
#[derive(Debug, Serialize)]
pub(crate) struct WorkerRequest<'a> {
    pub(crate) mode: &'static str,
    pub(crate) source: &'a str,
    pub(crate) stdin: &'a str,
    pub(crate) tests: &'a str,
    pub(crate) entry_point: Option<&'a str>,
    pub(crate) cases: Vec<WorkerCase<'a>>,
    pub(crate) atol: f64,
    pub(crate) cpu_ms: u64,
    pub(crate) wall_ms: u64,
    pub(crate) memory_bytes: u64,
    pub(crate) output_bytes: u64,
    pub(crate) file_size_bytes: u64,
    pub(crate) open_files: u32,
}

/// One call-based test case.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerCase<'a> {
    pub(crate) args: &'a str,
    pub(crate) expected: &'a str,
}

/// A worker's answer. Byte strings travel as Latin-1 text.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct WorkerReply {
    #[serde(default)]
    pub(crate) stdout: String,
    #[serde(default)]
    pub(crate) stderr: String,
    #[serde(default)]
    pub(crate) wall_ms: u64,
    #[serde(default)]
    pub(crate) killed: Option<String>,
    #[serde(default)]
    pub(crate) signal: Option<i32>,
    #[serde(default)]
    pub(crate) exit_code: Option<i32>,
    #[serde(default)]
    pub(crate) cpu_ms: u64,
    #[serde(default)]
    pub(crate) peak_kb: u64,
    #[serde(default)]
    pub(crate) report: Option<String>,
    #[serde(default)]
    pub(crate) worker_error: Option<String>,
    /// Set by the executor: the worker's cgroup recorded an OOM kill during the request.
    #[serde(skip)]
    pub(crate) oom: bool,
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
            let tmp = harness_dir.join(format!("zygote.py.{}", std::process::id()));
            std::fs::write(&tmp, ZYGOTE_SOURCE).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        }
        let spec = SpawnSpec {
            interpreter,
            harness_dir,
            memory_bytes,
        };
        let (tx, rx) = channel::<Sender<Result<Zygote>>>();
        let thread_sandbox = Arc::clone(&sandbox);
        let thread = std::thread::Builder::new()
            .name("crucible-python-spawner".into())
            .spawn(move || {
                for reply in rx {
                    let _ = reply.send(spawn(&thread_sandbox, &spec));
                }
            })
            .map_err(Error::spawn)?;
        Ok(Workers {
            idle: Mutex::new(Vec::new()),
            live: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
            sandbox,
            spawner: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Run one request on a free worker (starting one if needed).
    pub(crate) fn call(&self, request: &WorkerRequest<'_>, wall: Duration) -> Result<WorkerReply> {
        let mut zygote = self.acquire()?;
        let res = exchange(&mut zygote, request, wall + Duration::from_secs(10));
        match res {
            Ok(mut reply) => {
                let oom = zygote.process.oom_kills();
                reply.oom = oom > zygote.oom_seen;
                zygote.oom_seen = oom;
                zygote.served += 1;
                self.release(zygote);
                Ok(reply)
            }
            Err(err) => {
                // A worker that misbehaved is not reused.
                self.retire(zygote);
                Err(err)
            }
        }
    }

    fn acquire(&self) -> Result<Zygote> {
        let mut live = self.live.lock().map_err(|_| poisoned())?;
        loop {
            let idle = self.idle.lock().map_err(|_| poisoned())?.pop();
            if let Some(mut z) = idle {
                if z.process.is_alive() {
                    return Ok(z);
                }
                // Its spawning thread ended (PDEATHSIG) or it crashed: replace it.
                z.process.finish(&self.sandbox);
                *live -= 1;
                continue;
            }
            if *live < self.max {
                *live += 1;
                drop(live);
                return self.spawn().inspect_err(|_| {
                    if let Ok(mut live) = self.live.lock() {
                        *live -= 1;
                    }
                });
            }
            live = self.freed.wait(live).map_err(|_| poisoned())?;
        }
    }

    fn release(&self, zygote: Zygote) {
        if zygote.served >= RECYCLE_AFTER {
            self.retire(zygote);
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(zygote);
        }
        self.freed.notify_one();
    }

    fn retire(&self, mut zygote: Zygote) {
        zygote.process.finish(&self.sandbox);
        if let Ok(mut live) = self.live.lock() {
            *live -= 1;
        }
        self.freed.notify_one();
    }

    fn spawn(&self) -> Result<Zygote> {
        let (tx, rx) = channel();
        let spawner = self.spawner.lock().map_err(|_| poisoned())?;
        spawner
            .as_ref()
            .ok_or_else(|| Error::Worker("the worker pool is shut down".into()))?
            .send(tx)
            .map_err(|_| Error::Worker("the worker spawner stopped".into()))?;
        drop(spawner);
        rx.recv()
            .map_err(|_| Error::Worker("the worker spawner stopped".into()))?
    }

    /// Stop all idle workers and the spawner thread.
    pub(crate) fn shutdown(&self) {
        let drained: Vec<Zygote> = match self.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => return,
        };
        for zygote in drained {
            self.retire(zygote);
        }
        if let Ok(mut spawner) = self.spawner.lock() {
            spawner.take();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

fn spawn(sandbox: &Sandbox, spec: &SpawnSpec) -> Result<Zygote> {
    {
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
        let command = Command {
            program: spec.interpreter.clone(),
            args: vec!["-I".into(), "-B".into(), "/opt/crucible/zygote.py".into()],
            env: vec![
                ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
                ("HOME".into(), "/tmp".into()),
                ("TMPDIR".into(), "/tmp".into()),
                ("LANG".into(), "C.UTF-8".into()),
                ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            ],
            binds: vec![bind(&spec.harness_dir, "/opt/crucible", false)],
            cwd: None,
            stdin: Stdin::Pipe,
            extra_fds: vec![],
            limits,
            as_init: true,
            address_space_limit: false,
        };
        let mut process = sandbox.spawn(command)?;
        let requests = process
            .stdin
            .take()
            .ok_or_else(|| Error::Worker("no request pipe".into()))?;
        let mut ready = [0u8; 6];
        let deadline = Instant::now() + Duration::from_secs(20);
        let started = read_exact(&process.stdout, &mut ready, deadline);
        if started.is_err() || &ready != b"READY\n" {
            process.finish(sandbox);
            return Err(Error::Worker(format!(
                "the worker did not start: {started:?}"
            )));
        }
        let oom_seen = process.oom_kills();
        Ok(Zygote {
            process,
            requests,
            served: 0,
            oom_seen,
        })
    }
}

fn poisoned() -> Error {
    Error::Worker("a worker pool lock was poisoned".into())
}

fn exchange(
    zygote: &mut Zygote,
    request: &WorkerRequest<'_>,
    timeout: Duration,
) -> Result<WorkerReply> {
    let body = serde_json::to_vec(request).map_err(|e| Error::Worker(e.to_string()))?;
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    sys::write_all(zygote.requests.as_raw_fd(), &frame)
        .map_err(|e| Error::Worker(format!("cannot send a request: {e}")))?;
    let deadline = Instant::now() + timeout;
    let mut len = [0u8; 4];
    read_exact(&zygote.process.stdout, &mut len, deadline)
        .map_err(|e| Error::Worker(format!("no reply: {e}")))?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    read_exact(&zygote.process.stdout, &mut body, deadline)
        .map_err(|e| Error::Worker(format!("truncated reply: {e}")))?;
    let reply: WorkerReply =
        serde_json::from_slice(&body).map_err(|e| Error::Worker(format!("bad reply: {e}")))?;
    if let Some(err) = &reply.worker_error {
        return Err(Error::Worker(err.clone()));
    }
    Ok(reply)
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
