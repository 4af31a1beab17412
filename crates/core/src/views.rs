//! Analyst views — delivery funnel, preferred hour and weekday, engagement, touchpoints —
//! defined once and rendered for Redshift and for the local SQLite warehouse. Only the few
//! functions the two dialects spell differently go through [`Dialect`].

/// Customers with fewer opens than this in the window get no preferred hour or weekday.
pub const PREFERRED_HOUR_MIN_OPENS: u32 = 5;
/// Days of opens, back from the newest open, that preferences are computed over.
pub const PREFERENCE_WINDOW_DAYS: u32 = 90;
/// An open or bounce is attributed to the send it follows within this many days.
pub const ATTRIBUTION_WINDOW_DAYS: u32 = 7;
/// How long after an hour ends its events may still be on their way (Firehose buffers up
/// to 15 minutes, loads are retried, deferred and redriven) before a shortfall counts as
/// missing in `v_push_audit_hourly` and alarms.
pub const AUDIT_GRACE_MINUTES: u32 = 120;
/// The local warehouse's table of UTC offsets per IANA zone and period (`zone`,
/// `starts_at`, `ends_at`, `offset_minutes`), which its views read local times from.
pub const ZONE_OFFSETS_TABLE: &str = "pf_zone_offsets";
/// Timezone assumed when the vendor sent none (the retailer is in the UK).
pub const DEFAULT_TIMEZONE: &str = "Europe/London";

pub use crate::sql::Dialect;

/// The SQL of a UTC timestamp's local time in a zone (both expressions), as the views
/// compute it: Redshift's CONVERT_TIMEZONE, or the SQLite offset look-up.
pub fn local_time_sql(d: Dialect, ts: &str, tz: &str) -> String {
    d.local(ts, tz)
}

/// The query of `v_push_preferred_time` with a given minimum of opens (the view uses
/// [`PREFERRED_HOUR_MIN_OPENS`]; `pushfeed report --min-opens` a lower one).
pub fn preferred_time_query(d: Dialect, schema: &str, min_opens: u32) -> String {
    let t = |name: &str| d.table(schema, name);
    let customer = "COALESCE(external_user_id, user_id)";
    let tz = format!("COALESCE(timezone, '{DEFAULT_TIMEZONE}')");
    // Preferred time: the local hour (and weekday) with most opens and clicks over the
    // window back from the newest open; null below the minimum number of opens.
    let opens_local = format!(
        "SELECT {customer} AS customer_id, {local} AS local_ts FROM {open} WHERE occurred_at >= (SELECT {start} FROM {open})\n  \
         UNION ALL SELECT {customer} AS customer_id, {local} AS local_ts FROM {click} WHERE occurred_at >= (SELECT {start} FROM {open})",
        local = d.local("occurred_at", &tz),
        open = t("push_open"),
        click = t("push_click"),
        start = d.plus_days("MAX(occurred_at)", -(PREFERENCE_WINDOW_DAYS as i64)),
    );
    let preferred = format!(
        "WITH opens AS (\n  {opens_local}\n),\n\
         by_hour AS (SELECT customer_id, {hour} AS hour, COUNT(*) AS n FROM opens GROUP BY customer_id, {hour}),\n\
         by_day AS (SELECT customer_id, {weekday} AS weekday, COUNT(*) AS n FROM opens GROUP BY customer_id, {weekday}),\n\
         top_hour AS (SELECT customer_id, hour, n, SUM(n) OVER (PARTITION BY customer_id) AS total, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, hour) AS rn FROM by_hour),\n\
         top_day AS (SELECT customer_id, weekday, n, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY n DESC, weekday) AS rn FROM by_day)\n\
         SELECT h.customer_id, h.total AS opens,\n  \
         CASE WHEN h.total >= {min} THEN h.hour END AS preferred_hour,\n  CASE WHEN h.total >= {min} THEN h.n END AS opens_at_preferred_hour,\n  \
         CASE WHEN h.total >= {min} THEN w.weekday END AS preferred_weekday,\n  CASE WHEN h.total >= {min} THEN w.n END AS opens_on_preferred_weekday\n\
         FROM top_hour AS h JOIN top_day AS w ON w.customer_id = h.customer_id AND w.rn = 1\nWHERE h.rn = 1",
        hour = d.hour("local_ts"),
        weekday = d.weekday("local_ts"),
        min = min_opens,
    );
    preferred
}

impl Dialect {
    /// The customer's local time of a UTC timestamp.
    fn local(self, ts: &str, tz: &str) -> String {
        match self {
            Dialect::Redshift => format!("CONVERT_TIMEZONE('UTC', {tz}, {ts})"),
            // Plain SQL any SQLite client runs: the zone's UTC offset at that instant from
            // the table of offsets the local warehouse fills from chrono-tz's IANA data
            // (an unknown zone is read as the default, as CONVERT_TIMEZONE would refuse).
            Dialect::Sqlite => {
                let offset = |zone: &str| {
                    format!(
                        "(SELECT z.offset_minutes FROM {ZONE_OFFSETS_TABLE} AS z WHERE z.zone = {zone} \
                         AND z.starts_at <= {ts} ORDER BY z.starts_at DESC LIMIT 1)"
                    )
                };
                format!(
                    "strftime('%Y-%m-%d %H:%M:%S', {ts}, COALESCE({}, {}, 0) || ' minutes')",
                    offset(tz),
                    offset(&format!("'{DEFAULT_TIMEZONE}'"))
                )
            }
        }
    }
    fn hour(self, ts: &str) -> String {
        match self {
            Dialect::Redshift => format!("DATE_PART(hour, {ts})::INT"),
            Dialect::Sqlite => format!("CAST(strftime('%H', {ts}) AS INTEGER)"),
        }
    }
    /// 0 = Sunday … 6 = Saturday in both dialects.
    fn weekday(self, ts: &str) -> String {
        match self {
            Dialect::Redshift => format!("DATE_PART(dow, {ts})::INT"),
            Dialect::Sqlite => format!("CAST(strftime('%w', {ts}) AS INTEGER)"),
        }
    }
    fn day(self, ts: &str) -> String {
        match self {
            Dialect::Redshift => format!("TRUNC({ts})"),
            Dialect::Sqlite => format!("date({ts})"),
        }
    }
    fn plus_days(self, ts: &str, days: i64) -> String {
        match self {
            Dialect::Redshift => format!("DATEADD(day, {days}, {ts})"),
            // Same text form as the stored timestamps, so comparisons stay textual.
            Dialect::Sqlite => format!("strftime('%Y-%m-%dT%H:%M:%fZ', {ts}, '{days:+} days')"),
        }
    }
    fn days_since(self, ts: &str) -> String {
        match self {
            Dialect::Redshift => format!("DATEDIFF(day, {ts}, GETDATE())"),
            Dialect::Sqlite => format!("CAST(julianday('now') - julianday({ts}) AS INTEGER)"),
        }
    }
    /// The time `minutes` ago, comparable with stored timestamps.
    fn minutes_ago(self, minutes: u32) -> String {
        match self {
            Dialect::Redshift => format!("DATEADD(minute, -{minutes}, GETDATE())"),
            Dialect::Sqlite => {
                format!("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-{minutes} minutes')")
            }
        }
    }
    fn create(self, schema: &str, name: &str, body: &str) -> String {
        match self {
            Dialect::Redshift => {
                format!("CREATE OR REPLACE VIEW {schema}.{name} AS\n{body}\nWITH NO SCHEMA BINDING")
            }
            Dialect::Sqlite => {
                format!("DROP VIEW IF EXISTS {name};\nCREATE VIEW {name} AS\n{body}")
            }
        }
    }
    fn table(self, schema: &str, name: &str) -> String {
        match self {
            Dialect::Redshift => format!("{schema}.{name}"),
            Dialect::Sqlite => name.to_owned(),
        }
    }
}

/// The view names, in creation order (later views use earlier ones).
pub const VIEWS: &[&str] = &[
    "v_push_touchpoints",
    "v_push_funnel_daily",
    "v_push_preferred_time",
    "v_push_engagement",
    "v_push_audit_hourly",
];

/// Each view as (name, CREATE statement(s)) in the dialect. `schema` must be a valid
/// identifier (it is for Redshift: `sql::redshift_ddl` validates it first).
pub fn views(d: Dialect, schema: &str) -> Vec<(&'static str, String)> {
    let t = |name: &str| d.table(schema, name);
    let customer = "COALESCE(external_user_id, user_id)";
    let campaign_key = "COALESCE(campaign_id, canvas_id)";
    let campaign_name = "COALESCE(campaign_name, canvas_name)";

    // Touchpoints for attribution: every push event a customer had, one row each.
    let touch_parts: Vec<String> = ["send", "open", "click", "bounce", "abort"]
        .iter()
        .map(|ty| {
            format!(
                "SELECT {customer} AS customer_id, 'push' AS channel, campaign_id, campaign_name, canvas_id, canvas_name, dispatch_id, event_type, platform, occurred_at FROM {}",
                t(&format!("push_{ty}"))
            )
        })
        .collect();
    let touchpoints = touch_parts.join("\nUNION ALL\n");

    // Funnel: opens, clicks and bounces take the day, campaign and platform of the send
    // they follow (same dispatch and customer, within the attribution window); an open
    // with no send found still counts, under its own.
    let follows = |kind: &str, table: &str| {
        format!(
            "SELECT '{kind}' AS kind, {customer} AS customer_id, COALESCE(s.day, {day}) AS day, COALESCE(s.campaign_key, {campaign_key}) AS campaign_key, \
             COALESCE(s.campaign_name, {campaign_name}) AS campaign_name, COALESCE(s.platform, e.platform) AS platform \
             FROM {table} AS e LEFT JOIN sends AS s ON s.dispatch_id = e.dispatch_id AND s.customer_id = {customer} \
             AND e.occurred_at >= s.occurred_at AND e.occurred_at < {until}",
            customer = format!("COALESCE(e.external_user_id, e.user_id)"),
            day = d.day("e.occurred_at"),
            campaign_key = "COALESCE(e.campaign_id, e.canvas_id)",
            campaign_name = "COALESCE(e.campaign_name, e.canvas_name)",
            until = d.plus_days("s.occurred_at", ATTRIBUTION_WINDOW_DAYS as i64),
        )
    };
    let funnel = format!(
        "WITH sends AS (\n  SELECT dispatch_id, {customer} AS customer_id, {day} AS day, {campaign_key} AS campaign_key, {campaign_name} AS campaign_name, platform, occurred_at FROM {send}\n),\n\
         events AS (\n  SELECT 'send' AS kind, customer_id, day, campaign_key, campaign_name, platform FROM sends\n  UNION ALL {open}\n  UNION ALL {click}\n  UNION ALL {bounce}\n  \
         UNION ALL SELECT 'abort' AS kind, {customer} AS customer_id, {day} AS day, {campaign_key} AS campaign_key, {campaign_name} AS campaign_name, platform FROM {abort}\n)\n\
         SELECT day, campaign_key AS campaign_id, MAX(campaign_name) AS campaign_name, platform,\n  \
         SUM(CASE WHEN kind = 'send' THEN 1 ELSE 0 END) AS sends,\n  SUM(CASE WHEN kind = 'bounce' THEN 1 ELSE 0 END) AS bounces,\n  \
         SUM(CASE WHEN kind = 'abort' THEN 1 ELSE 0 END) AS aborts,\n  SUM(CASE WHEN kind = 'open' THEN 1 ELSE 0 END) AS opens,\n  \
         SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END) AS clicks,\n  COUNT(DISTINCT CASE WHEN kind IN ('open', 'click') THEN customer_id END) AS unique_openers,\n  \
         ROUND(1.0 * COUNT(DISTINCT CASE WHEN kind IN ('open', 'click') THEN customer_id END) / NULLIF(SUM(CASE WHEN kind = 'send' THEN 1 ELSE 0 END) - SUM(CASE WHEN kind = 'bounce' THEN 1 ELSE 0 END), 0), 4) AS open_rate,\n  \
         ROUND(1.0 * SUM(CASE WHEN kind = 'bounce' THEN 1 ELSE 0 END) / NULLIF(SUM(CASE WHEN kind = 'send' THEN 1 ELSE 0 END), 0), 4) AS bounce_rate\n\
         FROM events\nGROUP BY day, campaign_key, platform",
        day = d.day("occurred_at"),
        send = t("push_send"),
        abort = t("push_abort"),
        open = follows("open", &t("push_open")),
        click = follows("click", &t("push_click")),
        bounce = follows("bounce", &t("push_bounce")),
    );

    let preferred = preferred_time_query(d, schema, PREFERRED_HOUR_MIN_OPENS);

    // Engagement per customer, for the channel-preference model.
    let engagement = format!(
        "SELECT customer_id,\n  SUM(CASE WHEN event_type = 'send' THEN 1 ELSE 0 END) AS sends,\n  SUM(CASE WHEN event_type = 'open' THEN 1 ELSE 0 END) AS opens,\n  \
         SUM(CASE WHEN event_type = 'click' THEN 1 ELSE 0 END) AS clicks,\n  SUM(CASE WHEN event_type = 'bounce' THEN 1 ELSE 0 END) AS bounces,\n  \
         MAX(CASE WHEN event_type IN ('open', 'click') THEN occurred_at END) AS last_open_at,\n  \
         {since} AS days_since_last_open\nFROM {tp}\nGROUP BY customer_id",
        since = d.days_since("MAX(CASE WHEN event_type IN ('open', 'click') THEN occurred_at END)"),
        tp = t("v_push_touchpoints"),
    );

    // The audit: per hour of Kinesis arrival and table, the lines the batcher had accepted
    // by Firehose against the lines loads found (rows inserted + duplicates dropped).
    let audit = format!(
        "SELECT hour, table_name,\n  SUM(sent) AS sent,\n  SUM(lines_loaded) AS lines_loaded,\n  SUM(inserted) AS rows_inserted,\n  \
         SUM(lines_loaded) - SUM(inserted) AS duplicates_dropped,\n  SUM(sent) - SUM(lines_loaded) AS unaccounted,\n  \
         CASE WHEN SUM(lines_loaded) = SUM(sent) THEN 'balanced' WHEN SUM(lines_loaded) > SUM(sent) THEN 'surplus' \
         WHEN hour < {cutoff} THEN 'missing' ELSE 'in_flight' END AS status\n\
         FROM (\n  SELECT hour, table_name, lines AS sent, 0 AS lines_loaded, 0 AS inserted FROM {sent}\n  \
         UNION ALL\n  SELECT hour, table_name, 0 AS sent, lines AS lines_loaded, inserted FROM {loaded} WHERE table_name <> 'push_audit'\n) AS a\n\
         GROUP BY hour, table_name",
        cutoff = d.minutes_ago(60 + AUDIT_GRACE_MINUTES),
        sent = t("push_audit"),
        loaded = t(crate::schema::LOAD_AUDIT_TABLE),
    );

    vec![
        (
            "v_push_touchpoints",
            d.create(schema, "v_push_touchpoints", &touchpoints),
        ),
        (
            "v_push_funnel_daily",
            d.create(schema, "v_push_funnel_daily", &funnel),
        ),
        (
            "v_push_preferred_time",
            d.create(schema, "v_push_preferred_time", &preferred),
        ),
        (
            "v_push_engagement",
            d.create(schema, "v_push_engagement", &engagement),
        ),
        (
            "v_push_audit_hourly",
            d.create(schema, "v_push_audit_hourly", &audit),
        ),
    ]
}

/// The columns `audit_query` returns, in order.
pub const AUDIT_COLUMNS: &[&str] = &[
    "hour",
    "table_name",
    "sent",
    "lines_loaded",
    "rows_inserted",
    "duplicates_dropped",
    "unaccounted",
    "status",
];

/// The audit view's rows for hours at or after `since_ms`, oldest first; `problems_only`
/// keeps the cells that are missing or surplus.
pub fn audit_query(
    d: Dialect,
    schema: &str,
    since_ms: i64,
    problems_only: bool,
) -> Result<String, crate::sql::SqlError> {
    let schema = crate::sql::ident("schema", schema)?;
    let iso = crate::timefmt::iso(since_ms);
    let since = match d {
        Dialect::Redshift => crate::sql::literal(
            d,
            "since",
            iso.trim_end_matches('Z').replace('T', " ").as_str(),
        )?,
        // Stored timestamps are ISO text: compare like with like.
        Dialect::Sqlite => crate::sql::literal(d, "since", &iso)?,
    };
    Ok(format!(
        "SELECT {} FROM {} WHERE hour >= {since}{} ORDER BY hour, table_name",
        AUDIT_COLUMNS.join(", "),
        d.table(&schema, "v_push_audit_hourly"),
        if problems_only {
            " AND status IN ('missing', 'surplus')"
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_define_every_view_in_order() {
        for d in [Dialect::Redshift, Dialect::Sqlite] {
            let v = views(d, "pushfeed");
            assert_eq!(v.iter().map(|(n, _)| *n).collect::<Vec<_>>(), VIEWS);
            for (name, sql) in &v {
                assert!(sql.contains(name) && sql.len() < crate::sql::MAX_STATEMENT_BYTES);
            }
        }
        let rs = views(Dialect::Redshift, "pushfeed");
        assert!(rs[2]
            .1
            .contains("CONVERT_TIMEZONE('UTC', COALESCE(timezone, 'Europe/London'), occurred_at)"));
        assert!(
            rs[1].1.contains("FROM pushfeed.push_send")
                && rs[1].1.ends_with("WITH NO SCHEMA BINDING")
        );
        assert!(views(Dialect::Sqlite, "pushfeed")[2].1.contains(
            "FROM pf_zone_offsets AS z WHERE z.zone = COALESCE(timezone, 'Europe/London')"
        ));
    }
}
