//! One simulated application master over the wire: register, subscribe, ask.

use super::*;

/// One simulated application master talking to the RM.
pub(super) struct AmTask {
    pub(super) shared: Arc<Shared>,
    pub(super) job: usize,
    pub(super) attempt: AppAttemptId,
    pub(super) container: ContainerId,
    pub(super) node: usize,
    pub(super) token: String,
    pub(super) conn: quinn::Connection,
    pub(super) am: SimAm,
    pub(super) releases: Vec<ContainerId>,
    /// Its timers (Spark's), by time.
    pub(super) timers: BTreeMap<u64, Vec<AmTimer>>,
}

impl AmTask {
    /// One call to the RM; while it is in flight the run is not quiet (lockstep waits).
    pub(super) async fn call(&self, req: &RmRequest, what: &str) -> Result<RmResponse, SlsError> {
        self.shared.busy();
        let r = transport::call::<_, RmResponse>(&self.conn, &self.shared.rm_address, req)
            .await
            .map_err(|e| SlsError::wire(format!("{} {what}", self.attempt), e));
        self.shared.idle();
        r
    }

    /// Registers, subscribes and runs until every task is done (or the run stops).
    pub(super) async fn run(mut self) -> Result<(), SlsError> {
        let job = self.shared.jobs[self.job].clone();
        self.call(
            &RmRequest::RegisterAm {
                attempt: self.attempt,
                token: self.token.clone(),
                host: "sls".into(),
                tracking_url: String::new(),
            },
            "registering",
        )
        .await?;
        self.shared
            .stats()
            .registered_wall_ms
            .push(self.shared.clock.wall_ms());
        let (mut send, mut recv) = transport::open(&self.conn, &self.shared.rm_address)
            .await
            .map_err(|e| SlsError::wire(format!("{} subscribing", self.attempt), e))?;
        let sub = RmRequest::SubscribeAm {
            attempt: self.attempt,
            token: self.token.clone(),
        };
        let addr = self.shared.rm_address.clone();
        transport::write(&mut send, &addr, &sub)
            .await
            .map_err(|e| SlsError::wire(format!("{} subscribing", self.attempt), e))?;
        transport::read_response::<RmResponse>(&mut recv, &addr)
            .await
            .map_err(|e| SlsError::wire(format!("{} subscribing", self.attempt), e))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reader_shared = self.shared.clone();
        let reader = tokio::spawn(async move {
            while let Ok(RmResponse::AmEvent(ev)) =
                transport::read_response::<RmResponse>(&mut recv, &addr).await
            {
                reader_shared.busy();
                if tx.send(ev).is_err() {
                    break;
                }
            }
            drop(send);
        });
        let mut out = AmOut::default();
        let now = self.shared.clock.now_ms();
        self.am.registered(&job, now, &mut out);
        let mut finished = self.apply(out);
        self.flush(&job).await?;
        // The AM start counted as work until its first asks were sent.
        self.shared.idle();
        while !finished && !self.shared.stop.load(Ordering::SeqCst) {
            let next_timer = self.timers.keys().next().copied();
            let wait = next_timer
                .map(|t| Duration::from_millis(t.saturating_sub(self.shared.clock.now_ms())));
            let ev = tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => Some(ev),
                    None => break,
                },
                _ = tokio::time::sleep(wait.unwrap_or(Duration::from_millis(200))) => None,
            };
            let mut handled = 0;
            let mut ev = ev;
            loop {
                if let Some(e) = ev.take() {
                    handled += 1;
                    match self.event(&job, e) {
                        Some(true) => finished = true,
                        Some(false) => {}
                        None => {
                            finished = true;
                            break;
                        }
                    }
                }
                match rx.try_recv() {
                    Ok(e) => ev = Some(e),
                    Err(_) => break,
                }
            }
            let now = self.shared.clock.now_ms();
            let due: Vec<u64> = self.timers.range(..=now).map(|(t, _)| *t).collect();
            for t in due {
                for timer in self.timers.remove(&t).unwrap_or_default() {
                    let mut out = AmOut::default();
                    self.am.timer(&job, timer, now, &mut out);
                    finished |= self.apply(out);
                }
            }
            if !finished {
                self.flush(&job).await?;
            }
            for _ in 0..handled {
                self.shared.idle();
            }
        }
        if finished {
            let r = self
                .call(
                    &RmRequest::FinishAm {
                        attempt: self.attempt,
                        token: self.token.clone(),
                        final_status: FinalApplicationStatus::SUCCEEDED,
                        diagnostics: String::new(),
                        tracking_url: String::new(),
                    },
                    "unregistering",
                )
                .await;
            // Its container ends; the node reports it with the next heartbeat.
            {
                let now = self.shared.clock.now_ms();
                let mut st = self.shared.node(self.node);
                if let Some(e) = st.running.iter_mut().find(|(_, c, _)| *c == self.container) {
                    e.0 = now;
                }
            }
            self.shared.stats().finished += 1;
            r?;
        }
        reader.abort();
        Ok(())
    }

    /// Handles one pushed event; `Some(true)`: every task is done; `None`: the RM shut
    /// the attempt down.
    pub(super) fn event(&mut self, job: &Job, ev: AmEvent) -> Option<bool> {
        let now = self.shared.clock.now_ms();
        let mut out = AmOut::default();
        match ev {
            AmEvent::Allocated(cs) => {
                let wall = self.shared.clock.wall_ms();
                let got: Vec<(ContainerId, NodeId)> =
                    cs.into_iter().map(|c| (c.id, c.node_id)).collect();
                {
                    let mut s = self.shared.stats();
                    s.alloc_wall_ms.extend(std::iter::repeat_n(wall, got.len()));
                }
                for (c, n) in &got {
                    self.shared.place(*c, n);
                }
                self.am.allocated(job, &got, now, &mut out);
            }
            AmEvent::Completed(statuses) => self.am.completed(job, &statuses, now, &mut out),
            AmEvent::AmrmToken { token } => self.token = token,
            AmEvent::Shutdown { .. } => return None,
            AmEvent::NodesLost(_) | AmEvent::NodesUpdated(_) | AmEvent::Preempting(_) => {}
        }
        Some(self.apply(out))
    }

    /// Records what the AM decided: its tasks start on their nodes, its timers are set;
    /// returns whether it is done.
    pub(super) fn apply(&mut self, out: AmOut) -> bool {
        let now = self.shared.clock.now_ms();
        {
            let mut s = self.shared.stats();
            s.latencies_ms.extend(out.latencies);
            s.preempted += out.preempted as u64;
        }
        for (c, node, ms, resource) in out.run {
            if let Some(&n) = self.shared.node_index.get(&node) {
                self.shared
                    .node(n)
                    .running
                    .push((now.saturating_add(ms), c, resource));
            }
        }
        for (t, timer) in out.timers {
            self.timers.entry(t).or_default().push(timer);
        }
        self.releases.extend(out.releases);
        out.finished
    }

    /// Sends the asks that changed and the releases.
    pub(super) async fn flush(&mut self, job: &Job) -> Result<(), SlsError> {
        let now = self.shared.clock.now_ms();
        let asks = self.am.ask_update(job, now);
        let releases = std::mem::take(&mut self.releases);
        if asks.is_empty() && releases.is_empty() {
            return Ok(());
        }
        if !releases.is_empty() {
            let mut st = self.shared.node(self.node);
            // Released containers do not run (they may sit on any node; the RM frees them).
            st.running.retain(|(_, c, _)| !releases.contains(c));
        }
        self.call(
            &RmRequest::Allocate {
                attempt: self.attempt,
                token: self.token.clone(),
                asks,
                releases,
                progress: 0.5,
            },
            "asking",
        )
        .await
        .map(|_| ())
    }
}
