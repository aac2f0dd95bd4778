//! Sums of dollar amounts that do not depend on the order of their terms, so that a report
//! over the same data is the same to the last digit however the engine's threads deliver
//! the calls. A floating-point sum rounds after every term, so two orders of the same terms
//! could differ in the sixth decimal of a 10M-record total; here every term becomes an
//! integer count of 2^-80 dollars (multiplying by a power of two is exact, and the only bits
//! dropped are below 2^-80, ~1e-24 dollars, the same bits whatever the order), integers add
//! in any order to the same sum, and the sum becomes a double once, at the end.

/// An order-free sum of amounts; [`Exact::value`] is the sum as a double.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exact(i128);

/// 2^80: units per dollar. Sums stay exact up to 2^127 units, about 1.4e14 dollars.
const SCALE: f64 = (1u128 << 80) as f64;

impl Exact {
    #[inline]
    pub fn add(&mut self, amount: f64) {
        // `as` saturates (and NaN is 0): a cost is a finite, non-negative number at ingest.
        self.0 += (amount * SCALE) as i128;
    }

    #[inline]
    pub fn merge(&mut self, other: Exact) {
        self.0 += other.0;
    }

    /// The sum, rounded once to a double.
    pub fn value(self) -> f64 {
        self.0 as f64 / SCALE
    }
}

impl FromIterator<f64> for Exact {
    fn from_iter<I: IntoIterator<Item = f64>>(amounts: I) -> Self {
        let mut sum = Exact::default();
        for a in amounts {
            sum.add(a);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_is_the_same_in_any_order_and_close_to_the_true_one() {
        // Costs as the synthetic data has them, from a tenth of a cent to tens of dollars.
        let costs: Vec<f64> = (0..10_000u64)
            .map(|i| ((i * 7919) % 100_003) as f64 * 1.3e-5 + (i % 17) as f64 * 1e-8)
            .collect();
        let forward: Exact = costs.iter().copied().collect();
        let backward: Exact = costs.iter().rev().copied().collect();
        let mut shuffled = costs.clone();
        shuffled.sort_by(|a, b| b.total_cmp(a));
        let sorted: Exact = shuffled.into_iter().collect();
        assert_eq!(forward, backward);
        assert_eq!(forward, sorted);
        // Floating-point sums of the same terms in these orders do differ.
        let (f, b): (f64, f64) = (costs.iter().sum(), costs.iter().rev().sum());
        assert_ne!(
            f.to_bits(),
            b.to_bits(),
            "pick terms whose float sums differ"
        );
        assert!(
            (forward.value() - f).abs() < 1e-9,
            "{} vs {f}",
            forward.value()
        );
        let mut halves: Exact = costs[..5000].iter().copied().collect();
        halves.merge(costs[5000..].iter().copied().collect());
        assert_eq!(halves, forward);
        assert_eq!(Exact::default().value(), 0.0);
    }
}
