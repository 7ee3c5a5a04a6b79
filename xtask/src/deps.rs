//! The dependency invariants of docs/architecture.md, checked on `cargo metadata`'s resolved
//! graph (normal and build edges; dev-dependencies are free):
//!
//! - `stowage-domain` reaches none of the I/O stacks (tokio, actix, diesel, aws-sdk, reqwest,
//!   hyper), directly or transitively;
//! - no adapter crate reaches another adapter crate.

use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::process::Command;

/// The domain must not reach any crate whose name starts with one of these.
pub const DOMAIN_FORBIDDEN: &[&str] =
    &["tokio", "actix", "diesel", "aws-sdk", "aws-config", "aws-smithy", "reqwest", "hyper", "deadpool", "sqlx"];

/// The adapter crates: none may reach another.
pub const ADAPTERS: &[&str] =
    &["stowage-s3", "stowage-postgres", "stowage-http-actix", "stowage-sqlite", "stowage-disk"];

/// Package name → the names of its normal/build dependencies.
pub type Graph = BTreeMap<String, Vec<String>>;

pub fn check() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout).map_err(|e| format!("bad cargo metadata: {e}"))?;
    let violations = violations(&graph(&metadata));
    if violations.is_empty() {
        eprintln!("deps: the domain reaches no I/O stack and no adapter reaches another");
        Ok(())
    } else {
        Err(format!("dependency invariants broken:\n  {}", violations.join("\n  ")))
    }
}

/// Builds the package graph from `cargo metadata` output.
pub fn graph(metadata: &Value) -> Graph {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut graph = Graph::new();
    for node in metadata["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(name) = node["id"].as_str().and_then(|id| names.get(id)) else {
            continue;
        };
        let deps = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null() || k["kind"] == "build")
            })
            .filter_map(|d| d["pkg"].as_str().and_then(|id| names.get(id)).map(|n| (*n).to_owned()))
            .collect();
        graph.insert((*name).to_owned(), deps);
    }
    graph
}

/// Every broken invariant, each naming the path from the offending crate to what it reaches.
pub fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    let forbidden_for_domain = |name: &str| DOMAIN_FORBIDDEN.iter().any(|f| name.starts_with(f));
    if let Some(path) = path_to(graph, "stowage-domain", &forbidden_for_domain) {
        found.push(format!(
            "stowage-domain must stay pure but reaches {}: {}",
            path.last().map_or("", String::as_str),
            path.join(" -> ")
        ));
    }
    for adapter in ADAPTERS.iter().filter(|a| graph.contains_key(**a)) {
        let other_adapter = |name: &str| name != *adapter && ADAPTERS.contains(&name);
        if let Some(path) = path_to(graph, adapter, &other_adapter) {
            found.push(format!("adapter {adapter} must not depend on another adapter: {}", path.join(" -> ")));
        }
    }
    found
}

/// Breadth-first search for the shortest path from `start` to a package matching `target`.
fn path_to(graph: &Graph, start: &str, target: &dyn Fn(&str) -> bool) -> Option<Vec<String>> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        for dep in graph.get(current).into_iter().flatten() {
            if parent.contains_key(dep.as_str()) || dep == start {
                continue;
            }
            parent.insert(dep, current);
            if target(dep) {
                let mut path = vec![dep.clone()];
                let mut at = dep.as_str();
                while let Some(p) = parent.get(at) {
                    path.push((*p).to_owned());
                    at = p;
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(dep);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_of(edges: &[(&str, &str)]) -> Graph {
        let mut g = Graph::new();
        for (from, to) in edges {
            g.entry((*from).to_owned()).or_default().push((*to).to_owned());
            g.entry((*to).to_owned()).or_default();
        }
        g
    }

    #[test]
    fn a_clean_graph_has_no_violations() {
        let g =
            graph_of(&[("stowage-domain", "serde"), ("stowage-s3", "stowage-domain"), ("stowage-s3", "aws-sdk-s3")]);
        assert!(violations(&g).is_empty());
    }

    #[test]
    fn tokio_reached_through_another_crate_names_the_whole_path() {
        let g = graph_of(&[("stowage-domain", "some-helper"), ("some-helper", "tokio")]);
        let v = violations(&g);
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("stowage-domain -> some-helper -> tokio"), "{}", v[0]);
    }

    #[test]
    fn an_adapter_depending_on_another_is_named_by_its_edge() {
        let g = graph_of(&[("stowage-http-actix", "stowage-postgres"), ("stowage-postgres", "stowage-domain")]);
        let v = violations(&g);
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("stowage-http-actix -> stowage-postgres"), "{}", v[0]);
    }

    #[test]
    fn every_forbidden_stack_is_caught_in_the_domain() {
        for stack in ["actix-web", "diesel", "aws-sdk-s3", "reqwest", "hyper", "tokio"] {
            let g = graph_of(&[("stowage-domain", stack)]);
            assert_eq!(violations(&g).len(), 1, "{stack} should be forbidden");
        }
    }

    #[test]
    fn the_real_workspace_keeps_its_invariants() {
        check().expect("the workspace's dependency invariants hold");
    }
}
