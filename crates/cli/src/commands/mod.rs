//! One file per command: its arguments (beyond the shared ones in `cli.rs`) and its work.

pub mod audit;
pub mod bench_batch;
pub mod bootstrap;
pub mod catalogue;
pub mod completions;
pub mod ddl;
pub mod drive;
pub mod export;
pub mod generate;
pub mod load;
pub mod migrations;
pub mod plan_load;
pub mod reconcile;
pub mod redrive;
pub mod replay;
pub mod report;
pub mod run;
pub mod sql;
pub mod status;

use crate::cli::Dialect;

/// A single-threaded Tokio runtime for a command that talks to AWS (the handlers are
/// async; one thread is what `pushfeed` needs for them).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The schema the statements are rendered for: `--schema` on Redshift; SQLite has one
/// database per file (`main`).
pub fn schema_name(dialect: Dialect, schema: String) -> String {
    match dialect {
        Dialect::Sqlite => pushfeed_loader::warehouse::sqlite::LOCAL_SCHEMA.to_owned(),
        Dialect::Redshift => schema,
    }
}

/// The tables and views of a local warehouse, by name.
pub fn relations(conn: &rusqlite::Connection) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
         AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

/// Edit distance (Levenshtein), for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "no such table or view: X" with the closest names and where the full list is.
pub fn no_such_relation(name: &str, known: &[String]) -> String {
    let mut close: Vec<(usize, &String)> = known
        .iter()
        .map(|k| (distance(&name.to_ascii_lowercase(), k), k))
        .filter(|(d, k)| *d <= 3.max(name.len() / 3) || k.contains(&name.to_ascii_lowercase()))
        .collect();
    close.sort();
    let mut msg = format!("no such table or view: {name}");
    if !close.is_empty() {
        let names: Vec<&str> = close.iter().take(3).map(|(_, k)| k.as_str()).collect();
        msg.push_str(&format!("; did you mean {}?", names.join(", ")));
    }
    msg.push_str(&format!(
        "\n  the warehouse has: {}",
        known
            .iter()
            .filter(|k| !k.starts_with("pf_"))
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ));
    msg
}

/// A failed query explained: a mistyped table gets the closest names; anything else says
/// which warehouse the query ran against.
pub fn explain_query_error(
    e: anyhow::Error,
    conn: &rusqlite::Connection,
    data_dir: &std::path::Path,
) -> anyhow::Error {
    let text = format!("{e:#}");
    if let Some(name) = text.split("no such table: ").nth(1).map(|rest| {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        &rest[..end]
    }) {
        let name = name.trim_start_matches("main.");
        if let Ok(known) = relations(conn) {
            return anyhow::anyhow!("{}", no_such_relation(name, &known));
        }
    }
    e.context(format!(
        "the query failed against {}",
        pushfeed_core::names::local::warehouse_path(data_dir).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_table_is_answered_with_the_closest_names() {
        let known: Vec<String> = [
            "push_open",
            "push_send",
            "push_click",
            "v_push_audit_hourly",
        ]
        .map(String::from)
        .to_vec();
        let msg = no_such_relation("push_opne", &known);
        assert!(
            msg.starts_with("no such table or view: push_opne; did you mean push_open"),
            "{msg}"
        );
        assert!(
            msg.contains("the warehouse has: push_open, push_send"),
            "{msg}"
        );
        let msg = no_such_relation("audit", &known);
        assert!(msg.contains("did you mean v_push_audit_hourly"), "{msg}");
        let msg = no_such_relation("zzzzzzzzzzzz", &known);
        assert!(!msg.contains("did you mean"), "{msg}");
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
