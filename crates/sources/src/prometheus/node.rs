//! node_exporter metrics from expositions turned into the snapshot's host
//! sections (cpu, memory, disks, network) and the meta it knows (host name,
//! OS, kernel).
//!
//! Rates need two readings: counters are differenced between the `before`
//! and `after` expositions and divided by the seconds between them, as the
//! system collector does with /proc. With a single reading (a saved file)
//! there is no window: CPU shares are averages since boot (the counters'
//! ratios still mean something), per-second rates are absent (`None`, or 0
//! where the model requires a number) and network errors, drops and packets
//! are totals since boot; [`HostSample::warnings`] says so.
//!
//! Metric names come from `[prometheus.node]`; label names are
//! node_exporter's (`cpu`, `mode`, `mountpoint`, `device`, `fstype`).

use std::collections::{BTreeMap, BTreeSet};

use super::exposition::{Exposition, Sample};
use super::settings::NodeMetrics;
use crate::histogram::round3;
use perfsage_model::{Cpu, Disk, Memory, NetInterface, Network};

/// The host sections one node_exporter target gave.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSample {
    pub cpu: Option<Cpu>,
    pub memory: Option<Memory>,
    pub disks: Option<Vec<Disk>>,
    pub network: Option<Network>,
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub warnings: Vec<String>,
}

/// Two readings `seconds` apart (or one, `before` = `None`).
struct Readings<'a> {
    before: Option<&'a Exposition>,
    after: &'a Exposition,
    seconds: f64,
}

impl Readings<'_> {
    /// Sum of the samples named `name` in `after` (a gauge).
    fn gauge(&self, name: &str) -> Option<f64> {
        sum(self.after, name, |_| true)
    }

    /// The increase of counter `name` (samples matching `filter`) over the window;
    /// with one reading, its total.
    fn increase(&self, name: &str, filter: impl Fn(&Sample) -> bool + Copy) -> Option<f64> {
        let after = sum(self.after, name, filter)?;
        match self.before {
            Some(before) => {
                let before = sum(before, name, filter).unwrap_or(0.0);
                // A counter reset (restart) inside the window: count from zero, as PromQL does.
                Some(if after >= before { after - before } else { after })
            }
            None => Some(after),
        }
    }

    /// Per-second rate of counter `name`; `None` without two readings.
    fn rate(&self, name: &str, filter: impl Fn(&Sample) -> bool + Copy) -> Option<f64> {
        self.before?;
        let increase = self.increase(name, filter)?;
        (self.seconds > 0.0).then(|| round3(increase / self.seconds))
    }
}

fn sum(exposition: &Exposition, name: &str, filter: impl Fn(&Sample) -> bool) -> Option<f64> {
    let mut found = false;
    let total = exposition
        .samples(name)
        .filter(|s| filter(s))
        .inspect(|_| found = true)
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .sum::<f64>();
    found.then_some(total)
}

/// Map one target's readings; `None` sections are absent from the exposition.
pub fn host_sample(before: Option<&Exposition>, after: &Exposition, seconds: f64, names: &NodeMetrics) -> HostSample {
    let readings = Readings { before, after, seconds };
    let mut warnings = Vec::new();
    if before.is_none() {
        warnings.push(
            "one reading only: CPU shares are averages since boot, network errors and drops are totals \
             since boot, and per-second rates are unknown"
                .to_string(),
        );
    }
    let uname = after.samples(&names.uname_info).next();
    HostSample {
        cpu: cpu(&readings, names),
        memory: memory(&readings, names),
        disks: disks(&readings, names),
        network: network(&readings, names),
        hostname: uname.and_then(|s| s.label("nodename")).map(str::to_string),
        kernel: uname.and_then(|s| s.label("release")).map(str::to_string),
        os: after.samples(&names.os_info).next().and_then(|s| s.label("pretty_name")).map(str::to_string),
        warnings,
    }
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| round3(part / whole * 100.0).clamp(0.0, 100.0))
}

fn cpu(r: &Readings, names: &NodeMetrics) -> Option<Cpu> {
    let cores: BTreeSet<String> =
        r.after.samples(&names.cpu_seconds).filter_map(|s| s.label("cpu")).map(str::to_string).collect();
    if cores.is_empty() {
        return None;
    }
    let mode_is =
        |modes: &'static [&'static str]| move |s: &Sample| s.label("mode").is_some_and(|m| modes.contains(&m));
    let share = |filter: &dyn Fn(&Sample) -> bool, core: Option<&str>| {
        let in_core = |s: &Sample| core.is_none_or(|c| s.label("cpu") == Some(c));
        let part = r.increase(&names.cpu_seconds, |s| in_core(s) && filter(s))?;
        let whole = r.increase(&names.cpu_seconds, in_core)?;
        percent(part, whole)
    };
    let busy = |s: &Sample| !s.label("mode").is_some_and(|m| m == "idle" || m == "iowait");
    // Cores sort numerically (cpu label "10" after "9").
    let mut ordered: Vec<&String> = cores.iter().collect();
    ordered.sort_by_key(|c| (c.parse::<u64>().unwrap_or(u64::MAX), c.to_string()));
    Some(Cpu {
        logical_cores: cores.len() as u32,
        utilization_pct: share(&busy, None).unwrap_or(0.0),
        per_core_pct: ordered.iter().map(|c| share(&busy, Some(c)).unwrap_or(0.0)).collect(),
        load1: round3(r.gauge(&names.load1).unwrap_or(0.0)),
        load5: round3(r.gauge(&names.load5).unwrap_or(0.0)),
        load15: round3(r.gauge(&names.load15).unwrap_or(0.0)),
        iowait_pct: share(&mode_is(&["iowait"]), None),
        steal_pct: share(&mode_is(&["steal"]), None),
        context_switches_per_sec: r.rate(&names.context_switches, |_| true),
    })
}

fn memory(r: &Readings, names: &NodeMetrics) -> Option<Memory> {
    let total = r.gauge(&names.memory_total)?;
    let available = r.gauge(&names.memory_available).unwrap_or(0.0);
    let swap_total = r.gauge(&names.swap_total).unwrap_or(0.0);
    let swap_free = r.gauge(&names.swap_free).unwrap_or(swap_total);
    Some(Memory {
        total_bytes: total as u64,
        used_bytes: (total - available).max(0.0) as u64,
        available_bytes: available as u64,
        swap_total_bytes: swap_total as u64,
        swap_used_bytes: (swap_total - swap_free).max(0.0) as u64,
        swap_in_per_sec: r.rate(&names.swap_in_pages, |_| true),
        swap_out_per_sec: r.rate(&names.swap_out_pages, |_| true),
        major_faults_per_sec: r.rate(&names.major_faults, |_| true),
        oom_kills: r.gauge(&names.oom_kills).map(|v| v as u64),
    })
}

fn disks(r: &Readings, names: &NodeMetrics) -> Option<Vec<Disk>> {
    // One filesystem per (mountpoint, device, fstype).
    let mut filesystems: BTreeMap<String, (String, String)> = BTreeMap::new();
    for s in r.after.samples(&names.filesystem_size) {
        if let Some(mount) = s.label("mountpoint") {
            let device = s.label("device").unwrap_or("").to_string();
            filesystems.insert(mount.to_string(), (device, s.label("fstype").unwrap_or("").to_string()));
        }
    }
    if filesystems.is_empty() {
        return None;
    }
    let disks = filesystems
        .into_iter()
        .map(|(mount, (device, filesystem))| {
            let at = |s: &Sample| s.label("mountpoint") == Some(mount.as_str());
            let value = |e: &Exposition, name: &str| sum(e, name, at);
            let size = value(r.after, &names.filesystem_size).unwrap_or(0.0);
            let used = |e: &Exposition| value(e, &names.filesystem_free).map(|free| (size - free).max(0.0));
            let files = value(r.after, &names.filesystem_files);
            let files_free = value(r.after, &names.filesystem_files_free);
            // node_disk_* name the block device without /dev/.
            let block = device.strip_prefix("/dev/").unwrap_or(&device).to_string();
            let on_device = |s: &Sample| s.label("device") == Some(block.as_str());
            let has_device_io = r.after.samples(&names.disk_io_time).any(on_device);
            let device_rate = |name: &str| if has_device_io { r.rate(name, on_device) } else { None };
            let after_used = used(r.after).unwrap_or(0.0);
            Disk {
                total_bytes: size as u64,
                used_bytes: after_used as u64,
                inodes_total: files.filter(|f| *f > 0.0).map(|f| f as u64),
                inodes_used: files
                    .zip(files_free)
                    .filter(|(f, _)| *f > 0.0)
                    .map(|(f, free)| (f - free).max(0.0) as u64),
                read_bytes_per_sec: device_rate(&names.disk_read_bytes),
                write_bytes_per_sec: device_rate(&names.disk_written_bytes),
                utilization_pct: device_rate(&names.disk_io_time).map(|busy| (busy * 100.0).clamp(0.0, 100.0)),
                growth_bytes_per_sec: r
                    .before
                    .and_then(used)
                    .filter(|_| r.seconds > 0.0)
                    .map(|before| round3((after_used - before) / r.seconds)),
                mount,
                device,
                filesystem,
            }
        })
        .collect();
    Some(disks)
}

fn network(r: &Readings, names: &NodeMetrics) -> Option<Network> {
    let devices: BTreeSet<String> =
        r.after.samples(&names.network_receive_bytes).filter_map(|s| s.label("device")).map(str::to_string).collect();
    let has_tcp = r.after.samples(&names.tcp_retrans_segs).next().is_some();
    if devices.is_empty() && !has_tcp {
        return None;
    }
    let interfaces = devices
        .into_iter()
        .map(|name| {
            let on = |s: &Sample| s.label("device") == Some(name.as_str());
            let count = |metric: &str| r.increase(metric, on).map_or(0, |v| v.round() as u64);
            let speed = sum(r.after, &names.network_speed_bytes, on).filter(|b| *b > 0.0);
            NetInterface {
                rx_bytes_per_sec: r.rate(&names.network_receive_bytes, on).unwrap_or(0.0),
                tx_bytes_per_sec: r.rate(&names.network_transmit_bytes, on).unwrap_or(0.0),
                rx_errors: count(&names.network_receive_errs),
                tx_errors: count(&names.network_transmit_errs),
                rx_drops: count(&names.network_receive_drop),
                tx_drops: count(&names.network_transmit_drop),
                rx_packets: count(&names.network_receive_packets),
                tx_packets: count(&names.network_transmit_packets),
                speed_mbps: speed.map(|bytes| (bytes * 8.0 / 1_000_000.0).round() as u64),
                duplex: None,
                name,
            }
        })
        .collect();
    let retransmitted = r.increase(&names.tcp_retrans_segs, |_| true);
    let sent = r.increase(&names.tcp_out_segs, |_| true);
    Some(Network {
        interfaces,
        tcp_retransmits_per_sec: r.rate(&names.tcp_retrans_segs, |_| true),
        tcp_retransmit_pct: retransmitted.zip(sent).and_then(|(re, sent)| percent(re, sent)),
    })
}
