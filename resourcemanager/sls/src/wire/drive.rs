//! How a wire run is driven: submissions, the AMs' tasks, wall-clock and lockstep.

use super::*;

/// Starts an AM task for every AM container the RM launches.
pub(super) async fn spawn_ams(
    shared: Arc<Shared>,
    mut starts: mpsc::UnboundedReceiver<AmStart>,
    endpoint: quinn::Endpoint,
    cfg: quinn::ClientConfig,
) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let start = tokio::select! {
            s = starts.recv() => s,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let Some(start) = start else { break };
        let app = start.container.app();
        let shared = shared.clone();
        let endpoint = endpoint.clone();
        let cfg = cfg.clone();
        tasks.spawn(async move {
            // The RM may start the AM before the submission's answer names the app.
            let job = loop {
                if let Some(&j) = shared
                    .apps
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&app)
                {
                    break j;
                }
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            };
            let conn = match shared.connect(cfg, &endpoint).await {
                Ok(c) => c,
                Err(e) => {
                    shared.fail(SlsError::wire(format!("the AM of {app} connecting"), e));
                    return;
                }
            };
            let am = AmTask {
                am: SimAm::new(&shared.jobs[job]),
                shared: shared.clone(),
                job,
                attempt: start.container.attempt,
                container: start.container,
                node: start.node,
                token: start.token,
                conn,
                releases: Vec::new(),
                timers: BTreeMap::new(),
            };
            if let Err(e) = am.run().await {
                if !shared.stop.load(Ordering::SeqCst) {
                    shared.fail(e);
                }
            }
        });
    }
}

/// Submits job `i` through the client API.
pub(super) async fn submit(
    shared: &Shared,
    clients: &HashMap<String, RmClient>,
    i: usize,
) -> Result<(), SlsError> {
    let job = &shared.jobs[i];
    let client = &clients[&job.user];
    let id = client.submit(submission(job)).await.map_err(|e| {
        SlsError::refused(
            format!("job {} (queue {}, user {})", job.name, job.queue, job.user),
            e.to_string(),
        )
    })?;
    shared
        .apps
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, i);
    Ok(())
}

/// How often a waiting node looks for containers placed on it since it last looked.
pub(super) const OOB_RECHECK: Duration = Duration::from_millis(50);

/// Wall clock: nodes heartbeat on their own timers; jobs are submitted at their start
/// times; the run ends when every application finished (or stalled, or ran out of time).
pub(super) async fn wall_clock(
    shared: &Arc<Shared>,
    nms: Vec<Nm>,
    clients: &Arc<HashMap<String, RmClient>>,
    cfg: &crate::SimConfig,
    max_wall: Option<Duration>,
) -> Result<(), SlsError> {
    let hb = cfg.cluster.heartbeat_ms;
    let n = nms.len() as u64;
    let t0 = tokio::time::Instant::now();
    let mut beats = tokio::task::JoinSet::new();
    for mut nm in nms {
        let shared = shared.clone();
        // Spread over the interval, as NMs started at different moments.
        let first = t0 + Duration::from_millis(nm.i as u64 * hb / n.max(1));
        beats.spawn(async move {
            let mut t = tokio::time::interval_at(first, Duration::from_millis(hb));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !shared.stop.load(Ordering::SeqCst) {
                // As a real NM, which heartbeats out of band as soon as a container
                // ends (its lifecycle's Heartbeat action), so the freed slot is offered
                // at once rather than at the next timer tick. Containers placed while
                // this waits are seen at the next recheck.
                let next_end = shared
                    .node(nm.i)
                    .running
                    .iter()
                    .map(|r| r.0)
                    .filter(|end| *end != u64::MAX)
                    .min();
                let beat = match next_end {
                    Some(end) => {
                        let at = tokio::time::Instant::from_std(
                            shared.clock.t0 + Duration::from_millis(end + 1),
                        );
                        let recheck = tokio::time::Instant::now() + OOB_RECHECK;
                        tokio::select! {
                            _ = t.tick() => true,
                            _ = tokio::time::sleep_until(at) => true,
                            _ = tokio::time::sleep_until(recheck) => false,
                        }
                    }
                    None => {
                        tokio::select! {
                            _ = t.tick() => true,
                            _ = tokio::time::sleep(OOB_RECHECK) => false,
                        }
                    }
                };
                if !beat {
                    continue;
                }
                if let Err(e) = nm.heartbeat(&shared).await {
                    if !shared.stop.load(Ordering::SeqCst) {
                        shared.fail(e);
                    }
                    return;
                }
            }
        });
    }
    // Submissions at their start times, each on its own task (a submission waits for
    // the RM's state store).
    let mut subs = tokio::task::JoinSet::new();
    for i in 0..shared.jobs.len() {
        let shared = shared.clone();
        let clients = clients.clone();
        let at = t0 + Duration::from_millis(shared.jobs[i].start_ms);
        subs.spawn(async move {
            tokio::time::sleep_until(at).await;
            if let Err(e) = submit(&shared, &clients, i).await {
                shared.fail(e);
            }
        });
    }
    let deadline = max_wall.map(|d| t0 + d);
    let mut last = (0usize, 0usize);
    let mut last_change = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let (finished, allocated) = {
            let s = shared.stats();
            (s.finished, s.alloc_wall_ms.len())
        };
        if finished >= shared.jobs.len() {
            break;
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            break;
        }
        if (finished, allocated) != last {
            last = (finished, allocated);
            last_change = tokio::time::Instant::now();
        } else if last_change.elapsed() > STALL {
            shared.fail(SlsError::wire(
                "running the workload",
                format!(
                    "nothing was allocated and no application finished for {} s",
                    STALL.as_secs()
                ),
            ));
            break;
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
    beats.abort_all();
    subs.abort_all();
    Ok(())
}

/// Lockstep: simulated time, one step at a time in the in-process simulator's order
/// (a node's heartbeat, or a submission; at equal times the heartbeat first), each
/// followed by `quiet` without traffic.
pub(super) async fn lockstep(
    shared: &Arc<Shared>,
    mut nms: Vec<Nm>,
    clients: &HashMap<String, RmClient>,
    cfg: &crate::SimConfig,
    quiet: Duration,
) -> Result<(), SlsError> {
    let hb = cfg.cluster.heartbeat_ms;
    let n = nms.len() as u64;
    let mut order: Vec<usize> = (0..shared.jobs.len()).collect();
    order.sort_by_key(|&i| shared.jobs[i].start_ms);
    let mut order = order.into_iter().peekable();
    let set = |t: u64| {
        if let Some(c) = &shared.clock.simulated {
            c.store(t, Ordering::SeqCst);
        }
    };
    let (mut round, mut next) = (0u64, 0u64);
    let mut last_progress = 0u64;
    let mut last_seen = (0usize, 0usize);
    loop {
        let hb_at = round * hb + next * hb / n.max(1);
        if let Some(&i) = order.peek() {
            if shared.jobs[i].start_ms < hb_at {
                order.next();
                set(shared.jobs[i].start_ms);
                submit(shared, clients, i).await?;
                settle(shared, quiet).await;
                continue;
            }
        }
        set(hb_at);
        nms[next as usize].heartbeat(shared).await?;
        settle(shared, quiet).await;
        next += 1;
        if next == n {
            next = 0;
            round += 1;
        }
        if let Some(e) = shared.stats().failure.take() {
            return Err(e);
        }
        let seen = {
            let s = shared.stats();
            (s.finished, s.placed.len() + s.alloc_wall_ms.len())
        };
        if seen.0 >= shared.jobs.len() {
            return Ok(());
        }
        if seen != last_seen {
            last_seen = seen;
            last_progress = hb_at;
        } else if hb_at.saturating_sub(last_progress) > 600_000 {
            return Err(SlsError::wire(
                "running the workload in lockstep",
                "nothing was allocated and no application finished for 600 simulated seconds",
            ));
        }
    }
}

/// Waits until nothing is in flight and nothing happened for `quiet`.
pub(super) async fn settle(shared: &Shared, quiet: Duration) {
    shared.touch();
    loop {
        tokio::time::sleep(quiet / 4).await;
        let idle_for = shared
            .clock
            .wall_ms()
            .saturating_sub(shared.last_activity.load(Ordering::SeqCst));
        let stopped = shared.stop.load(Ordering::SeqCst);
        if stopped
            || (shared.pending.load(Ordering::SeqCst) <= 0 && idle_for >= quiet.as_millis() as u64)
        {
            return;
        }
    }
}
