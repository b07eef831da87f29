//! C and C++: reading the program's function signatures, and generating the driver's proxies,
//! the subject's server `main` and the wire code for them.
//!
//! Types are parsed into [`CTy`], a closed set, and the generated code is rendered from it
//! alone, so nothing of the program's text reaches the driver except its system `#include`
//! lines and `using namespace std;`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crucible_types::Language;

use super::scan::{self, Syntax};
use super::{DRIVER_IN_FD, DRIVER_OUT_FD, Plan, SUBJECT_IN_FD, SUBJECT_OUT_FD, SplitProgram};
use crate::Result;
use crate::harness::{self, Combined, PROOF_FD};

/// A builtin integer type, by its canonical spelling.
const INTS: &[&str] = &[
    "char",
    "signed char",
    "unsigned char",
    "short",
    "unsigned short",
    "int",
    "unsigned int",
    "long",
    "unsigned long",
    "long long",
    "unsigned long long",
];

/// A type that can cross between the processes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CTy {
    Void,
    Bool,
    /// Index into [`INTS`].
    Int(usize),
    Float,
    Double,
    /// `std::string`.
    Str,
    /// C's `char *` / `const char *`, NUL-terminated.
    CStr,
    Vector(Box<CTy>),
    /// `std::map` (true) or `std::unordered_map`.
    Map(bool, Box<CTy>, Box<CTy>),
    /// `std::set` (true) or `std::unordered_set`.
    Set(bool, Box<CTy>),
    Pair(Box<CTy>, Box<CTy>),
    Tuple(Vec<CTy>),
    Optional(Box<CTy>),
}

/// How a parameter is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Value,
    ConstRef,
    /// A non-const lvalue reference: the subject sends the value back after the call and the
    /// driver assigns it to the caller's variable.
    Ref,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    ty: CTy,
    pass: Pass,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    name: String,
    ret: CTy,
    params: Vec<Param>,
}

/// What the program defines at the top level.
#[derive(Debug, Default)]
struct Definitions {
    /// Function definitions by name: each parsed signature, or why it cannot be carried.
    functions: BTreeMap<String, Vec<std::result::Result<Signature, String>>>,
    /// Types, macros, global variables and anything else that is not a function.
    others: BTreeSet<String>,
}

/// Plan a split run for a C or C++ program and its appended test code.
pub(super) fn plan(language: Language, program: &str, tests: &str, salt: &str) -> Result<Plan> {
    let cpp = language == Language::Cpp;
    let program_defs = definitions(program, cpp);
    let test_defs = definitions(tests, cpp);
    let used = scan::identifier_set(&scan::blank(tests, Syntax::C));
    let mut signatures = Vec::new();
    for name in &used {
        let defined_by_tests =
            test_defs.functions.contains_key(name) || test_defs.others.contains(name);
        if defined_by_tests {
            continue;
        }
        if program_defs.others.contains(name) {
            return Ok(Plan::in_process(format!(
                "the tests use the program's `{name}`, which is not a function"
            )));
        }
        let Some(defs) = program_defs.functions.get(name) else {
            continue;
        };
        if defs.len() > 1 {
            return Ok(Plan::in_process(format!("`{name}` is overloaded")));
        }
        match &defs[0] {
            Ok(signature) => signatures.push(signature.clone()),
            Err(why) => {
                return Ok(Plan::in_process(format!(
                    "`{name}` {why}: its calls cannot be sent to another process"
                )));
            }
        }
    }
    let mut features = Features::default();
    for signature in &signatures {
        features.note(&signature.ret);
        for param in &signature.params {
            features.note(&param.ty);
        }
    }
    let wire = if cpp {
        cpp_wire(salt, &features)
    } else {
        c_wire(salt)
    };
    let includes = system_includes(program);
    let using_std = cpp && scan::blank(program, Syntax::C).contains("using namespace std");
    let mut driver_program = includes.clone();
    if using_std {
        driver_program.push_str("using namespace std;\n");
    }
    driver_program.push_str(&wire);
    driver_program.push_str(&driver_functions(salt, cpp));
    for (index, signature) in signatures.iter().enumerate() {
        driver_program.push_str(&proxy(salt, cpp, index, signature));
    }
    let driver = harness::combine(language, &driver_program, tests, salt)?;
    let subject = subject(language, program, salt, &wire, &signatures);
    Ok(Plan::Split(Box::new(SplitProgram {
        subject,
        driver,
        functions: signatures.iter().map(|s| s.name.clone()).collect(),
    })))
}

/// The program's `#include <...>` lines (system headers only) and nothing else.
fn system_includes(program: &str) -> String {
    let mut out = String::new();
    for line in program.lines() {
        let trimmed = line.trim();
        let Some(rest) = trimmed.strip_prefix('#') else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix("include") else {
            continue;
        };
        let rest = rest.trim();
        let Some(header) = rest.strip_prefix('<').and_then(|r| r.strip_suffix('>')) else {
            continue;
        };
        // A system header by name: no absolute path, no way up.
        let safe = !header.is_empty()
            && !header.starts_with('/')
            && !header.contains("..")
            && header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_./+-".contains(&b));
        if safe {
            let _ = writeln!(out, "#include <{header}>");
        }
    }
    out
}

/// Top-level definitions of C/C++ source.
fn definitions(src: &str, cpp: bool) -> Definitions {
    let mut defs = Definitions::default();
    for line in src.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix('#')
            && let Some(rest) = rest.trim_start().strip_prefix("define")
            && let Some((name, _)) = scan::ident_after(rest, 0)
        {
            defs.others.insert(name.to_owned());
        }
    }
    let code = scan::blank(src, Syntax::C);
    let b = code.as_bytes();
    let mut depth = 0usize;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' if depth == 0 => {
                let head = &code[start..i];
                top_level_block(head, cpp, &mut defs);
                match scan::matching(&code, i) {
                    Some(close) => {
                        i = close;
                        // A type definition or a brace-initialised variable ends at `;`.
                        start = close + 1;
                    }
                    None => return defs,
                }
            }
            b';' if depth == 0 => {
                top_level_statement(&code[start..i], &mut defs);
                start = i + 1;
            }
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    defs
}

/// A `head { ... }` at the top level: a function, a type, a namespace or an initialiser.
fn top_level_block(head: &str, cpp: bool, defs: &mut Definitions) {
    let head = without_attributes(head);
    let head = head.trim();
    let words = scan::identifiers(head);
    let first = words.first().map(|(_, w)| *w).unwrap_or("");
    if matches!(first, "struct" | "class" | "union" | "enum" | "typedef") {
        if let Some((_, name)) = words.iter().find(|(_, w)| {
            !matches!(
                *w,
                "struct" | "class" | "union" | "enum" | "typedef" | "final"
            )
        }) {
            defs.others.insert((*name).to_owned());
        }
        return;
    }
    if matches!(first, "namespace" | "extern") || head.is_empty() {
        return;
    }
    if let Some(eq) = top_level_eq(head) {
        // `int table[] = { ... }` or `auto f = [](...) { ... }`.
        if let Some((_, name)) = scan::ident_before(head, trim_brackets_end(head, eq)) {
            defs.others.insert(name.to_owned());
        }
        return;
    }
    let Some(open) = first_paren(head) else {
        return;
    };
    let Some((name_at, name)) = scan::ident_before(head, open) else {
        return;
    };
    let qualified = head[..name_at].trim_end().ends_with("::");
    if qualified || name == "operator" || name == "main" {
        return;
    }
    let signature = parse_signature(head, name_at, name, open, cpp);
    defs.functions
        .entry(name.to_owned())
        .or_default()
        .push(signature);
}

/// `head` with `__attribute__((...))` and `[[...]]` replaced by spaces (same length).
fn without_attributes(head: &str) -> String {
    let mut out = head.to_owned();
    while let Some(at) = out.find("__attribute__") {
        let open = out[at..].find('(').map(|i| at + i);
        let end = open
            .and_then(|o| scan::matching(&out, o))
            .unwrap_or(out.len() - 1);
        out.replace_range(at..=end, &" ".repeat(end + 1 - at));
    }
    while let Some(at) = out.find("[[") {
        let end = out[at..]
            .find("]]")
            .map(|i| at + i + 1)
            .unwrap_or(out.len() - 1);
        out.replace_range(at..=end, &" ".repeat(end + 1 - at));
    }
    out
}

/// The first `=` outside brackets (default arguments are inside parentheses).
fn top_level_eq(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'(' | b'[' | b'<' => depth += 1,
            b')' | b']' | b'>' => depth -= 1,
            b'=' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// `int a[3]` before `=`: the position after the name, skipping `[...]`.
fn trim_brackets_end(head: &str, eq: usize) -> usize {
    let before = head[..eq].trim_end();
    match before.strip_suffix(']') {
        Some(_) => before.rfind('[').unwrap_or(before.len()),
        None => before.len(),
    }
}

fn first_paren(head: &str) -> Option<usize> {
    // Skip a leading `template <...>`: its angle brackets may contain parentheses.
    head.find('(')
}

/// A top-level statement ending in `;`: a typedef, a using-alias or a global variable adds a
/// name that is not a function.
fn top_level_statement(statement: &str, defs: &mut Definitions) {
    let statement = statement.trim();
    let words = scan::identifiers(statement);
    let first = words.first().map(|(_, w)| *w).unwrap_or("");
    match first {
        "typedef" => {
            if let Some((_, last)) = words.last() {
                defs.others.insert((*last).to_owned());
            }
        }
        "using" => {
            if let Some(eq) = statement.find('=')
                && let Some((_, name)) = scan::ident_before(statement, eq)
            {
                defs.others.insert(name.to_owned());
            }
        }
        "struct" | "class" | "enum" | "union" | "template" | "extern" | "namespace" => {}
        _ if statement.contains('(') && top_level_eq(statement).is_none() => {
            // A prototype; the definition is elsewhere.
        }
        _ => {
            for piece in scan::split_top(statement, b',') {
                let end = piece.find('=').unwrap_or(piece.len());
                if let Some((_, name)) = scan::ident_before(piece, trim_brackets_end(piece, end)) {
                    defs.others.insert(name.to_owned());
                }
            }
        }
    }
}

fn parse_signature(
    head: &str,
    name_at: usize,
    name: &str,
    open: usize,
    cpp: bool,
) -> std::result::Result<Signature, String> {
    let close = scan::matching(head, open).ok_or("has an unreadable signature")?;
    let trailer = head[close + 1..].trim();
    let trailer_ok = trailer
        .split_whitespace()
        .all(|w| matches!(w, "noexcept" | "throw()" | "const") || (w.starts_with("__attribute__")));
    if !trailer_ok {
        return Err(format!("has `{trailer}` after its parameters"));
    }
    let mut ret_text = head[..name_at].trim().to_owned();
    if ret_text.starts_with("template") {
        return Err("is a template".into());
    }
    for specifier in ["static", "inline", "extern", "constexpr", "__inline"] {
        ret_text = ret_text
            .split_whitespace()
            .filter(|w| *w != specifier)
            .collect::<Vec<_>>()
            .join(" ");
    }
    let ret = parse_type(&ret_text, cpp).map_err(|t| format!("returns `{t}`"))?;
    let mut params = Vec::new();
    let inner = head[open + 1..close].trim();
    if !(inner.is_empty() || inner == "void") {
        for piece in scan::split_top(inner, b',') {
            params.push(parse_param(piece, cpp)?);
        }
    }
    if params.iter().any(|p| p.ty == CTy::Void) {
        return Err("takes `void`".into());
    }
    Ok(Signature {
        name: name.to_owned(),
        ret,
        params,
    })
}

/// Words that belong to a type, so a trailing one is not a parameter name.
fn is_type_word(word: &str) -> bool {
    matches!(
        word,
        "int"
            | "char"
            | "short"
            | "long"
            | "signed"
            | "unsigned"
            | "bool"
            | "_Bool"
            | "float"
            | "double"
            | "void"
            | "const"
            | "auto"
    )
}

/// A parameter; the error says what the function takes that cannot be carried.
fn parse_param(text: &str, cpp: bool) -> std::result::Result<Param, String> {
    let takes = |t: &str| format!("takes `{}`", t.trim());
    if text.contains('=') {
        return Err(format!("has a default argument (`{}`)", text.trim()));
    }
    if text.contains('[') || text.contains("...") || text.contains('(') {
        return Err(takes(text));
    }
    // Drop the parameter's name: a trailing identifier that is not part of the type.
    let mut type_text = text.trim();
    if let Some((at, last)) = scan::ident_before(type_text, type_text.len())
        && !is_type_word(last)
        && !type_text[..at].trim().is_empty()
        && !type_text[..at].trim_end().ends_with("::")
        && !type_text[..at].trim_end().ends_with(',')
        && !type_text[..at].trim_end().ends_with('<')
    {
        type_text = type_text[..at].trim();
    }
    let (type_text, pass) = if type_text.ends_with("&&") {
        return Err(takes(type_text));
    } else if let Some(rest) = type_text.strip_suffix('&') {
        let rest = rest.trim();
        let is_const = rest.starts_with("const ") || rest.ends_with(" const");
        (rest, if is_const { Pass::ConstRef } else { Pass::Ref })
    } else {
        (type_text, Pass::Value)
    };
    if !cpp && pass != Pass::Value {
        return Err(takes(text));
    }
    let ty = parse_type(type_text, cpp).map_err(|t| takes(&t))?;
    Ok(Param { ty, pass })
}

/// Parse a type; the error is the type's text.
fn parse_type(text: &str, cpp: bool) -> std::result::Result<CTy, String> {
    let normal = text.replace("std::", "").replace("const", " ");
    let normal = normal.trim();
    if !cpp {
        let compact: String = normal.split_whitespace().collect::<Vec<_>>().join(" ");
        if matches!(compact.as_str(), "char *" | "char*") {
            return Ok(CTy::CStr);
        }
    }
    let tokens = tokenize(normal);
    let mut at = 0;
    let ty = parse_tokens(&tokens, &mut at, cpp).ok_or_else(|| text.trim().to_owned())?;
    if at != tokens.len() {
        return Err(text.trim().to_owned());
    }
    Ok(ty)
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
        } else if scan::is_ident_byte(b[i]) {
            let start = i;
            while i < b.len() && scan::is_ident_byte(b[i]) {
                i += 1;
            }
            out.push(text[start..i].to_owned());
        } else {
            out.push((b[i] as char).to_string());
            i += 1;
        }
    }
    out
}

fn parse_tokens(tokens: &[String], at: &mut usize, cpp: bool) -> Option<CTy> {
    let mut words = Vec::new();
    while let Some(t) = tokens.get(*at) {
        if matches!(
            t.as_str(),
            "signed" | "unsigned" | "short" | "long" | "int" | "char"
        ) {
            words.push(t.as_str());
            *at += 1;
        } else {
            break;
        }
    }
    if !words.is_empty() {
        return int_type(&words).map(CTy::Int);
    }
    let word = tokens.get(*at)?.clone();
    *at += 1;
    let simple = match word.as_str() {
        "void" => Some(CTy::Void),
        "bool" | "_Bool" => Some(CTy::Bool),
        "float" => Some(CTy::Float),
        "double" => Some(CTy::Double),
        "size_t" => Some(CTy::Int(8)),
        "int8_t" => Some(CTy::Int(1)),
        "uint8_t" => Some(CTy::Int(2)),
        "int16_t" => Some(CTy::Int(3)),
        "uint16_t" => Some(CTy::Int(4)),
        "int32_t" => Some(CTy::Int(5)),
        "uint32_t" => Some(CTy::Int(6)),
        "int64_t" | "ptrdiff_t" | "ssize_t" => Some(CTy::Int(7)),
        "uint64_t" => Some(CTy::Int(8)),
        "string" if cpp => Some(CTy::Str),
        _ => None,
    };
    if let Some(ty) = simple {
        return Some(ty);
    }
    if !cpp || tokens.get(*at).map(String::as_str) != Some("<") {
        return None;
    }
    *at += 1;
    let mut args = Vec::new();
    loop {
        args.push(parse_tokens(tokens, at, cpp)?);
        match tokens.get(*at).map(String::as_str) {
            Some(",") => *at += 1,
            Some(">") => {
                *at += 1;
                break;
            }
            _ => return None,
        }
    }
    if args.contains(&CTy::Void) {
        return None;
    }
    let arity = args.len();
    let mut args = args.into_iter();
    let mut next = || args.next().map(Box::new);
    let ty = match (word.as_str(), arity) {
        ("vector", 1) => CTy::Vector(next()?),
        ("map", 2) => CTy::Map(true, next()?, next()?),
        ("unordered_map", 2) => CTy::Map(false, next()?, next()?),
        ("set", 1) => CTy::Set(true, next()?),
        ("unordered_set", 1) => CTy::Set(false, next()?),
        ("pair", 2) => CTy::Pair(next()?, next()?),
        ("optional", 1) => CTy::Optional(next()?),
        ("tuple", n) if n > 0 => {
            let mut fields = Vec::new();
            while let Some(field) = next() {
                fields.push(*field);
            }
            CTy::Tuple(fields)
        }
        _ => return None,
    };
    Some(ty)
}

/// The builtin integer a run of type words names, as an index into [`INTS`].
fn int_type(words: &[&str]) -> Option<usize> {
    let unsigned = words.contains(&"unsigned");
    let longs = words.iter().filter(|w| **w == "long").count();
    let short = words.contains(&"short");
    let char_ = words.contains(&"char");
    let signed = words.contains(&"signed");
    let name = match (char_, short, longs) {
        (true, false, 0) if unsigned => "unsigned char",
        (true, false, 0) if signed => "signed char",
        (true, false, 0) => "char",
        (false, true, 0) => "short",
        (false, false, 0) => "int",
        (false, false, 1) => "long",
        (false, false, 2) => "long long",
        _ => return None,
    };
    let name = if unsigned && !char_ {
        match name {
            "int" => "unsigned int",
            "short" => "unsigned short",
            "long" => "unsigned long",
            _ => "unsigned long long",
        }
    } else {
        name
    };
    INTS.iter().position(|n| *n == name)
}

/// The C++ (or C) spelling of a type.
fn render(ty: &CTy) -> String {
    match ty {
        CTy::Void => "void".into(),
        CTy::Bool => "bool".into(),
        CTy::Int(i) => INTS[*i].into(),
        CTy::Float => "float".into(),
        CTy::Double => "double".into(),
        CTy::Str => "std::string".into(),
        CTy::CStr => "char *".into(),
        CTy::Vector(t) => format!("std::vector<{}>", render(t)),
        CTy::Map(true, k, v) => format!("std::map<{}, {}>", render(k), render(v)),
        CTy::Map(false, k, v) => format!("std::unordered_map<{}, {}>", render(k), render(v)),
        CTy::Set(true, t) => format!("std::set<{}>", render(t)),
        CTy::Set(false, t) => format!("std::unordered_set<{}>", render(t)),
        CTy::Pair(a, b) => format!("std::pair<{}, {}>", render(a), render(b)),
        CTy::Tuple(ts) => format!(
            "std::tuple<{}>",
            ts.iter().map(render).collect::<Vec<_>>().join(", ")
        ),
        CTy::Optional(t) => format!("std::optional<{}>", render(t)),
    }
}

fn render_param(param: &Param) -> String {
    let ty = render(&param.ty);
    match param.pass {
        Pass::Value => ty,
        Pass::ConstRef => format!("const {ty} &"),
        Pass::Ref => format!("{ty} &"),
    }
}

/// Which containers the signatures use (the wire code covers only those).
#[derive(Debug, Default)]
struct Features {
    names: BTreeSet<&'static str>,
}

impl Features {
    fn note(&mut self, ty: &CTy) {
        match ty {
            CTy::Vector(t) => {
                self.names.insert("vector");
                self.note(t);
            }
            CTy::Map(ordered, k, v) => {
                self.names
                    .insert(if *ordered { "map" } else { "unordered_map" });
                self.note(k);
                self.note(v);
            }
            CTy::Set(ordered, t) => {
                self.names
                    .insert(if *ordered { "set" } else { "unordered_set" });
                self.note(t);
            }
            CTy::Pair(a, b) => {
                self.names.insert("pair");
                self.note(a);
                self.note(b);
            }
            CTy::Tuple(ts) => {
                self.names.insert("tuple");
                ts.iter().for_each(|t| self.note(t));
            }
            CTy::Optional(t) => {
                self.names.insert("optional");
                self.note(t);
            }
            _ => {}
        }
    }

    fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }
}

/// The C++ wire code (namespace `__cw_<salt>`): `put` and `get` for every type in use.
fn cpp_wire(salt: &str, features: &Features) -> String {
    let mut headers = String::from(
        "#include <cstdio>\n#include <cerrno>\n#include <cstdlib>\n#include <cstring>\n#include <cstdint>\n#include <string>\n#include <stdexcept>\n#include <new>\n#include <csignal>\n#include <unistd.h>\n",
    );
    for (feature, header) in [
        ("vector", "vector"),
        ("map", "map"),
        ("unordered_map", "unordered_map"),
        ("set", "set"),
        ("unordered_set", "unordered_set"),
        ("pair", "utility"),
        ("tuple", "tuple"),
        ("optional", "optional"),
    ] {
        if features.has(feature) {
            let _ = writeln!(headers, "#include <{header}>");
        }
    }
    let mut decls = String::new();
    let mut defs = String::new();
    let seq = |decls: &mut String, defs: &mut String, head: &str, ty: &str, insert: &str| {
        let _ = writeln!(decls, "{head} void put(std::FILE *f, const {ty} &v);");
        let _ = writeln!(decls, "{head} void get(In &in, {ty} &v);");
        let _ = writeln!(
            defs,
            "{head} void put(std::FILE *f, const {ty} &v) {{ std::fprintf(f, \"%zu \", v.size()); for (const auto &x : v) put(f, x); }}"
        );
        let _ = writeln!(
            defs,
            "{head} void get(In &in, {ty} &v) {{ unsigned long long n = count(in); v.clear(); for (unsigned long long i = 0; i < n && in.ok; i++) {{ {insert} }} }}"
        );
    };
    if features.has("vector") {
        seq(
            &mut decls,
            &mut defs,
            "template <class T>",
            "std::vector<T>",
            "T x{}; get(in, x); v.push_back(std::move(x));",
        );
    }
    for (feature, ty) in [
        ("map", "std::map<K, V>"),
        ("unordered_map", "std::unordered_map<K, V>"),
    ] {
        if features.has(feature) {
            let _ = writeln!(
                decls,
                "template <class K, class V> void put(std::FILE *f, const {ty} &v);"
            );
            let _ = writeln!(
                decls,
                "template <class K, class V> void get(In &in, {ty} &v);"
            );
            let _ = writeln!(
                defs,
                "template <class K, class V> void put(std::FILE *f, const {ty} &v) {{ std::fprintf(f, \"%zu \", v.size()); for (const auto &kv : v) {{ put(f, kv.first); put(f, kv.second); }} }}"
            );
            let _ = writeln!(
                defs,
                "template <class K, class V> void get(In &in, {ty} &v) {{ unsigned long long n = count(in); v.clear(); for (unsigned long long i = 0; i < n && in.ok; i++) {{ K k{{}}; V x{{}}; get(in, k); get(in, x); v.emplace(std::move(k), std::move(x)); }} }}"
            );
        }
    }
    for (feature, ty) in [
        ("set", "std::set<T>"),
        ("unordered_set", "std::unordered_set<T>"),
    ] {
        if features.has(feature) {
            seq(
                &mut decls,
                &mut defs,
                "template <class T>",
                ty,
                "T x{}; get(in, x); v.insert(std::move(x));",
            );
        }
    }
    if features.has("pair") {
        let _ = writeln!(
            decls,
            "template <class A, class B> void put(std::FILE *f, const std::pair<A, B> &v);"
        );
        let _ = writeln!(
            decls,
            "template <class A, class B> void get(In &in, std::pair<A, B> &v);"
        );
        let _ = writeln!(
            defs,
            "template <class A, class B> void put(std::FILE *f, const std::pair<A, B> &v) {{ put(f, v.first); put(f, v.second); }}"
        );
        let _ = writeln!(
            defs,
            "template <class A, class B> void get(In &in, std::pair<A, B> &v) {{ get(in, v.first); get(in, v.second); }}"
        );
    }
    if features.has("tuple") {
        let _ = writeln!(
            decls,
            "template <class... T> void put(std::FILE *f, const std::tuple<T...> &v);"
        );
        let _ = writeln!(
            decls,
            "template <class... T> void get(In &in, std::tuple<T...> &v);"
        );
        let _ = writeln!(
            defs,
            "template <class... T> void put(std::FILE *f, const std::tuple<T...> &v) {{ std::apply([&](const auto &... x) {{ (put(f, x), ...); }}, v); }}"
        );
        let _ = writeln!(
            defs,
            "template <class... T> void get(In &in, std::tuple<T...> &v) {{ std::apply([&](auto &... x) {{ (get(in, x), ...); }}, v); }}"
        );
    }
    if features.has("optional") {
        let _ = writeln!(
            decls,
            "template <class T> void put(std::FILE *f, const std::optional<T> &v);"
        );
        let _ = writeln!(
            decls,
            "template <class T> void get(In &in, std::optional<T> &v);"
        );
        let _ = writeln!(
            defs,
            "template <class T> void put(std::FILE *f, const std::optional<T> &v) {{ if (v) {{ std::fputs(\"1 \", f); put(f, *v); }} else std::fputs(\"0 \", f); }}"
        );
        let _ = writeln!(
            defs,
            "template <class T> void get(In &in, std::optional<T> &v) {{ if (integer(in, 0, 1)) {{ T x{{}}; get(in, x); v = std::move(x); }} else v.reset(); }}"
        );
    }
    format!(
        r#"{headers}namespace __cw_{salt} {{
struct In {{ std::FILE *f; bool ok; }};
/* One token: bytes up to a space, a newline or ':' (returned in *end; EOF gives -1). */
inline std::string word(In &in, int *end) {{
    std::string w;
    int c = std::fgetc(in.f);
    while (c == ' ' || c == '\n') c = std::fgetc(in.f);
    while (c != EOF && c != ' ' && c != '\n' && c != ':' && w.size() < 64) {{ w.push_back((char)c); c = std::fgetc(in.f); }}
    *end = c;
    return w;
}}
inline long long integer(In &in, long long lo, long long hi) {{
    int end; std::string w = word(in, &end);
    char *stop = nullptr; errno = 0;
    long long v = std::strtoll(w.c_str(), &stop, 10);
    if (w.empty() || *stop || errno || v < lo || v > hi || end == ':') {{ in.ok = false; return 0; }}
    return v;
}}
inline unsigned long long uinteger(In &in, unsigned long long hi) {{
    int end; std::string w = word(in, &end);
    char *stop = nullptr; errno = 0;
    unsigned long long v = std::strtoull(w.c_str(), &stop, 10);
    if (w.empty() || w[0] == '-' || *stop || errno || v > hi || end == ':') {{ in.ok = false; return 0; }}
    return v;
}}
inline unsigned long long count(In &in) {{ return uinteger(in, 1ull << 28); }}
inline unsigned long long hexbits(In &in, std::size_t digits) {{
    int end; std::string w = word(in, &end);
    char *stop = nullptr;
    unsigned long long v = std::strtoull(w.c_str(), &stop, 16);
    if (w.size() != digits || *stop || end == ':') {{ in.ok = false; return 0; }}
    return v;
}}
inline void put(std::FILE *f, bool v) {{ std::fputs(v ? "1 " : "0 ", f); }}
inline void put(std::FILE *f, char v) {{ std::fprintf(f, "%d ", (int)v); }}
inline void put(std::FILE *f, signed char v) {{ std::fprintf(f, "%d ", (int)v); }}
inline void put(std::FILE *f, unsigned char v) {{ std::fprintf(f, "%u ", (unsigned)v); }}
inline void put(std::FILE *f, short v) {{ std::fprintf(f, "%d ", (int)v); }}
inline void put(std::FILE *f, unsigned short v) {{ std::fprintf(f, "%u ", (unsigned)v); }}
inline void put(std::FILE *f, int v) {{ std::fprintf(f, "%d ", v); }}
inline void put(std::FILE *f, unsigned int v) {{ std::fprintf(f, "%u ", v); }}
inline void put(std::FILE *f, long v) {{ std::fprintf(f, "%ld ", v); }}
inline void put(std::FILE *f, unsigned long v) {{ std::fprintf(f, "%lu ", v); }}
inline void put(std::FILE *f, long long v) {{ std::fprintf(f, "%lld ", v); }}
inline void put(std::FILE *f, unsigned long long v) {{ std::fprintf(f, "%llu ", v); }}
inline void put(std::FILE *f, float v) {{ std::uint32_t b; std::memcpy(&b, &v, 4); std::fprintf(f, "%08x ", (unsigned)b); }}
inline void put(std::FILE *f, double v) {{ std::uint64_t b; std::memcpy(&b, &v, 8); std::fprintf(f, "%016llx ", (unsigned long long)b); }}
inline void put(std::FILE *f, const std::string &v) {{ std::fprintf(f, "%zu:", v.size()); std::fwrite(v.data(), 1, v.size(), f); std::fputc(' ', f); }}
inline void get(In &in, bool &v) {{ v = integer(in, 0, 1) != 0; }}
inline void get(In &in, char &v) {{ v = (char)integer(in, -128, 255); }}
inline void get(In &in, signed char &v) {{ v = (signed char)integer(in, -128, 127); }}
inline void get(In &in, unsigned char &v) {{ v = (unsigned char)integer(in, 0, 255); }}
inline void get(In &in, short &v) {{ v = (short)integer(in, -32768, 32767); }}
inline void get(In &in, unsigned short &v) {{ v = (unsigned short)integer(in, 0, 65535); }}
inline void get(In &in, int &v) {{ v = (int)integer(in, -2147483647ll - 1, 2147483647ll); }}
inline void get(In &in, unsigned int &v) {{ v = (unsigned int)uinteger(in, 4294967295ull); }}
inline void get(In &in, long &v) {{ v = (long)integer(in, (-9223372036854775807ll - 1), 9223372036854775807ll); }}
inline void get(In &in, unsigned long &v) {{ v = (unsigned long)uinteger(in, ~0ull); }}
inline void get(In &in, long long &v) {{ v = integer(in, (-9223372036854775807ll - 1), 9223372036854775807ll); }}
inline void get(In &in, unsigned long long &v) {{ v = uinteger(in, ~0ull); }}
inline void get(In &in, float &v) {{ std::uint32_t b = (std::uint32_t)hexbits(in, 8); std::memcpy(&v, &b, 4); }}
inline void get(In &in, double &v) {{ std::uint64_t b = (std::uint64_t)hexbits(in, 16); std::memcpy(&v, &b, 8); }}
inline void get(In &in, std::string &v) {{
    int end; std::string w = word(in, &end);
    char *stop = nullptr;
    unsigned long long n = std::strtoull(w.c_str(), &stop, 10);
    v.clear();
    if (w.empty() || *stop || end != ':' || n > (1ull << 30)) {{ in.ok = false; return; }}
    v.resize((std::size_t)n);
    if (n && std::fread(&v[0], 1, (std::size_t)n, in.f) != n) {{ in.ok = false; return; }}
    if (std::fgetc(in.f) != ' ') in.ok = false;
}}
{decls}{defs}}}
"#
    )
}

/// The C wire code: scalars and NUL-terminated strings.
fn c_wire(salt: &str) -> String {
    format!(
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <signal.h>
#include <errno.h>
#include <unistd.h>
struct __cw_{salt}_in {{ FILE *f; int ok; }};
static int __cw_{salt}_word(struct __cw_{salt}_in *in, char *w, size_t cap, int *end) {{
    size_t n = 0;
    int c = fgetc(in->f);
    while (c == ' ' || c == '\n') c = fgetc(in->f);
    while (c != EOF && c != ' ' && c != '\n' && c != ':' && n + 1 < cap) {{ w[n++] = (char)c; c = fgetc(in->f); }}
    w[n] = 0;
    *end = c;
    return (int)n;
}}
static long long __cw_{salt}_get_ll(struct __cw_{salt}_in *in, long long lo, long long hi) {{
    char w[72]; int end; char *stop = NULL;
    int n = __cw_{salt}_word(in, w, sizeof w, &end);
    errno = 0;
    long long v = strtoll(w, &stop, 10);
    if (!n || *stop || errno || v < lo || v > hi || end == ':') {{ in->ok = 0; return 0; }}
    return v;
}}
static unsigned long long __cw_{salt}_get_ull(struct __cw_{salt}_in *in, unsigned long long hi) {{
    char w[72]; int end; char *stop = NULL;
    int n = __cw_{salt}_word(in, w, sizeof w, &end);
    errno = 0;
    unsigned long long v = strtoull(w, &stop, 10);
    if (!n || w[0] == '-' || *stop || errno || v > hi || end == ':') {{ in->ok = 0; return 0; }}
    return v;
}}
static unsigned long long __cw_{salt}_hexbits(struct __cw_{salt}_in *in, int digits) {{
    char w[72]; int end; char *stop = NULL;
    int n = __cw_{salt}_word(in, w, sizeof w, &end);
    unsigned long long v = strtoull(w, &stop, 16);
    if (n != digits || *stop || end == ':') {{ in->ok = 0; return 0; }}
    return v;
}}
static float __cw_{salt}_get_f32(struct __cw_{salt}_in *in) {{ uint32_t b = (uint32_t)__cw_{salt}_hexbits(in, 8); float v; memcpy(&v, &b, 4); return v; }}
static double __cw_{salt}_get_f64(struct __cw_{salt}_in *in) {{ uint64_t b = (uint64_t)__cw_{salt}_hexbits(in, 16); double v; memcpy(&v, &b, 8); return v; }}
static char *__cw_{salt}_get_str(struct __cw_{salt}_in *in) {{
    char w[72]; int end; char *stop = NULL;
    int n = __cw_{salt}_word(in, w, sizeof w, &end);
    unsigned long long len = strtoull(w, &stop, 10);
    if (!n || *stop || end != ':' || len > (1ull << 30)) {{ in->ok = 0; return calloc(1, 1); }}
    char *s = malloc((size_t)len + 1);
    if (!s || (len && fread(s, 1, (size_t)len, in->f) != len) || fgetc(in->f) != ' ') {{ in->ok = 0; if (s) s[0] = 0; return s ? s : calloc(1, 1); }}
    s[len] = 0;
    return s;
}}
static void __cw_{salt}_put_ll(FILE *f, long long v) {{ fprintf(f, "%lld ", v); }}
static void __cw_{salt}_put_ull(FILE *f, unsigned long long v) {{ fprintf(f, "%llu ", v); }}
static void __cw_{salt}_put_f32(FILE *f, float v) {{ uint32_t b; memcpy(&b, &v, 4); fprintf(f, "%08x ", (unsigned)b); }}
static void __cw_{salt}_put_f64(FILE *f, double v) {{ uint64_t b; memcpy(&b, &v, 8); fprintf(f, "%016llx ", (unsigned long long)b); }}
static void __cw_{salt}_put_str(FILE *f, const char *s) {{ size_t n = s ? strlen(s) : 0; fprintf(f, "%zu:", n); if (n) fwrite(s, 1, n, f); fputc(' ', f); }}
"#
    )
}

/// The driver's channel to the subject: opening it, starting a call, reading the reply.
fn driver_functions(salt: &str, cpp: bool) -> String {
    let (inline, in_ty, read_word, on_error) = if cpp {
        (
            "inline",
            format!("__cw_{salt}::In"),
            format!("std::string w = __cw_{salt}::word(in, &end);"),
            format!(
                "if (w == \"E\") {{ std::string m; __cw_{salt}::get(in, m); if (!in.ok) __cw_{salt}_fail(name, \"sent a malformed reply\"); throw std::runtime_error(m); }}\n    if (w != \"R\") __cw_{salt}_fail(name, \"sent a malformed reply\");"
            ),
        )
    } else {
        (
            "static",
            format!("struct __cw_{salt}_in"),
            format!("char w[8]; __cw_{salt}_word(&in, w, sizeof w, &end);"),
            format!(
                "if (!strcmp(w, \"E\")) {{ char *m = __cw_{salt}_get_str(&in); fprintf(stderr, \"%s\\n\", m); __cw_{salt}_fail(name, \"raised an error\"); }}\n    if (strcmp(w, \"R\")) __cw_{salt}_fail(name, \"sent a malformed reply\");"
            ),
        )
    };
    format!(
        r#"static FILE *__cw_{salt}_out_f, *__cw_{salt}_in_f;
__attribute__((noreturn)) {inline} void __cw_{salt}_fail(const char *name, const char *what) {{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "T error main\tthe program %s during a call to %s()\n", what, name);
    if (n > 0) {{ ssize_t w = write({PROOF_FD}, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1); (void)w; }}
    fflush(stdout);
    _exit(1);
}}
{inline} FILE *__cw_{salt}_begin(long long index) {{
    if (!__cw_{salt}_out_f) {{
        signal(SIGPIPE, SIG_IGN);
        __cw_{salt}_out_f = fdopen({DRIVER_OUT_FD}, "w");
        __cw_{salt}_in_f = fdopen({DRIVER_IN_FD}, "r");
        if (!__cw_{salt}_out_f || !__cw_{salt}_in_f) __cw_{salt}_fail("(any)", "could not be reached");
    }}
    fprintf(__cw_{salt}_out_f, "%lld ", index);
    return __cw_{salt}_out_f;
}}
{inline} {in_ty} __cw_{salt}_reply(const char *name) {{
    {in_ty} in = {{ __cw_{salt}_in_f, 1 }};
    if (fputc('\n', __cw_{salt}_out_f) == EOF || fflush(__cw_{salt}_out_f) != 0) __cw_{salt}_fail(name, "exited or crashed");
    int end = 0;
    {read_word}
    if (end == EOF && !w[0]) __cw_{salt}_fail(name, "exited or crashed");
    {on_error}
    return in;
}}
{inline} void __cw_{salt}_end({in_ty} *in, const char *name) {{
    if (!in->ok) __cw_{salt}_fail(name, "sent a malformed reply");
}}
"#
    )
}

/// The C expression that writes `value` of type `ty` to `FILE *f`, or reads one from `in`.
fn c_put(salt: &str, ty: &CTy, stream: &str, value: &str) -> String {
    match ty {
        CTy::Float => format!("__cw_{salt}_put_f32({stream}, {value});"),
        CTy::Double => format!("__cw_{salt}_put_f64({stream}, {value});"),
        CTy::CStr => format!("__cw_{salt}_put_str({stream}, {value});"),
        CTy::Bool => format!("__cw_{salt}_put_ll({stream}, {value} ? 1 : 0);"),
        CTy::Int(i) if INTS[*i].starts_with("unsigned") => {
            format!("__cw_{salt}_put_ull({stream}, (unsigned long long){value});")
        }
        _ => format!("__cw_{salt}_put_ll({stream}, (long long){value});"),
    }
}

fn c_get(salt: &str, ty: &CTy, input: &str) -> String {
    match ty {
        CTy::Float => format!("__cw_{salt}_get_f32({input})"),
        CTy::Double => format!("__cw_{salt}_get_f64({input})"),
        CTy::CStr => format!("__cw_{salt}_get_str({input})"),
        CTy::Bool => format!("__cw_{salt}_get_ll({input}, 0, 1)"),
        CTy::Int(i) => {
            let (lo, hi) = match INTS[*i] {
                "char" => ("-128", "255"),
                "signed char" => ("-128", "127"),
                "unsigned char" => ("0", "255"),
                "short" => ("-32768", "32767"),
                "unsigned short" => ("0", "65535"),
                "int" => ("-2147483647ll - 1", "2147483647ll"),
                "unsigned int" => {
                    return format!("(unsigned int)__cw_{salt}_get_ull({input}, 4294967295ull)");
                }
                "unsigned long" | "unsigned long long" => {
                    return format!("__cw_{salt}_get_ull({input}, ~0ull)");
                }
                _ => ("-9223372036854775807ll - 1", "9223372036854775807ll"),
            };
            format!("__cw_{salt}_get_ll({input}, {lo}, {hi})")
        }
        _ => "0".into(),
    }
}

/// A driver function with the program's signature that sends its arguments to the subject.
fn proxy(salt: &str, cpp: bool, index: usize, signature: &Signature) -> String {
    let name = &signature.name;
    let params: Vec<String> = signature
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{} __cw_a{i}", render_param(p)))
        .collect();
    let ret = render(&signature.ret);
    let mut body = String::new();
    let _ = writeln!(body, "    FILE *f = __cw_{salt}_begin({index});");
    for (i, param) in signature.params.iter().enumerate() {
        if cpp {
            let _ = writeln!(body, "    __cw_{salt}::put(f, __cw_a{i});");
        } else {
            let _ = writeln!(
                body,
                "    {}",
                c_put(salt, &param.ty, "f", &format!("__cw_a{i}"))
            );
        }
    }
    let in_ty = if cpp {
        format!("__cw_{salt}::In")
    } else {
        format!("struct __cw_{salt}_in")
    };
    let _ = writeln!(body, "    {in_ty} in = __cw_{salt}_reply(\"{name}\");");
    let returns = signature.ret != CTy::Void;
    if returns {
        if cpp {
            let _ = writeln!(body, "    {ret} r{{}}; __cw_{salt}::get(in, r);");
        } else {
            let _ = writeln!(
                body,
                "    {ret} r = {};",
                c_get(salt, &signature.ret, "&in")
            );
        }
    }
    for (i, param) in signature.params.iter().enumerate() {
        if param.pass == Pass::Ref {
            let _ = writeln!(body, "    __cw_{salt}::get(in, __cw_a{i});");
        }
    }
    let _ = writeln!(body, "    __cw_{salt}_end(&in, \"{name}\");");
    if returns {
        body.push_str("    return r;\n");
    }
    let _ = index;
    format!("{ret} {name}({}) {{\n{body}}}\n", params.join(", "))
}

/// The subject: the program, then a server `main` that answers the driver's calls. Every name
/// the server declares starts with `__cw_`, so none hides one of the program's functions.
fn subject(
    language: Language,
    program: &str,
    salt: &str,
    wire: &str,
    signatures: &[Signature],
) -> Combined {
    let cpp = language == Language::Cpp;
    let mut cases = String::new();
    for (index, signature) in signatures.iter().enumerate() {
        let mut case = String::new();
        let mut args = Vec::new();
        for (i, param) in signature.params.iter().enumerate() {
            if cpp {
                let _ = write!(
                    case,
                    "{} __cw_a{i}{{}}; __cw_{salt}::get(__cw_in, __cw_a{i}); ",
                    render(&param.ty)
                );
            } else {
                let _ = write!(
                    case,
                    "{} __cw_a{i} = {}; ",
                    render(&param.ty),
                    c_get(salt, &param.ty, "&__cw_in")
                );
            }
            args.push(format!("__cw_a{i}"));
        }
        let _ = write!(case, "if (!__cw_in.ok) return 70; ");
        let call = format!("{}({})", signature.name, args.join(", "));
        let reply = "fputs(\"R \", __cw_f); ";
        if signature.ret == CTy::Void {
            let _ = write!(case, "{call}; {reply}");
        } else if cpp {
            let _ = write!(
                case,
                "auto __cw_r = {call}; {reply}__cw_{salt}::put(__cw_f, __cw_r); "
            );
        } else {
            let _ = write!(
                case,
                "{} __cw_r = {call}; {reply}{} ",
                render(&signature.ret),
                c_put(salt, &signature.ret, "__cw_f", "__cw_r")
            );
        }
        for (i, param) in signature.params.iter().enumerate() {
            if param.pass == Pass::Ref {
                let _ = write!(case, "__cw_{salt}::put(__cw_f, __cw_a{i}); ");
            }
        }
        let _ = writeln!(cases, "        case {index}: {{ {case}break; }}");
    }
    let server = if cpp {
        format!(
            r#"
/* ---- crucible subject server ---- */
#undef main
int main() {{
    std::signal(SIGPIPE, SIG_IGN);
    __cw_{salt}::In __cw_in{{ fdopen({SUBJECT_IN_FD}, "r"), true }};
    std::FILE *__cw_f = fdopen({SUBJECT_OUT_FD}, "w");
    if (!__cw_in.f || !__cw_f) return 71;
    for (;;) {{
        int __cw_end = 0;
        std::string __cw_w = __cw_{salt}::word(__cw_in, &__cw_end);
        if (__cw_w.empty() && __cw_end == EOF) return 0;
        char *__cw_stop = nullptr;
        long long __cw_index = std::strtoll(__cw_w.c_str(), &__cw_stop, 10);
        if (__cw_w.empty() || *__cw_stop) return 70;
        try {{
            switch (__cw_index) {{
{cases}            default: return 70;
            }}
        }} catch (const std::bad_alloc &) {{
            // Out of memory: end as a program with its tests in-process would (the executor
            // reads the runtime's report as the memory limit), not as an error reply.
            throw;
        }} catch (const std::exception &__cw_e) {{
            std::fputs("E ", __cw_f); __cw_{salt}::put(__cw_f, std::string(__cw_e.what()));
        }} catch (...) {{
            std::fputs("E ", __cw_f); __cw_{salt}::put(__cw_f, std::string("an exception that is not a std::exception"));
        }}
        std::fputc('\n', __cw_f);
        if (std::fflush(__cw_f) != 0) return 0;
    }}
}}
"#
        )
    } else {
        format!(
            r#"
/* ---- crucible subject server ---- */
#undef main
int main(void) {{
    signal(SIGPIPE, SIG_IGN);
    struct __cw_{salt}_in __cw_in = {{ fdopen({SUBJECT_IN_FD}, "r"), 1 }};
    FILE *__cw_f = fdopen({SUBJECT_OUT_FD}, "w");
    if (!__cw_in.f || !__cw_f) return 71;
    for (;;) {{
        char __cw_w[72]; int __cw_end = 0; char *__cw_stop = NULL;
        int __cw_n = __cw_{salt}_word(&__cw_in, __cw_w, sizeof __cw_w, &__cw_end);
        if (!__cw_n && __cw_end == EOF) return 0;
        long long __cw_index = strtoll(__cw_w, &__cw_stop, 10);
        if (!__cw_n || *__cw_stop) return 70;
        switch (__cw_index) {{
{cases}        default: return 70;
        }}
        fputc('\n', __cw_f);
        if (fflush(__cw_f) != 0) return 0;
    }}
}}
"#
        )
    };
    let mut src = String::with_capacity(program.len() + wire.len() + server.len() + 64);
    // The wire code's headers and namespace come first (headers cannot be included inside a
    // scope the program leaves open); the program keeps its own line numbers.
    src.push_str(wire);
    src.push_str("#line 1 \"main\"\n");
    src.push_str(program);
    src.push_str(&server);
    let name = if cpp { "main.cpp" } else { "main.c" };
    Combined {
        files: vec![(name.into(), src)],
        main_class: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(src: &str) -> std::result::Result<Signature, String> {
        let defs = definitions(src, true);
        defs.functions.into_values().next().unwrap().remove(0)
    }

    #[test]
    fn signatures_are_parsed() {
        let s = sig("bool has_close_elements(vector<float> numbers, float threshold){ return 1; }")
            .unwrap();
        assert_eq!(s.ret, CTy::Bool);
        assert_eq!(s.params[0].ty, CTy::Vector(Box::new(CTy::Float)));
        let s =
            sig("long long f(const std::map<string,int> &m, unsigned x, size_t n) { }").unwrap();
        assert_eq!(s.ret, CTy::Int(9));
        assert_eq!(s.params[0].pass, Pass::ConstRef);
        assert_eq!(s.params[1].ty, CTy::Int(6));
        assert_eq!(s.params[2].ty, CTy::Int(8));
        let s =
            sig("__attribute__((noinline)) static inline vector<vector<int>> g(vector<int>& v) {}")
                .unwrap();
        assert_eq!(s.params[0].pass, Pass::Ref);
        assert_eq!(
            sig("boost::any f(boost::any a) {}").unwrap_err(),
            "returns `boost::any`"
        );
        assert_eq!(sig("int f(int *a) {}").unwrap_err(), "takes `int *`");
        assert_eq!(
            sig("int f(int a, int b = 2) {}").unwrap_err(),
            "has a default argument (`int b = 2`)"
        );
    }

    #[test]
    fn definitions_tell_functions_from_other_names() {
        let src = "#include <vector>\n#define N 10\ntypedef long long ll;\nstruct P { int x; };\nint table[3] = {1,2,3};\nint g = 4, h;\nint f(int x) { return x; }\nint proto(int);\nnamespace q { int inner() { return 1; } }\n";
        let defs = definitions(src, true);
        assert_eq!(defs.functions.keys().collect::<Vec<_>>(), vec!["f"]);
        for name in ["N", "ll", "P", "table", "g", "h"] {
            assert!(defs.others.contains(name), "{name}: {defs:?}");
        }
    }

    #[test]
    fn only_system_headers_by_name_reach_the_driver() {
        let program = "#include <vector>\n# include<math.h>\n#include \"mine.h\"\n#include </box/main.cpp>\n#include <../x.h>\n#define X <stdio.h>\n";
        assert_eq!(
            system_includes(program),
            "#include <vector>\n#include <math.h>\n"
        );
    }

    #[test]
    fn plans_proxy_only_what_the_tests_call() {
        let program = "#include<vector>\nusing namespace std;\nint helper(int x) { return x; }\nvector<int> f(vector<int> v) { return v; }\n";
        let tests = "bool issame(vector<int> a, vector<int> b) { return a == b; }\nint main() { assert(issame(f({1}), {1})); }\n";
        let Plan::Split(split) = plan(Language::Cpp, program, tests, "s").unwrap() else {
            panic!("not split");
        };
        assert_eq!(split.functions, vec!["f".to_owned()]);
        let driver = &split.driver.files[0].1;
        assert!(driver.contains("std::vector<int> f(std::vector<int> __cw_a0)"));
        assert!(!driver.contains("helper"), "{driver}");
        assert!(!split.subject.files[0].1.contains("issame"));
        let Plan::InProcess { reason } = plan(
            Language::Cpp,
            "typedef int T;\nT f(T x) { return x; }\n",
            "int main() { T a = 1; assert(f(a) == 1); }\n",
            "s",
        )
        .unwrap() else {
            panic!("split");
        };
        assert!(reason.contains("`T`"), "{reason}");
    }
}
