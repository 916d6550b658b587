//! A server's learned idle gaps: the time between activity separated by a
//! minute or more, in a histogram of 1-minute bins up to 4 hours (gaps
//! beyond are counted together). Keep-alive plans are made from it.
//!
//! Only the gaps that ended in the last [`WINDOW_DAYS`] UTC days count:
//! each day's gaps are kept apart and a day leaves whole once it is out of
//! the window. Days are counted from the newest activity seen, never from
//! the clock, so the histogram is a function of the activity seen: two scaler
//! replicas that saw the same activity over the window hold the same
//! histogram, however long each has run (rule 2), and old behaviour
//! leaves it.

use crate::time::Timestamp;
use std::collections::VecDeque;
use std::time::Duration;

/// Histogram bins (minutes).
pub const BINS: usize = 240;
/// How many UTC days of gaps the histogram holds: the day of the newest
/// activity seen and the six before it.
pub const WINDOW_DAYS: u64 = 7;
const MINUTE: Duration = Duration::from_secs(60);
const DAY_MS: u64 = 86_400_000;
/// The bin of gaps of 4 hours or more in a day's counts.
const BEYOND: u16 = BINS as u16;

/// One UTC day's gaps: (bin, count) for the bins it has, in bin order
/// ([`BEYOND`] for gaps of 4 hours or more). At most 241 pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Day {
    number: u64,
    counts: Vec<(u16, u32)>,
}

impl Day {
    fn add(&mut self, bin: u16) {
        match self.counts.binary_search_by_key(&bin, |&(b, _)| b) {
            Ok(at) => self.counts[at].1 = self.counts[at].1.saturating_add(1),
            Err(at) => self.counts.insert(at, (bin, 1)),
        }
    }
}

/// A server's idle-gap histogram over the window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdleGaps {
    /// Gaps per bin, summed over `days` (empty until the first gap).
    bins: Vec<u32>,
    beyond: u32,
    /// The days in the window that hold gaps, oldest first.
    days: VecDeque<Day>,
    /// Running sums of `bins`, rebuilt on each (rare: gaps are ≥ 1 min)
    /// record, so a decision finds a percentile by binary search instead
    /// of adding up 240 bins.
    cumulative: Vec<u32>,
    /// Running sums of each bin's count × its midpoint in half minutes
    /// (bin `j` holds gaps in `[j, j + 1)` minutes, midpoint `2j + 1`
    /// half minutes): the expected length of gaps below any edge in O(1).
    half_minutes: Vec<u64>,
    /// Moves whenever the histogram changes (a gap recorded, a day gone).
    revision: u64,
}

impl IdleGaps {
    /// Records a gap that ended at `end`; gaps under a minute are not idle
    /// gaps. Days that leave the window as it moves to `end`'s day leave
    /// the histogram. A gap that ended on a day before the newest held
    /// (activity is seen in time order, so only a clock set back) counts
    /// in the newest day.
    pub fn record(&mut self, gap: Duration, end: Timestamp) {
        self.advance(end);
        if gap < MINUTE {
            return;
        }
        self.revision += 1;
        if self.bins.is_empty() {
            self.bins = vec![0; BINS];
        }
        let today = end.as_millis() / DAY_MS;
        let bin = u16::try_from(gap.as_secs() / 60)
            .unwrap_or(BEYOND)
            .min(BEYOND);
        match self.days.back_mut() {
            Some(day) if day.number >= today => day.add(bin),
            _ => {
                let mut day = Day {
                    number: today,
                    counts: Vec::new(),
                };
                day.add(bin);
                self.days.push_back(day);
            }
        }
        let slot = self.slot(bin);
        *slot = slot.saturating_add(1);
        self.rebuild_sums();
    }

    /// Moves the window to `at`'s day, as activity at `at` is seen: the
    /// days that leave it leave the histogram (and a plan made from it is
    /// made again). Gaps are not all a server's activity: a busy server
    /// with no gap of a minute still lets its old days go.
    pub fn advance(&mut self, at: Timestamp) {
        let first = (at.as_millis() / DAY_MS).saturating_sub(WINDOW_DAYS - 1);
        if self.days.front().is_some_and(|d| d.number < first) {
            self.drop_days_before(first);
            self.revision += 1;
            self.rebuild_sums();
        }
    }

    fn slot(&mut self, bin: u16) -> &mut u32 {
        match self.bins.get_mut(usize::from(bin)) {
            Some(count) => count,
            None => &mut self.beyond,
        }
    }

    /// Takes the days numbered below `first` out of the sums.
    fn drop_days_before(&mut self, first: u64) {
        while let Some(day) = self.days.front() {
            if day.number >= first {
                break;
            }
            let Some(day) = self.days.pop_front() else {
                break;
            };
            for (bin, count) in day.counts {
                let slot = self.slot(bin);
                *slot = slot.saturating_sub(count);
            }
        }
    }

    fn rebuild_sums(&mut self) {
        let (mut count, mut weighted) = (0u32, 0u64);
        self.cumulative.clear();
        self.half_minutes.clear();
        for (j, &c) in self.bins.iter().enumerate() {
            count = count.saturating_add(c);
            weighted = weighted.saturating_add(u64::from(c) * (2 * j as u64 + 1));
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

    /// Changes whenever the histogram does, so a plan made from it can be
    /// reused until then.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Gaps in the middle of the given minutes' bins (tests).
    #[cfg(test)]
    pub(crate) fn of_minutes(minutes: &[u64]) -> Self {
        let mut g = Self::default();
        for &m in minutes {
            g.record(Duration::from_secs(m * 60 + 30), Timestamp::from_millis(0));
        }
        g
    }

    /// Samples in range, and beyond 4 hours.
    pub fn counts(&self) -> (u32, u32) {
        (self.cumulative.last().copied().unwrap_or(0), self.beyond)
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

    fn day(n: u64, hour: u64) -> Timestamp {
        Timestamp::from_millis(n * DAY_MS + hour * 3_600_000)
    }

    #[test]
    fn short_gaps_are_not_idle_gaps() {
        let mut g = IdleGaps::default();
        g.record(Duration::from_secs(59), day(0, 0));
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

    /// What a plan reads: the bins and the days behind them.
    fn held(g: &IdleGaps) -> (Vec<u32>, u32, VecDeque<Day>) {
        (g.bins.clone(), g.beyond, g.days.clone())
    }

    #[test]
    fn a_day_of_gaps_leaves_whole_once_it_is_out_of_the_window() {
        let mut g = IdleGaps::default();
        g.record(Duration::from_secs(90), day(10, 1));
        g.record(Duration::from_secs(5 * 3600), day(10, 23));
        g.record(Duration::from_secs(150), day(13, 12));
        assert_eq!(g.counts(), (2, 1));
        // Day 16 is the last that keeps day 10 (days 10 to 16).
        g.record(Duration::from_secs(150), day(16, 23));
        assert_eq!(g.counts(), (3, 1));
        g.record(Duration::from_secs(90), day(17, 0));
        assert_eq!(g.counts(), (3, 0));
        assert_eq!((g.below(2), g.below(3)), (1, 3));
        assert_eq!(g.length_below(BINS), 1.5 + 2.5 + 2.5);
        // Nothing left of a week's silence but the gap that ends it.
        g.record(Duration::from_secs(20 * 86_400), day(40, 0));
        assert_eq!(g.counts(), (0, 1));
        assert_eq!(g.days.len(), 1);
        assert_eq!(g.percentile(50.0), None);
    }

    #[test]
    fn replicas_that_saw_the_same_week_hold_the_same_histogram() {
        // One replica has run for 30 days, the other started on day 20;
        // both see the same activity from then on.
        let gap_of = |i: u64| Duration::from_secs(60 + (i * 7_919) % 10_000);
        let ends: Vec<Timestamp> = (0..30 * 24)
            .map(|h| day(h / 24, h % 24) + Duration::from_secs(h % 13 * 60))
            .collect();
        let (mut old, mut new) = (IdleGaps::default(), IdleGaps::default());
        for (i, &end) in ends.iter().enumerate() {
            old.record(gap_of(i as u64), end);
            if end >= day(20, 0) {
                new.record(gap_of(i as u64), end);
            }
            if end < day(26, 0) {
                assert_ne!(held(&old), held(&new), "{end:?}: the newer has seen less");
            } else {
                assert_eq!(held(&old), held(&new), "{end:?}: the same week");
            }
        }
    }

    #[test]
    fn activity_without_gaps_still_moves_the_window() {
        let mut g = IdleGaps::default();
        g.record(Duration::from_secs(600), day(1, 0));
        let before = g.revision();
        // Busy from day 2 on: activity, but no gap of a minute.
        g.advance(day(7, 23));
        assert_eq!((g.counts(), g.revision()), ((1, 0), before));
        g.advance(day(8, 0));
        assert_eq!(g.counts(), (0, 0));
        assert_ne!(g.revision(), before, "a plan from day 1 is made again");
        assert_eq!(g.percentile(50.0), None);
    }

    #[test]
    fn a_clock_set_back_counts_in_the_newest_day() {
        let mut g = IdleGaps::default();
        g.record(Duration::from_secs(90), day(5, 0));
        g.record(Duration::from_secs(90), day(3, 0));
        assert_eq!((g.counts(), g.days.len()), ((2, 0), 1));
        // Extreme times and lengths neither panic nor overflow.
        g.record(Duration::MAX, Timestamp::from_millis(u64::MAX));
        g.record(Duration::from_secs(61), Timestamp::from_millis(0));
        assert_eq!(g.counts(), (1, 1));
    }
}
