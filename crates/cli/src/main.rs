//! `pushfeed`: the whole pipeline on one machine, with the Lambdas' own code.

mod audit;
mod aws;
mod bench;
mod feed;
mod generate;
mod reconcile;
mod replay;
mod report;
mod run;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a realistic synthetic vendor feed: one Kinesis record per line.
    #[command(
        long_about = "Write a realistic synthetic vendor feed, deterministic for a --seed: campaigns and \
canvases; customers with their own platform, timezone and preferred hour; sends followed (sometimes, later, \
sometimes out of order) by opens, button taps, bounces and aborts; duplicates (the vendor delivers at least \
once); every vendor shape (Braze nested, batch and flat, Airship RTDS, NDJSON records); and, with --bad-rate, \
bad records.\n\nEach output line is one Kinesis record: the record's bytes when they are one line of text, \
else a Lambda-style envelope {\"kinesis\":{\"data\":\"<base64>\"}}. `pushfeed run --input` reads both."
    )]
    Generate {
        #[command(flatten)]
        feed: FeedArgs,
        /// Where to write the feed ('-' for stdout).
        #[arg(long, short, default_value = "-")]
        output: String,
        /// Also write the planted truth (each customer's timezone and preferred hour) as JSON here.
        #[arg(long)]
        truth: Option<PathBuf>,
    },
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
    Run {
        /// Feed to read, one Kinesis record per line ('-' for stdin). Without it, a feed is generated.
        #[arg(long, short)]
        input: Option<String>,
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        data: DataArgs,
        /// Most records per batcher invocation (the event source mapping's batch size).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        batch_size: u64,
        /// Firehose buffer per stream before an object is written, in MiB (Firehose allows 1-128).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=128))]
        buffer_mib: u64,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
        /// No progress lines on stderr.
        #[arg(long, short)]
        quiet: bool,
        /// Drill: Firehose acknowledges the N-th record for TYPE and loses it (TYPE[:N], e.g. open:3). The audit must show it missing.
        #[arg(long, value_name = "TYPE[:N]", value_parser = run::parse_drill, help_heading = "Drills")]
        drill_lose_record: Option<(String, usize)>,
        /// Drill: delete the N-th object written for TYPE before it is loaded (TYPE[:N]). The audit must show it missing.
        #[arg(long, value_name = "TYPE[:N]", value_parser = run::parse_drill, help_heading = "Drills")]
        drill_delete_object: Option<(String, usize)>,
        /// Drill: the loader never hears of the N-th object written for TYPE, as if its S3 notification were lost (TYPE[:N]). The audit shows it in flight; `pushfeed reconcile` loads it.
        #[arg(long, value_name = "TYPE[:N]", value_parser = run::parse_drill, help_heading = "Drills")]
        drill_skip_load: Option<(String, usize)>,
    },
    /// Query the local warehouse with SQL (SQLite dialect; tables as in `pushfeed ddl`).
    #[command(
        after_help = "Tables: push_send, push_open, push_click, push_bounce, push_abort, push_retry, …, \
push_unknown_type, push_quarantine, pushfeed_load_ledger; the audit trail push_audit, pushfeed_load_audit and \
the view v_push_audit_hourly. `attributes` is JSON text: use json_extract(attributes, '$.key').\n\n\
Example:\n  pushfeed sql \"SELECT platform, COUNT(*) AS opens FROM push_open GROUP BY platform\""
    )]
    Sql {
        /// The SQL to run.
        query: String,
        #[command(flatten)]
        data: DataArgs,
        /// Print a JSON array of row objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create, on an AWS-compatible endpoint, what Terraform creates: stream, bucket, Firehose streams, topic.
    #[command(
        long_about = "Create, from the catalogue, the resources Terraform creates in AWS — the vendor's Kinesis \
stream, the data bucket, one Firehose delivery stream per destination, the alert topic — on an AWS-compatible \
endpoint (moto's server, LocalStack), so a local stack comes up in one command. Existing resources are kept.\n\n\
Example:\n  moto_server -p 5000 &\n  pushfeed bootstrap --endpoint http://127.0.0.1:5000"
    )]
    Bootstrap {
        #[command(flatten)]
        endpoint: aws::EndpointArgs,
        /// Shards of the vendor stream.
        #[arg(long, default_value_t = 2)]
        shards: i32,
        #[command(flatten)]
        queue: aws::QueueArgs,
    },
    /// Find objects in S3 that no load recorded, and load them (the safety net under S3's notifications).
    #[command(
        long_about = "List the objects under push/ created between --since and --until, compare them with the \
load ledger, and re-drive each one the ledger does not hold: an S3 notification onto pushfeed-<env>-loads (the \
loader then loads it), or, with --data-dir, straight into the embedded warehouse. Objects created in the last 15 \
minutes are left out by default: they may still be on their way.\n\nExamples:\n  pushfeed reconcile --env prod --since 24h\n  \
pushfeed reconcile --env prod --since 2026-11-27T00:00:00Z --until 2026-11-28T00:00:00Z --dry-run\n  pushfeed reconcile --data-dir pushfeed-data --since 7d"
    )]
    Reconcile {
        #[command(flatten)]
        args: reconcile::ReconcileArgs,
    },
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
    Audit {
        #[command(flatten)]
        args: audit::AuditArgs,
    },
    /// Send the records of batches the batcher gave up on through the batcher again.
    #[command(
        long_about = "When Firehose refuses records for longer than the event source mapping retries, Lambda \
writes the whole discarded batch to the data bucket under aws/lambda/ (the mapping's S3 on-failure destination). \
This reads those failure records — from S3 (--from, default the environment's bucket) or a folder (--from-dir) — \
and sends their Kinesis records through the batcher to the environment's Firehose streams. The loader drops events \
already loaded, so replaying twice adds nothing.\n\nExamples:\n  pushfeed replay --env prod --dry-run\n  \
pushfeed replay --env prod\n  pushfeed replay --env prod --from-dir ./failures"
    )]
    Replay {
        #[command(flatten)]
        args: replay::ReplayArgs,
    },
    /// Return the loads dead-letter queue's messages to the loads queue (after an outage).
    #[command(
        long_about = "After a Redshift outage, loads that failed maxReceiveCount times wait in \
pushfeed-<env>-loads-dlq. This moves them back to pushfeed-<env>-loads with SQS's StartMessageMoveTask (or, on an \
endpoint without it, by receiving, re-sending and deleting them), and the loader tries them again. Objects already \
loaded are skipped by the ledger, so running it twice is harmless.\n\nExample:\n  pushfeed redrive --env prod"
    )]
    Redrive {
        #[command(flatten)]
        endpoint: aws::EndpointArgs,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
        /// Move the messages here (receive, re-send, delete) instead of asking SQS to, for an
        /// endpoint without StartMessageMoveTask.
        #[arg(long)]
        move_here: bool,
    },
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
    Drive {
        #[command(flatten)]
        args: aws::DriveArgs,
    },
    /// Print the catalogue: destinations, streams, prefixes, tables, columns, key patterns, metrics.
    #[command(
        long_about = "Print the one catalogue everything is derived from: each destination's Firehose stream \
suffix, S3 prefix, table and columns; the loader's key patterns; the vendor type mappings; the quarantine reasons; \
and every metric name. With --json it is the file Terraform reads (terraform/modules/pushfeed/catalogue.json)."
    )]
    Catalogue {
        /// Print JSON (the Terraform input) instead of a readable listing.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script: `pushfeed completions bash > /etc/bash_completion.d/pushfeed`,
    /// `pushfeed completions zsh > "${fpath[1]}/_pushfeed"`, `pushfeed completions fish > ~/.config/fish/completions/pushfeed.fish`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the statements the loader runs for one S3 object (as a JSON array), e.g. to load by hand.
    #[command(
        long_about = "Print the load transaction the loader runs for one S3 object, as a JSON array of SQL \
statements in order (Redshift by default): LOCK the ledger, stage, COPY through a manifest naming exactly this \
object, insert the new events, write the ledger row, drop the stage. Run them as one transaction (the Data API's \
BatchExecuteStatement does) after writing the manifest (--manifest prints it).\n\nExample:\n  pushfeed plan-load \
s3://pushfeed-prod-data/push/open/2026/01/01/13/x.gz --etag 9b2c… --size 52133 --copy-role arn:aws:iam::…:role/pushfeed-prod-redshift-copy"
    )]
    PlanLoad {
        /// The object, s3://bucket/key (the key decoded, as S3 shows it).
        object: String,
        /// The object's ETag (the ledger key).
        #[arg(long)]
        etag: String,
        /// The object's size in bytes (0: ledger only, no COPY).
        #[arg(long)]
        size: u64,
        /// Role Redshift assumes for COPY.
        #[arg(long, default_value = "default")]
        copy_role: String,
        #[arg(long, default_value = "pushfeed")]
        schema: String,
        #[arg(long, value_enum, default_value_t = Dialect::Redshift)]
        dialect: Dialect,
        /// Print the COPY manifest (its key and body) instead of the statements.
        #[arg(long)]
        manifest: bool,
    },
    /// Load S3 objects now, with the loader's own handler (e.g. after an outage, or to retry by hand).
    #[command(
        long_about = "Invoke the loader's handler for the given objects against AWS or an AWS-compatible \
endpoint, as the S3 trigger would — with the event's size and ETag left out, so the handler reads them from S3 \
(HeadObject). The ledger makes this safe for objects already loaded: they report already_loaded and add nothing.\n\n\
Example:\n  pushfeed load --env prod --workgroup analytics --database dev s3://pushfeed-prod-data/push/open/2026/01/01/13/x.gz"
    )]
    Load {
        #[command(flatten)]
        args: aws::LoadArgs,
    },
    /// List the warehouse schema's migrations, or add the one the catalogue needs next.
    #[command(
        long_about = "The warehouse schema evolves by numbered migrations (crates/core/migrations.json), applied \
in order, each once: by Terraform on Redshift (as the deploying identity), and by `pushfeed run` on the local \
warehouse. Without options: list them with their statements.\n\nWhen you add a type or a column to the \
catalogue:\n  pushfeed migrations --new \"push_open: notification_channel\"   # appends the next migration\n  \
pushfeed migrations --write-terraform terraform/modules/pushfeed   # the SQL templates and migrations.tf\n\
Only additive changes are automatic (new tables, new nullable columns, wider text); anything else is refused with the reason."
    )]
    Migrations {
        #[arg(long, value_enum, default_value_t = Dialect::Redshift)]
        dialect: Dialect,
        #[arg(long, default_value = "pushfeed")]
        schema: String,
        /// Append the migration the catalogue needs (if any) to the history file, with this description.
        #[arg(long, value_name = "DESCRIPTION")]
        new: Option<String>,
        /// The history file --new writes.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/migrations.json"))]
        history: PathBuf,
        /// Write the Terraform SQL templates and migrations.tf into this module folder.
        #[arg(long, value_name = "MODULE_DIR")]
        write_terraform: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time the batcher's in-process work on one Lambda payload file (used by scripts/bench).
    #[command(hide = true)]
    BenchBatch {
        /// A Lambda Kinesis event (JSON) file.
        #[arg(long)]
        payload: PathBuf,
        #[arg(long, default_value_t = 15)]
        runs: usize,
        /// Write every produced line as {"dest":…,"line":…} here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a static HTML report from the local warehouse (opens offline, no scripts).
    #[command(
        long_about = "Write one static HTML file from the local warehouse's views: events per hour by type, \
the funnel per campaign, a heatmap of opens by the customer's local hour and weekday, and the distribution of \
preferred hours. Inline SVG only: it opens in any browser with no network.\n\nExample:\n  pushfeed run && pushfeed report --output report.html"
    )]
    Report {
        #[command(flatten)]
        data: DataArgs,
        /// Where to write the HTML.
        #[arg(long, short, default_value = "pushfeed-report.html")]
        output: PathBuf,
    },
    /// Print the whole warehouse schema: bootstrap, every migration, grants and views, in order.
    #[command(
        long_about = "Print, in the order they must run, every statement that builds the warehouse: the schema \
and migrations table, each migration (tables, added columns, roles), the grants (Redshift: a loader role that may \
read, append and LOCK the ledger; an analyst role that may read) and the analyst views. Terraform applies the same \
statements (terraform/modules/pushfeed/sql/), as separate ordered resources."
    )]
    Ddl {
        #[arg(long, value_enum, default_value_t = Dialect::Redshift)]
        dialect: Dialect,
        /// Redshift schema to create the tables in.
        #[arg(long, default_value = "pushfeed")]
        schema: String,
        /// Redshift database (for GRANT TEMP).
        #[arg(long, default_value = "dev")]
        database: String,
        /// The database user the loader connects as, granted the loader role (Serverless: IAMR:<loader role name>).
        #[arg(long)]
        loader_user: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Dialect {
    Redshift,
    Sqlite,
}

impl Dialect {
    fn sql(self) -> pushfeed_core::sql::Dialect {
        match self {
            Dialect::Redshift => pushfeed_core::sql::Dialect::Redshift,
            Dialect::Sqlite => pushfeed_core::sql::Dialect::Sqlite,
        }
    }
}

#[derive(clap::Args, Clone)]
struct FeedArgs {
    /// Seed: the same seed gives the same feed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// About how many events to generate (today's volume is 1.5 million a day).
    #[arg(long, default_value_t = 1_500_000)]
    events: u64,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2026-01-05")]
    start: String,
    /// Days the events are spread over.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=366))]
    days: u32,
    /// Fraction of records that are bad (quarantine material), 0 to 1.
    #[arg(long, default_value_t = 0.001)]
    bad_rate: f64,
    /// Fraction of records the vendor delivers twice, 0 to 1.
    #[arg(long, default_value_t = 0.01)]
    duplicate_rate: f64,
}

#[derive(clap::Args, Clone)]
struct DataArgs {
    /// Folder for objects and the warehouse.
    #[arg(long, env = "PUSHFEED_DATA_DIR", default_value = "pushfeed-data")]
    data_dir: PathBuf,
}

impl FeedArgs {
    fn spec(&self) -> anyhow::Result<generate::GenerateSpec> {
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

/// Sends what is written, in chunks, to a reader on another thread.
struct ChannelWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.tx.send(chunk).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader stopped")
            })?;
        }
        Ok(())
    }
}

struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn main() {
    if let Err(e) = real_main() {
        // `pushfeed sql … | head`: the reader left; stop quietly, as Unix tools do.
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            std::process::exit(0);
        }
        eprintln!("pushfeed: error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The handlers log what goes wrong (failed loads, alerts, retries) through tracing.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_target(false)
        .init();
    match cli.command {
        Command::Generate {
            feed,
            output,
            truth,
        } => {
            let spec = feed.spec()?;
            let mut sink: Box<dyn Write> = if output == "-" {
                Box::new(std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::io::stdout().lock(),
                ))
            } else {
                Box::new(std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::fs::File::create(&output)
                        .with_context(|| format!("cannot create {output}"))?,
                ))
            };
            let stats = generate::generate(&spec, &mut sink, &mut |n| {
                eprintln!("  generated {} records", run::fmt_n(n))
            })?;
            sink.flush()?;
            if let Some(path) = truth {
                std::fs::write(&path, serde_json::to_vec(&stats.customers)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            eprintln!(
                "generated {} records holding {} events ({} redelivered duplicates, {} bad records) for {} customers",
                run::fmt_n(stats.records),
                run::fmt_n(stats.events),
                run::fmt_n(stats.duplicates),
                run::fmt_n(stats.bad_records),
                run::fmt_n(stats.customers.len() as u64)
            );
        }
        Command::Run {
            input,
            feed,
            data,
            batch_size,
            buffer_mib,
            json,
            quiet,
            drill_lose_record,
            drill_delete_object,
            drill_skip_load,
        } => {
            // Records without an arrival time get a deterministic one (see run::Arrival):
            // a file's from its modification time, a generated feed's spread over the
            // generated days, stdin's from now.
            let arrival = match input.as_deref() {
                None => {
                    let spec = feed.spec()?;
                    let records = (spec.events as f64 * 0.66).max(1.0);
                    run::Arrival {
                        base_ms: spec.start_ms,
                        step_ms: f64::from(spec.days.max(1)) * 86_400_000.0 / records,
                    }
                }
                Some("-") => run::Arrival {
                    base_ms: pushfeed_core::timefmt::now_ms(),
                    step_ms: 0.0,
                },
                Some(path) => run::Arrival {
                    base_ms: std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or_else(pushfeed_core::timefmt::now_ms, |d| d.as_millis() as i64),
                    step_ms: 1.0,
                },
            };
            let opts = run::RunOptions {
                arrival,
                data_dir: data.data_dir.clone(),
                batch_size: batch_size as usize,
                buffer_bytes: (buffer_mib as usize) << 20,
                progress: !quiet,
                drills: run::Drills {
                    lose_record: drill_lose_record,
                    delete_object: drill_delete_object,
                    skip_load: drill_skip_load,
                },
            };
            let summary = match input.as_deref() {
                Some("-") => run::run(&mut std::io::stdin().lock(), None, &opts)?,
                Some(path) => {
                    let file = std::fs::File::open(path)
                        .with_context(|| format!("cannot open the feed {path}"))?;
                    run::run(&mut BufReader::with_capacity(1 << 20, file), None, &opts)?
                }
                None => {
                    let spec = feed.spec()?;
                    if !quiet {
                        eprintln!("no --input: generating {} events (seed {}) and running them through the pipeline", run::fmt_n(spec.events), spec.seed);
                    }
                    let (tx, rx) = sync_channel::<Vec<u8>>(16);
                    let producer =
                        std::thread::spawn(move || -> std::io::Result<generate::GenerateStats> {
                            let mut w = ChannelWriter {
                                tx,
                                buf: Vec::with_capacity(1 << 20),
                            };
                            let stats = generate::generate(&spec, &mut w, &mut |_| {})?;
                            w.flush()?;
                            Ok(stats)
                        });
                    let mut reader = BufReader::with_capacity(
                        1 << 20,
                        ChannelReader {
                            rx,
                            chunk: Vec::new(),
                            pos: 0,
                        },
                    );
                    let summary =
                        run::run(&mut reader, Some((feed.events as f64 * 0.66) as u64), &opts)?; // ~0.66 records per event
                    drop(reader);
                    producer
                        .join()
                        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))??;
                    summary
                }
            };
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                run::print_summary(&summary, &mut std::io::stdout().lock())?;
            }
            if !summary.balanced {
                eprintln!("pushfeed: counts in and counts out differ (see the summary): some input is unaccounted for");
                std::process::exit(3);
            }
        }
        Command::Bootstrap {
            endpoint,
            shards,
            queue,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(aws::bootstrap(&endpoint, shards, &queue))?;
        }
        Command::Replay { args } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let s = rt.block_on(replay::replay(&args))?;
            if args.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!(
                    "{} failure records, {} Kinesis records: {} events sent, {} quarantined{}",
                    s.failure_records,
                    s.kinesis_records,
                    s.events_sent,
                    s.quarantined,
                    if args.dry_run {
                        " (dry run: nothing sent)"
                    } else {
                        ""
                    }
                );
            }
        }
        Command::Audit { args } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = rt.block_on(audit::audit(&args))?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                audit::print(&report, &mut std::io::stdout().lock())?;
            }
            if report.missing > 0 {
                std::process::exit(3);
            }
        }
        Command::Reconcile { args } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let s = rt.block_on(reconcile::reconcile(&args))?;
            if args.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!(
                    "{} objects created {} .. {}: {} in the ledger, {} missing{}",
                    s.objects_listed,
                    s.since,
                    s.until,
                    s.in_ledger,
                    s.missing.len(),
                    if args.dry_run {
                        " (dry run: nothing re-driven)"
                    } else {
                        ""
                    }
                );
                for m in &s.missing {
                    println!("  missing: {m}");
                }
                if s.redriven > 0 {
                    println!(
                        "re-drove {} objects (queued for the loader, or loaded locally)",
                        s.redriven
                    );
                }
            }
        }
        Command::Redrive {
            endpoint,
            json,
            move_here,
        } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let s = rt.block_on(aws::redrive(&endpoint, move_here))?;
            if json {
                println!("{}", serde_json::to_string(&s)?);
            } else if let Some(h) = &s.task_handle {
                println!("started a message move task ({h}): the loader retries the dead-lettered loads as they arrive");
            } else {
                println!("moved {} messages back to the loads queue; the loader retries them (objects already loaded are skipped)", s.moved);
            }
        }
        Command::Drive { args } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let s = rt.block_on(aws::drive(&args))?;
            if args.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!(
                    "drove {} records in {} batches ({} batch item failures, {} records retried, {} to the on-failure file); {} objects seen, {} loaded ({} rows), {} duplicate, {} unmatched, {} load failures; {:.1} s",
                    run::fmt_n(s.records_in), s.batches, s.batch_item_failures, s.records_retried, s.records_to_dlq,
                    s.objects_seen, s.objects_loaded, run::fmt_n(s.rows_loaded), s.duplicate_objects, s.unmatched_keys, s.load_failures, s.elapsed_s
                );
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "pushfeed",
                &mut std::io::stdout(),
            );
        }
        Command::Catalogue { json } => {
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
        }
        Command::PlanLoad {
            object,
            etag,
            size,
            copy_role,
            schema,
            dialect,
            manifest,
        } => {
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
            let schema = if matches!(dialect, Dialect::Sqlite) {
                pushfeed_loader::warehouse::sqlite::LOCAL_SCHEMA.to_owned()
            } else {
                schema
            };
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
        }
        Command::Load { args } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let s = rt.block_on(aws::load_objects(&args))?;
            if args.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                for o in &s.objects {
                    println!("{o}");
                }
            }
            if s.failed > 0 {
                eprintln!("pushfeed load: {} of {} objects failed (see above); run it again once the cause is fixed — loaded objects are skipped", s.failed, s.objects.len());
                std::process::exit(1);
            }
        }
        Command::Migrations {
            dialect,
            schema,
            new,
            history,
            write_terraform,
            json,
        } => {
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
                    std::fs::write(&p, text)
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    eprintln!("wrote {}", p.display());
                }
                return Ok(());
            }
            let schema_name = if matches!(dialect, Dialect::Sqlite) {
                pushfeed_loader::warehouse::sqlite::LOCAL_SCHEMA.to_owned()
            } else {
                schema
            };
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
        }
        Command::Sql { query, data, json } => sql(&query, &data.data_dir, json)?,
        Command::BenchBatch { payload, runs, out } => {
            bench::bench_batch(&payload, runs, out.as_deref())?
        }
        Command::Report { data, output } => {
            let conn = pushfeed_loader::warehouse::sqlite::open_read_only(&data.data_dir)?;
            let html = report::render(
                &conn,
                &format!(
                    "pushfeed — push feedback report ({})",
                    data.data_dir.display()
                ),
            )?;
            std::fs::write(&output, html)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!("wrote {}", output.display());
        }
        Command::Ddl {
            dialect,
            schema,
            database,
            loader_user,
        } => {
            let schema = if matches!(dialect, Dialect::Sqlite) {
                pushfeed_loader::warehouse::sqlite::LOCAL_SCHEMA.to_owned()
            } else {
                schema
            };
            print!(
                "{}",
                pushfeed_core::schema::full_ddl(
                    dialect.sql(),
                    &schema,
                    &database,
                    loader_user.as_deref()
                )?
            )
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
