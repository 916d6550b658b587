//! One-off listing of the workloads that host MCP servers (`manifests
//! --discover`): the same selector and naming rule as the watches.

use super::manifests::ServerEntry;
use super::workload::{ScalableWorkload, Workload, observe};
use crate::config::KubernetesConfig;
use crate::id::Namespace;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::ListParams;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// Page size of each list request.
const PAGE: u32 = 500;

/// Every server the cluster hosts under `config`'s selector and
/// namespaces, with its one workload. A server hosted by more than one
/// workload cannot have one ScaledObject: it is returned in the second
/// list, with its workloads, for the caller to report.
pub async fn servers(
    client: &Client,
    config: &KubernetesConfig,
) -> Result<(Vec<ServerEntry>, Vec<Vec<Workload>>), kube::Error> {
    let scopes: Vec<Option<Namespace>> = match config.watched_namespaces() {
        Some(list) => list.into_iter().map(Some).collect(),
        None => vec![None],
    };
    let label = &config.discovery.label;
    let mut found: BTreeMap<crate::id::ServerKey, Vec<Workload>> = BTreeMap::new();
    for scope in &scopes {
        let mut all = list::<Deployment>(client, scope.as_ref(), label).await?;
        all.extend(list::<StatefulSet>(client, scope.as_ref(), label).await?);
        for w in all {
            found.entry(w.server.clone()).or_default().push(w);
        }
    }
    let mut entries = Vec::new();
    let mut ambiguous = Vec::new();
    for (server, mut workloads) in found {
        if workloads.len() == 1 {
            let w = workloads.remove(0);
            entries.push(ServerEntry {
                server,
                workload: w.workload,
                policy: w.policy,
            });
        } else {
            ambiguous.push(workloads);
        }
    }
    Ok((entries, ambiguous))
}

async fn list<K>(
    client: &Client,
    namespace: Option<&Namespace>,
    label: &str,
) -> Result<Vec<Workload>, kube::Error>
where
    K: ScalableWorkload
        + Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns.as_str()),
        None => Api::all(client.clone()),
    };
    let mut params = ListParams::default().labels(label).limit(PAGE);
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        out.extend(page.items.iter().filter_map(|o| observe(o, label).ok()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}
