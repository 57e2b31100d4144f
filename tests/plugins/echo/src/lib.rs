//! A well-behaved external plugin: one finding per snapshot, with a parameter,
//! so tests can load plugins from paths and directories and configure them.
use perfsage_sdk::*;

struct Echo;

impl Rule for Echo {
    fn describe() -> RuleInfo {
        RuleInfo::new("echo", "0.1.0", "reports the host name it was given", Category::Software)
            .param(param::number("score_hint", "impact of the echoed action", "", 0.5).range(0.0, 1.0))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        Ok(vec![
            Finding::new(
                "echo/host",
                format!("echo from {}", snapshot.meta.hostname),
                Category::Software,
                Severity::Info,
                "host",
            )
            .evidence("window", snapshot.meta.window_ms as f64, 0.0, "ms")
            .action(
                Action::new("echo.nothing", "Nothing to do", Category::Software).impact(config.number("score_hint")),
            ),
        ])
    }
}

export_rule!(Echo);
