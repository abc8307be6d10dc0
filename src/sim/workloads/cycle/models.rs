//! Elle's consistency models and anomalies (elle 0.2.2, `elle.consistency-model`): which
//! anomalies imply which, which models imply which, and so which anomalies a set of models
//! forbids. The tables are Elle's, as data; the functions walk them as Elle does.
//!
//! - `implied` anomaly graph: `a -> b` when an `a` is also a `b` (a G0 is a G1c, a
//!   G-single-item is a G-single, an incompatible-order is a G1a...).
//! - `models` graph: `a -> b` when a history satisfying `a` also satisfies `b`
//!   (strict-serializable -> serializable -> repeatable-read -> ...).
//! - `proscribed`: the anomalies each model forbids directly.
//!
//! A set of models forbids every anomaly some implied model proscribes, plus every anomaly that
//! implies one of those ([`prohibited_by`]). Model names are Elle's friendly or canonical names
//! (`read-committed` or `PL-2`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// `a -> [b...]`: an `a` anomaly is also a `b` (Elle's `implied-anomalies`).
const IMPLIED: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    ("G-single-item", &["G-single", "G-single-item-process", "G-nonadjacent-item"]),
    (
        "G-single-item-process",
        &["G-single-process", "G-single-item-realtime", "G-nonadjacent-item-process"],
    ),
    ("G-single-item-realtime", &["G-single-realtime", "G-nonadjacent-item-realtime"]),
    ("G-single", &["G-nonadjacent", "GSIb", "G-single-process"]),
    ("G-single-process", &["G-nonadjacent-process", "G-single-realtime"]),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    ("G-nonadjacent-item", &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"]),
    (
        "G-nonadjacent-item-process",
        &["G-nonadjacent-process", "G2-item-process", "G-nonadjacent-item-realtime"],
    ),
    ("G-nonadjacent-item-realtime", &["G2-item-realtime", "G-nonadjacent-realtime"]),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    ("G-nonadjacent-process", &["G2-process", "G-nonadjacent-realtime"]),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    ("GSIa", &["GSI"]),
    ("GSIb", &["GSI"]),
    ("incompatible-order", &["G1a"]),
    ("future-read", &["G1c"]),
    ("dirty-update", &["G1a"]),
    ("lost-update", &["write-skew", "G2-item"]),
    ("write-skew", &["G2"]),
];

/// Extra "worse than" edges, used only to order the cycle searches (Elle's
/// `anomaly-severity-graph`).
const SEVERITY: &[(&str, &[&str])] = &[
    ("G0", &["G1c"]),
    ("G0-process", &["G1c-process"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1c", &["G-single", "G2-item"]),
    ("G1c-process", &["G-single-process", "G2-item-process"]),
    ("G1c-realtime", &["G-single-realtime", "G2-item-realtime"]),
    ("G2", &["G0-process"]),
    ("G2-process", &["G0-realtime"]),
];

/// Friendly model names and their canonical names (Elle's `canonical-model-names`).
const CANONICAL: &[(&str, &str)] = &[
    ("consistent-view", "PL-2+"),
    ("conflict-serializable", "PL-3"),
    ("cursor-stability", "PL-CS"),
    ("forward-consistent-view", "PL-FCV"),
    ("monotonic-snapshot-read", "PL-MSR"),
    ("monotonic-view", "PL-2L"),
    ("read-committed", "PL-2"),
    ("read-uncommitted", "PL-1"),
    ("repeatable-read", "PL-2.99"),
    ("serializable", "PL-3"),
    ("snapshot-isolation", "PL-SI"),
    ("strict-serializable", "PL-SS"),
    ("strong-serializable", "PL-SS"),
    ("update-serializable", "PL-3U"),
    ("strong-session-read-uncommitted", "strong-session-PL-1"),
    ("strong-session-read-committed", "strong-session-PL-2"),
    ("strong-read-uncommitted", "strong-PL-1"),
    ("strong-read-committed", "strong-PL-2"),
];

/// `a -> [b...]`: a history satisfying `a` satisfies every `b` (Elle's `models`; names are
/// canonicalised when used).
const MODELS: &[(&str, &[&str])] = &[
    ("causal-cerone", &["read-atomic"]),
    ("consistent-view", &["cursor-stability", "monotonic-view"]),
    ("conflict-serializable", &["view-serializable"]),
    ("cursor-stability", &["read-committed", "PL-2"]),
    ("forward-consistent-view", &["consistent-view"]),
    ("PL-2", &["PL-1"]),
    ("PL-3", &["repeatable-read", "update-serializable"]),
    ("update-serializable", &["forward-consistent-view"]),
    ("monotonic-atomic-view", &["read-committed"]),
    ("monotonic-view", &["PL-2"]),
    ("monotonic-snapshot-read", &["PL-2"]),
    ("parallel-snapshot-isolation", &["causal-cerone", "update-atomic"]),
    ("prefix", &["causal-cerone"]),
    ("read-atomic", &["monotonic-atomic-view"]),
    ("read-committed", &["read-uncommitted"]),
    ("repeatable-read", &["cursor-stability", "monotonic-atomic-view"]),
    ("update-atomic", &["read-atomic"]),
    ("serializable", &["repeatable-read", "snapshot-isolation", "view-serializable"]),
    ("session-serializable", &["1SR"]),
    (
        "snapshot-isolation",
        &[
            "forward-consistent-view",
            "monotonic-atomic-view",
            "monotonic-snapshot-read",
            "parallel-snapshot-isolation",
            "prefix",
        ],
    ),
    (
        "strict-serializable",
        &[
            "PL-3",
            "serializable",
            "linearizable",
            "snapshot-isolation",
            "strong-snapshot-isolation",
            "strong-session-serializable",
        ],
    ),
    ("strong-session-PL-1", &["PL-1"]),
    ("strong-session-PL-2", &["PL-2", "strong-session-PL-1"]),
    ("strong-PL-1", &["strong-session-PL-1"]),
    ("strong-PL-2", &["strong-session-PL-2", "strong-PL-1"]),
    ("strong-session-serializable", &["serializable", "strong-session-snapshot-isolation"]),
    ("strong-session-snapshot-isolation", &["snapshot-isolation", "strong-session-PL-2"]),
    ("strong-serializable", &["session-serializable"]),
    ("strong-snapshot-isolation", &["strong-session-snapshot-isolation", "strong-PL-2"]),
    ("linearizable", &["sequential"]),
    ("sequential", &["causal"]),
    ("causal", &["writes-follow-reads", "PRAM"]),
    ("PRAM", &["monotonic-reads", "monotonic-writes", "read-your-writes"]),
];

/// The anomalies each model forbids directly (Elle's `direct-proscribed-anomalies`).
const PROSCRIBED: &[(&str, &[&str])] = &[
    ("causal-cerone", &["internal", "G1a"]),
    ("cursor-stability", &["G1", "G-cursor", "lost-update"]),
    ("monotonic-view", &["G1", "G-monotonic"]),
    ("monotonic-snapshot-read", &["G1", "G-MSR"]),
    ("consistent-view", &["G1", "G-single"]),
    ("forward-consistent-view", &["G1", "G-SIb"]),
    ("parallel-snapshot-isolation", &["internal", "G1a"]),
    ("PL-3", &["G1", "G2", "predicate-read-miss", "PL-3-cycle-exists"]),
    ("PL-2", &["G1", "PL-2-cycle-exists"]),
    ("PL-1", &["G0", "duplicate-elements", "cyclic-versions", "PL-1-cycle-exists"]),
    ("prefix", &["internal", "G1a"]),
    ("serializable", &["internal"]),
    ("snapshot-isolation", &["internal", "G1", "G-SI", "G-nonadjacent", "PL-SI-cycle-exists"]),
    ("read-atomic", &["internal", "G1a", "future-read"]),
    ("repeatable-read", &["G1", "G2-item", "PL-2.99-cycle-exists", "lost-update"]),
    ("update-atomic", &["lost-update"]),
    ("strict-serializable", &["G1", "G1c-realtime", "G2-realtime", "PL-SS-cycle-exists"]),
    ("strong-session-PL-1", &["strong-session-PL-1-cycle-exists", "G0-process"]),
    ("strong-session-PL-2", &["strong-session-PL-2-cycle-exists", "G1c-process"]),
    ("strong-PL-1", &["strong-PL-1-cycle-exists", "G0-realtime"]),
    ("strong-PL-2", &["strong-PL-2-cycle-exists", "G1c-realtime"]),
    (
        "strong-session-snapshot-isolation",
        &[
            "internal",
            "G1-process",
            "G-nonadjacent-process",
            "strong-session-snapshot-isolation-cycle-exists",
        ],
    ),
    (
        "strong-snapshot-isolation",
        &[
            "internal",
            "G1-realtime",
            "G-nonadjacent-realtime",
            "strong-snapshot-isolation-cycle-exists",
        ],
    ),
    (
        "strong-session-serializable",
        &["G1-process", "G2-process", "strong-session-serializable-cycle-exists"],
    ),
    ("update-serializable", &["G1", "G-update"]),
];

/// The canonical name of a model (`read-committed` -> `PL-2`); other names are their own.
pub fn canonical(model: &str) -> &str {
    CANONICAL.iter().find(|(f, _)| *f == model).map_or(model, |(_, c)| c)
}

/// The friendly name of a model (`PL-2` -> `read-committed`, `PL-3` -> `serializable`).
pub fn friendly(model: &str) -> &str {
    if model == "PL-3" {
        return "serializable";
    }
    CANONICAL.iter().find(|(_, c)| *c == model).map_or(model, |(f, _)| f)
}

/// Whether Elle knows this model name (friendly or canonical).
pub fn is_model(model: &str) -> bool {
    CANONICAL.iter().any(|(f, c)| *f == model || *c == model)
        || MODELS.iter().any(|(a, bs)| *a == model || bs.contains(&model))
}

/// Edges of a table, with a name mapping applied to both ends.
fn edges<'a>(
    table: &'a [(&'a str, &'a [&'a str])],
    map: fn(&str) -> &str,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    table.iter().flat_map(move |(a, bs)| bs.iter().map(move |b| (map(a), map(b))))
}

fn same(s: &str) -> &str {
    s
}

/// Everything reachable from `start` (included) along `next`.
fn reach<'a>(
    start: impl IntoIterator<Item = &'a str>,
    next: impl Fn(&str) -> Vec<&'a str>,
) -> BTreeSet<&'a str> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<&str> = VecDeque::new();
    for s in start {
        if seen.insert(s) {
            queue.push_back(s);
        }
    }
    while let Some(v) = queue.pop_front() {
        for w in next(v) {
            if seen.insert(w) {
                queue.push_back(w);
            }
        }
    }
    seen
}

fn out_of<'a>(
    table: &'a [(&'a str, &'a [&'a str])],
    map: fn(&str) -> &str,
    v: &str,
) -> Vec<&'a str> {
    edges(table, map).filter(|&(a, _)| a == v).map(|(_, b)| b).collect()
}

fn in_of<'a>(
    table: &'a [(&'a str, &'a [&'a str])],
    map: fn(&str) -> &str,
    v: &str,
) -> Vec<&'a str> {
    edges(table, map).filter(|&(_, b)| b == v).map(|(a, _)| a).collect()
}

/// Canonical names of `models` and every model they imply.
pub fn implied_models<'a>(models: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    reach(models.into_iter().map(canonical), |v| out_of(MODELS, canonical, v))
}

/// Canonical names of `models` and every model that implies one of them: all models that
/// cannot hold when these do not.
pub fn impossible_models<'a>(models: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    reach(models.into_iter().map(canonical), |v| in_of(MODELS, canonical, v))
}

/// `anomalies` and every anomaly they imply.
pub fn implied_anomalies<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    reach(anomalies, |v| out_of(IMPLIED, same, v))
}

/// `anomalies` and every anomaly that implies one of them.
pub fn anomalies_implying<'a>(anomalies: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    reach(anomalies, |v| in_of(IMPLIED, same, v))
}

/// The anomalies that cannot be present if all of `models` hold (Elle's
/// `anomalies-prohibited-by`).
pub fn prohibited_by<'a>(models: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'static str> {
    let implied = implied_models(models);
    let direct = PROSCRIBED
        .iter()
        .filter(|(m, _)| implied.contains(canonical(m)))
        .flat_map(|(_, anomalies)| anomalies.iter().copied());
    anomalies_implying(direct)
}

/// The models (canonical names) that cannot hold given these anomalies (Elle's
/// `anomalies->impossible-models`).
pub fn impossible_given<'a>(
    anomalies: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<&'static str> {
    let all = implied_anomalies(anomalies);
    let direct = PROSCRIBED
        .iter()
        .filter(|(_, bad)| bad.iter().any(|a| all.contains(a)))
        .map(|(m, _)| canonical(m));
    impossible_models(direct)
}

/// The weakest of `models` (canonical): those implying no other model of the set (Elle's
/// `weakest-models`).
pub fn weakest(models: &BTreeSet<&'static str>) -> BTreeSet<&'static str> {
    let mut set = models.clone();
    for &m in models {
        let below = implied_models([m]);
        if set.iter().any(|&o| o != m && below.contains(o)) {
            set.remove(m);
        }
    }
    set
}

/// Topological depth of each anomaly in the implied and severity graphs together (Elle's
/// `anomaly-depths`): roots are 0. Elle searches cycles in order of depth, then name.
pub fn anomaly_depths() -> BTreeMap<&'static str, usize> {
    let all_edges: Vec<(&str, &str)> = edges(IMPLIED, same).chain(edges(SEVERITY, same)).collect();
    let mut remaining: BTreeSet<&str> = all_edges.iter().flat_map(|&(a, b)| [a, b]).collect();
    let mut depths = BTreeMap::new();
    let mut depth = 0;
    while !remaining.is_empty() {
        let top: Vec<&str> = remaining
            .iter()
            .copied()
            .filter(|&v| !all_edges.iter().any(|&(a, b)| b == v && remaining.contains(a)))
            .collect();
        assert!(!top.is_empty(), "the anomaly graphs are acyclic");
        for v in top {
            remaining.remove(v);
            depths.insert(v, depth);
        }
        depth += 1;
    }
    depths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_canonicalise_both_ways() {
        assert_eq!(canonical("read-committed"), "PL-2");
        assert_eq!(canonical("causal-cerone"), "causal-cerone");
        assert_eq!(friendly("PL-3"), "serializable");
        assert_eq!(friendly("PL-SS"), "strict-serializable");
        assert!(is_model("PL-2") && is_model("linearizable") && is_model("1SR"));
        assert!(!is_model("snapshot-isolated"));
    }

    #[test]
    fn read_committed_forbids_g1_and_g0_but_not_g_single() {
        let p = prohibited_by(["read-committed"]);
        for a in ["G0", "G1a", "G1b", "G1c", "incompatible-order", "dirty-update", "future-read"] {
            assert!(p.contains(a), "{a}");
        }
        for a in ["G-single-item", "G2-item", "G1c-realtime", "internal", "lost-update"] {
            assert!(!p.contains(a), "{a}");
        }
    }

    #[test]
    fn strict_serializable_forbids_every_cycle_but_process_only_ones_follow_from_realtime() {
        let p = prohibited_by(["strict-serializable"]);
        for a in [
            "G0",
            "G1c",
            "G-single-item",
            "G-nonadjacent-item",
            "G2-item",
            "G0-realtime",
            "G1c-realtime",
            "G-single-item-realtime",
            "G2-item-realtime",
            "G0-process",
            "internal",
            "lost-update",
            "duplicate-elements",
            "PL-SS-cycle-exists",
            "PL-3-cycle-exists",
        ] {
            assert!(p.contains(a), "{a}");
        }
        let s = prohibited_by(["serializable"]);
        assert!(s.contains("G2-item") && !s.contains("G1c-realtime") && !s.contains("G0-process"));
    }

    #[test]
    fn consistent_view_forbids_g_single_but_not_g2() {
        let p = prohibited_by(["consistent-view"]);
        assert!(p.contains("G-single-item") && !p.contains("G2-item"));
        assert!(prohibited_by(["linearizable"]).is_empty(), "single-object models say nothing");
    }

    #[test]
    fn anomalies_rule_out_models() {
        let imp = impossible_given(["G1c"]);
        assert!(imp.contains("PL-2") && imp.contains("PL-SS") && !imp.contains("PL-1"));
        assert_eq!(weakest(&imp).into_iter().collect::<Vec<_>>(), ["PL-2"]);
        let imp = impossible_given(["G-single-item-realtime"]);
        assert!(imp.contains("strong-snapshot-isolation") && !imp.contains("PL-3"));
    }

    #[test]
    fn depths_order_g0_first() {
        let d = anomaly_depths();
        assert_eq!(d["G0"], 0);
        assert_eq!(d["G-single-item"], 0, "nothing implies it");
        assert!(d["G1c"] < d["G2-item"] && d["G-single-item"] < d["G2-item"]);
        assert!(d["G2-item"] < d["G0-process"] && d["G2-process"] < d["G0-realtime"]);
    }
}
