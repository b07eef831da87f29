//! `generate_many`: requests of several tasks in flight together, bounded by sequences, with
//! results matched to their requests, an early stop, and cancellation.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crucible_infer::{Feed, GenRequest, Generation, Generator, Message, Observer, Prompt};
use crucible_infer_http::mock::{MockServer, Received, Reply};

use crate::{connect, sampled};

/// Prompts `task 0`, `task 1`, ... of `n` sequences each; records every result.
struct Tasks {
    count: usize,
    n: usize,
    given: usize,
    done: Vec<(usize, Result<Generation, String>)>,
    stop_after: Option<usize>,
}

impl Tasks {
    fn new(count: usize, n: usize) -> Tasks {
        Tasks {
            count,
            n,
            given: 0,
            done: Vec::new(),
            stop_after: None,
        }
    }
}

impl Feed for Tasks {
    fn next_request(&mut self, _wait: bool) -> Option<GenRequest> {
        if self.given == self.count {
            return None;
        }
        let prompt = Prompt::Chat {
            messages: vec![Message::user(format!("task {}", self.given))],
            prefill: String::new(),
        };
        self.given += 1;
        Some(GenRequest {
            prompt,
            params: sampled(self.n, 1),
        })
    }

    fn finished(
        &mut self,
        id: usize,
        result: Result<Generation, crucible_infer::Error>,
    ) -> ControlFlow<()> {
        self.done.push((id, result.map_err(|err| err.to_string())));
        if self.stop_after == Some(self.done.len()) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// A server that answers each request after `delay` with its user message echoed once per
/// asked choice, and counts how many requests it holds at once (the most in `peak`).
fn slow_echo(delay: Duration) -> (MockServer, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&peak);
    let server = MockServer::serving("m", move |request: &Received| {
        let held = now.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(held, Ordering::SeqCst);
        std::thread::sleep(delay);
        now.fetch_sub(1, Ordering::SeqCst);
        let body = request.json();
        let user = body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let choices = body["n"].as_u64().unwrap_or(1) as usize;
        let events = (0..choices).flat_map(|index| {
            [
                crucible_infer_http::mock::chat_delta(index, &user),
                crucible_infer_http::mock::chat_finish(index, "stop"),
            ]
        });
        Reply::events(events)
    });
    (server, seen)
}

struct Quiet;

impl Observer for Quiet {}

#[test]
fn requests_run_together_up_to_the_sequence_limit_and_results_find_their_request() {
    let (server, peak) = slow_echo(Duration::from_millis(300));
    let mut generator = connect(&server, None);
    let mut tasks = Tasks::new(6, 1);
    let started = Instant::now();
    generator.generate_many(&mut tasks, 3, &mut Quiet).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(tasks.done.len(), 6);
    for (id, result) in &tasks.done {
        let generation = result.as_ref().unwrap();
        assert_eq!(generation.completions[0].text, format!("task {id}"));
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!((2..=3).contains(&peak), "{peak} requests held at once");
    // One after another would take 6 x 300 ms.
    assert!(elapsed < Duration::from_millis(1_500), "{elapsed:?}");
    assert_eq!(server.posts().len(), 6);
}

#[test]
fn a_request_counts_all_its_sequences() {
    // Requests of 2 sequences under a limit of 3: never two requests at once.
    let (server, peak) = slow_echo(Duration::from_millis(100));
    let mut generator = connect(&server, None);
    let mut tasks = Tasks::new(3, 2);
    generator.generate_many(&mut tasks, 3, &mut Quiet).unwrap();
    assert_eq!(tasks.done.len(), 3);
    for (id, result) in &tasks.done {
        let texts: Vec<String> = result
            .as_ref()
            .unwrap()
            .completions
            .iter()
            .map(|c| c.text.clone())
            .collect();
        assert_eq!(texts, vec![format!("task {id}"); 2]);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1);
}

#[test]
fn break_stops_asking_for_requests() {
    let (server, _) = slow_echo(Duration::from_millis(50));
    let mut generator = connect(&server, None);
    let mut tasks = Tasks::new(10, 1);
    tasks.stop_after = Some(1);
    generator.generate_many(&mut tasks, 2, &mut Quiet).unwrap();
    assert_eq!(tasks.done.len(), 1);
    assert!(tasks.given <= 3, "{} requests taken", tasks.given);
}

/// Cancelled from the start: the call returns at once although the server never answers.
#[test]
fn cancelling_returns_without_waiting_for_a_silent_server() {
    struct Cancelled;
    impl Observer for Cancelled {
        fn cancelled(&self) -> bool {
            true
        }
    }
    let server = MockServer::serving("m", |_| Reply::Silence);
    let mut generator = connect(&server, None);
    let mut tasks = Tasks::new(4, 1);
    let started = Instant::now();
    let err = generator
        .generate_many(&mut tasks, 4, &mut Cancelled)
        .unwrap_err();
    assert!(matches!(err, crucible_infer::Error::Cancelled), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(tasks.done.is_empty());
}

#[test]
fn a_shared_generator_sends_the_calls_of_several_threads_together() {
    // Each of 3 threads makes 2 calls one after the other; the server holds several at once
    // because the feed is asked again while requests run.
    let (server, peak) = slow_echo(Duration::from_millis(200));
    let mut generator = connect(&server, None);
    let started = Instant::now();
    let (answers, served) = crucible_infer::share(&mut generator, 4, &mut Quiet, |handle| {
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..3)
                .map(|t| {
                    let mut handle = handle.clone();
                    scope.spawn(move || {
                        (0..2)
                            .map(|i| {
                                let request = GenRequest {
                                    prompt: Prompt::Chat {
                                        messages: vec![Message::user(format!("call {t}.{i}"))],
                                        prefill: String::new(),
                                    },
                                    params: sampled(1, 1),
                                };
                                let generation = handle.generate(&request, &mut Quiet).unwrap();
                                (
                                    format!("call {t}.{i}"),
                                    generation.completions[0].text.clone(),
                                )
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        })
    });
    served.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(answers.len(), 6);
    for (asked, answer) in &answers {
        assert_eq!(asked, answer);
    }
    assert!(
        peak.load(Ordering::SeqCst) >= 2,
        "calls were sent one at a time"
    );
    // One after another would take 6 x 200 ms.
    assert!(elapsed < Duration::from_millis(1_000), "{elapsed:?}");
}

/// Hands out `task 0` .. `task N`, records streamed text per request, and cancels request 0
/// once it has streamed something.
struct Streams {
    inner: Tasks,
    text: std::collections::BTreeMap<usize, String>,
}

impl Feed for Streams {
    fn next_request(&mut self, wait: bool) -> Option<GenRequest> {
        self.inner.next_request(wait)
    }

    fn finished(
        &mut self,
        id: usize,
        result: Result<Generation, crucible_infer::Error>,
    ) -> ControlFlow<()> {
        self.inner.finished(id, result)
    }

    fn on_text(&mut self, id: usize, _seq: usize, text: &str) {
        self.text.entry(id).or_default().push_str(text);
    }

    fn cancelled(&self, id: usize) -> bool {
        id == 0 && self.text.contains_key(&0)
    }
}

#[test]
fn text_streams_per_request_and_a_cancelled_request_is_closed_while_the_others_finish() {
    // `task 0` streams a piece and then hangs; the others answer at once.
    let server = MockServer::serving("m", |request: &Received| {
        let body = request.json();
        let user = body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        if user == "task 0" {
            Reply::hanging([crucible_infer_http::mock::chat_delta(0, "slow")])
        } else {
            Reply::events([
                crucible_infer_http::mock::chat_delta(0, &user),
                crucible_infer_http::mock::chat_finish(0, "stop"),
            ])
        }
    });
    let mut generator = connect(&server, None);
    let mut feed = Streams {
        inner: Tasks::new(3, 1),
        text: Default::default(),
    };
    let started = Instant::now();
    generator.generate_many(&mut feed, 4, &mut Quiet).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut done = feed.inner.done.clone();
    done.sort_by_key(|(id, _)| *id);
    assert_eq!(done[0].1.as_ref().unwrap_err(), "generation was cancelled");
    for (id, result) in &done[1..] {
        assert_eq!(
            result.as_ref().unwrap().completions[0].text,
            format!("task {id}")
        );
        assert_eq!(feed.text[id], format!("task {id}"));
    }
    assert_eq!(feed.text[&0], "slow");
    // The cancelled request's connection was closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.hangups() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.hangups(), 1);
}
