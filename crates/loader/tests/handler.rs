//! The loader handler with fakes of the Data API and SNS.

use aws_lambda_events::event::s3::S3Event;
use pushfeed_core::keys::KeyPatterns;
use pushfeed_core::metrics as m;
use pushfeed_loader::config::Target;
use pushfeed_loader::sample::Created;
use pushfeed_loader::warehouse::dataapi::{Statement, Status, SubStatement};
use pushfeed_loader::{
    into_result, CallError, Config, DataApi, Loader, MemoryNotifier, MemoryObjects, ObjectResult,
    RedshiftWarehouse,
};
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// How the fake warehouse answers a load.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// Finish after `polls` pending answers; the object holds `rows` new events.
    Finish {
        polls: usize,
        rows: i64,
    },
    Fail {
        error: &'static str,
    },
    /// Lose a concurrency conflict (Redshift error 1023).
    Conflict,
    Abort,
    /// Stay STARTED until cancelled; then ABORTED, nothing committed.
    Hang,
}

/// One submitted batch: its SQL, what it will do, whether it ended.
struct Submitted {
    id: String,
    sqls: Vec<String>,
    pending_polls: usize,
    script: Script,
    cancelled: bool,
    /// Set when the statement ends (the commit happens then, as in Redshift).
    outcome: Option<Statement>,
}

/// A Data API that models what the loader relies on: a batch is one transaction that
/// commits when it finishes, the ledger row decides whether rows are inserted, and a
/// cancelled statement commits nothing.
#[derive(Default)]
struct FakeDataApi {
    script: Mutex<VecDeque<Script>>,
    submitted: Mutex<Vec<Submitted>>,
    executes: Mutex<Vec<String>>,
    cancels: Mutex<Vec<String>>,
    /// The statement commits before the cancel reaches it (CancelStatement lost the race).
    cancel_too_late: Mutex<bool>,
    /// Committed ledger: the literal `bucket/key/etag` match of each loaded object.
    ledger: Mutex<HashSet<String>>,
    describes: Mutex<usize>,
}

impl FakeDataApi {
    fn with(script: &[Script]) -> Self {
        let f = FakeDataApi::default();
        f.script.lock().unwrap().extend(script.iter().cloned());
        f
    }
    fn batches(&self) -> Vec<Vec<String>> {
        self.submitted
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.sqls.clone())
            .collect()
    }
    fn rows_committed(&self) -> i64 {
        self.submitted
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| {
                let insert = s
                    .sqls
                    .iter()
                    .position(|q| q.starts_with("INSERT INTO pushfeed.push_"))?;
                let st = s.outcome.as_ref()?;
                if st.status != Status::Finished {
                    return None;
                }
                st.sub_statements.get(insert).map(|x| x.result_rows)
            })
            .sum()
    }
}

fn finished(subs: Vec<SubStatement>) -> Statement {
    Statement {
        status: Status::Finished,
        error: None,
        sub_statements: subs,
    }
}

fn ledger_key(sqls: &[String]) -> String {
    sqls.iter()
        .find(|s| s.starts_with("INSERT INTO pushfeed.pushfeed_load_ledger"))
        .and_then(|s| s.split("WHERE NOT EXISTS").nth(1))
        .unwrap_or_default()
        .to_owned()
}

impl FakeDataApi {
    /// End a statement: commit (or not) and build its answer.
    fn end(&self, sub: &mut Submitted) -> Statement {
        let n = sub.sqls.len();
        let pos = |prefix: &str| sub.sqls.iter().position(|s| s.starts_with(prefix));
        let st = match (&sub.script, sub.cancelled) {
            (Script::Hang, _) | (_, true) => Statement {
                status: Status::Aborted,
                error: None,
                sub_statements: vec![],
            },
            (Script::Finish { rows, .. }, false) => {
                let new_object = self.ledger.lock().unwrap().insert(ledger_key(&sub.sqls));
                let mut subs = vec![SubStatement::default(); n];
                if let Some(i) = pos("COPY ") {
                    subs[i].result_rows = *rows;
                }
                if let Some(i) = pos("INSERT INTO pushfeed.push_") {
                    subs[i].result_rows = if new_object { *rows } else { 0 };
                }
                if let Some(i) = pos("INSERT INTO pushfeed.pushfeed_load_ledger") {
                    subs[i].result_rows = if new_object { 1 } else { 0 };
                }
                finished(subs)
            }
            (Script::Fail { error }, false) => {
                let mut subs = vec![SubStatement::default(); n];
                let i = pos("COPY ").unwrap_or(0);
                subs[i] = SubStatement {
                    result_rows: 0,
                    query_id: 4242,
                    error: Some((*error).into()),
                };
                Statement {
                    status: Status::Failed,
                    error: Some((*error).into()),
                    sub_statements: subs,
                }
            }
            (Script::Conflict, false) => Statement {
                status: Status::Failed,
                error: Some("ERROR: 1023 DETAIL: Serializable isolation violation on table - 123, transactions forming the cycle are: 1, 2".into()),
                sub_statements: vec![SubStatement::default(); n],
            },
            (Script::Abort, false) => Statement {
                status: Status::Aborted,
                error: None,
                sub_statements: vec![],
            },
        };
        sub.outcome = Some(st.clone());
        st
    }
}

impl DataApi for FakeDataApi {
    async fn batch_execute(&self, sqls: Vec<String>) -> Result<String, CallError> {
        let mut subs = self.submitted.lock().unwrap();
        let id = format!("stmt-{}", subs.len() + 1);
        let script = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Script::Finish { polls: 0, rows: 0 });
        let pending_polls = match &script {
            Script::Finish { polls, .. } => *polls,
            Script::Fail { .. } => 1,
            Script::Hang => usize::MAX,
            _ => 0,
        };
        subs.push(Submitted {
            id: id.clone(),
            sqls,
            pending_polls,
            script,
            cancelled: false,
            outcome: None,
        });
        Ok(id)
    }

    async fn execute(&self, sql: String) -> Result<String, CallError> {
        let id = format!("detail-{}", self.executes.lock().unwrap().len() + 1);
        self.executes.lock().unwrap().push(sql);
        self.submitted.lock().unwrap().push(Submitted {
            id: id.clone(),
            sqls: vec![],
            pending_polls: 0,
            script: Script::Abort,
            cancelled: false,
            outcome: Some(finished(vec![])),
        });
        Ok(id)
    }

    async fn describe(&self, id: &str) -> Result<Statement, CallError> {
        *self.describes.lock().unwrap() += 1;
        let mut subs = self.submitted.lock().unwrap();
        let sub = subs
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or("no such statement")?;
        if let Some(st) = &sub.outcome {
            return Ok(st.clone());
        }
        if sub.pending_polls > 0 && !sub.cancelled {
            sub.pending_polls = sub.pending_polls.saturating_sub(1);
            return Ok(Statement {
                status: Status::Pending("STARTED".into()),
                error: None,
                sub_statements: vec![],
            });
        }
        Ok(self.end(sub))
    }

    async fn cancel(&self, id: &str) -> Result<(), CallError> {
        self.cancels.lock().unwrap().push(id.to_owned());
        let mut subs = self.submitted.lock().unwrap();
        if let Some(sub) = subs.iter_mut().find(|s| s.id == id) {
            if *self.cancel_too_late.lock().unwrap() {
                sub.pending_polls = 0;
            } else if sub.outcome.is_none() {
                sub.cancelled = true;
            }
        }
        Ok(())
    }

    async fn result(&self, _id: &str) -> Result<Vec<Vec<String>>, CallError> {
        Ok(vec![vec![
            "s3://pushfeed-dev-data/push/send/x".into(),
            "3".into(),
            "occurred_at".into(),
            "1206".into(),
            "Invalid timestamp format or value".into(),
        ]])
    }
}

fn config() -> Config {
    Config {
        target: Target::Serverless {
            workgroup: "pushfeed".into(),
            secret_arn: None,
        },
        database: "analytics".into(),
        schema: "pushfeed".into(),
        copy_role: "arn:aws:iam::123456789012:role/pushfeed-dev-copy".into(),
        bucket_region: None,
        alert_topic_arn: "arn:aws:sns:eu-west-2:123456789012:alerts".into(),
        metrics_namespace: "pushfeed/test".into(),
        safety_margin: Duration::from_secs(5),
        first_poll: Duration::from_millis(250),
        max_poll: Duration::from_secs(5),
        min_load_time: Duration::from_secs(20),
        conflict_retries: 4,
        attempt_timeout: Duration::from_secs(10),
    }
}

/// An S3 ObjectCreated event as S3 sends it (the fixture envelope, keys URL-encoded).
fn s3_event(objects: &[(&str, i64)]) -> S3Event {
    let created: Vec<Created<'_>> = objects
        .iter()
        .map(|(key, size)| Created {
            key,
            size: *size as u64,
            etag: "0123456789abcdef0123456789abcdef",
        })
        .collect();
    pushfeed_loader::sample::s3_event("pushfeed-dev-data", &created, 1_767_272_710_000).unwrap()
}

const KEY: &str = "push/send/2026/01/01/13/pushfeed-dev-send-1-2026-01-01-13-05-00-abc.gz";
const NOW_MS: i64 = 1_767_272_712_000; // 2026-01-01T13:05:12Z

async fn run(
    api: &FakeDataApi,
    sns: &MemoryNotifier,
    event: &S3Event,
    deadline: Option<tokio::time::Instant>,
) -> pushfeed_loader::LoaderReport {
    run_with(api, &MemoryObjects::new(), sns, event, deadline).await
}

async fn run_with(
    api: &FakeDataApi,
    s3: &MemoryObjects,
    sns: &MemoryNotifier,
    event: &S3Event,
    deadline: Option<tokio::time::Instant>,
) -> pushfeed_loader::LoaderReport {
    let warehouse = RedshiftWarehouse::new(api, s3, config());
    let patterns = KeyPatterns::from_catalogue();
    let loader = Loader {
        warehouse: &warehouse,
        notifier: sns,
        patterns: &patterns,
        objects: s3,
    };
    loader.handle(event, NOW_MS, deadline).await
}

// `&FakeDataApi` must be a DataApi too.
impl DataApi for &FakeDataApi {
    async fn batch_execute(&self, sqls: Vec<String>) -> Result<String, CallError> {
        (*self).batch_execute(sqls).await
    }
    async fn execute(&self, sql: String) -> Result<String, CallError> {
        (*self).execute(sql).await
    }
    async fn describe(&self, id: &str) -> Result<Statement, CallError> {
        (*self).describe(id).await
    }
    async fn cancel(&self, id: &str) -> Result<(), CallError> {
        (*self).cancel(id).await
    }
    async fn result(&self, id: &str) -> Result<Vec<Vec<String>>, CallError> {
        (*self).result(id).await
    }
}

#[tokio::test(start_paused = true)]
async fn finished_load_runs_exactly_the_core_transaction() {
    let api = FakeDataApi::with(&[Script::Finish {
        polls: 3,
        rows: 120,
    }]);
    let sns = MemoryNotifier::new();
    let report = run(&api, &sns, &s3_event(&[(KEY, 2048)]), None).await;
    assert_eq!(
        report.objects,
        vec![ObjectResult::Loaded {
            key: KEY.into(),
            table: "push_send".into(),
            rows: 120,
            rows_in_object: Some(120),
        }]
    );
    let object = pushfeed_core::load::ObjectRef {
        bucket: "pushfeed-dev-data".into(),
        key: KEY.into(),
        etag: "0123456789abcdef0123456789abcdef".into(),
        size: 2048,
    };
    let expected = pushfeed_core::load::load_script(
        pushfeed_core::sql::Dialect::Redshift,
        &pushfeed_core::load::LoadSpec {
            schema: "pushfeed",
            table: &pushfeed_core::schema::TableDef::from_destination(
                pushfeed_core::destination("send").unwrap(),
            ),
            object: &object,
            copy: pushfeed_core::load::CopyFrom {
                iam_role: "arn:aws:iam::123456789012:role/pushfeed-dev-copy",
                gzip: true,
                region: None,
                manifest_bucket: "pushfeed-dev-data",
            },
        },
    )
    .unwrap()
    .sqls();
    assert_eq!(api.batches(), vec![expected]);
    assert_eq!(*api.describes.lock().unwrap(), 4, "polled until FINISHED");
    assert_eq!(report.metrics.get(m::OBJECTS_LOADED), 1.0);
    assert_eq!(report.metrics.get(m::ROWS_LOADED), 120.0);
    assert_eq!(report.metrics.get_by(m::ROWS_LOADED, "send"), 120.0);
    assert_eq!(report.metrics.get(m::LOAD_LATENCY_MS), 2_000.0);
    assert!(sns.alerts().is_empty());
    assert!(into_result(&report).is_ok());
}

#[tokio::test(start_paused = true)]
async fn failed_load_alerts_with_the_error_detail_and_returns_an_error() {
    let api = FakeDataApi::with(&[Script::Fail {
        error: "ERROR: Load into table 'pushfeed_stage' failed. Check 'sys_load_error_detail'",
    }]);
    let sns = MemoryNotifier::new();
    let report = run(&api, &sns, &s3_event(&[(KEY, 2048)]), None).await;
    assert_eq!(report.metrics.get(m::LOAD_FAILURES), 1.0);
    let sent = sns.alerts();
    assert_eq!(sent.len(), 1);
    let (subject, message) = &sent[0];
    assert_eq!(subject, "pushfeed load failed: push_send");
    for needle in [
        "bucket: pushfeed-dev-data",
        &format!("key: {KEY}"),
        "table: push_send",
        "statement id: stmt-1",
        "Load into table",
        "Invalid timestamp format or value",
    ] {
        assert!(
            message.contains(needle),
            "{needle} missing from:\n{message}"
        );
    }
    assert!(api.executes.lock().unwrap()[0].contains("sys_load_error_detail WHERE query_id = 4242"));
    let err = into_result(&report).unwrap_err();
    assert_eq!((err.failed, err.total), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn aborted_load_is_a_failure() {
    let api = FakeDataApi::with(&[Script::Abort]);
    let sns = MemoryNotifier::new();
    let report = run(&api, &sns, &s3_event(&[(KEY, 10)]), None).await;
    assert!(
        matches!(&report.objects[0], ObjectResult::Failed { error, .. } if error.contains("ABORTED"))
    );
    assert_eq!(sns.alerts().len(), 1);
    assert!(into_result(&report).is_err());
}

#[tokio::test(start_paused = true)]
async fn polling_stops_before_the_invocation_times_out() {
    let api = FakeDataApi::with(&[Script::Hang]);
    let sns = MemoryNotifier::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let report = run(&api, &sns, &s3_event(&[(KEY, 10)]), Some(deadline)).await;
    assert!(
        matches!(&report.objects[0], ObjectResult::Failed { error, .. } if error.contains("did not finish") && error.contains("STARTED"))
    );
    assert!(tokio::time::Instant::now() + config().safety_margin <= deadline);
    assert!(
        *api.describes.lock().unwrap() > 5,
        "polled with backoff meanwhile"
    );
    assert!(sns.alerts()[0].1.contains("statement id: stmt-1"));
}

#[tokio::test(start_paused = true)]
async fn the_same_object_twice_loads_once() {
    let api = FakeDataApi::with(&[
        Script::Finish { polls: 0, rows: 7 },
        Script::Finish { polls: 0, rows: 7 },
        Script::Finish { polls: 0, rows: 7 },
    ]);
    let sns = MemoryNotifier::new();
    let report = run(&api, &sns, &s3_event(&[(KEY, 100), (KEY, 100)]), None).await;
    assert!(matches!(
        report.objects[0],
        ObjectResult::Loaded { rows: 7, .. }
    ));
    assert!(matches!(report.objects[1], ObjectResult::Duplicate { .. }));
    let again = run(&api, &sns, &s3_event(&[(KEY, 100)]), None).await;
    assert!(
        matches!(again.objects[0], ObjectResult::Duplicate { .. }),
        "a redelivered event loads nothing"
    );
    assert_eq!(
        report.metrics.get(m::DUPLICATE_OBJECTS) + again.metrics.get(m::DUPLICATE_OBJECTS),
        2.0
    );
    assert_eq!(report.metrics.get(m::ROWS_LOADED), 7.0);
    assert!(into_result(&again).is_ok());
}

#[tokio::test(start_paused = true)]
async fn an_unmatched_key_is_counted_alerted_and_does_not_block_the_others() {
    let api = FakeDataApi::default();
    let sns = MemoryNotifier::new();
    let report = run(
        &api,
        &sns,
        &s3_event(&[("exports/2026/x.csv", 5), (KEY, 5), ("push/send/%zz", 5)]),
        None,
    )
    .await;
    assert!(
        matches!(&report.objects[0], ObjectResult::Unmatched { key, .. } if key == "exports/2026/x.csv")
    );
    assert!(matches!(report.objects[1], ObjectResult::Loaded { .. }));
    assert!(matches!(&report.objects[2], ObjectResult::Unmatched { .. }));
    assert_eq!(report.metrics.get(m::UNMATCHED_KEYS), 2.0);
    let sent = sns.alerts();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].1.contains("key: exports/2026/x.csv"));
    assert_eq!(api.batches().len(), 1);
    assert!(
        into_result(&report).is_ok(),
        "retrying cannot fix an unmatched key"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_object_only_writes_the_ledger() {
    let api = FakeDataApi::default();
    let sns = MemoryNotifier::new();
    let report = run(&api, &sns, &s3_event(&[(KEY, 0)]), None).await;
    assert!(matches!(report.objects[0], ObjectResult::Empty { .. }));
    let batches = api.batches();
    assert_eq!(batches[0].len(), 2, "LOCK, then the ledger row");
    assert_eq!(batches[0][0], "LOCK pushfeed.pushfeed_load_ledger");
    assert!(
        batches[0][1].starts_with("INSERT INTO pushfeed.pushfeed_load_ledger")
            && !batches[0].iter().any(|s| s.contains("COPY"))
    );
    assert_eq!(report.metrics.get(m::EMPTY_OBJECTS), 1.0);
}

#[tokio::test(start_paused = true)]
async fn awkward_keys_are_decoded_matched_and_quoted_safely() {
    let keys = [
        "push/open/2026/01/01/13/file with spaces.gz",
        "push/open/2026/01/01/13/a+b=c.gz",
        "push/open/2026/01/01/13/it's-o'clock.gz",
        "push/open/2026/01/01/13/caf\u{e9}-\u{1f600}.gz",
    ];
    let api = FakeDataApi::default();
    let s3 = MemoryObjects::new();
    let sns = MemoryNotifier::new();
    let objects: Vec<(&str, i64)> = keys.iter().map(|k| (*k, 9)).collect();
    let report = run_with(&api, &s3, &sns, &s3_event(&objects), None).await;
    for (obj, key) in report.objects.iter().zip(keys) {
        assert!(
            matches!(obj, ObjectResult::Loaded { key: k, table, .. } if k == key && table == "push_open"),
            "{obj:?}"
        );
    }
    // COPY reads the manifest; the manifest names the object; the ledger quotes the key.
    let batches = api.batches();
    let puts = s3.puts();
    let url = |i: usize| -> String {
        let body: serde_json::Value = serde_json::from_slice(&puts[i].2).unwrap();
        body["entries"][0]["url"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        url(0),
        "s3://pushfeed-dev-data/push/open/2026/01/01/13/file with spaces.gz"
    );
    assert!(
        url(1).ends_with("a+b=c.gz"),
        "a literal + in a key arrives as %2B and stays a +"
    );
    assert!(
        batches[2][6].contains("it''s-o''clock.gz'"),
        "the ledger row quotes the key"
    );
    assert!(url(3).ends_with("caf\u{e9}-\u{1f600}.gz"));
    for (b, (bucket, key, _)) in batches.iter().zip(&puts) {
        assert!(
            b[2].contains(&format!("FROM 's3://{bucket}/{key}'")) && b[2].contains(" MANIFEST ")
        );
    }
    // An encoded slash decodes into the key itself.
    assert_eq!(
        pushfeed_core::decode_event_key("push%2Fopen%2F2026").unwrap(),
        "push/open/2026"
    );
}

#[tokio::test(start_paused = true)]
async fn a_load_still_running_at_the_deadline_is_cancelled_and_the_retry_loads_it_once() {
    let api = FakeDataApi::with(&[Script::Hang, Script::Finish { polls: 2, rows: 40 }]);
    let sns = MemoryNotifier::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let first = run(&api, &sns, &s3_event(&[(KEY, 2048)]), Some(deadline)).await;
    assert!(
        matches!(&first.objects[0], ObjectResult::Failed { error, .. } if error.contains("did not finish") && error.contains("cancelled: nothing was committed")),
        "{:?}",
        first.objects
    );
    assert_eq!(*api.cancels.lock().unwrap(), vec!["stmt-1".to_owned()]);
    assert!(
        tokio::time::Instant::now() <= deadline,
        "returned before the deadline"
    );
    assert!(into_result(&first).is_err(), "Lambda retries the event");
    // The retry (a new invocation) loads it; a third delivery finds it in the ledger.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let retry = run(&api, &sns, &s3_event(&[(KEY, 2048)]), Some(deadline)).await;
    assert!(matches!(
        retry.objects[0],
        ObjectResult::Loaded { rows: 40, .. }
    ));
    let again = run(&api, &sns, &s3_event(&[(KEY, 2048)]), None).await;
    assert!(matches!(again.objects[0], ObjectResult::Duplicate { .. }));
    assert_eq!(
        api.rows_committed(),
        40,
        "the cancelled attempt committed nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_load_that_finishes_while_being_cancelled_counts_as_loaded() {
    // Finishes on the first poll after the cancel request (cancel lost the race).
    let api = FakeDataApi::with(&[Script::Finish {
        polls: 1_000,
        rows: 5,
    }]);
    let sns = MemoryNotifier::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(26);
    *api.cancel_too_late.lock().unwrap() = true;
    let report = run(&api, &sns, &s3_event(&[(KEY, 10)]), Some(deadline)).await;
    assert_eq!(api.cancels.lock().unwrap().len(), 1);
    assert!(
        matches!(report.objects[0], ObjectResult::Loaded { rows: 5, .. }),
        "{:?}",
        report.objects
    );
}

#[tokio::test(start_paused = true)]
async fn a_load_is_not_started_without_time_to_finish_it() {
    let api = FakeDataApi::default();
    let sns = MemoryNotifier::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let report = run(&api, &sns, &s3_event(&[(KEY, 10)]), Some(deadline)).await;
    assert!(
        matches!(&report.objects[0], ObjectResult::Failed { error, .. } if error.contains("not started"))
    );
    assert!(api.batches().is_empty(), "nothing submitted");
    assert_eq!(report.metrics.get(m::LOADS_DEFERRED), 1.0);
    assert_eq!(report.metrics.get(m::LOAD_FAILURES), 0.0);
    assert!(sns.alerts().is_empty(), "a deferral is not an alert");
    assert!(into_result(&report).is_err(), "but Lambda must retry it");
}

#[tokio::test(start_paused = true)]
async fn a_concurrency_conflict_is_resubmitted_not_alarmed() {
    let api = FakeDataApi::with(&[
        Script::Conflict,
        Script::Conflict,
        Script::Finish { polls: 1, rows: 9 },
    ]);
    let sns = MemoryNotifier::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let report = run(&api, &sns, &s3_event(&[(KEY, 10)]), Some(deadline)).await;
    assert!(matches!(
        report.objects[0],
        ObjectResult::Loaded { rows: 9, .. }
    ));
    assert_eq!(api.batches().len(), 3);
    assert_eq!(report.metrics.get(m::LOAD_FAILURES), 0.0);
    assert!(sns.alerts().is_empty());
    // Endless conflicts end as a failure that names the cause.
    let api = FakeDataApi::with(&[Script::Conflict; 6]);
    let report = run(&api, &sns, &s3_event(&[(KEY, 10)]), Some(deadline)).await;
    assert!(
        matches!(&report.objects[0], ObjectResult::Failed { error, .. } if error.contains("conflict 5 times") && error.contains("1023")),
        "{:?}",
        report.objects
    );
}

#[tokio::test(start_paused = true)]
async fn an_event_without_size_or_etag_asks_s3_and_loads_the_rows() {
    let api = FakeDataApi::with(&[Script::Finish { polls: 0, rows: 12 }]);
    let s3 = MemoryObjects::new();
    s3.insert_with_etag(
        "pushfeed-dev-data",
        KEY,
        vec![b'x'; 4096],
        "\"feedfacefeedfacefeedfacefeedface\"",
    );
    let sns = MemoryNotifier::new();
    let mut event = serde_json::to_value(s3_event(&[(KEY, 0)])).unwrap();
    let obj = event["Records"][0]["s3"]["object"].as_object_mut().unwrap();
    obj.remove("size");
    obj.remove("eTag");
    let event: S3Event = serde_json::from_value(event).unwrap();
    let report = run_with(&api, &s3, &sns, &event, None).await;
    assert_eq!(s3.heads(), vec![KEY.to_owned()]);
    assert!(
        matches!(report.objects[0], ObjectResult::Loaded { rows: 12, .. }),
        "not taken for an empty object: {:?}",
        report.objects
    );
    let batch = &api.batches()[0];
    assert!(batch.iter().any(|s| s.contains("COPY ")));
    assert!(
        batch[6].contains("'feedfacefeedfacefeedfacefeedface'"),
        "the ledger keys the object by the ETag S3 reported, unquoted"
    );
    // An object S3 cannot find fails loudly (and is retried), never an empty ledger row.
    let mut event =
        serde_json::to_value(s3_event(&[("push/send/2026/01/01/13/missing.gz", 0)])).unwrap();
    event["Records"][0]["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("size");
    let event: S3Event = serde_json::from_value(event).unwrap();
    let report = run_with(&api, &s3, &sns, &event, None).await;
    assert!(
        matches!(&report.objects[0], ObjectResult::Failed { error, .. } if error.contains("HeadObject")),
        "{:?}",
        report.objects
    );
    assert_eq!(api.batches().len(), 1);
}
