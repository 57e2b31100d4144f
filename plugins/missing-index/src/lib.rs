//! Built-in rule plugin `missing-index`: which statements read whole tables
//! that an index would let them skip?
//!
//! Two views, the sharper one first:
//!
//! - `missing-index/statement`: a statement class (from `pg_stat_statements`,
//!   performance_schema digests or a slow-log digest) that scans a large
//!   table. The plan decides when the source could explain the statement
//!   (`seq-scan:<table>` / `full-scan:<table>` against `index-scan:<table>` in
//!   its plan hints): a plan that now uses an index clears the finding, which
//!   is how a created index is verified even though the server's counters are
//!   cumulative. Without a plan, the counters decide: rows examined per call
//!   at least `min_rows` and at least `min_examined_ratio` rows examined per
//!   row returned, or the server's own `no-index-used` flag. When the
//!   statement's predicates can be read (see [`statement`]) the action is the
//!   index itself, bound to the `pg-create-index` or `mysql-create-index` hook.
//! - `missing-index/table`: a PostgreSQL table of at least `min_rows` rows read
//!   by at least `min_seq_scans` sequential scans that each read most of it,
//!   with fewer index scans than sequential ones, and no statement in the
//!   snapshot that reads it (when there is one, the statement view decides).
//!   The action says how to find the statement.
//!
//! Severity follows the rows a call reads: medium, high from 100,000,
//! critical from 1,000,000.

pub mod statement;

use perfsage_sdk::contract::{self, plan_hints};
use perfsage_sdk::databases::{self, POSTGRESQL, text_cut_after};
use perfsage_sdk::*;

/// How many characters of a statement a title or an action detail quotes.
const QUOTED_TEXT_CHARS: usize = 120;

/// The `missing-index` rule plugin.
pub struct Plugin;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "missing-index",
            env!("CARGO_PKG_VERSION"),
            "Statements and tables read by full scans that an index would avoid",
            Category::Software,
        )
        .needs(&[Section::Queries])
        .uses(&[Section::Databases])
        .param(
            param::integer(
                "min_rows",
                "Tables (or rows read per call) smaller than this are not judged",
                "rows",
                10_000,
            )
            .min(1.0),
        )
        .param(
            param::number(
                "min_examined_ratio",
                "Rows examined per row returned that point at a missing index",
                "",
                100.0,
            )
            .min(1.0),
        )
        .param(param::integer("min_calls", "Statements called fewer times are not judged", "", 10).min(1.0))
        .param(param::integer("min_seq_scans", "Sequential scans of a table that make it a suspect", "", 50).min(1.0))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let queries = snapshot.queries.as_deref().ok_or("the snapshot has no queries section")?;
        let databases = snapshot.databases.as_deref().unwrap_or(&[]);
        let limits = Limits {
            min_rows: config.integer("min_rows") as f64,
            min_examined_ratio: config.number("min_examined_ratio"),
            min_calls: config.integer("min_calls") as u64,
            min_seq_scans: config.integer("min_seq_scans") as u64,
        };
        let mut findings: Vec<Finding> = Vec::new();
        for query in queries {
            if let Some(finding) = statement_finding(query, queries, databases, &limits) {
                findings.push(finding);
            }
        }
        for db in databases {
            for table in &db.tables {
                if let Some(finding) = table_finding(db, table, queries, &limits) {
                    findings.push(finding);
                }
            }
        }
        builders::sort_by_target(&mut findings);
        // Two statement classes wanting the same index are one finding.
        findings.dedup_by(|a, b| a.rule == b.rule && a.target == b.target);
        Ok(findings)
    }
}

export_rule!(Plugin);

struct Limits {
    min_rows: f64,
    min_examined_ratio: f64,
    min_calls: u64,
    min_seq_scans: u64,
}

/// What the plan hints say about `table`: scanned, indexed, or nothing.
fn plan_of(query: &Query, table: &str) -> (bool, bool) {
    let about = |kind: &str| {
        query.plan_hints.iter().any(|h| {
            h.strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix(plan_hints::TABLE_SEPARATOR))
                .is_some_and(|t| same_table(t, table))
        })
    };
    (about(plan_hints::SEQ_SCAN) || about(plan_hints::FULL_SCAN), about(plan_hints::INDEX_SCAN))
}

/// `public.contacts` and `contacts` name the same table; so do `crm.contacts` and `contacts`.
fn same_table(a: &str, b: &str) -> bool {
    let unqualified = |s: &str| s.rsplit('.').next().unwrap_or(s).to_ascii_lowercase();
    if a.contains('.') && b.contains('.') { a.eq_ignore_ascii_case(b) } else { unqualified(a) == unqualified(b) }
}

fn table_stat<'a>(databases: &'a [Database], query: &Query, table: &str) -> Option<&'a TableStat> {
    databases
        .iter()
        .filter(|db| db.engine == query.engine && (db.name == query.database || db.name == contract::databases::ALL))
        .flat_map(|db| &db.tables)
        .find(|t| same_table(&t.name, table))
}

fn statement_finding(query: &Query, all: &[Query], databases: &[Database], limits: &Limits) -> Option<Finding> {
    if query.calls < limits.min_calls {
        return None;
    }
    let access = statement::access(&query.text)?;
    let (scanned, indexed) = plan_of(query, &access.table);
    // Any scan hint at all: every scan kind of the contract ends in `-scan`.
    let explained = query.plan_hints.iter().any(|h| h.contains("-scan:"));
    let stat = table_stat(databases, query, &access.table);
    let examined_per_call = query.rows_examined.map(|r| r as f64 / query.calls as f64);
    let returned = query.rows_returned.map(|r| r.max(1) as f64);
    let ratio = query.rows_examined.zip(returned).map(|(e, r)| e as f64 / r);
    // Rows one call reads: what the server counted, else the table's size when the plan scans it.
    let rows_per_call = examined_per_call.or_else(|| stat.filter(|_| scanned).map(|t| t.rows_estimate as f64))?;
    let suspect = if explained {
        scanned && !indexed
    } else {
        query.plan_hints.iter().any(|h| h == plan_hints::NO_INDEX_USED)
            || ratio.is_some_and(|r| r >= limits.min_examined_ratio)
    };
    if !suspect || rows_per_call < limits.min_rows {
        return None;
    }
    let table = stat.map_or(access.table.clone(), |t| t.name.clone());
    let database_time: f64 =
        all.iter().filter(|q| q.engine == query.engine && q.database == query.database).map(|q| q.total_ms).sum();
    let share = metrics::pct(query.total_ms, database_time);
    let columns = access.columns.join(", ");
    let target = if columns.is_empty() {
        databases::table_target(&query.database, &table)
    } else {
        format!("{} ({columns})", databases::table_target(&query.database, &table))
    };
    let text = text_cut_after(&query.text, QUOTED_TEXT_CHARS);
    let how = if explained { "its plan scans" } else { "it reads" };
    let title = format!(
        "`{text}` ({} calls, {share:.0}% of {}'s query time): {how} {} rows of {table} per call",
        query.calls,
        query.database,
        metrics::human_count(rows_per_call)
    );
    let mut finding =
        Finding::new("missing-index/statement", title, Category::Software, severity_by_rows(rows_per_call), target)
            .evidence("rows read per call", rows_per_call, limits.min_rows, "rows");
    if let Some(ratio) = ratio {
        finding = finding.evidence("rows examined per row returned", ratio, limits.min_examined_ratio, "");
    }
    if query.total_ms > 0.0 {
        finding = finding.evidence("share of the database's query time", share, 0.0, "%");
    }
    let impact = (share / 100.0).clamp(0.05, 0.9);
    let confidence = if explained { 0.85 } else { 0.6 };
    let action = if access.columns.is_empty() {
        Action::new("db.review-statement", format!("Find the predicate that scans {table}"), Category::Software)
            .detail(format!(
                "`{text}` reads {table} in full, but its predicates are not simple column comparisons perfsage can \
                 turn into an index (a join, an OR, a function around the column). Run EXPLAIN ANALYZE on it with \
                 real values and index the columns its filter uses, or rewrite the predicate so an index applies."
            ))
            .impact(impact)
            .confidence(confidence * 0.7)
            .effort(Level::Medium)
    } else {
        create_index(query, &table, &access.columns, impact, confidence)
    };
    Some(finding.action(action))
}

/// The index action: its DDL in the detail, its parameters for the engine's hook.
fn create_index(query: &Query, table: &str, columns: &[String], impact: f64, confidence: f64) -> Action {
    let index = index_name(table, columns);
    let list = columns.join(", ");
    let (hook, ddl, rollback) = if query.engine == POSTGRESQL {
        (
            "pg-create-index",
            format!("CREATE INDEX CONCURRENTLY {index} ON {table} ({list})"),
            format!("DROP INDEX CONCURRENTLY {index}"),
        )
    } else {
        (
            "mysql-create-index",
            format!("ALTER TABLE {table} ADD INDEX {index} ({list}), ALGORITHM=INPLACE, LOCK=NONE"),
            format!("ALTER TABLE {table} DROP INDEX {index}"),
        )
    };
    Action::new("db.create-index", format!("Index {table} on ({list})"), Category::Software)
        .detail(format!(
            "`{}` filters {table} on ({list}) without an index, so every call reads the table. `{ddl}` builds the \
             index without blocking writes; the plan then reads a few index pages instead. Rolled back with \
             `{rollback}`. Check the write load first: each index costs every INSERT and UPDATE a little.",
            text_cut_after(&query.text, QUOTED_TEXT_CHARS)
        ))
        .impact(impact)
        .confidence(confidence)
        .effort(Level::Low)
        .risk(Level::Low)
        .hook(hook)
        .param("database", &query.database)
        .param("table", table)
        .param("columns", columns.join(","))
        .param("index", index)
}

/// `perfsage_<table>_<columns>_idx`, within PostgreSQL's 63-byte and MySQL's 64-byte limits.
fn index_name(table: &str, columns: &[String]) -> String {
    let table = table.rsplit('.').next().unwrap_or(table);
    let mut name = format!("perfsage_{table}_{}", columns.join("_"));
    name.truncate(59);
    name.push_str("_idx");
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

fn table_finding(db: &Database, table: &TableStat, queries: &[Query], limits: &Limits) -> Option<Finding> {
    let rows = table.rows_estimate as f64;
    if rows < limits.min_rows || table.seq_scans < limits.min_seq_scans {
        return None;
    }
    let per_scan = table.seq_rows_read as f64 / table.seq_scans as f64;
    let index_scans = table.index_scans.unwrap_or(0);
    if per_scan < rows / 2.0 || index_scans >= table.seq_scans {
        return None;
    }
    // A statement in the snapshot that reads this table: the statement view decides.
    let read_by_statement = queries.iter().any(|q| {
        q.engine == db.engine
            && q.database == db.name
            && statement::access(&q.text).is_some_and(|a| same_table(&a.table, &table.name))
    });
    if read_by_statement {
        return None;
    }
    let name = &table.name;
    let title = format!(
        "{name} ({} rows) was read by {} sequential scans of {} rows each, and {} index scans",
        metrics::human_count(rows),
        table.seq_scans,
        metrics::human_count(per_scan),
        index_scans
    );
    let target = databases::table_target(&db.name, name);
    Some(
        Finding::new("missing-index/table", title, Category::Software, severity_by_rows(per_scan), target)
            .evidence("rows read per sequential scan", per_scan, limits.min_rows, "rows")
            .evidence("sequential scans", table.seq_scans as f64, limits.min_seq_scans as f64, "")
            .action(
                Action::new(
                    "db.find-scanning-statement",
                    format!("Find the statements that scan {name}"),
                    Category::Software,
                )
                .detail(format!(
                    "The server counts the scans but not which statement makes them. With pg_stat_statements \
                         (shared_preload_libraries, then CREATE EXTENSION pg_stat_statements) perfsage names the \
                         statement and the index to create; without it, set log_min_duration_statement and run \
                         `perfsage digest` on the server log, then EXPLAIN the statements that read {name}."
                ))
                .impact(0.3)
                .confidence(0.5)
                .effort(Level::Medium),
            ),
    )
}

/// Rows a call or a scan reads: `high` from 100,000, `critical` from 1,000,000.
fn severity_by_rows(rows: f64) -> Severity {
    severity::rising(rows, 100_000.0, 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{self, check, empty_snapshot};

    fn query(
        engine: &str,
        text: &str,
        calls: u64,
        examined: Option<u64>,
        returned: Option<u64>,
        hints: &[&str],
    ) -> Query {
        Query {
            rows_examined: examined,
            rows_returned: returned,
            plan_hints: hints.iter().map(|h| h.to_string()).collect(),
            ..testing::query(engine, "crm", text, calls, 20.0)
        }
    }

    fn table(name: &str, rows: u64, seq_scans: u64, seq_rows_read: u64, index_scans: u64) -> TableStat {
        TableStat {
            size_bytes: Some(rows * 100),
            seq_scans,
            seq_rows_read,
            index_scans: Some(index_scans),
            dead_rows: Some(0),
            ..testing::table(name, rows)
        }
    }

    fn database(engine: &str, tables: Vec<TableStat>) -> Database {
        Database { tables, ..testing::database(engine, &[]) }
    }

    fn snapshot(queries: Vec<Query>, databases: Vec<Database>) -> Snapshot {
        Snapshot { queries: Some(queries), databases: Some(databases), ..empty_snapshot() }
    }

    #[test]
    fn a_planned_seq_scan_of_a_large_table_gets_its_index() {
        let s = snapshot(
            vec![query(
                "postgresql",
                "select id from contacts where email = $1",
                500,
                None,
                Some(500),
                &["seq-scan:public.contacts"],
            )],
            vec![database("postgresql", vec![table("public.contacts", 200_000, 500, 100_000_000, 0)])],
        );
        let findings = check::<Plugin>(&s, vec![]).unwrap();
        assert_eq!(findings.len(), 1, "{findings:#?}");
        let f = &findings[0];
        assert_eq!((f.rule.as_str(), f.target.as_str()), ("missing-index/statement", "crm public.contacts (email)"));
        assert_eq!(f.severity, Severity::High);
        let action = &f.actions[0];
        assert_eq!(action.hook.as_deref(), Some("pg-create-index"));
        let params: Vec<(&str, &str)> = action.params.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
        assert_eq!(
            params,
            [
                ("database", "crm"),
                ("table", "public.contacts"),
                ("columns", "email"),
                ("index", "perfsage_contacts_email_idx")
            ]
        );
        assert!(
            action.detail.contains("CREATE INDEX CONCURRENTLY perfsage_contacts_email_idx ON public.contacts (email)")
        );
    }

    #[test]
    fn a_plan_that_uses_an_index_clears_it_whatever_the_counters_say() {
        let s = snapshot(
            vec![query(
                "postgresql",
                "select id from contacts where email = $1",
                500,
                None,
                Some(500),
                &["index-scan:public.contacts"],
            )],
            vec![database("postgresql", vec![table("public.contacts", 200_000, 500, 100_000_000, 3)])],
        );
        assert!(check::<Plugin>(&s, vec![]).unwrap().is_empty());
    }

    #[test]
    fn without_a_plan_the_counters_decide_for_mariadb() {
        let text = "SELECT * FROM `deals` WHERE `stage` = ? AND `amount` > ?";
        let s = snapshot(vec![query("mariadb", text, 100, Some(5_000_000), Some(2_000), &[])], vec![]);
        let findings = check::<Plugin>(&s, vec![]).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].target, "crm deals (stage, amount)");
        assert_eq!(findings[0].actions[0].hook.as_deref(), Some("mysql-create-index"));
        // Selective enough: few rows examined per row returned.
        let s = snapshot(vec![query("mariadb", text, 100, Some(5_000_000), Some(1_000_000), &[])], vec![]);
        assert!(check::<Plugin>(&s, vec![]).unwrap().is_empty());
    }

    #[test]
    fn small_tables_and_rare_statements_are_not_judged() {
        let small = snapshot(
            vec![query("postgresql", "select * from stages where name = $1", 500, None, None, &["seq-scan:stages"])],
            vec![database("postgresql", vec![table("public.stages", 12, 500, 6_000, 0)])],
        );
        assert!(check::<Plugin>(&small, vec![]).unwrap().is_empty());
        let rare = snapshot(
            vec![query("postgresql", "select * from contacts where email = $1", 3, None, None, &["seq-scan:contacts"])],
            vec![database("postgresql", vec![table("public.contacts", 200_000, 3, 600_000, 0)])],
        );
        assert!(check::<Plugin>(&rare, vec![]).unwrap().is_empty());
    }

    #[test]
    fn a_scanned_table_no_statement_explains_is_named_with_how_to_find_it() {
        let s =
            snapshot(vec![], vec![database("postgresql", vec![table("public.deals", 50_000, 400, 20_000_000, 10)])]);
        let findings = check::<Plugin>(&s, vec![]).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].rule.as_str(), findings[0].target.as_str()),
            ("missing-index/table", "crm public.deals")
        );
        assert_eq!(findings[0].actions[0].id, "db.find-scanning-statement");
        // Mostly index scans: fine.
        let s =
            snapshot(vec![], vec![database("postgresql", vec![table("public.deals", 50_000, 400, 20_000_000, 9_000)])]);
        assert!(check::<Plugin>(&s, vec![]).unwrap().is_empty());
    }

    #[test]
    fn an_unreadable_predicate_names_the_table_without_an_index() {
        let text = "select * from deals where lower(name) = $1";
        let s = snapshot(
            vec![query("postgresql", text, 50, None, None, &["seq-scan:public.deals"])],
            vec![database("postgresql", vec![table("public.deals", 50_000, 50, 2_500_000, 0)])],
        );
        let findings = check::<Plugin>(&s, vec![]).unwrap();
        assert_eq!(findings[0].target, "crm public.deals");
        assert_eq!(findings[0].actions[0].id, "db.review-statement");
        assert!(findings[0].actions[0].hook.is_none());
    }

    #[test]
    fn index_names_fit_the_engines_limits() {
        let columns: Vec<String> = (0..3).map(|i| format!("a_rather_long_column_name_{i}")).collect();
        let name = index_name("crm.some_very_long_table_name", &columns);
        assert!(name.len() <= 63 && name.starts_with("perfsage_some_very_long_table_name_") && name.ends_with("_idx"));
    }
}
