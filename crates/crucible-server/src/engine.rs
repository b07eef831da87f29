//! The model's side of the server: one thread owns the generator (llama.cpp's is not `Send`
//! across awaits) and decodes every client's request together through
//! `crucible_infer::share`; handlers reach it through channels.
//!
//! A request is admitted only while its sequences fit the decoding slots (`max_batch`) plus
//! the wait queue (`max_queue`); beyond that it is refused at once (429). An admitted request
//! runs on a blocking thread that waits on a [`SharedGenerator`] handle: its text comes back
//! over a channel, and it is withdrawn (its slots freed at the backend's next step) when the
//! client goes away, its deadline passes, or the server stops.
//!
//! A strategy run (verified generation) was admitted as a whole; each of its model calls still
//! takes its sequences' places while it decodes ([`Counted`]), so other clients' requests see
//! the load it puts on the slots and are refused when it fills them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crucible_core::infer::{
    self, FimTokens, GenRequest, Generation, Generator, ModelInfo, Observer, SharedGenerator,
};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// Builds the generator on the engine's thread (a llama.cpp model is loaded there).
pub type GeneratorFactory =
    Box<dyn FnOnce() -> Result<Box<dyn Generator>, String> + Send + 'static>;

/// What a request's channel carries.
#[derive(Debug)]
pub(crate) enum Event {
    /// New text of sequence `seq`.
    Text { seq: usize, text: String },
    /// The request is over.
    Done(Result<Generation, infer::Error>),
}

/// The model, once loaded: facts about it and the handle requests go through.
pub(crate) struct Loaded {
    pub(crate) info: ModelInfo,
    pub(crate) fim: Option<FimTokens>,
    handle: SharedGenerator,
}

/// The engine shared by all handlers.
pub(crate) struct Engine {
    loaded: Mutex<Option<Arc<Loaded>>>,
    /// Sequences admitted (decoding or waiting).
    admitted: AtomicUsize,
    max_batch: usize,
    max_queue: usize,
    /// Raised when the server gives up on requests in flight (shutdown after the drain time).
    hard_stop: Arc<AtomicBool>,
    pub(crate) metrics: Arc<Metrics>,
}

/// A place in the engine: returned when dropped.
pub(crate) struct Ticket {
    engine: Arc<Engine>,
    sequences: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.engine
            .admitted
            .fetch_sub(self.sequences, Ordering::SeqCst);
        self.engine.publish_load();
    }
}

/// A request running in the engine. Dropping it withdraws the request.
pub(crate) struct Running {
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
    cancel: Arc<AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Engine {
    /// Start the engine thread, which builds the generator with `factory` and then serves.
    /// The receiver reports when the model is ready (or why it failed to load); the join
    /// handle ends once every request is done and [`Engine::close`] was called.
    pub(crate) fn start(
        factory: GeneratorFactory,
        max_batch: usize,
        max_queue: usize,
        metrics: Arc<Metrics>,
    ) -> (
        Arc<Engine>,
        oneshot::Receiver<Result<(), String>>,
        std::thread::JoinHandle<()>,
    ) {
        let engine = Arc::new(Engine {
            loaded: Mutex::new(None),
            admitted: AtomicUsize::new(0),
            max_batch,
            max_queue,
            hard_stop: Arc::new(AtomicBool::new(false)),
            metrics,
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        let for_thread = engine.clone();
        let thread = std::thread::Builder::new()
            .name("crucible-engine".into())
            .spawn(move || for_thread.run(factory, ready_tx))
            .expect("the engine thread starts");
        (engine, ready_rx, thread)
    }

    fn run(
        self: Arc<Engine>,
        factory: GeneratorFactory,
        ready: oneshot::Sender<Result<(), String>>,
    ) {
        let mut generator = match factory() {
            Ok(generator) => generator,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        let mut stop = HardStop(self.hard_stop.clone());
        let engine = self.clone();
        let ((), served) = infer::share(generator.as_mut(), self.max_batch, &mut stop, |handle| {
            let loaded = Loaded {
                info: handle.info().clone(),
                fim: handle.fim_tokens(),
                handle,
            };
            *engine
                .loaded
                .lock()
                .expect("the engine lock is never poisoned") = Some(Arc::new(loaded));
            let _ = ready.send(Ok(()));
        });
        match served {
            Ok(()) | Err(infer::Error::Cancelled) => tracing::debug!("the engine stopped"),
            Err(err) => tracing::error!("the model backend failed: {err}"),
        }
    }

    /// The loaded model, or 503 while it loads or after the server closed.
    pub(crate) fn loaded(&self) -> Result<Arc<Loaded>, ApiError> {
        self.loaded
            .lock()
            .expect("the engine lock is never poisoned")
            .clone()
            .ok_or_else(|| ApiError::unavailable("the model is not loaded (yet); retry shortly"))
    }

    /// Whether the model is loaded and the server takes requests.
    pub(crate) fn ready(&self) -> bool {
        self.loaded
            .lock()
            .expect("the engine lock is never poisoned")
            .is_some()
    }

    /// Take no more requests: the engine thread ends once the requests in flight are done.
    pub(crate) fn close(&self) {
        self.loaded
            .lock()
            .expect("the engine lock is never poisoned")
            .take();
    }

    /// Give up on the requests in flight (they end as cancelled).
    pub(crate) fn stop_now(&self) {
        self.hard_stop.store(true, Ordering::Relaxed);
    }

    /// Whether [`Engine::stop_now`] was called.
    pub(crate) fn stopping(&self) -> bool {
        self.hard_stop.load(Ordering::Relaxed)
    }

    /// Reserve room for `sequences` sequences, or refuse (429) when the slots and the queue
    /// are full.
    pub(crate) fn admit(self: &Arc<Engine>, sequences: usize) -> Result<Ticket, ApiError> {
        let capacity = self.max_batch + self.max_queue;
        let taken = self
            .admitted
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |admitted| {
                (admitted + sequences <= capacity).then_some(admitted + sequences)
            });
        if taken.is_err() {
            self.metrics.rejected.inc();
            return Err(ApiError::overloaded(Duration::from_secs(1)));
        }
        self.publish_load();
        Ok(Ticket {
            engine: self.clone(),
            sequences,
        })
    }

    /// Sequences admitted now.
    pub(crate) fn admitted(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    fn publish_load(&self) {
        let admitted = self.admitted();
        self.metrics
            .in_flight
            .set(admitted.min(self.max_batch) as i64);
        self.metrics
            .queue_depth
            .set(admitted.saturating_sub(self.max_batch) as i64);
    }

    /// Run `request` on the model until it ends, `deadline` passes, the returned [`Running`]
    /// is dropped, or the server stops. `ticket` is held until the request has ended.
    pub(crate) fn submit(
        &self,
        loaded: &Loaded,
        request: GenRequest,
        ticket: Ticket,
        deadline: Instant,
    ) -> Running {
        let (tx, events) = mpsc::unbounded_channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut handle = loaded.handle.clone();
        let mut bridge = Bridge {
            tx,
            cancel: cancel.clone(),
            deadline,
            hard_stop: self.hard_stop.clone(),
        };
        tokio::task::spawn_blocking(move || {
            let result = handle.generate(&request, &mut bridge);
            let _ = bridge.tx.send(Event::Done(result));
            drop(ticket);
        });
        Running { events, cancel }
    }

    /// Count `sequences` as admitted until the ticket drops, whatever the load: for the model
    /// calls of a run that was admitted as a whole.
    fn occupy(self: &Arc<Engine>, sequences: usize) -> Ticket {
        self.admitted.fetch_add(sequences, Ordering::SeqCst);
        self.publish_load();
        Ticket {
            engine: self.clone(),
            sequences,
        }
    }

    /// Run `work` on a blocking thread with a handle to the model (for strategy runs, which
    /// make their model calls one at a time). `work` gets the handle and returns its result;
    /// each call through the handle occupies its sequences' places while it runs.
    pub(crate) fn with_handle<R: Send + 'static>(
        self: &Arc<Engine>,
        loaded: &Loaded,
        work: impl FnOnce(Counted) -> R + Send + 'static,
    ) -> tokio::task::JoinHandle<R> {
        let handle = Counted {
            inner: loaded.handle.clone(),
            engine: self.clone(),
        };
        tokio::task::spawn_blocking(move || work(handle))
    }
}

/// A model handle whose calls count in the engine's admitted sequences while they run.
pub(crate) struct Counted {
    inner: SharedGenerator,
    engine: Arc<Engine>,
}

impl Generator for Counted {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn generate(
        &mut self,
        request: &GenRequest,
        observer: &mut dyn Observer,
    ) -> Result<Generation, infer::Error> {
        let _ticket = self.engine.occupy(request.params.n.max(1));
        self.inner.generate(request, observer)
    }

    fn fim_tokens(&self) -> Option<FimTokens> {
        self.inner.fim_tokens()
    }
}

/// The observer of the engine: cancelled when the server gives up on everything.
struct HardStop(Arc<AtomicBool>);

impl Observer for HardStop {
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request's observer on its blocking thread: text to the handler's channel; cancelled when
/// the handler is gone, the deadline passed, or the server stops.
struct Bridge {
    tx: mpsc::UnboundedSender<Event>,
    cancel: Arc<AtomicBool>,
    deadline: Instant,
    hard_stop: Arc<AtomicBool>,
}

impl Observer for Bridge {
    fn on_text(&mut self, seq: usize, text: &str) {
        let _ = self.tx.send(Event::Text {
            seq,
            text: text.to_owned(),
        });
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
            || self.tx.is_closed()
            || Instant::now() >= self.deadline
            || self.hard_stop.load(Ordering::Relaxed)
    }
}
