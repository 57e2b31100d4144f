//! PostgreSQL source: one connection, the cumulative statistics views, one
//! `database` record and the `queries` of `pg_stat_statements`.
//!
//! Read: `pg_stat_database` (cache hit ratio, temp files, deadlocks),
//! `pg_stat_user_tables` (sequential vs index scans, live and dead rows, last
//! vacuum, size), `pg_stat_activity` (connections against `max_connections`,
//! idle in transaction, the oldest open transactions), `pg_locks` (waits) and
//! `pg_stat_statements` when the extension is installed. Every view is read on
//! its own (see [`super::database`]): a view that fails becomes a warning.
//! Counters are cumulative since the last stats reset, as the server keeps them;
//! `status` carries the raw ones and the memory settings in bytes.
//!
//! The busiest statements are also explained, never run: each is prepared
//! and `EXPLAIN EXECUTE`d with a generic plan (`plan_cache_mode =
//! force_generic_plan`, every parameter null), so the plan is the one the
//! server would use for unknown values. Its scans become plan hints
//! (`seq-scan:public.contacts`, `index-scan:public.contacts`): unlike the
//! cumulative counters, a plan changes the moment an index exists, which is
//! what lets a created index be verified.

use tokio_postgres::config::Host;
use tokio_postgres::{Client, NoTls};

use super::database::{self, DatabaseError, DatabaseSample, TIMEOUT};
use crate::model::{DbTransaction, NamedValue, Query, TableStat};

const ENGINE: &str = "postgresql";
/// How many tables (most rows read sequentially first) and statements to keep.
const MAX_TABLES: i64 = 200;
const MAX_QUERIES: i64 = 100;
const MAX_TRANSACTIONS: i64 = 10;

const ENABLE_STATEMENTS: &str = "pg_stat_statements is not installed in this database, so there are no per-query \
statistics; to enable it add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart the server \
and run CREATE EXTENSION pg_stat_statements";

/// Collect one PostgreSQL server, e.g. `postgresql://user@127.0.0.1:5432/shop`.
pub fn collect(url: &str) -> Result<DatabaseSample, DatabaseError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| DatabaseError::Url { engine: ENGINE, message: e.to_string() })?;
    config.connect_timeout(TIMEOUT).application_name("perfsage");
    config.options(format!("-c statement_timeout={}", TIMEOUT.as_millis()));
    let label = label_of(&config);
    database::runtime()?.block_on(async {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| DatabaseError::Connect { label: label.clone(), source: Box::new(e) })?;
        let connection = tokio::spawn(connection);
        let sample = Reader { client, label }.read().await;
        connection.abort();
        sample
    })
}

fn label_of(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let dbname = config.get_dbname().or(config.get_user()).unwrap_or("postgres");
    database::label(ENGINE, &host, port, dbname)
}

/// The server's own message: `tokio_postgres::Error` alone only says "db error".
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

struct Reader {
    client: Client,
    label: String,
}

impl Reader {
    async fn read(&self) -> Result<DatabaseSample, DatabaseError> {
        // The one query that must work: without it the server told us nothing.
        // Other roles' sessions show a null backend_type to a role without
        // pg_read_all_stats; they are counted as the client sessions they mostly are.
        let row = self
            .client
            .query_one(
                "select current_database()::text, current_setting('max_connections')::int4,
                        current_setting('server_version_num')::int4,
                        (select count(*) from pg_stat_activity
                         where coalesce(backend_type, 'client backend') = 'client backend')::int4,
                        (select count(*) from pg_stat_activity where state like 'idle in transaction%')::int4,
                        (select count(*) from pg_locks where not granted)::int4,
                        (select count(*) from pg_stat_activity where query = '<insufficient privilege>')::int4",
                &[],
            )
            .await
            .map_err(|e| DatabaseError::Query {
                label: self.label.clone(),
                what: "pg_stat_activity",
                source: Box::new(e),
            })?;
        let mut db = database::empty_database(row.get(0), ENGINE);
        db.connections_max = row.get::<_, i32>(1) as u32;
        let version: i32 = row.get(2);
        db.connections_used = row.get::<_, i32>(3) as u32;
        db.idle_in_transaction = row.get::<_, i32>(4) as u32;
        db.lock_waits = row.get::<_, i32>(5) as u32;
        let hidden: i32 = row.get(6);
        db.status.push(NamedValue { name: "server_version_num".into(), value: version.into() });

        let mut warnings = Vec::new();
        let mut note = |what: &str, result: Result<(), tokio_postgres::Error>| {
            if let Err(e) = result {
                warnings.push(format!("{}: cannot read {what}: {}", self.label, describe(&e)));
            }
        };
        note("pg_stat_database", self.database_counters(&mut db).await);
        note("pg_settings", self.settings(&mut db).await);
        note("pg_stat_user_tables", self.tables(&mut db).await);
        note("pg_stat_activity transactions", self.transactions(&mut db).await);
        if hidden > 0 {
            warnings.push(format!(
                "{}: {hidden} session(s) of other roles are hidden from this role, so their state, transactions \
                 and queries are not counted; GRANT pg_read_all_stats TO <role> to see them",
                self.label
            ));
        }
        let mut queries = Vec::new();
        match self.statements(&db.name, version, &mut queries).await {
            Ok(true) => self.explain(&mut queries).await,
            Ok(false) => warnings.push(format!("{}: {ENABLE_STATEMENTS}", self.label)),
            Err(e) => warnings.push(format!(
                "{}: cannot read pg_stat_statements: {}; it must be in shared_preload_libraries and the role \
                 needs pg_read_all_stats",
                self.label,
                describe(&e)
            )),
        }
        Ok(DatabaseSample { label: self.label.clone(), database: db, queries, warnings })
    }

    async fn database_counters(&self, db: &mut crate::model::Database) -> Result<(), tokio_postgres::Error> {
        let row = self
            .client
            .query_one(
                "select blks_hit::float8, blks_read::float8, temp_files, temp_bytes::float8, deadlocks,
                        xact_commit::float8, xact_rollback::float8
                 from pg_stat_database where datname = current_database()",
                &[],
            )
            .await?;
        let (hit, read): (f64, f64) = (row.get(0), row.get(1));
        db.cache_hit_ratio = database::hit_ratio(hit, read);
        db.temp_files = Some(row.get::<_, i64>(2) as u64);
        db.deadlocks = Some(row.get::<_, i64>(4) as u64);
        for (name, index) in
            [("blks_hit", 0), ("blks_read", 1), ("temp_bytes", 3), ("xact_commit", 5), ("xact_rollback", 6)]
        {
            db.status.push(NamedValue { name: name.into(), value: row.get(index) });
        }
        Ok(())
    }

    /// Memory settings in bytes, whatever unit the server keeps them in.
    async fn settings(&self, db: &mut crate::model::Database) -> Result<(), tokio_postgres::Error> {
        let rows = self
            .client
            .query(
                "select name, setting::float8 * case unit when '8kB' then 8192 when 'kB' then 1024
                                                          when 'MB' then 1048576 else 1 end
                 from pg_settings
                 where name in ('shared_buffers', 'work_mem', 'maintenance_work_mem', 'effective_cache_size')
                 order by name",
                &[],
            )
            .await?;
        db.status.extend(rows.iter().map(|r| NamedValue { name: r.get(0), value: r.get(1) }));
        Ok(())
    }

    async fn tables(&self, db: &mut crate::model::Database) -> Result<(), tokio_postgres::Error> {
        let rows = self
            .client
            .query(
                "select schemaname::text || '.' || relname::text, n_live_tup, pg_total_relation_size(relid),
                        seq_scan, seq_tup_read, idx_scan, n_dead_tup,
                        (extract(epoch from greatest(last_vacuum, last_autovacuum)) * 1000)::int8
                 from pg_stat_user_tables order by seq_tup_read desc, relname limit $1",
                &[&MAX_TABLES],
            )
            .await?;
        db.tables = rows
            .iter()
            .map(|r| TableStat {
                name: r.get(0),
                rows_estimate: r.get::<_, i64>(1) as u64,
                size_bytes: r.get::<_, Option<i64>>(2).map(|v| v as u64),
                seq_scans: r.get::<_, Option<i64>>(3).unwrap_or(0) as u64,
                seq_rows_read: r.get::<_, Option<i64>>(4).unwrap_or(0) as u64,
                index_scans: r.get::<_, Option<i64>>(5).map(|v| v as u64),
                dead_rows: Some(r.get::<_, i64>(6) as u64),
                last_vacuum_ms: r.get(7),
            })
            .collect();
        Ok(())
    }

    /// The oldest open transactions of the whole server, this one excluded.
    async fn transactions(&self, db: &mut crate::model::Database) -> Result<(), tokio_postgres::Error> {
        let rows = self
            .client
            .query(
                "select pid, extract(epoch from now() - xact_start)::float8, coalesce(state, ''),
                        left(coalesce(query, ''), 1000)
                 from pg_stat_activity
                 where xact_start is not null and pid <> pg_backend_pid()
                 order by xact_start limit $1",
                &[&MAX_TRANSACTIONS],
            )
            .await?;
        db.transactions = rows
            .iter()
            .map(|r| DbTransaction {
                pid: r.get::<_, i32>(0) as u32,
                age_s: r.get(1),
                state: r.get(2),
                query: r.get(3),
            })
            .collect();
        Ok(())
    }

    /// Add the scans of each explainable statement's generic plan to its plan
    /// hints. A statement that cannot be prepared here (another schema on the
    /// search path, a temporary table) keeps no hints: the rules then fall
    /// back on the counters.
    async fn explain(&self, queries: &mut [Query]) {
        for query in queries.iter_mut().filter(|q| database::explainable(&q.text)).take(database::MAX_EXPLAINED) {
            match self.generic_plan(&query.text).await {
                Ok(plan) => query.plan_hints = scan_hints(&plan),
                Err(e) => log::debug!("{}: cannot explain `{}`: {}", self.label, query.text, describe(&e)),
            }
            // Leave the session clean whatever happened.
            let _ = self.client.batch_execute("rollback; deallocate all").await;
        }
    }

    async fn generic_plan(&self, text: &str) -> Result<serde_json::Value, tokio_postgres::Error> {
        let parameters = max_parameter(text);
        self.client.batch_execute("begin; set local plan_cache_mode = force_generic_plan").await?;
        self.client.batch_execute(&format!("prepare perfsage_explain as {text}")).await?;
        let nulls = if parameters == 0 { String::new() } else { format!("({})", vec!["null"; parameters].join(", ")) };
        let rows = self
            .client
            .simple_query(&format!("explain (format json, verbose) execute perfsage_explain{nulls}"))
            .await?;
        let json = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default())
    }

    /// `Ok(false)` when the extension is not installed in this database.
    async fn statements(
        &self,
        dbname: &str,
        version: i32,
        out: &mut Vec<Query>,
    ) -> Result<bool, tokio_postgres::Error> {
        let installed = self
            .client
            .query_one("select exists (select 1 from pg_extension where extname = 'pg_stat_statements')", &[])
            .await?;
        if !installed.get::<_, bool>(0) {
            return Ok(false);
        }
        // PostgreSQL 13 renamed total_time to total_exec_time.
        let (total, mean) =
            if version >= 130000 { ("total_exec_time", "mean_exec_time") } else { ("total_time", "mean_time") };
        let rows = self
            .client
            .query(
                &format!(
                    "select coalesce(queryid::text, md5(query)), query, calls, {total}, {mean}, rows
                     from pg_stat_statements
                     where dbid = (select oid from pg_database where datname = current_database())
                     order by {total} desc limit $1"
                ),
                &[&MAX_QUERIES],
            )
            .await?;
        out.extend(rows.iter().map(|r| Query {
            database: dbname.to_owned(),
            engine: ENGINE.to_owned(),
            fingerprint: r.get(0),
            text: r.get(1),
            calls: r.get::<_, i64>(2) as u64,
            total_ms: r.get(3),
            mean_ms: r.get(4),
            p95_ms: None,
            rows_examined: None,
            rows_returned: Some(r.get::<_, i64>(5) as u64),
            plan_hints: Vec::new(),
        }));
        Ok(true)
    }
}

/// The highest `$n` in a statement: how many parameters its prepared form takes.
fn max_parameter(text: &str) -> usize {
    text.split('$')
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// `seq-scan:<schema>.<table>` and `index-scan:<schema>.<table>` for every
/// scan node of an `EXPLAIN (FORMAT JSON, VERBOSE)` plan, sorted and unique.
fn scan_hints(plan: &serde_json::Value) -> Vec<String> {
    fn walk(node: &serde_json::Value, hints: &mut Vec<String>) {
        if let Some(object) = node.as_object() {
            let kind = match object.get("Node Type").and_then(|v| v.as_str()) {
                Some("Seq Scan") => Some("seq-scan"),
                Some("Index Scan" | "Index Only Scan" | "Bitmap Heap Scan") => Some("index-scan"),
                _ => None,
            };
            let relation = object.get("Relation Name").and_then(|v| v.as_str());
            if let (Some(kind), Some(relation)) = (kind, relation) {
                match object.get("Schema").and_then(|v| v.as_str()) {
                    Some(schema) => hints.push(format!("{kind}:{schema}.{relation}")),
                    None => hints.push(format!("{kind}:{relation}")),
                }
            }
            object.values().for_each(|child| walk(child, hints));
        } else if let Some(items) = node.as_array() {
            items.iter().for_each(|child| walk(child, hints));
        }
    }
    let mut hints = Vec::new();
    walk(plan, &mut hints);
    hints.sort();
    hints.dedup();
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_counted_by_their_highest_number() {
        assert_eq!(max_parameter("select * from t where a = $1 and b = $12 or c = $2"), 12);
        assert_eq!(max_parameter("select 1"), 0);
        assert_eq!(max_parameter("select '$' || x from t"), 0);
    }

    #[test]
    fn scans_of_a_plan_become_hints() {
        let plan: serde_json::Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Nested Loop", "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "contacts", "Schema": "public"},
                {"Node Type": "Index Scan", "Relation Name": "accounts", "Schema": "public", "Index Name": "accounts_pkey"},
                {"Node Type": "Seq Scan", "Relation Name": "contacts", "Schema": "public"}]}}]"#,
        )
        .unwrap();
        assert_eq!(scan_hints(&plan), ["index-scan:public.accounts", "seq-scan:public.contacts"]);
    }
}
