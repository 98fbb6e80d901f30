//! The barriers of a sharded run: arriving, waiting for every shard, the leader's release
//! (with a lead so followers start together), passing, and the shards' posted reports.

use super::*;

impl Coordinator {
    /// Record arrival at the next barrier (with this shard's report, at the last one).
    pub async fn arrive(&mut self, name: &str, payload: Option<&str>) -> anyhow::Result<Barrier> {
        let b = Barrier {
            number: self.next,
            name: name.to_string(),
        };
        self.next += 1;
        coord::arrive(
            &self.client,
            &self.schema,
            &self.run.run_id,
            self.spec.index,
            b.number,
            name,
            payload,
        )
        .await?;
        Ok(b)
    }

    pub(super) async fn pause(&self) -> anyhow::Result<()> {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => Ok(()),
            _ = self.cancel.cancelled() => Err(BenchError::Interrupted.into()),
        }
    }

    /// Leader: wait until every shard arrived at `b`. Fails, naming the shard(s), as soon as
    /// one is gone or failed, or when one has not joined / not responded within the timeout.
    pub async fn wait_all(&self, b: &Barrier) -> anyhow::Result<()> {
        let n = self.spec.count;
        let mut last_note = Instant::now();
        loop {
            let shards = coord::shards(&self.client, &self.schema, &self.run.run_id).await?;
            let mut waiting = Vec::new();
            let mut not_joined = Vec::new();
            for k in 0..n {
                let label = format!("shard {k}/{n}");
                let Some(s) = shards.iter().find(|s| s.shard == k) else {
                    not_joined.push(label);
                    continue;
                };
                let at = format!("(host {}, pid {})", s.host, s.pid);
                if s.state == "failed" {
                    return Err(env_error(format!(
                        "{label} {at} failed before barrier `{}`: {}",
                        b.name, s.note
                    )));
                }
                if s.arrived >= b.number {
                    continue;
                }
                if !s.alive {
                    return Err(env_error(format!(
                        "{label} {at} is gone: its database session ended before it reached \
                         barrier `{}` (killed, or its connection was lost); the run fails",
                        b.name
                    )));
                }
                if s.heartbeat_age_s > self.timeout.as_secs_f64() {
                    return Err(env_error(format!(
                        "{label} {at} stopped responding: no heartbeat for {:.0} s (--shard-timeout \
                         {} s) before barrier `{}`",
                        s.heartbeat_age_s,
                        self.timeout.as_secs(),
                        b.name
                    )));
                }
                waiting.push(label);
            }
            if !not_joined.is_empty() && self.joined.elapsed() >= self.timeout {
                return Err(env_error(format!(
                    "{} did not join run `{}` within {} s (--shard-timeout): start every shard \
                     K/{n} for K = 0..{} with the same scenario, --schema and database",
                    not_joined.join(", "),
                    self.run.run_id,
                    self.timeout.as_secs(),
                    n - 1
                )));
            }
            if waiting.is_empty() && not_joined.is_empty() {
                return Ok(());
            }
            if self.progress && last_note.elapsed() >= Duration::from_secs(10) {
                let mut all = not_joined.clone();
                all.extend(waiting);
                eprintln!(
                    "[shard 0/{n}] waiting at barrier `{}` for {}",
                    b.name,
                    all.join(", ")
                );
                last_note = Instant::now();
            }
            self.pause().await?;
        }
    }

    /// Leader: release `b`; every shard starts what follows `lead` from now (server clock).
    pub async fn release(&self, b: &Barrier, lead: Duration) -> anyhow::Result<()> {
        coord::release(
            &self.client,
            &self.schema,
            &self.run.run_id,
            b.number,
            lead.as_secs_f64() * 1000.0,
        )
        .await
    }

    /// Wait until the leader released `b`, then until its start instant. Fails when the run is
    /// no longer open (the message says why), when the leader is gone or stopped responding.
    pub async fn wait_release(&self, b: &Barrier) -> anyhow::Result<()> {
        let who = self.spec.label();
        loop {
            let asked = Instant::now();
            let view = coord::run(&self.client, &self.schema, &self.run.run_id)
                .await?
                .ok_or_else(|| {
                    env_error(format!("{who}: run `{}` disappeared", self.run.run_id))
                })?;
            let rtt = asked.elapsed();
            if view.state != "open" {
                return Err(env_error(format!(
                    "{who}: run `{}` is {} while this shard waited at barrier `{}`: {}",
                    self.run.run_id,
                    view.state,
                    b.name,
                    if view.note.is_empty() {
                        "the leader ended it"
                    } else {
                        &view.note
                    }
                )));
            }
            if view.released >= b.number {
                let wait_ms = view.release_in_ms - rtt.as_secs_f64() * 500.0;
                if wait_ms > 0.0 {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs_f64(wait_ms / 1000.0)) => {}
                        _ = self.cancel.cancelled() => return Err(BenchError::Interrupted.into()),
                    }
                }
                return Ok(());
            }
            if !view.leader_alive {
                return Err(env_error(format!(
                    "{who}: the leader (shard 0/{}) is gone: its session ended while this shard \
                     waited at barrier `{}`",
                    self.spec.count, b.name
                )));
            }
            if view.leader_heartbeat_age_s > self.timeout.as_secs_f64() {
                return Err(env_error(format!(
                    "{who}: the leader (shard 0/{}) stopped responding: no heartbeat for {:.0} s \
                     (--shard-timeout {} s) at barrier `{}`",
                    self.spec.count,
                    view.leader_heartbeat_age_s,
                    self.timeout.as_secs(),
                    b.name
                )));
            }
            self.pause().await?;
        }
    }

    /// Arrive at a barrier and go on together: the leader waits for everyone and releases it
    /// with [`START_LEAD`]; every shard returns at the common start instant.
    pub async fn pass(&mut self, name: &str, payload: Option<&str>) -> anyhow::Result<()> {
        let b = self.arrive(name, payload).await?;
        if self.spec.is_leader() {
            self.wait_all(&b).await?;
            self.release(&b, START_LEAD).await?;
        }
        self.wait_release(&b).await
    }

    /// Every shard's posted report (payload), by shard.
    pub async fn payloads(&self) -> anyhow::Result<Vec<(u32, Option<String>)>> {
        coord::payloads(&self.client, &self.schema, &self.run.run_id).await
    }
}
