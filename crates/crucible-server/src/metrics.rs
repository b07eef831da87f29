//! `/metrics`: the server's counters in the Prometheus (OpenMetrics) text format: requests by
//! route and status, tokens, sequences in flight and waiting, time to first token, request
//! time and per-request decoding speed.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`].
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a finished request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) route: String,
    pub(crate) status: u16,
}

/// Every metric the server keeps.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) rejected: Counter,
    pub(crate) write_timeouts: Counter,
    pub(crate) prompt_tokens: Counter,
    pub(crate) generated_tokens: Counter,
    pub(crate) in_flight: Gauge,
    pub(crate) queue_depth: Gauge,
    pub(crate) ready: Gauge,
    pub(crate) ttft: Histogram,
    pub(crate) duration: Histogram,
    pub(crate) tokens_per_second: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("crucible");
        let requests = Family::<RequestLabels, Counter>::default();
        let rejected = Counter::default();
        let write_timeouts = Counter::default();
        let prompt_tokens = Counter::default();
        let generated_tokens = Counter::default();
        let in_flight = Gauge::default();
        let queue_depth = Gauge::default();
        let ready = Gauge::default();
        // 10 ms to about 80 s.
        let ttft = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let duration = Histogram::new(exponential_buckets(0.01, 2.0, 16));
        // 1 to about 500 tokens per second.
        let tokens_per_second = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "requests_rejected",
            "Requests refused with 429 because every slot and queue place was taken",
            rejected.clone(),
        );
        registry.register(
            "write_timeouts",
            "Connections closed because the client read nothing for the write timeout (its request cancelled)",
            write_timeouts.clone(),
        );
        registry.register(
            "prompt_tokens",
            "Prompt tokens of finished generations",
            prompt_tokens.clone(),
        );
        registry.register(
            "generated_tokens",
            "Tokens generated",
            generated_tokens.clone(),
        );
        registry.register(
            "sequences_in_flight",
            "Sequences holding a decoding slot",
            in_flight.clone(),
        );
        registry.register(
            "queue_depth",
            "Sequences admitted and waiting for a decoding slot",
            queue_depth.clone(),
        );
        registry.register(
            "model_ready",
            "1 once the model is loaded and the server takes requests",
            ready.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from a generation request's arrival to its first text",
            ttft.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a generation request's arrival to its end",
            duration.clone(),
        );
        registry.register(
            "decode_tokens_per_second",
            "Generated tokens per second of each request, after its first token",
            tokens_per_second.clone(),
        );
        Metrics {
            registry,
            requests,
            rejected,
            write_timeouts,
            prompt_tokens,
            generated_tokens,
            in_flight,
            queue_depth,
            ready,
            ttft,
            duration,
            tokens_per_second,
        }
    }

    /// Count an answered request.
    pub(crate) fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Everything, in the text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric() {
        let metrics = Metrics::new();
        metrics.request("/v1/chat/completions", 200);
        metrics.generated_tokens.inc_by(7);
        metrics.ttft.observe(0.2);
        let text = metrics.render();
        for name in [
            "crucible_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1",
            "crucible_generated_tokens_total 7",
            "crucible_time_to_first_token_seconds_count 1",
            "crucible_queue_depth 0",
            "crucible_decode_tokens_per_second_bucket",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
