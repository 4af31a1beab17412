//! UTC timestamps as milliseconds since the epoch: parsing vendor times, writing ISO-8601.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Earliest accepted event time: 2000-01-01T00:00:00Z.
pub const MIN_MS: i64 = 946_684_800_000;
/// Latest accepted event time: 2100-01-01T00:00:00Z.
pub const MAX_MS: i64 = 4_102_444_800_000;

/// Why a vendor timestamp was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTime(pub String);

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's civil_from_days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The UTC calendar parts of a millisecond timestamp: (year, month, day, hour, minute, second, millis).
pub fn parts(ms: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = (rem / 1000) as u32;
    (
        y,
        m,
        d,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        (rem % 1000) as u32,
    )
}

/// Append `YYYY-MM-DDTHH:MM:SS.mmmZ` (what Redshift's TIMEFORMAT 'auto' reads) to `out`.
pub fn write_iso(out: &mut Vec<u8>, ms: i64) {
    let (y, mo, d, h, mi, s, milli) = parts(ms);
    let y = y.clamp(0, 9999) as u32;
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, v: u32, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, mo, 2);
    put(8, d, 2);
    put(11, h, 2);
    put(14, mi, 2);
    put(17, s, 2);
    put(20, milli, 3);
    out.extend_from_slice(&buf);
}

/// [`write_iso`] for many instants, most of them on the same day: the date part is
/// worked out once per day rather than for every instant, and the instant written last
/// (a record's arrival, the same for every event in it) is copied as it was written.
#[derive(Debug, Clone)]
pub struct IsoWriter {
    /// The day of the instant written last, whose date `last` starts with.
    day: i64,
    last_ms: Option<i64>,
    /// The instant written last, as written.
    last: [u8; 24],
}

impl Default for IsoWriter {
    fn default() -> Self {
        IsoWriter {
            day: i64::MIN,
            last_ms: None,
            last: [0; 24],
        }
    }
}

impl IsoWriter {
    /// Append exactly what [`write_iso`] appends.
    pub fn write(&mut self, out: &mut Vec<u8>, ms: i64) {
        if self.last_ms == Some(ms) {
            return out.extend_from_slice(&self.last);
        }
        let day = ms.div_euclid(86_400_000);
        if day != self.day {
            let mut full = Vec::with_capacity(24);
            write_iso(&mut full, ms);
            self.last[..11].copy_from_slice(&full[..11]);
            self.day = day;
        }
        let rem = ms.rem_euclid(86_400_000) as u32;
        let (h, mi, s, milli) = (
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1_000 % 60,
            rem % 1_000,
        );
        // Two digits at a time from a table (digit by digit, this was half the cost of
        // writing an event's time).
        let pair = |v: u32| {
            let at = 2 * v as usize;
            [PAIRS[at], PAIRS[at + 1]]
        };
        let [h0, h1] = pair(h);
        let [m0, m1] = pair(mi);
        let [s0, s1] = pair(s);
        let [f1, f2] = pair(milli % 100);
        let f0 = b'0' + (milli / 100) as u8;
        self.last[11..]
            .copy_from_slice(&[h0, h1, b':', m0, m1, b':', s0, s1, b'.', f0, f1, f2, b'Z']);
        self.last_ms = Some(ms);
        out.extend_from_slice(&self.last);
    }
}

/// "00" to "99", each number's two digits at twice the number.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` as a String.
pub fn iso(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    write_iso(&mut v, ms);
    String::from_utf8(v).unwrap_or_default()
}

/// Days since 1970-01-01 of a proleptic Gregorian date; Howard Hinnant's days_from_civil.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The instant of a text that is exactly what [`write_iso`] writes for an accepted time
/// (`YYYY-MM-DDTHH:MM:SS.mmmZ`, 2000-01-01..2100-01-01) — what the batcher writes in every
/// canonical line; `None` for any other text (which [`parse_iso`] may still read). Reading
/// it needs no calendar library: this is the local warehouse's per-row path.
pub fn canonical_iso(text: &str) -> Option<i64> {
    let b: &[u8; 24] = text.as_bytes().try_into().ok()?;
    let num = |at: usize, width: usize| -> Option<u32> {
        b[at..at + width].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + (c - b'0') as u32)
        })
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec, milli) = (num(11, 2)?, num(14, 2)?, num(17, 2)?, num(20, 3)?);
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    if separators.iter().any(|&(at, c)| b[at] != c)
        || !(1..=12).contains(&mo)
        || d == 0
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    // A day the month does not have (02-30) lands in the next month.
    if civil_from_days(days) != (y as i64, mo, d) {
        return None;
    }
    let ms = days * 86_400_000 + ((h * 3600 + mi * 60 + sec) as i64) * 1000 + milli as i64;
    (MIN_MS..MAX_MS).contains(&ms).then_some(ms)
}

fn in_range(ms: i64, original: &str) -> Result<i64, BadTime> {
    if (MIN_MS..MAX_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(BadTime(format!(
            "{original} is outside 2000-01-01..2100-01-01"
        )))
    }
}

/// Braze `time`: whole (or fractional) UNIX seconds, as a JSON number or a numeric string.
pub fn from_unix_seconds(seconds: f64, original: &str) -> Result<i64, BadTime> {
    if !seconds.is_finite() {
        return Err(BadTime(format!(
            "{original} is not a finite number of seconds"
        )));
    }
    let ms = (seconds * 1000.0).round();
    if ms.abs() > 1e17 {
        return Err(BadTime(format!(
            "{original} is outside 2000-01-01..2100-01-01"
        )));
    }
    in_range(ms as i64, original)
}

/// ISO-8601 / RFC 3339 text. A space may stand for `T`; a time without an offset is UTC
/// (Airship documents its times as UTC).
pub fn parse_iso(text: &str) -> Result<i64, BadTime> {
    let t = text.trim();
    if t.len() > 10 && t.as_bytes()[10] == b' ' && t.is_char_boundary(10) && t.is_char_boundary(11)
    {
        let with_t = format!("{}T{}", &t[..10], &t[11..]);
        return parse_iso_t(&with_t, text);
    }
    parse_iso_t(t, text)
}

fn parse_iso_t(s: &str, original: &str) -> Result<i64, BadTime> {
    if let Ok(dt) = OffsetDateTime::parse(s, &Rfc3339) {
        let ms = (dt.unix_timestamp_nanos() / 1_000_000) as i64;
        return in_range(ms, original);
    }
    // No offset: read as UTC.
    let naive = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(dt) = PrimitiveDateTime::parse(s, &naive) {
        let ms = (dt.assume_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        return in_range(ms, original);
    }
    Err(BadTime(format!(
        "{original:?} is not an ISO-8601 timestamp"
    )))
}

/// Milliseconds since the epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `canonical_iso` must agree with: the text read by `parse_iso` and written back
    /// by `iso` is the text itself.
    fn canonical_by_the_slow_path(text: &str) -> Option<i64> {
        parse_iso(text).ok().filter(|ms| iso(*ms) == text)
    }

    proptest! {
        #[test]
        fn canonical_iso_reads_what_write_iso_writes(ms in MIN_MS - 5_000_000..MAX_MS + 5_000_000) {
            let text = iso(ms);
            prop_assert_eq!(canonical_iso(&text), canonical_by_the_slow_path(&text));
            prop_assert_eq!(canonical_iso(&text), (MIN_MS..MAX_MS).contains(&ms).then_some(ms));
        }

        #[test]
        fn canonical_iso_refuses_what_is_not_canonical(
            ms in MIN_MS..MAX_MS,
            at in 0usize..24,
            byte in prop_oneof![Just(b'0'), Just(b'9'), Just(b'3'), Just(b' '), Just(b'-'), Just(b':'), Just(b'T'), Just(b'Z'), Just(b'+'), Just(b'x')],
        ) {
            let mut text = iso(ms).into_bytes();
            text[at] = byte;
            let text = String::from_utf8(text).unwrap();
            prop_assert_eq!(canonical_iso(&text), canonical_by_the_slow_path(&text), "{}", text);
        }
    }

    #[test]
    fn canonical_iso_edges() {
        for text in [
            "2026-02-29T00:00:00.000Z", // not a leap year
            "2024-02-29T12:00:00.000Z", // a leap year
            "2026-04-31T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "2026-00-10T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
            "2026-01-05T24:00:00.000Z",
            "2026-01-05T23:60:00.000Z",
            "2026-01-05T23:59:60.000Z",
            "1999-12-31T23:59:59.999Z",
            "2000-01-01T00:00:00.000Z",
            "2099-12-31T23:59:59.999Z",
            "2100-01-01T00:00:00.000Z",
            "2026-01-05T10:00:00.000+00:00",
            "2026-01-05T10:00:00Z",
            "2026-01-05 10:00:00.000Z",
            "",
        ] {
            assert_eq!(
                canonical_iso(text),
                canonical_by_the_slow_path(text),
                "{text}"
            );
        }
        assert_eq!(
            canonical_iso("2024-02-29T12:00:00.000Z"),
            Some(1_709_208_000_000)
        );
    }

    proptest! {
        #[test]
        fn the_day_cached_writer_writes_what_write_iso_writes(
            instants in proptest::collection::vec(prop_oneof![
                -100_000_000_000_000i64..400_000_000_000_000,
                1_767_225_600_000i64..1_767_398_400_000,
            ], 1..20),
        ) {
            let mut w = IsoWriter::default();
            // Each instant twice in a row (the second copied from the first) and i64::MIN
            // first (no instant is cached yet).
            let repeated = instants.iter().flat_map(|&ms| [ms, ms]);
            for ms in std::iter::once(i64::MIN / 1000).chain(repeated) {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                write_iso(&mut a, ms);
                w.write(&mut b, ms);
                prop_assert_eq!(a, b, "{}", ms);
            }
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_767_225_600_000), "2026-01-01T00:00:00.000Z");
        assert_eq!(iso(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn parses_vendor_forms() {
        assert_eq!(parse_iso("2026-01-01T00:00:00Z"), Ok(1_767_225_600_000));
        assert_eq!(parse_iso("2026-01-01T00:00:00.250Z"), Ok(1_767_225_600_250));
        assert_eq!(
            parse_iso("2026-01-01T01:00:00+01:00"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(parse_iso("2026-01-01 00:00:00"), Ok(1_767_225_600_000));
        assert_eq!(parse_iso("2026-01-01T00:00:00.5"), Ok(1_767_225_600_500));
        assert!(parse_iso("yesterday").is_err());
        assert!(parse_iso("1066-10-14T09:00:00Z").is_err());
        assert_eq!(
            from_unix_seconds(1_767_225_600.0, "1767225600"),
            Ok(1_767_225_600_000)
        );
        assert!(
            from_unix_seconds(1_767_225_600_000.0, "ms").is_err(),
            "milliseconds are not guessed"
        );
        assert!(from_unix_seconds(f64::NAN, "nan").is_err());
    }

    proptest! {
        #[test]
        fn iso_round_trips(ms in MIN_MS..MAX_MS) {
            let text = iso(ms);
            prop_assert_eq!(parse_iso(&text), Ok(ms));
            let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
            prop_assert_eq!(&text[..19], &dt.format(&Rfc3339).unwrap()[..19]);
        }
    }
}
