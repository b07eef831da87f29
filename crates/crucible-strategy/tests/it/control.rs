//! Control flow of each strategy: rounds, what is kept, what each prompt shows, consensus.

use crucible_infer::Prompt;
use crucible_strategy::{Kind, TestSource};
use crucible_types::{Decoding, Status, Task};

use crate::{Role, budget, double_task, function_task, preset, role, run_with, scripted, stages};

const WRONG: &str = "def double(x):\n    return x + 3\n";
const RIGHT: &str = "def double(x):\n    return 2 * x\n";

#[test]
fn plain_is_one_greedy_program_with_its_visible_verdict() {
    let mut generator = scripted(&[(Role::Sample, WRONG)]);
    let outcome = run_with(&preset("plain"), &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample"]);
    assert_eq!(generator.requests[0].params.decoding, Decoding::Greedy);
    let verdict = outcome.verdict.unwrap();
    assert_eq!(
        (verdict.tests, verdict.status, verdict.passed, verdict.total),
        (TestSource::Visible, Status::WrongAnswer, 0, 2)
    );
    assert_eq!(outcome.code.as_deref(), Some(WRONG.trim_end()));
    assert_eq!(outcome.usage.model_calls, 1);
    assert_eq!(outcome.usage.executions, 1);
    assert_eq!(outcome.strategy, Kind::Plain);
    // The output records its own tokens, and no log-probability: the scripted generator, like
    // an OpenAI-compatible server, reports none.
    let attempt = &outcome.trace.attempts[0];
    assert!(attempt.tokens > 0);
    assert_eq!(attempt.outputs[0].tokens, attempt.tokens);
    assert_eq!(attempt.outputs[0].logprob, None);
}

#[test]
fn repair_shows_the_failure_and_stops_when_tests_pass() {
    let mut generator = scripted(&[(Role::Sample, WRONG), (Role::Repair, RIGHT)]);
    let outcome = run_with(&preset("repair"), &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample", "repair"]);
    assert_eq!(outcome.verdict.unwrap().status, Status::Passed);
    assert_eq!(outcome.chosen, Some((2, 1)));
    // The first program's feedback is in the trace and in the repair prompt.
    let feedback = outcome.trace.attempts[0].outputs[0]
        .feedback
        .clone()
        .unwrap();
    assert!(
        feedback.starts_with("verdict: wrong_answer (0/2 tests passed)"),
        "{feedback}"
    );
    assert!(feedback.contains("left:  3"), "{feedback}");
    let Prompt::Chat { messages, .. } = &generator.requests[1].prompt else {
        panic!("repair is a chat");
    };
    assert!(messages[1].content.contains("return x + 3"));
    assert!(messages[2].content.contains(&feedback));
}

#[test]
fn a_greedy_revision_that_repeats_a_program_ends_the_loop() {
    // The model gives the failing program back unchanged. Asked again the same way it would
    // answer the same way, so there is no second round. The same for repair, reflexion's retry
    // and the agent's programmer.
    let reflect = "It adds three.";
    // (strategy, the role that revises, its other answers, the stages, what the note calls it)
    type Case<'a> = (&'a str, Role, Vec<(Role, &'a str)>, &'a [&'a str], &'a str);
    let cases: [Case; 3] = [
        (
            "repair",
            Role::Repair,
            vec![],
            &["sample", "repair"],
            "repair",
        ),
        (
            "reflexion",
            Role::Retry,
            vec![(Role::Reflect, reflect)],
            &["sample", "reflect", "retry"],
            "retry",
        ),
        (
            "agent",
            Role::Repair,
            vec![(Role::Tests, "1) == 2\n")],
            &["sample", "tests", "repair"],
            "revision",
        ),
    ];
    for (name, revise, mut script, expected, what) in cases {
        script.push((Role::Sample, WRONG));
        script.push((revise, WRONG));
        script.push((revise, RIGHT));
        let mut generator = scripted(&script);
        let outcome = run_with(&preset(name), &mut generator, &double_task(), &budget()).unwrap();
        assert_eq!(stages(&outcome), expected, "{name}");
        assert_eq!(outcome.code.as_deref(), Some(WRONG.trim_end()), "{name}");
        let note = format!("{what} round 1 gave back a program already tried: no more rounds");
        assert!(
            outcome.trace.notes.iter().any(|n| n.contains(&note)),
            "{name}: {:?}",
            outcome.trace.notes
        );
        // A revision of a two-line program may not run on to the preset's 768 tokens.
        assert_eq!(generator.requests[0].params.max_new_tokens, 768);
        let revision = generator.requests.iter().find(|r| role(r) == revise);
        assert_eq!(revision.unwrap().params.max_new_tokens, 256, "{name}");
    }
}

#[test]
fn sampled_repairs_go_on_after_a_round_with_nothing_new() {
    // `--repairs 4`: every round samples four programs; a round of repeats is chance, not a
    // verdict, so the next round runs, and one of its programs is right.
    let mut strategy = preset("repair");
    strategy.params.repairs = 4;
    let tripled = "def double(x):\n    return x * 3\n";
    let mut script = vec![(Role::Sample, WRONG)];
    script.extend([WRONG; 4].map(|code| (Role::Repair, code)));
    script.extend([WRONG, tripled, RIGHT, WRONG].map(|code| (Role::Repair, code)));
    let mut generator = scripted(&script);
    let outcome = run_with(&strategy, &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample", "repair", "repair"]);
    assert_eq!(outcome.code.as_deref(), Some(RIGHT.trim_end()));
    let asked: Vec<(usize, bool)> = generator
        .requests
        .iter()
        .map(|r| (r.params.n, matches!(r.params.decoding, Decoding::Sample(_))))
        .collect();
    assert_eq!(asked, [(1, false), (4, true), (4, true)]);
}

#[test]
fn repair_keeps_the_best_program_when_rounds_run_out() {
    // Round 1 passes one of two tests; later rounds get worse. Three rounds, then the best.
    let half = "def double(x):\n    return x * 3\n";
    let broken = "def double(x):\n    return x +\n";
    let mut generator = scripted(&[
        (Role::Sample, WRONG),
        (Role::Repair, half),
        (Role::Repair, broken),
        (Role::Repair, WRONG),
    ]);
    let outcome = run_with(&preset("repair"), &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample", "repair", "repair", "repair"]);
    assert_eq!(outcome.code.as_deref(), Some(half.trim_end()));
    assert_eq!(outcome.chosen, Some((2, 1)));
    let verdict = outcome.verdict.unwrap();
    assert_eq!((verdict.passed, verdict.total), (1, 2));
    // Each round repairs the best program so far: round 3 is not built on round 2's broken one.
    let Prompt::Chat { messages, .. } = &generator.requests[3].prompt else {
        panic!("repair is a chat");
    };
    assert!(messages[1].content.contains("return x * 3\n"));
    assert!(
        messages[2]
            .content
            .contains("wrong_answer (1/2 tests passed)"),
        "{}",
        messages[2].content
    );
}

#[test]
fn repair_with_explanation_adds_a_turn() {
    let mut strategy = preset("repair");
    strategy.params.explain = true;
    let mut generator = scripted(&[
        (Role::Sample, WRONG),
        (Role::Explain, "It adds two instead of doubling."),
        (Role::Repair, RIGHT),
    ]);
    let outcome = run_with(&strategy, &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample", "explain", "repair"]);
    let Prompt::Chat { messages, .. } = &generator.requests[2].prompt else {
        panic!("repair is a chat");
    };
    assert_eq!(messages.len(), 5);
    assert_eq!(messages[3].content, "It adds two instead of doubling.");
    assert_eq!(outcome.verdict.unwrap().status, Status::Passed);
}

#[test]
fn rerank_stops_at_a_greedy_program_that_passes() {
    let mut generator = scripted(&[(Role::Sample, RIGHT)]);
    let outcome = run_with(&preset("rerank"), &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample"]);
    assert_eq!(outcome.usage.model_calls, 1);
    assert!(
        outcome
            .trace
            .notes
            .iter()
            .any(|n| n.contains("nothing sampled"))
    );
}

#[test]
fn rerank_chooses_the_largest_consensus_set() {
    // Visible: double(0) == 0. The greedy program fails it; of the sampled ones three pass it
    // and differ. The model's tests (one of them wrong) split them: `2 * x` and `x * 2` behave
    // the same and pass two tests; `x * x` passes one; `0` passes none.
    let task = function_task(
        "def double(x):\n    \"\"\"Return twice x.\"\"\"\n",
        "double",
        "assert double(0) == 0\n",
    );
    let mut strategy = preset("rerank");
    strategy.params.samples = 5;
    let square = "def double(x):\n    return x * x\n";
    let zero = "def double(x):\n    return 0\n";
    let times = "def double(x):\n    return x * 2\n";
    let mut generator = scripted(&[
        (Role::Sample, WRONG),
        (Role::Sample, square),
        (Role::Sample, RIGHT),
        (Role::Sample, zero),
        (Role::Sample, times),
        (
            Role::Tests,
            "1) == 2\nassert double(2) == 4\nassert double(3) == 7\nassert double(4) == 8 +\n",
        ),
        (Role::Tests, "5) == 10\n"),
    ]);
    let outcome = run_with(&strategy, &mut generator, &task, &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample", "sample", "tests"]);
    // The sampled request asks for four sequences in one batch, sampled.
    let sampled = &generator.requests[1].params;
    assert_eq!(sampled.n, 4);
    assert!(matches!(sampled.decoding, Decoding::Sample(_)));
    assert_eq!(outcome.code.as_deref(), Some(RIGHT.trim_end()));
    assert_eq!(outcome.chosen, Some((2, 2)));
    let note = outcome
        .trace
        .notes
        .iter()
        .find(|n| n.starts_with("chosen:"))
        .unwrap();
    // Four tests parse (the fourth line does not), the wrong one (7) included: 2 programs x 3 tests.
    assert!(
        note.contains("consensus set of 2 program(s), score 6"),
        "{note}"
    );
    assert!(
        outcome
            .trace
            .notes
            .iter()
            .any(|n| n == "model-written tests kept: 4")
    );
}

#[test]
fn rerank_then_repair_repairs_a_choice_that_still_fails() {
    let mut strategy = preset("rerank+repair");
    strategy.params.samples = 3;
    let mut generator = scripted(&[
        (Role::Sample, WRONG),
        (Role::Sample, WRONG),
        (Role::Sample, "def double(x):\n    return x - 1\n"),
        (Role::Tests, "1) == 2\n"),
        (Role::Tests, "2) == 4\n"),
        (Role::Repair, RIGHT),
    ]);
    let outcome = run_with(&strategy, &mut generator, &double_task(), &budget()).unwrap();
    // All three fail both visible tests; two distinct contenders, so the model writes a test,
    // which both fail differently: a tie, and the earliest (greedy) program is repaired.
    assert_eq!(stages(&outcome), ["sample", "sample", "tests", "repair"]);
    assert_eq!(outcome.chosen, Some((4, 1)));
    let Prompt::Chat { messages, .. } = &generator.requests[3].prompt else {
        panic!("repair is a chat");
    };
    assert!(messages[1].content.contains("return x + 3"));
    assert_eq!(outcome.verdict.unwrap().status, Status::Passed);
    assert_eq!(outcome.code.as_deref(), Some(RIGHT.trim_end()));
}

#[test]
fn reflexion_keeps_reflections_in_memory() {
    let mut generator = scripted(&[
        (Role::Sample, WRONG),
        (Role::Reflect, "It adds two; it should multiply by two."),
        (Role::Retry, "def double(x):\n    return x * 3\n"),
        (Role::Reflect, "Tripling is not doubling."),
        (Role::Retry, RIGHT),
    ]);
    let outcome = run_with(
        &preset("reflexion"),
        &mut generator,
        &double_task(),
        &budget(),
    )
    .unwrap();
    assert_eq!(
        stages(&outcome),
        ["sample", "reflect", "retry", "reflect", "retry"]
    );
    assert_eq!(outcome.verdict.unwrap().status, Status::Passed);
    let Prompt::Chat { messages, .. } = &generator.requests[4].prompt else {
        panic!("a chat");
    };
    let last = &messages.last().unwrap().content;
    assert!(
        last.contains("1. It adds two; it should multiply by two.\n2. Tripling is not doubling.\n"),
        "{last}"
    );
}

#[test]
fn agent_runs_designer_tests_and_revises() {
    // The program passes the visible tests but not the designer's test for negatives.
    let abs_double = "def double(x):\n    return abs(x) * 2\n";
    let mut generator = scripted(&[
        (Role::Sample, abs_double),
        (Role::Tests, "-3) == -6\nassert double(1) == 2\n"),
        (Role::Repair, RIGHT),
    ]);
    let outcome = run_with(&preset("agent"), &mut generator, &double_task(), &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample", "tests", "repair"]);
    let Prompt::Chat { messages, .. } = &generator.requests[1].prompt else {
        panic!("a chat");
    };
    assert!(
        messages[0].content.contains("edge cases"),
        "the designer's brief"
    );
    assert!(
        !messages[0].content.contains("abs(x)"),
        "the designer never sees the code"
    );
    let Prompt::Chat { messages, .. } = &generator.requests[2].prompt else {
        panic!("a chat");
    };
    assert!(messages[2].content.contains("Test designer's tests:"));
    assert!(
        !messages[2].content.contains("Task examples:"),
        "the examples passed"
    );
    assert_eq!(outcome.code.as_deref(), Some(RIGHT.trim_end()));
}

#[test]
fn repair_without_visible_tests_falls_back_to_model_written_tests() {
    let task = function_task(
        "def double(x):\n    \"\"\"Return twice x.\"\"\"\n",
        "double",
        "",
    );
    let mut generator = scripted(&[
        (Role::Sample, WRONG),
        (Role::Tests, "1) == 2\nassert double(5) == 10\n"),
        (Role::Repair, RIGHT),
    ]);
    let outcome = run_with(&preset("repair"), &mut generator, &task, &budget()).unwrap();
    assert_eq!(stages(&outcome), ["sample", "tests", "repair"]);
    assert!(
        outcome
            .trace
            .notes
            .iter()
            .any(|n| n.contains("the task shows no tests: falling back to 2 model-written tests")),
        "{:?}",
        outcome.trace.notes
    );
    let verdict = outcome.verdict.unwrap();
    assert_eq!(verdict.tests, TestSource::ModelWritten);
    assert_eq!(verdict.status, Status::Passed);
}

#[test]
fn program_tasks_use_stdin_examples() {
    let task = crucible_types::Task {
        id: "sum".into(),
        language: crucible_types::Language::Python,
        kind: crucible_types::TaskKind::Program {
            description: "Read two integers and print their sum.".into(),
        },
        visible: crucible_types::TestSuite::Io {
            cases: vec![crucible_types::IoCase {
                input: "1 2\n".into(),
                output: "3\n".into(),
            }],
            compare: crucible_types::Compare::Whitespace,
        },
    };
    let mut generator = scripted(&[
        (
            Role::Sample,
            "a, b = map(int, input().split())\nprint(a - b)\n",
        ),
        (
            Role::Repair,
            "a, b = map(int, input().split())\nprint(a + b)\n",
        ),
    ]);
    let outcome = run_with(&preset("repair"), &mut generator, &task, &budget()).unwrap();
    let feedback = outcome.trace.attempts[0].outputs[0]
        .feedback
        .clone()
        .unwrap();
    assert!(
        feedback.contains("expected output:\n3\nactual output:\n-1"),
        "{feedback}"
    );
    assert_eq!(outcome.verdict.unwrap().status, Status::Passed);
    assert!(generator.requests.iter().all(|r| role(r) != Role::Tests));
}

/// HumanEval/41's trap, for `double`: no visible tests, and the model's tests are wrong (they
/// expect x squared). The greedy program is right.
fn wrong_tests_task() -> (Task, &'static str) {
    let task = function_task(
        "def double(x):\n    \"\"\"Return twice x.\"\"\"\n",
        "double",
        "",
    );
    // Parsed after the prefill `assert double(`: squares, and one test any program passes.
    let tests = "3) == 9\nassert double(4) == 16\nassert double(0) == 0\nassert double(5) == 25\n";
    (task, tests)
}

#[test]
fn repair_on_wrong_written_tests_keeps_the_program_unless_the_fix_passes_them_all() {
    let (task, tests) = wrong_tests_task();
    // The repair agrees with one more wrong test (x * x for x > 3): a partial gain on
    // model-written tests, which does not replace the greedy program.
    let partial = "def double(x):\n    return x * x if x > 3 else 2 * x\n";
    let mut generator = scripted(&[
        (Role::Sample, RIGHT),
        (Role::Tests, tests),
        (Role::Repair, partial),
        (
            Role::Repair,
            "def double(x):\n    return x * x if x > 4 else 2 * x\n",
        ),
        (
            Role::Repair,
            "def double(x):\n    return x * x if x >= 4 else 2 * x\n",
        ),
    ]);
    let outcome = run_with(&preset("repair"), &mut generator, &task, &budget()).unwrap();
    assert_eq!(
        stages(&outcome),
        ["sample", "tests", "repair", "repair", "repair"]
    );
    assert_eq!(outcome.chosen, Some((1, 1)));
    assert_eq!(outcome.code.as_deref(), Some(RIGHT.trim_end()));
    // A fix that passes every model-written test does replace it: that is the fallback working.
    let square = "def double(x):\n    return x * x\n";
    let mut generator = scripted(&[
        (Role::Sample, RIGHT),
        (Role::Tests, tests),
        (Role::Repair, square),
    ]);
    let outcome = run_with(&preset("repair"), &mut generator, &task, &budget()).unwrap();
    assert_eq!(outcome.chosen, Some((3, 1)));
    assert_eq!(outcome.verdict.unwrap().status, Status::Passed);
}

#[test]
fn rerank_without_visible_tests_keeps_greedy_against_a_lone_program() {
    let (task, tests) = wrong_tests_task();
    let square = "def double(x):\n    return x * x\n";
    let mut strategy = preset("rerank");
    strategy.params.samples = 3;
    // (greedy program, the second sample, the program chosen, whether greedy was kept by the
    // rule). The first sample always squares: it passes the wrong tests.
    let cases = [
        // Every program behaves differently: no agreement, greedy stays.
        (RIGHT, WRONG, (1, 1), true),
        // Two programs agree with the tests: their consensus set outvotes greedy.
        (RIGHT, "def double(x):\n    return x ** 2\n", (2, 1), false),
        // A greedy program that does not compile never stands, even against a lone program.
        ("def double(x)\n    return 2 * x\n", WRONG, (2, 1), false),
    ];
    for (greedy, second, chosen, kept) in cases {
        let mut generator = scripted(&[
            (Role::Sample, greedy),
            (Role::Sample, square),
            (Role::Sample, second),
            (Role::Tests, tests),
            (Role::Tests, tests),
        ]);
        let outcome = run_with(&strategy, &mut generator, &task, &budget()).unwrap();
        assert_eq!(
            outcome.chosen,
            Some(chosen),
            "greedy {greedy:?}, second {second:?}"
        );
        let notes = &outcome.trace.notes;
        let said = notes
            .iter()
            .any(|n| n.contains("the greedy program is kept"));
        assert_eq!(said, kept, "{notes:?}");
    }
}
