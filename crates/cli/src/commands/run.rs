//! `pushfeed run`: run the whole pipeline locally: feed → batcher → objects → loader → embedded warehouse.

use crate::cli::{DataArgs, FeedArgs};
use crate::{generate, run};
use anyhow::Context;
use std::io::{BufReader, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Feed to read, one Kinesis record per line ('-' for stdin). Without it, a feed is generated.
    #[arg(long, short)]
    pub input: Option<String>,
    #[command(flatten)]
    pub feed: FeedArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Most records per batcher invocation (the event source mapping's batch size).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_size: u64,
    /// Firehose buffer per stream before an object is written, in MiB (Firehose allows 1-128).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=128))]
    pub buffer_mib: u64,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Drill: Firehose acknowledges the N-th record for TYPE and loses it (TYPE[:N], e.g. open:3). The audit must show it missing.
    #[arg(long, value_name = "TYPE[:N]", value_parser = run::parse_drill, help_heading = "Drills")]
    pub drill_lose_record: Option<(String, usize)>,
    /// Drill: delete the N-th object written for TYPE before it is loaded (TYPE[:N]). The audit must show it missing.
    #[arg(long, value_name = "TYPE[:N]", value_parser = run::parse_drill, help_heading = "Drills")]
    pub drill_delete_object: Option<(String, usize)>,
    /// Drill: the loader never hears of the N-th object written for TYPE, as if its S3 notification were lost (TYPE[:N]). The audit shows it in flight; `pushfeed reconcile` loads it.
    #[arg(long, value_name = "TYPE[:N]", value_parser = run::parse_drill, help_heading = "Drills")]
    pub drill_skip_load: Option<(String, usize)>,
}

pub fn execute(args: RunArgs) -> anyhow::Result<()> {
    let RunArgs {
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
    } = args;
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
            let summary = run::run(&mut reader, Some((feed.events as f64 * 0.66) as u64), &opts)?; // ~0.66 records per event
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
    Ok(())
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
