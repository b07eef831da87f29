//! Integration tests of `crucible-infer-http` against the in-process mock server: the requests
//! sent, streamed answers, several choices, and failures.

mod choices;
mod failures;
mod many;
mod requests;
mod retries;
mod streaming;

use crucible_infer::{GenRequest, Generation, Generator, Message, Observer, Prompt};
use crucible_infer_http::mock::MockServer;
use crucible_infer_http::{HttpConfig, HttpGenerator};
use crucible_types::{Decoding, GenParams, SamplingParams};

/// Connect to `server` asking for `model`.
fn connect(server: &MockServer, model: Option<&str>) -> HttpGenerator {
    let mut config = HttpConfig::new(&server.endpoint());
    config.model = model.map(str::to_owned);
    HttpGenerator::connect(config).expect("the mock server accepts the connection")
}

/// A chat prompt prefilled with a Python code fence, as Crucible's chat prompts are.
fn chat_prompt() -> Prompt {
    Prompt::Chat {
        messages: vec![
            Message::system("You write code."),
            Message::user("Write `add(a, b)`."),
        ],
        prefill: "```python\n".into(),
    }
}

fn greedy(max_new_tokens: usize, stop: &[&str]) -> GenParams {
    GenParams {
        decoding: Decoding::Greedy,
        seed: 0,
        max_new_tokens,
        stop: stop.iter().map(|s| s.to_string()).collect(),
        n: 1,
    }
}

fn sampled(n: usize, seed: u64) -> GenParams {
    GenParams {
        decoding: Decoding::Sample(SamplingParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.0,
        }),
        seed,
        max_new_tokens: 64,
        stop: vec!["\n```".into()],
        n,
    }
}

/// Records what the generator streams; cancels once it has seen `cancel_after` pieces.
#[derive(Debug, Default)]
struct Recorder {
    pieces: Vec<(usize, String)>,
    cancel_after: Option<usize>,
}

impl Recorder {
    /// The concatenated text streamed for sequence `seq`.
    fn text(&self, seq: usize) -> String {
        self.pieces
            .iter()
            .filter(|(s, _)| *s == seq)
            .map(|(_, text)| text.as_str())
            .collect()
    }
}

impl Observer for Recorder {
    fn on_text(&mut self, seq: usize, text: &str) {
        self.pieces.push((seq, text.to_owned()));
    }

    fn cancelled(&self) -> bool {
        self.cancel_after
            .is_some_and(|after| self.pieces.len() >= after)
    }
}

fn generate(
    generator: &mut HttpGenerator,
    prompt: Prompt,
    params: GenParams,
    observer: &mut Recorder,
) -> Result<Generation, crucible_infer::Error> {
    generator.generate(&GenRequest { prompt, params }, observer)
}
