//! The local database servers the database tests use (PostgreSQL on
//! 127.0.0.1:5432 with trust auth, MariaDB on 127.0.0.1:3306 as root without a
//! password), and a way to run statements on MariaDB.
//!
//! `tests/databases.rs` takes other addresses from `PERFSAGE_TEST_POSTGRES`
//! and `PERFSAGE_TEST_MARIADB` (`host:port`, same users): the statement tests
//! need `pg_stat_statements` preloaded and `performance_schema` on, which
//! `.ci/databases.sh` turns on with a restart; a server of one's own with
//! both lets them run without restarting a shared one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The MariaDB server, as root, without a default database.
pub const MARIADB: &str = "mysql://root@127.0.0.1:3306";

/// PostgreSQL's `host:port` for `tests/databases.rs`.
pub fn postgres_addr() -> String {
    std::env::var("PERFSAGE_TEST_POSTGRES").unwrap_or_else(|_| "127.0.0.1:5432".to_owned())
}

/// MariaDB's `host:port` for `tests/databases.rs`.
pub fn mariadb_addr() -> String {
    std::env::var("PERFSAGE_TEST_MARIADB").unwrap_or_else(|_| "127.0.0.1:3306".to_owned())
}

/// A current-thread runtime for one blocking call into an async client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Run `statements` in order on one connection to `url`; the rows of the last
/// one, every value as text (NULL as empty). A failing statement panics, naming it.
pub fn mariadb_at(url: &str, statements: &[String]) -> Vec<Vec<String>> {
    runtime().block_on(async {
        use mysql_async::prelude::Queryable;
        let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
        let mut last = Vec::new();
        for statement in statements {
            let rows: Vec<mysql_async::Row> =
                conn.query(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
            last = rows
                .into_iter()
                .map(|row| {
                    (0..row.len()).map(|i| row.get::<Option<String>, _>(i).flatten().unwrap_or_default()).collect()
                })
                .collect();
        }
        conn.disconnect().await.unwrap();
        last
    })
}

/// [`mariadb_at`] the server, without a default database.
pub fn mariadb(statements: &[String]) -> Vec<Vec<String>> {
    mariadb_at(MARIADB, statements)
}

/// A TCP listener on 127.0.0.1 that accepts every connection and never says
/// a word: a database server that hangs after the handshake's first byte.
pub struct StalledServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<usize>>,
}

impl StalledServer {
    pub fn start() -> StalledServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            // Held open, unread and unanswered, until the test ends.
            let mut held = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
            held.len()
        });
        StalledServer { port, stop, thread: Some(thread) }
    }

    /// Stop, and say how many connections it accepted.
    pub fn accepted(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for StalledServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
