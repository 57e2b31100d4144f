//! Writes a deterministic MariaDB slow query log of a CRM-like app for the
//! digest benchmark: the server's banner, `# Time:`/`# User@Host:`/`# Thread_id`
//! /`# Query_time` headers, `use`/`SET timestamp` lines, and statements whose
//! literals, IN-list lengths, case and spacing vary, so classes only come out
//! right when statements are fingerprinted.
//!
//! `cargo run --release --example gen_slow_log -- QUERIES > slow.log`

use std::io::{BufWriter, Write};

#[path = "support/splitmix.rs"]
mod splitmix;

use splitmix::SplitMix;

/// (statement template, share in ‰, mean seconds, rows examined, rows sent).
/// `{n}` is a number, `{s}` a quoted string, `{list}` an IN list of 1-20 numbers.
const CLASSES: [(&str, u64, f64, u64, u64); 14] = [
    ("SELECT id, name, email FROM contacts WHERE email = {s}", 180, 0.031, 60000, 1),
    ("select * from contacts where id = {n}", 160, 0.0004, 1, 1),
    (
        "SELECT d.id, d.amount, d.stage FROM deals d WHERE d.account_id = {n} ORDER BY d.id DESC LIMIT 50",
        120,
        0.012,
        2400,
        50,
    ),
    ("select count(*) from deals where stage = {s} and amount > {n}", 60, 0.21, 250000, 1),
    (
        "SELECT a.id, a.name, SUM(d.amount) FROM accounts a JOIN deals d ON d.account_id = a.id WHERE d.stage = {s} GROUP BY a.id, a.name ORDER BY 3 DESC LIMIT 20",
        25,
        1.35,
        1250000,
        20,
    ),
    ("UPDATE deals SET stage = {s}, updated_at = NOW() WHERE id = {n}", 70, 0.003, 1, 0),
    ("INSERT INTO activities (contact_id, kind, note, created_at) VALUES ({n}, {s}, {s}, NOW())", 110, 0.002, 0, 0),
    (
        "select id, kind, note from activities where contact_id in ({list}) order by created_at desc",
        80,
        0.045,
        40000,
        12,
    ),
    ("SELECT * FROM users WHERE session_token = {s} LIMIT 1", 90, 0.0008, 1, 1),
    ("delete from sessions where expires_at < {n}", 15, 0.48, 90000, 0),
    ("SELECT COUNT(*) FROM contacts WHERE account_id = {n} AND name LIKE {s}", 40, 0.018, 8000, 1),
    (
        "select id, subject from emails where contact_id = {n} and folder = {s} order by sent_at desc limit 20",
        35,
        0.009,
        300,
        20,
    ),
    ("UPDATE contacts SET last_seen = NOW() WHERE id IN ({list})", 10, 0.06, 20, 0),
    ("SELECT p.id, p.name FROM products p WHERE p.price BETWEEN {n} AND {n}", 5, 0.004, 500, 30),
];

const WORDS: [&str; 8] = ["open", "won", "lost", "call", "Inbox", "O'Brien", "acme corp", "ünïcode"];

fn fill(template: &str, rng: &mut SplitMix) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let end = at + rest[at..].find('}').expect("closed placeholder");
        match &rest[at + 1..end] {
            "n" => out.push_str(&rng.below(1_000_000).to_string()),
            "s" => {
                let word = WORDS[rng.below(WORDS.len() as u64) as usize].replace('\'', "\\'");
                out.push_str(&format!("'{word}{}'", rng.below(10_000)));
            }
            "list" => {
                let items: Vec<String> = (0..1 + rng.below(20)).map(|_| rng.below(100_000).to_string()).collect();
                out.push_str(&items.join(if rng.below(2) == 0 { "," } else { ", " }));
            }
            other => panic!("unknown placeholder {other}"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    // Same class, other spelling: some callers upper-case keywords or add spaces.
    if rng.below(10) == 0 { out.replace(" WHERE ", "  where\n    ") } else { out }
}

fn main() {
    let queries: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut rng = SplitMix(0x005e_eddb);
    let total_share: u64 = CLASSES.iter().map(|c| c.1).sum();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    writeln!(out, "/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-0+deb12u1-log (Debian 12). started with:").unwrap();
    writeln!(out, "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock").unwrap();
    writeln!(out, "Time                Id Command  Argument").unwrap();
    let mut timestamp: u64 = 1_764_201_600; // 2025-11-27 00:00:00 UTC
    let mut last_second = 0;
    for i in 0..queries {
        let mut pick = rng.below(total_share);
        let class = CLASSES
            .iter()
            .find(|c| {
                if pick < c.1 {
                    return true;
                }
                pick -= c.1;
                false
            })
            .expect("a class");
        let (template, _, mean_s, examined, sent) = *class;
        timestamp += rng.below(3);
        if timestamp != last_second {
            let (h, m, s) = ((timestamp / 3600) % 24, (timestamp / 60) % 60, timestamp % 60);
            writeln!(out, "# Time: 251127 {h:2}:{m:02}:{s:02}").unwrap();
            last_second = timestamp;
        }
        let thread = 10 + rng.below(64);
        // Exponential-ish spread around the class mean.
        let factor = -((1 + rng.below(1_000_000)) as f64 / 1_000_001.0).ln();
        let query_time = mean_s * factor;
        let examined = examined * (50 + rng.below(100)) / 100;
        writeln!(out, "# User@Host: crm[crm] @ app-{}.internal [10.0.0.{}]", thread % 4, thread % 250).unwrap();
        writeln!(out, "# Thread_id: {thread}  Schema: crm  QC_hit: No").unwrap();
        writeln!(
            out,
            "# Query_time: {query_time:.6}  Lock_time: {:.6}  Rows_sent: {sent}  Rows_examined: {examined}",
            query_time / 50.0
        )
        .unwrap();
        writeln!(out, "# Rows_affected: 0  Bytes_sent: {}", 60 + sent * 80).unwrap();
        if i % 1000 == 0 {
            writeln!(out, "use crm;").unwrap();
        }
        writeln!(out, "SET timestamp={timestamp};").unwrap();
        writeln!(out, "{};", fill(template, &mut rng)).unwrap();
    }
    out.flush().unwrap();
}
