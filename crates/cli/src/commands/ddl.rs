//! `pushfeed ddl`: print the whole warehouse schema: bootstrap, every migration, grants and views, in order.

use crate::cli::Dialect;

#[derive(clap::Args)]
pub struct DdlArgs {
    #[arg(long, value_enum, default_value_t = Dialect::Redshift)]
    pub dialect: Dialect,
    /// Redshift schema to create the tables in.
    #[arg(long, default_value = "pushfeed")]
    pub schema: String,
    /// Redshift database (for GRANT TEMP).
    #[arg(long, default_value = "dev")]
    pub database: String,
    /// The database user the loader connects as, granted the loader role (Serverless: IAMR:<loader role name>).
    #[arg(long)]
    pub loader_user: Option<String>,
}

pub fn execute(args: DdlArgs) -> anyhow::Result<()> {
    let DdlArgs {
        dialect,
        schema,
        database,
        loader_user,
    } = args;
    let schema = super::schema_name(dialect, schema);
    print!(
        "{}",
        pushfeed_core::schema::full_ddl(dialect.sql(), &schema, &database, loader_user.as_deref())?
    );
    Ok(())
}
