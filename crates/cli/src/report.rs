//! `pushfeed report`: one static HTML file (inline SVG, no scripts, no network) from the
//! local warehouse's views, made to be forwarded: the period and when it was generated up
//! front; every chart with axes, gridlines and labelled scales; one panel per event type so
//! small series stay readable; the funnel per campaign and platform with readable rates; a
//! colour scale on the heatmap; the preferred-hour coverage stated before its chart.

use crate::run::fmt_n;
use pushfeed_core::sql::Dialect;
use pushfeed_core::views::{
    local_time_sql, preferred_time_query, DEFAULT_TIMEZONE, PREFERENCE_WINDOW_DAYS,
};
use rusqlite::Connection;
use std::fmt::Write as _;

/// What the report is drawn from and how.
pub struct Options {
    /// Where the data came from (shown small under the title).
    pub source: String,
    /// Opens (and clicks) a customer needs for a preferred hour.
    pub min_opens: u32,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn rows<T>(
    conn: &Connection,
    sql: &str,
    f: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let mut stmt = conn.prepare(sql)?;
    let out = stmt.query_map([], f)?.collect::<Result<Vec<T>, _>>()?;
    Ok(out)
}

fn count(conn: &Connection, sql: &str) -> anyhow::Result<i64> {
    Ok(conn
        .query_row(sql, [], |r| r.get::<_, Option<i64>>(0))?
        .unwrap_or(0))
}

const TYPES: &[(&str, &str)] = &[
    ("send", "#4e79a7"),
    ("open", "#59a14f"),
    ("click", "#f28e2b"),
    ("bounce", "#e15759"),
    ("abort", "#9c755f"),
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v`: a round top for an axis.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|x| *x >= v)
        .unwrap_or(10.0 * p)
}

fn pct(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// A y axis from 0 to `top` (a [`nice_max`]), labelled gridlines at round values.
fn y_axis(
    svg: &mut String,
    left: f64,
    right: f64,
    top_y: f64,
    bottom_y: f64,
    top: f64,
    fmt: &dyn Fn(f64) -> String,
) {
    // Gridlines at round values: 4 steps for a top of 2 × 10ⁿ, 5 for 1 or 5 × 10ⁿ.
    let mantissa = top / 10f64.powf(top.log10().floor());
    let steps = if (mantissa - 2.0).abs() < 1e-9 { 4 } else { 5 };
    for i in 0..=steps {
        let v = top * i as f64 / steps as f64;
        let y = bottom_y - (bottom_y - top_y) * i as f64 / steps as f64;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"{}\"/>\
             <text x=\"{:.0}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            if i == 0 { "#888" } else { "#e6e6e6" },
            left - 4.0,
            y + 3.5,
            fmt(v)
        );
    }
}

/// Render the report from an open warehouse connection.
pub fn render(conn: &Connection, opts: &Options) -> anyhow::Result<String> {
    let (first, last): (Option<String>, Option<String>) = conn.query_row(
        "SELECT MIN(occurred_at), MAX(occurred_at) FROM push_send",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let day = |t: &Option<String>| {
        t.as_deref()
            .map_or("-".to_owned(), |t| t[..10.min(t.len())].to_owned())
    };
    let period = if first.is_some() {
        format!("{} to {}", day(&first), day(&last))
    } else {
        "no sends loaded yet".to_owned()
    };
    let generated = pushfeed_core::timefmt::iso(pushfeed_core::timefmt::now_ms());
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Push notification feedback, {p}</title><style>\
         body{{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;color:#222;max-width:1120px;padding:0 16px}}\
         h1{{font-size:24px;margin-bottom:2px}}h2{{font-size:18px;margin:34px 0 6px}}.sub{{color:#555;font-size:13px}}\
         table{{border-collapse:collapse;font-size:13px;width:100%}}td,th{{padding:4px 8px;border-bottom:1px solid #e3e3e3;text-align:right;white-space:nowrap}}\
         th{{background:#f4f4f4}}td:first-child,th:first-child{{text-align:left;white-space:normal}}tr.platform td{{color:#555;font-size:12px}}\
         tr.platform td:first-child{{padding-left:22px}}.cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}}\
         .card{{border:1px solid #ddd;border-radius:6px;padding:8px 12px;font-size:13px;color:#444}}.card b{{display:block;font-size:21px;color:#111}}\
         .panels{{display:grid;grid-template-columns:1fr 1fr;gap:8px 18px}}.note{{color:#555;font-size:12px}}.lead{{font-size:14px}}\
         </style></head><body><h1>Push notification feedback, {p}</h1>\
         <div class=\"sub\">Generated {g} (UTC) by pushfeed from {s}. Times are UTC unless marked local.</div>",
        p = esc(&period),
        g = esc(&generated[..19.min(generated.len())].replace('T', " ")),
        s = esc(&opts.source)
    );

    // Headline figures.
    let n = |t: &str| count(conn, &format!("SELECT COUNT(*) FROM push_{t}"));
    let (sends, opens, clicks, bounces, aborts) = (
        n("send")?,
        n("open")?,
        n("click")?,
        n("bounce")?,
        n("abort")?,
    );
    let openers = count(conn, "SELECT SUM(unique_openers) FROM v_push_funnel_daily")?;
    let delivered = (sends - bounces).max(0);
    let unknown = count(conn, "SELECT COUNT(*) FROM push_unknown_type")?;
    let quarantined = count(
        conn,
        "SELECT COUNT(*) FROM push_quarantine WHERE chunk_index = 0",
    )?;
    html.push_str("<h2>Overview</h2><div class=\"cards\">");
    let ratio = |a: i64, b: i64| {
        if b > 0 {
            pct(a as f64 / b as f64)
        } else {
            "-".to_owned()
        }
    };
    for (label, value) in [
        ("Sends", fmt_n(sends as u64)),
        ("Delivered (sends − bounces)", fmt_n(delivered as u64)),
        ("Opens", fmt_n(opens as u64)),
        ("Clicks (button links)", fmt_n(clicks as u64)),
        ("Open rate (customers)", ratio(openers, delivered)),
        ("Bounce rate", ratio(bounces, sends)),
        ("Aborted before sending", fmt_n(aborts as u64)),
        (
            "Unknown types / bad records",
            format!("{} / {}", fmt_n(unknown as u64), fmt_n(quarantined as u64)),
        ),
    ] {
        let _ = write!(
            html,
            "<div class=\"card\">{}<b>{}</b></div>",
            esc(label),
            esc(&value)
        );
    }
    html.push_str("</div>");

    // Volumes per hour: one panel per type, each on its own scale.
    html.push_str("<h2>Events per hour, by type</h2><p class=\"note\">Each panel has its own scale, so the smaller types stay readable beside sends.</p><div class=\"panels\">");
    let mut hours: Vec<String> = Vec::new();
    let mut series = Vec::new();
    for (ty, color) in TYPES {
        let pts = rows(
            conn,
            &format!(
                "SELECT substr(occurred_at, 1, 13), COUNT(*) FROM push_{ty} GROUP BY 1 ORDER BY 1"
            ),
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
        )?;
        hours.extend(pts.iter().map(|(h, _)| h.clone()));
        series.push((*ty, *color, pts));
    }
    hours.sort();
    hours.dedup();
    for (ty, color, pts) in &series {
        html.push_str(&hour_panel(ty, color, &hours, pts));
    }
    html.push_str("</div>");

    // The funnel per campaign, split by platform.
    html.push_str(&funnel(conn)?);

    // Opens by local hour and weekday.
    let local = local_time_sql(
        Dialect::Sqlite,
        "occurred_at",
        &format!("COALESCE(timezone, '{DEFAULT_TIMEZONE}')"),
    );
    let cells = rows(
        conn,
        &format!(
            "WITH o AS (SELECT {local} AS t FROM push_open UNION ALL SELECT {local} FROM push_click) \
             SELECT CAST(strftime('%w', t) AS INTEGER), CAST(strftime('%H', t) AS INTEGER), COUNT(*) FROM o WHERE t IS NOT NULL GROUP BY 1, 2"
        ),
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
    )?;
    html.push_str("<h2>Opens and clicks by the customer's local hour and weekday</h2>");
    html.push_str(&heatmap(&cells));

    // Preferred hours, coverage first.
    html.push_str(&preferred(conn, opts.min_opens)?);
    html.push_str("</body></html>");
    Ok(html)
}

fn hour_panel(ty: &str, color: &str, hours: &[String], pts: &[(String, i64)]) -> String {
    let (w, h, left, right, top, bottom) = (540.0, 190.0, 52.0, 10.0, 26.0, 36.0);
    let max = nice_max(pts.iter().map(|p| p.1).max().unwrap_or(0).max(5) as f64);
    let total: i64 = pts.iter().map(|p| p.1).sum();
    let x = |i: usize| left + (w - left - right) * i as f64 / (hours.len().max(2) - 1) as f64;
    let y = |n: i64| h - bottom - (h - top - bottom) * n as f64 / max;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{ty} events per hour\">\
         <text x=\"{left}\" y=\"16\" font-size=\"13\" font-weight=\"600\" fill=\"{color}\">{ty}</text>\
         <text x=\"{}\" y=\"16\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">{} in all, per hour</text>",
        w - right,
        fmt_n(total.max(0) as u64)
    );
    y_axis(&mut svg, left, w - right, top, h - bottom, max, &|v| {
        fmt_n(v as u64)
    });
    // A tick at each day's midnight (at most 8 labels).
    let days: Vec<(usize, &str)> = hours
        .iter()
        .enumerate()
        .filter(|(_, hr)| hr.ends_with("T00"))
        .map(|(i, hr)| (i, &hr[5..10]))
        .collect();
    let step = days.len().div_ceil(8).max(1);
    for (i, d) in days.iter().step_by(step) {
        let _ = write!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#888\"/><text x=\"{0:.1}\" y=\"{3}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">{d}</text>",
            x(*i),
            h - bottom,
            h - bottom + 4.0,
            h - bottom + 15.0
        );
    }
    let _ = write!(svg, "<text x=\"{:.0}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">day (UTC, month-day)</text>", (left + w - right) / 2.0, h - 4.0);
    // Every hour of the period; an hour without events at 0.
    let mut by_hour = vec![0i64; hours.len()];
    for (hour, n) in pts {
        if let Ok(i) = hours.binary_search(hour) {
            by_hour[i] = *n;
        }
    }
    let path: Vec<String> = by_hour
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{:.1},{:.1}", x(i), y(*n)))
        .collect();
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" points=\"{}\"/></svg>",
        path.join(" ")
    );
    format!("<div>{svg}</div>")
}

struct FunnelRow {
    campaign: String,
    platform: String,
    sends: i64,
    bounces: i64,
    openers: i64,
    clicks: i64,
}

fn funnel(conn: &Connection) -> anyhow::Result<String> {
    let all = rows(
        conn,
        "SELECT COALESCE(MAX(campaign_name), campaign_id, '(no campaign)'), COALESCE(platform, '(unknown)'), SUM(sends), SUM(bounces), SUM(unique_openers), SUM(clicks) \
         FROM v_push_funnel_daily GROUP BY campaign_id, platform",
        |r| {
            Ok(FunnelRow {
                campaign: r.get(0)?,
                platform: r.get(1)?,
                sends: r.get(2)?,
                bounces: r.get(3)?,
                openers: r.get(4)?,
                clicks: r.get(5)?,
            })
        },
    )?;
    let mut campaigns: Vec<(String, Vec<&FunnelRow>)> = Vec::new();
    for r in &all {
        match campaigns.iter_mut().find(|(c, _)| *c == r.campaign) {
            Some((_, v)) => v.push(r),
            None => campaigns.push((r.campaign.clone(), vec![r])),
        }
    }
    let sends_of = |v: &Vec<&FunnelRow>| v.iter().map(|r| r.sends).sum::<i64>();
    campaigns.sort_by_key(|(_, v)| -sends_of(v));
    let shown = campaigns.len().min(15);
    let rate = |o: i64, s: i64, b: i64| {
        let d = (s - b).max(0);
        (d > 0).then(|| o as f64 / d as f64)
    };
    let max_rate = campaigns
        .iter()
        .take(shown)
        .flat_map(|(_, v)| v.iter())
        .filter_map(|r| rate(r.openers, r.sends, r.bounces))
        .fold(0.0f64, f64::max);
    let scale = nice_max(max_rate * 100.0) / 100.0;
    let bar = |r: Option<f64>| -> String {
        match r {
            None => "-".to_owned(),
            Some(r) => format!(
                "<svg width=\"150\" height=\"14\" role=\"img\" aria-label=\"{p}\"><rect width=\"150\" height=\"14\" fill=\"#f1f1f1\"/>\
                 <rect width=\"{:.1}\" height=\"14\" fill=\"#59a14f\"/><text x=\"4\" y=\"11\" font-size=\"11\" fill=\"#111\">{p}</text></svg>",
                150.0 * (r / scale).min(1.0),
                p = pct(r)
            ),
        }
    };
    let mut html = format!(
        "<h2>Funnel per campaign and platform</h2><p class=\"note\">The {shown} campaigns with most sends{}. \
         <b>Open rate</b> = customers who opened or clicked ÷ sends delivered (sends − bounces); the bars run from 0 to {}.</p>\
         <table><tr><th>Campaign / platform</th><th>Sends</th><th>Delivered</th><th>Customers who opened</th><th>Open rate</th><th>Clicks</th><th>Bounce rate</th></tr>",
        if campaigns.len() > shown { format!(" (of {})", campaigns.len()) } else { String::new() },
        pct(scale)
    );
    let line = |html: &mut String, class: &str, label: &str, s: i64, b: i64, o: i64, c: i64| {
        let _ = write!(
            html,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(label),
            fmt_n(s.max(0) as u64),
            fmt_n((s - b).max(0) as u64),
            fmt_n(o.max(0) as u64),
            bar(rate(o, s, b)),
            fmt_n(c.max(0) as u64),
            if s > 0 { pct(b as f64 / s as f64) } else { "-".to_owned() }
        );
    };
    for (name, platforms) in campaigns.iter().take(shown) {
        let sum = |f: fn(&FunnelRow) -> i64| platforms.iter().map(|r| f(r)).sum::<i64>();
        line(
            &mut html,
            "campaign",
            name,
            sum(|r| r.sends),
            sum(|r| r.bounces),
            sum(|r| r.openers),
            sum(|r| r.clicks),
        );
        let mut sorted = platforms.clone();
        sorted.sort_by_key(|r| -r.sends);
        for r in sorted {
            line(
                &mut html,
                "platform",
                &r.platform,
                r.sends,
                r.bounces,
                r.openers,
                r.clicks,
            );
        }
    }
    html.push_str("</table>");
    Ok(html)
}

fn heatmap(cells: &[(i64, i64, i64)]) -> String {
    let max = cells.iter().map(|c| c.2).max().unwrap_or(0).max(1) as f64;
    let (cw, ch, left, top) = (40.0, 26.0, 46.0, 34.0);
    let colour = |n: f64| {
        let a = (n / max).sqrt();
        format!(
            "rgb({:.0},{:.0},{:.0})",
            255.0 - 200.0 * a,
            255.0 - 95.0 * a,
            255.0 - 175.0 * a
        )
    };
    let width = left + 24.0 * cw + 10.0;
    let height = top + 7.0 * ch + 70.0;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"opens heatmap\">\
         <text x=\"{:.0}\" y=\"12\" font-size=\"11\" text-anchor=\"middle\" fill=\"#555\">hour of the day, the customer's local time</text>",
        left + 12.0 * cw
    );
    for hour in 0..24 {
        let _ = write!(
            svg,
            "<text x=\"{:.0}\" y=\"28\" font-size=\"10\" text-anchor=\"middle\">{hour:02}</text>",
            left + hour as f64 * cw + cw / 2.0
        );
    }
    for (d, name) in WEEKDAYS.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x=\"6\" y=\"{:.0}\" font-size=\"11\">{name}</text>",
            top + d as f64 * ch + 17.0
        );
        for hour in 0..24 {
            let n = cells
                .iter()
                .find(|c| c.0 == d as i64 && c.1 == hour)
                .map_or(0, |c| c.2);
            let _ = write!(
                svg,
                "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{name} {hour:02}:00, {} opens and clicks</title></rect>",
                left + hour as f64 * cw,
                top + d as f64 * ch,
                cw - 2.0,
                ch - 2.0,
                colour(n as f64),
                fmt_n(n.max(0) as u64)
            );
        }
    }
    // The colour scale.
    let sy = top + 7.0 * ch + 22.0;
    let _ = write!(svg, "<text x=\"{left}\" y=\"{:.0}\" font-size=\"11\" fill=\"#555\">opens and clicks per cell:</text>", sy - 6.0);
    for i in 0..=5 {
        let v = max * i as f64 / 5.0;
        let x = left + 150.0 + i as f64 * 70.0;
        let _ = write!(
            svg,
            "<rect x=\"{x:.0}\" y=\"{:.0}\" width=\"60\" height=\"14\" fill=\"{}\" stroke=\"#ccc\"/><text x=\"{:.0}\" y=\"{:.0}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            sy - 18.0,
            colour(v),
            x + 30.0,
            sy + 8.0,
            fmt_n(v.round() as u64)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn preferred(conn: &Connection, min_opens: u32) -> anyhow::Result<String> {
    let query = preferred_time_query(Dialect::Sqlite, "main", min_opens);
    let dist = rows(
        conn,
        &format!("SELECT preferred_hour, COUNT(*) FROM ({query}) WHERE preferred_hour IS NOT NULL GROUP BY 1 ORDER BY 1"),
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )?;
    let with_opens = count(conn, &format!("SELECT COUNT(*) FROM ({query})"))?;
    let reached = count(
        conn,
        "SELECT COUNT(DISTINCT COALESCE(external_user_id, user_id)) FROM push_send",
    )?;
    let covered: i64 = dist.iter().map(|d| d.1).sum();
    let share = |a: i64, b: i64| {
        if b > 0 {
            pct(a as f64 / b as f64)
        } else {
            "-".to_owned()
        }
    };
    let mut html = format!(
        "<h2>Customers by preferred hour (local time)</h2><p class=\"lead\"><b>{} of {} customers sent a push ({})</b> have a preferred hour: \
         at least {min_opens} opens or clicks in the {PREFERENCE_WINDOW_DAYS} days up to the newest open. {} more opened at least once but \
         fewer times{}.</p>",
        fmt_n(covered.max(0) as u64),
        fmt_n(reached.max(0) as u64),
        share(covered, reached),
        fmt_n((with_opens - covered).max(0) as u64),
        if min_opens > 1 {
            format!("; <code>pushfeed report --min-opens {}</code> lowers the bar", (min_opens / 2).max(1))
        } else {
            String::new()
        }
    );
    let max = nice_max(dist.iter().map(|d| d.1).max().unwrap_or(0).max(5) as f64);
    let (w, h, left, right, top, bottom) = (1000.0, 230.0, 56.0, 10.0, 12.0, 40.0);
    let bw = (w - left - right) / 24.0;
    let mut svg = format!("<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"customers by preferred hour\">");
    y_axis(&mut svg, left, w - right, top, h - bottom, max, &|v| {
        fmt_n(v as u64)
    });
    for hour in 0..24 {
        let n = dist.iter().find(|d| d.0 == hour).map_or(0, |d| d.1);
        let bh = (h - top - bottom) * n as f64 / max;
        let x = left + hour as f64 * bw;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#4e79a7\"><title>{hour:02}:00, {} customers</title></rect>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{hour:02}</text>",
            x + 3.0,
            h - bottom - bh,
            bw - 6.0,
            fmt_n(n.max(0) as u64),
            x + bw / 2.0,
            h - bottom + 14.0
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{:.0}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">preferred hour (local time)</text>\
         <text x=\"12\" y=\"{:.0}\" font-size=\"10\" fill=\"#555\" transform=\"rotate(-90 12 {:.0})\" text-anchor=\"middle\">customers</text></svg>",
        (left + w - right) / 2.0,
        h - 6.0,
        (top + h - bottom) / 2.0,
        (top + h - bottom) / 2.0
    );
    html.push_str(&svg);
    Ok(html)
}
