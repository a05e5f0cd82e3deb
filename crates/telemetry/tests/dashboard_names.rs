//! The Grafana dashboard queries exactly the metrics the code emits (B5): every
//! Prometheus name a panel uses is one that `metrics::SPECS` produces behind the
//! collector, every metric has a panel, and every `le` a panel picks is a real bucket.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use backfill_telemetry::metrics::{SPECS, prometheus_names};
use serde_json::Value;

const DASHBOARD: &str = "../../deploy/grafana/backfill-dashboard.json";

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DASHBOARD);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).expect("the dashboard is valid JSON")
}

/// Every PromQL string of the dashboard: panel targets and template variable queries.
fn queries(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("expr" | "definition" | "query", Value::String(query)) => {
                        found.push(query.clone());
                    }
                    _ => queries(field, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| queries(item, found)),
        _ => {}
    }
}

/// The `backfill_…` metric names a PromQL string mentions.
fn metric_names(query: &str) -> impl Iterator<Item = String> + '_ {
    query.match_indices("backfill_").map(|(start, _)| {
        query[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    })
}

fn all_queries() -> Vec<String> {
    let mut found = Vec::new();
    queries(&dashboard(), &mut found);
    assert!(!found.is_empty(), "the dashboard has no queries");
    found
}

#[test]
fn every_metric_a_panel_queries_is_one_the_code_defines() {
    let defined: BTreeSet<String> = SPECS.iter().flat_map(prometheus_names).collect();
    let unknown: BTreeSet<String> = all_queries()
        .iter()
        .flat_map(|query| metric_names(query).collect::<Vec<_>>())
        .filter(|name| !defined.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics the code does not emit: {unknown:?}\ndefined: {defined:?}"
    );
}

#[test]
fn every_metric_the_code_defines_has_a_panel() {
    let queried: BTreeSet<String> = all_queries()
        .iter()
        .flat_map(|query| metric_names(query).collect::<Vec<_>>())
        .collect();
    let unshown: Vec<&str> = SPECS
        .iter()
        .filter(|spec| {
            !prometheus_names(spec)
                .iter()
                .any(|name| queried.contains(name))
        })
        .map(|spec| spec.name)
        .collect();
    assert!(unshown.is_empty(), "metrics without a panel: {unshown:?}");
}

#[test]
fn every_bucket_a_panel_picks_is_a_bucket_the_histogram_has() {
    let bounds: BTreeMap<String, &[f64]> = SPECS
        .iter()
        .flat_map(|spec| {
            prometheus_names(spec)
                .into_iter()
                .filter(|name| name.ends_with("_bucket"))
                .map(move |name| (name, spec.buckets))
        })
        .collect();
    for query in all_queries() {
        for name in metric_names(&query).filter(|name| name.ends_with("_bucket")) {
            let selector = &query[query.find(&name).unwrap()..];
            let Some(le) = selector
                .split_once("le=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(le, _)| le.parse::<f64>().expect("a numeric le"))
            else {
                continue;
            };
            assert!(
                bounds[&name].contains(&le),
                "{name} has no bucket le=\"{le}\": {:?}",
                bounds[&name]
            );
        }
    }
}

#[test]
fn every_panel_has_a_description_for_the_operator() {
    let dashboard = dashboard();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            continue;
        }
        let description = panel["description"].as_str().unwrap_or_default();
        assert!(
            !description.is_empty(),
            "panel {} has no description",
            panel["title"]
        );
    }
}
