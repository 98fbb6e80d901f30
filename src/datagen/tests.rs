//! Model tests: purity, channel sanity against the documented bands, physics relations,
//! fault signatures and their diagnostics, and dirty-data rates. Small fleets only.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::episodes::DAY_US;
use super::*;
use crate::scenario::FleetPlan;

pub(crate) fn plan(wells: u32, interval_s: u64, span_s: u64, seed: u64) -> FleetPlan {
    FleetPlan {
        wells,
        sample_interval: Duration::from_secs(interval_s),
        span: Duration::from_secs(span_s),
        end: Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid instant"),
        end_is_now: false,
        seed,
        faults: no_faults(),
        dirty: clean_dirty(),
    }
}

fn all_rows(fleet: &Fleet) -> Vec<TelemetryRow> {
    let mut rows = Vec::new();
    for b in fleet.blocks_iter() {
        fleet.telemetry_block(&b, &mut rows);
    }
    rows
}

fn well_series(fleet: &Fleet, well: u32) -> Vec<TelemetryRow> {
    let mut rows = Vec::new();
    for b in fleet.blocks_iter().filter(|b| b.well == well) {
        fleet.telemetry_block(&b, &mut rows);
    }
    rows
}

fn corr(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

#[test]
fn blocks_tile_the_span_in_well_major_order() {
    let f = Fleet::new(&plan(3, 10, 86_400, 1));
    assert_eq!(f.samples_per_well(), 8640);
    assert_eq!(f.blocks_per_well(), 3);
    let blocks = f.blocks();
    assert_eq!(blocks.len(), 9);
    assert_eq!(blocks.len() as u64, f.block_count());
    for (i, b) in blocks.iter().enumerate() {
        assert_eq!(b.index, i as u64);
        assert_eq!(b.well, i as u32 / 3);
    }
    assert_eq!(blocks[2].first_sample, 8192);
    assert_eq!(blocks[2].end_sample, 8640);
    assert_eq!(f.block(9), None);
    assert_eq!(f.sample_time_us(0), f.start_us());
    assert_eq!(f.sample_time_us(8640), f.end_us());
}

#[test]
fn a_row_is_a_pure_function_of_well_and_sample() {
    // Dirty data on (except reordering/duplicates, which only exist inside blocks): every block
    // row equals the row computed alone for that sample, and dropped samples are None alone too.
    let mut p = plan(2, 5, 86_400, 11);
    p.faults = default_faults();
    p.faults.trip_per_day = 2.0;
    p.dirty = DirtyRates {
        duplicate_rate: 0.0,
        late_rate: 0.0,
        dropout_rate: 2e-3,
        stuck_rate: 1e-3,
        spike_rate: 1e-2,
        ..default_dirty()
    };
    let f = Fleet::new(&p);
    let mut rows = Vec::new();
    for b in f.blocks_iter() {
        rows.clear();
        f.telemetry_block(&b, &mut rows);
        let mut it = rows.iter().peekable();
        for s in b.first_sample..b.end_sample {
            let alone = f.telemetry_sample(b.well, s);
            let t = f.sample_time_us(s);
            match it.peek() {
                Some(r) if r.ts_us == t => {
                    assert_eq!(Some(**r), alone, "well {} sample {s}", b.well);
                    it.next();
                }
                _ => assert_eq!(alone, None, "sample {s} missing from its block"),
            }
        }
        assert!(it.next().is_none());
    }
}

#[test]
fn same_seed_same_rows_other_seed_other_rows() {
    let mut p = plan(3, 30, 86_400, 5);
    p.faults = default_faults();
    p.dirty = default_dirty();
    let a = all_rows(&Fleet::new(&p));
    let b = all_rows(&Fleet::new(&p));
    assert_eq!(a, b);
    p.seed = 6;
    let c = all_rows(&Fleet::new(&p));
    assert_ne!(a, c);
}

#[test]
fn clean_channels_stay_in_the_documented_bands() {
    let f = Fleet::new(&plan(30, 60, 3 * 86_400, 3));
    let rows = all_rows(&f);
    assert_eq!(rows.len() as u64, 30 * 3 * 1440);
    // (min, max) per row and (min, max) of the fleet mean, docs/telemetry-model.md.
    let bands: [(f64, f64, f64, f64); CHANNELS] = [
        (38.0, 67.0, 50.0, 60.0),
        (15.0, 160.0, 45.0, 95.0),
        (900.0, 4300.0, 1900.0, 2700.0),
        (150.0, 2600.0, 500.0, 1300.0),
        (1300.0, 5200.0, 2200.0, 3200.0),
        (140.0, 360.0, 220.0, 290.0),
        (100.0, 250.0, 160.0, 200.0),
        (0.03, 2.5, 0.2, 0.6),
        (150.0, 10_000.0, 1000.0, 2500.0),
    ];
    let mut sums = [0.0; CHANNELS];
    for r in &rows {
        for (c, v) in r.values().iter().enumerate() {
            let v = v.expect("clean fleet has no NULLs");
            let (lo, hi, _, _) = bands[c];
            assert!(
                (lo..=hi).contains(&v),
                "{} = {v} out of [{lo}, {hi}]",
                CHANNEL_NAMES[c]
            );
            // Quantised to the channel resolution.
            let k = v / CHANNEL_RESOLUTION[c];
            assert!(
                (k - k.round()).abs() < 1e-6,
                "{} = {v} not quantised",
                CHANNEL_NAMES[c]
            );
            sums[c] += v;
        }
    }
    for c in 0..CHANNELS {
        let mean = sums[c] / rows.len() as f64;
        let (_, _, lo, hi) = bands[c];
        assert!(
            (lo..=hi).contains(&mean),
            "mean {} = {mean}",
            CHANNEL_NAMES[c]
        );
    }
}

#[test]
fn flow_follows_frequency_and_signals_are_autocorrelated() {
    let f = Fleet::new(&plan(8, 60, 14 * 86_400, 21));
    let mut corrs = Vec::new();
    for well in 0..8 {
        let rows = well_series(&f, well);
        let col = |c: usize| {
            rows.iter()
                .map(|r| r.values()[c].unwrap_or(0.0))
                .collect::<Vec<_>>()
        };
        let (freq, flow) = (col(0), col(8));
        corrs.push(corr(&freq, &flow));
        for c in [1, 3, 4, 5, 6, 8] {
            let x = col(c);
            let lag1 = corr(&x[..x.len() - 1], &x[1..]);
            assert!(
                lag1 > 0.9,
                "well {well} {}: lag-1 autocorrelation {lag1}",
                CHANNEL_NAMES[c]
            );
        }
    }
    let mean = corrs.iter().sum::<f64>() / corrs.len() as f64;
    assert!(mean > 0.5, "flow/frequency correlation {corrs:?}");
    assert!(corrs.iter().all(|c| *c > 0.0), "{corrs:?}");
}

/// Mean of one channel over rows within [from, to).
fn mean_between(rows: &[TelemetryRow], c: usize, from: i64, to: i64) -> f64 {
    let v: Vec<f64> = rows
        .iter()
        .filter(|r| r.ts_us >= from && r.ts_us < to)
        .filter_map(|r| r.values()[c])
        .collect();
    assert!(!v.is_empty());
    v.iter().sum::<f64>() / v.len() as f64
}

fn forced(kind: Condition, start_us: i64, minutes: i64) -> Episode {
    let len = minutes * 60_000_000;
    let restart_us = start_us + len;
    Episode {
        kind,
        start_us,
        restart_us,
        end_us: if kind == Condition::Trip {
            restart_us + 600_000_000
        } else {
            restart_us
        },
        magnitude: 0.9,
        escalates: true,
        detect_delay_us: 120_000_000,
        confidence: 0.7,
    }
}

#[test]
fn forced_episodes_show_their_signature_and_diagnostics() {
    const MIN: i64 = 60_000_000;
    let base = Fleet::new(&plan(4, 10, 86_400, 8));
    let noon = base.start_us() + DAY_US / 2;
    let mut f = base.clone();
    f.inject_episode(0, forced(Condition::GasLock, noon, 120));
    f.inject_episode(1, forced(Condition::PumpOff, noon, 120));
    f.inject_episode(2, forced(Condition::Sand, noon, 240));
    f.inject_episode(3, forced(Condition::Trip, noon, 60));

    let before = (noon - 120 * MIN, noon - 10 * MIN);
    let during = (noon + 30 * MIN, noon + 90 * MIN);
    let m = |fl: &Fleet, well: u32, c: usize, w: (i64, i64)| {
        mean_between(&well_series(fl, well), c, w.0, w.1)
    };
    // Gas lock: current and flow drop, current oscillates.
    assert!(m(&f, 0, 1, during) < 0.8 * m(&f, 0, 1, before));
    assert!(m(&f, 0, 8, during) < 0.4 * m(&f, 0, 8, before));
    // Pump-off: intake pressure and flow fall, motor temperature rises.
    assert!(m(&f, 1, 3, during) < 0.5 * m(&f, 1, 3, before));
    assert!(m(&f, 1, 8, during) < 0.6 * m(&f, 1, 8, before));
    assert!(m(&f, 1, 5, during) > m(&f, 1, 5, before) + 5.0);
    // Sand: vibration and current rise.
    assert!(m(&f, 2, 7, during) > 2.0 * m(&f, 2, 7, before));
    assert!(m(&f, 2, 1, during) > 1.05 * m(&f, 2, 1, before));
    // Trip: readings at zero, motor temperature decays, then restarts.
    let trip_down = (noon + 5 * MIN, noon + 55 * MIN);
    for c in [0, 1, 2, 7, 8] {
        assert_eq!(m(&f, 3, c, trip_down), 0.0, "{}", CHANNEL_NAMES[c]);
    }
    assert!(m(&f, 3, 5, (noon + 50 * MIN, noon + 60 * MIN)) < m(&f, 3, 5, before) - 10.0);
    let after = (noon + 90 * MIN, noon + 120 * MIN);
    assert!((m(&f, 3, 0, after) - m(&f, 3, 0, before)).abs() < 3.0);
    // Untouched before the onset.
    assert_eq!(
        well_series(&f, 0)
            .iter()
            .filter(|r| r.ts_us < noon - 10 * MIN)
            .count(),
        well_series(&base, 0)
            .iter()
            .filter(|r| r.ts_us < noon - 10 * MIN)
            .count()
    );

    for (well, kind) in [
        (0, Condition::GasLock),
        (1, Condition::PumpOff),
        (2, Condition::Sand),
    ] {
        let d = f.diagnostics(well);
        let sev: Vec<_> = d.iter().map(|r| (r.condition, r.severity)).collect();
        assert_eq!(
            sev,
            vec![
                (kind, Severity::Warning),
                (kind, Severity::Critical),
                (kind, Severity::Info)
            ],
            "well {well}"
        );
        assert_eq!(d[0].ts_us, noon + 2 * MIN);
        assert!(d
            .iter()
            .all(|r| (0.0..=1.0).contains(&r.confidence) && r.well_id == WellId::new(well)));
    }
    let d = f.diagnostics(3);
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].condition, d[0].severity, d[0].ts_us),
        (Condition::Trip, Severity::Critical, noon + 2 * MIN)
    );
    assert_eq!(
        (d[1].severity, d[1].ts_us),
        (Severity::Info, noon + 60 * MIN)
    );
    assert!(base.diagnostics(0).is_empty());
}

#[test]
fn drawn_episodes_all_get_diagnostics_inside_the_span() {
    let mut p = plan(10, 60, 10 * 86_400, 4);
    p.faults = FaultRates {
        gas_lock_per_day: 0.5,
        pump_off_per_day: 0.5,
        sand_per_day: 0.3,
        trip_per_day: 0.5,
    };
    let f = Fleet::new(&p);
    let mut total = 0;
    for well in 0..10 {
        let eps = f.episodes(well, f.start_us(), f.end_us());
        let diags = f.diagnostics(well);
        assert!(diags.windows(2).all(|w| w[0].ts_us <= w[1].ts_us));
        assert!(diags
            .iter()
            .all(|d| d.ts_us >= f.start_us() && d.ts_us < f.end_us()));
        for e in eps
            .iter()
            .filter(|e| e.start_us >= f.start_us() && e.end_us < f.end_us())
        {
            total += 1;
            let first = if e.kind == Condition::Trip {
                Severity::Critical
            } else {
                Severity::Warning
            };
            assert!(
                diags.iter().any(|d| d.condition == e.kind
                    && d.severity == first
                    && d.ts_us >= e.start_us
                    && d.ts_us <= e.start_us + e.detect_delay_us),
                "{e:?}"
            );
            assert!(diags
                .iter()
                .any(|d| d.condition == e.kind && d.severity == Severity::Info));
        }
    }
    // About 1.8 episodes per well-day over 100 well-days.
    assert!((120..=240).contains(&total), "{total}");
}

#[test]
fn dead_and_missing_sensors_at_their_fractions() {
    use super::sensors::{Package, DEAD_WEIGHT, DOWNHOLE_WEIGHT, FLOW_WEIGHT, PACKAGE};
    let (m, d) = (0.10, 0.05);
    let mut p = plan(300, 3600, 86_400, 9);
    p.dirty.missing_sensor_fraction = m;
    p.dirty.dead_sensor_fraction = d;
    let f = Fleet::new(&p);
    let (mut missing, mut dead) = (0, 0);
    let mut rows = Vec::new();
    for well in 0..300 {
        rows.clear();
        f.telemetry_block(
            &f.block(well as u64).expect("one block per well"),
            &mut rows,
        );
        let mut absent = [false; CHANNELS];
        for c in 0..CHANNELS {
            let col: Vec<_> = rows.iter().map(|r| r.values()[c]).collect();
            if col.iter().all(|v| v.is_none()) {
                missing += 1;
                absent[c] = true;
            } else if PACKAGE[c] != Package::Drive && col.iter().all(|v| *v == col[0]) {
                // Dead: reads 0 or is frozen at one value. (A fixed-speed drive's frequency
                // is constant for a day on purpose; drive channels never die.)
                dead += 1;
            } else {
                assert!(col.iter().all(|v| v.is_some()));
            }
        }
        // A missing instrument takes all its channels; the drive's are always there.
        for c in 0..CHANNELS {
            match PACKAGE[c] {
                Package::Drive => assert!(!absent[c], "well {well}"),
                Package::Downhole => assert_eq!(absent[c], absent[3], "well {well}"),
                Package::FlowMeter => {}
            }
        }
    }
    // Missing: m of the 2700 (well, channel) pairs, in packages of five (downhole) and one.
    let p_dh = DOWNHOLE_WEIGHT * m;
    let p_fl = FLOW_WEIGHT * m;
    let expect_missing = 300.0 * (5.0 * p_dh + p_fl);
    assert!((expect_missing - 270.0).abs() < 1e-9);
    let sd_missing = (300.0 * (25.0 * p_dh * (1.0 - p_dh) + p_fl * (1.0 - p_fl))).sqrt();
    assert!(
        (missing as f64 - expect_missing).abs() < 3.0 * sd_missing,
        "{missing} missing, expected {expect_missing} (sd {sd_missing:.0})"
    );
    // Dead: present channels die with d x their weight.
    let expect_dead: f64 = (0..CHANNELS)
        .map(|c| {
            let present = match PACKAGE[c] {
                Package::Drive => 1.0,
                Package::Downhole => 1.0 - p_dh,
                Package::FlowMeter => 1.0 - p_fl,
            };
            300.0 * present * d * DEAD_WEIGHT[c]
        })
        .sum();
    assert!(
        (dead as f64 - expect_dead).abs() < 3.0 * expect_dead.sqrt(),
        "{dead} dead, expected {expect_dead:.0}"
    );
}

#[test]
fn dirty_rates_show_up_in_the_stream() {
    let mut p = plan(4, 1, 86_400, 13);
    p.dirty = DirtyRates {
        dropout_rate: 1e-4,
        dropout_mean: Duration::from_secs(50),
        stuck_rate: 1e-4,
        stuck_mean: Duration::from_secs(100),
        spike_rate: 1e-3,
        duplicate_rate: 1e-3,
        late_rate: 1e-3,
        dead_sensor_fraction: 0.0,
        missing_sensor_fraction: 0.0,
    };
    let f = Fleet::new(&p);
    let samples = 4 * 86_400u64;
    let mut rows = Vec::new();
    let (mut dups, mut late, mut counted) = (0u64, 0u64, 0u64);
    let mut distinct = 0u64;
    for b in f.blocks_iter() {
        rows.clear();
        f.telemetry_block(&b, &mut rows);
        counted += f.block_row_count(&b);
        let mut max_ts = i64::MIN;
        for (i, r) in rows.iter().enumerate() {
            if i > 0 && rows[i - 1] == *r {
                dups += 1;
                continue;
            }
            distinct += 1;
            if r.ts_us < max_ts {
                late += 1;
            }
            max_ts = max_ts.max(r.ts_us);
        }
    }
    assert_eq!(counted, distinct + dups);
    // Dropouts: 1e-4 starts/sample x ~50 samples = ~0.5% of samples gone.
    let gone = samples - distinct;
    assert!(
        gone > samples / 1000 && gone < samples / 50,
        "dropped {gone}"
    );
    // Duplicates ~ 1e-3 of rows (sd ~19 on ~345), late rows surface as inversions.
    assert!((200..=500).contains(&dups), "{dups}");
    assert!((150..=500).contains(&late), "{late}");
}

#[test]
fn stuck_sensors_repeat_one_value() {
    let mut p = plan(2, 1, 86_400, 17);
    p.dirty.stuck_rate = 2e-4;
    p.dirty.stuck_mean = Duration::from_secs(300);
    let f = Fleet::new(&p);
    let clean = Fleet::new(&plan(2, 1, 86_400, 17));
    let (a, b) = (well_series(&f, 0), well_series(&clean, 0));
    assert_eq!(a.len(), b.len());
    // Count long runs of identical intake pressure (noise makes them rare when not stuck).
    let runs = |rows: &[TelemetryRow]| {
        let mut n = 0;
        let mut run = 1;
        for w in rows.windows(2) {
            if w[0].intake_pressure_psi == w[1].intake_pressure_psi {
                run += 1;
                if run == 60 {
                    n += 1;
                }
            } else {
                run = 1;
            }
        }
        n
    };
    assert!(runs(&a) >= 3, "stuck runs {}", runs(&a));
    assert_eq!(runs(&b), 0);
}

#[test]
fn well_ids() {
    assert_eq!(well_id(0), "WELL-001");
    assert_eq!(well_id(41), "WELL-042");
    assert_eq!(well_id(998), "WELL-999");
    assert_eq!(well_id(999), "WELL-1000");
    assert_eq!(well_id(u32::MAX), "WELL-4294967296");
}

#[test]
fn degenerate_plans_and_extreme_indexes_do_not_panic() {
    let mut p = plan(0, 60, 86_400, 1);
    assert_eq!(Fleet::new(&p).block_count(), 0);
    p.wells = 2;
    p.span = Duration::from_secs(30);
    let f = Fleet::new(&p);
    assert_eq!((f.samples_per_well(), f.block_count()), (0, 0));
    assert!(f.diagnostics(0).is_empty());
    p.span = Duration::from_secs(86_400);
    p.faults = default_faults();
    p.dirty = default_dirty();
    let f = Fleet::new(&p);
    assert_eq!(f.telemetry_sample(5, 0), None, "no such well");
    for s in [
        f.samples_per_well(),
        1 << 40,
        u64::MAX / 2,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let _ = f.telemetry_sample(1, s);
    }
    let mut rows = Vec::new();
    let far = Block {
        index: 0,
        well: 1,
        first_sample: u64::MAX - 100,
        end_sample: u64::MAX,
    };
    f.telemetry_block(&far, &mut rows);
    assert!(rows.len() <= 200);
}

#[test]
fn resolution_tables_agree() {
    for c in 0..CHANNELS {
        let res = CHANNEL_RESOLUTION[c];
        assert!(
            (super::model::QUANT_INV[c] * res - 1.0).abs() < 1e-12,
            "{}",
            CHANNEL_NAMES[c]
        );
        let d = super::encode::CSV_DECIMALS[c] as i32;
        assert!((10f64.powi(-d) - res).abs() < 1e-12, "{}", CHANNEL_NAMES[c]);
    }
}
