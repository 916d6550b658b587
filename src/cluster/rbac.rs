//! The Kubernetes rights each mode needs, declared once: the shipped
//! ClusterRoles and Roles (deploy/, the chart) are checked against this,
//! and tests check this against the requests the code really makes.

use crate::config::KubernetesConfig;
use serde::Serialize;

/// One RBAC rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// API groups (`""` is the core group).
    pub api_groups: Vec<String>,
    /// Resources.
    pub resources: Vec<String>,
    /// Verbs, sorted.
    pub verbs: Vec<String>,
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> Rule {
    let mut verbs: Vec<String> = verbs.iter().map(|v| (*v).to_owned()).collect();
    verbs.sort();
    Rule {
        api_groups: vec![group.to_owned()],
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
        verbs,
    }
}

/// The rules `config` needs where the servers' workloads are (a ClusterRole
/// for all namespaces, or a Role in each listed one): none without
/// discovery; list and watch of Deployments, StatefulSets and pods with it
/// (the watches list, then watch; `manifests --discover` lists); patch on
/// pods with deletion cost. Apply mode adds the scale subresources (get,
/// patch, update: the code patches; get and update are the usual rights of
/// a scaler, as `kubectl scale` and the HPA controller use them) and list
/// and watch of KEDA ScaledObjects and HPAs (to leave their targets alone).
pub fn required(config: &KubernetesConfig) -> Vec<Rule> {
    if !config.discovery.enabled {
        return Vec::new();
    }
    let mut pods = vec!["list", "watch"];
    if config.deletion_cost.enabled {
        pods.push("patch");
    }
    let mut rules = vec![
        rule("apps", &["deployments", "statefulsets"], &["list", "watch"]),
        rule("", &["pods"], &pods),
    ];
    if config.apply.enabled {
        rules.extend([
            rule(
                "apps",
                &["deployments/scale", "statefulsets/scale"],
                &["get", "patch", "update"],
            ),
            rule(
                "autoscaling",
                &["horizontalpodautoscalers"],
                &["list", "watch"],
            ),
            rule("keda.sh", &["scaledobjects"], &["list", "watch"]),
        ]);
    }
    rules
}

/// The rules `config` needs in the scaler's own namespace (a Role there):
/// the apply-mode Lease, read, created and renewed.
pub fn required_in_own_namespace(config: &KubernetesConfig) -> Vec<Rule> {
    if !(config.discovery.enabled && config.apply.enabled) {
        return Vec::new();
    }
    vec![rule(
        "coordination.k8s.io",
        &["leases"],
        &["create", "get", "update"],
    )]
}

/// The (verb, group, resource) a request to the API server needs, from its
/// method and path (`None` for paths this module does not know).
pub fn needed_for(method: &str, path_and_query: &str) -> Option<(String, String, String)> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (resource, named) = match rest {
        ["namespaces", _, resource] | [resource] => ((*resource).to_owned(), false),
        ["namespaces", _, resource, _name] => ((*resource).to_owned(), true),
        ["namespaces", _, resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => return None,
    };
    let watching = query.split('&').any(|p| p == "watch=true");
    let verb = match (method, named, watching) {
        ("GET", false, true) => "watch",
        ("GET", false, false) => "list",
        ("GET", true, _) => "get",
        ("PATCH", true, _) => "patch",
        ("PUT", true, _) => "update",
        ("POST", false, _) => "create",
        ("DELETE", true, _) => "delete",
        _ => return None,
    };
    Some((verb.to_owned(), group.to_owned(), resource))
}

/// Flattens rules into (verb, group, resource) triples, sorted.
pub fn triples(rules: &[Rule]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = rules
        .iter()
        .flat_map(|r| {
            r.verbs.iter().flat_map(move |v| {
                r.api_groups.iter().flat_map(move |g| {
                    r.resources
                        .iter()
                        .map(move |res| (v.clone(), g.clone(), res.clone()))
                })
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
#[path = "rbac_tests.rs"]
mod tests;
