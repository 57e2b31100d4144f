//! The system source: CPU, memory, disks, network and processes of this machine.
//!
//! # How a sample is taken
//!
//! Most of what an advisor needs is a rate (bytes per second, share of time busy,
//! context switches per second), and the kernel only keeps cumulative counters. So
//! [`SystemSource::collect`] takes two readings `window` apart and divides each counter's
//! difference by the time that really passed between the readings, measured with an
//! [`Instant`]: reading hundreds of processes takes time, so the nominal window would
//! overstate every rate. Gauges (memory in use, disk space, load) come from the second
//! reading; disk growth compares the space used in both.
//!
//! # Where each number comes from
//!
//! `sysinfo` supplies what it does portably: CPU utilization in total and per core, load
//! average, memory and swap, the process list with CPU time and RSS, open file counts,
//! the mount list, and the OS's name and kernel. (A process's CPU share is computed here
//! from its CPU time in both readings rather than taken from sysinfo, which reports 0 for
//! any process that had not used a clock tick by the first reading: a worker started just
//! before the audit and busy ever since would look idle.)
//!
//! On Linux, `/proc` and `/sys` know more; the `procfs` submodule parses them: iowait, steal and context switches (`/proc/stat`),
//! swap traffic, major faults and OOM kills (`/proc/vmstat`), per-device I/O
//! (`/proc/diskstats`), per-interface traffic including drops (`/proc/net/dev`), TCP
//! retransmits (`/proc/net/snmp`), link speed and duplex (`/sys/class/net`) and thread
//! counts (`/proc/<pid>/status`). The `disks` submodule chooses the mounts worth reporting
//! and reads their space and inodes with `statvfs(3)`.
//!
//! # When something cannot be read
//!
//! Everything beyond sysinfo's basics is optional. A file that cannot be read or parsed
//! leaves its fields `None` (an unreadable `/proc/net/dev` leaves no interfaces) and adds
//! one line to [`SystemSample::warnings`]; it never fails the collection. `collect`
//! returns an error only when sysinfo does not support the platform, or when nothing at
//! all could be read.
//!
//! # Numbers
//!
//! Every float leaves through one function that turns non-finite values into 0 (JSON has
//! no NaN or infinity) and rounds to three decimals. That is finer than a sub-second
//! window can measure, and it keeps each value exact through a JSON save and reload:
//! serde_json's default float parser (without its `float_roundtrip` feature) is exact
//! only for short decimals, and drifts by one ulp on about one value in eight otherwise.

mod disks;
mod procfs;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sysinfo::{LoadAvg, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use disks::{FilesystemUsage, Mount};
use perfsage_model::{Cpu, Disk, Memory, Meta, NetInterface, Network, Process, SCHEMA_VERSION, Snapshot};
use procfs::{BlockDeviceCounters, InterfaceCounters, StatCounters, TcpSegments, VmCounters};

/// Collects this machine's CPU, memory, disks, network and processes over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSource {
    /// How long to watch the counters. Windows shorter than sysinfo's minimum CPU
    /// update interval (200 ms on Linux) are lengthened to it, because sysinfo ignores
    /// a CPU refresh that comes sooner.
    pub window: Duration,
    /// How many processes to keep from each ranking (by CPU, by memory).
    pub top_processes: usize,
}

impl Default for SystemSource {
    /// A one-second window, as `vmstat 1` uses, and the top ten processes.
    fn default() -> Self {
        SystemSource { window: Duration::from_secs(1), top_processes: 10 }
    }
}

/// What one collection found: the snapshot sections this source fills, and what it could
/// not read.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemSample {
    pub meta: Meta,
    pub cpu: Cpu,
    pub memory: Memory,
    pub disks: Vec<Disk>,
    pub network: Network,
    pub processes: Vec<Process>,
    /// One line per file or figure that could not be read, each said once.
    pub warnings: Vec<String>,
}

/// Why the system source produced no sample at all.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// sysinfo has no implementation for this platform.
    #[error("system metrics are not supported on this platform")]
    Unsupported(#[source] sysinfo::Error),
    /// Neither sysinfo nor `/proc` yielded a single figure.
    #[error("nothing could be read from this system: {}", .warnings.join("; "))]
    NothingReadable { warnings: Vec<String> },
}

impl SystemSource {
    /// Reads the system twice, `window` apart, and turns the difference into a sample.
    pub fn collect(&self) -> Result<SystemSample, SystemError> {
        let mut warnings = Vec::new();
        let mut system = System::new().map_err(SystemError::Unsupported)?;
        // Mounts are listed once: a filesystem mounted during the window has no baseline.
        let mounts = disks::list_mounts(&mut warnings);

        let first = Reading::take(&mut system, &mounts, &mut warnings);
        let process_cpu_ms_at_first = process_cpu_times(&system);
        thread::sleep(self.window.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL));
        let second = Reading::take(&mut system, &mounts, &mut warnings);
        let taken_at_ms = unix_millis_now();
        system.refresh_memory();

        let elapsed = second.at.duration_since(first.at);
        let seconds = elapsed.as_secs_f64();
        let cpu_delta = first.stat.zip(second.stat).map(|(before, after)| after.since(&before));
        let cpu = cpu_section(&system, cpu_delta, seconds, &mut warnings);
        let memory = memory_section(&system, first.vmstat.zip(second.vmstat), seconds);
        let disks = disks_section(&mounts, &first, &second, seconds);
        let network = network_section(&first, &second, seconds);
        let processes =
            processes_section(&system, &process_cpu_ms_at_first, seconds, self.top_processes, &mut warnings);
        let meta = meta_section(taken_at_ms, elapsed, &mut warnings);

        let mut seen = HashSet::new();
        warnings.retain(|warning| seen.insert(warning.clone()));
        if cpu.logical_cores == 0 && memory.total_bytes == 0 && disks.is_empty() && network.interfaces.is_empty() {
            return Err(SystemError::NothingReadable { warnings });
        }
        Ok(SystemSample { meta, cpu, memory, disks, network, processes, warnings })
    }
}

impl SystemSample {
    /// A snapshot with `meta` and the five system sections; the sections other sources
    /// fill stay absent. The warnings have no place in the snapshot: report them apart.
    pub fn into_snapshot(self) -> Snapshot {
        Snapshot {
            cpu: Some(self.cpu),
            memory: Some(self.memory),
            disks: Some(self.disks),
            network: Some(self.network),
            processes: Some(self.processes),
            ..Snapshot::empty(self.meta)
        }
    }
}

/// The counters and filesystem usage at one instant; two readings make a sample.
/// (sysinfo keeps its own previous CPU times inside `System`.)
struct Reading {
    at: Instant,
    stat: Option<StatCounters>,
    vmstat: Option<VmCounters>,
    block_devices: Option<Vec<BlockDeviceCounters>>,
    interfaces: Option<Vec<InterfaceCounters>>,
    tcp: Option<TcpSegments>,
    /// Parallel to the mount list; `None` where `statvfs` failed.
    filesystems: Vec<Option<FilesystemUsage>>,
}

impl Reading {
    fn take(system: &mut System, mounts: &[Mount], warnings: &mut Vec<String>) -> Self {
        // CPUs first: a process refresh also refreshes the total CPU times (not the
        // per-core ones) unless a CPU refresh happened in the last 200 ms, which would
        // put total and per-core utilization over different windows.
        system.refresh_cpu_usage();
        // CPU time and RSS of every process; threads are counted, not listed as processes.
        system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory().without_tasks(),
        );
        Reading {
            at: Instant::now(),
            stat: read_parsed("/proc/stat", procfs::parse_stat, warnings),
            vmstat: read_parsed("/proc/vmstat", |text| Some(procfs::parse_vmstat(text)), warnings),
            block_devices: read_parsed("/proc/diskstats", |text| Some(procfs::parse_diskstats(text)), warnings),
            interfaces: read_parsed("/proc/net/dev", |text| Some(procfs::parse_net_dev(text)), warnings),
            tcp: read_parsed("/proc/net/snmp", procfs::parse_tcp_segments, warnings),
            filesystems: mounts
                .iter()
                .map(|mount| match disks::filesystem_usage(&mount.mount_point) {
                    Ok(usage) => Some(usage),
                    Err(error) => {
                        let mount_point = mount.mount_point.display();
                        warnings.push(format!("cannot read the usage of {mount_point}: {error}"));
                        None
                    }
                })
                .collect(),
        }
    }
}

/// Reads and parses one optional file; a failure becomes a warning and `None`.
fn read_parsed<T>(path: &str, parse: impl FnOnce(&str) -> Option<T>, warnings: &mut Vec<String>) -> Option<T> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let parsed = parse(&text);
            if parsed.is_none() {
                warnings.push(format!("{path} has an unexpected format"));
            }
            parsed
        }
        Err(error) => {
            warnings.push(format!("cannot read {path}: {error}"));
            None
        }
    }
}

fn cpu_section(system: &System, delta: Option<StatCounters>, seconds: f64, warnings: &mut Vec<String>) -> Cpu {
    let per_core_pct: Vec<f64> = system.cpus().iter().map(|core| clamp_percent(f64::from(core.usage()))).collect();
    let load = System::load_average().unwrap_or_else(|error| {
        warnings.push(format!("cannot read the load average: {error}"));
        LoadAvg::default()
    });
    Cpu {
        logical_cores: u32::try_from(per_core_pct.len()).unwrap_or(u32::MAX),
        utilization_pct: clamp_percent(f64::from(system.global_cpu_usage())),
        per_core_pct,
        load1: tidy(load.one),
        load5: tidy(load.five),
        load15: tidy(load.fifteen),
        iowait_pct: delta.and_then(|d| percent(d.cpu.iowait, d.cpu.total())),
        steal_pct: delta.and_then(|d| percent(d.cpu.steal, d.cpu.total())),
        context_switches_per_sec: delta.map(|d| per_second(d.context_switches, seconds)),
    }
}

fn memory_section(system: &System, vmstat: Option<(VmCounters, VmCounters)>, seconds: f64) -> Memory {
    let rate = |counter: fn(&VmCounters) -> Option<u64>| {
        let (before, after) = vmstat?;
        let delta = counter(&after)?.saturating_sub(counter(&before)?);
        Some(per_second(delta, seconds))
    };
    Memory {
        total_bytes: system.total_memory(),
        used_bytes: system.used_memory(),
        available_bytes: system.available_memory(),
        swap_total_bytes: system.total_swap(),
        swap_used_bytes: system.used_swap(),
        swap_in_per_sec: rate(|vm| vm.swap_in_pages),
        swap_out_per_sec: rate(|vm| vm.swap_out_pages),
        major_faults_per_sec: rate(|vm| vm.major_faults),
        oom_kills: vmstat.and_then(|(_, after)| after.oom_kills),
    }
}

fn disks_section(mounts: &[Mount], first: &Reading, second: &Reading, seconds: f64) -> Vec<Disk> {
    let device_of = |reading: &'_ Reading, mount: &Mount| {
        let devices = reading.block_devices.as_deref()?;
        disks::device_counters(devices, mount).cloned()
    };
    mounts
        .iter()
        .zip(first.filesystems.iter().zip(&second.filesystems))
        .filter_map(|(mount, (before, after))| {
            // Without a final statvfs there is nothing to report; the warning says why.
            let after = (*after)?;
            let io = device_of(first, mount).zip(device_of(second, mount));
            let bytes_per_sec = |sectors: fn(&BlockDeviceCounters) -> u64| {
                io.as_ref().map(|(then, now)| {
                    let delta = sectors(now).saturating_sub(sectors(then));
                    per_second(delta.saturating_mul(procfs::SECTOR_BYTES), seconds)
                })
            };
            Some(Disk {
                mount: mount.mount_point.display().to_string(),
                device: mount.device.clone(),
                filesystem: mount.filesystem.clone(),
                total_bytes: after.total_bytes,
                used_bytes: after.used_bytes,
                inodes_total: after.inodes_total,
                inodes_used: after.inodes_used,
                read_bytes_per_sec: bytes_per_sec(|device| device.sectors_read),
                write_bytes_per_sec: bytes_per_sec(|device| device.sectors_written),
                utilization_pct: io.as_ref().map(|(then, now)| {
                    let busy_ms = now.busy_ms.saturating_sub(then.busy_ms);
                    clamp_percent(percent_of_window(busy_ms, seconds))
                }),
                growth_bytes_per_sec: before.map(|before| {
                    let growth = after.used_bytes as f64 - before.used_bytes as f64;
                    signed_per_second(growth, seconds)
                }),
            })
        })
        .collect()
}

fn network_section(first: &Reading, second: &Reading, seconds: f64) -> Network {
    let interfaces = match (&first.interfaces, &second.interfaces) {
        (Some(before), Some(after)) => after
            .iter()
            .filter_map(|now| {
                // An interface that appeared during the window has no baseline.
                let then = before.iter().find(|then| then.name == now.name)?;
                Some(interface_section(then, now, seconds))
            })
            .collect(),
        _ => Vec::new(),
    };
    let tcp = first.tcp.zip(second.tcp).map(|(before, after)| {
        let sent = after.sent.saturating_sub(before.sent);
        let retransmitted = after.retransmitted.saturating_sub(before.retransmitted);
        (sent, retransmitted)
    });
    Network {
        interfaces,
        tcp_retransmits_per_sec: tcp.map(|(_, retransmitted)| per_second(retransmitted, seconds)),
        // No segments sent in the window: no share to speak of.
        tcp_retransmit_pct: tcp.and_then(|(sent, retransmitted)| percent(retransmitted, sent)),
    }
}

fn interface_section(then: &InterfaceCounters, now: &InterfaceCounters, seconds: f64) -> NetInterface {
    let delta = |counter: fn(&InterfaceCounters) -> u64| counter(now).saturating_sub(counter(then));
    // Virtual interfaces (lo, bridges, tunnels) refuse these reads with EINVAL; that is
    // their normal answer, not a failure worth a warning.
    let link_attribute =
        |attribute: &str| fs::read_to_string(Path::new("/sys/class/net").join(&now.name).join(attribute)).ok();
    NetInterface {
        name: now.name.clone(),
        rx_bytes_per_sec: per_second(delta(|c| c.rx_bytes), seconds),
        tx_bytes_per_sec: per_second(delta(|c| c.tx_bytes), seconds),
        rx_errors: delta(|c| c.rx_errors),
        tx_errors: delta(|c| c.tx_errors),
        rx_drops: delta(|c| c.rx_drops),
        tx_drops: delta(|c| c.tx_drops),
        rx_packets: delta(|c| c.rx_packets),
        tx_packets: delta(|c| c.tx_packets),
        speed_mbps: link_attribute("speed").as_deref().and_then(procfs::parse_link_speed_mbps),
        duplex: link_attribute("duplex").as_deref().and_then(procfs::parse_duplex),
    }
}

/// A process as two readings can tell it apart: pids are reused, (pid, start time) is not.
type ProcessKey = (u32, u64);

fn process_key(process: &sysinfo::Process) -> ProcessKey {
    (process.pid().as_u32(), process.start_time())
}

/// The CPU time, in milliseconds, each process has used so far.
fn process_cpu_times(system: &System) -> HashMap<ProcessKey, u64> {
    system.processes().values().map(|process| (process_key(process), process.accumulated_cpu_time())).collect()
}

fn processes_section(
    system: &System,
    cpu_ms_at_first: &HashMap<ProcessKey, u64>,
    seconds: f64,
    top: usize,
    warnings: &mut Vec<String>,
) -> Vec<Process> {
    // Rounding to clock ticks can push a busy process a little past what its cores allow.
    let ceiling_pct = 100.0 * system.cpus().len().max(1) as f64;
    let everyone = system
        .processes()
        .values()
        .map(|process| {
            // Absent from the first reading: started during the window, from zero.
            let cpu_ms_before = cpu_ms_at_first.get(&process_key(process)).copied().unwrap_or(0);
            let cpu_ms = process.accumulated_cpu_time().saturating_sub(cpu_ms_before);
            Process {
                pid: process.pid().as_u32(),
                name: process.name().to_string_lossy().into_owned(),
                cpu_pct: percent_of_window(cpu_ms, seconds).min(ceiling_pct),
                rss_bytes: process.memory(),
                threads: None,
                open_files: None,
            }
        })
        .collect();
    let mut selected = select_top_processes(everyone, top);

    // Read only for the few selected: these are one file or directory per process.
    for process in &mut selected {
        let status = fs::read_to_string(format!("/proc/{}/status", process.pid)).ok();
        process.threads = status.as_deref().and_then(procfs::parse_thread_count);
        process.open_files = system
            .process(Pid::from_u32(process.pid))
            .and_then(|process| process.open_files())
            .map(|count| u32::try_from(count).unwrap_or(u32::MAX));
    }
    // A process may exit between the listing and these reads, and another user's file
    // descriptors are off limits without privileges: worth one line each, not one per process.
    let total = selected.len();
    let threads_unknown = selected.iter().filter(|p| p.threads.is_none()).count();
    if threads_unknown > 0 {
        warnings.push(format!(
            "thread count unknown for {threads_unknown} of {total} processes \
             (/proc/<pid>/status unreadable, or the process exited)"
        ));
    }
    let open_files_unknown = selected.iter().filter(|p| p.open_files.is_none()).count();
    if open_files_unknown > 0 {
        warnings.push(format!(
            "open files unknown for {open_files_unknown} of {total} processes \
             (/proc/<pid>/fd not readable without privileges, or the process exited)"
        ));
    }
    selected
}

/// The union of the `count` busiest processes by CPU and the `count` largest by resident
/// memory, ordered by CPU, then memory, then pid (so equal inputs give equal output).
fn select_top_processes(mut processes: Vec<Process>, count: usize) -> Vec<Process> {
    processes.sort_by(|a, b| b.rss_bytes.cmp(&a.rss_bytes).then(a.pid.cmp(&b.pid)));
    let largest: HashSet<u32> = processes.iter().take(count).map(|p| p.pid).collect();
    processes
        .sort_by(|a, b| b.cpu_pct.total_cmp(&a.cpu_pct).then(b.rss_bytes.cmp(&a.rss_bytes)).then(a.pid.cmp(&b.pid)));
    processes
        .into_iter()
        .enumerate()
        .filter(|(cpu_rank, process)| *cpu_rank < count || largest.contains(&process.pid))
        .map(|(_, process)| process)
        .collect()
}

fn meta_section(taken_at_ms: i64, elapsed: Duration, warnings: &mut Vec<String>) -> Meta {
    let hostname = hostname::get().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|error| {
        warnings.push(format!("cannot read the hostname: {error}"));
        "unknown".to_owned()
    });
    let kernel = System::kernel_version().unwrap_or_else(|error| {
        warnings.push(format!("cannot read the kernel version: {error}"));
        "unknown".to_owned()
    });
    // "Debian GNU/Linux 12"; the bare OS family when the distribution is not known.
    let os = match (System::name(), System::os_version()) {
        (Ok(name), Ok(version)) => format!("{name} {version}"),
        (Ok(name), Err(_)) => name,
        (Err(_), _) => std::env::consts::OS.to_owned(),
    };
    Meta {
        schema_version: SCHEMA_VERSION,
        taken_at_ms,
        window_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        hostname,
        os,
        kernel,
        sources: vec!["system".to_owned()],
    }
}

fn unix_millis_now() -> i64 {
    let millis = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since_epoch) => millis(since_epoch),
        // A clock set before 1970 still gets an honest (negative) timestamp.
        Err(error) => -millis(error.duration()),
    }
}

/// The one exit for floats: finite, and rounded to three decimals (see the module docs).
fn tidy(value: f64) -> f64 {
    if value.is_finite() { (value * 1000.0).round() / 1000.0 } else { 0.0 }
}

fn per_second(count: u64, seconds: f64) -> f64 {
    signed_per_second(count as f64, seconds)
}

fn signed_per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { tidy(amount / seconds) } else { 0.0 }
}

/// `part` as a share of `whole`, or `None` when `whole` is zero (nothing to share).
fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| clamp_percent(part as f64 / whole as f64 * 100.0))
}

/// Milliseconds of activity as a percentage of the window; over 100 when the activity
/// ran in parallel, as a process's threads can.
fn percent_of_window(active_ms: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { tidy(active_ms as f64 / (seconds * 1000.0) * 100.0) } else { 0.0 }
}

fn clamp_percent(value: f64) -> f64 {
    tidy(value).clamp(0.0, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, cpu_pct: f64, rss_bytes: u64) -> Process {
        Process { pid, name: format!("p{pid}"), cpu_pct, rss_bytes, threads: None, open_files: None }
    }

    fn pids(processes: &[Process]) -> Vec<u32> {
        processes.iter().map(|p| p.pid).collect()
    }

    #[test]
    fn top_processes_are_the_union_of_both_rankings_in_cpu_order() {
        let everyone = vec![
            process(1, 0.0, 10),
            process(2, 90.0, 20),
            process(3, 5.0, 9_000),
            process(4, 50.0, 30),
            process(5, 0.0, 8_000),
            process(6, 1.0, 40),
        ];
        // Top two by CPU: 2, 4. Top two by memory: 3, 5.
        assert_eq!(pids(&select_top_processes(everyone, 2)), [2, 4, 3, 5]);
    }

    #[test]
    fn ties_are_broken_by_memory_then_pid() {
        let everyone = vec![process(9, 10.0, 100), process(7, 10.0, 100), process(8, 10.0, 500)];
        assert_eq!(pids(&select_top_processes(everyone, 5)), [8, 7, 9]);
    }

    #[test]
    fn no_processes_selects_none() {
        assert!(select_top_processes(vec![process(1, 1.0, 1)], 0).is_empty());
    }

    #[test]
    fn floats_are_finite_and_short() {
        assert_eq!(tidy(f64::NAN), 0.0);
        assert_eq!(tidy(f64::INFINITY), 0.0);
        assert_eq!(tidy(2.0 / 3.0), 0.667);
        assert_eq!(per_second(10, 0.0), 0.0);
        assert_eq!(per_second(3, 0.3), 10.0);
        assert_eq!(signed_per_second(-4096.0, 2.0), -2048.0);
        assert_eq!(percent(1, 0), None);
        assert_eq!(percent(1, 3), Some(33.333));
        assert_eq!(percent(5, 3), Some(100.0));
        assert_eq!(percent_of_window(150, 0.3), 50.0);
        assert_eq!(percent_of_window(450, 0.3), 150.0);
        assert_eq!(percent_of_window(1, 0.0), 0.0);
        assert_eq!(clamp_percent(f64::NAN), 0.0);
    }

    #[test]
    fn tidy_values_survive_a_json_round_trip() {
        // An f64 with a 17-digit shortest form, which serde_json's default parser
        // reads back one ulp off.
        let awkward = 212_918_907.267_134_58;
        let tidied = tidy(awkward);
        let json = serde_json::to_string(&tidied).unwrap();
        assert_eq!(serde_json::from_str::<f64>(&json).unwrap(), tidied);
    }
}
