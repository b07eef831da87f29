//! A bounded pool of threads sharing one [`Executor`], for eval and strategies.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::executor::{ExecRequest, Executor};
use crate::report::ExecReport;
use crate::{Error, Result};

type Job = (ExecRequest, Sender<Result<ExecReport>>);

/// Runs requests on `threads` worker threads; at most that many executions at once.
///
/// ```no_run
/// # use crucible_exec::*;
/// # fn demo(executor: Executor, requests: Vec<ExecRequest>) {
/// let pool = ExecPool::new(std::sync::Arc::new(executor), 2);
/// let reports = pool.run_all(requests);
/// # }
/// ```
#[derive(Debug)]
pub struct ExecPool {
    executor: Arc<Executor>,
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

/// A submitted request's future result.
#[derive(Debug)]
pub struct Ticket(Receiver<Result<ExecReport>>);

impl Ticket {
    /// Block until the report is ready.
    pub fn wait(self) -> Result<ExecReport> {
        self.0
            .recv()
            .unwrap_or_else(|_| Err(Error::Worker("the execution pool stopped".into())))
    }
}

impl ExecPool {
    /// Start `threads` workers (at least one).
    pub fn new(executor: Arc<Executor>, threads: usize) -> ExecPool {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = Arc::clone(&rx);
                let executor = Arc::clone(&executor);
                std::thread::Builder::new()
                    .name(format!("crucible-exec-{i}"))
                    .spawn(move || worker(&executor, &rx))
                    .expect("spawning a pool thread")
            })
            .collect();
        ExecPool {
            executor,
            jobs: Some(tx),
            threads,
        }
    }

    /// The shared executor.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// Queue a request.
    pub fn submit(&self, request: ExecRequest) -> Ticket {
        let (tx, rx) = channel();
        if let Some(jobs) = &self.jobs
            && let Err(err) = jobs.send((request, tx))
        {
            let (_, reply) = err.0;
            let _ = reply.send(Err(Error::Worker("the execution pool stopped".into())));
        }
        Ticket(rx)
    }

    /// Run every request; results come back in the same order.
    pub fn run_all(&self, requests: Vec<ExecRequest>) -> Vec<Result<ExecReport>> {
        let tickets: Vec<Ticket> = requests.into_iter().map(|r| self.submit(r)).collect();
        tickets.into_iter().map(Ticket::wait).collect()
    }
}

fn worker(executor: &Executor, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((request, reply)) = job else { return };
        let _ = reply.send(executor.run(&request));
    }
}

impl Drop for ExecPool {
    fn drop(&mut self) {
        self.jobs.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
