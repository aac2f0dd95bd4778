//! Codebase search: the library over a real index of fixture projects copied into temporary
//! directories, then the MCP tools, resources and CLI twins through the real binary.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apex_core::events::CollectingSink;
use apex_core::workspace::Workspace;
use apex_search::symbols::{self, language_for_source};
use apex_search::{
    FindSymbolRequest, ReadRequest, ReferenceRequest, SearchError, SearchIndex, SearchMode,
    SearchRequest,
};
use tokio_util::sync::CancellationToken;

fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/search")
        .join(name)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The `poly` fixture in a temp dir, plus files git would not keep: an ignored build output,
/// a binary, a hidden directory and an oversized file.
fn poly() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture_dir("poly"), dir.path());
    let root = dir.path();
    std::fs::create_dir_all(root.join("build")).unwrap();
    std::fs::write(
        root.join("build/generated.rs"),
        "fn generated_should_not_be_indexed() {}\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(
        root.join("assets/logo.bin"),
        b"PNG\0\0binary_marker_token\0",
    )
    .unwrap();
    std::fs::create_dir_all(root.join(".cache")).unwrap();
    std::fs::write(
        root.join(".cache/hidden.py"),
        "def hidden_marker_token(): pass\n",
    )
    .unwrap();
    std::fs::write(
        root.join("huge.txt"),
        format!("oversized_marker_token\n{}", "x".repeat(2_000_000)),
    )
    .unwrap();
    let ws = Workspace::open(root, None).unwrap();
    (dir, ws)
}

fn search(index: &SearchIndex, q: &str) -> apex_search::SearchResults {
    index.search_code(&SearchRequest::new(q)).unwrap()
}

/// `(path, kind, container, name, "line-end")` rows of the expected symbol list.
fn expected_symbols(name: &str) -> Vec<[String; 5]> {
    let text =
        std::fs::read_to_string(fixture_dir("").join(format!("{name}.symbols.tsv"))).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<String> = l.split('\t').map(str::to_string).collect();
            [
                cols[0].clone(),
                cols[1].clone(),
                cols[2].clone(),
                cols[3].clone(),
                cols[4].clone(),
            ]
        })
        .collect()
}

#[test]
fn extraction_matches_each_fixture_file_symbol_list() {
    let expected = expected_symbols("poly");
    let mut files: Vec<&str> = expected.iter().map(|r| r[0].as_str()).collect();
    files.dedup();
    assert!(files.len() >= 10, "every language has a fixture file");
    let mut got = Vec::new();
    for rel in files {
        let path = fixture_dir("poly").join(rel);
        let src = std::fs::read_to_string(&path).unwrap();
        let lang = language_for_source(Path::new(rel), &src).unwrap();
        for s in symbols::extract(lang, &src) {
            got.push([
                rel.to_string(),
                s.kind.to_string(),
                s.container.unwrap_or_default(),
                s.name,
                format!("{}-{}", s.line, s.end_line),
            ]);
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn find_symbol_recalls_every_fixture_symbol() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let expected = expected_symbols("poly");
    let mut missed = Vec::new();
    for [path, kind, container, name, span] in &expected {
        let line: u32 = span.split('-').next().unwrap().parse().unwrap();
        let req = FindSymbolRequest {
            kind: Some(kind.clone()),
            ..FindSymbolRequest::new(name.as_str())
        };
        let found = index.find_symbol(&req).unwrap();
        let hit = found
            .definitions
            .iter()
            .find(|d| &d.path == path && d.line == line);
        match hit {
            Some(d) => {
                assert_eq!(d.match_kind, "exact");
                assert_eq!(d.container.clone().unwrap_or_default(), *container);
            }
            None => missed.push(format!("{path}:{line} {kind} {name}")),
        }
    }
    let recall = 1.0 - missed.len() as f64 / expected.len() as f64;
    assert!(missed.is_empty(), "recall {recall:.3}; missed: {missed:?}");
}

#[test]
fn find_symbol_is_fuzzy_qualified_and_filtered() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    // A typo still finds it, marked fuzzy.
    let r = index
        .find_symbol(&FindSymbolRequest::new("add_iten"))
        .unwrap();
    assert_eq!(r.definitions[0].name, "add_item");
    assert_eq!(r.definitions[0].match_kind, "fuzzy");
    // Case-insensitive match ranks before fuzzy ones.
    let r = index
        .find_symbol(&FindSymbolRequest::new("inventory"))
        .unwrap();
    assert_eq!(r.definitions[0].name, "Inventory");
    assert_eq!(r.definitions[0].match_kind, "ignore_case");
    // A qualified name picks the container.
    let r = index
        .find_symbol(&FindSymbolRequest::new("Item::unit_price"))
        .unwrap();
    assert_eq!(r.total, 1, "{r:?}");
    assert_eq!(r.definitions[0].line, 49);
    // Kind and language filters.
    let req = FindSymbolRequest {
        kind: Some("struct".into()),
        language: Some("go".into()),
        ..FindSymbolRequest::new("Server")
    };
    let r = index.find_symbol(&req).unwrap();
    assert_eq!(r.definitions.len(), 1);
    assert_eq!(r.definitions[0].path, "go/server.go");
    // Bodies are numbered lines.
    let req = FindSymbolRequest {
        include_body: true,
        ..FindSymbolRequest::new("parse_order_line")
    };
    let r = index.find_symbol(&req).unwrap();
    let body = r.definitions[0].body.as_deref().unwrap();
    assert!(
        body.starts_with("20  def parse_order_line(line):"),
        "{body}"
    );
    assert!(body.contains("22      return order_id.strip()"), "{body}");
    // Bad kinds name the accepted ones.
    let req = FindSymbolRequest {
        kind: Some("func".into()),
        ..FindSymbolRequest::new("x")
    };
    let e = index.find_symbol(&req).unwrap_err().to_string();
    assert!(e.starts_with("kind:") && e.contains("function"), "{e}");
}

#[test]
fn search_ranks_definitions_and_exact_identifiers_first() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let r = search(&index, "add_item");
    let top = &r.hits[0];
    assert_eq!((top.path.as_str(), top.line), ("rust/src/lib.rs", 31));
    assert_eq!(top.kind.as_deref(), Some("method"));
    assert!(top.snippet.contains("31: "), "{}", top.snippet);

    // camelCase parts find the identifier; the whole identifier outranks loose parts.
    let r = search(&index, "findProfile");
    assert_eq!(r.hits[0].path, "web/src/types.ts");
    let r = search(&index, "stock level");
    assert!(r.hits.iter().any(|h| h.path == "rust/src/lib.rs"));

    // A text hit names its enclosing symbol and carries context lines.
    let r = index
        .search_code(&SearchRequest {
            mode: SearchMode::Text,
            ..SearchRequest::new("inventory full")
        })
        .unwrap();
    let hit = &r.hits[0];
    assert_eq!((hit.path.as_str(), hit.line), ("rust/src/lib.rs", 33));
    assert_eq!(hit.symbol.as_deref(), Some("add_item"));
    assert_eq!(hit.snippet.lines().count(), 5, "{}", hit.snippet);

    // Symbol mode returns only definitions.
    let r = index
        .search_code(&SearchRequest {
            mode: SearchMode::Symbol,
            ..SearchRequest::new("Circle")
        })
        .unwrap();
    assert!(r.hits.iter().all(|h| h.kind.is_some()));
    assert!(r.hits.iter().any(|h| h.kind.as_deref() == Some("class")));

    // A qualified name ranks the definition in that container first, whichever it is.
    for (query, line) in [("Item::unit_price", 49), ("Priced::unit_price", 19)] {
        for mode in [SearchMode::Symbol, SearchMode::Auto] {
            let r = index
                .search_code(&SearchRequest {
                    mode,
                    ..SearchRequest::new(query)
                })
                .unwrap();
            assert_eq!(
                (r.hits[0].path.as_str(), r.hits[0].line),
                ("rust/src/lib.rs", line),
                "{query} ({mode:?}): {:?}",
                r.hits.iter().map(|h| (&h.path, h.line)).collect::<Vec<_>>()
            );
        }
    }

    // Filters.
    let r = index
        .search_code(&SearchRequest {
            path: Some("web".into()),
            ..SearchRequest::new("Role")
        })
        .unwrap();
    assert!(!r.hits.is_empty() && r.hits.iter().all(|h| h.path.starts_with("web/")));
    let r = index
        .search_code(&SearchRequest {
            language: Some("python".into()),
            ..SearchRequest::new("order")
        })
        .unwrap();
    assert!(!r.hits.is_empty() && r.hits.iter().all(|h| h.path.ends_with(".py")));
}

#[test]
fn walk_rules_keep_ignored_hidden_binary_and_large_files_out() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    for marker in [
        "generated_should_not_be_indexed",
        "binary_marker_token",
        "hidden_marker_token",
        "oversized_marker_token",
    ] {
        assert_eq!(search(&index, marker).total, 0, "{marker} was indexed");
    }
    let s = index.index_status().unwrap();
    assert!(s.indexed);
    assert_eq!(s.skipped_binary, 1);
    assert_eq!(s.skipped_large, 1);
    assert_eq!(s.languages.get("rust"), Some(&1));
    assert_eq!(s.languages.get("c"), Some(&2));
    assert_eq!(s.symbols, 60);
    assert_eq!(s.files, 11);
}

#[test]
fn non_utf8_text_is_read_lossily() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"latin1 caf\xe9 lossy_marker_word\n".to_vec();
    bytes.extend_from_slice(b"second line\n");
    std::fs::write(dir.path().join("notes.txt"), bytes).unwrap();
    let ws = Workspace::open(dir.path(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    let r = search(&index, "lossy_marker_word");
    assert_eq!(r.hits.len(), 1);
    assert!(
        r.hits[0].snippet.contains("caf\u{fffd}"),
        "{}",
        r.hits[0].snippet
    );
}

#[test]
fn incremental_updates_follow_edit_rename_delete_and_touch() {
    let (d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let never = CancellationToken::new();
    let sink = CollectingSink::new();
    index.ensure_indexed(&sink, &never).unwrap();
    let root = d.path();

    // Nothing changed: nothing read.
    let r = index.reindex(false, &sink, &never).unwrap();
    assert_eq!((r.added, r.updated, r.removed), (0, 0, 0));

    // Edit.
    let py = root.join("python/app/service.py");
    let mut text = std::fs::read_to_string(&py).unwrap();
    text.push_str("\n\ndef refund_order(order_id):\n    return order_id\n");
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&py, text).unwrap();
    let r = index.reindex(false, &sink, &never).unwrap();
    assert_eq!((r.added, r.updated, r.removed), (0, 1, 0), "{r:?}");
    let f = index
        .find_symbol(&FindSymbolRequest::new("refund_order"))
        .unwrap();
    assert_eq!(f.definitions[0].line, 25);

    // Touch without a change: re-hashed, not re-indexed.
    let js = root.join("web/src/api.js");
    let body = std::fs::read(&js).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&js, body).unwrap();
    let r = index.reindex(false, &sink, &never).unwrap();
    assert_eq!((r.updated, r.unchanged_content), (0, 1), "{r:?}");

    // Rename.
    std::fs::rename(root.join("go/server.go"), root.join("go/http_server.go")).unwrap();
    let r = index.reindex(false, &sink, &never).unwrap();
    assert_eq!((r.added, r.removed), (1, 1), "{r:?}");
    let f = index
        .find_symbol(&FindSymbolRequest::new("NewServer"))
        .unwrap();
    assert_eq!(f.total, 1);
    assert_eq!(f.definitions[0].path, "go/http_server.go");

    // Delete.
    std::fs::remove_file(root.join("java/src/Account.java")).unwrap();
    let r = index.reindex(false, &sink, &never).unwrap();
    assert_eq!(r.removed, 1);
    assert_eq!(search(&index, "getBalance").total, 0);
    assert_eq!(
        index
            .find_symbol(&FindSymbolRequest::new("getBalance"))
            .unwrap()
            .total,
        0
    );

    // The same through the watcher's path-level update: a whole directory removed.
    std::fs::remove_dir_all(root.join("web")).unwrap();
    let r = index.update_paths(vec![root.join("web")]).unwrap();
    assert_eq!(r.removed, 3, "{r:?}");
    assert_eq!(search(&index, "RequestQueue").total, 0);

    // A reopened index remembers what it holds and reads nothing.
    drop(index);
    let index = SearchIndex::open(&ws).unwrap();
    let r = index.reindex(false, &sink, &never).unwrap();
    assert_eq!((r.added, r.updated, r.removed), (0, 0, 0), "{r:?}");
    assert_eq!(
        search(&index, "refund_order").hits[0].path,
        "python/app/service.py"
    );
}

#[test]
fn reindex_reports_progress_and_can_be_cancelled() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let sink = CollectingSink::new();
    let r = index
        .reindex(true, &sink, &CancellationToken::new())
        .unwrap();
    assert_eq!(r.mode, "full");
    assert_eq!(r.added, 12, "11 text files and one binary");
    let names = sink.names();
    assert_eq!(names.first().map(String::as_str), Some("index_started"));
    assert!(names.iter().any(|n| n == "files_indexed"));
    assert_eq!(names.last().map(String::as_str), Some("index_finished"));
    let events = sink.events();
    let finished = &events.last().unwrap().1;
    assert_eq!(finished["symbols"], 60);

    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let err = index
        .reindex(true, &CollectingSink::new(), &cancelled)
        .unwrap_err();
    assert!(matches!(err, SearchError::Cancelled { .. }), "{err}");
}

#[test]
fn a_large_update_commits_text_first_then_parses_symbols_with_progress() {
    let (d, ws) = poly();
    // Every update counts as large here: text is committed before symbols are parsed.
    std::fs::write(
        d.path().join("apex.toml"),
        "[search]\ntext_first_over = 0\n",
    )
    .unwrap();
    let ws = Workspace::open(ws.root(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    let sink = CollectingSink::new();
    let r = index
        .reindex(true, &sink, &CancellationToken::new())
        .unwrap();
    let names = sink.names();
    let at = |name: &str| names.iter().position(|n| n == name).unwrap_or(usize::MAX);
    assert!(at("files_indexed") < at("symbols_started"), "{names:?}");
    assert!(at("symbols_started") < at("symbols_extracted"), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("index_finished"));
    assert_eq!(names.iter().filter(|n| *n == "index_finished").count(), 1);
    assert_eq!(r.symbols_indexed, 60, "{r:?}");
    assert_eq!((r.symbol_files, r.symbols_pending), (10, 0), "{r:?}");
    assert!(r.symbol_bytes > 3000, "{r:?}");
    assert!(r.text_ms <= r.duration_ms, "{r:?}");
    let events = sink.events();
    assert_eq!(events.last().unwrap().1["symbols"], 60);

    // A later small edit is large too under this setting: text at once, symbols after (in
    // the background). A symbol query does not wait: it finds the new definition from the
    // symbol index if the pass is done, else by its shape in the text, labelled so.
    let py = d.path().join("python/app/service.py");
    let mut text = std::fs::read_to_string(&py).unwrap();
    text.push_str("\n\ndef refund_later(order_id):\n    return order_id\n");
    let line = text.lines().count() as u32 - 1;
    std::fs::write(&py, text).unwrap();
    index.update_paths(vec![py]).unwrap();
    let found = index
        .find_symbol(&FindSymbolRequest::new("refund_later"))
        .unwrap();
    assert_eq!(found.total, 1, "{found:?}");
    let d = &found.definitions[0];
    assert_eq!((d.line, d.kind.as_str()), (line, "function"), "{found:?}");
    assert!(
        d.match_kind == "exact" || d.match_kind == "text_fallback",
        "{found:?}"
    );
    index
        .ensure_symbols(&CollectingSink::new(), &CancellationToken::new())
        .unwrap();
    assert_eq!(index.symbols_pending(), 0);
    assert_eq!(index.index_status().unwrap().symbols, 61);
}

#[test]
fn an_unqualified_name_finds_the_free_definition_before_methods() {
    let dir = tempfile::tempdir().unwrap();
    // Path order alone would put the method first.
    std::fs::write(
        dir.path().join("a_handle.rs"),
        "pub struct Handle;\nimpl Handle {\n    pub fn spawn_blocking(&self) {}\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b_task.rs"), "pub fn spawn_blocking() {}\n").unwrap();
    let ws = Workspace::open(dir.path(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    let found = index
        .find_symbol(&FindSymbolRequest::new("spawn_blocking"))
        .unwrap();
    assert_eq!(found.total, 2, "{found:?}");
    assert_eq!(found.definitions[0].path, "b_task.rs", "{found:?}");
    assert_eq!(found.definitions[0].container, None);
    // Qualified, the method.
    let found = index
        .find_symbol(&FindSymbolRequest::new("Handle::spawn_blocking"))
        .unwrap();
    assert_eq!(found.definitions[0].path, "a_handle.rs", "{found:?}");
}

#[test]
fn a_line_of_code_finds_the_files_that_hold_it_as_written_first() {
    let dir = tempfile::tempdir().unwrap();
    // A short file with both words apart, which BM25 alone ranks first...
    std::fs::write(
        dir.path().join("a_notes.py"),
        "# raise early\n# a ValueError is a bug\n",
    )
    .unwrap();
    // ...and longer files that raise it.
    let body: String = (0..40).map(|i| format!("x{i} = compute({i})\n")).collect();
    for name in ["b_parse.py", "c_check.py"] {
        std::fs::write(
            dir.path().join(name),
            format!(
                "{body}def check(v):\n    if v < 0:\n        raise ValueError(\"negative\")\n{body}"
            ),
        )
        .unwrap();
    }
    let ws = Workspace::open(dir.path(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    let plain = index
        .search_code(&SearchRequest {
            mode: SearchMode::Text,
            ..SearchRequest::new("raise ValueError")
        })
        .unwrap();
    let at = |r: &apex_search::SearchResults| -> Vec<(String, u32)> {
        r.hits.iter().map(|h| (h.path.clone(), h.line)).collect()
    };
    let found = at(&plain);
    let mut raising = found[..2].to_vec();
    raising.sort();
    assert_eq!(
        raising,
        [
            ("b_parse.py".to_string(), 43),
            ("c_check.py".to_string(), 43)
        ],
        "{plain:?}"
    );
    assert_eq!(found[2], ("a_notes.py".to_string(), 1), "{plain:?}");
    // Page by page, the same order.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let r = index
            .search_code(&SearchRequest {
                mode: SearchMode::Text,
                limit: Some(1),
                cursor: cursor.clone(),
                ..SearchRequest::new("raise   valueerror(")
            })
            .unwrap();
        paged.extend(at(&r));
        cursor = r.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, at(&plain));
}

/// Names near `parse` that only the fuzzy tier finds.
const NEAR_PARSE: &str =
    "pub fn parser() {}\npub fn parsed() {}\npub fn pars() {}\npub fn parse_all() {}\n";

/// One page of `find_symbol("parse")`.
fn parse_page(
    index: &SearchIndex,
    limit: usize,
    cursor: Option<String>,
) -> apex_search::SymbolResults {
    let mut req = FindSymbolRequest::new("parse");
    req.limit = Some(limit);
    req.cursor = cursor;
    index.find_symbol(&req).unwrap()
}

#[test]
fn a_page_of_exact_definitions_is_the_page_the_whole_query_ranks_and_the_fuzzy_ones_follow() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: String| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    // Three scores of exact definitions, five, five and two of each (equal scores tie, and
    // among ties the index's top-N keeps whichever documents come first: pages here end
    // where the scores change): free functions, methods, vendored free functions.
    for i in 0..5 {
        write(
            &format!("f{i:02}.rs"),
            format!("pub fn parse() -> u32 {{ {i} }}\n"),
        );
        write(
            &format!("m{i:02}.rs"),
            format!("pub struct P{i};\nimpl P{i} {{\n    pub fn parse(&self) {{}}\n}}\n"),
        );
    }
    for i in 0..2 {
        write(
            &format!("vendor/v{i}.rs"),
            "pub fn parse() {}\n".to_string(),
        );
    }
    write("near.rs", NEAR_PARSE.into());
    let ws = Workspace::open(dir.path(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    let page = |limit: usize, cursor: Option<String>| parse_page(&index, limit, cursor);
    let key = |defs: &[apex_search::Definition]| {
        defs.iter()
            .map(|d| {
                (
                    d.path.clone(),
                    d.line,
                    d.match_kind.clone(),
                    d.score.to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    // One page that holds everything: the whole query, the exact tier then the fuzzy one.
    let whole = page(50, None);
    let exact = whole
        .definitions
        .iter()
        .take_while(|d| d.match_kind == "exact")
        .count();
    assert_eq!(exact, 12, "{whole:?}");
    assert!(whole.total >= 16, "{whole:?}");
    assert!(
        whole.definitions[exact..]
            .iter()
            .all(|d| d.match_kind == "fuzzy")
    );
    // Pages of 5: while exact definitions remain past the page, they are counted alone and
    // ranked as the whole query ranks them, with its scores.
    let first = page(5, None);
    assert_eq!((first.total, first.remaining), (12, 7), "{first:?}");
    assert_eq!(key(&first.definitions), key(&whole.definitions[..5]));
    let second = page(5, first.next_cursor.clone());
    assert_eq!((second.total, second.remaining), (12, 2), "{second:?}");
    assert_eq!(key(&second.definitions), key(&whole.definitions[5..10]));
    // The page where they run out brings the fuzzy ones and counts both.
    let third = page(5, second.next_cursor.clone());
    assert_eq!(third.total, whole.total, "{third:?}");
    assert_eq!(
        key(&third.definitions[..2]),
        key(&whole.definitions[10..12])
    );
    assert!(
        third.definitions[2..]
            .iter()
            .all(|d| d.match_kind == "fuzzy")
    );
}

/// Names only within edits of the query rank after every name that starts with it or holds
/// it as a word, whatever else ranks them (here a hand-written free function against
/// vendored ones), and pages reach them only once the closer names run out.
#[test]
fn names_within_edits_follow_names_that_start_with_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("vendor/x.rs", "pub fn handlerx() {}\n");
    write("vendor/all.rs", "pub fn handler_all() {}\n");
    write("src/h.rs", "pub fn handle() {}\n");
    let ws = Workspace::open(dir.path(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    let page = |limit: usize, cursor: Option<String>| {
        let mut req = FindSymbolRequest::new("handler");
        req.limit = Some(limit);
        req.cursor = cursor;
        index.find_symbol(&req).unwrap()
    };
    let names = |r: &apex_search::SymbolResults| {
        r.definitions
            .iter()
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
    };
    let all = page(10, None);
    assert_eq!(all.total, 3, "{all:?}");
    let listed = names(&all);
    assert_eq!(listed[2], "handle", "{all:?}");
    assert!(all.definitions.iter().all(|d| d.match_kind == "fuzzy"));
    // The hand-written `handle` scores more than the vendored names (it would rank first
    // by score alone): its tier puts it last.
    assert!(
        all.definitions[2].score > all.definitions[1].score,
        "{all:?}"
    );
    // Page by page: the closer names are counted alone while they fill the page.
    let first = page(1, None);
    assert_eq!((first.total, names(&first)), (2, vec![listed[0].clone()]));
    let second = page(1, first.next_cursor.clone());
    assert_eq!((second.total, names(&second)), (3, vec![listed[1].clone()]));
    let third = page(1, second.next_cursor.clone());
    assert_eq!(
        (third.total, names(&third)),
        (3, vec!["handle".to_string()])
    );
    assert_eq!(third.next_cursor, None);
}

#[test]
fn pages_of_tied_definitions_never_repeat_or_skip_one() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, i: usize| {
        let text = format!("pub fn parse() -> u32 {{ {i} }}\n");
        std::fs::write(dir.path().join(name), text).unwrap();
    };
    // Twelve definitions of one score, the later half by path indexed first: the index's
    // order among them is not the paths' order, and every page edge falls inside the tie.
    for (i, name) in ["m", "n", "o", "p", "q", "r"].iter().enumerate() {
        write(&format!("{name}.rs"), i);
    }
    std::fs::write(dir.path().join("near.rs"), NEAR_PARSE).unwrap();
    let ws = Workspace::open(dir.path(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    assert_eq!(
        index
            .find_symbol(&FindSymbolRequest::new("parse"))
            .unwrap()
            .total,
        6 + 4
    );
    for (i, name) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        write(&format!("{name}.rs"), i);
    }
    index
        .reindex(false, &CollectingSink::new(), &CancellationToken::new())
        .unwrap();
    let whole = parse_page(&index, 50, None);
    assert!(whole.definitions.len() >= 13, "{whole:?}");
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = parse_page(&index, 5, cursor.take());
        seen.extend(page.definitions.iter().map(|d| (d.path.clone(), d.line)));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let all: Vec<(String, u32)> = whole
        .definitions
        .iter()
        .map(|d| (d.path.clone(), d.line))
        .collect();
    assert_eq!(seen, all, "pages of 5 against one page of all");
}

#[test]
fn a_never_indexed_workspace_is_indexed_by_its_first_query() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    assert!(!index.is_indexed());
    assert!(!search(&index, "OrderService").hits.is_empty());
    assert!(index.is_indexed());
}

#[test]
fn regex_mode_uses_candidates_or_scans_and_reports_bad_patterns() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let regex = |q: &str| {
        index.search_code(&SearchRequest {
            mode: SearchMode::Regex,
            ..SearchRequest::new(q)
        })
    };
    let r = regex(r"\bfn\s+add_\w+").unwrap();
    assert_eq!(r.hits.len(), 1);
    assert_eq!(
        (r.hits[0].path.as_str(), r.hits[0].line),
        ("rust/src/lib.rs", 31)
    );
    assert!(r.note.is_none(), "candidates came from the index");
    let r = regex(r"(?i)ORDER_ID[),]").unwrap();
    assert!(r.note.as_deref().unwrap_or_default().contains("scanned"));
    assert!(r.total >= 3, "{r:?}");
    let e = regex("fn (foo").unwrap_err();
    assert!(
        matches!(e, SearchError::InvalidRegex { position: 4, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("character 4"));
    // Punctuation-only queries in auto mode are matched literally.
    let r = search(&index, "=>");
    assert_eq!(r.mode, SearchMode::Regex);
    assert!(r.hits.iter().any(|h| h.path == "web/src/api.js"));
    for q in ["", "   "] {
        let e = index.search_code(&SearchRequest::new(q)).unwrap_err();
        assert!(matches!(e, SearchError::EmptyQuery { .. }), "{e}");
    }
}

#[test]
fn budgets_cut_at_whole_hits_and_cursors_page_on() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let all = index
        .search_code(&SearchRequest {
            limit: Some(100),
            ..SearchRequest::new("order")
        })
        .unwrap();
    assert!(all.total >= 4, "{}", all.total);
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..20 {
        let page = index
            .search_code(&SearchRequest {
                max_tokens: Some(120),
                cursor: cursor.clone(),
                ..SearchRequest::new("order")
            })
            .unwrap();
        assert!(!page.hits.is_empty());
        assert!(
            page.tokens <= 120 || page.hits.len() == 1,
            "{}",
            page.tokens
        );
        seen.extend(page.hits.iter().map(|h| (h.path.clone(), h.line)));
        cursor = page.next_cursor.clone();
        if cursor.is_none() {
            assert_eq!(page.remaining, 0);
            break;
        }
        assert!(page.remaining > 0);
    }
    let everything: Vec<_> = all.hits.iter().map(|h| (h.path.clone(), h.line)).collect();
    assert_eq!(seen, everything, "pages add up to the unpaged answer");
    // A cursor from another query is refused; so are budgets over the cap.
    let c = index
        .search_code(&SearchRequest {
            limit: Some(1),
            ..SearchRequest::new("order")
        })
        .unwrap()
        .next_cursor
        .unwrap();
    let e = index
        .search_code(&SearchRequest {
            cursor: Some(c),
            ..SearchRequest::new("item")
        })
        .unwrap_err();
    assert!(e.to_string().starts_with("cursor:"), "{e}");
    let e = index
        .search_code(&SearchRequest {
            max_tokens: Some(50_000),
            ..SearchRequest::new("item")
        })
        .unwrap_err();
    assert!(e.to_string().contains("20000"), "{e}");
}

#[test]
fn references_mark_the_definition() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let r = index
        .find_references(&ReferenceRequest::new("MAX_ITEMS"))
        .unwrap();
    assert_eq!(r.total, 2);
    assert!(r.references[0].definition);
    assert_eq!(r.references[0].line, 3);
    assert!(!r.references[1].definition);
    assert_eq!(r.references[1].line, 32);
    assert_eq!(r.references[1].column, 32);

    let r = index
        .find_references(&ReferenceRequest::new("isAdmin"))
        .unwrap();
    assert_eq!(r.files, 2);
    let defs: Vec<_> = r.references.iter().filter(|x| x.definition).collect();
    assert_eq!(defs.len(), 1);
    assert_eq!(
        (defs[0].path.as_str(), defs[0].line),
        ("web/src/types.ts", 22)
    );
    // Parts of other identifiers are not references.
    let r = index
        .find_references(&ReferenceRequest::new("order"))
        .unwrap();
    assert!(
        r.references
            .iter()
            .all(|x| !x.snippet.contains("place_order(") || x.snippet.contains(" order"))
    );
}

#[test]
fn read_code_and_outline_read_current_files_inside_the_root_only() {
    let (d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    let x = index
        .read_code(&ReadRequest {
            path: "rust/src/lib.rs".into(),
            symbol: Some("Inventory::add_item".into()),
            ..ReadRequest::default()
        })
        .unwrap();
    assert_eq!((x.start_line, x.end_line), (31, 37));
    assert!(x.text.starts_with("31      pub fn add_item"), "{}", x.text);
    let x = index
        .read_code(&ReadRequest {
            path: "./python/app/service.py".into(),
            start_line: Some(1),
            end_line: Some(200),
            max_tokens: Some(30),
            ..ReadRequest::default()
        })
        .unwrap();
    assert!(
        x.truncated && x.next_start_line == Some(x.end_line + 1),
        "{x:?}"
    );

    let o = index.outline("rust/src/lib.rs", None).unwrap();
    let imp = o
        .symbols
        .iter()
        .find(|n| n.kind == "impl" && n.name == "Inventory")
        .unwrap();
    let children: Vec<&str> = imp.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(children, ["new", "add_item", "stock_level"]);

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.rs"), "fn secret() {}").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path(), d.path().join("escape")).unwrap();
    let secret = outside.path().join("secret.rs").display().to_string();
    for bad in [
        "../secret.rs",
        "rust/../../secret.rs",
        secret.as_str(),
        "escape/secret.rs",
        "/etc/passwd",
    ] {
        let e = index
            .read_code(&ReadRequest {
                path: bad.into(),
                ..ReadRequest::default()
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the workspace root"), "{bad}: {e}");
        assert!(index.outline(bad, None).is_err());
    }
    let e = index
        .search_code(&SearchRequest {
            path: Some("../*".into()),
            ..SearchRequest::new("secret")
        })
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("path:"), "{e}");
    let e = index
        .read_code(&ReadRequest {
            path: "rust/src/lib.rs".into(),
            symbol: Some("nope".into()),
            ..ReadRequest::default()
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("add_item"), "lists the file's symbols: {e}");
}

#[test]
fn a_damaged_index_is_detected_and_rebuilt() {
    let (_d, ws) = poly();
    {
        let index = SearchIndex::open(&ws).unwrap();
        index
            .ensure_indexed(&CollectingSink::new(), &CancellationToken::new())
            .unwrap();
    }
    // Flip bytes in the middle of the largest index file.
    let dir = ws.data_dir().join("index");
    let victim = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "json" && e != "lock"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 8] {
        *b ^= 0xff;
    }
    std::fs::write(&victim, bytes).unwrap();

    let index = SearchIndex::open(&ws).unwrap();
    assert!(
        !index.index_status().unwrap().indexed,
        "not served before its checks pass"
    );
    // The first query waits for the checksum verdict, rebuilds, then answers.
    assert_eq!(search(&index, "add_item").hits[0].line, 31);
    let status = index.index_status().unwrap();
    let why = status.rebuilt_after_damage.expect("damage detected");
    assert!(why.contains("checksum"), "{why}");
    assert!(status.indexed);

    // A garbled meta.json is detected too.
    drop(index);
    std::fs::write(dir.join("meta.json"), "{ not json").unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    assert!(index.index_status().unwrap().rebuilt_after_damage.is_some());
    assert_eq!(search(&index, "add_item").hits[0].line, 31);
}

#[test]
fn readers_keep_answering_while_a_writer_commits() {
    let (_d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    index
        .ensure_indexed(&CollectingSink::new(), &CancellationToken::new())
        .unwrap();
    let writer = {
        let index = index.clone();
        std::thread::spawn(move || {
            for _ in 0..5 {
                index
                    .reindex(true, &CollectingSink::new(), &CancellationToken::new())
                    .unwrap();
            }
        })
    };
    let mut queries = 0;
    while !writer.is_finished() || queries < 20 {
        let r = search(&index, "add_item");
        assert!(
            !r.hits.is_empty(),
            "a reader saw a half-written index: {r:?} {:?}",
            index.index_status().unwrap()
        );
        assert_eq!(r.hits[0].line, 31, "a reader saw a half-written index");
        queries += 1;
    }
    writer.join().unwrap();
}

/// How long a test waits for the watcher before it fails (with what it saw). Not a speed
/// claim: `tools/bench/search.sh` measures latency.
const WATCH_WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_watcher_makes_a_saved_file_searchable() {
    let (d, ws) = poly();
    let index = SearchIndex::open(&ws).unwrap();
    index
        .ensure_indexed(&CollectingSink::new(), &CancellationToken::new())
        .unwrap();
    let _watcher = index.watch().unwrap();
    assert!(index.index_status().unwrap().watching);

    let file = d.path().join("go/server.go");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\nfunc freshlyWatchedFunction() {}\n");
    let saved = Instant::now();
    std::fs::write(&file, text).unwrap();
    let took = eventually(WATCH_WAIT, || {
        (!search(&index, "freshlyWatchedFunction").hits.is_empty()).then(|| saved.elapsed())
    })
    .await;
    let took = took.unwrap_or_else(|| {
        panic!(
            "the edit was never searchable: {:?}",
            index.index_status().unwrap()
        )
    });
    eprintln!("watch latency: {took:?}");

    // A new file in a new directory, and a deletion.
    std::fs::create_dir_all(d.path().join("extra/deep")).unwrap();
    std::fs::write(
        d.path().join("extra/deep/new.py"),
        "def brand_new_watch_fn():\n    pass\n",
    )
    .unwrap();
    std::fs::remove_file(d.path().join("c/buffer.c")).unwrap();
    let mut seen = (false, false);
    let done = eventually(WATCH_WAIT, || {
        seen = (
            !search(&index, "brand_new_watch_fn").hits.is_empty(),
            search(&index, "clamp_index").total == 0,
        );
        (seen == (true, true)).then_some(())
    })
    .await;
    assert!(done.is_some(), "(added, removed) = {seen:?}");
}

#[test]
fn an_edit_during_a_symbol_pass_is_indexed_once_and_the_pass_completes() {
    let (d, ws) = poly();
    // Enough files that the pass takes several batches and commits.
    for i in 0..300 {
        let body: String = (0..40)
            .map(|j| format!("pub fn generated_{i}_{j}(x: u32) -> u32 {{ x + {j} }}\n"))
            .collect();
        std::fs::create_dir_all(d.path().join("many")).unwrap();
        std::fs::write(d.path().join(format!("many/m{i}.rs")), body).unwrap();
    }
    std::fs::write(
        d.path().join("apex.toml"),
        "[search]\ntext_first_over = 0\n",
    )
    .unwrap();
    let ws = Workspace::open(ws.root(), None).unwrap();
    let index = SearchIndex::open(&ws).unwrap();
    let never = CancellationToken::new();
    index
        .ensure_indexed(&CollectingSink::new(), &never)
        .unwrap();
    let pass = {
        let index = index.clone();
        std::thread::spawn(move || {
            index
                .ensure_symbols(&CollectingSink::new(), &CancellationToken::new())
                .unwrap()
        })
    };
    // An edit while the pass may be running: indexed at once, whole, and not twice.
    let py = d.path().join("python/app/service.py");
    let mut text = std::fs::read_to_string(&py).unwrap();
    text.push_str("\n\ndef saved_during_the_pass(x):\n    return x\n");
    std::fs::write(&py, text).unwrap();
    index.update_paths(vec![py]).unwrap();
    let hits = index
        .search_code(&SearchRequest {
            mode: SearchMode::Text,
            ..SearchRequest::new("saved_during_the_pass")
        })
        .unwrap();
    assert_eq!(hits.hits.len(), 1, "{hits:?}");
    pass.join().unwrap();
    index
        .ensure_symbols(&CollectingSink::new(), &never)
        .unwrap();
    assert_eq!(index.symbols_pending(), 0);
    let status = index.index_status().unwrap();
    assert_eq!(status.symbols, 61 + 300 * 40, "{status:?}");
    for name in ["saved_during_the_pass", "generated_150_20", "OrderService"] {
        // Exactly one exact definition (not two from a double index); fuzzy neighbours may follow.
        let found = index.find_symbol(&FindSymbolRequest::new(name)).unwrap();
        let exact: Vec<_> = found
            .definitions
            .iter()
            .filter(|d| d.match_kind == "exact")
            .collect();
        assert_eq!(exact.len(), 1, "{name}: {found:?}");
        assert_eq!(found.definitions[0].match_kind, "exact", "{found:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The MCP face and the CLI, through the real binary.

use crate::common::{Generation, assert_tool_error, call, eventually, ok_json, stdio_client};
use rmcp::model::{CallToolRequestParams, NumberOrString, ProgressToken, RequestMetaObject};
use serde_json::{Value, json};

const TOOLS: [&str; 7] = [
    "search_code",
    "find_symbol",
    "find_references",
    "read_code",
    "outline",
    "index_status",
    "reindex",
];

fn poly_root() -> crate::common::Workspace {
    crate::common::Workspace::from_fixture("search/poly")
}

#[tokio::test]
async fn the_seven_tools_are_listed_with_short_descriptions_and_documented_fields() {
    let ws = poly_root();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let tools = client.list_all_tools().await.unwrap();
    for name in TOOLS {
        let t = tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        let d = t.description.as_deref().unwrap_or_default();
        assert!(!d.is_empty() && d.chars().count() < 300, "{name}: {d}");
        let props = t.input_schema.get("properties").and_then(|p| p.as_object());
        for (field, schema) in props.into_iter().flatten() {
            assert!(
                schema.get("description").is_some(),
                "{name}.{field} has no description"
            );
        }
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_tools_answer_over_stdio_in_both_generations() {
    for generation in crate::common::BOTH {
        let ws = poly_root();
        let client = stdio_client(ws.path(), generation).await;
        // The first query on a never-indexed workspace builds the index, not an empty answer.
        let r = call(&client, "search_code", json!({"query": "add_item"})).await;
        let v = ok_json(&r);
        assert_eq!(
            v["hits"][0]["path"], "rust/src/lib.rs",
            "{generation:?}: {v}"
        );
        assert_eq!(v["hits"][0]["line"], 31);
        assert!(crate::common::text(&r).contains("rust/src/lib.rs:31-37 method add_item"));

        let v = ok_json(
            &call(
                &client,
                "find_symbol",
                json!({"name": "OrderService", "kind": "class"}),
            )
            .await,
        );
        assert_eq!(v["definitions"][0]["path"], "python/app/service.py");
        assert_eq!(v["definitions"][0]["end_line"], 17);

        let v = ok_json(&call(&client, "find_references", json!({"name": "isAdmin"})).await);
        assert_eq!(v["references"][0]["definition"], true);
        assert_eq!(v["files"], 2);

        let r = call(
            &client,
            "read_code",
            json!({"path": "go/server.go", "symbol": "NewServer"}),
        )
        .await;
        assert!(
            crate::common::text(&r).contains("16  func NewServer(addr string) *Server {"),
            "{}",
            crate::common::text(&r)
        );

        let v = ok_json(&call(&client, "outline", json!({"path": "java/src/Account.java"})).await);
        assert_eq!(v["symbols"][0]["name"], "Account");
        assert_eq!(v["symbols"][0]["children"].as_array().unwrap().len(), 4);

        let v = ok_json(&call(&client, "index_status", json!({})).await);
        assert_eq!(v["indexed"], true);
        assert_eq!(v["files"], 11);
        assert_eq!(v["watching"], true);
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn bad_arguments_come_back_as_tool_errors_that_say_what_to_do() {
    let ws = poly_root();
    std::fs::write(
        ws.dir.path().parent().unwrap().join("outside-secret.rs"),
        "fn s() {}",
    )
    .ok();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let cases = [
        (
            "search_code",
            json!({"query": "fn (oops", "mode": "regex"}),
            vec!["character 4"],
        ),
        (
            "search_code",
            json!({"query": "  "}),
            vec!["query is empty"],
        ),
        (
            "search_code",
            json!({"query": "x", "mode": "fuzzy"}),
            vec!["mode", "auto, text, regex, symbol"],
        ),
        (
            "search_code",
            json!({"query": "x", "max_tokens": 50000}),
            vec!["max_tokens", "20000"],
        ),
        (
            "search_code",
            json!({"query": "x", "path": "../*"}),
            vec!["path", "outside"],
        ),
        ("find_symbol", json!({"name": ""}), vec!["name is empty"]),
        (
            "find_symbol",
            json!({"name": "x", "kind": "func"}),
            vec!["kind", "function"],
        ),
        (
            "read_code",
            json!({"path": "../outside-secret.rs"}),
            vec!["outside the workspace root"],
        ),
        (
            "read_code",
            json!({"path": "/etc/passwd"}),
            vec!["outside the workspace root"],
        ),
        (
            "read_code",
            json!({"path": "rust/src/lib.rs", "start_line": 500}),
            vec!["start_line", "past the end"],
        ),
        ("outline", json!({"path": "README.md"}), vec!["supported"]),
    ];
    for (tool, args, needles) in cases {
        let r = call(&client, tool, args.clone()).await;
        assert_tool_error(&r, &needles);
    }
    client.cancel().await.unwrap();
}

/// Found by the soak (tools/bench/soak.sh): 50 clients searching a fresh workspace each
/// started a first index build, and those past `[runs] max_concurrent` were refused as busy.
#[tokio::test]
async fn concurrent_first_queries_share_one_index_build() {
    let ws = poly_root();
    std::fs::write(ws.path().join("apex.toml"), "[runs]\nmax_concurrent = 2\n").unwrap();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let peer = client.peer().clone();
            let params = CallToolRequestParams::new("search_code").with_arguments(
                json!({"query": "OrderService"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            );
            tokio::spawn(async move { peer.call_tool(params).await })
        })
        .collect();
    for c in calls {
        let r = c.await.unwrap().unwrap();
        assert_ne!(r.is_error, Some(true), "{r:?}");
        assert!(ok_json(&r)["total"].as_u64().unwrap() > 0, "{r:?}");
    }
    let db = rusqlite::Connection::open(ws.path().join(".netra-apex/apex.db")).unwrap();
    let runs: i64 = db
        .query_row("SELECT count(*) FROM runs WHERE kind = 'index'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(runs, 1, "one first build, not one per query");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn reindex_streams_progress_and_is_recorded_as_a_run() {
    let ws = poly_root();
    let handler = crate::common::TestClient::default();
    let received = handler.received.clone();
    let client =
        crate::common::stdio_client_with(handler, ws.path(), Generation::Handshake, &[]).await;
    let mut params = CallToolRequestParams::new("reindex")
        .with_arguments(json!({"full": true}).as_object().cloned().unwrap());
    params.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(
        NumberOrString::Number(7),
    )));
    let r = client.call_tool(params).await.unwrap();
    let report = ok_json(&r);
    let reread = report["added"].as_u64().unwrap() + report["updated"].as_u64().unwrap();
    assert_eq!(reread, 11, "{report}");
    let run_id = report["run_id"].as_str().unwrap().to_string();
    let progress = received.lock().unwrap().progress.clone();
    let messages: Vec<String> = progress.iter().filter_map(|p| p.message.clone()).collect();
    assert!(
        messages
            .first()
            .is_some_and(|m| m.starts_with("index_started")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("files_indexed: 11/11")),
        "{messages:?}"
    );
    assert!(
        messages
            .last()
            .is_some_and(|m| m.starts_with("index_finished")),
        "{messages:?}"
    );
    let seqs: Vec<f64> = progress.iter().map(|p| p.progress).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // The run and its events are stored.
    let events = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new(format!(
            "apex://runs/{run_id}/events"
        )))
        .await
        .unwrap();
    let body = format!("{events:?}");
    assert!(body.contains("index_finished"), "{body}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_symbol_query_on_a_fresh_large_workspace_answers_at_once_then_reindex_finishes() {
    let ws = poly_root();
    std::fs::write(
        ws.path().join("apex.toml"),
        "[search]\ntext_first_over = 0\n",
    )
    .unwrap();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    // The first query builds the text index and answers without waiting for symbols: from
    // the symbol index if the background pass got there first, else from the text.
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "OrderService"})).await);
    let d = &v["definitions"][0];
    assert_eq!(d["path"], "python/app/service.py", "{v}");
    assert_eq!(d["line"], 6, "{v}");
    match d["match"].as_str() {
        Some("exact") => {}
        Some("text_fallback") => {
            assert!(
                v["note"].as_str().unwrap_or_default().contains("text"),
                "{v}"
            );
            assert!(
                v["pending_files"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|f| f == "python/app/service.py")),
                "{v}"
            );
        }
        other => panic!("unexpected match {other:?}: {v}"),
    }
    // `reindex` returns once every symbol is extracted.
    ok_json(&call(&client, "reindex", json!({})).await);
    let status = ok_json(&call(&client, "index_status", json!({})).await);
    assert_eq!(status["symbols_pending"], 0, "{status}");
    assert_eq!(status["symbols"], 60, "{status}");
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "OrderService"})).await);
    assert_eq!(v["definitions"][0]["match"], "exact", "{v}");
    assert!(
        v.get("note").is_none() && v.get("pending_files").is_none(),
        "{v}"
    );
    client.cancel().await.unwrap();
}

/// The `large` fixture: a hand-written C++ file over 256 KB (JNI glue behind `JNIEXPORT …
/// JNICALL`), a gtest file with `TEST_F`, a Qt-style class behind an export macro and
/// `Q_OBJECT`, an `extern "C"` header, a large JS module, and a generated and a vendored file
/// that define a name the hand-written code defines too.
fn large_fixture() -> crate::common::Workspace {
    crate::common::Workspace::from_fixture("search/large")
}

#[tokio::test]
async fn every_definition_of_a_large_real_world_tree_is_found_hand_written_first() {
    let ws = large_fixture();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    // `reindex` builds the index and returns once the large files' symbols are extracted
    // too (the background pass parses them after the text is searchable).
    let r = ok_json(&call(&client, "reindex", json!({})).await);
    assert_eq!(r["symbols_pending"], 0, "{r}");
    let expected = std::fs::read_to_string(fixture_dir("large.expected.tsv")).unwrap();
    let mut missing = Vec::new();
    let mut rows = 0;
    for row in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        rows += 1;
        let c: Vec<&str> = row.split('\t').collect();
        let (name, path, line, kind, container) = (c[0], c[1], c[2], c[3], c[4]);
        let v = ok_json(&call(&client, "find_symbol", json!({"name": name})).await);
        let found = v["definitions"].as_array().into_iter().flatten().any(|d| {
            d["path"] == path
                && d["line"].as_u64().map(|n| n.to_string()).as_deref() == Some(line)
                && d["kind"] == kind
                && d["match"] == "exact"
                && d["container"].as_str().unwrap_or_default() == container
        });
        if !found {
            missing.push(format!("{name} ({path}:{line}): {v}"));
        }
    }
    assert!(rows >= 20, "the expected list was read");
    assert!(missing.is_empty(), "not found:\n{}", missing.join("\n"));

    // Where names collide, the hand-written definition comes first: before the generated
    // free function and the vendored copy, whatever their paths.
    let v = ok_json(
        &call(
            &client,
            "find_symbol",
            json!({"name": "ParseOptionsString"}),
        )
        .await,
    );
    let paths: Vec<&str> = v["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    // The member's definition in the hand-written .cc comes before its declaration in the
    // hand-written header (same name, same class: only the body tells them apart), and both
    // before the generated and vendored ones.
    let place = |path: &str| {
        paths
            .iter()
            .position(|p| *p == path)
            .unwrap_or_else(|| panic!("{path} missing: {paths:?}"))
    };
    assert_eq!(
        (place("db/options_parser.cc"), place("include/options.h")),
        (0, 1),
        "{v}"
    );
    let scores: Vec<f64> = v["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["score"].as_f64().unwrap())
        .collect();
    assert!(scores[0] > scores[1], "a tie decided by index order: {v}");
    for other in [
        "gen/options_table_generated.cc",
        "third_party/rocksdb/options_parser.cc",
    ] {
        assert!(place(other) > 1, "{paths:?}");
    }
    // search_code ranks the hand-written ones first too.
    let v = ok_json(
        &call(
            &client,
            "search_code",
            json!({"query": "ParseOptionsString", "mode": "symbol"}),
        )
        .await,
    );
    let first = v["hits"][0]["path"].as_str().unwrap_or_default();
    assert!(
        ["db/options_parser.cc", "include/options.h"].contains(&first),
        "{v}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_name_the_symbol_index_lacks_is_found_by_its_shape_and_labelled() {
    let ws = large_fixture();
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    ok_json(&call(&client, "reindex", json!({})).await);
    // Ruby has no grammar here: the definition is found by its shape, and says so.
    let result = call(&client, "find_symbol", json!({"name": "rollout_canary"})).await;
    let v = ok_json(&result);
    assert_eq!(v["total"], 1, "{v}");
    let d = &v["definitions"][0];
    assert_eq!(
        (&d["path"], &d["line"], &d["kind"], &d["match"]),
        (
            &json!("scripts/deploy.rb"),
            &json!(3),
            &json!("function"),
            &json!("text_fallback")
        ),
        "{v}"
    );
    assert!(
        v["note"]
            .as_str()
            .is_some_and(|n| n.contains("no definition in the symbol index")),
        "{v}"
    );
    let text = crate::common::text(&result);
    assert!(text.contains("[text_fallback]"), "{text}");
    // A name that is only used, never defined, is a plain miss, with the reason.
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "ship"})).await);
    assert_eq!(v["total"], 0, "{v}");
    assert!(
        v["note"]
            .as_str()
            .is_some_and(|n| n.contains("no line shaped like one")),
        "{v}"
    );
    client.cancel().await.unwrap();
}

/// A small Rust crate laid out as tokio is: a free `spawn` in `task/spawn.rs` declared by
/// `mod spawn;`, a method `Handle::spawn`, and a test helper `spawn` whose path comes first.
fn modules_fixture() -> crate::common::Workspace {
    let ws = crate::common::Workspace::new();
    ws.write(
        "runtime/handle.rs",
        "pub struct Handle;\nimpl Handle {\n    pub fn spawn(&self) {}\n}\n",
    );
    ws.write("src/tests.rs", "pub fn spawn() {}\n");
    ws.write("task/mod.rs", "mod spawn;\n");
    ws.write("task/spawn.rs", "pub fn spawn() {}\n");
    ws.write("aaa/factory.py", "def HTTPClient(url):\n    pass\n");
    ws.write(
        "web/httpclient.py",
        "class HTTPClient:\n    def fetch(self, url):\n        pass\n\n\nclass AsyncHTTPClient:\n    def fetch(self, url):\n        pass\n",
    );
    ws
}

#[tokio::test]
async fn a_name_asked_as_code_or_by_its_module_finds_the_definition_outside_tests() {
    let ws = modules_fixture();
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    ok_json(&call(&client, "reindex", json!({})).await);
    let order = |v: &Value| -> Vec<(String, String)> {
        v["definitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["path"].as_str().unwrap().to_string(),
                    d["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(p, k)| (p.to_string(), k.to_string()))
            .collect()
    };
    // The free function, then the method, then the module's declaration and the test's
    // helper; the name as written in code finds the same.
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "spawn"})).await);
    assert_eq!(
        order(&v),
        owned(&[
            ("task/spawn.rs", "function"),
            ("runtime/handle.rs", "method"),
            ("task/mod.rs", "module"),
            ("src/tests.rs", "function"),
        ]),
        "{v}"
    );
    // Written as a function, the functions and methods come first, the module last.
    for name in ["fn spawn", "pub fn spawn()"] {
        let v = ok_json(&call(&client, "find_symbol", json!({"name": name})).await);
        assert_eq!(
            order(&v),
            owned(&[
                ("task/spawn.rs", "function"),
                ("runtime/handle.rs", "method"),
                ("src/tests.rs", "function"),
                ("task/mod.rs", "module"),
            ]),
            "{name}: {v}"
        );
    }
    // A module path qualifies by the files' paths; no type is named `task`.
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "task::spawn"})).await);
    assert_eq!(
        order(&v),
        owned(&[("task/spawn.rs", "function"), ("task/mod.rs", "module")]),
        "{v}"
    );
    assert!(
        v["note"]
            .as_str()
            .is_some_and(|n| n.contains("read as a module or package")),
        "{v}"
    );
    // A type still qualifies by the type.
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "Handle::spawn"})).await);
    assert_eq!(order(&v), owned(&[("runtime/handle.rs", "method")]), "{v}");
    assert_eq!(v["note"], Value::Null, "{v}");
    // A qualifier that names nothing never hides the definitions the name has.
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "tokio::spawn"})).await);
    assert_eq!(v["total"], 4, "{v}");
    assert_eq!(v["definitions"][0]["path"], "task/spawn.rs", "{v}");
    assert!(
        v["note"].as_str().is_some_and(|n| n.contains("anywhere")),
        "{v}"
    );
    // search_code's symbol mode reads past the keyword too.
    let v = ok_json(
        &call(
            &client,
            "search_code",
            json!({"query": "fn spawn", "mode": "symbol"}),
        )
        .await,
    );
    assert_eq!(v["total"], 4, "{v}");
    // A line of code asks for the definitions of the name it defines, first.
    let v = ok_json(&call(&client, "search_code", json!({"query": "def fetch(self"})).await);
    let first: Vec<(&Value, &Value)> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|h| (&h["path"], &h["line"]))
        .collect();
    assert_eq!(
        first,
        [
            (&json!("web/httpclient.py"), &json!(2)),
            (&json!("web/httpclient.py"), &json!(7))
        ],
        "{v}"
    );
    // A keyword written before the name ranks its kind first; `kind` still filters.
    for (name, first) in [
        ("class HTTPClient", "class"),
        ("def HTTPClient", "function"),
    ] {
        let v = ok_json(&call(&client, "find_symbol", json!({"name": name})).await);
        assert_eq!(v["definitions"][0]["kind"], first, "{name}: {v}");
        assert_eq!(v["definitions"][0]["name"], "HTTPClient", "{name}: {v}");
        assert_eq!(v["definitions"][1]["name"], "HTTPClient", "{name}: {v}");
    }
    // read_code by a qualified name: the class part for part (`AsyncHTTPClient` is not
    // `HTTPClient`), the module's own path skipped.
    for (symbol, line) in [
        ("web.httpclient.AsyncHTTPClient.fetch", 7),
        ("httpclient.HTTPClient.fetch", 2),
        ("def fetch", 2),
    ] {
        let v = ok_json(
            &call(
                &client,
                "read_code",
                json!({"path": "web/httpclient.py", "symbol": symbol}),
            )
            .await,
        );
        assert_eq!(v["start_line"], line, "{symbol}: {v}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn index_status_and_files_are_resources() {
    let ws = poly_root();
    let client = stdio_client(ws.path(), Generation::Handshake).await;
    let listed = client.list_all_resources().await.unwrap();
    assert!(listed.iter().any(|r| r.uri == "apex://index/status"));
    let read = |uri: &str| {
        client.read_resource(rmcp::model::ReadResourceRequestParams::new(uri.to_string()))
    };
    let status = read("apex://index/status").await.unwrap();
    assert!(
        format!("{status:?}").contains("\\\"files\\\""),
        "{status:?}"
    );
    let file = read("apex://files/rust/src/lib.rs").await.unwrap();
    assert!(format!("{file:?}").contains("pub fn add_item"));
    for bad in [
        "apex://files/../../etc/passwd",
        "apex://files//etc/passwd",
        "apex://files/%2E%2E/x",
    ] {
        let err = read(bad).await.unwrap_err().to_string();
        assert!(err.contains("outside the workspace root"), "{bad}: {err}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn serve_keeps_the_index_fresh() {
    let ws = poly_root();
    let client = stdio_client(ws.path(), Generation::Stateless).await;
    ok_json(&call(&client, "search_code", json!({"query": "Inventory"})).await);
    ws.write("rust/src/fresh.rs", "pub fn served_and_watched_fn() {}\n");
    let deadline = Instant::now() + WATCH_WAIT;
    let mut last = json!(null);
    while Instant::now() < deadline {
        last = ok_json(
            &call(
                &client,
                "search_code",
                json!({"query": "served_and_watched_fn"}),
            )
            .await,
        );
        if last["total"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        last["total"].as_u64().unwrap_or(0) > 0,
        "a saved file never became searchable: {last}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn search_works_over_http_too() {
    let ws = poly_root();
    let server = crate::common::http_server(ws.path(), &[]).await;
    let client = crate::common::http_client(&server.url, Generation::Stateless).await;
    let v = ok_json(&call(&client, "find_symbol", json!({"name": "Circle::area"})).await);
    assert_eq!(v["definitions"][0]["path"], "cpp/shape.cpp");
    client.cancel().await.unwrap();
}

#[test]
fn cli_twins_index_and_search() {
    let ws = poly_root();
    let run = |args: &[&str]| {
        std::process::Command::new(crate::common::bin())
            .arg("--root")
            .arg(ws.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["index", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["added"], 11);
    assert!(String::from_utf8_lossy(&out.stderr).contains("files_indexed: 11/11 files"));
    let out = run(&["search", "stock_level", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["hits"][0]["line"], 39);
    let out = run(&["search", "fn (", "--mode", "regex"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("character 4"));
}
