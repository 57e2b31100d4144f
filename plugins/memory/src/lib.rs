//! Built-in rule plugin `memory`: is the machine short of RAM?
//!
//! It applies Brendan Gregg's USE method to main memory:
//!
//! - **utilization** (`memory/available-low`): memory the kernel can hand out
//!   without swapping (`MemAvailable`, page cache included) below
//!   `available_low_pct` of the total. Severity scales with how far below:
//!   under the threshold `medium`, under half of it `high`, under a quarter
//!   `critical`.
//! - **saturation** (`memory/swap-used`, `memory/major-faults`): swap in use
//!   above `swap_used_high_pct` of the swap space, and major page faults (pages
//!   read back from disk) above `major_faults_high_per_sec`. Swap that merely
//!   holds cold pages is harmless, so without swap-out activity during the
//!   window the swap finding is one level milder and asks only for tuning;
//!   with it, the machine is paging under pressure.
//! - **errors** (`memory/oom-kills`): the kernel's OOM killer has run, so
//!   something was killed for lack of memory; always `high`.
//!
//! Actions name the largest processes by resident memory (from the
//! `processes` section, when the snapshot has one), lower `vm.swappiness`
//! through the `sysctl-set` hook, or size the RAM that would remove the
//! shortfall.

use perfsage_sdk::metrics::{human_bytes, pct};
use perfsage_sdk::*;

/// The `memory` rule plugin.
pub struct Plugin;

/// What `memory.lower-swappiness` sets `vm.swappiness` to: the kernel still
/// swaps under real pressure but prefers dropping page cache.
const LOW_SWAPPINESS: u32 = 10;

/// How many of the largest processes an action's detail names.
const NAMED_PROCESSES: usize = 3;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "memory",
            env!("CARGO_PKG_VERSION"),
            "Available memory, swap pressure, major page faults and OOM kills",
            Category::Hardware,
        )
        .needs(&[Section::Memory])
        .uses(&[Section::Processes])
        .param(
            param::number(
                "available_low_pct",
                "Available memory, as a share of the total, below which memory is short",
                "%",
                10.0,
            )
            .range(0.5, 90.0),
        )
        .param(
            param::number(
                "swap_used_high_pct",
                "Swap in use, as a share of the swap space, above which the machine is paging",
                "%",
                20.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "major_faults_high_per_sec",
                "Major page faults (pages read back from disk) per second above which memory thrashes",
                "faults/s",
                100.0,
            )
            .range(1.0, 1.0e6),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let memory = snapshot.memory.as_ref().ok_or("the snapshot has no memory section")?;
        let available_low_pct = config.number("available_low_pct");
        let relief = Relief {
            memory,
            largest: processes::largest_by_rss(snapshot.processes.as_deref().unwrap_or_default(), NAMED_PROCESSES),
            available_low_pct,
        };
        Ok([
            available_low(&relief, available_low_pct),
            swap_used(&relief, config.number("swap_used_high_pct")),
            major_faults(&relief, config.number("major_faults_high_per_sec")),
            oom_kills(&relief),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

export_rule!(Plugin);

fn available_low(relief: &Relief, threshold: f64) -> Option<Finding> {
    let memory = relief.memory;
    if memory.total_bytes == 0 {
        return None;
    }
    let available_pct = pct(memory.available_bytes as f64, memory.total_bytes as f64);
    if available_pct >= threshold {
        return None;
    }
    let shortfall = if available_pct > 0.0 { threshold / available_pct } else { f64::INFINITY };
    let title = format!(
        "Only {} of {} memory available ({available_pct:.1}%, threshold {threshold:.0}%)",
        human_bytes(memory.available_bytes as f64),
        human_bytes(memory.total_bytes as f64)
    );
    let finding =
        Finding::new("memory/available-low", title, Category::Hardware, severity::by_ratio(shortfall), "memory")
            .evidence("available memory", available_pct, threshold, "%");
    Some(relief.limit_and_add_ram(finding))
}

fn swap_used(relief: &Relief, threshold: f64) -> Option<Finding> {
    let memory = relief.memory;
    if memory.swap_total_bytes == 0 {
        return None;
    }
    let used_pct = pct(memory.swap_used_bytes as f64, memory.swap_total_bytes as f64);
    if used_pct <= threshold {
        return None;
    }
    let usage = format!(
        "Swap {used_pct:.0}% used ({} of {}, threshold {threshold:.0}%)",
        human_bytes(memory.swap_used_bytes as f64),
        human_bytes(memory.swap_total_bytes as f64)
    );
    let over = severity::by_ratio(used_pct / threshold);
    let finding = |title: String, severity| {
        Finding::new("memory/swap-used", title, Category::Hardware, severity, "memory").evidence(
            "swap used",
            used_pct,
            threshold,
            "%",
        )
    };
    Some(match memory.swap_out_per_sec.filter(|rate| *rate > 0.0) {
        // Paging out under pressure: memory is short, swappiness is the least of it.
        Some(rate) => {
            let paging = finding(format!("{usage}, swapping out {rate:.0} pages/s"), over).evidence(
                "swap-out rate",
                rate,
                0.0,
                "pages/s",
            );
            relief.limit_and_add_ram(paging).action(lower_swappiness(0.2, 0.5))
        }
        // Cold pages parked in swap: worth tuning, not yet a shortage.
        None => {
            let title = format!("{usage}, no swap-out during the window");
            let mut parked = finding(title, severity::milder(over)).action(lower_swappiness(0.6, 0.6));
            parked.actions.extend(relief.limit_top_consumer());
            parked
        }
    })
}

fn major_faults(relief: &Relief, threshold: f64) -> Option<Finding> {
    let rate = relief.memory.major_faults_per_sec.filter(|rate| *rate > threshold)?;
    let title = format!("{rate:.0} major page faults/s: pages are read back from disk (threshold {threshold:.0}/s)");
    let finding =
        Finding::new("memory/major-faults", title, Category::Hardware, severity::by_ratio(rate / threshold), "memory")
            .evidence("major page faults", rate, threshold, "faults/s");
    Some(relief.limit_and_add_ram(finding))
}

fn oom_kills(relief: &Relief) -> Option<Finding> {
    let kills = relief.memory.oom_kills.filter(|kills| *kills > 0)?;
    let title = format!("The OOM killer has killed {kills} process(es) since boot");
    let finding = Finding::new("memory/oom-kills", title, Category::Hardware, Severity::High, "memory").evidence(
        "oom kills",
        kills as f64,
        0.0,
        "",
    );
    Some(relief.limit_and_add_ram(finding))
}

/// What the relief actions need to know: the memory section, the largest
/// processes and the availability the operator asked for.
struct Relief<'a> {
    memory: &'a Memory,
    largest: Vec<&'a Process>,
    available_low_pct: f64,
}

impl Relief<'_> {
    /// The usual cure for a memory shortage: shrink or move the largest
    /// process (when known), then add RAM.
    fn limit_and_add_ram(&self, mut finding: Finding) -> Finding {
        finding.actions.extend(self.limit_top_consumer());
        finding.action(self.add_ram())
    }

    fn limit_top_consumer(&self) -> Option<Action> {
        let top = self.largest.first()?;
        let named: Vec<String> = self
            .largest
            .iter()
            .map(|p| format!("{} (pid {}, {})", p.name, p.pid, human_bytes(p.rss_bytes as f64)))
            .collect();
        let in_use = self.memory.total_bytes.saturating_sub(self.memory.available_bytes) as f64;
        let share = if in_use > 0.0 { top.rss_bytes as f64 / in_use } else { 0.0 };
        Some(
            Action::new(
                "memory.limit-top-consumer",
                format!("Limit or move {} (pid {}, {} resident)", top.name, top.pid, human_bytes(top.rss_bytes as f64)),
                Category::Software,
            )
            .detail(format!(
                "The largest processes are {}. Cap {} (systemd `MemoryMax=`, fewer workers such as \
                 php-fpm `pm.max_children`, smaller caches or PostgreSQL `shared_buffers`/`work_mem`) \
                 or move it to another host, so the rest fits in RAM.",
                named.join(", "),
                top.name
            ))
            .impact(share)
            .confidence(0.6)
            .effort(Level::Medium)
            .risk(Level::Medium),
        )
    }

    fn add_ram(&self) -> Action {
        let memory = self.memory;
        // RAM that brings available memory back to the threshold
        // ((available + x) / (total + x) = t), plus what is parked in swap.
        let target = self.available_low_pct / 100.0;
        let to_threshold = (target * memory.total_bytes as f64 - memory.available_bytes as f64) / (1.0 - target);
        let needed = to_threshold.max(0.0) + memory.swap_used_bytes as f64;
        let (title, sizing) = if needed > 0.0 {
            let in_swap = match memory.swap_used_bytes {
                0 => String::new(),
                used => format!(", with room for the {} now in swap", human_bytes(used as f64)),
            };
            (
                format!("Add at least {} of RAM", human_bytes(needed)),
                format!("about {} more keeps {:.0}% available{in_swap}", human_bytes(needed), self.available_low_pct),
            )
        } else {
            (
                "Add RAM".to_string(),
                "more keeps the working set and page cache resident instead of reading them back \
                 from disk"
                    .to_string(),
            )
        };
        Action::new("memory.add-ram", title, Category::Hardware)
            .detail(format!(
                "The workload needs more memory than the {} installed: {sizing}. Resize the VM or \
                 add DIMMs, or split the tiers onto separate hosts.",
                human_bytes(memory.total_bytes as f64)
            ))
            .impact(0.8)
            .confidence(0.7)
            .effort(Level::High)
    }
}

fn lower_swappiness(impact: f64, confidence: f64) -> Action {
    Action::new("memory.lower-swappiness", format!("Lower vm.swappiness to {LOW_SWAPPINESS}"), Category::Software)
        .detail(format!(
            "A high swappiness lets the kernel swap out application memory to keep page cache, which \
         turns into latency when those pages are touched again. `sysctl vm.swappiness={LOW_SWAPPINESS}` \
         (persist it in /etc/sysctl.d/) makes it prefer dropping cache; it does not create memory."
        ))
        .impact(impact)
        .confidence(confidence)
        .hook("sysctl-set")
        .param("key", "vm.swappiness")
        .param("value", LOW_SWAPPINESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, action_ids, check};

    const GIB: u64 = 1 << 30;

    fn memory(available_gib: f64) -> Memory {
        let available_bytes = (available_gib * GIB as f64) as u64;
        Memory {
            total_bytes: 16 * GIB,
            used_bytes: 16 * GIB - available_bytes,
            available_bytes,
            swap_total_bytes: 4 * GIB,
            swap_used_bytes: 0,
            swap_in_per_sec: Some(0.0),
            swap_out_per_sec: Some(0.0),
            major_faults_per_sec: Some(3.0),
            oom_kills: Some(0),
        }
    }

    fn process(pid: u32, name: &str, rss_gib: u64) -> Process {
        testing::process(pid, name, 10.0, rss_gib * GIB)
    }

    fn snapshot(memory: Memory, processes: Option<Vec<Process>>) -> Snapshot {
        Snapshot { memory: Some(memory), processes, ..testing::empty_snapshot() }
    }

    fn run(snapshot: &Snapshot) -> Vec<Finding> {
        check::<Plugin>(snapshot, Vec::new()).unwrap()
    }

    fn find<'a>(findings: &'a [Finding], rule: &str) -> Option<&'a Finding> {
        findings.iter().find(|f| f.rule == rule)
    }

    #[test]
    fn healthy_memory_is_silent() {
        assert!(run(&snapshot(memory(6.0), Some(vec![process(1, "postgres", 4)]))).is_empty());
    }

    #[test]
    fn available_low_severity_scales_with_the_shortfall() {
        for (available_gib, expected) in
            [(1.5, Some(Severity::Medium)), (0.7, Some(Severity::High)), (0.3, Some(Severity::Critical))]
        {
            let findings = run(&snapshot(memory(available_gib), None));
            let severity = find(&findings, "memory/available-low").map(|f| f.severity);
            assert_eq!(severity, expected, "{available_gib} GiB available");
        }
    }

    #[test]
    fn active_swapping_is_a_shortage_and_quiet_swap_only_needs_tuning() {
        let mut paging = memory(3.0);
        paging.swap_used_bytes = 2 * GIB; // 50 % of swap: 2.5x the threshold
        paging.swap_out_per_sec = Some(400.0);
        let findings = run(&snapshot(paging, Some(vec![process(7, "java", 6)])));
        let swap = find(&findings, "memory/swap-used").unwrap();
        assert_eq!(swap.severity, Severity::High);
        assert_eq!(action_ids(swap), ["memory.limit-top-consumer", "memory.add-ram", "memory.lower-swappiness"]);

        paging.swap_out_per_sec = None;
        let findings = run(&snapshot(paging, None));
        let swap = find(&findings, "memory/swap-used").unwrap();
        assert_eq!(swap.severity, Severity::Medium);
        assert_eq!(action_ids(swap), ["memory.lower-swappiness"]);
        assert_eq!(swap.actions[0].hook.as_deref(), Some("sysctl-set"));
        assert_eq!(swap.actions[0].params[1], HookParam { key: "value".into(), value: "10".into() });
    }

    #[test]
    fn major_faults_and_oom_kills_fire() {
        let mut thrashing = memory(6.0);
        thrashing.major_faults_per_sec = Some(450.0);
        thrashing.oom_kills = Some(2);
        let findings = run(&snapshot(thrashing, None));
        assert_eq!(find(&findings, "memory/major-faults").unwrap().severity, Severity::Critical);
        assert_eq!(find(&findings, "memory/oom-kills").unwrap().severity, Severity::High);
    }

    #[test]
    fn largest_process_is_named_with_ties_broken_by_name() {
        let processes = vec![process(9, "redis-server", 2), process(4, "java", 6), process(3, "postgres", 2)];
        let findings = run(&snapshot(memory(0.5), Some(processes)));
        let limit = &find(&findings, "memory/available-low").unwrap().actions[0];
        assert_eq!(limit.title, "Limit or move java (pid 4, 6.0 GiB resident)");
        assert!(
            limit.detail.contains("java (pid 4, 6.0 GiB), postgres (pid 3, 2.0 GiB), redis-server (pid 9, 2.0 GiB)")
        );
    }
}
