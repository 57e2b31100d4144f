//! Which mounts count as disks, how full they are, and which block device serves them.
//!
//! sysinfo lists the mounts (portably, and already without most kernel pseudo
//! filesystems); [`select_real_mounts`] applies perfsage's own filter on top so the result
//! does not depend on sysinfo's cargo features (`linux-tmpfs` would bring tmpfs back), and
//! keeps one row per filesystem. Space and inodes come from `statvfs(3)`, which sysinfo
//! does not expose inodes from. I/O counters are matched to a mount through the device
//! number of its root (`st_dev`), which resolves `/dev/root`, `/dev/mapper/*` and
//! partitions without guessing from names; by kernel name when the device number is
//! anonymous (btrfs, overlay, network filesystems).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use sysinfo::{DiskRefreshKind, Disks};

use super::procfs::BlockDeviceCounters;

/// A mounted filesystem the system source reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    /// The mount source as `/proc/mounts` names it: `/dev/sda1`, `/dev/mapper/vg-root`, `overlay`.
    pub device: String,
    pub filesystem: String,
    /// `st_dev` of the mount point, where known.
    pub device_number: Option<u64>,
    /// The device's name in `/proc/diskstats` (`dm-0` for `/dev/mapper/vg-root`), for
    /// devices under `/dev`.
    pub kernel_name: Option<String>,
}

/// The mounts worth reporting: real filesystems, one row each.
pub fn list_mounts(warnings: &mut Vec<String>) -> Vec<Mount> {
    let disks = match Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing()) {
        Ok(disks) => disks,
        Err(error) => {
            warnings.push(format!("cannot list mounted filesystems: {error}"));
            return Vec::new();
        }
    };
    let mounts = disks
        .iter()
        .map(|disk| {
            let device = disk.name().to_string_lossy().into_owned();
            Mount {
                mount_point: disk.mount_point().to_owned(),
                kernel_name: kernel_device_name(&device),
                device,
                filesystem: disk.file_system().to_string_lossy().into_owned(),
                device_number: disk.id(),
            }
        })
        .collect();
    select_real_mounts(mounts)
}

/// The kernel's name for a device under `/dev`, following symlinks such as
/// `/dev/mapper/vg-root -> ../dm-0` or `/dev/disk/by-uuid/...`.
fn kernel_device_name(device: &str) -> Option<String> {
    let path = Path::new(device);
    path.strip_prefix("/dev").ok()?;
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let name = resolved.strip_prefix("/dev").ok()?;
    Some(name.to_string_lossy().into_owned())
}

/// Filesystems that hold no user data on a disk: kernel interfaces, memory-backed and
/// read-only image filesystems. `overlay` stays: it is a container's root and fills up.
fn is_pseudo_filesystem(filesystem: &str) -> bool {
    matches!(
        filesystem,
        "autofs"
            | "binfmt_misc"
            | "bpf"
            | "cgroup"
            | "cgroup2"
            | "configfs"
            | "debugfs"
            | "devpts"
            | "devtmpfs"
            | "efivarfs"
            | "fusectl"
            | "hugetlbfs"
            | "iso9660"
            | "mqueue"
            | "nsfs"
            | "proc"
            | "pstore"
            | "ramfs"
            | "rootfs"
            | "rpc_pipefs"
            | "securityfs"
            | "selinuxfs"
            | "squashfs"
            | "sysfs"
            | "tmpfs"
            | "tracefs"
    ) || filesystem.starts_with("fuse.lxcfs")
}

/// Drops pseudo filesystems and keeps one row per filesystem:
/// - a mount point mounted over keeps its last (visible) entry, which is the one
///   `statvfs` describes;
/// - mounts of the same filesystem (same `st_dev`: bind mounts, such as the
///   `/etc/hosts` a container runtime mounts from the host's disk) keep the shortest
///   mount point, so one full disk is one finding, not five.
fn select_real_mounts(mounts: Vec<Mount>) -> Vec<Mount> {
    let mut by_mount_point: Vec<Mount> = Vec::new();
    for mount in mounts {
        if is_pseudo_filesystem(&mount.filesystem) {
            continue;
        }
        match by_mount_point.iter_mut().find(|kept| kept.mount_point == mount.mount_point) {
            Some(kept) => *kept = mount,
            None => by_mount_point.push(mount),
        }
    }

    let mut shortest_for_device: HashMap<u64, usize> = HashMap::new();
    for (index, mount) in by_mount_point.iter().enumerate() {
        let Some(device_number) = mount.device_number else {
            continue;
        };
        let shortest = shortest_for_device.entry(device_number).or_insert(index);
        let kept = &by_mount_point[*shortest].mount_point;
        if mount_point_order(&mount.mount_point) < mount_point_order(kept) {
            *shortest = index;
        }
    }
    by_mount_point
        .into_iter()
        .enumerate()
        .filter(|(index, mount)| {
            mount.device_number.is_none_or(|device_number| shortest_for_device[&device_number] == *index)
        })
        .map(|(_, mount)| mount)
        .collect()
}

/// Shorter mount points first, then alphabetical, so the choice is deterministic.
fn mount_point_order(mount_point: &Path) -> (usize, &Path) {
    (mount_point.as_os_str().len(), mount_point)
}

/// Space and inode use of one filesystem at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilesystemUsage {
    pub total_bytes: u64,
    pub used_bytes: u64,
    /// `None` where the filesystem has no fixed inode table (btrfs, vfat report zero).
    pub inodes_total: Option<u64>,
    pub inodes_used: Option<u64>,
}

impl FilesystemUsage {
    /// Used is what `df` shows: all blocks minus free blocks, so it includes the blocks
    /// reserved for root (they are not available to an application either).
    fn from_statvfs(fragment_size: u64, blocks: u64, free_blocks: u64, inodes: u64, free_inodes: u64) -> Self {
        let has_inode_table = inodes > 0;
        FilesystemUsage {
            total_bytes: blocks.saturating_mul(fragment_size),
            used_bytes: blocks.saturating_sub(free_blocks).saturating_mul(fragment_size),
            inodes_total: has_inode_table.then_some(inodes),
            inodes_used: has_inode_table.then(|| inodes.saturating_sub(free_inodes)),
        }
    }
}

/// `statvfs(3)` of a mount point.
#[cfg(unix)]
// The statvfs field types differ between platforms (u32 on some, u64 on others).
#[allow(clippy::useless_conversion)]
pub fn filesystem_usage(mount_point: &Path) -> io::Result<FilesystemUsage> {
    use std::ffi::CString;
    use std::mem::MaybeUninit;
    use std::os::unix::ffi::OsStrExt;

    let path = CString::new(mount_point.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `stat` is a valid place for
    // statvfs to write its result.
    if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    Ok(FilesystemUsage::from_statvfs(
        u64::from(stat.f_frsize),
        u64::from(stat.f_blocks),
        u64::from(stat.f_bfree),
        u64::from(stat.f_files),
        u64::from(stat.f_ffree),
    ))
}

/// Without `statvfs` there is no portable way to read space and inodes.
#[cfg(not(unix))]
pub fn filesystem_usage(_mount_point: &Path) -> io::Result<FilesystemUsage> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "statvfs is only available on Unix"))
}

/// The `/proc/diskstats` row of the device behind `mount`: by device number, or by
/// kernel name when the device number is anonymous (major 0) or has no row.
pub fn device_counters<'a>(devices: &'a [BlockDeviceCounters], mount: &Mount) -> Option<&'a BlockDeviceCounters> {
    let by_number = mount
        .device_number
        .map(split_device_number)
        .filter(|(major, _)| *major != 0)
        .and_then(|(major, minor)| devices.iter().find(|device| device.major == major && device.minor == minor));
    by_number.or_else(|| {
        let name = mount.kernel_name.as_deref()?;
        devices.iter().find(|device| device.name == name)
    })
}

/// Splits a Linux `dev_t` into (major, minor), the glibc encoding: 12 bits of major and
/// 20 of minor, interleaved. Only Linux has `/proc/diskstats`, so only its encoding matters.
fn split_device_number(device_number: u64) -> (u32, u32) {
    let major = ((device_number >> 8) & 0xfff) | ((device_number >> 32) & 0xffff_f000);
    let minor = (device_number & 0xff) | ((device_number >> 12) & 0xffff_ff00);
    // Both are masked to 32 bits above.
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(mount_point: &str, device: &str, filesystem: &str, dev: Option<u64>) -> Mount {
        Mount {
            mount_point: PathBuf::from(mount_point),
            device: device.into(),
            filesystem: filesystem.into(),
            device_number: dev,
            kernel_name: device.strip_prefix("/dev/").map(str::to_owned),
        }
    }

    fn mount_points(mounts: &[Mount]) -> Vec<&str> {
        mounts.iter().map(|m| m.mount_point.to_str().unwrap()).collect()
    }

    #[test]
    fn pseudo_filesystems_are_dropped_and_overlay_kept() {
        let mounts = vec![
            mount("/proc", "proc", "proc", Some(22)),
            mount("/sys/fs/cgroup", "cgroup2", "cgroup2", Some(26)),
            mount("/dev/shm", "tmpfs", "tmpfs", Some(24)),
            mount("/snap/core/1", "/dev/loop0", "squashfs", Some(1792)),
            mount("/run/netns/a", "nsfs", "nsfs", Some(4)),
            mount("/", "overlay", "overlay", Some(60)),
            mount("/data", "/dev/sdb1", "xfs", Some(2065)),
        ];
        assert_eq!(mount_points(&select_real_mounts(mounts)), ["/", "/data"]);
    }

    #[test]
    fn a_mount_point_mounted_over_keeps_its_visible_entry() {
        let mounts =
            vec![mount("/mnt", "/dev/sdb1", "ext4", Some(2065)), mount("/mnt", "/dev/sdc1", "xfs", Some(2081))];
        let kept = select_real_mounts(mounts);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].device, "/dev/sdc1");
    }

    #[test]
    fn bind_mounts_of_one_filesystem_keep_the_shortest_mount_point() {
        let mounts = vec![
            mount("/etc/hosts", "/dev/vda", "ext4", Some(65024)),
            mount("/", "/dev/vda", "ext4", Some(65024)),
            mount("/etc/resolv.conf", "/dev/vda", "ext4", Some(65024)),
            mount("/var/lib/data", "/dev/vdb", "ext4", Some(65040)),
            mount("/nfs", "server:/export", "nfs4", None),
        ];
        assert_eq!(mount_points(&select_real_mounts(mounts)), ["/", "/var/lib/data", "/nfs"]);
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        // makedev(254, 0), makedev(8, 17), makedev(259, 1), makedev(4095, 1048575) and
        // makedev(0x12345, 0x6789a), whose high bits live above bit 32.
        assert_eq!(split_device_number(0xfe00), (254, 0));
        assert_eq!(split_device_number(0x0811), (8, 17));
        assert_eq!(split_device_number(0x1_0301), (259, 1));
        assert_eq!(split_device_number(0xffff_ffff), (4095, 1_048_575));
        assert_eq!(split_device_number(0x1_2000_6783_459a), (0x12345, 0x6789a));
    }

    fn counters(major: u32, minor: u32, name: &str) -> BlockDeviceCounters {
        BlockDeviceCounters { major, minor, name: name.into(), sectors_read: 0, sectors_written: 0, busy_ms: 0 }
    }

    #[test]
    fn devices_are_matched_by_number_then_by_name() {
        let devices = [counters(254, 0, "vda"), counters(253, 0, "dm-0"), counters(8, 1, "sda1")];
        // `/dev/root` has no row of that name, but its device number finds `vda`.
        let root = mount("/", "/dev/root", "ext4", Some(0xfe00));
        assert_eq!(device_counters(&devices, &root).unwrap().name, "vda");
        // btrfs reports an anonymous device number (major 0): fall back to the name.
        let mut btrfs = mount("/home", "/dev/sda1", "btrfs", Some(0x2d));
        assert_eq!(device_counters(&devices, &btrfs).unwrap().name, "sda1");
        btrfs.kernel_name = Some("dm-0".into());
        assert_eq!(device_counters(&devices, &btrfs).unwrap().name, "dm-0");
        // overlay has neither.
        let overlay = mount("/", "overlay", "overlay", Some(0x3c));
        assert_eq!(device_counters(&devices, &overlay), None);
    }

    #[test]
    fn kernel_names_only_exist_for_devices() {
        assert_eq!(kernel_device_name("overlay"), None);
        assert_eq!(kernel_device_name("server:/export"), None);
        // A device node that does not exist here keeps its own name.
        assert_eq!(kernel_device_name("/dev/perfsage-test-missing").as_deref(), Some("perfsage-test-missing"));
    }

    #[test]
    fn statvfs_numbers_become_bytes_and_inodes() {
        let usage = FilesystemUsage::from_statvfs(4096, 1000, 250, 640, 600);
        assert_eq!(usage.total_bytes, 4_096_000);
        assert_eq!(usage.used_bytes, 3_072_000);
        assert_eq!(usage.inodes_total, Some(640));
        assert_eq!(usage.inodes_used, Some(40));
        let btrfs = FilesystemUsage::from_statvfs(4096, 1000, 250, 0, 0);
        assert_eq!(btrfs.inodes_total, None);
        assert_eq!(btrfs.inodes_used, None);
    }
}
