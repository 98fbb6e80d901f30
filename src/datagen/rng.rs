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

/// A seeded PCG generator for a small, bounded computation (per-well parameters, one cell of
/// episodes). Seeded from the stream key, never shared.
pub fn pcg(key: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(mix(key ^ 0xD1B5_4A32_D192_ED03))
}

/// Smooth value noise in [-1, 1]: random knots every `spacing` (same unit as `t`), interpolated
/// with a smoothstep. Autocorrelated over about one spacing, stateless.
#[inline]
pub fn value_noise(key: u64, t: f64, spacing: f64) -> f64 {
    let x = t / spacing;
    let k = x.floor();
    let u = x - k;
    let k = k as i64;
    let a = unit(at_i(key, k)) * 2.0 - 1.0;
    let b = unit(at_i(key, k.wrapping_add(1))) * 2.0 - 1.0;
    let w = u * u * (3.0 - 2.0 * u);
    a + (b - a) * w
}

/// Piecewise-constant noise: one standard-normal value per `spacing`, held (operator set points).
#[inline]
pub fn held_normal(key: u64, t: f64, spacing: f64) -> f64 {
    let k = (t / spacing).floor() as i64;
    normal(at_i(key, k))
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
