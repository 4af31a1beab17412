//! Batcher configuration, from environment variables set by Terraform, validated at cold
//! start with errors that name the variable.

use pushfeed_core::catalogue::{Destination, DESTINATIONS};
use pushfeed_core::packing::Limits;
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Stream name prefix: each destination's stream is `<prefix><destination suffix>`.
    pub stream_prefix: String,
    pub metrics_namespace: String,
    /// Most PutRecordBatch calls in flight at once.
    pub max_concurrency: usize,
    /// Most attempts per Firehose record (first send included).
    pub max_attempts: u32,
    /// Stop retrying when less than this is left of the invocation.
    pub safety_margin: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest one PutRecordBatch call may take before it is abandoned and retried (a
    /// stalled endpoint must not hold the invocation until Lambda kills it).
    pub attempt_timeout: Duration,
    pub limits: Limits,
}

pub const ENV_STREAM_PREFIX: &str = "PUSHFEED_FIREHOSE_STREAM_PREFIX";
pub const ENV_NAMESPACE: &str = "PUSHFEED_METRICS_NAMESPACE";
pub const ENV_CONCURRENCY: &str = "PUSHFEED_MAX_CONCURRENCY";
pub const ENV_ATTEMPTS: &str = "PUSHFEED_MAX_ATTEMPTS";
pub const ENV_SAFETY_MARGIN_MS: &str = "PUSHFEED_SAFETY_MARGIN_MS";
pub const ENV_MAX_RECORD_BYTES: &str = "PUSHFEED_MAX_RECORD_BYTES";
pub const ENV_ATTEMPT_TIMEOUT_MS: &str = "PUSHFEED_ATTEMPT_TIMEOUT_MS";

impl Default for Config {
    fn default() -> Self {
        Config {
            stream_prefix: "pushfeed-dev-".into(),
            metrics_namespace: pushfeed_core::metrics::DEFAULT_NAMESPACE.into(),
            max_concurrency: 4,
            max_attempts: 8,
            safety_margin: Duration::from_secs(3),
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
            limits: Limits::FIREHOSE,
        }
    }
}

fn parse_num<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    var: &'static str,
    value: Option<String>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(ConfigError::Invalid {
            var,
            value,
            why: format!("expected a whole number from {min} to {max}"),
        }),
    }
}

/// Firehose stream names: 1-64 characters of `[a-zA-Z0-9_.-]`.
pub fn valid_stream_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl Config {
    /// Read the configuration through `lookup` (the process environment in the Lambda).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Config::default();
        let stream_prefix =
            lookup(ENV_STREAM_PREFIX)
                .filter(|s| !s.is_empty())
                .ok_or(ConfigError::Missing(
                    ENV_STREAM_PREFIX,
                    "the Firehose stream name prefix, e.g. pushfeed-prod-",
                ))?;
        for dest in DESTINATIONS {
            let name = format!("{stream_prefix}{}", dest.stream_suffix());
            if !valid_stream_name(&name) {
                return Err(ConfigError::Invalid {
                    var: ENV_STREAM_PREFIX,
                    value: stream_prefix,
                    why: format!(
                        "stream name {name:?} is not 1-64 characters of a-z A-Z 0-9 _ . -"
                    ),
                });
            }
        }
        let margin_ms = parse_num(
            ENV_SAFETY_MARGIN_MS,
            lookup(ENV_SAFETY_MARGIN_MS),
            3_000u64,
            0,
            60_000,
        )?;
        let max_record_bytes = parse_num(
            ENV_MAX_RECORD_BYTES,
            lookup(ENV_MAX_RECORD_BYTES),
            Limits::FIREHOSE.max_record_bytes,
            pushfeed_core::batch::MIN_RECORD_BYTES,
            Limits::FIREHOSE.max_record_bytes,
        )?;
        Ok(Config {
            stream_prefix,
            metrics_namespace: lookup(ENV_NAMESPACE)
                .filter(|s| !s.is_empty())
                .unwrap_or(d.metrics_namespace),
            max_concurrency: parse_num(
                ENV_CONCURRENCY,
                lookup(ENV_CONCURRENCY),
                d.max_concurrency,
                1,
                64,
            )?,
            max_attempts: parse_num(ENV_ATTEMPTS, lookup(ENV_ATTEMPTS), d.max_attempts, 1, 50)?,
            safety_margin: Duration::from_millis(margin_ms),
            attempt_timeout: Duration::from_millis(parse_num(
                ENV_ATTEMPT_TIMEOUT_MS,
                lookup(ENV_ATTEMPT_TIMEOUT_MS),
                10_000u64,
                100,
                600_000,
            )?),
            limits: Limits {
                max_record_bytes,
                ..Limits::FIREHOSE
            },
            ..d
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The Firehose stream of a destination.
    pub fn stream_name(&self, dest: &Destination) -> String {
        format!("{}{}", self.stream_prefix, dest.stream_suffix())
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

    #[test]
    fn errors_name_the_variable() {
        let err = Config::from_lookup(env(&[])).unwrap_err();
        assert!(err.to_string().contains(ENV_STREAM_PREFIX), "{err}");
        let err = Config::from_lookup(env(&[(ENV_STREAM_PREFIX, "p-"), (ENV_CONCURRENCY, "0")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("PUSHFEED_MAX_CONCURRENCY=\"0\""),
            "{err}"
        );
        let err = Config::from_lookup(env(&[(ENV_STREAM_PREFIX, "bad name/")])).unwrap_err();
        assert!(err.to_string().contains("not 1-64 characters"), "{err}");
        let err = Config::from_lookup(env(&[
            (ENV_STREAM_PREFIX, "p-"),
            (ENV_MAX_RECORD_BYTES, "2000000"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains(ENV_MAX_RECORD_BYTES));
    }

    #[test]
    fn stream_names_come_from_the_catalogue() {
        let c = Config::from_lookup(env(&[(ENV_STREAM_PREFIX, "pushfeed-prod-")])).unwrap();
        let send = pushfeed_core::destination("unknown_type").unwrap();
        assert_eq!(c.stream_name(send), "pushfeed-prod-unknown-type");
        assert_eq!(c.max_concurrency, 4);
    }
}
