//! The Redshift Data API calls the Redshift warehouse makes (a port of its own, so tests
//! can script Redshift's answers), and their AWS SDK adapter.

use crate::config::{Config, Target};
use crate::error::CallError;
use std::future::Future;

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
    ) -> impl Future<Output = Result<String, CallError>> + Send;
    fn execute(&self, sql: String) -> impl Future<Output = Result<String, CallError>> + Send;
    fn describe(&self, id: &str) -> impl Future<Output = Result<Statement, CallError>> + Send;
    /// Ask Redshift to stop a running statement (CancelStatement).
    fn cancel(&self, id: &str) -> impl Future<Output = Result<(), CallError>> + Send;
    /// Rows of a finished statement, every field as text (NULL as "NULL").
    fn result(&self, id: &str) -> impl Future<Output = Result<Vec<Vec<String>>, CallError>> + Send;
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
    async fn batch_execute(&self, sqls: Vec<String>) -> Result<String, CallError> {
        let req = bind_target!(
            self.client.batch_execute_statement().set_sqls(Some(sqls)),
            self
        );
        let out = req
            .send()
            .await
            .map_err(|e| CallError::aws("BatchExecuteStatement", &e))?;
        out.id()
            .map(str::to_owned)
            .ok_or_else(|| CallError::from("BatchExecuteStatement returned no statement id"))
    }

    async fn execute(&self, sql: String) -> Result<String, CallError> {
        let req = bind_target!(self.client.execute_statement().sql(sql), self);
        let out = req
            .send()
            .await
            .map_err(|e| CallError::aws("ExecuteStatement", &e))?;
        out.id()
            .map(str::to_owned)
            .ok_or_else(|| CallError::from("ExecuteStatement returned no statement id"))
    }

    async fn describe(&self, id: &str) -> Result<Statement, CallError> {
        use aws_sdk_redshiftdata::types::StatusString;
        let out = self
            .client
            .describe_statement()
            .id(id)
            .send()
            .await
            .map_err(|e| CallError::aws("DescribeStatement", &e))?;
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

    async fn cancel(&self, id: &str) -> Result<(), CallError> {
        self.client
            .cancel_statement()
            .id(id)
            .send()
            .await
            .map_err(|e| CallError::aws("CancelStatement", &e))?;
        Ok(())
    }

    async fn result(&self, id: &str) -> Result<Vec<Vec<String>>, CallError> {
        use aws_sdk_redshiftdata::types::Field;
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .get_statement_result()
                .id(id)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| CallError::aws("GetStatementResult", &e))?;
            rows.extend(out.records().iter().map(|row| {
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
            }));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(rows);
            }
        }
    }
}
