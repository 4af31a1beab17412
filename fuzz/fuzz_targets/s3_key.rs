//! Any text as an S3 event key: decoding and matching never panic; encode∘decode is identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushfeed_core::keys::{decode_event_key, encode_event_key, KeyPatterns};

static PATTERNS: std::sync::OnceLock<KeyPatterns> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let patterns = PATTERNS.get_or_init(KeyPatterns::from_catalogue);
    if let Ok(key) = decode_event_key(text) {
        let _ = patterns.matches(&key);
        assert_eq!(decode_event_key(&encode_event_key(&key)).as_deref(), Ok(key.as_str()));
    }
});
