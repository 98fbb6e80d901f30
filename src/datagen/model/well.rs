//! One well's parameters and stream keys, derived on demand from the fleet seed, and the
//! clamps the derivation uses.

use super::*;

/// Parameters of one well, derived from its own seeded stream whenever the well is needed.
#[derive(Debug, Clone)]
pub(super) struct Well {
    pub(super) id: WellId,
    pub(super) keys: [u64; NKEYS],
    pub(super) noise_keys: [u64; CHANNELS],
    pub(super) stuck_keys: [u64; CHANNELS],
    pub(super) episode_keys: [u64; 4],
    pub(super) mem_keys: [[u64; 2]; CHANNELS],
    pub(super) sensors: [Sensor; CHANNELS],
    /// Whether a channel's signal is ever shown (working, or frozen at a value it read).
    pub(super) reads: [bool; CHANNELS],
    /// Stream of the drive's PID activity.
    pub(super) mode_key: u64,
    /// Amplitude of the frequency jitter while the PID loop trims, Hz.
    pub(super) jitter: f64,
    /// Amplitude of the flicker while it holds (often below one 0.01 Hz step: none), Hz.
    pub(super) flicker: f64,
    /// Drive frequency set point, Hz.
    pub(super) f0: f64,
    /// Flow at the set point when new, bbl/day.
    pub(super) q0: f64,
    /// Static reservoir pressure at pump depth at span start, psi.
    pub(super) p_res0: f64,
    /// Drawdown at `q0`, psi.
    pub(super) dd0: f64,
    /// Pump pressure rise at the set point when new, psi.
    pub(super) dp0: f64,
    /// Motor current at the set point, A.
    pub(super) i0: f64,
    /// Motor voltage at the set point, V.
    pub(super) v0: f64,
    /// Motor winding temperature rise over intake at the set point, °F.
    pub(super) r0: f64,
    /// Reservoir (intake) temperature, °F.
    pub(super) t_res: f64,
    /// Vibration at the set point when new, g.
    pub(super) vib0: f64,
    /// Wear (fraction of Weibull run life used) at span start, and its growth per day.
    pub(super) wear0: f64,
    pub(super) wear_per_day: f64,
    /// Fractional reservoir depletion per day.
    pub(super) depl_per_day: f64,
    /// Diurnal phase offset, days.
    pub(super) phase: f64,
}

pub(super) fn clamp_sample<D: Distribution<f64>>(
    d: &Option<D>,
    rng: &mut impl Rng,
    fallback: f64,
    lo: f64,
    hi: f64,
) -> f64 {
    match d {
        Some(d) => d.sample(rng).clamp(lo, hi),
        None => fallback,
    }
}

pub(super) fn fraction(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

pub(super) fn rate(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

impl Fleet {
    /// Parameters and stream keys of one well, derived on demand (about a microsecond), so a
    /// fleet costs no memory per well and any well can be computed on any thread.
    pub(super) fn well(&self, well: u32) -> Option<Well> {
        if well >= self.wells {
            return None;
        }
        let q_dist = LogNormal::new(1500f64.ln(), 0.55).ok();
        let f_dist = Normal::new(55.0, 2.5).ok();
        let pres_dist = Normal::new(1800.0, 350.0).ok();
        let dp_dist = Normal::new(1700.0, 300.0).ok();
        let i_dist = Normal::new(70.0, 18.0).ok();
        let v_dist = Normal::new(2300.0, 450.0).ok();
        let r_dist = Normal::new(75.0, 15.0).ok();
        let tres_dist = Normal::new(175.0, 22.0).ok();
        let vib_dist = LogNormal::new(0.22f64.ln(), 0.35).ok();
        let life_dist = Weibull::new(800.0, 1.6).ok();
        let depl_dist = LogNormal::new(0.0008f64.ln(), 0.5).ok();
        let phase_dist = Normal::new(0.0, 0.02).ok();

        let seed = self.seed;
        let dirty = &self.dirty;
        let mut rng = pcg(stream_key(seed, well, S_PARAMS));
        let mut keys = [0u64; NKEYS];
        for (k, s) in keys.iter_mut().zip(KEY_STREAMS) {
            *k = stream_key(seed, well, s);
        }
        let noise_keys: [u64; CHANNELS] =
            std::array::from_fn(|c| stream_key(seed, well, S_NOISE + c as u64));
        let stuck_keys: [u64; CHANNELS] =
            std::array::from_fn(|c| stream_key(seed, well, S_STUCK + c as u64));
        let episode_keys: [u64; 4] =
            std::array::from_fn(|c| stream_key(seed, well, S_EPISODE + c as u64));
        let mem_keys: [[u64; 2]; CHANNELS] = std::array::from_fn(|c| {
            [
                stream_key(seed, well, S_MEM_FAST + c as u64),
                stream_key(seed, well, S_MEM_SLOW + c as u64),
            ]
        });
        let sensors = sensors::draw(
            seed,
            well,
            stream_key(seed, well, S_SENSOR),
            dirty.missing_sensor_fraction,
            dirty.dead_sensor_fraction,
        );
        let mode_key = stream_key(seed, well, S_MODE);
        // Reported frequency: while the loop trims it moves by a few 0.01 Hz steps every
        // second or so; while it holds, some drives flicker by one step now and then.
        let jitter = 0.05 + 0.03 * unit(at(mode_key, u64::MAX));
        let flicker = 0.004 * unit(at(mode_key, u64::MAX - 1));
        let q0 = clamp_sample(&q_dist, &mut rng, 1500.0, 300.0, 8000.0);
        let f0 = clamp_sample(&f_dist, &mut rng, 55.0, 45.0, 62.0);
        let p_res0 = clamp_sample(&pres_dist, &mut rng, 1800.0, 900.0, 2800.0);
        let dd0 = p_res0 * rng.random_range(0.35..0.65);
        let dp0 = clamp_sample(&dp_dist, &mut rng, 1700.0, 900.0, 2800.0);
        let i0 = clamp_sample(&i_dist, &mut rng, 70.0, 30.0, 125.0);
        let v0 = clamp_sample(&v_dist, &mut rng, 2300.0, 1200.0, 3700.0);
        let r0 = clamp_sample(&r_dist, &mut rng, 75.0, 40.0, 110.0);
        let t_res = clamp_sample(&tres_dist, &mut rng, 175.0, 120.0, 230.0);
        let vib0 = clamp_sample(&vib_dist, &mut rng, 0.22, 0.06, 0.8);
        let life = clamp_sample(&life_dist, &mut rng, 800.0, 30.0, 5000.0);
        let age = rng.random_range(0.0..0.9) * life;
        let depl_per_day = clamp_sample(&depl_dist, &mut rng, 0.0008, 0.0001, 0.004);
        let phase = clamp_sample(&phase_dist, &mut rng, 0.0, -0.1, 0.1);
        Some(Well {
            id: WellId::new(well),
            keys,
            noise_keys,
            stuck_keys,
            episode_keys,
            mem_keys,
            reads: sensors.map(|s| matches!(s, Sensor::Ok | Sensor::Frozen)),
            sensors,
            mode_key,
            jitter,
            flicker,
            f0,
            q0,
            p_res0,
            dd0,
            dp0,
            i0,
            v0,
            r0,
            t_res,
            vib0,
            wear0: age / life,
            wear_per_day: 1.0 / life,
            depl_per_day,
            phase,
        })
    }
}
