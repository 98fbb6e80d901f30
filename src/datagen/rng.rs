//! Counter-based randomness: every draw is a hash of (seed, well, stream, index), so any row can
//! be computed on its own, in any order, on any thread, with identical results. No RNG state ever
//! crosses a sample; seeded `rand_pcg` generators are only used inside one well/cell computation.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 finaliser: a fast, well-mixed bijection on u64.
#[inline(always)]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Key of one random stream of one well: hash the pieces together once, then draw by index.
#[inline]
pub fn stream_key(seed: u64, well: u32, stream: u64) -> u64 {
    mix(mix(seed ^ GOLDEN)
        .wrapping_add(mix(((well as u64) << 16) ^ stream ^ 0x5851_F42D_4C95_7F2D)))
}

/// The `index`-th 64-bit draw of a stream (the splitmix64 sequence at position `index`).
#[inline(always)]
pub fn at(key: u64, index: u64) -> u64 {
    mix(key.wrapping_add(index.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// Signed index variant (value-noise knots may sit before the epoch).
#[inline(always)]
pub fn at_i(key: u64, index: i64) -> u64 {
    at(key, index as u64)
}

/// Uniform in [0, 1) from the top 53 bits.
#[inline(always)]
pub fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Approximately standard normal (Irwin-Hall of four 16-bit uniforms, unit variance, bounded at
/// about 3.5 sigma: sensor noise without absurd outliers, spikes are modelled separately).
#[inline(always)]
pub fn normal(h: u64) -> f64 {
    let s = (h & 0xFFFF) + ((h >> 16) & 0xFFFF) + ((h >> 32) & 0xFFFF) + (h >> 48);
    // Sum of four U(0,1) has mean 2 and variance 1/3.
    (s as f64 * (1.0 / 65536.0) - 2.0) * 1.732_050_807_568_877_2
}

/// A well's place in a fleet-wide low-discrepancy (Weyl) sequence: `frac(offset + well x
/// alpha)` with an irrational `alpha` and an offset drawn from (seed, stream). Uniform like a
/// hash, but any run of consecutive wells covers [0, 1) evenly, so a per-well choice made with
/// it ("this well's drive runs PID", "this well has no downhole gauge") hits its share closely
/// even in a fleet of twenty. Still a pure function of (seed, stream, well).
#[inline]
pub fn spread(seed: u64, stream: u64, well: u32, alpha: f64) -> f64 {
    let offset = unit(mix(
        mix(seed ^ GOLDEN) ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)
    ));
    let x = offset + well as f64 * alpha;
    x - x.floor()
}

/// Fractional parts of square roots of primes (and the golden ratio): rationally independent
/// irrationals for [`spread`] sequences that must not line up with each other.
pub const IRRATIONALS: [f64; 12] = [
    0.618_033_988_749_895, // golden ratio
    0.414_213_562_373_095, // sqrt 2
    0.732_050_807_568_877, // sqrt 3
    0.236_067_977_499_790, // sqrt 5
    0.645_751_311_064_591, // sqrt 7
    0.316_624_790_355_400, // sqrt 11
    0.605_551_275_463_989, // sqrt 13
    0.123_105_625_617_661, // sqrt 17
    0.358_898_943_540_674, // sqrt 19
    0.795_831_523_312_719, // sqrt 23
    0.385_164_807_134_504, // sqrt 29
    0.567_764_362_830_022, // sqrt 31
];

/// A seeded PCG generator for a small, bounded computation (per-well parameters, one cell of
/// episodes). Seeded from the stream key, never shared.
pub fn pcg(key: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(mix(key ^ 0xD1B5_4A32_D192_ED03))
}

/// Smooth value noise in [-1, 1]: random knots every `spacing` (same unit as `t`), interpolated
/// with a smoothstep. Autocorrelated over about one spacing, stateless.
#[cfg(test)]
pub fn value_noise(key: u64, t: f64, spacing: f64) -> f64 {
    ValueNoise::new(key, spacing).at(t)
}

/// [`value_noise`] with the last pair of knots remembered. The value at `t` is the same whatever
/// was evaluated before (the cache only skips re-hashing knots), so a block computed with one
/// evaluator and a sample computed alone agree bit for bit.
#[derive(Debug, Clone, Copy)]
pub struct ValueNoise {
    key: u64,
    inv: f64,
    k: i64,
    a: f64,
    b: f64,
}

#[inline(always)]
fn knot(key: u64, k: i64) -> f64 {
    unit(at_i(key, k)) * 2.0 - 1.0
}

impl ValueNoise {
    pub fn new(key: u64, spacing: f64) -> ValueNoise {
        ValueNoise {
            key,
            inv: 1.0 / spacing,
            k: i64::MIN,
            a: 0.0,
            b: 0.0,
        }
    }

    #[inline(always)]
    pub fn at(&mut self, t: f64) -> f64 {
        let x = t * self.inv;
        let kf = x.floor();
        let u = x - kf;
        let k = kf as i64;
        if k != self.k {
            self.a = if self.k != i64::MIN && k == self.k.wrapping_add(1) {
                self.b
            } else {
                knot(self.key, k)
            };
            self.b = knot(self.key, k.wrapping_add(1));
            self.k = k;
        }
        let w = u * u * (3.0 - 2.0 * u);
        self.a + (self.b - self.a) * w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_and_normal_moments() {
        let key = stream_key(1, 2, 3);
        let n = 200_000u64;
        let (mut su, mut sn, mut sn2) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let h = at(key, i);
            let u = unit(h);
            assert!((0.0..1.0).contains(&u));
            su += u;
            let z = normal(h);
            sn += z;
            sn2 += z * z;
        }
        let nf = n as f64;
        assert!((su / nf - 0.5).abs() < 0.01);
        assert!((sn / nf).abs() < 0.02);
        assert!((sn2 / nf - 1.0).abs() < 0.03);
    }

    #[test]
    fn streams_differ() {
        assert_ne!(stream_key(1, 0, 0), stream_key(2, 0, 0));
        assert_ne!(stream_key(1, 0, 0), stream_key(1, 1, 0));
        assert_ne!(stream_key(1, 0, 0), stream_key(1, 0, 1));
    }

    #[test]
    fn spread_covers_the_unit_interval_evenly() {
        for alpha in IRRATIONALS {
            let mut below = 0;
            for well in 0..20 {
                let u = spread(9, 3, well, alpha);
                assert!((0.0..1.0).contains(&u));
                below += (u < 0.3) as u32;
            }
            // Twenty consecutive wells: 6 below 0.3, give or take one or two.
            assert!((4..=8).contains(&below), "alpha {alpha}: {below}");
        }
        assert_ne!(
            spread(1, 3, 0, IRRATIONALS[0]),
            spread(2, 3, 0, IRRATIONALS[0])
        );
    }

    #[test]
    fn cached_value_noise_equals_fresh_evaluation() {
        let key = stream_key(3, 1, 4);
        let mut cached = ValueNoise::new(key, 7.0);
        // Forward, backward and jumping: the cache never changes a value.
        for t in (0..500)
            .chain((0..500).rev())
            .chain([10_000, 3, 99_999, -50, -49])
        {
            let t = t as f64 * 0.37;
            assert_eq!(cached.at(t), ValueNoise::new(key, 7.0).at(t), "t = {t}");
        }
    }

    #[test]
    fn value_noise_is_continuous_and_bounded() {
        let key = stream_key(7, 0, 9);
        let mut prev = value_noise(key, 0.0, 100.0);
        for i in 1..10_000 {
            let v = value_noise(key, i as f64, 100.0);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - prev).abs() < 0.05, "jump at {i}");
            prev = v;
        }
    }
}
