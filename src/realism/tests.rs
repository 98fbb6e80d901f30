//! The generator held against the real data, with the estimator (no server, no data files:
//! the real figures are in `reference`). Fixed seeds, so each run checks the same rows.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::reference::{self, held_against, real_band, HELD_AGAINST, INSTANCE_ROWS};
use super::{estimate_fleet, instances_plan, Layout, Options, SourceReport};
use crate::datagen::{self, Fleet, CHANNELS, CHANNEL_NAMES};
use crate::scenario::FleetPlan;

fn template(seed: u64) -> FleetPlan {
    FleetPlan {
        wells: 1,
        sample_interval: Duration::from_secs(1),
        span: Duration::from_secs(3600),
        end: Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid instant"),
        end_is_now: false,
        seed,
        faults: datagen::default_faults(),
        dirty: datagen::default_dirty(),
    }
}

/// The generator in the layout of the real instances, repeated `reps` times (more wells,
/// steadier shares of dead and missing sensors), batched exactly as the real data is.
fn like_real(reps: usize, seed: u64) -> SourceReport {
    let lengths: Vec<u64> = (0..reps).flat_map(|_| INSTANCE_ROWS).collect();
    let plan = instances_plan(&lengths, &template(seed));
    estimate_fleet(
        &Fleet::new(&plan),
        &Layout::Instances(lengths),
        "like real",
        &Options::default(),
    )
}

/// The main sample (seed 42, five copies of the real layout), computed once for the tests
/// that read it.
fn sample() -> &'static SourceReport {
    static SAMPLE: std::sync::OnceLock<SourceReport> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| like_real(5, 42))
}

#[test]
fn every_channel_sits_inside_the_real_band_near_its_counterpart() {
    let r = sample();
    let mut failures = Vec::new();
    for (li, level) in r.levels.iter().enumerate() {
        assert_eq!(level.interval_s, reference::INTERVALS_S[li]);
        let (lo, hi) = real_band(li);
        for c in 0..CHANNELS {
            let got = level.channels[c]
                .bytes_per_value
                .expect("every channel has values");
            let real = held_against(c);
            let want = real.bytes_per_value[li];
            let dev = got / want - 1.0;
            if !(lo..=hi).contains(&got) || dev.abs() > HELD_AGAINST[c].tolerance {
                failures.push(format!(
                    "{} at {} s: {got:.2} B/v, real band {lo:.2}-{hi:.2}, {} {want:.2} ({:+.0}%)",
                    CHANNEL_NAMES[c],
                    level.interval_s,
                    real.name,
                    dev * 100.0
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn another_seed_stays_inside_the_band() {
    // A different fleet: the band (not the exact figures) must hold.
    let r = like_real(5, 7);
    for (li, level) in r.levels.iter().enumerate() {
        let (lo, hi) = real_band(li);
        for (c, ch) in level.channels.iter().enumerate() {
            let got = ch.bytes_per_value.expect("values");
            assert!(
                (lo * 0.97..=hi * 1.03).contains(&got),
                "{} at {} s: {got:.2} outside {lo:.2}-{hi:.2}",
                CHANNEL_NAMES[c],
                level.interval_s
            );
        }
    }
}

#[test]
fn values_cost_more_when_sampled_less_often() {
    // Continuous wells and day chunks (what bench loads), so batches are full at every
    // interval: the growth comes from the data, not from emptier batches.
    let mut p = template(42);
    p.wells = 6;
    p.span = Duration::from_secs(86_400);
    let r = estimate_fleet(
        &Fleet::new(&p),
        &Layout::Continuous,
        "continuous",
        &Options::default(),
    );
    for (c, name) in CHANNEL_NAMES.iter().enumerate() {
        let pv: Vec<f64> = r
            .levels
            .iter()
            .map(|l| l.channels[c].payload_bytes_per_value.expect("values"))
            .collect();
        assert!(
            pv[0] < pv[1] && pv[1] < pv[2],
            "{name}: payload B/v at 1/10/60 s {pv:?}"
        );
    }
}

#[test]
fn nulls_come_from_absent_instruments_at_the_real_share() {
    let r = sample();
    let l = &r.levels[0];
    let share = l.null_share.expect("rows");
    assert!(
        (reference::REAL_NULL_SHARE - 0.06..=reference::REAL_NULL_SHARE + 0.06).contains(&share),
        "NULL share {share}"
    );
    // The drive's channels are never NULL; the flow meter is the most often absent.
    for ch in &l.channels[..3] {
        assert_eq!(ch.nulls, 0, "{}", ch.channel);
    }
    let flow = l.channels[8].null_share.expect("rows");
    assert!(
        l.channels[3..8]
            .iter()
            .all(|ch| ch.null_share.expect("rows") < flow),
        "the flow meter should be the most often absent"
    );
}

#[test]
fn the_drive_frequency_is_neither_flat_nor_noise() {
    let r = sample();
    let f: Vec<f64> = r
        .levels
        .iter()
        .map(|l| l.channels[0].repeat_share.expect("pairs"))
        .collect();
    // Long exact holds (fixed-speed drives, set points), fewer at coarser intervals, and
    // never the 99.9% of a constant.
    assert!(f[0] < 0.9 && f[0] > 0.6, "repeats at 1 s {f:?}");
    assert!(f[2] < f[0] && f[2] > 0.3, "repeats at 60 s {f:?}");
}
