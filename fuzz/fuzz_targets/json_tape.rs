//! pushfeed's JSON reader against serde_json on any bytes: both accept or both refuse;
//! a number beyond a double is flagged rather than refused; what it reads rebuilds the
//! same value (repeated keys: first place, last value); never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushfeed_json::{Tape, Val};
use serde_json::Value;

fn rebuild(v: Val<'_>) -> Value {
    if let Some(o) = v.object() {
        return Value::Object(o.iter().map(|(k, v)| (k.to_string(), rebuild(v))).collect());
    }
    if let Some(items) = v.array() {
        return Value::Array(items.map(rebuild).collect());
    }
    serde_json::from_str(v.get()).expect("a scalar's raw text is JSON")
}

fuzz_target!(|data: &[u8]| {
    let mut tape = Tape::default();
    let ours = tape.parse_bytes(data);
    let theirs = serde_json::from_slice::<Value>(data);
    match (ours, theirs) {
        (Ok(root), Ok(value)) => {
            let v = tape.val(root);
            assert!(!v.huge());
            assert_eq!(rebuild(v), value);
        }
        (Ok(root), Err(e)) => {
            assert!(e.to_string().contains("number out of range"), "we accept what serde refuses: {e}");
            assert!(tape.val(root).huge());
        }
        (Err(_), Ok(_)) => panic!("we refuse what serde accepts"),
        (Err(_), Err(_)) => {}
    }
});
