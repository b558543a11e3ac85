//! The schema model: Kafka's JSON message definitions parsed into messages, structs and fields.

use serde_json::{Map, Value};

/// An inclusive version range; `hi == i16::MAX` means "and later".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) lo: i16,
    pub(crate) hi: i16,
}

impl Range {
    /// Parses `"3+"`, `"0-7"`, `"1"` or `"none"` (`None`).
    pub(crate) fn parse(spec: &str) -> Result<Option<Range>, String> {
        let spec = spec.trim();
        let num = |s: &str| {
            s.trim()
                .parse::<i16>()
                .map_err(|_| format!("bad version spec `{spec}`"))
        };
        if spec == "none" {
            return Ok(None);
        }
        if let Some(lo) = spec.strip_suffix('+') {
            return Ok(Some(Range {
                lo: num(lo)?,
                hi: i16::MAX,
            }));
        }
        if let Some((lo, hi)) = spec.split_once('-') {
            return Ok(Some(Range {
                lo: num(lo)?,
                hi: num(hi)?,
            }));
        }
        let v = num(spec)?;
        Ok(Some(Range { lo: v, hi: v }))
    }

    pub(crate) fn intersect(self, other: Range) -> Option<Range> {
        let lo = self.lo.max(other.lo);
        let hi = self.hi.min(other.hi);
        (lo <= hi).then_some(Range { lo, hi })
    }
}

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U16,
    U32,
    F64,
    Uuid,
    String,
    Bytes,
    Records,
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
            "int32" => Ty::I32,
            "int64" => Ty::I64,
            "uint16" => Ty::U16,
            "uint32" => Ty::U32,
            "float64" => Ty::F64,
            "uuid" => Ty::Uuid,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            other => Ty::Struct(other.to_owned()),
        }
    }

    pub(crate) fn is_fixed(&self) -> bool {
        matches!(
            self,
            Ty::Bool
                | Ty::I8
                | Ty::I16
                | Ty::I32
                | Ty::I64
                | Ty::U16
                | Ty::U32
                | Ty::F64
                | Ty::Uuid
        )
    }
}

/// One field of a struct.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: Ty,
    pub(crate) versions: Option<Range>,
    pub(crate) nullable: Option<Range>,
    pub(crate) tagged: Option<Range>,
    pub(crate) tag: Option<u32>,
    pub(crate) ignorable: bool,
    pub(crate) default: Option<String>,
    /// Field-level override of the message's flexible versions.
    pub(crate) flexible: Option<Option<Range>>,
    pub(crate) about: String,
}

impl Field {
    /// Whether the Rust type is an `Option`.
    pub(crate) fn is_option(&self) -> bool {
        self.ty == Ty::Records || (self.nullable.is_some() && !self.ty.is_fixed())
    }
}

/// A struct: the message body, an inline struct or a common struct.
#[derive(Debug, Clone)]
pub(crate) struct Struct {
    pub(crate) name: String,
    pub(crate) about: String,
    pub(crate) fields: Vec<Field>,
}

/// One JSON file.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) name: String,
    /// `request`, `response` or `header`.
    pub(crate) kind: String,
    pub(crate) api_key: Option<i16>,
    pub(crate) valid: Range,
    pub(crate) flexible: Option<Range>,
    /// Every struct; the first is the message body itself.
    pub(crate) structs: Vec<Struct>,
}

/// Removes `//` comments outside string literals.
pub(crate) fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for n in chars.by_ref() {
                if n == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn str_key<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn range_key(obj: &Map<String, Value>, key: &str) -> Result<Option<Range>, String> {
    match str_key(obj, key) {
        Some(s) => Range::parse(s),
        None => Ok(None),
    }
}

/// Parses one schema file's text.
pub(crate) fn parse_message(text: &str) -> Result<Message, String> {
    let value: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = value.as_object().ok_or("top level is not an object")?;
    let name = str_key(obj, "name").ok_or("missing name")?.to_owned();
    let kind = str_key(obj, "type").ok_or("missing type")?.to_owned();
    let api_key = obj
        .get("apiKey")
        .and_then(Value::as_i64)
        .map(|k| i16::try_from(k).map_err(|_| format!("apiKey {k} out of range")))
        .transpose()?;
    let valid = range_key(obj, "validVersions")?.ok_or("validVersions is none")?;
    let flexible = range_key(obj, "flexibleVersions")?;
    let mut structs = Vec::new();
    let fields = obj
        .get("fields")
        .and_then(Value::as_array)
        .ok_or("missing fields")?;
    let body_fields = parse_fields(fields, &mut structs)?;
    structs.insert(
        0,
        Struct {
            name: name.clone(),
            about: String::new(),
            fields: body_fields,
        },
    );
    if let Some(common) = obj.get("commonStructs").and_then(Value::as_array) {
        for c in common {
            let c = c.as_object().ok_or("commonStruct is not an object")?;
            let cname = str_key(c, "name").ok_or("commonStruct without name")?;
            let cfields = c
                .get("fields")
                .and_then(Value::as_array)
                .ok_or("commonStruct without fields")?;
            let parsed = parse_fields(cfields, &mut structs)?;
            add_struct(
                &mut structs,
                Struct {
                    name: cname.to_owned(),
                    about: str_key(c, "about").unwrap_or_default().to_owned(),
                    fields: parsed,
                },
            )?;
        }
    }
    Ok(Message {
        name,
        kind,
        api_key,
        valid,
        flexible,
        structs,
    })
}

fn add_struct(structs: &mut Vec<Struct>, s: Struct) -> Result<(), String> {
    if let Some(existing) = structs.iter().find(|e| e.name == s.name) {
        let same = existing.fields.len() == s.fields.len()
            && existing
                .fields
                .iter()
                .zip(&s.fields)
                .all(|(a, b)| a.name == b.name && a.ty == b.ty && a.versions == b.versions);
        if same {
            return Ok(());
        }
        return Err(format!("struct {} is defined twice, differently", s.name));
    }
    structs.push(s);
    Ok(())
}

fn parse_fields(fields: &[Value], structs: &mut Vec<Struct>) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    for f in fields {
        let f = f.as_object().ok_or("field is not an object")?;
        let name = str_key(f, "name").ok_or("field without name")?.to_owned();
        let ty_text = str_key(f, "type").ok_or_else(|| format!("field {name} without type"))?;
        let ty = Ty::parse(ty_text);
        let about = str_key(f, "about").unwrap_or_default().to_owned();
        if let Some(sub) = f.get("fields").and_then(Value::as_array) {
            let struct_name = ty_text.trim_start_matches("[]").to_owned();
            let parsed = parse_fields(sub, structs)?;
            add_struct(
                structs,
                Struct {
                    name: struct_name,
                    about: about.clone(),
                    fields: parsed,
                },
            )?;
        }
        let default = match f.get("default") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let tag = f
            .get("tag")
            .and_then(Value::as_u64)
            .map(|t| u32::try_from(t).map_err(|_| format!("tag {t} out of range")))
            .transpose()?;
        let flexible = match str_key(f, "flexibleVersions") {
            Some(s) => Some(Range::parse(s)?),
            None => None,
        };
        out.push(Field {
            versions: range_key(f, "versions")?,
            nullable: range_key(f, "nullableVersions")?,
            tagged: range_key(f, "taggedVersions")?,
            tag,
            ignorable: f.get("ignorable").and_then(Value::as_bool).unwrap_or(false),
            default,
            flexible,
            about,
            name,
            ty,
        });
    }
    Ok(out)
}

/// `ClientId` → `client_id`, `ISRNodes` → `isr_nodes`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p));
            let next = chars.get(i + 1);
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(char::is_ascii_lowercase),
                Some(_) => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.as_str() {
        "type" | "match" | "ref" | "self" | "where" | "loop" | "move" | "mod" | "use" | "impl"
        | "fn" | "struct" | "enum" | "trait" | "async" | "await" | "dyn" | "box" | "yield"
        | "in" | "for" | "if" | "else" | "as" | "let" | "mut" | "const" | "static" | "crate"
        | "super" | "return" | "break" | "continue" | "true" | "false" => format!("r#{out}"),
        _ => out,
    }
}

/// `ProduceRequest` → `produce_request`.
pub(crate) fn module_name(message: &str) -> String {
    snake_case(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_outside_strings_only() {
        let text = "{ // a comment\n  \"about\": \"see http://x // not a comment\", // tail\n \"q\": \"a\\\"//b\" }";
        let stripped = strip_comments(text);
        let v: Value = serde_json::from_str(&stripped).unwrap();
        assert_eq!(v["about"], "see http://x // not a comment");
        assert_eq!(v["q"], "a\"//b");
    }

    #[test]
    fn version_specs_parse() {
        assert_eq!(Range::parse("none").unwrap(), None);
        assert_eq!(
            Range::parse("3+").unwrap(),
            Some(Range {
                lo: 3,
                hi: i16::MAX
            })
        );
        assert_eq!(Range::parse("0-7").unwrap(), Some(Range { lo: 0, hi: 7 }));
        assert_eq!(Range::parse("1").unwrap(), Some(Range { lo: 1, hi: 1 }));
        assert!(Range::parse("x").is_err());
    }

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake_case("ClientId"), "client_id");
        assert_eq!(snake_case("ISRNodes"), "isr_nodes");
        assert_eq!(snake_case("ThrottleTimeMs"), "throttle_time_ms");
        assert_eq!(snake_case("Type"), "r#type");
    }

    #[test]
    fn inline_and_common_structs_are_collected_in_order() {
        let text = r#"{
          "apiKey": 99, "type": "request", "name": "TestRequest",
          "validVersions": "0-3", "flexibleVersions": "2+",
          "fields": [
            { "name": "Topics", "type": "[]Topic", "versions": "0+", "nullableVersions": "1+",
              "about": "Topics.", "fields": [
                { "name": "Name", "type": "string", "versions": "0+" },
                { "name": "Leader", "type": "Leader", "versions": "1+" }
            ]},
            { "name": "Epoch", "type": "int32", "versions": "2+", "taggedVersions": "2+", "tag": 0,
              "default": "-1" }
          ],
          "commonStructs": [
            { "name": "Leader", "versions": "0+", "fields": [
              { "name": "Id", "type": "int32", "versions": "0+" }
            ]}
          ]
        }"#;
        let msg = parse_message(text).unwrap();
        let names: Vec<&str> = msg.structs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["TestRequest", "Topic", "Leader"]);
        assert_eq!(msg.api_key, Some(99));
        assert_eq!(
            msg.flexible,
            Some(Range {
                lo: 2,
                hi: i16::MAX
            })
        );
        let epoch = &msg.structs[0].fields[1];
        assert_eq!((epoch.tag, epoch.default.as_deref()), (Some(0), Some("-1")));
        assert!(msg.structs[0].fields[0].is_option());
        assert_eq!(
            msg.structs[0].fields[0].ty,
            Ty::Array(Box::new(Ty::Struct("Topic".to_owned())))
        );
    }
}
