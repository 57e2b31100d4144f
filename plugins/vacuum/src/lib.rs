//! Built-in rule plugin `vacuum`: are PostgreSQL tables bloated with dead rows?
//!
//! PostgreSQL's MVCC leaves the old version of every updated or deleted row
//! in the table until VACUUM removes it. Autovacuum does so once a table's
//! dead rows exceed `autovacuum_vacuum_threshold` (50) +
//! `autovacuum_vacuum_scale_factor` (0.2) × its rows, so a large table can
//! carry millions of dead rows before it is cleaned, and a transaction left
//! open holds back what any vacuum may remove (the xmin horizon). Dead rows
//! make scans read more pages and indexes grow.
//!
//! Only PostgreSQL tables are judged (from `pg_stat_user_tables`: `n_dead_tup`,
//! `n_live_tup`, last (auto)vacuum); other engines have no dead rows in the
//! snapshot and stay silent.
//!
//! - `vacuum/dead-rows`: at least `min_dead_rows` dead rows (default 10 000)
//!   making up at least `dead_pct` of the table's rows, live + dead (default
//!   20 %, autovacuum's own default scale factor: past it, autovacuum should
//!   already have run): `medium`, `high` from 50 %.
//! - `vacuum/stale`: at least `min_dead_rows` dead rows and no vacuum for
//!   `max_age_days` (default 7) before the snapshot was taken, or never:
//!   autovacuum is not keeping up with this table (or is off for it). `medium`.
//!
//! Targets are `"{database} {table}"`. Actions (manual): `db.vacuum-table`
//! with the exact `VACUUM (ANALYZE) schema.table;`, `db.tune-autovacuum` with
//! the per-table `ALTER TABLE … SET (autovacuum_vacuum_scale_factor = 0.02)`.
//! When the database has a transaction open for longer than an hour, the
//! vacuum action names it: VACUUM cannot remove rows that transaction may
//! still see.

use perfsage_sdk::databases::{self, POSTGRESQL};
use perfsage_sdk::metrics::{human_duration, pct};
use perfsage_sdk::*;

/// The `vacuum` rule plugin.
pub struct Plugin;

/// Age from which an open transaction is named as holding back vacuum.
pub const HORIZON_HOLDER_S: f64 = 3600.0;
/// What `db.tune-autovacuum` sets the table's scale factor to.
pub const TUNED_SCALE_FACTOR: f64 = 0.02;

const DAY_MS: f64 = 86_400_000.0;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "vacuum",
            env!("CARGO_PKG_VERSION"),
            "PostgreSQL tables with many dead rows, or not vacuumed for long",
            Category::Software,
        )
        .needs(&[Section::Databases])
        .param(
            param::integer("min_dead_rows", "Dead rows a table needs before it is judged", "rows", 10_000)
                .range(1.0, 1.0e15),
        )
        .param(
            param::number(
                "dead_pct",
                "Dead rows, as a share of live + dead rows, from which a table is bloated",
                "%",
                20.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "max_age_days",
                "Days without a vacuum after which a table with dead rows is stale",
                "days",
                7.0,
            )
            .range(0.1, 3650.0),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let databases = snapshot.databases.as_deref().ok_or("the snapshot has no databases section")?;
        let limits = Limits {
            min_dead_rows: config.integer("min_dead_rows").max(0) as u64,
            dead_pct: config.number("dead_pct"),
            max_age_days: config.number("max_age_days"),
            taken_at_ms: snapshot.meta.taken_at_ms,
        };
        let mut findings = Vec::new();
        for db in databases.iter().filter(|db| db.engine == POSTGRESQL) {
            let holder = databases::oldest_transaction(db, HORIZON_HOLDER_S);
            for table in &db.tables {
                let Some(dead) = table.dead_rows.filter(|d| *d >= limits.min_dead_rows) else { continue };
                let ctx = Ctx { db, table, dead, holder };
                findings.extend(dead_rows(&ctx, &limits));
                findings.extend(stale(&ctx, &limits));
            }
        }
        builders::sort_by_target(&mut findings);
        Ok(findings)
    }
}

export_rule!(Plugin);

struct Limits {
    min_dead_rows: u64,
    dead_pct: f64,
    max_age_days: f64,
    taken_at_ms: i64,
}

/// One table with enough dead rows to be judged.
struct Ctx<'a> {
    db: &'a Database,
    table: &'a TableStat,
    dead: u64,
    /// The oldest transaction open for over an hour, if any.
    holder: Option<&'a DbTransaction>,
}

impl Ctx<'_> {
    fn target(&self) -> String {
        databases::table_target(&self.db.name, &self.table.name)
    }

    fn dead_share(&self) -> f64 {
        pct(self.dead as f64, (self.table.rows_estimate + self.dead) as f64)
    }

    fn actions(&self, finding: Finding, impact: f64) -> Finding {
        finding.action(vacuum_table(self, impact)).action(tune_autovacuum(self, impact))
    }
}

fn dead_rows(ctx: &Ctx, limits: &Limits) -> Option<Finding> {
    let share = ctx.dead_share();
    if share < limits.dead_pct {
        return None;
    }
    let severity = severity::high_from(share, 50.0);
    let title = format!(
        "{}: {} dead rows, {share:.0}% of the table (threshold {:.0}%)",
        ctx.target(),
        ctx.dead,
        limits.dead_pct
    );
    let finding = Finding::new("vacuum/dead-rows", title, Category::Software, severity, ctx.target())
        .evidence("dead rows share", share, limits.dead_pct, "%")
        .evidence("dead rows", ctx.dead as f64, limits.min_dead_rows as f64, "rows");
    Some(ctx.actions(finding, share / 100.0))
}

fn stale(ctx: &Ctx, limits: &Limits) -> Option<Finding> {
    let age_days = ctx.table.last_vacuum_ms.map(|at| (limits.taken_at_ms - at) as f64 / DAY_MS);
    let when = match age_days {
        Some(days) if days <= limits.max_age_days => return None,
        Some(days) => format!("not vacuumed for {}", human_duration(days * 86_400.0)),
        None => "never vacuumed".to_string(),
    };
    let title = format!("{}: {when}, with {} dead rows", ctx.target(), ctx.dead);
    let mut finding = Finding::new("vacuum/stale", title, Category::Software, Severity::Medium, ctx.target());
    finding = match age_days {
        Some(days) => finding.evidence("days since the last vacuum", days, limits.max_age_days, "days"),
        None => finding.evidence("vacuums recorded", 0.0, 1.0, ""),
    };
    finding = finding.evidence("dead rows", ctx.dead as f64, limits.min_dead_rows as f64, "rows");
    Some(ctx.actions(finding, (ctx.dead_share() / 100.0).max(0.3)))
}

/// `schema.table` with each part double-quoted unless it is a plain lower-case identifier.
pub fn quoted_name(name: &str) -> String {
    name.split('.')
        .map(|part| {
            let plain = part.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if plain { part.to_string() } else { format!("\"{}\"", part.replace('"', "\"\"")) }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn vacuum_table(ctx: &Ctx, impact: f64) -> Action {
    let name = quoted_name(&ctx.table.name);
    let (horizon, confidence) = match ctx.holder {
        Some(t) => (
            format!(
                " First: pid {} has had a transaction open for {} ({}). VACUUM cannot remove rows that died \
                 after that transaction started (the xmin horizon), so until it commits or is ended (see the \
                 long-transactions findings) this VACUUM frees little.",
                t.pid,
                human_duration(t.age_s),
                if t.state.is_empty() { "state unknown" } else { t.state.as_str() }
            ),
            0.4,
        ),
        None => (String::new(), 0.8),
    };
    Action::new("db.vacuum-table", format!("VACUUM {} now", ctx.table.name), Category::Software)
        .detail(format!(
            "In database {}, run `VACUUM (ANALYZE) {name};` It marks the {} dead rows' space reusable and \
             refreshes the planner's statistics; it takes no lock that blocks reads or writes, but reads the \
             whole table, so run it off-peak on a large one. It does not shrink the file: to give the space \
             back, pg_repack (online) or VACUUM FULL (exclusive lock) rewrite the table.{horizon}",
            ctx.db.name, ctx.dead
        ))
        .impact(impact)
        .confidence(confidence)
        .effort(Level::Low)
}

fn tune_autovacuum(ctx: &Ctx, impact: f64) -> Action {
    let name = quoted_name(&ctx.table.name);
    let trigger = 50.0 + 0.2 * ctx.table.rows_estimate as f64;
    let tuned = 50.0 + TUNED_SCALE_FACTOR * ctx.table.rows_estimate as f64;
    Action::new("db.tune-autovacuum", format!("Let autovacuum clean {} sooner", ctx.table.name), Category::Software)
        .detail(format!(
            "With the default scale factor (0.2), autovacuum waits for about {trigger:.0} dead rows in this \
             table before it starts. Make it start at about {tuned:.0}: `ALTER TABLE {name} SET \
             (autovacuum_vacuum_scale_factor = {TUNED_SCALE_FACTOR});` If autovacuum runs but cannot keep up, \
             raise autovacuum_vacuum_cost_limit (e.g. 1000) so each run does more work, and check that \
             `autovacuum` is on and the table's `autovacuum_enabled` is not false."
        ))
        .impact(impact * 0.8)
        .confidence(0.6)
        .effort(Level::Low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check, database, empty_snapshot};

    const NOW: i64 = 1_750_000_000_000;
    const DAY: i64 = 86_400_000;

    fn table(name: &str, live: u64, dead: u64, vacuumed_days_ago: Option<i64>) -> TableStat {
        let last_vacuum_ms = vacuumed_days_ago.map(|d| NOW - d * DAY);
        TableStat { dead_rows: Some(dead), last_vacuum_ms, ..testing::table(name, live) }
    }

    fn db(engine: &str, tables: Vec<TableStat>, transactions: Vec<DbTransaction>) -> Database {
        Database { tables, transactions, ..database(engine, &[]) }
    }

    fn run(databases: Vec<Database>, config: Vec<ConfigEntry>) -> Vec<Finding> {
        let s = Snapshot { databases: Some(databases), ..empty_snapshot() };
        assert_eq!(s.meta.taken_at_ms, NOW);
        check::<Plugin>(&s, config).unwrap()
    }

    fn rules(findings: &[Finding]) -> Vec<(&str, &str, Severity)> {
        findings.iter().map(|f| (f.rule.as_str(), f.target.as_str(), f.severity)).collect()
    }

    #[test]
    fn bloated_and_stale_tables_fire() {
        let tables = vec![
            table("public.deals", 400_000, 600_000, Some(1)),
            table("public.activities", 2_000_000, 500_000, None),
            table("public.contacts", 1_000_000, 50_000, Some(2)),
        ];
        let findings = run(vec![db("postgresql", tables, vec![])], vec![]);
        assert_eq!(
            rules(&findings),
            [
                ("vacuum/dead-rows", "crm public.activities", Severity::Medium),
                ("vacuum/stale", "crm public.activities", Severity::Medium),
                ("vacuum/dead-rows", "crm public.deals", Severity::High),
            ]
        );
        let actions: Vec<&str> = findings[2].actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(actions, ["db.vacuum-table", "db.tune-autovacuum"]);
        assert!(findings[2].actions[0].detail.contains("VACUUM (ANALYZE) public.deals;"));
        assert!(
            findings[2].actions[1]
                .detail
                .contains("ALTER TABLE public.deals SET (autovacuum_vacuum_scale_factor = 0.02);")
        );
    }

    #[test]
    fn healthy_tables_and_other_engines_are_silent() {
        let tables =
            vec![table("public.deals", 1_000_000, 9_000, None), table("public.notes", 50_000, 12_000, Some(1))];
        assert!(run(vec![db("postgresql", tables.clone(), vec![])], vec![]).is_empty());
        let bloated = vec![table("shop.orders", 100, 900_000, None)];
        assert!(run(vec![db("mariadb", bloated, vec![])], vec![]).is_empty());
    }

    #[test]
    fn a_long_transaction_is_named_as_holding_back_vacuum() {
        let old =
            DbTransaction { pid: 4242, age_s: 7200.0, state: "idle in transaction".into(), query: "select 1".into() };
        let young = DbTransaction { pid: 77, age_s: 30.0, state: "active".into(), query: "select 2".into() };
        let findings =
            run(vec![db("postgresql", vec![table("public.deals", 10_000, 90_000, Some(0))], vec![old, young])], vec![]);
        let vacuum = &findings[0].actions[0];
        assert!(
            vacuum.detail.contains("pid 4242 has had a transaction open for 2.0 h (idle in transaction)"),
            "{}",
            vacuum.detail
        );
        assert_eq!(vacuum.confidence, 0.4);
    }

    #[test]
    fn config_and_identifiers() {
        let tables = vec![table("Sales.Deals", 1_000_000, 100_000, Some(3))];
        let dbs = vec![db("postgresql", tables, vec![])];
        assert!(run(dbs.clone(), vec![]).is_empty());
        let strict = vec![
            ConfigEntry { name: "dead_pct".into(), value: ParamValue::Number(5.0) },
            ConfigEntry { name: "max_age_days".into(), value: ParamValue::Number(1.0) },
        ];
        let findings = run(dbs, strict);
        assert_eq!(findings.len(), 2);
        assert!(findings[0].actions[0].detail.contains("VACUUM (ANALYZE) \"Sales\".\"Deals\";"));
        assert_eq!(quoted_name("public.deals_2024"), "public.deals_2024");
    }
}
