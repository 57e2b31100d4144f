//! Built-in rule plugin `temp-spill`: do sorts, hashes and GROUP BYs spill to disk?
//!
//! When a sort, a hash or a GROUP BY outgrows the memory the server gives it,
//! the server writes it to disk and the statement runs at disk speed. Both
//! engines count it; the counters are cumulative since the server started (or
//! its statistics were reset), so the rules judge shares, not totals.
//!
//! - `temp-spill/disk-tables` (MariaDB/MySQL): the share of internal
//!   temporary tables created on disk, `Created_tmp_disk_tables ÷
//!   Created_tmp_tables`, above `max_disk_share` (default 25 %, MySQLTuner's
//!   threshold), judged once the server has created `min_tmp_tables`
//!   (default 100: the share of a handful means nothing). `medium`, `high`
//!   from twice the threshold.
//! - `temp-spill/temp-files` (PostgreSQL): statements wrote temporary files
//!   (`pg_stat_database.temp_files`, `temp_bytes`) at least `min_temp_files`
//!   times (default 100): each one is a sort or hash larger than `work_mem`.
//!   `medium`, `high` when more than `max_files_per_1k_xact` (default 10) files
//!   per 1 000 transactions.
//!
//! Actions (manual, no hook: the memory settings are the operator's to size
//! against RAM and connections):
//! - `db.raise-tmp-table-size`: the exact `SET GLOBAL tmp_table_size = …;
//!   SET GLOBAL max_heap_table_size = …;` (the smaller of the two is the
//!   limit, so both), twice the current limit up to `max_tmp_table_size`
//!   (default 256 MiB), and the my.cnf lines;
//! - `db.raise-work-mem`: `ALTER SYSTEM SET work_mem = '…'` and
//!   `pg_reload_conf()`, sized to the average temporary file (rounded up to a
//!   power of two) up to `max_work_mem` (default 256 MiB), and never above
//!   what `max_connections` sorts at once could take from a quarter of RAM
//!   when the snapshot knows RAM;
//! - `db.find-spilling-statements`: where to see which statements spill. A
//!   TEXT or BLOB column in the temporary table sends it to disk whatever its
//!   size (MySQL before 8.0.13, MariaDB), and no setting fixes that; the query
//!   does.
//!
//! Category: Software (the settings and the statements).

use perfsage_sdk::databases::{self, POSTGRESQL, is_mysql_family, status};
use perfsage_sdk::metrics::{human_bytes, human_count};
use perfsage_sdk::*;

/// The `temp-spill` rule plugin.
pub struct Plugin;

const MIB: f64 = 1024.0 * 1024.0;
/// The share of RAM all connections' sorts together may take, at most, when
/// each uses the suggested `work_mem` once.
const WORK_MEM_RAM_SHARE: f64 = 0.25;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "temp-spill",
            env!("CARGO_PKG_VERSION"),
            "Sorts, hashes and GROUP BYs that spill to disk (temporary tables and files)",
            Category::Software,
        )
        .needs(&[Section::Databases])
        .uses(&[Section::Memory])
        .param(
            param::number(
                "max_disk_share",
                "Share of MariaDB/MySQL internal temporary tables created on disk above which they spill too often",
                "",
                0.25,
            )
            .range(0.0, 1.0),
        )
        .param(
            param::number(
                "min_tmp_tables",
                "Internal temporary tables (Created_tmp_tables) before the disk share is judged",
                "tables",
                100.0,
            )
            .range(0.0, 1.0e15),
        )
        .param(
            param::number(
                "max_tmp_table_size",
                "Largest tmp_table_size / max_heap_table_size to suggest (each temporary table may take it)",
                "bytes",
                256.0 * MIB,
            )
            .range(MIB, 64.0 * 1024.0 * MIB),
        )
        .param(
            param::number(
                "min_temp_files",
                "PostgreSQL temporary files (pg_stat_database.temp_files) before they are reported",
                "files",
                100.0,
            )
            .range(0.0, 1.0e15),
        )
        .param(
            param::number(
                "max_files_per_1k_xact",
                "PostgreSQL temporary files per 1 000 transactions above which the finding is high",
                "files",
                10.0,
            )
            .range(0.0, 1.0e6),
        )
        .param(
            param::number(
                "max_work_mem",
                "Largest work_mem to suggest (each sort or hash of each connection may take it)",
                "bytes",
                256.0 * MIB,
            )
            .range(MIB, 64.0 * 1024.0 * MIB),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let databases = snapshot.databases.as_deref().ok_or("the snapshot has no databases section")?;
        let limits = Limits {
            max_disk_share: config.number("max_disk_share"),
            min_tmp_tables: config.number("min_tmp_tables"),
            max_tmp_table_size: config.number("max_tmp_table_size"),
            min_temp_files: config.number("min_temp_files"),
            max_files_per_1k_xact: config.number("max_files_per_1k_xact"),
            max_work_mem: config.number("max_work_mem"),
            ram: machine::ram_bytes(snapshot),
        };
        let mut findings: Vec<Finding> = databases
            .iter()
            .filter_map(|db| {
                if is_mysql_family(&db.engine) {
                    disk_tables(db, &limits)
                } else if db.engine == POSTGRESQL {
                    temp_files(db, &limits)
                } else {
                    None
                }
            })
            .collect();
        // One rule per engine, and the target starts with the engine: the
        // rule never breaks a tie of targets.
        builders::sort_by_target(&mut findings);
        Ok(findings)
    }
}

export_rule!(Plugin);

struct Limits {
    max_disk_share: f64,
    min_tmp_tables: f64,
    max_tmp_table_size: f64,
    min_temp_files: f64,
    max_files_per_1k_xact: f64,
    max_work_mem: f64,
    /// Installed RAM, when the snapshot has a memory section.
    ram: Option<f64>,
}

fn disk_tables(db: &Database, limits: &Limits) -> Option<Finding> {
    let created = status(db, "Created_tmp_tables")?;
    let on_disk = status(db, "Created_tmp_disk_tables")?;
    if created < limits.min_tmp_tables.max(1.0) {
        return None;
    }
    let share = on_disk / created;
    if share <= limits.max_disk_share {
        return None;
    }
    let label = databases::label(&db.engine, &db.name);
    let severity = severity::high_from(share, limits.max_disk_share * 2.0);
    let title = format!(
        "{label}: {:.0}% of internal temporary tables go to disk ({} of {}, threshold {:.0}%)",
        share * 100.0,
        human_count(on_disk),
        human_count(created),
        limits.max_disk_share * 100.0
    );
    let mut finding = Finding::new("temp-spill/disk-tables", title, Category::Software, severity, label.clone())
        .evidence("temporary tables on disk, share", share, limits.max_disk_share, "")
        .evidence("temporary tables created", created, limits.min_tmp_tables, "tables");
    if let Some(raise) = raise_tmp_table_size(db, limits, &label) {
        finding = finding.action(raise);
    }
    Some(finding.action(find_spilling_statements(db, &label)))
}

fn raise_tmp_table_size(db: &Database, limits: &Limits, label: &str) -> Option<Action> {
    let tmp = status(db, "tmp_table_size")?;
    let heap = status(db, "max_heap_table_size")?;
    let current = tmp.min(heap);
    let target = (current * 2.0).min(limits.max_tmp_table_size);
    let target_mib = (target / MIB).floor();
    if target_mib * MIB <= current {
        return None; // already at the largest size this rule suggests
    }
    let bytes = (target_mib * MIB) as u64;
    let which = if tmp < heap {
        "tmp_table_size"
    } else if heap < tmp {
        "max_heap_table_size"
    } else {
        "both settings"
    };
    Some(
        Action::new(
            "db.raise-tmp-table-size",
            format!("Raise tmp_table_size and max_heap_table_size to {} on {label}", human_bytes(bytes as f64)),
            Category::Software,
        )
        .detail(format!(
            "An internal temporary table moves to disk when it outgrows the smaller of tmp_table_size ({}) and \
             max_heap_table_size ({}); the limit now is {which}. Raise both together: `SET GLOBAL tmp_table_size = \
             {bytes}; SET GLOBAL max_heap_table_size = {bytes};` (new connections get it), and persist them in the \
             [mysqld] section of my.cnf (`tmp_table_size = {mib}M` and `max_heap_table_size = {mib}M`). Every \
             connection may build such tables at once, so keep {} × max_connections ({}) within the memory the \
             host has to spare. This does not help a temporary table with TEXT or BLOB columns: see the statements \
             action.",
            human_bytes(tmp),
            human_bytes(heap),
            human_bytes(bytes as f64),
            db.connections_max,
            mib = target_mib as u64,
        ))
        .impact(0.5)
        .confidence(0.5)
        .effort(Level::Low)
        .risk(Level::Medium),
    )
}

fn temp_files(db: &Database, limits: &Limits) -> Option<Finding> {
    let files = db.temp_files? as f64;
    if files < limits.min_temp_files.max(1.0) {
        return None;
    }
    let bytes = status(db, "temp_bytes").unwrap_or(0.0);
    let transactions = status(db, "xact_commit").unwrap_or(0.0) + status(db, "xact_rollback").unwrap_or(0.0);
    let per_1k = (transactions > 0.0).then(|| files / transactions * 1000.0);
    let severity = match per_1k {
        Some(rate) if rate > limits.max_files_per_1k_xact => Severity::High,
        _ => Severity::Medium,
    };
    let label = databases::label(&db.engine, &db.name);
    let average = bytes / files;
    let title = format!(
        "{label}: {} temporary files written ({} in all, {} on average): sorts and hashes outgrow work_mem",
        human_count(files),
        human_bytes(bytes),
        human_bytes(average)
    );
    let mut finding = Finding::new("temp-spill/temp-files", title, Category::Software, severity, label.clone())
        .evidence("temporary files", files, limits.min_temp_files, "files");
    if let Some(rate) = per_1k {
        finding =
            finding.evidence("temporary files per 1000 transactions", rate, limits.max_files_per_1k_xact, "files");
    }
    if let Some(raise) = raise_work_mem(db, limits, average, &label) {
        finding = finding.action(raise);
    }
    Some(finding.action(find_spilling_statements(db, &label)))
}

fn raise_work_mem(db: &Database, limits: &Limits, average_file: f64, label: &str) -> Option<Action> {
    let current = status(db, "work_mem")?;
    // The average spill, rounded up to a power of two of MiB: a sort needs
    // somewhat more memory than the file it wrote.
    let wanted = (average_file / MIB).max(1.0).log2().ceil().exp2() * MIB;
    let mut target = wanted.max(current * 2.0).min(limits.max_work_mem);
    let mut ram_note = String::new();
    if let Some(ram) = limits.ram {
        let cap = ram * WORK_MEM_RAM_SHARE / f64::from(db.connections_max.max(1));
        if target > cap {
            target = cap;
            ram_note = format!(
                " It is capped so that all {} connections sorting at once stay within a quarter of the {} of RAM.",
                db.connections_max,
                human_bytes(ram)
            );
        }
    } else {
        ram_note = " The snapshot does not say how much RAM the host has: keep work_mem × max_connections well \
                    within it."
            .to_string();
    }
    let mb = (target / MIB).floor();
    if mb * MIB <= current {
        return None;
    }
    Some(
        Action::new(
            "db.raise-work-mem",
            format!("Raise work_mem to {}MB on {label}", mb as u64),
            Category::Software,
        )
        .detail(format!(
            "work_mem is {} now and the temporary files average {}. As a superuser run `ALTER SYSTEM SET work_mem = \
             '{}MB'; SELECT pg_reload_conf();` (no restart needed), or set it only for the role or the report that \
             spills (`ALTER ROLE … SET work_mem = …`). Each sort and hash of each connection may use it.{ram_note}",
            human_bytes(current),
            human_bytes(average_file),
            mb as u64
        ))
        .impact(0.5)
        .confidence(0.5)
        .effort(Level::Low)
        .risk(Level::Medium),
    )
}

fn find_spilling_statements(db: &Database, label: &str) -> Action {
    let how = if db.engine == POSTGRESQL {
        "`SELECT query, calls, temp_blks_written FROM pg_stat_statements ORDER BY temp_blks_written DESC LIMIT 10;` \
         (and `log_temp_files = 0` to log each file with its statement)"
    } else {
        "`SELECT digest_text, sum_created_tmp_disk_tables, sum_created_tmp_tables FROM performance_schema.\
         events_statements_summary_by_digest ORDER BY sum_created_tmp_disk_tables DESC LIMIT 10;`"
    };
    Action::new(
        "db.find-spilling-statements",
        format!("Find the statements that spill to disk on {label}"),
        Category::Software,
    )
    .detail(format!(
        "List them with {how}. A GROUP BY or ORDER BY without a matching index, a DISTINCT over many rows, or \
         TEXT/BLOB columns in the select list of a grouped query make temporary tables; an index that delivers \
         the order, or selecting the long columns after grouping by the key, removes the spill whatever the \
         memory settings."
    ))
    .impact(0.4)
    .confidence(0.5)
    .effort(Level::Medium)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{action_ids, check, database, empty_snapshot, memory_gib};

    fn db(engine: &str, temp_files: Option<u64>, status: &[(&str, f64)]) -> Database {
        Database { temp_files, ..database(engine, status) }
    }

    fn mariadb(created: f64, on_disk: f64) -> Database {
        db(
            "mariadb",
            None,
            &[
                ("Created_tmp_tables", created),
                ("Created_tmp_disk_tables", on_disk),
                ("tmp_table_size", 16.0 * MIB),
                ("max_heap_table_size", 32.0 * MIB),
            ],
        )
    }

    fn postgres(files: u64, bytes: f64, transactions: f64) -> Database {
        db(
            "postgresql",
            Some(files),
            &[("temp_bytes", bytes), ("xact_commit", transactions), ("xact_rollback", 0.0), ("work_mem", 4.0 * MIB)],
        )
    }

    fn run(databases: Vec<Database>, ram_gib: Option<f64>, config: Vec<ConfigEntry>) -> Vec<Finding> {
        let s = Snapshot { databases: Some(databases), memory: ram_gib.map(memory_gib), ..empty_snapshot() };
        check::<Plugin>(&s, config).unwrap()
    }

    #[test]
    fn few_spills_are_silent() {
        let findings =
            run(vec![mariadb(10_000.0, 1_000.0), mariadb(50.0, 40.0), postgres(20, 1.0e9, 1.0e6)], None, vec![]);
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn disk_temporary_tables_raise_the_smaller_limit_for_both_settings() {
        let findings = run(vec![mariadb(10_000.0, 4_000.0)], Some(16.0), vec![]);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!(
            (f.rule.as_str(), f.severity, f.target.as_str()),
            ("temp-spill/disk-tables", Severity::Medium, "mariadb crm")
        );
        assert_eq!(action_ids(f), ["db.raise-tmp-table-size", "db.find-spilling-statements"]);
        // The limit is tmp_table_size (16 MiB), doubled.
        let detail = &f.actions[0].detail;
        assert!(detail.contains(&format!("SET GLOBAL tmp_table_size = {};", 32 * (1u64 << 20))), "{detail}");
        assert!(detail.contains("the limit now is tmp_table_size"), "{detail}");
        assert!(detail.contains("tmp_table_size = 32M"), "{detail}");
    }

    #[test]
    fn half_on_disk_is_high_and_a_capped_size_leaves_only_the_statements() {
        let findings = run(vec![mariadb(10_000.0, 6_000.0)], None, vec![]);
        assert_eq!(findings[0].severity, Severity::High);
        let capped = vec![ConfigEntry { name: "max_tmp_table_size".into(), value: ParamValue::Number(16.0 * MIB) }];
        let findings = run(vec![mariadb(10_000.0, 6_000.0)], None, capped);
        assert_eq!(action_ids(&findings[0]), ["db.find-spilling-statements"]);
    }

    #[test]
    fn postgres_temp_files_size_work_mem_to_the_average_spill() {
        // 500 files of 24 MiB on average: 32 MB, a power of two above it.
        let findings = run(vec![postgres(500, 500.0 * 24.0 * MIB, 1.0e6)], Some(64.0), vec![]);
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!((f.rule.as_str(), f.severity), ("temp-spill/temp-files", Severity::Medium));
        assert_eq!(action_ids(f), ["db.raise-work-mem", "db.find-spilling-statements"]);
        assert!(f.actions[0].detail.contains("ALTER SYSTEM SET work_mem = '32MB'"), "{}", f.actions[0].detail);

        // Many files per transaction: high.
        let busy = run(vec![postgres(500, 500.0 * 24.0 * MIB, 20_000.0)], Some(64.0), vec![]);
        assert_eq!(busy[0].severity, Severity::High);
    }

    #[test]
    fn work_mem_stays_within_a_quarter_of_ram_across_connections() {
        // 100 connections × 32 MB would be 3.1 GiB; a quarter of 4 GiB is 1 GiB: 10 MB each.
        let findings = run(vec![postgres(500, 500.0 * 24.0 * MIB, 1.0e6)], Some(4.0), vec![]);
        let detail = &findings[0].actions[0].detail;
        assert!(detail.contains("ALTER SYSTEM SET work_mem = '10MB'"), "{detail}");
        assert!(detail.contains("a quarter of the 4.0 GiB of RAM"), "{detail}");
        // With 1 GiB, a quarter over 100 connections is below the current 4 MB: no raise.
        let tight = run(vec![postgres(500, 500.0 * 24.0 * MIB, 1.0e6)], Some(1.0), vec![]);
        assert_eq!(action_ids(&tight[0]), ["db.find-spilling-statements"]);
    }
}
