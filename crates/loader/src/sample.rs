//! S3 ObjectCreated events for tests and the local drivers, built one way: each record in
//! the envelope of `tests/fixtures/lambda/s3_record.json` (what S3 sends), its key
//! URL-encoded as S3 encodes event keys.

use aws_lambda_events::event::s3::S3Event;
use pushfeed_core::keys::encode_event_key;

/// The envelope of one S3 event record (placeholders in braces).
const S3_RECORD: &str = include_str!("../../../tests/fixtures/lambda/s3_record.json");

/// One object in an S3 event: its key (plain; encoded here), size and ETag.
pub struct Created<'a> {
    pub key: &'a str,
    pub size: u64,
    pub etag: &'a str,
}

/// An S3 ObjectCreated event for these objects of `bucket`, at `event_ms`.
pub fn s3_event(
    bucket: &str,
    objects: &[Created<'_>],
    event_ms: i64,
) -> Result<S3Event, serde_json::Error> {
    let time = pushfeed_core::timefmt::iso(event_ms);
    let records: Vec<String> = objects
        .iter()
        .map(|o| {
            S3_RECORD
                .replace("{event_time}", &time)
                .replace("{bucket}", bucket)
                .replace("{key}", &encode_event_key(o.key))
                .replace("{size}", &o.size.to_string())
                .replace("{etag}", o.etag)
        })
        .collect();
    serde_json::from_str(&format!("{{\"Records\":[{}]}}", records.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_encodes_them_and_read_back() {
        let key = "push/open/2026/01/01/13/a b+c.gz";
        let e = s3_event(
            "b",
            &[Created {
                key,
                size: 7,
                etag: "e",
            }],
            1_767_272_710_000,
        )
        .unwrap();
        let r = &e.records[0];
        assert_eq!(
            r.s3.object.key.as_deref(),
            Some("push/open/2026/01/01/13/a+b%2Bc.gz")
        );
        assert_eq!(
            pushfeed_core::keys::decode_event_key(r.s3.object.key.as_deref().unwrap()).unwrap(),
            key
        );
        assert_eq!(
            (r.s3.object.size, r.s3.bucket.name.as_deref()),
            (Some(7), Some("b"))
        );
        assert_eq!(r.event_time.timestamp(), 1_767_272_710);
    }
}
