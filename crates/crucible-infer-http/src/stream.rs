//! One generation over HTTP: requests ("jobs") run on their own threads and stream Server-Sent
//! Events back; the calling thread assembles the sequences, applies stop sequences and the
//! prefill check, feeds the observer and polls it for cancellation.
//!
//! A request for `n` sequences is one job with `n` choices. When the server refuses `n` (a 400,
//! 422 or 501 before any text) or returns fewer choices, the missing sequences become one-sequence
//! jobs, run a few at a time, and the generator remembers not to send `n` again.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use serde_json::Value;

use crucible_infer::{Completion, FinishReason, GenRequest, Generation, Observer, StopMatcher};

use crate::prefill::PrefillGuard;
use crate::retry::{Retries, RetryPolicy, refuses_n};
use crate::server::{Client, choose_model, list_models, read_error, read_json};
use crate::wire::{
    ChoiceDelta, Chunk, ChunkError, ServerFinish, StoppedBy, Usage, parse_chunk, request_body,
    sequence_seed,
};
use crate::{Error, Result};

/// How often the observer is polled while waiting for the server.
const POLL: Duration = Duration::from_millis(50);

/// Longest line of an event stream (one event's JSON is a few hundred bytes).
const MAX_LINE_BYTES: u64 = 8 << 20;

/// What the server is known to do with `n` > 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NChoices {
    /// Not tried yet, or it worked.
    Try,
    /// Refused or ignored: ask for each sequence separately.
    Separate,
}

/// Everything one generation needs.
pub(crate) struct Call<'a> {
    pub(crate) client: &'a Client,
    pub(crate) endpoint: &'a str,
    pub(crate) model: &'a str,
    pub(crate) request: &'a GenRequest,
    /// Most one-sequence requests in flight at once.
    pub(crate) max_parallel: usize,
    pub(crate) retry: RetryPolicy,
    /// Longest the whole generation may take.
    pub(crate) deadline: Duration,
}

/// Run one generation. `n_choices` is updated when the server turns out not to support `n`.
pub(crate) fn run(
    call: &Call<'_>,
    n_choices: &mut NChoices,
    observer: &mut dyn Observer,
) -> Result<Generation, crucible_infer::Error> {
    let params = &call.request.params;
    params.validate()?;
    // Fail on what the API cannot express before anything is sent.
    request_body(call.model, &call.request.prompt, params, 1, params.seed)?;
    if observer.cancelled() {
        return Err(crucible_infer::Error::Cancelled);
    }
    let mut run = Run::new(call, *n_choices);
    let result = run.drive(observer);
    *n_choices = run.n_choices;
    result?;
    Ok(run.finish())
}

/// One request: sequences `first .. first + count`, asked for with `n = count`.
#[derive(Debug, Clone, Copy)]
struct Job {
    first: usize,
    count: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    Queued,
    Running {
        got_chunk: bool,
    },
    /// Ended, or abandoned because all its sequences are complete.
    Over,
}

/// What a request thread reports.
enum Event {
    Chunk {
        job: usize,
        chunk: Chunk,
    },
    /// The request is over: `Ok(true)` after `[DONE]` (or a whole JSON answer), `Ok(false)` when
    /// the stream stopped without it.
    End {
        job: usize,
        result: Result<bool>,
    },
}

/// One sequence being assembled.
#[derive(Debug)]
struct Seq {
    guard: PrefillGuard,
    text: String,
    streamed: usize,
    /// Streamed pieces with text (each about one token on vLLM, llama-server and Ollama).
    chunks: usize,
    /// The job whose answer held this sequence.
    job: Option<usize>,
    finish: Option<FinishReason>,
    /// Ended by our own stop matcher; the server may still be generating it.
    cut_here: bool,
}

/// The abort flag of each started job (by job id). Dropping them, when the run ends however it
/// ends, sets every flag, so request threads close their connections (which makes vLLM and
/// llama-server stop generating).
#[derive(Default)]
struct AbortFlags(Vec<Option<Arc<AtomicBool>>>);

impl AbortFlags {
    fn set(&self, job: usize) {
        if let Some(flag) = &self.0[job] {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for AbortFlags {
    fn drop(&mut self) {
        for job in 0..self.0.len() {
            self.set(job);
        }
    }
}

struct Run<'a> {
    call: &'a Call<'a>,
    n_choices: NChoices,
    stop: StopMatcher,
    seqs: Vec<Seq>,
    jobs: Vec<(Job, JobState)>,
    queue: VecDeque<usize>,
    usage: Vec<Option<Usage>>,
    aborts: AbortFlags,
    tx: Sender<Event>,
    rx: Receiver<Event>,
    started: Instant,
    first_text: Option<Instant>,
}

impl<'a> Run<'a> {
    fn new(call: &'a Call<'a>, n_choices: NChoices) -> Run<'a> {
        let params = &call.request.params;
        let prefill = match &call.request.prompt {
            crucible_infer::Prompt::Chat { prefill, .. } => prefill.as_str(),
            crucible_infer::Prompt::Text { .. } | crucible_infer::Prompt::Fill { .. } => "",
        };
        let seqs = (0..params.n)
            .map(|_| Seq {
                guard: PrefillGuard::new(prefill),
                text: String::new(),
                streamed: 0,
                chunks: 0,
                job: None,
                finish: None,
                cut_here: false,
            })
            .collect();
        let (tx, rx) = mpsc::channel();
        let mut run = Run {
            call,
            n_choices,
            stop: StopMatcher::new(&params.stop),
            seqs,
            jobs: Vec::new(),
            queue: VecDeque::new(),
            usage: Vec::new(),
            aborts: AbortFlags::default(),
            tx,
            rx,
            started: Instant::now(),
            first_text: None,
        };
        if params.n > 1 && n_choices == NChoices::Separate {
            run.queue_separately(0, params.n);
        } else {
            run.queue_job(Job {
                first: 0,
                count: params.n,
            });
        }
        run
    }

    fn queue_job(&mut self, job: Job) {
        self.jobs.push((job, JobState::Queued));
        self.usage.push(None);
        self.aborts.0.push(None);
        self.queue.push_back(self.jobs.len() - 1);
    }

    fn queue_separately(&mut self, first: usize, count: usize) {
        for seq in first..first + count {
            self.queue_job(Job {
                first: seq,
                count: 1,
            });
        }
    }

    fn running(&self) -> usize {
        self.jobs
            .iter()
            .filter(|(_, state)| matches!(state, JobState::Running { .. }))
            .count()
    }

    /// Start queued jobs, then handle events until every job is over.
    fn drive(&mut self, observer: &mut dyn Observer) -> Result<(), crucible_infer::Error> {
        loop {
            while self.running() < self.call.max_parallel.max(1) {
                let Some(job) = self.queue.pop_front() else {
                    break;
                };
                self.start(job)?;
            }
            if self.running() == 0 {
                return Ok(());
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Event::Chunk { job, chunk }) => self.on_chunk(job, chunk, observer),
                Ok(Event::End { job, result }) => self.on_end(job, result, observer)?,
                // The run holds a sender itself, so the channel never disconnects.
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            if observer.cancelled() {
                return Err(crucible_infer::Error::Cancelled);
            }
            if self.started.elapsed() >= self.call.deadline {
                return Err(Error::Deadline {
                    url: self.call.endpoint.to_owned(),
                    after: self.call.deadline,
                }
                .into());
            }
        }
    }

    fn start(&mut self, job_id: usize) -> Result<()> {
        let (job, _) = self.jobs[job_id];
        let params = &self.call.request.params;
        let seed = sequence_seed(params.seed, job.first);
        let (route, body) = request_body(
            self.call.model,
            &self.call.request.prompt,
            params,
            job.count,
            seed,
        )?;
        let url = format!("{}{}", self.call.endpoint, route.path());
        let abort = Arc::new(AtomicBool::new(false));
        self.aborts.0[job_id] = Some(Arc::clone(&abort));
        let client = self.call.client.clone();
        let tx = self.tx.clone();
        let retry = self.call.retry;
        let deadline = self.started + self.call.deadline;
        std::thread::Builder::new()
            .name("crucible-http".into())
            .spawn(move || {
                let target = Target {
                    client: &client,
                    url: &url,
                    body: &body,
                    deadline,
                };
                let result = retrying(&target, retry, (seed, job.count), job_id, &tx, &abort);
                // The run may be over already; then nobody listens.
                let _ = tx.send(Event::End {
                    job: job_id,
                    result,
                });
            })
            .map_err(Error::Thread)?;
        self.jobs[job_id].1 = JobState::Running { got_chunk: false };
        Ok(())
    }

    fn on_chunk(&mut self, job_id: usize, chunk: Chunk, observer: &mut dyn Observer) {
        let (job, state) = self.jobs[job_id];
        if state == JobState::Over {
            return;
        }
        self.jobs[job_id].1 = JobState::Running { got_chunk: true };
        if let Some(usage) = chunk.usage {
            self.usage[job_id] = Some(usage);
        }
        for delta in chunk.choices {
            if delta.index >= job.count {
                tracing::debug!(
                    index = delta.index,
                    n = job.count,
                    "ignoring an extra choice"
                );
                continue;
            }
            self.on_choice(job_id, job.first + delta.index, delta, observer);
        }
        // A sequence cut by our stop matcher may still be running on the server; once all of
        // a job's sequences are complete there is nothing left to wait for.
        let seqs = &self.seqs[job.first..job.first + job.count];
        let complete = seqs.iter().all(|s| s.finish.is_some());
        if complete && seqs.iter().any(|s| s.cut_here) {
            self.jobs[job_id].1 = JobState::Over;
            self.aborts.set(job_id);
        }
    }

    fn on_choice(
        &mut self,
        job_id: usize,
        seq: usize,
        delta: ChoiceDelta,
        observer: &mut dyn Observer,
    ) {
        let has_stops = !self.call.request.params.stop.is_empty();
        let state = &mut self.seqs[seq];
        state.job.get_or_insert(job_id);
        if state.finish.is_some() {
            return;
        }
        if !delta.text.is_empty() {
            state.chunks += 1;
            self.first_text.get_or_insert_with(Instant::now);
        }
        let released = state.guard.push(&delta.text);
        self.append(seq, &released, observer);
        let Some(finish) = delta.finish else {
            return;
        };
        let held = self.seqs[seq].guard.finish();
        self.append(seq, &held, observer);
        self.end_seq(seq, finish_reason(&finish, has_stops), observer);
    }

    /// Add released text to a sequence, cutting it at a stop sequence.
    fn append(&mut self, seq: usize, text: &str, observer: &mut dyn Observer) {
        let state = &mut self.seqs[seq];
        if text.is_empty() || state.finish.is_some() {
            return;
        }
        let from = state.text.len();
        state.text.push_str(text);
        if let Some(pos) = self.stop.find(&state.text, from) {
            state.text.truncate(pos);
            state.cut_here = true;
            self.end_seq(seq, FinishReason::Stop, observer);
            return;
        }
        let safe = self.stop.safe_len(&state.text);
        stream(state, seq, safe, observer);
    }

    fn end_seq(&mut self, seq: usize, finish: FinishReason, observer: &mut dyn Observer) {
        let state = &mut self.seqs[seq];
        if state.finish.is_some() {
            return;
        }
        if state.guard.restarted() {
            tracing::debug!(
                seq,
                "the server answered anew instead of continuing the prefill; dropped the repeated opening"
            );
        }
        state.finish = Some(finish);
        let all = state.text.len();
        stream(state, seq, all, observer);
    }

    fn on_end(
        &mut self,
        job_id: usize,
        result: Result<bool>,
        observer: &mut dyn Observer,
    ) -> Result<(), crucible_infer::Error> {
        let (job, state) = self.jobs[job_id];
        let got_chunk = match state {
            JobState::Over | JobState::Queued => return Ok(()),
            JobState::Running { got_chunk } => got_chunk,
        };
        self.jobs[job_id].1 = JobState::Over;
        let completed = match result {
            Ok(completed) => completed,
            Err(
                ref err @ Error::Status {
                    status,
                    ref message,
                    ..
                },
            ) if job.count > 1 && !got_chunk && refuses_n(err) => {
                tracing::debug!(
                    n = job.count,
                    status,
                    %message,
                    "the server refused `n`; asking for each sequence in a separate request"
                );
                self.n_choices = NChoices::Separate;
                self.queue_separately(job.first, job.count);
                return Ok(());
            }
            Err(err @ Error::Status { status: 404, .. }) => {
                return Err(explain_not_found(self.call, err).into());
            }
            Err(err) => return Err(err.into()),
        };
        let mut missing = Vec::new();
        for seq in job.first..job.first + job.count {
            let state = &self.seqs[seq];
            if state.finish.is_some() {
                continue;
            }
            if state.job.is_none() {
                missing.push(seq);
                continue;
            }
            if !completed {
                return Err(Error::Protocol {
                    url: self.call.endpoint.to_owned(),
                    problem: "the answer stream ended before the answer was complete".into(),
                }
                .into());
            }
            // `[DONE]` without a `finish_reason`: the text is complete.
            let held = self.seqs[seq].guard.finish();
            self.append(seq, &held, observer);
            self.end_seq(seq, FinishReason::Eos, observer);
        }
        if missing.len() == job.count && job.count == 1 {
            return Err(Error::Protocol {
                url: self.call.endpoint.to_owned(),
                problem: "the answer has no choices".into(),
            }
            .into());
        }
        if !missing.is_empty() {
            tracing::debug!(
                asked = job.count,
                got = job.count - missing.len(),
                "the server returned fewer choices than `n`; asking for the others in separate requests"
            );
            self.n_choices = NChoices::Separate;
            for seq in missing {
                self.queue_job(Job {
                    first: seq,
                    count: 1,
                });
            }
        }
        Ok(())
    }

    fn finish(self) -> Generation {
        let ended = Instant::now();
        let first_text = self.first_text.unwrap_or(ended);
        let mut tokens: Vec<usize> = self.seqs.iter().map(|s| s.chunks).collect();
        for (job_id, (job, _)) in self.jobs.iter().enumerate() {
            let Some(total) = self.usage[job_id].and_then(|u| u.completion_tokens) else {
                continue;
            };
            let members: Vec<usize> = (job.first..job.first + job.count)
                .filter(|&seq| self.seqs[seq].job == Some(job_id))
                .collect();
            let weights: Vec<usize> = members
                .iter()
                .map(|&seq| self.seqs[seq].text.len() + 1)
                .collect();
            for (seq, share) in members.iter().zip(split_total(total, &weights)) {
                tokens[*seq] = share;
            }
        }
        let prompt_tokens = self
            .usage
            .iter()
            .filter_map(|u| u.and_then(|u| u.prompt_tokens))
            .max()
            .unwrap_or(0);
        let completions = self
            .seqs
            .into_iter()
            .zip(tokens)
            .map(|(seq, tokens)| Completion {
                text: seq.text,
                tokens,
                finish: seq.finish.unwrap_or(FinishReason::Eos),
                // Not requested: see the crate documentation.
                logprob: None,
            })
            .collect();
        Generation {
            completions,
            prompt_tokens,
            prompt_ms: millis(first_text - self.started),
            decode_ms: millis(ended - first_text),
            speculation: None,
        }
    }
}

/// A 404 from a completion route usually means an unknown model (vLLM and Ollama answer so);
/// say which models the server has when it lists them and ours is not among them.
fn explain_not_found(call: &Call<'_>, err: Error) -> Error {
    match list_models(call.client, call.endpoint) {
        Ok(Some(listed))
            if choose_model(Some(call.model), Some(&listed), call.endpoint).is_err() =>
        {
            Error::UnknownModel {
                model: call.model.to_owned(),
                endpoint: call.endpoint.to_owned(),
                available: listed.into_iter().map(|m| m.id).collect(),
            }
        }
        _ => err,
    }
}

/// Send a sequence's text up to `upto` to the observer.
fn stream(state: &mut Seq, seq: usize, upto: usize, observer: &mut dyn Observer) {
    if upto > state.streamed {
        observer.on_text(seq, &state.text[state.streamed..upto]);
        state.streamed = upto;
    }
}

/// Our reading of the server's `finish_reason`. "stop" covers both the end-of-generation token
/// and a stop string; vLLM's `stop_reason` tells them apart, and without it a request that had
/// stop strings is taken to have ended on one (Crucible's prompts stop at a closing fence, and
/// calling an end-of-generation token a stop only adds that fence back).
fn finish_reason(finish: &ServerFinish, has_stops: bool) -> FinishReason {
    match finish.reason.as_str() {
        "length" => FinishReason::Length,
        "stop" | "eos" => match finish.stopped_by {
            StoppedBy::StopString => FinishReason::Stop,
            StoppedBy::Token => FinishReason::Eos,
            StoppedBy::Unknown if has_stops => FinishReason::Stop,
            StoppedBy::Unknown => FinishReason::Eos,
        },
        other => {
            tracing::debug!(
                finish_reason = other,
                "unfamiliar finish reason; taken as the end of the answer"
            );
            FinishReason::Eos
        }
    }
}

/// Split `total` in proportion to `weights` (largest remainders), summing exactly to `total`.
fn split_total(total: usize, weights: &[usize]) -> Vec<usize> {
    let sum: usize = weights.iter().sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<usize> = weights.iter().map(|w| total * w / sum).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((total * weights[i]) % sum));
    let left = total - shares.iter().sum::<usize>();
    for &i in order.iter().take(left) {
        shares[i] += 1;
    }
    shares
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Where one request goes and by when it must be done.
struct Target<'a> {
    client: &'a Client,
    url: &'a str,
    body: &'a Value,
    deadline: Instant,
}

/// Run one request on this thread, sending its chunks to `tx`, and try again (after a wait)
/// when the server did not take it and nothing was streamed yet. Returns whether the stream
/// completed.
fn retrying(
    target: &Target<'_>,
    policy: RetryPolicy,
    (seed, choices): (u64, usize),
    job: usize,
    tx: &Sender<Event>,
    abort: &AtomicBool,
) -> Result<bool> {
    let mut retries = Retries::new(policy, seed ^ job as u64);
    loop {
        let mut streamed = false;
        let err = match stream_job(target, job, tx, abort, &mut streamed) {
            Ok(completed) => return Ok(completed),
            Err(err) => err,
        };
        // A refusal of `n` is answered by asking for each sequence apart, not by waiting.
        if streamed || abort.load(Ordering::Relaxed) || (choices > 1 && refuses_n(&err)) {
            return Err(err);
        }
        let Some(delay) = retries.next_delay(&err, target.deadline) else {
            return Err(match retries.tries() {
                1 => err,
                tries => Error::GaveUp {
                    tries,
                    last: Box::new(err),
                },
            });
        };
        tracing::info!(url = target.url, try_no = retries.tries(), wait_ms = delay.as_millis() as u64, error = %err, "the server did not take the request; trying again");
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if abort.load(Ordering::Relaxed) {
                return Ok(false);
            }
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
    }
}

/// One try of a request on this thread, sending its chunks to `tx`; `streamed` tells whether
/// any text was passed on.
fn stream_job(
    target: &Target<'_>,
    job: usize,
    tx: &Sender<Event>,
    abort: &AtomicBool,
    streamed: &mut bool,
) -> Result<bool> {
    let Target {
        client, url, body, ..
    } = *target;
    let response = client.post_json(url, body)?;
    if !response.content_type().contains("event-stream") {
        // A server that ignores `stream` answers with one JSON object.
        let value = read_json(url, response, client.read_timeout())?;
        let chunk = to_chunk(url, &value)?;
        *streamed = true;
        let _ = tx.send(Event::Chunk { job, chunk });
        return Ok(true);
    }
    let mut reader = BufReader::new(response.into_reader());
    let mut data = String::new();
    let mut line = Vec::new();
    loop {
        if abort.load(Ordering::Relaxed) {
            return Ok(false);
        }
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .map_err(|err| read_error(url, &err, client.read_timeout()))?;
        let at_end = read == 0;
        if !at_end && line.last() != Some(&b'\n') && read as u64 == MAX_LINE_BYTES {
            return Err(Error::Protocol {
                url: url.to_owned(),
                problem: format!("an event is longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if at_end || text.is_empty() {
            // A blank line ends an event (so does the end of the stream).
            let event = std::mem::take(&mut data);
            if !event.is_empty() {
                match dispatch(url, &event, job, tx, streamed)? {
                    Flow::More => {}
                    Flow::Done => return Ok(true),
                    Flow::Abandoned => return Ok(false),
                }
            }
            if at_end {
                return Ok(false);
            }
            continue;
        }
        // Other fields (`event:`, `id:`) and comments (`: keep-alive`) carry nothing we use.
        if let Some(value) = text.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
}

enum Flow {
    More,
    Done,
    Abandoned,
}

fn dispatch(
    url: &str,
    event: &str,
    job: usize,
    tx: &Sender<Event>,
    streamed: &mut bool,
) -> Result<Flow> {
    let event = event.trim();
    if event == "[DONE]" {
        return Ok(Flow::Done);
    }
    let value: Value = serde_json::from_str(event).map_err(|err| Error::Protocol {
        url: url.to_owned(),
        problem: format!("an event is not JSON ({err})"),
    })?;
    let chunk = to_chunk(url, &value)?;
    if chunk
        .choices
        .iter()
        .any(|c| !c.text.is_empty() || c.finish.is_some())
    {
        *streamed = true;
    }
    match tx.send(Event::Chunk { job, chunk }) {
        Ok(()) => Ok(Flow::More),
        Err(_) => Ok(Flow::Abandoned),
    }
}

fn to_chunk(url: &str, value: &Value) -> Result<Chunk> {
    parse_chunk(value).map_err(|err| match err {
        ChunkError::Server(message) => Error::Stream {
            url: url.to_owned(),
            message,
        },
        ChunkError::Malformed(problem) => Error::Protocol {
            url: url.to_owned(),
            problem,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_split_in_proportion() {
        assert_eq!(split_total(10, &[1, 1]), [5, 5]);
        assert_eq!(split_total(10, &[1, 2, 2]), [2, 4, 4]);
        assert_eq!(split_total(7, &[1, 1, 1]).iter().sum::<usize>(), 7);
        assert_eq!(split_total(5, &[0, 0]), [0, 0]);
        assert_eq!(split_total(0, &[3]), [0]);
    }

    #[test]
    fn finish_reasons() {
        let finish = |reason: &str, stopped_by| ServerFinish {
            reason: reason.into(),
            stopped_by,
        };
        assert_eq!(
            finish_reason(&finish("length", StoppedBy::Unknown), true),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason(&finish("stop", StoppedBy::StopString), false),
            FinishReason::Stop
        );
        assert_eq!(
            finish_reason(&finish("stop", StoppedBy::Token), true),
            FinishReason::Eos
        );
        assert_eq!(
            finish_reason(&finish("stop", StoppedBy::Unknown), true),
            FinishReason::Stop
        );
        assert_eq!(
            finish_reason(&finish("stop", StoppedBy::Unknown), false),
            FinishReason::Eos
        );
    }
}
