//! MySQL and MariaDB source: global status and variables, the tables of
//! `information_schema`, open InnoDB transactions, and the statement digests
//! of `performance_schema` when it is on.
//!
//! The busiest digests are also explained, never run: placeholders get sample
//! values (`'0'`, `1` after `LIMIT`) and `EXPLAIN` says which tables are read
//! in full (`full-scan:crm.contacts`) or through a key
//! (`index-scan:crm.contacts`). The digest counters are cumulative; the plan
//! is current, so a created index shows at once.
//!
//! `status` carries the raw counters and settings a rule needs (buffer pool
//! reads and size, `Threads_running`, temporary tables on disk, full joins and
//! scans, slow queries, ...) under their server names; the `database` fields
//! hold what both engines share. MySQL keeps no per-table scan counters outside
//! `performance_schema`, so `seq_scans` is 0 and `index_scans` absent. Views
//! that cannot be read become warnings (see [`super::database`]).

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

use super::database::{self, DatabaseError, DatabaseSample, TIMEOUT};
use crate::model::{Database, DbTransaction, NamedValue, Query, TableStat};

const MAX_TABLES: usize = 200;

/// Counters from `SHOW GLOBAL STATUS` and settings from `SHOW GLOBAL VARIABLES` kept in `status`.
const STATUS_NAMES: &[&str] = &[
    "Threads_connected",
    "Threads_running",
    "Max_used_connections",
    "Created_tmp_tables",
    "Created_tmp_disk_tables",
    "Created_tmp_files",
    "Select_full_join",
    "Select_scan",
    "Slow_queries",
    "Questions",
    "Uptime",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_reads",
    "Innodb_row_lock_current_waits",
    "Innodb_row_lock_waits",
    "Innodb_deadlocks",
];
const VARIABLE_NAMES: &[&str] =
    &["max_connections", "innodb_buffer_pool_size", "tmp_table_size", "max_heap_table_size", "long_query_time"];

const ENABLE_DIGESTS: &str = "performance_schema is off, so there are no per-query statistics; to enable it set \
performance_schema=ON in the [mysqld] section of the server's configuration and restart it";

/// Collect one MySQL or MariaDB server, e.g. `mysql://root@127.0.0.1:3306/shop`.
/// Without a database in the URL, the tables of every non-system schema are read.
pub fn collect(url: &str) -> Result<DatabaseSample, DatabaseError> {
    let opts = Opts::from_url(url).map_err(|e| DatabaseError::Url { engine: "mysql", message: e.to_string() })?;
    let schema = opts.db_name().map(str::to_owned);
    let label = database::label("mysql", opts.ip_or_hostname(), opts.tcp_port(), schema.as_deref().unwrap_or(""));
    database::runtime()?.block_on(async {
        let conn = match tokio::time::timeout(TIMEOUT, Conn::new(opts)).await {
            Err(_) => return Err(DatabaseError::ConnectTimeout { label }),
            Ok(Err(e)) => return Err(DatabaseError::Connect { label, source: Box::new(e) }),
            Ok(Ok(conn)) => conn,
        };
        let mut reader = Reader { conn, label, schema };
        let sample = reader.read().await;
        // A polite goodbye; the server cleans up after a dropped socket too.
        let _ = reader.conn.disconnect().await;
        sample
    })
}

struct Reader {
    conn: Conn,
    label: String,
    schema: Option<String>,
}

/// What a failed statistics statement gives: the server's own message.
type Read<T> = Result<T, mysql_async::Error>;

impl Reader {
    async fn read(&mut self) -> Result<DatabaseSample, DatabaseError> {
        let label = self.label.clone();
        let fail = |what: &'static str| {
            let label = label.clone();
            move |e: mysql_async::Error| DatabaseError::Query { label, what, source: Box::new(e) }
        };
        let version: String =
            self.conn.query_first("select version()").await.map_err(fail("version()"))?.unwrap_or_default();
        let status = self.globals("SHOW GLOBAL STATUS").await.map_err(fail("global status"))?;
        let variables = self.globals("SHOW GLOBAL VARIABLES").await.map_err(fail("global variables"))?;
        let engine = if version.contains("MariaDB") { "mariadb" } else { "mysql" };
        let number = |map: &HashMap<String, String>, name: &str| map.get(name).and_then(|v| v.parse::<f64>().ok());

        let mut db = database::empty_database(self.schema.clone().unwrap_or_else(|| "*".to_owned()), engine);
        db.connections_used = number(&status, "Threads_connected").unwrap_or(0.0) as u32;
        db.connections_max = number(&variables, "max_connections").unwrap_or(0.0) as u32;
        if let (Some(requests), Some(misses)) =
            (number(&status, "Innodb_buffer_pool_read_requests"), number(&status, "Innodb_buffer_pool_reads"))
        {
            db.cache_hit_ratio = database::hit_ratio((requests - misses).max(0.0), misses);
        }
        db.lock_waits = number(&status, "Innodb_row_lock_current_waits").unwrap_or(0.0) as u32;
        db.deadlocks = number(&status, "Innodb_deadlocks").map(|v| v as u64);
        db.temp_files = number(&status, "Created_tmp_files").map(|v| v as u64);
        for (map, names) in [(&status, STATUS_NAMES), (&variables, VARIABLE_NAMES)] {
            for name in names.iter() {
                if let Some(value) = number(map, name) {
                    db.status.push(NamedValue { name: (*name).to_owned(), value });
                }
            }
        }

        let mut warnings = Vec::new();
        if let Err(e) = self.tables(&mut db).await {
            warnings.push(format!("{}: cannot read information_schema.TABLES: {e}", self.label));
        }
        if let Err(e) = self.transactions(&mut db).await {
            warnings.push(format!(
                "{}: cannot read open transactions (information_schema.INNODB_TRX): {e}; the user needs the PROCESS privilege",
                self.label
            ));
        }
        let mut queries = Vec::new();
        if variables.get("performance_schema").is_some_and(|v| v == "ON") {
            let digests = self.digests(engine, &mut queries).await;
            if digests.is_ok() {
                self.explain(&mut queries).await;
            }
            if let Err(e) = digests {
                warnings.push(format!(
                    "{}: cannot read performance_schema.events_statements_summary_by_digest: {e}; \
                     GRANT SELECT ON performance_schema.* to the user",
                    self.label
                ));
            }
        } else {
            warnings.push(format!("{}: {ENABLE_DIGESTS}", self.label));
        }
        Ok(DatabaseSample { label: self.label.clone(), database: db, queries, warnings })
    }

    async fn globals(&mut self, statement: &str) -> Read<HashMap<String, String>> {
        let rows: Vec<(String, Option<String>)> = self.conn.query(statement).await?;
        Ok(rows.into_iter().map(|(name, value)| (name, value.unwrap_or_default())).collect())
    }

    async fn tables(&mut self, db: &mut Database) -> Read<()> {
        let rows: Vec<(String, Option<u64>, Option<u64>)> = self
            .conn
            .exec(
                "select concat(table_schema, '.', table_name), table_rows, data_length + index_length
                 from information_schema.TABLES
                 where table_type = 'BASE TABLE'
                   and (table_schema = ? or (? is null and table_schema not in
                        ('mysql', 'information_schema', 'performance_schema', 'sys')))
                 order by table_rows desc, table_name limit ?",
                (self.schema.clone(), self.schema.clone(), MAX_TABLES as u64),
            )
            .await?;
        db.tables = rows
            .into_iter()
            .map(|(name, rows, size)| TableStat {
                name,
                rows_estimate: rows.unwrap_or(0),
                size_bytes: size,
                seq_scans: 0,
                seq_rows_read: 0,
                index_scans: None,
                dead_rows: None,
                last_vacuum_ms: None,
            })
            .collect();
        Ok(())
    }

    /// Open InnoDB transactions, oldest first; "idle in transaction" is one whose connection sleeps.
    async fn transactions(&mut self, db: &mut Database) -> Read<()> {
        let rows: Vec<(u64, f64, String, String, String)> = self
            .conn
            .query(
                "select t.trx_mysql_thread_id, timestampdiff(microsecond, t.trx_started, now()) / 1e6,
                        t.trx_state, coalesce(t.trx_query, ''), coalesce(p.command, '')
                 from information_schema.INNODB_TRX t
                 left join information_schema.PROCESSLIST p on p.id = t.trx_mysql_thread_id
                 order by t.trx_started limit 10",
            )
            .await?;
        db.idle_in_transaction = rows.iter().filter(|r| r.4 == "Sleep").count() as u32;
        db.transactions = rows
            .into_iter()
            .map(|(pid, age_s, state, query, _)| DbTransaction { pid: pid as u32, age_s, state, query })
            .collect();
        Ok(())
    }

    /// Add the scans of each explainable digest's plan to its plan hints.
    async fn explain(&mut self, queries: &mut [Query]) {
        for query in queries.iter_mut().take(database::MAX_EXPLAINED) {
            let statement = with_sample_values(&query.text);
            if query.database.is_empty() || !database::explainable(&statement) {
                continue;
            }
            match self.scans(&query.database, &statement).await {
                Ok(hints) => query.plan_hints.extend(hints),
                Err(e) => log::debug!("{}: cannot explain `{statement}`: {e}", self.label),
            }
        }
    }

    async fn scans(&mut self, schema: &str, statement: &str) -> Read<Vec<String>> {
        self.conn.query_drop(format!("use `{}`", schema.replace('`', "``"))).await?;
        let rows: Vec<mysql_async::Row> = self.conn.query(format!("explain {statement}")).await?;
        let mut hints: Vec<String> = rows
            .iter()
            .filter_map(|row| {
                let text = |column: &str| row.get_opt::<Option<String>, _>(column).and_then(Result::ok).flatten();
                let table = text("table")?;
                // Derived tables (`<derived2>`) and unions are not tables.
                if table.starts_with('<') {
                    return None;
                }
                let kind = if text("type").as_deref() == Some("ALL") {
                    "full-scan"
                } else if text("key").is_some() {
                    "index-scan"
                } else {
                    return None;
                };
                Some(format!("{kind}:{schema}.{table}"))
            })
            .collect();
        hints.sort();
        hints.dedup();
        Ok(hints)
    }

    async fn digests(&mut self, engine: &str, out: &mut Vec<Query>) -> Read<()> {
        // Timers are in picoseconds.
        type Digest = (Option<String>, String, Option<String>, u64, f64, f64, u64, u64, u64, u64);
        let rows: Vec<Digest> = self
            .conn
            .exec(
                // The URL's database only, when it names one (as for the tables).
                "select schema_name, coalesce(digest, ''), digest_text, count_star, sum_timer_wait / 1e9,
                        avg_timer_wait / 1e9, sum_rows_examined, sum_rows_sent, sum_no_index_used,
                        sum_select_full_join
                 from performance_schema.events_statements_summary_by_digest
                 where ? is null or schema_name = ?
                 order by sum_timer_wait desc limit 100",
                (self.schema.clone(), self.schema.clone()),
            )
            .await?;
        out.extend(rows.into_iter().map(
            |(schema, digest, text, calls, total_ms, mean_ms, examined, sent, no_index, full_join)| {
                let mut plan_hints = Vec::new();
                if no_index > 0 {
                    plan_hints.push("no-index-used".to_owned());
                }
                if full_join > 0 {
                    plan_hints.push("full-join".to_owned());
                }
                Query {
                    database: schema.unwrap_or_default(),
                    engine: engine.to_owned(),
                    fingerprint: digest,
                    text: text.unwrap_or_default(),
                    calls,
                    total_ms,
                    mean_ms,
                    p95_ms: None,
                    rows_examined: Some(examined),
                    rows_returned: Some(sent),
                    plan_hints,
                }
            },
        ));
        Ok(())
    }
}

/// A digest with sample values in place of its placeholders, so `EXPLAIN`
/// accepts it: `'0'` compares with strings and numbers alike (and keeps an
/// index usable), `1` after `LIMIT`/`OFFSET`, `('0')` for a collapsed list.
fn with_sample_values(digest: &str) -> String {
    let digest = digest.replace("(...)", "(?)");
    let mut out = String::with_capacity(digest.len() + 16);
    let mut quoted = false;
    for c in digest.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => {
                let before = out.trim_end().to_ascii_lowercase();
                let in_limit = before.ends_with("limit")
                    || before.ends_with("offset")
                    || (before.ends_with(',') && before.rsplit("limit").next().is_some_and(|tail| tail.len() < 8));
                out.push_str(if in_limit { "1" } else { "'0'" });
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_get_sample_values_explain_accepts() {
        assert_eq!(
            with_sample_values("SELECT * FROM `t` WHERE `a` = ? AND `b` IN (...) LIMIT ?, ?"),
            "SELECT * FROM `t` WHERE `a` = '0' AND `b` IN ('0') LIMIT 1, 1"
        );
        assert_eq!(with_sample_values("SELECT `?` FROM t LIMIT ? OFFSET ?"), "SELECT `?` FROM t LIMIT 1 OFFSET 1");
    }
}
