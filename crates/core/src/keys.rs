//! S3 keys → destination table: URL-decoding of S3 event keys and ordered key patterns.

use crate::catalogue::{Destination, DESTINATIONS};
use regex::Regex;

/// Why an S3 event key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("S3 key {key:?} has a malformed %-escape at byte {at}")]
    BadEscape { key: String, at: usize },
    #[error("S3 key {key:?} does not decode to UTF-8")]
    NotUtf8 { key: String },
}

/// Decode a key as S3 event notifications carry it: `+` is a space, `%xx` a byte.
pub fn decode_event_key(raw: &str) -> Result<String, KeyError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => {
                        return Err(KeyError::BadEscape {
                            key: raw.to_owned(),
                            at: i,
                        })
                    }
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| KeyError::NotUtf8 {
        key: raw.to_owned(),
    })
}

/// Encode a key the way S3 event notifications do (for drivers that build S3 events).
pub fn encode_event_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A key that matched a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    pub destination: &'static Destination,
    /// The object is gzip-compressed (`.gz`): COPY needs GZIP.
    pub gzip: bool,
}

/// The outcome of matching: a table, or no pattern matched (a distinct outcome, not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    Table(KeyMatch),
    Unmatched,
}

/// Ordered patterns: the first that matches wins.
#[derive(Debug, Clone)]
pub struct KeyPatterns {
    patterns: Vec<(Regex, &'static Destination)>,
}

impl KeyPatterns {
    /// One pattern per catalogue destination, for Firehose's default layout under a plain
    /// prefix: `<prefix>YYYY/MM/DD/HH/<stream>-<n>-YYYY-MM-DD-HH-MM-SS-<id>[.gz]`.
    pub fn from_catalogue() -> Self {
        let patterns = DESTINATIONS
            .iter()
            .map(|d| {
                let pattern = format!(
                    r"^{}(?P<year>\d{{4}})/(?P<month>\d{{2}})/(?P<day>\d{{2}})/(?P<hour>\d{{2}})/(?P<file>[^/]+?)(?P<gz>\.gz)?$",
                    regex::escape(&d.s3_prefix())
                );
                // The pattern is built from validated catalogue names; it always compiles.
                (Regex::new(&pattern).unwrap_or_else(|e| panic!("catalogue key pattern for {}: {e}", d.name)), d)
            })
            .collect();
        KeyPatterns { patterns }
    }

    /// The regular expressions, in order, with their destination (for docs and tests).
    pub fn describe(&self) -> Vec<(String, &'static str)> {
        self.patterns
            .iter()
            .map(|(r, d)| (r.as_str().to_owned(), d.name))
            .collect()
    }

    /// Match a decoded key.
    pub fn matches(&self, key: &str) -> Matched {
        for (re, dest) in &self.patterns {
            if let Some(c) = re.captures(key) {
                return Matched::Table(KeyMatch {
                    destination: dest,
                    gzip: c.name("gz").is_some(),
                });
            }
        }
        Matched::Unmatched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_aws_and_moto_layouts() {
        let p = KeyPatterns::from_catalogue();
        let aws = "push/open/2026/01/01/13/pushfeed-prod-open-1-2026-01-01-13-05-00-1b2c3d4e-aaaa-bbbb-cccc-123456789012.gz";
        let Matched::Table(m) = p.matches(aws) else {
            panic!("no match")
        };
        assert_eq!((m.destination.name, m.gzip), ("open", true));
        let moto =
            "push/unknown_type/2026/01/01/13/pushfeed-dev-unknown-type-1-2026-01-01-13-05-00-abc";
        let Matched::Table(m) = p.matches(moto) else {
            panic!("no match")
        };
        assert_eq!((m.destination.name, m.gzip), ("unknown_type", false));
    }

    proptest! {
        /// The keys the catalogue writes are the keys the loader's patterns read: every
        /// destination, any time in range, compressed or not, any Firehose record id.
        #[test]
        fn every_key_the_catalogue_writes_is_matched_to_its_destination(
            at in crate::timefmt::MIN_MS..crate::timefmt::MAX_MS,
            gzip in any::<bool>(),
            id in "[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{16}",
            env in "[a-z]{2,8}",
        ) {
            let p = KeyPatterns::from_catalogue();
            for dest in crate::DESTINATIONS {
                let stream = format!("pushfeed-{env}-{}", dest.stream_suffix());
                let key = dest.object_key(&stream, at, &id, gzip);
                prop_assert!(key.starts_with(crate::catalogue::DATA_PREFIX));
                match p.matches(&key) {
                    Matched::Table(m) => {
                        prop_assert_eq!(m.destination.name, dest.name, "{}", key);
                        prop_assert_eq!(m.gzip, gzip);
                    }
                    Matched::Unmatched => prop_assert!(false, "unmatched: {}", key),
                }
            }
        }
    }

    #[test]
    fn other_keys_are_unmatched_not_errors() {
        let p = KeyPatterns::from_catalogue();
        for key in [
            "errors/open/2026/01/01/13/x",
            "push/opened/2026/01/01/13/x",
            "push/open/2026/01/01/x",
            "push/open/2026/01/01/13/",
            "push/open/2026/01/01/13/a/b",
            "",
            "push/open/2026/1/01/13/x",
        ] {
            assert_eq!(p.matches(key), Matched::Unmatched, "{key}");
        }
    }

    #[test]
    fn decodes_event_keys() {
        assert_eq!(
            decode_event_key("push/send/a+b%2Fc%27d%C3%A9").unwrap(),
            "push/send/a b/c'dé"
        );
        assert_eq!(
            decode_event_key("a%2"),
            Err(KeyError::BadEscape {
                key: "a%2".into(),
                at: 1
            })
        );
        assert_eq!(
            decode_event_key("a%zz"),
            Err(KeyError::BadEscape {
                key: "a%zz".into(),
                at: 1
            })
        );
        assert_eq!(
            decode_event_key("%FF"),
            Err(KeyError::NotUtf8 { key: "%FF".into() })
        );
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(key in "\\PC{0,60}") {
            prop_assert_eq!(decode_event_key(&encode_event_key(&key)).unwrap(), key);
        }

        #[test]
        fn decode_never_panics(raw in ".{0,80}") {
            let _ = decode_event_key(&raw);
        }
    }
}
