//! Built-in rule plugin `db-connections`: is the database running out of connections?
//!
//! - `db-connections/saturation`: client connections in use
//!   (`connections_used`: PostgreSQL client backends, MySQL
//!   `Threads_connected`) against `connections_max` (`max_connections`) at or
//!   above `high_pct` (default 80 %): `medium`, `high` from 90 %, `critical`
//!   from 98 % (the next connection is refused with "too many connections").
//! - `db-connections/peak` (MariaDB/MySQL): `Max_used_connections`, the
//!   highest number of simultaneous connections since the server started,
//!   against `max_connections` at or above `peak_pct` (default 85 %, the
//!   "highest usage of available connections" warning of MySQLTuner): the
//!   server has been close to refusing connections even if it is quiet now.
//!   `medium`, `high` when the peak reached the limit.
//! - `db-connections/threads-running` (MariaDB/MySQL): `Threads_running`,
//!   the statements executing at this moment, above `running_per_core`
//!   (default 2) × the host's logical cores: more work than the CPUs can run
//!   at once, usually statements piled up behind a lock or a slow query.
//!   Severity by how many times past the limit (`high` from 2×, `critical`
//!   from 4×). Needs the `cpu` section (a `uses`); without it the rule is
//!   silent. PostgreSQL has no equivalent counter in the snapshot.
//!
//! Actions: `db.connection-pool` (a pooler: PgBouncer in transaction mode,
//! ProxySQL or MariaDB's thread pool, and application pool sizes that add up
//! to less than the limit), `db.raise-max-connections` (with the exact
//! statement, and the memory each connection costs), and
//! `db.find-lock-or-slow-query` for piled-up running threads. All manual.

use perfsage_sdk::databases::{self, POSTGRESQL, is_mysql_family, max_connections, status};
use perfsage_sdk::metrics::{human_bytes, pct};
use perfsage_sdk::*;

/// The `db-connections` rule plugin.
pub struct Plugin;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "db-connections",
            env!("CARGO_PKG_VERSION"),
            "Database connections against max_connections, their peak, and running threads per core",
            Category::Software,
        )
        .needs(&[Section::Databases])
        .uses(&[Section::Cpu])
        .param(
            param::number(
                "high_pct",
                "Connections in use, as a share of max_connections, from which the pool is near full",
                "%",
                80.0,
            )
            .range(10.0, 100.0),
        )
        .param(
            param::number(
                "peak_pct",
                "MariaDB/MySQL Max_used_connections, as a share of max_connections, from which the peak came too close",
                "%",
                85.0,
            )
            .range(10.0, 100.0),
        )
        .param(
            param::number(
                "running_per_core",
                "MariaDB/MySQL Threads_running per logical core above which statements pile up",
                "threads/core",
                2.0,
            )
            .range(0.1, 100.0),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let databases = snapshot.databases.as_deref().ok_or("the snapshot has no databases section")?;
        let cores = snapshot.cpu.as_ref().map(|c| c.logical_cores).filter(|c| *c > 0);
        let mut findings: Vec<Finding> = databases
            .iter()
            .flat_map(|db| {
                [
                    saturation(db, config.number("high_pct")),
                    peak(db, config.number("peak_pct")),
                    cores.and_then(|cores| threads_running(db, config.number("running_per_core"), cores)),
                ]
            })
            .flatten()
            .collect();
        builders::sort_by_target(&mut findings);
        Ok(findings)
    }
}

export_rule!(Plugin);

fn saturation(db: &Database, high_pct: f64) -> Option<Finding> {
    let max = max_connections(db)?;
    let used = db.connections_used as f64;
    let used_pct = pct(used, max);
    if used_pct < high_pct {
        return None;
    }
    let label = databases::label(&db.engine, &db.name);
    let title = format!("{label}: {used:.0} of {max:.0} connections in use ({used_pct:.0}%, threshold {high_pct:.0}%)");
    Some(
        Finding::new(
            "db-connections/saturation",
            title,
            Category::Software,
            severity::rising(used_pct, 90.0, 98.0),
            label.clone(),
        )
        .evidence("connections in use", used_pct, high_pct, "%")
        .evidence("connections", used, max, "")
        .action(connection_pool(db, &label, used, max, 0.7))
        .action(raise_max_connections(db, &label, used, max)),
    )
}

fn peak(db: &Database, peak_pct: f64) -> Option<Finding> {
    if !is_mysql_family(&db.engine) {
        return None;
    }
    let max = max_connections(db)?;
    let peak = status(db, "Max_used_connections")?;
    let peak_share = pct(peak, max);
    if peak_share < peak_pct {
        return None;
    }
    let label = databases::label(&db.engine, &db.name);
    let severity = severity::high_from(peak, max);
    let since = status(db, "Uptime")
        .map(|s| format!(" in the last {}", metrics::human_duration(s)))
        .unwrap_or_else(|| " since the server started".to_string());
    let title = format!("{label}: connections peaked at {peak:.0} of {max:.0}{since} ({peak_share:.0}%)");
    Some(
        Finding::new("db-connections/peak", title, Category::Software, severity, label.clone())
            .evidence("highest usage of available connections", peak_share, peak_pct, "%")
            .evidence("Max_used_connections", peak, max, "")
            .action(connection_pool(db, &label, peak, max, 0.6))
            .action(raise_max_connections(db, &label, peak, max)),
    )
}

fn threads_running(db: &Database, per_core: f64, cores: u32) -> Option<Finding> {
    if !is_mysql_family(&db.engine) {
        return None;
    }
    let running = status(db, "Threads_running")?;
    let limit = per_core * cores as f64;
    if running <= limit {
        return None;
    }
    let label = databases::label(&db.engine, &db.name);
    let title = format!(
        "{label}: {running:.0} statements running at once on {cores} cores (threshold {limit:.0}, {per_core} per core)"
    );
    Some(
        Finding::new(
            "db-connections/threads-running",
            title,
            Category::Software,
            severity::by_ratio(running / limit),
            label.clone(),
        )
        .evidence("Threads_running", running, limit, "threads")
        .action(find_lock_or_slow_query(&label, running))
        .action(connection_pool(
            db,
            &label,
            db.connections_used as f64,
            max_connections(db).unwrap_or(0.0),
            0.4,
        )),
    )
}

fn connection_pool(db: &Database, label: &str, used: f64, max: f64, impact: f64) -> Action {
    let pooler = if db.engine == POSTGRESQL {
        "Put PgBouncer in front of it with `pool_mode = transaction`: thousands of client connections share a \
         few server connections (`default_pool_size` of about 2-4 per core is plenty for OLTP), because a \
         connection is only needed while a transaction runs. Session state (SET, advisory locks, prepared \
         statements before PgBouncer 1.21) does not survive transaction pooling; check the application."
    } else {
        "Put ProxySQL in front of it (connection multiplexing), or let MariaDB serve many connections with \
         few threads (`thread_handling = pool-of-threads`)."
    };
    Action::new("db.connection-pool", format!("Pool the connections to {label}"), Category::Software)
        .detail(format!(
            "{used:.0} connections of {max:.0}: most of them are usually idle, held open by application pools. \
             {pooler} Size the application pools so that instances × pool size stays well under max_connections \
             (HikariCP's advice: about cores × 2 connections per database server is enough); oversized pools \
             only queue the work inside the database."
        ))
        .impact(impact)
        .confidence(0.7)
        .effort(Level::Medium)
}

fn raise_max_connections(db: &Database, label: &str, used: f64, max: f64) -> Action {
    // A quarter above what was seen, and at least half again the current limit, in tens.
    let new = ((used * 1.25).max(max * 1.5) / 10.0).ceil() as u64 * 10;
    let added = new as f64 - max;
    let (statement, cost) = if db.engine == POSTGRESQL {
        let work_mem = status(db, "work_mem").unwrap_or(4.0 * 1024.0 * 1024.0);
        (
            format!(
                "`ALTER SYSTEM SET max_connections = {new};` then restart the server (max_connections only changes \
                 at start)"
            ),
            format!(
                "Each PostgreSQL connection is a process of roughly 5-10 MiB, and every sort or hash in its query \
                 may take work_mem ({}) more: {added:.0} more connections can cost {} or more under load.",
                human_bytes(work_mem),
                human_bytes(added * (10.0 * 1024.0 * 1024.0 + work_mem))
            ),
        )
    } else {
        (
            format!(
                "`SET GLOBAL max_connections = {new};` and persist `max_connections = {new}` in the [mysqld] \
                 section of my.cnf"
            ),
            "Each connection may allocate its per-thread buffers (sort_buffer_size, join_buffer_size, \
             read_rnd_buffer_size, thread_stack: several MiB under load): check MySQLTuner's \"maximum possible \
             memory usage\" stays under RAM."
                .to_string(),
        )
    };
    Action::new("db.raise-max-connections", format!("Raise max_connections on {label} to {new}"), Category::Software)
        .detail(format!(
            "If the connections are really needed, raise the limit: {statement}. {cost} More connections \
             than the CPUs can serve make every statement slower; pooling is usually the better fix."
        ))
        .impact(0.5)
        .confidence(0.4)
        .effort(Level::Low)
        .risk(Level::Medium)
}

fn find_lock_or_slow_query(label: &str, running: f64) -> Action {
    Action::new(
        "db.find-lock-or-slow-query",
        format!("Find what the {running:.0} running statements on {label} wait on"),
        Category::Software,
    )
    .detail(
        "Statements pile up behind a lock or a slow statement far more often than from real CPU demand. Look \
         at `SHOW FULL PROCESSLIST` for many threads in one state (\"Waiting for table metadata lock\", \
         \"Sending data\", \"Creating sort index\"), at `SELECT * FROM sys.innodb_lock_waits` for the blocking \
         transaction, and at `SHOW ENGINE INNODB STATUS` for long-running transactions; end or fix the blocker \
         (see the long-transactions and slow-queries findings).",
    )
    .impact(0.7)
    .confidence(0.6)
    .effort(Level::Low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check, database, empty_snapshot};

    fn db(engine: &str, used: u32, max: u32, status: &[(&str, f64)]) -> Database {
        Database { connections_used: used, connections_max: max, ..database(engine, status) }
    }

    fn cpu(cores: u32) -> Cpu {
        testing::cpu(cores, 50.0, 1.0)
    }

    fn run(databases: Vec<Database>, cores: Option<u32>, config: Vec<ConfigEntry>) -> Vec<Finding> {
        let s = Snapshot { databases: Some(databases), cpu: cores.map(cpu), ..empty_snapshot() };
        check::<Plugin>(&s, config).unwrap()
    }

    #[test]
    fn saturation_ladder() {
        for (used, expected) in
            [(79, None), (80, Some(Severity::Medium)), (92, Some(Severity::High)), (99, Some(Severity::Critical))]
        {
            let findings = run(vec![db("postgresql", used, 100, &[])], None, vec![]);
            assert_eq!(findings.first().map(|f| f.severity), expected, "{used} of 100");
        }
        let f = &run(vec![db("postgresql", 95, 100, &[("work_mem", 4194304.0)])], None, vec![])[0];
        assert_eq!(f.target, "postgresql crm");
        assert_eq!(
            f.actions.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            ["db.connection-pool", "db.raise-max-connections"]
        );
        assert!(f.actions[1].detail.contains("ALTER SYSTEM SET max_connections = 150;"), "{}", f.actions[1].detail);
        assert!(f.actions[0].detail.contains("PgBouncer"));
    }

    #[test]
    fn mysql_peak_and_running_threads() {
        let status = [
            ("Max_used_connections", 151.0),
            ("max_connections", 151.0),
            ("Threads_running", 40.0),
            ("Uptime", 86400.0 * 3.0),
        ];
        let findings = run(vec![db("mariadb", 30, 151, &status)], Some(8), vec![]);
        let rules: Vec<(&str, Severity)> = findings.iter().map(|f| (f.rule.as_str(), f.severity)).collect();
        assert_eq!(
            rules,
            [("db-connections/peak", Severity::High), ("db-connections/threads-running", Severity::High)]
        );
        assert!(findings[0].title.contains("in the last 3.0 d"));
        assert!(findings[0].actions[1].detail.contains("SET GLOBAL max_connections = 230;"));
        assert_eq!(findings[1].actions[0].id, "db.find-lock-or-slow-query");
        // Without the cpu section the running threads cannot be judged.
        assert_eq!(run(vec![db("mariadb", 30, 151, &status)], None, vec![]).len(), 1);
    }

    #[test]
    fn a_quiet_server_is_silent_and_postgres_has_no_peak_rule() {
        let status = [("Max_used_connections", 40.0), ("Threads_running", 3.0)];
        assert!(run(vec![db("mysql", 12, 151, &status)], Some(4), vec![]).is_empty());
        assert!(run(vec![db("postgresql", 12, 100, &[("Max_used_connections", 100.0)])], Some(4), vec![]).is_empty());
    }

    #[test]
    fn config_moves_the_thresholds() {
        let dbs = vec![db("mysql", 70, 100, &[("Threads_running", 6.0), ("Max_used_connections", 70.0)])];
        assert!(run(dbs.clone(), Some(4), vec![]).is_empty());
        let strict = vec![
            ConfigEntry { name: "high_pct".into(), value: ParamValue::Number(60.0) },
            ConfigEntry { name: "peak_pct".into(), value: ParamValue::Number(60.0) },
            ConfigEntry { name: "running_per_core".into(), value: ParamValue::Number(1.0) },
        ];
        let rules: Vec<String> = run(dbs, Some(4), strict).into_iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["db-connections/peak", "db-connections/saturation", "db-connections/threads-running"]);
    }
}
