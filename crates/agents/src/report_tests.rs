//! The report's charts, its HTML page and the prices it names, over the hand-made fixture of
//! tests/fixtures/agents/ (14 days, 2026-01-10 the anomalous one, three models).

use std::path::PathBuf;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::charts::{ChartError, ChartKind, Charts};
use crate::ingest::{Format, IngestRequest, ingest};
use crate::narrator::DeterministicNarrator;
use crate::report::{StoredReport, html, markdown};
use crate::{AgentKind, AgentRequest, Report, pipeline, run_agent};
use apex_core::events::NullSink;
use apex_core::pricing::{PriceCatalog, PriceOrigin};
use apex_store::Store;

fn fixture_report(catalog: &PriceCatalog, request: &str) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("apex.db")).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/agents/workload.jsonl");
    let req = IngestRequest {
        path: &path,
        format: Format::Auto,
        dataset: "fixture",
        columns: Default::default(),
    };
    ingest(&store, catalog, &req, &NullSink, &CancellationToken::new()).unwrap();
    let req = AgentRequest {
        agent: AgentKind::Supervisor,
        request: request.into(),
        dataset: Some("fixture".into()),
    };
    run_agent(
        &store,
        catalog,
        &req,
        &DeterministicNarrator,
        &NullSink,
        &CancellationToken::new(),
    )
    .unwrap()
}

fn stored(report: &Report) -> StoredReport {
    StoredReport::from_run_result(&pipeline::run_result(report))
        .unwrap()
        .unwrap()
}

/// Every start tag `<name ...>` of an SVG document, as its text.
fn tags<'a>(svg: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name} ");
    svg.match_indices(&open)
        .map(|(i, _)| &svg[i..i + svg[i..].find('>').unwrap()])
        .collect()
}

fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let start = tag.find(&key).unwrap_or_else(|| panic!("{name} in {tag}")) + key.len();
    &tag[start..start + tag[start..].find('"').unwrap()]
}

/// The text of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text ")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').unwrap() + 1..];
            body[..body.find("</text>").unwrap()].trim().to_string()
        })
        .collect()
}

fn points(tag: &str) -> Vec<(i32, i32)> {
    attr(tag, "points")
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_daily_spend_chart_draws_each_day_and_marks_the_anomalous_one() {
    let report = fixture_report(PriceCatalog::builtin(), "cut spend");
    let charts = stored(&report).charts;
    assert_eq!(charts.available(), ChartKind::ALL.to_vec());
    let svg = charts.svg(ChartKind::DailySpend).unwrap();
    assert!(
        svg.starts_with("<svg width=\"860\" height=\"400\""),
        "{svg:.80}"
    );
    // One line through the 14 days (blue, 2 px), left to right.
    let lines: Vec<&str> = tags(&svg, "polyline")
        .into_iter()
        .filter(|t| attr(t, "stroke") == "#1F77B4" && attr(t, "stroke-width") == "2")
        .collect();
    let line = points(lines[0]);
    assert_eq!(line.len(), 14, "{}", lines[0]);
    assert!(line.windows(2).all(|w| w[0].0 < w[1].0));
    // The highest point (smallest y) is day 10, 2026-01-10: marked by a red dot and its label.
    let peak = line.iter().enumerate().min_by_key(|(_, p)| p.1).unwrap();
    assert_eq!(peak.0, 9);
    let marks: Vec<(i32, i32)> = tags(&svg, "circle")
        .into_iter()
        .filter(|t| attr(t, "fill") == "#D62728" && attr(t, "r") == "7")
        .map(|t| {
            (
                attr(t, "cx").parse().unwrap(),
                attr(t, "cy").parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(marks, vec![*peak.1]);
    let text = texts(&svg);
    for needle in [
        "Daily spend, anomalous days marked",
        "2026-01-10 z=70.96",
        "median day $0.11",
        "01-01",
        "01-13",
        "$2.00",
    ] {
        assert!(text.iter().any(|t| t == needle), "{needle} not in {text:?}");
    }
}

#[test]
fn the_bar_charts_draw_the_report_figures_largest_first() {
    let report = fixture_report(PriceCatalog::builtin(), "cut spend");
    let charts = stored(&report).charts;
    let svg = charts.svg(ChartKind::SpendByModel).unwrap();
    let bars: Vec<(i32, i32)> = tags(&svg, "rect")
        .into_iter()
        .filter(|t| attr(t, "fill") == "#1F77B4")
        .map(|t| {
            (
                attr(t, "y").parse().unwrap(),
                attr(t, "width").parse().unwrap(),
            )
        })
        .collect();
    // Three models, top to bottom by spend: $2.90, $0.70, $0.03.
    assert_eq!(bars.len(), 3, "{bars:?}");
    assert!(bars[0].0 < bars[1].0 && bars[1].0 < bars[2].0);
    assert!(bars[0].1 > bars[1].1 && bars[1].1 > bars[2].1);
    let ratio = bars[0].1 as f64 / bars[1].1 as f64;
    assert!((ratio - 2.90 / 0.70).abs() < 0.1, "{ratio}");
    let text = texts(&svg);
    for needle in [
        "anthropic/claude-sonnet-4-5",
        "openai/gpt-4o",
        "$2.90 (79.9%)",
        "$0.70 (19.3%)",
    ] {
        assert!(text.iter().any(|t| t == needle), "{needle} not in {text:?}");
    }

    let svg = charts.svg(ChartKind::SavingsByRecommendation).unwrap();
    let text = texts(&svg);
    let kinds: Vec<String> = report
        .recommendations
        .iter()
        .map(|r| r.kind.replace('_', " "))
        .collect();
    for (kind, rec) in kinds.iter().zip(&report.recommendations) {
        assert!(text.contains(kind), "{kind} not in {text:?}");
        let note = format!(
            "{} of {} ({}% of spend)",
            crate::report::money(rec.savings_usd),
            crate::report::money(rec.current_cost_usd),
            rec.savings_pct_of_spend
        );
        assert!(text.contains(&note), "{note} not in {text:?}");
    }
    let green = tags(&svg, "rect")
        .into_iter()
        .filter(|t| attr(t, "fill") == "#2CA02C")
        .count();
    assert_eq!(green, report.recommendations.len());
}

#[test]
fn charts_are_the_same_bytes_from_the_report_and_from_its_stored_json() {
    let report = fixture_report(PriceCatalog::builtin(), "cut spend");
    let a = Charts::of_report(&report);
    let stored_json: Value =
        serde_json::from_str(&serde_json::to_string(&pipeline::run_result(&report)).unwrap())
            .unwrap();
    let b = StoredReport::from_run_result(&stored_json)
        .unwrap()
        .unwrap()
        .charts;
    for k in ChartKind::ALL {
        assert_eq!(a.svg(k).unwrap(), b.svg(k).unwrap(), "{}", k.name());
        assert_eq!(a.svg(k).unwrap(), a.svg(k).unwrap());
    }
}

#[test]
fn thin_reports_chart_what_they_have_and_name_what_they_lack() {
    // One day, one model, no recommendation: no degenerate axis, no savings chart.
    let one_day = json!({"cost_analysis": {
        "overview": {"spend_usd": 1.5},
        "breakdowns": [
            {"dimension": "model", "groups": 1, "rows": [{"key": "m", "provider": "p", "spend_usd": 1.5, "share_pct": 100.0}]},
            {"dimension": "day", "groups": 1, "rows": [{"key": "2026-03-01", "spend_usd": 1.5, "share_pct": 100.0}]}
        ],
        "anomalies": {"median_daily_spend_usd": 0.0, "days": [], "skipped": "1 day(s) of data"}
    }, "recommendations": []});
    let c = Charts::from_report_json(&one_day).unwrap();
    assert_eq!(
        c.available(),
        vec![ChartKind::DailySpend, ChartKind::SpendByModel]
    );
    let svg = c.svg(ChartKind::DailySpend).unwrap();
    assert!(texts(&svg).iter().any(|t| t == "03-01"));
    assert!(!texts(&svg).iter().any(|t| t.starts_with("median")));
    let e = c.svg_named("savings-by-recommendation.svg").unwrap_err();
    assert!(matches!(e, ChartError::NotAvailable { .. }));
    assert_eq!(
        e.to_string(),
        "chart `savings-by-recommendation.svg` does not exist for this report; it has: daily-spend.svg, spend-by-model.svg"
    );
    assert!(c.svg_named("pie").is_err());
    assert_eq!(
        c.svg_named("spend-by-model.svg").unwrap(),
        c.svg(ChartKind::SpendByModel).unwrap()
    );
    // No analysis at all: nothing to chart, and the error says so.
    let none = Charts::from_report_json(&json!({"title": "x"})).unwrap();
    assert!(none.available().is_empty());
    assert!(
        none.svg_named("daily-spend")
            .unwrap_err()
            .to_string()
            .ends_with("it has: none (no spend to chart)")
    );
    // A report whose parts have the wrong shape is refused, not charted as empty.
    let bad = Charts::from_report_json(&json!({"recommendations": "many"})).unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("the stored report cannot be charted")
    );
}

#[test]
fn models_past_the_first_twelve_are_one_other_bar() {
    let rows: Vec<Value> = (0..15)
        .map(|i| json!({"key": format!("model-{i:02}"), "provider": "p", "spend_usd": 15.0 - i as f64, "share_pct": 1.0}))
        .collect();
    let total: f64 = (0..15).map(|i| 15.0 - i as f64).sum();
    let report = json!({"cost_analysis": {"overview": {"spend_usd": total},
        "breakdowns": [{"dimension": "model", "groups": 15, "rows": rows}]}});
    let svg = Charts::from_report_json(&report)
        .unwrap()
        .svg(ChartKind::SpendByModel)
        .unwrap();
    let text = texts(&svg);
    assert!(text.iter().any(|t| t == "p/model-11"));
    assert!(!text.iter().any(|t| t == "p/model-12"));
    // model-12..14 cost 3 + 2 + 1.
    assert!(text.iter().any(|t| t == "3 other model(s)"), "{text:?}");
    assert!(text.iter().any(|t| t == "$6.00 (5%)"), "{text:?}");
}

#[test]
fn the_markdown_links_each_chart_and_the_html_draws_them_inline() {
    let report = fixture_report(
        PriceCatalog::builtin(),
        "cut spend <script>alert(1)</script>",
    );
    let s = stored(&report);
    for k in ChartKind::ALL {
        let link = format!("]({})", k.path());
        assert!(s.markdown.contains(&link), "{link}");
    }
    let page = s.html().unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<title>Workload cost report: fixture</title>"));
    assert!(page.contains("Content-Security-Policy"));
    assert_eq!(page.matches("<svg ").count(), 3);
    for k in ChartKind::ALL {
        assert!(page.contains(&format!("<figure id=\"chart-{}\"", k.name())));
        assert!(page.contains(&s.charts.svg(k).unwrap()));
    }
    assert!(
        !page.contains("<img"),
        "charts are inline, nothing is loaded"
    );
    // The user's request is text, never markup.
    assert!(page.contains("cut spend &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script"));
    assert!(page.contains("<table>") && page.contains("<h2>Prices used</h2>"));
}

#[test]
fn html_drops_links_that_are_not_web_pages_and_adds_charts_the_markdown_omits() {
    let report = fixture_report(PriceCatalog::builtin(), "x");
    let charts = Charts::of_report(&report);
    let md = "# T\n\n[a](javascript:alert(1)) [b](https://example.com/) ![c](http://evil/x.png)\n\n<b>raw</b>\n";
    let page = html("T", md, &charts).unwrap();
    assert!(!page.contains("javascript:"));
    assert!(page.contains("<a href=\"https://example.com/\">b</a>"));
    assert!(!page.contains("evil"), "other images load nothing");
    assert!(page.contains("&lt;b&gt;raw&lt;/b&gt;"));
    // A stored report from before charts were linked still gets them, at the end.
    assert!(page.contains("<h2>Charts</h2>"));
    assert_eq!(page.matches("<svg ").count(), 3);
}

#[test]
fn reports_name_their_prices_and_mark_those_not_checked() {
    let report = fixture_report(PriceCatalog::builtin(), "x");
    let used: Vec<(&str, bool)> = report
        .prices
        .iter()
        .map(|p| (p.price.model.as_str(), p.price.verified))
        .collect();
    assert_eq!(
        used,
        vec![
            ("claude-sonnet-4-5", true),
            ("gpt-4o", false),
            ("gpt-4o-mini", false)
        ]
    );
    let md = markdown(&report);
    assert!(
        md.contains("| anthropic/claude-sonnet-4-5 | 47 |"),
        "verified: unmarked"
    );
    assert!(md.contains("| openai/gpt-4o † | 73 |"));
    assert!(md.contains(
        "| openai/gpt-4o † | gpt-4o | $2.50 | $10.00 | $1.25 | $1.25 / $5.00 | † not checked (2026-11-29) | OpenAI API pricing, https://developers.openai.com/api/docs/pricing |"
    ));
    assert!(
        md.contains("| anthropic/claude-sonnet-4-5 | claude-sonnet-4-5 | $3.00 | $15.00 | $0.30 |")
    );
    assert!(report.notes.iter().any(|n| n.starts_with(
        "2 of the 3 prices this report uses were not checked against the provider's public page: gpt-4o, gpt-4o-mini."
    )));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["prices"][1]["source"],
        "OpenAI API pricing, https://developers.openai.com/api/docs/pricing"
    );
    assert_eq!(json["prices"][1]["as_of"], "2026-11-29");
    assert_eq!(json["prices"][1]["verified"], false);
    assert_eq!(json["prices"][1]["used_for"], json!(["gpt-4o"]));
}

#[test]
fn a_user_price_changes_the_report_and_is_named_with_its_file_and_line() {
    let catalog = PriceCatalog::builtin()
        .with_overrides(
            "[[model]]\nmodel = \"claude-sonnet-4-5\"\ninput = 2.0\noutput = 10.0\nsource = \"our contract\"\n",
            "prices.toml",
        )
        .unwrap();
    let report = fixture_report(&catalog, "x");
    let p = &report.prices[0].price;
    assert_eq!(
        (p.model.as_str(), p.input, p.verified),
        ("claude-sonnet-4-5", 2.0, false)
    );
    assert_eq!(
        p.origin,
        PriceOrigin::File {
            path: "prices.toml".into(),
            line: 2
        }
    );
    let md = markdown(&report);
    assert!(md.contains("with the user's prices file laid over it"));
    assert!(md.contains(
        "| anthropic/claude-sonnet-4-5 † | claude-sonnet-4-5 | $2.00 | $10.00 | $0.30 |"
    ));
    assert!(md.contains("† not checked (no date given); from prices.toml:2 | our contract |"));
    assert!(md.contains("| anthropic/claude-sonnet-4-5 † | 47 |"));
}
