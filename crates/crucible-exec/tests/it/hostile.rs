//! The hostile-program suite: each program gets its expected verdict, and afterwards the host
//! must be clean (no stray sandboxed processes, no files left behind, still responsive).

use std::net::TcpListener;
use std::sync::Mutex;

use super::*;

/// Hostile programs run one at a time so the host checks see only their own leftovers.
static SERIAL: Mutex<()> = Mutex::new(());

/// Processes whose name a hostile program set (`prctl(PR_SET_NAME)`), or that run as the
/// sandbox user and are not a Python worker.
fn stray_processes() -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.starts_with("hostile") {
            found.push(format!("{name} {}", comm.trim()));
        }
    }
    found
}

/// After a hostile run: nothing of it may remain, and the machine must still do work.
fn check_host() {
    // A killed namespace takes a moment to be reaped by the kernel.
    let mut strays = stray_processes();
    for _ in 0..100 {
        if strays.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        strays = stray_processes();
    }
    assert!(strays.is_empty(), "stray processes: {strays:?}");
    let marker = Path::new("/root/crucible-hostile-marker");
    assert!(
        !marker.exists(),
        "a sandboxed program wrote {}",
        marker.display()
    );
    assert!(!Path::new("/crucible-hostile-marker").exists());
    // The program's /tmp was a private tmpfs; nothing of it reaches the host's.
    assert!(!Path::new("/tmp/crucible-hostile-marker").exists());
    assert!(!Path::new("/tmp/fill").exists());
    assert!(!Path::new("/tmp/daemon-was-here").exists());
    let report = run(&request(
        Language::Python,
        "print('still here')\n".into(),
        io("", "still here\n"),
    ));
    assert_status(&report, Status::Passed);
}

fn hostile(language: Language, name: &str, tests: TestSuite, limits: Limits) -> ExecReport {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ext = match language {
        Language::Cpp => "cpp",
        other => other.extension(),
    };
    let mut req = request(
        language,
        fixture("hostile", &format!("{name}.{ext}")),
        tests,
    );
    req.limits = limits;
    let report = run(&req);
    check_host();
    report
}

fn quick() -> Limits {
    let mut l = limits(1.0, 256);
    l.wall_time = Duration::from_secs(3);
    l
}

#[test]
fn infinite_loop_times_out() {
    let r = hostile(Language::C, "infinite_loop", TestSuite::None, quick());
    assert_status(&r, Status::Timeout);
}

#[test]
fn busy_threads_time_out_on_cpu_time() {
    // A wall clock no load can exhaust first: on a busy machine eight threads may get less
    // than a CPU between them, and the point is that CPU time ends the run.
    let mut limits = quick();
    limits.wall_time = Duration::from_secs(60);
    let r = hostile(Language::Cpp, "busy_threads", TestSuite::None, limits);
    assert_status(&r, Status::Timeout);
    // Eight spinning threads: CPU time, not wall time, ended the run.
    let message = r.failure.unwrap().message;
    assert!(message.contains("CPU time"), "{message}");
}

#[test]
fn sleeping_past_the_wall_limit_times_out() {
    let r = hostile(Language::Python, "sleep", TestSuite::None, quick());
    assert_status(&r, Status::Timeout);
}

#[test]
fn fork_bomb_is_contained() {
    let r = hostile(Language::C, "fork_bomb", TestSuite::None, quick());
    assert_status(&r, Status::Timeout);
}

#[test]
fn huge_allocation_hits_the_memory_limit() {
    let c = hostile(Language::C, "big_alloc", TestSuite::None, quick());
    assert_status(&c, Status::MemoryLimit);
    let py = hostile(Language::Python, "big_alloc", TestSuite::None, quick());
    assert_status(&py, Status::MemoryLimit);
}

#[test]
fn flooding_stdout_hits_the_output_limit() {
    let r = hostile(Language::C, "flood_stdout", TestSuite::None, quick());
    assert_status(&r, Status::OutputLimit);
}

#[test]
fn writes_outside_the_work_dir_fail() {
    let r = hostile(
        Language::Python,
        "write_outside",
        io("", "written: none\n"),
        quick(),
    );
    assert_status(&r, Status::Passed);
}

#[test]
fn blocking_on_stdin_gets_end_of_file() {
    let r = hostile(Language::Python, "block_stdin", TestSuite::None, quick());
    assert_status(&r, Status::RuntimeError);
    assert!(r.failure.unwrap().stderr_tail.unwrap().contains("EOFError"));
}

#[test]
fn closing_stdio_does_not_hang() {
    let r = hostile(Language::C, "close_stdio", TestSuite::None, quick());
    assert_status(&r, Status::Passed);
}

#[test]
fn files_outside_are_invisible() {
    let r = hostile(
        Language::Python,
        "read_outside",
        io("", "leaks: none\n"),
        quick(),
    );
    assert_status(&r, Status::Passed);
}

#[test]
fn compilers_cannot_read_host_files() {
    let c = hostile(Language::C, "include_shadow", TestSuite::None, quick());
    assert_status(&c, Status::CompileError);
    let diagnostics = c.failure.unwrap().diagnostics.unwrap();
    assert!(diagnostics.contains("No such file"), "{diagnostics}");
    assert!(!diagnostics.contains("root:"), "{diagnostics}");
    let rust = hostile(Language::Rust, "include_str", TestSuite::None, quick());
    assert_status(&rust, Status::CompileError);
    assert!(!rust.failure.unwrap().diagnostics.unwrap().contains("root:"));
}

#[test]
fn the_network_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let r = hostile(
        Language::Python,
        "sockets",
        io(&port, "network: isolated\n"),
        quick(),
    );
    assert_status(&r, Status::Passed);
}

#[test]
fn signals_cannot_reach_the_host() {
    #[allow(
        clippy::disallowed_methods,
        reason = "a host process the sandbox must not reach"
    )]
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let r = hostile(Language::C, "signals", io("", "alive\n"), quick());
    assert_status(&r, Status::Passed);
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "the host process was killed"
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn daemons_die_with_the_run() {
    // `hostile` checks, before the next hostile test may start, that the daemon is gone.
    let r = hostile(Language::C, "daemon", io("", "parent done\n"), quick());
    assert_status(&r, Status::Passed);
}

#[test]
fn deep_recursion_is_a_runtime_error() {
    // Growing the stack to the memory limit is page faults: on a busy machine it can outlast
    // a short wall clock, which must not turn the verdict into a timeout.
    let mut limits = quick();
    limits.wall_time = Duration::from_secs(60);
    let c = hostile(Language::C, "deep_recursion", TestSuite::None, limits);
    assert!(
        matches!(c.status, Status::RuntimeError | Status::MemoryLimit),
        "{c:#?}"
    );
    // Python 3.11 keeps Python-to-Python calls off the C stack: unbounded recursion grows
    // the heap until the memory or the CPU limit ends it.
    let py = hostile(Language::Python, "deep_recursion", TestSuite::None, quick());
    assert!(
        matches!(
            py.status,
            Status::RuntimeError | Status::MemoryLimit | Status::Timeout
        ),
        "{py:#?}"
    );
}

#[test]
fn filling_tmp_stops_at_its_size() {
    let r = hostile(Language::Python, "fill_tmp", TestSuite::None, quick());
    assert!(
        matches!(r.status, Status::RuntimeError | Status::OutputLimit),
        "{r:#?}"
    );
}
