//! Scoring, ordering and merging (see the crate docs).

use std::cmp::Ordering;
use std::collections::HashMap;

use perfsage_model::{Action, Category, Evidence, Finding, Level, Severity};

/// A finding with its score and its ranked, de-duplicated actions.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedFinding {
    /// The plugin that raised it.
    pub plugin: String,
    pub rule: String,
    pub title: String,
    pub category: Category,
    pub severity: Severity,
    pub target: String,
    pub score: f64,
    pub evidence: Vec<Evidence>,
    pub actions: Vec<RankedAction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankedAction {
    pub action: Action,
    pub score: f64,
    /// Every finding rule that proposed this action for this target.
    pub raised_by: Vec<String>,
}

pub fn severity_weight(severity: Severity) -> f64 {
    match severity {
        Severity::Info => 1.0,
        Severity::Low => 2.0,
        Severity::Medium => 4.0,
        Severity::High => 8.0,
        Severity::Critical => 16.0,
    }
}

/// How much an action costs to carry out: effort times risk.
pub fn cost(effort: Level, risk: Level) -> f64 {
    let effort = match effort {
        Level::Low => 1.0,
        Level::Medium => 2.0,
        Level::High => 4.0,
    };
    let risk = match risk {
        Level::Low => 1.0,
        Level::Medium => 1.5,
        Level::High => 2.5,
    };
    effort * risk
}

pub fn action_score(severity: Severity, action: &Action) -> f64 {
    severity_weight(severity) * action.impact * action.confidence / cost(action.effort, action.risk)
}

/// What a finding without actions scores: below any well-founded action of its severity.
const NO_ACTION_FACTOR: f64 = 0.05;

/// Rank findings (each paired with the plugin that raised it).
pub fn rank(findings: Vec<(String, Finding)>) -> Vec<RankedFinding> {
    let mut ranked: Vec<RankedFinding> = findings.into_iter().map(|(plugin, f)| score(plugin, f)).collect();
    ranked.sort_by(compare);
    merge_duplicate_actions(&mut ranked);
    ranked
}

fn score(plugin: String, finding: Finding) -> RankedFinding {
    let severity = finding.severity;
    let mut actions: Vec<RankedAction> = finding
        .actions
        .into_iter()
        .map(|action| RankedAction {
            score: round(action_score(severity, &action)),
            raised_by: vec![finding.rule.clone()],
            action,
        })
        .collect();
    actions.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.action.id.cmp(&b.action.id)));
    let score = actions.first().map_or(round(severity_weight(severity) * NO_ACTION_FACTOR), |best| best.score);
    RankedFinding {
        plugin,
        rule: finding.rule,
        title: finding.title,
        category: finding.category,
        severity,
        target: finding.target,
        score,
        evidence: finding.evidence,
        actions,
    }
}

/// Best first; ties broken by severity, then names, so the order is total.
fn compare(a: &RankedFinding, b: &RankedFinding) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then_with(|| b.severity.rank().cmp(&a.severity.rank()))
        .then_with(|| a.rule.cmp(&b.rule))
        .then_with(|| a.target.cmp(&b.target))
        .then_with(|| a.title.cmp(&b.title))
        .then_with(|| a.plugin.cmp(&b.plugin))
}

/// Keep each (action id, target) once, under its highest-ranked finding.
fn merge_duplicate_actions(ranked: &mut [RankedFinding]) {
    let mut first_seen: HashMap<(String, String), (usize, usize)> = HashMap::new();
    for i in 0..ranked.len() {
        let mut kept = Vec::new();
        for action in std::mem::take(&mut ranked[i].actions) {
            let key = (action.action.id.clone(), ranked[i].target.clone());
            match first_seen.get(&key) {
                Some(&(owner, slot)) => {
                    let (rule, evidence) = (ranked[i].rule.clone(), ranked[i].evidence.clone());
                    let owner = &mut ranked[owner];
                    let merged = &mut owner.actions[slot];
                    if !merged.raised_by.contains(&rule) {
                        merged.raised_by.push(rule);
                    }
                    for item in evidence {
                        if !owner.evidence.contains(&item) {
                            owner.evidence.push(item);
                        }
                    }
                }
                None => {
                    first_seen.insert(key, (i, kept.len()));
                    kept.push(action);
                }
            }
        }
        ranked[i].actions = kept;
    }
}

/// Scores are shown and compared at a fixed precision, so float noise never
/// reorders two runs.
fn round(score: f64) -> f64 {
    (score * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(id: &str, impact: f64, confidence: f64, effort: Level, risk: Level) -> Action {
        Action {
            id: id.into(),
            title: id.into(),
            detail: String::new(),
            category: Category::Hardware,
            impact,
            confidence,
            effort,
            risk,
            hook: None,
            params: vec![],
        }
    }

    fn finding(rule: &str, severity: Severity, target: &str, actions: Vec<Action>) -> Finding {
        Finding {
            rule: rule.into(),
            title: rule.into(),
            category: Category::Hardware,
            severity,
            target: target.into(),
            evidence: vec![Evidence { metric: rule.into(), observed: 1.0, threshold: 0.5, unit: String::new() }],
            actions,
        }
    }

    #[test]
    fn score_follows_the_formula() {
        let a = action("a", 0.8, 0.5, Level::Medium, Level::Medium);
        // 8 (high) * 0.8 * 0.5 / (2 * 1.5)
        assert!((action_score(Severity::High, &a) - 3.2 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn findings_order_by_best_action_then_deterministic_ties() {
        let cheap = action("cheap", 0.5, 0.5, Level::Low, Level::Low);
        let ranked = rank(vec![
            ("p".into(), finding("b/rule", Severity::Medium, "x", vec![cheap.clone()])),
            ("p".into(), finding("a/rule", Severity::Medium, "x", vec![cheap.clone()])),
            ("p".into(), finding("c/rule", Severity::Critical, "x", vec![])),
            ("p".into(), finding("d/rule", Severity::Low, "y", vec![action("big", 1.0, 1.0, Level::Low, Level::Low)])),
        ]);
        let order: Vec<&str> = ranked.iter().map(|f| f.rule.as_str()).collect();
        // d: 2*1*1 = 2; a and b: 4*0.25 = 1 (tie, by rule); c: 16*0.05 = 0.8
        assert_eq!(order, ["d/rule", "a/rule", "b/rule", "c/rule"]);
    }

    #[test]
    fn duplicate_actions_merge_under_the_best_finding_and_keep_all_evidence() {
        let shared = action("disk.clean", 0.6, 0.8, Level::Low, Level::Low);
        let ranked = rank(vec![
            ("disk".into(), finding("disk/space", Severity::High, "disk /var", vec![shared.clone()])),
            ("other".into(), finding("other/space", Severity::Medium, "disk /var", vec![shared.clone()])),
            ("disk".into(), finding("disk/elsewhere", Severity::Medium, "disk /srv", vec![shared.clone()])),
        ]);
        assert_eq!(ranked[0].rule, "disk/space");
        assert_eq!(ranked[0].actions.len(), 1);
        assert_eq!(ranked[0].actions[0].raised_by, ["disk/space", "other/space"]);
        assert_eq!(ranked[0].evidence.len(), 2);
        let other = ranked.iter().find(|f| f.rule == "other/space").unwrap();
        assert!(other.actions.is_empty());
        // Another target keeps its own copy of the action.
        let elsewhere = ranked.iter().find(|f| f.rule == "disk/elsewhere").unwrap();
        assert_eq!(elsewhere.actions.len(), 1);
    }

    #[test]
    fn ranking_is_independent_of_input_order() {
        let make = || {
            vec![
                (
                    "p".to_string(),
                    finding("a", Severity::High, "t1", vec![action("x", 0.5, 0.5, Level::Low, Level::High)]),
                ),
                (
                    "p".to_string(),
                    finding("b", Severity::High, "t2", vec![action("x", 0.5, 0.5, Level::Low, Level::High)]),
                ),
                (
                    "q".to_string(),
                    finding("c", Severity::Low, "t1", vec![action("y", 0.9, 0.9, Level::High, Level::Low)]),
                ),
            ]
        };
        let mut reversed = make();
        reversed.reverse();
        assert_eq!(rank(make()), rank(reversed));
    }
}
