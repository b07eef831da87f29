//! Choosing among candidates: the order by test results, and CodeT's dual execution agreement.
//!
//! Dual agreement (Chen et al., CodeT): programs that pass exactly the same model-written tests
//! form a consensus set; a set's score is the number of its programs times the number of tests
//! they pass, so a behaviour many samples share and many tests confirm wins over a lone program
//! or a lone test. Crucible groups programs by their full behaviour on the tests (which tests
//! pass, and for failed Python asserts the value actually returned), which splits CodeT's sets
//! further when programs fail the same test differently; when no test passes at all the largest
//! group of identically behaving programs wins (a majority vote on behaviour).

use std::cmp::Reverse;

use crucible_exec::ExecReport;
use crucible_types::Status;

use crate::trace::Verdict;

/// Sort key of a verdict (see [`verdict_key`]).
pub(crate) type VerdictKey = (bool, bool, usize, Reverse<Status>);

/// A consensus set's score: programs x tests passed, then programs.
pub(crate) type Score = (usize, usize);

/// Sort key of a verdict: a pass first, then more tests passed, then the milder failure.
/// Larger is better; a candidate that was never run ranks last.
pub(crate) fn verdict_key(verdict: Option<&Verdict>) -> VerdictKey {
    match verdict {
        None => (false, false, 0, Reverse(Status::CompileError)),
        Some(v) => (true, v.status.is_pass(), v.passed, Reverse(v.status)),
    }
}

/// One program's behaviour on the model-written tests: per test, `ok` or what it did instead.
pub(crate) fn behaviour(report: &ExecReport, tests: usize) -> Vec<String> {
    let mut out: Vec<String> = report
        .tests
        .iter()
        .take(tests)
        .map(|outcome| {
            if outcome.status.is_pass() {
                return "ok".to_owned();
            }
            let actual = outcome.detail.as_deref().and_then(|detail| {
                detail
                    .lines()
                    .find_map(|line| line.trim().strip_prefix("left:").map(str::trim))
            });
            match actual {
                Some(value) => format!("= {value}"),
                None => outcome.status.name().to_owned(),
            }
        })
        .collect();
    // Tests after a crash or timeout never ran; they count as failed the same way.
    let fallback = if report.status.is_pass() {
        "missing".to_owned()
    } else {
        report.status.name().to_owned()
    };
    out.resize(tests, fallback);
    out
}

/// A candidate as the agreement sees it.
#[derive(Debug, Clone)]
pub(crate) struct Voter {
    /// Behaviour on the model-written tests (`None`: not run on them).
    pub(crate) behaviour: Option<Vec<String>>,
}

/// Agreement scores: for each voter, `(programs × tests passed, programs)` of its consensus set.
pub(crate) fn agreement(voters: &[Voter]) -> Vec<Score> {
    voters
        .iter()
        .map(|voter| {
            let Some(mine) = &voter.behaviour else {
                return (0, 0);
            };
            let members = voters
                .iter()
                .filter(|other| other.behaviour.as_ref() == Some(mine))
                .count();
            let passed = mine.iter().filter(|b| *b == "ok").count();
            (members * passed, members)
        })
        .collect()
}

/// Dual execution agreement for callers outside a strategy run (`crucible data synth` choosing
/// among several answers): `behaviours[i]` is program `i`'s behaviour on a common list of tests
/// (`ok` for a pass, anything else says how it failed; `None`: not run). For each program:
/// `(programs in its consensus set × tests they pass, programs in the set)`, as a strategy's
/// reranking scores them.
pub fn agreement_scores(behaviours: &[Option<Vec<String>>]) -> Vec<(usize, usize)> {
    let voters: Vec<Voter> = behaviours
        .iter()
        .map(|b| Voter {
            behaviour: b.clone(),
        })
        .collect();
    agreement(&voters)
}

/// The index of the best candidate: the best visible verdict, then the best agreement, then the
/// earliest (the greedy program comes first).
pub(crate) fn choose(visible: &[Option<Verdict>], scores: &[Score]) -> Option<usize> {
    (0..visible.len()).max_by_key(|&idx| {
        (
            verdict_key(visible[idx].as_ref()),
            scores.get(idx).copied().unwrap_or((0, 0)),
            Reverse(idx),
        )
    })
}

/// Without visible tests, whether the agreement's choice `chosen` may overturn the greedy
/// program. Only a consensus set of at least two programs may: a lone program that passes
/// model-written tests is the tests' word against the greedy program's, and the tests can be the
/// ones that are wrong. A greedy program that does not compile (`greedy_broken`) never stands.
pub(crate) fn overturns(scores: &[Score], chosen: usize, greedy_broken: bool) -> bool {
    greedy_broken || scores.get(chosen).is_some_and(|&(_, members)| members >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TestSource;

    fn voter(behaviour: &[&str]) -> Voter {
        Voter {
            behaviour: Some(behaviour.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn verdict(status: Status, passed: usize, total: usize) -> Option<Verdict> {
        Some(Verdict {
            tests: TestSource::Visible,
            status,
            passed,
            total,
        })
    }

    #[test]
    fn consensus_sets_score_programs_times_tests() {
        // Two programs agree on passing tests 1 and 2; one program passes all three tests alone;
        // one fails everything the same way as nobody else.
        let voters = vec![
            voter(&["ok", "ok", "= 3"]),
            voter(&["ok", "ok", "ok"]),
            voter(&["ok", "ok", "= 3"]),
            voter(&["= 0", "= 0", "= 0"]),
        ];
        let scores = agreement(&voters);
        assert_eq!(scores, vec![(4, 2), (3, 1), (4, 2), (0, 1)]);
        let unjudged = vec![None; 4];
        assert_eq!(choose(&unjudged, &scores), Some(0));
    }

    #[test]
    fn wrong_tests_fall_back_to_the_majority_behaviour() {
        // Every model-written test is wrong: no program passes any; the behaviour three programs
        // share beats the others.
        let voters = vec![
            voter(&["= 1", "= 2"]),
            voter(&["= 5", "= 6"]),
            voter(&["= 5", "= 6"]),
            voter(&["= 5", "= 6"]),
            Voter { behaviour: None },
        ];
        let scores = agreement(&voters);
        assert_eq!(scores[1], (0, 3));
        assert_eq!(choose(&[None, None, None, None, None], &scores), Some(1));
    }

    #[test]
    fn visible_tests_come_before_agreement() {
        let voters = vec![
            voter(&["ok", "ok"]),
            voter(&["ok", "ok"]),
            voter(&["= 1", "ok"]),
        ];
        let scores = agreement(&voters);
        let visible = vec![
            verdict(Status::WrongAnswer, 1, 2),
            verdict(Status::WrongAnswer, 1, 2),
            verdict(Status::Passed, 2, 2),
        ];
        assert_eq!(choose(&visible, &scores), Some(2));
        // Among equal failures, more tests passed and then the milder status win.
        let visible = vec![
            verdict(Status::CompileError, 0, 1),
            verdict(Status::RuntimeError, 0, 2),
            verdict(Status::WrongAnswer, 0, 2),
        ];
        assert_eq!(choose(&visible, &[(0, 1); 3]), Some(2));
        assert_eq!(choose(&[], &[]), None);
    }

    #[test]
    fn a_lone_program_does_not_overturn_the_greedy_one_without_visible_tests() {
        // HumanEval/41's shape: every program behaves differently; the one that passes most of
        // the (wrong) model-written tests is alone.
        let voters = vec![
            voter(&["ok", "= 4", "= 9"]),
            voter(&["ok", "ok", "ok"]),
            voter(&["= 0", "ok", "= 1"]),
        ];
        let scores = agreement(&voters);
        let chosen = choose(&[None, None, None], &scores).unwrap();
        assert_eq!(chosen, 1);
        assert!(!overturns(&scores, chosen, false));
        assert!(overturns(&scores, chosen, true));
        // Two programs agreeing do overturn it.
        let voters = vec![
            voter(&["ok", "= 4", "= 9"]),
            voter(&["ok", "ok", "ok"]),
            voter(&["ok", "ok", "ok"]),
        ];
        let scores = agreement(&voters);
        assert!(overturns(&scores, 1, false));
    }

    #[test]
    fn behaviour_reads_the_returned_value() {
        let report = ExecReport::new(
            Status::WrongAnswer,
            vec![
                crucible_types::TestOutcome {
                    name: "assert f(1) == 2".into(),
                    status: Status::Passed,
                    detail: None,
                },
                crucible_types::TestOutcome {
                    name: "assert f(2) == 3".into(),
                    status: Status::WrongAnswer,
                    detail: Some(
                        "assertion failed: assert f(2) == 3\n  left:  4\n  right: 3".into(),
                    ),
                },
            ],
        );
        assert_eq!(behaviour(&report, 3), vec!["ok", "= 4", "wrong_answer"]);
    }
}
