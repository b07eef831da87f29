//! `crucible eval`: samples judged on hidden tests, resume, the summary kept current, strategy
//! runs, reference timings and server models.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crucible_core::eval::Solution;
use crucible_core::evaluate::{RunEvent, TRACES_FILE, run_eval};
use crucible_core::infer::{ScriptedGenerator, Silent};

use super::{Fixture, TASKS, fixture, params, quiet_eval, repair};
use crucible_core::evaluate::ModelFacts;

#[test]
fn scripted_run_is_judged_on_hidden_tests_and_resumes() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS);
    // "double" is right; "square" passes the visible example (2*2 == 2+2) but not the hidden one.
    let mut generator = ScriptedGenerator::new([
        "n = int(input())\nprint(2 * n)\n```",
        "n = int(input())\nprint(n + n)\n```",
    ]);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = Arc::clone(&events);
        Arc::new(move |event: RunEvent| events.lock().unwrap().push(format!("{event:?}")))
    };
    let outcome = run_eval(
        &mut generator,
        &model,
        &bench,
        &home,
        &params(&out, 0),
        sink.clone(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 0.5);
    assert!(!outcome.interrupted);
    for file in [
        "samples.jsonl",
        "results.jsonl",
        "summary.json",
        "report.html",
        "config.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert!(results.contains("\"visible\":\"passed\""), "{results}");
    assert!(results.contains("\"status\":\"wrong_answer\""), "{results}");

    // A second run finds everything done: the generator, out of answers, is never called.
    let mut exhausted = ScriptedGenerator::new(Vec::<String>::new());
    let again = run_eval(
        &mut exhausted,
        &model,
        &bench,
        &home,
        &params(&out, 0),
        sink,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(again.summary.pass_at_k["pass@1"], 0.5);
    assert!(exhausted.requests.is_empty());
    // The resumed run starts from the earlier verdicts, and its wall time includes the first run.
    let started = events
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e.starts_with("Started"))
        .cloned();
    assert!(
        started
            .as_deref()
            .is_some_and(|e| e.contains("judged: 2, passed: 1")),
        "{started:?}"
    );
    let number = |line: &str, key: &str| -> u64 {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        value[key].as_u64().unwrap()
    };
    let sessions = std::fs::read_to_string(out.join("sessions.jsonl")).unwrap();
    let first_start = number(sessions.lines().next().unwrap(), "started_unix_ms");
    assert_eq!(sessions.lines().count(), 2);
    let last_result = results
        .lines()
        .map(|line| number(line, "written_unix_ms"))
        .max()
        .unwrap();
    let first_session = (last_result - first_start) as f64 / 1000.0;
    let wall = again.summary.wall_time_s.unwrap();
    assert!(wall >= first_session, "{wall} < {first_session}");

    // Another seed is another configuration: refused without --force.
    let err = quiet_eval(
        &mut ScriptedGenerator::new(Vec::<String>::new()),
        &model,
        &bench,
        &home,
        &params(&out, 1),
    )
    .unwrap_err();
    assert!(err.to_string().contains("config"), "{err}");
}

#[test]
fn samples_left_unjudged_by_a_killed_run_are_judged_on_resume() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS.lines().next().unwrap());
    let mut generator = ScriptedGenerator::new(["n = int(input())\nprint(2 * n)\n```"]);
    quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0)).unwrap();
    // Simulate kill -9 after the sample was written but before its verdict: drop the results
    // and leave a torn half line behind.
    std::fs::write(out.join("results.jsonl"), "{\"task_id\": \"dou").unwrap();
    let mut exhausted = ScriptedGenerator::new(Vec::<String>::new());
    let outcome = quiet_eval(&mut exhausted, &model, &bench, &home, &params(&out, 0)).unwrap();
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 1.0);
    assert!(exhausted.requests.is_empty());
}

#[test]
fn the_summary_is_written_while_the_run_goes_on_not_only_at_its_end() {
    // A run killed outright (a session's end, kill -9) never reaches the final summary, so the
    // first completed task already writes one; later ones at most once a minute.
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS);
    let mut generator = ScriptedGenerator::new([
        "n = int(input())\nprint(2 * n)\n```",
        "n = int(input())\nprint(n * n)\n```",
    ]);
    // What summary.json says when the first task's verdict is announced.
    let seen = Arc::new(Mutex::new(None::<serde_json::Value>));
    let sink = {
        let (seen, out) = (Arc::clone(&seen), out.clone());
        Arc::new(move |event: RunEvent| {
            if let RunEvent::Judged {
                task_complete: true,
                ..
            } = event
            {
                let mut seen = seen.lock().unwrap();
                if seen.is_none() {
                    let text = std::fs::read_to_string(out.join("summary.json"))
                        .expect("summary.json exists once a task is judged");
                    *seen = Some(serde_json::from_str(&text).unwrap());
                    assert!(out.join("report.html").is_file());
                }
            }
        })
    };
    let outcome = run_eval(
        &mut generator,
        &model,
        &bench,
        &home,
        &params(&out, 0),
        sink,
        &mut Silent,
    )
    .unwrap();
    let early = seen.lock().unwrap().take().expect("a task was judged");
    assert_eq!(early["samples"], 1, "{early}");
    assert_eq!(early["tasks"], 2, "{early}");
    assert_eq!(outcome.summary.samples, 2);
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 1.0);
}

#[test]
fn strategy_run_repairs_on_visible_tests_and_never_sees_hidden_ones() {
    // The hidden example's numbers appear nowhere else, so finding them in a prompt would mean
    // a leak.
    const TASK: &str = r#"{"id": "double", "description": "Print twice the integer on stdin.", "examples": [{"input": "2\n", "output": "4\n"}], "hidden_examples": [{"input": "7919\n", "output": "15838\n"}], "language": "python"}"#;
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASK);
    // The first program fails the visible example; the repair is right.
    let mut generator = ScriptedGenerator::new([
        "n = int(input())\nprint(n + 1)\n```",
        "n = int(input())\nprint(2 * n)\n```",
    ]);
    let mut eval_params = params(&out, 0);
    eval_params.strategy = repair(1);
    let outcome = quiet_eval(&mut generator, &model, &bench, &home, &eval_params).unwrap();
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 1.0);
    assert_eq!(generator.requests.len(), 2, "one program, one repair");
    let prompts = format!("{:?}", generator.requests);
    assert!(
        prompts.contains("print(n + 1)"),
        "the repair shows the failing program"
    );
    assert!(
        !prompts.contains("7919") && !prompts.contains("15838"),
        "{prompts}"
    );
    let traces = std::fs::read_to_string(out.join(TRACES_FILE)).unwrap();
    assert_eq!(traces.lines().count(), 1, "{traces}");
    assert!(traces.contains("\"strategy\":\"repair\""), "{traces}");
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(config.contains("\"repair\""), "{config}");
}

/// Reference solutions are timed once per machine for the time limits; one that fails its own
/// tests is remembered as failed, so later runs neither time it again nor warn again.
#[test]
fn a_failing_reference_is_timed_once_and_remembered() {
    let Fixture {
        dir: _dir,
        home,
        mut bench,
        model,
        out,
    } = fixture(TASKS);
    bench.tasks[0].reference = Some(Solution::Full("print(3)\n".into()));
    bench.tasks[1].reference = Some(Solution::Full("n = int(input())\nprint(n * n)\n".into()));
    let run = |out: &std::path::Path| {
        let mut generator = ScriptedGenerator::new(["print(0)\n```", "print(0)\n```"]);
        quiet_eval(&mut generator, &model, &bench, &home, &params(out, 0)).unwrap();
    };
    run(&out);
    let cache_dir = home.join("cache/reference-times");
    let cache = std::fs::read_dir(&cache_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let times: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert!(times["cpu_ms"]["square"].is_u64(), "{times}");
    assert!(times["cpu_ms"].get("double").is_none(), "{times}");
    let reason = times["failed"]["double"].as_str().unwrap();
    assert!(reason.contains("does not pass its own tests"), "{reason}");

    // A second run (another directory) reads the cache and measures nothing: a marker put in
    // place of the failure's reason survives.
    let marked = std::fs::read_to_string(&cache)
        .unwrap()
        .replace(reason, "marker");
    std::fs::write(&cache, &marked).unwrap();
    run(&out.with_file_name("second"));
    let after = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(after, marked);
}

#[test]
fn a_server_model_is_recorded_by_endpoint_and_id_and_another_is_refused() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        out,
        ..
    } = fixture(TASKS.lines().next().unwrap());
    let served = |name: &str| ModelFacts::Server {
        name: name.into(),
        endpoint: "http://gpu:8000/v1".into(),
    };
    let model = served("Qwen/Qwen2.5-Coder-7B-Instruct");
    let mut generator = ScriptedGenerator::new(["n = int(input())\nprint(2 * n)\n```"]);
    let outcome = quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0)).unwrap();
    assert_eq!(
        outcome.summary.config["model"],
        serde_json::json!({"name": "Qwen/Qwen2.5-Coder-7B-Instruct", "endpoint": "http://gpu:8000/v1"})
    );
    assert_eq!(outcome.summary.model_sha256, None);

    // The same server model resumes; another model on the same server is refused.
    let mut exhausted = ScriptedGenerator::new(Vec::<String>::new());
    quiet_eval(&mut exhausted, &model, &bench, &home, &params(&out, 0)).unwrap();
    assert!(exhausted.requests.is_empty());
    let err = quiet_eval(
        &mut exhausted,
        &served("Qwen/Qwen2.5-Coder-32B-Instruct"),
        &bench,
        &home,
        &params(&out, 0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("config"), "{err}");
}

#[test]
fn strategies_of_several_tasks_run_at_once_and_share_the_model_s_steps() {
    const TASKS: &str = r#"{"id": "times2", "description": "Print 2 times the integer on stdin.", "examples": [{"input": "3\n", "output": "6\n"}], "hidden_examples": [{"input": "101\n", "output": "202\n"}], "language": "python"}
{"id": "times3", "description": "Print 3 times the integer on stdin.", "examples": [{"input": "3\n", "output": "9\n"}], "hidden_examples": [{"input": "101\n", "output": "303\n"}], "language": "python"}
{"id": "times4", "description": "Print 4 times the integer on stdin.", "examples": [{"input": "3\n", "output": "12\n"}], "hidden_examples": [{"input": "101\n", "output": "404\n"}], "language": "python"}
{"id": "times5", "description": "Print 5 times the integer on stdin.", "examples": [{"input": "3\n", "output": "15\n"}], "hidden_examples": [{"input": "101\n", "output": "505\n"}], "language": "python"}
"#;
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS);
    // Every task's first program adds instead of multiplying and fails its visible example; the
    // repair, whose prompt shows that program, multiplies.
    let mut generator = ScriptedGenerator::from_fn(|request, _| {
        let prompt = format!("{:?}", request.prompt);
        let k = (2..=5).find(|k| prompt.contains(&format!("Print {k} times")))?;
        Some(if prompt.contains("print(n + ") {
            format!("n = int(input())\nprint({k} * n)\n```")
        } else {
            format!("n = int(input())\nprint(n + {k})\n```")
        })
    })
    // A decode step's worth of time, in which other tasks' calls can arrive.
    .batching(Duration::from_millis(50));
    let mut eval_params = params(&out, 0);
    eval_params.max_batch = 8;
    eval_params.strategy = repair(4);
    let outcome = quiet_eval(&mut generator, &model, &bench, &home, &eval_params).unwrap();
    assert!(!outcome.interrupted);
    assert_eq!(
        outcome.summary.pass_at_k["pass@1"], 1.0,
        "{:?}",
        outcome.summary
    );
    assert_eq!(
        generator.steps.iter().sum::<usize>(),
        8,
        "a program and a repair per task"
    );
    assert!(
        generator.steps.iter().any(|&n| n > 1),
        "calls of several tasks should share a step: {:?}",
        generator.steps
    );
    let traces = std::fs::read_to_string(out.join(TRACES_FILE)).unwrap();
    assert_eq!(traces.lines().count(), 4, "{traces}");
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    for k in 2..=5 {
        assert!(results.contains(&format!("\"times{k}\"")), "{results}");
    }
}

/// Each strategy run's sample is stored (and queued for judging) when that run ends, not when
/// the task's last run does: by the time the second run asks the model, the first run's sample
/// is in `samples.jsonl`.
#[test]
fn a_strategy_run_s_sample_is_stored_as_soon_as_the_run_ends() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS.lines().next().unwrap());
    let stored_at_call = Arc::new(Mutex::new(Vec::<usize>::new()));
    let mut generator = {
        let (stored, out) = (Arc::clone(&stored_at_call), out.clone());
        ScriptedGenerator::from_fn(move |_, _| {
            let lines = std::fs::read_to_string(out.join("samples.jsonl"))
                .map_or(0, |text| text.lines().count());
            stored.lock().unwrap().push(lines);
            Some("n = int(input())\nprint(2 * n)\n```".to_owned())
        })
    };
    let mut eval_params = params(&out, 0);
    eval_params.n = 2;
    eval_params.strategy = repair(1);
    let outcome = quiet_eval(&mut generator, &model, &bench, &home, &eval_params).unwrap();
    assert_eq!(outcome.summary.samples, 2);
    // One model call per run (the program passes the visible example at once).
    assert_eq!(*stored_at_call.lock().unwrap(), vec![0, 1]);
}

/// A reference solution that fails when first timed is timed once more before the task is
/// marked: here it fails on its first run only (it counts its runs in a file, so the test runs
/// it without the sandbox), and the task gets its measured time.
#[test]
fn the_reference_timing_retries_once_before_it_marks_a_task() {
    let Fixture {
        dir,
        home,
        mut bench,
        model,
        out,
    } = fixture(TASKS);
    let runs = |name: &str| dir.path().join(name);
    let counting = |file: &std::path::Path, right_from: u32| {
        format!(
            "import os\np = {file:?}\nk = int(open(p).read()) if os.path.exists(p) else 0\nopen(p, 'w').write(str(k + 1))\nn = int(input())\nprint(2 * n if k >= {right_from} else 0)\n"
        )
    };
    // "double" is right from its second run; "square"'s reference is never right.
    bench.tasks[0].reference = Some(Solution::Full(counting(&runs("double-runs"), 1)));
    bench.tasks[1].reference = Some(Solution::Full(counting(&runs("square-runs"), 99)));
    let mut eval_params = params(&out, 0);
    eval_params.judge.sandboxed = false;
    let mut generator = ScriptedGenerator::new(["print(0)\n```", "print(0)\n```"]);
    quiet_eval(&mut generator, &model, &bench, &home, &eval_params).unwrap();
    let count = |name: &str| std::fs::read_to_string(runs(name)).unwrap();
    assert_eq!(count("double-runs"), "2");
    assert_eq!(count("square-runs"), "2", "timed twice, then marked");
    let cache_dir = home.join("cache/reference-times");
    let cache = std::fs::read_dir(&cache_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let times: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert!(times["cpu_ms"]["double"].is_u64(), "{times}");
    assert!(times["failed"].get("double").is_none(), "{times}");
    assert!(times["failed"]["square"].is_string(), "{times}");
}

#[test]
fn a_failed_request_leaves_its_samples_missing_and_a_rerun_makes_just_those() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS);
    // One answer: the second task's request fails (the script is out of answers), as a
    // request to a server that stayed busy would.
    let mut generator = ScriptedGenerator::new(["n = int(input())\nprint(2 * n)\n```"]);
    let (notes, sink) = note_sink();
    let outcome = run_eval(
        &mut generator,
        &model,
        &bench,
        &home,
        &params(&out, 0),
        sink,
        &mut Silent,
    )
    .unwrap();
    assert!(!outcome.interrupted);
    assert_eq!(outcome.missing_samples, 1);
    // Not a verdict: one sample judged, and no failure recorded for the missing one.
    assert_eq!(outcome.summary.samples, 1);
    assert_eq!(outcome.summary.min_samples_per_task, 0);
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 1, "{results}");
    let notes = notes.lock().unwrap().join("\n");
    assert!(
        notes.contains(
            "1 sample(s) not generated, left missing (re-run the same command to retry them)"
        ),
        "{notes}"
    );

    // Re-running asks for just the missing sample.
    let mut generator = ScriptedGenerator::new(["n = int(input())\nprint(n + n)\n```"]);
    let again = quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0)).unwrap();
    assert_eq!(generator.requests.len(), 1);
    assert_eq!(again.missing_samples, 0);
    assert_eq!(again.summary.samples, 2);
    assert_eq!(again.summary.pass_at_k["pass@1"], 0.5);
}

#[test]
fn a_strategy_run_whose_model_call_failed_leaves_its_sample_missing() {
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = fixture(TASKS);
    // One answer, which passes "double"'s visible example; the run on "square" then finds the
    // script out of answers, as a request to a server that stayed busy would fail.
    let mut generator = ScriptedGenerator::new(["n = int(input())\nprint(2 * n)\n```"]);
    let (notes, sink) = note_sink();
    let mut eval_params = params(&out, 0);
    eval_params.strategy = repair(1);
    let outcome = run_eval(
        &mut generator,
        &model,
        &bench,
        &home,
        &eval_params,
        sink,
        &mut Silent,
    )
    .unwrap();
    assert!(!outcome.interrupted);
    assert_eq!(outcome.missing_samples, 1);
    assert_eq!(outcome.summary.samples, 1);
    let results = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 1, "{results}");
    assert!(results.contains("\"double\""), "{results}");
    let notes = notes.lock().unwrap().join("\n");
    assert!(
        notes.contains("task square sample 0: not generated, left missing"),
        "{notes}"
    );

    // Re-running runs the strategy for just the missing sample.
    let mut generator = ScriptedGenerator::new(["n = int(input())\nprint(n * n)\n```"]);
    let again = quiet_eval(&mut generator, &model, &bench, &home, &eval_params).unwrap();
    assert_eq!(generator.requests.len(), 1);
    assert_eq!(again.missing_samples, 0);
    assert_eq!(again.summary.samples, 2);
    assert_eq!(again.summary.pass_at_k["pass@1"], 1.0);
}

/// A run-event sink that keeps the notes, and the notes it kept.
fn note_sink() -> (Arc<Mutex<Vec<String>>>, crucible_core::recorder::EventSink) {
    let notes = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&notes);
    let sink = Arc::new(move |event: RunEvent| {
        if let RunEvent::Note(note) = event {
            kept.lock().unwrap().push(note);
        }
    });
    (notes, sink)
}

/// HumanEval-infilling: the model is asked for the gap with its FIM tokens (the code before and
/// after it, nothing else), a one-line gap takes the answer's first line, the program is
/// `prompt + gap + suffix` judged by HumanEval's tests, and the similarity metrics compare the
/// gap's text alone.
#[test]
fn an_infilling_gap_is_asked_with_fim_tokens_and_judged_in_its_program() {
    use crucible_core::eval::{BenchmarkName, Harness, InfillSplit};
    use crucible_core::infer::{FimTokens, Prompt};
    let id = "SingleLineInfilling/HumanEval/0/L0";
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = super::shipped_fixture(
        BenchmarkName::HumanEvalInfilling(InfillSplit::SingleLine),
        None,
        |task| task.task.id == id,
    );
    let task = &bench.tasks[0];
    let Harness::Infill { suffix, one_line } = &task.harness else {
        panic!("{:?}", task.harness)
    };
    assert!(*one_line);
    // The right line, then more than the gap holds: only the first line goes in.
    let right = "    for idx, elem in enumerate(numbers):\n        print('more')";
    let mut generator = ScriptedGenerator::new([right]).with_fim(FimTokens::qwen());
    let outcome = quiet_eval(&mut generator, &model, &bench, &home, &params(&out, 0)).unwrap();
    assert_eq!(outcome.summary.pass_at_k["pass@1"], 1.0);
    let Prompt::Fill { infill, .. } = &generator.requests[0].prompt else {
        panic!("{:?}", generator.requests[0].prompt)
    };
    let crucible_core::eval::BenchmarkTask {
        task: crucible_core::types::Task { kind, .. },
        ..
    } = task;
    let crucible_core::types::TaskKind::Function { prompt, .. } = kind else {
        panic!()
    };
    assert_eq!((&infill.prefix, &infill.suffix), (prompt, suffix));
    assert!(infill.extra.is_empty() && infill.filename.is_none());
    assert!(
        generator.requests[0]
            .params
            .stop
            .contains(&"\n".to_string())
    );
    let samples = super::read_lines(&out.join("samples.jsonl"));
    assert_eq!(
        samples[0]["solution"],
        serde_json::json!({"form": "continuation", "code": "    for idx, elem in enumerate(numbers):\n"})
    );

    // A wrong line fails: the suffix alone does not pass the tests. Its edit similarity is the
    // gap's with the reference's gap (whole programs, which share all but a line, would score
    // above 90).
    let (wrong, scored) = dir_eval(&bench, &home, &model, "    for idx in range(0):\n");
    assert_eq!(wrong, 0.0);
    assert_eq!(scored[0]["exact_match"], false, "{scored:?}");
    let similarity = scored[0]["edit_similarity"]["fuzz_ratio"].as_f64().unwrap();
    assert!((20.0..80.0).contains(&similarity), "{scored:?}");
}

/// One scripted answer to every task of `bench`, in a fresh run directory with exact match and
/// edit similarity: its pass@1 and metric lines.
fn dir_eval(
    bench: &crucible_core::eval::Benchmark,
    home: &std::path::Path,
    model: &ModelFacts,
    answer: &str,
) -> (f64, Vec<serde_json::Value>) {
    use crucible_core::metrics::{Metric, MetricParams, MetricRequest};
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("run");
    let mut generator =
        ScriptedGenerator::new([answer]).with_fim(crucible_core::infer::FimTokens::qwen());
    let mut with_metrics = params(&out, 0);
    with_metrics.metrics = Some(MetricRequest {
        params: MetricParams::new(vec![Metric::ExactMatch, Metric::EditSimilarity]),
        scorer: super::metrics::settings(),
        judge: super::metrics::settings(),
    });
    let outcome = quiet_eval(&mut generator, model, bench, home, &with_metrics).unwrap();
    (
        outcome.summary.pass_at_k["pass@1"],
        super::metrics::metric_lines(&out),
    )
}

#[test]
fn infilling_needs_fim_tokens_and_plain_decoding() {
    use crucible_core::eval::{BenchmarkName, InfillSplit};
    let Fixture {
        dir: _dir,
        home,
        bench,
        model,
        out,
    } = super::shipped_fixture(
        BenchmarkName::HumanEvalInfilling(InfillSplit::RandomSpanLight),
        None,
        |_| true,
    );
    let no_fim = quiet_eval(
        &mut ScriptedGenerator::new(["x"]),
        &model,
        &bench,
        &home,
        &params(&out, 0),
    )
    .unwrap_err()
    .to_string();
    assert!(
        no_fim.contains("fill-in-the-middle tokens")
            && no_fim.contains("humaneval-infilling-random-span-light"),
        "{no_fim}"
    );
    let mut strategy = params(&out, 0);
    strategy.strategy = repair(1);
    let refused = quiet_eval(
        &mut ScriptedGenerator::new(["x"]).with_fim(crucible_core::infer::FimTokens::qwen()),
        &model,
        &bench,
        &home,
        &strategy,
    )
    .unwrap_err()
    .to_string();
    assert!(refused.contains("drop `--strategy`"), "{refused}");
    assert!(!out.exists(), "a refused run leaves no run directory");
}
