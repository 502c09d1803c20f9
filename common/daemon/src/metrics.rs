//! Prometheus metrics in the text format at `/metrics`: a [`Registrar`]
//! that registers each metric and hands it back (so a metrics struct is one
//! line a metric), and the filled [`Metrics`] a scrape renders.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry, Unit};
use std::sync::Mutex;

/// `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A registry being filled; names get the registrar's prefix.
#[derive(Debug)]
pub struct Registrar(Registry);

impl Registrar {
    /// Names get `prefix_` in front (e.g. `spindle_nm`).
    pub fn new(prefix: &str) -> Self {
        Self(Registry::with_prefix(prefix))
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

    /// Registers a latency histogram in seconds, with buckets from 100 µs to ~26 s.
    pub fn latency(&mut self, name: &str, help: &str) -> Histogram {
        self.seconds(name, help, exponential_buckets(0.0001, 2.0, 19))
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
        Metrics(Mutex::new(self.0))
    }
}

/// A filled registry.
#[derive(Debug)]
pub struct Metrics(Mutex<Registry>);

impl Metrics {
    /// Runs `refresh` (which sets gauges read at scrape time) and encodes
    /// every metric; scrapes do this one at a time.
    pub fn render(&self, refresh: impl FnOnce()) -> String {
        let registry = self.0.lock().expect("registry");
        refresh();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &registry);
        out
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
            "spindle_x_wait_seconds_count 1",
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
}
