//! The HTTP probe against a real nginx on 127.0.0.1, started per test by the
//! harness below: request counts, error counts (a location that returns 500),
//! latency (a location proxied to a backend that answers after a known
//! delay), timeouts, unreachable targets, the open model, `run --probe`, and
//! nginx's own access log read back by `perfsage logs`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// How long the slow backend waits before answering.
const SLOW_MS: u64 = 100;

/// nginx in a temp dir, killed by PID when dropped.
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start() -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("static")).unwrap();
        std::fs::write(root.join("static/hello.txt"), "hello from nginx\n").unwrap();
        let backend = slow_backend();
        let port = free_port();
        let config = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
error_log {root}/error.log;
pid {root}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time $upstream_response_time';
    access_log {root}/access.log timed;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /static/ {{ alias {root}/static/; }}
        location = /fail {{ return 500; }}
        location = /slow {{ proxy_pass http://127.0.0.1:{backend}; }}
    }}
}}
"#,
            root = root.display()
        );
        std::fs::write(root.join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(root)
            .arg("-e")
            .arg(root.join("error.log"))
            .arg("-c")
            .arg(root.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx is installed (.ci/run installs it)");
        let nginx = Nginx { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A backend that answers each connection after [`SLOW_MS`]; it serves a
/// bounded number of connections, then its thread ends.
fn slow_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2000) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                std::thread::sleep(Duration::from_millis(SLOW_MS));
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nslow\n");
            });
        }
    });
    port
}

fn probe(cache: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = output(perfsage(cache).arg("probe").args(args).args(["--format", "json"]));
    (out.status.code(), json(&out))
}

#[test]
fn counts_every_request_to_a_static_file() {
    let nginx = Nginx::start();
    let cache = tempfile::tempdir().unwrap();
    let (code, report) = probe(cache.path(), &[&nginx.url("/static/hello.txt"), "-n", "300", "-c", "4"]);
    assert_eq!(code, Some(0));
    assert_eq!(report["requests"], 300);
    assert_eq!(report["errors"], 0);
    assert!(report["throughput_rps"].as_f64().unwrap() > 0.0);
    let latency = &report["latency"];
    for key in ["p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"] {
        assert!(latency[key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(latency["p50_ms"].as_f64().unwrap() <= latency["p99_ms"].as_f64().unwrap());
    assert!(latency["p99_ms"].as_f64().unwrap() <= latency["max_ms"].as_f64().unwrap());
}

#[test]
fn counts_server_errors_and_nginx_logs_the_same() {
    let nginx = Nginx::start();
    let cache = tempfile::tempdir().unwrap();
    let (code, report) = probe(cache.path(), &[&nginx.url("/fail"), "-n", "120", "-c", "3"]);
    assert_eq!(code, Some(0));
    assert_eq!(report["requests"], 120);
    assert_eq!(report["errors"], 120);
    assert_eq!(report["errors_by_class"]["status_5xx"], 120);
    assert_eq!(report["errors_by_class"]["connect"], 0);

    // nginx's own log of the same requests, read back.
    let out = output(perfsage(cache.path()).arg("logs").arg(nginx.access_log()).args(["--format", "json"]));
    assert_eq!(out.status.code(), Some(0));
    let routes = json(&out);
    let fail = routes.as_array().unwrap().iter().find(|r| r["route"] == "GET /fail").expect("GET /fail");
    assert_eq!(fail["requests"], 120);
    assert_eq!(fail["errors"], 120);
    assert!(!stderr(&out).contains("could not be parsed"), "nginx's own lines all parse");
}

#[test]
fn measures_a_slow_location() {
    let nginx = Nginx::start();
    let cache = tempfile::tempdir().unwrap();
    let (code, report) = probe(cache.path(), &[&nginx.url("/slow"), "-n", "20", "-c", "2"]);
    assert_eq!(code, Some(0));
    assert_eq!((report["requests"].as_u64(), report["errors"].as_u64()), (Some(20), Some(0)));
    let p50 = report["latency"]["p50_ms"].as_f64().unwrap();
    let min_ms = SLOW_MS as f64;
    assert!((min_ms..min_ms + 150.0).contains(&p50), "p50 {p50} ms for a {SLOW_MS} ms backend");
    assert!(report["latency"]["mean_ms"].as_f64().unwrap() >= min_ms);

    // The access log splits request and upstream time for the same route.
    let out = output(perfsage(cache.path()).arg("logs").arg(nginx.access_log()).args(["--format", "json"]));
    let slow = json(&out).as_array().unwrap().iter().find(|r| r["route"] == "GET /slow").cloned().unwrap();
    assert_eq!(slow["requests"], 20);
    assert!(slow["p50_ms"].as_f64().unwrap() >= min_ms * 0.99);
}

#[test]
fn timeouts_and_unreachable_targets_are_counted_by_class() {
    let nginx = Nginx::start();
    let cache = tempfile::tempdir().unwrap();
    let (code, report) = probe(cache.path(), &[&nginx.url("/slow"), "-n", "6", "-c", "2", "--timeout", "30ms"]);
    assert_eq!(code, Some(0));
    assert_eq!(report["errors_by_class"]["timeout"], 6);

    let closed = format!("http://127.0.0.1:{}/", free_port());
    let (code, report) = probe(cache.path(), &[&closed, "-n", "10", "-c", "2"]);
    assert_eq!(code, Some(3), "nothing reachable: the source failed");
    assert_eq!(report["requests"], 10);
    assert_eq!(report["errors_by_class"]["connect"], 10);

    let out = output(perfsage(cache.path()).args(["probe", "ftp://127.0.0.1/"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("only http://"));
}

#[test]
fn open_model_keeps_the_rate() {
    let nginx = Nginx::start();
    let cache = tempfile::tempdir().unwrap();
    let (code, report) =
        probe(cache.path(), &[&nginx.url("/static/hello.txt"), "--rate", "200", "-d", "1s", "-c", "4"]);
    assert_eq!(code, Some(0));
    let requests = report["requests"].as_u64().unwrap();
    assert!((190..=200).contains(&requests), "200/s for 1 s sent {requests}");
}

#[test]
fn run_with_probe_checks_the_endpoints_with_the_rules() {
    let nginx = Nginx::start();
    let cache = tempfile::tempdir().unwrap();
    let out = output(perfsage(cache.path()).args([
        "run",
        "--window",
        "200ms",
        "--probe",
        &nginx.url("/fail"),
        "--probe-duration",
        "300ms",
        "--probe-connections",
        "2",
        "--format",
        "json",
    ]));
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    let sources = report["snapshot_meta"]["sources"].as_array().unwrap();
    assert!(sources.iter().any(|s| s.as_str().unwrap().starts_with("probe:http://127.0.0.1")), "{sources:?}");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "errors/rate")
        .expect("the errors plugin flags the failing route");
    assert_eq!(finding["target"], "GET /fail");
    assert_eq!(finding["severity"], "critical");
}
