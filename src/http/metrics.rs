//! Prometheus metrics of this instance: requests by operationId and status, a latency histogram by
//! operationId, the order desk's batch sizes, product-cache hits and misses, the database pool,
//! the process (memory, CPU, file descriptors, threads) and the build. The middleware records
//! every request; `GET /metrics` renders them, reading the pool and the process at that moment.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// How long each database connection acquire waited, in this process. sqlx reports acquires as
/// tracing events, which are process-wide; [`PoolAcquireLayer`] records them here.
pub static POOL_ACQUIRES: std::sync::LazyLock<Histogram> =
    std::sync::LazyLock::new(|| Histogram::new(exponential_buckets(0.0001, 4.0, 9)));

/// A tracing layer that records sqlx's `sqlx::pool::acquire` events in [`POOL_ACQUIRES`]; install
/// it with a filter that lets that target's TRACE events through (see `main.rs`).
pub struct PoolAcquireLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PoolAcquireLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Waited(Option<f64>);
        impl tracing::field::Visit for Waited {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "acquired_after_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if event.metadata().target() != "sqlx::pool::acquire" {
            return;
        }
        let mut waited = Waited(None);
        event.record(&mut waited);
        if let Some(seconds) = waited.0 {
            POOL_ACQUIRES.observe(seconds);
        }
    }
}

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

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// The product cache's counters (shared with the cache, which counts into them).
#[derive(Clone, Default)]
pub struct CacheCounters {
    pub product_hits: Counter,
    pub product_misses: Counter,
    pub list_hits: Counter,
    pub list_misses: Counter,
}

/// A database pool's state at one moment.
pub struct PoolState {
    pub open: u64,
    pub idle: u64,
    pub max: u64,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram>,
    /// The series of each operation, once created, so recording a request builds no labels.
    series: RwLock<HashMap<String, Series>>,
    /// Orders per order-desk transaction.
    pub desk_batch_sizes: Histogram,
    pub cache: CacheCounters,
    pool: Family<StateLabels, Gauge>,
    pool_max: Gauge,
    resident_memory: Gauge,
    cpu_seconds: FloatCounter,
    /// Renders one at a time: each moves the CPU counter on by what was spent since the last.
    rendering: std::sync::Mutex<()>,
    open_fds: Gauge,
    threads: Gauge,
    search_products: Gauge,
    search_bytes: Gauge,
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
        let desk_batch_sizes = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        let caches = Family::<CacheLabels, Counter>::default();
        let cache_counter = |cache, outcome| caches.get_or_create(&CacheLabels { cache, outcome }).clone();
        let cache = CacheCounters {
            product_hits: cache_counter("product", "hit"),
            product_misses: cache_counter("product", "miss"),
            list_hits: cache_counter("list", "hit"),
            list_misses: cache_counter("list", "miss"),
        };
        let pool = Family::<StateLabels, Gauge>::default();
        let (pool_max, resident_memory, open_fds, threads) =
            (Gauge::default(), Gauge::default(), Gauge::default(), Gauge::default());
        let (cpu_seconds, start_time) = (FloatCounter::default(), FloatGauge::default());
        let (search_products, search_bytes) = (Gauge::default(), Gauge::default());
        start_time
            .set(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64());

        let mut registry = Registry::default();
        let commerce = registry.sub_registry_with_prefix("commerce");
        commerce.register("http_requests", "Requests answered, by operationId and status", requests.clone());
        commerce.register(
            "http_request_duration_seconds",
            "Time from receiving a request to answering it, by operationId",
            latency.clone(),
        );
        commerce.register(
            "order_desk_batch_size",
            "Orders created per order-desk transaction",
            desk_batch_sizes.clone(),
        );
        commerce.register("product_cache", "Product-cache lookups, by cache (product, list) and outcome", caches);
        commerce.register(
            "db_pool_connections",
            "Database pool connections, by state (in_use, idle); requests wait for one when in_use reaches the maximum",
            pool.clone(),
        );
        commerce.register("db_pool_max_connections", "The database pool's maximum size", pool_max.clone());
        commerce.register(
            "db_pool_acquire_seconds",
            "Time each database connection acquire waited, in this process (a wait means the pool was busy)",
            POOL_ACQUIRES.clone(),
        );
        commerce.register(
            "search_index_products",
            "Live products whose words are searched in memory (0 while searches go to the database)",
            search_products.clone(),
        );
        commerce.register(
            "search_index_bytes",
            "Memory the search index in memory holds, about (within --search-index-mib)",
            search_bytes.clone(),
        );
        commerce.register(
            "build",
            "The service's version and the API version it serves",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION")), ("api_version", "2.4.0")]),
        );
        let process = registry.sub_registry_with_prefix("process");
        process.register("resident_memory_bytes", "Resident memory size in bytes", resident_memory.clone());
        process.register("cpu_seconds", "User and system CPU time spent, in seconds", cpu_seconds.clone());
        process.register("open_fds", "Open file descriptors", open_fds.clone());
        process.register("threads", "Operating-system threads", threads.clone());
        process.register(
            "start_time_seconds",
            "When the service started, in seconds since the epoch",
            start_time.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            series: RwLock::default(),
            desk_batch_sizes,
            cache,
            pool,
            pool_max,
            resident_memory,
            cpu_seconds,
            rendering: std::sync::Mutex::default(),
            open_fds,
            threads,
            search_products,
            search_bytes,
        }
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

    /// The Prometheus text exposition of every metric, with the pool, the process and the search
    /// index in memory (its live products and bytes, while it answers) read now.
    pub fn render(&self, pool: Option<PoolState>, search_index: Option<(u64, u64)>) -> String {
        let (products, bytes) = search_index.unwrap_or_default();
        self.search_products.set(i64::try_from(products).unwrap_or(i64::MAX));
        self.search_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        let _one_at_a_time = self.rendering.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pool {
            let gauge = |state| self.pool.get_or_create(&StateLabels { state }).clone();
            gauge("in_use").set(pool.open.saturating_sub(pool.idle) as i64);
            gauge("idle").set(pool.idle as i64);
            self.pool_max.set(pool.max as i64);
        }
        if let Some(process) = ProcessState::read() {
            self.resident_memory.set(process.resident_bytes as i64);
            self.cpu_seconds.inc_by((process.cpu_seconds - self.cpu_seconds.get()).max(0.0));
            self.open_fds.set(process.open_fds as i64);
            self.threads.set(process.threads as i64);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// What `/proc/self` says of this process (Linux; elsewhere nothing is reported).
struct ProcessState {
    resident_bytes: u64,
    cpu_seconds: f64,
    open_fds: u64,
    threads: u64,
}

impl ProcessState {
    #[cfg(target_os = "linux")]
    fn read() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse::<u64>().ok())
        };
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may hold spaces, so split after its closing paren):
        // utime and stime are the 14th and 15th of the whole line, the 12th and 13th after it.
        let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Some(Self {
            resident_bytes: field("VmRSS:")? * 1024,
            cpu_seconds: ticks as f64 / per_second,
            open_fds: std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0),
            threads: field("Threads:")?,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn read() -> Option<Self> {
        None
    }
}
