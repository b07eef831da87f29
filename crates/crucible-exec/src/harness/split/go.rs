//! Go: reading the program's top-level `func` signatures, and generating the driver's proxies,
//! the subject's server `main` and the wire code (reflection over the declared types) for them.
//!
//! Nil slices and maps cross as `~`, so testify's `assert.Equal` (which tells `nil` from an
//! empty slice) sees what the program returned.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crucible_types::Language;

use super::scan::{self, Syntax};
use super::{DRIVER_IN_FD, DRIVER_OUT_FD, Plan, SUBJECT_IN_FD, SUBJECT_OUT_FD, SplitProgram};
use crate::Result;
use crate::harness::{self, Combined};

const BASIC: &[&str] = &[
    "bool", "string", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
    "uint32", "uint64", "uintptr", "byte", "rune", "float32", "float64",
];

/// A type that can cross between the processes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GTy {
    Basic(&'static str),
    Slice(Box<GTy>),
    Array(usize, Box<GTy>),
    Map(Box<GTy>, Box<GTy>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    name: String,
    params: Vec<GTy>,
    results: Vec<GTy>,
}

#[derive(Debug, Default)]
struct Definitions {
    functions: BTreeMap<String, std::result::Result<Signature, String>>,
    others: BTreeSet<String>,
}

/// Plan a split run for a Go program and its appended test code.
pub(super) fn plan(program: &str, tests: &str, salt: &str) -> Result<Plan> {
    let program_defs = definitions(program);
    let test_defs = definitions(tests);
    let used = scan::identifier_set(&scan::blank(tests, Syntax::Go));
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
    let mut driver_program = wire.clone();
    driver_program.push_str(&driver_channel(salt));
    for (index, signature) in signatures.iter().enumerate() {
        driver_program.push_str(&proxy(salt, index, signature));
    }
    let mut driver = harness::combine(Language::Go, &driver_program, tests, salt)?;
    // The tests' import block names the packages the program used (HumanEval-X's
    // `test_setup`); without the program some are unused, which Go rejects.
    if let Some((_, file)) = driver.files.first_mut() {
        *file = drop_unused_imports(file);
    }
    let subject = subject(program, salt, &wire, &signatures);
    Ok(Plan::Split(Box::new(SplitProgram {
        subject,
        driver,
        functions: signatures.iter().map(|s| s.name.clone()).collect(),
    })))
}

/// Top-level declarations of Go source.
fn definitions(src: &str) -> Definitions {
    let mut defs = Definitions::default();
    let code = scan::blank(src, Syntax::Go);
    let b = code.as_bytes();
    let mut depth = 0usize;
    let mut cursor = 0;
    for (at, word) in scan::identifiers(&code) {
        for &c in &b[cursor..at] {
            match c {
                b'{' | b'(' | b'[' => depth += 1,
                b'}' | b')' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        cursor = at;
        let line_start = code[..at].rfind('\n').map_or(0, |i| i + 1);
        let starts_line = code[line_start..at].trim().is_empty();
        if depth != 0 || !starts_line {
            continue;
        }
        let after = at + word.len();
        match word {
            "func" => {
                let rest = code[after..].trim_start();
                if rest.starts_with('(') {
                    // A method: callable only on one of the program's types.
                    continue;
                }
                if let Some((name, end)) = scan::ident_after(&code, after) {
                    let signature = parse_signature(&code[end..]).map(|mut s| {
                        s.name = name.to_owned();
                        s
                    });
                    defs.functions.insert(name.to_owned(), signature);
                }
            }
            "type" | "var" | "const" => {
                let rest = code[after..].trim_start();
                if rest.starts_with('(') {
                    let open = after + code[after..].find('(').unwrap_or(0);
                    let close = scan::matching(&code, open).unwrap_or(code.len());
                    for line in code[open + 1..close].lines() {
                        if let Some((name, _)) = scan::ident_after(line, 0) {
                            defs.others.insert(name.to_owned());
                        }
                    }
                } else {
                    let spec_end = code[after..].find('\n').map_or(code.len(), |i| after + i);
                    let spec = &code[after..spec_end];
                    let names = spec.split(['=', '[', '{']).next().unwrap_or("");
                    for piece in names.split(',') {
                        if let Some((name, _)) = scan::ident_after(piece, 0) {
                            defs.others.insert(name.to_owned());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    defs
}

/// A signature from the text after the function's name.
fn parse_signature(rest: &str) -> std::result::Result<Signature, String> {
    let rest = rest.trim_start();
    if rest.starts_with('[') {
        return Err("is generic".into());
    }
    if !rest.starts_with('(') {
        return Err("has an unreadable signature".into());
    }
    let close = scan::matching(rest, 0).ok_or("has an unreadable signature")?;
    let params = parse_list(&rest[1..close]).map_err(|t| format!("takes `{t}`"))?;
    let after = &rest[close + 1..];
    let body = body_start(after).ok_or("has no body")?;
    let results_text = after[..body].trim();
    let results = if results_text.is_empty() {
        Vec::new()
    } else if results_text.starts_with('(') {
        let inner = results_text
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("returns `{results_text}`"))?;
        parse_list(inner).map_err(|t| format!("returns `{t}`"))?
    } else {
        vec![parse_type(results_text).ok_or_else(|| format!("returns `{results_text}`"))?]
    };
    Ok(Signature {
        name: String::new(),
        params,
        results,
    })
}

/// The `{` that opens a function body, skipping those of `interface{}` and `struct{...}` in its
/// result types.
fn body_start(after_params: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = after_params[from..].find('{') {
        let at = from + pos;
        let is_type = scan::ident_before(after_params, at)
            .is_some_and(|(_, word)| word == "interface" || word == "struct");
        if !is_type {
            return Some(at);
        }
        from = scan::matching(after_params, at)? + 1;
    }
    None
}

/// A parameter or result list (`a, b int, s string` or `int, string`); the error is the part
/// that cannot be carried.
fn parse_list(text: &str) -> std::result::Result<Vec<GTy>, String> {
    let pieces = scan::split_top(text, b',');
    fn named(p: &str) -> Option<&str> {
        let keyword = |w: &str| matches!(w, "map" | "chan" | "func" | "interface" | "struct");
        let (first, rest) = p.split_once(char::is_whitespace).unwrap_or((p, ""));
        (!rest.trim().is_empty() && scan::is_identifier(first) && !keyword(first))
            .then(|| rest.trim())
    }
    let any_named = pieces.iter().any(|p| named(p).is_some());
    let mut out = Vec::new();
    let mut pending = 0;
    for piece in &pieces {
        if piece.contains("...") {
            return Err((*piece).to_owned());
        }
        let type_text = if any_named {
            match named(piece) {
                Some(t) => t,
                None => {
                    pending += 1;
                    continue;
                }
            }
        } else {
            piece
        };
        let ty = parse_type(type_text).ok_or_else(|| type_text.to_owned())?;
        for _ in 0..=pending {
            out.push(ty.clone());
        }
        pending = 0;
    }
    if pending > 0 {
        return Err(text.trim().to_owned());
    }
    Ok(out)
}

fn parse_type(text: &str) -> Option<GTy> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("[]") {
        return Some(GTy::Slice(Box::new(parse_type(rest)?)));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (n, elem) = rest.split_once(']')?;
        return Some(GTy::Array(
            n.trim().parse().ok()?,
            Box::new(parse_type(elem)?),
        ));
    }
    if let Some(rest) = text.strip_prefix("map[") {
        let close = scan::matching(text, 3)?;
        let key = parse_type(&rest[..close - 4])?;
        let value = parse_type(&text[close + 1..])?;
        return Some(GTy::Map(Box::new(key), Box::new(value)));
    }
    BASIC.iter().find(|b| **b == text).map(|b| GTy::Basic(b))
}

fn render(ty: &GTy) -> String {
    match ty {
        GTy::Basic(b) => (*b).to_owned(),
        GTy::Slice(t) => format!("[]{}", render(t)),
        GTy::Array(n, t) => format!("[{n}]{}", render(t)),
        GTy::Map(k, v) => format!("map[{}]{}", render(k), render(v)),
    }
}

/// The reflection-based wire code (shared by both sides).
fn wire(salt: &str) -> String {
    format!(
        r#"package main

import (
    "bufio"
    "fmt"
    "math"
    "os"
    "reflect"
    "strconv"
)

type cwIn_{salt} struct {{
    r  *bufio.Reader
    ok bool
}}

// A token and the byte that ended it (-1 at end of file).
func (in *cwIn_{salt}) word() (string, int) {{
    var w []byte
    c, err := in.r.ReadByte()
    for err == nil && (c == ' ' || c == '\n') {{
        c, err = in.r.ReadByte()
    }}
    for err == nil && c != ' ' && c != '\n' && c != ':' && len(w) <= 64 {{
        w = append(w, c)
        c, err = in.r.ReadByte()
    }}
    if err != nil {{
        return string(w), -1
    }}
    return string(w), int(c)
}}

func cwPut_{salt}(w *bufio.Writer, v reflect.Value) {{
    switch v.Kind() {{
    case reflect.Bool:
        if v.Bool() {{
            w.WriteString("1 ")
        }} else {{
            w.WriteString("0 ")
        }}
    case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
        w.WriteString(strconv.FormatInt(v.Int(), 10) + " ")
    case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
        w.WriteString(strconv.FormatUint(v.Uint(), 10) + " ")
    case reflect.Float32:
        fmt.Fprintf(w, "%08x ", math.Float32bits(float32(v.Float())))
    case reflect.Float64:
        fmt.Fprintf(w, "%016x ", math.Float64bits(v.Float()))
    case reflect.String:
        s := v.String()
        fmt.Fprintf(w, "%d:", len(s))
        w.WriteString(s)
        w.WriteByte(' ')
    case reflect.Slice, reflect.Map:
        if v.IsNil() {{
            w.WriteString("~ ")
            return
        }}
        fmt.Fprintf(w, "%d ", v.Len())
        if v.Kind() == reflect.Map {{
            it := v.MapRange()
            for it.Next() {{
                cwPut_{salt}(w, it.Key())
                cwPut_{salt}(w, it.Value())
            }}
            return
        }}
        for i := 0; i < v.Len(); i++ {{
            cwPut_{salt}(w, v.Index(i))
        }}
    case reflect.Array:
        fmt.Fprintf(w, "%d ", v.Len())
        for i := 0; i < v.Len(); i++ {{
            cwPut_{salt}(w, v.Index(i))
        }}
    default:
        panic("cannot send a value of type " + v.Type().String())
    }}
}}

func cwGet_{salt}(in *cwIn_{salt}, t reflect.Type) reflect.Value {{
    v := reflect.New(t).Elem()
    if !in.ok {{
        return v
    }}
    w, end := in.word()
    number := end != ':' && w != ""
    switch t.Kind() {{
    case reflect.Bool:
        in.ok = number && (w == "0" || w == "1")
        v.SetBool(w == "1")
    case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
        n, err := strconv.ParseInt(w, 10, t.Bits())
        in.ok = number && err == nil
        v.SetInt(n)
    case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
        n, err := strconv.ParseUint(w, 10, t.Bits())
        in.ok = number && err == nil
        v.SetUint(n)
    case reflect.Float32:
        n, err := strconv.ParseUint(w, 16, 32)
        in.ok = number && err == nil && len(w) == 8
        v.SetFloat(float64(math.Float32frombits(uint32(n))))
    case reflect.Float64:
        n, err := strconv.ParseUint(w, 16, 64)
        in.ok = number && err == nil && len(w) == 16
        v.SetFloat(math.Float64frombits(n))
    case reflect.String:
        n, err := strconv.Atoi(w)
        if end != ':' || err != nil || n < 0 || n > 1<<30 {{
            in.ok = false
            return v
        }}
        b := make([]byte, n)
        _, err = io_ReadFull_{salt}(in.r, b)
        c, err2 := in.r.ReadByte()
        in.ok = err == nil && err2 == nil && c == ' '
        v.SetString(string(b))
    case reflect.Slice, reflect.Map, reflect.Array:
        if w == "~" && end != ':' && t.Kind() != reflect.Array {{
            return v
        }}
        n, err := strconv.Atoi(w)
        if !number || err != nil || n < 0 || n > 1<<28 || (t.Kind() == reflect.Array && n != t.Len()) {{
            in.ok = false
            return v
        }}
        switch t.Kind() {{
        case reflect.Slice:
            s := reflect.MakeSlice(t, 0, 0)
            for i := 0; i < n && in.ok; i++ {{
                s = reflect.Append(s, cwGet_{salt}(in, t.Elem()))
            }}
            v.Set(s)
        case reflect.Map:
            m := reflect.MakeMap(t)
            for i := 0; i < n && in.ok; i++ {{
                k := cwGet_{salt}(in, t.Key())
                m.SetMapIndex(k, cwGet_{salt}(in, t.Elem()))
            }}
            v.Set(m)
        default:
            for i := 0; i < n && in.ok; i++ {{
                v.Index(i).Set(cwGet_{salt}(in, t.Elem()))
            }}
        }}
    default:
        in.ok = false
    }}
    return v
}}

func io_ReadFull_{salt}(r *bufio.Reader, b []byte) (int, error) {{
    n := 0
    for n < len(b) {{
        m, err := r.Read(b[n:])
        n += m
        if err != nil {{
            return n, err
        }}
    }}
    return n, nil
}}

func cwOpen_{salt}(fd uintptr) *os.File {{
    return os.NewFile(fd, "channel")
}}
"#
    )
}

/// The driver's half of the channel: a failed call panics, which fails the test.
fn driver_channel(salt: &str) -> String {
    format!(
        r#"
var cwOut_{salt} *bufio.Writer
var cwIn_{salt}_ *cwIn_{salt}

func cwCall_{salt}(index int, name string, args ...interface{{}}) *cwIn_{salt} {{
    if cwOut_{salt} == nil {{
        cwOut_{salt} = bufio.NewWriter(cwOpen_{salt}({DRIVER_OUT_FD}))
        cwIn_{salt}_ = &cwIn_{salt}{{r: bufio.NewReader(cwOpen_{salt}({DRIVER_IN_FD})), ok: true}}
    }}
    cwOut_{salt}.WriteString(strconv.Itoa(index) + " ")
    for _, a := range args {{
        cwPut_{salt}(cwOut_{salt}, reflect.ValueOf(a))
    }}
    cwOut_{salt}.WriteByte('\n')
    if cwOut_{salt}.Flush() != nil {{
        panic("the program exited or crashed during a call to " + name + "()")
    }}
    in := cwIn_{salt}_
    status, end := in.word()
    switch {{
    case status == "" && end == -1:
        panic("the program exited or crashed during a call to " + name + "()")
    case status == "E":
        text := cwGet_{salt}(in, reflect.TypeOf("")).String()
        panic(text)
    case status != "R":
        panic("the program sent a malformed reply to " + name + "()")
    }}
    return in
}}

func cwResults_{salt}(in *cwIn_{salt}, name string, results ...interface{{}}) {{
    for _, r := range results {{
        p := reflect.ValueOf(r).Elem()
        p.Set(cwGet_{salt}(in, p.Type()))
    }}
    if !in.ok {{
        panic("the program sent a malformed reply to " + name + "()")
    }}
}}
"#
    )
}

fn proxy(salt: &str, index: usize, signature: &Signature) -> String {
    let name = &signature.name;
    let params: Vec<String> = signature
        .params
        .iter()
        .enumerate()
        .map(|(i, t)| format!("a{i} {}", render(t)))
        .collect();
    let args: String = (0..signature.params.len())
        .map(|i| format!(", a{i}"))
        .collect();
    let results: Vec<String> = signature.results.iter().map(render).collect();
    let results_decl = match results.len() {
        0 => String::new(),
        1 => format!(" {}", results[0]),
        _ => format!(" ({})", results.join(", ")),
    };
    let mut body = format!("    in := cwCall_{salt}({index}, \"{name}\"{args})\n");
    for (i, r) in results.iter().enumerate() {
        let _ = writeln!(body, "    var r{i} {r}");
    }
    let pointers: String = (0..results.len()).map(|i| format!(", &r{i}")).collect();
    let _ = writeln!(body, "    cwResults_{salt}(in, \"{name}\"{pointers})");
    if !results.is_empty() {
        let names: Vec<String> = (0..results.len()).map(|i| format!("r{i}")).collect();
        let _ = writeln!(body, "    return {}", names.join(", "));
    }
    format!(
        "\nfunc {name}({}){results_decl} {{\n{body}}}\n",
        params.join(", ")
    )
}

/// The subject: one file with the program (its own `main` renamed) and a server `main`.
fn subject(program: &str, salt: &str, wire: &str, signatures: &[Signature]) -> Combined {
    let mut cases = String::new();
    for (index, signature) in signatures.iter().enumerate() {
        let mut case = String::new();
        let mut args = Vec::new();
        for (i, param) in signature.params.iter().enumerate() {
            let _ = write!(
                case,
                "var cwA{i} {}\n            cwA{i} = cwGet_{salt}(cwIn, reflect.TypeOf(&cwA{i}).Elem()).Interface().({})\n            ",
                render(param),
                render(param)
            );
            args.push(format!("cwA{i}"));
        }
        let results: Vec<String> = (0..signature.results.len())
            .map(|i| format!("cwR{i}"))
            .collect();
        let call = format!("{}({})", signature.name, args.join(", "));
        let body = if results.is_empty() {
            format!("{call}; return nil")
        } else {
            format!(
                "{} := {call}; return []interface{{}}{{{}}}",
                results.join(", "),
                results.join(", ")
            )
        };
        let _ = writeln!(
            cases,
            "        case {index}:\n            {case}if !cwIn.ok {{\n                os.Exit(70)\n            }}\n            cwServe_{salt}(cwOut, func() []interface{{}} {{ {body} }})"
        );
    }
    let server = format!(
        r#"
// ---- crucible subject server ----
func cwServe_{salt}(out *bufio.Writer, call func() []interface{{}}) {{
    var results []interface{{}}
    failed := true
    var failure interface{{}}
    func() {{
        defer func() {{
            if failed {{
                failure = recover()
            }}
        }}()
        results = call()
        failed = false
    }}()
    if failed {{
        out.WriteString("E ")
        cwPut_{salt}(out, reflect.ValueOf(fmt.Sprint(failure)))
    }} else {{
        out.WriteString("R ")
        for _, r := range results {{
            cwPut_{salt}(out, reflect.ValueOf(r))
        }}
    }}
    out.WriteByte('\n')
    if out.Flush() != nil {{
        os.Exit(0)
    }}
}}

func main() {{
    cwIn := &cwIn_{salt}{{r: bufio.NewReader(cwOpen_{salt}({SUBJECT_IN_FD})), ok: true}}
    cwOut := bufio.NewWriter(cwOpen_{salt}({SUBJECT_OUT_FD}))
    for {{
        cwWord, cwEnd := cwIn.word()
        if cwWord == "" && cwEnd == -1 {{
            return
        }}
        cwIndex, cwErr := strconv.Atoi(cwWord)
        if cwErr != nil {{
            os.Exit(70)
        }}
        switch cwIndex {{
{cases}        default:
            os.Exit(70)
        }}
    }}
}}
"#
    );
    let (mut imports, body) = harness::split_go_imports(program);
    let (wire_imports, wire_body) = harness::split_go_imports(wire);
    for spec in wire_imports {
        if !imports.contains(&spec) {
            imports.push(spec);
        }
    }
    let body = rename_main(&body, salt);
    let mut file = String::from("package main\n\nimport (\n");
    for spec in &imports {
        let _ = writeln!(file, "    {spec}");
    }
    file.push_str(")\n\n");
    file.push_str(&body);
    file.push('\n');
    file.push_str(&wire_body);
    file.push_str(&server);
    Combined {
        files: vec![("main.go".into(), file)],
        main_class: None,
    }
}

/// `file` (one import block, as the harness writes it) without imports its code never names.
fn drop_unused_imports(file: &str) -> String {
    let (specs, body) = harness::split_go_imports(file);
    let code = scan::blank(&body, Syntax::Go);
    let used = |spec: &str| {
        let path = spec.rsplit('"').nth(1).unwrap_or(spec);
        let alias = spec
            .split_whitespace()
            .next()
            .filter(|a| !a.starts_with('"'));
        let name = alias.unwrap_or_else(|| path.rsplit('/').next().unwrap_or(path));
        if name == "_" || name == "." {
            return true;
        }
        code.match_indices(&format!("{name}.")).any(|(at, _)| {
            at == 0
                || !scan::is_ident_byte(code.as_bytes()[at - 1]) && code.as_bytes()[at - 1] != b'.'
        })
    };
    let mut out = String::from("package main\n\nimport (\n");
    for spec in specs.iter().filter(|s| used(s)) {
        let _ = writeln!(out, "    {spec}");
    }
    out.push_str(")\n\n");
    out.push_str(&body);
    out
}

/// The program's own `func main` (a `go test` binary ignored it; the server needs the name).
fn rename_main(body: &str, salt: &str) -> String {
    let code = scan::blank(body, Syntax::Go);
    let mut out = body.to_owned();
    let mut search = 0;
    while let Some(pos) = code[search..].find("func main(") {
        let at = search + pos;
        let line_start = code[..at].rfind('\n').map_or(0, |i| i + 1);
        if code[line_start..at].trim().is_empty() {
            out.replace_range(at + 5..at + 9, &format!("cwProgramMain_{salt}")[..]);
            return out;
        }
        search = at + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_parsed() {
        let defs = definitions(
            "import \"math\"\n\nconst Limit = 3\nvar (\n    cache = map[int]int{}\n)\ntype P struct{ x int }\nfunc (p P) Get() int { return p.x }\nfunc F(a, b int, s []string) (int, map[rune][2]float64) {\n    return 0, nil\n}\nfunc G(x interface{}) int { return 0 }\nfunc R() interface{} { return nil }\nfunc H[T any](x T) {}\nfunc V(xs ...int) {}\n",
        );
        let f = defs.functions["F"].as_ref().unwrap();
        assert_eq!(f.params.len(), 3);
        assert_eq!(render(&f.params[2]), "[]string");
        assert_eq!(render(&f.results[1]), "map[rune][2]float64");
        assert_eq!(
            defs.functions["G"].as_ref().unwrap_err(),
            "takes `interface{}`"
        );
        assert_eq!(
            defs.functions["R"].as_ref().unwrap_err(),
            "returns `interface{}`"
        );
        assert_eq!(defs.functions["H"].as_ref().unwrap_err(), "is generic");
        assert_eq!(
            defs.functions["V"].as_ref().unwrap_err(),
            "takes `xs ...int`"
        );
        assert!(!defs.functions.contains_key("Get"));
        for name in ["Limit", "cache", "P"] {
            assert!(defs.others.contains(name), "{name}: {defs:?}");
        }
    }
}
