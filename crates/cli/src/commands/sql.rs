//! `pushfeed sql`: query the local warehouse with SQL (SQLite dialect; tables as in `pushfeed ddl`).

use crate::cli::DataArgs;
use anyhow::Context;
use std::io::Write;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The SQL to run.
    pub query: String,
    #[command(flatten)]
    pub data: DataArgs,
    /// Print a JSON array of row objects instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: SqlArgs) -> anyhow::Result<()> {
    let SqlArgs { query, data, json } = args;
    sql(&query, &data.data_dir, json)?;
    Ok(())
}

fn sql(query: &str, data_dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    use rusqlite::types::ValueRef;
    let path = pushfeed_core::names::local::warehouse_path(data_dir);
    let conn = pushfeed_loader::warehouse::sqlite::open_read_only(data_dir)?;
    let mut stmt = conn
        .prepare(query)
        .with_context(|| format!("the query does not prepare against {}", path.display()))?;
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([])?;
    let mut table: Vec<Vec<serde_json::Value>> = Vec::new();
    while let Some(row) = rows.next()? {
        let mut out = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            out.push(match row.get_ref(i)? {
                ValueRef::Null => serde_json::Value::Null,
                ValueRef::Integer(n) => serde_json::json!(n),
                ValueRef::Real(f) => serde_json::json!(f),
                ValueRef::Text(t) => {
                    serde_json::Value::String(String::from_utf8_lossy(t).into_owned())
                }
                ValueRef::Blob(b) => serde_json::Value::String(format!("<{} bytes>", b.len())),
            });
        }
        table.push(out);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        let objects: Vec<serde_json::Value> = table
            .into_iter()
            .map(|r| serde_json::Value::Object(names.iter().cloned().zip(r).collect()))
            .collect();
        writeln!(out, "{}", serde_json::to_string(&objects)?)?;
        return Ok(());
    }
    let cell = |v: &serde_json::Value| -> String {
        let s = match v {
            serde_json::Value::Null => "NULL".to_owned(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if s.chars().count() > 60 {
            format!("{}…", s.chars().take(59).collect::<String>())
        } else {
            s
        }
    };
    let cells: Vec<Vec<String>> = table.iter().map(|r| r.iter().map(cell).collect()).collect();
    let widths: Vec<usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([n.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut dyn Write, vals: &[String]| -> std::io::Result<()> {
        let parts: Vec<String> = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        writeln!(out, "{}", parts.join(" | ").trim_end())
    };
    line(&mut out, &names)?;
    writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    )?;
    for r in &cells {
        line(&mut out, r)?;
    }
    writeln!(
        out,
        "({} row{})",
        cells.len(),
        if cells.len() == 1 { "" } else { "s" }
    )?;
    Ok(())
}
