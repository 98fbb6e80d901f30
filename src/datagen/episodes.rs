//! Random episodes without sequential state: fault episodes (Poisson arrivals per UTC day) and
//! dirty-data intervals (dropouts, stuck sensors: Poisson arrivals per cell of samples). Each
//! cell's episodes come from a PCG seeded by (seed, well, stream, cell), so the episodes that
//! touch any instant are found by regenerating that cell and a bounded number before it.

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal, Poisson};

use super::rng::{at, pcg};
use super::Condition;

/// The kind of a fault episode is the diagnostic condition it produces.
pub type EpisodeKind = Condition;

pub(crate) const DAY_US: i64 = 86_400_000_000;
const MIN_US: i64 = 60_000_000;

/// Restart transient after a trip (ramp-up, inrush, thermal recovery).
pub(crate) const RESTART_US: i64 = 10 * MIN_US;

/// One fault episode of one well.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    pub kind: EpisodeKind,
    /// Onset, Unix microseconds.
    pub start_us: i64,
    /// Trips: the restart instant (end of the shutdown). Others: equal to `end_us`.
    pub restart_us: i64,
    /// End of any abnormal behaviour (for trips including the restart transient).
    pub end_us: i64,
    /// Strength 0.5..1 (scales the signature).
    pub magnitude: f64,
    /// Whether the episode escalates to a critical diagnostic.
    pub escalates: bool,
    /// Delay from onset until the detector flags it.
    pub detect_delay_us: i64,
    /// Detector confidence of the first diagnostic (0.55..0.95).
    pub confidence: f64,
}

/// Duration model per kind: (median minutes, log-sd, min minutes, max minutes).
/// All maxima are below one day so only the previous day's cell can reach into a day.
pub(crate) fn duration_model(kind: EpisodeKind) -> (f64, f64, f64, f64) {
    match kind {
        Condition::GasLock => (40.0, 0.8, 5.0, 12.0 * 60.0),
        Condition::PumpOff => (25.0, 0.7, 5.0, 8.0 * 60.0),
        Condition::Sand => (6.0 * 60.0, 0.8, 30.0, 20.0 * 60.0),
        // Shutdown time before the restart; the restart transient is added.
        Condition::Trip => (20.0, 0.9, 2.0, 8.0 * 60.0),
    }
}

/// Chance that an episode escalates to a critical diagnostic.
pub(crate) fn escalation_chance(kind: EpisodeKind) -> f64 {
    match kind {
        Condition::GasLock => 0.35,
        Condition::PumpOff => 0.25,
        Condition::Sand => 0.30,
        Condition::Trip => 1.0,
    }
}

/// All episodes of one kind that start in UTC day `day` (Unix days), for the stream `key`.
pub(crate) fn day_episodes(
    key: u64,
    kind: EpisodeKind,
    rate_per_day: f64,
    day: i64,
    out: &mut Vec<Episode>,
) {
    if !rate_per_day.is_finite() || rate_per_day <= 0.0 {
        return;
    }
    let mut rng = pcg(at(key, day as u64));
    let n = match Poisson::new(rate_per_day.min(1e4)) {
        Ok(p) => p.sample(&mut rng) as u64,
        Err(_) => 0,
    };
    let (median, sd, lo, hi) = duration_model(kind);
    let dur = match LogNormal::new(median.ln(), sd) {
        Ok(d) => d,
        Err(_) => return,
    };
    for _ in 0..n {
        // Whole seconds keep onsets on a readable grid.
        let start_us = day
            .saturating_mul(DAY_US)
            .saturating_add(rng.random_range(0..86_400i64) * 1_000_000);
        let minutes = dur.sample(&mut rng).clamp(lo, hi);
        let len_us = (minutes * 60.0).round() as i64 * 1_000_000;
        let magnitude = rng.random_range(0.5..1.0);
        let escalates = rng.random::<f64>() < escalation_chance(kind);
        let detect_delay_us = match kind {
            Condition::Trip => 1_000_000,
            _ => rng.random_range(60..600i64) * 1_000_000,
        };
        let confidence = (rng.random_range(0.55..0.95f64) * 100.0).round() / 100.0;
        let (restart_us, end_us) = match kind {
            Condition::Trip => {
                let restart = start_us.saturating_add(len_us);
                (restart, restart.saturating_add(RESTART_US))
            }
            _ => (
                start_us.saturating_add(len_us),
                start_us.saturating_add(len_us),
            ),
        };
        out.push(Episode {
            kind,
            start_us,
            restart_us,
            end_us,
            magnitude,
            escalates,
            detect_delay_us,
            confidence,
        });
    }
}

/// Intervals `[start, end)` in sample-index space of a Poisson process with `rate` starts per
/// sample and exponential lengths of mean `mean_len` samples (at least 1, at most
/// `max_len`). Cells of `cell` samples; cells up to `max_len` before `s0` are included so
/// intervals reaching into `window` are found. Appends the overlapping ones, sorted by start.
pub(crate) fn intervals(
    key: u64,
    rate: f64,
    mean_len: f64,
    cell: u64,
    max_len: u64,
    window: std::ops::Range<u64>,
    out: &mut Vec<(u64, u64)>,
) {
    let (s0, s1) = (window.start, window.end);
    if !rate.is_finite() || rate <= 0.0 || s1 <= s0 {
        return;
    }
    let lambda = (rate * cell as f64).min(cell as f64);
    let Ok(pois) = Poisson::new(lambda) else {
        return;
    };
    let exp = Exp::new(1.0 / mean_len.max(1.0)).ok();
    let back = max_len.div_ceil(cell);
    let first = (s0 / cell).saturating_sub(back);
    let last = (s1 - 1) / cell;
    let from = out.len();
    for c in first..=last {
        let mut rng = pcg(at(key, c));
        let n = pois.sample(&mut rng) as u64;
        for _ in 0..n {
            let start = c * cell + rng.random_range(0..cell);
            let len = match &exp {
                Some(e) => 1 + e.sample(&mut rng) as u64,
                None => 1,
            }
            .min(max_len);
            let end = start.saturating_add(len);
            if end > s0 && start < s1 {
                out.push((start, end));
            }
        }
    }
    out[from..].sort_unstable();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_independent_of_the_query_window() {
        let key = 42;
        let mut whole = Vec::new();
        intervals(key, 1e-3, 50.0, 4096, 16384, 0..100_000, &mut whole);
        assert!(!whole.is_empty());
        // Query in pieces: every interval overlapping a piece is in the whole set.
        for piece in (0..100_000u64).step_by(4096) {
            let mut part = Vec::new();
            intervals(
                key,
                1e-3,
                50.0,
                4096,
                16384,
                piece..(piece + 4096).min(100_000),
                &mut part,
            );
            for iv in &part {
                assert!(whole.contains(iv), "{iv:?}");
            }
        }
        // Rate: about 1e-3 starts per sample.
        let starts = whole.iter().filter(|(s, _)| *s < 100_000).count();
        assert!((50..=160).contains(&starts), "{starts}");
    }

    #[test]
    fn day_episodes_follow_the_rate() {
        let mut eps = Vec::new();
        for day in 0..2000 {
            day_episodes(7, Condition::GasLock, 0.5, day, &mut eps);
        }
        assert!((850..=1150).contains(&eps.len()), "{}", eps.len());
        for e in &eps {
            assert!(e.end_us > e.start_us && e.end_us - e.start_us < DAY_US);
            assert!((0.5..1.0).contains(&e.magnitude));
        }
        let mut none = Vec::new();
        day_episodes(7, Condition::Trip, 0.0, 3, &mut none);
        assert!(none.is_empty());
    }
}
