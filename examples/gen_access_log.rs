//! Writes a deterministic access log of a CRM-like app for the benchmarks:
//! nginx combined format with `$request_time $upstream_response_time`, ids in
//! the paths (so routes must be normalized), a few slow and failing routes.
//!
//! `cargo run --release --example gen_access_log -- LINES [--scan-paths N] > access.log`
//!
//! `--scan-paths N` adds a scanner among the traffic: N lines of 404s, each
//! for a distinct random path, spread evenly over the day (the log then has
//! LINES + N lines).

use std::io::{BufWriter, Write};

#[path = "support/splitmix.rs"]
mod splitmix;

use splitmix::SplitMix;

/// (method, path template with `{}` for an id, share in ‰, base latency ms, 5xx in ‰)
const ROUTES: [(&str, &str, u64, u64, u64); 12] = [
    ("GET", "/api/contacts/{}", 250, 12, 1),
    ("GET", "/api/contacts", 120, 45, 1),
    ("POST", "/api/contacts/{}/notes", 60, 30, 2),
    ("GET", "/api/deals/{}", 150, 18, 1),
    ("PUT", "/api/deals/{}", 50, 40, 3),
    ("GET", "/api/reports/pipeline", 20, 900, 5),
    ("GET", "/api/search", 80, 120, 2),
    ("GET", "/static/app.js", 150, 1, 0),
    ("GET", "/api/users/{}/avatar", 60, 6, 0),
    ("POST", "/api/import", 5, 2500, 40),
    ("GET", "/api/activities/{}", 50, 25, 1),
    ("GET", "/healthz", 5, 1, 0),
];

const AGENTS: [&str; 3] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "crm-mobile/4.2.1 (Android 14)",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let lines: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let scans: u64 =
        args.iter().position(|a| a == "--scan-paths").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(0);
    let mut scanner = SplitMix(7);
    let mut scanned = 0u64;
    let mut rng = SplitMix(42);
    let out = std::io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 20, out);
    // One day of traffic whatever the line count, starting 2024-10-10 00:00:00 +0000.
    let day_ms: u64 = 86_400_000;
    for i in 0..lines {
        let t_ms = i * day_ms / lines;
        let (h, m, s) = (t_ms / 3_600_000, t_ms / 60_000 % 60, t_ms / 1000 % 60);
        // The scanner's lines due by now (its own generator: the real traffic is the same with or without it).
        while scans > 0 && scanned * lines < scans * (i + 1) {
            scanned += 1;
            let word: String = (0..12).map(|_| (b'a' + scanner.below(26) as u8) as char).collect();
            writeln!(
                out,
                "198.51.100.7 - - [10/Oct/2024:{h:02}:{m:02}:{s:02} +0000] \"GET /{word}.php HTTP/1.1\" 404 153 \"-\" \"zgrab/0.x\" 0.001 -"
            )
            .unwrap();
        }
        let mut pick = rng.below(1000);
        let route = ROUTES
            .iter()
            .find(|r| {
                if pick < r.2 {
                    true
                } else {
                    pick -= r.2;
                    false
                }
            })
            .unwrap_or(&ROUTES[0]);
        let id = 1 + rng.below(250_000);
        let path = route.1.replace("{}", &id.to_string());
        let query = if rng.below(4) == 0 { format!("?page={}", rng.below(20)) } else { String::new() };
        let status = if rng.below(1000) < route.4 {
            502
        } else if rng.below(100) == 0 {
            404
        } else {
            200
        };
        // Long-tailed latency: base × (0.5 .. 1.5), one request in 50 ten times slower.
        let mut latency_us = route.3 * 1000 * (500 + rng.below(1000)) / 1000;
        if rng.below(50) == 0 {
            latency_us *= 10;
        }
        let upstream_us = latency_us.saturating_sub(300 + rng.below(1000));
        writeln!(
            out,
            "10.{}.{}.{} - - [10/Oct/2024:{h:02}:{m:02}:{s:02} +0000] \"{} {path}{query} HTTP/1.1\" {status} {} \"https://crm.example.com/\" \"{}\" {}.{:03} {}.{:03}",
            rng.below(256),
            rng.below(256),
            rng.below(256),
            route.0,
            200 + rng.below(20_000),
            AGENTS[rng.below(3) as usize],
            latency_us / 1_000_000,
            latency_us / 1000 % 1000,
            upstream_us / 1_000_000,
            upstream_us / 1000 % 1000,
        )
        .unwrap();
    }
    out.flush().unwrap();
}
