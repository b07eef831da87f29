//! Java: reading the methods the tests call on the program's classes (`new Solution().f(..)`),
//! and generating the driver's proxy classes, the subject's server class and the wire codecs.
//!
//! References may be `null` on the wire (`~`). A `List`, `Set` or `Map` is rebuilt as the
//! declared class when it is concrete (`ArrayList`, `TreeMap` ...) and otherwise as an
//! `ArrayList`, `LinkedHashSet` or `LinkedHashMap` (keeping the sender's iteration order).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crucible_types::Language;

use super::scan::{self, Syntax};
use super::{DRIVER_IN_FD, DRIVER_OUT_FD, Plan, SUBJECT_IN_FD, SUBJECT_OUT_FD, SplitProgram};
use crate::Result;
use crate::harness::{self, Combined};

/// A type that can cross between the processes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JTy {
    Void,
    /// `int`, `long`, `short`, `byte`, `double`, `float`, `boolean`, `char`.
    Primitive(&'static str),
    /// `Integer`, `Long`, ... and `String`.
    Boxed(&'static str),
    /// A collection class (`List`, `ArrayList`, `Set`, `TreeSet` ...) and its element.
    Collection(&'static str, Box<JTy>),
    Map(&'static str, Box<JTy>, Box<JTy>),
    Optional(Box<JTy>),
    Array(Box<JTy>),
}

const PRIMITIVES: &[(&str, &str)] = &[
    ("int", "Integer"),
    ("long", "Long"),
    ("short", "Short"),
    ("byte", "Byte"),
    ("double", "Double"),
    ("float", "Float"),
    ("boolean", "Boolean"),
    ("char", "Character"),
];

const COLLECTIONS: &[(&str, &str)] = &[
    ("List", "ArrayList"),
    ("ArrayList", "ArrayList"),
    ("LinkedList", "LinkedList"),
    ("Collection", "ArrayList"),
    ("Set", "LinkedHashSet"),
    ("HashSet", "HashSet"),
    ("LinkedHashSet", "LinkedHashSet"),
    ("TreeSet", "TreeSet"),
];

const MAPS: &[(&str, &str)] = &[
    ("Map", "LinkedHashMap"),
    ("HashMap", "HashMap"),
    ("LinkedHashMap", "LinkedHashMap"),
    ("TreeMap", "TreeMap"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Method {
    class: String,
    name: String,
    is_static: bool,
    params: Vec<JTy>,
    ret: JTy,
}

#[derive(Debug, Default)]
struct Definitions {
    /// Top-level classes and, per method name, each overload (or why it cannot be carried).
    classes: BTreeMap<String, BTreeMap<String, Vec<std::result::Result<Method, String>>>>,
    /// Other top-level types (interfaces, enums, records).
    others: BTreeSet<String>,
    imports: Vec<String>,
}

/// Plan a split run for a Java program and its appended test code.
pub(super) fn plan(program: &str, tests: &str, salt: &str) -> Result<Plan> {
    let program_defs = definitions(program);
    let test_defs = definitions(tests);
    let used = scan::identifier_set(&scan::blank(tests, Syntax::Java));
    let mut methods = Vec::new();
    let mut classes = Vec::new();
    for name in &used {
        if test_defs.classes.contains_key(name) || test_defs.others.contains(name) {
            continue;
        }
        if program_defs.others.contains(name) {
            return Ok(Plan::in_process(format!(
                "the tests use the program's `{name}`, which is not a class with methods"
            )));
        }
        let Some(class) = program_defs.classes.get(name) else {
            continue;
        };
        classes.push(name.clone());
        for (method, overloads) in class {
            if !used.contains(method) {
                continue;
            }
            if overloads.len() > 1 {
                return Ok(Plan::in_process(format!("`{name}.{method}` is overloaded")));
            }
            match &overloads[0] {
                Ok(m) => methods.push(m.clone()),
                Err(why) => {
                    return Ok(Plan::in_process(format!(
                        "`{name}.{method}` {why}: its calls cannot be sent to another process"
                    )));
                }
            }
        }
    }
    let wire = wire(salt);
    let mut driver_program = program_defs.imports.join("\n");
    driver_program.push('\n');
    for class in &classes {
        let _ = writeln!(driver_program, "class {class} {{");
        for (index, method) in methods.iter().enumerate() {
            if &method.class == class {
                driver_program.push_str(&proxy(salt, index, method));
            }
        }
        driver_program.push_str("}\n");
    }
    driver_program.push_str(&wire);
    let driver = harness::combine(Language::Java, &driver_program, tests, salt)?;
    let subject = subject(program, salt, &wire, &methods);
    Ok(Plan::Split(Box::new(SplitProgram {
        subject,
        driver,
        functions: methods
            .iter()
            .map(|m| format!("{}.{}", m.class, m.name))
            .collect(),
    })))
}

/// Top-level types, the methods of classes, and `import` lines of Java source.
fn definitions(src: &str) -> Definitions {
    let mut defs = Definitions::default();
    for line in src.lines() {
        let trimmed = line.trim();
        let plain = trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.*; ".contains(&b));
        let path = trimmed.strip_prefix("import ").map(|r| {
            r.trim_start()
                .strip_prefix("static ")
                .unwrap_or(r)
                .trim_start()
        });
        if plain
            && trimmed.ends_with(';')
            && path.is_some_and(|p| p.starts_with("java.") || p.starts_with("javax."))
        {
            defs.imports.push(trimmed.to_owned());
        }
    }
    let code = scan::blank(src, Syntax::Java);
    let b = code.as_bytes();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        match b[i] {
            b'{' => {
                let close = scan::matching(&code, i).unwrap_or(b.len() - 1);
                let head = &code[start..i];
                let words: Vec<&str> = scan::identifiers(head)
                    .into_iter()
                    .map(|(_, w)| w)
                    .collect();
                let kind = words
                    .iter()
                    .position(|w| matches!(*w, "class" | "interface" | "enum" | "record"));
                if let Some(k) = kind
                    && let Some(name) = words.get(k + 1)
                {
                    if words[k] == "class" {
                        let methods = class_methods(name, &code[i + 1..close]);
                        defs.classes.insert((*name).to_owned(), methods);
                    } else {
                        defs.others.insert((*name).to_owned());
                    }
                }
                i = close + 1;
                start = i;
                continue;
            }
            b';' => start = i + 1,
            _ => {}
        }
        i += 1;
    }
    defs
}

/// Methods declared directly in a class body (blanked text between its braces).
fn class_methods(
    class: &str,
    body: &str,
) -> BTreeMap<String, Vec<std::result::Result<Method, String>>> {
    let mut methods: BTreeMap<String, Vec<_>> = BTreeMap::new();
    let b = body.as_bytes();
    let mut i = 0;
    let mut start = 0;
    let mut paren = 0usize;
    while i < b.len() {
        match b[i] {
            b'(' => paren += 1,
            b')' => paren = paren.saturating_sub(1),
            b'{' if paren == 0 => {
                let close = scan::matching(body, i).unwrap_or(b.len() - 1);
                let head = body[start..i].trim();
                if let Some((name, method)) = parse_method(class, head) {
                    methods.entry(name).or_default().push(method);
                }
                i = close + 1;
                start = i;
                continue;
            }
            b';' | b'}' if paren == 0 => start = i + 1,
            _ => {}
        }
        i += 1;
    }
    methods
}

/// A method header (`public static int f(int a) throws X`); `None` for anything else
/// (constructors, initialisers, nested types, private methods).
fn parse_method(class: &str, head: &str) -> Option<(String, std::result::Result<Method, String>)> {
    let open = head.find('(')?;
    let close = scan::matching(head, open)?;
    let (name_at, name) = scan::ident_before(head, open)?;
    let mut before = head[..name_at].trim().to_owned();
    // Annotations: `@Override`, `@SuppressWarnings("x")`.
    while let Some(at) = before.find('@') {
        let end = before[at + 1..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .map_or(before.len(), |e| at + 1 + e);
        let end = if before[end..].trim_start().starts_with('(') {
            let p = end + before[end..].find('(').unwrap_or(0);
            scan::matching(&before, p).map_or(before.len(), |c| c + 1)
        } else {
            end
        };
        before.replace_range(at..end, " ");
    }
    let mut is_static = false;
    let mut rest = before.trim();
    loop {
        let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        match word {
            "private" | "class" | "interface" | "enum" | "record" | "new" | "return" => {
                return None;
            }
            "public" | "protected" | "final" | "synchronized" | "abstract" | "native"
            | "strictfp" | "default" => rest = tail.trim_start(),
            "static" => {
                is_static = true;
                rest = tail.trim_start();
            }
            _ => break,
        }
    }
    if rest.is_empty() || name == class {
        // A constructor, or not a declaration.
        return None;
    }
    let trailer = head[close + 1..].trim();
    if !(trailer.is_empty() || trailer.starts_with("throws ")) {
        return None;
    }
    let method = (|| {
        if rest.starts_with('<') {
            return Err("is generic".to_owned());
        }
        let ret = parse_type(rest).ok_or_else(|| format!("returns `{rest}`"))?;
        let mut params = Vec::new();
        for param in scan::split_top(&head[open + 1..close], b',') {
            let param = param.trim().trim_start_matches("final ").trim();
            let (ty, _) = param
                .rsplit_once(char::is_whitespace)
                .unwrap_or((param, ""));
            let ty = ty.trim();
            if ty.contains("...") {
                return Err(format!("takes `{param}`"));
            }
            let parsed = parse_type(ty).filter(|t| *t != JTy::Void);
            params.push(parsed.ok_or_else(|| format!("takes `{ty}`"))?);
        }
        Ok(Method {
            class: class.to_owned(),
            name: name.to_owned(),
            is_static,
            params,
            ret,
        })
    })();
    Some((name.to_owned(), method))
}

fn parse_type(text: &str) -> Option<JTy> {
    let text: String = text.split_whitespace().collect::<Vec<_>>().join("");
    parse_compact(&text)
}

fn parse_compact(text: &str) -> Option<JTy> {
    if let Some(inner) = text.strip_suffix("[]") {
        // Arrays of generic types cannot be created (`new List<Integer>[n]`).
        let elem = parse_compact(inner)?;
        let reifiable = matches!(elem, JTy::Primitive(_) | JTy::Boxed(_) | JTy::Array(_))
            && !matches!(&elem, JTy::Array(t) if !matches!(**t, JTy::Primitive(_) | JTy::Boxed(_)));
        return reifiable.then(|| JTy::Array(Box::new(elem)));
    }
    let text = text.strip_prefix("java.util.").unwrap_or(text);
    let text = text.strip_prefix("java.lang.").unwrap_or(text);
    if text == "void" {
        return Some(JTy::Void);
    }
    if let Some((p, _)) = PRIMITIVES.iter().find(|(p, _)| *p == text) {
        return Some(JTy::Primitive(p));
    }
    if let Some((_, b)) = PRIMITIVES.iter().find(|(_, b)| *b == text) {
        return Some(JTy::Boxed(b));
    }
    if text == "String" {
        return Some(JTy::Boxed("String"));
    }
    let open = text.find('<')?;
    let inner = text.strip_suffix('>')?.get(open + 1..)?;
    let name = &text[..open];
    let args: Vec<JTy> = scan::split_top(inner, b',')
        .into_iter()
        .map(parse_compact)
        .collect::<Option<_>>()?;
    let reference = |t: &JTy| !matches!(t, JTy::Primitive(_) | JTy::Void);
    if !args.iter().all(reference) {
        return None;
    }
    let mut args = args.into_iter();
    if let Some((c, _)) = COLLECTIONS.iter().find(|(c, _)| *c == name) {
        if args.len() != 1 {
            return None;
        }
        return Some(JTy::Collection(c, Box::new(args.next()?)));
    }
    if let Some((m, _)) = MAPS.iter().find(|(m, _)| *m == name) {
        if args.len() != 2 {
            return None;
        }
        return Some(JTy::Map(m, Box::new(args.next()?), Box::new(args.next()?)));
    }
    if name != "Optional" || args.len() != 1 {
        return None;
    }
    Some(JTy::Optional(Box::new(args.next()?)))
}

/// The Java spelling of a type.
fn render(ty: &JTy) -> String {
    match ty {
        JTy::Void => "void".into(),
        JTy::Primitive(p) | JTy::Boxed(p) => (*p).to_owned(),
        JTy::Collection(c, t) => format!("java.util.{c}<{}>", render(t)),
        JTy::Map(m, k, v) => format!("java.util.{m}<{}, {}>", render(k), render(v)),
        JTy::Optional(t) => format!("java.util.Optional<{}>", render(t)),
        JTy::Array(t) => format!("{}[]", render(t)),
    }
}

/// An expression for the codec of a type (class `Cw<salt>`).
fn codec(salt: &str, ty: &JTy) -> String {
    let cw = format!("Cw{salt}");
    match ty {
        JTy::Void => format!("{cw}.VOID"),
        JTy::Primitive(p) => {
            let boxed = PRIMITIVES
                .iter()
                .find(|(q, _)| q == p)
                .map_or("Integer", |(_, b)| *b);
            format!("{cw}.{}", boxed.to_uppercase())
        }
        JTy::Boxed(b) => format!("{cw}.{}", b.to_uppercase()),
        JTy::Collection(c, t) => {
            let concrete = COLLECTIONS
                .iter()
                .find(|(d, _)| d == c)
                .map_or("ArrayList", |(_, k)| *k);
            format!(
                "{cw}.collection({}, java.util.{concrete}<{}>::new)",
                codec(salt, t),
                render(t)
            )
        }
        JTy::Map(m, k, v) => {
            let concrete = MAPS
                .iter()
                .find(|(d, _)| d == m)
                .map_or("LinkedHashMap", |(_, k)| *k);
            format!(
                "{cw}.map({}, {}, java.util.{concrete}<{}, {}>::new)",
                codec(salt, k),
                codec(salt, v),
                render(k),
                render(v)
            )
        }
        JTy::Optional(t) => format!("{cw}.<{}>optional({})", render(t), codec(salt, t)),
        JTy::Array(t) => match t.as_ref() {
            JTy::Primitive(p) => format!("{cw}.{}_ARRAY", p.to_uppercase()),
            other => format!(
                "{cw}.<{}>array({}, {}[]::new)",
                render(other),
                codec(salt, other),
                render(other)
            ),
        },
    }
}

/// A driver method with the program's signature that sends its arguments to the subject.
fn proxy(salt: &str, index: usize, method: &Method) -> String {
    let params: Vec<String> = method
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{} a{i}", render(t)))
        .collect();
    let mut body = format!(
        "        Cw{salt}.Call c = Cw{salt}.begin({index}, \"{}\");\n",
        method.name
    );
    for (i, param) in method.params.iter().enumerate() {
        let _ = writeln!(body, "        {}.put(c.out, a{i});", codec(salt, param));
    }
    let _ = writeln!(body, "        Cw{salt}.Reader r = c.send();");
    if method.ret == JTy::Void {
        let _ = writeln!(body, "        c.end(r);");
    } else {
        let _ = writeln!(
            body,
            "        {} v = {}.get(r);\n        c.end(r);\n        return v;",
            render(&method.ret),
            codec(salt, &method.ret)
        );
    }
    format!(
        "    public {}{} {}({}) {{\n{body}    }}\n",
        if method.is_static { "static " } else { "" },
        render(&method.ret),
        method.name,
        params.join(", ")
    )
}

/// The wire codecs and the driver's channel (class `Cw<salt>`).
fn wire(salt: &str) -> String {
    format!(
        r#"
@SuppressWarnings({{"unchecked", "rawtypes"}})
final class Cw{salt} {{
    static final class Reader {{
        final java.io.InputStream in;
        boolean ok = true;
        int end;
        Reader(java.io.InputStream in) {{ this.in = new java.io.BufferedInputStream(in); }}
        int read() {{ try {{ return in.read(); }} catch (java.io.IOException e) {{ return -1; }} }}
        /** A token (null at end of file before any byte); `end` is the byte that ended it. */
        String word() {{
            int c = read();
            while (c == ' ' || c == '\n') c = read();
            if (c < 0) {{ end = -1; return null; }}
            StringBuilder w = new StringBuilder();
            while (c >= 0 && c != ' ' && c != '\n' && c != ':' && w.length() <= 64) {{ w.append((char) c); c = read(); }}
            end = c;
            return w.toString();
        }}
        String token() {{ String w = word(); if (w == null || end == ':') {{ ok = false; return "0"; }} return w; }}
        long integer(long lo, long hi) {{
            try {{ long v = Long.parseLong(token()); if (v < lo || v > hi) ok = false; return v; }}
            catch (NumberFormatException e) {{ ok = false; return 0; }}
        }}
        int count() {{ return (int) integer(0, 1 << 28); }}
    }}
    static abstract class Codec<T> {{
        abstract void write(java.io.ByteArrayOutputStream o, T v);
        abstract T read(Reader r, String first);
        final void put(java.io.ByteArrayOutputStream o, Object v) {{ if (v == null) text(o, "~ "); else write(o, (T) v); }}
        final T get(Reader r) {{
            if (!r.ok) return null;
            String first = r.word();
            if (first == null) {{ r.ok = false; return null; }}
            if (first.equals("~") && r.end != ':') return null;
            return read(r, first);
        }}
    }}
    static void text(java.io.ByteArrayOutputStream o, String s) {{ byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8); o.write(b, 0, b.length); }}
    static long number(Reader r, String first, long lo, long hi) {{
        try {{ long v = Long.parseLong(first); if (r.end == ':' || v < lo || v > hi) r.ok = false; return v; }}
        catch (NumberFormatException e) {{ r.ok = false; return 0; }}
    }}
    static <T> Codec<T> integral(long lo, long hi, java.util.function.LongFunction<T> make) {{
        return new Codec<T>() {{
            void write(java.io.ByteArrayOutputStream o, T v) {{ text(o, (v instanceof Character ? (long) (Character) v : ((Number) v).longValue()) + " "); }}
            T read(Reader r, String first) {{ return make.apply(number(r, first, lo, hi)); }}
        }};
    }}
    static final Codec<Integer> INTEGER = integral(Integer.MIN_VALUE, Integer.MAX_VALUE, v -> (int) v);
    static final Codec<Long> LONG = integral(Long.MIN_VALUE, Long.MAX_VALUE, v -> v);
    static final Codec<Short> SHORT = integral(Short.MIN_VALUE, Short.MAX_VALUE, v -> (short) v);
    static final Codec<Byte> BYTE = integral(Byte.MIN_VALUE, Byte.MAX_VALUE, v -> (byte) v);
    static final Codec<Character> CHARACTER = integral(0, 65535, v -> (char) v);
    static final Codec<Boolean> BOOLEAN = new Codec<Boolean>() {{
        void write(java.io.ByteArrayOutputStream o, Boolean v) {{ text(o, v ? "1 " : "0 "); }}
        Boolean read(Reader r, String first) {{ return number(r, first, 0, 1) == 1; }}
    }};
    static long bits(Reader r, String first, int digits) {{
        if (r.end == ':' || first.length() != digits) {{ r.ok = false; return 0; }}
        try {{ return Long.parseUnsignedLong(first, 16); }} catch (NumberFormatException e) {{ r.ok = false; return 0; }}
    }}
    static final Codec<Double> DOUBLE = new Codec<Double>() {{
        void write(java.io.ByteArrayOutputStream o, Double v) {{ text(o, String.format("%016x ", Double.doubleToRawLongBits(v))); }}
        Double read(Reader r, String first) {{ return Double.longBitsToDouble(bits(r, first, 16)); }}
    }};
    static final Codec<Float> FLOAT = new Codec<Float>() {{
        void write(java.io.ByteArrayOutputStream o, Float v) {{ text(o, String.format("%08x ", Float.floatToRawIntBits(v))); }}
        Float read(Reader r, String first) {{ return Float.intBitsToFloat((int) bits(r, first, 8)); }}
    }};
    static final Codec<String> STRING = new Codec<String>() {{
        void write(java.io.ByteArrayOutputStream o, String v) {{
            byte[] b = v.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            text(o, b.length + ":");
            o.write(b, 0, b.length);
            o.write(' ');
        }}
        String read(Reader r, String first) {{
            long n;
            try {{ n = Long.parseLong(first); }} catch (NumberFormatException e) {{ n = -1; }}
            if (r.end != ':' || n < 0 || n > (1 << 30)) {{ r.ok = false; return ""; }}
            try {{
                byte[] b = r.in.readNBytes((int) n);
                if (b.length != n || r.read() != ' ') r.ok = false;
                return new String(b, java.nio.charset.StandardCharsets.UTF_8);
            }} catch (java.io.IOException e) {{ r.ok = false; return ""; }}
        }}
    }};
    static final Codec<Object> VOID = new Codec<Object>() {{
        void write(java.io.ByteArrayOutputStream o, Object v) {{}}
        Object read(Reader r, String first) {{ return null; }}
    }};
    static <E, C extends java.util.Collection<E>> Codec<C> collection(Codec<? extends E> elem, java.util.function.Supplier<C> make) {{
        return new Codec<C>() {{
            void write(java.io.ByteArrayOutputStream o, C v) {{ text(o, v.size() + " "); for (E x : v) elem.put(o, x); }}
            C read(Reader r, String first) {{
                long n = number(r, first, 0, 1 << 28);
                C c = make.get();
                for (long i = 0; i < n && r.ok; i++) c.add(elem.get(r));
                return c;
            }}
        }};
    }}
    static <K, V, M extends java.util.Map<K, V>> Codec<M> map(Codec<? extends K> key, Codec<? extends V> value, java.util.function.Supplier<M> make) {{
        return new Codec<M>() {{
            void write(java.io.ByteArrayOutputStream o, M v) {{ text(o, v.size() + " "); for (java.util.Map.Entry<K, V> e : v.entrySet()) {{ key.put(o, e.getKey()); value.put(o, e.getValue()); }} }}
            M read(Reader r, String first) {{
                long n = number(r, first, 0, 1 << 28);
                M m = make.get();
                for (long i = 0; i < n && r.ok; i++) {{ K k = key.get(r); m.put(k, value.get(r)); }}
                return m;
            }}
        }};
    }}
    static <T> Codec<java.util.Optional<T>> optional(Codec<? extends T> inner) {{
        return new Codec<java.util.Optional<T>>() {{
            void write(java.io.ByteArrayOutputStream o, java.util.Optional<T> v) {{ if (v.isPresent()) {{ text(o, "1 "); inner.put(o, v.get()); }} else text(o, "0 "); }}
            java.util.Optional<T> read(Reader r, String first) {{ return number(r, first, 0, 1) == 1 ? java.util.Optional.ofNullable(inner.get(r)) : java.util.Optional.empty(); }}
        }};
    }}
    static <T> Codec<T[]> array(Codec<? extends T> elem, java.util.function.IntFunction<T[]> make) {{
        return new Codec<T[]>() {{
            void write(java.io.ByteArrayOutputStream o, T[] v) {{ text(o, v.length + " "); for (T x : v) elem.put(o, x); }}
            T[] read(Reader r, String first) {{
                long n = number(r, first, 0, 1 << 28);
                java.util.ArrayList<T> items = new java.util.ArrayList<>();
                for (long i = 0; i < n && r.ok; i++) items.add(elem.get(r));
                return items.toArray(make.apply(0));
            }}
        }};
    }}
    static <P> Codec<P> primitives(Codec<?> elem, java.util.function.IntFunction<P> make, java.util.function.BiConsumer<P, Object[]> fill, java.util.function.Function<P, Object[]> items) {{
        Codec<Object[]> boxed = array((Codec<Object>) elem, Object[]::new);
        return new Codec<P>() {{
            void write(java.io.ByteArrayOutputStream o, P v) {{ boxed.write(o, items.apply(v)); }}
            P read(Reader r, String first) {{ Object[] xs = boxed.read(r, first); P p = make.apply(xs.length); fill.accept(p, xs); return p; }}
        }};
    }}
    static final Codec<int[]> INT_ARRAY = primitives(INTEGER, int[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] == null ? 0 : (Integer) xs[i]; }}, p -> java.util.Arrays.stream(p).boxed().toArray());
    static final Codec<long[]> LONG_ARRAY = primitives(LONG, long[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] == null ? 0 : (Long) xs[i]; }}, p -> java.util.Arrays.stream(p).boxed().toArray());
    static final Codec<double[]> DOUBLE_ARRAY = primitives(DOUBLE, double[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] == null ? 0 : (Double) xs[i]; }}, p -> java.util.Arrays.stream(p).boxed().toArray());
    static final Codec<boolean[]> BOOLEAN_ARRAY = primitives(BOOLEAN, boolean[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] != null && (Boolean) xs[i]; }}, p -> {{ Object[] o = new Object[p.length]; for (int i = 0; i < p.length; i++) o[i] = p[i]; return o; }});
    static final Codec<char[]> CHAR_ARRAY = primitives(CHARACTER, char[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] == null ? 0 : (Character) xs[i]; }}, p -> {{ Object[] o = new Object[p.length]; for (int i = 0; i < p.length; i++) o[i] = p[i]; return o; }});
    static final Codec<float[]> FLOAT_ARRAY = primitives(FLOAT, float[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] == null ? 0 : (Float) xs[i]; }}, p -> {{ Object[] o = new Object[p.length]; for (int i = 0; i < p.length; i++) o[i] = p[i]; return o; }});
    static final Codec<short[]> SHORT_ARRAY = primitives(SHORT, short[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] == null ? 0 : (Short) xs[i]; }}, p -> {{ Object[] o = new Object[p.length]; for (int i = 0; i < p.length; i++) o[i] = p[i]; return o; }});
    static final Codec<byte[]> BYTE_ARRAY = primitives(BYTE, byte[]::new, (p, xs) -> {{ for (int i = 0; i < xs.length; i++) p[i] = xs[i] == null ? 0 : (Byte) xs[i]; }}, p -> {{ Object[] o = new Object[p.length]; for (int i = 0; i < p.length; i++) o[i] = p[i]; return o; }});

    /** A call being written by the driver. */
    static final class Call {{
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        final String name;
        Call(String name) {{ this.name = name; }}
        Reader send() {{
            out.write('\n');
            try {{
                if (channelOut == null) {{
                    channelOut = new java.io.FileOutputStream("/proc/self/fd/{DRIVER_OUT_FD}");
                    channelIn = new Reader(new java.io.FileInputStream("/proc/self/fd/{DRIVER_IN_FD}"));
                }}
                channelOut.write(out.toByteArray());
                channelOut.flush();
            }} catch (java.io.IOException e) {{
                throw new RuntimeException("the program exited or crashed during a call to " + name + "()");
            }}
            Reader r = channelIn;
            r.ok = true;
            String status = r.word();
            if (status == null) throw new RuntimeException("the program exited or crashed during a call to " + name + "()");
            if (status.equals("E")) {{
                String text = STRING.get(r);
                if (text != null && text.startsWith("java.lang.AssertionError")) throw new AssertionError(text);
                throw new RuntimeException(text);
            }}
            if (!status.equals("R")) throw new RuntimeException("the program sent a malformed reply to " + name + "()");
            return r;
        }}
        void end(Reader r) {{
            if (!r.ok) throw new RuntimeException("the program sent a malformed reply to " + name + "()");
        }}
    }}
    static java.io.OutputStream channelOut;
    static Reader channelIn;
    static Call begin(int index, String name) {{
        Call c = new Call(name);
        text(c.out, index + " ");
        return c;
    }}
}}
"#
    )
}

/// The subject: the program, the codecs and a server class whose `main` answers calls.
fn subject(program: &str, salt: &str, wire: &str, methods: &[Method]) -> Combined {
    let mut cases = String::new();
    let mut instances = BTreeSet::new();
    for (index, method) in methods.iter().enumerate() {
        let mut case = String::new();
        let mut args = Vec::new();
        for (i, param) in method.params.iter().enumerate() {
            let _ = write!(
                case,
                "{} a{i} = {}.get(in); ",
                render(param),
                codec(salt, param)
            );
            args.push(format!("a{i}"));
        }
        let _ = write!(case, "if (!in.ok) System.exit(70); ");
        let target = if method.is_static {
            method.class.clone()
        } else {
            instances.insert(method.class.clone());
            let var = format!("i_{}", method.class);
            let _ = write!(case, "if ({var} == null) {var} = new {}(); ", method.class);
            var
        };
        let call = format!("{target}.{}({})", method.name, args.join(", "));
        if method.ret == JTy::Void {
            let _ = write!(case, "{call}; Cw{salt}.text(o, \"R \");");
        } else {
            let _ = write!(
                case,
                "{} v = {call}; Cw{salt}.text(o, \"R \"); {}.put(o, v);",
                render(&method.ret),
                codec(salt, &method.ret)
            );
        }
        let _ = writeln!(
            cases,
            "                    case {index}: {{ {case} break; }}"
        );
    }
    let fields: String = instances
        .iter()
        .map(|c| format!("        {c} i_{c} = null;\n"))
        .collect();
    let server = format!(
        r#"
final class CwServer{salt} {{
    public static void main(String[] args) throws Exception {{
        Cw{salt}.Reader in = new Cw{salt}.Reader(new java.io.FileInputStream("/proc/self/fd/{SUBJECT_IN_FD}"));
        java.io.OutputStream out = new java.io.FileOutputStream("/proc/self/fd/{SUBJECT_OUT_FD}");
{fields}        for (;;) {{
            String w = in.word();
            if (w == null) break;
            int index;
            try {{ index = Integer.parseInt(w); }} catch (NumberFormatException e) {{ System.exit(70); return; }}
            java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
            try {{
                switch (index) {{
{cases}                    default: System.exit(70);
                }}
            }} catch (OutOfMemoryError e) {{
                // The heap is full: end as a program with its tests in-process would (the
                // executor reads the JVM's report as the memory limit), not as an error reply.
                throw e;
            }} catch (Throwable e) {{
                o.reset();
                Cw{salt}.text(o, "E ");
                Cw{salt}.STRING.put(o, String.valueOf(e));
            }}
            o.write('\n');
            try {{ out.write(o.toByteArray()); out.flush(); }} catch (java.io.IOException e) {{ break; }}
        }}
        System.out.flush();
        System.exit(0);
    }}
}}
"#
    );
    let public_class = program.find("public class ").map(|at| {
        program[at + 13..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<String>()
    });
    let file = match public_class.filter(|n| !n.is_empty()) {
        Some(name) => format!("{name}.java"),
        None => format!("CwServer{salt}.java"),
    };
    Combined {
        files: vec![(file, format!("{program}\n{wire}{server}"))],
        main_class: Some(format!("CwServer{salt}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_parsed() {
        let src = "import java.util.*;\nimport java.lang.*;\n\nclass Solution {\n    private int helper(int x) { return x; }\n    @Override\n    public String toString() { return \"\"; }\n    public List<Integer> f(List<Integer> xs, int k) throws Exception { return xs; }\n    public static Optional<String> g(String[] a, Map<String, List<Double>> m) { return Optional.empty(); }\n    public Object h(Object o) { return o; }\n    Solution() {}\n}\ninterface Shape {}\n";
        let defs = definitions(src);
        let class = &defs.classes["Solution"];
        assert!(!class.contains_key("helper"));
        let f = class["f"][0].as_ref().unwrap();
        assert_eq!(render(&f.params[0]), "java.util.List<Integer>");
        let g = class["g"][0].as_ref().unwrap();
        assert!(g.is_static);
        assert_eq!(
            render(&g.params[1]),
            "java.util.Map<String, java.util.List<Double>>"
        );
        assert_eq!(class["h"][0].as_ref().unwrap_err(), "returns `Object`");
        assert!(defs.others.contains("Shape"));
        assert_eq!(
            defs.imports,
            vec!["import java.util.*;", "import java.lang.*;"]
        );
    }
}
