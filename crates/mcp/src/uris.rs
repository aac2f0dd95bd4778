//! The `apex://` URIs the server announces changes to, in one place: tools, resources and
//! the change bus name them the same way.

/// The URI of the bundle list.
pub const LIST_URI: &str = "apex://contexts";

/// The URI of one bundle.
pub fn bundle_uri(name: &str) -> String {
    format!("{LIST_URI}/{name}")
}

/// The URI of a run of any kind.
pub fn run_uri(run_id: &str) -> String {
    format!("apex://runs/{run_id}")
}

/// The URI of an agent run's report as one HTML page with its charts.
pub fn run_report_html_uri(run_id: &str) -> String {
    format!("apex://runs/{run_id}/report.html")
}

/// The URI of one chart of an agent run's report (`name` as `daily-spend`).
pub fn run_chart_uri(run_id: &str, name: &str) -> String {
    format!("apex://runs/{run_id}/charts/{name}.svg")
}

/// The URI of a test run with its results.
pub fn test_run_uri(run_id: &str) -> String {
    format!("apex://test-runs/{run_id}")
}

/// The URI of a dataset's summary.
pub fn dataset_uri(name: &str) -> String {
    format!("apex://datasets/{name}")
}

/// The URI of the index statistics.
pub const INDEX_STATUS_URI: &str = "apex://index/status";
