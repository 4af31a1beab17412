//! The command line's grammar: every command, its help and its arguments (each command's
//! own arguments and its work live in `commands/<command>.rs`).

use crate::{audit, aws, commands, generate, reconcile, replay};
use anyhow::bail;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "pushfeed",
    version,
    about = "Push-notification feedback from a vendor's Kinesis stream into a warehouse: nothing lost, nothing doubled.",
    long_about = "pushfeed lands push feedback events (send, open, click, bounce, …) from a marketing vendor's \
Kinesis stream in a warehouse, one table per event type.\n\n\
On AWS it runs as two Lambdas (batcher, loader) deployed by Terraform. This command runs the same code on one \
machine: `pushfeed run` pushes a feed through the batcher's handler, writes the objects Firehose would write, and \
loads them with the loader's handler into an embedded SQLite warehouse that `pushfeed sql` queries.",
    after_help = "Start here:\n  pushfeed run                      # one synthetic day (1.5 million events) end to end\n  pushfeed sql \"SELECT event_type, COUNT(*) FROM push_open GROUP BY 1\"\n  pushfeed generate --events 1000 --bad-rate 0.01 > feed.jsonl\n  pushfeed run --input feed.jsonl   # replay a feed (also a real capture)\n  pushfeed ddl                      # the Redshift DDL Terraform applies"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a realistic synthetic vendor feed: one Kinesis record per line.
    #[command(
        long_about = "Write a realistic synthetic vendor feed, deterministic for a --seed: campaigns and \
canvases; customers with their own platform, timezone and preferred hour; sends followed (sometimes, later, \
sometimes out of order) by opens, button taps, bounces and aborts; duplicates (the vendor delivers at least \
once); every vendor shape (Braze nested, batch and flat, Airship RTDS, NDJSON records); and, with --bad-rate, \
bad records.\n\nEach output line is one Kinesis record: the record's bytes when they are one line of text, \
else a Lambda-style envelope {\"kinesis\":{\"data\":\"<base64>\"}}. `pushfeed run --input` reads both."
    )]
    Generate(commands::generate::GenerateArgs),
    /// Run the whole pipeline locally: feed → batcher → objects → loader → embedded warehouse.
    #[command(
        long_about = "Run the whole pipeline on this machine with the Lambdas' own handlers. Reads a feed \
(--input FILE, '-' for stdin) or, without one, generates one day at today's volume (1.5 million events). Batches \
records as the Kinesis event source mapping would (up to --batch-size records and 6 MB), runs the batcher \
handler, writes the gzip JSON-lines objects Firehose would write under DATA_DIR/objects (same key layout), \
and loads each with the loader handler — key matching, dedup and ledger — into DATA_DIR/warehouse.sqlite.\n\n\
Records without a Kinesis arrival time get a deterministic one (a file's: from its modification time; \
a generated feed's: spread over the generated days), so running the same input again is a redelivery and adds \
no rows.\n\n\
Ends with a summary and checks that counts in = counts out, hour by hour, from the audit view \
v_push_audit_hourly (exit status 3 when they do not; `pushfeed audit` prints the view)."
    )]
    Run(commands::run::RunArgs),
    /// Query the local warehouse with SQL (SQLite dialect; tables as in `pushfeed ddl`).
    #[command(
        after_help = "Tables: push_send, push_open, push_click, push_bounce, push_abort, push_retry, …, \
push_unknown_type, push_quarantine, pushfeed_load_ledger; the audit trail push_audit, pushfeed_load_audit and \
the view v_push_audit_hourly. `attributes` is JSON text: use json_extract(attributes, '$.key').\n\n\
Example:\n  pushfeed sql \"SELECT platform, COUNT(*) AS opens FROM push_open GROUP BY platform\""
    )]
    Sql(commands::sql::SqlArgs),
    /// Export a table, a view or a query from the local warehouse as CSV, JSON lines or Parquet (streamed).
    #[command(
        long_about = "Write a table, a view or a query of the local warehouse to a file, streamed row by row \
(bounded memory whatever the size): CSV (RFC 4180, UTF-8, a header row, NULL as an empty field) for SAS \
(PROC IMPORT), Power BI (Get data → Text/CSV) or a spreadsheet, JSON lines, or Parquet (Snappy; for Power BI, \
pandas, Spark, DuckDB; written a row group of 65,536 rows at a time). The file is written under a \
.partial name and renamed when complete.\n\n\
Examples:\n  pushfeed export push_open                       # → push_open.csv\n  \
pushfeed export v_push_preferred_time -o preferred.csv\n  \
pushfeed export --query \"SELECT * FROM push_send WHERE platform = 'ios'\" -o ios_sends.csv\n  \
pushfeed export push_click --format jsonl -o - | gzip > clicks.jsonl.gz\n  \
pushfeed export push_send --format parquet           # → push_send.parquet"
    )]
    Export(commands::export::ExportArgs),
    /// Create, on an AWS-compatible endpoint, what Terraform creates: stream, bucket, Firehose streams, topic.
    #[command(
        long_about = "Create, from the catalogue, the resources Terraform creates in AWS — the vendor's Kinesis \
stream, the data bucket, one Firehose delivery stream per destination, the alert topic — on an AWS-compatible \
endpoint (moto's server, LocalStack), so a local stack comes up in one command. Existing resources are kept.\n\n\
Example:\n  moto_server -p 5000 &\n  pushfeed bootstrap --endpoint http://127.0.0.1:5000"
    )]
    Bootstrap(commands::bootstrap::BootstrapArgs),
    /// Find objects in S3 that no load recorded, and load them (the safety net under S3's notifications).
    #[command(
        long_about = "List the objects under push/ created between --since and --until, compare them with the \
load ledger, and re-drive each one the ledger does not hold: an S3 notification onto pushfeed-<env>-loads (the \
loader then loads it), or, with --data-dir, straight into the embedded warehouse. Objects created in the last 15 \
minutes are left out by default: they may still be on their way.\n\nExamples:\n  pushfeed reconcile --env prod --since 24h\n  \
pushfeed reconcile --env prod --since 2026-11-27T00:00:00Z --until 2026-11-28T00:00:00Z --dry-run\n  pushfeed reconcile --data-dir pushfeed-data --since 7d"
    )]
    Reconcile(reconcile::ReconcileArgs),
    /// A pipeline's state at a glance: loads and freshness per table, quarantine, audit, queues, alarms.
    #[command(
        long_about = "What an operator on call wants first, for a deployed environment (or a stack on an \
AWS-compatible endpoint) or a local data dir: per table, the objects and lines loaded, the last load and the \
newest event (and how many minutes old it is); the quarantine's share of the lines loaded; the audit's cells \
over the last 48 hours by status; objects not loaded yet (data dir), the loads queue and its dead-letter queue, \
the batcher's failure records, the vendor stream's input rate and the batcher's iterator age, and the alarms in \
ALARM (AWS). Each problem line names the command that recovers it.\n\n\
Examples:\n  pushfeed status --data-dir pushfeed-data\n  pushfeed status --env prod --workgroup analytics --database dev\n  \
pushfeed status --env prod --json | jq .alarms_in_alarm"
    )]
    Status(crate::status::StatusArgs),
    /// Counts in = counts out, hour by hour: what the batcher sent against what was loaded.
    #[command(
        long_about = "Print the audit view v_push_audit_hourly for hours of Kinesis arrival from --since: per hour \
and table, the lines the batcher had accepted by Firehose (its audit records, table push_audit), the lines loads \
found (rows inserted + duplicates dropped, table pushfeed_load_audit), the lines of objects in the bucket that no \
load recorded yet (read from S3 or the data dir: 'in flight'), and what is nowhere: 'missing'.\n\n\
Status per cell: balanced; in_flight (short, but within the grace period after the hour, or covered by objects \
still to load); missing (short after the grace period: alarmed); surplus (more loaded than audited: a Firehose \
redelivery, or an audit record lost — see AuditRecordsFailed; nothing is lost).\n\n\
Exit status 3 when anything is missing.\n\nExamples:\n  pushfeed audit --data-dir pushfeed-data --since 7d\n  \
pushfeed audit --env prod --since 2026-11-27T00:00:00Z --problems\n  pushfeed audit --env prod --json | jq '.rows[] | select(.status == \"missing\")'"
    )]
    Audit(audit::AuditArgs),
    /// Send the records of batches the batcher gave up on through the batcher again.
    #[command(
        long_about = "When Firehose refuses records for longer than the event source mapping retries, Lambda \
writes the whole discarded batch to the data bucket under aws/lambda/ (the mapping's S3 on-failure destination). \
This reads those failure records — from S3 (--from, default the environment's bucket) or a folder (--from-dir) — \
and sends their Kinesis records through the batcher to the environment's Firehose streams. The loader drops events \
already loaded, so replaying twice adds nothing.\n\nExamples:\n  pushfeed replay --env prod --dry-run\n  \
pushfeed replay --env prod\n  pushfeed replay --env prod --from-dir ./failures"
    )]
    Replay(replay::ReplayArgs),
    /// Return the loads dead-letter queue's messages to the loads queue (after an outage).
    #[command(
        long_about = "After a Redshift outage, loads that failed maxReceiveCount times wait in \
pushfeed-<env>-loads-dlq. This moves them back to pushfeed-<env>-loads with SQS's StartMessageMoveTask (or, on an \
endpoint without it, by receiving, re-sending and deleting them), and the loader tries them again. Objects already \
loaded are skipped by the ledger, so running it twice is harmless.\n\nExample:\n  pushfeed redrive --env prod"
    )]
    Redrive(commands::redrive::RedriveArgs),
    /// Play AWS's part around the Lambdas: poll the stream, invoke the batcher, load each new object.
    #[command(
        long_about = "Play the parts AWS plays around the two Lambdas, against an AWS-compatible endpoint: poll \
the vendor stream's shards like the Kinesis event source mapping (batch size, batching window, checkpoint at the \
first failed record, retries, on-failure file), invoke the batcher handler with the real Firehose client, and \
invoke the loader handler with the loads queue's messages like its SQS event source mapping (S3 notifies the \
queue of each new object under push/; failed messages are left for the visibility timeout, then the dead-letter \
queue; Redshift Data API and SNS through the same endpoint). Stops after --idle-exit seconds without new records or \
messages."
    )]
    Drive(aws::DriveArgs),
    /// Print the catalogue: destinations, streams, prefixes, tables, columns, key patterns, metrics.
    #[command(
        long_about = "Print the one catalogue everything is derived from: each destination's Firehose stream \
suffix, S3 prefix, table and columns; the loader's key patterns; the vendor type mappings; the quarantine reasons; \
and every metric name. With --json it is the file Terraform reads (terraform/modules/pushfeed/catalogue.json)."
    )]
    Catalogue(commands::catalogue::CatalogueArgs),
    /// Print a shell completion script: `pushfeed completions bash > /etc/bash_completion.d/pushfeed`,
    /// `pushfeed completions zsh > "${fpath[1]}/_pushfeed"`, `pushfeed completions fish > ~/.config/fish/completions/pushfeed.fish`.
    Completions(commands::completions::CompletionsArgs),
    /// Print the statements the loader runs for one S3 object (as a JSON array), e.g. to load by hand.
    #[command(
        long_about = "Print the load transaction the loader runs for one S3 object, as a JSON array of SQL \
statements in order (Redshift by default): LOCK the ledger, stage, COPY through a manifest naming exactly this \
object, insert the new events, write the ledger row, drop the stage. Run them as one transaction (the Data API's \
BatchExecuteStatement does) after writing the manifest (--manifest prints it).\n\nExample:\n  pushfeed plan-load \
s3://pushfeed-prod-data/push/open/2026/01/01/13/x.gz --etag 9b2c… --size 52133 --copy-role arn:aws:iam::…:role/pushfeed-prod-redshift-copy"
    )]
    PlanLoad(commands::plan_load::PlanLoadArgs),
    /// Load S3 objects now, with the loader's own handler (e.g. after an outage, or to retry by hand).
    #[command(
        long_about = "Invoke the loader's handler for the given objects against AWS or an AWS-compatible \
endpoint, as the S3 trigger would — with the event's size and ETag left out, so the handler reads them from S3 \
(HeadObject). The ledger makes this safe for objects already loaded: they report already_loaded and add nothing.\n\n\
Example:\n  pushfeed load --env prod --workgroup analytics --database dev s3://pushfeed-prod-data/push/open/2026/01/01/13/x.gz"
    )]
    Load(aws::LoadArgs),
    /// List the warehouse schema's migrations, or add the one the catalogue needs next.
    #[command(
        long_about = "The warehouse schema evolves by numbered migrations (crates/core/migrations.json), applied \
in order, each once: by Terraform on Redshift (as the deploying identity), and by `pushfeed run` on the local \
warehouse. Without options: list them with their statements.\n\nWhen you add a type or a column to the \
catalogue:\n  pushfeed migrations --new \"push_open: notification_channel\"   # appends the next migration\n  \
pushfeed migrations --write-terraform terraform/modules/pushfeed   # the SQL templates and migrations.tf\n\
Only additive changes are automatic (new tables, new nullable columns, wider text); anything else is refused with the reason."
    )]
    Migrations(commands::migrations::MigrationsArgs),
    /// Time the batcher's in-process work on one Lambda payload file (used by scripts/bench).
    #[command(hide = true)]
    BenchBatch(commands::bench_batch::BenchBatchArgs),
    /// Write a static HTML report from the local warehouse (opens offline, no scripts).
    #[command(
        long_about = "Write one static HTML file from the local warehouse's views: events per hour by type, \
the funnel per campaign, a heatmap of opens by the customer's local hour and weekday, and the distribution of \
preferred hours. Inline SVG only: it opens in any browser with no network.\n\nExample:\n  pushfeed run && pushfeed report --output report.html"
    )]
    Report(commands::report::ReportArgs),
    /// Print the whole warehouse schema: bootstrap, every migration, grants and views, in order.
    #[command(
        long_about = "Print, in the order they must run, every statement that builds the warehouse: the schema \
and migrations table, each migration (tables, added columns, roles), the grants (Redshift: a loader role that may \
read, append and LOCK the ledger; an analyst role that may read) and the analyst views. Terraform applies the same \
statements (terraform/modules/pushfeed/sql/), as separate ordered resources."
    )]
    Ddl(commands::ddl::DdlArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Dialect {
    Redshift,
    Sqlite,
}

impl Dialect {
    pub fn sql(self) -> pushfeed_core::sql::Dialect {
        match self {
            Dialect::Redshift => pushfeed_core::sql::Dialect::Redshift,
            Dialect::Sqlite => pushfeed_core::sql::Dialect::Sqlite,
        }
    }
}

#[derive(clap::Args, Clone)]
pub struct FeedArgs {
    /// Seed: the same seed gives the same feed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// About how many events to generate (today's volume is 1.5 million a day).
    #[arg(long, default_value_t = 1_500_000)]
    pub events: u64,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2026-01-05")]
    pub start: String,
    /// Days the events are spread over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// Fraction of records that are bad (quarantine material), 0 to 1.
    #[arg(long, default_value_t = 0.001)]
    pub bad_rate: f64,
    /// Fraction of records the vendor delivers twice, 0 to 1.
    #[arg(long, default_value_t = 0.01)]
    pub duplicate_rate: f64,
}

#[derive(clap::Args, Clone)]
pub struct DataArgs {
    /// Folder for objects and the warehouse.
    #[arg(long, env = "PUSHFEED_DATA_DIR", default_value = "pushfeed-data")]
    pub data_dir: PathBuf,
}

impl FeedArgs {
    pub fn spec(&self) -> anyhow::Result<generate::GenerateSpec> {
        for (name, v) in [
            ("--bad-rate", self.bad_rate),
            ("--duplicate-rate", self.duplicate_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bail!("{name} must be between 0 and 1 (a fraction of records), not {v}");
            }
        }
        let start_ms = pushfeed_core::timefmt::parse_iso(&format!("{}T00:00:00Z", self.start))
            .map_err(|_| {
                anyhow::anyhow!("--start {:?} is not a date: use YYYY-MM-DD", self.start)
            })?;
        Ok(generate::GenerateSpec {
            seed: self.seed,
            events: self.events,
            start_ms,
            days: self.days,
            bad_rate: self.bad_rate,
            duplicate_rate: self.duplicate_rate,
        })
    }
}
