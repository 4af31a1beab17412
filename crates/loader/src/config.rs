//! Loader configuration, from environment variables set by Terraform, validated at cold
//! start with errors that name the variable.

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required: {1}")]
    Missing(&'static str, &'static str),
    #[error("environment variable {var}={value:?} is invalid: {why}")]
    Invalid {
        var: &'static str,
        value: String,
        why: String,
    },
    #[error("set exactly one of PUSHFEED_REDSHIFT_CLUSTER_ID (provisioned) and PUSHFEED_REDSHIFT_WORKGROUP (serverless)")]
    Target,
    #[error(
        "a provisioned cluster needs PUSHFEED_REDSHIFT_DB_USER or PUSHFEED_REDSHIFT_SECRET_ARN"
    )]
    ClusterCredentials,
}

/// Where the Data API runs SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Cluster {
        cluster_id: String,
        db_user: Option<String>,
        secret_arn: Option<String>,
    },
    Serverless {
        workgroup: String,
        secret_arn: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub target: Target,
    pub database: String,
    pub schema: String,
    /// Role Redshift assumes for COPY (or `default`).
    pub copy_role: String,
    pub bucket_region: Option<String>,
    pub alert_topic_arn: String,
    pub metrics_namespace: String,
    /// Stop polling when this little is left of the invocation.
    pub safety_margin: Duration,
    pub first_poll: Duration,
    pub max_poll: Duration,
    /// Never submit a load with less than this left of the invocation (plus the margin):
    /// a load that cannot finish is cancelled and retried, so starting it wastes Redshift.
    pub min_load_time: Duration,
    /// How often a load that lost a serialization or lock conflict is resubmitted within
    /// one invocation.
    pub conflict_retries: u32,
    /// Longest one AWS call (Data API, S3) may take before it is abandoned.
    pub attempt_timeout: Duration,
}

pub const ENV_CLUSTER: &str = "PUSHFEED_REDSHIFT_CLUSTER_ID";
pub const ENV_WORKGROUP: &str = "PUSHFEED_REDSHIFT_WORKGROUP";
pub const ENV_DATABASE: &str = "PUSHFEED_REDSHIFT_DATABASE";
pub const ENV_DB_USER: &str = "PUSHFEED_REDSHIFT_DB_USER";
pub const ENV_SECRET: &str = "PUSHFEED_REDSHIFT_SECRET_ARN";
pub const ENV_SCHEMA: &str = "PUSHFEED_REDSHIFT_SCHEMA";
pub const ENV_COPY_ROLE: &str = "PUSHFEED_COPY_ROLE_ARN";
pub const ENV_BUCKET_REGION: &str = "PUSHFEED_BUCKET_REGION";
pub const ENV_TOPIC: &str = "PUSHFEED_ALERT_TOPIC_ARN";
pub const ENV_NAMESPACE: &str = "PUSHFEED_METRICS_NAMESPACE";
pub const ENV_SAFETY_MARGIN_MS: &str = "PUSHFEED_SAFETY_MARGIN_MS";
pub const ENV_MIN_LOAD_MS: &str = "PUSHFEED_MIN_LOAD_MS";
pub const ENV_ATTEMPT_TIMEOUT_MS: &str = "PUSHFEED_ATTEMPT_TIMEOUT_MS";

impl Config {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let target = match (get(ENV_CLUSTER), get(ENV_WORKGROUP)) {
            (Some(cluster_id), None) => {
                let (db_user, secret_arn) = (get(ENV_DB_USER), get(ENV_SECRET));
                if db_user.is_none() && secret_arn.is_none() {
                    return Err(ConfigError::ClusterCredentials);
                }
                Target::Cluster {
                    cluster_id,
                    db_user,
                    secret_arn,
                }
            }
            (None, Some(workgroup)) => Target::Serverless {
                workgroup,
                secret_arn: get(ENV_SECRET),
            },
            _ => return Err(ConfigError::Target),
        };
        let database = get(ENV_DATABASE).ok_or(ConfigError::Missing(
            ENV_DATABASE,
            "the Redshift database name",
        ))?;
        let schema = get(ENV_SCHEMA).unwrap_or_else(|| "pushfeed".into());
        pushfeed_core::sql::ident("schema", &schema).map_err(|e| ConfigError::Invalid {
            var: ENV_SCHEMA,
            value: schema.clone(),
            why: e.to_string(),
        })?;
        let copy_role = get(ENV_COPY_ROLE).ok_or(ConfigError::Missing(
            ENV_COPY_ROLE,
            "the IAM role Redshift uses to read the bucket (or `default`)",
        ))?;
        let alert_topic_arn = get(ENV_TOPIC).ok_or(ConfigError::Missing(
            ENV_TOPIC,
            "the SNS topic that alerts go to",
        ))?;
        if !alert_topic_arn.starts_with("arn:") {
            return Err(ConfigError::Invalid {
                var: ENV_TOPIC,
                value: alert_topic_arn,
                why: "expected an SNS topic ARN".into(),
            });
        }
        let margin_ms = match get(ENV_SAFETY_MARGIN_MS) {
            None => 5_000,
            Some(v) => {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 120_000)
                    .ok_or(ConfigError::Invalid {
                        var: ENV_SAFETY_MARGIN_MS,
                        value: v.clone(),
                        why: "expected milliseconds from 0 to 120000".into(),
                    })?
            }
        };
        let min_load_ms = match get(ENV_MIN_LOAD_MS) {
            None => 20_000,
            Some(v) => {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n <= 900_000)
                    .ok_or(ConfigError::Invalid {
                        var: ENV_MIN_LOAD_MS,
                        value: v.clone(),
                        why: "expected milliseconds from 0 to 900000 (Lambda's longest timeout)"
                            .into(),
                    })?
            }
        };
        let attempt_ms = match get(ENV_ATTEMPT_TIMEOUT_MS) {
            None => 10_000,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (100..=600_000).contains(n))
                .ok_or(ConfigError::Invalid {
                    var: ENV_ATTEMPT_TIMEOUT_MS,
                    value: v.clone(),
                    why: "expected milliseconds from 100 to 600000".into(),
                })?,
        };
        let config = Config {
            target,
            database,
            schema,
            copy_role,
            bucket_region: get(ENV_BUCKET_REGION),
            alert_topic_arn,
            metrics_namespace: get(ENV_NAMESPACE)
                .unwrap_or_else(|| pushfeed_core::metrics::DEFAULT_NAMESPACE.into()),
            safety_margin: Duration::from_millis(margin_ms),
            first_poll: Duration::from_millis(250),
            max_poll: Duration::from_secs(5),
            min_load_time: Duration::from_millis(min_load_ms),
            conflict_retries: 4,
            attempt_timeout: Duration::from_millis(attempt_ms),
        };
        // Render one load now, so that a bad role or region fails at cold start, not later.
        let probe = pushfeed_core::load::ObjectRef {
            bucket: "b".into(),
            key: "k".into(),
            etag: "e".into(),
            size: 1,
        };
        let table =
            pushfeed_core::schema::TableDef::from_destination(&pushfeed_core::DESTINATIONS[0]);
        let spec = pushfeed_core::load::LoadSpec {
            schema: &config.schema,
            table: &table,
            object: &probe,
            copy: pushfeed_core::load::CopyFrom {
                iam_role: &config.copy_role,
                gzip: false,
                region: config.bucket_region.as_deref(),
                manifest_bucket: "b",
            },
        };
        pushfeed_core::load::load_script(pushfeed_core::sql::Dialect::Redshift, &spec).map_err(
            |e| ConfigError::Invalid {
                var: if matches!(e, pushfeed_core::sql::SqlError::BadRegion(_)) {
                    ENV_BUCKET_REGION
                } else {
                    ENV_COPY_ROLE
                },
                value: if matches!(e, pushfeed_core::sql::SqlError::BadRegion(_)) {
                    config.bucket_region.clone().unwrap_or_default()
                } else {
                    config.copy_role.clone()
                },
                why: e.to_string(),
            },
        )?;
        Ok(config)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    const BASE: &[(&str, &str)] = &[
        (ENV_DATABASE, "analytics"),
        (ENV_COPY_ROLE, "arn:aws:iam::123456789012:role/copy"),
        (
            ENV_TOPIC,
            "arn:aws:sns:eu-west-2:123456789012:pushfeed-dev-alerts",
        ),
    ];

    #[test]
    fn provisioned_and_serverless_targets() {
        let mut c = BASE.to_vec();
        c.push((ENV_WORKGROUP, "pushfeed"));
        assert!(matches!(
            Config::from_lookup(env(&c)).unwrap().target,
            Target::Serverless { .. }
        ));
        let mut c = BASE.to_vec();
        c.extend([(ENV_CLUSTER, "analytics-1"), (ENV_DB_USER, "loader")]);
        assert!(matches!(
            Config::from_lookup(env(&c)).unwrap().target,
            Target::Cluster { .. }
        ));
    }

    #[test]
    fn errors_name_what_to_set() {
        assert_eq!(
            Config::from_lookup(env(BASE)).unwrap_err(),
            ConfigError::Target
        );
        let mut c = BASE.to_vec();
        c.push((ENV_CLUSTER, "analytics-1"));
        assert_eq!(
            Config::from_lookup(env(&c)).unwrap_err(),
            ConfigError::ClusterCredentials
        );
        let c = [
            (ENV_WORKGROUP, "w"),
            (ENV_COPY_ROLE, "arn:aws:iam::123456789012:role/copy"),
            (ENV_TOPIC, "arn:x"),
        ];
        assert!(Config::from_lookup(env(&c))
            .unwrap_err()
            .to_string()
            .contains(ENV_DATABASE));
        let mut c = BASE.to_vec();
        c.extend([(ENV_WORKGROUP, "w"), (ENV_SCHEMA, "Bad-Schema")]);
        assert!(Config::from_lookup(env(&c))
            .unwrap_err()
            .to_string()
            .contains(ENV_SCHEMA));
        let c = [
            (ENV_WORKGROUP, "w"),
            (ENV_DATABASE, "d"),
            (ENV_COPY_ROLE, "not-a-role"),
            (ENV_TOPIC, "arn:x"),
        ];
        assert!(Config::from_lookup(env(&c))
            .unwrap_err()
            .to_string()
            .contains(ENV_COPY_ROLE));
    }
}
