//! Latency histograms shared by the probe and the access-log source: HDR
//! histograms of microseconds turned into the snapshot's latency summary and
//! cumulative buckets.

use hdrhistogram::{Counter, Histogram};

use perfsage_model::{Bucket, Latency};

/// The cumulative bucket bounds written into each endpoint (for Apdex and custom quantiles).
pub const BUCKET_BOUNDS_MS: [f64; 20] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 2500.0,
    5000.0, 10_000.0, 30_000.0,
];

/// Percentiles of a µs histogram in ms, with the exact sum and max.
pub fn summary(h: &Histogram<u64>, total_us: u64, max_us: u64) -> Latency {
    let ms = |us: u64| round3(us as f64 / 1000.0);
    let q = |q: f64| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(q)) };
    Latency {
        p50_ms: q(0.50),
        p90_ms: q(0.90),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: ms(max_us),
        mean_ms: if h.is_empty() { 0.0 } else { round3(total_us as f64 / 1000.0 / h.len() as f64) },
    }
}

/// Cumulative buckets of a µs histogram at [`BUCKET_BOUNDS_MS`].
pub fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    BUCKET_BOUNDS_MS
        .iter()
        .map(|le_ms| Bucket { le_ms: *le_ms, count: h.count_between(0, (*le_ms * 1000.0) as u64) })
        .collect()
}

/// Three decimals: exact through a JSON round trip (see the system source).
pub fn round3(v: f64) -> f64 {
    if v.is_finite() { (v * 1000.0).round() / 1000.0 } else { 0.0 }
}

/// How a [`LazyHistogram`] records: its HDR bounds, and how many raw samples
/// it keeps before it allocates the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSpec {
    /// Largest value tracked; larger ones are clamped (HDR `saturating_record`).
    pub high: u64,
    pub significant_digits: u8,
    /// Raw samples kept before switching to the histogram.
    pub raw_samples: usize,
}

impl HistogramSpec {
    /// An empty HDR histogram with these bounds.
    pub fn histogram<T: Counter>(&self) -> Histogram<T> {
        Histogram::new_with_bounds(1, self.high, self.significant_digits).expect("static histogram bounds are valid")
    }
}

/// A latency histogram that costs nothing until it records and a few hundred
/// bytes while it has few samples: a full HDR histogram is tens of KB (53 KB
/// at two significant digits up to an hour of µs), and a log can name
/// thousands of routes or statements seen once (a scanner's 404s). The first
/// [`HistogramSpec::raw_samples`] values are kept raw; the next one moves them
/// into an HDR histogram. Every answer (quantiles, buckets, counts) is read
/// from an HDR histogram built from the same values in the same way, so a
/// route reports exactly the same numbers whichever form it is in.
#[derive(Debug, Clone)]
pub enum LazyHistogram<T: Counter = u64> {
    Raw(Vec<u64>),
    Full(Box<Histogram<T>>),
}

impl<T: Counter> Default for LazyHistogram<T> {
    fn default() -> Self {
        LazyHistogram::Raw(Vec::new())
    }
}

impl<T: Counter> LazyHistogram<T> {
    pub fn record(&mut self, spec: &HistogramSpec, value: u64) {
        match self {
            LazyHistogram::Raw(values) if values.len() < spec.raw_samples => values.push(value),
            LazyHistogram::Raw(values) => {
                let mut full = spec.histogram::<T>();
                for v in values.iter() {
                    full.saturating_record(*v);
                }
                full.saturating_record(value);
                *self = LazyHistogram::Full(Box::new(full));
            }
            LazyHistogram::Full(full) => full.saturating_record(value),
        }
    }

    /// Add `other`'s values (both made with `spec`).
    pub fn add(&mut self, spec: &HistogramSpec, other: &LazyHistogram<T>) {
        match other {
            LazyHistogram::Raw(values) => {
                for v in values {
                    self.record(spec, *v);
                }
            }
            LazyHistogram::Full(theirs) => {
                if let LazyHistogram::Raw(values) = self {
                    let mut full = spec.histogram::<T>();
                    for v in values.iter() {
                        full.saturating_record(*v);
                    }
                    *self = LazyHistogram::Full(Box::new(full));
                }
                if let LazyHistogram::Full(mine) = self {
                    // Same bounds on both sides; a count overflowing its counter type saturates.
                    if mine.add(theirs.as_ref()).is_err() {
                        for v in theirs.iter_recorded() {
                            let _ = mine.record_n(v.value_iterated_to(), v.count_at_value());
                        }
                    }
                }
            }
        }
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        match self {
            LazyHistogram::Raw(values) => values.len() as u64,
            LazyHistogram::Full(full) => full.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as an HDR histogram (built for the occasion while raw).
    pub fn histogram(&self, spec: &HistogramSpec) -> std::borrow::Cow<'_, Histogram<T>> {
        match self {
            LazyHistogram::Raw(values) => {
                let mut full = spec.histogram::<T>();
                for v in values {
                    full.saturating_record(*v);
                }
                std::borrow::Cow::Owned(full)
            }
            LazyHistogram::Full(full) => std::borrow::Cow::Borrowed(full.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: HistogramSpec = HistogramSpec { high: 3_600_000_000, significant_digits: 2, raw_samples: 4 };

    #[test]
    fn raw_and_full_histograms_give_the_same_numbers() {
        let values = [0, 1, 7, 1234, 99_999, u64::MAX, 3_600_000_000, 42, 42];
        let mut reference = SPEC.histogram::<u64>();
        let mut lazy = LazyHistogram::<u64>::default();
        for (i, v) in values.iter().enumerate() {
            reference.saturating_record(*v);
            lazy.record(&SPEC, *v);
            assert_eq!(matches!(lazy, LazyHistogram::Raw(_)), i < SPEC.raw_samples, "raw until the limit");
            assert_eq!(*lazy.histogram(&SPEC), reference);
        }
        // Merges in every combination of forms agree with recording everything in one.
        let (mut a, mut b) = (LazyHistogram::<u64>::default(), LazyHistogram::<u64>::default());
        values[..2].iter().for_each(|v| a.record(&SPEC, *v));
        values[2..].iter().for_each(|v| b.record(&SPEC, *v));
        let mut ab = a.clone();
        ab.add(&SPEC, &b);
        b.add(&SPEC, &a);
        assert_eq!(*ab.histogram(&SPEC), reference);
        assert_eq!(*b.histogram(&SPEC), reference);
        assert_eq!((ab.len(), LazyHistogram::<u64>::default().is_empty()), (values.len() as u64, true));
    }

    #[test]
    fn an_unrecorded_histogram_allocates_nothing() {
        let lazy = LazyHistogram::<u32>::default();
        assert!(matches!(&lazy, LazyHistogram::Raw(v) if v.capacity() == 0));
        assert!(std::mem::size_of::<LazyHistogram<u32>>() <= 32);
    }
}
