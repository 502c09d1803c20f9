//! The driver's settings from Spark properties: the start gate's two.

use am_core::driver::driver_config;
use am_core::sparkconf::keys;
use std::collections::BTreeMap;

#[test]
fn the_start_gate_settings_come_from_spark_properties() {
    let c = driver_config(&BTreeMap::new()).unwrap();
    assert_eq!(c.min_registered_ratio, 0.8, "Spark's default on YARN");
    assert_eq!(c.max_registered_wait_ms, 30_000);
    let conf = [
        (keys::SCHEDULER_MIN_REGISTERED_RESOURCES_RATIO, "0.5"),
        (keys::SCHEDULER_MAX_REGISTERED_RESOURCES_WAITING_TIME, "5s"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let c = driver_config(&conf).unwrap();
    assert_eq!(c.min_registered_ratio, 0.5);
    assert_eq!(c.max_registered_wait_ms, 5_000);
    let bad = [(
        keys::SCHEDULER_MIN_REGISTERED_RESOURCES_RATIO.to_string(),
        "most".to_string(),
    )]
    .into();
    let e = driver_config(&bad).unwrap_err().to_string();
    assert!(
        e.contains(keys::SCHEDULER_MIN_REGISTERED_RESOURCES_RATIO),
        "{e}"
    );
}
