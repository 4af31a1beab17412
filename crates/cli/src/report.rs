//! `pushfeed report`: one static HTML file (inline SVG, no scripts, no network) from the
//! local warehouse's views: volumes per type per hour, the funnel per campaign, opens by
//! local hour and weekday, and the distribution of preferred hours.

use rusqlite::Connection;
use std::fmt::Write as _;

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

const COLORS: &[(&str, &str)] = &[
    ("send", "#4e79a7"),
    ("open", "#59a14f"),
    ("click", "#f28e2b"),
    ("bounce", "#e15759"),
    ("abort", "#9c755f"),
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Render the report from an open warehouse connection (with pushfeed's SQL functions).
pub fn render(conn: &Connection, title: &str) -> anyhow::Result<String> {
    let mut html = String::new();
    let totals = rows(
        conn,
        "SELECT 'send', COUNT(*) FROM push_send UNION ALL SELECT 'open', COUNT(*) FROM push_open UNION ALL SELECT 'click', COUNT(*) FROM push_click \
         UNION ALL SELECT 'bounce', COUNT(*) FROM push_bounce UNION ALL SELECT 'abort', COUNT(*) FROM push_abort \
         UNION ALL SELECT 'unknown type', COUNT(*) FROM push_unknown_type UNION ALL SELECT 'quarantined', COUNT(*) FROM push_quarantine WHERE chunk_index = 0",
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
    )?;
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;max-width:1100px}}\
         h1{{font-size:22px}}h2{{font-size:17px;margin-top:32px}}table{{border-collapse:collapse;font-size:13px}}\
         td,th{{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         .cards{{display:flex;gap:12px;flex-wrap:wrap}}.card{{border:1px solid #ddd;border-radius:6px;padding:8px 14px}}\
         .card b{{display:block;font-size:20px}}.note{{color:#666;font-size:12px}}</style></head><body><h1>{t}</h1><div class=\"cards\">",
        t = esc(title)
    );
    for (name, n) in &totals {
        let _ = write!(
            html,
            "<div class=\"card\">{}<b>{}</b></div>",
            esc(name),
            crate::run::fmt_n(*n as u64)
        );
    }
    html.push_str("</div>");

    // Volumes per type per hour (UTC).
    let mut series = Vec::new();
    for (ty, _) in COLORS {
        let pts = rows(conn, &format!("SELECT substr(occurred_at, 1, 13) AS h, COUNT(*) FROM push_{ty} GROUP BY h ORDER BY h"), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        series.push((*ty, pts));
    }
    let mut hours: Vec<String> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(h, _)| h.clone()))
        .collect();
    hours.sort();
    hours.dedup();
    html.push_str("<h2>Events per hour by type (UTC)</h2>");
    html.push_str(&line_chart(&hours, &series));

    // Funnel per campaign.
    let funnel = rows(
        conn,
        "SELECT COALESCE(MAX(campaign_name), campaign_id, '(none)'), SUM(sends), SUM(bounces), SUM(aborts), SUM(opens), SUM(clicks), SUM(unique_openers) \
         FROM v_push_funnel_daily GROUP BY campaign_id ORDER BY SUM(sends) DESC LIMIT 25",
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?)),
    )?;
    html.push_str("<h2>Funnel per campaign</h2><table><tr><th>campaign</th><th>sends</th><th>bounces</th><th>aborts</th><th>opens</th><th>clicks</th><th>openers (day × platform)</th><th>open rate</th><th></th></tr>");
    for (name, sends, bounces, aborts, opens, clicks, openers) in &funnel {
        let delivered = (sends - bounces).max(0);
        let rate = if delivered > 0 {
            *openers as f64 / delivered as f64
        } else {
            0.0
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{sends}</td><td>{bounces}</td><td>{aborts}</td><td>{opens}</td><td>{clicks}</td><td>{openers}</td><td>{:.1}%</td>\
             <td><svg width=\"120\" height=\"10\"><rect width=\"{:.0}\" height=\"10\" fill=\"#59a14f\"/></svg></td></tr>",
            esc(name),
            rate * 100.0,
            (rate * 120.0).min(120.0)
        );
    }
    html.push_str("</table><p class=\"note\">Open rate = customers who opened or clicked ÷ sends delivered (sends − bounces), summed over day × platform groups.</p>");

    // Heatmap: opens and clicks by the customer's local hour and weekday.
    let cells = rows(
        conn,
        "WITH o AS (SELECT pf_local_time(occurred_at, COALESCE(timezone, 'Europe/London')) AS t FROM push_open \
         UNION ALL SELECT pf_local_time(occurred_at, COALESCE(timezone, 'Europe/London')) FROM push_click) \
         SELECT CAST(strftime('%w', t) AS INTEGER), CAST(strftime('%H', t) AS INTEGER), COUNT(*) FROM o WHERE t IS NOT NULL GROUP BY 1, 2",
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
    )?;
    html.push_str("<h2>Opens by local hour and weekday</h2>");
    html.push_str(&heatmap(&cells));

    // Distribution of preferred hours.
    let dist = rows(conn, "SELECT preferred_hour, COUNT(*) FROM v_push_preferred_time WHERE preferred_hour IS NOT NULL GROUP BY 1 ORDER BY 1", |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    let none: i64 = conn.query_row(
        "SELECT COUNT(*) FROM v_push_preferred_time WHERE preferred_hour IS NULL",
        [],
        |r| r.get(0),
    )?;
    html.push_str("<h2>Customers by preferred hour (local time)</h2>");
    html.push_str(&bars(&dist));
    let _ = write!(
        html,
        "<p class=\"note\">{} customers have fewer than {} opens in the window and no preferred hour yet.</p></body></html>",
        none,
        pushfeed_core::views::PREFERRED_HOUR_MIN_OPENS
    );
    Ok(html)
}

fn line_chart(hours: &[String], series: &[(&str, Vec<(String, i64)>)]) -> String {
    let (w, h, pad) = (1000.0, 260.0, 40.0);
    let max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, n)| *n))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (hours.len().max(2) - 1) as f64;
    let y = |n: i64| h - pad - (h - 2.0 * pad) * n as f64 / max;
    let mut svg = format!("<svg width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"events per hour\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>");
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/>",
        h - pad,
        w - pad
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{}\" font-size=\"11\">{}</text>",
        pad, max as i64
    );
    for (i, hour) in hours.iter().enumerate().step_by((hours.len() / 8).max(1)) {
        let _ = write!(
            svg,
            "<text x=\"{:.0}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - pad + 14.0,
            esc(&hour.replace('T', " "))
        );
    }
    for (legend, (ty, pts)) in series.iter().enumerate() {
        let color = COLORS
            .iter()
            .find(|(t, _)| t == ty)
            .map(|(_, c)| *c)
            .unwrap_or("#333");
        let path: Vec<String> = pts
            .iter()
            .filter_map(|(hour, n)| {
                hours
                    .iter()
                    .position(|h| h == hour)
                    .map(|i| format!("{:.1},{:.1}", x(i), y(*n)))
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        let _ = write!(svg, "<rect x=\"{}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"17\" font-size=\"12\">{ty}</text>", 60 + legend * 90, 74 + legend * 90);
    }
    svg.push_str("</svg>");
    svg
}

fn heatmap(cells: &[(i64, i64, i64)]) -> String {
    let max = cells.iter().map(|c| c.2).max().unwrap_or(1).max(1) as f64;
    let (cw, ch, left, top) = (34.0, 24.0, 40.0, 20.0);
    let mut svg = format!(
        "<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"opens heatmap\">",
        left + 24.0 * cw + 10.0,
        top + 7.0 * ch + 10.0
    );
    for hour in 0..24 {
        let _ = write!(
            svg,
            "<text x=\"{:.0}\" y=\"14\" font-size=\"10\" text-anchor=\"middle\">{hour:02}</text>",
            left + hour as f64 * cw + cw / 2.0
        );
    }
    for (d, name) in WEEKDAYS.iter().enumerate() {
        let _ = write!(
            svg,
            "<text x=\"4\" y=\"{:.0}\" font-size=\"11\">{name}</text>",
            top + d as f64 * ch + 16.0
        );
        for hour in 0..24 {
            let n = cells
                .iter()
                .find(|c| c.0 == d as i64 && c.1 == hour)
                .map(|c| c.2)
                .unwrap_or(0);
            let a = (n as f64 / max).sqrt();
            let _ = write!(
                svg,
                "<rect x=\"{:.0}\" y=\"{:.0}\" width=\"{}\" height=\"{}\" fill=\"rgb({:.0},{:.0},{:.0})\"><title>{} {hour:02}:00 — {n} opens</title></rect>",
                left + hour as f64 * cw,
                top + d as f64 * ch,
                cw - 2.0,
                ch - 2.0,
                255.0 - 200.0 * a,
                255.0 - 95.0 * a,
                255.0 - 175.0 * a,
                name
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn bars(dist: &[(i64, i64)]) -> String {
    let max = dist.iter().map(|d| d.1).max().unwrap_or(1).max(1) as f64;
    let (bw, h) = (34.0, 160.0);
    let mut svg = format!(
        "<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"preferred hours\">",
        24.0 * bw + 20.0,
        h + 40.0
    );
    for hour in 0..24 {
        let n = dist.iter().find(|d| d.0 == hour).map(|d| d.1).unwrap_or(0);
        let bh = h * n as f64 / max;
        let x = 10.0 + hour as f64 * bw;
        let _ = write!(
            svg,
            "<rect x=\"{x:.0}\" y=\"{:.0}\" width=\"{}\" height=\"{bh:.0}\" fill=\"#4e79a7\"><title>{hour:02}:00 — {n} customers</title></rect>\
             <text x=\"{:.0}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{hour:02}</text>",
            h - bh + 10.0,
            bw - 4.0,
            x + (bw - 4.0) / 2.0,
            h + 24.0
        );
    }
    svg.push_str("</svg>");
    svg
}
