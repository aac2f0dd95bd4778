//! Reading JSON inputs the ways exports write them, keeping line numbers: JSON lines (one
//! document per line, streamed), one JSON array of documents, or one (pretty-printed)
//! document. Elements of arrays are located by their position in the text, so a rejection
//! names the line where the element starts.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;
use serde_json::value::RawValue;

use super::{Collector, IngestError};

/// The line (from `base`, the line `text` starts on) where `raw`, a slice of `text`, starts.
pub(crate) fn line_of(text: &str, base: u64, raw: &RawValue) -> u64 {
    let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    let offset = offset.min(text.len());
    base + text.as_bytes()[..offset]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
}

/// The elements of the array under `key` of the object `raw`, if it is one.
pub(crate) fn children<'a>(raw: &'a RawValue, key: &str) -> Option<Vec<&'a RawValue>> {
    let map: HashMap<String, &'a RawValue> = serde_json::from_str(raw.get()).ok()?;
    serde_json::from_str(map.get(key)?.get()).ok()
}

/// A JSON value of the text, with the text and the line it starts on, for [`line_of`].
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    pub base: u64,
    pub raw: &'a RawValue,
}

impl Doc<'_> {
    pub(crate) fn line(&self) -> u64 {
        line_of(self.text, self.base, self.raw)
    }
}

fn open(path: &Path) -> Result<File, String> {
    File::open(path).map_err(|e| format!("path: cannot open {}: {e}", path.display()))
}

/// Whether the file is JSON lines: its first line is a whole JSON object. The line is read
/// to its end, however long: an OTLP export writes one request per line, megabytes each,
/// and a first line cut short would read as one broken document.
pub(crate) fn is_jsonl<E>(path: &Path) -> Result<bool, IngestError<E>> {
    let mut reader = BufReader::with_capacity(1 << 16, open(path).map_err(IngestError::Io)?);
    let starts_with_object = loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| IngestError::Io(format!("path: cannot read {}: {e}", path.display())))?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break buf[i] == b'{',
            None if buf.is_empty() => return Ok(false),
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    if !starts_with_object {
        return Ok(false);
    }
    let mut first_line = Vec::new();
    reader
        .read_until(b'\n', &mut first_line)
        .map_err(|e| IngestError::Io(format!("path: cannot read {}: {e}", path.display())))?;
    Ok(std::str::from_utf8(&first_line)
        .ok()
        .is_some_and(|l| serde_json::from_str::<&RawValue>(l.trim()).is_ok()))
}

/// Call `each` on every top-level document of the file: each line of JSON lines, each
/// element of a top-level array, or the one document.
pub(crate) fn documents<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
    mut each: impl FnMut(&mut Collector<'_, '_, E>, &Doc<'_>) -> Result<(), IngestError<E>>,
) -> Result<(), IngestError<E>> {
    let jsonl = is_jsonl(path)?;
    if jsonl {
        return lines(path, c, |c, line, text| {
            document_line(c, line, text, &mut each)
        });
    }
    let mut text = String::new();
    open(path)
        .map_err(IngestError::Io)?
        .read_to_string(&mut text)
        .map_err(|e| {
            IngestError::Io(format!(
                "path: cannot read {} as UTF-8 text: {e}",
                path.display()
            ))
        })?;
    whole(&text, c, &mut each)
}

/// One line of JSON lines as a document for `each`; a line that is not JSON is rejected.
pub(crate) fn document_line<E>(
    c: &mut Collector<'_, '_, E>,
    line: u64,
    text: &str,
    each: &mut EachDoc<'_, E>,
) -> Result<(), IngestError<E>> {
    match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => each(
            c,
            &Doc {
                text,
                base: line,
                raw,
            },
        ),
        Err(e) => {
            c.reject(line, None, format!("invalid JSON: {e}"));
            Ok(())
        }
    }
}

/// What [`whole`] calls on each document.
pub(crate) type EachDoc<'f, E> =
    dyn FnMut(&mut Collector<'_, '_, E>, &Doc<'_>) -> Result<(), IngestError<E>> + 'f;

/// The documents of one in-memory text: a top-level array's elements, or the one value.
pub(crate) fn whole<E>(
    text: &str,
    c: &mut Collector<'_, '_, E>,
    each: &mut EachDoc<'_, E>,
) -> Result<(), IngestError<E>> {
    let body = text.trim_start_matches('\u{feff}');
    if body.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(body) {
            Ok(items) => {
                for raw in items {
                    each(
                        c,
                        &Doc {
                            text: body,
                            base: 1,
                            raw,
                        },
                    )?;
                }
            }
            Err(e) => c.reject(
                e.line() as u64,
                None,
                format!("invalid JSON: {e}; nothing of this document could be read"),
            ),
        }
        return Ok(());
    }
    match serde_json::from_str::<&RawValue>(body) {
        Ok(raw) => each(
            c,
            &Doc {
                text: body,
                base: 1,
                raw,
            },
        ),
        Err(e) => {
            c.reject(
                e.line() as u64,
                None,
                format!("invalid JSON: {e}; nothing of this document could be read"),
            );
            Ok(())
        }
    }
}

/// Call `each(line_number, text)` on every non-blank line; invalid UTF-8 lines are rejected.
pub(crate) fn lines<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
    mut each: impl FnMut(&mut Collector<'_, '_, E>, u64, &str) -> Result<(), IngestError<E>>,
) -> Result<(), IngestError<E>> {
    let mut reader = BufReader::with_capacity(1 << 20, open(path).map_err(IngestError::Io)?);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| {
            IngestError::Io(format!(
                "path: read error in {} after line {line}: {e}",
                path.display()
            ))
        })?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        if let Some(text) = line_text(c, line, &buf) {
            each(c, line, text)?;
        }
    }
}

/// The text of line `number` as the line readers take it: without its line end, the first
/// line without a byte order mark; None for a blank line, and for one that is not UTF-8,
/// which is rejected.
pub(crate) fn line_text<'b, E>(
    c: &mut Collector<'_, '_, E>,
    number: u64,
    raw: &'b [u8],
) -> Option<&'b str> {
    let Ok(text) = std::str::from_utf8(raw) else {
        c.reject(number, None, "the line is not valid UTF-8".into());
        return None;
    };
    let text = text.trim_end_matches(['\n', '\r']);
    let text = if number == 1 {
        text.trim_start_matches('\u{feff}')
    } else {
        text
    };
    (!text.trim().is_empty()).then_some(text)
}

/// Call `each(line, span, value)` on every record of a record-per-item export: JSON lines,
/// a JSON array, or one object. With `expand_data`, an object with a `data` array (an API
/// page such as Langfuse's or LiteLLM's) stands for its elements.
pub(crate) fn records_file<E>(
    path: &Path,
    c: &mut Collector<'_, '_, E>,
    expand_data: bool,
    mut each: impl FnMut(
        &mut Collector<'_, '_, E>,
        u64,
        Option<usize>,
        &Value,
    ) -> Result<(), IngestError<E>>,
) -> Result<(), IngestError<E>> {
    documents(path, c, |c, doc| {
        if expand_data && let Some(items) = children(doc.raw, "data") {
            for (i, raw) in items.into_iter().enumerate() {
                let line = line_of(doc.text, doc.base, raw);
                record(c, line, Some(i + 1), raw, &mut each)?;
            }
            return Ok(());
        }
        record(c, doc.line(), None, doc.raw, &mut each)
    })
}

fn record<E>(
    c: &mut Collector<'_, '_, E>,
    line: u64,
    span: Option<usize>,
    raw: &RawValue,
    each: &mut impl FnMut(
        &mut Collector<'_, '_, E>,
        u64,
        Option<usize>,
        &Value,
    ) -> Result<(), IngestError<E>>,
) -> Result<(), IngestError<E>> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(v) => each(c, line, span, &v),
        Err(e) => {
            c.reject(line, span, format!("invalid JSON: {e}"));
            Ok(())
        }
    }
}
