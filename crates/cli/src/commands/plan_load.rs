//! `pushfeed plan-load`: print the statements the loader runs for one S3 object (as a JSON array), e.g. to load by hand.

use crate::cli::Dialect;
use anyhow::bail;

#[derive(clap::Args)]
pub struct PlanLoadArgs {
    /// The object, s3://bucket/key (the key decoded, as S3 shows it).
    pub object: String,
    /// The object's ETag (the ledger key).
    #[arg(long)]
    pub etag: String,
    /// The object's size in bytes (0: ledger only, no COPY).
    #[arg(long)]
    pub size: u64,
    /// Role Redshift assumes for COPY.
    #[arg(long, default_value = "default")]
    pub copy_role: String,
    #[arg(long, default_value = "pushfeed")]
    pub schema: String,
    #[arg(long, value_enum, default_value_t = Dialect::Redshift)]
    pub dialect: Dialect,
    /// Print the COPY manifest (its key and body) instead of the statements.
    #[arg(long)]
    pub manifest: bool,
}

pub fn execute(args: PlanLoadArgs) -> anyhow::Result<()> {
    let PlanLoadArgs {
        object,
        etag,
        size,
        copy_role,
        schema,
        dialect,
        manifest,
    } = args;
    use pushfeed_core::load;
    let (bucket, key) = object
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(|| anyhow::anyhow!("{object:?} is not s3://bucket/key"))?;
    let pushfeed_core::Matched::Table(hit) =
        pushfeed_core::KeyPatterns::from_catalogue().matches(key)
    else {
        bail!("no key pattern matches {key:?}: the loader would not load it (see docs/catalogue.md for the key layout)");
    };
    let o = load::ObjectRef {
        bucket: bucket.into(),
        key: key.into(),
        etag,
        size,
    };
    if manifest {
        println!(
            "{}",
            serde_json::json!({"key": load::manifest_key(&o), "body": serde_json::from_str::<serde_json::Value>(&load::manifest_body(&o))?})
        );
        return Ok(());
    }
    let table = pushfeed_core::schema::TableDef::from_destination(hit.destination);
    let schema = super::schema_name(dialect, schema);
    let script = load::script_for(
        dialect.sql(),
        &load::LoadSpec {
            schema: &schema,
            table: &table,
            object: &o,
            copy: load::CopyFrom {
                iam_role: &copy_role,
                gzip: hit.gzip,
                region: None,
                manifest_bucket: bucket,
            },
        },
    )?;
    println!("{}", serde_json::to_string_pretty(&script.sqls())?);
    Ok(())
}
