//! Prometheus metrics of this instance: requests by operationId and status, and a latency histogram
//! by operationId. The middleware records every request; `GET /metrics` renders them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The operationId of requests no operation serves (unknown routes, methods, the docs).
pub const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        // 0.5 ms to ~16 s, doubling.
        let latency = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let mut registry = Registry::with_prefix("commerce");
        registry.register("http_requests", "Requests answered, by operationId and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to answering it, by operationId",
            latency.clone(),
        );
        Self { registry, requests, latency }
    }
}

impl Metrics {
    pub fn record(&self, operation: &str, status: u16, seconds: f64) {
        let operation = operation.to_string();
        self.requests.get_or_create(&RequestLabels { operation: operation.clone(), status: status.to_string() }).inc();
        self.latency.get_or_create(&OperationLabels { operation }).observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
