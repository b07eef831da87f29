//! Execution benchmarks behind docs/PERFORMANCE.md's "Execution" section.
//!
//! `cargo bench -p crucible-exec --bench exec_bench -- [overhead|humaneval|pch|all] [--workers N]`
//! `cargo bench -p crucible-exec --bench exec_bench -- humaneval-x [LANG] [--workers N]
//! [--in-process]` (`--in-process`: appended tests in the program's process, as before the
//! split, to measure what the split costs).
//! Prints medians; every figure comes from runs made by this program on the current machine.
#![expect(clippy::print_stdout, reason = "a benchmark report")]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crucible_exec::{ExecConfig, ExecPool, ExecRequest, Executor, Isolation, LangOptions, Limits};
use crucible_types::{Language, Status, TestSuite};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let workers = args
        .iter()
        .position(|a| a == "--workers")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    let in_process = args.iter().any(|a| a == "--in-process");
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-cache");
    if matches!(what, "overhead" | "all") {
        overhead(&cache);
    }
    if matches!(what, "humaneval" | "all") {
        humaneval(&cache, workers);
    }
    if matches!(what, "pch" | "all") {
        pch(&cache);
    }
    if matches!(what, "humaneval-x" | "all") {
        let only = args.get(1).filter(|a| !a.starts_with("--"));
        humaneval_x(&cache, workers, only.map(String::as_str), in_process);
    }
}

fn load_jsonl_gz(path: &Path) -> Vec<serde_json::Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("data file"))
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// HumanEval-X canonical solutions with their appended tests, per language.
fn humaneval_x(cache: &Path, workers: usize, only: Option<&str>, in_process: bool) {
    // The data beside the repository, or `CRUCIBLE_DATA` (worktrees live elsewhere).
    let data = std::env::var_os("CRUCIBLE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = data.join("humaneval-x");
    let mut config = ExecConfig::new(cache);
    config.python_workers = workers;
    config.split_appended_tests = !in_process;
    let pool = ExecPool::new(Arc::new(Executor::new(&config).expect("executor")), workers);
    let placement = if in_process {
        "tests in the program's process"
    } else {
        "tests split where they can be"
    };
    let langs = [
        ("cpp", Language::Cpp),
        ("java", Language::Java),
        ("js", Language::JavaScript),
        ("go", Language::Go),
        ("rust", Language::Rust),
        ("python", Language::Python),
    ];
    for (name, language) in langs {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let problems = load_jsonl_gz(&dir.join(format!("humaneval_{name}.jsonl.gz")));
        let requests: Vec<ExecRequest> = problems
            .iter()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
                let (program, tests) = match language {
                    Language::Go => (
                        s("prompt") + &s("canonical_solution"),
                        s("test_setup") + &s("test"),
                    ),
                    Language::Python => (s("prompt") + &s("canonical_solution"), s("test")),
                    _ => (s("declaration") + &s("canonical_solution"), s("test")),
                };
                let mut req = request(language, &program, TestSuite::Code { code: tests });
                req.limits = Limits::new(Duration::from_secs(10), 1024 << 20);
                if language == Language::Python {
                    let id = s("task_id");
                    let entry = p["entry_point"].as_str().map(str::to_owned);
                    req.entry_point = entry.or_else(|| id.split('/').nth(1).map(str::to_owned));
                }
                req
            })
            .collect();
        for round in 0..2 {
            let t = Instant::now();
            let reports = pool.run_all(requests.clone());
            let elapsed = t.elapsed();
            let passed = reports
                .iter()
                .filter(|r| r.as_ref().is_ok_and(|r| r.status == Status::Passed))
                .count();
            let in_process_runs = reports
                .iter()
                .filter(|r| r.as_ref().is_ok_and(|r| r.in_process_tests))
                .count();
            println!(
                "humaneval-x {name} round {round} ({}, {placement}): {passed}/{} passed in {:.1} s \
                 ({in_process_runs} with the tests in the program's process)",
                if round == 0 {
                    "cold cache"
                } else {
                    "warm cache"
                },
                reports.len(),
                elapsed.as_secs_f64()
            );
            if round == 0 {
                for (p, r) in problems.iter().zip(&reports) {
                    match r {
                        Ok(r) if r.status == Status::Passed => {}
                        Ok(r) => println!(
                            "  {}: {} {}",
                            p["task_id"],
                            r.status,
                            r.render_feedback(600).replace('\n', "\n    ")
                        ),
                        Err(e) => println!("  {}: error {e}", p["task_id"]),
                    }
                }
            }
        }
    }
}

/// CPU time of this process and its reaped children (executor, sandboxes and programs).
fn cpu_now() -> Duration {
    let read = |who| {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct; zeroed is a valid initial state.
        #[allow(unsafe_code, reason = "getrusage in a benchmark")]
        let usage = unsafe {
            libc::getrusage(who, usage.as_mut_ptr());
            usage.assume_init()
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(usage.ru_utime) + tv(usage.ru_stime)
    };
    read(libc::RUSAGE_SELF) + read(libc::RUSAGE_CHILDREN)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn executor(cache: &Path, isolation: Isolation, workers: usize) -> Executor {
    let mut config = ExecConfig::new(cache);
    config.isolation = isolation;
    config.python_workers = workers;
    Executor::new(&config).expect("executor")
}

fn request(language: Language, source: &str, tests: TestSuite) -> ExecRequest {
    ExecRequest {
        language,
        source: source.to_owned(),
        tests,
        entry_point: None,
        limits: Limits::new(Duration::from_secs(5), 512 << 20),
        options: LangOptions::default(),
        fail_fast: false,
        stdin: None,
        // The bench's own tests.
        trusted_tests: true,
    }
}

/// Per-run cost of isolation: the same compiled C program, bare vs through the executor with
/// and without the sandbox.
fn overhead(cache: &Path) {
    const N: usize = 200;
    let source = "int main(void) { return 0; }\n";
    let dir = cache.join("bare");
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("true.c");
    std::fs::write(&src, source).unwrap();
    let exe = dir.join("true");
    #[allow(
        clippy::disallowed_methods,
        reason = "the bare baseline is a plain spawn"
    )]
    let built = std::process::Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .unwrap();
    assert!(built.success());
    let mut bare = Vec::new();
    for _ in 0..N {
        let t = Instant::now();
        #[allow(
            clippy::disallowed_methods,
            reason = "the bare baseline is a plain spawn"
        )]
        let status = std::process::Command::new(&exe).status().unwrap();
        assert!(status.success());
        bare.push(t.elapsed());
    }
    let bare_cpu = cpu_now();
    for _ in 0..N {
        #[allow(
            clippy::disallowed_methods,
            reason = "the bare baseline is a plain spawn"
        )]
        let status = std::process::Command::new(&exe).status().unwrap();
        assert!(status.success());
    }
    let mut cpu_rows = vec![(cpu_now() - bare_cpu) / N as u32];
    let mut rows = vec![("bare fork+exec (std::process::Command)", median(bare))];
    for (name, isolation) in [
        ("executor, --no-sandbox (rlimits only)", Isolation::None),
        ("executor, sandboxed", Isolation::Sandboxed),
    ] {
        let ex = executor(cache, isolation, 1);
        let req = request(Language::C, source, TestSuite::None);
        ex.run(&req).unwrap();
        let mut times = Vec::new();
        let cpu_before = cpu_now();
        for _ in 0..N {
            let t = Instant::now();
            let report = ex.run(&req).unwrap();
            assert_eq!(report.status, Status::Passed);
            times.push(t.elapsed());
        }
        cpu_rows.push((cpu_now() - cpu_before) / N as u32);
        rows.push((name, median(times)));
    }
    println!("## isolation overhead per run ({N} runs of a C `return 0` program)");
    println!("{:45} {:>10} {:>14}", "", "median wall", "mean CPU/run");
    for ((name, d), cpu) in rows.iter().zip(&cpu_rows) {
        println!(
            "{name:45} {:7.2} ms {:11.2} ms",
            d.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() * 1000.0
        );
    }
    let cost = rows[2].1.as_secs_f64() - rows[1].1.as_secs_f64();
    println!(
        "sandbox cost over the unsandboxed executor: {:.2} ms",
        cost * 1000.0
    );
    let total = rows[2].1.as_secs_f64() - rows[0].1.as_secs_f64();
    println!(
        "sandboxed executor over a bare spawn: {:.2} ms\n",
        total * 1000.0
    );
}

/// All 164 HumanEval canonical solutions with their tests, sandboxed.
fn humaneval(cache: &Path, workers: usize) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/humaneval/HumanEval.jsonl.gz");
    let data = std::env::var_os("HUMANEVAL")
        .map(PathBuf::from)
        .unwrap_or(data);
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&data).expect("HumanEval.jsonl.gz"))
        .read_to_string(&mut text)
        .unwrap();
    let problems: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests: Vec<ExecRequest> = problems
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_owned();
            let mut req = request(
                Language::Python,
                &(s("prompt") + &s("canonical_solution")),
                TestSuite::Code { code: s("test") },
            );
            req.entry_point = Some(s("entry_point"));
            req.limits = Limits::new(Duration::from_secs(3), 512 << 20);
            req
        })
        .collect();
    let pool = ExecPool::new(
        Arc::new(executor(cache, Isolation::Sandboxed, workers)),
        workers,
    );
    let mut times = Vec::new();
    for round in 0..4 {
        let t = Instant::now();
        let reports = pool.run_all(requests.clone());
        let elapsed = t.elapsed();
        let passed = reports
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|r| r.status == Status::Passed))
            .count();
        let tests: usize = reports.iter().flatten().map(|r| r.tests.len()).sum();
        println!(
            "round {round}: {passed}/{} passed ({tests} asserts) in {:.2} s",
            reports.len(),
            elapsed.as_secs_f64()
        );
        let mut run_ms: Vec<u64> = reports.iter().flatten().map(|r| r.run_ms).collect();
        run_ms.sort();
        println!(
            "  per-sample run_ms: median {} p90 {} max {}",
            run_ms[run_ms.len() / 2],
            run_ms[run_ms.len() * 9 / 10],
            run_ms[run_ms.len() - 1]
        );
        if round == 0 {
            for (p, r) in problems.iter().zip(&reports) {
                match r {
                    Ok(r) if r.status == Status::Passed => {}
                    Ok(r) => println!("  {}: {} {:?}", p["task_id"], r.status, r.failure),
                    Err(e) => println!("  {}: error {e}", p["task_id"]),
                }
            }
        }
        times.push(elapsed);
    }
    println!(
        "## HumanEval 164 canonical solutions, sandboxed, {workers} workers: median of rounds 1-3 {:.2} s (round 0 includes worker start)\n",
        median(times[1..].to_vec()).as_secs_f64()
    );
}

/// C++ compile time with and without the precompiled header, and with the cache warm.
fn pch(cache: &Path) {
    const N: usize = 5;
    let ex = executor(cache, Isolation::Sandboxed, 1);
    let program = |i: usize| {
        format!(
            "#include <bits/stdc++.h>\nusing namespace std;\nint main() {{ vector<int> v{{3,1,2}}; sort(v.begin(), v.end()); cout << v[0] + {i} << endl; }}\n// {}\n",
            std::process::id()
        )
    };
    let mut rows = Vec::new();
    for (name, disable_pch) in [("without PCH", true), ("with PCH", false)] {
        let mut warmup = request(Language::Cpp, &program(1000), TestSuite::None);
        warmup.options.disable_pch = disable_pch;
        ex.run(&warmup).unwrap();
        let mut times = Vec::new();
        for i in 0..N {
            let mut req = request(
                Language::Cpp,
                &program(i + if disable_pch { 0 } else { 100 }),
                TestSuite::None,
            );
            req.options.disable_pch = disable_pch;
            let report = ex.run(&req).unwrap();
            assert_eq!(report.status, Status::Passed);
            assert!(!report.compile_cached);
            times.push(Duration::from_millis(report.compile_ms));
        }
        rows.push((name, median(times)));
    }
    let mut warm = Vec::new();
    let req = request(Language::Cpp, &program(7), TestSuite::None);
    ex.run(&req).unwrap();
    for _ in 0..N {
        let t = Instant::now();
        let report = ex.run(&req).unwrap();
        assert!(report.compile_cached);
        warm.push(t.elapsed());
    }
    println!("## C++ compile (bits/stdc++.h, -std=c++17 -O2), median of {N}, sandboxed");
    for (name, d) in &rows {
        println!("{name:40} {:8.0} ms", d.as_secs_f64() * 1000.0);
    }
    println!(
        "{:40} {:8.1} ms (whole run, compile skipped)",
        "cache warm",
        median(warm).as_secs_f64() * 1000.0
    );
    println!(
        "PCH speed-up: {:.1}x\n",
        rows[0].1.as_secs_f64() / rows[1].1.as_secs_f64()
    );
}
