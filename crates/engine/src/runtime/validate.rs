//! Checks what a plugin returns before the host trusts it: counts and string
//! sizes within the caps, numbers finite and in range, names well-formed.
//! A plugin that returns garbage fails alone; the report never carries it.

use perfsage_model::{Finding, RuleInfo};

use super::error::PluginError;
use super::sandbox::Limits;

const MAX_ACTIONS_PER_FINDING: usize = 32;
const MAX_EVIDENCE_PER_FINDING: usize = 32;
const MAX_PARAMS: usize = 64;

/// A plugin's name: what the rule pack and `--format json` call it.
pub fn is_valid_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub fn rule_info(info: &RuleInfo, limits: &Limits) -> Result<(), PluginError> {
    if !is_valid_plugin_name(&info.name) {
        return Err(invalid(format!(
            "plugin name {:?} must be 1-64 characters of a-z, 0-9, '-' or '_'",
            truncated(&info.name)
        )));
    }
    if info.params.len() > MAX_PARAMS {
        return Err(invalid(format!("declares {} parameters; the cap is {MAX_PARAMS}", info.params.len())));
    }
    let mut strings = vec![&info.version, &info.description];
    for param in &info.params {
        strings.extend([&param.name, &param.description, &param.unit]);
    }
    strings_fit(strings, limits)?;
    for (i, param) in info.params.iter().enumerate() {
        if info.params[..i].iter().any(|p| p.name == param.name) {
            return Err(invalid(format!("declares parameter `{}` twice", param.name)));
        }
    }
    Ok(())
}

pub fn findings(findings: &[Finding], limits: &Limits) -> Result<(), PluginError> {
    if findings.len() > limits.max_findings {
        return Err(invalid(format!("{} findings; the cap is {}", findings.len(), limits.max_findings)));
    }
    for finding in findings {
        if finding.actions.len() > MAX_ACTIONS_PER_FINDING || finding.evidence.len() > MAX_EVIDENCE_PER_FINDING {
            return Err(invalid(format!(
                "finding `{}` has {} actions and {} evidence items; the caps are {MAX_ACTIONS_PER_FINDING} and {MAX_EVIDENCE_PER_FINDING}",
                truncated(&finding.rule),
                finding.actions.len(),
                finding.evidence.len()
            )));
        }
        let mut strings = vec![&finding.rule, &finding.title, &finding.target];
        for evidence in &finding.evidence {
            strings.extend([&evidence.metric, &evidence.unit]);
            if !evidence.observed.is_finite() || !evidence.threshold.is_finite() {
                return Err(invalid(format!("finding `{}` has non-finite evidence", truncated(&finding.rule))));
            }
        }
        for action in &finding.actions {
            strings.extend([&action.id, &action.title, &action.detail]);
            strings.extend(action.hook.iter());
            for param in &action.params {
                strings.extend([&param.key, &param.value]);
            }
            for (what, value) in [("impact", action.impact), ("confidence", action.confidence)] {
                if !(0.0..=1.0).contains(&value) {
                    return Err(invalid(format!(
                        "action `{}` has {what} {value}; it must be within 0..1",
                        truncated(&action.id)
                    )));
                }
            }
        }
        strings_fit(strings, limits)?;
    }
    Ok(())
}

fn strings_fit<'a>(strings: impl IntoIterator<Item = &'a String>, limits: &Limits) -> Result<(), PluginError> {
    match strings.into_iter().find(|s| s.len() > limits.max_string_bytes) {
        Some(s) => Err(invalid(format!(
            "a string of {} bytes (starting {:?}); the cap is {}",
            s.len(),
            truncated(s),
            limits.max_string_bytes
        ))),
        None => Ok(()),
    }
}

fn invalid(reason: String) -> PluginError {
    PluginError::InvalidOutput(reason)
}

/// The first few characters of untrusted text, for an error message.
fn truncated(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_are_restricted() {
        assert!(is_valid_plugin_name("cpu"));
        assert!(is_valid_plugin_name("crm-queue_2"));
        assert!(!is_valid_plugin_name(""));
        assert!(!is_valid_plugin_name("Cpu"));
        assert!(!is_valid_plugin_name("a b"));
        assert!(!is_valid_plugin_name(&"x".repeat(65)));
    }
}
