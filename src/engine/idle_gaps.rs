//! A server's learned idle gaps: the time between activity separated by a
//! minute or more, in a histogram of 1-minute bins up to 4 hours (gaps
//! beyond are counted together). Keep-alive plans are made from it.

use std::time::Duration;

/// Histogram bins (minutes).
pub const BINS: usize = 240;
const MINUTE: Duration = Duration::from_secs(60);

/// A server's idle-gap histogram. Counts halve when a bin saturates, so old
/// behaviour fades.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdleGaps {
    bins: Vec<u16>,
    beyond: u16,
    /// Running sums of `bins`, rebuilt on each (rare: gaps are ≥ 1 min)
    /// record, so a decision finds a percentile by binary search instead
    /// of adding up 240 bins.
    cumulative: Vec<u32>,
    /// Running sums of each bin's count × its midpoint in half minutes
    /// (bin `j` holds gaps in `[j, j + 1)` minutes, midpoint `2j + 1`
    /// half minutes): the expected length of gaps below any edge in O(1).
    half_minutes: Vec<u64>,
    /// Gaps recorded so far.
    records: u64,
}

impl IdleGaps {
    /// Records a gap; gaps under a minute are not idle gaps.
    pub fn record(&mut self, gap: Duration) {
        if gap < MINUTE {
            return;
        }
        self.records += 1;
        if self.bins.is_empty() {
            self.bins = vec![0; BINS];
        }
        let minute = usize::try_from(gap.as_secs() / 60).unwrap_or(usize::MAX);
        let slot = if minute < BINS {
            &mut self.bins[minute]
        } else {
            &mut self.beyond
        };
        *slot = slot.saturating_add(1);
        if *slot == u16::MAX {
            self.bins.iter_mut().for_each(|c| *c /= 2);
            self.beyond /= 2;
        }
        self.rebuild_sums();
    }

    fn rebuild_sums(&mut self) {
        let (mut count, mut weighted) = (0u32, 0u64);
        self.cumulative.clear();
        self.half_minutes.clear();
        for (j, &c) in self.bins.iter().enumerate() {
            count += u32::from(c);
            weighted += u64::from(c) * (2 * j as u64 + 1);
            self.cumulative.push(count);
            self.half_minutes.push(weighted);
        }
    }

    /// The upper edges (minutes) of the bins holding gaps, up to `limit`.
    pub fn occupied_upper_edges(&self, limit: usize) -> impl Iterator<Item = usize> + '_ {
        self.bins
            .iter()
            .enumerate()
            .take(limit.min(BINS))
            .filter(|(_, c)| **c > 0)
            .map(|(j, _)| j + 1)
    }

    /// How many gaps have been recorded: changes whenever the histogram
    /// does, so a plan made from it can be reused until then.
    pub fn revision(&self) -> u64 {
        self.records
    }

    /// Gaps in the middle of the given minutes' bins (tests).
    #[cfg(test)]
    pub(crate) fn of_minutes(minutes: &[u64]) -> Self {
        let mut g = Self::default();
        for &m in minutes {
            g.record(Duration::from_secs(m * 60 + 30));
        }
        g
    }

    /// Samples in range, and beyond 4 hours.
    pub fn counts(&self) -> (u32, u32) {
        (
            self.cumulative.last().copied().unwrap_or(0),
            u32::from(self.beyond),
        )
    }

    /// Gaps shorter than `minutes` (a bin edge, 0 to 240, the number of bins).
    pub fn below(&self, minutes: usize) -> u32 {
        match minutes.checked_sub(1) {
            Some(last) => self
                .cumulative
                .get(last.min(BINS - 1))
                .copied()
                .unwrap_or(0),
            None => 0,
        }
    }

    /// The summed length, in minutes (bin midpoints), of the gaps shorter
    /// than `minutes` (a bin edge, 0 to 240, the number of bins).
    pub fn length_below(&self, minutes: usize) -> f64 {
        match minutes.checked_sub(1) {
            Some(last) => {
                let halves = self
                    .half_minutes
                    .get(last.min(BINS - 1))
                    .copied()
                    .unwrap_or(0);
                halves as f64 / 2.0
            }
            None => 0.0,
        }
    }

    /// The gap below which `pct` percent of in-range samples fall (upper bin edge).
    pub fn percentile(&self, pct: f64) -> Option<Duration> {
        let (total, _) = self.counts();
        if total == 0 {
            return None;
        }
        let rank = (f64::from(total) * pct / 100.0).ceil().max(1.0);
        // The first bin whose running sum reaches the rank.
        let minute = self
            .cumulative
            .partition_point(|&seen| f64::from(seen) < rank);
        Some(MINUTE * (minute.min(BINS - 1) as u32 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(minutes: &[u64]) -> IdleGaps {
        IdleGaps::of_minutes(minutes)
    }

    #[test]
    fn short_gaps_are_not_idle_gaps() {
        let mut g = IdleGaps::default();
        g.record(Duration::from_secs(59));
        assert_eq!(g.counts(), (0, 0));
    }

    #[test]
    fn percentiles_are_upper_bin_edges() {
        let g = gaps(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(g.percentile(5.0), Some(Duration::from_secs(120)));
        assert_eq!(g.percentile(99.0), Some(Duration::from_secs(660)));
    }

    #[test]
    fn counts_and_lengths_below_an_edge_add_up_the_bins_under_it() {
        let g = gaps(&[1, 1, 3, 300]);
        assert_eq!(g.counts(), (3, 1));
        assert_eq!(g.below(0), 0);
        assert_eq!(g.below(1), 0);
        assert_eq!(g.below(2), 2);
        assert_eq!(g.below(4), 3);
        assert_eq!(g.below(BINS), 3);
        assert_eq!(g.below(usize::MAX), 3);
        // Midpoints: 1.5 + 1.5 + 3.5 minutes.
        assert_eq!(g.length_below(2), 3.0);
        assert_eq!(g.length_below(BINS), 6.5);
        assert_eq!(IdleGaps::default().length_below(10), 0.0);
    }

    #[test]
    fn saturated_bins_halve_so_old_behaviour_fades() {
        let mut g = IdleGaps::default();
        for _ in 0..u32::from(u16::MAX) {
            g.record(Duration::from_secs(90));
        }
        assert!(g.counts().0 < u32::from(u16::MAX));
        assert_eq!(g.length_below(BINS), f64::from(g.counts().0) * 1.5);
    }
}
