//! Telling a file's format from its name and first bytes (`format=auto`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{FORMAT_NAMES, Format};

/// The format of the file at `path`; the error says to name one when it cannot be told.
pub fn detect(path: &Path) -> Result<Format, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut head = vec![0u8; 64 * 1024];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("path: cannot read {}: {e}", path.display()))?;
    head.truncate(n);
    if ext == "parquet" || super::parquet::is_parquet(&head) {
        return Ok(Format::Parquet);
    }
    if matches!(ext.as_str(), "pb" | "binpb" | "protobuf" | "proto") {
        return Ok(Format::OtlpProto);
    }
    let text = match std::str::from_utf8(&head) {
        Ok(t) => t,
        // A text file cut in the middle of a character is still text.
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return Ok(Format::OtlpProto),
    };
    let text = text.trim_start_matches('\u{feff}');
    let has = |needle: &str| text.contains(needle);
    let json = matches!(text.trim_start().chars().next(), Some('{') | Some('['));
    if !json {
        let header = text.lines().next().unwrap_or("");
        let columns: Vec<&str> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        if columns.contains(&"request_id")
            && columns.contains(&"spend")
            && columns.contains(&"startTime")
        {
            return Ok(Format::Litellm);
        }
        if ext == "csv" || header.contains(',') {
            return Ok(Format::Csv);
        }
        // An empty (or blank) JSON lines file is JSON lines with nothing in it.
        if matches!(ext.as_str(), "jsonl" | "ndjson" | "json") {
            return Ok(Format::Jsonl);
        }
        return Err(format!(
            "format: cannot tell the format of {} from its name or first bytes; pass one of {FORMAT_NAMES}",
            path.display()
        ));
    }
    if has("\"resourceSpans\"") {
        return Ok(Format::OtlpJson);
    }
    if has("\"organization.usage.") || has("\"organization.costs.result\"") {
        return Ok(Format::OpenaiUsage);
    }
    if has("\"uncached_input_tokens\"")
        || (has("\"starting_at\"") && has("\"results\""))
        || (has("\"cost_type\"") && has("\"amount\""))
    {
        return Ok(Format::AnthropicUsage);
    }
    if has("\"request_id\"") && has("\"spend\"") && (has("\"startTime\"") || has("\"call_type\"")) {
        return Ok(Format::Litellm);
    }
    if has("\"traceId\"")
        && (has("\"usageDetails\"")
            || has("\"calculatedTotalCost\"")
            || has("\"parentObservationId\"")
            || has("\"GENERATION\""))
    {
        return Ok(Format::Langfuse);
    }
    Ok(Format::Jsonl)
}
