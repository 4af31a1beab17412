//! The loader handler with fakes of the Data API and SNS.

use aws_lambda_events::event::s3::S3Event;
use pushfeed_core::keys::{encode_event_key, KeyPatterns};
use pushfeed_core::metrics as m;
use pushfeed_loader::config::Target;
use pushfeed_loader::dataapi::{Statement, Status, SubStatement};
use pushfeed_loader::{
    into_result, Config, DataApi, Loader, Notifier, ObjectResult, RedshiftWarehouse,
};
use serde_json::json;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// How the fake warehouse answers a load.
#[derive(Clone, Debug)]
enum Script {
    /// Finish after `polls` pending answers, inserting `rows`.
    Finish {
        polls: usize,
        rows: i64,
    },
    Fail {
        error: &'static str,
    },
    Abort,
    /// Never leave STARTED.
    Hang,
}

#[derive(Default)]
struct FakeDataApi {
    script: Mutex<VecDeque<Script>>,
    batches: Mutex<Vec<Vec<String>>>,
    executes: Mutex<Vec<String>>,
    /// Statement id → (remaining pending polls, final statement).
    statements: Mutex<Vec<(String, usize, Statement)>>,
    /// Objects in the fake ledger (the ledger INSERT inserts 0 rows for them).
    ledger: Mutex<HashSet<String>>,
    describes: Mutex<usize>,
}

impl FakeDataApi {
    fn with(script: &[Script]) -> Self {
        let f = FakeDataApi::default();
        f.script.lock().unwrap().extend(script.iter().cloned());
        f
    }
}

fn finished(subs: Vec<SubStatement>) -> Statement {
    Statement {
        status: Status::Finished,
        error: None,
        sub_statements: subs,
    }
}

impl DataApi for FakeDataApi {
    async fn batch_execute(&self, sqls: Vec<String>) -> Result<String, String> {
        let mut batches = self.batches.lock().unwrap();
        let id = format!("stmt-{}", batches.len() + 1);
        let ledger_sql = sqls
            .iter()
            .find(|s| s.contains("INSERT INTO pushfeed.pushfeed_load_ledger"))
            .cloned()
            .unwrap_or_default();
        let new_object = self.ledger.lock().unwrap().insert(
            ledger_sql
                .split("WHERE")
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
        let n = sqls.len();
        batches.push(sqls);
        let step = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Script::Finish { polls: 0, rows: 0 });
        let (polls, st) = match step {
            Script::Finish { polls, rows } => {
                let mut subs = vec![SubStatement::default(); n];
                let ledger_rows = if new_object { 1 } else { 0 };
                if n == 1 {
                    subs[0].result_rows = ledger_rows;
                } else {
                    subs[1].result_rows = rows;
                    subs[2].result_rows = if new_object { rows } else { 0 };
                    subs[3].result_rows = ledger_rows;
                }
                (polls, finished(subs))
            }
            Script::Fail { error } => {
                let mut subs = vec![SubStatement::default(); n];
                subs[1] = SubStatement {
                    result_rows: 0,
                    query_id: 4242,
                    error: Some(error.into()),
                };
                (
                    1,
                    Statement {
                        status: Status::Failed,
                        error: Some(error.into()),
                        sub_statements: subs,
                    },
                )
            }
            Script::Abort => (
                0,
                Statement {
                    status: Status::Aborted,
                    error: None,
                    sub_statements: vec![],
                },
            ),
            Script::Hang => (usize::MAX, finished(vec![])),
        };
        self.statements
            .lock()
            .unwrap()
            .push((id.clone(), polls, st));
        Ok(id)
    }

    async fn execute(&self, sql: String) -> Result<String, String> {
        let id = format!("detail-{}", self.executes.lock().unwrap().len() + 1);
        self.executes.lock().unwrap().push(sql);
        self.statements
            .lock()
            .unwrap()
            .push((id.clone(), 0, finished(vec![])));
        Ok(id)
    }

    async fn describe(&self, id: &str) -> Result<Statement, String> {
        *self.describes.lock().unwrap() += 1;
        let mut sts = self.statements.lock().unwrap();
        let entry = sts
            .iter_mut()
            .find(|(i, _, _)| i == id)
            .ok_or("no such statement")?;
        if entry.1 > 0 {
            entry.1 = entry.1.saturating_sub(1);
            return Ok(Statement {
                status: Status::Pending("STARTED".into()),
                error: None,
                sub_statements: vec![],
            });
        }
        Ok(entry.2.clone())
    }

    async fn result(&self, _id: &str) -> Result<Vec<Vec<String>>, String> {
        Ok(vec![vec![
            "s3://pushfeed-dev-data/push/send/x".into(),
            "3".into(),
            "occurred_at".into(),
            "1206".into(),
            "Invalid timestamp format or value".into(),
        ]])
    }
}

#[derive(Default)]
struct FakeSns {
    sent: Mutex<Vec<(String, String)>>,
}

impl Notifier for FakeSns {
    async fn notify(&self, subject: &str, message: &str) -> Result<(), String> {
        self.sent
            .lock()
            .unwrap()
            .push((subject.to_owned(), message.to_owned()));
        Ok(())
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
    }
}

/// An S3 ObjectCreated event as S3 sends it (keys URL-encoded).
fn s3_event(objects: &[(&str, i64)]) -> S3Event {
    let records: Vec<_> = objects
        .iter()
        .map(|(key, size)| {
            json!({
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-2",
                "eventTime": "2026-01-01T13:05:10.000Z", "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "pushfeed-loader",
                       "bucket": {"name": "pushfeed-dev-data", "ownerIdentity": {"principalId": "A"}, "arn": "arn:aws:s3:::pushfeed-dev-data"},
                       "object": {"key": encode_event_key(key), "size": size, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0055AED6DCD90281E5"}}
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

const KEY: &str = "push/send/2026/01/01/13/pushfeed-dev-send-1-2026-01-01-13-05-00-abc.gz";
const NOW_MS: i64 = 1_767_272_712_000; // 2026-01-01T13:05:12Z

async fn run(
    api: &FakeDataApi,
    sns: &FakeSns,
    event: &S3Event,
    deadline: Option<tokio::time::Instant>,
) -> pushfeed_loader::LoaderReport {
    let warehouse = RedshiftWarehouse::new(api, config());
    let patterns = KeyPatterns::from_catalogue();
    let loader = Loader {
        warehouse: &warehouse,
        notifier: sns,
        patterns: &patterns,
    };
    loader.handle(event, NOW_MS, deadline).await
}

// `&FakeDataApi` must be a DataApi too.
impl DataApi for &FakeDataApi {
    async fn batch_execute(&self, sqls: Vec<String>) -> Result<String, String> {
        (*self).batch_execute(sqls).await
    }
    async fn execute(&self, sql: String) -> Result<String, String> {
        (*self).execute(sql).await
    }
    async fn describe(&self, id: &str) -> Result<Statement, String> {
        (*self).describe(id).await
    }
    async fn result(&self, id: &str) -> Result<Vec<Vec<String>>, String> {
        (*self).result(id).await
    }
}

#[tokio::test(start_paused = true)]
async fn finished_load_runs_exactly_the_core_transaction() {
    let api = FakeDataApi::with(&[Script::Finish {
        polls: 3,
        rows: 120,
    }]);
    let sns = FakeSns::default();
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
    let expected = pushfeed_core::sql::load_statements(&pushfeed_core::sql::LoadSpec {
        schema: "pushfeed",
        destination: pushfeed_core::destination("send").unwrap(),
        object: &pushfeed_core::sql::ObjectRef {
            bucket: "pushfeed-dev-data".into(),
            key: KEY.into(),
            etag: "0123456789abcdef0123456789abcdef".into(),
            size: 2048,
        },
        iam_role: "arn:aws:iam::123456789012:role/pushfeed-dev-copy",
        gzip: true,
        region: None,
    })
    .unwrap();
    assert_eq!(api.batches.lock().unwrap().clone(), vec![expected]);
    assert_eq!(*api.describes.lock().unwrap(), 4, "polled until FINISHED");
    assert_eq!(report.metrics.get(m::OBJECTS_LOADED), 1.0);
    assert_eq!(report.metrics.get(m::ROWS_LOADED), 120.0);
    assert_eq!(report.metrics.get_by(m::ROWS_LOADED, "send"), 120.0);
    assert_eq!(report.metrics.get(m::LOAD_LATENCY_MS), 2_000.0);
    assert!(sns.sent.lock().unwrap().is_empty());
    assert!(into_result(&report).is_ok());
}

#[tokio::test(start_paused = true)]
async fn failed_load_alerts_with_the_error_detail_and_returns_an_error() {
    let api = FakeDataApi::with(&[Script::Fail {
        error: "ERROR: Load into table 'pushfeed_stage' failed. Check 'sys_load_error_detail'",
    }]);
    let sns = FakeSns::default();
    let report = run(&api, &sns, &s3_event(&[(KEY, 2048)]), None).await;
    assert_eq!(report.metrics.get(m::LOAD_FAILURES), 1.0);
    let sent = sns.sent.lock().unwrap().clone();
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
    let sns = FakeSns::default();
    let report = run(&api, &sns, &s3_event(&[(KEY, 10)]), None).await;
    assert!(
        matches!(&report.objects[0], ObjectResult::Failed { error, .. } if error.contains("ABORTED"))
    );
    assert_eq!(sns.sent.lock().unwrap().len(), 1);
    assert!(into_result(&report).is_err());
}

#[tokio::test(start_paused = true)]
async fn polling_stops_before_the_invocation_times_out() {
    let api = FakeDataApi::with(&[Script::Hang]);
    let sns = FakeSns::default();
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
    assert!(sns.sent.lock().unwrap()[0]
        .1
        .contains("statement id: stmt-1"));
}

#[tokio::test(start_paused = true)]
async fn the_same_object_twice_loads_once() {
    let api = FakeDataApi::with(&[
        Script::Finish { polls: 0, rows: 7 },
        Script::Finish { polls: 0, rows: 7 },
        Script::Finish { polls: 0, rows: 7 },
    ]);
    let sns = FakeSns::default();
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
    let sns = FakeSns::default();
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
    let sent = sns.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].1.contains("key: exports/2026/x.csv"));
    assert_eq!(api.batches.lock().unwrap().len(), 1);
    assert!(
        into_result(&report).is_ok(),
        "retrying cannot fix an unmatched key"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_object_only_writes_the_ledger() {
    let api = FakeDataApi::default();
    let sns = FakeSns::default();
    let report = run(&api, &sns, &s3_event(&[(KEY, 0)]), None).await;
    assert!(matches!(report.objects[0], ObjectResult::Empty { .. }));
    let batches = api.batches.lock().unwrap().clone();
    assert_eq!(batches[0].len(), 1);
    assert!(
        batches[0][0].starts_with("INSERT INTO pushfeed.pushfeed_load_ledger")
            && !batches[0][0].contains("COPY")
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
    let sns = FakeSns::default();
    let objects: Vec<(&str, i64)> = keys.iter().map(|k| (*k, 9)).collect();
    let report = run(&api, &sns, &s3_event(&objects), None).await;
    for (obj, key) in report.objects.iter().zip(keys) {
        assert!(
            matches!(obj, ObjectResult::Loaded { key: k, table, .. } if k == key && table == "push_open"),
            "{obj:?}"
        );
    }
    let batches = api.batches.lock().unwrap().clone();
    assert!(batches[0][1]
        .contains("'s3://pushfeed-dev-data/push/open/2026/01/01/13/file with spaces.gz'"));
    assert!(
        batches[1][1].contains("a+b=c.gz'"),
        "a literal + in a key arrives as %2B and stays a +"
    );
    assert!(batches[2][1].contains("it''s-o''clock.gz'"));
    assert!(batches[3][1].contains("caf\u{e9}-\u{1f600}.gz'"));
    // An encoded slash decodes into the key itself.
    assert_eq!(
        pushfeed_core::decode_event_key("push%2Fopen%2F2026").unwrap(),
        "push/open/2026"
    );
}
