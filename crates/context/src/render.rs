//! Rendering a re-resolved bundle as markdown within a token budget.
//!
//! Items are rendered in the bundle's order until the budget (about 4 characters a token)
//! is used; the rest are listed by position and place so the reader can ask for them.
//! It does not resolve or store anything.

use super::{
    ContextView, ItemStatus, OmittedItem, ResolvedItem, StatusCounts, StoredBundle, SymbolPath,
};

/// The smallest budget `get` accepts: enough for the header and the list of what was left out.
pub const MIN_BUDGET: usize = 50;
/// At most this many left-out items are named one by one.
const MAX_OMITTED_LISTED: usize = 20;

/// Estimated tokens of `text`: about four characters a token.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

fn language(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "rs" => "rust",
        "py" => "python",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "tsx" => "typescript",
        "go" => "go",
        "java" => "java",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" => "cpp",
        "md" => "markdown",
        "toml" => "toml",
        "json" => "json",
        "yaml" | "yml" => "yaml",
        "sh" => "sh",
        "sql" => "sql",
        _ => "",
    }
}

fn fenced(lang: &str, body: &str) -> String {
    let fence = if body.contains("```") { "~~~~" } else { "```" };
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

fn symbol_label(s: &Option<SymbolPath>) -> String {
    s.as_ref()
        .map(|s| format!(" · `{}` ({})", s.path, s.kind))
        .unwrap_or_default()
}

/// `path:start-end` and the symbol, as the reader would name the item.
pub fn item_label(item: &ResolvedItem) -> String {
    let (start, end) = match (item.start_line, item.end_line) {
        (Some(s), Some(e)) => (s, e),
        _ => (item.saved_start_line, item.saved_end_line),
    };
    format!("{}:{start}-{end}{}", item.path, symbol_label(&item.symbol))
}

fn render_item(item: &ResolvedItem) -> String {
    let mut out = format!(
        "### {}. `{}:{}-{}`{} · {}\n",
        item.index,
        item.path,
        item.start_line.unwrap_or(item.saved_start_line),
        item.end_line.unwrap_or(item.saved_end_line),
        symbol_label(&item.symbol),
        item.status.as_str()
    );
    match item.status {
        ItemStatus::Fresh => {}
        ItemStatus::Moved => out.push_str(&format!(
            "Moved from `{}:{}-{}`.\n",
            item.saved_path, item.saved_start_line, item.saved_end_line
        )),
        ItemStatus::Stale => out.push_str(&format!(
            "Changed since it was saved (at `{}:{}-{}`); current text below.\n",
            item.saved_path, item.saved_start_line, item.saved_end_line
        )),
        ItemStatus::Missing => out.push_str(&format!(
            "Missing: {}. The saved text:\n",
            item.reason.as_deref().unwrap_or("gone")
        )),
    }
    if let Some(note) = &item.note {
        for line in note.lines() {
            out.push_str("> ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&fenced(language(&item.path), &item.text));
    if let Some(diff) = &item.diff {
        out.push_str("Diff against the saved text:\n");
        let body = diff.trim_end();
        if body.is_empty() {
            out.push_str("(the change is inside redacted text)\n");
        } else {
            out.push_str(&fenced("diff", body));
        }
    }
    out.push('\n');
    out
}

fn render_omitted(omitted: &[OmittedItem], budget: Option<usize>) -> String {
    if omitted.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "## Left out\n{} item(s) did not fit the budget of {} tokens; ask for them with a larger max_tokens:\n",
        omitted.len(),
        budget.unwrap_or(0)
    );
    for o in omitted.iter().take(MAX_OMITTED_LISTED) {
        out.push_str(&format!(
            "- {}. {} · {} (~{} tokens)\n",
            o.index,
            o.label,
            o.status.as_str(),
            o.tokens
        ));
    }
    if omitted.len() > MAX_OMITTED_LISTED {
        out.push_str(&format!(
            "- … and {} more\n",
            omitted.len() - MAX_OMITTED_LISTED
        ));
    }
    out
}

fn cut_to_tokens(text: &str, tokens: usize) -> String {
    let chars = tokens.saturating_mul(4);
    match text.char_indices().nth(chars) {
        None => text.to_string(),
        Some((i, _)) => text[..i].to_string(),
    }
}

pub(crate) fn render(
    bundle: StoredBundle,
    latest_version: u32,
    resolved: Vec<ResolvedItem>,
    max_tokens: Option<usize>,
) -> ContextView {
    let mut counts = StatusCounts::default();
    for r in &resolved {
        match r.status {
            ItemStatus::Fresh => counts.fresh += 1,
            ItemStatus::Moved => counts.moved += 1,
            ItemStatus::Stale => counts.stale += 1,
            ItemStatus::Missing => counts.missing += 1,
        }
    }
    let mut header = format!(
        "# Context `{}` (version {} of {})\n",
        bundle.name, bundle.version, latest_version
    );
    if !bundle.description.is_empty() {
        header.push_str(&format!("{}\n", bundle.description));
    }
    if !bundle.tags.is_empty() {
        header.push_str(&format!("Tags: {}\n", bundle.tags.join(", ")));
    }
    header.push_str(&format!(
        "Items: {} — {} fresh, {} moved, {} stale, {} missing\n\n",
        resolved.len(),
        counts.fresh,
        counts.moved,
        counts.stale,
        counts.missing
    ));

    let blocks: Vec<String> = resolved.iter().map(render_item).collect();
    let omitted_from = |k: usize| -> Vec<OmittedItem> {
        resolved[k..]
            .iter()
            .zip(&blocks[k..])
            .map(|(r, b)| OmittedItem {
                index: r.index,
                status: r.status,
                label: item_label(r),
                tokens: estimate_tokens(b),
            })
            .collect()
    };

    let budget = max_tokens.unwrap_or(usize::MAX);
    let header_tokens = estimate_tokens(&header);

    // Notes come first; they get what the header and a full left-out list leave.
    let mut notes = bundle.notes.clone();
    let mut notes_truncated = false;
    let notes_block = |n: &str| {
        if n.trim().is_empty() {
            String::new()
        } else {
            format!("## Notes\n{}\n\n", n.trim_end())
        }
    };
    let reserve = header_tokens + estimate_tokens(&render_omitted(&omitted_from(0), max_tokens));
    if max_tokens.is_some() && reserve + estimate_tokens(&notes_block(&notes)) > budget {
        let room = budget.saturating_sub(reserve + 10);
        notes = format!(
            "{}\n… (notes cut to fit the budget)",
            cut_to_tokens(&notes, room)
        );
        notes_truncated = true;
    }
    let notes_text = notes_block(&notes);
    let base = header_tokens + estimate_tokens(&notes_text);

    // Take items in order while the text with the shorter left-out list still fits.
    let mut used = base;
    let mut k = 0;
    while k < blocks.len() {
        let with = used + estimate_tokens(&blocks[k]);
        let footer = estimate_tokens(&render_omitted(&omitted_from(k + 1), max_tokens));
        if with.saturating_add(footer) > budget {
            break;
        }
        used = with;
        k += 1;
    }
    let omitted = omitted_from(k);
    let mut text = header;
    text.push_str(&notes_text);
    for b in &blocks[..k] {
        text.push_str(b);
    }
    text.push_str(&render_omitted(&omitted, max_tokens));
    let mut items = resolved;
    items.truncate(k);
    ContextView {
        name: bundle.name,
        version: bundle.version,
        latest_version,
        created_at: bundle.created_at,
        description: bundle.description,
        tags: bundle.tags,
        notes,
        notes_truncated,
        counts,
        items,
        omitted,
        tokens: estimate_tokens(&text),
        max_tokens,
        text,
    }
}
