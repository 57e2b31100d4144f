//! Parsers for the Linux `/proc` and `/sys` files the system source reads.
//!
//! Each parser takes a file's text and returns plain numbers: no file access, so every
//! one is tested below with literal samples. Input a parser does not understand yields
//! `None` or a skipped line, never a guess; the caller turns that into a warning.
//!
//! The counters here are cumulative since boot. Rates come from the difference of two
//! readings, which the parent module computes with `saturating_sub` so that a counter
//! reset (an interface re-created, a wrap) reads as zero activity instead of a huge number.

/// `/proc/diskstats` counts sectors of 512 bytes whatever the device's real sector size.
pub const SECTOR_BYTES: u64 = 512;

/// Cumulative CPU time of all cores (the aggregate `cpu` line of `/proc/stat`), in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTicks {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTicks {
    /// All accounted time. `guest` and `guest_nice` are left out: the kernel already
    /// counts them in `user` and `nice`.
    pub fn total(&self) -> u64 {
        [self.user, self.nice, self.system, self.idle, self.iowait, self.irq, self.softirq, self.steal]
            .iter()
            .fold(0u64, |sum, ticks| sum.saturating_add(*ticks))
    }
}

/// What the system source needs from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatCounters {
    pub cpu: CpuTicks,
    pub context_switches: u64,
}

impl StatCounters {
    /// The activity between `earlier` and `self`.
    pub fn since(&self, earlier: &StatCounters) -> StatCounters {
        let (now, then) = (&self.cpu, &earlier.cpu);
        StatCounters {
            cpu: CpuTicks {
                user: now.user.saturating_sub(then.user),
                nice: now.nice.saturating_sub(then.nice),
                system: now.system.saturating_sub(then.system),
                idle: now.idle.saturating_sub(then.idle),
                iowait: now.iowait.saturating_sub(then.iowait),
                irq: now.irq.saturating_sub(then.irq),
                softirq: now.softirq.saturating_sub(then.softirq),
                steal: now.steal.saturating_sub(then.steal),
            },
            context_switches: self.context_switches.saturating_sub(earlier.context_switches),
        }
    }
}

/// Parses `/proc/stat`: the aggregate `cpu` line and `ctxt`. Columns that old kernels lack
/// (iowait before 2.6, steal before 2.6.11) read as zero; fewer than the four basic ones
/// (user, nice, system, idle) is not a `/proc/stat` we understand.
pub fn parse_stat(text: &str) -> Option<StatCounters> {
    let mut cpu = None;
    let mut context_switches = None;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let ticks: Vec<u64> = fields.map_while(|field| field.parse().ok()).collect();
                if ticks.len() < 4 {
                    return None;
                }
                let column = |index: usize| ticks.get(index).copied().unwrap_or(0);
                cpu = Some(CpuTicks {
                    user: column(0),
                    nice: column(1),
                    system: column(2),
                    idle: column(3),
                    iowait: column(4),
                    irq: column(5),
                    softirq: column(6),
                    steal: column(7),
                });
            }
            Some("ctxt") => context_switches = fields.next().and_then(|n| n.parse().ok()),
            _ => {}
        }
    }
    Some(StatCounters { cpu: cpu?, context_switches: context_switches? })
}

/// What the system source needs from `/proc/vmstat`; each is `None` when the kernel does
/// not report it (`oom_kill` appeared in 4.13, `pswpin`/`pswpout` need swap support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VmCounters {
    pub swap_in_pages: Option<u64>,
    pub swap_out_pages: Option<u64>,
    pub major_faults: Option<u64>,
    pub oom_kills: Option<u64>,
}

/// Parses `/proc/vmstat` (`name value` lines).
pub fn parse_vmstat(text: &str) -> VmCounters {
    let mut counters = VmCounters::default();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        let slot = match name {
            "pswpin" => &mut counters.swap_in_pages,
            "pswpout" => &mut counters.swap_out_pages,
            "pgmajfault" => &mut counters.major_faults,
            "oom_kill" => &mut counters.oom_kills,
            _ => continue,
        };
        *slot = value.trim().parse().ok();
    }
    counters
}

/// One block device's cumulative I/O from `/proc/diskstats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDeviceCounters {
    pub major: u32,
    pub minor: u32,
    /// The kernel's name: `sda1`, `nvme0n1p2`, `dm-0`.
    pub name: String,
    pub sectors_read: u64,
    pub sectors_written: u64,
    /// Milliseconds the device had I/O in flight (`io_ticks`): its busy time.
    pub busy_ms: u64,
}

/// Parses `/proc/diskstats`. Columns: major, minor, name, then reads completed, reads
/// merged, sectors read, ms reading, writes completed, writes merged, sectors written,
/// ms writing, I/Os in progress, ms doing I/O, ... (newer kernels append discard and
/// flush columns, which are ignored). Lines too short to hold `io_ticks` are skipped.
pub fn parse_diskstats(text: &str) -> Vec<BlockDeviceCounters> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
            Some(BlockDeviceCounters {
                major: fields.first()?.parse().ok()?,
                minor: fields.get(1)?.parse().ok()?,
                name: (*fields.get(2)?).to_owned(),
                sectors_read: number(5)?,
                sectors_written: number(9)?,
                busy_ms: number(12)?,
            })
        })
        .collect()
}

/// One network interface's cumulative counters from `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_drops: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_drops: u64,
}

/// Parses `/proc/net/dev`: two header lines, then `name: ` and eight receive columns
/// (bytes packets errs drop fifo frame compressed multicast) and eight transmit columns
/// (bytes packets errs drop fifo colls carrier compressed).
pub fn parse_net_dev(text: &str) -> Vec<InterfaceCounters> {
    text.lines()
        .filter_map(|line| {
            // The header lines have no colon; an interface line is `name: counters`.
            let (name, counters) = line.split_once(':')?;
            let counters: Vec<u64> =
                counters.split_whitespace().map(|field| field.parse().ok()).collect::<Option<_>>()?;
            if counters.len() < 16 {
                return None;
            }
            Some(InterfaceCounters {
                name: name.trim().to_owned(),
                rx_bytes: counters[0],
                rx_packets: counters[1],
                rx_errors: counters[2],
                rx_drops: counters[3],
                tx_bytes: counters[8],
                tx_packets: counters[9],
                tx_errors: counters[10],
                tx_drops: counters[11],
            })
        })
        .collect()
}

/// TCP segment counters from `/proc/net/snmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegments {
    /// `OutSegs`: segments sent, not counting those that only carry retransmitted data.
    pub sent: u64,
    /// `RetransSegs`.
    pub retransmitted: u64,
}

/// Parses the `Tcp:` pair of lines in `/proc/net/snmp`: a line of column names, then a
/// line of values. Columns are found by name because their set grows between kernels.
pub fn parse_tcp_segments(snmp: &str) -> Option<TcpSegments> {
    let mut tcp_lines = snmp.lines().filter_map(|line| line.strip_prefix("Tcp:"));
    let names = tcp_lines.next()?;
    let values = tcp_lines.next()?;
    let column = |wanted: &str| {
        let index = names.split_whitespace().position(|name| name == wanted)?;
        values.split_whitespace().nth(index)?.parse().ok()
    };
    Some(TcpSegments { sent: column("OutSegs")?, retransmitted: column("RetransSegs")? })
}

/// The `Threads:` line of `/proc/<pid>/status`.
pub fn parse_thread_count(status: &str) -> Option<u32> {
    status.lines().find_map(|line| line.strip_prefix("Threads:"))?.trim().parse().ok()
}

/// `/sys/class/net/<if>/speed`, in Mb/s. Drivers report `-1` (or nothing) when the link is
/// down or the speed unknown, so only a positive number counts.
pub fn parse_link_speed_mbps(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|speed| *speed > 0)
}

/// `/sys/class/net/<if>/duplex`: `full` or `half`; `unknown` (link down, virtual device)
/// is reported as absent.
pub fn parse_duplex(text: &str) -> Option<String> {
    match text.trim() {
        duplex @ ("full" | "half") => Some(duplex.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "\
cpu  31522 0 5139 50872 780 0 61 43 0 0
cpu0 15479 0 2248 26368 50 0 8 18 0 0
cpu1 16043 0 2890 24503 729 0 53 24 0 0
intr 2163245 0 9 0 0 0 0 0 0 0 0 0 0 147 0 0 0 0 0 0 0 0 0 0
ctxt 3403116
btime 1717400000
processes 18832
procs_running 3
procs_blocked 0
softirq 1299432 0 287117 33 41228 0 0 46 410551 0 560457
";

    #[test]
    fn stat_reads_the_aggregate_cpu_line_and_context_switches() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(
            stat.cpu,
            CpuTicks { user: 31522, nice: 0, system: 5139, idle: 50872, iowait: 780, irq: 0, softirq: 61, steal: 43 }
        );
        assert_eq!(stat.cpu.total(), 31522 + 5139 + 50872 + 780 + 61 + 43);
        assert_eq!(stat.context_switches, 3_403_116);
    }

    #[test]
    fn stat_from_an_old_kernel_reads_missing_columns_as_zero() {
        let stat = parse_stat("cpu  100 2 30 400\nctxt 9\n").unwrap();
        assert_eq!(stat.cpu.iowait, 0);
        assert_eq!(stat.cpu.steal, 0);
        assert_eq!(stat.cpu.total(), 532);
    }

    #[test]
    fn stat_without_a_cpu_line_or_ctxt_is_not_understood() {
        assert_eq!(parse_stat("ctxt 9\n"), None);
        assert_eq!(parse_stat("cpu  1 2 3 4 5 6 7 8 0 0\n"), None);
        assert_eq!(parse_stat("cpu  1 2 3\nctxt 9\n"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn stat_difference_saturates_on_a_counter_reset() {
        let earlier = parse_stat(STAT).unwrap();
        let later = StatCounters {
            cpu: CpuTicks {
                user: earlier.cpu.user + 150,
                idle: earlier.cpu.idle + 40,
                iowait: earlier.cpu.iowait + 10,
                ..earlier.cpu
            },
            context_switches: 5,
        };
        let delta = later.since(&earlier);
        assert_eq!(delta.cpu.user, 150);
        assert_eq!(delta.cpu.iowait, 10);
        assert_eq!(delta.cpu.total(), 200);
        assert_eq!(delta.context_switches, 0);
    }

    #[test]
    fn vmstat_picks_swap_faults_and_oom_kills() {
        let text = "\
nr_free_pages 2846071
nr_zone_inactive_anon 31890
pgpgin 1750805
pgpgout 1909604
pswpin 12
pswpout 340
pgfault 27094526
pgmajfault 1316
oom_kill 2
";
        assert_eq!(
            parse_vmstat(text),
            VmCounters {
                swap_in_pages: Some(12),
                swap_out_pages: Some(340),
                major_faults: Some(1316),
                oom_kills: Some(2),
            }
        );
    }

    #[test]
    fn vmstat_from_an_old_kernel_has_no_oom_kill_count() {
        let counters = parse_vmstat("pswpin 0\npswpout 0\npgmajfault 7\n");
        assert_eq!(counters.major_faults, Some(7));
        assert_eq!(counters.oom_kills, None);
    }

    #[test]
    fn diskstats_reads_sectors_and_busy_time_of_every_kind_of_device() {
        let text = "\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 259       0 nvme0n1 183716 62811 13526818 41873 443290 316375 24316050 517829 0 330212 575862 0 0 0 0 15932 16159
 259       1 nvme0n1p1 331 1093 16222 84 2 0 2 0 0 116 85 0 0 0 0 0 0
 254       0 vda 36024 6031 3501610 38093 25829 34421 3819208 35856 0 10776 75052 10120 50 1043600 920 4740 182
 253       0 dm-0 175011 0 12990034 44432 759665 0 24316048 1237224 0 330780 1281656 0 0 0 0 0 0
   8       0 sda 4711 0 123 456 789 0 10 20 0 3000 5000
";
        let devices = parse_diskstats(text);
        assert_eq!(devices.len(), 6);
        assert_eq!(
            devices[1],
            BlockDeviceCounters {
                major: 259,
                minor: 0,
                name: "nvme0n1".into(),
                sectors_read: 13_526_818,
                sectors_written: 24_316_050,
                busy_ms: 330_212,
            }
        );
        assert_eq!(devices[3].name, "vda");
        assert_eq!(devices[3].busy_ms, 10_776);
        assert_eq!((devices[4].major, devices[4].minor), (253, 0));
        // A pre-4.18 kernel: eleven counters, no discard or flush columns.
        assert_eq!(devices[5].sectors_written, 10);
        assert_eq!(devices[5].busy_ms, 3000);
    }

    #[test]
    fn diskstats_skips_lines_it_cannot_read() {
        let text = "   8 0 sda 1 2 3\n garbage\n   8 1 sda1 1 0 8 0 1 0 16 0 0 4 4\n";
        let devices = parse_diskstats(text);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].name, "sda1");
        assert_eq!(devices[0].sectors_read, 8);
    }

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   47164     595    0    0    0     0          0         0    47164     595    0    0    0     0       0          0
  eth0: 225914277    8619    3   17    0     0          0        12   477535    5172    1    2    0     0       0          0
docker0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
";

    #[test]
    fn net_dev_reads_every_interface_and_skips_the_headers() {
        let interfaces = parse_net_dev(NET_DEV);
        let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "eth0", "docker0"]);
        assert_eq!(
            interfaces[1],
            InterfaceCounters {
                name: "eth0".into(),
                rx_bytes: 225_914_277,
                rx_packets: 8619,
                rx_errors: 3,
                rx_drops: 17,
                tx_bytes: 477_535,
                tx_packets: 5172,
                tx_errors: 1,
                tx_drops: 2,
            }
        );
    }

    #[test]
    fn net_dev_skips_truncated_lines() {
        assert!(parse_net_dev("  eth0: 1 2 3 4\n").is_empty());
    }

    #[test]
    fn snmp_finds_tcp_columns_by_name() {
        let text = "\
Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits
Ip: 2 64 9208 0 0 0 0 0 9208 5753 0 0 0 0 0 0 0 0 0 5753
Icmp: InMsgs InErrors InCsumErrors InDestUnreachs
Icmp: 3 0 0 3
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors
Tcp: 1 200 120000 -1 99 46 11 31 3 9118 5694 27 0 50 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 120 0 0 120 0 0 0 0 0
";
        assert_eq!(parse_tcp_segments(text), Some(TcpSegments { sent: 5694, retransmitted: 27 }));
    }

    #[test]
    fn snmp_without_tcp_values_is_not_understood() {
        assert_eq!(parse_tcp_segments("Tcp: OutSegs RetransSegs\n"), None);
        assert_eq!(parse_tcp_segments("Ip: 1 2\nIp: 3 4\n"), None);
    }

    #[test]
    fn status_gives_the_thread_count() {
        let status = "Name:\tpostgres\nUmask:\t0077\nState:\tS (sleeping)\nTgid:\t812\nVmRSS:\t  145320 kB\nThreads:\t7\nSigQ:\t0/95624\n";
        assert_eq!(parse_thread_count(status), Some(7));
        assert_eq!(parse_thread_count("Name:\tx\n"), None);
    }

    #[test]
    fn link_speed_and_duplex_ignore_unknown_values() {
        assert_eq!(parse_link_speed_mbps("10000\n"), Some(10_000));
        assert_eq!(parse_link_speed_mbps("-1\n"), None);
        assert_eq!(parse_link_speed_mbps("0\n"), None);
        assert_eq!(parse_link_speed_mbps(""), None);
        assert_eq!(parse_duplex("full\n").as_deref(), Some("full"));
        assert_eq!(parse_duplex("half\n").as_deref(), Some("half"));
        assert_eq!(parse_duplex("unknown\n"), None);
    }
}
