//! Definitions by language for Rust, Python, JavaScript/TypeScript/TSX, Go and Java: which
//! tree-sitter nodes are definitions, of what kind, and under which name.

use tree_sitter::Node;

use super::{Def, SymbolKind, Walker, visit_all};

impl<'s> Walker<'s> {
    pub(super) fn rust(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        use SymbolKind as K;
        match self.kind(node) {
            "function_item" | "function_signature_item" => {
                self.def(node, "name", Self::fn_kind(parent))
            }
            "struct_item" | "union_item" => self.def(node, "name", K::Struct),
            "enum_item" => self.def(node, "name", K::Enum),
            "trait_item" => self.def(node, "name", K::Trait),
            "mod_item" => self.def(node, "name", K::Module),
            "const_item" | "static_item" => self.def(node, "name", K::Constant),
            "type_item" => self.def(node, "name", K::Type),
            "macro_definition" => self.def(node, "name", K::Macro),
            "impl_item" => {
                let ty = node.child_by_field_name("type")?;
                let base = match ty.kind() {
                    "generic_type" => ty.child_by_field_name("type").unwrap_or(ty),
                    _ => ty,
                };
                let name = self.text(base).trim().to_string();
                (!name.is_empty()).then(|| Def {
                    name,
                    kind: K::Impl,
                    container: None,
                    name_row: ty.start_position().row,
                })
            }
            _ => None,
        }
    }

    pub(super) fn python(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        match self.kind(node) {
            "function_definition" => self.def(node, "name", Self::fn_kind(parent)),
            "class_definition" => self.def(node, "name", SymbolKind::Class),
            "assignment" => {
                // Module- or class-level UPPER_CASE names are constants.
                if parent.is_some_and(|(_, k)| !k.is_type_like()) {
                    return None;
                }
                let stmt = node.parent()?;
                if stmt.kind() != "expression_statement" {
                    return None;
                }
                let in_scope = stmt
                    .parent()
                    .is_some_and(|p| matches!(p.kind(), "module" | "block"));
                let left = node.child_by_field_name("left")?;
                let name = self.text(left);
                (in_scope && left.kind() == "identifier" && is_constant_name(name)).then(|| Def {
                    name: name.to_string(),
                    kind: SymbolKind::Constant,
                    container: None,
                    name_row: left.start_position().row,
                })
            }
            _ => None,
        }
    }

    pub(super) fn js(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        use SymbolKind as K;
        match self.kind(node) {
            "function_declaration"
            | "generator_function_declaration"
            | "function_signature"
            | "function_expression" => {
                // Named function expressions are only symbols when declared as statements.
                if node.kind() == "function_expression" {
                    return None;
                }
                self.def(node, "name", K::Function)
            }
            "class_declaration" | "abstract_class_declaration" | "class" => {
                if node.kind() == "class" {
                    return None;
                }
                self.def(node, "name", K::Class)
            }
            "method_definition" | "method_signature" | "abstract_method_signature" => {
                self.def(node, "name", K::Method)
            }
            "field_definition" | "public_field_definition" => {
                let value = node.child_by_field_name("value")?;
                if !is_js_function(value.kind()) {
                    return None;
                }
                let field = if node.kind() == "field_definition" {
                    "property"
                } else {
                    "name"
                };
                self.def(node, field, K::Method)
            }
            "interface_declaration" => self.def(node, "name", K::Interface),
            "type_alias_declaration" => self.def(node, "name", K::Type),
            "enum_declaration" => self.def(node, "name", K::Enum),
            "internal_module" | "module" => self.def(node, "name", K::Module),
            // `{ render: function () {…} }` and `{ render: () => … }`.
            "pair" => {
                let value = node.child_by_field_name("value")?;
                if !is_js_function(value.kind()) {
                    return None;
                }
                let key = node.child_by_field_name("key")?;
                let name = match key.kind() {
                    "property_identifier" | "identifier" => self.text(key),
                    "string" => self.text(key).trim_matches(['"', '\'', '`']),
                    _ => return None,
                };
                (!name.is_empty()).then(|| Def {
                    name: name.to_string(),
                    kind: K::Method,
                    container: None,
                    name_row: key.start_position().row,
                })
            }
            // `Foo.prototype.render = function () {…}`, `exports.run = () => …`.
            "assignment_expression" => {
                let right = node.child_by_field_name("right")?;
                if !is_js_function(right.kind()) {
                    return None;
                }
                let left = node.child_by_field_name("left")?;
                if left.kind() != "member_expression" {
                    return None;
                }
                let prop = left.child_by_field_name("property")?;
                let object = left.child_by_field_name("object")?;
                let object = self.text(object);
                let owner = object.strip_suffix(".prototype").unwrap_or(object);
                let container = owner
                    .rsplit('.')
                    .next()
                    .filter(|o| !o.is_empty() && *o != "this" && *o != "exports" && *o != "module")
                    .map(str::to_string);
                let kind = if container.is_some() || parent.is_some_and(|(_, k)| k.is_type_like()) {
                    K::Method
                } else {
                    K::Function
                };
                Some(Def {
                    name: self.text(prop).to_string(),
                    kind,
                    container,
                    name_row: prop.start_position().row,
                })
            }
            "variable_declarator" => {
                let name_node = node.child_by_field_name("name")?;
                if name_node.kind() != "identifier" {
                    return None;
                }
                let name = self.text(name_node);
                let value = node.child_by_field_name("value").map(|v| v.kind());
                let is_fn = value.is_some_and(is_js_function);
                let top = parent.is_none_or(|(_, k)| k == K::Module);
                // At a module's top level, whatever the keyword (`var` in ES5 and in
                // compiled output, `let`, `const`): a constant-named binding
                // (`var GEO_DEFAULT_PARAMS = {…}`), a named object literal (a module's
                // table or namespace: `var defaults = {…}`) and a class expression.
                let kind = if is_fn {
                    if parent.is_some_and(|(_, k)| matches!(k, K::Function | K::Method)) {
                        return None;
                    }
                    K::Function
                } else if top && value == Some("class") {
                    K::Class
                } else if top && (is_constant_name(name) || value == Some("object")) {
                    K::Constant
                } else {
                    return None;
                };
                Some(Def {
                    name: name.to_string(),
                    kind,
                    container: None,
                    name_row: name_node.start_position().row,
                })
            }
            _ => None,
        }
    }

    pub(super) fn go(&self, node: Node<'_>) -> Option<Def> {
        use SymbolKind as K;
        match self.kind(node) {
            "function_declaration" => self.def(node, "name", K::Function),
            "method_declaration" => {
                let mut def = self.def(node, "name", K::Method)?;
                def.container = node
                    .child_by_field_name("receiver")
                    .and_then(|r| self.last_type_identifier(r));
                Some(def)
            }
            "method_elem" | "method_spec" => self.def(node, "name", K::Method),
            "type_spec" | "type_alias" => {
                let kind = match node.child_by_field_name("type").map(|t| t.kind()) {
                    Some("struct_type") => K::Struct,
                    Some("interface_type") => K::Interface,
                    _ => K::Type,
                };
                self.def(node, "name", kind)
            }
            "const_spec" => self.def(node, "name", K::Constant),
            _ => None,
        }
    }

    fn last_type_identifier(&self, node: Node<'_>) -> Option<String> {
        let mut found = None;
        let mut cursor = node.walk();
        visit_all(&mut cursor, &mut |n| {
            if n.kind() == "type_identifier" {
                found = Some(self.text(n).to_string());
            }
        });
        found
    }

    pub(super) fn java(&self, node: Node<'_>, parent: Option<(&str, SymbolKind)>) -> Option<Def> {
        use SymbolKind as K;
        match self.kind(node) {
            "class_declaration" | "record_declaration" => self.def(node, "name", K::Class),
            "interface_declaration" | "annotation_type_declaration" => {
                self.def(node, "name", K::Interface)
            }
            "enum_declaration" => self.def(node, "name", K::Enum),
            "method_declaration"
            | "constructor_declaration"
            | "compact_constructor_declaration" => self.def(node, "name", K::Method),
            "field_declaration" | "constant_declaration" => {
                let is_constant = node.kind() == "constant_declaration"
                    || parent.is_some_and(|(_, k)| k == K::Interface)
                    || (0..node.named_child_count()).any(|i| {
                        node.named_child(i as u32).is_some_and(|c| {
                            c.kind() == "modifiers" && {
                                let t = self.text(c);
                                t.contains("static") && t.contains("final")
                            }
                        })
                    });
                if !is_constant {
                    return None;
                }
                let declarator = node.child_by_field_name("declarator")?;
                self.def(declarator, "name", K::Constant)
            }
            _ => None,
        }
    }
}

fn is_js_function(kind: &str) -> bool {
    matches!(
        kind,
        "arrow_function" | "function_expression" | "function" | "generator_function"
    )
}

/// `MAX_SIZE`, `DEFAULT_TIMEOUT_2`: upper case letters, digits and underscores, one letter at least.
fn is_constant_name(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::super::*;

    /// `(name, kind, container, line, end_line)` of every symbol.
    fn table(lang: Language, src: &str) -> Vec<(String, &'static str, String, u32, u32)> {
        extract(lang, src)
            .into_iter()
            .map(|s| {
                (
                    s.name,
                    s.kind.name(),
                    s.container.unwrap_or_default(),
                    s.line,
                    s.end_line,
                )
            })
            .collect()
    }

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
    fn rust_symbols() {
        let src = r#"
pub const LIMIT: usize = 3;
static NAME: &str = "x";
/// A point.
pub struct Point { x: f64 }
pub enum Shape { Circle, Square }
pub trait Area {
    fn area(&self) -> f64;
    fn unit() -> f64 { 1.0 }
}
impl Area for Point {
    fn area(&self) -> f64 { 0.0 }
}
impl<T> Wrapper<T> {
    pub fn new(t: T) -> Self { todo!() }
}
mod inner {
    pub fn helper() {}
}
type Alias = Vec<u8>;
macro_rules! square { ($x:expr) => { $x * $x }; }
fn main() {
    fn local() {}
}
"#;
        assert_eq!(
            names(Language::Rust, src),
            [
                "constant:LIMIT",
                "constant:NAME",
                "struct:Point",
                "enum:Shape",
                "trait:Area",
                "method:Area.area",
                "method:Area.unit",
                "impl:Point",
                "method:Point.area",
                "impl:Wrapper",
                "method:Wrapper.new",
                "module:inner",
                "function:inner.helper",
                "type:Alias",
                "macro:square",
                "function:main",
                "function:main.local",
            ]
        );
        let t = table(Language::Rust, src);
        assert_eq!(t[4], ("Area".into(), "trait", "".into(), 7, 10));
        let syms = extract(Language::Rust, src);
        assert_eq!(syms[8].signature, "fn area(&self) -> f64 { 0.0 }");
        assert_eq!(syms[7].signature, "impl Area for Point {");
    }

    #[test]
    fn python_symbols() {
        let src = "MAX_RETRIES = 3\nlower = 1\n\nclass Client:\n    TIMEOUT = 5\n\n    def __init__(self):\n        self.x = 1\n\n    @property\n    def name(self):\n        X = 2\n        return 'n'\n\n\ndef connect(url):\n    def inner():\n        pass\n    return inner\n";
        assert_eq!(
            names(Language::Python, src),
            [
                "constant:MAX_RETRIES",
                "class:Client",
                "constant:Client.TIMEOUT",
                "method:Client.__init__",
                "method:Client.name",
                "function:connect",
                "function:connect.inner",
            ]
        );
        let t = table(Language::Python, src);
        assert_eq!(t[1].3, 4);
        assert_eq!(t[1].4, 13);
    }

    #[test]
    fn javascript_symbols() {
        let src = "const API_URL = 'x';\nconst helper = (a) => a + 1;\nlet counter = 0;\nexport function fetchUser(id) {\n  const inner = () => 1;\n  var LOCAL_MAX = 3, local = {};\n  return id;\n}\nclass Store {\n  constructor() {}\n  get size() { return 0; }\n  onClick = () => {};\n}\nfunction* gen() {}\nvar GEO_DEFAULT_PARAMS = { geoJSON: {} }, defaults = { a: 1 }, count = 2;\nlet Shape = class { area() { return 0; } };\n";
        assert_eq!(
            names(Language::JavaScript, src),
            [
                "constant:API_URL",
                "function:helper",
                "function:fetchUser",
                "class:Store",
                "method:Store.constructor",
                "method:Store.size",
                "method:Store.onClick",
                "function:gen",
                "constant:GEO_DEFAULT_PARAMS",
                "constant:defaults",
                "class:Shape",
                "method:Shape.area",
            ]
        );
    }

    #[test]
    fn typescript_and_tsx_symbols() {
        let src = "export interface User {\n  id: number;\n  greet(): string;\n}\nexport type Id = string | number;\nenum Color { Red, Green }\nnamespace Util {\n  export function pad(s: string): string { return s; }\n}\nexport abstract class Repo<T> {\n  abstract find(id: Id): T;\n  save(item: T): void {}\n}\nexport const MAX_USERS = 10;\n";
        let expected = [
            "interface:User",
            "method:User.greet",
            "type:Id",
            "enum:Color",
            "module:Util",
            "function:Util.pad",
            "class:Repo",
            "method:Repo.find",
            "method:Repo.save",
            "constant:MAX_USERS",
        ];
        assert_eq!(names(Language::TypeScript, src), expected);
        let tsx = "export const Button = (props: Props) => <button>{props.label}</button>;\nexport function App() { return <div/>; }\n";
        assert_eq!(
            names(Language::Tsx, tsx),
            ["function:Button", "function:App"]
        );
        // Bodiless heads are declarations (they rank after the definition): the interface's
        // method, the abstract one, and an overload's signatures before its implementation.
        let declared = |src: &str| -> Vec<(String, u32, bool)> {
            crate::symbols::extract(Language::TypeScript, src)
                .into_iter()
                .map(|s| (s.name, s.line, s.declaration))
                .collect()
        };
        assert_eq!(
            declared(src)
                .into_iter()
                .filter(|s| s.2)
                .map(|s| s.0)
                .collect::<Vec<_>>(),
            ["greet", "find"]
        );
        let overloads = "export function merge(a: string): string;\nexport function merge(a: number): number;\nexport function merge(a: any): any {\n  return a;\n}\n";
        assert_eq!(
            declared(overloads),
            [
                ("merge".to_string(), 1, true),
                ("merge".to_string(), 2, true),
                ("merge".to_string(), 3, false)
            ]
        );
    }

    #[test]
    fn go_symbols() {
        let src = "package main\n\nconst MaxSize = 10\n\ntype Server struct {\n\tAddr string\n}\n\ntype Handler interface {\n\tServe(w int) error\n}\n\ntype ID int\n\nfunc (s *Server) Start() error {\n\treturn nil\n}\n\nfunc main() {}\n";
        assert_eq!(
            names(Language::Go, src),
            [
                "constant:MaxSize",
                "struct:Server",
                "interface:Handler",
                "method:Handler.Serve",
                "type:ID",
                "method:Server.Start",
                "function:main",
            ]
        );
    }

    #[test]
    fn java_symbols() {
        let src = "package x;\n\npublic class Account {\n    public static final int LIMIT = 5;\n    private int balance;\n    public Account() {}\n    @Override\n    public String toString() { return \"\"; }\n    enum State { OPEN, CLOSED; void check() {} }\n}\ninterface Ledger {\n    int SIZE = 3;\n    void post(int amount);\n}\nrecord Pair(int a, int b) {}\n";
        assert_eq!(
            names(Language::Java, src),
            [
                "class:Account",
                "constant:Account.LIMIT",
                "method:Account.Account",
                "method:Account.toString",
                "enum:Account.State",
                "method:State.check",
                "interface:Ledger",
                "constant:Ledger.SIZE",
                "method:Ledger.post",
                "class:Pair",
            ]
        );
        let t = table(Language::Java, src);
        assert_eq!(t[3].3, 7, "annotation starts the method");
        let syms = extract(Language::Java, src);
        assert_eq!(
            syms[3].signature,
            "public String toString() { return \"\"; }"
        );
    }

    #[test]
    fn rust_items_inside_item_level_macro_blocks() {
        let src = "cfg_rt! {\n    /// Runs on a blocking thread.\n    #[track_caller]\n    pub fn spawn_blocking<F>(f: F) {}\n    cfg_fs! { pub struct File; }\n}\npub struct Handle;\nimpl Handle {\n    cfg_rt! {\n        pub fn spawn_blocking(&self) {}\n    }\n}\nfn main() { println!(\"fn not_an_item() {{}}\"); }\n";
        assert_eq!(
            names(Language::Rust, src),
            [
                "function:spawn_blocking",
                "struct:File",
                "struct:Handle",
                "impl:Handle",
                "method:Handle.spawn_blocking",
                "function:main",
            ]
        );
        let t = table(Language::Rust, src);
        assert_eq!((t[0].3, t[0].4), (4, 4));
        assert_eq!((t[1].3, t[1].4), (5, 5));
        let syms = extract(Language::Rust, src);
        assert_eq!(syms[0].signature, "pub fn spawn_blocking<F>(f: F) {}");
    }

    #[test]
    fn javascript_modules_passed_as_arguments_are_read() {
        // AMD (monaco's dev build), UMD and test suites wrap a module in a call.
        let src = "define(\"vs/m\", [\"require\"], (require) => {\n  var moduleExports = (() => {\n    function collectTags(a) { return a; }\n    class Scanner {}\n    return { collectTags };\n  })();\n});\n(function (root, factory) { factory(); })(this, function () {\n  function umdHelper() {}\n});\ndescribe(\"suite\", () => {\n  function makeFixture() {}\n});\n";
        assert_eq!(
            names(Language::JavaScript, src),
            [
                "function:collectTags",
                "class:Scanner",
                "function:umdHelper",
                "function:makeFixture",
            ]
        );
        assert_eq!(
            names(
                Language::TypeScript,
                "register(() => { function setup(): void {} });\n"
            ),
            ["function:setup"]
        );
    }

    #[test]
    fn javascript_object_and_prototype_functions() {
        let src = "var api = {\n  fetchAll: function (q) { return q; },\n  'save': (x) => x,\n  limit: 3,\n};\nFoo.prototype.render = function () {};\nexports.run = () => 1;\nthis.onReady = function () {};\nx.y = 2;\n";
        assert_eq!(
            names(Language::JavaScript, src),
            [
                "constant:api",
                "method:api.fetchAll",
                "method:api.save",
                "method:Foo.render",
                "function:run",
                "function:onReady",
            ]
        );
    }
}
