//! The processes a finding names as culprits: the busiest by CPU and the
//! largest by resident memory, ranked the same way by every rule so the same
//! snapshot always names the same processes in the same order.

use std::cmp::Ordering;

use crate::Process;

/// The `count` busiest processes by CPU share, busiest first; processes using
/// no CPU are left out, ties are broken by name then pid.
pub fn busiest_by_cpu(processes: &[Process], count: usize) -> Vec<&Process> {
    top(processes, count, |p| p.cpu_pct > 0.0, |a, b| b.cpu_pct.total_cmp(&a.cpu_pct))
}

/// The `count` largest processes by resident memory, largest first;
/// processes with no resident memory are left out, ties are broken by name
/// then pid.
pub fn largest_by_rss(processes: &[Process], count: usize) -> Vec<&Process> {
    top(processes, count, |p| p.rss_bytes > 0, |a, b| b.rss_bytes.cmp(&a.rss_bytes))
}

/// The first `count` of the processes that `keep`, ordered by `rank`, then
/// by name and pid so the order never depends on the source's.
fn top(
    processes: &[Process],
    count: usize,
    keep: impl Fn(&Process) -> bool,
    rank: impl Fn(&Process, &Process) -> Ordering,
) -> Vec<&Process> {
    let mut kept: Vec<&Process> = processes.iter().filter(|p| keep(p)).collect();
    kept.sort_by(|a, b| rank(a, b).then_with(|| a.name.cmp(&b.name)).then(a.pid.cmp(&b.pid)));
    kept.truncate(count);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::process;

    fn names(ranked: &[&Process]) -> Vec<(u32, String)> {
        ranked.iter().map(|p| (p.pid, p.name.clone())).collect()
    }

    #[test]
    fn busiest_first_idle_left_out_ties_by_name_then_pid() {
        let processes = vec![
            process(4, "php-fpm", 80.0, 1),
            process(3, "php-fpm", 80.0, 1),
            process(9, "cron", 0.0, 1),
            process(1, "nginx", 120.0, 1),
            process(2, "java", 80.0, 1),
        ];
        assert_eq!(
            names(&busiest_by_cpu(&processes, 3)),
            [(1, "nginx".into()), (2, "java".into()), (3, "php-fpm".into())]
        );
        assert!(busiest_by_cpu(&processes[2..3], 3).is_empty());
    }

    #[test]
    fn largest_first_empty_left_out_ties_by_name_then_pid() {
        let processes = vec![
            process(7, "redis-server", 1.0, 2 << 30),
            process(8, "kworker", 1.0, 0),
            process(3, "postgres", 1.0, 2 << 30),
            process(4, "java", 1.0, 6 << 30),
        ];
        assert_eq!(names(&largest_by_rss(&processes, 2)), [(4, "java".into()), (3, "postgres".into())]);
        assert_eq!(largest_by_rss(&processes, 10).len(), 3);
    }
}
