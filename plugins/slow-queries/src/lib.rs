//! Built-in rule plugin `slow-queries`: which statements hold the database's time?
//!
//! It reads the per-statement statistics the database sources collect
//! (`pg_stat_statements`, MySQL/MariaDB `performance_schema` digests, or a
//! slow log digested by `perfsage digest`), grouped per server and database
//! (`engine`, `database`). Counters are cumulative since the server's last
//! statistics reset, so shares are what matters, not absolute rates.
//!
//! - `slow-queries/hotspot`: a statement class whose share of its group's
//!   total execution time is at least `share_high_pct` (default 20 %) and whose
//!   total is at least `min_total_ms` (default 1 s, so a quiet database with a
//!   few milliseconds of work is not judged): `medium`, `high` from 50 %.
//!   Like the `hotspots` endpoint rule, this is where tuning pays most, whether
//!   the statement is slow or merely frequent (the approach of
//!   pt-query-digest and the pg_stat_statements "top by total time" report).
//!   Groups with fewer than `min_statements` statements are not judged (one
//!   statement always holds everything).
//! - `slow-queries/slow-statement`: a mean execution time of at least
//!   `slow_mean_ms` (default 500 ms) over at least `min_calls` calls (default
//!   5, so one odd run does not count). Severity by how many times past the
//!   threshold: `medium`, `high` from 2×, `critical` from 4×.
//!
//! Evidence: share of the group's time, total, mean, calls, and rows examined
//! per row returned when the source knows both (MySQL digests do).
//!
//! Actions: `db.explain-query` (run it under EXPLAIN ANALYZE and what to look
//! for), `db.add-index` when it examines at least
//! [`EXAMINED_PER_RETURNED_HIGH`] rows per row returned (the
//! `missing-index` plugin names the table and columns), and
//! `db.cache-or-batch` when it is called very often with a small mean (the
//! N+1 pattern: [`MANY_CALLS`] calls or more at [`SMALL_MEAN_MS`] or less).
//! All are manual: a rule can say what to look at, not rewrite a query.
//!
//! Findings are sorted by target; the target is
//! `"{engine} {database}: {short statement}"`, with the fingerprint's start
//! appended when two statements would share it.

use std::collections::BTreeMap;

use perfsage_sdk::databases::{self, POSTGRESQL, SHORT_TEXT_CHARS, short_text};
use perfsage_sdk::metrics::pct;
use perfsage_sdk::*;

/// The `slow-queries` rule plugin.
pub struct Plugin;

/// Rows examined per row returned from which an index is the likely fix
/// (MySQLTuner and pt-query-digest flag ratios this far off).
pub const EXAMINED_PER_RETURNED_HIGH: f64 = 100.0;
/// Calls from which a cheap statement is suspected of being run in a loop.
pub const MANY_CALLS: u64 = 10_000;
/// Mean at or under which a frequent statement is "cheap" (an N+1 lookup).
pub const SMALL_MEAN_MS: f64 = 10.0;

impl Rule for Plugin {
    fn describe() -> RuleInfo {
        RuleInfo::new(
            "slow-queries",
            env!("CARGO_PKG_VERSION"),
            "Statements by share of the database's time, and statements slow on average",
            Category::Software,
        )
        .needs(&[Section::Queries])
        .param(
            param::number(
                "share_high_pct",
                "Share of a database's total statement time from which a statement is a hotspot",
                "%",
                20.0,
            )
            .range(1.0, 100.0),
        )
        .param(
            param::number(
                "min_total_ms",
                "Total execution time a statement needs before it can be a hotspot",
                "ms",
                1000.0,
            )
            .range(0.0, 1.0e12),
        )
        .param(
            param::integer(
                "min_statements",
                "Databases with fewer statement classes are not judged for hotspots",
                "",
                3,
            )
            .range(2.0, 1.0e6),
        )
        .param(
            param::number("slow_mean_ms", "Mean execution time from which a statement is slow", "ms", 500.0)
                .range(1.0, 1.0e9),
        )
        .param(
            param::integer("min_calls", "Calls a statement needs before its mean is judged", "", 5).range(1.0, 1.0e12),
        )
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let queries = snapshot.queries.as_deref().ok_or("the snapshot has no queries section")?;
        let limits = Limits {
            share_high_pct: config.number("share_high_pct"),
            min_total_ms: config.number("min_total_ms"),
            min_statements: config.integer("min_statements").max(1) as usize,
            slow_mean_ms: config.number("slow_mean_ms"),
            min_calls: config.integer("min_calls").max(0) as u64,
        };
        let mut groups: BTreeMap<(&str, &str), Vec<&Query>> = BTreeMap::new();
        for q in queries {
            groups.entry((q.engine.as_str(), q.database.as_str())).or_default().push(q);
        }
        let mut findings = Vec::new();
        for ((engine, database), statements) in groups {
            let group_total: f64 = statements.iter().map(|q| q.total_ms.max(0.0)).sum();
            let judged_for_share = statements.len() >= limits.min_statements;
            for q in &statements {
                let stats = Stats::of(q, group_total, targets_of(engine, database, q, &statements));
                if judged_for_share
                    && stats.share >= limits.share_high_pct
                    && q.total_ms >= limits.min_total_ms
                    && q.total_ms > 0.0
                {
                    findings.push(hotspot(&stats, &limits));
                }
                if q.calls >= limits.min_calls && q.mean_ms >= limits.slow_mean_ms {
                    findings.push(slow_statement(&stats, &limits));
                }
            }
        }
        builders::sort_by_target(&mut findings);
        Ok(findings)
    }
}

export_rule!(Plugin);

struct Limits {
    share_high_pct: f64,
    min_total_ms: f64,
    min_statements: usize,
    slow_mean_ms: f64,
    min_calls: u64,
}

/// One statement and what the findings say about it.
struct Stats<'a> {
    query: &'a Query,
    /// `postgresql crm`
    label: String,
    target: String,
    short: String,
    share: f64,
    /// Rows examined per row returned, when the source knows both.
    examined_per_returned: Option<f64>,
}

impl<'a> Stats<'a> {
    fn of(query: &'a Query, group_total: f64, (label, target): (String, String)) -> Self {
        let examined_per_returned = match (query.rows_examined, query.rows_returned) {
            (Some(examined), Some(returned)) if examined > 0 => Some(examined as f64 / returned.max(1) as f64),
            _ => None,
        };
        Stats {
            query,
            label,
            target,
            short: short_text(&query.text, SHORT_TEXT_CHARS),
            share: pct(query.total_ms.max(0.0), group_total),
            examined_per_returned,
        }
    }

    fn evidence(&self, mut finding: Finding, limits: &Limits) -> Finding {
        let q = self.query;
        finding = finding
            .evidence("share of the database's statement time", self.share, limits.share_high_pct, "%")
            .evidence("total execution time", q.total_ms, limits.min_total_ms, "ms")
            .evidence("mean execution time", q.mean_ms, limits.slow_mean_ms, "ms")
            .evidence("calls", q.calls as f64, limits.min_calls as f64, "");
        if let Some(ratio) = self.examined_per_returned {
            finding = finding.evidence("rows examined per row returned", ratio, EXAMINED_PER_RETURNED_HIGH, "");
        }
        finding
    }

    /// The actions every finding on this statement offers, `impact` being the
    /// share of the problem the first one can remove.
    fn actions(&self, mut finding: Finding, impact: f64) -> Finding {
        finding = finding.action(explain(self, impact));
        if let Some(ratio) = self.examined_per_returned.filter(|r| *r >= EXAMINED_PER_RETURNED_HIGH) {
            finding = finding.action(add_index(self, ratio, impact));
        }
        if self.query.calls >= MANY_CALLS && self.query.mean_ms <= SMALL_MEAN_MS {
            finding = finding.action(cache_or_batch(self, impact));
        }
        finding
    }
}

/// The label and the target of `q`: unique among the group's statements, by
/// appending the fingerprint's start when another statement shortens to the
/// same text.
fn targets_of(engine: &str, database: &str, q: &Query, group: &[&Query]) -> (String, String) {
    let label = databases::label(engine, database);
    let short = short_text(&q.text, SHORT_TEXT_CHARS);
    let shared = group.iter().filter(|other| short_text(&other.text, SHORT_TEXT_CHARS) == short).count() > 1;
    let target = if shared {
        let id: String = q.fingerprint.chars().take(12).collect();
        format!("{label}: {short} [{id}]")
    } else {
        format!("{label}: {short}")
    };
    (label, target)
}

fn hotspot(stats: &Stats, limits: &Limits) -> Finding {
    let q = stats.query;
    let severity = severity::high_from(stats.share, 50.0);
    let title = format!(
        "`{}` holds {:.0}% of {}'s statement time ({} calls × {:.1} ms mean)",
        stats.short, stats.share, stats.label, q.calls, q.mean_ms
    );
    let finding = Finding::new("slow-queries/hotspot", title, Category::Software, severity, stats.target.clone());
    stats.actions(stats.evidence(finding, limits), stats.share / 100.0)
}

fn slow_statement(stats: &Stats, limits: &Limits) -> Finding {
    let q = stats.query;
    let title = format!(
        "`{}` takes {:.0} ms per call on average over {} calls (threshold {:.0} ms)",
        stats.short, q.mean_ms, q.calls, limits.slow_mean_ms
    );
    let severity = severity::by_ratio(q.mean_ms / limits.slow_mean_ms);
    let finding =
        Finding::new("slow-queries/slow-statement", title, Category::Software, severity, stats.target.clone());
    // A slow statement's own latency is the problem: a fix removes most of it.
    stats.actions(stats.evidence(finding, limits), 0.7_f64.max(stats.share / 100.0))
}

fn explain(stats: &Stats, impact: f64) -> Action {
    let how = if stats.query.engine == POSTGRESQL {
        "Run `EXPLAIN (ANALYZE, BUFFERS) <statement>` with real parameter values (in a transaction you roll \
         back if it writes). Look for: a `Seq Scan` on a large table with many `Rows Removed by Filter` (an \
         index is missing); estimated rows far from actual rows (stale statistics: `ANALYZE` the table); \
         `Sort Method: external merge` or a Hash with several batches (work_mem too small for it); a Nested \
         Loop run thousands of times; many `shared read` buffers (the data is not cached)."
    } else {
        "Run `ANALYZE FORMAT=JSON <statement>` (MariaDB) or `EXPLAIN ANALYZE <statement>` (MySQL 8.0.18+) \
         with real parameter values, on a replica if it writes. Look for: `type: ALL` or `key: NULL` (a full \
         scan: an index is missing); `rows` examined far above rows returned; `Using temporary; Using \
         filesort` (a sort or GROUP BY no index serves, spilling when over tmp_table_size); a join without \
         an index on the inner table (`Using join buffer`)."
    };
    Action::new("db.explain-query", format!("EXPLAIN ANALYZE `{}`", stats.short), Category::Software)
        .detail(format!(
            "This statement holds {:.0}% of {}'s statement time ({} calls, {:.1} ms mean, {:.0} ms in total). \
             {how} Fix the plan before adding hardware: its share is the most any fix can win.",
            stats.share, stats.label, stats.query.calls, stats.query.mean_ms, stats.query.total_ms
        ))
        .impact(impact)
        .confidence(0.7)
        .effort(Level::Low)
}

fn add_index(stats: &Stats, ratio: f64, impact: f64) -> Action {
    let build = if stats.query.engine == POSTGRESQL {
        "`CREATE INDEX CONCURRENTLY` builds it without blocking writes"
    } else {
        "`ALTER TABLE … ADD INDEX …, ALGORITHM=INPLACE, LOCK=NONE` builds it without blocking writes"
    };
    Action::new("db.add-index", format!("Index the rows `{}` looks up", stats.short), Category::Software)
        .detail(format!(
            "It examines {ratio:.0} rows for every row it returns: the server scans and throws most of them \
             away. An index on the columns of its WHERE and JOIN conditions (equality columns first, then the \
             range or ORDER BY column) lets it read only the rows it needs. See the `missing-index` findings \
             for {} for the table and columns, confirm with EXPLAIN, then {build}.",
            stats.label
        ))
        .impact(impact * 0.9)
        .confidence(0.6)
        .effort(Level::Medium)
}

fn cache_or_batch(stats: &Stats, impact: f64) -> Action {
    Action::new("db.cache-or-batch", format!("Batch or cache `{}`", stats.short), Category::Software)
        .detail(format!(
            "It ran {} times at {:.1} ms each: cheap alone, costly in bulk. So many small calls usually come \
             from a loop in the application (the N+1 pattern: one query per row of a list). Fetch the rows in \
             one statement (`WHERE id = ANY($1)` / `WHERE id IN (…)`, or eager loading in the ORM), or cache \
             the result in the application when it rarely changes.",
            stats.query.calls, stats.query.mean_ms
        ))
        .impact(impact * 0.8)
        .confidence(0.5)
        .effort(Level::Medium)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfsage_sdk::testing::{action_ids, check, empty_snapshot, query};

    fn snapshot(queries: Vec<Query>) -> Snapshot {
        Snapshot { queries: Some(queries), ..empty_snapshot() }
    }

    fn run(queries: Vec<Query>, config: Vec<ConfigEntry>) -> Vec<Finding> {
        check::<Plugin>(&snapshot(queries), config).unwrap()
    }

    fn background(engine: &str, database: &str) -> Vec<Query> {
        (0..8).map(|i| query(engine, database, &format!("select * from t{i} where id = $1"), 1000, 2.0)).collect()
    }

    #[test]
    fn a_statement_holding_most_of_the_time_is_a_hotspot_and_slow() {
        let mut queries = background("postgresql", "crm");
        queries.push(query("postgresql", "crm", "select sum(amount)\n  from deals group by stage", 40, 900.0));
        let findings = run(queries, vec![]);
        assert_eq!(findings.len(), 2, "{findings:#?}");
        let target = "postgresql crm: select sum(amount) from deals group by stage";
        assert!(findings.iter().all(|f| f.target == target));
        assert_eq!((findings[0].rule.as_str(), findings[0].severity), ("slow-queries/hotspot", Severity::High));
        assert!((findings[0].evidence[0].observed - 36000.0 / 52000.0 * 100.0).abs() < 1e-9);
        assert_eq!(
            (findings[1].rule.as_str(), findings[1].severity),
            ("slow-queries/slow-statement", Severity::Medium)
        );
        assert_eq!(action_ids(&findings[0]), ["db.explain-query"]);
    }

    #[test]
    fn evenly_spread_fast_statements_are_silent() {
        assert!(run(background("mariadb", "shop"), vec![]).is_empty());
    }

    #[test]
    fn groups_are_per_engine_and_database() {
        // The same statement in two databases: each is 1 of 9 in its own group.
        let mut queries = background("postgresql", "crm");
        queries.extend(background("postgresql", "billing"));
        queries.push(query("postgresql", "crm", "select 1", 1000, 2.0));
        queries.push(query("postgresql", "billing", "select 1", 1000, 2.0));
        assert!(run(queries, vec![]).is_empty());
    }

    #[test]
    fn small_totals_and_rare_calls_are_not_judged() {
        let mut queries: Vec<Query> = (0..3).map(|i| query("postgresql", "crm", &format!("q{i}"), 1, 0.1)).collect();
        queries.push(query("postgresql", "crm", "select pg_sleep(1)", 1, 990.0)); // 1 call, 99% share, < 1 s total
        assert!(run(queries, vec![]).is_empty());
    }

    #[test]
    fn index_and_batching_actions_follow_the_statistics() {
        let mut queries = background("mariadb", "shop");
        let mut scan = query("mariadb", "shop", "SELECT * FROM `orders` WHERE `email` = ?", 200, 700.0);
        (scan.rows_examined, scan.rows_returned) = (Some(200 * 500_000), Some(200));
        let loop_lookup = query("mariadb", "shop", "SELECT * FROM `customers` WHERE `id` = ?", 400_000, 0.5);
        queries.extend([scan, loop_lookup]);
        let findings = run(queries, vec![]);
        let scan = findings.iter().find(|f| f.rule == "slow-queries/slow-statement").unwrap();
        assert_eq!(scan.severity, Severity::Medium);
        assert_eq!(action_ids(scan), ["db.explain-query", "db.add-index"]);
        assert_eq!(scan.evidence.last().unwrap().observed, 500_000.0);
        assert!(scan.actions[0].detail.contains("ANALYZE FORMAT=JSON"));
        let lookup = findings.iter().find(|f| f.target.contains("customers")).unwrap();
        assert_eq!(lookup.rule, "slow-queries/hotspot");
        assert_eq!(action_ids(lookup), ["db.explain-query", "db.cache-or-batch"]);
        assert!(findings.windows(2).all(|w| w[0].target <= w[1].target), "sorted by target");
    }

    #[test]
    fn config_moves_the_thresholds() {
        let mut queries = background("postgresql", "crm");
        queries.push(query("postgresql", "crm", "select * from deals", 100, 60.0)); // 6 s of 22 s: 27 %
        assert_eq!(run(queries.clone(), vec![]).len(), 1);
        let strict = vec![
            ConfigEntry { name: "share_high_pct".into(), value: ParamValue::Number(30.0) },
            ConfigEntry { name: "slow_mean_ms".into(), value: ParamValue::Number(50.0) },
        ];
        let findings = run(queries, strict);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, "slow-queries/slow-statement");
    }

    #[test]
    fn statements_sharing_a_short_text_get_distinct_targets() {
        let long = "select id, name, email, phone, company, owner, stage, amount, created_at from contacts where ";
        let mut queries = background("postgresql", "crm");
        queries.push(query("postgresql", "crm", &format!("{long}owner = $1"), 10, 800.0));
        queries.push(query("postgresql", "crm", &format!("{long}stage = $1"), 11, 800.0));
        let findings = run(queries, vec![]);
        let targets: std::collections::BTreeSet<&str> = findings.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(targets.len(), 2, "{targets:?}");
        assert!(targets.iter().all(|t| t.contains('…') && t.ends_with(']')));
    }
}
