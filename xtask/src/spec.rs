//! Kafka's JSON message specs: parsing into a small model the code generator walks.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// An inclusive range of versions; empty when `lo > hi` (Kafka's "none").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub lo: i16,
    pub hi: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { lo: 1, hi: 0 };

    pub fn parse(s: &str) -> Result<Versions, String> {
        let s = s.trim();
        let num = |t: &str| {
            t.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version {t:?}: {e}"))
        };
        if s == "none" || s.is_empty() {
            Ok(Versions::NONE)
        } else if let Some(lo) = s.strip_suffix('+') {
            Ok(Versions {
                lo: num(lo)?,
                hi: i16::MAX,
            })
        } else if let Some((lo, hi)) = s.split_once('-') {
            Ok(Versions {
                lo: num(lo)?,
                hi: num(hi)?,
            })
        } else {
            let v = num(s)?;
            Ok(Versions { lo: v, hi: v })
        }
    }

    pub fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    pub fn intersect(self, other: Versions) -> Versions {
        Versions {
            lo: self.lo.max(other.lo),
            hi: self.hi.min(other.hi),
        }
    }

    /// The condition "`version` is in `self`", knowing that `version` is in `within`.
    pub fn cond(self, within: Versions) -> Cond {
        let v = self.intersect(within);
        if v.is_empty() {
            Cond::Never
        } else if v == within {
            Cond::Always
        } else if v.lo > within.lo && v.hi < within.hi {
            if v.lo == v.hi {
                Cond::Expr(format!("version == {}", v.lo))
            } else {
                Cond::Expr(format!("({}..={}).contains(&version)", v.lo, v.hi))
            }
        } else if v.lo > within.lo {
            Cond::Expr(format!("version >= {}", v.lo))
        } else {
            Cond::Expr(format!("version <= {}", v.hi))
        }
    }
}

/// A condition on `version`, simplified where the valid range decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Always,
    Never,
    Expr(String),
}

impl Cond {
    /// As a boolean Rust expression.
    pub fn expr(&self) -> String {
        match self {
            Cond::Always => "true".into(),
            Cond::Never => "false".into(),
            Cond::Expr(e) => e.clone(),
        }
    }

    /// The negation, as a boolean Rust expression.
    pub fn not_expr(&self) -> String {
        match self {
            Cond::Always => "false".into(),
            Cond::Never => "true".into(),
            Cond::Expr(e) => {
                if let Some(v) = e.strip_prefix("version >= ") {
                    format!("version < {v}")
                } else if let Some(v) = e.strip_prefix("version <= ") {
                    format!("version > {v}")
                } else if let Some(v) = e.strip_prefix("version == ") {
                    format!("version != {v}")
                } else {
                    format!("!{e}")
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Bool,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    F64,
    Str,
    Bytes,
    Records,
    Uuid,
    Struct(String),
    Array(Box<Ty>),
}

impl Ty {
    fn parse(s: &str) -> Ty {
        if let Some(inner) = s.strip_prefix("[]") {
            return Ty::Array(Box::new(Ty::parse(inner)));
        }
        match s {
            "bool" => Ty::Bool,
            "int8" => Ty::I8,
            "int16" => Ty::I16,
            "uint16" => Ty::U16,
            "int32" => Ty::I32,
            "uint32" => Ty::U32,
            "int64" => Ty::I64,
            "float64" => Ty::F64,
            "string" => Ty::Str,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            "uuid" => Ty::Uuid,
            other => Ty::Struct(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    /// The spec's name, e.g. `ThrottleTimeMs`.
    pub name: String,
    pub ty: Ty,
    pub versions: Versions,
    pub nullable: Versions,
    /// `(tag, taggedVersions)` for tagged fields.
    pub tag: Option<(u32, Versions)>,
    pub ignorable: bool,
    pub default: Option<String>,
    /// A per-field `flexibleVersions` override (RequestHeader's ClientId: "none").
    pub flexible: Option<Versions>,
    pub about: String,
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Response,
    Header,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub name: String,
    pub kind: Kind,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Versions,
    /// The top-level struct first, then every nested struct in order of appearance.
    pub structs: Vec<StructDef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    api_key: Option<i16>,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    valid_versions: String,
    flexible_versions: String,
    #[serde(default)]
    fields: Vec<RawField>,
    #[serde(default)]
    common_structs: Vec<RawStruct>,
}

#[derive(Deserialize)]
struct RawStruct {
    name: String,
    #[serde(default)]
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    versions: String,
    nullable_versions: Option<String>,
    tagged_versions: Option<String>,
    tag: Option<u32>,
    #[serde(default)]
    ignorable: bool,
    default: Option<serde_json::Value>,
    flexible_versions: Option<String>,
    fields: Option<Vec<RawField>>,
    #[serde(default)]
    about: String,
}

/// Drops `//` comment lines (the specs are JSON with comments).
pub fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn load(dir: &Path, name: &str) -> Result<Message, String> {
    let path = dir.join(format!("{name}.json"));
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let raw: RawMessage = serde_json::from_str(&strip_comments(&text))
        .map_err(|e| format!("parsing {}: {e}", path.display()))?;
    convert(raw).map_err(|e| format!("{}: {e}", path.display()))
}

fn convert(raw: RawMessage) -> Result<Message, String> {
    let kind = match raw.kind.as_str() {
        "request" => Kind::Request,
        "response" => Kind::Response,
        "header" => Kind::Header,
        other => return Err(format!("unsupported message type {other:?}")),
    };
    let mut common = BTreeMap::new();
    for s in &raw.common_structs {
        common.insert(s.name.clone(), s);
    }
    let mut structs = Vec::new();
    let fields = convert_fields(&raw.fields, &common, &mut structs)?;
    structs.insert(
        0,
        StructDef {
            name: raw.name.clone(),
            fields,
        },
    );
    Ok(Message {
        name: raw.name,
        kind,
        api_key: raw.api_key,
        valid: Versions::parse(&raw.valid_versions)?,
        flexible: Versions::parse(&raw.flexible_versions)?,
        structs,
    })
}

fn struct_name(ty: &Ty) -> Option<&str> {
    match ty {
        Ty::Struct(n) => Some(n),
        Ty::Array(inner) => struct_name(inner),
        _ => None,
    }
}

fn convert_fields(
    raw: &[RawField],
    common: &BTreeMap<String, &RawStruct>,
    structs: &mut Vec<StructDef>,
) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    for f in raw {
        let ty = Ty::parse(&f.ty);
        if let Some(name) = struct_name(&ty) {
            let known = structs.iter().any(|s| s.name == name);
            if let Some(sub) = &f.fields {
                if known {
                    return Err(format!("struct {name} defined twice"));
                }
                // Reserve the slot first so nested structs follow their parent.
                let idx = structs.len();
                structs.push(StructDef {
                    name: name.to_string(),
                    fields: Vec::new(),
                });
                let fields = convert_fields(sub, common, structs)?;
                structs[idx].fields = fields;
            } else if !known {
                let c = common
                    .get(name)
                    .ok_or_else(|| format!("unknown struct type {name}"))?;
                let idx = structs.len();
                structs.push(StructDef {
                    name: name.to_string(),
                    fields: Vec::new(),
                });
                let fields = convert_fields(&c.fields, common, structs)?;
                structs[idx].fields = fields;
            }
        }
        let versions = Versions::parse(&f.versions)?;
        let nullable = match &f.nullable_versions {
            Some(v) => Versions::parse(v)?,
            None => Versions::NONE,
        };
        let tag = match f.tag {
            Some(t) => Some((
                t,
                Versions::parse(f.tagged_versions.as_deref().unwrap_or("none"))?,
            )),
            None => None,
        };
        let default = f.default.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let flexible = match &f.flexible_versions {
            Some(v) => Some(Versions::parse(v)?),
            None => None,
        };
        if matches!(ty, Ty::Struct(_)) && !nullable.intersect(versions).is_empty() {
            return Err(format!("nullable struct field {} is not supported", f.name));
        }
        if let Ty::Array(inner) = &ty {
            if matches!(**inner, Ty::Array(_) | Ty::Records) {
                return Err(format!("unsupported array element type in {}", f.name));
            }
        }
        out.push(Field {
            name: f.name.clone(),
            ty,
            versions,
            nullable,
            tag,
            ignorable: f.ignorable,
            default,
            flexible,
            about: f.about.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_conditions() {
        let valid = Versions::parse("0-12").unwrap();
        assert_eq!(Versions::parse("0+").unwrap().cond(valid), Cond::Always);
        assert_eq!(Versions::parse("none").unwrap().cond(valid), Cond::Never);
        assert_eq!(
            Versions::parse("4+").unwrap().cond(valid).expr(),
            "version >= 4"
        );
        assert_eq!(
            Versions::parse("8-10").unwrap().cond(valid).expr(),
            "(8..=10).contains(&version)"
        );
        assert_eq!(
            Versions::parse("0-3").unwrap().cond(valid).expr(),
            "version <= 3"
        );
        assert_eq!(Versions::parse("13+").unwrap().cond(valid), Cond::Never);
    }

    #[test]
    fn comments_are_stripped() {
        let text = "// header\n{\n  // inner\n  \"a\": 1\n}";
        assert_eq!(strip_comments(text), "{\n  \"a\": 1\n}");
    }
}
