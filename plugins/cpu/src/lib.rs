//! Built-in rule plugin `cpu`: is the processor the bottleneck?
//!
//! It applies Brendan Gregg's USE method to the CPU as a whole:
//!
//! - **utilization** (`cpu/utilization`): average busy time across all cores
//!   above `utilization_high_pct`. Busy is not yet slow, so this finding stops
//!   at `high`; how bad the queueing is, saturation says.
//! - **saturation** (`cpu/saturation`): the 1-minute load average per logical
//!   core above `load_per_core_high`, i.e. runnable tasks waiting for a core.
//!   Severity scales with the ratio to the threshold: over it `medium`, twice
//!   it `high`, four times it `critical`.
//! - **I/O wait** (`cpu/iowait`): idle time spent waiting on block devices
//!   above `iowait_high_pct`; the CPU is fine, the disks are not.
//! - **steal** (`cpu/steal`): time the hypervisor gave this VM's vCPUs to
//!   someone else above `steal_high_pct`; a noisy neighbour or an
//!   oversubscribed host.
//!
//! Actions name the busiest process (from the `processes` section, when the
//! snapshot has one) with its pid and CPU share, so the operator knows what to
//! move, cap or renice. An idle machine yields no findings.

use perfsage_sdk::*;

/// The `cpu` rule plugin.
pub struct Plugin;

/// The niceness the `renice-process` hook gives the busiest process: low
/// enough in priority that interactive work runs first, still scheduled.
const RENICE_TO: i32 = 10;

/// How many of the busiest processes an action's detail names.
const NAMED_PROCESSES: usize = 3;

/// A process must use at least this share of one core (%) to be worth moving:
/// below it, moving the "busiest" process frees nothing that matters.
const MIN_CULPRIT_CPU_PCT: f64 = 25.0;

/// Below this utilization (%), a long run queue is not CPU demand: Linux load
/// also counts tasks blocked on disk or NFS, so adding cores is a weak bet.
const LOW_UTILIZATION_PCT: f64 = 50.0;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "cpu",
            env!("CARGO_PKG_VERSION"),
            "CPU utilization, run-queue saturation, I/O wait and hypervisor steal",
            Category::Hardware,
        )
        .needs(&[Section::Cpu])
        .uses(&[Section::Processes])
        .param(
            param::number(
                "utilization_high_pct",
                "Average utilization across all cores above which the CPU is too busy",
                "%",
                85.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "load_per_core_high",
                "1-minute load average per logical core above which the run queue is saturated",
                "",
                1.0,
            )
            .range(0.1, 100.0),
        )
        .param(
            param::number(
                "iowait_high_pct",
                "Share of CPU time waiting on disk I/O above which the disks hold the CPU back",
                "%",
                20.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "steal_high_pct",
                "Share of CPU time stolen by the hypervisor above which the VM is starved",
                "%",
                10.0,
            )
            .range(1.0, 100.0),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let cpu = snapshot.cpu.as_ref().ok_or("the snapshot has no cpu section")?;
        let busiest = processes::busiest_by_cpu(snapshot.processes.as_deref().unwrap_or_default(), NAMED_PROCESSES);
        Ok([
            utilization(cpu, &busiest, config.number("utilization_high_pct")),
            saturation(cpu, &busiest, config.number("load_per_core_high")),
            iowait(cpu, config.number("iowait_high_pct")),
            steal(cpu, config.number("steal_high_pct")),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

export_rule!(Plugin);

fn utilization(cpu: &Cpu, busiest: &[&Process], threshold: f64) -> Option<Finding> {
    if cpu.utilization_pct <= threshold {
        return None;
    }
    // Busy is not slow: utilization stops at `high` once more than half of the
    // headroom above the threshold is gone; saturation tells how bad queueing is.
    let severity = severity::high_past_half_headroom(cpu.utilization_pct, threshold);
    let title =
        format!("CPU {:.0}% busy across {} cores (threshold {threshold:.0}%)", cpu.utilization_pct, cpu.logical_cores);
    let finding = Finding::new("cpu/utilization", title, Category::Hardware, severity, "cpu").evidence(
        "cpu utilization",
        cpu.utilization_pct,
        threshold,
        "%",
    );
    Some(with_relief_actions(finding, cpu, busiest, cpu.utilization_pct / threshold))
}

fn saturation(cpu: &Cpu, busiest: &[&Process], threshold: f64) -> Option<Finding> {
    if cpu.logical_cores == 0 {
        return None;
    }
    let per_core = cpu.load1 / f64::from(cpu.logical_cores);
    if per_core <= threshold {
        return None;
    }
    let title = format!(
        "Run queue saturated: load {:.1} on {} cores ({per_core:.2} per core, threshold {threshold:.2})",
        cpu.load1, cpu.logical_cores
    );
    let finding =
        Finding::new("cpu/saturation", title, Category::Hardware, severity::by_ratio(per_core / threshold), "cpu")
            .evidence("load1 per core", per_core, threshold, "")
            .evidence("load5 per core", cpu.load5 / f64::from(cpu.logical_cores), threshold, "");
    Some(with_relief_actions(finding, cpu, busiest, per_core / threshold))
}

fn iowait(cpu: &Cpu, threshold: f64) -> Option<Finding> {
    let observed = cpu.iowait_pct.filter(|v| *v > threshold)?;
    let title = format!("CPU waits on disk I/O {observed:.0}% of the time (threshold {threshold:.0}%)");
    let action =
        Action::new("cpu.investigate-io-wait", "Find the device and process behind the I/O wait", Category::Hardware)
            .detail(
                "I/O wait is CPU time idle while tasks wait for block devices, so more CPU will not help. \
         `iostat -x 1` shows which device is saturated and `pidstat -d 1` (or `iotop -o`) which \
         process drives it; see the disk plugin's findings for the mount, then move that data to \
         faster storage or cut the I/O (caching, indexes, less logging).",
            )
            .impact(0.7)
            .confidence(0.7)
            .effort(Level::Medium);
    Some(
        Finding::new("cpu/iowait", title, Category::Hardware, severity::by_ratio(observed / threshold), "cpu")
            .evidence("cpu iowait", observed, threshold, "%")
            .action(action),
    )
}

fn steal(cpu: &Cpu, threshold: f64) -> Option<Finding> {
    let observed = cpu.steal_pct.filter(|v| *v > threshold)?;
    let title = format!("Hypervisor steals {observed:.0}% of CPU time from this VM (threshold {threshold:.0}%)");
    let action =
        Action::new("cpu.move-host-or-resize", "Move the VM to a less loaded host or resize it", Category::Hardware)
            .detail(
                "Steal is time this VM's vCPUs were runnable but the hypervisor ran someone else: a noisy \
         neighbour, an oversubscribed host, or exhausted burst credits. Nothing inside the guest \
         fixes it: live-migrate or stop/start onto another host, move to dedicated or \
         non-burstable instances, or ask the provider about the host's contention.",
            )
            .impact(0.8)
            .confidence(0.7)
            .effort(Level::Medium)
            .risk(Level::Medium);
    Some(
        Finding::new("cpu/steal", title, Category::Hardware, severity::by_ratio(observed / threshold), "cpu")
            .evidence("cpu steal", observed, threshold, "%")
            .action(action),
    )
}

/// The actions that take load off a busy or saturated CPU: move the busiest
/// process (when known), then add cores. `overload` is observed ÷ threshold.
fn with_relief_actions(mut finding: Finding, cpu: &Cpu, busiest: &[&Process], overload: f64) -> Finding {
    finding.actions.extend(move_top_consumer(cpu, busiest));
    finding.action(add_cores(cpu, overload))
}

fn move_top_consumer(cpu: &Cpu, busiest: &[&Process]) -> Option<Action> {
    let top = busiest.first().filter(|p| p.cpu_pct >= MIN_CULPRIT_CPU_PCT)?;
    let named: Vec<String> = busiest.iter().map(|p| format!("{} (pid {}, {:.0}%)", p.name, p.pid, p.cpu_pct)).collect();
    // `cpu_pct` is a share of one core; the machine's busy time is
    // utilization × cores in the same unit.
    let busy_core_pct = cpu.utilization_pct * f64::from(cpu.logical_cores);
    let share_of_busy = if busy_core_pct > 0.0 { top.cpu_pct / busy_core_pct } else { 0.0 };
    Some(
        Action::new(
            "cpu.move-top-consumer",
            format!("Move or limit {} (pid {}, {:.0}% CPU)", top.name, top.pid, top.cpu_pct),
            Category::Software,
        )
        .detail(format!(
            "The busiest processes are {}. Move {} to another host, cap it (systemd `CPUQuota=`, \
             fewer workers) or lower its priority with `renice -n {RENICE_TO} -p {}` so \
             latency-sensitive work gets the cores first.",
            named.join(", "),
            top.name,
            top.pid
        ))
        .impact(share_of_busy)
        .confidence(0.6)
        .effort(Level::Medium)
        .risk(Level::Medium)
        .hook("renice-process")
        .param("pid", top.pid)
        .param("nice", RENICE_TO),
    )
}

fn add_cores(cpu: &Cpu, overload: f64) -> Action {
    let cores_needed = (f64::from(cpu.logical_cores) * overload).ceil() as u32;
    let more = cores_needed.saturating_sub(cpu.logical_cores).max(1);
    let (confidence, caveat) = if cpu.utilization_pct < LOW_UTILIZATION_PCT {
        (
            0.3,
            format!(
                " But the cores are only {:.0}% busy: the queue is probably tasks blocked on disk or \
                 network I/O (check `vmstat 1` for the `b` column and the iowait finding), which more \
                 cores will not shorten.",
                cpu.utilization_pct
            ),
        )
    } else {
        (0.7, String::new())
    };
    let cores = if more == 1 { "core".to_string() } else { "cores".to_string() };
    Action::new("cpu.add-cores", format!("Add at least {more} CPU {cores}"), Category::Hardware)
        .detail(format!(
            "The demand is {overload:.1}x what {} cores serve within the threshold; about \
             {cores_needed} cores would bring it back under. Resize the VM or scale the tier out \
             behind the load balancer.{caveat}",
            cpu.logical_cores
        ))
        .impact(0.8)
        .confidence(confidence)
        .effort(Level::High)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check};

    fn cpu(utilization_pct: f64, load1: f64) -> Cpu {
        Cpu {
            iowait_pct: Some(1.0),
            steal_pct: Some(0.0),
            context_switches_per_sec: Some(12_000.0),
            ..testing::cpu(8, utilization_pct, load1)
        }
    }

    fn process(pid: u32, name: &str, cpu_pct: f64) -> Process {
        Process { threads: Some(8), ..testing::process(pid, name, cpu_pct, 1 << 30) }
    }

    fn snapshot(cpu: Cpu, processes: Option<Vec<Process>>) -> Snapshot {
        Snapshot { cpu: Some(cpu), processes, ..testing::empty_snapshot() }
    }

    fn run(snapshot: &Snapshot, overrides: &[(&str, f64)]) -> Vec<Finding> {
        check::<Plugin>(snapshot, testing::numbers(overrides)).unwrap()
    }

    fn severity_of(findings: &[Finding], rule: &str) -> Option<Severity> {
        findings.iter().find(|f| f.rule == rule).map(|f| f.severity)
    }

    #[test]
    fn idle_cpu_is_silent() {
        assert!(run(&snapshot(cpu(12.0, 0.8), Some(vec![process(1, "nginx", 5.0)])), &[]).is_empty());
    }

    #[test]
    fn saturation_severity_scales_with_load_per_core() {
        for (load1, expected) in
            [(8.0, None), (9.0, Some(Severity::Medium)), (16.0, Some(Severity::High)), (32.0, Some(Severity::Critical))]
        {
            let findings = run(&snapshot(cpu(50.0, load1), None), &[]);
            assert_eq!(severity_of(&findings, "cpu/saturation"), expected, "load1 {load1}");
        }
    }

    #[test]
    fn utilization_fires_over_threshold_and_stops_at_high() {
        assert_eq!(severity_of(&run(&snapshot(cpu(88.0, 1.0), None), &[]), "cpu/utilization"), Some(Severity::Medium));
        assert_eq!(severity_of(&run(&snapshot(cpu(100.0, 1.0), None), &[]), "cpu/utilization"), Some(Severity::High));
        assert!(run(&snapshot(cpu(88.0, 1.0), None), &[("utilization_high_pct", 90.0)]).is_empty());
    }

    #[test]
    fn busiest_process_is_named_and_reniced() {
        let processes = vec![process(30, "postgres", 150.0), process(20, "php-fpm", 390.0), process(10, "nginx", 40.0)];
        let findings = run(&snapshot(cpu(96.0, 20.0), Some(processes)), &[]);
        let saturation = findings.iter().find(|f| f.rule == "cpu/saturation").unwrap();
        let ids: Vec<&str> = saturation.actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["cpu.move-top-consumer", "cpu.add-cores"]);
        let top = &saturation.actions[0];
        assert_eq!(top.title, "Move or limit php-fpm (pid 20, 390% CPU)");
        assert_eq!(top.hook.as_deref(), Some("renice-process"));
        assert_eq!(top.params[0], HookParam { key: "pid".into(), value: "20".into() });
        assert!(top.detail.contains("php-fpm (pid 20, 390%), postgres (pid 30, 150%), nginx (pid 10, 40%)"));
        assert_eq!(saturation.actions[1].title, "Add at least 12 CPU cores");
    }

    #[test]
    fn without_processes_only_capacity_actions_remain() {
        let findings = run(&snapshot(cpu(96.0, 20.0), None), &[]);
        assert!(findings.iter().all(|f| f.actions.iter().all(|a| a.id != "cpu.move-top-consumer")));
    }

    #[test]
    fn a_process_using_little_cpu_is_not_worth_moving() {
        let findings = run(&snapshot(cpu(96.0, 20.0), Some(vec![process(5, "cron", 3.0)])), &[]);
        let saturation = findings.iter().find(|f| f.rule == "cpu/saturation").unwrap();
        let ids: Vec<&str> = saturation.actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["cpu.add-cores"]);
    }

    #[test]
    fn a_long_queue_on_idle_cores_doubts_that_cores_help() {
        let busy = run(&snapshot(cpu(90.0, 20.0), None), &[]);
        let idle = run(&snapshot(cpu(10.0, 20.0), None), &[]);
        let add_cores =
            |findings: &[Finding]| findings.iter().find(|f| f.rule == "cpu/saturation").unwrap().actions[0].clone();
        assert_eq!(add_cores(&busy).confidence, 0.7);
        assert_eq!(add_cores(&idle).confidence, 0.3);
        assert!(add_cores(&idle).detail.contains("blocked on disk or network I/O"));
    }

    #[test]
    fn iowait_and_steal_point_away_from_the_cpu() {
        let mut vm = cpu(40.0, 2.0);
        vm.iowait_pct = Some(45.0);
        vm.steal_pct = Some(12.0);
        let findings = run(&snapshot(vm, None), &[]);
        assert_eq!(severity_of(&findings, "cpu/iowait"), Some(Severity::High));
        assert_eq!(severity_of(&findings, "cpu/steal"), Some(Severity::Medium));
        assert_eq!(findings.len(), 2);
    }
}
