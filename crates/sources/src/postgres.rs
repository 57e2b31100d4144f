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
//!
//! Explaining executes nothing of the user's. Planning can run user code: a
//! SQL function is inlined and an immutable one with constant arguments is
//! evaluated while the plan is made, and the selectivity of `col = const`
//! calls the operator's function on the column's most common values. After
//! `PREPARE` the server knows which functions a statement calls but does not
//! say, so the check is made on the text and the catalog, conservatively
//! ([`UserCode`]): a statement is not explained when any word in it (a call
//! `f(x)`, or the attribute notation `t.f` that calls `f(t)`) is the name of
//! a function outside `pg_catalog`, when it calls a function qualified by
//! another schema, when an operator in it is implemented or estimated by a
//! function outside `pg_catalog` written in anything but C (those only a
//! superuser installs), or when a relation it names is a view, or carries
//! row-security policies or column defaults, that use a function outside
//! `pg_catalog` (followed through views of views), or when a cast it may do
//! (an implicit one, or one to a type it names) is such a function. Such a
//! statement gets the plan hint `not-explained:user-function` and a warning
//! naming the function.
//! Only SELECT, INSERT, UPDATE and DELETE are explained, each in a read-only
//! transaction that is rolled back, under a statement timeout.

use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, NoTls};

use super::database::{self, DatabaseError, DatabaseSample, Step};
use perfsage_model::contract;
use perfsage_model::{DbTransaction, NamedValue, Query, TableStat};

const ENGINE: &str = contract::engines::POSTGRESQL;
/// The plan hint of a statement left unexplained because planning it could run user code.
const NOT_EXPLAINED: &str = "not-explained:user-function";

/// Which of a statement's words and operators lead to a function outside
/// `pg_catalog` ($1: the words, $2: the operator runs); each column is null
/// when none does, else names them: functions named, operators used,
/// relations read, casts (implicit or assignment ones, which need no
/// syntax, and explicit ones to a type the statement names).
const USER_CODE: &str = "
with recursive
    own(oid) as (select oid from pg_proc where pronamespace <> 'pg_catalog'::regnamespace),
    uncompiled(oid) as (
        select p.oid from pg_proc p join pg_language l on l.oid = p.prolang
        where p.pronamespace <> 'pg_catalog'::regnamespace and l.lanname not in ('c', 'internal')),
    named(oid) as (select oid from pg_class where relname = any($1)),
    reached(oid) as (
        select oid from named
        union
        select d.refobjid from reached
        join pg_rewrite r on r.ev_class = reached.oid
        join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
                        and d.refclassid = 'pg_class'::regclass)
select
    (select string_agg(distinct p.pronamespace::regnamespace::text || '.' || p.proname, ', ')
     from pg_proc p where p.oid in (select oid from own) and p.proname = any($1)),
    (select string_agg(distinct o.oprname, ' ')
     from pg_operator o
     where exists (select 1 from unnest($2::text[]) run where strpos(run, o.oprname) > 0)
       and (o.oprcode::oid in (select oid from uncompiled) or o.oprrest::oid in (select oid from uncompiled)
            or o.oprjoin::oid in (select oid from uncompiled))),
    (select string_agg(distinct c.oid::regclass::text, ', ')
     from reached join pg_class c on c.oid = reached.oid
     where exists (
        select 1 from pg_depend d
        where d.refclassid = 'pg_proc'::regclass and d.refobjid in (select oid from own)
          and ((d.classid = 'pg_rewrite'::regclass
                and d.objid in (select oid from pg_rewrite where ev_class = c.oid))
            or (d.classid = 'pg_policy'::regclass
                and d.objid in (select oid from pg_policy where polrelid = c.oid))
            or (d.classid = 'pg_attrdef'::regclass
                and d.objid in (select oid from pg_attrdef where adrelid = c.oid))))),
    (select string_agg(distinct format_type(c.castsource, null) || ' to ' || format_type(c.casttarget, null), ', ')
     from pg_cast c join pg_type t on t.oid = c.casttarget
     where c.castfunc in (select oid from uncompiled)
       and (c.castcontext in ('i', 'a') or t.typname = any($1)))";
/// How many tables (most rows read sequentially first) and statements to keep.
const MAX_TABLES: i64 = 200;
const MAX_QUERIES: i64 = 100;
const MAX_TRANSACTIONS: i64 = 10;

const ENABLE_STATEMENTS: &str = "pg_stat_statements is not installed in this database, so there are no per-query \
statistics; to enable it add pg_stat_statements to shared_preload_libraries in postgresql.conf, restart the server \
and run CREATE EXTENSION pg_stat_statements";

const SUPERUSER_INSTEAD: &str = "CREATE ROLE perfsage LOGIN; GRANT pg_monitor TO perfsage \
(pg_read_all_stats is enough to read the statistics)";

/// Collect one PostgreSQL server, e.g. `postgresql://user@127.0.0.1:5432/shop`,
/// all of it within `timeout` (see [`super::database`]).
pub fn collect(url: &str, timeout: Duration) -> Result<DatabaseSample, DatabaseError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| DatabaseError::Url { engine: ENGINE, message: e.to_string() })?;
    config.connect_timeout(timeout).application_name("perfsage");
    // The server cancels any one statement after the source's whole budget,
    // so nothing keeps running there once perfsage has given up.
    let options = format!("{} -c statement_timeout={}", config.get_options().unwrap_or(""), timeout.as_millis());
    config.options(options.trim_start());
    let label = label_of(&config);
    let step = Step::new();
    database::runtime()?.block_on(database::within(&label, timeout, &step, async {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| DatabaseError::Connect { label: label.clone(), source: Box::new(e) })?;
        let connection = tokio::spawn(connection);
        let sample = Reader { client, label: label.clone(), step: &step, timeout }.read().await;
        connection.abort();
        sample
    }))
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

struct Reader<'a> {
    client: Client,
    label: String,
    step: &'a Step,
    timeout: Duration,
}

impl Reader<'_> {
    async fn read(&self) -> Result<DatabaseSample, DatabaseError> {
        // The one query that must work: without it the server told us nothing.
        // Other roles' sessions show a null backend_type to a role without
        // pg_read_all_stats; they are counted as the client sessions they mostly are.
        self.step.set("reading pg_stat_activity");
        let row = self
            .client
            .query_one(
                "select current_database()::text, current_setting('max_connections')::int4,
                        current_setting('server_version_num')::int4,
                        (select count(*) from pg_stat_activity
                         where coalesce(backend_type, 'client backend') = 'client backend')::int4,
                        (select count(*) from pg_stat_activity where state like 'idle in transaction%')::int4,
                        (select count(*) from pg_locks where not granted)::int4,
                        (select count(*) from pg_stat_activity where query = '<insufficient privilege>')::int4,
                        current_setting('is_superuser') = 'on', current_user::text",
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
        if row.get::<_, bool>(7) {
            let who = format!("the superuser role {}", row.get::<_, String>(8));
            warnings.push(database::superuser_warning(&self.label, &who, SUPERUSER_INSTEAD));
        }
        let mut note = |what: &str, result: Result<(), tokio_postgres::Error>| {
            if let Err(e) = result {
                warnings.push(format!("{}: cannot read {what}: {}", self.label, describe(&e)));
            }
        };
        self.step.set("reading pg_stat_database");
        note("pg_stat_database", self.database_counters(&mut db).await);
        self.step.set("reading pg_settings");
        note("pg_settings", self.settings(&mut db).await);
        self.step.set("reading pg_stat_user_tables");
        note("pg_stat_user_tables", self.tables(&mut db).await);
        self.step.set("reading pg_stat_activity transactions");
        note("pg_stat_activity transactions", self.transactions(&mut db).await);
        if hidden > 0 {
            warnings.push(format!(
                "{}: {hidden} session(s) of other roles are hidden from this role, so their state, transactions \
                 and queries are not counted; GRANT pg_read_all_stats TO <role> to see them",
                self.label
            ));
        }
        let mut queries = Vec::new();
        self.step.set("reading pg_stat_statements");
        match self.statements(&db.name, version, &mut queries).await {
            Ok(true) => {
                self.step.set("explaining the busiest statements");
                self.explain(&mut queries, &mut warnings).await
            }
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

    async fn database_counters(&self, db: &mut perfsage_model::Database) -> Result<(), tokio_postgres::Error> {
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
    async fn settings(&self, db: &mut perfsage_model::Database) -> Result<(), tokio_postgres::Error> {
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

    async fn tables(&self, db: &mut perfsage_model::Database) -> Result<(), tokio_postgres::Error> {
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
    async fn transactions(&self, db: &mut perfsage_model::Database) -> Result<(), tokio_postgres::Error> {
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
    /// back on the counters. One that may run user code while it is planned
    /// is not explained (see the module docs).
    async fn explain(&self, queries: &mut [Query], warnings: &mut Vec<String>) {
        for query in queries.iter_mut().filter(|q| database::explainable(&q.text)).take(database::MAX_EXPLAINED) {
            match self.user_code(&query.text).await {
                Ok(None) => {}
                Ok(Some(reason)) => {
                    query.plan_hints.push(NOT_EXPLAINED.to_owned());
                    warnings.push(database::not_explained(&self.label, &query.text, &reason));
                    continue;
                }
                Err(e) => {
                    // Unchecked is unexplained: the check is what makes explaining safe.
                    query.plan_hints.push(NOT_EXPLAINED.to_owned());
                    let reason = format!("could not be checked for user functions: {}", describe(&e));
                    warnings.push(database::not_explained(&self.label, &query.text, &reason));
                    continue;
                }
            }
            match self.generic_plan(&query.text).await {
                Ok(plan) => query.plan_hints = scan_hints(&plan),
                Err(e) => log::debug!("{}: cannot explain `{}`: {}", self.label, query.text, describe(&e)),
            }
            // Leave the session clean whatever happened.
            let _ = self.client.batch_execute("rollback; deallocate all").await;
        }
    }

    /// Why planning `text` could run a function outside `pg_catalog`, or `None`.
    async fn user_code(&self, text: &str) -> Result<Option<String>, tokio_postgres::Error> {
        let names = UserCode::scan(text);
        if let Some(schema) = names.foreign_schemas.first() {
            return Ok(Some(format!("calls a function of schema {schema}, outside pg_catalog")));
        }
        let row = self.client.query_one(USER_CODE, &[&names.words, &names.operators]).await?;
        let (functions, operators, relations, casts): (Option<String>, Option<String>, Option<String>, Option<String>) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        Ok(if let Some(functions) = functions {
            Some(format!("names {functions}, a function outside pg_catalog that planning could run"))
        } else if let Some(operators) = operators {
            Some(format!("uses operator {operators}, implemented or estimated by a function outside pg_catalog"))
        } else if let Some(relations) = relations {
            Some(format!("reads {relations}, whose view, policies or defaults call a function outside pg_catalog"))
        } else {
            casts.map(|c| format!("may cast {c}, a cast done by a function outside pg_catalog"))
        })
    }

    async fn generic_plan(&self, text: &str) -> Result<serde_json::Value, tokio_postgres::Error> {
        let parameters = max_parameter(text);
        // Read only and rolled back: even a plan that ran something could change nothing.
        let timeout = self.timeout.min(database::EXPLAIN_TIMEOUT).as_millis();
        self.client
            .batch_execute(&format!(
                "begin transaction read only; set local plan_cache_mode = force_generic_plan;
                 set local statement_timeout = {timeout}"
            ))
            .await?;
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

/// What a statement's text names, read by a small lexer that knows
/// PostgreSQL's strings (`'..'`, `E'..'`, `$tag$..$tag$`), quoted identifiers
/// and comments, so that nothing inside a string counts.
#[derive(Debug, Default, PartialEq)]
struct UserCode {
    /// Every identifier (unquoted ones in lower case), once each: a call, a
    /// relation, a column, or the attribute notation of a call.
    words: Vec<String>,
    /// Runs of operator characters, as written.
    operators: Vec<String>,
    /// Schemas other than `pg_catalog` that qualify a call (`s.f(`).
    foreign_schemas: Vec<String>,
}

impl UserCode {
    fn scan(text: &str) -> UserCode {
        const OPERATOR: &str = "+-*/<>=~!@#%^&|`?";
        let chars: Vec<char> = text.chars().collect();
        let mut found = UserCode::default();
        // The last two identifiers and whether a `.` joined them: `s.f(`.
        let mut qualifier: Option<String> = None;
        let mut previous: Option<String> = None;
        let mut dotted = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '-' && at(i + 1) == '-' {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            if c == '/' && at(i + 1) == '*' {
                // Comments nest in PostgreSQL.
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            if c == '\'' {
                // An E'' string (its E was just read as a word) escapes with backslashes.
                let escapes = previous.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("e")) && !dotted;
                i += 1;
                while i < chars.len() {
                    // A backslash escape, or a doubled quote, skips two characters.
                    if (escapes && chars[i] == '\\') || (chars[i] == '\'' && at(i + 1) == '\'') {
                        i += 2;
                    } else if chars[i] == '\'' {
                        i += 1;
                        break;
                    } else {
                        i += 1;
                    }
                }
                previous = None;
                continue;
            }
            if c == '$' {
                // $1 is a parameter; $tag$ opens a string closed by the same tag.
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if at(j) == '$' && !at(i + 1).is_ascii_digit() {
                    let tag: String = chars[i..=j].iter().collect();
                    let rest: String = chars[j + 1..].iter().collect();
                    let skip = rest
                        .find(&tag)
                        .map_or(rest.chars().count(), |end| rest[..end].chars().count() + tag.chars().count());
                    i = j + 1 + skip;
                } else {
                    i = j;
                }
                previous = None;
                continue;
            }
            let word = if c == '"' {
                let mut word = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == '"' && at(i + 1) == '"' {
                        word.push('"');
                        i += 2;
                    } else if chars[i] == '"' {
                        i += 1;
                        break;
                    } else {
                        word.push(chars[i]);
                        i += 1;
                    }
                }
                Some(word)
            } else if c.is_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                    i += 1;
                }
                Some(chars[start..i].iter().collect::<String>().to_lowercase())
            } else {
                None
            };
            if let Some(word) = word {
                if !found.words.contains(&word) {
                    found.words.push(word.clone());
                }
                qualifier = if dotted { previous.take() } else { None };
                previous = Some(word);
                dotted = false;
                continue;
            }
            if OPERATOR.contains(c) {
                let start = i;
                while i < chars.len() && OPERATOR.contains(chars[i]) {
                    i += 1;
                }
                let run: String = chars[start..i].iter().collect();
                if !found.operators.contains(&run) {
                    found.operators.push(run);
                }
                previous = None;
                dotted = false;
                continue;
            }
            match c {
                '.' if previous.is_some() => dotted = true,
                '(' => {
                    if let Some(schema) = qualifier.take().filter(|s| s != "pg_catalog")
                        && !found.foreign_schemas.contains(&schema)
                    {
                        found.foreign_schemas.push(schema);
                    }
                    previous = None;
                    dotted = false;
                }
                _ => {
                    previous = None;
                    dotted = false;
                }
            }
            i += 1;
        }
        found
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
                Some("Seq Scan") => Some(contract::plan_hints::SEQ_SCAN),
                Some("Index Scan" | "Index Only Scan" | "Bitmap Heap Scan") => Some(contract::plan_hints::INDEX_SCAN),
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
    fn the_lexer_finds_words_calls_and_operators_outside_strings() {
        let found = UserCode::scan(
            "SELECT Lower(email), \"MixedCase\"(x), s.f($1), pg_catalog.upper(b) -- canary(1)
             FROM t /* nested /* inner(2) */ still */ WHERE a <-> $2 AND b = 'it''s f(3)'
             AND c = E'\\' g(4)' AND d = $q$ h(5) $q$ AND e::int >= 1",
        );
        let words: Vec<&str> = found.words.iter().map(String::as_str).collect();
        assert_eq!(
            words,
            [
                "select",
                "lower",
                "email",
                "MixedCase",
                "x",
                "s",
                "f",
                "pg_catalog",
                "upper",
                "b",
                "from",
                "t",
                "where",
                "a",
                "and",
                "c",
                "e",
                "d",
                "int"
            ]
        );
        assert_eq!(found.operators, ["<->", "=", ">="]);
        assert_eq!(found.foreign_schemas, ["s"]);
    }

    #[test]
    fn a_qualified_word_not_followed_by_a_call_is_no_foreign_call() {
        let found = UserCode::scan("select t.a from public.t where t.b = 1 and pg_catalog.now() > x");
        assert!(found.foreign_schemas.is_empty(), "{found:?}");
        assert_eq!(UserCode::scan("select app . score ( x ) from t").foreign_schemas, ["app"]);
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
