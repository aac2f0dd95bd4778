//! Agent reports as a client and a user meet them: the charts and the HTML page as MCP
//! resources of the run (after a restart too), `agent run --out DIR`, the page rendered by a
//! real headless browser, and prices from a user's file (`--prices` / `APEX_PRICES`).
//! The dataset is the hand-made fixture of tests/fixtures/agents/ (14 days, 2026-01-10
//! anomalous, three models).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

const CHARTS: [&str; 3] = ["daily-spend", "spend-by-model", "savings-by-recommendation"];

fn fixture_workspace() -> Workspace {
    let ws = Workspace::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agents/workload.jsonl");
    ws.write(
        "logs/workload.jsonl",
        &std::fs::read_to_string(src).unwrap(),
    );
    ws
}

/// Read a resource: (text, mime type), or the error's message.
async fn read(client: &Client, uri: &str) -> Result<(String, String), String> {
    let res = client
        .read_resource(ReadResourceRequestParams::new(uri.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    match &res.contents[0] {
        ResourceContents::TextResourceContents {
            text, mime_type, ..
        } => Ok((text.clone(), mime_type.clone().unwrap_or_default())),
        other => panic!("{uri}: not text: {other:?}"),
    }
}

/// Run the netra-apex CLI in `root` to its end: (status ok, stdout, stderr).
fn cli(root: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = std::process::Command::new(bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("APEX_PRICES")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run netra-apex");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The run id a CLI command printed on stderr (`run <id>`).
fn run_id(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("run "))
        .unwrap_or_else(|| panic!("no run id in {stderr}"))
        .trim()
        .to_string()
}

#[tokio::test]
async fn charts_and_the_html_report_are_resources_of_the_run_and_survive_a_restart() {
    let ws = fixture_workspace();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let ing = ok_json(
        &call(
            &client,
            "ingest_logs",
            json!({"path": "logs/workload.jsonl", "dataset": "fixture"}),
        )
        .await,
    );
    let result = call(
        &client,
        "run_agent",
        json!({"agent": "supervisor", "request": "cut spend", "dataset": "fixture"}),
    )
    .await;
    let out = ok_json(&result);
    let id = out["run_id"].as_str().unwrap().to_string();
    let html_uri = format!("apex://runs/{id}/report.html");
    let chart_uris: Vec<String> = CHARTS
        .iter()
        .map(|c| format!("apex://runs/{id}/charts/{c}.svg"))
        .collect();
    assert_eq!(
        out["resources"],
        json!({"html": html_uri, "charts": chart_uris})
    );
    assert!(
        text(&result).ends_with(&format!(
            "Report as HTML with its charts: {html_uri}; charts: {}\n",
            chart_uris.join(", ")
        )),
        "{}",
        text(&result)
    );
    // The markdown links each chart relative to the report.
    for c in CHARTS {
        assert!(text(&result).contains(&format!("](charts/{c}.svg)")), "{c}");
    }

    let mut served = Vec::new();
    for uri in &chart_uris {
        let (svg, mime) = read(&client, uri).await.unwrap();
        assert_eq!(mime, "image/svg+xml", "{uri}");
        assert!(
            svg.starts_with("<svg ") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""),
            "{uri}: {svg:.120}"
        );
        served.push(svg);
    }
    // Key parts: the anomalous day, the largest model and its share, a recommendation.
    assert!(served[0].contains("2026-01-10 z=70.96"));
    assert!(served[0].contains("median day $0.11"));
    assert!(
        served[1].contains("anthropic/claude-sonnet-4-5") && served[1].contains("$2.90 (79.9%)")
    );
    assert!(served[2].contains("prompt caching"));
    let (page, mime) = read(&client, &html_uri).await.unwrap();
    assert_eq!(mime, "text/html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    for svg in &served {
        assert!(
            page.contains(svg.as_str()),
            "the page embeds each chart as served"
        );
    }

    // Wrong names say what exists.
    let e = read(&client, &format!("apex://runs/{id}/charts/pie.svg"))
        .await
        .unwrap_err();
    assert!(
        e.contains("chart `pie.svg` does not exist for this report; it has: daily-spend.svg, spend-by-model.svg, savings-by-recommendation.svg"),
        "{e}"
    );
    let ingest_run = ing["run_id"].as_str().unwrap();
    let e = read(&client, &format!("apex://runs/{ingest_run}/report.html"))
        .await
        .unwrap_err();
    assert!(
        e.contains("is not an agent run (its kind is ingest)"),
        "{e}"
    );
    let e = read(&client, "apex://runs/agent-nope/report.html")
        .await
        .unwrap_err();
    assert!(e.contains("there is no run `agent-nope`"), "{e}");
    let templates: Vec<(String, Option<String>)> = client
        .list_all_resource_templates()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.uri_template.clone(), t.mime_type.clone()))
        .collect();
    for (t, m) in [
        ("apex://runs/{id}/report.html", "text/html"),
        ("apex://runs/{id}/charts/{name}.svg", "image/svg+xml"),
    ] {
        assert!(
            templates.contains(&(t.to_string(), Some(m.to_string()))),
            "{t} in {templates:?}"
        );
    }
    // Clients can complete the templates' variables: agent run ids, chart names.
    let complete = |template: &str, arg: &str, value: &str| {
        rmcp::model::CompleteRequestParams::new(
            rmcp::model::Reference::for_resource(template),
            rmcp::model::ArgumentInfo::new(arg, value),
        )
    };
    let ids = client
        .complete(complete("apex://runs/{id}/report.html", "id", "agent-"))
        .await
        .unwrap();
    assert_eq!(ids.completion.values, vec![id.clone()]);
    let names = client
        .complete(complete("apex://runs/{id}/charts/{name}.svg", "name", "s"))
        .await
        .unwrap();
    assert_eq!(
        names.completion.values,
        vec!["spend-by-model", "savings-by-recommendation"]
    );
    client.cancel().await.unwrap();

    // A new server (another protocol generation) draws the same bytes from the stored report.
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    for (uri, before) in chart_uris.iter().zip(&served) {
        let (svg, _) = read(&client, uri).await.unwrap();
        assert_eq!(&svg, before, "{uri} after a restart");
    }
    assert_eq!(read(&client, &html_uri).await.unwrap().0, page);
    let got = ok_json(&call(&client, "get_agent_run", json!({"run_id": id})).await);
    assert_eq!(got["resources"]["html"], html_uri);
}

#[tokio::test]
async fn agent_run_out_writes_the_report_its_page_and_charts_as_the_server_serves_them() {
    let ws = fixture_workspace();
    let (ok, _, err) = cli(
        ws.path(),
        &["ingest", "logs/workload.jsonl", "--dataset", "fixture"],
        &[],
    );
    assert!(ok, "{err}");
    let (ok, stdout, err) = cli(
        ws.path(),
        &[
            "agent",
            "run",
            "--dataset",
            "fixture",
            "--out",
            "reports/jan",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let id = run_id(&err);
    let dir = ws.path().canonicalize().unwrap().join("reports/jan");
    let mut written: Vec<String> = stdout.lines().map(String::from).collect();
    written.sort();
    let mut want = vec![
        dir.join("report.md"),
        dir.join("report.html"),
        dir.join("charts/daily-spend.svg"),
        dir.join("charts/spend-by-model.svg"),
        dir.join("charts/savings-by-recommendation.svg"),
    ]
    .into_iter()
    .map(|p| p.display().to_string())
    .collect::<Vec<_>>();
    want.sort();
    assert_eq!(written, want);
    // Every chart the markdown links is a file beside it; no temp file is left.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for c in CHARTS {
        assert!(md.contains(&format!("](charts/{c}.svg)")), "{c}");
    }
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&dir), ["charts", "report.html", "report.md"]);
    assert_eq!(names(&dir.join("charts")).len(), 3);

    // The files are the bytes the run's resources serve.
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    for c in CHARTS {
        let (svg, _) = read(&client, &format!("apex://runs/{id}/charts/{c}.svg"))
            .await
            .unwrap();
        let file = std::fs::read_to_string(dir.join(format!("charts/{c}.svg"))).unwrap();
        assert_eq!(svg, file, "{c}");
    }
    let (page, _) = read(&client, &format!("apex://runs/{id}/report.html"))
        .await
        .unwrap();
    assert_eq!(
        page,
        std::fs::read_to_string(dir.join("report.html")).unwrap()
    );

    // A second run replaces the files whole; an --out outside the workspace is refused.
    let (ok, _, err) = cli(
        ws.path(),
        &[
            "agent",
            "run",
            "--dataset",
            "fixture",
            "--out",
            "reports/jan",
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(names(&dir), ["charts", "report.html", "report.md"]);
    let outside = tempfile::tempdir().unwrap();
    let (ok, _, err) = cli(
        ws.path(),
        &[
            "agent",
            "run",
            "--dataset",
            "fixture",
            "--out",
            outside.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("--out"), "{err}");
}

/// Chromium from Debian's `chromium` package (or the browser `CHROMIUM` names), if any.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| apex_testkit::on_path(name))
        .map(PathBuf::from)
}

/// Load `page` in headless Chromium and answer the DOM after its scripts ran.
async fn dump_dom(browser: &Path, page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("chromium did not finish within 120 s")
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed: {}\n{dom:.400}",
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// Measures each chart as the browser laid it out: its box, how many of its shapes and texts
/// have a drawn size, and the length of its data lines (2 px wide; axes are 1 px).
const PROBE: &str = r#"<pre id="probe"></pre><script>
const figures = [...document.querySelectorAll('figure.chart')].map(fig => {
  const svg = fig.querySelector('svg');
  const box = svg.getBoundingClientRect();
  const shapes = [...svg.querySelectorAll('polyline, rect, circle, path, line')];
  const drawn = shapes.filter(s => { const b = s.getBBox(); return b.width > 0 && b.height > 0; });
  const line = [...svg.querySelectorAll('polyline[stroke-width="2"]')].map(p => p.getTotalLength()).reduce((a, b) => a + b, 0);
  const texts = [...svg.querySelectorAll('text')].filter(t => t.getComputedTextLength() > 0).length;
  return {id: fig.id, width: box.width, height: box.height, shapes: shapes.length, drawn: drawn.length, line, texts};
});
document.getElementById('probe').textContent = JSON.stringify(figures);
</script>"#;

#[tokio::test]
async fn the_html_report_renders_its_charts_in_a_real_browser() {
    let browser = chromium();
    if !apex_testkit::tool_available(
        "the_html_report_renders_its_charts_in_a_real_browser",
        browser.is_some(),
        "chromium not installed",
    ) {
        return;
    }
    let Some(browser) = browser else { return };
    let ws = fixture_workspace();
    let (ok, _, err) = cli(
        ws.path(),
        &["ingest", "logs/workload.jsonl", "--dataset", "fixture"],
        &[],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = cli(
        ws.path(),
        &["agent", "run", "--dataset", "fixture", "--out", "out"],
        &[],
    );
    assert!(ok, "{err}");
    let dir = ws.path().canonicalize().unwrap().join("out");

    // The page as written: the browser's DOM holds the three charts as SVG.
    let dom = dump_dom(&browser, &dir.join("report.html")).await;
    for c in CHARTS {
        assert!(dom.contains(&format!("<figure id=\"chart-{c}\"")), "{c}");
    }
    assert_eq!(dom.matches("<svg ").count(), 3);
    assert!(dom.contains("2026-01-10 z=70.96"));

    // The same page with a probe (its policy forbids scripts, so the copy drops it): each
    // chart is laid out with a size, and its lines, bars and marks are drawn, not empty.
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let csp_start = page
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let csp_end = csp_start + page[csp_start..].find('>').unwrap() + 1;
    let probe = format!("{}{}", &page[..csp_start], &page[csp_end..])
        .replace("</body>", &format!("{PROBE}</body>"));
    std::fs::write(dir.join("probe.html"), probe).unwrap();
    let dom = dump_dom(&browser, &dir.join("probe.html")).await;
    let start = dom.find("<pre id=\"probe\">").expect("probe ran") + "<pre id=\"probe\">".len();
    let raw = &dom[start..start + dom[start..].find("</pre>").unwrap()];
    let measured: Value = serde_json::from_str(
        &raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .unwrap_or_else(|e| panic!("{e}: {raw}"));
    eprintln!("measured in chromium: {measured}");
    let figures = measured.as_array().unwrap();
    assert_eq!(figures.len(), 3, "{measured}");
    for f in figures {
        let num = |k: &str| f[k].as_f64().unwrap();
        assert!(num("width") > 300.0 && num("height") > 100.0, "{f}");
        assert!(num("drawn") >= 3.0 && num("texts") >= 5.0, "{f}");
    }
    let daily = &figures[0];
    assert_eq!(daily["id"], "chart-daily-spend");
    // 14 day marks and the anomaly's, and a data line hundreds of pixels long.
    assert!(daily["drawn"].as_f64().unwrap() >= 15.0, "{daily}");
    assert!(daily["line"].as_f64().unwrap() > 600.0, "{daily}");
}

#[tokio::test]
async fn prices_from_a_users_file_change_the_catalog_the_ingest_and_the_report() {
    let ws = fixture_workspace();
    ws.write(
        "prices.toml",
        "# negotiated\n[[model]]\nmodel = \"gpt-4o\"\ninput = 2.0\noutput = 8.0\nsource = \"our contract\"\n\n[[model]]\nmodel = \"acme-large\"\nprovider = \"acme\"\ninput = 4.0\noutput = 12.0\n",
    );
    // acme-large is in no catalog but the user's: its cost comes from the file.
    let acme: String = (0..20)
        .map(|i| {
            format!(
                "{{\"timestamp\": \"2026-01-{:02}T10:00:00Z\", \"provider\": \"acme\", \"model\": \"acme-large\", \"input_tokens\": 1000, \"output_tokens\": 500, \"latency_ms\": 100, \"status\": \"ok\"}}\n",
                i % 14 + 1
            )
        })
        .collect();
    ws.write("logs/acme.jsonl", &acme);
    let prices = ws.path().join("prices.toml");
    let prices = prices.to_str().unwrap();

    let (ok, out, err) = cli(
        ws.path(),
        &["ingest", "logs/acme.jsonl", "--dataset", "acme"],
        &[],
    );
    assert!(ok, "{err}");
    // Without the file the calls are kept, flagged and unpriced: nothing dropped, $0 counted.
    assert!(
        out.contains("20 accepted (20 flagged")
            && out.contains("0 rejected, 20 model calls, spend $0.00"),
        "{out}"
    );
    assert!(err.contains("flagged unknown_model: 20 records"), "{err}");
    let (ok, out, err) = cli(
        ws.path(),
        &["ingest", "logs/acme.jsonl", "--dataset", "acme"],
        &[("APEX_PRICES", prices)],
    );
    assert!(ok, "{err}");
    // 20 calls x (1000 x $4 + 500 x $12) / 1M = $0.20.
    assert!(
        out.contains("20 accepted (0 flagged")
            && out.contains("0 rejected, 20 model calls, spend $0.20"),
        "{out}"
    );

    let client = stdio_client_with(
        TestClient::default(),
        ws.path(),
        Generation::Handshake,
        &["--prices", prices],
    )
    .await;
    let (catalog, _) = read(&client, "apex://pricing").await.unwrap();
    let catalog: Value = serde_json::from_str(&catalog).unwrap();
    let entry = |name: &str| {
        catalog["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in apex://pricing"))
    };
    let gpt4o = entry("gpt-4o");
    assert_eq!(
        (gpt4o["input"].as_f64(), gpt4o["output"].as_f64()),
        (Some(2.0), Some(8.0))
    );
    assert_eq!(gpt4o["source"], "our contract");
    assert_eq!(gpt4o["verified"], false);
    assert_eq!(
        gpt4o["origin"],
        json!({"kind": "file", "path": prices, "line": 3})
    );
    assert_eq!(entry("acme-large")["origin"]["line"], 9);
    assert_eq!(
        entry("claude-sonnet-4-5")["origin"],
        json!({"kind": "catalog"})
    );

    let result = call(
        &client,
        "run_agent",
        json!({"agent": "supervisor", "dataset": "acme"}),
    )
    .await;
    let report = &ok_json(&result)["report"];
    assert_eq!(report["prices"][0]["model"], "acme-large");
    assert_eq!(report["prices"][0]["verified"], false);
    let md = text(&result);
    assert!(
        md.contains(&format!(
            "† not checked (no date given); from {prices}:9 | prices file {prices} |"
        )),
        "{md}"
    );
    assert!(
        md.contains("1 of the 1 prices this report uses were not checked"),
        "{md}"
    );
    client.cancel().await.unwrap();

    // A bad file stops every command that prices, naming the file, the line and the field.
    ws.write(
        "bad.toml",
        "[[model]]\nmodel = \"gpt-4o\"\ninput = \"cheap\"\n",
    );
    let bad = ws.path().join("bad.toml");
    let bad = bad.to_str().unwrap();
    let want = format!(
        "prices file {bad}, line 3: field `input`: invalid type: string \"cheap\", expected f64"
    );
    for args in [
        vec!["serve", "--prices", bad],
        vec!["agent", "run", "--dataset", "fixture", "--prices", bad],
        vec![
            "ingest",
            "logs/acme.jsonl",
            "--dataset",
            "x",
            "--prices",
            bad,
        ],
    ] {
        let (ok, _, err) = cli(ws.path(), &args, &[]);
        assert!(!ok && err.contains(&want), "{args:?}: {err}");
    }
    let (ok, _, err) = cli(
        ws.path(),
        &["agent", "run", "--dataset", "fixture"],
        &[("APEX_PRICES", "/nonexistent/prices.toml")],
    );
    assert!(
        !ok && err.contains("prices file /nonexistent/prices.toml: cannot read it"),
        "{err}"
    );
}
