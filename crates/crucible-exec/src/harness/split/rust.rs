//! Rust: reading the program's top-level `fn` signatures, and generating the driver's proxies,
//! the subject's server `main` and the wire module (`Put`/`Get` traits) for them.
//!
//! Types are parsed into [`RTy`] and re-rendered; borrowed values the subject receives
//! (`&str`, `&[T]`, `Vec<&str>`) are decoded as leaked `'static` data (the subject is a
//! short-lived process), which coerces to whatever lifetime the function asks for.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crucible_types::Language;

use super::scan::{self, Syntax};
use super::{DRIVER_IN_FD, DRIVER_OUT_FD, Plan, SUBJECT_IN_FD, SUBJECT_OUT_FD, SplitProgram};
use crate::Result;
use crate::harness::{self, Combined};

const INTS: &[&str] = &[
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
];

/// A type that can cross between the processes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RTy {
    /// A primitive or `String`, by name (`i32`, `f64`, `bool`, `char`, `String`, `str`).
    Named(&'static str),
    Unit,
    Vec(Box<RTy>),
    /// `[T]` (behind a reference).
    Slice(Box<RTy>),
    Option(Box<RTy>),
    Tuple(Vec<RTy>),
    /// `HashMap` or `BTreeMap`.
    Map(&'static str, Box<RTy>, Box<RTy>),
    /// `HashSet` or `BTreeSet`.
    Set(&'static str, Box<RTy>),
    Ref {
        mutable: bool,
        to: Box<RTy>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    name: String,
    params: Vec<RTy>,
    ret: RTy,
}

#[derive(Debug, Default)]
struct Definitions {
    functions: BTreeMap<String, std::result::Result<Signature, String>>,
    others: BTreeSet<String>,
    /// `use` and `extern crate` items the driver may copy (standard library and the
    /// provisioned crates only).
    imports: Vec<String>,
}

/// Crates a copied `use` may name.
const IMPORT_ROOTS: &[&str] = &["std", "core", "alloc", "rand", "regex", "md5"];

/// Plan a split run for a Rust program and its appended test code.
pub(super) fn plan(program: &str, tests: &str, salt: &str) -> Result<Plan> {
    let program_defs = definitions(program);
    let test_defs = definitions(tests);
    let used = scan::identifier_set(&scan::blank(tests, Syntax::Rust));
    let mut signatures = Vec::new();
    for name in &used {
        if test_defs.functions.contains_key(name) || test_defs.others.contains(name) {
            continue;
        }
        if program_defs.others.contains(name) {
            return Ok(Plan::in_process(format!(
                "the tests use the program's `{name}`, which is not a function"
            )));
        }
        match program_defs.functions.get(name) {
            None => {}
            Some(Ok(signature)) => signatures.push(signature.clone()),
            Some(Err(why)) => {
                return Ok(Plan::in_process(format!(
                    "`{name}` {why}: its calls cannot be sent to another process"
                )));
            }
        }
    }
    let wire = wire(salt);
    let mut driver_program = program_defs.imports.join("\n");
    driver_program.push('\n');
    driver_program.push_str(&wire);
    driver_program.push_str(&driver_channel(salt));
    for (index, signature) in signatures.iter().enumerate() {
        driver_program.push_str(&proxy(salt, index, signature));
    }
    let driver = harness::combine(Language::Rust, &driver_program, tests, salt)?;
    let subject = subject(program, salt, &wire, &signatures);
    Ok(Plan::Split(Box::new(SplitProgram {
        subject,
        driver,
        functions: signatures.iter().map(|s| s.name.clone()).collect(),
    })))
}

/// Top-level items of Rust source.
fn definitions(src: &str) -> Definitions {
    let mut defs = Definitions::default();
    let code = scan::blank(src, Syntax::Rust);
    let b = code.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut paren = 0usize;
    while i < b.len() {
        match b[i] {
            b'(' | b'[' => paren += 1,
            b')' | b']' => paren = paren.saturating_sub(1),
            b'{' if paren == 0 => {
                let close = scan::matching(&code, i).unwrap_or(b.len() - 1);
                item(
                    &code[start..i],
                    &src[start..=close.min(src.len() - 1)],
                    &mut defs,
                );
                i = close + 1;
                start = i;
                continue;
            }
            b';' if paren == 0 => {
                item(&code[start..i], &src[start..i], &mut defs);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    defs
}

/// One top-level item: `head` is its blanked text before `{` or `;`.
fn item(head: &str, original: &str, defs: &mut Definitions) {
    // Attributes (`#[test]`, `#[derive(...)]`) and visibility do not matter here.
    let mut head = head.trim().to_owned();
    while head.starts_with("#[") || head.starts_with("#![") {
        let open = head.find('[').unwrap_or(0);
        let close = scan::matching(&head, open).unwrap_or(head.len() - 1);
        head = head[close + 1..].trim_start().to_owned();
    }
    let words: Vec<&str> = scan::identifiers(&head)
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    // Skip visibility and qualifiers to the item's keyword (`const fn` is a function,
    // `const NAME` a constant).
    let mut at = 0;
    while let Some(word) = words.get(at) {
        let qualifier = matches!(
            *word,
            "pub" | "crate" | "super" | "self" | "in" | "unsafe" | "default"
        ) || (*word == "const"
            && matches!(words.get(at + 1), Some(&"fn") | Some(&"unsafe")));
        if !qualifier {
            break;
        }
        at += 1;
    }
    let keyword = words.get(at).copied().unwrap_or("");
    match keyword {
        "use" | "extern" => {
            if let Some(import) = safe_import(&head, original) {
                defs.imports.push(import);
            }
        }
        "fn" => {
            let Some(at) = head.find("fn ").or_else(|| head.find("fn\t")) else {
                return;
            };
            let Some((name, after)) = scan::ident_after(&head, at + 2) else {
                return;
            };
            if name == "main" {
                return;
            }
            let signature = parse_signature(&head, name, after);
            defs.functions.insert(name.to_owned(), signature);
        }
        "struct" | "enum" | "union" | "trait" | "type" | "mod" | "static" | "const"
        | "macro_rules" => {
            if let Some(name) = words[at + 1..].iter().find(|w| **w != "mut") {
                defs.others.insert((*name).to_owned());
            }
        }
        _ => {}
    }
}

/// A `use`/`extern crate` item of the standard library or a provisioned crate, as text.
fn safe_import(head: &str, original: &str) -> Option<String> {
    let text = original.trim();
    let text = text.strip_suffix(';').unwrap_or(text).trim();
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_:{},* \t\n".contains(&b));
    if !plain || head.contains('#') {
        return None;
    }
    let body = text.strip_prefix("pub ").unwrap_or(text).trim_start();
    let path = body
        .strip_prefix("use ")
        .or_else(|| body.strip_prefix("extern crate "))?
        .trim_start()
        .trim_start_matches("::");
    let root: String = path
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    IMPORT_ROOTS
        .contains(&root.as_str())
        .then(|| format!("#[allow(unused_imports)]\n{body};"))
}

fn parse_signature(
    head: &str,
    name: &str,
    after_name: usize,
) -> std::result::Result<Signature, String> {
    let before = &head[..head.find(name).unwrap_or(0)];
    for word in ["async", "extern"] {
        if scan::identifier_set(before).contains(word) {
            return Err(format!("is `{word}`"));
        }
    }
    let mut rest = head[after_name..].trim_start();
    if rest.starts_with('<') {
        let close = scan::matching(rest, 0).ok_or("has unreadable generics")?;
        let generics = &rest[1..close];
        let only_lifetimes = scan::split_top(generics, b',')
            .iter()
            .all(|g| g.starts_with('\'') && !g.contains(':'));
        if !only_lifetimes {
            return Err("is generic".into());
        }
        rest = rest[close + 1..].trim_start();
    }
    if !rest.starts_with('(') {
        return Err("has an unreadable signature".into());
    }
    let close = scan::matching(rest, 0).ok_or("has an unreadable signature")?;
    let mut params = Vec::new();
    for param in scan::split_top(&rest[1..close], b',') {
        let (pattern, ty) = param
            .split_once(':')
            .ok_or_else(|| format!("takes `{param}`"))?;
        if pattern.contains("self") {
            return Err("is a method".into());
        }
        let ty = ty.trim();
        params.push(parse_type(ty).ok_or_else(|| format!("takes `{ty}`"))?);
    }
    let trailer = rest[close + 1..].trim();
    let ret = match trailer.strip_prefix("->") {
        None if trailer.is_empty() => RTy::Unit,
        None => return Err(format!("has `{trailer}` after its parameters")),
        Some(ret) => {
            let ret = ret.trim();
            if ret.contains(" where ") || ret.ends_with("where") {
                return Err("has a `where` clause".into());
            }
            parse_type(ret).ok_or_else(|| format!("returns `{ret}`"))?
        }
    };
    let nested_mut = params.iter().any(|p| match p {
        RTy::Ref { mutable: true, to } => contains_ref(to),
        other => contains_mut_ref(other),
    });
    if nested_mut || contains_mut_ref(&ret) {
        return Err("uses a nested `&mut`".into());
    }
    Ok(Signature {
        name: name.to_owned(),
        params,
        ret,
    })
}

fn contains_ref(ty: &RTy) -> bool {
    children(ty)
        .iter()
        .any(|c| matches!(c, RTy::Ref { .. }) || contains_ref(c))
        || matches!(ty, RTy::Ref { .. })
}

fn contains_mut_ref(ty: &RTy) -> bool {
    match ty {
        RTy::Ref { mutable: true, .. } => true,
        other => children(other).iter().any(|c| contains_mut_ref(c)),
    }
}

fn children(ty: &RTy) -> Vec<&RTy> {
    match ty {
        RTy::Vec(t) | RTy::Slice(t) | RTy::Option(t) | RTy::Set(_, t) => vec![t],
        RTy::Ref { to, .. } => vec![to],
        RTy::Map(_, k, v) => vec![k, v],
        RTy::Tuple(ts) => ts.iter().collect(),
        RTy::Named(_) | RTy::Unit => vec![],
    }
}

/// Parse a type (lifetimes dropped); `None` when it cannot be carried.
fn parse_type(text: &str) -> Option<RTy> {
    let tokens = tokenize(text);
    let mut at = 0;
    let ty = parse_tokens(&tokens, &mut at)?;
    (at == tokens.len()).then_some(ty)
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
        } else if b[i] == b'\'' {
            // A lifetime: dropped.
            i += 1;
            while i < b.len() && scan::is_ident_byte(b[i]) {
                i += 1;
            }
        } else if b[i] == b':' && b.get(i + 1) == Some(&b':') {
            out.push("::".to_owned());
            i += 2;
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

fn parse_tokens(tokens: &[String], at: &mut usize) -> Option<RTy> {
    let token = tokens.get(*at)?.clone();
    *at += 1;
    match token.as_str() {
        "&" => {
            let mutable = tokens.get(*at).map(String::as_str) == Some("mut");
            if mutable {
                *at += 1;
            }
            let to = parse_tokens(tokens, at)?;
            return Some(RTy::Ref {
                mutable,
                to: Box::new(to),
            });
        }
        "(" => {
            let mut items = Vec::new();
            loop {
                if tokens.get(*at).map(String::as_str) == Some(")") {
                    *at += 1;
                    break;
                }
                items.push(parse_tokens(tokens, at)?);
                match tokens.get(*at).map(String::as_str) {
                    Some(",") => *at += 1,
                    Some(")") => {}
                    _ => return None,
                }
            }
            return Some(if items.is_empty() {
                RTy::Unit
            } else {
                RTy::Tuple(items)
            });
        }
        "[" => {
            let inner = parse_tokens(tokens, at)?;
            if tokens.get(*at).map(String::as_str) != Some("]") {
                return None;
            }
            *at += 1;
            return Some(RTy::Slice(Box::new(inner)));
        }
        _ => {}
    }
    // A path: keep its last segment (`std::collections::HashMap`).
    let mut name = token;
    while tokens.get(*at).map(String::as_str) == Some("::") {
        name = tokens.get(*at + 1)?.clone();
        *at += 2;
    }
    let mut args = Vec::new();
    if tokens.get(*at).map(String::as_str) == Some("<") {
        *at += 1;
        loop {
            args.push(parse_tokens(tokens, at)?);
            match tokens.get(*at).map(String::as_str) {
                Some(",") => *at += 1,
                Some(">") => {
                    *at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    let mut args = args.into_iter();
    let arity = args.len();
    let mut next = || args.next().map(Box::new);
    let named = |n: &str| -> Option<&'static str> {
        INTS.iter()
            .chain(["f32", "f64", "bool", "char", "String", "str"].iter())
            .find(|i| **i == n)
            .copied()
    };
    Some(match (name.as_str(), arity) {
        (n, 0) if named(n).is_some() => RTy::Named(named(n)?),
        ("Vec", 1) => RTy::Vec(next()?),
        ("Option", 1) => RTy::Option(next()?),
        ("HashMap", 2) => RTy::Map("HashMap", next()?, next()?),
        ("BTreeMap", 2) => RTy::Map("BTreeMap", next()?, next()?),
        ("HashSet", 1) => RTy::Set("HashSet", next()?),
        ("BTreeSet", 1) => RTy::Set("BTreeSet", next()?),
        _ => return None,
    })
}

/// The type as the program wrote it (lifetimes elided; `'static` for references in results
/// and in what the subject decodes when `statics`).
fn render(ty: &RTy, statics: bool) -> String {
    let r = |t: &RTy| render(t, statics);
    match ty {
        RTy::Named(n) => (*n).to_owned(),
        RTy::Unit => "()".into(),
        RTy::Vec(t) => format!("Vec<{}>", r(t)),
        RTy::Slice(t) => format!("[{}]", r(t)),
        RTy::Option(t) => format!("Option<{}>", r(t)),
        RTy::Tuple(ts) => {
            let items: Vec<String> = ts.iter().map(r).collect();
            if items.len() == 1 {
                format!("({},)", items[0])
            } else {
                format!("({})", items.join(", "))
            }
        }
        RTy::Map(kind, k, v) => format!("::std::collections::{kind}<{}, {}>", r(k), r(v)),
        RTy::Set(kind, t) => format!("::std::collections::{kind}<{}>", r(t)),
        RTy::Ref { mutable, to } => {
            let lifetime = if statics { "'static " } else { "" };
            let m = if *mutable { "mut " } else { "" };
            format!("&{lifetime}{m}{}", r(to))
        }
    }
}

/// The wire module: `Put` for every carried type, `Get` (leaking borrowed data) likewise.
fn wire(salt: &str) -> String {
    format!(
        r#"
#[allow(dead_code, unused_imports, unused_mut, non_snake_case, clippy::all)]
mod __cw_{salt} {{
    use std::io::{{BufRead, BufReader, Read, Write}};
    pub trait Put {{ fn put(&self, o: &mut Vec<u8>); }}
    pub trait Get: Sized {{ fn get(r: &mut Reader) -> Option<Self>; }}
    pub struct Reader {{ pub inner: BufReader<std::fs::File> }}
    impl Reader {{
        fn byte(&mut self) -> Option<u8> {{
            let mut b = [0u8; 1];
            match self.inner.read(&mut b) {{ Ok(1) => Some(b[0]), _ => None }}
        }}
        /// A token and the byte that ended it (`None` at end of file before any byte).
        pub fn word(&mut self) -> Option<(String, u8)> {{
            let mut c = self.byte()?;
            while c == b' ' || c == b'\n' {{ c = self.byte()?; }}
            let mut w = Vec::new();
            loop {{
                if c == b' ' || c == b'\n' || c == b':' || w.len() > 64 {{ break; }}
                w.push(c);
                match self.byte() {{ Some(n) => c = n, None => {{ c = 0; break; }} }}
            }}
            Some((String::from_utf8(w).ok()?, c))
        }}
        fn number<T: std::str::FromStr>(&mut self) -> Option<T> {{
            let (w, end) = self.word()?;
            if end == b':' {{ return None; }}
            w.parse().ok()
        }}
        pub fn count(&mut self) -> Option<usize> {{ self.number::<usize>().filter(|n| *n <= 1 << 28) }}
        fn bits(&mut self, digits: usize) -> Option<u64> {{
            let (w, end) = self.word()?;
            if end == b':' || w.len() != digits {{ return None; }}
            u64::from_str_radix(&w, 16).ok()
        }}
        fn bytes(&mut self) -> Option<Vec<u8>> {{
            let (w, end) = self.word()?;
            let n: usize = w.parse().ok()?;
            if end != b':' || n > 1 << 30 {{ return None; }}
            let mut v = vec![0u8; n];
            self.inner.read_exact(&mut v).ok()?;
            (self.byte()? == b' ').then_some(v)
        }}
    }}
    macro_rules! ints {{ ($($t:ty),*) => {{ $(
        impl Put for $t {{ fn put(&self, o: &mut Vec<u8>) {{ o.extend_from_slice(self.to_string().as_bytes()); o.push(b' '); }} }}
        impl Get for $t {{ fn get(r: &mut Reader) -> Option<Self> {{ r.number() }} }}
    )* }} }}
    ints!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
    impl Put for f32 {{ fn put(&self, o: &mut Vec<u8>) {{ o.extend_from_slice(format!("{{:08x}} ", self.to_bits()).as_bytes()); }} }}
    impl Get for f32 {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(f32::from_bits(r.bits(8)? as u32)) }} }}
    impl Put for f64 {{ fn put(&self, o: &mut Vec<u8>) {{ o.extend_from_slice(format!("{{:016x}} ", self.to_bits()).as_bytes()); }} }}
    impl Get for f64 {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(f64::from_bits(r.bits(16)?)) }} }}
    impl Put for bool {{ fn put(&self, o: &mut Vec<u8>) {{ o.extend_from_slice(if *self {{ b"1 " }} else {{ b"0 " }}); }} }}
    impl Get for bool {{ fn get(r: &mut Reader) -> Option<Self> {{ match r.number::<u8>()? {{ 0 => Some(false), 1 => Some(true), _ => None }} }} }}
    impl Put for char {{ fn put(&self, o: &mut Vec<u8>) {{ (*self as u32).put(o) }} }}
    impl Get for char {{ fn get(r: &mut Reader) -> Option<Self> {{ char::from_u32(r.number()?) }} }}
    impl Put for () {{ fn put(&self, _: &mut Vec<u8>) {{}} }}
    impl Get for () {{ fn get(_: &mut Reader) -> Option<Self> {{ Some(()) }} }}
    impl Put for str {{ fn put(&self, o: &mut Vec<u8>) {{ o.extend_from_slice(format!("{{}}:", self.len()).as_bytes()); o.extend_from_slice(self.as_bytes()); o.push(b' '); }} }}
    impl Put for String {{ fn put(&self, o: &mut Vec<u8>) {{ self.as_str().put(o) }} }}
    impl Get for String {{ fn get(r: &mut Reader) -> Option<Self> {{ String::from_utf8(r.bytes()?).ok() }} }}
    impl<T: Put + ?Sized> Put for &T {{ fn put(&self, o: &mut Vec<u8>) {{ (**self).put(o) }} }}
    impl<T: Put + ?Sized> Put for &mut T {{ fn put(&self, o: &mut Vec<u8>) {{ (**self).put(o) }} }}
    impl Get for &'static str {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(Box::leak(String::get(r)?.into_boxed_str())) }} }}
    impl<T: Get + 'static> Get for &'static [T] {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(Box::leak(Vec::<T>::get(r)?.into_boxed_slice())) }} }}
    impl<T: Get + 'static> Get for &'static T {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(Box::leak(Box::new(T::get(r)?))) }} }}
    impl<T: Put> Put for [T] {{ fn put(&self, o: &mut Vec<u8>) {{ self.len().put(o); for x in self {{ x.put(o); }} }} }}
    impl<T: Put> Put for Vec<T> {{ fn put(&self, o: &mut Vec<u8>) {{ self.as_slice().put(o) }} }}
    impl<T: Get> Get for Vec<T> {{ fn get(r: &mut Reader) -> Option<Self> {{ let n = r.count()?; let mut v = Vec::new(); for _ in 0..n {{ v.push(T::get(r)?); }} Some(v) }} }}
    impl<T: Put> Put for Option<T> {{ fn put(&self, o: &mut Vec<u8>) {{ match self {{ Some(x) => {{ o.extend_from_slice(b"1 "); x.put(o) }} None => o.extend_from_slice(b"0 ") }} }} }}
    impl<T: Get> Get for Option<T> {{ fn get(r: &mut Reader) -> Option<Self> {{ match r.number::<u8>()? {{ 0 => Some(None), 1 => Some(Some(T::get(r)?)), _ => None }} }} }}
    macro_rules! tuples {{ ($(($($n:ident),+)),*) => {{ $(
        impl<$($n: Put),+> Put for ($($n,)+) {{ #[allow(non_snake_case)] fn put(&self, o: &mut Vec<u8>) {{ let ($($n,)+) = self; $($n.put(o);)+ }} }}
        impl<$($n: Get),+> Get for ($($n,)+) {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(($($n::get(r)?,)+)) }} }}
    )* }} }}
    tuples!((A), (A, B), (A, B, C), (A, B, C, D), (A, B, C, D, E), (A, B, C, D, E, F), (A, B, C, D, E, F, G), (A, B, C, D, E, F, G, H));
    impl<K: Put, V: Put, S> Put for std::collections::HashMap<K, V, S> {{ fn put(&self, o: &mut Vec<u8>) {{ self.len().put(o); for (k, v) in self {{ k.put(o); v.put(o); }} }} }}
    impl<K: Get + Eq + std::hash::Hash, V: Get> Get for std::collections::HashMap<K, V> {{ fn get(r: &mut Reader) -> Option<Self> {{ let n = r.count()?; let mut m = Self::new(); for _ in 0..n {{ let k = K::get(r)?; let v = V::get(r)?; m.insert(k, v); }} Some(m) }} }}
    impl<K: Put, V: Put> Put for std::collections::BTreeMap<K, V> {{ fn put(&self, o: &mut Vec<u8>) {{ self.len().put(o); for (k, v) in self {{ k.put(o); v.put(o); }} }} }}
    impl<K: Get + Ord, V: Get> Get for std::collections::BTreeMap<K, V> {{ fn get(r: &mut Reader) -> Option<Self> {{ let n = r.count()?; let mut m = Self::new(); for _ in 0..n {{ let k = K::get(r)?; let v = V::get(r)?; m.insert(k, v); }} Some(m) }} }}
    impl<T: Put, S> Put for std::collections::HashSet<T, S> {{ fn put(&self, o: &mut Vec<u8>) {{ self.len().put(o); for x in self {{ x.put(o); }} }} }}
    impl<T: Get + Eq + std::hash::Hash> Get for std::collections::HashSet<T> {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(Vec::<T>::get(r)?.into_iter().collect()) }} }}
    impl<T: Put> Put for std::collections::BTreeSet<T> {{ fn put(&self, o: &mut Vec<u8>) {{ self.len().put(o); for x in self {{ x.put(o); }} }} }}
    impl<T: Get + Ord> Get for std::collections::BTreeSet<T> {{ fn get(r: &mut Reader) -> Option<Self> {{ Some(Vec::<T>::get(r)?.into_iter().collect()) }} }}
    pub fn open(fd: i32) -> std::fs::File {{
        use std::os::unix::io::FromRawFd;
        // SAFETY: the executor passes this descriptor to this process for the channel alone.
        unsafe {{ std::fs::File::from_raw_fd(fd) }}
    }}
    pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {{
        if let Some(s) = payload.downcast_ref::<&str>() {{ s.to_string() }}
        else if let Some(s) = payload.downcast_ref::<String>() {{ s.clone() }}
        else {{ String::from("panic") }}
    }}
}}
"#
    )
}

/// The driver's half of the channel: send a call, read the reply (a panic ends the test).
fn driver_channel(salt: &str) -> String {
    format!(
        r#"
#[allow(dead_code, non_snake_case)]
mod __cwd_{salt} {{
    use super::__cw_{salt}::{{Get, Put, Reader}};
    use std::io::Write;
    static CHANNEL: std::sync::Mutex<Option<(std::fs::File, Reader)>> = std::sync::Mutex::new(None);
    /// Send a call (`message` holds the encoded arguments) and decode the reply.
    pub fn call<R: Get>(index: usize, name: &str, arguments: Vec<u8>, back: &mut dyn FnMut(&mut Reader) -> Option<()>) -> R {{
        let mut guard = CHANNEL.lock().unwrap_or_else(|e| e.into_inner());
        let (out, input) = guard.get_or_insert_with(|| (super::__cw_{salt}::open({DRIVER_OUT_FD}), Reader {{ inner: std::io::BufReader::new(super::__cw_{salt}::open({DRIVER_IN_FD})) }}));
        let mut message = Vec::new();
        index.put(&mut message);
        message.extend_from_slice(&arguments);
        message.push(b'\n');
        if out.write_all(&message).and_then(|_| out.flush()).is_err() {{ gone(name) }}
        let Some((status, _)) = input.word() else {{ gone(name) }};
        match status.as_str() {{
            "R" => {{}}
            "E" => {{
                let Some(text) = String::get(input) else {{ malformed(name) }};
                drop(guard);
                panic!("{{text}}");
            }}
            _ => malformed(name),
        }}
        let Some(value) = R::get(input) else {{ malformed(name) }};
        if back(input).is_none() {{ malformed(name) }}
        value
    }}
    fn gone(name: &str) -> ! {{ panic!("the program exited or crashed during a call to {{name}}()") }}
    fn malformed(name: &str) -> ! {{ panic!("the program sent a malformed reply to {{name}}()") }}
}}
"#
    )
}

/// A driver function with the program's signature that sends its arguments to the subject.
fn proxy(salt: &str, index: usize, signature: &Signature) -> String {
    let params: Vec<String> = signature
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| format!("__cw_a{i}: {}", render(p, false)))
        .collect();
    let args: String = (0..signature.params.len())
        .map(|i| format!("__cw_{salt}::Put::put(&__cw_a{i}, &mut __cw_args); "))
        .collect();
    let mut back = String::new();
    for (i, param) in signature.params.iter().enumerate() {
        if let RTy::Ref { mutable: true, to } = param {
            let _ = write!(
                back,
                "*__cw_a{i} = <{} as __cw_{salt}::Get>::get(r)?; ",
                render(to, true)
            );
        }
    }
    let ret = render(&signature.ret, true);
    format!(
        "#[allow(unused_mut, unused_variables)]\nfn {name}({params}) -> {ret} {{\n    let mut __cw_args = Vec::new();\n    {args}\n    let mut __cw_back = |r: &mut __cw_{salt}::Reader| -> Option<()> {{ {back}Some(()) }};\n    __cwd_{salt}::call::<{ret}>({index}, \"{name}\", __cw_args, &mut __cw_back)\n}}\n",
        name = signature.name,
        params = params.join(", "),
    )
}

/// The subject: the program, then the wire module and a server `main`.
fn subject(program: &str, salt: &str, wire: &str, signatures: &[Signature]) -> Combined {
    let mut arms = String::new();
    for (index, signature) in signatures.iter().enumerate() {
        let mut decode = String::new();
        let mut args = Vec::new();
        let mut back = String::new();
        for (i, param) in signature.params.iter().enumerate() {
            match param {
                RTy::Ref { mutable: true, to } => {
                    let _ = write!(
                        decode,
                        "let mut __cw_a{i}: {} = __cw_srv.arg(); ",
                        render(to, true)
                    );
                    args.push(format!("&mut __cw_a{i}"));
                    let _ = write!(back, "__cw_{salt}::Put::put(&__cw_a{i}, &mut __cw_out); ");
                }
                other => {
                    let _ = write!(
                        decode,
                        "let __cw_a{i}: {} = __cw_srv.arg(); ",
                        render(other, true)
                    );
                    args.push(format!("__cw_a{i}"));
                }
            }
        }
        let _ = writeln!(
            arms,
            "            {index} => {{ {decode}let __cw_r = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {name}({args}))); match __cw_r {{ Ok(v) => {{ let mut __cw_out = b\"R \".to_vec(); __cw_{salt}::Put::put(&v, &mut __cw_out); {back}__cw_srv.send(__cw_out) }} Err(p) => __cw_srv.error(&__cw_{salt}::panic_text(&*p)) }} }}",
            name = signature.name,
            args = args.join(", "),
        );
    }
    let server = format!(
        r#"
// ---- crucible subject server ----
#[allow(dead_code, non_snake_case)]
struct __CwServer_{salt} {{ input: __cw_{salt}::Reader, out: ::std::fs::File }}
#[allow(dead_code, non_snake_case)]
impl __CwServer_{salt} {{
    fn arg<T: __cw_{salt}::Get>(&mut self) -> T {{
        match T::get(&mut self.input) {{ Some(v) => v, None => ::std::process::exit(70) }}
    }}
    fn send(&mut self, mut bytes: Vec<u8>) {{
        use ::std::io::Write;
        bytes.push(b'\n');
        if self.out.write_all(&bytes).and_then(|_| self.out.flush()).is_err() {{ ::std::process::exit(0) }}
    }}
    fn error(&mut self, text: &str) {{
        let mut bytes = b"E ".to_vec();
        __cw_{salt}::Put::put(text, &mut bytes);
        self.send(bytes)
    }}
}}
fn main() {{
    let mut __cw_srv = __CwServer_{salt} {{
        input: __cw_{salt}::Reader {{ inner: ::std::io::BufReader::new(__cw_{salt}::open({SUBJECT_IN_FD})) }},
        out: __cw_{salt}::open({SUBJECT_OUT_FD}),
    }};
    loop {{
        let Some((__cw_word, _)) = __cw_srv.input.word() else {{ return }};
        let Ok(__cw_index) = __cw_word.parse::<usize>() else {{ ::std::process::exit(70) }};
        match __cw_index {{
{arms}            _ => ::std::process::exit(70),
        }}
    }}
}}
"#
    );
    Combined {
        files: vec![("main.rs".into(), format!("{program}\n{wire}{server}"))],
        main_class: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(src: &str) -> std::result::Result<Signature, String> {
        definitions(src).functions.into_values().next().unwrap()
    }

    #[test]
    fn signatures_are_parsed() {
        let s = sig("pub fn f<'a>(x: &'a str, v: Vec<(isize, String)>, m: &mut Vec<i32>) -> Option<HashMap<char, f64>> { None }").unwrap();
        assert_eq!(render(&s.params[0], false), "&str");
        assert_eq!(render(&s.params[1], false), "Vec<(isize, String)>");
        assert_eq!(render(&s.params[2], true), "&'static mut Vec<i32>");
        assert_eq!(
            render(&s.ret, true),
            "Option<::std::collections::HashMap<char, f64>>"
        );
        assert_eq!(sig("fn g<T: Ord>(x: T) {}").unwrap_err(), "is generic");
        assert_eq!(
            sig("fn g(x: &dyn Any) -> i32 { 0 }").unwrap_err(),
            "takes `&dyn Any`"
        );
        assert_eq!(sig("fn h() {}").unwrap().ret, RTy::Unit);
    }

    #[test]
    fn items_and_imports() {
        let src = "use std::collections::HashMap;\nuse crate::x;\nconst N: usize = 3;\nstruct P { x: i32 }\n#[derive(Debug)]\nenum E { A }\nfn f(x: i32) -> i32 { x }\nimpl P { fn g(&self) {} }\nmacro_rules! m { () => {} }\n";
        let defs = definitions(src);
        assert_eq!(defs.functions.keys().collect::<Vec<_>>(), vec!["f"]);
        for name in ["N", "P", "E", "m"] {
            assert!(defs.others.contains(name), "{name}: {defs:?}");
        }
        assert_eq!(
            defs.imports,
            vec!["#[allow(unused_imports)]\nuse std::collections::HashMap;".to_owned()]
        );
    }
}
