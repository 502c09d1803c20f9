//! Prometheus metrics in the text format at `/metrics`: a [`Registrar`]
//! that registers each metric and hands it back (so a metrics struct is one
//! line a metric), and the filled [`Metrics`] a scrape renders.
//!
//! Every registry also carries what all daemons share, unprefixed or under the daemon's
//! prefix: Prometheus' standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, `process_start_time_seconds`, ...,
//! read from `/proc/self` at each scrape), `spindle_build_info{version, daemon} 1`, and the
//! TLS handshakes this process's listeners refused (`<prefix>_tls_handshake_failures_total`).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};
use std::sync::{Mutex, OnceLock};

/// `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A registry being filled; names get the registrar's prefix.
#[derive(Debug)]
pub struct Registrar(Registry, Registry);

/// Labels of a family keyed by one or two fixed names.
type Labels = Vec<(&'static str, String)>;

/// This process's TLS handshake failures, by listener (`web`, `rpc`): one family, in every
/// registry of the process.
fn handshake_failures() -> &'static Family<Labels, Counter> {
    static F: OnceLock<Family<Labels, Counter>> = OnceLock::new();
    F.get_or_init(Family::default)
}

/// A TLS handshake on `listener` (`web`: the HTTPS server; `rpc`: QUIC) failed or timed out:
/// a client without a certificate the cluster CA signed, a wrong CA, a port scanner, ...
pub fn tls_handshake_failed(listener: &'static str) {
    handshake_failures()
        .get_or_create(&vec![("listener", listener.to_string())])
        .inc();
}

impl Registrar {
    /// Names get `prefix_` in front (e.g. `spindle_nm`). The process metrics, the build info
    /// and the handshake failures are registered here too.
    pub fn new(prefix: &str) -> Self {
        let mut shared = Registry::default();
        shared.register_collector(Box::new(ProcessCollector));
        let build: Family<Labels, Gauge> = Family::default();
        let daemon = prefix.strip_prefix("spindle_").unwrap_or(prefix);
        build
            .get_or_create(&vec![
                ("version", env!("CARGO_PKG_VERSION").to_string()),
                ("daemon", daemon.to_string()),
            ])
            .set(1);
        shared.register(
            "spindle_build_info",
            "Spindle's version and which daemon this is (always 1)",
            build,
        );
        // Both listeners show from the first scrape, at 0.
        for listener in ["web", "rpc"] {
            let _ = handshake_failures().get_or_create(&vec![("listener", listener.to_string())]);
        }
        shared.register(
            format!("{prefix}_tls_handshake_failures"),
            "TLS handshakes refused or timed out, by listener (web: HTTPS; rpc: QUIC)",
            handshake_failures().clone(),
        );
        Self(Registry::with_prefix(prefix), shared)
    }

    /// Registers a new metric (counter, gauge, family) and returns it.
    pub fn add<M: Metric + Clone + Default>(&mut self, name: &str, help: &str) -> M {
        let m = M::default();
        self.0.register(name, help, m.clone());
        m
    }

    /// [`Self::add`] for a metric measured in `unit` (its name gets the unit's suffix).
    pub fn add_with_unit<M: Metric + Clone + Default>(
        &mut self,
        name: &str,
        help: &str,
        unit: Unit,
    ) -> M {
        let m = M::default();
        self.0.register_with_unit(name, help, unit, m.clone());
        m
    }

    /// Registers a latency histogram in seconds, with buckets from 10 µs to ~42 s (an
    /// allocation takes about 5 µs: it falls in the first bucket, not in one that holds
    /// everything up to 100 µs).
    pub fn latency(&mut self, name: &str, help: &str) -> Histogram {
        self.seconds(name, help, LATENCY_BUCKETS.iter().copied())
    }

    /// Registers a histogram in seconds with `buckets` (their upper bounds).
    pub fn seconds(
        &mut self,
        name: &str,
        help: &str,
        buckets: impl IntoIterator<Item = f64>,
    ) -> Histogram {
        let h = Histogram::new(buckets);
        self.0
            .register_with_unit(name, help, Unit::Seconds, h.clone());
        h
    }

    /// Done registering.
    pub fn finish(self) -> Metrics {
        Metrics(Mutex::new((self.0, self.1)))
    }
}

/// The latency histograms' bucket bounds, in seconds: 10 µs, 20 µs, 50 µs, 100 µs, ...
/// (1-2-5 per decade) up to 50 s.
pub const LATENCY_BUCKETS: [f64; 22] = [
    1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0,
    2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// A filled registry: the daemon's own metrics, then what all daemons share.
#[derive(Debug)]
pub struct Metrics(Mutex<(Registry, Registry)>);

impl Metrics {
    /// Runs `refresh` (which sets gauges read at scrape time) and encodes
    /// every metric; scrapes do this one at a time.
    pub fn render(&self, refresh: impl FnOnce()) -> String {
        let registries = self.0.lock().expect("registry");
        refresh();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &registries.0);
        let _ = prometheus_text::encode(&mut out, &registries.1);
        out
    }
}

/// What `/proc/self` says about this process, as Prometheus' process collector reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
    pub threads: u64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
}

impl ProcessStats {
    /// From `/proc/self/stat`, `/proc/stat` (the boot time), `/proc/self/fd` and
    /// `/proc/self/limits`; `None` where there is no `/proc` (the metrics are left out).
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        // SAFETY: sysconf only reads a system constant.
        let (tick, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        Self::parse(&stat, &boot, &limits, open_fds, tick as f64, page as u64)
    }

    /// `stat`: `/proc/self/stat`; `boot`: `/proc/stat`; `limits`: `/proc/self/limits`;
    /// `tick`: clock ticks a second; `page`: bytes a page.
    pub fn parse(
        stat: &str,
        boot: &str,
        limits: &str,
        open_fds: u64,
        tick: f64,
        page: u64,
    ) -> Option<Self> {
        // The command name may hold spaces and parentheses: the fields start after the last ')'.
        let fields: Vec<&str> = stat
            .get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect();
        // Fields from 3 (state) on, as proc(5) numbers them: field n is fields[n - 3].
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let boot_time: u64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok());
        let tick = if tick > 0.0 { tick } else { 100.0 };
        Some(Self {
            cpu_seconds: (field(14)? + field(15)?) as f64 / tick,
            threads: field(20)?,
            start_time_seconds: boot_time as f64 + field(22)? as f64 / tick,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * page,
            open_fds,
            max_fds,
        })
    }
}

/// Prometheus' standard process metrics, read at each scrape.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(s) = ProcessStats::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent in seconds",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let gauges: [(&str, &str, Option<Unit>, f64); 5] = [
            (
                "process_resident_memory",
                "Resident memory size in bytes",
                Some(Unit::Bytes),
                s.resident_bytes as f64,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size in bytes",
                Some(Unit::Bytes),
                s.virtual_bytes as f64,
            ),
            (
                "process_start_time",
                "Start time of the process since unix epoch in seconds",
                Some(Unit::Seconds),
                s.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                None,
                s.open_fds as f64,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                None,
                s.threads as f64,
            ),
        ];
        for (name, help, unit, v) in gauges {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, unit.as_ref(), g.metric_type())?)?;
        }
        if let Some(max) = s.max_fds {
            let g = ConstGauge::new(max as f64);
            g.encode(encoder.encode_descriptor(
                "process_max_fds",
                "Maximum number of open file descriptors",
                None,
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// `body` (a rendering) as the answer to `GET /metrics`.
pub fn response(body: String) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;

    #[test]
    fn registered_metrics_render_in_order_with_prefix_and_units() {
        let mut r = Registrar::new("spindle_x");
        let c: Counter = r.add("things", "Things done");
        let g: Family<Vec<(&'static str, &'static str)>, Gauge> = r.add("parts", "Parts by state");
        let b: Counter = r.add_with_unit("moved", "Bytes moved", Unit::Bytes);
        let l = r.latency("wait", "Waiting");
        let m = r.finish();
        c.inc();
        b.inc_by(10);
        l.observe(0.5);
        let text = m.render(|| {
            g.get_or_create(&vec![("state", "up")]).set(3);
        });
        let want = [
            "spindle_x_things_total 1",
            "spindle_x_parts{state=\"up\"} 3",
            "spindle_x_moved_bytes_total 10",
            // The first bucket: 10 µs.
            "spindle_x_wait_seconds_bucket{le=\"1e-05\"} 0",
            "spindle_x_wait_seconds_count 1",
            "spindle_build_info{version=\"",
            "spindle_x_tls_handshake_failures_total{listener=\"web\"}",
            "# TYPE process_cpu_seconds_total counter",
            "process_resident_memory_bytes ",
            "process_start_time_seconds ",
            "process_open_fds ",
        ];
        let at: Vec<usize> = want
            .iter()
            .map(|w| {
                text.find(w)
                    .unwrap_or_else(|| panic!("{w} missing in\n{text}"))
            })
            .collect();
        assert!(at.windows(2).all(|p| p[0] < p[1]), "{text}");
    }

    #[test]
    fn process_stats_parse_procfs() {
        let stat = "4242 (my (odd) daemon) S 1 4242 4242 0 -1 4194304 2000 0 0 0 \
                    250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let s = ProcessStats::parse(stat, boot, limits, 12, 100.0, 4096).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7);
        assert_eq!(s.start_time_seconds, 1_700_000_123.45);
        assert_eq!(s.virtual_bytes, 104_857_600);
        assert_eq!(s.resident_bytes, 2560 * 4096);
        assert_eq!((s.open_fds, s.max_fds), (12, Some(1024)));
        // And this process's own, from /proc.
        let me = ProcessStats::read().expect("/proc/self");
        assert!(me.resident_bytes > 0 && me.open_fds > 0 && me.start_time_seconds > 1e9);
    }
}
