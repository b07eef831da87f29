//! Retrying a request that a busy or flaky server did not take: connection failures, 408, 429
//! and 5xx answers (but 501), and connections that broke or stalled before the first byte of
//! text. Waits grow exponentially with full jitter, a `Retry-After` from the server is
//! honoured (capped), and the retries of one request stay within a budget of attempts and of
//! waiting time, and within the request's deadline.

use std::time::{Duration, Instant};

use crate::Error;

/// How hard to try before a request is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries of one request, the first included (1: never retry).
    pub attempts: u32,
    /// The first wait; each next one may be twice as long.
    pub base_delay: Duration,
    /// The longest single wait (also the cap on a server's `Retry-After`).
    pub max_delay: Duration,
    /// The most time one request may spend waiting between tries.
    pub budget: Duration,
}

impl RetryPolicy {
    /// 6 tries, waits from 0.5 s doubling up to 30 s each, 120 s of waiting in all.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        attempts: 6,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(30),
        budget: Duration::from_secs(120),
    };

    /// Never retry.
    pub const NEVER: RetryPolicy = RetryPolicy {
        attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        budget: Duration::ZERO,
    };
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy::DEFAULT
    }
}

/// Whether `err`, met before any text arrived, is worth another try: the server was busy,
/// failing for a moment, or unreachable; not a request it will refuse again.
pub(crate) fn retryable(err: &Error) -> bool {
    match err {
        Error::Connect { .. } | Error::Broken { .. } | Error::Timeout { .. } => true,
        Error::Status { status, .. } => {
            matches!(status, 408 | 429) || (*status >= 500 && *status != 501)
        }
        _ => false,
    }
}

/// Whether `err`, the answer to a request for several choices before any text, says the
/// server does not do `n` > 1 (rather than that it is busy): a 400, 422 or 501, or a 500 whose
/// message is about choices or `n` (llama-server answers `n` > 1 with HTTP 500 "Only one
/// completion choice is allowed"). A 429, 503 or any other 5xx is overload: the same request
/// is tried again later.
pub(crate) fn refuses_n(err: &Error) -> bool {
    let Error::Status {
        status, message, ..
    } = err
    else {
        return false;
    };
    let message = message.to_ascii_lowercase();
    match status {
        400 | 422 | 501 => true,
        500 => {
            message.contains("choice")
                || message.contains("`n`")
                || message.contains("'n'")
                || message.contains("\"n\"")
        }
        _ => false,
    }
}

/// The retries of one request.
#[derive(Debug)]
pub(crate) struct Retries {
    policy: RetryPolicy,
    tries: u32,
    waited: Duration,
    /// Jitter state (xorshift), seeded per request so concurrent requests spread out.
    state: u64,
}

impl Retries {
    pub(crate) fn new(policy: RetryPolicy, seed: u64) -> Retries {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        Retries {
            policy,
            tries: 1,
            waited: Duration::ZERO,
            state: (seed ^ clock ^ 0x9e37_79b9_7f4a_7c15) | 1,
        }
    }

    /// Tries made so far.
    pub(crate) fn tries(&self) -> u32 {
        self.tries
    }

    /// The wait before the next try after `err`, or `None` when `err` is final: not
    /// retryable, out of tries or of waiting budget, or the wait would pass `deadline`.
    pub(crate) fn next_delay(&mut self, err: &Error, deadline: Instant) -> Option<Duration> {
        if !retryable(err) || self.tries >= self.policy.attempts {
            return None;
        }
        let delay = match err {
            Error::Status {
                retry_after: Some(after),
                ..
            } => (*after).min(self.policy.max_delay),
            _ => {
                // Full jitter: uniform in [0, min(max, base * 2^(tries-1))].
                let ceiling = self
                    .policy
                    .base_delay
                    .saturating_mul(1 << (self.tries - 1).min(20))
                    .min(self.policy.max_delay);
                ceiling.mul_f64(self.uniform())
            }
        };
        if self.waited + delay > self.policy.budget || Instant::now() + delay >= deadline {
            return None;
        }
        self.tries += 1;
        self.waited += delay;
        Some(delay)
    }

    /// A number in [0, 1).
    fn uniform(&mut self) -> f64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Parse a `Retry-After` header: delay-seconds (HTTP dates are not used by model servers and
/// are ignored).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Status {
            url: "http://h/v1/chat/completions".into(),
            status,
            message: "busy".into(),
            retry_after,
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[test]
    fn busy_and_broken_servers_are_retried_and_refusals_are_not() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(retryable(&status(code, None)), "{code}");
        }
        for code in [400, 401, 403, 404, 413, 422, 501] {
            assert!(!retryable(&status(code, None)), "{code}");
        }
        let connect = Error::Connect {
            url: "u".into(),
            message: "refused".into(),
        };
        assert!(retryable(&connect));
        assert!(!retryable(&Error::BeamSearch));
    }

    #[test]
    fn waits_grow_with_jitter_within_the_cap_and_the_budget() {
        let policy = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            budget: Duration::from_millis(1000),
        };
        let mut retries = Retries::new(policy, 7);
        let err = status(503, None);
        let mut total = Duration::ZERO;
        let mut delays = vec![];
        while let Some(delay) = retries.next_delay(&err, far()) {
            assert!(delay <= policy.max_delay, "{delay:?}");
            total += delay;
            delays.push(delay);
        }
        assert!(total <= policy.budget, "{total:?}");
        assert!(!delays.is_empty());
        // Ten tries at most: nine waits.
        assert!(delays.len() <= 9);
        // Jitter: not every wait is the same.
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "{delays:?}");
    }

    #[test]
    fn retry_after_is_honoured_and_capped_and_attempts_run_out() {
        let policy = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::DEFAULT
        };
        let mut retries = Retries::new(policy, 1);
        let err = status(429, Some(Duration::from_secs(2)));
        assert_eq!(
            retries.next_delay(&err, far()),
            Some(Duration::from_secs(2))
        );
        let err = status(429, Some(Duration::from_secs(600)));
        assert_eq!(retries.next_delay(&err, far()), Some(policy.max_delay));
        assert_eq!(retries.tries(), 3);
        assert_eq!(retries.next_delay(&err, far()), None, "out of tries");
    }

    #[test]
    fn a_wait_past_the_deadline_gives_up() {
        let mut retries = Retries::new(RetryPolicy::DEFAULT, 1);
        let soon = Instant::now() + Duration::from_secs(1);
        let err = status(503, Some(Duration::from_secs(5)));
        assert_eq!(retries.next_delay(&err, soon), None);
    }

    #[test]
    fn a_refusal_of_n_is_told_apart_from_overload() {
        let with = |code: u16, message: &str| Error::Status {
            url: "u".into(),
            status: code,
            message: message.into(),
            retry_after: None,
        };
        assert!(refuses_n(&with(
            500,
            "Only one completion choice is allowed"
        )));
        assert!(refuses_n(&with(400, "n must be 1")));
        assert!(!refuses_n(&with(500, "out of memory")));
        assert!(!refuses_n(&with(
            503,
            "Only one completion choice is allowed"
        )));
        assert!(!refuses_n(&with(429, "too many requests")));
    }

    #[test]
    fn retry_after_takes_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
