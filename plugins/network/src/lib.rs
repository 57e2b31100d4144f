//! Built-in rule plugin `network`: are the NICs or the TCP paths the bottleneck?
//!
//! It applies Brendan Gregg's USE method to each interface (the loopback `lo`
//! excepted) and to TCP:
//!
//! - **utilization** (`network/saturation`): the busier direction's bits per
//!   second against the negotiated link speed, where the driver reports it
//!   (both directions together on a half-duplex link), above
//!   `link_used_high_pct`. Severity scales with how much of the remaining
//!   headroom is gone: over the threshold `medium`, half of it `high`, three
//!   quarters `critical`.
//! - **saturation** (`network/drops`): packets dropped during the window, as a
//!   share of packets above `errors_high_pct` or as a rate above
//!   `drops_high_per_sec`; full rings and backlogs drop before any socket
//!   sees the packet.
//! - **errors** (`network/errors`, `network/duplex-mismatch`): receive and
//!   transmit errors as a share of packets above `errors_high_pct`, and a
//!   half-duplex link, which on modern Ethernet means an autonegotiation
//!   mismatch (always `high`).
//! - **TCP** (`network/retransmits`): retransmitted segments as a share of
//!   those sent above `retransmit_high_pct`: loss somewhere on the path.
//!
//! Share and rate findings scale as observed ÷ threshold: over it `medium`,
//! twice it `high`, four times it `critical`. Targets read `nic <name>` and
//! `tcp`; interfaces are checked in name order.

use perfsage_sdk::metrics::pct;
use perfsage_sdk::*;

/// The `network` rule plugin.
pub struct Plugin;

/// What `network.tune-backlog` sets `net.core.netdev_max_backlog` to (the
/// kernel default is 1000 packets per CPU).
const NETDEV_BACKLOG: u32 = 16384;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "network",
            env!("CARGO_PKG_VERSION"),
            "Interface errors, drops, duplex and link saturation; TCP retransmits",
            Category::Network,
        )
        .needs(&[Section::Network])
        .param(
            param::number(
                "errors_high_pct",
                "Errors, or drops, as a share of an interface's packets above which the link is faulty",
                "%",
                0.1,
            )
            .range(0.001, 100.0),
        )
        .param(
            param::number(
                "drops_high_per_sec",
                "Packets an interface drops per second above which it is saturated, whatever the share",
                "packets/s",
                100.0,
            )
            .range(0.01, 1.0e9),
        )
        .param(
            param::number(
                "link_used_high_pct",
                "Share of the negotiated link speed in use above which the link is the ceiling",
                "%",
                80.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "retransmit_high_pct",
                "Retransmitted TCP segments as a share of segments sent above which packets are lost",
                "%",
                2.0,
            )
            .range(0.01, 100.0),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let network = snapshot.network.as_ref().ok_or("the snapshot has no network section")?;
        let window_secs = snapshot.meta.window_ms as f64 / 1000.0;
        let errors_high_pct = config.number("errors_high_pct");
        let mut interfaces: Vec<&NetInterface> = network.interfaces.iter().filter(|nic| nic.name != "lo").collect();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        let mut findings = Vec::new();
        for nic in interfaces {
            findings.extend(duplex_mismatch(nic));
            findings.extend(errors(nic, errors_high_pct));
            findings.extend(drops(nic, errors_high_pct, config.number("drops_high_per_sec"), window_secs));
            findings.extend(saturation(nic, config.number("link_used_high_pct")));
        }
        findings.extend(retransmits(network, config.number("retransmit_high_pct")));
        Ok(findings)
    }
}

export_rule!(Plugin);

fn duplex_mismatch(nic: &NetInterface) -> Option<Finding> {
    if !is_half_duplex(nic) {
        return None;
    }
    let speed = nic.speed_mbps.map(|mbps| format!(" at {mbps} Mbit/s")).unwrap_or_default();
    let title = format!("{} runs half duplex{speed}: likely an autonegotiation mismatch", nic.name);
    Some(
        Finding::new("network/duplex-mismatch", title, Category::Network, Severity::High, target(nic))
            .evidence("full duplex (1 = yes)", 0.0, 1.0, "")
            .action(check_nic(nic, 0.8)),
    )
}

fn errors(nic: &NetInterface, threshold: f64) -> Option<Finding> {
    let errors = nic.rx_errors + nic.tx_errors;
    let share = pct(errors as f64, packets(nic) as f64);
    if errors == 0 || share <= threshold {
        return None;
    }
    let title = format!(
        "{}: {share:.2}% of packets had errors ({errors} of {}, threshold {threshold}%)",
        nic.name,
        packets(nic)
    );
    Some(
        Finding::new("network/errors", title, Category::Network, severity::by_ratio(share / threshold), target(nic))
            .evidence("packet errors", share, threshold, "%")
            .action(check_nic(nic, 0.7)),
    )
}

fn drops(nic: &NetInterface, share_threshold: f64, rate_threshold: f64, window_secs: f64) -> Option<Finding> {
    let drops = nic.rx_drops + nic.tx_drops;
    if drops == 0 {
        return None;
    }
    let share = pct(drops as f64, packets(nic) as f64);
    let rate = if window_secs > 0.0 { drops as f64 / window_secs } else { 0.0 };
    let overload = (share / share_threshold).max(rate / rate_threshold);
    if overload <= 1.0 {
        return None;
    }
    let title = format!("{} dropped {drops} packets ({rate:.0}/s, {share:.2}% of packets)", nic.name);
    let grow_rings = Action::new(
        "network.grow-ring-buffers",
        format!("Grow {}'s receive ring and spread its interrupts", nic.name),
        Category::Network,
    )
    .detail(format!(
        "`ethtool -S {0}` shows where packets are lost; growing rx_missed or rx_fifo counters mean \
         the NIC's ring filled before the kernel drained it. `ethtool -g {0}` shows the maximum, \
         `ethtool -G {0} rx <max>` raises it, and spreading the NIC's interrupts over cores \
         (irqbalance, RSS queues) drains it faster.",
        nic.name
    ))
    .impact(0.5)
    .confidence(0.5);
    let tune_backlog = Action::new(
        "network.tune-backlog",
        format!("Raise net.core.netdev_max_backlog to {NETDEV_BACKLOG}"),
        Category::Network,
    )
    .detail(format!(
        "When a CPU's input queue overflows (the second column of /proc/net/softnet_stat grows), \
         received packets are dropped before any socket sees them; a longer backlog absorbs \
         bursts: `sysctl net.core.netdev_max_backlog={NETDEV_BACKLOG}`."
    ))
    .impact(0.4)
    .confidence(0.5)
    .hook("sysctl-set")
    .param("key", "net.core.netdev_max_backlog")
    .param("value", NETDEV_BACKLOG);
    Some(
        Finding::new("network/drops", title, Category::Network, severity::by_ratio(overload), target(nic))
            .evidence("packet drops", share, share_threshold, "%")
            .evidence("packet drop rate", rate, rate_threshold, "packets/s")
            .action(grow_rings)
            .action(tune_backlog),
    )
}

fn saturation(nic: &NetInterface, threshold: f64) -> Option<Finding> {
    let speed_mbps = nic.speed_mbps.filter(|mbps| *mbps > 0)?;
    let outbound = nic.tx_bytes_per_sec >= nic.rx_bytes_per_sec;
    let (bytes_per_sec, direction) = if is_half_duplex(nic) {
        (nic.rx_bytes_per_sec + nic.tx_bytes_per_sec, "in and out")
    } else if outbound {
        (nic.tx_bytes_per_sec, "outbound")
    } else {
        (nic.rx_bytes_per_sec, "inbound")
    };
    let used_mbps = bytes_per_sec * 8.0 / 1.0e6;
    let used_pct = pct(used_mbps, speed_mbps as f64);
    if used_pct <= threshold {
        return None;
    }
    let title = format!(
        "{} link {used_pct:.1}% used: {used_mbps:.0} Mbit/s {direction} on a {speed_mbps} Mbit/s link (threshold {threshold:.0}%)",
        nic.name
    );
    let upgrade = Action::new(
        "network.upgrade-link",
        format!("Give {} more bandwidth than {speed_mbps} Mbit/s", nic.name),
        Category::Network,
    )
    .detail(format!(
        "The link itself is the ceiling: queues build and latency grows long before it reads \
         100%. Move to a faster port or instance class (10 Gbit/s), or bond two links with \
         LACP; `sar -n DEV 1` confirms {} stays near its speed under load.",
        nic.name
    ))
    .impact(0.8)
    .confidence(0.7)
    .effort(Level::High)
    .risk(Level::Medium);
    let mut finding = Finding::new(
        "network/saturation",
        title,
        Category::Network,
        severity::by_ratio(headroom_ratio(used_pct, threshold)),
        target(nic),
    )
    .evidence("link utilization", used_pct, threshold, "%")
    .action(upgrade);
    if outbound {
        finding = finding.action(reduce_egress());
    }
    Some(finding)
}

fn retransmits(network: &Network, threshold: f64) -> Option<Finding> {
    let share = network.tcp_retransmit_pct.filter(|share| *share > threshold)?;
    let rate = network.tcp_retransmits_per_sec.map(|rate| format!(", {rate:.0}/s")).unwrap_or_default();
    let title = format!("TCP retransmits {share:.1}% of segments{rate} (threshold {threshold}%)");
    let find_loss = Action::new("network.find-packet-loss", "Find where packets are lost", Category::Network)
        .detail(
            "Retransmits mean segments were lost or arrived too late somewhere on the path. Check \
             this host's interfaces first (`ethtool -S`, the nic findings), then `ss -ti` for the \
             peers with the most retransmits and `mtr` to them for the lossy hop.",
        )
        .impact(0.6)
        .confidence(0.6)
        .effort(Level::Medium);
    let enable_bbr = Action::new("network.enable-bbr", "Switch TCP congestion control to BBR", Category::Network)
        .detail(
            "BBR keeps throughput up on lossy or long paths where CUBIC halves its window at every \
         loss: `modprobe tcp_bbr`, then `sysctl net.ipv4.tcp_congestion_control=bbr`. It softens \
         the cost of loss; it does not remove the loss.",
        )
        .impact(0.3)
        .confidence(0.5)
        .risk(Level::Medium)
        .hook("sysctl-set")
        .param("key", "net.ipv4.tcp_congestion_control")
        .param("value", "bbr");
    Some(
        Finding::new("network/retransmits", title, Category::Network, severity::by_ratio(share / threshold), "tcp")
            .evidence("tcp retransmits", share, threshold, "%")
            .action(find_loss)
            .action(enable_bbr),
    )
}

/// Inspect the link: speed, duplex, autonegotiation and the driver's error counters.
fn check_nic(nic: &NetInterface, confidence: f64) -> Action {
    Action::new("network.check-nic", format!("Check {}'s cable, port and autonegotiation", nic.name), Category::Network)
        .detail(format!(
            "Errors and half duplex come from the physical layer: `ethtool {0}` shows speed, duplex \
         and autonegotiation, `ethtool -S {0}` which error counters grow. Let both ends \
         autonegotiate (`ethtool -s {0} autoneg on`, and the same on the switch port) or fix both \
         to the same speed and full duplex; if errors persist, swap the cable, SFP or port.",
            nic.name
        ))
        .impact(0.8)
        .confidence(confidence)
        .effort(Level::Medium)
}

fn reduce_egress() -> Action {
    Action::new(
        "network.reduce-egress",
        "Send fewer bytes: compress responses and offload static assets",
        Category::Network,
    )
    .detail(
        "Most of the traffic leaves this host: enable gzip or brotli for text responses in nginx, \
         give static assets long cache lifetimes, and serve them from a CDN so the link carries \
         only the dynamic responses.",
    )
    .impact(0.5)
    .confidence(0.5)
    .effort(Level::Medium)
}

fn is_half_duplex(nic: &NetInterface) -> bool {
    nic.duplex.as_deref().is_some_and(|duplex| duplex.eq_ignore_ascii_case("half"))
}

fn packets(nic: &NetInterface) -> u64 {
    nic.rx_packets + nic.tx_packets
}

fn target(nic: &NetInterface) -> String {
    format!("nic {}", nic.name)
}

/// How much of the headroom a threshold left (up to 100 %) is gone, as a
/// ratio: 1 at the threshold, 2 when half of it is gone, 4 at three quarters.
fn headroom_ratio(observed_pct: f64, threshold_pct: f64) -> f64 {
    let left = 100.0 - observed_pct;
    if left <= 0.0 { f64::INFINITY } else { (100.0 - threshold_pct) / left }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::check;

    /// A healthy full-duplex gigabit interface over a 60 s window.
    fn nic(name: &str) -> NetInterface {
        NetInterface {
            name: name.into(),
            rx_bytes_per_sec: 4.0e6,
            tx_bytes_per_sec: 12.0e6,
            rx_errors: 0,
            tx_errors: 0,
            rx_drops: 2,
            tx_drops: 0,
            rx_packets: 3_000_000,
            tx_packets: 4_000_000,
            speed_mbps: Some(1000),
            duplex: Some("full".into()),
        }
    }

    fn snapshot(interfaces: Vec<NetInterface>, tcp_retransmit_pct: Option<f64>) -> Snapshot {
        Snapshot {
            network: Some(Network { interfaces, tcp_retransmits_per_sec: None, tcp_retransmit_pct }),
            ..perfsage_sdk::testing::empty_snapshot()
        }
    }

    fn summary(snapshot: &Snapshot) -> Vec<(String, String, Severity)> {
        check::<Plugin>(snapshot, Vec::new()).unwrap().into_iter().map(|f| (f.rule, f.target, f.severity)).collect()
    }

    fn expect(rule: &str, target: &str, severity: Severity) -> (String, String, Severity) {
        (rule.into(), target.into(), severity)
    }

    #[test]
    fn healthy_interfaces_and_loopback_are_silent() {
        let loopback = NetInterface { rx_errors: 500, speed_mbps: None, duplex: None, ..nic("lo") };
        assert_eq!(summary(&snapshot(vec![nic("eth0"), loopback], Some(0.3))), []);
    }

    #[test]
    fn link_saturation_scales_with_the_headroom_left() {
        for (tx_mbps, expected) in [(850.0, Severity::Medium), (920.0, Severity::High), (960.0, Severity::Critical)] {
            let busy = NetInterface { tx_bytes_per_sec: tx_mbps * 1.0e6 / 8.0, ..nic("eth0") };
            assert_eq!(
                summary(&snapshot(vec![busy], None)),
                [expect("network/saturation", "nic eth0", expected)],
                "{tx_mbps} Mbit/s"
            );
        }
        let unknown_speed = NetInterface { tx_bytes_per_sec: 1.0e9, speed_mbps: None, ..nic("eth0") };
        assert_eq!(summary(&snapshot(vec![unknown_speed], None)), []);
    }

    #[test]
    fn half_duplex_errors_and_drops_fire_per_interface_in_name_order() {
        let faulty = NetInterface { duplex: Some("Half".into()), rx_errors: 35_000, ..nic("eth1") };
        let dropping = NetInterface { rx_drops: 9_000, ..nic("eth0") }; // 150/s, 0.13 %
        assert_eq!(
            summary(&snapshot(vec![faulty, dropping], None)),
            [
                expect("network/drops", "nic eth0", Severity::Medium),
                expect("network/duplex-mismatch", "nic eth1", Severity::High),
                expect("network/errors", "nic eth1", Severity::Critical),
            ]
        );
    }

    #[test]
    fn retransmits_fire_on_tcp() {
        assert_eq!(
            summary(&snapshot(vec![nic("eth0")], Some(4.5))),
            [expect("network/retransmits", "tcp", Severity::High)]
        );
    }
}
