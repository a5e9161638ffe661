//! Prometheus metrics of this instance: requests by operationId and status, and a latency histogram
//! by operationId. The middleware records every request; `GET /metrics` renders them.

use std::collections::HashMap;
use std::sync::RwLock;

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
    /// The series of each operation, once created, so recording a request builds no labels.
    series: RwLock<HashMap<String, Series>>,
}

/// One operation's latency histogram and its counters by status.
struct Series {
    latency: Histogram,
    requests: HashMap<u16, Counter>,
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
        Self { registry, requests, latency, series: RwLock::default() }
    }
}

impl Metrics {
    pub fn record(&self, operation: &str, status: u16, seconds: f64) {
        {
            let series = self.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(of) = series.get(operation)
                && let Some(requests) = of.requests.get(&status)
            {
                requests.inc();
                of.latency.observe(seconds);
                return;
            }
        }
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        let of = series.entry(operation.to_string()).or_insert_with(|| Series {
            latency: self.latency.get_or_create(&OperationLabels { operation: operation.to_string() }).clone(),
            requests: HashMap::new(),
        });
        of.requests
            .entry(status)
            .or_insert_with(|| {
                let labels = RequestLabels { operation: operation.to_string(), status: status.to_string() };
                self.requests.get_or_create(&labels).clone()
            })
            .inc();
        of.latency.observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
