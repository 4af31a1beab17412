//! Redshift through the Data API: the load transaction as one BatchExecuteStatement, then
//! DescribeStatement polled with backoff until it ends or the invocation runs out of time.

use crate::config::{Config, Target};
use crate::warehouse::{LoadError, LoadOutcome, LoadPlan, Warehouse};
use pushfeed_core::sql;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// A statement's status, as DescribeStatement reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pending(String),
    Finished,
    Failed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubStatement {
    pub result_rows: i64,
    pub query_id: i64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub status: Status,
    pub error: Option<String>,
    pub sub_statements: Vec<SubStatement>,
}

/// The Data API calls the loader makes.
pub trait DataApi: Sync {
    fn batch_execute(
        &self,
        sqls: Vec<String>,
    ) -> impl Future<Output = Result<String, String>> + Send;
    fn execute(&self, sql: String) -> impl Future<Output = Result<String, String>> + Send;
    fn describe(&self, id: &str) -> impl Future<Output = Result<Statement, String>> + Send;
    /// Rows of a finished statement, every field as text (NULL as "NULL").
    fn result(&self, id: &str) -> impl Future<Output = Result<Vec<Vec<String>>, String>> + Send;
}

/// The AWS SDK Redshift Data API client, bound to a cluster or workgroup and database.
#[derive(Debug, Clone)]
pub struct AwsDataApi {
    client: aws_sdk_redshiftdata::Client,
    target: Target,
    database: String,
}

impl AwsDataApi {
    pub fn new(client: aws_sdk_redshiftdata::Client, config: &Config) -> Self {
        AwsDataApi {
            client,
            target: config.target.clone(),
            database: config.database.clone(),
        }
    }
}

fn sdk_err<E: std::error::Error + 'static>(what: &str, e: E) -> String {
    format!(
        "{what}: {}",
        aws_sdk_redshiftdata::error::DisplayErrorContext(e)
    )
}

macro_rules! bind_target {
    ($req:expr, $self:expr) => {{
        let req = $req
            .database(&$self.database)
            .statement_name("pushfeed-loader");
        match &$self.target {
            Target::Cluster {
                cluster_id,
                db_user,
                secret_arn,
            } => req
                .cluster_identifier(cluster_id)
                .set_db_user(db_user.clone())
                .set_secret_arn(secret_arn.clone()),
            Target::Serverless {
                workgroup,
                secret_arn,
            } => req
                .workgroup_name(workgroup)
                .set_secret_arn(secret_arn.clone()),
        }
    }};
}

impl DataApi for AwsDataApi {
    async fn batch_execute(&self, sqls: Vec<String>) -> Result<String, String> {
        let req = bind_target!(
            self.client.batch_execute_statement().set_sqls(Some(sqls)),
            self
        );
        let out = req
            .send()
            .await
            .map_err(|e| sdk_err("BatchExecuteStatement", e))?;
        out.id()
            .map(str::to_owned)
            .ok_or_else(|| "BatchExecuteStatement returned no statement id".to_owned())
    }

    async fn execute(&self, sql: String) -> Result<String, String> {
        let req = bind_target!(self.client.execute_statement().sql(sql), self);
        let out = req
            .send()
            .await
            .map_err(|e| sdk_err("ExecuteStatement", e))?;
        out.id()
            .map(str::to_owned)
            .ok_or_else(|| "ExecuteStatement returned no statement id".to_owned())
    }

    async fn describe(&self, id: &str) -> Result<Statement, String> {
        use aws_sdk_redshiftdata::types::StatusString;
        let out = self
            .client
            .describe_statement()
            .id(id)
            .send()
            .await
            .map_err(|e| sdk_err("DescribeStatement", e))?;
        let status = match out.status() {
            Some(StatusString::Finished) => Status::Finished,
            Some(StatusString::Failed) => Status::Failed,
            Some(StatusString::Aborted) => Status::Aborted,
            Some(other) => Status::Pending(other.as_str().to_owned()),
            None => Status::Pending("UNKNOWN".into()),
        };
        Ok(Statement {
            status,
            error: out.error().map(str::to_owned),
            sub_statements: out
                .sub_statements()
                .iter()
                .map(|s| SubStatement {
                    result_rows: s.result_rows(),
                    query_id: s.redshift_query_id(),
                    error: s.error().map(str::to_owned),
                })
                .collect(),
        })
    }

    async fn result(&self, id: &str) -> Result<Vec<Vec<String>>, String> {
        use aws_sdk_redshiftdata::types::Field;
        let out = self
            .client
            .get_statement_result()
            .id(id)
            .send()
            .await
            .map_err(|e| sdk_err("GetStatementResult", e))?;
        Ok(out
            .records()
            .iter()
            .map(|row| {
                row.iter()
                    .map(|f| match f {
                        Field::StringValue(s) => s.clone(),
                        Field::LongValue(n) => n.to_string(),
                        Field::DoubleValue(d) => d.to_string(),
                        Field::BooleanValue(b) => b.to_string(),
                        Field::IsNull(_) => "NULL".into(),
                        _ => "?".into(),
                    })
                    .collect()
            })
            .collect())
    }
}

/// Redshift as a [`Warehouse`], through any [`DataApi`].
#[derive(Debug, Clone)]
pub struct RedshiftWarehouse<D> {
    pub api: D,
    pub config: Config,
}

/// Index of the table INSERT and the ledger INSERT in `sql::load_statements`.
const INSERT_STATEMENT: usize = 2;
const LEDGER_STATEMENT: usize = 3;
const COPY_STATEMENT: usize = 1;

impl<D: DataApi> RedshiftWarehouse<D> {
    pub fn new(api: D, config: Config) -> Self {
        RedshiftWarehouse { api, config }
    }

    /// Poll until the statement ends, with backoff, stopping `safety_margin` before the deadline.
    async fn wait(&self, id: &str, deadline: Option<Instant>) -> Result<Statement, LoadError> {
        let mut delay = self.config.first_poll;
        loop {
            let st = self.api.describe(id).await.map_err(LoadError::Api)?;
            let status = match &st.status {
                Status::Pending(s) => s.clone(),
                _ => return Ok(st),
            };
            if deadline.is_some_and(|d| Instant::now() + delay + self.config.safety_margin >= d) {
                return Err(LoadError::TimedOut {
                    statement_id: id.to_owned(),
                    status,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay.mul_f32(1.5)).min(self.config.max_poll);
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
        let id = self.api.execute(sql).await.ok()?;
        let deadline = deadline.map(|d| d.min(Instant::now() + Duration::from_secs(20)));
        match self.wait(&id, deadline).await {
            Ok(st) if st.status == Status::Finished => {
                let rows = self.api.result(&id).await.ok()?;
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
}

impl<D: DataApi> Warehouse for RedshiftWarehouse<D> {
    async fn load(
        &self,
        plan: &LoadPlan,
        deadline: Option<Instant>,
    ) -> Result<LoadOutcome, LoadError> {
        let empty = plan.object.size == 0;
        let statements = if empty {
            sql::empty_object_statements(&self.config.schema, plan.destination, &plan.object)?
        } else {
            sql::load_statements(&sql::LoadSpec {
                schema: &self.config.schema,
                destination: plan.destination,
                object: &plan.object,
                iam_role: &self.config.copy_role,
                gzip: plan.gzip,
                region: self.config.bucket_region.as_deref(),
            })?
        };
        let id = self
            .api
            .batch_execute(statements)
            .await
            .map_err(LoadError::Api)?;
        tracing::info!(statement_id = %id, key = %plan.object.key, table = %plan.destination.table(), "load submitted");
        let st = self.wait(&id, deadline).await?;
        match st.status {
            Status::Finished => {
                let rows = |i: usize| {
                    st.sub_statements
                        .get(i)
                        .map(|s| s.result_rows.max(0) as u64)
                };
                let (inserted, ledger) = if empty {
                    (Some(0), rows(0))
                } else {
                    (rows(INSERT_STATEMENT), rows(LEDGER_STATEMENT))
                };
                Ok(LoadOutcome {
                    rows_inserted: inserted.unwrap_or(0),
                    rows_in_object: if empty { Some(0) } else { rows(COPY_STATEMENT) },
                    duplicate: ledger == Some(0),
                    statement_id: Some(id),
                })
            }
            Status::Aborted => Err(LoadError::Aborted { statement_id: id }),
            Status::Failed | Status::Pending(_) => {
                let failed_sub = st.sub_statements.iter().find(|s| s.error.is_some());
                let error = st
                    .error
                    .clone()
                    .or_else(|| failed_sub.and_then(|s| s.error.clone()))
                    .unwrap_or_else(|| "no error text".into());
                let copy_query = st
                    .sub_statements
                    .get(COPY_STATEMENT)
                    .map(|s| s.query_id)
                    .unwrap_or(0);
                let detail = if empty {
                    None
                } else {
                    self.load_error_detail(copy_query, deadline).await
                };
                Err(LoadError::Failed {
                    statement_id: id,
                    error,
                    detail,
                })
            }
        }
    }
}
