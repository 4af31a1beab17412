//! Redshift through the Data API: the core's load script (`pushfeed_core::load`) as one
//! BatchExecuteStatement, DescribeStatement polled with backoff, CancelStatement when the
//! invocation must return, and a resubmit when the load loses a concurrency conflict.

use super::dataapi::{DataApi, Statement, Status};
use super::{LoadError, LoadOutcome, LoadPlan, Warehouse};
use crate::config::Config;
use crate::error::CallError;
use crate::store::ObjectStore;
use pushfeed_core::load::{self, Step};
use pushfeed_core::schema::TableDef;
use pushfeed_core::sql::Dialect;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Redshift as a [`Warehouse`], through any [`DataApi`] and [`ObjectStore`] (for the
/// COPY manifest).
#[derive(Debug, Clone)]
pub struct RedshiftWarehouse<D, S> {
    pub api: D,
    pub store: S,
    pub config: Config,
}

/// Redshift's text for a transaction that lost a concurrency conflict: a serializable
/// isolation violation (error 1023) or a lock it could not get. Retried, not alarmed.
pub fn is_conflict(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("1023")
        || e.contains("serializable isolation violation")
        || e.contains("could not obtain lock")
        || e.contains("lock timeout")
        || e.contains("deadlock detected")
}

impl<D: DataApi, S: ObjectStore> RedshiftWarehouse<D, S> {
    pub fn new(api: D, store: S, config: Config) -> Self {
        RedshiftWarehouse { api, store, config }
    }

    /// One AWS call, given the attempt timeout or what is left of the invocation if less.
    async fn timed<T>(
        &self,
        what: &str,
        deadline: Option<Instant>,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let budget = deadline.map_or(self.config.attempt_timeout, |d| {
            self.config
                .attempt_timeout
                .min(d.saturating_duration_since(Instant::now()))
        });
        tokio::time::timeout(budget, call)
            .await
            .unwrap_or_else(|_| {
                Err(CallError::new(
                    what,
                    format!("no answer within {} ms (timed out)", budget.as_millis()),
                ))
            })
    }

    /// Poll until the statement ends, with backoff. When the invocation is about to run
    /// out (`safety_margin` before the deadline), cancel it and wait briefly for its final
    /// state: a statement that finished after all is a success; anything else is
    /// `TimedOut`, and the ledger makes the retry safe whether or not it committed.
    async fn wait(&self, id: &str, deadline: Option<Instant>) -> Result<Statement, LoadError> {
        let mut delay = self.config.first_poll;
        let mut errors = 0u32;
        let mut status = "SUBMITTED".to_owned();
        loop {
            match self
                .timed("DescribeStatement", deadline, self.api.describe(id))
                .await
            {
                Ok(st) => {
                    errors = 0;
                    match &st.status {
                        Status::Pending(s) => status = s.clone(),
                        _ => return Ok(st),
                    }
                }
                // A failed or stalled poll says nothing about the statement: poll again.
                Err(e) if errors < 5 => {
                    errors += 1;
                    tracing::warn!(statement_id = %id, error = %e, "DescribeStatement failed; polling again");
                }
                Err(e) => return Err(LoadError::Api(e)),
            }
            if let Some(d) = deadline {
                if Instant::now() + delay + self.config.safety_margin >= d {
                    return self.cancel(id, status, d).await;
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay.mul_f32(1.5)).min(self.config.max_poll);
        }
    }

    /// Run one read-only statement and return its rows (as text), within the deadline.
    pub async fn query(
        &self,
        sql: String,
        deadline: Option<Instant>,
    ) -> Result<Vec<Vec<String>>, LoadError> {
        let id = self
            .timed("ExecuteStatement", deadline, self.api.execute(sql))
            .await
            .map_err(LoadError::Api)?;
        let st = self.wait(&id, deadline).await?;
        match st.status {
            Status::Finished => self
                .timed("GetStatementResult", deadline, self.api.result(&id))
                .await
                .map_err(LoadError::Api),
            _ => Err(LoadError::Failed {
                statement_id: id,
                error: st
                    .error
                    .unwrap_or_else(|| "the query did not finish".into()),
                detail: None,
            }),
        }
    }

    async fn cancel(
        &self,
        id: &str,
        status: String,
        deadline: Instant,
    ) -> Result<Statement, LoadError> {
        tracing::warn!(statement_id = %id, status = %status, "load still running as the invocation ends: cancelling it");
        if let Err(e) = self
            .timed("CancelStatement", Some(deadline), self.api.cancel(id))
            .await
        {
            tracing::error!(statement_id = %id, error = %e, "CancelStatement failed");
        }
        // Use half of the margin to learn how the statement ended.
        let until = deadline - self.config.safety_margin / 2;
        let mut last = status;
        loop {
            match self
                .timed("DescribeStatement", Some(until), self.api.describe(id))
                .await
            {
                Ok(st) => match &st.status {
                    Status::Finished => return Ok(st),
                    Status::Failed | Status::Aborted => {
                        return Err(LoadError::TimedOut {
                            statement_id: id.to_owned(),
                            status: last,
                            cancelled: true,
                        })
                    }
                    Status::Pending(s) => last = s.clone(),
                },
                Err(e) => {
                    tracing::warn!(statement_id = %id, error = %e, "DescribeStatement failed after cancel")
                }
            }
            let step = self.config.first_poll;
            if Instant::now() + step >= until {
                return Err(LoadError::TimedOut {
                    statement_id: id.to_owned(),
                    status: last,
                    cancelled: false,
                });
            }
            tokio::time::sleep(step).await;
        }
    }

    /// Best effort: why COPY failed, from SYS_LOAD_ERROR_DETAIL.
    async fn load_error_detail(&self, query_id: i64, deadline: Option<Instant>) -> Option<String> {
        if query_id <= 0 {
            return None;
        }
        let sql = format!(
            "SELECT TRIM(file_name), line_number, TRIM(column_name), error_code, TRIM(error_message) FROM sys_load_error_detail WHERE query_id = {query_id} ORDER BY line_number LIMIT 5"
        );
        let id = self
            .timed("ExecuteStatement", deadline, self.api.execute(sql))
            .await
            .ok()?;
        let deadline = deadline.map(|d| d.min(Instant::now() + Duration::from_secs(20)));
        match self.wait(&id, deadline).await {
            Ok(st) if st.status == Status::Finished => {
                let rows = self
                    .timed("GetStatementResult", deadline, self.api.result(&id))
                    .await
                    .ok()?;
                if rows.is_empty() {
                    return None;
                }
                Some(
                    rows.iter()
                        .map(|r| r.join(" | "))
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            }
            _ => None,
        }
    }

    /// Refuse to start what cannot finish: the retry (with a whole invocation) starts it.
    fn check_time(&self, deadline: Option<Instant>) -> Result<(), LoadError> {
        let Some(d) = deadline else { return Ok(()) };
        let needed = self.config.min_load_time + self.config.safety_margin;
        let left = d.saturating_duration_since(Instant::now());
        if left < needed {
            return Err(LoadError::NoTimeToStart {
                left_ms: left.as_millis() as u64,
                needed_ms: needed.as_millis() as u64,
            });
        }
        Ok(())
    }

    /// The load script for a plan (what `pushfeed plan-load` prints, too).
    pub fn script(&self, plan: &LoadPlan) -> Result<load::LoadScript, LoadError> {
        let table = TableDef::from_destination(plan.destination);
        Ok(load::script_for(
            Dialect::Redshift,
            &load::LoadSpec {
                schema: &self.config.schema,
                table: &table,
                object: &plan.object,
                copy: load::CopyFrom {
                    iam_role: &self.config.copy_role,
                    gzip: plan.gzip,
                    region: self.config.bucket_region.as_deref(),
                    manifest_bucket: &plan.object.bucket,
                },
            },
        )?)
    }
}

impl<D: DataApi, S: ObjectStore> Warehouse for RedshiftWarehouse<D, S> {
    async fn load(
        &self,
        plan: &LoadPlan,
        deadline: Option<Instant>,
    ) -> Result<LoadOutcome, LoadError> {
        let script = self.script(plan)?;
        let empty = plan.object.size == 0;
        if !empty {
            // COPY reads exactly the objects its manifest lists: this one.
            let o = &plan.object;
            self.store
                .put(
                    &o.bucket,
                    &load::manifest_key(o),
                    load::manifest_body(o).into_bytes(),
                )
                .await
                .map_err(|e| LoadError::Object(format!("writing the COPY manifest: {e}")))?;
        }
        let mut attempt = 0u32;
        let mut backoff = Duration::from_millis(500);
        loop {
            attempt += 1;
            self.check_time(deadline)?;
            // A call that times out may still have been accepted: the retry is safe (lock
            // and ledger), and nothing is reported loaded that Redshift did not confirm.
            let id = self
                .timed(
                    "BatchExecuteStatement",
                    deadline,
                    self.api.batch_execute(script.sqls()),
                )
                .await
                .map_err(LoadError::Api)?;
            tracing::info!(statement_id = %id, key = %plan.object.key, table = %plan.destination.table(), attempt, "load submitted");
            let st = self.wait(&id, deadline).await?;
            let rows = |step: Step| {
                script
                    .position(step)
                    .and_then(|i| st.sub_statements.get(i))
                    .map(|s| s.result_rows.max(0) as u64)
            };
            match st.status {
                Status::Finished => {
                    let ledger = rows(Step::Ledger);
                    // The newest event's time: one small result, best effort (freshness).
                    let newest_occurred_ms = match script.position(Step::Newest) {
                        Some(i) => self
                            .timed(
                                "GetStatementResult",
                                deadline,
                                self.api.result(&format!("{id}:{}", i + 1)),
                            )
                            .await
                            .ok()
                            .and_then(|rows| rows.first()?.first().cloned())
                            .and_then(|t| pushfeed_core::timefmt::parse_iso(&t).ok()),
                        None => None,
                    };
                    return Ok(LoadOutcome {
                        rows_inserted: rows(Step::Insert).unwrap_or(0),
                        rows_in_object: if empty { Some(0) } else { rows(Step::Copy) },
                        duplicate: ledger == Some(0),
                        statement_id: Some(id),
                        newest_occurred_ms,
                    });
                }
                Status::Aborted => return Err(LoadError::Aborted { statement_id: id }),
                Status::Failed | Status::Pending(_) => {
                    let failed_sub = st.sub_statements.iter().find(|s| s.error.is_some());
                    let error = st
                        .error
                        .clone()
                        .or_else(|| failed_sub.and_then(|s| s.error.clone()))
                        .unwrap_or_else(|| "no error text".into());
                    if is_conflict(&error) {
                        if attempt <= self.config.conflict_retries {
                            tracing::warn!(statement_id = %id, attempt, error = %error, "load lost a concurrency conflict: resubmitting");
                            let jitter = Duration::from_millis(fastrand::u64(
                                0..=backoff.as_millis() as u64,
                            ));
                            tokio::time::sleep(backoff + jitter).await;
                            backoff = (backoff * 2).min(Duration::from_secs(8));
                            continue;
                        }
                        return Err(LoadError::Conflict {
                            statement_id: id,
                            attempts: attempt,
                            error,
                        });
                    }
                    let copy_query = script
                        .position(Step::Copy)
                        .and_then(|i| st.sub_statements.get(i))
                        .map(|s| s.query_id)
                        .unwrap_or(0);
                    let detail = if empty {
                        None
                    } else {
                        self.load_error_detail(copy_query, deadline).await
                    };
                    return Err(LoadError::Failed {
                        statement_id: id,
                        error,
                        detail,
                    });
                }
            }
        }
    }
}
