//! What the what-if integration tests share: reading a fixture log, the settings to
//! replay under, and relative error.

use std::path::PathBuf;

use am_core::whatif::{self, Workload};

/// Reads and parses the event log `name` under `appmaster/tests/<dir>/`.
pub(crate) fn fixture(dir: &str, name: &str) -> Workload {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests")
        .join(dir)
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    whatif::parse_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The static and the dynamic Bursty runs' logs in `appmaster/tests/<dir>/`
/// (`bursty-static<suffix>`, `bursty-dynamic<suffix>`); only the second allocates
/// dynamically.
pub(crate) fn bursty_logs(dir: &str, suffix: &str) -> (Workload, Workload) {
    let static_log = fixture(dir, &format!("bursty-static{suffix}"));
    let dynamic_log = fixture(dir, &format!("bursty-dynamic{suffix}"));
    assert!(!static_log.dynamic_allocation() && dynamic_log.dynamic_allocation());
    (static_log, dynamic_log)
}

/// The log's `spark.dynamicAllocation.*` properties, to replay another log under.
pub(crate) fn dynamic_allocation_conf(log: &Workload) -> Vec<(String, String)> {
    log.conf
        .iter()
        .filter(|(k, _)| k.starts_with("spark.dynamicAllocation."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The relative error of a prediction.
pub(crate) fn error(predicted: f64, measured: f64) -> f64 {
    (predicted - measured) / measured
}
