//! Downloaders against a local HTTP server started by the test (no hub is reachable here).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crucible_eval::fetch::{RowsSource, fetch_hub_file, fetch_rows, write_jsonl_gz};
use crucible_eval::{BenchmarkName, DataDirs, LoadParams, load_benchmark};

/// Serve `responses` (status, body) to successive requests, recording the request lines.
fn serve(responses: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for (status, body) in responses {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            log.lock().unwrap().push(request_line.trim().to_owned());
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body.as_bytes()).unwrap();
        }
    });
    (format!("http://{addr}"), seen)
}

fn humaneval_row(n: usize) -> serde_json::Value {
    serde_json::json!({
        "task_id": format!("HumanEval/{n}"),
        "prompt": format!("def f{n}(x):\n    \"\"\"\n    >>> f{n}(1)\n    1\n    \"\"\"\n"),
        "canonical_solution": "    return x\n",
        "test": "def check(candidate):\n    assert candidate(2) == 2\n",
        "entry_point": format!("f{n}"),
    })
}

#[test]
fn rows_api_is_paged_and_written_in_loader_layout() {
    let page = |from: usize, to: usize| {
        let rows: Vec<_> = (from..to)
            .map(|n| serde_json::json!({"row_idx": n, "row": humaneval_row(n)}))
            .collect();
        serde_json::json!({"rows": rows, "num_rows_total": 150}).to_string()
    };
    let (endpoint, seen) = serve(vec![(200, page(0, 100)), (200, page(100, 150))]);
    let source = RowsSource {
        endpoint,
        dataset: "openai/openai_humaneval".into(),
        config: "openai_humaneval".into(),
        split: "test".into(),
        token: None,
    };
    let rows = fetch_rows(&source).unwrap();
    assert_eq!(rows.len(), 150);
    let requests = seen.lock().unwrap().clone();
    assert_eq!(
        requests,
        vec![
            "GET /rows?dataset=openai%2Fopenai_humaneval&config=openai_humaneval&split=test&offset=0&length=100 HTTP/1.1",
            "GET /rows?dataset=openai%2Fopenai_humaneval&config=openai_humaneval&split=test&offset=100&length=100 HTTP/1.1",
        ]
    );
    // Written where `data pull` puts it, the loader reads it back.
    let home = tempfile::tempdir().unwrap();
    write_jsonl_gz(
        &rows,
        &home.path().join("data/humaneval/HumanEval.jsonl.gz"),
    )
    .unwrap();
    let dirs = DataDirs {
        primary: None,
        pulled: Some(home.path().join("data")),
    };
    let bench = load_benchmark(
        &BenchmarkName::HumanEval,
        &LoadParams {
            dirs: &dirs,
            language: None,
        },
    )
    .unwrap();
    assert_eq!(bench.tasks.len(), 150);
    assert!(bench.tasks[0].task.has_visible_tests());
}

#[test]
fn hub_file_and_errors() {
    let (endpoint, seen) = serve(vec![(200, "payload".into()), (404, "{}".into())]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x/file.bin");
    fetch_hub_file(
        &endpoint,
        "org/set",
        "main",
        "data/file.bin",
        Some("tok"),
        &dest,
    )
    .unwrap();
    let mut text = String::new();
    std::fs::File::open(&dest)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "payload");
    assert_eq!(
        seen.lock().unwrap()[0],
        "GET /datasets/org/set/resolve/main/data/file.bin HTTP/1.1"
    );
    let missing = dir.path().join("missing.bin");
    let err = fetch_hub_file(&endpoint, "org/set", "main", "nope", None, &missing).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(!missing.exists());
}
