//! A function's history of inter-arrival times (the time between two consecutive executions),
//! as "Serverless in the Wild" (Shahrad et al., ATC '20) keeps it: a fixed number of buckets of
//! one width each ([`BUCKETS`], 240 one-minute buckets, four hours, by default) and one count of
//! the times past the last bucket. Its size is bounded whatever the traffic; two histograms
//! merge by adding their counts (several nodes each count what they saw), and the statistics
//! the keep-alive policy reads come from here. The bucket width is the caller's: the histogram
//! holds bucket numbers only.

use std::collections::BTreeMap;
use std::time::Duration;

/// Buckets of the histogram; an inter-arrival time of `BUCKETS` widths or more is out of bounds.
pub const BUCKETS: u16 = 240;

/// Counts per bucket (sparse: only buckets that were hit), and the out-of-bounds count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArrivalHistogram {
    counts: BTreeMap<u16, u64>,
    out_of_bounds: u64,
}

impl ArrivalHistogram {
    /// Counts one inter-arrival time of `gap`, with buckets `width` wide.
    pub fn record(&mut self, gap: Duration, width: Duration) {
        let bucket = gap.as_nanos() / width.as_nanos().max(1);
        match u16::try_from(bucket) {
            Ok(b) if b < BUCKETS => self.add(b, 1),
            _ => self.out_of_bounds += 1,
        }
    }

    /// Adds `count` times to `bucket` (`BUCKETS` or more: out of bounds).
    pub fn add(&mut self, bucket: u16, count: u64) {
        if count == 0 {
            return;
        }
        if bucket >= BUCKETS {
            self.out_of_bounds = self.out_of_bounds.saturating_add(count);
        } else {
            let c = self.counts.entry(bucket).or_default();
            *c = c.saturating_add(count);
        }
    }

    /// Adds every count of `other` (what another node, or a later batch, saw).
    pub fn merge(&mut self, other: &ArrivalHistogram) {
        for (&b, &c) in &other.counts {
            self.add(b, c);
        }
        self.out_of_bounds = self.out_of_bounds.saturating_add(other.out_of_bounds);
    }

    /// The buckets that were hit, with their counts, lowest first; then the out-of-bounds count
    /// as bucket [`BUCKETS`] when it is not zero. What the store writes.
    pub fn entries(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        let oob = (self.out_of_bounds > 0).then_some((BUCKETS, self.out_of_bounds));
        self.counts.iter().map(|(&b, &c)| (b, c)).chain(oob)
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.out_of_bounds == 0
    }

    /// Inter-arrival times within bounds.
    pub fn in_bounds(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn out_of_bounds(&self) -> u64 {
        self.out_of_bounds
    }

    /// Every inter-arrival time counted.
    pub fn total(&self) -> u64 {
        self.in_bounds().saturating_add(self.out_of_bounds)
    }

    /// The bucket holding the `q`-th quantile (0 < q <= 1) of the in-bounds times; `None` when
    /// there are none.
    pub fn percentile_bucket(&self, q: f64) -> Option<u16> {
        let n = self.in_bounds();
        if n == 0 {
            return None;
        }
        // The smallest bucket with at least ceil(q * n) times at or below it.
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (&b, &c) in &self.counts {
            seen += c;
            if seen >= rank {
                return Some(b);
            }
        }
        self.counts.keys().next_back().copied()
    }

    /// Coefficient of variation (standard deviation over mean) of the counts of all
    /// [`BUCKETS`] buckets, empty ones included: high when the times gather in a few buckets
    /// (a pattern), near zero when they spread evenly (none). Zero for an empty histogram.
    pub fn bucket_cv(&self) -> f64 {
        let n = f64::from(BUCKETS);
        let sum = self.in_bounds() as f64;
        if sum == 0.0 {
            return 0.0;
        }
        let mean = sum / n;
        let hit: f64 = self
            .counts
            .values()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum();
        let empty = (n - self.counts.len() as f64) * mean * mean;
        ((hit + empty) / n).sqrt() / mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn records_into_width_buckets_and_counts_the_rest_out_of_bounds() {
        let mut h = ArrivalHistogram::default();
        h.record(Duration::from_secs(59), MIN);
        h.record(Duration::from_secs(61), MIN);
        h.record(Duration::from_secs(4 * 3600), MIN);
        h.record(Duration::from_secs(400 * 3600), MIN);
        assert_eq!(h.entries().collect::<Vec<_>>(), [(0, 1), (1, 1), (240, 2)]);
        assert_eq!((h.in_bounds(), h.out_of_bounds(), h.total()), (2, 2, 4));
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = ArrivalHistogram::default();
        a.add(3, 2);
        a.add(BUCKETS, 1);
        let mut b = ArrivalHistogram::default();
        b.add(3, 5);
        b.add(7, 1);
        a.merge(&b);
        assert_eq!(a.entries().collect::<Vec<_>>(), [(3, 7), (7, 1), (240, 1)]);
    }

    #[test]
    fn percentiles_pick_the_bucket_of_the_rank() {
        let mut h = ArrivalHistogram::default();
        assert_eq!(h.percentile_bucket(0.5), None);
        h.add(2, 5);
        h.add(10, 90);
        h.add(30, 5);
        assert_eq!(h.percentile_bucket(0.05), Some(2));
        assert_eq!(h.percentile_bucket(0.06), Some(10));
        assert_eq!(h.percentile_bucket(0.95), Some(10));
        assert_eq!(h.percentile_bucket(0.99), Some(30));
        assert_eq!(h.percentile_bucket(1.0), Some(30));
    }

    #[test]
    fn the_cv_is_high_for_a_pattern_and_low_for_spread_times() {
        let mut one = ArrivalHistogram::default();
        one.add(10, 50);
        // All in one of 240 buckets: sqrt(239).
        assert!((one.bucket_cv() - 239f64.sqrt()).abs() < 1e-9);
        let mut even = ArrivalHistogram::default();
        for b in 0..BUCKETS {
            even.add(b, 3);
        }
        assert!(even.bucket_cv() < 1e-9);
        assert_eq!(ArrivalHistogram::default().bucket_cv(), 0.0);
    }
}
