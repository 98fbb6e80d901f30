//! Sharded load generation: `--shard K/N` splits one scenario over N bench processes that
//! share one server, so together they apply the scenario's whole load.
//!
//! - [`ShardSpec`] and the division rules (this file, pure): which wells, query clients, fixed
//!   rates, stop counts and live-ingest rate shard K of N takes. Every rule is deterministic
//!   and sums exactly to the scenario's totals.
//! - [`coord`]: coordination through the database (registration, barriers, liveness, the
//!   write gate of followers), on top of `db::coord`'s statements.
//! - [`merge`]: `bench merge`, the lossless merge of the shards' summaries (pure).
//!
//! The division rules:
//!
//! - **Wells**: shard K takes the contiguous well numbers `floor(K·W/N) .. floor((K+1)·W/N)`.
//!   Telemetry work units (blocks, well-major) and diagnostics units (wells) of a well belong
//!   to the shard of that well, so the shards' ledger batches are disjoint.
//! - **Clients** of a query (or the mix): `floor(C/N)`, plus one for the first `C mod N`
//!   shards. A shard with 0 clients runs no phase for that query (it records none) but still
//!   meets the phase's barriers.
//! - **Fixed rate**: proportional to the shard's clients, `rate · c_K / C`, so the shards'
//!   rates add up to the scenario's and every connection keeps the scenario's per-client rate.
//! - **Stop counts** (`count = ...`): split in proportion to the clients, largest remainder
//!   first (ties to the lower shard), so they add up to the scenario's count exactly.
//! - **Live ingest**: each shard ingests its own wells; `rows_per_sec` is split in proportion
//!   to the wells, `rows_per_sec · w_K / W`.

pub mod coord;
pub mod merge;

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use crate::error::BenchError;
use crate::scenario::plan::{LoadMode, Plan, StopCondition};

/// Largest N accepted by `--shard K/N`.
pub const MAX_SHARDS: u32 = 1024;

/// `--shard K/N`: this process is shard K (0-based) of N. Shard 0 is the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl ShardSpec {
    /// The single process of an unsharded run.
    pub const WHOLE: ShardSpec = ShardSpec { index: 0, count: 1 };

    pub fn is_leader(&self) -> bool {
        self.index == 0
    }

    /// `shard 2/3`.
    pub fn label(&self) -> String {
        format!("shard {}/{}", self.index, self.count)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            BenchError::Config(format!(
                "invalid --shard `{s}`: {why} (expected K/N with 0 <= K < N <= {MAX_SHARDS}, \
                 e.g. 0/3 for the leader of three shards)"
            ))
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(|| bad("no `/`"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| bad("K is not a whole number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if count == 0 || count > MAX_SHARDS {
            return Err(bad("N is out of range"));
        }
        if index >= count {
            return Err(bad("K must be smaller than N"));
        }
        Ok(ShardSpec { index, count })
    }
}

/// The wells of shard `spec` in a fleet of `wells` wells.
pub fn wells_of(wells: u32, spec: ShardSpec) -> Range<u32> {
    let at = |k: u32| (u64::from(k) * u64::from(wells) / u64::from(spec.count.max(1))) as u32;
    at(spec.index)..at(spec.index + 1)
}

/// Shard `spec`'s share of `total` indivisible things spread evenly: `floor(total/N)`, plus
/// one for the first `total mod N` shards.
pub fn even_share(total: u64, spec: ShardSpec) -> u64 {
    let n = u64::from(spec.count.max(1));
    total / n + u64::from(u64::from(spec.index) < total % n)
}

/// Shard `index`'s share of `total` split in proportion to `weights` (one per shard), by
/// largest remainder (ties to the lower shard). Shares add up to `total` when any weight is
/// non-zero; all are 0 otherwise.
pub fn weighted_share(total: u64, weights: &[u64], index: usize) -> u64 {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 || index >= weights.len() {
        return 0;
    }
    let t = u128::from(total);
    let floor = |w: u64| t * u128::from(w) / sum;
    let rem = |w: u64| t * u128::from(w) % sum;
    let given: u128 = weights.iter().map(|&w| floor(w)).sum();
    let left = (t - given) as usize;
    // Shards ordered by remainder (descending), then index: the first `left` get one more.
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| rem(weights[b]).cmp(&rem(weights[a])).then(a.cmp(&b)));
    let extra = order.iter().take(left).any(|&i| i == index);
    (floor(weights[index]) + u128::from(extra)) as u64
}

/// Clients of a load mode.
pub fn mode_clients(mode: &LoadMode) -> u32 {
    match mode {
        LoadMode::Closed { clients } | LoadMode::FixedRate { clients, .. } => *clients,
    }
}

/// Shard `spec`'s part of one phase's load: its clients, its rate (fixed rate), its count
/// (count-bounded phases).
pub fn divide_load(
    mode: &LoadMode,
    stop: &StopCondition,
    spec: ShardSpec,
) -> (LoadMode, StopCondition) {
    let total_clients = mode_clients(mode);
    let weights: Vec<u64> = (0..spec.count)
        .map(|k| {
            even_share(
                u64::from(total_clients),
                ShardSpec {
                    index: k,
                    count: spec.count,
                },
            )
        })
        .collect();
    let clients = weights[spec.index as usize] as u32;
    let mode = match mode {
        LoadMode::Closed { .. } => LoadMode::Closed { clients },
        LoadMode::FixedRate { rate, .. } => LoadMode::FixedRate {
            rate: if clients == total_clients {
                *rate
            } else if total_clients == 0 {
                0.0
            } else {
                rate * f64::from(clients) / f64::from(total_clients)
            },
            clients,
        },
    };
    let stop = match stop {
        StopCondition::Count { count } => StopCondition::Count {
            count: weighted_share(*count, &weights, spec.index as usize),
        },
        d @ StopCondition::Duration { .. } => d.clone(),
    };
    (mode, stop)
}

/// Does a (divided) phase give this shard anything to run?
pub fn runs_anything(mode: &LoadMode, stop: &StopCondition) -> bool {
    mode_clients(mode) > 0 && !matches!(stop, StopCondition::Count { count: 0 })
}

/// The plan shard `spec` runs: the same scenario with its part of the query load and of the
/// live-ingest rate. Wells are not cut here (the generator needs the whole fleet to stay a
/// pure function of (seed, well, sample)); the loader and live ingest take [`wells_of`].
pub fn divide(plan: &Plan, spec: ShardSpec) -> Plan {
    let mut p = plan.clone();
    if spec.count == 1 {
        return p;
    }
    for q in &mut p.queries {
        let (mode, stop) = divide_load(&q.mode, &q.stop, spec);
        q.mode = mode;
        q.stop = stop;
    }
    if let Some(mix) = &mut p.mix {
        let (mode, stop) = divide_load(&mix.mode, &mix.stop, spec);
        mix.mode = mode;
        mix.stop = stop;
    }
    if let Some(ingest) = &mut p.ingest {
        if let Some(r) = ingest.rows_per_sec {
            let w = wells_of(plan.fleet.wells, spec);
            ingest.rows_per_sec =
                Some(r * f64::from(w.end - w.start) / f64::from(plan.fleet.wells.max(1)));
        }
    }
    p
}

/// Phase stream offset of shard K: shard 0 draws exactly the parameters of an unsharded run,
/// every other shard its own sequence.
pub fn stream_offset(spec: ShardSpec) -> u64 {
    u64::from(spec.index) << 32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(index: u32, count: u32) -> ShardSpec {
        ShardSpec { index, count }
    }

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/3".parse::<ShardSpec>().unwrap(), spec(2, 3));
        assert_eq!(" 0 / 1 ".parse::<ShardSpec>().unwrap(), spec(0, 1));
        for bad in ["3/3", "1", "a/3", "1/0", "-1/3", "0/2000", ""] {
            let e = bad.parse::<ShardSpec>().unwrap_err().to_string();
            assert!(e.contains("--shard"), "{bad}: {e}");
        }
    }

    #[test]
    fn clients_rate_and_count_split() {
        let mode = LoadMode::FixedRate {
            rate: 20.0,
            clients: 4,
        };
        let stop = StopCondition::Count { count: 61 };
        let parts: Vec<(LoadMode, StopCondition)> = (0..3)
            .map(|k| divide_load(&mode, &stop, spec(k, 3)))
            .collect();
        let clients: Vec<u32> = parts.iter().map(|p| mode_clients(&p.0)).collect();
        assert_eq!(clients, vec![2, 1, 1]);
        let rates: Vec<f64> = parts
            .iter()
            .map(|p| match p.0 {
                LoadMode::FixedRate { rate, .. } => rate,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(rates, vec![10.0, 5.0, 5.0]);
        let counts: Vec<u64> = parts
            .iter()
            .map(|p| match p.1 {
                StopCondition::Count { count } => count,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(counts.iter().sum::<u64>(), 61);
        assert_eq!(counts, vec![31, 15, 15]);
        // One client over three shards: only the leader runs the query.
        let one = LoadMode::Closed { clients: 1 };
        let d = StopCondition::Duration {
            duration: std::time::Duration::from_secs(1),
        };
        assert!(runs_anything(&divide_load(&one, &d, spec(0, 3)).0, &d));
        assert!(!runs_anything(&divide_load(&one, &d, spec(1, 3)).0, &d));
    }

    #[test]
    fn wells_are_contiguous_and_cover_the_fleet() {
        assert_eq!(wells_of(10, spec(0, 3)), 0..3);
        assert_eq!(wells_of(10, spec(1, 3)), 3..6);
        assert_eq!(wells_of(10, spec(2, 3)), 6..10);
        assert_eq!(wells_of(2, spec(0, 3)), 0..0);
        assert_eq!(wells_of(2, spec(1, 3)), 0..1);
        assert_eq!(wells_of(7, ShardSpec::WHOLE), 0..7);
    }

    proptest! {
        #[test]
        fn shares_add_up(total in 0u64..10_000, n in 1u32..40, wells in 0u32..5000,
                         weights in proptest::collection::vec(0u64..50, 1..40)) {
            let even: u64 = (0..n).map(|k| even_share(total, spec(k, n))).sum();
            prop_assert_eq!(even, total);
            let w: u64 = (0..weights.len()).map(|i| weighted_share(total, &weights, i)).sum();
            prop_assert_eq!(w, if weights.iter().any(|&x| x > 0) { total } else { 0 });
            for (i, &x) in weights.iter().enumerate() {
                if x == 0 { prop_assert_eq!(weighted_share(total, &weights, i), 0); }
            }
            let mut next = 0;
            for k in 0..n {
                let r = wells_of(wells, spec(k, n));
                prop_assert_eq!(r.start, next);
                next = r.end;
            }
            prop_assert_eq!(next, wells);
        }

        #[test]
        fn rates_add_up(rate in 0.1f64..10_000.0, clients in 1u32..100, n in 1u32..16) {
            let mode = LoadMode::FixedRate { rate, clients };
            let d = StopCondition::Duration { duration: std::time::Duration::from_secs(1) };
            let sum: f64 = (0..n)
                .map(|k| match divide_load(&mode, &d, spec(k, n)).0 {
                    LoadMode::FixedRate { rate, .. } => rate,
                    _ => 0.0,
                })
                .sum();
            prop_assert!((sum - rate).abs() <= rate * 1e-12, "{} vs {}", sum, rate);
        }
    }
}
