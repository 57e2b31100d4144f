//! The system source on the machine running the tests: no fixtures, only invariants that
//! hold on any Linux host (and a JSON round trip of what it produced).

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use perfsage_model::{SCHEMA_VERSION, Snapshot};
use perfsage_sources::system::{SystemSample, SystemSource};

/// Collects with a 300 ms window while a thread of this process spins, so the test
/// process ranks among the top processes by CPU whatever else the machine is doing.
fn collect_while_busy() -> SystemSample {
    let stop = AtomicBool::new(false);
    thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        let source = SystemSource { window: Duration::from_millis(300), ..SystemSource::default() };
        let sample = source.collect();
        stop.store(true, Ordering::Relaxed);
        sample.expect("the system source reads this machine")
    })
}

#[test]
fn collects_sane_figures_from_this_machine() {
    let sample = collect_while_busy();

    let meta = &sample.meta;
    assert_eq!(meta.schema_version, SCHEMA_VERSION);
    assert_eq!(meta.sources, ["system"]);
    assert!((250..2000).contains(&meta.window_ms), "window_ms {} for a 300 ms window", meta.window_ms);
    assert!(meta.taken_at_ms > 1_600_000_000_000, "taken_at_ms {}", meta.taken_at_ms);
    assert!(!meta.hostname.is_empty() && !meta.kernel.is_empty() && !meta.os.is_empty());

    let cpu = &sample.cpu;
    assert!(cpu.logical_cores >= 1);
    assert_eq!(cpu.per_core_pct.len(), cpu.logical_cores as usize);
    assert!((0.0..=100.0).contains(&cpu.utilization_pct), "{cpu:?}");
    assert!(cpu.per_core_pct.iter().all(|pct| (0.0..=100.0).contains(pct)), "{cpu:?}");
    assert!(cpu.load1 >= 0.0 && cpu.load5 >= 0.0 && cpu.load15 >= 0.0);
    for share in [cpu.iowait_pct, cpu.steal_pct].into_iter().flatten() {
        assert!((0.0..=100.0).contains(&share), "{cpu:?}");
    }
    // Linux always has /proc/stat, and a spinning thread is switched out now and then.
    if cfg!(target_os = "linux") {
        assert!(cpu.context_switches_per_sec.is_some_and(|rate| rate > 0.0), "{cpu:?}");
    }

    let memory = &sample.memory;
    assert!(memory.total_bytes > 0);
    assert!(memory.available_bytes <= memory.total_bytes, "{memory:?}");
    assert!(memory.used_bytes <= memory.total_bytes, "{memory:?}");
    assert!(memory.swap_used_bytes <= memory.swap_total_bytes, "{memory:?}");

    assert!(sample.disks.iter().any(|disk| disk.total_bytes > 0), "{:?}", sample.disks);
    for disk in &sample.disks {
        assert!(disk.used_bytes <= disk.total_bytes, "{disk:?}");
        if let (Some(total), Some(used)) = (disk.inodes_total, disk.inodes_used) {
            assert!(used <= total, "{disk:?}");
        }
        if let Some(busy) = disk.utilization_pct {
            assert!((0.0..=100.0).contains(&busy), "{disk:?}");
        }
    }

    let interfaces = &sample.network.interfaces;
    assert!(interfaces.iter().any(|i| i.name == "lo"), "{interfaces:?}");
    assert!(interfaces.iter().all(|i| i.rx_bytes_per_sec >= 0.0 && i.tx_bytes_per_sec >= 0.0));
    if let Some(share) = sample.network.tcp_retransmit_pct {
        assert!((0.0..=100.0).contains(&share));
    }

    let me = std::process::id();
    let processes = &sample.processes;
    let this_test =
        processes.iter().find(|p| p.pid == me).unwrap_or_else(|| panic!("pid {me} missing from {processes:?}"));
    assert!(this_test.cpu_pct > 0.0, "{this_test:?}");
    assert!(this_test.rss_bytes > 0, "{this_test:?}");
    // The main thread, the test thread and the spinner at least; our own fds are ours to count.
    assert!(this_test.threads.is_some_and(|n| n >= 2), "{this_test:?}");
    assert!(this_test.open_files.is_some_and(|n| n >= 1), "{this_test:?}");
    assert!(processes.len() <= 2 * SystemSource::default().top_processes);
    assert!(processes.windows(2).all(|pair| pair[0].cpu_pct >= pair[1].cpu_pct), "not ordered by CPU: {processes:?}");
}

#[test]
fn the_snapshot_holds_the_system_sections_and_survives_json() {
    let snapshot = collect_while_busy().into_snapshot();
    assert!(snapshot.cpu.is_some() && snapshot.memory.is_some() && snapshot.disks.is_some());
    assert!(snapshot.network.is_some() && snapshot.processes.is_some());
    assert!(snapshot.endpoints.is_none() && snapshot.queries.is_none());
    assert!(snapshot.databases.is_none() && snapshot.series.is_none());

    let json = serde_json::to_string(&snapshot).expect("a snapshot serializes");
    let reloaded: Snapshot = serde_json::from_str(&json).expect("and deserializes");
    assert_eq!(reloaded, snapshot);
}
