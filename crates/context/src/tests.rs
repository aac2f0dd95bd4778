//! Library tests on real files in a temp workspace and a real SQLite store.

use super::*;
use apex_core::workspace::Workspace;

struct Fixture {
    dir: tempfile::TempDir,
    ws: Workspace,
    store: Store,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        let ws = Workspace::open(dir.path(), None).unwrap();
        let store = Store::open(&ws.db_path()).unwrap();
        Self { dir, ws, store }
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn anchors(&self) -> Anchors<'_> {
        Anchors::new(&self.ws)
    }

    fn save(&self, name: &str, items: Vec<ItemSpec>, notes: &str) -> Result<SaveOutcome> {
        save(
            &self.store,
            &self.anchors(),
            &SaveRequest {
                name: name.into(),
                description: "how login works".into(),
                tags: vec!["auth".into()],
                notes: notes.into(),
                items,
            },
        )
    }

    fn get(&self, name: &str) -> ContextView {
        get(&self.store, &self.anchors(), name, None, None).unwrap()
    }
}

fn lines(path: &str, start: u32, end: u32) -> ItemSpec {
    ItemSpec {
        path: Some(path.into()),
        start_line: Some(start),
        end_line: Some(end),
        ..Default::default()
    }
}

const LOGIN: &str =
    "fn helper() {}\n\nfn login(user: &str) -> bool {\n    check(user)\n}\n\nfn logout() {}\n";

#[test]
fn every_status_follows_the_code_under_the_bundle() {
    let f = Fixture::new();
    f.write("src/login.rs", LOGIN);
    f.write("src/moved.rs", LOGIN);
    f.write("src/stale.rs", LOGIN);
    f.write("src/gone.rs", LOGIN);
    let items = ["login", "moved", "stale", "gone"]
        .iter()
        .map(|n| lines(&format!("src/{n}.rs"), 3, 5))
        .collect();
    let saved = f.save("login-flow", items, "").unwrap();
    assert_eq!(saved.version, 1);
    assert_eq!(
        saved.anchors[0].hash,
        content_hash("fn login(user: &str) -> bool {\n    check(user)\n}")
    );

    let v = f.get("login-flow");
    assert_eq!(v.counts.fresh, 4, "{}", v.text);

    // Two lines added above: the same text two lines down.
    f.write("src/moved.rs", &format!("// a\n// b\n{LOGIN}"));
    // The body changed in place.
    f.write(
        "src/stale.rs",
        &LOGIN.replace("check(user)", "check(user) && audit(user)"),
    );
    std::fs::remove_file(f.dir.path().join("src/gone.rs")).unwrap();

    let v = f.get("login-flow");
    let st: Vec<_> = v.items.iter().map(|i| i.status).collect();
    assert_eq!(
        st,
        vec![
            ItemStatus::Fresh,
            ItemStatus::Moved,
            ItemStatus::Stale,
            ItemStatus::Missing
        ],
        "{}",
        v.text
    );
    let moved = &v.items[1];
    assert_eq!((moved.start_line, moved.end_line), (Some(5), Some(7)));
    assert_eq!((moved.saved_start_line, moved.saved_end_line), (3, 5));
    let stale = &v.items[2];
    assert!(stale.text.contains("audit(user)"), "{}", stale.text);
    let diff = stale.diff.as_deref().unwrap();
    assert!(
        diff.contains("-    check(user)") && diff.contains("+    check(user) && audit(user)"),
        "{diff}"
    );
    let missing = &v.items[3];
    assert!(
        missing.text.contains("fn login"),
        "missing items keep the saved text"
    );
    assert!(
        missing
            .reason
            .as_deref()
            .unwrap()
            .contains("no longer exists")
    );
    assert!(missing.start_line.is_none());
    assert_eq!(
        v.counts,
        StatusCounts {
            fresh: 1,
            moved: 1,
            stale: 1,
            missing: 1
        }
    );
    assert!(
        v.text.contains("### 2. `src/moved.rs:5-7` · moved"),
        "{}",
        v.text
    );
    assert!(v.text.contains("```diff"), "{}", v.text);
}

#[test]
fn saving_again_makes_a_version_and_every_version_stays_readable() {
    let f = Fixture::new();
    f.write("src/login.rs", LOGIN);
    f.save("flow", vec![lines("src/login.rs", 1, 1)], "first")
        .unwrap();
    let two = f
        .save("flow", vec![lines("src/login.rs", 3, 5)], "second")
        .unwrap();
    assert_eq!(two.version, 2);
    let latest = f.get("flow");
    assert_eq!((latest.version, latest.latest_version), (2, 2));
    assert_eq!(latest.notes, "second");
    let old = get(&f.store, &f.anchors(), "flow", Some(1), None).unwrap();
    assert_eq!((old.version, old.latest_version), (1, 2));
    assert_eq!(old.items[0].text, "fn helper() {}");
    let err = get(&f.store, &f.anchors(), "flow", Some(7), None).unwrap_err();
    assert!(err.to_string().contains("versions 1 to 2"), "{err}");
    assert_eq!(history(&f.store, "flow").unwrap().len(), 2);
}

#[test]
fn unknown_names_get_the_closest_ones() {
    let f = Fixture::new();
    f.write("src/login.rs", LOGIN);
    for n in ["login-flow", "logout-flow", "billing"] {
        f.save(n, vec![lines("src/login.rs", 1, 1)], "").unwrap();
    }
    let err = get(&f.store, &f.anchors(), "login-flw", None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`login-flow`"), "{err}");
    assert!(!err.contains("billing"), "{err}");
    let err = delete(&f.store, "zzzzzzzzzz").unwrap_err().to_string();
    assert!(err.contains("no bundle has a similar name"), "{err}");
}

#[test]
fn bad_input_names_the_field() {
    let f = Fixture::new();
    f.write("src/login.rs", LOGIN);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.rs"), "secret").unwrap();
    let abs_outside = outside.path().join("x.rs").display().to_string();
    let cases: Vec<(&str, Vec<ItemSpec>, &str)> = vec![
        ("Bad Name", vec![lines("src/login.rs", 1, 1)], "name"),
        ("ok", vec![lines("../etc/passwd", 1, 1)], "items[0].path"),
        (
            "ok",
            vec![lines(&abs_outside, 1, 1)],
            "outside the workspace root",
        ),
        (
            "ok",
            vec![lines("src/login.rs", 0, 1)],
            "items[0].start_line",
        ),
        ("ok", vec![lines("src/login.rs", 3, 2)], "items[0].end_line"),
        ("ok", vec![lines("src/login.rs", 1, 99)], "has 7 lines"),
        ("ok", vec![ItemSpec::default()], "items[0].path"),
        ("ok", vec![], "items"),
    ];
    for (name, items, want) in cases {
        let err = f.save(name, items, "").unwrap_err().to_string();
        assert!(err.contains(want), "want `{want}` in: {err}");
    }
    assert!(validate_name(&"a".repeat(64)).is_ok());
    assert!(validate_name(&"a".repeat(65)).is_err());
    assert!(
        list(&f.store, None).unwrap().is_empty(),
        "nothing half-saved"
    );
}

#[test]
fn a_budget_renders_items_in_order_and_names_the_rest() {
    let f = Fixture::new();
    let body: String = (0..40).map(|i| format!("let line_{i} = {i};\n")).collect();
    f.write("src/big.rs", &body);
    let items = (0..8)
        .map(|k| lines("src/big.rs", k * 5 + 1, k * 5 + 5))
        .collect();
    f.save("big", items, "Read these in order.").unwrap();
    let full = f.get("big");
    assert_eq!(full.items.len(), 8);
    assert!(full.omitted.is_empty());

    let v = get(&f.store, &f.anchors(), "big", None, Some(200)).unwrap();
    assert!(!v.items.is_empty() && !v.omitted.is_empty(), "{}", v.text);
    assert!(v.tokens <= 200, "{} tokens: {}", v.tokens, v.text);
    let shown: Vec<usize> = v.items.iter().map(|i| i.index).collect();
    let left: Vec<usize> = v.omitted.iter().map(|o| o.index).collect();
    assert_eq!(shown, (1..=shown.len()).collect::<Vec<_>>());
    assert_eq!(left, (shown.len() + 1..=8).collect::<Vec<_>>());
    assert!(
        v.text.contains("did not fit the budget of 200 tokens"),
        "{}",
        v.text
    );
    assert!(
        v.text.contains(&format!("- {}. src/big.rs:", left[0])),
        "{}",
        v.text
    );

    let err = get(&f.store, &f.anchors(), "big", None, Some(3))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_tokens"), "{err}");
}

#[test]
fn secrets_are_redacted_and_reported_but_never_repeated() {
    let f = Fixture::new();
    let key = format!("AKIA{}", "Q7".repeat(8));
    let pw = "hunter2-is-my-password";
    f.write(
        "src/config.rs",
        &format!(
            "const REGION: &str = \"eu\";\nlet db_password = \"{pw}\";\nlet id = \"{key}\";\n"
        ),
    );
    let out = f
        .save(
            "config",
            vec![lines("src/config.rs", 1, 3)],
            &format!("The deploy key is {key}."),
        )
        .unwrap();
    let kinds: Vec<(&str, usize)> = out
        .redactions
        .iter()
        .map(|r| (r.kind.as_str(), r.count))
        .collect();
    assert_eq!(kinds, vec![("aws_access_key_id", 2), ("password", 1)]);
    assert_eq!(
        out.redactions[0].places,
        vec!["notes".to_string(), "item 1".to_string()]
    );
    let report = serde_json::to_string(&out).unwrap();
    assert!(!report.contains(&key) && !report.contains(pw), "{report}");

    let v = f.get("config");
    assert_eq!(
        v.items[0].status,
        ItemStatus::Fresh,
        "hash is of the real text"
    );
    let shown = serde_json::to_string(&v).unwrap() + &v.text;
    assert!(!shown.contains(&key) && !shown.contains(pw), "{shown}");
    assert!(v.text.contains("[REDACTED:password]"), "{}", v.text);
    let stored = load(&f.store, "config", None).unwrap();
    assert!(!stored.notes.contains(&key));
    assert_eq!(stored.redactions, out.redactions);
}

#[test]
fn export_then_import_round_trips_as_a_new_version() {
    let f = Fixture::new();
    f.write("src/login.rs", LOGIN);
    let item = ItemSpec {
        note: Some("the entry point".into()),
        ..lines("src/login.rs", 3, 5)
    };
    f.save("flow", vec![item], "# Notes\nsee login").unwrap();
    let json = export(&f.store, "flow", None).unwrap();
    assert_eq!(
        json,
        export(&f.store, "flow", Some(1)).unwrap(),
        "stable bytes"
    );
    assert!(
        json.starts_with("{\n  \"format\": \"netra-apex/context\",\n  \"format_version\": 1,"),
        "{json}"
    );

    // Into another workspace with the same file: a new bundle whose item is fresh there.
    let g = Fixture::new();
    g.write("src/login.rs", LOGIN);
    let out = import(&g.store, &json, None).unwrap();
    assert_eq!((out.name.as_str(), out.version), ("flow", 1));
    let v = g.get("flow");
    assert_eq!(v.items[0].status, ItemStatus::Fresh);
    assert_eq!(v.items[0].note.as_deref(), Some("the entry point"));
    assert_eq!(v.notes, "# Notes\nsee login");
    assert_eq!(v.tags, vec!["auth".to_string()]);

    // Into the same store: version 2, and re-exporting gives the same content.
    let again = import(&f.store, &json, None).unwrap();
    assert_eq!(again.version, 2);
    let v2: serde_json::Value =
        serde_json::from_str(&export(&f.store, "flow", None).unwrap()).unwrap();
    let v1: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v2["items"], v1["items"]);
    assert_eq!(v2["version"], 2);
    assert_eq!(history(&f.store, "flow").unwrap()[1].source, "import");
}

#[test]
fn list_filters_by_tag_and_delete_removes_history() {
    let f = Fixture::new();
    f.write("src/login.rs", LOGIN);
    f.save("a", vec![lines("src/login.rs", 1, 1)], "").unwrap();
    f.save("a", vec![lines("src/login.rs", 1, 2)], "").unwrap();
    save(
        &f.store,
        &f.anchors(),
        &SaveRequest {
            name: "b".into(),
            tags: vec!["billing".into()],
            notes: "just notes".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let all = list(&f.store, None).unwrap();
    assert_eq!(
        all.iter()
            .map(|b| (b.name.as_str(), b.version))
            .collect::<Vec<_>>(),
        vec![("a", 2), ("b", 1)]
    );
    let billing = list(&f.store, Some("billing")).unwrap();
    assert_eq!(billing.len(), 1);
    assert_eq!(billing[0].items, 0);
    assert_eq!(delete(&f.store, "a").unwrap(), 2);
    assert!(get(&f.store, &f.anchors(), "a", Some(1), None).is_err());
    // A new bundle of the same name starts again at 1.
    assert_eq!(
        f.save("a", vec![lines("src/login.rs", 1, 1)], "")
            .unwrap()
            .version,
        1
    );
}

#[test]
fn concurrent_saves_of_one_name_all_land() {
    let f = Fixture::new();
    f.write("src/login.rs", LOGIN);
    let store = std::sync::Arc::new(Store::open(&f.ws.db_path()).unwrap());
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = store.clone();
            let ws = &f.ws;
            s.spawn(move || {
                for j in 0..5 {
                    save(
                        &store,
                        &Anchors::new(ws),
                        &SaveRequest {
                            name: "race".into(),
                            notes: format!("{t}-{j}"),
                            items: vec![lines("src/login.rs", 1, 1)],
                            ..Default::default()
                        },
                    )
                    .unwrap();
                }
            });
        }
    });
    let h = history(&f.store, "race").unwrap();
    assert_eq!(
        h.iter().map(|v| v.version).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    let mut notes: Vec<String> = (1..=20)
        .map(|v| load(&f.store, "race", Some(v)).unwrap().notes)
        .collect();
    notes.sort();
    notes.dedup();
    assert_eq!(notes.len(), 20, "no save lost");
}

#[test]
fn closest_names_by_edit_distance() {
    let names: Vec<String> = ["auth-flow", "auth-flows", "billing", "x"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(closest("auth-flo", &names), vec!["auth-flow", "auth-flows"]);
    assert_eq!(closest("bling", &names), vec!["billing"]);
    assert!(closest("zzzzzz", &names).is_empty());
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

/// A symbol index over a fixed set of files, using the real extractor: enough to test
/// anchoring without building the search index.
struct FilesIndex<'a> {
    ws: &'a Workspace,
    files: Vec<&'static str>,
}

impl SymbolIndex for FilesIndex<'_> {
    fn definitions(&self, name: &str) -> Vec<(String, SymbolDef)> {
        let mut out = Vec::new();
        for f in &self.files {
            let Ok(abs) = self.ws.resolve(f) else {
                continue;
            };
            let src = std::fs::read_to_string(&abs).unwrap();
            for d in symbols::symbols_in(&abs, &src).unwrap() {
                if d.name == name {
                    out.push((f.to_string(), d));
                }
            }
        }
        out
    }
}

const STORE_RS: &str = "pub struct Store {\n    path: String,\n}\n\nimpl Store {\n    pub fn open(path: &str) -> Store {\n        Store { path: path.into() }\n    }\n\n    pub fn close(self) {}\n}\n";

fn symbol(path: Option<&str>, sym: &str) -> ItemSpec {
    ItemSpec {
        path: path.map(str::to_string),
        symbol: Some(sym.into()),
        ..Default::default()
    }
}

#[test]
fn symbol_items_record_their_path_and_follow_the_symbol() {
    let f = Fixture::new();
    for n in ["a", "b", "c", "d"] {
        f.write(&format!("src/{n}.rs"), STORE_RS);
    }
    let items = ["a", "b", "c", "d"]
        .iter()
        .map(|n| symbol(Some(&format!("src/{n}.rs")), "Store::open"))
        .collect();
    let out = f.save("store", items, "").unwrap();
    let sp = out.anchors[0].symbol.clone().unwrap();
    assert_eq!(
        (sp.path.as_str(), sp.kind.as_str()),
        ("Store::open", "method")
    );
    assert_eq!((out.anchors[0].start_line, out.anchors[0].end_line), (6, 8));
    assert_eq!(f.get("store").counts.fresh, 4);

    f.write(
        "src/b.rs",
        &STORE_RS.replace("impl Store {\n", "impl Store {\n    const X: u8 = 1;\n\n"),
    );
    f.write(
        "src/c.rs",
        &STORE_RS.replace("path.into()", "path.to_string()"),
    );
    f.write("src/d.rs", &STORE_RS.replace("fn open", "fn open_at"));
    let v = f.get("store");
    let st: Vec<_> = v.items.iter().map(|i| i.status).collect();
    assert_eq!(
        st,
        vec![
            ItemStatus::Fresh,
            ItemStatus::Moved,
            ItemStatus::Stale,
            ItemStatus::Missing
        ],
        "{}",
        v.text
    );
    assert_eq!(
        (v.items[1].start_line, v.items[1].end_line),
        (Some(8), Some(10))
    );
    assert!(
        v.items[2]
            .diff
            .as_deref()
            .unwrap()
            .contains("+        Store { path: path.to_string() }")
    );
    assert!(
        v.items[3]
            .reason
            .as_deref()
            .unwrap()
            .contains("`Store::open` (method) is no longer in `src/d.rs`")
    );
    assert!(v.text.contains("`Store::open` (method)"), "{}", v.text);
}

#[test]
fn symbols_without_a_path_use_the_index_and_can_move_between_files() {
    let f = Fixture::new();
    f.write("src/store.rs", STORE_RS);
    f.write("src/other.rs", "fn unrelated() {}\n");
    let index = FilesIndex {
        ws: &f.ws,
        files: vec!["src/store.rs", "src/other.rs", "src/db.rs"],
    };
    let anchors = Anchors::with_index(&f.ws, &index);
    let req = |items| SaveRequest {
        name: "s".into(),
        items,
        ..Default::default()
    };

    // No index, no path: refused with a way out.
    let err = save(&f.store, &f.anchors(), &req(vec![symbol(None, "open")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("items[0].path") && err.contains("give its path"),
        "{err}"
    );
    let err = save(&f.store, &anchors, &req(vec![symbol(None, "nope")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("items[0].symbol") && err.contains("no symbol `nope`"),
        "{err}"
    );
    let err = save(
        &f.store,
        &anchors,
        &req(vec![symbol(Some("src/store.rs"), "Store::opn")]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("closest: Store::open"), "{err}");

    let out = save(&f.store, &anchors, &req(vec![symbol(None, "Store::open")])).unwrap();
    assert_eq!(out.anchors[0].path, "src/store.rs");

    // The whole impl moves to another file, unchanged.
    f.write("src/db.rs", &format!("// moved here\n{STORE_RS}"));
    f.write("src/store.rs", "// nothing left\n");
    let v = get(&f.store, &anchors, "s", None, None).unwrap();
    let it = &v.items[0];
    assert_eq!(it.status, ItemStatus::Moved, "{}", v.text);
    assert_eq!((it.path.as_str(), it.start_line), ("src/db.rs", Some(7)));
    assert_eq!(it.saved_path, "src/store.rs");
    // Without the index the same item can only be called missing.
    assert_eq!(f.get("s").items[0].status, ItemStatus::Missing);

    // Ambiguous names need a path or container.
    f.write("src/store.rs", STORE_RS);
    let err = save(&f.store, &anchors, &req(vec![symbol(None, "open")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("defined in 2 places"), "{err}");
}

#[test]
fn unsupported_languages_say_so_for_symbols() {
    let f = Fixture::new();
    f.write("notes.txt", "hello\n");
    let err = f
        .save("t", vec![symbol(Some("notes.txt"), "hello")], "")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("items[0].symbol") && err.contains("not supported"),
        "{err}"
    );
}
