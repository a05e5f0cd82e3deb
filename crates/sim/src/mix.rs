//! Deterministic hashing. Every "random" choice of the simulator that must be reproducible
//! (the dataset, which Graph pages come back empty or short) is a pure function of the seed
//! and the coordinates of the thing chosen. That is what lets the dataset be generated
//! lazily: message `i` of conversation `c` is computed on demand, never stored.
//!
//! SplitMix64 is written out here rather than taken from `rand` because `rand` does not
//! promise that a seeded generator yields the same stream across releases, and other crates'
//! tests compute expectations from this dataset.

/// A hash state that coordinates are folded into, one after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mix(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Mix {
    pub(crate) fn new(seed: u64) -> Self {
        Mix(splitmix(seed))
    }

    /// Folds one more coordinate in. Order matters: `with(a).with(b) != with(b).with(a)`.
    pub(crate) fn with(self, value: u64) -> Self {
        Mix(splitmix(self.0.rotate_left(23) ^ splitmix(value)))
    }

    /// Folds a label in, so that unrelated choices about the same object differ.
    pub(crate) fn with_str(self, label: &str) -> Self {
        label
            .bytes()
            .fold(self.with(label.len() as u64), |m, b| m.with(u64::from(b)))
    }

    pub(crate) fn value(self) -> u64 {
        self.0
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias worth speaking of.
    pub(crate) fn below(self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.0) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(self) -> f64 {
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(self, probability: f64) -> bool {
        self.unit() < probability
    }

    /// Picks one element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A stream of independent values derived from this state.
    pub(crate) fn stream(self) -> impl Iterator<Item = Mix> {
        (0u64..).map(move |i| self.with(i))
    }
}

/// `len` characters from `alphabet`, derived from `mix`: random-looking and reproducible.
pub(crate) fn token_chars(mix: Mix, alphabet: &[u8], len: usize) -> String {
    mix.stream()
        .take(len)
        .map(|m| char::from(m.pick(alphabet)))
        .collect()
}

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(crate) const HEX: &[u8] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_coordinates_give_the_same_value_and_different_ones_differ() {
        let m = Mix::new(42);
        assert_eq!(m.with(1).with(2), Mix::new(42).with(1).with(2));
        assert_ne!(m.with(1).with(2), m.with(2).with(1));
        assert_ne!(m.with_str("a"), m.with_str("b"));
    }

    #[test]
    fn below_and_between_stay_in_range() {
        for m in Mix::new(7).stream().take(10_000) {
            assert!(m.below(10) < 10);
            let v = m.between(5, 9);
            assert!((5..=9).contains(&v));
            assert!((0.0..1.0).contains(&m.unit()));
        }
    }
}
