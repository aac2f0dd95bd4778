//! The charts of a report — daily spend with its anomalous days marked, spend by model,
//! savings by recommendation — drawn as SVG with plotters.
//!
//! Charts are drawn from the report's JSON (what a finished run stores), never from the
//! dataset, so every finished run can be charted after a restart and the same report always
//! gives the same bytes. This module computes no figure: it draws what the report holds.

use std::fmt::Write as _;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Deserialize;
use serde_json::Value;

use crate::analysis::ANOMALY_Z;
use crate::report::money;

/// A chart a report can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    DailySpend,
    SpendByModel,
    SavingsByRecommendation,
}

impl ChartKind {
    pub const ALL: [ChartKind; 3] = [
        ChartKind::DailySpend,
        ChartKind::SpendByModel,
        ChartKind::SavingsByRecommendation,
    ];

    /// The chart's name in URIs and file names (`<name>.svg`).
    pub fn name(self) -> &'static str {
        match self {
            ChartKind::DailySpend => "daily-spend",
            ChartKind::SpendByModel => "spend-by-model",
            ChartKind::SavingsByRecommendation => "savings-by-recommendation",
        }
    }

    /// What the chart shows, as its caption.
    pub fn title(self) -> &'static str {
        match self {
            ChartKind::DailySpend => "Daily spend, anomalous days marked",
            ChartKind::SpendByModel => "Spend by model",
            ChartKind::SavingsByRecommendation => "Savings by recommendation",
        }
    }

    /// The chart's path relative to the report (`charts/<name>.svg`): the markdown links
    /// it so, `--out` writes it so, and `apex://runs/{id}/charts/<name>.svg` serves it.
    pub fn path(self) -> String {
        format!("charts/{}.svg", self.name())
    }

    /// The chart named `name` (with or without `.svg`).
    pub fn parse(name: &str) -> Option<ChartKind> {
        let name = name.strip_suffix(".svg").unwrap_or(name);
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the stored report cannot be charted: {0}")]
    Report(String),
    #[error("chart `{name}` does not exist for this report; it has: {}", if available.is_empty() { "none (no spend to chart)".to_string() } else { available.join(", ") })]
    NotAvailable {
        name: String,
        available: Vec<String>,
    },
    #[error("drawing the chart failed: {0}")]
    Draw(String),
}

// The parts of a report's JSON the charts read; everything else is ignored, and a missing
// part is an empty one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReportView {
    cost_analysis: Option<AnalysisView>,
    recommendations: Vec<RecommendationView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AnalysisView {
    overview: OverviewView,
    breakdowns: Vec<BreakdownView>,
    anomalies: AnomaliesView,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OverviewView {
    spend_usd: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BreakdownView {
    dimension: String,
    rows: Vec<RowView>,
    groups: usize,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RowView {
    key: String,
    provider: Option<String>,
    spend_usd: f64,
    share_pct: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AnomaliesView {
    median_daily_spend_usd: f64,
    days: Vec<AnomalyView>,
    skipped: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AnomalyView {
    day: String,
    robust_z: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RecommendationView {
    kind: String,
    current_cost_usd: f64,
    savings_usd: f64,
    savings_pct_of_spend: f64,
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
struct Bar {
    label: String,
    value: f64,
    /// A lighter bar drawn behind (what the value is part of), when there is one.
    behind: Option<f64>,
    note: String,
}

/// What the charts of one report draw, read from the report's JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Charts {
    /// (day, spend) in day order.
    days: Vec<(String, f64)>,
    /// (day, robust z) of the anomalous days.
    anomalies: Vec<(String, f64)>,
    median_daily_spend: Option<f64>,
    models: Vec<Bar>,
    savings: Vec<Bar>,
}

const WIDTH: u32 = 860;
const FONT: &str = "sans-serif";
const BLUE: RGBColor = RGBColor(31, 119, 180);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const LIGHT_GREEN: RGBColor = RGBColor(199, 233, 192);
const ORANGE_RED: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(127, 127, 127);
/// Bars of the spend-by-model chart beyond these are summed into one "other" bar.
const MAX_MODEL_BARS: usize = 12;
const LABEL_CHARS: usize = 34;

impl Charts {
    /// The charts of a report, from its JSON (the stored `report` of a finished run).
    pub fn from_report_json(report: &Value) -> Result<Charts, ChartError> {
        let view =
            ReportView::deserialize(report).map_err(|e| ChartError::Report(e.to_string()))?;
        let mut charts = Charts::default();
        let Some(a) = view.cost_analysis else {
            charts.savings = savings_bars(&view.recommendations);
            return Ok(charts);
        };
        let breakdown = |dim: &str| a.breakdowns.iter().find(|b| b.dimension == dim);
        if let Some(days) = breakdown("day") {
            charts.days = days
                .rows
                .iter()
                .map(|r| (r.key.clone(), r.spend_usd))
                .collect();
            charts.days.sort_by(|x, y| x.0.cmp(&y.0));
        }
        charts.anomalies = a
            .anomalies
            .days
            .iter()
            .map(|d| (d.day.clone(), d.robust_z))
            .collect();
        if a.anomalies.skipped.is_none() && !charts.days.is_empty() {
            charts.median_daily_spend = Some(a.anomalies.median_daily_spend_usd);
        }
        if let Some(models) = breakdown("model") {
            let shown = models.rows.len().min(MAX_MODEL_BARS);
            charts.models = models.rows[..shown]
                .iter()
                .map(|r| Bar {
                    label: match &r.provider {
                        Some(p) => format!("{p}/{}", r.key),
                        None => r.key.clone(),
                    },
                    value: r.spend_usd,
                    behind: None,
                    note: format!("{} ({}%)", money(r.spend_usd), r.share_pct),
                })
                .collect();
            let others = models.groups.max(models.rows.len()) - shown;
            let rest = a.overview.spend_usd - charts.models.iter().map(|b| b.value).sum::<f64>();
            if others > 0 && rest > 0.0 {
                let rest = (rest * 1e6).round() / 1e6;
                let share = if a.overview.spend_usd > 0.0 {
                    (rest / a.overview.spend_usd * 1000.0).round() / 10.0
                } else {
                    0.0
                };
                charts.models.push(Bar {
                    label: format!("{others} other model(s)"),
                    value: rest,
                    behind: None,
                    note: format!("{} ({share}%)", money(rest)),
                });
            }
            charts.models.retain(|b| b.value > 0.0);
        }
        charts.savings = savings_bars(&view.recommendations);
        Ok(charts)
    }

    /// The charts of `report` (as [`Charts::from_report_json`] would read it once stored).
    pub fn of_report(report: &crate::Report) -> Charts {
        serde_json::to_value(report)
            .ok()
            .and_then(|v| Self::from_report_json(&v).ok())
            .unwrap_or_default()
    }

    /// The charts this report has: those with something to draw.
    pub fn available(&self) -> Vec<ChartKind> {
        ChartKind::ALL
            .into_iter()
            .filter(|k| match k {
                ChartKind::DailySpend => !self.days.is_empty(),
                ChartKind::SpendByModel => !self.models.is_empty(),
                ChartKind::SavingsByRecommendation => !self.savings.is_empty(),
            })
            .collect()
    }

    /// The SVG of the chart named `name` (`daily-spend` or `daily-spend.svg`), or an error
    /// that lists the charts this report has.
    pub fn svg_named(&self, name: &str) -> Result<String, ChartError> {
        match ChartKind::parse(name).filter(|k| self.available().contains(k)) {
            Some(kind) => self.svg(kind),
            None => Err(ChartError::NotAvailable {
                name: name.to_string(),
                available: self
                    .available()
                    .iter()
                    .map(|k| format!("{}.svg", k.name()))
                    .collect(),
            }),
        }
    }

    /// Draw one chart as a standalone SVG document.
    pub fn svg(&self, kind: ChartKind) -> Result<String, ChartError> {
        let mut out = String::new();
        match kind {
            ChartKind::DailySpend => self.draw_daily(&mut out),
            ChartKind::SpendByModel => draw_bars(&mut out, kind.title(), &self.models, BLUE, None),
            ChartKind::SavingsByRecommendation => draw_bars(
                &mut out,
                "Savings by recommendation (light: cost of the calls it touches)",
                &self.savings,
                GREEN,
                Some(LIGHT_GREEN),
            ),
        }
        .map_err(|e| ChartError::Draw(e.to_string()))?;
        Ok(out)
    }

    fn draw_daily(&self, out: &mut String) -> Result<(), Box<dyn std::error::Error>> {
        let n = self.days.len() as i32;
        let max = self
            .days
            .iter()
            .map(|d| d.1)
            .chain(self.median_daily_spend)
            .fold(0.0f64, f64::max);
        let top = nice_top(max);
        let root = SVGBackend::with_string(out, (WIDTH, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(ChartKind::DailySpend.title(), (FONT, 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(-1..n, 0.0..top)?;
        let days = &self.days;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(days.len().min(12))
            .x_label_formatter(&|i| {
                days.get(usize::try_from(*i).unwrap_or(usize::MAX))
                    .map(|d| d.0.get(5..).unwrap_or(&d.0).to_string())
                    .unwrap_or_default()
            })
            .y_label_formatter(&|v| axis_money(*v, top))
            .light_line_style(TRANSPARENT)
            .x_desc("day")
            .y_desc("spend (USD)")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()?;
        if let Some(m) = self.median_daily_spend {
            chart
                .draw_series(LineSeries::new([(-1, m), (n, m)], GREY.stroke_width(1)))?
                .label(format!("median day {}", money(m)))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], GREY.stroke_width(1)));
        }
        let points: Vec<(i32, f64)> = days
            .iter()
            .enumerate()
            .map(|(i, d)| (i as i32, d.1))
            .collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                BLUE.stroke_width(2),
            ))?
            .label("daily spend")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        if points.len() <= 62 {
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))?;
        }
        let marked: Vec<(i32, f64, String)> = self
            .anomalies
            .iter()
            .filter_map(|(day, z)| {
                let i = days.iter().position(|d| &d.0 == day)?;
                Some((i as i32, days[i].1, format!("{day} z={z}")))
            })
            .collect();
        if !marked.is_empty() {
            chart
                .draw_series(
                    marked
                        .iter()
                        .map(|(i, v, _)| Circle::new((*i, *v), 7, ORANGE_RED.filled())),
                )?
                .label(format!("anomalous day (|robust z| > {ANOMALY_Z})"))
                .legend(|(x, y)| Circle::new((x + 9, y), 5, ORANGE_RED.filled()));
            for (i, v, label) in &marked {
                // Right of the mark, or left of it near the right edge.
                let (anchor, dx) = if *i > n * 3 / 4 {
                    (Pos::new(HPos::Right, VPos::Center), -11)
                } else {
                    (Pos::new(HPos::Left, VPos::Center), 11)
                };
                chart.draw_series(std::iter::once(
                    EmptyElement::at((*i, *v))
                        + Text::new(
                            label.clone(),
                            (dx, 0),
                            TextStyle::from((FONT, 13).into_font())
                                .color(&ORANGE_RED)
                                .pos(anchor),
                        ),
                ))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .label_font((FONT, 13))
            .draw()?;
        root.present()?;
        Ok(())
    }
}

fn savings_bars(recs: &[RecommendationView]) -> Vec<Bar> {
    recs.iter()
        .filter(|r| r.savings_usd > 0.0)
        .map(|r| Bar {
            label: r.kind.replace('_', " "),
            value: r.savings_usd,
            behind: Some(r.current_cost_usd),
            note: format!(
                "{} of {} ({}% of spend)",
                money(r.savings_usd),
                money(r.current_cost_usd),
                r.savings_pct_of_spend
            ),
        })
        .collect()
}

/// A horizontal bar chart, largest first, each bar labelled with its note.
fn draw_bars(
    out: &mut String,
    title: &str,
    bars: &[Bar],
    color: RGBColor,
    behind: Option<RGBColor>,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = bars.len() as i32;
    let max = bars
        .iter()
        .map(|b| b.behind.unwrap_or(0.0).max(b.value))
        .fold(0.0f64, f64::max);
    // Room on the right for the longest note.
    let top = nice_top(max * 1.5);
    let height = 110 + 34 * bars.len() as u32;
    let root = SVGBackend::with_string(out, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let labels: Vec<String> = bars.iter().map(|b| shorten(&b.label)).collect();
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size((widest * 7 + 24).clamp(80, 270))
        .build_cartesian_2d(0.0..top, (0..n - 1).into_segmented())?;
    // The largest bar is drawn at the top: bar k sits on segment n - 1 - k.
    let row = |k: usize| n - 1 - k as i32;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len().max(1))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(s) => usize::try_from(n - 1 - *s)
                .ok()
                .and_then(|k| labels.get(k))
                .cloned()
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|v| axis_money(*v, top))
        .light_line_style(TRANSPARENT)
        .x_desc("USD")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()?;
    let bar = |k: usize, v: f64, c: RGBColor| {
        let mut r = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row(k))),
                (v, SegmentValue::Exact(row(k) + 1)),
            ],
            c.filled(),
        );
        r.set_margin(6, 6, 0, 0);
        r
    };
    if let Some(behind_color) = behind {
        chart.draw_series(
            bars.iter()
                .enumerate()
                .filter_map(|(k, b)| b.behind.map(|v| bar(k, v, behind_color))),
        )?;
    }
    chart.draw_series(bars.iter().enumerate().map(|(k, b)| bar(k, b.value, color)))?;
    chart.draw_series(bars.iter().enumerate().map(|(k, b)| {
        let end = b.behind.unwrap_or(0.0).max(b.value);
        EmptyElement::at((end, SegmentValue::CenterOf(row(k))))
            + Text::new(
                b.note.clone(),
                (6, 0),
                TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
            )
    }))?;
    root.present()?;
    Ok(())
}

/// A round axis maximum a little above `max` (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a
/// power of ten), never 0.
fn nice_top(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let base = 10f64.powf(max.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .into_iter()
        .map(|m| m * base)
        .find(|t| *t >= max * 1.05)
        .unwrap_or(10.0 * base)
}

/// An axis label in dollars, with cents only where the axis is small.
fn axis_money(v: f64, top: f64) -> String {
    let mut s = String::new();
    if top < 10.0 {
        let _ = write!(s, "${v:.2}");
    } else {
        s = money(v);
        if let Some(whole) = s.strip_suffix(".00") {
            s = whole.to_string();
        }
    }
    s
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        return label.to_string();
    }
    let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
    format!("{cut}…")
}
