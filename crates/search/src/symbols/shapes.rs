//! Definitions recognised by the shape of a line instead of a parse: `fn NAME`, `def NAME`,
//! `class NAME`, `function NAME`, `#define NAME`, `const NAME = (…) =>`, and C-style
//! `… NAME(…) {`. Two callers need this: symbol extraction inside regions tree-sitter could
//! not parse (ERROR nodes), and `find_symbol`'s text fallback for a name the symbol index
//! does not have (a language without a grammar, or a file whose symbols are pending).
//!
//! The rules favour recall over precision; every caller labels what they find.

use std::sync::LazyLock;

use regex::Regex;

use super::SymbolKind;

/// A definition found by its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shaped {
    pub name: String,
    pub kind: SymbolKind,
    /// The qualifier of `Scope::name`, or the suite of `TEST_F(Suite, Name)`.
    pub container: Option<String>,
}

/// Words that open a statement, never a definition: `if (x) {` is not a function `if`.
const STOP_WORDS: &[&str] = &[
    "if",
    "else",
    "for",
    "while",
    "switch",
    "return",
    "case",
    "do",
    "new",
    "delete",
    "throw",
    "catch",
    "sizeof",
    "typeof",
    "await",
    "yield",
    "match",
    "when",
    "unless",
    "elif",
    "in",
    "of",
    "goto",
    "using",
    "co_await",
    "co_return",
    "co_yield",
    "with",
    "let",
    "defined",
    "and",
    "or",
    "not",
    "assert",
    "static_assert",
    "decltype",
    "alignof",
    "foreach",
    "until",
    "loop",
    "go",
    "defer",
    "select",
    "try",
    "finally",
    "except",
    "lambda",
    "print",
    "echo",
];

static KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:export|default|pub(?:\s*\([^)]*\))?|public|private|protected|internal|static|async|abstract|final|sealed|unsafe|extern(?:\s+"[^"]*")?|inline|virtual|override|const|declare|open|data|suspend|local|partial|readonly|inner|tailrec|operator|infix)\s+)*(fn|def|class|struct|enum|trait|interface|type|function\*?|func|fun|module|namespace|union|macro_rules!|record|object|protocol|sub|proc)\s+(?:\([^)]*\)\s*)?(?:self\.)?([A-Za-z_$][\w$]*[?!]?)"#,
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
});

static DEFINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*#\s*define\s+([A-Za-z_]\w*)(\()?").unwrap_or_else(|e| unreachable!("{e}"))
});

static RUST_CONST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:pub(?:\s*\([^)]*\))?\s+)?(?:const|static)\s+(?:mut\s+)?([A-Za-z_]\w*)\s*:")
        .unwrap_or_else(|e| unreachable!("{e}"))
});

static JS_BOUND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|[A-Za-z_$][\w$]*\s*=>)",
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
});

static JS_MEMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:[A-Za-z_$][\w$]*\.)*([A-Za-z_$][\w$]*)\s*[:=]\s*(?:async\s+)?function\b")
        .unwrap_or_else(|e| unreachable!("{e}"))
});

/// `… NAME(`: type-ish words (no `=`, `.`, `(` or quotes) before a possibly qualified name.
static C_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:@[\w.]+(?:\([^)]*\))?\s+)*((?:[A-Za-z_][\w:<>,*&~\s\[\]]*?[\s*&])?)(~?[A-Za-z_]\w*(?:::~?[A-Za-z_]\w*)*)\s*\(")
        .unwrap_or_else(|e| unreachable!("{e}"))
});

static PY_CONST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=[^=]").unwrap_or_else(|e| unreachable!("{e}"))
});

/// The definition that line `row` of `lines` opens, if its shape says so. Later lines are
/// read only to see whether a C-style head goes on to a body (`{`) or is a declaration.
pub(crate) fn classify(lines: &[&str], row: usize) -> Option<Shaped> {
    let line = *lines.get(row)?;
    let trimmed = line.trim_start();
    if trimmed.is_empty()
        || trimmed.starts_with("//")
        || trimmed.starts_with("/*")
        || trimmed.starts_with('*')
    {
        return None;
    }
    if trimmed.starts_with('#') {
        let c = DEFINE.captures(line)?;
        let kind = if c.get(2).is_some() {
            SymbolKind::Macro
        } else {
            SymbolKind::Constant
        };
        return Some(shaped(&c[1], kind, None));
    }
    if let Some(c) = KEYWORD.captures(line) {
        let kind = match &c[1] {
            "class" | "record" | "object" => SymbolKind::Class,
            "struct" | "union" => SymbolKind::Struct,
            "enum" => SymbolKind::Enum,
            "trait" | "protocol" => SymbolKind::Trait,
            "interface" => SymbolKind::Interface,
            "type" => SymbolKind::Type,
            "module" | "namespace" => SymbolKind::Module,
            "macro_rules!" => SymbolKind::Macro,
            _ => SymbolKind::Function,
        };
        let name = c[2].trim_end_matches(['?', '!']);
        if !STOP_WORDS.contains(&name) {
            return Some(shaped(name, kind, None));
        }
    }
    if let Some(c) = RUST_CONST.captures(line) {
        return Some(shaped(&c[1], SymbolKind::Constant, None));
    }
    if let Some(c) = JS_BOUND.captures(line).or_else(|| JS_MEMBER.captures(line)) {
        return Some(shaped(&c[1], SymbolKind::Function, None));
    }
    if let Some(c) = C_LIKE.captures(line) {
        return c_like(lines, row, &c[1], &c[2], c.get(0).map_or(0, |m| m.end()));
    }
    let c = PY_CONST.captures(line)?;
    Some(shaped(&c[1], SymbolKind::Constant, None))
}

fn shaped(name: &str, kind: SymbolKind, container: Option<String>) -> Shaped {
    Shaped {
        name: name.to_string(),
        kind,
        container,
    }
}

/// A C-style head `prefix name(` at `open` (just past the parenthesis) is a definition when
/// its parameter list closes and a body follows before any `;`.
fn c_like(lines: &[&str], row: usize, prefix: &str, name: &str, open: usize) -> Option<Shaped> {
    let is_stop = |w: &str| STOP_WORDS.contains(&w);
    if prefix
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(is_stop)
    {
        return None;
    }
    let (scope, base) = match name.rfind("::") {
        Some(i) => (Some(&name[..i]), &name[i + 2..]),
        None => (None, name),
    };
    if is_stop(base) {
        return None;
    }
    let (args, close_row, after) = balanced_args(lines, row, open)?;
    let tail = after.trim_start();
    if tail.starts_with("=>") || tail.starts_with('.') {
        return None;
    }
    if !body_follows(lines, close_row, after) {
        return None;
    }
    // `TEST_F(Suite, Name) {`: the test is the definition, named by its last argument.
    if let Some((container, test)) = test_macro(base, &args) {
        return Some(shaped(
            test,
            SymbolKind::Function,
            container.map(str::to_string),
        ));
    }
    let container = scope.map(|s| {
        s.rsplit("::")
            .find(|p| !p.is_empty())
            .unwrap_or(s)
            .to_string()
    });
    let kind = if container.is_some() {
        SymbolKind::Method
    } else {
        SymbolKind::Function
    };
    Some(shaped(base, kind, container))
}

/// The arguments of the parenthesis opened just before byte `open` of line `row` (read across
/// at most 20 lines), the row where it closes and the rest of that line.
fn balanced_args<'a>(
    lines: &[&'a str],
    row: usize,
    open: usize,
) -> Option<(String, usize, &'a str)> {
    let mut depth = 1usize;
    let mut args = String::new();
    for (i, line) in lines.iter().enumerate().skip(row).take(20) {
        let start = if i == row { open } else { 0 };
        let text = line.get(start..)?;
        for (j, ch) in text.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some((args, i, &text[j + 1..]));
                    }
                }
                _ => {}
            }
            args.push(ch);
        }
        args.push(' ');
    }
    None
}

/// Whether a body opens (`{` before any `;`) after a head whose parameters closed on line
/// `i` with `rest` left: on that line or within the next three.
fn body_follows(lines: &[&str], i: usize, rest: &str) -> bool {
    let mut after_close = rest;
    for k in 0..4 {
        let text = if k == 0 {
            after_close
        } else {
            match lines.get(i + k) {
                Some(l) => l,
                None => return false,
            }
        };
        for ch in text.chars() {
            match ch {
                '{' => return true,
                ';' | '}' => return false,
                '=' => {
                    // `= 0;`, `= default;`, `= delete;` and initialisations are not bodies.
                    return false;
                }
                _ => {}
            }
        }
        after_close = "";
    }
    false
}

/// `TEST_F(Suite, Name)`, `TEST(Suite, Name)`, `BOOST_AUTO_TEST_CASE(name)`: an upper-case macro
/// whose arguments are one to three bare identifiers names a test by its last argument, in
/// the suite of its first.
pub(crate) fn test_macro<'a>(
    macro_name: &str,
    args: &'a str,
) -> Option<(Option<&'a str>, &'a str)> {
    let upper = macro_name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !upper || !macro_name.contains("TEST") && !macro_name.contains("BENCHMARK") {
        return None;
    }
    let parts: Vec<&str> = args.split(',').map(str::trim).collect();
    let bare = |p: &&str| {
        !p.is_empty()
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !p.starts_with(|c: char| c.is_ascii_digit())
    };
    if parts.is_empty() || parts.len() > 3 || !parts.iter().all(bare) {
        return None;
    }
    let last = parts[parts.len() - 1];
    let suite = (parts.len() > 1).then(|| parts[0]);
    Some((suite, last))
}

/// The last row of the definition whose head is on `row`: the line of the brace that closes
/// its body, or for an indented block (`def f():`) the last line indented deeper than the
/// head. Falls back to `row` itself. Reads at most `limit` rows.
pub(crate) fn block_end(lines: &[&str], row: usize, limit: usize) -> usize {
    let last = lines.len().saturating_sub(1).min(row + limit);
    let head = lines.get(row).copied().unwrap_or_default();
    if head.trim_end().ends_with(':') && !head.contains('{') {
        let indent = indentation(head);
        let mut end = row;
        for (k, line) in lines.iter().enumerate().take(last + 1).skip(row + 1) {
            if line.trim().is_empty() {
                continue;
            }
            if indentation(line) <= indent {
                break;
            }
            end = k;
        }
        return end;
    }
    let mut depth = 0usize;
    let mut opened = false;
    let mut scan = Scanner::default();
    for (k, line) in lines.iter().enumerate().take(last + 1).skip(row) {
        for b in scan.code_bytes(line) {
            match b {
                b'{' => {
                    depth += 1;
                    opened = true;
                }
                b'}' if opened => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return k;
                    }
                }
                b';' if !opened => return k,
                _ => {}
            }
        }
        if !opened && k > row + 20 {
            break;
        }
    }
    row
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Skips string literals and comments line by line, so braces inside them do not count.
#[derive(Default)]
struct Scanner {
    in_block_comment: bool,
}

impl Scanner {
    fn code_bytes(&mut self, line: &str) -> Vec<u8> {
        let b = line.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        let mut quote: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            if self.in_block_comment {
                if c == b'*' && b.get(i + 1) == Some(&b'/') {
                    self.in_block_comment = false;
                    i += 1;
                }
            } else if let Some(q) = quote {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
                break;
            } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
                self.in_block_comment = true;
                i += 1;
            } else if c == b'"' || c == b'\'' || c == b'`' {
                quote = Some(c);
            } else {
                out.push(c);
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Option<(String, &'static str, Option<String>)> {
        let lines: Vec<&str> = src.lines().collect();
        classify(&lines, 0).map(|s| (s.name, s.kind.name(), s.container))
    }

    fn named(src: &str) -> Option<String> {
        one(src).map(|s| s.0)
    }

    #[test]
    fn keyword_shapes_name_their_definition() {
        for (src, name, kind) in [
            ("fn parse_config() {", "parse_config", "function"),
            ("pub(crate) async unsafe fn run<T>(x: T)", "run", "function"),
            ("    def handle(self):", "handle", "function"),
            ("async def fetch(url):", "fetch", "function"),
            ("class OrderService(Base):", "OrderService", "class"),
            ("export default class App extends X {", "App", "class"),
            (
                "export async function loadUser(id) {",
                "loadUser",
                "function",
            ),
            ("function* gen() {", "gen", "function"),
            ("func (s *Server) Start() error {", "Start", "function"),
            ("type Server struct {", "Server", "type"),
            ("pub trait Area {", "Area", "trait"),
            ("interface User {", "User", "interface"),
            ("namespace geo {", "geo", "module"),
            ("macro_rules! square {", "square", "macro"),
            ("  def self.create(attrs)", "create", "function"),
            ("fun main(args: Array<String>) {", "main", "function"),
            (
                "@Override public static void main(String[] a) {",
                "main",
                "function",
            ),
            ("#define BUF_SIZE 64", "BUF_SIZE", "constant"),
            ("#  define MAX(a, b) ((a) > (b))", "MAX", "macro"),
            ("pub const LIMIT: usize = 3;", "LIMIT", "constant"),
            ("const helper = (a) => a + 1;", "helper", "function"),
            (
                "export const load = async (id: string): Promise<X> => {",
                "load",
                "function",
            ),
            (
                "var styleDiv = function (element) {",
                "styleDiv",
                "function",
            ),
            ("  styleDiv: function(element) {", "styleDiv", "function"),
            ("Foo.prototype.render = function () {", "render", "function"),
            ("MAX_RETRIES = 3", "MAX_RETRIES", "constant"),
        ] {
            let got = one(src).unwrap_or_else(|| panic!("no shape in {src:?}"));
            assert_eq!((got.0.as_str(), got.1), (name, kind), "{src}");
        }
    }

    #[test]
    fn c_style_heads_need_a_body() {
        let src = "JNIEXPORT void JNICALL Java_org_rocksdb_DBOptions_setAllowMmapReads(\n    JNIEnv* env, jobject jobj,\n    jlong jhandle) {\n  return;\n}\n";
        assert_eq!(
            named(src).as_deref(),
            Some("Java_org_rocksdb_DBOptions_setAllowMmapReads")
        );
        assert_eq!(
            one("void Shape::draw(int x) const\n{").map(|s| (s.0, s.1, s.2)),
            Some(("draw".into(), "method", Some("Shape".into())))
        );
        assert_eq!(
            one("static ThreadIdToThreadLocals* GetThreadLocalsMapLocked() {").map(|s| s.0),
            Some("GetThreadLocalsMapLocked".into())
        );
        assert_eq!(
            one("TEST_F(DBTest, ReadFromPersistedTier) {").map(|s| (s.0, s.2)),
            Some(("ReadFromPersistedTier".into(), Some("DBTest".into())))
        );
        assert_eq!(
            one("Options::Options(const DBOptions& db) : DBOptions(db), x_(1) {").map(|s| s.0),
            Some("Options".into())
        );
        // Declarations, calls and statements are not definitions.
        for src in [
            "int header_prototype(int a);",
            "  foo(bar);",
            "  if (x) {",
            "  } else if (y) {",
            "  x = compute(a, b) {",
            "  return make(a) {",
            "virtual double area() const = 0;",
            "describe('x', () => {",
            "  obj.method(a) {",
            "Foo() = default;",
        ] {
            assert_eq!(named(src), None, "{src}");
        }
    }

    #[test]
    fn blocks_end_at_their_closing_brace_or_dedent() {
        let c = "int f(void) {\n  if (x) { y(\"}\"); }\n  // }\n  return 0;\n}\nint g;";
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(block_end(&lines, 0, 100), 4);
        let py = "def f():\n    a = 1\n\n    return a\nx = 2\n";
        let lines: Vec<&str> = py.lines().collect();
        assert_eq!(block_end(&lines, 0, 100), 3);
        let decl = "int f(void);\nint g(void) {}";
        let lines: Vec<&str> = decl.lines().collect();
        assert_eq!(block_end(&lines, 0, 100), 0);
    }
}
