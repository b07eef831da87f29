//! Python tests whose calls are sent to the program ahead (a run of `assert f(<literal>) ...`
//! statements, or every case of a calls suite): the program sees exactly the calls, in exactly
//! the order, that one-at-a-time calling makes, and each test gets its own call's outcome,
//! whether the program answers, raises, exits or loops partway. Both worker kinds (trusted
//! tests in a long-lived driver, written tests in a handler per request) are checked.

use crucible_types::{CallCase, TestOutcome};

use super::*;

/// Counts its calls: the count it returns shows which calls the program saw, in what order.
const COUNTER: &str = "import os\n\
count = 0\n\
def nxt(x):\n    \
    global count\n    \
    count += 1\n    \
    if x == 'raise':\n        \
        raise ValueError('asked to')\n    \
    if x == 'exit':\n        \
        os._exit(0)\n    \
    if x == 'loop':\n        \
        while True:\n            \
            pass\n    \
    return count\n";

fn counter_request(tests: TestSuite, trusted: bool) -> ExecRequest {
    let mut req = request(Language::Python, COUNTER.into(), tests);
    req.entry_point = Some("nxt".into());
    req.limits = limits(1.0, 256);
    req.trusted_tests = trusted;
    req
}

fn check(body: &str) -> TestSuite {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    TestSuite::Code {
        code: format!("def check(candidate):\n{body}\ncheck(nxt)\n"),
    }
}

fn statuses(tests: &[TestOutcome]) -> Vec<Status> {
    tests.iter().map(|t| t.status).collect()
}

#[test]
fn calls_sent_ahead_keep_their_order_and_each_tests_outcome() {
    let tests = check(
        "assert candidate('a') == 1\n\
         assert candidate('b') == 5\n\
         assert candidate('raise') == 3\n\
         assert True, 'no call'\n\
         assert abs(candidate('c') - 4) < 0.5\n\
         assert [1][5] == candidate('d')\n\
         assert candidate('e') == 5\n\
         assert candidate('f') == 6",
    );
    for trusted in [true, false] {
        let report = run(&counter_request(tests.clone(), trusted));
        assert_eq!(
            statuses(&report.tests),
            [
                Status::Passed,
                Status::WrongAnswer,
                Status::RuntimeError,
                Status::Passed,
                Status::Passed,
                Status::RuntimeError,
                Status::Passed,
                Status::Passed,
            ],
            "trusted {trusted}: {report:#?}"
        );
        let detail = |i: usize| report.tests[i].detail.clone().unwrap_or_default();
        assert!(
            detail(1).contains("left:  2"),
            "the second call's own answer: {report:#?}"
        );
        assert!(detail(2).contains("ValueError: asked to"), "{report:#?}");
        // The statement that raised before its call never made it: the next call is the 5th.
        assert!(detail(5).contains("IndexError"), "{report:#?}");
    }
}

#[test]
fn a_program_that_exits_or_loops_during_calls_sent_ahead_gets_its_verdict() {
    for trusted in [true, false] {
        let exits = run(&counter_request(
            check(
                "assert candidate('a') == 1\n\
                 assert candidate('exit') == 2\n\
                 assert candidate('c') == 3",
            ),
            trusted,
        ));
        assert_eq!(
            statuses(&exits.tests),
            [Status::Passed, Status::RuntimeError, Status::RuntimeError],
            "trusted {trusted}: {exits:#?}"
        );
        assert_status(&exits, Status::RuntimeError);

        let loops = run(&counter_request(
            check(
                "assert candidate('a') == 1\n\
                 assert candidate('loop') == 2\n\
                 assert candidate('c') == 3",
            ),
            trusted,
        ));
        assert_status(&loops, Status::Timeout);
        assert_eq!(
            loops.tests.first().map(|t| t.status),
            Some(Status::Passed),
            "the call before the loop kept its outcome: {loops:#?}"
        );
    }
}

#[test]
fn a_calls_suite_sent_ahead_keeps_order_and_outcomes() {
    let case = |arg: &str, expected: &str| CallCase {
        args: format!("['{arg}']"),
        expected: expected.into(),
    };
    // More cases than one frame of calls sent ahead holds, so several frames go in turn.
    let mut cases: Vec<CallCase> = (1..=150).map(|i| case("x", &i.to_string())).collect();
    cases.push(case("raise", "151"));
    cases.push(CallCase {
        args: "[".into(),
        expected: "0".into(),
    });
    cases.push(case("y", "999"));
    cases.push(case("z", "153"));
    let tests = TestSuite::Calls {
        entry_point: "nxt".into(),
        cases,
        atol: 0.0,
    };
    for trusted in [true, false] {
        let report = run(&counter_request(tests.clone(), trusted));
        let got = statuses(&report.tests);
        assert_eq!(got.len(), 154, "{report:#?}");
        assert!(
            got[..150].iter().all(|s| *s == Status::Passed),
            "trusted {trusted}: {report:#?}"
        );
        assert_eq!(
            got[150..],
            [
                Status::RuntimeError,
                Status::RuntimeError,
                Status::WrongAnswer,
                Status::Passed
            ],
            "trusted {trusted}: {report:#?}"
        );
        let detail = report.tests[152].detail.clone().unwrap_or_default();
        assert!(
            detail.contains("actual: 152"),
            "the unparsable case made no call: {report:#?}"
        );
    }
}
