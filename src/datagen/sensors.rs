//! Which sensors a well has and which of them work, drawn once per (seed, well).
//!
//! The pattern follows the real data (20 real 3W instances): missing data is mostly a whole
//! instrument absent from a well, and the instruments that are absent or dead are the
//! optional ones (the downhole gauge and the flow meter), not the ones every well has.
//!
//! - **Packages.** The drive's own channels (frequency, current, voltage) are always there:
//!   the drive is the data source. The downhole gauge (intake and discharge pressure, motor
//!   and intake temperature, vibration) is absent as a whole with probability
//!   `DOWNHOLE_WEIGHT x missing_sensor_fraction`, the flow meter with
//!   `FLOW_WEIGHT x missing_sensor_fraction`. The weights average 1 over the nine channels, so
//!   the expected share of absent (well, channel) pairs is `missing_sensor_fraction` (exactly
//!   while the flow meter's probability stays below 1, i.e. up to 0.5).
//! - **Dead sensors.** A present instrument channel is dead with probability
//!   `DEAD_WEIGHT[c] x dead_sensor_fraction`: pressures and above all the flow meter die more
//!   often than temperatures and vibration, as in the real data (the downhole gauge was dead in 11 of 20 instances, the flow meter in 5 of
//!   10, a temperature in 1 of 35). A dead sensor reads exactly 0 (four in five, as in the
//!   real data) or is frozen at the value it read at the start of the span.

use super::rng::{at, spread, unit, IRRATIONALS};
use super::CHANNELS;

/// State of one (well, channel) sensor for the whole history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensor {
    Ok,
    /// Dead, reading exactly 0.
    Zero,
    /// Dead, frozen at the value it read at the span start.
    Frozen,
    /// Absent: NULL.
    Missing,
}

/// The instrument a channel comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package {
    Drive,
    Downhole,
    FlowMeter,
}

/// Instrument of each channel, column order.
pub const PACKAGE: [Package; CHANNELS] = [
    Package::Drive,
    Package::Drive,
    Package::Drive,
    Package::Downhole,
    Package::Downhole,
    Package::Downhole,
    Package::Downhole,
    Package::Downhole,
    Package::FlowMeter,
];

/// Relative chance that the downhole gauge (5 channels) and the flow meter (1) are absent.
/// 5 x 1.4 + 2.0 = 9: the average over the nine channels is 1.
pub const DOWNHOLE_WEIGHT: f64 = 1.4;
pub const FLOW_WEIGHT: f64 = 2.0;

/// Chance that a present channel is dead, as a multiple of `dead_sensor_fraction` (column
/// order). Drive channels never die; the downhole pressure and the flow meter die most.
pub const DEAD_WEIGHT: [f64; CHANNELS] = [0.0, 0.0, 0.0, 0.25, 0.6, 0.75, 0.75, 1.0, 3.0];

/// Share of dead sensors that read 0 (the rest freeze at a value).
pub const DEAD_ZERO_SHARE: f64 = 0.8;

/// Stream id of the fleet-wide sequences below (see `rng::spread`).
const SPREAD_STREAM: u64 = 0x5E_5302;

/// Where in the rescaled sequence of a package each of its channels' dead interval starts:
/// spaced so that no well loses two channels of one instrument at the default fractions.
const DEAD_OFFSET: [f64; CHANNELS] = [0.0, 0.0, 0.0, 0.0, 0.2, 0.4, 0.6, 0.8, 0.0];

/// Draw the sensor states of well `well`.
///
/// One fleet-wide low-discrepancy sequence per instrument (`rng::spread`) decides, in turn,
/// whether the well has the instrument (`u < p_absent`) and, rescaled over the wells that have
/// it, which of its channels is dead. So any twenty consecutive wells show close to the
/// expected shares of absent and of dead sensors, and the two never line up by accident.
/// `key` (the well's sensor stream) only picks how a dead sensor fails.
pub fn draw(
    seed: u64,
    well: u32,
    key: u64,
    missing_fraction: f64,
    dead_fraction: f64,
) -> [Sensor; CHANNELS] {
    let instrument = |i: u64, alpha: f64, weight: f64| {
        let u = spread(seed, SPREAD_STREAM + i, well, alpha);
        let p = (weight * missing_fraction).min(1.0);
        if u < p {
            None
        } else {
            // Uniform over the wells that have the instrument.
            Some(((u - p) / (1.0 - p)).clamp(0.0, 1.0))
        }
    };
    let downhole = instrument(0, IRRATIONALS[0], DOWNHOLE_WEIGHT);
    let flow = instrument(1, IRRATIONALS[1], FLOW_WEIGHT);
    std::array::from_fn(|c| {
        let v = match PACKAGE[c] {
            Package::Drive => return Sensor::Ok,
            Package::Downhole => downhole,
            Package::FlowMeter => flow,
        };
        let Some(v) = v else {
            return Sensor::Missing;
        };
        let x = v + DEAD_OFFSET[c];
        if x - x.floor() < (DEAD_WEIGHT[c] * dead_fraction).min(1.0) {
            if unit(at(key, 200 + c as u64)) < DEAD_ZERO_SHARE {
                Sensor::Zero
            } else {
                Sensor::Frozen
            }
        } else {
            Sensor::Ok
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_weights_average_one() {
        let missing: f64 = PACKAGE
            .iter()
            .map(|p| match p {
                Package::Drive => 0.0,
                Package::Downhole => DOWNHOLE_WEIGHT,
                Package::FlowMeter => FLOW_WEIGHT,
            })
            .sum();
        assert!((missing / CHANNELS as f64 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn missing_and_dead_shares_follow_the_fractions() {
        let n = 20_000;
        let (mut missing, mut dead, mut present) = (0usize, 0usize, 0usize);
        for well in 0..n {
            let s = draw(
                7,
                well,
                super::super::rng::stream_key(7, well, 12),
                0.28,
                0.12,
            );
            missing += s.iter().filter(|x| **x == Sensor::Missing).count();
            dead += s
                .iter()
                .filter(|x| matches!(x, Sensor::Zero | Sensor::Frozen))
                .count();
            present += s.iter().filter(|x| **x != Sensor::Missing).count();
        }
        let share = missing as f64 / (n as usize * CHANNELS) as f64;
        assert!((share - 0.28).abs() < 0.01, "missing share {share}");
        // Expected dead: sum over channels of P(present) x 0.12 x weight.
        let expect: f64 = (0..CHANNELS)
            .map(|c| {
                let p_missing = match PACKAGE[c] {
                    Package::Drive => 0.0,
                    Package::Downhole => DOWNHOLE_WEIGHT * 0.28,
                    Package::FlowMeter => FLOW_WEIGHT * 0.28,
                };
                (1.0 - p_missing) * 0.12 * DEAD_WEIGHT[c]
            })
            .sum::<f64>()
            * n as f64;
        assert!(
            (dead as f64 - expect).abs() < 0.05 * expect,
            "dead {dead} expected {expect} of {present} present"
        );
    }

    #[test]
    fn twenty_wells_show_the_shares() {
        // Any twenty consecutive wells: absent and dead counts close to expectation.
        for seed in [1u64, 42, 7] {
            for start in [0u32, 13, 500] {
                let mut flow = (0, 0);
                let mut intake = (0, 0);
                for well in start..start + 20 {
                    let s = draw(seed, well, 0, 0.28, 0.12);
                    flow.0 += (s[8] != Sensor::Missing) as u32;
                    flow.1 += matches!(s[8], Sensor::Zero | Sensor::Frozen) as u32;
                    intake.0 += (s[3] != Sensor::Missing) as u32;
                    intake.1 += matches!(s[3], Sensor::Zero | Sensor::Frozen) as u32;
                }
                // Flow meter: present in 20 x 0.44 = 8.8, dead in 0.36 of those = 3.2.
                assert!((8..=10).contains(&flow.0), "{seed} {start}: {flow:?}");
                assert!((2..=4).contains(&flow.1), "{seed} {start}: {flow:?}");
                assert!((11..=13).contains(&intake.0), "{seed} {start}: {intake:?}");
                assert!(intake.1 <= 2, "{seed} {start}: {intake:?}");
            }
        }
    }

    #[test]
    fn packages_go_missing_together_and_drive_channels_never() {
        let mut seen_partial = false;
        for well in 0..2000u64 {
            let s = draw(
                1,
                well as u32,
                super::super::rng::stream_key(1, well as u32, 12),
                0.3,
                0.2,
            );
            let dh: Vec<bool> = (3..8).map(|c| s[c] == Sensor::Missing).collect();
            seen_partial |= dh.iter().any(|m| *m) && !dh.iter().all(|m| *m);
            assert!((0..3).all(|c| s[c] == Sensor::Ok), "{s:?}");
        }
        assert!(!seen_partial);
    }
}
