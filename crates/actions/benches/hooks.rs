//! The hook runner against its peer, coreutils `timeout(1)`: both start the
//! same script with the same cleared environment under a timeout that can
//! kill it, and capture its output. What perfsage adds (its own process
//! group, waitid polling, capped capture threads, killing stragglers) should
//! cost little next to the fork/exec of a shell script.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use perfsage_actions::runner::{self, Invocation};

fn hook_runs(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hook.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'would set %s to %s\\n' \"$PERFSAGE_PARAM_KEY\" \"$PERFSAGE_PARAM_VALUE\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env: BTreeMap<String, String> = [
        ("PATH", "/usr/bin:/bin"),
        ("PERFSAGE_DRY_RUN", "1"),
        ("PERFSAGE_PARAM_KEY", "vm.swappiness"),
        ("PERFSAGE_PARAM_VALUE", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let invocation =
        Invocation { argv: vec![script.display().to_string()], env: env.clone(), timeout: Duration::from_secs(10) };

    let mut group = c.benchmark_group("hook run (dry-run script)");
    group.bench_function("perfsage runner", |b| {
        b.iter(|| {
            let outcome = runner::run(&invocation);
            assert!(outcome.ending.succeeded());
        })
    });
    group.bench_function("coreutils timeout (peer)", |b| {
        b.iter(|| {
            let output = Command::new("timeout").arg("10").arg(&script).env_clear().envs(&env).output().unwrap();
            assert!(output.status.success());
        })
    });
    group.finish();
}

criterion_group!(benches, hook_runs);
criterion_main!(benches);
