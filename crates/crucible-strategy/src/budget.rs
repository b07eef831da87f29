//! What a strategy may spend (model calls, generated tokens, executions, wall time) and what it
//! spent.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Upper bounds on one strategy run for one task. Every bound must be above zero.
///
/// The budget is checked before each model call and each execution; a call never asks for more
/// tokens than remain (its `n` and `max_new_tokens` are cut to fit), so `tokens` is a hard cap on
/// generated tokens. Wall time also cancels a generation in flight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Requests to the model (one request may decode several sequences).
    pub model_calls: u32,
    /// Generated tokens over all requests and sequences (prompt tokens are not counted).
    pub tokens: u64,
    /// Programs run in the sandbox.
    pub executions: u32,
    /// Wall-clock time of the whole run.
    #[serde(with = "seconds")]
    pub wall_time: Duration,
}

/// Which bound stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    ModelCalls,
    Tokens,
    Executions,
    WallTime,
}

/// What a run spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub model_calls: u32,
    /// Generated tokens.
    pub tokens: u64,
    /// Prompt tokens evaluated (reported, not budgeted).
    pub prompt_tokens: u64,
    pub executions: u32,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Seconds spent in model calls.
    pub model_seconds: f64,
    /// Seconds spent running programs.
    pub exec_seconds: f64,
}

/// Smallest per-sequence allowance worth asking for: below it a program is almost surely cut off.
const MIN_USEFUL_TOKENS: usize = 48;

impl Budget {
    /// Check that every bound is above zero.
    pub fn validate(&self) -> Result<()> {
        let zero = [
            (self.model_calls == 0, "model_calls"),
            (self.tokens == 0, "tokens"),
            (self.executions == 0, "executions"),
            (self.wall_time.is_zero(), "wall_time"),
        ];
        match zero.iter().find(|(is_zero, _)| *is_zero) {
            Some((_, what)) => Err(Error::ZeroBudget { what }),
            None => Ok(()),
        }
    }

    /// The name of a bound, as in JSON and flags.
    pub fn limit_name(limit: Limit) -> &'static str {
        match limit {
            Limit::ModelCalls => "model_calls",
            Limit::Tokens => "tokens",
            Limit::Executions => "executions",
            Limit::WallTime => "wall_time",
        }
    }
}

impl Limit {
    /// The bound's name.
    pub fn name(self) -> &'static str {
        Budget::limit_name(self)
    }
}

/// Tracks spending against a budget during one run.
#[derive(Debug)]
pub(crate) struct Meter {
    budget: Budget,
    started: Instant,
    usage: Usage,
    /// The first bound that refused something.
    stopped_by: Option<Limit>,
}

impl Meter {
    pub(crate) fn new(budget: Budget) -> Meter {
        Meter {
            budget,
            started: Instant::now(),
            usage: Usage::default(),
            stopped_by: None,
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.started + self.budget.wall_time
    }

    pub(crate) fn stopped_by(&self) -> Option<Limit> {
        self.stopped_by
    }

    /// Record that `limit` refused a step (the first refusal is kept).
    pub(crate) fn refuse(&mut self, limit: Limit) {
        self.stopped_by.get_or_insert(limit);
    }

    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline()
    }

    /// May a model call asking for `n` sequences of up to `max_new_tokens` tokens go ahead?
    /// Returns the `(n, max_new_tokens)` that fit in what is left, or the bound that forbids it.
    pub(crate) fn admit_call(
        &self,
        n: usize,
        max_new_tokens: usize,
    ) -> Result<(usize, usize), Limit> {
        if self.usage.model_calls >= self.budget.model_calls {
            return Err(Limit::ModelCalls);
        }
        if self.out_of_time() {
            return Err(Limit::WallTime);
        }
        let remaining = self.budget.tokens.saturating_sub(self.usage.tokens);
        let remaining = usize::try_from(remaining).unwrap_or(usize::MAX);
        fit_tokens(n, max_new_tokens, remaining).ok_or(Limit::Tokens)
    }

    /// How many of `wanted` executions may run now (0 when none may).
    pub(crate) fn admit_executions(&self, wanted: usize) -> Result<usize, Limit> {
        if self.out_of_time() {
            return Err(Limit::WallTime);
        }
        let left = self.budget.executions.saturating_sub(self.usage.executions) as usize;
        if left == 0 && wanted > 0 {
            return Err(Limit::Executions);
        }
        Ok(wanted.min(left))
    }

    pub(crate) fn record_call(&mut self, tokens: usize, prompt_tokens: usize, seconds: f64) {
        self.usage.model_calls += 1;
        self.usage.tokens += tokens as u64;
        self.usage.prompt_tokens += prompt_tokens as u64;
        self.usage.model_seconds += seconds;
    }

    pub(crate) fn record_executions(&mut self, count: usize, seconds: f64) {
        self.usage.executions += u32::try_from(count).unwrap_or(u32::MAX);
        self.usage.exec_seconds += seconds;
    }

    /// Usage so far, with the wall time filled in.
    pub(crate) fn usage(&self) -> Usage {
        Usage {
            seconds: self.started.elapsed().as_secs_f64(),
            ..self.usage
        }
    }
}

/// Cut a request for `n` sequences of `max_new_tokens` to fit `remaining` tokens: first shorten
/// the sequences (not below [`MIN_USEFUL_TOKENS`], or the request's own maximum if smaller),
/// then ask for fewer of them. `None` when not even one sequence fits.
pub(crate) fn fit_tokens(
    n: usize,
    max_new_tokens: usize,
    remaining: usize,
) -> Option<(usize, usize)> {
    let n = n.max(1);
    let floor = MIN_USEFUL_TOKENS.min(max_new_tokens).max(1);
    if remaining < floor {
        return None;
    }
    let per_sequence = (remaining / n).min(max_new_tokens);
    if per_sequence >= floor {
        return Some((n, per_sequence));
    }
    let fewer = (remaining / floor).clamp(1, n);
    Some((fewer, (remaining / fewer).min(max_new_tokens)))
}

/// Serialise a `Duration` as fractional seconds.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget {
            model_calls: 3,
            tokens: 1000,
            executions: 2,
            wall_time: Duration::from_secs(60),
        }
    }

    #[test]
    fn zero_bounds_are_named() {
        assert!(budget().validate().is_ok());
        let cases = [
            (
                Budget {
                    model_calls: 0,
                    ..budget()
                },
                "model_calls",
            ),
            (
                Budget {
                    tokens: 0,
                    ..budget()
                },
                "tokens",
            ),
            (
                Budget {
                    executions: 0,
                    ..budget()
                },
                "executions",
            ),
            (
                Budget {
                    wall_time: Duration::ZERO,
                    ..budget()
                },
                "wall_time",
            ),
        ];
        for (bad, name) in cases {
            assert_eq!(
                bad.validate().unwrap_err().to_string(),
                format!("the budget allows no {name} (`{name}` is 0); every bound must be above 0")
            );
        }
    }

    #[test]
    fn requests_are_cut_to_the_tokens_left() {
        // Enough for everything.
        assert_eq!(fit_tokens(4, 256, 10_000), Some((4, 256)));
        // Shorter sequences first.
        assert_eq!(fit_tokens(4, 256, 600), Some((4, 150)));
        // Then fewer of them, each at least the useful minimum.
        assert_eq!(fit_tokens(8, 256, 100), Some((2, 50)));
        assert_eq!(fit_tokens(1, 256, 60), Some((1, 60)));
        // Nothing useful fits.
        assert_eq!(fit_tokens(1, 256, 47), None);
        // A request that wants fewer tokens than the useful minimum keeps its own size.
        assert_eq!(fit_tokens(1, 20, 25), Some((1, 20)));
    }

    #[test]
    fn meter_counts_and_refuses() {
        let mut meter = Meter::new(budget());
        assert_eq!(meter.admit_call(2, 300), Ok((2, 300)));
        meter.record_call(700, 50, 1.0);
        assert_eq!(meter.admit_call(2, 300), Ok((2, 150)));
        meter.record_call(290, 50, 1.0);
        assert_eq!(meter.admit_call(1, 300), Err(Limit::Tokens));
        assert_eq!(meter.admit_executions(5), Ok(2));
        meter.record_executions(2, 0.1);
        assert_eq!(meter.admit_executions(1), Err(Limit::Executions));
        assert_eq!(meter.admit_executions(0), Ok(0));
        let used = meter.usage();
        assert_eq!(
            (used.model_calls, used.tokens, used.executions),
            (2, 990, 2)
        );
        meter.record_call(0, 0, 0.0);
        assert_eq!(meter.admit_call(1, 10), Err(Limit::ModelCalls));
    }

    #[test]
    fn wall_time_is_checked() {
        let meter = Meter::new(Budget {
            wall_time: Duration::from_nanos(1),
            ..budget()
        });
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(meter.admit_call(1, 10), Err(Limit::WallTime));
        assert_eq!(meter.admit_executions(1), Err(Limit::WallTime));
    }
}
