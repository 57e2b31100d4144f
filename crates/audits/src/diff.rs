//! What changed between two audits of one target. A finding's identity
//! across audits is `(rule, target)`: the same rule firing on the same thing
//! is the same problem, whatever its evidence or severity today. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::FindingRow;

/// The findings of an audit compared with the previous audit of its target.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    /// The audit compared against; `None` for a target's first audit
    /// (then every finding is new).
    pub previous_audit: Option<i64>,
    pub new: Vec<FindingRow>,
    pub resolved: Vec<FindingRow>,
    pub persisting: Vec<Persisting>,
}

/// A finding present in both audits, with how its score and severity moved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Persisting {
    pub rule: String,
    pub target: String,
    pub title: String,
    pub severity_before: String,
    pub severity: String,
    pub score_before: f64,
    pub score: f64,
    /// `score - score_before`, rounded to 1/1000 like the scores themselves.
    pub score_change: f64,
}

/// Compare `current` findings with `previous` ones (of audit `previous_audit`).
/// Each list comes out in (rule, target) order.
pub fn diff(previous_audit: Option<i64>, previous: &[FindingRow], current: &[FindingRow]) -> Diff {
    let key = |f: &FindingRow| (f.rule.clone(), f.target.clone());
    let before: BTreeMap<_, _> = previous.iter().map(|f| (key(f), f)).collect();
    let after: BTreeMap<_, _> = current.iter().map(|f| (key(f), f)).collect();
    let mut result = Diff { previous_audit, ..Diff::default() };
    for (k, now) in &after {
        match before.get(k) {
            None => result.new.push((*now).clone()),
            Some(then) => result.persisting.push(Persisting {
                rule: now.rule.clone(),
                target: now.target.clone(),
                title: now.title.clone(),
                severity_before: then.severity.clone(),
                severity: now.severity.clone(),
                score_before: then.score,
                score: now.score,
                score_change: ((now.score - then.score) * 1000.0).round() / 1000.0,
            }),
        }
    }
    result.resolved = before.iter().filter(|(k, _)| !after.contains_key(*k)).map(|(_, f)| (*f).clone()).collect();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rule: &str, target: &str, severity: &str, score: f64) -> FindingRow {
        FindingRow {
            rule: rule.into(),
            target: target.into(),
            severity: severity.into(),
            score,
            title: format!("{rule} on {target}"),
        }
    }

    fn keys(rows: &[FindingRow]) -> Vec<(&str, &str)> {
        rows.iter().map(|f| (f.rule.as_str(), f.target.as_str())).collect()
    }

    #[test]
    fn identity_is_rule_and_target() {
        let before = [row("disk/space", "disk /", "high", 2.0), row("disk/space", "disk /var", "high", 1.0)];
        let after = [row("disk/space", "disk /var", "critical", 1.5), row("cpu/saturated", "cpu", "high", 3.0)];
        let d = diff(Some(7), &before, &after);
        assert_eq!(d.previous_audit, Some(7));
        assert_eq!(keys(&d.new), [("cpu/saturated", "cpu")]);
        assert_eq!(keys(&d.resolved), [("disk/space", "disk /")]);
        assert_eq!(d.persisting.len(), 1);
        let p = &d.persisting[0];
        assert_eq!(
            (p.target.as_str(), p.severity_before.as_str(), p.severity.as_str()),
            ("disk /var", "high", "critical")
        );
        assert_eq!(p.score_change, 0.5);
    }

    #[test]
    fn first_audit_has_everything_new() {
        let after = [row("cpu/saturated", "cpu", "high", 3.0)];
        let d = diff(None, &[], &after);
        assert_eq!(keys(&d.new), [("cpu/saturated", "cpu")]);
        assert!(d.resolved.is_empty() && d.persisting.is_empty());
    }
}
