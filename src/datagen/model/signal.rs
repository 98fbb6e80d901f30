//! The signal of one well at one instant, before sensor faults: the drive (set points, PID
//! trim), the physics (affinity laws, inflow, motor cooling), fault signatures, noise with
//! memory, white measurement noise and quantisation. Pure: `Noise` only caches knots.
//! docs/telemetry-model.md documents every constant here; keep the two in step.

use std::f64::consts::TAU;

use super::super::episodes::{Episode, DAY_US};
use super::super::rng::{at, at_i, normal, unit, ValueNoise};
use super::super::{Condition, CHANNELS};
use super::{
    Fleet, Well, K_FJIT, K_FLUID, K_FLUID2, K_FSET, K_FSLOW, K_FTRIM, K_GASLOCK, K_PQ, K_RES,
    K_SAND, K_TIN, K_VIB, QUANT_INV,
};

/// White measurement noise, standard deviation per channel in channel units (column order).
/// The drive reports its own output frequency digitally: no measurement noise (its jitter is
/// the drive's, see `clean`).
/// The flow meter's noise is relative to its reading (a fraction, see `NOISE_RELATIVE`).
pub(crate) const NOISE_SD: [f64; CHANNELS] =
    [0.0, 0.2, 10.0, 2.8, 1.8, 0.015, 0.015, 0.0015, 0.0025];
const NOISE_RELATIVE: [bool; CHANNELS] =
    [false, false, false, false, false, false, false, false, true];
/// Noise with memory: amplitude of a fast and a slow value-noise octave per channel, as a
/// fraction of the channel's value (temperatures: °F). Independent of the physics, so it
/// stands for what the physics leaves out (gas, turbulence, bus ripple, sensor drift); it is
/// what makes a value sampled less often cost more to store.
pub(crate) const MEM_FAST: [f64; CHANNELS] =
    [0.0, 0.006, 0.018, 0.012, 0.0025, 0.05, 0.04, 0.012, 0.006];
pub(crate) const MEM_SLOW: [f64; CHANNELS] = [0.0, 0.03, 0.03, 0.055, 0.03, 1.0, 1.6, 0.04, 0.012];
/// Knot spacing of the two memory octaves, seconds.
pub(crate) const MEM_FAST_S: f64 = 15.0;
pub(crate) const MEM_SLOW_S: f64 = 240.0;
/// What the memory noise of a channel is a fraction of.
#[derive(Clone, Copy, PartialEq)]
enum MemScale {
    /// Of the channel's value.
    Value,
    /// Of the drawdown (reservoir minus intake pressure): the intake moves with the inflow.
    Drawdown,
    /// Absolute, in channel units (temperatures, °F).
    Units,
}
const MEM_SCALE: [MemScale; CHANNELS] = [
    MemScale::Value,
    MemScale::Value,
    MemScale::Value,
    MemScale::Drawdown,
    MemScale::Value,
    MemScale::Units,
    MemScale::Units,
    MemScale::Value,
    MemScale::Value,
];

/// The drive's PID loop (holding intake pressure or current) has a deadband: it trims the
/// frequency during active stretches and holds its output otherwise. A stretch is one
/// `PID_PERIOD_S` period, active with chance `PID_ACTIVE_SHARE`.
pub(crate) const PID_ACTIVE_SHARE: f64 = 0.25;
const PID_PERIOD_S: f64 = 1800.0;
/// Knot spacing of the PID trim's two octaves, seconds.
const FTRIM_S: f64 = 600.0;
const FSLOW_S: f64 = 21_600.0;
/// Operator set points: considered every `FSET_PERIOD_S`, changed with `FSET_CHANGE` chance,
/// rounded to 0.1 Hz (looked back at most `FSET_LOOKBACK` periods).
const FSET_PERIOD_S: f64 = 8.0 * 3600.0;
const FSET_CHANGE: f64 = 0.25;
const FSET_LOOKBACK: i64 = 24;

#[inline(always)]
pub(super) fn quant(x: f64, inv: f64) -> f64 {
    // k / inv is the double nearest to the decimal k * resolution; + 0.0 turns -0.0 into 0.0.
    (x.max(0.0) * inv).round() / inv + 0.0
}

/// Smooth ramp in and out of an episode (10% of its length, at most 5 minutes each side).
#[inline]
fn ramp(e: &Episode, t_us: i64) -> f64 {
    let len = (e.end_us - e.start_us) as f64;
    let edge = (len * 0.1).clamp(1.0, 300e6);
    let a = (t_us - e.start_us) as f64 / edge;
    let b = (e.end_us - t_us) as f64 / edge;
    let x = a.min(b).clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// One well's smooth noise evaluators. They only cache knots (see `ValueNoise`): a value never
/// depends on what was evaluated before, so a block and a sample computed alone agree.
pub(super) struct Noise {
    fset: (i64, f64),
    /// PID period, whether the loop is active in it, and the trim it holds otherwise.
    pid: (i64, bool, f64),
    fslow: ValueNoise,
    ftrim: ValueNoise,
    fjit: ValueNoise,
    fflick: ValueNoise,
    res: ValueNoise,
    fluid: ValueNoise,
    fluid2: ValueNoise,
    pq: ValueNoise,
    vib: ValueNoise,
    tin: ValueNoise,
    gaslock: ValueNoise,
    sand: ValueNoise,
    mem: [[ValueNoise; 2]; CHANNELS],
}

impl Noise {
    pub(super) fn new(w: &Well) -> Noise {
        let k = &w.keys;
        Noise {
            fset: (i64::MIN, 0.0),
            pid: (i64::MIN, false, 0.0),
            fslow: ValueNoise::new(k[K_FSLOW], FSLOW_S),
            ftrim: ValueNoise::new(k[K_FTRIM], FTRIM_S),
            fjit: ValueNoise::new(k[K_FJIT], 2.0),
            fflick: ValueNoise::new(k[K_FJIT], 60.0),
            res: ValueNoise::new(k[K_RES], 28_800.0),
            fluid: ValueNoise::new(k[K_FLUID], 1200.0),
            fluid2: ValueNoise::new(k[K_FLUID2], 120.0),
            pq: ValueNoise::new(k[K_PQ], 1800.0),
            vib: ValueNoise::new(k[K_VIB], 600.0),
            tin: ValueNoise::new(k[K_TIN], 14_400.0),
            gaslock: ValueNoise::new(k[K_GASLOCK], 40.0),
            sand: ValueNoise::new(k[K_SAND], 60.0),
            mem: std::array::from_fn(|c| {
                [
                    ValueNoise::new(w.mem_keys[c][0], MEM_FAST_S),
                    ValueNoise::new(w.mem_keys[c][1], MEM_SLOW_S),
                ]
            }),
        }
    }
}

impl Fleet {
    /// The operator's frequency set point in force during set-point period `period`: the
    /// latest period at most `FSET_LOOKBACK` back at which the operator changed it.
    fn set_point(w: &Well, period: i64) -> f64 {
        let key = w.keys[K_FSET];
        let mut p = period;
        for _ in 0..FSET_LOOKBACK {
            if unit(at_i(key, p)) < FSET_CHANGE {
                break;
            }
            p = p.wrapping_sub(1);
        }
        let f = w.f0 + 1.5 * normal(at_i(key ^ 0x5E7_F0E5, p));
        ((f * 10.0).round() * 0.1).clamp(40.0, 65.0)
    }

    /// The channel values at `t_us` before sensor faults: physics, fault signatures, noise
    /// with memory, white measurement noise, quantisation. `nz` only caches noise knots.
    #[inline]
    pub(super) fn clean(
        &self,
        w: &Well,
        t_us: i64,
        eps: &[Episode],
        nz: &mut Noise,
    ) -> [f64; CHANNELS] {
        let t = t_us as f64 * 1e-6;
        let days = t_us.saturating_sub(self.start_us) as f64 * (1.0 / DAY_US as f64);

        // Drive: the operator's set point (0.1 Hz steps, changed now and then), and the PID
        // loop's trim around it while active; while inactive the trim is held.
        let period = (t * (1.0 / FSET_PERIOD_S)).floor() as i64;
        if nz.fset.0 != period {
            nz.fset = (period, Self::set_point(w, period));
        }
        let f_set = nz.fset.1;
        let pp = (t * (1.0 / PID_PERIOD_S)).floor() as i64;
        if nz.pid.0 != pp {
            let active = unit(at_i(w.mode_key, pp)) < PID_ACTIVE_SHARE;
            // The output held from the start of this stretch (fresh evaluators: the cached
            // ones stay on the sample times).
            let t0 = pp as f64 * PID_PERIOD_S;
            let k = &w.keys;
            let held = 0.35 * ValueNoise::new(k[K_FTRIM], FTRIM_S).at(t0)
                + 0.15 * ValueNoise::new(k[K_FSLOW], FSLOW_S).at(t0);
            nz.pid = (pp, active, held);
        }
        let f = if nz.pid.1 {
            f_set + 0.35 * nz.ftrim.at(t) + 0.15 * nz.fslow.at(t) + w.jitter * nz.fjit.at(t)
        } else {
            f_set + nz.pid.2 + w.flicker * nz.fflick.at(t)
        };
        let f = f.max(0.0);
        let fr = f / w.f0;
        let fr2 = fr * fr;

        let wear = (w.wear0 + w.wear_per_day * days).clamp(0.0, 1.0);
        let depl = (1.0 - w.depl_per_day * days).clamp(0.5, 1.2);
        let p_res = w.p_res0 * depl * (1.0 + 0.01 * nz.res.at(t));
        let fluid = 1.0 + 0.03 * nz.fluid.at(t) + 0.01 * nz.fluid2.at(t);
        let diurnal = (TAU * (t * (1.0 / 86_400.0) + w.phase)).sin();

        // Affinity laws: flow ~ f, pressure rise ~ f^2, power ~ f^3 with V ~ f so current ~ f^2.
        let mut q = w.q0 * fr * depl * (1.0 - 0.12 * wear) * fluid;
        let mut p_in = p_res - w.dd0 * (q / w.q0);
        let mut dp = w.dp0 * fr2 * (1.0 - 0.15 * wear);
        let mut cur = w.i0 * fr2 * (1.0 + 0.10 * wear) * (0.9 + 0.1 * fluid);
        let mut volt = w.v0 * fr * (1.0 + 0.012 * diurnal + 0.004 * nz.pq.at(t));
        let mut vib = w.vib0 * fr2 * (1.0 + 1.5 * wear) * (1.0 + 0.06 * nz.vib.at(t));
        let mut f_out = f;

        let mut trip: Option<&Episode> = None;
        for e in eps {
            if t_us < e.start_us || t_us >= e.end_us {
                continue;
            }
            let r = ramp(e, t_us) * e.magnitude;
            match e.kind {
                Condition::GasLock => {
                    q *= 1.0 - 0.85 * r;
                    cur *= (1.0 - 0.35 * r) * (1.0 + 0.12 * r * (TAU * t / 90.0).sin());
                    p_in *= 1.0 + 0.08 * r * nz.gaslock.at(t);
                    dp *= 1.0 - 0.3 * r;
                }
                Condition::PumpOff => {
                    q *= 1.0 - 0.65 * r;
                    p_in *= 1.0 - 0.7 * r;
                    cur *= 1.0 - 0.2 * r;
                    dp *= 1.0 - 0.1 * r;
                }
                Condition::Sand => {
                    vib *= 1.0 + 2.5 * r * (1.0 + 0.3 * nz.sand.at(t));
                    cur *= 1.0 + 0.15 * r;
                }
                Condition::Trip => trip = Some(e),
            }
        }

        // Motor cooling: the winding rise grows with load^2 and as flow past the motor falls.
        let load = cur / w.i0;
        let cool = (q / w.q0).clamp(0.1, 2.0);
        let cool = cool.sqrt() * cool.sqrt().sqrt(); // ^0.75
        let mut t_in = w.t_res + 1.5 * nz.tin.at(t) + 3.0 * load * load;
        let mut t_mot = t_in + w.r0 * (load * load / cool).min(2.5);

        if let Some(e) = trip {
            let (eq_in, eq_mot) = (t_in, t_mot);
            let down_s = (e.restart_us - e.start_us) as f64 * 1e-6;
            if t_us < e.restart_us {
                let dt = (t_us - e.start_us) as f64 * 1e-6;
                let decay = (-dt / 900.0).exp();
                f_out = 0.0;
                cur = 0.0;
                volt = 0.0;
                q = 0.0;
                vib = 0.0;
                p_in += (p_res - p_in) * (1.0 - (-dt / 1800.0).exp());
                dp *= 0.15 + 0.85 * (-dt / 300.0).exp();
                t_in = w.t_res + (eq_in - w.t_res) * decay;
                t_mot = t_in + (eq_mot - eq_in) * decay;
            } else {
                let dr = (t_us - e.restart_us) as f64 * 1e-6;
                let s = (dr / 120.0).min(1.0); // drive acceleration ramp
                let down_decay = (-down_s / 900.0).exp();
                let relax = (-dr / 600.0).exp();
                f_out *= s;
                q *= s * (1.0 - (-dr / 90.0).exp());
                cur = cur * s * s + 1.5 * w.i0 * (-dr / 20.0).exp(); // inrush
                volt *= s;
                dp *= s * s;
                vib *= s * s * (1.0 + 0.8 * (-dr / 60.0).exp());
                let p_up = p_in + (p_res - p_in) * (1.0 - (-down_s / 1800.0).exp());
                p_in += (p_up - p_in) * relax;
                let r_in = w.t_res + (eq_in - w.t_res) * down_decay;
                let r_mot = r_in + (eq_mot - eq_in) * down_decay;
                t_in = eq_in + (r_in - eq_in) * relax;
                t_mot = eq_mot + (r_mot - eq_mot) * relax;
            }
        }

        let p_dis = p_in + dp * (1.0 + 0.004 * diurnal);
        let raw = [f_out, cur, volt, p_in, p_dis, t_mot, t_in, vib, q];
        let drawdown = (p_res - p_in).max(0.0);
        let idx = t_us as u64;
        let mut out = [0.0; CHANNELS];
        for c in 0..CHANNELS {
            // A stopped machine reads exactly zero: no noise on a zero. An absent sensor, or
            // a dead one reading 0, never shows this value: skip its noise.
            out[c] = if raw[c] == 0.0 || !w.reads[c] {
                0.0
            } else {
                let mut x = raw[c];
                if MEM_SLOW[c] != 0.0 {
                    let m = MEM_FAST[c] * nz.mem[c][0].at(t) + MEM_SLOW[c] * nz.mem[c][1].at(t);
                    x += m * match MEM_SCALE[c] {
                        MemScale::Value => x,
                        MemScale::Drawdown => drawdown,
                        MemScale::Units => 1.0,
                    };
                }
                let sd = if NOISE_RELATIVE[c] {
                    NOISE_SD[c] * x
                } else {
                    NOISE_SD[c]
                };
                quant(x + sd * normal(at(w.noise_keys[c], idx)), QUANT_INV[c])
            };
        }
        out
    }

    /// The values of one sample before sensor faults, computing the episodes that touch it.
    pub(super) fn clean_at(&self, w: &Well, well: u32, sample: u64) -> [f64; CHANNELS] {
        let t = self.sample_time_us(sample);
        let mut eps = Vec::new();
        self.episodes_into(w, well, t, t.saturating_add(1), &mut eps);
        self.clean(w, t, &eps, &mut Noise::new(w))
    }
}
