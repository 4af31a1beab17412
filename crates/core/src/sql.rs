//! SQL primitives shared by the load algorithm (`load.rs`), the schema and its migrations
//! (`schema.rs`) and the analyst views (`views.rs`): the two dialects, validated identifiers
//! and escaped literals. Nothing from outside reaches SQL unquoted.

/// The two warehouses pushfeed renders SQL for: Redshift (production) and the embedded
/// SQLite warehouse (`pushfeed run`). One algorithm, two spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Redshift,
    Sqlite,
}

/// The Data API's limit on one SQL statement.
pub const MAX_STATEMENT_BYTES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    #[error("{what} {value:?} is not a valid identifier: use 1-127 characters a-z, 0-9, _ and $, starting with a letter or _")]
    BadIdentifier { what: &'static str, value: String },
    #[error("{what} contains a NUL byte, which no SQL literal can hold")]
    NulInLiteral { what: &'static str },
    #[error("IAM role {0:?} is not a role ARN (arn:aws:iam::<account>:role/<name>) or `default`")]
    BadRoleArn(String),
    #[error("region {0:?} is not an AWS region name")]
    BadRegion(String),
    #[error(
        "statement {index} is {bytes} bytes; the Data API takes at most {MAX_STATEMENT_BYTES}"
    )]
    TooLong { index: usize, bytes: usize },
    #[error("database user {0:?} cannot be quoted: use printable characters without \" or NUL")]
    BadUser(String),
}

/// A validated, lower-case SQL identifier.
pub fn ident(what: &'static str, value: &str) -> Result<String, SqlError> {
    let ok = !value.is_empty()
        && value.len() <= 127
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(SqlError::BadIdentifier {
            what,
            value: value.to_owned(),
        })
    }
}

/// A double-quoted identifier for names that are not plain (Redshift's IAM-mapped users
/// such as `IAMR:pushfeed-prod-loader`).
pub fn quoted_ident(value: &str) -> Result<String, SqlError> {
    if value.is_empty()
        || value.len() > 127
        || value
            .chars()
            .any(|c| c == '"' || c == '\0' || c.is_control())
    {
        return Err(SqlError::BadUser(value.to_owned()));
    }
    Ok(format!("\"{value}\""))
}

/// A single-quoted string literal. Redshift reads backslash escapes in literals, so there
/// `\` is doubled as well as `'`; SQLite reads backslashes as they are.
pub fn literal(dialect: Dialect, what: &'static str, value: &str) -> Result<String, SqlError> {
    if value.contains('\0') {
        return Err(SqlError::NulInLiteral { what });
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if dialect == Dialect::Redshift => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// The warehouse's clock, as the timestamp text both dialects store.
pub fn now(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Redshift => "GETDATE()",
        Dialect::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    }
}

/// `schema.table` in Redshift; the table alone in SQLite (one database file).
pub fn qualified(dialect: Dialect, schema: &str, table: &str) -> String {
    match dialect {
        Dialect::Redshift => format!("{schema}.{table}"),
        Dialect::Sqlite => table.to_owned(),
    }
}

pub(crate) fn check_lengths(statements: &[String]) -> Result<(), SqlError> {
    for (index, s) in statements.iter().enumerate() {
        if s.len() > MAX_STATEMENT_BYTES {
            return Err(SqlError::TooLong {
                index,
                bytes: s.len(),
            });
        }
    }
    Ok(())
}

/// Remove every '…' literal (with '' and backslash escapes) and `--` comment from SQL text:
/// what is left is what the SQL parser reads as code. For tests that hostile input stays inside literals.
pub fn strip_literals(dialect: Dialect, sql: &str) -> String {
    let mut out = String::new();
    let mut chars = sql.chars().peekable();
    let mut in_lit = false;
    while let Some(c) = chars.next() {
        if in_lit {
            match c {
                '\\' if dialect == Dialect::Redshift => {
                    chars.next();
                }
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                '\'' => in_lit = false,
                _ => {}
            }
        } else if c == '\'' {
            in_lit = true;
            out.push_str("''");
        } else if c == '-' && chars.peek() == Some(&'-') {
            // A comment to the end of the line: not code, and its quotes open nothing.
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_per_dialect() {
        assert_eq!(
            literal(Dialect::Redshift, "k", r"a'b\c").unwrap(),
            r"'a''b\\c'"
        );
        assert_eq!(
            literal(Dialect::Sqlite, "k", r"a'b\c").unwrap(),
            r"'a''b\c'"
        );
        assert_eq!(
            literal(Dialect::Sqlite, "k", "a\0").unwrap_err(),
            SqlError::NulInLiteral { what: "k" }
        );
    }

    #[test]
    fn identifiers_are_plain_or_refused() {
        assert!(ident("schema", "pushfeed_dev").is_ok());
        for bad in ["", "Pushfeed", "1abc", "a-b", "a;drop", &"x".repeat(128)] {
            assert!(ident("schema", bad).is_err(), "{bad}");
        }
        assert_eq!(
            quoted_ident("IAMR:pushfeed-prod-loader").unwrap(),
            "\"IAMR:pushfeed-prod-loader\""
        );
        assert!(quoted_ident("a\"; DROP").is_err());
    }
}
