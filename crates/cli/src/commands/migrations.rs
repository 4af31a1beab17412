//! `pushfeed migrations`: list the warehouse schema's migrations, or add the one the catalogue needs next.

use crate::cli::Dialect;
use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MigrationsArgs {
    #[arg(long, value_enum, default_value_t = Dialect::Redshift)]
    pub dialect: Dialect,
    #[arg(long, default_value = "pushfeed")]
    pub schema: String,
    /// Append the migration the catalogue needs (if any) to the history file, with this description.
    #[arg(long, value_name = "DESCRIPTION")]
    pub new: Option<String>,
    /// The history file --new writes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/migrations.json"))]
    pub history: PathBuf,
    /// Write the Terraform SQL templates and migrations.tf into this module folder.
    #[arg(long, value_name = "MODULE_DIR")]
    pub write_terraform: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: MigrationsArgs) -> anyhow::Result<()> {
    let MigrationsArgs {
        dialect,
        schema,
        new,
        history,
        write_terraform,
        json,
    } = args;
    use pushfeed_core::schema;
    if let Some(description) = new {
        let text = std::fs::read_to_string(&history)
            .with_context(|| format!("cannot read {}", history.display()))?;
        let mut list = schema::parse_history(&text)?;
        match schema::next_migration(&list, &schema::catalogue_schema(), &description)? {
            None => eprintln!("the migrations already cover the catalogue: nothing to add"),
            Some(m) => {
                eprintln!("migration {}: {} change(s)", m.id, m.changes.len());
                list.push(m);
                std::fs::write(&history, schema::history_json(&list))
                    .with_context(|| format!("cannot write {}", history.display()))?;
                eprintln!(
                    "written to {}; rebuild, then run --write-terraform",
                    history.display()
                );
            }
        }
        return Ok(());
    }
    if let Some(dir) = write_terraform {
        for (path, text) in schema::terraform_files()? {
            let p = dir.join(&path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        return Ok(());
    }
    let schema_name = super::schema_name(dialect, schema);
    let list = schema::migrations()?;
    let mut out = Vec::new();
    for m in &list {
        out.push(serde_json::json!({
            "id": m.id,
            "description": m.description,
            "statements": schema::migration_statements(dialect.sql(), &schema_name, m)?,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for m in &out {
            println!(
                "-- migration {}: {}",
                m["id"],
                m["description"].as_str().unwrap_or("")
            );
            for s in m["statements"].as_array().into_iter().flatten() {
                println!("{};", s.as_str().unwrap_or(""));
            }
            println!();
        }
    }
    Ok(())
}
