//! A synthetic node_exporter fleet as OpenMetrics, for
//! `promtool tsdb create-blocks-from openmetrics`.
//!
//! Shared by the fleet test (`tests/prometheus.rs`, 50 instances) and the
//! benchmark generator (`examples/gen_fleet.rs`, `bench/fleet.sh`).
//! Deterministic: instance `i` (from 1) is
//!
//! - `i % 10 == 1`: CPU-bound (97 % busy),
//! - `i % 10 == 2`: short of memory (3 % available),
//! - `i % 10 == 3`: its root filesystem 98 % full,
//! - otherwise healthy (20 % busy, half the memory free, 40 % of the disk used).
//!
//! Every instance has two cores, one filesystem (`/`), one disk and one
//! interface; counters grow at the per-second rates above, one sample every
//! `step_s` seconds from `start_s` to `end_s` (unix seconds). Series are
//! written one after another (every point of a series, then the next series),
//! each metric name's series together, as OpenMetrics requires.
#![allow(dead_code)]

use std::io::Write;

/// What made an instance unhealthy, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bottleneck {
    None,
    Cpu,
    Memory,
    Disk,
}

pub fn bottleneck(i: usize) -> Bottleneck {
    match i % 10 {
        1 => Bottleneck::Cpu,
        2 => Bottleneck::Memory,
        3 => Bottleneck::Disk,
        _ => Bottleneck::None,
    }
}

pub fn instance_name(i: usize) -> String {
    format!("node-{i:04}:9100")
}

const CORES: usize = 2;
const MEMORY_BYTES: f64 = 8.0 * 1024.0 * 1024.0 * 1024.0;
const DISK_BYTES: f64 = 100.0e9;

struct Series {
    labels: String,
    /// Value at the start, and growth per second (0 for a gauge).
    start: f64,
    per_second: f64,
}

/// Write the fleet of `count` instances.
pub fn write_fleet(out: &mut impl Write, count: usize, start_s: i64, end_s: i64, step_s: i64) -> std::io::Result<()> {
    let instances: Vec<usize> = (1..=count).collect();
    let family = |out: &mut dyn Write, name: &str, kind: &str, series: &mut dyn FnMut(usize) -> Vec<Series>| {
        let sample_name = if kind == "counter" { format!("{name}_total") } else { name.to_string() };
        writeln!(out, "# TYPE {name} {kind}")?;
        for &i in &instances {
            let common = format!("instance=\"{}\",job=\"node\"", instance_name(i));
            for s in series(i) {
                let labels = if s.labels.is_empty() { common.clone() } else { format!("{},{common}", s.labels) };
                let mut t = start_s;
                while t <= end_s {
                    let value = s.start + s.per_second * (t - start_s) as f64;
                    writeln!(out, "{sample_name}{{{labels}}} {value} {t}")?;
                    t += step_s;
                }
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let gauge = |labels: &str, value: f64| Series { labels: labels.to_string(), start: value, per_second: 0.0 };
    let counter = |labels: &str, per_second: f64| Series { labels: labels.to_string(), start: 1000.0, per_second };
    let busy = |i: usize| if bottleneck(i) == Bottleneck::Cpu { 0.97 } else { 0.20 };

    family(out, "node_cpu_seconds", "counter", &mut |i| {
        let b = busy(i);
        (0..CORES)
            .flat_map(|core| {
                [("idle", 1.0 - b - 0.01), ("iowait", 0.01), ("steal", 0.0), ("system", 0.3 * b), ("user", 0.7 * b)]
                    .map(|(mode, rate)| counter(&format!("cpu=\"{core}\",mode=\"{mode}\""), rate))
            })
            .collect()
    })?;
    for (name, factor) in [("node_load1", 0.8), ("node_load5", 0.75), ("node_load15", 0.7)] {
        family(out, name, "gauge", &mut |i| vec![gauge("", busy(i) * CORES as f64 * factor)])?;
    }
    family(out, "node_context_switches", "counter", &mut |_| vec![counter("", 2000.0)])?;
    family(out, "node_memory_MemTotal_bytes", "gauge", &mut |_| vec![gauge("", MEMORY_BYTES)])?;
    family(out, "node_memory_MemAvailable_bytes", "gauge", &mut |i| {
        let share = if bottleneck(i) == Bottleneck::Memory { 0.03 } else { 0.5 };
        vec![gauge("", (MEMORY_BYTES * share).round())]
    })?;
    family(out, "node_memory_SwapTotal_bytes", "gauge", &mut |_| vec![gauge("", 0.0)])?;
    family(out, "node_memory_SwapFree_bytes", "gauge", &mut |_| vec![gauge("", 0.0)])?;
    family(out, "node_vmstat_pgmajfault", "unknown", &mut |_| vec![counter("", 1.0)])?;
    family(out, "node_vmstat_pswpin", "unknown", &mut |_| vec![counter("", 0.0)])?;
    family(out, "node_vmstat_pswpout", "unknown", &mut |_| vec![counter("", 0.0)])?;
    let fs = "device=\"/dev/vda1\",fstype=\"ext4\",mountpoint=\"/\"";
    family(out, "node_filesystem_size_bytes", "gauge", &mut |_| vec![gauge(fs, DISK_BYTES)])?;
    family(out, "node_filesystem_free_bytes", "gauge", &mut |i| {
        let used = if bottleneck(i) == Bottleneck::Disk { 0.98 } else { 0.40 };
        vec![gauge(fs, DISK_BYTES * (1.0 - used))]
    })?;
    family(out, "node_filesystem_files", "gauge", &mut |_| vec![gauge(fs, 6_000_000.0)])?;
    family(out, "node_filesystem_files_free", "gauge", &mut |_| vec![gauge(fs, 5_000_000.0)])?;
    family(out, "node_disk_read_bytes", "counter", &mut |_| vec![counter("device=\"vda1\"", 1.0e6)])?;
    family(out, "node_disk_written_bytes", "counter", &mut |_| vec![counter("device=\"vda1\"", 2.0e6)])?;
    family(out, "node_disk_io_time_seconds", "counter", &mut |_| vec![counter("device=\"vda1\"", 0.05)])?;
    let nic = "device=\"eth0\"";
    for (name, rate) in [
        ("node_network_receive_bytes", 5.0e5),
        ("node_network_transmit_bytes", 3.0e5),
        ("node_network_receive_packets", 500.0),
        ("node_network_transmit_packets", 400.0),
        ("node_network_receive_errs", 0.0),
        ("node_network_transmit_errs", 0.0),
        ("node_network_receive_drop", 0.0),
        ("node_network_transmit_drop", 0.0),
    ] {
        family(out, name, "counter", &mut |_| vec![counter(nic, rate)])?;
    }
    family(out, "node_network_speed_bytes", "gauge", &mut |_| vec![gauge(nic, 125_000_000.0)])?;
    family(out, "node_netstat_Tcp_RetransSegs", "unknown", &mut |_| vec![counter("", 0.1)])?;
    family(out, "node_netstat_Tcp_OutSegs", "unknown", &mut |_| vec![counter("", 400.0)])?;
    family(out, "node_uname_info", "gauge", &mut |i| {
        let host = instance_name(i).split(':').next().unwrap_or_default().to_string();
        vec![gauge(&format!("nodename=\"{host}\",release=\"6.1.0-fleet\""), 1.0)]
    })?;
    writeln!(out, "# EOF")
}
