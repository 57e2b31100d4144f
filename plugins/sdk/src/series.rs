//! Reading the snapshot's time series: the series of another name that
//! describes the same thing (same labels), the points two such series share,
//! and the service a series belongs to.

use perfsage_contract::labels;

use crate::Series;

/// The series named `name` with the same labels as `like`: the other column
/// of the same service (`http_requests` beside `http_errors`).
pub fn with_same_labels<'a>(all: &'a [Series], name: &str, like: &Series) -> Option<&'a Series> {
    all.iter().find(|s| s.name == name && s.labels == like.labels)
}

/// `(base, other)` value pairs at each of `base`'s timestamps that `other`
/// also has, in `base`'s order.
pub fn pairs_by_time(base: &Series, other: &Series) -> Vec<(f64, f64)> {
    base.timestamps_ms
        .iter()
        .zip(&base.values)
        .filter_map(|(t, value)| {
            let i = other.timestamps_ms.iter().position(|ot| ot == t)?;
            Some((*value, other.values[i]))
        })
        .collect()
}

/// The value of the series' label `name`, if it has one.
pub fn label<'a>(series: &'a Series, name: &str) -> Option<&'a str> {
    series.labels.iter().find(|l| l.name == name).map(|l| l.value.as_str())
}

/// The service the series counts (its `service` label), or `all` when it has
/// none.
pub fn service(series: &Series) -> &str {
    label(series, labels::SERVICE).unwrap_or("all")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::series_per_minute;

    #[test]
    fn partner_series_share_labels_and_pair_by_timestamp() {
        let requests = series_per_minute("http_requests", "web", &[10.0, 20.0, 30.0]);
        let mut errors = series_per_minute("http_errors", "web", &[1.0, 2.0]);
        errors.timestamps_ms = vec![120_000, 0];
        let other = series_per_minute("http_requests", "api", &[5.0]);
        let all = vec![other, requests.clone(), errors.clone()];
        assert_eq!(with_same_labels(&all, "http_requests", &errors), Some(&requests));
        assert_eq!(with_same_labels(&all, "http_latency_mean_ms", &errors), None);
        assert_eq!(pairs_by_time(&requests, &errors), [(10.0, 2.0), (30.0, 1.0)]);
    }

    #[test]
    fn service_falls_back_to_all() {
        let mut s = series_per_minute("http_requests", "web", &[1.0]);
        assert_eq!(service(&s), "web");
        s.labels.clear();
        assert_eq!(service(&s), "all");
        assert_eq!(label(&s, "service"), None);
    }
}
