//! The same verdict every time: each behaviour (loops, sleeps, busy child processes, exit
//! statuses, signals, running out of memory) runs many times in every compiled language and
//! JavaScript, as a plain stdin/stdout program and with appended tests, through
//! `Executor::run`. A case's program is compiled once (the compile cache), so repeats cost only
//! the run. Every repeat must give the same status, and a runtime error the same exit code or
//! signal.

use std::collections::BTreeSet;

use super::*;

/// Exit statuses tried with appended tests (each one is a program to compile): 0, ordinary
/// failures, the shell's 126 and 127, and statuses a signal's would look like (128 + 6, 9, 15)
/// with the largest; stdin/stdout programs read theirs and try all of 0 to 255.
const APPENDED_EXITS: &[i32] = &[0, 1, 42, 126, 127, 134, 137, 143, 255];

/// How a language wraps a behaviour: a function `act` returning an integer whose body is the
/// behaviour, a `main` that exits with what it returns (stdin/stdout mode), and appended tests
/// that check `act() == 0`.
struct Lang {
    language: Language,
    /// Includes and imports every body may use.
    prelude: &'static str,
    /// The function, with `{body}` in place of its body.
    act: &'static str,
    /// What follows in a plain program (its `main`).
    main: &'static str,
    /// Appended test code.
    tests: &'static str,
    /// CPU time a run may take (the JVM and node need more to start).
    cpu_seconds: f64,
    looping: &'static str,
    sleeping: &'static str,
    children: &'static str,
    /// Reads a status from stdin and exits with it.
    exit_stdin: &'static str,
    /// Exits with `{code}`.
    exit_code: &'static str,
    /// `(name, body)`: the program raises or causes a signal.
    signals: &'static [(&'static str, &'static str)],
    oom: &'static str,
    /// Memory limit of the out-of-memory case.
    oom_memory_mb: u64,
}

const C_SIGNALS: &[(&str, &str)] = &[
    (
        "SIGSEGV (null store)",
        "volatile int *volatile p = NULL; *p = 1; return 0;",
    ),
    (
        "SIGFPE (division)",
        "volatile int seven = 7, zero = 0; return seven / zero;",
    ),
    ("SIGABRT (abort)", "abort();"),
    ("SIGKILL", "raise(SIGKILL); return 0;"),
    ("SIGTERM", "raise(SIGTERM); return 0;"),
    ("SIGBUS", "raise(SIGBUS); return 0;"),
];

const C_LOOP: &str = "volatile unsigned long n = 0; for (;;) n++;";
const C_SLEEP: &str = "sleep(1000); return 0;";
const C_CHILDREN: &str = "for (int i = 0; i < 2; i++) if (fork() == 0) { volatile unsigned long n = 0; for (;;) n++; } \
                          while (wait(NULL) > 0) {} return 0;";
const C_EXIT_STDIN: &str = "int code = 0; if (scanf(\"%d\", &code) != 1) return 99; exit(code);";
const C_EXIT: &str = "exit({code});";
const C_TESTS: &str = "int main() {\n    assert(act() == 0);\n}\n";

const C: Lang = Lang {
    language: Language::C,
    prelude: "#include <signal.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\
              #include <sys/wait.h>\n#include <unistd.h>\n",
    act: "int act(void) {\n    {body}\n}\n",
    main: "int main(void) { return act(); }\n",
    tests: C_TESTS,
    cpu_seconds: 0.1,
    looping: C_LOOP,
    sleeping: C_SLEEP,
    children: C_CHILDREN,
    exit_stdin: C_EXIT_STDIN,
    exit_code: C_EXIT,
    signals: C_SIGNALS,
    oom: "for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); }",
    oom_memory_mb: 64,
};

const CPP: Lang = Lang {
    language: Language::Cpp,
    prelude: "#include <csignal>\n#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n\
              #include <vector>\n#include <sys/wait.h>\n#include <unistd.h>\n",
    act: "int act() {\n    {body}\n}\n",
    main: "int main() { return act(); }\n",
    tests: C_TESTS,
    cpu_seconds: 0.1,
    looping: C_LOOP,
    sleeping: C_SLEEP,
    children: C_CHILDREN,
    exit_stdin: C_EXIT_STDIN,
    exit_code: C_EXIT,
    signals: C_SIGNALS,
    oom: "std::vector<char *> v; for (;;) { char *p = new char[1 << 20]; std::memset(p, 1, 1 << 20); v.push_back(p); }",
    oom_memory_mb: 64,
};

const RUST: Lang = Lang {
    language: Language::Rust,
    prelude: "use std::io::Read;\nextern \"C\" {\n    fn raise(sig: i32) -> i32;\n}\n",
    act: "fn act() -> i32 {\n    {body}\n}\n",
    main: "fn main() {\n    std::process::exit(act());\n}\n",
    tests: "fn main() {\n    assert_eq!(act(), 0);\n}\n",
    cpu_seconds: 0.1,
    looping: "let mut n: u64 = 0; loop { n = std::hint::black_box(n.wrapping_add(1)); }",
    sleeping: "std::thread::sleep(std::time::Duration::from_secs(1000)); 0",
    children: "let mut kids: Vec<_> = (0..2).map(|_| std::process::Command::new(\"/bin/sh\")\
               .args([\"-c\", \"while :; do :; done\"]).spawn().unwrap()).collect(); \
               for k in &mut kids { k.wait().unwrap(); } 0",
    exit_stdin: "let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); \
                 std::process::exit(s.trim().parse().unwrap())",
    exit_code: "std::process::exit({code})",
    // Rust's runtime handles SIGSEGV and SIGBUS (stack overflow detection): a raised one is
    // swallowed, a real fault still kills.
    signals: &[
        (
            "SIGSEGV (null store)",
            "unsafe { std::ptr::null_mut::<i32>().write_volatile(1) } 0",
        ),
        ("SIGFPE", "unsafe { raise(8); } 0"),
        ("SIGABRT (abort)", "std::process::abort()"),
        ("SIGKILL", "unsafe { raise(9); } 0"),
        ("SIGTERM", "unsafe { raise(15); } 0"),
        ("panic", "panic!(\"boom\")"),
    ],
    oom: "let mut v = Vec::new(); loop { v.push(vec![1u8; 1 << 20]); }",
    oom_memory_mb: 64,
};

/// Java cannot raise a signal itself: it runs `kill` on its own process.
macro_rules! java_kill {
    ($sig:literal) => {
        concat!(
            "new ProcessBuilder(\"kill\", \"-",
            $sig,
            "\", String.valueOf(ProcessHandle.current().pid())).start().waitFor(); \
             Thread.sleep(20000); return 0;"
        )
    };
}

const JAVA: Lang = Lang {
    language: Language::Java,
    prelude: "import java.util.*;\nimport java.io.*;\n",
    act: "class Solution {\n    int act() throws Exception {\n        {body}\n    }\n}\n",
    main: "public class Main {\n    public static void main(String[] args) throws Exception {\n        \
           System.exit(new Solution().act());\n    }\n}\n",
    tests: "public class Main {\n    public static void main(String[] args) throws Exception {\n        \
            if (new Solution().act() != 0) throw new AssertionError();\n    }\n}\n",
    cpu_seconds: 0.3,
    looping: "long n = 0; while (true) { n++; }",
    sleeping: "Thread.sleep(1000000); return 0;",
    children: "Process a = new ProcessBuilder(\"/bin/sh\", \"-c\", \"while :; do :; done\").start(); \
               Process b = new ProcessBuilder(\"/bin/sh\", \"-c\", \"while :; do :; done\").start(); \
               a.waitFor(); b.waitFor(); return 0;",
    exit_stdin: "System.exit(new Scanner(System.in).nextInt()); return 0;",
    exit_code: "System.exit({code}); return 0;",
    signals: &[
        ("SIGTERM", java_kill!("TERM")),
        ("SIGKILL", java_kill!("KILL")),
        ("SIGSEGV", java_kill!("SEGV")),
        (
            "uncaught exception",
            "throw new RuntimeException(\"boom\");",
        ),
    ],
    oom: "List<long[]> l = new ArrayList<>(); while (true) l.add(new long[1 << 16]);",
    oom_memory_mb: 128,
};

/// `process.kill` on itself, then a blocking wait for the signal.
macro_rules! js_kill {
    ($sig:literal) => {
        concat!(
            "process.kill(process.pid, '",
            $sig,
            "'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000); return 0;"
        )
    };
}

const JAVASCRIPT: Lang = Lang {
    language: Language::JavaScript,
    prelude: "const fs = require('fs');\nconst cp = require('child_process');\n",
    act: "function act() {\n  {body}\n}\n",
    main: "act();\n",
    tests: "const assert = require('assert');\nassert.deepEqual(act(), 0);\n",
    cpu_seconds: 0.3,
    looping: "for (;;) {}",
    sleeping: "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1e9); return 0;",
    children: "cp.spawnSync('/bin/sh', ['-c', 'while :; do :; done & while :; do :; done & wait']); return 0;",
    exit_stdin: "process.exit(parseInt(fs.readFileSync(0, 'utf8')));",
    exit_code: "process.exit({code});",
    signals: &[
        ("SIGTERM", js_kill!("SIGTERM")),
        ("SIGKILL", js_kill!("SIGKILL")),
        ("SIGSEGV", js_kill!("SIGSEGV")),
        ("SIGBUS", js_kill!("SIGBUS")),
        ("SIGABRT (abort)", "process.abort();"),
        ("uncaught exception", "throw new Error('boom');"),
    ],
    oom: "const a = []; for (;;) a.push(new Array(100000).fill(1.5));",
    oom_memory_mb: 128,
};

/// `syscall.Kill` on itself, then a wait for the signal.
macro_rules! go_kill {
    ($sig:literal) => {
        concat!(
            "syscall.Kill(syscall.Getpid(), syscall.",
            $sig,
            ")\n\ttime.Sleep(20 * time.Second)\n\treturn 0"
        )
    };
}

const GO: Lang = Lang {
    language: Language::Go,
    prelude: "import (\n\t\"fmt\"\n\t\"os\"\n\t\"os/exec\"\n\t\"syscall\"\n\t\"time\"\n)\n\n\
              var _ = fmt.Sprint\nvar _ = os.Exit\nvar _ = exec.Command\nvar _ = syscall.Kill\nvar _ = time.Sleep\n\n",
    act: "func Act() int {\n\t{body}\n}\n",
    main: "func main() {\n\tos.Exit(Act())\n}\n",
    tests: "func TestAct(t *testing.T) {\n    assert := assert.New(t)\n    assert.Equal(0, Act())\n}\n",
    cpu_seconds: 0.1,
    looping: "for {\n\t}",
    sleeping: "time.Sleep(1000 * time.Second)\n\treturn 0",
    children: "exec.Command(\"/bin/sh\", \"-c\", \"while :; do :; done & while :; do :; done & wait\").Run()\n\treturn 0",
    exit_stdin: "var code int\n\tfmt.Scan(&code)\n\tos.Exit(code)\n\treturn 0",
    exit_code: "os.Exit({code})\n\treturn 0",
    signals: &[
        ("SIGTERM", go_kill!("SIGTERM")),
        ("SIGKILL", go_kill!("SIGKILL")),
        ("SIGSEGV", go_kill!("SIGSEGV")),
        ("SIGABRT", go_kill!("SIGABRT")),
        ("nil dereference", "var p *int\n\treturn *p"),
    ],
    oom: "var l [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tl = append(l, b)\n\t}",
    oom_memory_mb: 64,
};

/// Which test mode a case runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A plain program; a clean exit passes.
    Plain,
    /// The program with appended tests (`act() == 0`).
    Appended,
}

impl Lang {
    fn request(&self, mode: Mode, body: &str) -> ExecRequest {
        let act = self.act.replace("{body}", body);
        let (source, tests) = match mode {
            Mode::Plain => {
                let package = if self.language == Language::Go {
                    "package main\n\n"
                } else {
                    ""
                };
                let source = format!("{package}{}{act}{}", self.prelude, self.main);
                (source, TestSuite::None)
            }
            Mode::Appended => {
                let source = format!("{}{act}", self.prelude);
                let tests = TestSuite::Code {
                    code: self.tests.to_owned(),
                };
                (source, tests)
            }
        };
        let mut req = request(self.language, source, tests);
        req.limits = limits(self.cpu_seconds, 256);
        // Programs that end by themselves get a wall clock no load can exhaust, so a busy
        // machine never turns their verdict into a timeout.
        req.limits.wall_time = Duration::from_secs(120);
        req
    }
}

/// A run's verdict in the terms that must not change between repeats.
type Verdict = (Status, Option<i32>, Option<i32>);

fn verdict(report: &ExecReport) -> Verdict {
    let failure = report.failure.as_ref();
    (
        report.status,
        failure.and_then(|f| f.exit_code),
        failure.and_then(|f| f.signal),
    )
}

/// Run `req` `runs` times (on `threads` threads, for cases that mostly wait) and require one
/// verdict, with `expected` status, every time; returns that verdict.
fn repeat(
    exec: &Executor,
    what: &str,
    req: &ExecRequest,
    runs: usize,
    threads: usize,
    expected: Status,
) -> Verdict {
    let seen = std::sync::Mutex::new(BTreeSet::new());
    let example = std::sync::Mutex::new(None);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < runs {
                    let report = exec
                        .run(req)
                        .unwrap_or_else(|e| panic!("{what}: the run failed: {e:#}"));
                    let v = verdict(&report);
                    let mut seen = seen.lock().unwrap();
                    if seen.insert(v) && seen.len() > 1 {
                        panic!("{what}: verdicts differ: {seen:?}; this run: {report:#?}");
                    }
                    example.lock().unwrap().get_or_insert(report);
                }
            });
        }
    });
    let seen = seen.into_inner().unwrap();
    let report = example.into_inner().unwrap().unwrap();
    let only = *seen.iter().next().unwrap();
    assert_eq!(only.0, expected, "{what}: {report:#?}");
    only
}

/// Every case of one language in one mode.
fn check_language(lang: &Lang, mode: Mode) {
    let exec = executor();
    let name = |case: &str| format!("{:?} {mode:?} {case}", lang.language);
    // Limits end these: a timeout every time, never a crash.
    let req = lang.request(mode, lang.looping);
    repeat(exec, &name("loop"), &req, stress_runs(), 2, Status::Timeout);
    let mut req = lang.request(mode, lang.sleeping);
    req.limits.wall_time = Duration::from_secs_f64(lang.cpu_seconds * 2.0);
    repeat(
        exec,
        &name("sleep"),
        &req,
        stress_runs(),
        8,
        Status::Timeout,
    );
    let req = lang.request(mode, lang.children);
    repeat(
        exec,
        &name("children"),
        &req,
        stress_runs(),
        2,
        Status::Timeout,
    );
    // The program's own signals: a runtime error with the same signal or status every time.
    for (signal, body) in lang.signals {
        let req = lang.request(mode, body);
        let v = repeat(
            exec,
            &name(signal),
            &req,
            stress_runs(),
            2,
            Status::RuntimeError,
        );
        if mode == Mode::Plain {
            assert!(v.1.is_some() || v.2.is_some(), "{}: {v:?}", name(signal));
        }
    }
    // Memory: the OOM killer's or the runtime's evidence, every time.
    let mut req = lang.request(mode, lang.oom);
    req.limits.memory_bytes = lang.oom_memory_mb << 20;
    req.limits.cpu_time = Duration::from_secs(10);
    repeat(
        exec,
        &name("out of memory"),
        &req,
        stress_runs(),
        2,
        Status::MemoryLimit,
    );
    check_exits(lang, mode);
}

/// The program's own exit status: `runtime_error` with that status (`passed` for 0 without
/// tests; with tests, exiting before they finish is a failure, 0 included).
fn check_exits(lang: &Lang, mode: Mode) {
    let exec = executor();
    let expect = |code: i32| match (mode, code) {
        (Mode::Plain, 0) => Status::Passed,
        _ => Status::RuntimeError,
    };
    let check = |code: i32, report: &ExecReport| {
        let what = format!("{:?} {mode:?} exit {code}", lang.language);
        assert_eq!(report.status, expect(code), "{what}: {report:#?}");
        let failure = report.failure.as_ref();
        if code != 0 {
            assert_eq!(
                failure.and_then(|f| f.exit_code),
                Some(code),
                "{what}: {report:#?}"
            );
        }
        let message = failure.map(|f| f.message.as_str()).unwrap_or("");
        assert!(!message.contains("memory"), "{what}: {report:#?}");
    };
    match mode {
        Mode::Plain => {
            let mut req = lang.request(mode, lang.exit_stdin);
            for code in 0..=255 {
                req.stdin = Some(format!("{code}\n"));
                check(code, &run_on(exec, &req));
            }
            for code in [1, 137] {
                req.stdin = Some(format!("{code}\n"));
                let what = format!("{:?} {mode:?} exit {code}", lang.language);
                repeat(exec, &what, &req, stress_runs(), 2, expect(code));
            }
        }
        Mode::Appended => {
            for &code in APPENDED_EXITS {
                let body = lang.exit_code.replace("{code}", &code.to_string());
                let req = lang.request(mode, &body);
                let runs = if matches!(code, 1 | 137) {
                    stress_runs()
                } else {
                    1
                };
                let what = format!("{:?} {mode:?} exit {code}", lang.language);
                repeat(exec, &what, &req, runs, 2, expect(code));
                check(code, &run_on(exec, &req));
            }
        }
    }
}

fn run_on(exec: &Executor, req: &ExecRequest) -> ExecReport {
    exec.run(req)
        .unwrap_or_else(|e| panic!("run failed: {e:#}"))
}

#[test]
fn c_plain() {
    check_language(&C, Mode::Plain);
}

#[test]
fn c_appended() {
    check_language(&C, Mode::Appended);
}

#[test]
fn cpp_plain() {
    check_language(&CPP, Mode::Plain);
}

#[test]
fn cpp_appended() {
    check_language(&CPP, Mode::Appended);
}

#[test]
fn rust_plain() {
    check_language(&RUST, Mode::Plain);
}

#[test]
fn rust_appended() {
    check_language(&RUST, Mode::Appended);
}

#[test]
fn java_plain() {
    check_language(&JAVA, Mode::Plain);
}

#[test]
fn java_appended() {
    check_language(&JAVA, Mode::Appended);
}

#[test]
fn javascript_plain() {
    check_language(&JAVASCRIPT, Mode::Plain);
}

#[test]
fn javascript_appended() {
    check_language(&JAVASCRIPT, Mode::Appended);
}

#[test]
fn go_plain() {
    check_language(&GO, Mode::Plain);
}

#[test]
fn go_appended() {
    check_language(&GO, Mode::Appended);
}

/// Without cgroups (`RLIMIT_CPU` per process, CPU time summed from /proc): a loop and busy
/// children still time out on CPU time every time.
#[test]
fn timeouts_without_cgroups() {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    let exec = EXECUTOR.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-cache-no-cgroups");
        let mut config = ExecConfig::new(&cache);
        config.use_cgroups = false;
        config.python_workers = 1;
        Executor::new(&config).expect("the sandbox works on this machine")
    });
    assert!(!exec.isolation_description().contains("cgroup"));
    for (what, body) in [("loop", C.looping), ("children", C.children)] {
        let mut req = C.request(Mode::Plain, body);
        // RLIMIT_NPROC, the fallback, counts every process of the sandbox user on the host.
        req.limits.processes = 4096;
        let what = format!("C without cgroups: {what}");
        repeat(exec, &what, &req, stress_runs(), 2, Status::Timeout);
        let report = run_on(exec, &req);
        let message = report.failure.map(|f| f.message).unwrap_or_default();
        assert!(message.contains("of CPU time"), "{what}: {message}");
    }
}
