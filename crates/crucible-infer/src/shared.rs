//! One generator shared by many threads: [`share`] runs the backend's `generate_many` on the
//! calling thread and hands out [`SharedGenerator`] handles whose requests it decodes together.
//!
//! Code that makes one request at a time (a strategy: generate, run the programs, generate
//! again) gets the backend's batching when several such loops run on threads of their own: while
//! one loop runs its programs, the others' requests keep the batch full. A server does the same
//! with one thread per client request.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::generator::PollOnly;
use crate::{Error, Feed, FimTokens, GenRequest, Generation, Generator, ModelInfo, Observer};

/// How often a waiting side checks for cancellation.
const POLL: Duration = Duration::from_millis(50);

/// What the generator's thread sends back to a caller.
enum Reply {
    /// Text of sequence `.0`.
    Text(usize, String),
    /// The request is done.
    Done(Result<Generation, Error>),
}

/// A request on its way to the thread that owns the generator, with where its answer goes and
/// the flag its caller raises when it stops waiting.
struct Call {
    request: GenRequest,
    reply: mpsc::Sender<Reply>,
    cancel: Arc<AtomicBool>,
}

/// A handle to a generator that [`share`] drives; clone it for every thread that generates.
///
/// `generate` blocks until the shared generator has decoded the request together with whatever
/// else is in flight, and streams the request's text to its observer as it comes. A handle
/// whose observer cancels stops waiting at once, and the generator drops the request at its
/// next step (a backend that cancels requests one by one frees their slots then). When the
/// shared generator has stopped (cancelled, or its backend failed; [`share`] says which),
/// every call returns [`Error::Cancelled`].
#[derive(Clone)]
pub struct SharedGenerator {
    calls: mpsc::Sender<Call>,
    info: ModelInfo,
    fim: Option<FimTokens>,
}

impl std::fmt::Debug for SharedGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedGenerator")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Raises a call's cancel flag when its caller returns, however it returns.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Generator for SharedGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generation, Error> {
        let (reply, answer) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let call = Call {
            request: request.clone(),
            reply,
            cancel: cancel.clone(),
        };
        self.calls.send(call).map_err(|_| Error::Cancelled)?;
        // A caller that stops waiting (cancelled, or unwinding) withdraws its request.
        let _withdraw = CancelOnDrop(cancel);
        loop {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            match answer.recv_timeout(POLL) {
                Ok(Reply::Text(seq, text)) => observer.on_text(seq, &text),
                Ok(Reply::Done(result)) => return result,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Error::Cancelled),
            }
        }
    }

    fn fim_tokens(&self) -> Option<FimTokens> {
        self.fim.clone()
    }
}

/// Run `work` on a thread of its own with a [`SharedGenerator`] handle while this thread decodes
/// every request the handle and its clones make with `generator.generate_many`, up to
/// `max_sequences` sequences in flight. Returns what `work` returned once it and every clone of
/// the handle are done, and with it how the generator ended: `Ok` when all requests were
/// answered, [`Error::Cancelled`] when `observer` cancelled, or the backend's error. Once the
/// generator has stopped, requests in flight are dropped and handles get `Cancelled`, so `work`
/// still returns what it had finished.
pub fn share<R: Send>(
    generator: &mut dyn Generator,
    max_sequences: usize,
    observer: &mut dyn Observer,
    work: impl FnOnce(SharedGenerator) -> R + Send,
) -> (R, Result<(), Error>) {
    let (calls, incoming) = mpsc::channel();
    let handle = SharedGenerator {
        calls,
        info: generator.info().clone(),
        fim: generator.fim_tokens(),
    };
    let observer: &dyn Observer = observer;
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || work(handle));
        let mut feed = Calls {
            incoming,
            callers: HashMap::new(),
            given: 0,
            observer,
        };
        let mut served = generator.generate_many(&mut feed, max_sequences, &mut PollOnly(observer));
        if served.is_ok() && observer.cancelled() {
            served = Err(Error::Cancelled);
        }
        // Handles waiting for an answer learn that none will come; new calls fail at once.
        drop(feed);
        let out = match worker.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (out, served)
    })
}

/// A caller waiting for its request.
struct Caller {
    reply: mpsc::Sender<Reply>,
    cancel: Arc<AtomicBool>,
}

/// The feed of [`share`]: calls as they arrive, text and answers back to their callers.
struct Calls<'a> {
    incoming: mpsc::Receiver<Call>,
    callers: HashMap<usize, Caller>,
    given: usize,
    observer: &'a dyn Observer,
}

impl Feed for Calls<'_> {
    fn next_request(&mut self, wait: bool) -> Option<GenRequest> {
        loop {
            let call = if wait {
                // Nothing in flight: wait for a call, until every handle is gone or the run is
                // cancelled.
                if self.observer.cancelled() {
                    return None;
                }
                match self.incoming.recv_timeout(POLL) {
                    Ok(call) => call,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            } else {
                self.incoming.try_recv().ok()?
            };
            // A caller that gave up while its call waited in the channel is not served.
            if call.cancel.load(Ordering::Relaxed) {
                continue;
            }
            let caller = Caller {
                reply: call.reply,
                cancel: call.cancel,
            };
            self.callers.insert(self.given, caller);
            self.given += 1;
            return Some(call.request);
        }
    }

    fn finished(&mut self, id: usize, result: Result<Generation, Error>) -> ControlFlow<()> {
        if let Some(caller) = self.callers.remove(&id) {
            // A caller that stopped waiting drops the answer.
            let _ = caller.reply.send(Reply::Done(result));
        }
        ControlFlow::Continue(())
    }

    fn on_text(&mut self, id: usize, seq: usize, text: &str) {
        if let Some(caller) = self.callers.get(&id) {
            let _ = caller.reply.send(Reply::Text(seq, text.to_owned()));
        }
    }

    fn cancelled(&self, id: usize) -> bool {
        self.callers
            .get(&id)
            .is_some_and(|caller| caller.cancel.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{Prompt, ScriptedGenerator, Silent};
    use crucible_types::{Decoding, GenParams};

    fn text(prompt: &str) -> GenRequest {
        GenRequest {
            prompt: Prompt::Text {
                text: prompt.into(),
            },
            params: GenParams {
                decoding: Decoding::Greedy,
                seed: 0,
                max_new_tokens: 8,
                stop: vec![],
                n: 1,
            },
        }
    }

    /// Answers `re: PROMPT`, every request that is ready going into each 20 ms step.
    fn echo() -> ScriptedGenerator {
        ScriptedGenerator::from_fn(|request, _| {
            let text = request.prompt.completion_text()?;
            Some(format!("re: {text}"))
        })
        .batching(Duration::from_millis(20))
    }

    /// A backend that fails as soon as it has taken a request.
    struct Broken(ModelInfo);

    impl Generator for Broken {
        fn info(&self) -> &ModelInfo {
            &self.0
        }

        fn generate(&mut self, _: &GenRequest, _: &mut dyn Observer) -> Result<Generation, Error> {
            Err(on_fire())
        }

        fn generate_many(
            &mut self,
            feed: &mut dyn Feed,
            _: usize,
            _: &mut dyn Observer,
        ) -> Result<(), Error> {
            let _ = feed.next_request(true);
            Err(on_fire())
        }
    }

    fn on_fire() -> Error {
        Error::Backend {
            backend: "broken",
            message: "the device is on fire".into(),
        }
    }

    #[test]
    fn requests_of_several_threads_are_decoded_together_and_answered_to_their_callers() {
        let mut generator = echo();
        let (answers, served) = share(&mut generator, 8, &mut Silent, |handle| {
            std::thread::scope(|scope| {
                let threads: Vec<_> = (0..4)
                    .map(|t| {
                        let mut handle = handle.clone();
                        scope.spawn(move || {
                            (0..3)
                                .map(|i| {
                                    let prompt = format!("{t}.{i}");
                                    let generation =
                                        handle.generate(&text(&prompt), &mut Silent).unwrap();
                                    (prompt, generation.completions[0].text.clone())
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
        assert_eq!(answers.len(), 12);
        for (prompt, answer) in &answers {
            assert_eq!(answer, &format!("re: {prompt}"));
        }
        assert_eq!(generator.steps.iter().sum::<usize>(), 12);
        assert!(
            generator.steps.iter().any(|&n| n > 1),
            "some step should hold several threads' requests: {:?}",
            generator.steps
        );
    }

    #[test]
    fn the_call_ends_when_the_work_is_done_even_if_it_never_generated() {
        let mut generator = echo();
        let (out, served) = share(&mut generator, 4, &mut Silent, |_handle| 7);
        assert_eq!(out, 7);
        served.unwrap();
        assert!(generator.steps.is_empty());
    }

    #[test]
    fn a_failing_backend_is_reported_and_waiting_handles_are_released() {
        let mut generator = Broken(ModelInfo {
            name: "broken".into(),
            source: "test".into(),
            context_length: 64,
        });
        let (out, served) = share(&mut generator, 4, &mut Silent, |mut handle| {
            let first = handle.generate(&text("a"), &mut Silent);
            let second = handle.generate(&text("b"), &mut Silent);
            (first.is_err(), second.is_err())
        });
        assert_eq!(out, (true, true));
        let err = served.unwrap_err();
        assert!(err.to_string().contains("on fire"), "{err}");
    }

    /// Cancelled once it has been polled `after` times.
    struct CancelAfter {
        polls: AtomicUsize,
        after: usize,
    }

    impl Observer for CancelAfter {
        fn cancelled(&self) -> bool {
            self.polls.fetch_add(1, Ordering::Relaxed) >= self.after
        }
    }

    #[test]
    fn cancelling_stops_a_generator_that_waits_for_calls_and_the_work_sees_it() {
        let mut generator = echo();
        let mut observer = CancelAfter {
            polls: AtomicUsize::new(0),
            after: 3,
        };
        let (out, served) = share(&mut generator, 4, &mut observer, |mut handle| {
            // Work that takes longer than the cancellation, then asks for a generation.
            std::thread::sleep(Duration::from_millis(400));
            handle.generate(&text("late"), &mut Silent)
        });
        assert!(matches!(out, Err(Error::Cancelled)), "{out:?}");
        assert!(matches!(served, Err(Error::Cancelled)), "{served:?}");
    }

    /// Collects streamed text; cancels once it has seen `after` pieces.
    struct Collect {
        text: String,
        pieces: usize,
        after: usize,
    }

    impl Observer for Collect {
        fn on_text(&mut self, _seq: usize, text: &str) {
            self.text.push_str(text);
            self.pieces += 1;
        }

        fn cancelled(&self) -> bool {
            self.pieces >= self.after
        }
    }

    #[test]
    fn text_streams_to_the_caller_and_a_caller_that_cancels_frees_its_slot() {
        let mut generator = ScriptedGenerator::from_fn(|request, _| match &request.prompt {
            Prompt::Text { text } if text == "long" => Some("w ".repeat(100_000)),
            _ => Some("a b c".into()),
        })
        .streaming(Duration::from_millis(1));
        let probe = generator.probe();
        let (out, served) = share(&mut generator, 1, &mut Silent, |handle| {
            let mut long = handle.clone();
            let mut observer = Collect {
                text: String::new(),
                pieces: 0,
                after: 5,
            };
            let mut request = text("long");
            request.params.max_new_tokens = 1_000_000;
            let cancelled = long.generate(&request, &mut observer);
            // One slot: this request runs only once the cancelled one has given it back.
            let mut short = handle.clone();
            let mut seen = Collect {
                text: String::new(),
                pieces: 0,
                after: usize::MAX,
            };
            let answer = short.generate(&text("short"), &mut seen).unwrap();
            (cancelled, observer.text, seen.text, answer)
        });
        served.unwrap();
        let (cancelled, long_text, short_text, answer) = out;
        assert!(matches!(cancelled, Err(Error::Cancelled)), "{cancelled:?}");
        assert!(long_text.starts_with("w w w w w "), "{long_text:?}");
        assert_eq!(short_text, "a b c");
        assert_eq!(answer.completions[0].text, "a b c");
        assert_eq!(probe.cancelled(), 1);
    }

    #[test]
    fn handles_report_the_generators_fim_tokens() {
        let mut generator = echo().with_fim(crate::FimTokens::qwen());
        let (fim, served) = share(&mut generator, 1, &mut Silent, |handle| handle.fim_tokens());
        served.unwrap();
        assert_eq!(fim, Some(crate::FimTokens::qwen()));
    }
}
