//! Every Spark (and Spindle) property name the application master reads, in one place.

/// `spark.master`
pub const MASTER: &str = "spark.master";
/// `spark.submit.deployMode`
pub const DEPLOY_MODE: &str = "spark.submit.deployMode";
/// `spark.app.name`
pub const APP_NAME: &str = "spark.app.name";
/// `spark.app.submitTime` (milliseconds since the epoch, set by spindle-submit)
pub const APP_SUBMIT_TIME: &str = "spark.app.submitTime";
/// `spark.yarn.queue`
pub const QUEUE: &str = "spark.yarn.queue";
/// `spark.yarn.maxAppAttempts`
pub const MAX_APP_ATTEMPTS: &str = "spark.yarn.maxAppAttempts";
/// `spark.yarn.submit.waitAppCompletion`
pub const WAIT_APP_COMPLETION: &str = "spark.yarn.submit.waitAppCompletion";
/// `spark.executor.memory`
pub const EXECUTOR_MEMORY: &str = "spark.executor.memory";
/// `spark.memory.fraction`: the share of (executor memory − 300 MiB) for execution and
/// storage (default 0.6)
pub const MEMORY_FRACTION: &str = "spark.memory.fraction";
/// `spark.shuffle.spill.numElementsForceSpillThreshold`: spill after this many elements
/// whatever the memory
pub const SHUFFLE_SPILL_FORCE_ELEMENTS: &str = "spark.shuffle.spill.numElementsForceSpillThreshold";
/// `spark.reducer.maxSizeInFlight`: shuffle bytes a reduce task fetches at once (default 48m)
pub const REDUCER_MAX_SIZE_IN_FLIGHT: &str = "spark.reducer.maxSizeInFlight";
/// `spark.executor.memoryOverhead`
pub const EXECUTOR_MEMORY_OVERHEAD: &str = "spark.executor.memoryOverhead";
/// `spark.executor.memoryOverheadFactor`
pub const EXECUTOR_MEMORY_OVERHEAD_FACTOR: &str = "spark.executor.memoryOverheadFactor";
/// `spark.executor.minMemoryOverhead`
pub const EXECUTOR_MIN_MEMORY_OVERHEAD: &str = "spark.executor.minMemoryOverhead";
/// `spark.executor.cores`
pub const EXECUTOR_CORES: &str = "spark.executor.cores";
/// `spark.executor.instances`
pub const EXECUTOR_INSTANCES: &str = "spark.executor.instances";
/// `spark.executor.maxNumFailures`
pub const EXECUTOR_MAX_NUM_FAILURES: &str = "spark.executor.maxNumFailures";
/// `spark.yarn.max.executor.failures` (the older name of `spark.executor.maxNumFailures`)
pub const YARN_MAX_EXECUTOR_FAILURES: &str = "spark.yarn.max.executor.failures";
/// `spark.driver.memory`
pub const DRIVER_MEMORY: &str = "spark.driver.memory";
/// `spark.driver.memoryOverhead`
pub const DRIVER_MEMORY_OVERHEAD: &str = "spark.driver.memoryOverhead";
/// `spark.driver.memoryOverheadFactor`
pub const DRIVER_MEMORY_OVERHEAD_FACTOR: &str = "spark.driver.memoryOverheadFactor";
/// `spark.driver.minMemoryOverhead`
pub const DRIVER_MIN_MEMORY_OVERHEAD: &str = "spark.driver.minMemoryOverhead";
/// `spark.driver.cores`
pub const DRIVER_CORES: &str = "spark.driver.cores";
/// `spark.task.cpus`
pub const TASK_CPUS: &str = "spark.task.cpus";
/// `spark.task.maxFailures`
pub const TASK_MAX_FAILURES: &str = "spark.task.maxFailures";
/// `spark.dynamicAllocation.enabled`
pub const DYNAMIC_ALLOCATION_ENABLED: &str = "spark.dynamicAllocation.enabled";
/// `spark.dynamicAllocation.maxExecutors`
pub const MAX_EXECUTORS: &str = "spark.dynamicAllocation.maxExecutors";
/// `spark.dynamicAllocation.shuffleTracking.enabled`
pub const SHUFFLE_TRACKING_ENABLED: &str = "spark.dynamicAllocation.shuffleTracking.enabled";
/// `spark.shuffle.service.enabled`
pub const SHUFFLE_SERVICE_ENABLED: &str = "spark.shuffle.service.enabled";
/// `spark.eventLog.enabled`
pub const EVENT_LOG_ENABLED: &str = "spark.eventLog.enabled";
/// `spark.eventLog.dir`
pub const EVENT_LOG_DIR: &str = "spark.eventLog.dir";
/// `spark.dynamicAllocation.testing` (relaxes the shuffle-service requirement, as in Spark).
pub const TESTING: &str = "spark.dynamicAllocation.testing";
/// `spark.dynamicAllocation.minExecutors`
pub const MIN_EXECUTORS: &str = "spark.dynamicAllocation.minExecutors";
/// `spark.dynamicAllocation.initialExecutors`
pub const INITIAL_EXECUTORS: &str = "spark.dynamicAllocation.initialExecutors";
/// `spark.dynamicAllocation.executorIdleTimeout`
pub const EXECUTOR_IDLE_TIMEOUT: &str = "spark.dynamicAllocation.executorIdleTimeout";
/// `spark.dynamicAllocation.cachedExecutorIdleTimeout`
pub const CACHED_EXECUTOR_IDLE_TIMEOUT: &str = "spark.dynamicAllocation.cachedExecutorIdleTimeout";
/// `spark.dynamicAllocation.schedulerBacklogTimeout`
pub const SCHEDULER_BACKLOG_TIMEOUT: &str = "spark.dynamicAllocation.schedulerBacklogTimeout";
/// `spark.dynamicAllocation.sustainedSchedulerBacklogTimeout`
pub const SUSTAINED_SCHEDULER_BACKLOG_TIMEOUT: &str =
    "spark.dynamicAllocation.sustainedSchedulerBacklogTimeout";
/// `spark.dynamicAllocation.executorAllocationRatio`
pub const EXECUTOR_ALLOCATION_RATIO: &str = "spark.dynamicAllocation.executorAllocationRatio";
/// `spark.dynamicAllocation.shuffleTracking.timeout`
pub const SHUFFLE_TRACKING_TIMEOUT: &str = "spark.dynamicAllocation.shuffleTracking.timeout";
/// `spark.shuffle.service.fetch.rdd.enabled`
pub const SHUFFLE_SERVICE_FETCH_RDD_ENABLED: &str = "spark.shuffle.service.fetch.rdd.enabled";
/// `spark.decommission.enabled`
pub const DECOMMISSION_ENABLED: &str = "spark.decommission.enabled";
/// `spark.storage.decommission.enabled`: a decommissioning executor migrates its blocks.
pub const STORAGE_DECOMMISSION_ENABLED: &str = "spark.storage.decommission.enabled";
/// `spark.storage.decommission.fallbackStorage.path`: where shuffle blocks go when no
/// peer is left.
pub const STORAGE_DECOMMISSION_FALLBACK_STORAGE_PATH: &str =
    "spark.storage.decommission.fallbackStorage.path";
/// `spark.storage.decommission.shuffleBlocks.enabled`
pub const STORAGE_DECOMMISSION_SHUFFLE_BLOCKS_ENABLED: &str =
    "spark.storage.decommission.shuffleBlocks.enabled";
/// `spark.stage.maxConsecutiveAttempts`
pub const STAGE_MAX_CONSECUTIVE_ATTEMPTS: &str = "spark.stage.maxConsecutiveAttempts";
/// `spark.speculation` (speculative execution of slow tasks, default false)
pub const SPECULATION: &str = "spark.speculation";
/// `spark.speculation.interval` (how often tasks are checked, default 100ms)
pub const SPECULATION_INTERVAL: &str = "spark.speculation.interval";
/// `spark.speculation.multiplier` (how many times slower than the median, default 3)
pub const SPECULATION_MULTIPLIER: &str = "spark.speculation.multiplier";
/// `spark.speculation.quantile` (share of a stage's tasks done first, default 0.9)
pub const SPECULATION_QUANTILE: &str = "spark.speculation.quantile";
/// `spark.speculation.minTaskRuntime` (no copy of a younger task, default 100ms)
pub const SPECULATION_MIN_TASK_RUNTIME: &str = "spark.speculation.minTaskRuntime";
/// `spark.locality.wait`
pub const LOCALITY_WAIT: &str = "spark.locality.wait";
/// `spark.scheduler.minRegisteredResourcesRatio`
pub const SCHEDULER_MIN_REGISTERED_RESOURCES_RATIO: &str =
    "spark.scheduler.minRegisteredResourcesRatio";
/// `spark.scheduler.maxRegisteredResourcesWaitingTime`
pub const SCHEDULER_MAX_REGISTERED_RESOURCES_WAITING_TIME: &str =
    "spark.scheduler.maxRegisteredResourcesWaitingTime";
/// `spark.default.parallelism`
pub const DEFAULT_PARALLELISM: &str = "spark.default.parallelism";
/// `spark.rdd.limit.scaleUpFactor`
pub const RDD_LIMIT_SCALE_UP_FACTOR: &str = "spark.rdd.limit.scaleUpFactor";
/// `spark.rdd.limit.initialNumPartitions`
pub const RDD_LIMIT_INITIAL_NUM_PARTITIONS: &str = "spark.rdd.limit.initialNumPartitions";
/// `spark.acls.enable`: the application is visible only to those its view ACL names
pub const ACLS_ENABLE: &str = "spark.acls.enable";
/// `spark.ui.view.acls` (comma-separated users; `*` is everyone)
pub const UI_VIEW_ACLS: &str = "spark.ui.view.acls";
/// `spark.ui.view.acls.groups`
pub const UI_VIEW_ACLS_GROUPS: &str = "spark.ui.view.acls.groups";
/// `spark.modify.acls` (comma-separated users who may kill the application)
pub const MODIFY_ACLS: &str = "spark.modify.acls";
/// `spark.modify.acls.groups`
pub const MODIFY_ACLS_GROUPS: &str = "spark.modify.acls.groups";
/// `spark.admin.acls` (users who may view and modify the application)
pub const ADMIN_ACLS: &str = "spark.admin.acls";
/// `spark.admin.acls.groups`
pub const ADMIN_ACLS_GROUPS: &str = "spark.admin.acls.groups";
/// `spindle.dynamicAllocation.policy`: `spark` (Spark's rules, the default) or `eager`
/// (Spindle's own; see `allocation::config::AllocationPolicy`)
pub const DYNAMIC_ALLOCATION_POLICY: &str = "spindle.dynamicAllocation.policy";
/// `spindle.dynamicAllocation.eager.idleTimeout`: overrides the eager policy's idle timeout,
/// otherwise derived from the measured executor start latency (a plain number is ms)
pub const EAGER_IDLE_TIMEOUT: &str = "spindle.dynamicAllocation.eager.idleTimeout";
