//! Definitions in C and C++: functions (free, or methods by their `Scope::` qualifier),
//! classes, structs, unions, enums, typedefs, namespaces and macros.
//!
//! C and C++ are written with macros tree-sitter cannot expand. [`blank_macros`] hides the
//! ones that derail a parse (export macros between `class` and its name, `Q_OBJECT`-style
//! lines in class bodies, Qt's `slots`/`signals` sections) behind spaces of the same length,
//! so every position stays where it was; decorations before a function's name (`JNIEXPORT
//! void JNICALL f(…)`) parse as they are. Test macros (`TEST_F(Suite, Name) { … }`) name the
//! test they define.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use tree_sitter::Node;

use super::shapes::test_macro;
use super::{Def, Language, SymbolKind, Walker};

/// `class EXPORT_MACRO Name …{`: upper-case words between the keyword and the name.
static EXPORT_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?m)^[ \t]*(?:template[ \t]*<[^>\n]*>[ \t]*)?(?:class|struct|union)[ \t]+((?:[A-Z_][A-Z0-9_]*(?:\([^()\n]*\))?[ \t]+)+)[A-Za-z_]\w*[ \t]*(?:final\b[ \t]*)?(?::[^;{\n]*)?(?:\{|$)",
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
});

/// A line that is one upper-case macro, with or without arguments, and no semicolon:
/// `Q_OBJECT`, `Q_PROPERTY(…)`, `Q_DISABLE_COPY(Foo)`.
static BARE_MACRO_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*([A-Z][A-Z0-9_]*_[A-Z0-9_]*(?:[ \t]*\([^;{}\n]*\))?)[ \t]*$")
        .unwrap_or_else(|e| unreachable!("{e}"))
});

/// Qt's `public slots:` and `signals:` sections.
static QT_SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*(?:(?:public|protected|private)[ \t]+)?(Q_SLOTS|slots|Q_SIGNALS|signals)[ \t]*:")
        .unwrap_or_else(|e| unreachable!("{e}"))
});

/// `source` with the macros that derail a C/C++ parse replaced by spaces (same length, same
/// lines), or `source` itself when there are none.
pub(super) fn blank_macros(source: &str) -> Cow<'_, str> {
    let mut spans: Vec<(usize, usize, &'static str)> = Vec::new();
    for c in EXPORT_HEAD.captures_iter(source) {
        if let Some(m) = c.get(1) {
            spans.push((m.start(), m.end(), ""));
        }
    }
    for c in BARE_MACRO_LINE.captures_iter(source) {
        let Some(m) = c.get(1) else { continue };
        let before = source[..m.start()].trim_end_matches([' ', '\t', '\n', '\r']);
        let after = source[m.end()..].trim_start();
        // Part of a macro definition, or a test macro whose body follows on the next line.
        if before.ends_with('\\') || after.starts_with('{') {
            continue;
        }
        spans.push((m.start(), m.end(), ""));
    }
    for c in QT_SECTION.captures_iter(source) {
        let (Some(all), Some(m)) = (c.get(0), c.get(1)) else {
            continue;
        };
        let specified = all.as_str().trim_start().starts_with(['p']);
        let word = m.as_str();
        if specified {
            spans.push((m.start(), m.end(), ""));
        } else if word.len() >= "public".len() {
            // `signals:` becomes `public :`.
            spans.push((m.start(), m.end(), "public"));
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut bytes = source.as_bytes().to_vec();
    for (start, end, with) in spans {
        for (i, b) in bytes[start..end].iter_mut().enumerate() {
            *b = with.as_bytes().get(i).copied().unwrap_or(b' ');
        }
    }
    // Only ASCII was replaced by ASCII, so the text is still UTF-8.
    Cow::Owned(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

impl<'s> Walker<'s> {
    pub(super) fn c_family(
        &self,
        node: Node<'_>,
        parent: Option<(&str, SymbolKind)>,
    ) -> Option<Def> {
        use SymbolKind as K;
        match self.kind(node) {
            "function_definition" => {
                let declarator = node.child_by_field_name("declarator")?;
                if let Some(def) = self.test_definition(declarator) {
                    return Some(def);
                }
                if let Some(def) = self.class_behind_macro(node, declarator) {
                    return Some(def);
                }
                let (name, scope, row) = self.declarator_name(declarator)?;
                let kind = if scope.is_some() {
                    K::Method
                } else {
                    Self::fn_kind(parent)
                };
                Some(Def {
                    name,
                    kind,
                    container: scope,
                    name_row: row,
                })
            }
            "field_declaration" | "declaration" if self.lang == Language::Cpp => {
                // Method declarations inside a class body.
                if !parent.is_some_and(|(_, k)| k.is_type_like()) {
                    return None;
                }
                let declarator = node.child_by_field_name("declarator")?;
                if !has_function_declarator(declarator) {
                    return None;
                }
                let (name, _, row) = self.declarator_name(declarator)?;
                Some(Def {
                    name,
                    kind: K::Method,
                    container: None,
                    name_row: row,
                })
            }
            "struct_specifier" | "union_specifier" | "class_specifier" | "enum_specifier" => {
                node.child_by_field_name("body")?;
                let kind = match node.kind() {
                    "class_specifier" => K::Class,
                    "enum_specifier" => K::Enum,
                    _ => K::Struct,
                };
                match self.def(node, "name", kind) {
                    Some(d) => Some(d),
                    // `typedef struct { .. } Name;` takes the typedef's name.
                    None => {
                        let td = node.parent().filter(|p| p.kind() == "type_definition")?;
                        let declarator = td.child_by_field_name("declarator")?;
                        let (name, _, row) = self.declarator_name(declarator)?;
                        Some(Def {
                            name,
                            kind,
                            container: None,
                            name_row: row,
                        })
                    }
                }
            }
            "type_definition" => {
                let anonymous_body = node.child_by_field_name("type").is_some_and(|t| {
                    t.child_by_field_name("body").is_some()
                        && t.child_by_field_name("name").is_none()
                });
                if anonymous_body {
                    return None;
                }
                let declarator = node.child_by_field_name("declarator")?;
                let (name, _, row) = self.declarator_name(declarator)?;
                Some(Def {
                    name,
                    kind: K::Type,
                    container: None,
                    name_row: row,
                })
            }
            "alias_declaration" => self.def(node, "name", K::Type),
            "namespace_definition" => self.def(node, "name", K::Module),
            "preproc_def" => self.def(node, "name", K::Constant),
            "preproc_function_def" => self.def(node, "name", K::Macro),
            _ => None,
        }
    }

    /// `TEST_F(Suite, Name) { … }` parses as a function `TEST_F`; the definition is the test.
    fn test_definition(&self, declarator: Node<'_>) -> Option<Def> {
        if declarator.kind() != "function_declarator" {
            return None;
        }
        let callee = declarator.child_by_field_name("declarator")?;
        if callee.kind() != "identifier" {
            return None;
        }
        let params = declarator.child_by_field_name("parameters")?;
        let args = self.text(params).trim();
        let args = args.strip_prefix('(')?.strip_suffix(')')?;
        let (suite, name) = test_macro(self.text(callee), args)?;
        Some(Def {
            name: name.to_string(),
            kind: SymbolKind::Function,
            container: suite.map(str::to_string),
            name_row: params.start_position().row,
        })
    }

    /// `class MACRO Name : Base { … }` that blanking did not catch parses as a function `Name`
    /// returning `class MACRO`; it is the class `Name`.
    fn class_behind_macro(&self, node: Node<'_>, declarator: Node<'_>) -> Option<Def> {
        let ty = node.child_by_field_name("type")?;
        let kind = match ty.kind() {
            "class_specifier" => SymbolKind::Class,
            "struct_specifier" | "union_specifier" => SymbolKind::Struct,
            _ => return None,
        };
        if ty.child_by_field_name("body").is_some() || declarator.kind() != "identifier" {
            return None;
        }
        Some(Def {
            name: self.text(declarator).to_string(),
            kind,
            container: None,
            name_row: declarator.start_position().row,
        })
    }

    /// The declared name of a C/C++ declarator, with its scope when qualified (`Foo::bar`).
    fn declarator_name(&self, mut node: Node<'_>) -> Option<(String, Option<String>, usize)> {
        for _ in 0..16 {
            match node.kind() {
                "identifier" | "field_identifier" | "type_identifier" | "destructor_name"
                | "operator_name" | "primitive_type" => {
                    return Some((self.text(node).to_string(), None, node.start_position().row));
                }
                "qualified_identifier" => {
                    let scope = node
                        .child_by_field_name("scope")
                        .map(|s| self.text(s).to_string());
                    let inner = node.child_by_field_name("name")?;
                    let (name, inner_scope, row) = self.declarator_name(inner)?;
                    let scope = match (scope, inner_scope) {
                        (Some(a), Some(b)) => Some(format!("{a}::{b}")),
                        (a, b) => a.or(b),
                    };
                    return Some((name, scope, row));
                }
                _ => {
                    node = node
                        .child_by_field_name("declarator")
                        .or_else(|| node.named_child(0))?;
                }
            }
        }
        None
    }
}

fn has_function_declarator(mut node: Node<'_>) -> bool {
    for _ in 0..8 {
        if node.kind() == "function_declarator" {
            return true;
        }
        match node.child_by_field_name("declarator") {
            Some(n) => node = n,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::{Cow, blank_macros};

    fn names(lang: Language, src: &str) -> Vec<String> {
        extract(lang, src)
            .into_iter()
            .map(|s| {
                format!(
                    "{}:{}{}",
                    s.kind,
                    s.container.map(|c| format!("{c}.")).unwrap_or_default(),
                    s.name
                )
            })
            .collect()
    }

    #[test]
    fn c_symbols() {
        let src = "#define BUF_SIZE 64\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\nstruct node { int v; };\ntypedef struct { int x; } point_t;\ntypedef unsigned long size_type;\nenum color { RED, GREEN };\nint parse(const char *s);\nstatic char *dup_str(const char *s) {\n  return 0;\n}\nint main(void) { return 0; }\n";
        assert_eq!(
            names(Language::C, src),
            [
                "constant:BUF_SIZE",
                "macro:MAX",
                "struct:node",
                "struct:point_t",
                "type:size_type",
                "enum:color",
                "function:dup_str",
                "function:main",
            ]
        );
    }

    #[test]
    fn cpp_symbols() {
        let src = "namespace geo {\nclass Shape {\npublic:\n  Shape();\n  virtual double area() const = 0;\n  int id() const { return id_; }\nprivate:\n  int id_;\n};\ndouble Shape::perimeter() const { return 0; }\ntemplate <typename T>\nT clamp(T v) { return v; }\nusing Real = double;\n}\n";
        assert_eq!(
            names(Language::Cpp, src),
            [
                "module:geo",
                "class:geo.Shape",
                "method:Shape.Shape",
                "method:Shape.area",
                "method:Shape.id",
                "method:Shape.perimeter",
                "function:geo.clamp",
                "type:geo.Real",
            ]
        );
        // Only the bodiless heads in the class are declarations (they rank after definitions).
        let declared: Vec<String> = extract(Language::Cpp, src)
            .into_iter()
            .filter(|s| s.declaration)
            .map(|s| s.name)
            .collect();
        assert_eq!(declared, ["Shape", "area"]);
    }

    #[test]
    fn cpp_as_written_with_macros() {
        let src = r#"#include <jni.h>
extern "C" {
JNIEXPORT void JNICALL Java_org_rocksdb_DBOptions_setAllowMmapReads(
    JNIEnv* env, jobject jobj, jlong jhandle, jboolean allow) {
  opt->allow_mmap_reads = static_cast<bool>(allow);
}
}
TEST_F(DBTest, ReadFromPersistedTier) {
  int x = 1;
}
TEST(Suite, PlainTest)
{
}
class Q_CORE_EXPORT QObject : public Base {
    Q_OBJECT
    Q_PROPERTY(QString objectName READ objectName WRITE setObjectName)
public:
    explicit QObject(QObject *parent = nullptr);
    void setObjectName(const QString &name);
public slots:
    void deleteLater();
signals:
    void destroyed(QObject *obj = nullptr);
};
struct ROCKSDB_API Options : public DBOptions {
  Options() {}
  int value() const { return 1; }
};
static FORCE_INLINE int lz4_hash(const void* p) { return 1; }
int after_all(void) { return 0; }
"#;
        assert_eq!(
            names(Language::Cpp, src),
            [
                "function:Java_org_rocksdb_DBOptions_setAllowMmapReads",
                "function:DBTest.ReadFromPersistedTier",
                "function:Suite.PlainTest",
                "class:QObject",
                "method:QObject.QObject",
                "method:QObject.setObjectName",
                "method:QObject.deleteLater",
                "method:QObject.destroyed",
                "struct:Options",
                "method:Options.Options",
                "method:Options.value",
                "function:lz4_hash",
                "function:after_all",
            ]
        );
        let syms = extract(Language::Cpp, src);
        assert_eq!(syms[0].line, 3);
        assert_eq!(syms[0].end_line, 6);
        assert_eq!(
            syms[3].signature,
            "class Q_CORE_EXPORT QObject : public Base {"
        );
    }

    #[test]
    fn definitions_inside_unparsable_regions_are_found_by_shape() {
        // An unbalanced macro breaks the parse around the functions that follow it.
        let src = "BEGIN_NAMESPACE(foo\nstatic int first_helper(int a) {\n  return a;\n}\n\nvoid second_helper(const char* s)\n{\n  use(s);\n}\n";
        let got = names(Language::C, src);
        assert!(
            got.contains(&"function:first_helper".to_string()),
            "{got:?}"
        );
        assert!(
            got.contains(&"function:second_helper".to_string()),
            "{got:?}"
        );
        let syms = extract(Language::C, src);
        let second = syms.iter().find(|s| s.name == "second_helper").unwrap();
        assert_eq!((second.line, second.end_line), (6, 9));
    }

    #[test]
    fn blanking_keeps_every_position() {
        let src = "class FOO_API Bar : public X {\n  Q_OBJECT\npublic slots:\n  void f();\n};\n";
        let blanked = blank_macros(src);
        assert_eq!(blanked.len(), src.len());
        assert_eq!(blanked.lines().count(), src.lines().count(), "{blanked}");
        assert!(blanked.starts_with("class         Bar"), "{blanked}");
        assert!(
            !blanked.contains("Q_OBJECT") && !blanked.contains("slots"),
            "{blanked}"
        );
        assert!(matches!(blank_macros("int f(void);\n"), Cow::Borrowed(_)));
    }
}
