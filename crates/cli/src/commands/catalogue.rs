//! `pushfeed catalogue`: print the catalogue: destinations, streams, prefixes, tables, columns, key patterns, metrics.

use crate::replay;

#[derive(clap::Args)]
pub struct CatalogueArgs {
    /// Print JSON (the Terraform input) instead of a readable listing.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: CatalogueArgs) -> anyhow::Result<()> {
    let CatalogueArgs { json } = args;
    let c = catalogue_json();
    if json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        for d in pushfeed_core::DESTINATIONS {
            println!(
                "{:<20} table {:<26} prefix {:<28} stream <prefix>{}",
                d.name,
                d.table(),
                d.s3_prefix(),
                d.stream_suffix()
            );
        }
        println!("\nvendor types:");
        for (vendor, vendor_type, canonical) in pushfeed_core::vendor::vendor_mappings() {
            println!("  {vendor:<8} {vendor_type:<52} → {canonical}");
        }
        println!("  braze    users.messages.pushnotification.Open with button_action_type uri/deep_link → click");
        println!("\nquarantine reasons:");
        for r in pushfeed_core::Reason::ALL {
            println!("  {:<20} {}", r.as_str(), r.description());
        }
    }
    Ok(())
}

/// The catalogue as data: what Terraform and the docs read.
fn catalogue_json() -> serde_json::Value {
    use serde_json::json;
    let destinations: Vec<serde_json::Value> = pushfeed_core::DESTINATIONS
        .iter()
        .map(|d| {
            json!({"name": d.name, "kind": d.kind, "description": d.description, "table": d.table(),
                   "s3_prefix": d.s3_prefix(), "stream_suffix": d.stream_suffix(),
                   "columns": d.columns().iter().map(|c| json!({"name": c.name, "kind": c.kind, "not_null": c.not_null})).collect::<Vec<_>>()})
        })
        .collect();
    let patterns: Vec<serde_json::Value> = pushfeed_core::KeyPatterns::from_catalogue()
        .describe()
        .into_iter()
        .map(|(regex, dest)| json!({"regex": regex, "destination": dest}))
        .collect();
    json!({
        "generated_by": "pushfeed catalogue --json (crates/core/src/catalogue.rs); do not edit",
        "data_prefix": pushfeed_core::catalogue::DATA_PREFIX,
        "error_prefix": pushfeed_core::catalogue::ERROR_PREFIX,
        "manifest_prefix": pushfeed_core::load::MANIFEST_PREFIX,
        "failure_prefix": replay::FAILURE_PREFIX,
        "destinations": destinations,
        "key_patterns": patterns,
        "metrics": pushfeed_core::metrics::ALL.iter().map(|(n, u, d)| json!({"name": n, "unit": u, "description": d})).collect::<Vec<_>>(),
        "metric_dimensions": [pushfeed_core::metrics::DIM_EVENT_TYPE, pushfeed_core::metrics::DIM_REASON],
        "quarantine_reasons": pushfeed_core::Reason::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "resource_name_suffixes": pushfeed_core::names::SUFFIXES.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    })
}
