//! Python requests whose tests the judge trusts (`ExecRequest::trusted_tests`): one long-lived
//! driver process per worker runs the tests of request after request, and only the program's
//! process is forked per request. The hunters of `secrets_python` are judged wrong there too;
//! a program cannot signal, trace, read or inherit anything of the driver; test code that
//! raises, hangs or crashes the driver gets a failed verdict, and the next request a fresh
//! driver; a module the program made the driver import does not outlive its request.

use super::secrets_python::{
    ADD_CASES, MODES, Mode, add_request, hidden_request, one_worker_executor, peeker_request,
    scanner_request, secret,
};
use super::*;

fn trusted(mut req: ExecRequest) -> ExecRequest {
    req.trusted_tests = true;
    req
}

/// A trusted request for `add` (given as `source`) with bare-assert test code `tests`.
fn add_with_tests(source: &str, tests: &str) -> ExecRequest {
    let mut req = request(
        Language::Python,
        source.into(),
        TestSuite::Code { code: tests.into() },
    );
    req.entry_point = Some("add".into());
    req.limits = limits(1.0, 256);
    trusted(req)
}

const ADD: &str = "def add(a, b):\n    return a + b\n";

/// The left side of the first failed `assert left == right` in the report.
fn left_side(report: &ExecReport) -> String {
    let detail = report
        .tests
        .iter()
        .find_map(|t| t.detail.clone())
        .unwrap_or_else(|| panic!("no failed assert: {report:#?}"));
    detail
        .lines()
        .find_map(|l| l.trim().strip_prefix("left:"))
        .unwrap_or_else(|| panic!("no left side: {detail}"))
        .trim()
        .to_owned()
}

/// The pid of the process that runs the tests, as its own test reports it.
fn test_process(executor: &Executor, trusted_tests: bool) -> String {
    let mut req = add_with_tests(ADD, "import os\nassert os.getpid() == -1\n");
    req.trusted_tests = trusted_tests;
    let report = executor.run(&req).expect("runs");
    assert_status(&report, Status::WrongAnswer);
    left_side(&report)
}

/// A request that must pass on a worker that has just served `executor`'s last request.
#[track_caller]
fn next_request_passes(executor: &Executor) {
    let report = executor
        .run(&add_with_tests(
            ADD,
            "import os\n\
             assert add(2, 3) == 5\n\
             assert len(os.listdir('/proc/self/task')) == 2\n",
        ))
        .expect("runs");
    assert_status(&report, Status::Passed);
}

#[test]
fn trusted_tests_share_a_driver_and_model_tests_get_a_handler_each() {
    let executor = one_worker_executor();
    let first = test_process(&executor, true);
    let second = test_process(&executor, true);
    assert_eq!(first, second, "one long-lived driver runs trusted tests");
    let third = test_process(&executor, false);
    let fourth = test_process(&executor, false);
    assert_ne!(
        third, fourth,
        "each request with untrusted tests gets a fresh handler"
    );
}

#[test]
fn hunters_find_nothing_in_a_long_lived_driver() {
    let mut found = Vec::new();
    // The frames and gc hunter, in the current request.
    let frames = fixture("hostile", "answers_from_frames.py");
    for mode in MODES {
        let report = run(&trusted(add_request(&frames, mode)));
        let all_wrong = report.status == Status::WrongAnswer
            && report.tests.len() == ADD_CASES.len()
            && report.tests.iter().all(|t| t.status == Status::WrongAnswer);
        if !all_wrong {
            found.push(format!("frames, {mode:?}: {report:#?}"));
        }
    }
    // The heap scanner, after hidden requests on the same worker (so the same driver).
    let executor = one_worker_executor();
    for hidden_mode in [Mode::Calls, Mode::Check, Mode::Bare] {
        let secret = secret();
        let hidden = executor
            .run(&trusted(hidden_request(&secret, hidden_mode)))
            .expect("the hidden request runs");
        assert_status(&hidden, Status::WrongAnswer);
        for mode in MODES {
            let report = executor
                .run(&trusted(scanner_request(&secret, mode)))
                .expect("the scanner runs");
            if report.status != Status::WrongAnswer {
                found.push(format!(
                    "scanner, hidden tests in {hidden_mode:?}, scanner in {mode:?}: {:?} {:?}",
                    report.status, report.failure
                ));
            }
        }
    }
    // The /proc and process_vm_readv peeker, while the driver holds the secret.
    for mode in MODES {
        let secret = secret();
        let report = run(&trusted(peeker_request(&secret, mode)));
        let failure = format!("{:?}", report.failure);
        if report.status != Status::WrongAnswer || !failure.contains("nothing found") {
            found.push(format!("peeker, {mode:?}: {report:#?}"));
        }
    }
    assert!(
        found.is_empty(),
        "a hunter was not judged wrong:\n{}",
        found.join("\n")
    );
}

/// `add` that is right only when the program reached nothing outside itself: every other
/// process gets every signal the judge's processes ignore, then `PTRACE_ATTACH`, an open of
/// `/proc/<pid>/mem` and a listing of `/proc/<pid>/fd`; and it holds no descriptor beyond
/// stdin, stdout, stderr and its channel. `prelude` runs first.
fn reacher(prelude: &str) -> String {
    format!(
        "import ctypes, os, signal\n\
         {prelude}\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         found = []\n\
         for name in os.listdir('/proc'):\n    \
             if not name.isdigit() or int(name) == os.getpid():\n        \
                 continue\n    \
             pid = int(name)\n    \
             for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,\n                \
                         signal.SIGUSR2, signal.SIGQUIT, signal.SIGALRM, signal.SIGPIPE):\n        \
                 try:\n            \
                     os.kill(pid, sig)\n        \
                 except OSError:\n            \
                     pass\n    \
             if libc.ptrace(16, pid, 0, 0) == 0:\n        \
                 found.append('ptrace %d' % pid)\n    \
             try:\n        \
                 os.close(os.open('/proc/%d/mem' % pid, os.O_RDONLY))\n        \
                 found.append('mem %d' % pid)\n    \
             except OSError:\n        \
                 pass\n    \
             try:\n        \
                 os.listdir('/proc/%d/fd' % pid)\n        \
                 found.append('fd %d' % pid)\n    \
             except OSError:\n        \
                 pass\n\
         fds = os.listdir('/proc/self/fd')\n\
         found += ['own fd %s' % fd for fd in fds if int(fd) > 3 and os.path.exists('/proc/self/fd/' + fd)]\n\
         def add(a, b):\n    \
             return a + b if not found else str(found)\n"
    )
}

#[test]
fn a_program_cannot_reach_the_driver() {
    let tests = "assert add(2, 3) == 5\nassert add(4, 5) == 9\n";
    // Control: a child of its own (same user, dumpable) is found through /proc. The child
    // ignores the signals the reacher sends (set before the fork, so no window): one that died
    // of SIGTERM between the checks left a zombie whose `/proc/<pid>/mem` opened but whose
    // `fd` did not list, and the control failed in CI.
    let control = reacher(
        "import time\n\
         for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,\n          \
                   signal.SIGQUIT, signal.SIGALRM, signal.SIGPIPE):\n    \
             signal.signal(s, signal.SIG_IGN)\n\
         if os.fork() == 0:\n    time.sleep(30)\n    os._exit(0)\ntime.sleep(0.1)",
    );
    let report = run(&add_with_tests(&control, tests));
    assert_status(&report, Status::WrongAnswer);
    let detail = format!("{:?}", report.tests);
    assert!(
        detail.contains("mem ") && detail.contains("fd "),
        "the control found nothing: {report:#?}"
    );
    // The driver, its template and the zygote: nothing, and the tests still ran and passed.
    let executor = one_worker_executor();
    for round in 0..2 {
        let report = executor
            .run(&add_with_tests(&reacher(""), tests))
            .expect("runs");
        assert_eq!(report.status, Status::Passed, "round {round}: {report:#?}");
        assert_eq!(report.tests.len(), 2, "{report:#?}");
    }
}

#[test]
fn a_program_that_kills_the_driver_or_its_template_fails_and_the_next_request_passes() {
    let executor = one_worker_executor();
    let kill_all = "import os, signal\n\
                    for name in os.listdir('/proc'):\n    \
                        if name.isdigit() and int(name) != os.getpid():\n        \
                            try:\n            \
                                os.kill(int(name), signal.SIGKILL)\n        \
                            except OSError:\n            \
                                pass\n";
    let kill_parent = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n";
    for killer in [kill_all, kill_parent] {
        let report = executor
            .run(&add_with_tests(
                &format!("{killer}{ADD}"),
                "assert add(2, 3) == 5\n",
            ))
            .expect("runs");
        assert_status(&report, Status::RuntimeError);
        next_request_passes(&executor);
    }
}

#[test]
fn trusted_tests_that_raise_hang_or_crash_fail_and_the_next_request_passes() {
    let executor = one_worker_executor();
    let cases = [
        (
            "raise RuntimeError('boom')\nassert add(2, 3) == 5\n",
            Status::RuntimeError,
        ),
        (
            "def check(candidate):\n    while True:\n        pass\ncheck(add)\n",
            Status::Timeout,
        ),
        ("import os\nos._exit(3)\n", Status::JudgeError),
        (
            "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
            Status::RuntimeError,
        ),
    ];
    for (tests, status) in cases {
        let report = executor.run(&add_with_tests(ADD, tests)).expect("runs");
        assert_eq!(report.status, status, "{tests}: {report:#?}");
        // A test thread still looping, or a dead driver, would fail this.
        next_request_passes(&executor);
    }
}

#[test]
fn a_module_the_program_names_does_not_outlive_its_request_in_the_driver() {
    let executor = one_worker_executor();
    // Control: the driver imports a module the program imported (the tests may use it).
    let report = executor
        .run(&add_with_tests(
            &format!("import wave\n{ADD}"),
            "import sys\nassert 'wave' in sys.modules\nassert add(2, 3) == 5\n",
        ))
        .expect("runs");
    assert_status(&report, Status::Passed);
    let report = executor
        .run(&add_with_tests(
            ADD,
            "import sys\nassert 'wave' not in sys.modules\nassert add(2, 3) == 5\n",
        ))
        .expect("runs");
    assert_status(&report, Status::Passed);
}
