//! Random-value builders for the round-trip tests: for every struct, a function that fills the
//! fields present in a given version (and only those) with random values.

use super::emit::{Api, Cond, HEADER, field_ctx};
use super::model::{Field, Message, Ty, module_name, snake_case};
use std::fmt::Write as _;

fn gen_fn(msg: &Message, struct_name: &str) -> String {
    format!(
        "gen_{}_{}",
        module_name(&msg.name),
        snake_case(struct_name).trim_start_matches("r#")
    )
}

fn elem_gen(msg: &Message, ty: &Ty) -> String {
    match ty {
        Ty::Bool => "r.bool()".into(),
        Ty::I8 => "r.i8()".into(),
        Ty::I16 => "r.i16()".into(),
        Ty::I32 => "r.i32()".into(),
        Ty::I64 => "r.i64()".into(),
        Ty::U16 => "r.u16()".into(),
        Ty::U32 => "r.u32()".into(),
        Ty::F64 => "r.f64()".into(),
        Ty::Uuid => "r.uuid()".into(),
        Ty::String => "r.string()".into(),
        Ty::Bytes => "r.bytes()".into(),
        Ty::Records => "semel_wire::RecordSet::from(r.bytes())".into(),
        Ty::Struct(n) => format!("{}(r, version, depth + 1)", gen_fn(msg, n)),
        Ty::Array(t) => format!("r.vec(depth, |r| {})", elem_gen(msg, t)),
    }
}

fn field_gen(msg: &Message, f: &Field, nullable: Cond) -> String {
    let inner = elem_gen(msg, &f.ty);
    if f.is_option() {
        format!(
            "if r.null({}) {{ None }} else {{ Some({inner}) }}",
            nullable.expr()
        )
    } else {
        inner
    }
}

/// `tests/wire/generated_random.rs`.
pub(crate) fn random_rs(messages: &[Message], apis: &[Api<'_>]) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(out, "{HEADER}");
    out.push_str(
        "//! Random values for every message struct and version: only the fields present in the
//! version are set, the others keep their defaults, so every value can be encoded.
#![allow(clippy::too_many_lines, clippy::field_reassign_with_default, unused_mut, unused_variables, dead_code)]

use super::msg_support::Rng;
use semel_wire::messages::{self as m, ApiKey, RequestBody, ResponseBody};

",
    );
    let mut names = std::collections::BTreeSet::new();
    for msg in messages {
        let module = module_name(&msg.name);
        let can_flex = Cond::of(msg.flexible, msg.valid);
        for s in &msg.structs {
            let fname = gen_fn(msg, &s.name);
            if !names.insert(fname.clone()) {
                return Err(format!("duplicate generator name {fname}"));
            }
            let _ = writeln!(
                out,
                "pub(crate) fn {fname}(r: &mut Rng, version: i16, depth: u32) -> m::{module}::{} {{\nlet mut v = m::{module}::{}::default();",
                s.name, s.name
            );
            for f in &s.fields {
                let fc = field_ctx(f, msg)?;
                let stmt = format!("v.{} = {};", fc.rust, field_gen(msg, f, fc.nullable));
                out.push_str(&fc.present.guard(&stmt));
            }
            out.push_str(&can_flex.guard("v.unknown_tagged_fields = r.unknown_tags();"));
            out.push_str("v\n}\n\n");
        }
    }
    // Round-trip entry points.
    out.push_str("/// One message type: its name, api key (-1 for headers), versions and a round-trip check.\npub(crate) struct Entry {\npub(crate) name: &'static str,\npub(crate) api_key: i16,\npub(crate) versions: (i16, i16),\npub(crate) round_trip: fn(&mut Rng, i16) -> Result<(), String>,\npub(crate) default_round_trip: fn(i16) -> Result<(), String>,\n}\n\n");
    out.push_str("/// Every message and header type.\npub(crate) const MESSAGES: &[Entry] = &[\n");
    for msg in messages {
        let _ = writeln!(
            out,
            "Entry {{ name: {:?}, api_key: {}, versions: ({}, {}), round_trip: |r, version| super::msg_support::check_round_trip::<m::{}>(&{}(r, version, 0), version), default_round_trip: |version| super::msg_support::check_round_trip(&m::{}::default(), version) }},",
            msg.name,
            msg.api_key.unwrap_or(-1),
            msg.valid.lo,
            msg.valid.hi,
            msg.name,
            gen_fn(msg, &msg.name),
            msg.name
        );
    }
    out.push_str("];\n\n");
    for (enum_name, fn_name, pick) in [
        ("RequestBody", "request_body", 0u8),
        ("ResponseBody", "response_body", 1u8),
    ] {
        let _ = writeln!(
            out,
            "/// A random `{enum_name}` of `api` at `version`.\npub(crate) fn {fn_name}(r: &mut Rng, api: ApiKey, version: i16) -> {enum_name} {{\nmatch api {{"
        );
        for a in apis {
            let msg = if pick == 0 { a.request } else { a.response };
            let _ = writeln!(
                out,
                "ApiKey::{} => {enum_name}::{}({}(r, version, 0)),",
                a.name,
                a.name,
                gen_fn(msg, &msg.name)
            );
        }
        out.push_str("}\n}\n\n");
    }
    Ok(out)
}
