//! Writes a synthetic node_exporter fleet as OpenMetrics for
//! `promtool tsdb create-blocks-from openmetrics` (the fleet benchmark,
//! `bench/fleet.sh`). The generator itself is shared with the fleet test:
//! `tests/support/fleet_gen.rs` says which instances are bottlenecked.
//!
//! `cargo run --release --example gen_fleet -- INSTANCES END_UNIX_S [SPAN_S [STEP_S]] > fleet.om`

#[path = "../tests/support/fleet_gen.rs"]
mod fleet_gen;

use std::io::{BufWriter, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: Option<i64>| -> i64 {
        match args.get(i) {
            Some(text) => text.parse().unwrap_or_else(|_| usage(&format!("{text:?} is not a number"))),
            None => default.unwrap_or_else(|| usage("missing arguments")),
        }
    };
    let count = number(0, None);
    let end = number(1, None);
    let span = number(2, Some(600));
    let step = number(3, Some(30));
    if count < 1 || span < step || step < 1 {
        usage("need INSTANCES >= 1 and SPAN_S >= STEP_S >= 1");
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    fleet_gen::write_fleet(&mut out, count as usize, end - span, end, step).expect("cannot write the fleet");
    out.flush().expect("cannot write the fleet");
}

fn usage(problem: &str) -> ! {
    eprintln!("gen_fleet: {problem}\nusage: gen_fleet INSTANCES END_UNIX_S [SPAN_S [STEP_S]] > fleet.om");
    std::process::exit(2)
}
