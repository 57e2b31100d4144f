//! A plugin that proposes whatever hooked actions its rule pack tells it to,
//! so tests can drive `plan` and `apply` with chosen hooks and (hostile)
//! parameters, and one real finding a hook can clear: a process by name.
//!
//! `actions`: one action per record (separated by U+001D), each a hook name
//! followed by `key U+001F value` fields (separated by U+001E). Action `i`
//! is `proposer.step-<i>` on target `step <i>`, ranked in the given order.
//! `title`: when set, the title and target of every step's finding and the
//! title of its action (plugin text that terminal output must escape).
//! `process_name`: when set, every process of that name in the snapshot is a
//! finding on target `process <name>`, with action `proposer.stop-process`
//! naming hook `process_hook` with parameter `pid`.
use perfsage_sdk::*;

struct Proposer;

impl Rule for Proposer {
    fn describe() -> RuleInfo {
        RuleInfo::new("proposer", "0.1.0", "proposes the actions its configuration lists", Category::Software)
            .uses(&[Section::Processes])
            .param(param::text("actions", "hooked actions to propose", ""))
            .param(param::text("title", "the title of every step's finding and action", ""))
            .param(param::text("process_name", "a process to report", ""))
            .param(param::text("process_hook", "the hook that stops it", "stop-process"))
    }

    fn check(snapshot: &Snapshot, config: &Config) -> Result<Vec<Finding>, String> {
        let mut findings = Vec::new();
        let spec = config.text("actions");
        let title = config.text("title");
        let title = |default: String| if title.is_empty() { default } else { title.to_string() };
        for (index, record) in spec.split('\u{1d}').filter(|r| !r.is_empty()).enumerate() {
            let mut fields = record.split('\u{1e}');
            let hook = fields.next().unwrap_or_default();
            let mut action =
                Action::new(&format!("proposer.step-{index}"), title(format!("Step {index}")), Category::Software)
                    .impact(1.0 - index as f64 * 0.05)
                    .confidence(1.0)
                    .hook(hook);
            for field in fields {
                let (key, value) = field.split_once('\u{1f}').ok_or(format!("field without U+001F: {field:?}"))?;
                action = action.param(key, value);
            }
            findings.push(
                Finding::new(
                    "proposer/step",
                    title(format!("step {index}")),
                    Category::Software,
                    Severity::High,
                    title(format!("step {index}")),
                )
                .action(action),
            );
        }
        let name = config.text("process_name");
        if !name.is_empty() {
            for process in snapshot.processes.iter().flatten().filter(|p| p.name == name) {
                findings.push(
                    Finding::new(
                        "proposer/process",
                        format!("{name} runs"),
                        Category::Software,
                        Severity::High,
                        format!("process {name}"),
                    )
                    .evidence("pid", f64::from(process.pid), 0.0, "")
                    .action(
                        Action::new("proposer.stop-process", format!("Stop {name}"), Category::Software)
                            .hook(config.text("process_hook"))
                            .param("pid", process.pid),
                    ),
                );
            }
        }
        Ok(findings)
    }
}

export_rule!(Proposer);
