//! Built-in rule plugin `disk`: is a filesystem full, about to fill, or its
//! device too busy?
//!
//! It applies Brendan Gregg's USE method to each mounted filesystem:
//!
//! - **utilization** of capacity (`disk/space-used`, `disk/inodes-used`):
//!   space or inodes used above `space_used_high_pct` / `inode_used_high_pct`.
//!   A full disk fails writes whatever the threshold was, so severity goes by
//!   absolute fullness: over the threshold `medium`, from 95 % `high`, from
//!   98 % `critical`.
//! - **utilization** of the device (`disk/busy`): the share of the window the
//!   device was busy, above `busy_high_pct`. Devices that serve requests in
//!   parallel (SSDs, arrays) can look 100 % busy with room to spare, so this
//!   stops at `high`.
//! - **which mount fills first** (`disk/fills-soon`): where the snapshot knows
//!   a growth trend, the hours until the filesystem is full, for every one that
//!   fills within `fill_horizon_hours`, ranked soonest first and named so in
//!   the titles. Severity goes by the clock: within 6 h `critical`, within a
//!   day `high`, later `medium`.
//!
//! Pseudo and read-only filesystems (tmpfs, proc, squashfs, ...) and empty
//! ones are ignored; overlay is checked. A filesystem seen through several
//! mounts (bind mounts, btrfs subvolumes, container overlays on a Docker host)
//! is checked once, under its shortest mount. Targets read `disk <mount>`.

use perfsage_sdk::metrics::{human_bytes, human_duration, pct};
use perfsage_sdk::*;

/// The `disk` rule plugin.
pub struct Plugin;

/// Filesystem types that hold no persistent data or cannot be written.
const IGNORED_FILESYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// Fullness (space or inodes, %) from which a finding is `high`, and `critical`.
const HIGH_FULLNESS_PCT: f64 = 95.0;
const CRITICAL_FULLNESS_PCT: f64 = 98.0;

/// Hours to full within which `disk/fills-soon` is `critical`, and `high`.
const CRITICAL_WITHIN_HOURS: f64 = 6.0;
const HIGH_WITHIN_HOURS: f64 = 24.0;

/// Age in days from which the `clean-old-files` hook removes files.
const CLEAN_OLDER_THAN_DAYS: u32 = 14;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "disk",
            env!("CARGO_PKG_VERSION"),
            "Filesystem space and inodes, device busy time, and which mount fills first",
            Category::Hardware,
        )
        .needs(&[Section::Disks])
        .param(
            param::number("space_used_high_pct", "Space used on a filesystem above which it is too full", "%", 85.0)
                .range(1.0, 100.0),
        )
        .param(
            param::number(
                "inode_used_high_pct",
                "Inodes used on a filesystem above which it runs out of files",
                "%",
                85.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "busy_high_pct",
                "Share of the window a device was busy above which it is the bottleneck",
                "%",
                90.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number("fill_horizon_hours", "How far ahead to warn that a growing filesystem fills up", "h", 24.0)
                .range(1.0, 8760.0),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let disks = snapshot.disks.as_ref().ok_or("the snapshot has no disks section")?;
        let filesystems = checked_filesystems(disks);
        let mut findings = Vec::new();
        for fs in &filesystems {
            findings.extend(space_used(fs, config.number("space_used_high_pct")));
            findings.extend(inodes_used(fs, config.number("inode_used_high_pct")));
            findings.extend(busy(fs, config.number("busy_high_pct")));
        }
        findings.extend(fills_soon(&filesystems, config.number("fill_horizon_hours")));
        Ok(findings)
    }
}

export_rule!(Plugin);

fn space_used(fs: &Disk, threshold: f64) -> Option<Finding> {
    let used_pct = pct(fs.used_bytes as f64, fs.total_bytes as f64);
    if used_pct <= threshold {
        return None;
    }
    let title = format!(
        "{} is {used_pct:.1}% full: {} free of {} (threshold {threshold:.0}%)",
        fs.mount,
        human_bytes(fs.total_bytes.saturating_sub(fs.used_bytes) as f64),
        human_bytes(fs.total_bytes as f64)
    );
    // Enough to bring use back under the threshold.
    let grow_by = fs.used_bytes as f64 / (threshold / 100.0) - fs.total_bytes as f64;
    Some(
        Finding::new(
            "disk/space-used",
            title,
            Category::Hardware,
            severity::rising(used_pct, HIGH_FULLNESS_PCT, CRITICAL_FULLNESS_PCT),
            target(fs),
        )
        .evidence("space used", used_pct, threshold, "%")
        .action(clean_old_files(fs, &format!("du -xh --max-depth=2 {} | sort -h | tail", fs.mount)))
        .action(grow_volume(fs, grow_by)),
    )
}

fn inodes_used(fs: &Disk, threshold: f64) -> Option<Finding> {
    let (total, used) = (fs.inodes_total?, fs.inodes_used?);
    let used_pct = pct(used as f64, total as f64);
    if used_pct <= threshold {
        return None;
    }
    let title = format!(
        "{} has used {used_pct:.1}% of its inodes: {} files left (threshold {threshold:.0}%)",
        fs.mount,
        total.saturating_sub(used)
    );
    // Growing an ext4 or xfs filesystem adds inodes in proportion to its size.
    let grow_by = fs.total_bytes as f64 * (used_pct / threshold - 1.0);
    Some(
        Finding::new(
            "disk/inodes-used",
            title,
            Category::Hardware,
            severity::rising(used_pct, HIGH_FULLNESS_PCT, CRITICAL_FULLNESS_PCT),
            target(fs),
        )
        .evidence("inodes used", used_pct, threshold, "%")
        .action(clean_old_files(fs, &format!("du -x --inodes --max-depth=3 {} | sort -n | tail", fs.mount)))
        .action(grow_volume(fs, grow_by)),
    )
}

fn busy(fs: &Disk, threshold: f64) -> Option<Finding> {
    let busy_pct = fs.utilization_pct.filter(|busy| *busy > threshold)?;
    let severity = severity::high_past_half_headroom(busy_pct, threshold);
    let title = format!("{} on {} is busy {busy_pct:.0}% of the time (threshold {threshold:.0}%)", fs.device, fs.mount);
    let action =
        Action::new("disk.move-hot-data", format!("Move the hottest data off {}", fs.device), Category::Hardware)
            .detail(format!(
                "The device is the bottleneck: requests queue behind it. `iostat -x 1 {}` shows reads \
         against writes and `pidstat -d 1` (or `iotop -o`) which process drives them; move the \
         hottest data (database WAL, temp files, logs) to a separate or faster device (NVMe, \
         provisioned IOPS), or cut the I/O with more memory for caching.",
                fs.device
            ))
            .impact(0.6)
            .confidence(0.5)
            .effort(Level::High)
            .risk(Level::Medium);
    Some(
        Finding::new("disk/busy", title, Category::Hardware, severity, target(fs))
            .evidence("device busy", busy_pct, threshold, "%")
            .action(action),
    )
}

/// One finding per filesystem that fills within the horizon, soonest first;
/// the titles say which fills first.
fn fills_soon(filesystems: &[&Disk], horizon_hours: f64) -> Vec<Finding> {
    let mut filling: Vec<(&Disk, f64, f64)> = filesystems
        .iter()
        .filter_map(|fs| {
            let growth = fs.growth_bytes_per_sec.filter(|g| *g > 0.0)?;
            let hours = fs.total_bytes.saturating_sub(fs.used_bytes) as f64 / growth / 3600.0;
            (hours < horizon_hours).then_some((*fs, growth, hours))
        })
        .collect();
    filling.sort_by(|a, b| a.2.total_cmp(&b.2).then_with(|| a.0.mount.cmp(&b.0.mount)));
    let first_to_fill = filling.first().map(|(fs, _, _)| fs.mount.clone()).unwrap_or_default();
    let count = filling.len();
    filling
        .into_iter()
        .enumerate()
        .map(|(rank, (fs, growth, hours))| {
            let order = match (count, rank) {
                (1, _) => String::new(),
                (_, 0) => format!(", first of {count} to fill"),
                _ => format!(", after {first_to_fill}"),
            };
            let title = format!(
                "{} full in {} at {}/h (horizon {horizon_hours:.0} h{order})",
                fs.mount,
                human_duration(hours * 3600.0),
                human_bytes(growth * 3600.0)
            );
            let survey = format!("find {} -xdev -type f -mmin -60 -size +10M", fs.mount);
            Finding::new(
                "disk/fills-soon",
                title,
                Category::Hardware,
                severity::falling(hours, HIGH_WITHIN_HOURS, CRITICAL_WITHIN_HOURS),
                target(fs),
            )
            .evidence("hours until full", hours, horizon_hours, "h")
            .evidence("growth", growth, 0.0, "bytes/s")
            .action(clean_old_files(fs, &survey))
            .action(grow_volume(fs, growth * horizon_hours * 3600.0))
        })
        .collect()
}

fn clean_old_files(fs: &Disk, survey_command: &str) -> Action {
    Action::new(
        "disk.clean-old-files",
        format!("Delete files older than {CLEAN_OLDER_THAN_DAYS} days under {}", fs.mount),
        Category::Software,
    )
    .detail(format!(
        "Find what takes the room with `{survey_command}`, then rotate or delete old logs, caches, \
         session files and dumps. The hook removes files older than {CLEAN_OLDER_THAN_DAYS} days \
         under {}: review its dry run (`perfsage plan`) before applying.",
        fs.mount
    ))
    .impact(0.5)
    .confidence(0.5)
    .risk(Level::Medium)
    .hook("clean-old-files")
    .param("dir", &fs.mount)
    .param("older_than_days", CLEAN_OLDER_THAN_DAYS)
}

fn grow_volume(fs: &Disk, grow_by_bytes: f64) -> Action {
    let grow_by_gib = (grow_by_bytes / f64::from(1u32 << 30)).ceil().max(1.0);
    let how = if fs.device.starts_with("/dev/mapper/") {
        format!("`lvextend -r -L +{grow_by_gib}G {}` grows the volume and the filesystem", fs.device)
    } else {
        let resize = match fs.filesystem.as_str() {
            "xfs" => format!("`xfs_growfs {}`", fs.mount),
            ext if ext.starts_with("ext") => format!("`resize2fs {}`", fs.device),
            _ => "the filesystem's online resize".to_string(),
        };
        format!("grow the disk (and its partition with `growpart`, if it has one), then run {resize}")
    };
    Action::new("disk.grow-volume", format!("Grow {} by at least {grow_by_gib} GiB", fs.mount), Category::Hardware)
        .detail(format!("More capacity removes the limit outright: {how}."))
        .impact(0.9)
        .confidence(0.8)
        .effort(Level::Medium)
        .risk(Level::Medium)
}

/// The filesystems worth checking, sorted by mount: real ones, each once.
fn checked_filesystems(disks: &[Disk]) -> Vec<&Disk> {
    let mut candidates: Vec<&Disk> =
        disks.iter().filter(|d| d.total_bytes > 0 && !IGNORED_FILESYSTEMS.contains(&d.filesystem.as_str())).collect();
    // A filesystem seen through several mounts is checked under the shortest.
    candidates.sort_by(|a, b| (a.mount.len(), &a.mount).cmp(&(b.mount.len(), &b.mount)));
    let mut checked: Vec<&Disk> = Vec::new();
    for fs in candidates {
        if !checked.iter().any(|seen| same_filesystem(seen, fs)) {
            checked.push(fs);
        }
    }
    checked.sort_by(|a, b| a.mount.cmp(&b.mount));
    checked
}

/// Bind mounts and btrfs subvolumes share a device; an overlay mount (a
/// container's root, or one of its layers on the host) reports the size and
/// use of the filesystem beneath it, to the byte.
fn same_filesystem(a: &Disk, b: &Disk) -> bool {
    let same_device = !a.device.is_empty() && a.device == b.device;
    let is_overlay = |fs: &Disk| fs.filesystem == "overlay";
    let same_usage = (a.total_bytes, a.used_bytes) == (b.total_bytes, b.used_bytes);
    same_device || ((is_overlay(a) || is_overlay(b)) && same_usage)
}

fn target(fs: &Disk) -> String {
    format!("disk {}", fs.mount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check};

    const GIB: u64 = 1 << 30;

    fn disk(mount: &str, device: &str, filesystem: &str, total_gib: u64, used_pct: f64) -> Disk {
        Disk {
            mount: mount.into(),
            device: device.into(),
            filesystem: filesystem.into(),
            total_bytes: total_gib * GIB,
            used_bytes: (total_gib as f64 * GIB as f64 * used_pct / 100.0) as u64,
            inodes_total: Some(1_000_000),
            inodes_used: Some(100_000),
            read_bytes_per_sec: Some(1.0e6),
            write_bytes_per_sec: Some(2.0e6),
            utilization_pct: Some(10.0),
            growth_bytes_per_sec: None,
        }
    }

    fn snapshot(disks: Vec<Disk>) -> Snapshot {
        Snapshot { disks: Some(disks), ..testing::empty_snapshot() }
    }

    fn run(disks: Vec<Disk>, overrides: &[(&str, f64)]) -> Vec<Finding> {
        check::<Plugin>(&snapshot(disks), testing::numbers(overrides)).unwrap()
    }

    fn summary(findings: &[Finding]) -> Vec<(&str, &str, Severity)> {
        findings.iter().map(|f| (f.rule.as_str(), f.target.as_str(), f.severity)).collect()
    }

    #[test]
    fn space_severity_goes_by_absolute_fullness() {
        for (used_pct, expected) in [
            (80.0, vec![]),
            (90.0, vec![Severity::Medium]),
            (96.0, vec![Severity::High]),
            (99.0, vec![Severity::Critical]),
        ] {
            let findings = run(vec![disk("/var", "/dev/sdb1", "ext4", 100, used_pct)], &[]);
            let severities: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
            assert_eq!(severities, expected, "{used_pct}% used");
        }
    }

    #[test]
    fn pseudo_empty_and_repeated_filesystems_are_skipped() {
        let findings = run(
            vec![
                disk("/run", "tmpfs", "tmpfs", 3, 99.0),
                disk("/snap/core22/1963", "/dev/loop0", "squashfs", 1, 100.0),
                Disk { total_bytes: 0, ..disk("/mnt/empty", "/dev/sdc", "ext4", 0, 0.0) },
                disk("/srv/sessions", "/dev/sda2", "ext4", 50, 90.0),
                disk("/var/lib/docker/overlay2/9c41e0/merged", "overlay", "overlay", 50, 90.0),
                disk("/", "/dev/sda2", "ext4", 50, 90.0),
            ],
            &[],
        );
        assert_eq!(summary(&findings), [("disk/space-used", "disk /", Severity::Medium)]);
    }

    #[test]
    fn inodes_and_busy_devices_fire() {
        let mut sessions = disk("/", "/dev/sda2", "ext4", 50, 40.0);
        sessions.inodes_used = Some(990_000);
        let mut database = disk("/var/lib/postgresql", "/dev/nvme1n1", "xfs", 500, 40.0);
        database.utilization_pct = Some(99.0);
        assert_eq!(
            summary(&run(vec![database, sessions], &[])),
            [
                ("disk/inodes-used", "disk /", Severity::Critical),
                ("disk/busy", "disk /var/lib/postgresql", Severity::High),
            ]
        );
    }

    #[test]
    fn the_mount_that_fills_first_is_ranked_first_and_named() {
        let mut logs = disk("/var", "/dev/sdb1", "ext4", 100, 50.0); // 50 GiB free
        logs.growth_bytes_per_sec = Some(50.0 * GIB as f64 / (4.0 * 3600.0)); // full in 4 h
        let mut data = disk("/data", "/dev/sdc1", "xfs", 100, 50.0);
        data.growth_bytes_per_sec = Some(50.0 * GIB as f64 / (20.0 * 3600.0)); // full in 20 h
        let mut slow = disk("/srv", "/dev/sdd1", "xfs", 100, 50.0);
        slow.growth_bytes_per_sec = Some(50.0 * GIB as f64 / (30.0 * 3600.0)); // beyond the horizon
        let findings = run(vec![data, slow.clone(), logs], &[]);
        assert_eq!(
            summary(&findings),
            [("disk/fills-soon", "disk /var", Severity::Critical), ("disk/fills-soon", "disk /data", Severity::High)]
        );
        assert_eq!(findings[0].title, "/var full in 4.0 h at 12.5 GiB/h (horizon 24 h, first of 2 to fill)");
        assert!(findings[1].title.ends_with("after /var)"));
        let clean = &findings[0].actions[0];
        assert_eq!(clean.hook.as_deref(), Some("clean-old-files"));
        assert_eq!(clean.params[0], HookParam { key: "dir".into(), value: "/var".into() });
        let later = run(vec![slow], &[("fill_horizon_hours", 48.0)]);
        assert_eq!(summary(&later), [("disk/fills-soon", "disk /srv", Severity::Medium)]);
    }
}
