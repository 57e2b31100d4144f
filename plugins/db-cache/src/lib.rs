//! Built-in rule plugin `db-cache`: does the database read from memory or from disk?
//!
//! - `db-cache/hit-ratio`: the share of page/block reads served from the
//!   server's own cache (`database.cache_hit_ratio`: PostgreSQL
//!   `blks_hit ÷ (blks_hit + blks_read)`, InnoDB
//!   `1 − Innodb_buffer_pool_reads ÷ Innodb_buffer_pool_read_requests`) below
//!   `min_hit_ratio` (default 0.99, the usual OLTP target of PostgreSQL
//!   monitoring guides and MySQLTuner's "read efficiency"), judged only once
//!   the server has done `min_reads` reads (default 10 000: a freshly started
//!   server has a cold cache). Severity by how many times the allowed miss
//!   rate the miss rate is: `medium`, `high` from 5× (0.95 with the
//!   default), `critical` from 10× (0.90).
//! - `db-cache/buffer-size`: the cache is smaller than the data while the host
//!   has room for more. MariaDB/MySQL: `innodb_buffer_pool_size` below the
//!   size of the tables (`tables[].size_bytes`, data + indexes; the rule
//!   assumes InnoDB tables) and below `buffer_pool_max_ram_pct` of RAM
//!   (default 75 %: MySQLTuner and the MySQL manual's "up to 80 % of RAM on a
//!   dedicated server"). PostgreSQL: `shared_buffers` below
//!   `shared_buffers_min_ram_pct` of RAM (default 15 %) while the data exceeds
//!   it (PGTune and the PostgreSQL manual: about 25 % of RAM; the OS page cache
//!   holds the rest). The PostgreSQL check needs the `memory` section (a
//!   `uses`: RAM is what the guidance is relative to); the InnoDB one runs
//!   without it, capping nothing. `medium`, `high` when the hit ratio is also
//!   below `min_hit_ratio` (the small cache demonstrably costs reads).
//!
//! Actions (manual, no hook: both need a restart or a persisted setting the
//! operator owns): `db.raise-shared-buffers` with the exact
//! `ALTER SYSTEM SET shared_buffers = '…'` (25 % of RAM, or twice the current
//! value up to 40 % of RAM when already there), `db.raise-buffer-pool` with
//! the exact `SET GLOBAL innodb_buffer_pool_size = …` (the data plus 20 %,
//! capped at the RAM share, in 128 MiB chunks) and its my.cnf line, and
//! `db.find-heavy-readers` on a low hit ratio: a scan that reads a large table
//! evicts the cache whatever its size.
//!
//! Category: Software. The cache size is a setting; whether the machine has
//! the RAM for it is the `memory` plugin's (Hardware) question.

use perfsage_sdk::databases::{self, POSTGRESQL, is_mysql_family, status};
use perfsage_sdk::metrics::{human_bytes, pct};
use perfsage_sdk::*;

/// The `db-cache` rule plugin.
pub struct Plugin;

const MIB: f64 = 1024.0 * 1024.0;
/// InnoDB resizes the buffer pool in chunks (`innodb_buffer_pool_chunk_size`, 128 MiB by default).
const POOL_CHUNK: f64 = 128.0 * MIB;
/// Headroom over the data the buffer pool is sized to (growth, adaptive hash, change buffer).
const DATA_HEADROOM: f64 = 1.2;
/// The PostgreSQL manual: more than 40 % of RAM for shared_buffers rarely helps.
const SHARED_BUFFERS_MAX_RAM_PCT: f64 = 40.0;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "db-cache",
            env!("CARGO_PKG_VERSION"),
            "Database cache hit ratio, and caches smaller than the data",
            Category::Software,
        )
        .needs(&[Section::Databases])
        .uses(&[Section::Memory])
        .param(
            param::number(
                "min_hit_ratio",
                "Cache hit ratio under which the database reads too much from disk",
                "",
                0.99,
            )
            .range(0.5, 1.0),
        )
        .param(
            param::number(
                "min_reads",
                "Reads (PostgreSQL blks_hit + blks_read, InnoDB buffer pool read requests) before the ratio is judged",
                "reads",
                10_000.0,
            )
            .range(0.0, 1.0e15),
        )
        .param(
            param::number(
                "buffer_pool_max_ram_pct",
                "Share of RAM up to which the InnoDB buffer pool may grow (dedicated host)",
                "%",
                75.0,
            )
            .range(5.0, 90.0),
        )
        .param(
            param::number(
                "shared_buffers_min_ram_pct",
                "Share of RAM under which PostgreSQL shared_buffers is too small for data larger than it",
                "%",
                15.0,
            )
            .range(1.0, 40.0),
        )
        .param(
            param::number("shared_buffers_target_ram_pct", "Share of RAM to raise shared_buffers to", "%", 25.0)
                .range(5.0, 40.0),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let databases = snapshot.databases.as_deref().ok_or("the snapshot has no databases section")?;
        let limits = Limits {
            min_hit_ratio: config.number("min_hit_ratio"),
            min_reads: config.number("min_reads"),
            pool_max_ram_pct: config.number("buffer_pool_max_ram_pct"),
            sb_min_ram_pct: config.number("shared_buffers_min_ram_pct"),
            sb_target_ram_pct: config.number("shared_buffers_target_ram_pct"),
            ram: machine::ram_bytes(snapshot),
        };
        let mut findings: Vec<Finding> =
            databases.iter().flat_map(|db| [hit_ratio(db, &limits), buffer_size(db, &limits)]).flatten().collect();
        builders::sort_by_target(&mut findings);
        Ok(findings)
    }
}

export_rule!(Plugin);

struct Limits {
    min_hit_ratio: f64,
    min_reads: f64,
    pool_max_ram_pct: f64,
    sb_min_ram_pct: f64,
    sb_target_ram_pct: f64,
    /// Installed RAM, when the snapshot has a memory section.
    ram: Option<f64>,
}

/// Reads the hit ratio is computed over, by engine; `None` when unknown.
fn reads(db: &Database) -> Option<f64> {
    if db.engine == POSTGRESQL {
        Some(status(db, "blks_hit")? + status(db, "blks_read")?)
    } else if is_mysql_family(&db.engine) {
        status(db, "Innodb_buffer_pool_read_requests")
    } else {
        None
    }
}

/// The hit ratio, when it is judged (enough reads) and below the minimum.
fn low_ratio(db: &Database, limits: &Limits) -> Option<f64> {
    let ratio = db.cache_hit_ratio.filter(|r| r.is_finite())?;
    (ratio < limits.min_hit_ratio && reads(db)? >= limits.min_reads).then_some(ratio)
}

fn total_data(db: &Database) -> Option<f64> {
    let sizes: Vec<f64> = db.tables.iter().filter_map(|t| t.size_bytes).map(|b| b as f64).collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}

fn hit_ratio(db: &Database, limits: &Limits) -> Option<Finding> {
    let ratio = low_ratio(db, limits)?;
    let label = databases::label(&db.engine, &db.name);
    let allowed_miss = (1.0 - limits.min_hit_ratio).max(1e-6);
    let severity = severity::rising((1.0 - ratio) / allowed_miss, 5.0, 10.0);
    let cache = if db.engine == POSTGRESQL { "shared buffers" } else { "InnoDB buffer pool" };
    let title = format!(
        "{label}: {:.2}% of reads hit the {cache} (threshold {:.2}%)",
        ratio * 100.0,
        limits.min_hit_ratio * 100.0
    );
    let mut finding = Finding::new("db-cache/hit-ratio", title, Category::Software, severity, label.clone())
        .evidence("cache hit ratio", ratio, limits.min_hit_ratio, "")
        .evidence("reads", reads(db).unwrap_or(0.0), limits.min_reads, "reads");
    if let Some(raise) = raise_cache(db, limits, 0.5) {
        finding = finding.action(raise);
    }
    Some(finding.action(find_heavy_readers(db, &label)))
}

fn buffer_size(db: &Database, limits: &Limits) -> Option<Finding> {
    let label = databases::label(&db.engine, &db.name);
    let data = total_data(db)?;
    let (setting, cache) = if db.engine == POSTGRESQL {
        ("shared_buffers", status(db, "shared_buffers")?)
    } else if is_mysql_family(&db.engine) {
        ("innodb_buffer_pool_size", status(db, "innodb_buffer_pool_size")?)
    } else {
        return None;
    };
    if cache <= 0.0 || data <= cache {
        return None;
    }
    let ram_pct = limits.ram.map(|ram| pct(cache, ram));
    let (bar, ram_pct) = if db.engine == POSTGRESQL {
        // Without RAM the PGTune guidance cannot be applied.
        (limits.sb_min_ram_pct, ram_pct?)
    } else {
        (limits.pool_max_ram_pct, ram_pct.unwrap_or(0.0))
    };
    if ram_pct >= bar {
        return None;
    }
    let action = raise_cache(db, limits, 0.7)?;
    let misses = low_ratio(db, limits).is_some();
    let severity = if misses { Severity::High } else { Severity::Medium };
    let of_ram =
        limits.ram.map(|ram| format!(", {:.0}% of {} RAM", pct(cache, ram), human_bytes(ram))).unwrap_or_default();
    let title = format!(
        "{label}: {setting} is {}{of_ram}, for {} of tables and indexes",
        human_bytes(cache),
        human_bytes(data)
    );
    let mut finding = Finding::new("db-cache/buffer-size", title, Category::Software, severity, label).evidence(
        "data size over cache size",
        data / cache,
        1.0,
        "",
    );
    if limits.ram.is_some() {
        finding = finding.evidence(format!("{setting} share of RAM"), ram_pct, bar, "%");
    }
    if let Some(ratio) = db.cache_hit_ratio.filter(|_| misses) {
        finding = finding.evidence("cache hit ratio", ratio, limits.min_hit_ratio, "");
    }
    Some(finding.action(action))
}

/// The raise action for the engine, with a computed value; `None` when no
/// larger value can be justified (already at the cap, or setting unknown).
fn raise_cache(db: &Database, limits: &Limits, impact: f64) -> Option<Action> {
    if db.engine == POSTGRESQL {
        raise_shared_buffers(db, limits, impact)
    } else if is_mysql_family(&db.engine) {
        raise_buffer_pool(db, limits, impact)
    } else {
        None
    }
}

fn raise_shared_buffers(db: &Database, limits: &Limits, impact: f64) -> Option<Action> {
    let current = status(db, "shared_buffers")?;
    let (target, why) = match limits.ram {
        Some(ram) => {
            let target = ram * limits.sb_target_ram_pct / 100.0;
            let cap = ram * SHARED_BUFFERS_MAX_RAM_PCT / 100.0;
            if current < target * 0.95 {
                (target, format!("{:.0}% of the {} of RAM (PGTune's rule for a dedicated server)", limits.sb_target_ram_pct, human_bytes(ram)))
            } else if current * 2.0 <= cap {
                (current * 2.0, format!("twice the current value, still under 40% of the {} of RAM", human_bytes(ram)))
            } else {
                return None;
            }
        }
        None => (current * 2.0, "twice the current value; the snapshot does not say how much RAM the host has, so check that 25% of it is not exceeded".to_string()),
    };
    let mb = (target / MIB).floor() as u64;
    if (mb as f64) * MIB <= current {
        return None;
    }
    let label = databases::label(&db.engine, &db.name);
    Some(
        Action::new(
            "db.raise-shared-buffers",
            format!("Raise shared_buffers to {mb}MB on {label}"),
            Category::Software,
        )
        .detail(format!(
            "shared_buffers is {} now; {mb}MB is {why}. As a superuser run `ALTER SYSTEM SET shared_buffers = \
                 '{mb}MB';` then restart the server (`systemctl restart postgresql`): shared_buffers only changes \
                 at start. Keep effective_cache_size at about 50-75% of RAM so the planner knows about the OS page \
                 cache, and make sure the host has the memory free (Linux may need `vm.nr_hugepages` for a large \
                 value with huge_pages = on).",
            human_bytes(current)
        ))
        .impact(impact)
        .confidence(0.6)
        .effort(Level::Low)
        .risk(Level::Medium),
    )
}

fn raise_buffer_pool(db: &Database, limits: &Limits, impact: f64) -> Option<Action> {
    let current = status(db, "innodb_buffer_pool_size")?;
    let data = total_data(db);
    let cap = limits.ram.map(|ram| ram * limits.pool_max_ram_pct / 100.0);
    let wanted = match data {
        Some(data) if data * DATA_HEADROOM > current => data * DATA_HEADROOM,
        _ => current * 2.0,
    };
    // Whole chunks; the epsilon keeps float noise from adding one.
    let mut target = (wanted / POOL_CHUNK - 1e-9).ceil() * POOL_CHUNK;
    if let Some(cap) = cap.filter(|cap| target > *cap) {
        target = (cap / POOL_CHUNK).floor() * POOL_CHUNK;
    }
    if target <= current {
        return None;
    }
    let bytes = target as u64;
    let mib = bytes / (1 << 20);
    let why = match (data, limits.ram) {
        (Some(data), Some(ram)) if (data * DATA_HEADROOM) > target => format!(
            "the most the {:.0}% cap of the {} of RAM allows (the {} of data would need more)",
            limits.pool_max_ram_pct,
            human_bytes(ram),
            human_bytes(data)
        ),
        (Some(data), _) if data * DATA_HEADROOM > current => {
            format!("the {} of tables and indexes plus 20% headroom", human_bytes(data))
        }
        _ => "twice the current value".to_string(),
    };
    let ram_note = if limits.ram.is_none() {
        " The snapshot does not say how much RAM the host has: keep the pool under about 75% of it."
    } else {
        ""
    };
    let label = databases::label(&db.engine, &db.name);
    Some(
        Action::new(
            "db.raise-buffer-pool",
            format!("Raise innodb_buffer_pool_size to {} on {label}", human_bytes(target)),
            Category::Software,
        )
        .detail(format!(
            "The buffer pool is {} now; {} is {why}. Resize it online (MariaDB 10.2+, MySQL 5.7+) with `SET GLOBAL \
             innodb_buffer_pool_size = {bytes};` then persist it in the [mysqld] section of my.cnf \
             (`innodb_buffer_pool_size = {mib}M`; MySQL 8 can use SET PERSIST instead) so a restart keeps it. The \
             resize runs in the background in {}-chunks; watch `Innodb_buffer_pool_resize_status`.{ram_note}",
            human_bytes(current),
            human_bytes(target),
            human_bytes(POOL_CHUNK)
        ))
        .impact(impact)
        .confidence(0.6)
        .effort(Level::Low)
        .risk(Level::Low),
    )
}

fn find_heavy_readers(db: &Database, label: &str) -> Action {
    let how = if db.engine == POSTGRESQL {
        "`SELECT query, shared_blks_read, shared_blks_hit FROM pg_stat_statements ORDER BY shared_blks_read DESC \
         LIMIT 10;` and the tables with the most `seq_tup_read` in pg_stat_user_tables"
    } else {
        "`SELECT digest_text, sum_rows_examined, sum_no_index_used FROM performance_schema.\
         events_statements_summary_by_digest ORDER BY sum_rows_examined DESC LIMIT 10;`"
    };
    Action::new(
        "db.find-heavy-readers",
        format!("Find the statements that read the most on {label}"),
        Category::Software,
    )
    .detail(format!(
        "A cache misses when the working set does not fit, but also when one statement scans a large table \
             and pushes everything else out. List the biggest readers with {how}, and index or rewrite them \
             (see the slow-queries and missing-index findings) before sizing the cache for a scan."
    ))
    .impact(0.4)
    .confidence(0.5)
    .effort(Level::Medium)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, action_ids, check, database, empty_snapshot, memory_gib};

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn table(name: &str, gib: f64) -> TableStat {
        TableStat { size_bytes: Some((gib * GIB) as u64), ..testing::table(name, 1_000_000) }
    }

    fn db(engine: &str, ratio: f64, status: &[(&str, f64)], tables: Vec<TableStat>) -> Database {
        Database { cache_hit_ratio: Some(ratio), tables, ..database(engine, status) }
    }

    fn postgres(ratio: f64, shared_buffers_gib: f64, data_gib: f64) -> Database {
        let hit = 1.0e6 * ratio;
        db(
            "postgresql",
            ratio,
            &[("blks_hit", hit), ("blks_read", 1.0e6 - hit), ("shared_buffers", shared_buffers_gib * GIB)],
            vec![table("public.deals", data_gib)],
        )
    }

    fn mariadb(ratio: f64, pool_gib: f64, data_gib: f64) -> Database {
        db(
            "mariadb",
            ratio,
            &[("Innodb_buffer_pool_read_requests", 5.0e6), ("innodb_buffer_pool_size", pool_gib * GIB)],
            vec![table("shop.orders", data_gib * 0.75), table("shop.customers", data_gib * 0.25)],
        )
    }

    fn run(databases: Vec<Database>, ram_gib: Option<f64>, config: Vec<ConfigEntry>) -> Vec<Finding> {
        let s = Snapshot { databases: Some(databases), memory: ram_gib.map(memory_gib), ..empty_snapshot() };
        check::<Plugin>(&s, config).unwrap()
    }

    #[test]
    fn healthy_caches_are_silent() {
        let findings = run(vec![postgres(0.999, 4.0, 10.0), mariadb(0.998, 8.0, 6.0)], Some(16.0), vec![]);
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn small_shared_buffers_with_misses_is_high_and_names_the_exact_setting() {
        let findings = run(vec![postgres(0.88, 0.125, 20.0)], Some(16.0), vec![]);
        assert_eq!(findings.len(), 2, "{findings:#?}");
        let (size, ratio) = (&findings[0], &findings[1]);
        assert_eq!((size.rule.as_str(), size.severity), ("db-cache/buffer-size", Severity::High));
        assert_eq!((ratio.rule.as_str(), ratio.severity), ("db-cache/hit-ratio", Severity::Critical));
        assert_eq!(action_ids(ratio), ["db.raise-shared-buffers", "db.find-heavy-readers"]);
        assert!(size.actions[0].detail.contains("ALTER SYSTEM SET shared_buffers = '4096MB';"));
        assert_eq!(size.target, "postgresql crm");
    }

    #[test]
    fn shared_buffers_needs_ram_to_be_judged_small() {
        assert!(run(vec![postgres(0.999, 0.125, 20.0)], None, vec![]).is_empty());
        // At 25 % of RAM already: no buffer-size finding.
        assert!(run(vec![postgres(0.999, 4.0, 20.0)], Some(16.0), vec![]).is_empty());
    }

    #[test]
    fn small_buffer_pool_gets_the_data_size_capped_by_ram() {
        let findings = run(vec![mariadb(0.999, 1.0, 10.0)], Some(16.0), vec![]);
        assert_eq!(findings.len(), 1);
        assert_eq!((findings[0].rule.as_str(), findings[0].severity), ("db-cache/buffer-size", Severity::Medium));
        let detail = &findings[0].actions[0].detail;
        // 10 GiB × 1.2 = 12 GiB, under 75 % of 16 GiB.
        assert!(detail.contains(&format!("SET GLOBAL innodb_buffer_pool_size = {};", 12 * (1u64 << 30))), "{detail}");
        assert!(detail.contains("innodb_buffer_pool_size = 12288M"));

        let capped = run(vec![mariadb(0.999, 1.0, 30.0)], Some(16.0), vec![]);
        assert!(capped[0].actions[0].detail.contains(&format!("= {};", 12 * (1u64 << 30))), "75% of 16 GiB");
        // A pool already at the cap is not "too small".
        assert!(run(vec![mariadb(0.999, 12.0, 30.0)], Some(16.0), vec![]).is_empty());
    }

    #[test]
    fn a_cold_cache_is_not_judged() {
        let mut cold = mariadb(0.5, 8.0, 1.0);
        cold.status[0].value = 2000.0;
        assert!(run(vec![cold], Some(16.0), vec![]).is_empty());
    }

    #[test]
    fn config_sets_the_ratio() {
        let dbs = vec![mariadb(0.985, 8.0, 1.0)];
        let findings = run(dbs.clone(), Some(16.0), vec![]);
        assert_eq!((findings.len(), findings[0].severity), (1, Severity::Medium));
        let lax = vec![ConfigEntry { name: "min_hit_ratio".into(), value: ParamValue::Number(0.98) }];
        assert!(run(dbs, Some(16.0), lax).is_empty());
    }
}
