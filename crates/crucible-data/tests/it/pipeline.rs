//! The pipeline end to end: what it keeps and drops, and that shards, resumes and a full disk
//! change nothing in the result.

use std::sync::atomic::{AtomicUsize, Ordering};

use crucible_data::Error;
use crucible_data::pipeline::{Limits, RunParams, Shard, StageName, run};

use crate::corpus::{self, config, job, kept, params, rejects, result_files, run_all};

fn reasons(output: &std::path::Path) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = rejects(output)
        .iter()
        .map(|r| {
            let who = r["id"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| r["source"].as_str().unwrap().to_owned());
            (
                r["stage"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
                who,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_stage_drops_or_changes_what_it_should_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus::make(dir.path());
    let out = dir.path().join("out");
    run_all(&inputs, &out, &config());
    let reasons = reasons(&out);
    let has = |stage: &str, reason: &str, who: &str| {
        reasons
            .iter()
            .any(|(s, r, w)| s == stage && r == reason && w.contains(who))
    };
    for (stage, reason, who) in [
        ("read", "vendored", "repo/vendor"),
        ("read", "binary", "repo/bin/blob.dat"),
        ("read", "undecodable", "repo/bad/latin1.py"),
        ("read", "empty", "repo/bad/empty.py"),
        ("read", "too_large", "repo/bad/huge.py"),
        ("read", "malformed_json", "extra.jsonl:11"),
        ("read", "schema", "wrong.parquet"),
        ("quality", "max_line_length", "repo/q/long.py"),
        ("quality", "generated", "repo/q/gen_pb2.py"),
        ("quality", "alnum_fraction", "repo/q/symbols.py"),
        ("decontam", "exact_substring", "repo/leak/bank.py"),
        ("pii", "redacted", "repo/pii/conf.py"),
        ("exact", "exact_duplicate", "repo/pkg/mod_03.py"),
        ("exact", "exact_duplicate", "dup"),
        ("near", "near_duplicate", "repo/pkg/mod_04.py"),
    ] {
        assert!(
            has(stage, reason, who),
            "no {stage}/{reason} for {who} in {reasons:#?}"
        );
    }
    // The first copy in input order is kept: `copy/` sorts before `pkg/`.
    let kept = kept(&out);
    let ids: Vec<&str> = kept.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"repo/copy/mod_03.py") && !ids.contains(&"repo/copy2/mod_03.py"));
    assert!(ids.contains(&"repo/copy/mod_04.py") && !ids.contains(&"repo/pkg/mod_04.py"));
    assert!(ids.contains(&"repo/pkg/mod_07.py") && !ids.contains(&"dup"));
    let conf = kept.iter().find(|d| d["id"] == "repo/pii/conf.py").unwrap();
    assert_eq!(
        conf["text"],
        "ADMIN = '<EMAIL>'\nSERVER = '<IP_ADDRESS>'\nAPI_SECRET = \"<KEY>\"\n"
    );
    let script = kept.iter().find(|d| d["id"] == "repo/tools/run").unwrap();
    assert_eq!(script["language"], "python");
    let j100 = kept.iter().find(|d| d["id"] == "j100").unwrap();
    assert_eq!(j100["language"], "python");
    assert_eq!(j100["metadata"]["license"], "mit");
    // Nothing vanishes: every record in is out or in a side file as dropped.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let dropped: u64 = summary["stages"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(
        summary["documents_in"].as_u64().unwrap(),
        summary["documents_out"].as_u64().unwrap() + dropped
    );
    assert_eq!(
        summary["documents_out"].as_u64().unwrap(),
        kept.len() as u64
    );
    let dropped_lines = rejects(&out)
        .iter()
        .filter(|r| r["action"] == "dropped")
        .count() as u64;
    assert_eq!(dropped_lines, dropped);
    assert_eq!(summary["near_dedup"]["bands"], 25);
    assert_eq!(summary["near_dedup"]["rows"], 10);
}

#[test]
fn shards_in_parallel_write_the_same_bytes_as_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus::make(dir.path());
    let single = dir.path().join("single");
    run_all(&inputs, &single, &config());
    let sharded = dir.path().join("sharded");
    std::thread::scope(|scope| {
        for index in 0..3 {
            let (inputs, sharded) = (&inputs, &sharded);
            scope.spawn(move || {
                let mut p = params(Shard { index, count: 3 }, None);
                p.threads = 1;
                run(job(inputs, sharded, &config()), &p).unwrap();
            });
        }
    });
    assert_eq!(result_files(&single), result_files(&sharded));
    // Step by step with a different shard count per step, as separate scheduler jobs would.
    let stepped = dir.path().join("stepped");
    for (stage, count) in StageName::ALL.iter().zip([1, 4, 5, 1, 2, 1]) {
        for index in 0..count {
            run(
                job(&inputs, &stepped, &config()),
                &params(Shard { index, count }, Some(*stage)),
            )
            .unwrap();
        }
    }
    assert_eq!(result_files(&single), result_files(&stepped));
}

#[test]
fn a_stopped_run_resumes_to_the_same_result_without_redoing_items() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus::make(dir.path());
    let reference = dir.path().join("reference");
    run_all(&inputs, &reference, &config());
    let out = dir.path().join("out");
    let polls = AtomicUsize::new(0);
    let stop = || polls.fetch_add(1, Ordering::SeqCst) >= 25;
    let p = RunParams {
        should_stop: &stop,
        threads: 1,
        ..params(Shard::ALL, None)
    };
    let res = run(job(&inputs, &out, &config()), &p);
    assert!(matches!(res, Err(Error::Stopped)), "{res:?}");
    let report = run(job(&inputs, &out, &config()), &params(Shard::ALL, None)).unwrap();
    let prepare = report
        .stages
        .iter()
        .find(|s| s.stage == StageName::Prepare)
        .unwrap();
    assert!(prepare.already_done > 0, "{prepare:?}");
    assert!(prepare.ran > 0, "{prepare:?}");
    assert_eq!(result_files(&reference), result_files(&out));
}

#[test]
fn a_full_disk_is_a_clear_error_and_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus::make(dir.path());
    let reference = dir.path().join("reference");
    run_all(&inputs, &reference, &config());
    let out = dir.path().join("out");
    // Every write to the largest data part's temporary file fails with ENOSPC.
    let largest = result_files(&reference)
        .into_iter()
        .filter(|(name, _)| name.starts_with("data/"))
        .max_by_key(|(_, bytes)| bytes.len())
        .unwrap()
        .0;
    std::fs::create_dir_all(out.join("data")).unwrap();
    let tmp = out.join(format!("{largest}.tmp"));
    std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
    let p = crate::corpus::params(Shard::ALL, None);
    let err = run(
        job(&inputs, &out, &config()),
        &RunParams { threads: 1, ..p },
    )
    .unwrap_err();
    assert!(matches!(err, Error::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("re-run the same command"), "{err}");
    // Space freed: the same command finishes and nothing is lost or doubled.
    let _ = std::fs::remove_file(&tmp);
    let report = run(job(&inputs, &out, &config()), &params(Shard::ALL, None)).unwrap();
    let prepare = report
        .stages
        .iter()
        .find(|s| s.stage == StageName::Prepare)
        .unwrap();
    assert_eq!(prepare.ran, 0, "prepare was done before the disk filled");
    assert_eq!(result_files(&reference), result_files(&out));
}

#[test]
fn shard_mistakes_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus::make(dir.path());
    let out = dir.path().join("out");
    for bad in ["3/3", "1/0", "x/2", "2"] {
        let err = Shard::parse(bad).unwrap_err();
        assert!(err.to_string().contains("expected I/N"), "{err}");
    }
    run(
        job(&inputs, &out, &config()),
        &params(Shard { index: 0, count: 1 }, Some(StageName::Plan)),
    )
    .unwrap();
    run(
        job(&inputs, &out, &config()),
        &params(Shard { index: 0, count: 2 }, Some(StageName::Prepare)),
    )
    .unwrap();
    let err = run(
        job(&inputs, &out, &config()),
        &params(Shard { index: 1, count: 3 }, Some(StageName::Prepare)),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShardCountMismatch {
                recorded: 2,
                given: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = run(
        job(&inputs, &out, &config()),
        &params(Shard { index: 0, count: 1 }, Some(StageName::Buckets)),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotReady { .. }), "{err}");
    let mut other = config();
    other.quality.max_line_length = 10;
    let err = run(job(&inputs, &out, &other), &params(Shard::ALL, None)).unwrap_err();
    assert!(matches!(err, Error::ConfigMismatch { .. }), "{err}");
    let resharded = RunParams {
        reshard: true,
        ..params(Shard { index: 0, count: 1 }, Some(StageName::Prepare))
    };
    run(job(&inputs, &out, &config()), &resharded).unwrap();
    run(job(&inputs, &out, &config()), &params(Shard::ALL, None)).unwrap();
}

#[test]
fn parquet_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus::make(dir.path());
    let jsonl_out = dir.path().join("jsonl");
    run_all(&inputs, &jsonl_out, &config());
    let mut parquet_config = config();
    parquet_config.output.format = crucible_data::Format::Parquet;
    let parquet_out = dir.path().join("parquet");
    run_all(&inputs, &parquet_out, &parquet_config);
    // Read the Parquet parts back as the next run's input: the same texts come out.
    let parts: Vec<std::path::PathBuf> = {
        let mut parts: Vec<_> = std::fs::read_dir(parquet_out.join("data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        parts.sort();
        parts
    };
    let mut round = config();
    round.decontam.enabled = false;
    round.pii.enabled = false;
    round.quality.enabled = false;
    let again = dir.path().join("again");
    run_all(&parts, &again, &round);
    let texts = |docs: Vec<serde_json::Value>| -> Vec<String> {
        let mut t: Vec<String> = docs
            .iter()
            .map(|d| d["text"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(texts(kept(&jsonl_out)), texts(kept(&again)));
}

#[test]
fn tiny_memory_limits_spill_to_disk_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = corpus::make(dir.path());
    let reference = dir.path().join("reference");
    run_all(&inputs, &reference, &config());
    let out = dir.path().join("out");
    // Two files open per merge and one pair in memory: every merge goes through run files and
    // every pair is spilled.
    let p = RunParams {
        limits: Limits {
            merge_fan_in: 2,
            pairs_in_memory: 1,
        },
        ..params(Shard::ALL, None)
    };
    let report = run(job(&inputs, &out, &config()), &p).unwrap();
    let buckets = report
        .stages
        .iter()
        .find(|s| s.stage == StageName::Buckets)
        .unwrap();
    assert!(buckets.stats.counters["key_runs"] > 0, "{buckets:?}");
    assert!(buckets.stats.counters["pair_spills"] > 0, "{buckets:?}");
    assert_eq!(result_files(&reference), result_files(&out));
    // No temporary runs are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(out.join("work/buckets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
