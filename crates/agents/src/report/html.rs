//! The report as one HTML page with its charts inline, and the stored report it is drawn from.

use super::*;

/// A finished agent run's report as its run stores it: title, markdown and charts. What the
/// `apex://runs/{id}/report.html` and `.../charts/<name>.svg` resources and `--out` render.
#[derive(Debug, Clone)]
pub struct StoredReport {
    pub title: String,
    pub markdown: String,
    pub charts: Charts,
}

impl StoredReport {
    /// Read a run's stored result (`{"report": .., "markdown": ..}`, see
    /// [`crate::pipeline::run_result`]); `Ok(None)` when it holds no report.
    pub fn from_run_result(result: &Value) -> Result<Option<Self>, ChartError> {
        let report = result.get("report").filter(|r| r.is_object());
        let markdown = result.get("markdown").and_then(Value::as_str);
        let (Some(report), Some(markdown)) = (report, markdown) else {
            return Ok(None);
        };
        Ok(Some(Self {
            title: report
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("Workload cost report")
                .to_string(),
            markdown: markdown.to_string(),
            charts: Charts::from_report_json(report)?,
        }))
    }

    /// The report as one HTML page with its charts inline.
    pub fn html(&self) -> Result<String, ChartError> {
        html(&self.title, &self.markdown, &self.charts)
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.5;color:#1b1b1b;margin:0}\
main{max-width:960px;margin:0 auto;padding:1.5rem}\
table{border-collapse:collapse;margin:0.5rem 0 1.25rem;font-size:0.9rem}\
th,td{border:1px solid #d0d0d0;padding:0.25rem 0.6rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}\
code{background:#f3f3f3;padding:0 0.2rem;font-size:0.85em;word-break:break-all}\
figure{margin:1rem 0}figure svg{max-width:100%;height:auto;display:block}";

fn escaped(text: &str) -> String {
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, std::iter::once(Event::Text(text.into())));
    out
}

fn figure(kind: ChartKind, charts: &Charts) -> Result<String, ChartError> {
    Ok(format!(
        "<figure id=\"chart-{}\" class=\"chart\" role=\"img\" aria-label=\"{}\">\n{}</figure>\n",
        kind.name(),
        escaped(kind.title()),
        charts.svg(kind)?
    ))
}

/// The report as one self-contained HTML page: its markdown rendered, each chart the
/// markdown links drawn inline where it is linked (charts it does not link are added at the
/// end). Text from the report is never taken as markup (it quotes the user's request and
/// dataset), links go only to http(s) pages, and the page forbids scripts.
pub fn html(title: &str, markdown: &str, charts: &Charts) -> Result<String, ChartError> {
    let available = charts.available();
    let events: Vec<Event> = Parser::new_ext(markdown, Options::ENABLE_TABLES).collect();
    let mut body: Vec<Event> = Vec::with_capacity(events.len());
    let mut inlined = BTreeSet::new();
    let mut in_dropped_link = false;
    let mut i = 0;
    while i < events.len() {
        // A paragraph that holds only a chart's image becomes a figure with the chart.
        if let (Event::Start(Tag::Paragraph), Some(Event::Start(Tag::Image { dest_url, .. }))) =
            (&events[i], events.get(i + 1))
            && let Some(kind) = dest_url
                .strip_prefix("charts/")
                .and_then(ChartKind::parse)
                .filter(|k| available.contains(k))
            && let Some(end) = events[i + 1..]
                .iter()
                .position(|e| matches!(e, Event::End(TagEnd::Image)))
                .map(|p| p + i + 1)
            && matches!(events.get(end + 1), Some(Event::End(TagEnd::Paragraph)))
        {
            body.push(Event::Html(CowStr::from(figure(kind, charts)?)));
            inlined.insert(kind.name());
            i = end + 2;
            continue;
        }
        match &events[i] {
            Event::Html(t) | Event::InlineHtml(t) => body.push(Event::Text(t.clone())),
            // Other images load nothing: their alt text stays.
            Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => {}
            Event::Start(Tag::Link { dest_url, .. })
                if !(dest_url.starts_with("https://") || dest_url.starts_with("http://")) =>
            {
                in_dropped_link = true;
            }
            Event::End(TagEnd::Link) if in_dropped_link => in_dropped_link = false,
            e => body.push(e.clone()),
        }
        i += 1;
    }
    let rest: Vec<ChartKind> = available
        .into_iter()
        .filter(|k| !inlined.contains(k.name()))
        .collect();
    if !rest.is_empty() {
        body.push(Event::Html("<h2>Charts</h2>\n".into()));
        for k in rest {
            body.push(Event::Html(CowStr::from(figure(k, charts)?)));
        }
    }
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escaped(title)
    );
    pulldown_cmark::html::push_html(&mut out, body.into_iter());
    out.push_str("</main>\n</body>\n</html>\n");
    Ok(out)
}
