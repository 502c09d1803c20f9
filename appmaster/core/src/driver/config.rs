//! The driver's settings, from the application's Spark properties.

use super::core::DriverConfig;
use crate::sparkconf::{keys, SparkConf, SparkConfError, TimeUnit};
use std::collections::BTreeMap;

pub fn driver_config(conf: &BTreeMap<String, String>) -> Result<DriverConfig, SparkConfError> {
    let sc = SparkConf::from(conf.clone());
    // spindle-submit validated these already; a hand-made launch gets the same checks.
    sc.validate()?;
    let dynamic = if sc.dynamic_allocation_enabled()? {
        Some(sc.allocation_config()?)
    } else {
        None
    };
    Ok(DriverConfig {
        executor_resource: sc.executor_container()?,
        executor_cores: sc.executor_cores()?,
        task_cpus: sc.task_cpus()?,
        max_task_failures: sc.task_max_failures()?,
        max_executor_failures: sc.executor_max_num_failures()?,
        static_instances: sc.num_executors()?,
        dynamic,
        shuffle_service: sc.shuffle_service_enabled()?,
        shuffle_migration: sc.shuffle_migration()?,
        max_stage_attempts: sc.get_int(keys::STAGE_MAX_CONSECUTIVE_ATTEMPTS, 4)?.max(1) as u32,
        locality_wait_ms: sc
            .get_time_ms(keys::LOCALITY_WAIT, TimeUnit::Milliseconds, 3000)?
            .max(0) as u64,
        // Spark's defaults on YARN.
        min_registered_ratio: sc.get_double(keys::SCHEDULER_MIN_REGISTERED_RESOURCES_RATIO, 0.8)?,
        max_registered_wait_ms: sc
            .get_time_ms(
                keys::SCHEDULER_MAX_REGISTERED_RESOURCES_WAITING_TIME,
                TimeUnit::Milliseconds,
                30_000,
            )?
            .max(0) as u64,
        speculation: sc.speculation_config()?,
    })
}
