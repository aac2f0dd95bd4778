//! Definitions in C and C++: functions (free, or methods by their `Scope::` qualifier),
//! classes, structs, unions, enums, typedefs, namespaces and macros.

use tree_sitter::Node;

use super::{Def, Language, SymbolKind, Walker};

impl<'s> Walker<'s> {
    pub(super) fn c_family(
        &self,
        node: Node<'_>,
        parent: Option<(&str, SymbolKind)>,
    ) -> Option<Def> {
        use SymbolKind as K;
        match node.kind() {
            "function_definition" => {
                let declarator = node.child_by_field_name("declarator")?;
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
    }
}
