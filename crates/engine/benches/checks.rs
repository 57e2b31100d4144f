//! How fast the sandboxed check is, and what the sandbox costs.
//!
//! - `one_plugin`: instantiate + check of the `cpu` plugin on a realistic
//!   snapshot (a fresh store, as every check gets);
//! - `all_builtins`: a whole check of every built-in plugin (concurrent), as
//!   `perfsage check` runs it after loading;
//! - `native_vs_wasm`: the same rule logic compiled natively and called
//!   directly, against its Wasm build called through the sandbox.
//!
//! Results and the commands that produced them are in BENCHMARKS.md.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use perfsage_engine::runtime::{Limits, PluginSource};
use perfsage_engine::{Engine, PluginSelection};

/// A busy web host on which every built-in plugin fires (sections merged from the rule fixtures).
const SNAPSHOT: &str = "../../tests/fixtures/bench/busy-host.json";

fn benches(c: &mut Criterion) {
    let selection =
        PluginSelection { sources: PluginSource::builtins(perfsage_builtin::PLUGINS), ..PluginSelection::default() };
    let engine = Engine::load(Limits::default(), selection, &Default::default()).unwrap();
    assert!(engine.failed().is_empty());
    let snapshot = perfsage_snapshot::load(Path::new(SNAPSHOT)).unwrap();
    let (runtime, plugins, plans) = (engine.runtime(), engine.loaded(), engine.plans());
    let cpu = plugins.iter().find(|p| p.info.name == "cpu").unwrap();
    let sections: Vec<_> = cpu.info.needs.iter().chain(&cpu.info.uses).copied().collect();
    let cpu_view = snapshot.only(&sections);
    let cpu_config = &plans["cpu"].config;
    assert!(!runtime.check(cpu, &cpu_view, cpu_config).unwrap().is_empty(), "the snapshot makes cpu fire");

    c.bench_function("one_plugin/cpu_instantiate_and_check", |b| {
        b.iter(|| runtime.check(cpu, &cpu_view, cpu_config).unwrap())
    });

    c.bench_function("all_builtins/check_snapshot", |b| b.iter(|| engine.check(&snapshot)));

    let text = std::fs::read_to_string(SNAPSHOT).unwrap();
    let guest_snapshot = perfsage_sdk::testing::snapshot_from_json(&text).unwrap();
    let mut group = c.benchmark_group("native_vs_wasm");
    group.bench_function("cpu_native", |b| {
        b.iter(|| perfsage_sdk::testing::check::<perfsage_plugin_cpu::Plugin>(&guest_snapshot, vec![]).unwrap())
    });
    group.bench_function("cpu_wasm", |b| b.iter(|| runtime.check(cpu, &cpu_view, cpu_config).unwrap()));
    let disk = plugins.iter().find(|p| p.info.name == "disk").unwrap();
    let disk_view = snapshot.only(&disk.info.needs);
    group.bench_function("disk_native", |b| {
        b.iter(|| perfsage_sdk::testing::check::<perfsage_plugin_disk::Plugin>(&guest_snapshot, vec![]).unwrap())
    });
    group.bench_function("disk_wasm", |b| b.iter(|| runtime.check(disk, &disk_view, &plans["disk"].config).unwrap()));
    group.finish();
}

criterion_group!(checks, benches);
criterion_main!(checks);
