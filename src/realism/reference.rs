//! Facts measured on the real data (20 real instances of the public 3W dataset, 1 Hz), kept
//! here so that tests and the docs can hold the generator against them without the data.
//! The data itself is not part of the repository.
//!
//! Bytes per non-null value are the server's figures (TimescaleDB 2.23.1 community edition,
//! the bare table shape, every chunk compressed); the estimator reproduces each of them to
//! within 0.03 (test `estimator_reproduces_the_server_on_real_data`, which needs the data).

use crate::datagen::CHANNELS;

/// Sampling intervals of the figures below, seconds.
pub const INTERVALS_S: [u64; 3] = [1, 10, 60];

/// A real channel's compressed bytes per non-null value at 1 s, 10 s and 60 s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RealChannel {
    pub name: &'static str,
    pub bytes_per_value: [f64; 3],
    /// What the channel is, in the 3W documentation's terms.
    pub what: &'static str,
}

/// The live real channels (T-JUS-CKGL is empty everywhere).
pub const REAL_CHANNELS: [RealChannel; 7] = [
    RealChannel {
        name: "P-PDG",
        bytes_per_value: [0.93, 1.11, 1.80],
        what: "pressure at the permanent downhole gauge; dead (constant) in 11 of 20 instances",
    },
    RealChannel {
        name: "P-TPT",
        bytes_per_value: [2.01, 2.39, 3.19],
        what: "pressure at the temperature/pressure transducer of the wet christmas tree",
    },
    RealChannel {
        name: "T-TPT",
        bytes_per_value: [5.30, 5.73, 6.69],
        what: "temperature at the same transducer",
    },
    RealChannel {
        name: "P-MON-CKP",
        bytes_per_value: [2.30, 2.73, 3.53],
        what: "pressure upstream of the production choke; absent in 3 of 20",
    },
    RealChannel {
        name: "T-JUS-CKP",
        bytes_per_value: [5.39, 5.75, 6.52],
        what: "temperature downstream of the production choke; absent in 5, dead in 1",
    },
    RealChannel {
        name: "P-JUS-CKGL",
        bytes_per_value: [1.44, 1.95, 2.64],
        what: "gas-lift pressure upstream of its choke, held by a regulator; absent in 13",
    },
    RealChannel {
        name: "QGL",
        bytes_per_value: [3.72, 3.78, 4.32],
        what: "gas-lift flow meter; absent in 10 of 20 and dead (reads 0) in 5 of the 10",
    },
];

/// The band the real channels occupy at each interval: (lowest, highest) bytes per value.
pub fn real_band(level: usize) -> (f64, f64) {
    let it = REAL_CHANNELS.iter().map(|c| c.bytes_per_value[level]);
    let lo = it.clone().fold(f64::INFINITY, f64::min);
    let hi = it.fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// The real channel each ESP channel is held against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hold {
    /// The real channel (a name in [`REAL_CHANNELS`]).
    pub real: &'static str,
    /// Largest relative deviation from it accepted at any interval.
    pub tolerance: f64,
    pub why: &'static str,
}

/// What each ESP channel (column order) is held against, and why. The codec cost is set by
/// texture (resolution against movement, repeats, dead sensors), so a pair shares instrument
/// and texture rather than physics: these are gas-lift wells, not ESP wells.
pub const HELD_AGAINST: [Hold; CHANNELS] = [
    Hold {
        real: "P-JUS-CKGL",
        tolerance: 0.2,
        why: "a controlled variable held at a set point by a regulator: long exact holds, \
              trim steps while the controller works, set-point changes",
    },
    Hold {
        real: "T-TPT",
        tolerance: 0.2,
        why: "a decimal measurement every well has, moving every few samples, never dead",
    },
    Hold {
        real: "P-JUS-CKGL",
        tolerance: 0.3,
        why: "a regulated whole-number quantity (the drive holds volts per hertz). Whole volts \
              on 2300 V move by a few units a second, so it sits 10-30% below, between \
              P-PDG and P-JUS-CKGL",
    },
    Hold {
        real: "P-PDG",
        tolerance: 0.2,
        why: "the same instrument: a permanent downhole pressure gauge, whole numbers, \
              sometimes dead",
    },
    Hold {
        real: "P-PDG",
        tolerance: 0.2,
        why: "pump discharge pressure comes from the same downhole gauge",
    },
    Hold {
        real: "T-JUS-CKP",
        tolerance: 0.2,
        why: "a fluid temperature with fine resolution and slow movement",
    },
    Hold {
        real: "T-TPT",
        tolerance: 0.2,
        why: "a fluid temperature at the well's sensor package",
    },
    Hold {
        real: "T-JUS-CKP",
        tolerance: 0.2,
        why: "a noisy decimal measurement near the top of the real band",
    },
    Hold {
        real: "QGL",
        tolerance: 0.2,
        why: "the same instrument: a flow meter, absent on about half the wells and often dead",
    },
];

/// The real figures an ESP channel (column index) is held against.
pub fn held_against(channel: usize) -> RealChannel {
    let name = HELD_AGAINST[channel.min(CHANNELS - 1)].real;
    REAL_CHANNELS
        .iter()
        .copied()
        .find(|c| c.name == name)
        .unwrap_or(REAL_CHANNELS[0])
}

/// Rows of the 20 real instances in file-name order (1 Hz, no gaps). Generated data in this
/// layout ([`crate::realism::Layout::Instances`]) is batched exactly like the real data.
pub const INSTANCE_ROWS: [u64; 20] = [
    5084, 6738, 5310, 21484, 1980, 1703, 9989, 17976, 17776, 17962, 7078, 7175, 7189, 7168, 7189,
    7091, 7180, 3586, 1079, 1678,
];

/// Server-measured before/after ratio of the whole bare table (`hypertable_size`), real data.
pub const REAL_RATIO_1H_CHUNKS: f64 = 5.21;
pub const REAL_RATIO_1D_CHUNKS: f64 = 5.84;

/// Real share of NULL sensor values (mostly sensors absent for a whole instance).
pub const REAL_NULL_SHARE: f64 = 0.29;
