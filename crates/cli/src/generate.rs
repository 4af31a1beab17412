//! A realistic synthetic vendor feed, deterministic for a seed: one Kinesis record per
//! output line (the feed line format is in the README, "The `pushfeed` command").

use base64::Engine as _;
use pushfeed_core::json::needs_escape;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateSpec {
    pub seed: u64,
    /// Roughly this many events (sends and everything that follows them).
    pub events: u64,
    /// First day, UTC midnight, ms since the epoch.
    pub start_ms: i64,
    pub days: u32,
    /// Fraction of records that are bad (quarantine material).
    pub bad_rate: f64,
    /// Fraction of events the vendor delivers twice.
    pub duplicate_rate: f64,
}

/// What was generated, for the caller's summary (and for tests that check recovery).
#[derive(Debug, Default, Clone)]
pub struct GenerateStats {
    pub records: u64,
    pub events: u64,
    pub duplicates: u64,
    pub bad_records: u64,
    pub customers: Vec<Customer>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Customer {
    pub braze_id: String,
    pub external_id: String,
    pub platform: &'static str,
    pub timezone: &'static str,
    /// UTC offset in hours used to plant the preferred hour (fixed for the generated period).
    pub utc_offset_h: i64,
    /// The local hour this customer prefers to open push (planted).
    pub preferred_hour: u32,
    pub open_rate: f64,
    pub airship: bool,
    pub channel: String,
}

const TIMEZONES: &[(&str, i64, u32)] = &[
    ("Europe/London", 0, 70),
    ("Europe/Dublin", 0, 8),
    ("Europe/Paris", 1, 8),
    ("Europe/Berlin", 1, 5),
    ("America/New_York", -5, 4),
    ("Asia/Dubai", 4, 3),
    ("Australia/Sydney", 11, 2),
];

const CAMPAIGNS: &[&str] = &[
    "Winter Sale D1",
    "Winter Sale D2",
    "Boxing Day Early Access",
    "Back in Stock",
    "Price Drop Alert",
    "Abandoned Basket 1h",
    "Abandoned Basket 24h",
    "New Arrivals: Womenswear",
    "New Arrivals: Menswear",
    "Weekend Flash Sale",
    "Free Delivery Weekend",
    "Loyalty Points Expiring",
    "Order Dispatched",
    "Click & Collect Ready",
    "Black Friday Countdown",
    "Gift Guide: Under £20",
];

/// A pending event on the vendor's side, ordered by when it reaches Kinesis.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    arrival_ms: i64,
    seq: u64,
    kind: Kind,
    /// A UUID's 36 ASCII characters (no allocation per pending event).
    id: [u8; 36],
    customer: usize,
    campaign: usize,
    /// 24 hex digits.
    dispatch: [u8; 24],
    time_s: i64,
}

impl Pending {
    fn id(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or_default()
    }
    fn dispatch(&self) -> &str {
        std::str::from_utf8(&self.dispatch).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Send,
    Open,
    ButtonLink,
    ButtonClose,
    Bounce,
    Abort,
    Retry,
    NewType,
    Uninstall,
    TagChange,
    /// Held out of the push as its control group (Airship CONTROL, Braze EnrollInControl).
    Control,
    /// Airship: the app opened, not from a push (an OPEN without triggering_push).
    AppOpen,
}

/// Airship SEND_REJECTED statuses (its schema's enum), as APNs/FCM refusals come.
const REJECTED_STATUSES: &[&str] = &[
    "BadDeviceToken",
    "Uninstalled",
    "MessageTooBig",
    "MissingRegistration",
    "Unavailable",
];

/// Airship SEND_ABORTED reasons (its schema's enum).
const ABORT_REASONS: &[&str] = &[
    "FREQUENCY_LIMIT_REACHED",
    "FEED_BANNED_RESPONSE",
    "FEED_REQUEST_REJECTED",
];

/// Lowercase hex digits, one draw each.
fn hex_into(rng: &mut StdRng, out: &mut [u8]) {
    for b in out {
        *b = b"0123456789abcdef"[rng.random_range(0..16u32) as usize];
    }
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    let mut digits = vec![0u8; n];
    hex_into(rng, &mut digits);
    String::from_utf8(digits).unwrap_or_default()
}

/// A version-4-looking UUID's 36 characters.
fn uuid_bytes(rng: &mut StdRng) -> [u8; 36] {
    let mut u = [b'-'; 36];
    hex_into(rng, &mut u[0..8]);
    hex_into(rng, &mut u[9..13]);
    u[14] = b'4';
    hex_into(rng, &mut u[15..18]);
    hex_into(rng, &mut u[19..23]);
    hex_into(rng, &mut u[24..36]);
    u
}

fn uuid(rng: &mut StdRng) -> String {
    String::from_utf8(uuid_bytes(rng).to_vec()).unwrap_or_default()
}

/// Generate the feed into `out`, calling `progress(records_written)` now and then.
pub fn generate(
    spec: &GenerateSpec,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<GenerateStats> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut stats = GenerateStats::default();
    // About 1.25 events per send; about 3 sends per customer per day.
    let sends = ((spec.events as f64) / 1.25).max(1.0) as u64;
    let customers_n = ((sends as f64 / (3.0 * spec.days as f64)).ceil() as usize).max(5);
    let tz_total: u32 = TIMEZONES.iter().map(|t| t.2).sum();
    for i in 0..customers_n {
        let mut pick = rng.random_range(0..tz_total);
        let (tz, off, _) = *TIMEZONES
            .iter()
            .find(|t| {
                if pick < t.2 {
                    true
                } else {
                    pick -= t.2;
                    false
                }
            })
            .unwrap_or(&TIMEZONES[0]);
        let airship = rng.random_bool(0.2);
        let platform = if rng.random_bool(0.55) {
            "ios"
        } else {
            "android"
        };
        stats.customers.push(Customer {
            braze_id: hex(&mut rng, 24),
            external_id: format!("cust-{:06}", i + 1),
            // Airship also reaches web browsers (web push).
            platform: if airship && rng.random_bool(0.15) {
                "web"
            } else {
                platform
            },
            timezone: tz,
            utc_offset_h: off,
            // Evenings and lunchtimes are popular; everyone has one hour they favour.
            preferred_hour: *[7u32, 8, 12, 12, 13, 17, 18, 19, 19, 20, 20, 21, 21, 22]
                .get(rng.random_range(0..14))
                .unwrap_or(&20),
            open_rate: rng.random_range(0.03..0.45),
            airship,
            channel: uuid(&mut rng),
        });
    }
    let campaign_ids: Vec<String> = CAMPAIGNS.iter().map(|_| uuid(&mut rng)).collect();
    let campaign_hours: Vec<i64> = CAMPAIGNS.iter().map(|_| rng.random_range(8..21)).collect();

    // Pending events by the hour (from the start) they reach Kinesis; an hour's events are
    // written, in arrival order, once its end is passed. Every event arrives after the
    // send that makes it, so a bucket is complete when its hour is. (A binary heap did
    // the same ordering with a sift per event: a quarter of the generator's time.)
    let mut pending: Vec<Vec<Pending>> = Vec::new();
    let bucket_of = |arrival_ms: i64| ((arrival_ms - spec.start_ms).max(0) / 3_600_000) as usize;
    let mut seq = 0u64;
    let mut writer = RecordWriter {
        out,
        rng: StdRng::seed_from_u64(spec.seed ^ 0x5eed),
        stats: &mut stats,
        spec: spec.clone(),
        b64: String::new(),
    };
    let total_hours = spec.days as i64 * 24;
    let sends_per_hour = sends as f64 / total_hours as f64;
    let mut last_progress = 0u64;
    let customers = writer.stats.customers.clone();
    for hour in 0..total_hours {
        let hour_start_s = spec.start_ms / 1000 + hour * 3600;
        // Campaign sends cluster at each campaign's hour; the rest trickle (triggered sends).
        let n = poisson_like(&mut rng, sends_per_hour);
        for _ in 0..n {
            let customer = rng.random_range(0..customers.len());
            let campaign = if rng.random_bool(0.6) {
                let c = rng.random_range(0..CAMPAIGNS.len());
                if campaign_hours[c] == (hour % 24) || rng.random_bool(0.3) {
                    c
                } else {
                    rng.random_range(0..CAMPAIGNS.len())
                }
            } else {
                rng.random_range(0..CAMPAIGNS.len())
            };
            let time_s = hour_start_s + rng.random_range(0..3600);
            let mut dispatch = [0u8; 24];
            hex_into(&mut rng, &mut dispatch);
            let c = &customers[customer];
            let mut push =
                |kind: Kind, time_s: i64, rng: &mut StdRng, pending: &mut Vec<Vec<Pending>>| {
                    seq += 1;
                    // Arrival: seconds to minutes after the event; sometimes much later.
                    let lag_ms = if rng.random_bool(0.02) {
                        rng.random_range(60_000..1_800_000)
                    } else {
                        rng.random_range(200..20_000)
                    };
                    let arrival_ms = time_s * 1000 + lag_ms;
                    let bucket = bucket_of(arrival_ms);
                    if pending.len() <= bucket {
                        pending.resize_with(bucket + 1, Vec::new);
                    }
                    pending[bucket].push(Pending {
                        arrival_ms,
                        seq,
                        kind,
                        id: uuid_bytes(rng),
                        customer,
                        campaign,
                        dispatch,
                        time_s,
                    });
                };
            if rng.random_bool(0.012) {
                push(Kind::Abort, time_s, &mut rng, &mut pending);
                continue;
            }
            if rng.random_bool(0.01) {
                // The campaign's control group: no push, the baseline it is measured against.
                push(Kind::Control, time_s, &mut rng, &mut pending);
                continue;
            }
            if !c.airship && rng.random_bool(0.004) {
                push(Kind::Retry, time_s, &mut rng, &mut pending);
            }
            push(Kind::Send, time_s, &mut rng, &mut pending);
            if c.airship && c.platform != "web" && rng.random_bool(0.3) {
                // The customer opens the app by themselves some time that day: an app open,
                // not a push open (no view may count it as one).
                let open_s = time_s + rng.random_range(60..43_200);
                push(Kind::AppOpen, open_s, &mut rng, &mut pending);
            }
            if rng.random_bool(0.025) {
                // Rejected by APNs/FCM (a bounce); some of those are an uninstall.
                let kind = if rng.random_bool(0.3) {
                    Kind::Uninstall
                } else {
                    Kind::Bounce
                };
                push(
                    kind,
                    time_s + rng.random_range(1..30),
                    &mut rng,
                    &mut pending,
                );
                continue;
            }
            if rng.random_bool(c.open_rate) {
                let open_s = open_time(&mut rng, c, time_s);
                let roll: f64 = rng.random();
                let kind = if c.airship {
                    Kind::Open
                } else if roll < 0.18 {
                    Kind::ButtonLink
                } else if roll < 0.22 {
                    Kind::ButtonClose
                } else {
                    Kind::Open
                };
                push(kind, open_s, &mut rng, &mut pending);
                if rng.random_bool(0.08) {
                    // A second open of the same push, later.
                    let again = open_s + rng.random_range(600..14_400);
                    push(Kind::Open, again, &mut rng, &mut pending);
                }
            }
            if rng.random_bool(0.003) {
                let kind = if c.airship {
                    Kind::TagChange
                } else {
                    Kind::NewType
                };
                push(kind, time_s + 5, &mut rng, &mut pending);
            }
        }
        let last = hour == total_hours - 1;
        // This hour's arrivals, or (after the last hour) every one still pending.
        let upto = if last {
            pending.len()
        } else {
            hour as usize + 1
        };
        let mut ready = Vec::new();
        for bucket in pending.iter_mut().take(upto) {
            let mut b = std::mem::take(bucket);
            b.sort_unstable_by_key(|p| (p.arrival_ms, p.seq));
            ready.append(&mut b);
        }
        writer.write_events(ready, &customers, &campaign_ids)?;
        if writer.stats.records - last_progress >= 50_000 {
            last_progress = writer.stats.records;
            progress(last_progress);
        }
    }
    let stats = writer.stats.clone();
    Ok(stats)
}

/// The open time: mostly at the customer's preferred local hour (the same day if still
/// ahead, else the next), sometimes soon after the send.
fn open_time(rng: &mut StdRng, c: &Customer, send_s: i64) -> i64 {
    if rng.random_bool(0.25) {
        return send_s + rng.random_range(30..7_200);
    }
    let local_s = send_s + c.utc_offset_h * 3600;
    let day_start_local = local_s.div_euclid(86_400) * 86_400;
    let mut target_local =
        day_start_local + c.preferred_hour as i64 * 3600 + rng.random_range(0..3600);
    if target_local <= local_s {
        target_local += 86_400;
    }
    target_local - c.utc_offset_h * 3600
}

fn poisson_like(rng: &mut StdRng, mean: f64) -> u64 {
    let jitter: f64 = rng.random_range(0.85..1.15);
    (mean * jitter).round().max(0.0) as u64
}

struct RecordWriter<'a> {
    out: &'a mut dyn Write,
    rng: StdRng,
    stats: &'a mut GenerateStats,
    spec: GenerateSpec,
    /// Base64 of the record being written, kept between records.
    b64: String,
}

impl RecordWriter<'_> {
    fn write_events(
        &mut self,
        events: Vec<Pending>,
        customers: &[Customer],
        campaign_ids: &[String],
    ) -> std::io::Result<()> {
        let mut i = 0;
        let mut redeliver: Vec<Vec<u8>> = Vec::new();
        let mut record = Vec::with_capacity(8192);
        while i < events.len() {
            if self.rng.random_bool(self.spec.bad_rate.clamp(0.0, 1.0)) {
                let bad = self.bad_record();
                self.raw_or_envelope(&bad)?;
                self.stats.bad_records += 1;
            }
            let shape: f64 = self.rng.random();
            let take = if shape < 0.12 {
                self.rng.random_range(2..8)
            } else if shape < 0.17 {
                self.rng.random_range(2..5)
            } else {
                1
            };
            let group = &events[i..(i + take).min(events.len())];
            i += group.len();
            // A Braze batch, or NDJSON when there are several: one event per line, in one
            // record.
            let batch = group.len() > 1
                && shape < 0.12
                && group.iter().all(|p| !customers[p.customer].airship);
            record.clear();
            if batch {
                record.extend_from_slice(b"{\"events\":[");
            }
            for (n, p) in group.iter().enumerate() {
                if n > 0 {
                    record.push(if batch { b',' } else { b'\n' });
                }
                self.event_json(p, customers, campaign_ids, &mut record);
            }
            if batch {
                record.extend_from_slice(b"]}");
            }
            self.stats.events += group.len() as u64;
            self.raw_or_envelope(&record)?;
            if self
                .rng
                .random_bool(self.spec.duplicate_rate.clamp(0.0, 1.0))
            {
                redeliver.push(record.clone());
            }
        }
        // At-least-once: some records arrive again a little later.
        for record in redeliver {
            self.stats.duplicates += 1;
            self.raw_or_envelope(&record)?;
        }
        Ok(())
    }

    /// One line per record: the record itself when it is one line of UTF-8 text, else
    /// the Lambda Kinesis record envelope with base64 data.
    fn raw_or_envelope(&mut self, record: &[u8]) -> std::io::Result<()> {
        self.stats.records += 1;
        let single_line = std::str::from_utf8(record).is_ok_and(|s| {
            !s.contains('\n')
                && !s.contains('\r')
                && !s.trim_start().starts_with("{\"kinesis\"")
                && !s.is_empty()
                && s.trim() == s
        });
        if single_line {
            self.out.write_all(record)?;
        } else {
            self.b64.clear();
            base64::engine::general_purpose::STANDARD.encode_string(record, &mut self.b64);
            self.out.write_all(b"{\"kinesis\":{\"data\":\"")?;
            self.out.write_all(self.b64.as_bytes())?;
            self.out.write_all(b"\"}}")?;
        }
        self.out.write_all(b"\n")
    }

    fn bad_record(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..9) {
            0 => b"{\"event_type\":\"users.messages.pushnotification.Send\",\"id\":\"trunc".to_vec(),
            1 => vec![0xff, 0xfe, 0x00, 0x81, 0x9c, b'{', b'}'],
            2 => b"   ".to_vec(),
            3 => format!(r#"{{"event_type":"users.messages.pushnotification.Open","time":{},"user":{{"user_id":"u"}}}}"#, self.spec.start_ms / 1000).into_bytes(),
            4 => format!(r#"{{"id":"{}","user_id":"u","time":{},"platform":"ios"}}"#, uuid(&mut self.rng), self.spec.start_ms / 1000).into_bytes(),
            5 => format!(r#"{{"event_type":"users.messages.pushnotification.Send","id":"{}","time":"soon","user":{{"user_id":"u"}}}}"#, uuid(&mut self.rng)).into_bytes(),
            6 => vec![0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad],
            7 => b"[1,2,3]".to_vec(),
            _ => format!(r#"{{"type":"OPEN","id":"{}","occurred":"2026-13-45T99:00:00Z","device":{{"ios_channel":"c"}},"body":{{}}}}"#, uuid(&mut self.rng)).into_bytes(),
        }
    }

    /// One vendor event as JSON bytes (keys in the vendors' order), appended to `out`.
    fn event_json(
        &mut self,
        p: &Pending,
        customers: &[Customer],
        campaign_ids: &[String],
        out: &mut Vec<u8>,
    ) {
        let c = &customers[p.customer];
        if c.airship {
            self.airship_json(p, c, campaign_ids, out);
            return;
        }
        let vendor_type = match p.kind {
            Kind::Send => "users.messages.pushnotification.Send",
            Kind::Open | Kind::ButtonLink | Kind::ButtonClose => {
                "users.messages.pushnotification.Open"
            }
            Kind::Bounce => "users.messages.pushnotification.Bounce",
            Kind::Abort => "users.messages.pushnotification.Abort",
            Kind::Retry => "users.messages.pushnotification.Retry",
            Kind::Uninstall => "users.behaviors.Uninstall",
            Kind::Control => "users.campaigns.EnrollInControl",
            _ => "users.messages.pushnotification.Delivered",
        };
        let user = |o: &mut Obj| {
            o.str("user_id", &c.braze_id)
                .str("external_user_id", &c.external_id)
                .str("device_id", &c.channel)
                .str("timezone", c.timezone);
        };
        let props = |o: &mut Obj| braze_properties(o, p, c, campaign_ids);
        let mut e = Obj::new(out);
        e.str("event_type", vendor_type)
            .str("id", p.id())
            .int("time", p.time_s);
        if self.rng.random_bool(0.75) {
            e.obj("user", user).obj("properties", props);
        } else {
            // Flat (file-export) shape: every field top-level.
            user(&mut e);
            props(&mut e);
        }
        e.end();
    }

    fn airship_json(
        &mut self,
        p: &Pending,
        c: &Customer,
        campaign_ids: &[String],
        out: &mut Vec<u8>,
    ) {
        // Airship's device object: `channel` and `device_type` on every device kind; app
        // devices also carry `<platform>_channel`. The named user is on the device, or (newer
        // events) only in the top-level `user` object beside the contact id.
        let named_on_device = self.rng.random_bool(0.5);
        // variant_id is an integer in Airship's schema.
        let push = |o: &mut Obj| {
            o.str("push_id", p.dispatch())
                .str("group_id", &campaign_ids[p.campaign])
                .int("variant_id", (p.seq % 2 + 1) as i64);
        };
        let web = c.platform == "web";
        let kind = match p.kind {
            Kind::Send => "SEND",
            Kind::Open | Kind::ButtonLink | Kind::ButtonClose if web => "WEB_CLICK",
            Kind::Open | Kind::ButtonLink | Kind::ButtonClose | Kind::AppOpen => "OPEN",
            Kind::Bounce => "SEND_REJECTED",
            Kind::Abort => "SEND_ABORTED",
            Kind::Uninstall => "UNINSTALL",
            Kind::TagChange => "TAG_CHANGE",
            _ => "CONTROL",
        };
        let session = (kind == "OPEN").then(|| uuid(&mut self.rng));
        let with_user = !named_on_device || self.rng.random_bool(0.3);
        let mut e = Obj::new(out);
        e.str("id", p.id())
            .str("type", kind)
            .str("offset", Digits::of(p.seq as i64).as_str())
            .iso("occurred", p.time_s * 1000)
            .iso("processed", (p.time_s + 1) * 1000)
            .obj("device", |d| {
                d.str("channel", &c.channel)
                    .str("device_type", &upper(c.platform))
                    .obj("attributes", |a| {
                        a.str("iana_timezone", c.timezone)
                            .str("locale_country_code", "GB")
                            .str("app_version", "5.12.0");
                    });
                if !web {
                    d.str(&channel_key(c.platform), &c.channel);
                }
                if named_on_device {
                    d.str("named_user_id", &c.external_id);
                }
            })
            .obj("body", |b| match p.kind {
                Kind::Open | Kind::ButtonLink | Kind::ButtonClose if !web => {
                    b.str("session_id", session.as_deref().unwrap_or_default())
                        .obj("triggering_push", push);
                }
                Kind::AppOpen => {
                    b.str("session_id", session.as_deref().unwrap_or_default())
                        .obj("last_delivered", |l| {
                            l.str("push_id", p.dispatch());
                        });
                }
                Kind::Bounce => {
                    push(b);
                    b.str(
                        "status",
                        REJECTED_STATUSES[p.seq as usize % REJECTED_STATUSES.len()],
                    );
                }
                Kind::Abort => {
                    push(b);
                    b.str(
                        "reason",
                        ABORT_REASONS[p.seq as usize % ABORT_REASONS.len()],
                    );
                }
                Kind::Uninstall => {
                    b.raw("decay", "false");
                }
                Kind::TagChange => {
                    b.raw("add", "{\"device\":[\"push_engaged\"]}");
                }
                _ => push(b),
            });
        if with_user {
            e.obj("user", |u| {
                u.strs("contact_id", &["contact-", &c.channel[..8]])
                    .str("named_user_id", &c.external_id);
            });
        }
        e.end();
    }
}

/// Braze's `properties` of a push event, in its order.
fn braze_properties(o: &mut Obj, p: &Pending, c: &Customer, campaign_ids: &[String]) {
    let ios = c.platform == "ios";
    o.str("app_id", "4c1d2e3f-0000-4000-8000-00000000a001")
        .str("platform", c.platform)
        .str("campaign_id", &campaign_ids[p.campaign])
        .str("campaign_name", CAMPAIGNS[p.campaign])
        .strs(
            "message_variation_id",
            &[
                &campaign_ids[p.campaign][..8],
                if p.seq.is_multiple_of(2) {
                    "-mv0"
                } else {
                    "-mv1"
                },
            ],
        )
        .str("dispatch_id", p.dispatch())
        .strs("send_id", &["send-", &p.dispatch()[..12]]);
    match p.kind {
        Kind::Send => {
            o.strs(
                "push_token",
                &[if ios { "apns:" } else { "fcm:" }, &c.channel[..18]],
            )
            .strs(
                "message_extras",
                &[
                    "{\"offer\":\"SAVE",
                    Digits::of(p.campaign as i64 * 5).as_str(),
                    "\"}",
                ],
            );
        }
        Kind::Open | Kind::ButtonLink | Kind::ButtonClose => {
            o.str("os_version", if ios { "17.4" } else { "14" })
                .str("device_model", if ios { "iPhone15,2" } else { "Pixel 8" });
            if p.kind == Kind::ButtonLink {
                let action = if p.seq.is_multiple_of(3) {
                    "uri"
                } else {
                    "deep_link"
                };
                o.str("button_action_type", action)
                    .str("button_string", "shop_now");
            } else if p.kind == Kind::ButtonClose {
                o.str("button_action_type", "close")
                    .str("button_string", "dismiss");
            }
        }
        Kind::Abort => {
            o.str("abort_type", "frequency_capped")
                .str("abort_log", "user hit the global frequency cap");
        }
        _ => {}
    }
}

/// A JSON object written straight into bytes, compact, keys in the order written (the
/// generator makes about a million a day: no tree of values, no map per object).
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        json_str(self.out, k);
        self.out.push(b':');
    }

    fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        json_str(self.out, v);
        self
    }

    /// A string value written from parts, as one string of their concatenation.
    fn strs(&mut self, k: &str, parts: &[&str]) -> &mut Self {
        self.key(k);
        if parts.iter().any(|p| needs_escape(p.as_bytes())) {
            json_str(self.out, &parts.concat());
        } else {
            self.out.push(b'"');
            for p in parts {
                self.out.extend_from_slice(p.as_bytes());
            }
            self.out.push(b'"');
        }
        self
    }

    /// A timestamp (epoch milliseconds) as ISO 8601 text, as `timefmt::iso` writes it.
    fn iso(&mut self, k: &str, ms: i64) -> &mut Self {
        self.key(k);
        self.out.push(b'"');
        pushfeed_core::timefmt::write_iso(self.out, ms);
        self.out.push(b'"');
        self
    }

    fn int(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(Digits::of(v).as_bytes());
        self
    }

    /// A value already written as JSON.
    fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.out.extend_from_slice(json.as_bytes());
        self
    }

    fn obj(&mut self, k: &str, fill: impl FnOnce(&mut Obj)) -> &mut Self {
        self.key(k);
        let mut inner = Obj::new(self.out);
        fill(&mut inner);
        inner.end();
        self
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// A platform's name in capitals (Airship's device_type).
fn upper(platform: &str) -> std::borrow::Cow<'static, str> {
    match platform {
        "ios" => "IOS".into(),
        "android" => "ANDROID".into(),
        "web" => "WEB".into(),
        other => other.to_ascii_uppercase().into(),
    }
}

/// Airship's `<platform>_channel` key of an app device.
fn channel_key(platform: &str) -> std::borrow::Cow<'static, str> {
    match platform {
        "ios" => "ios_channel".into(),
        "android" => "android_channel".into(),
        other => format!("{other}_channel").into(),
    }
}

/// A JSON string, escaped as serde_json escapes it.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// An integer's decimal digits, on the stack.
struct Digits {
    buf: [u8; 20],
    at: usize,
}

impl Digits {
    fn of(v: i64) -> Self {
        let mut d = Digits {
            buf: [0; 20],
            at: 20,
        };
        let mut n = v.unsigned_abs();
        loop {
            d.at -= 1;
            d.buf[d.at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            d.at -= 1;
            d.buf[d.at] = b'-';
        }
        d
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.at..]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> GenerateSpec {
        GenerateSpec {
            seed,
            events: 3_000,
            start_ms: 1_767_225_600_000,
            days: 1,
            bad_rate: 0.01,
            duplicate_rate: 0.01,
        }
    }

    #[test]
    fn same_seed_same_feed_other_seed_other_feed() {
        let run = |s| {
            let mut out = Vec::new();
            generate(&spec(s), &mut out, &mut |_| {}).unwrap();
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn a_seed_gives_the_feed_it_gave_before() {
        // The feed the README's and docs/performance.md's figures were measured on: a
        // change that makes the generator faster must not change a byte of it. The hash of
        // `pushfeed generate --seed 7 --events 3000 --start 2026-01-01 --days 1 --bad-rate
        // 0.01 --duplicate-rate 0.01` (2,200,942 bytes) as f27c371 and later builds wrote it.
        let mut out = Vec::new();
        generate(&spec(7), &mut out, &mut |_| {}).unwrap();
        assert_eq!(out.len(), 2_200_942);
        assert_eq!(
            pushfeed_core::load::content_etag(&out),
            "7f8ad68093da9b084dbac50f5746e915"
        );
    }

    #[test]
    fn every_line_is_one_record_and_volume_is_near_the_request() {
        let mut out = Vec::new();
        let stats = generate(&spec(1), &mut out, &mut |_| {}).unwrap();
        assert_eq!(
            out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64,
            stats.records
        );
        assert!((2_000..4_500).contains(&stats.events), "{}", stats.events);
        assert!(stats.bad_records > 0 && stats.duplicates > 0);
    }
}
