//! What the tests with the real models share: where a model is installed, and a feed that runs
//! a list of requests through `generate_many`.

use std::collections::{BTreeMap, VecDeque};
use std::ops::ControlFlow;
use std::path::PathBuf;

use crucible_infer::{Feed, GenRequest, Generation, Generator, Silent, Speculate};
use crucible_infer_llama::LlamaConfig;

/// The configuration the tests start from: 2 threads, `cells` of context and of each
/// `generate_many` slot, plain decoding, the default arithmetic and prompt cache. Each test
/// states what it changes (`LlamaConfig { speculate, ..config(2048) }`).
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn config(cells: usize) -> LlamaConfig {
    LlamaConfig {
        threads: 2,
        context_length: Some(cells),
        batch_size: 512,
        slot_cells: Some(cells),
        lora: None,
        speculate: Speculate::Off,
        draft_model: None,
        batch_invariant: false,
        flash_attention: crucible_infer::FlashAttention::Auto,
        draft_cost: None,
        prompt_cache_bytes: crucible_infer_llama::DEFAULT_PROMPT_CACHE_BYTES,
        kv_shift: false,
    }
}

/// Greedy decoding of one sequence, at most `max_new_tokens`, no stop sequences.
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn greedy(max_new_tokens: usize) -> crucible_types::GenParams {
    crucible_types::GenParams {
        decoding: crucible_types::Decoding::Greedy,
        seed: 0,
        max_new_tokens,
        stop: vec![],
        n: 1,
    }
}

/// The default model's file under `CRUCIBLE_HOME` (or its XDG default). Fails, naming the
/// command to run, when the model is not installed, rather than letting a test pass unchecked.
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn default_model() -> PathBuf {
    installed_model("qwen2.5-coder-0.5b-instruct")
}

/// The file of the known model `name` under `CRUCIBLE_HOME` (or its XDG default). Fails,
/// naming the command to run, when it is not installed.
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn installed_model(name: &str) -> PathBuf {
    let path = crucible_home().join(format!("models/{name}.gguf"));
    assert!(
        path.is_file(),
        "the model {name} is not installed at {}; run `crucible model pull {name}` (scripts/setup.sh does)",
        path.display()
    );
    path
}

/// `CRUCIBLE_HOME`, or its XDG default.
fn crucible_home() -> PathBuf {
    std::env::var_os("CRUCIBLE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("crucible")))
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share/crucible")
        })
}

/// The `prompt` fields of the first `count` HumanEval tasks, from the data `crucible data pull
/// humaneval` installs under `CRUCIBLE_HOME`. Fails, naming the command, when it is missing.
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn humaneval_prompts(count: usize) -> Vec<String> {
    use std::io::BufRead;
    let path = crucible_home().join("data/humaneval/HumanEval.jsonl.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|err| {
        panic!(
            "HumanEval is not installed at {} ({err}); run `crucible data pull humaneval` (scripts/setup.sh does)",
            path.display()
        )
    });
    std::io::BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .take(count)
        .map(|line| {
            let task: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            task["prompt"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Hands out its requests in order and keeps each result.
struct Collect {
    requests: VecDeque<GenRequest>,
    done: BTreeMap<usize, Generation>,
}

impl Feed for Collect {
    fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
        self.requests.pop_front()
    }

    fn finished(
        &mut self,
        id: usize,
        result: Result<Generation, crucible_infer::Error>,
    ) -> ControlFlow<()> {
        self.done.insert(id, result.unwrap());
        ControlFlow::Continue(())
    }
}

/// `requests` through `generate_many` with `slots` sequences at once; the results in request
/// order, every request answered.
#[allow(dead_code, reason = "each test file uses the helpers it needs")]
pub(crate) fn many(
    generator: &mut dyn Generator,
    requests: &[GenRequest],
    slots: usize,
) -> Vec<Generation> {
    let mut feed = Collect {
        requests: requests.iter().cloned().collect(),
        done: BTreeMap::new(),
    };
    generator
        .generate_many(&mut feed, slots, &mut Silent)
        .unwrap();
    assert_eq!(feed.done.len(), requests.len());
    feed.done.into_values().collect()
}
