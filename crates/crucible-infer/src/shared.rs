//! One generator shared by many threads: [`share`] runs the backend's `generate_many` on the
//! calling thread and hands out [`SharedGenerator`] handles whose requests it decodes together.
//!
//! Code that makes one request at a time (a strategy: generate, run the programs, generate
//! again) gets the backend's batching when several such loops run on threads of their own: while
//! one loop runs its programs, the others' requests keep the batch full.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::Duration;

use crate::generator::PollOnly;
use crate::{Error, Feed, GenRequest, Generation, Generator, ModelInfo, Observer};

/// How often a waiting side checks for cancellation.
const POLL: Duration = Duration::from_millis(50);

/// A request on its way to the thread that owns the generator, with where its answer goes.
struct Call {
    request: GenRequest,
    reply: mpsc::Sender<Result<Generation, Error>>,
}

/// A handle to a generator that [`share`] drives; clone it for every thread that generates.
///
/// `generate` blocks until the shared generator has decoded the request together with whatever
/// else is in flight. No text is streamed (the observer is polled for cancellation only), and a
/// handle whose observer cancels stops waiting while its request runs to the end unseen. When
/// the shared generator has stopped (cancelled, or its backend failed; [`share`] says which),
/// every call returns [`Error::Cancelled`].
#[derive(Clone)]
pub struct SharedGenerator {
    calls: mpsc::Sender<Call>,
    info: ModelInfo,
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
        let call = Call {
            request: request.clone(),
            reply,
        };
        self.calls.send(call).map_err(|_| Error::Cancelled)?;
        loop {
            if observer.cancelled() {
                return Err(Error::Cancelled);
            }
            match answer.recv_timeout(POLL) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Error::Cancelled),
            }
        }
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
    };
    let observer: &dyn Observer = observer;
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || work(handle));
        let mut feed = Calls {
            incoming,
            replies: HashMap::new(),
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

/// The feed of [`share`]: calls as they arrive, answers back to their callers.
struct Calls<'a> {
    incoming: mpsc::Receiver<Call>,
    replies: HashMap<usize, mpsc::Sender<Result<Generation, Error>>>,
    given: usize,
    observer: &'a dyn Observer,
}

impl Feed for Calls<'_> {
    fn next_request(&mut self, wait: bool) -> Option<GenRequest> {
        let call = if wait {
            // Nothing in flight: wait for a call, until every handle is gone or the run is
            // cancelled.
            loop {
                if self.observer.cancelled() {
                    return None;
                }
                match self.incoming.recv_timeout(POLL) {
                    Ok(call) => break call,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                }
            }
        } else {
            self.incoming.try_recv().ok()?
        };
        self.replies.insert(self.given, call.reply);
        self.given += 1;
        Some(call.request)
    }

    fn finished(&mut self, id: usize, result: Result<Generation, Error>) -> ControlFlow<()> {
        if let Some(reply) = self.replies.remove(&id) {
            // A caller that stopped waiting (its observer cancelled) drops the answer.
            let _ = reply.send(result);
        }
        ControlFlow::Continue(())
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
        ScriptedGenerator::from_fn(|request, _| match &request.prompt {
            Prompt::Text { text } => Some(format!("re: {text}")),
            Prompt::Chat { .. } => None,
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
}
