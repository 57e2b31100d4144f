//! The rule pack's `[prometheus]` section: which metric names and which
//! PromQL fill which snapshot fields.
//!
//! The defaults live in `rules/default.toml`, not in code: a user's pack is
//! merged key by key over the default pack's `[prometheus]` table
//! ([`PrometheusSettings::from_pack_table`]), so a team with other metric
//! names overrides the one key that differs, and the merged table is then
//! read strictly (`deny_unknown_fields`), so a misspelt key is an error.
//!
//! - `[prometheus.node]`: node_exporter metric names, read from expositions
//!   (`run --scrape-host`);
//! - `[prometheus.endpoints]`: application histogram and counter names and
//!   the labels that carry the route, method, status and service
//!   (`run --scrape`, and the fleet's endpoint queries);
//! - `[prometheus.fleet]`: one PromQL query per snapshot field for
//!   `perfsage fleet`, each aggregated by instance on the server; `$selector`,
//!   `$window` and `$instance_label` are substituted before the query is sent.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSettings {
    /// Per HTTP request (a scrape or one query), connect included.
    pub timeout_ms: u64,
    pub node: NodeMetrics,
    pub endpoints: EndpointMetrics,
    pub fleet: FleetQueries,
}

/// node_exporter metric names (labels as node_exporter writes them:
/// `cpu`/`mode`, `mountpoint`/`device`/`fstype`, `device`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeMetrics {
    pub cpu_seconds: String,
    pub load1: String,
    pub load5: String,
    pub load15: String,
    pub context_switches: String,
    pub memory_total: String,
    pub memory_available: String,
    pub swap_total: String,
    pub swap_free: String,
    pub swap_in_pages: String,
    pub swap_out_pages: String,
    pub major_faults: String,
    pub oom_kills: String,
    pub filesystem_size: String,
    pub filesystem_free: String,
    pub filesystem_files: String,
    pub filesystem_files_free: String,
    pub disk_read_bytes: String,
    pub disk_written_bytes: String,
    pub disk_io_time: String,
    pub network_receive_bytes: String,
    pub network_transmit_bytes: String,
    pub network_receive_errs: String,
    pub network_transmit_errs: String,
    pub network_receive_drop: String,
    pub network_transmit_drop: String,
    pub network_receive_packets: String,
    pub network_transmit_packets: String,
    pub network_speed_bytes: String,
    pub tcp_retrans_segs: String,
    pub tcp_out_segs: String,
    pub uname_info: String,
    pub os_info: String,
}

/// Application metrics that become endpoints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointMetrics {
    /// Histogram family names (without `_bucket`); the unit comes from the
    /// name: `_milliseconds` or `_ms` is taken as ms, anything else as seconds.
    pub histograms: Vec<String>,
    /// Request counters with a status label; they count requests and errors
    /// where the histograms carry no status.
    pub counters: Vec<String>,
    /// The first of these labels a series has names its route.
    pub route_labels: Vec<String>,
    pub method_labels: Vec<String>,
    pub status_labels: Vec<String>,
    /// The first of these labels names the service; else the scraped host:port
    /// (or the instance in a fleet).
    pub service_labels: Vec<String>,
}

/// PromQL for `perfsage fleet`, one query per snapshot field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetQueries {
    /// The label that names an instance in every result.
    pub instance_label: String,
    /// Default `--window` when the command line gives none, e.g. `5m`.
    pub window: String,
    pub cpu_cores: String,
    pub cpu_utilization_pct: String,
    pub cpu_per_core_pct: String,
    pub cpu_iowait_pct: String,
    pub cpu_steal_pct: String,
    pub load1: String,
    pub load5: String,
    pub load15: String,
    pub context_switches_per_sec: String,
    pub memory_total_bytes: String,
    pub memory_available_bytes: String,
    pub swap_total_bytes: String,
    pub swap_free_bytes: String,
    pub swap_in_per_sec: String,
    pub swap_out_per_sec: String,
    pub major_faults_per_sec: String,
    pub oom_kills: String,
    pub filesystem_size_bytes: String,
    pub filesystem_free_bytes: String,
    pub filesystem_files: String,
    pub filesystem_files_free: String,
    pub filesystem_growth_bytes_per_sec: String,
    pub disk_read_bytes_per_sec: String,
    pub disk_write_bytes_per_sec: String,
    pub disk_utilization_pct: String,
    pub network_rx_bytes_per_sec: String,
    pub network_tx_bytes_per_sec: String,
    pub network_rx_errors: String,
    pub network_tx_errors: String,
    pub network_rx_drops: String,
    pub network_tx_drops: String,
    pub network_rx_packets: String,
    pub network_tx_packets: String,
    pub network_speed_mbps: String,
    pub tcp_retransmits_per_sec: String,
    pub tcp_retransmit_pct: String,
    pub uname_info: String,
    /// Histogram buckets per endpoint over the window (`le` kept); empty: no endpoints.
    pub endpoint_buckets: String,
    /// Requests per endpoint and status over the window.
    pub endpoint_requests: String,
    /// Observed seconds per endpoint over the window (for the mean).
    pub endpoint_seconds: String,
    /// Range queries whose per-instance results become the snapshot's `series`
    /// (name to PromQL), sampled at `series_points` points across the window.
    pub series: BTreeMap<String, String>,
    pub series_points: u32,
}

impl FleetQueries {
    /// Every instant query by field name, in a fixed order; an empty query is skipped.
    pub fn instant_queries(&self) -> Vec<(&'static str, &str)> {
        let all = [
            ("cpu_cores", &self.cpu_cores),
            ("cpu_utilization_pct", &self.cpu_utilization_pct),
            ("cpu_per_core_pct", &self.cpu_per_core_pct),
            ("cpu_iowait_pct", &self.cpu_iowait_pct),
            ("cpu_steal_pct", &self.cpu_steal_pct),
            ("load1", &self.load1),
            ("load5", &self.load5),
            ("load15", &self.load15),
            ("context_switches_per_sec", &self.context_switches_per_sec),
            ("memory_total_bytes", &self.memory_total_bytes),
            ("memory_available_bytes", &self.memory_available_bytes),
            ("swap_total_bytes", &self.swap_total_bytes),
            ("swap_free_bytes", &self.swap_free_bytes),
            ("swap_in_per_sec", &self.swap_in_per_sec),
            ("swap_out_per_sec", &self.swap_out_per_sec),
            ("major_faults_per_sec", &self.major_faults_per_sec),
            ("oom_kills", &self.oom_kills),
            ("filesystem_size_bytes", &self.filesystem_size_bytes),
            ("filesystem_free_bytes", &self.filesystem_free_bytes),
            ("filesystem_files", &self.filesystem_files),
            ("filesystem_files_free", &self.filesystem_files_free),
            ("filesystem_growth_bytes_per_sec", &self.filesystem_growth_bytes_per_sec),
            ("disk_read_bytes_per_sec", &self.disk_read_bytes_per_sec),
            ("disk_write_bytes_per_sec", &self.disk_write_bytes_per_sec),
            ("disk_utilization_pct", &self.disk_utilization_pct),
            ("network_rx_bytes_per_sec", &self.network_rx_bytes_per_sec),
            ("network_tx_bytes_per_sec", &self.network_tx_bytes_per_sec),
            ("network_rx_errors", &self.network_rx_errors),
            ("network_tx_errors", &self.network_tx_errors),
            ("network_rx_drops", &self.network_rx_drops),
            ("network_tx_drops", &self.network_tx_drops),
            ("network_rx_packets", &self.network_rx_packets),
            ("network_tx_packets", &self.network_tx_packets),
            ("network_speed_mbps", &self.network_speed_mbps),
            ("tcp_retransmits_per_sec", &self.tcp_retransmits_per_sec),
            ("tcp_retransmit_pct", &self.tcp_retransmit_pct),
            ("uname_info", &self.uname_info),
            ("endpoint_buckets", &self.endpoint_buckets),
            ("endpoint_requests", &self.endpoint_requests),
            ("endpoint_seconds", &self.endpoint_seconds),
        ];
        all.into_iter().filter(|(_, q)| !q.trim().is_empty()).map(|(n, q)| (n, q.as_str())).collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("[prometheus]: {0}")]
pub struct SettingsError(String);

impl PrometheusSettings {
    /// The user's `[prometheus]` table merged key by key over the default pack's.
    pub fn from_pack_table(user: &toml::Table) -> Result<Self, SettingsError> {
        let merged = perfsage_pack::merged_section("prometheus", user);
        let settings: PrometheusSettings =
            toml::Value::Table(merged).try_into().map_err(|e: toml::de::Error| SettingsError(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        if !(100..=600_000).contains(&self.timeout_ms) {
            return Err(SettingsError("timeout_ms must be 100..=600000".into()));
        }
        if self.fleet.instance_label.is_empty() {
            return Err(SettingsError("fleet.instance_label must not be empty".into()));
        }
        if !(2..=11_000).contains(&self.fleet.series_points) {
            return Err(SettingsError("fleet.series_points must be 2..=11000".into()));
        }
        humantime::parse_duration(&self.fleet.window)
            .map_err(|e| SettingsError(format!("fleet.window {:?}: {e}", self.fleet.window)))?;
        Ok(())
    }
}

impl Default for PrometheusSettings {
    /// The default pack's `[prometheus]` section.
    fn default() -> Self {
        Self::from_pack_table(&toml::Table::new()).expect("the default rule pack's [prometheus] section is complete")
    }
}

/// Substitute `$selector`, `$window` and `$instance_label` into a query.
/// The selector is the label matchers without braces (`job="node"`), or empty.
pub fn expand(query: &str, selector: &str, window: &str, instance_label: &str) -> String {
    query.replace("$selector", selector).replace("$window", window).replace("$instance_label", instance_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_complete_and_overrides_merge_key_by_key() {
        let defaults = PrometheusSettings::default();
        assert_eq!(defaults.node.cpu_seconds, "node_cpu_seconds_total");
        let user: toml::Table = toml::from_str("[node]\nload1 = \"host_load_1m\"").unwrap();
        let merged = PrometheusSettings::from_pack_table(&user).unwrap();
        assert_eq!(merged.node.load1, "host_load_1m");
        assert_eq!(merged.node.load5, defaults.node.load5);
    }

    #[test]
    fn a_misspelt_key_is_an_error() {
        let user: toml::Table = toml::from_str("[node]\nload_1 = \"x\"").unwrap();
        let message = PrometheusSettings::from_pack_table(&user).unwrap_err().to_string();
        assert!(message.contains("unknown field `load_1`"), "{message}");
        let user: toml::Table = toml::from_str("timeout_ms = 1").unwrap();
        assert!(PrometheusSettings::from_pack_table(&user).is_err());
    }

    #[test]
    fn placeholders_expand() {
        assert_eq!(
            expand("rate(x{a=\"b\",$selector}[$window]) by ($instance_label)", "job=\"n\"", "5m", "host"),
            "rate(x{a=\"b\",job=\"n\"}[5m]) by (host)"
        );
    }
}
