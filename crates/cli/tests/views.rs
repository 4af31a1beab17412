//! The analyst views on a generated feed whose truth is known: preferred hours planted by
//! the generator are recovered, and the funnel equals counts computed here from the raw
//! tables, independently of the view's SQL.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

fn pushfeed(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_pushfeed"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pushfeed {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn sql(dir: &Path, q: &str) -> Vec<Value> {
    serde_json::from_slice(&pushfeed(&[
        "sql",
        "--json",
        "--data-dir",
        dir.to_str().unwrap(),
        q,
    ]))
    .unwrap()
}

fn setup() -> (std::path::PathBuf, Vec<Value>) {
    let dir = std::env::temp_dir().join(format!("pushfeed-views-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let feed = dir.join("feed.jsonl");
    let truth = dir.join("truth.json");
    pushfeed(&[
        "generate",
        "--events",
        "30000",
        "--days",
        "14",
        "--seed",
        "11",
        "--output",
        feed.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    pushfeed(&[
        "run",
        "--quiet",
        "--input",
        feed.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let truth: Vec<Value> = serde_json::from_slice(&std::fs::read(truth).unwrap()).unwrap();
    (dir, truth)
}

#[test]
fn views_recover_planted_preferences_and_count_the_funnel_exactly() {
    let (dir, truth) = setup();

    // Preferred hour: recovered for at least 90% of customers with enough opens.
    let planted: HashMap<&str, i64> = truth
        .iter()
        .map(|c| {
            (
                c["external_id"].as_str().unwrap(),
                c["preferred_hour"].as_i64().unwrap(),
            )
        })
        .collect();
    let prefs = sql(&dir, "SELECT customer_id, opens, preferred_hour, opens_at_preferred_hour, preferred_weekday FROM v_push_preferred_time");
    let with_hour: Vec<&Value> = prefs
        .iter()
        .filter(|p| !p["preferred_hour"].is_null())
        .collect();
    assert!(
        with_hour.len() > 200,
        "only {} customers with enough opens",
        with_hour.len()
    );
    let recovered = with_hour
        .iter()
        .filter(|p| {
            planted.get(p["customer_id"].as_str().unwrap()).copied() == p["preferred_hour"].as_i64()
        })
        .count();
    let share = recovered as f64 / with_hour.len() as f64;
    assert!(
        share >= 0.9,
        "preferred hour recovered for {recovered} of {} ({share:.3})",
        with_hour.len()
    );
    for p in &prefs {
        let opens = p["opens"].as_i64().unwrap();
        assert_eq!(
            p["preferred_hour"].is_null(),
            opens < pushfeed_core::views::PREFERRED_HOUR_MIN_OPENS as i64,
            "{p}"
        );
        if !p["preferred_weekday"].is_null() {
            assert!((0..7).contains(&p["preferred_weekday"].as_i64().unwrap()));
        }
    }

    // App opens (Airship OPEN without a triggering push) are in the feed, in their own
    // table, and no view counts them as push opens: the preferred-time opens are exactly the
    // push opens and clicks, and the touchpoints hold push events only.
    let count = |q: &str| sql(&dir, q)[0]["n"].as_i64().unwrap();
    let app_opens = count("SELECT COUNT(*) AS n FROM push_app_open");
    assert!(
        app_opens > 100,
        "the generated feed has app opens: {app_opens}"
    );
    let push_opens = count("SELECT COUNT(*) AS n FROM push_open WHERE COALESCE(external_user_id, user_id) IS NOT NULL")
        + count("SELECT COUNT(*) AS n FROM push_click WHERE COALESCE(external_user_id, user_id) IS NOT NULL");
    let preferred_opens = count("SELECT SUM(opens) AS n FROM v_push_preferred_time");
    assert_eq!(
        preferred_opens, push_opens,
        "preferred time reads push opens and clicks only"
    );
    let kinds: BTreeSet<String> = sql(&dir, "SELECT DISTINCT event_type FROM v_push_touchpoints")
        .iter()
        .map(|r| r["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds
            .iter()
            .all(|k| ["send", "open", "click", "bounce", "abort"].contains(&k.as_str())),
        "{kinds:?}"
    );
    // The new types the vendors document are in the feed and land in their tables.
    for table in [
        "push_control",
        "push_uninstall",
        "push_bounce",
        "push_abort",
    ] {
        for vendor in ["braze", "airship"] {
            let n = count(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE vendor = '{vendor}'"
            ));
            assert!(n > 0, "{table} has no {vendor} rows");
        }
    }
    assert!(count("SELECT COUNT(*) AS n FROM push_open WHERE vendor_event_type = 'WEB_CLICK' AND platform = 'web'") > 0);
    assert!(count("SELECT COUNT(*) AS n FROM push_send WHERE vendor = 'airship' AND message_variation_id IN ('1', '2')") > 0);

    // Funnel: recount from the raw tables with the documented rules.
    let rows = |table: &str| {
        sql(&dir, &format!("SELECT event_id, COALESCE(external_user_id, user_id) AS c, dispatch_id, date(occurred_at) AS day, occurred_at, COALESCE(campaign_id, canvas_id) AS k, platform FROM {table}"))
    };
    let sends = rows("push_send");
    let mut by_dispatch: HashMap<(String, String), Vec<&Value>> = HashMap::new();
    for s in &sends {
        if let (Some(d), Some(c)) = (s["dispatch_id"].as_str(), s["c"].as_str()) {
            by_dispatch
                .entry((d.to_owned(), c.to_owned()))
                .or_default()
                .push(s);
        }
    }
    type Group = (String, String, String); // day, campaign key, platform
    let key = |v: &Value| -> Group {
        (
            v["day"].as_str().unwrap_or("").to_owned(),
            v["k"].as_str().unwrap_or("").to_owned(),
            v["platform"].as_str().unwrap_or("").to_owned(),
        )
    };
    let mut expect: BTreeMap<Group, [i64; 5]> = BTreeMap::new(); // sends, bounces, aborts, opens, clicks
    let mut openers: BTreeMap<Group, BTreeSet<String>> = BTreeMap::new();
    for s in &sends {
        expect.entry(key(s)).or_default()[0] += 1;
    }
    for a in rows("push_abort") {
        expect.entry(key(&a)).or_default()[2] += 1;
    }
    let plus_7_days = |ts: &str| {
        pushfeed_core::timefmt::iso(pushfeed_core::timefmt::parse_iso(ts).unwrap() + 7 * 86_400_000)
    };
    for (table, slot) in [("push_bounce", 1), ("push_open", 3), ("push_click", 4)] {
        for e in rows(table) {
            let at = e["occurred_at"].as_str().unwrap();
            let send = e["dispatch_id"]
                .as_str()
                .zip(e["c"].as_str())
                .and_then(|(d, c)| by_dispatch.get(&(d.to_owned(), c.to_owned())))
                .and_then(|candidates| {
                    candidates.iter().find(|s| {
                        let s_at = s["occurred_at"].as_str().unwrap();
                        at >= s_at && at < plus_7_days(s_at).as_str()
                    })
                });
            let mut group = send.map(|s| key(s)).unwrap_or_else(|| key(&e));
            if send.is_some() && group.2.is_empty() {
                group.2 = e["platform"].as_str().unwrap_or("").to_owned();
            }
            expect.entry(group.clone()).or_default()[slot] += 1;
            if slot >= 3 {
                openers
                    .entry(group)
                    .or_default()
                    .insert(e["c"].as_str().unwrap_or("").to_owned());
            }
        }
    }
    let funnel = sql(&dir, "SELECT day, COALESCE(campaign_id, '') AS k, COALESCE(platform, '') AS p, sends, bounces, aborts, opens, clicks, unique_openers FROM v_push_funnel_daily");
    assert_eq!(
        funnel.len(),
        expect.len(),
        "number of day × campaign × platform groups"
    );
    let total_opens: i64 = funnel.iter().map(|f| f["opens"].as_i64().unwrap()).sum();
    assert_eq!(
        total_opens,
        sql(&dir, "SELECT COUNT(*) AS n FROM push_open")[0]["n"]
            .as_i64()
            .unwrap(),
        "every open counts once, matched or not"
    );
    for f in &funnel {
        let g = (
            f["day"].as_str().unwrap().to_owned(),
            f["k"].as_str().unwrap().to_owned(),
            f["p"].as_str().unwrap().to_owned(),
        );
        let want = expect
            .get(&g)
            .unwrap_or_else(|| panic!("group {g:?} not expected"));
        let got = [
            f["sends"].as_i64().unwrap(),
            f["bounces"].as_i64().unwrap(),
            f["aborts"].as_i64().unwrap(),
            f["opens"].as_i64().unwrap(),
            f["clicks"].as_i64().unwrap(),
        ];
        assert_eq!(&got, want, "{g:?}");
        assert_eq!(
            f["unique_openers"].as_i64().unwrap(),
            openers.get(&g).map(|s| s.len() as i64).unwrap_or(0),
            "{g:?}"
        );
    }

    // Engagement and touchpoints agree with the tables.
    let eng = sql(
        &dir,
        "SELECT SUM(sends) AS s, SUM(opens) AS o, SUM(clicks) AS c FROM v_push_engagement",
    );
    assert_eq!(eng[0]["s"].as_i64().unwrap(), sends.len() as i64);
    let tp = sql(
        &dir,
        "SELECT COUNT(*) AS n, COUNT(DISTINCT channel) AS ch FROM v_push_touchpoints",
    );
    assert_eq!(tp[0]["ch"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}
