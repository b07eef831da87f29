//! Test harnesses for appended-test languages (C, C++, Java, JavaScript, Rust, Go) and the
//! proof-of-completion protocol.
//!
//! Appended tests normally run split from the program (`split`): a driver process runs the
//! test code with proxies of the program's functions and this module's harness, and the
//! program runs in its own sandbox answering calls. [`combine`] puts test code after its
//! "program": for a split run that is the driver's proxies, never the candidate; only when the
//! tests cannot be split (`split::Plan::InProcess`) is it the candidate itself, and the report
//! then says `in_process_tests: true`.
//!
//! Either way a pass needs proof that the tests ran to their end:
//!
//! * At run time the executor writes a fresh random nonce into a pipe given to the process as
//!   fd 3 and closes its end. The harness reads it **before any other code runs** (first thing
//!   in `main`, or a priority-101 constructor in C/C++), draining the pipe: a pipe can be read
//!   once, so code that runs later finds it empty. The nonce is never in the source, the binary
//!   (so compiled programs can be cached), the arguments or the environment.
//! * Only after the last test returns normally does the harness write `DONE <nonce>` to fd 4.
//!   An early `exit(0)`, a crash, an exception, a fake "PASSED" on stdout or a shutdown hook
//!   never produces that line.
//! * Harness identifiers carry a per-cache secret salt, so a program (written before the run)
//!   cannot name them; the test's `main` is renamed, and C/C++ `assert` is reset after the
//!   program (`#undef NDEBUG`, re-include `<assert.h>`) so a program cannot disable it.
//!
//! In the in-process fallback, deliberate harness-aware code can still read the nonce pipe
//! before the harness (a C `constructor(101)` or Go `init`) or scan its own memory for the
//! expected values; in a split run the program holds neither.

pub(crate) mod split;

use std::fmt::Write as _;

use crucible_types::{Language, Status, TestOutcome};

use crate::{Error, Result};

/// Descriptor number the nonce is read from.
pub(crate) const NONCE_FD: i32 = 3;
/// Descriptor number the harness reports on.
pub(crate) const PROOF_FD: i32 = 4;

/// Source files of a program combined with its tests.
#[derive(Debug, Clone)]
pub(crate) struct Combined {
    /// `(file name, contents)`; the first file is the one compilers are given.
    pub(crate) files: Vec<(String, String)>,
    /// The class `java` starts.
    pub(crate) main_class: Option<String>,
}

/// Combine `program` and `tests` for `language`, with harness identifiers salted by `salt`.
pub(crate) fn combine(
    language: Language,
    program: &str,
    tests: &str,
    salt: &str,
) -> Result<Combined> {
    match language {
        Language::C | Language::Cpp => c_family(language, program, tests, salt),
        Language::Rust => rust(program, tests, salt),
        Language::Java => java(program, tests, salt),
        Language::JavaScript => Ok(javascript(program, tests, salt)),
        Language::Go => Ok(go(program, tests)),
        Language::Python => Err(Error::UnsupportedSuite {
            language,
            suite: "appended",
        }),
    }
}

/// What the harness reported on the proof channel.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Proof {
    pub(crate) tests: Vec<TestOutcome>,
    pub(crate) completed: bool,
    pub(crate) compile_error: Option<String>,
    pub(crate) error: Option<String>,
    /// A split run's driver met a value it cannot send to the program (`F <reason>`): the
    /// tests must run in the program's process instead.
    pub(crate) fallback: Option<String>,
}

/// Parse the proof channel. Lines: `T <pass|fail|error> <name>\t<detail>`, `C <message>`
/// (JavaScript syntax error), `E <message>` (uncaught error), `F <reason>` (a split run's
/// driver cannot carry a value), `DONE <nonce>`.
pub(crate) fn parse_proof(bytes: &[u8], nonce: &str) -> Proof {
    let text = String::from_utf8_lossy(bytes);
    let mut proof = Proof::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("T ") {
            let (status, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, detail) = rest.split_once('\t').unwrap_or((rest, ""));
            let status = match status {
                "pass" => Status::Passed,
                "fail" => Status::WrongAnswer,
                _ => Status::RuntimeError,
            };
            proof.tests.push(TestOutcome {
                name: name.to_owned(),
                status,
                detail: (!detail.is_empty()).then(|| unescape(detail)),
            });
        } else if let Some(msg) = line.strip_prefix("C ") {
            proof.compile_error = Some(unescape(msg));
        } else if let Some(msg) = line.strip_prefix("E ") {
            proof.error = Some(unescape(msg));
        } else if let Some(reason) = line.strip_prefix("F ") {
            proof.fallback = Some(unescape(reason));
        } else if let Some(got) = line.strip_prefix("DONE ") {
            proof.completed = got.trim() == nonce;
        }
    }
    proof
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\t", "\t")
}

/// The test code's `main` (`int main(...) {` / `fn main() {`): the byte range of its
/// signature and the position of its closing brace.
fn find_main(tests: &str, signature_start: &[&str]) -> Option<(usize, usize, usize)> {
    let bytes = tests.as_bytes();
    for start in signature_start {
        let mut from = 0;
        while let Some(pos) = tests[from..].find(start) {
            let at = from + pos;
            from = at + start.len();
            let boundary = at == 0 || !is_ident(bytes[at - 1]);
            if !boundary {
                continue;
            }
            let open = tests[at..].find('{').map(|i| at + i)?;
            let head = &tests[at..open];
            if !head.contains("main") || head.contains(';') {
                continue;
            }
            let close = matching_brace(tests, open)?;
            return Some((at, open, close));
        }
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Position of the `}` matching the `{` at `open`, skipping strings, chars and comments.
fn matching_brace(src: &str, open: usize) -> Option<usize> {
    let b = src.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'"' | b'\'' => {
                let quote = b[i];
                i += 1;
                while i < b.len() && b[i] != quote {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `src` with the contents of `//` and `/* */` comments replaced by spaces (same length).
fn blank_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out[i] = b' ';
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                out[i] = b' ';
                i += 1;
            }
            for _ in 0..2 {
                if i < b.len() {
                    out[i] = b' ';
                    i += 1;
                }
            }
        } else {
            i += 1;
        }
    }
    // Every byte of a comment became a space, so this is valid UTF-8 of the same length.
    String::from_utf8(out).unwrap_or_default()
}

fn c_family(language: Language, program: &str, tests: &str, salt: &str) -> Result<Combined> {
    let (sig, open, close) = find_main(tests, &["int main", "int\tmain"]).ok_or(
        Error::InvalidRequest("the C/C++ test code has no `int main(...) { ... }`"),
    )?;
    let test_main = format!("__crucible_test_main_{salt}");
    let params = tests[sig..open]
        .split_once('(')
        .map(|(_, p)| p.rsplit_once(')').map(|(p, _)| p).unwrap_or(""))
        .unwrap_or("");
    let renamed = format!(
        "{}int {test_main}({params}) {{{}\n    return 0;\n}}{}",
        &tests[..sig],
        &tests[open + 1..close],
        &tests[close + 1..]
    );
    let externc = if language == Language::Cpp {
        "extern \"C\" "
    } else {
        ""
    };
    // glibc declares it `noexcept` for C++; in C the attribute form cannot follow a definition.
    let nothrow = if language == Language::Cpp {
        "__THROW"
    } else {
        ""
    };
    let mut src = String::with_capacity(program.len() + tests.len() + 2048);
    // System headers go first: the program may leave a scope open that the test code closes
    // (HumanEval-X), and headers cannot be included inside a function.
    let _ = write!(
        src,
        r#"#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#line 1 "main"
"#
    );
    src.push_str(program);
    let _ = write!(
        src,
        r#"
/* ---- crucible test harness (prologue) ---- */
#undef main
#undef assert
#undef NDEBUG
#include <assert.h>
static char __crucible_nonce_{salt}[128];
__attribute__((constructor(101))) static void __crucible_init_{salt}(void) {{
    ssize_t n = read({NONCE_FD}, __crucible_nonce_{salt}, sizeof(__crucible_nonce_{salt}) - 1);
    if (n < 0) n = 0;
    __crucible_nonce_{salt}[n] = 0;
    close({NONCE_FD});
}}
{externc}void __assert_fail(const char *expr, const char *file, unsigned int line, const char *func) {nothrow} {{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "T fail line %u\tassertion failed: %s\n", line, expr);
    if (n > 0) write({PROOF_FD}, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    (void)file; (void)func;
    _exit(1);
}}
#line 1 "tests"
"#
    );
    src.push_str(&renamed);
    let _ = write!(
        src,
        r#"
/* ---- crucible test harness (epilogue) ---- */
#undef main
int main(int argc, char **argv) {{
    (void)argc; (void)argv;
    int code = {test_main}();
    fflush(stdout);
    if (code == 0) {{
        char buf[256];
        int n = snprintf(buf, sizeof buf, "T pass main\nDONE %s\n", __crucible_nonce_{salt});
        if (n > 0) write({PROOF_FD}, buf, (size_t)n);
    }}
    return code;
}}
"#
    );
    let name = if language == Language::Cpp {
        "main.cpp"
    } else {
        "main.c"
    };
    Ok(Combined {
        files: vec![(name.into(), src)],
        main_class: None,
    })
}

fn rust(program: &str, tests: &str, salt: &str) -> Result<Combined> {
    // MultiPL-E style: a `fn main` full of asserts. HumanEval-X style: `#[test]` functions in
    // `mod tests`, which become plain functions the harness calls one by one.
    let mut tests = tests.to_owned();
    let mut calls: Vec<(String, String)> = Vec::new();
    if let Some((sig, open, _)) = find_main(&tests, &["fn main"]) {
        let name = format!("__crucible_test_main_{salt}");
        tests.replace_range(sig..open, &format!("fn {name}()"));
        calls.push(("main".into(), name));
    }
    let in_mod = blank_comments(&tests).contains("mod tests");
    // Search a copy with comments blanked (HumanEval-X has commented-out tests); positions
    // are the same in both.
    while let Some(at) = blank_comments(&tests).find("#[test]") {
        let rest = &tests[at + 7..];
        let fn_at = rest.find("fn ").map(|i| at + 7 + i);
        let Some(fn_at) = fn_at else { break };
        let name: String = tests[fn_at + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        tests.replace_range(at..fn_at + 3, "pub(crate) fn ");
        let path = if in_mod {
            format!("tests::{name}")
        } else {
            name.clone()
        };
        calls.push((name, path));
    }
    if calls.is_empty() {
        return Err(Error::InvalidRequest(
            "the Rust test code has neither `fn main` nor `#[test]` functions",
        ));
    }
    let mut list = String::new();
    for (name, path) in &calls {
        let _ = writeln!(list, "        (\"{name}\", {path} as fn()),");
    }
    let src = format!(
        r#"{program}
// ---- crucible test harness (prologue) ----
// The program may have shadowed the assertion macros; these later definitions win for the
// tests below (macro_rules scoping is textual).
#[allow(unused_macros)]
macro_rules! assert {{ ($($t:tt)*) => {{ ::std::assert!($($t)*) }}; }}
#[allow(unused_macros)]
macro_rules! assert_eq {{ ($($t:tt)*) => {{ ::std::assert_eq!($($t)*) }}; }}
#[allow(unused_macros)]
macro_rules! assert_ne {{ ($($t:tt)*) => {{ ::std::assert_ne!($($t)*) }}; }}
{tests}
// ---- crucible test harness (epilogue) ----
fn main() {{
    use std::io::{{Read, Write}};
    use std::os::unix::io::FromRawFd;
    let mut nonce = String::new();
    // SAFETY: the executor passes descriptors {NONCE_FD} and {PROOF_FD}; this harness owns them.
    let mut nonce_file = unsafe {{ std::fs::File::from_raw_fd({NONCE_FD}) }};
    let _ = nonce_file.read_to_string(&mut nonce);
    drop(nonce_file);
    let mut proof = unsafe {{ std::fs::File::from_raw_fd({PROOF_FD}) }};
    let message = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = message.clone();
    std::panic::set_hook(Box::new(move |info| {{
        let text = if let Some(s) = info.payload().downcast_ref::<&str>() {{
            s.to_string()
        }} else if let Some(s) = info.payload().downcast_ref::<String>() {{
            s.clone()
        }} else {{
            String::from("panic")
        }};
        let at = info.location().map(|l| format!(" (line {{}})", l.line())).unwrap_or_default();
        if let Ok(mut m) = sink.lock() {{ *m = format!("{{text}}{{at}}"); }}
    }}));
    let tests: &[(&str, fn())] = &[
{list}    ];
    let mut all_passed = true;
    for (name, test) in tests {{
        let ok = std::panic::catch_unwind(*test).is_ok();
        let detail = message.lock().map(|m| m.replace('\n', "\\n")).unwrap_or_default();
        let status = if ok {{ "pass" }} else if detail.starts_with("assertion") {{ "fail" }} else {{ "error" }};
        all_passed &= ok;
        let _ = writeln!(proof, "T {{status}} {{name}}\t{{}}", if ok {{ "" }} else {{ detail.as_str() }});
    }}
    let _ = std::io::stdout().flush();
    if all_passed {{
        let _ = writeln!(proof, "DONE {{}}", nonce.trim());
    }} else {{
        std::process::exit(1);
    }}
}}
"#
    );
    Ok(Combined {
        files: vec![("main.rs".into(), src)],
        main_class: None,
    })
}

fn java(program: &str, tests: &str, salt: &str) -> Result<Combined> {
    let public_class = |src: &str| -> Option<String> {
        let at = src.find("public class ")?;
        let name: String = src[at + 13..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        (!name.is_empty()).then_some(name)
    };
    let test_class = public_class(tests).ok_or(Error::InvalidRequest(
        "the Java test code has no `public class` with `main`",
    ))?;
    let harness = format!("CrucibleHarness{salt}");
    let src = format!(
        r#"{program}
{tests}
final class {harness} {{
    public static void main(String[] args) throws Exception {{
        String nonce;
        try (java.io.FileInputStream in = new java.io.FileInputStream("/proc/self/fd/{NONCE_FD}")) {{
            // readAllBytes() seeks, which a pipe refuses.
            java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
            byte[] chunk = new byte[256];
            for (int n; (n = in.read(chunk)) > 0; ) buf.write(chunk, 0, n);
            nonce = buf.toString(java.nio.charset.StandardCharsets.UTF_8).trim();
        }}
        java.io.FileOutputStream proof = new java.io.FileOutputStream("/proc/self/fd/{PROOF_FD}");
        try {{
            {test_class}.main(args);
        }} catch (AssertionError e) {{
            proof.write(("T fail main\t" + String.valueOf(e).replace("\n", "\\n") + "\n").getBytes());
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }} catch (Throwable e) {{
            proof.write(("T error main\t" + String.valueOf(e).replace("\n", "\\n") + "\n").getBytes());
            e.printStackTrace();
            System.out.flush();
            System.err.flush();
            Runtime.getRuntime().halt(1);
        }}
        System.out.flush();
        proof.write(("T pass main\nDONE " + nonce + "\n").getBytes());
        proof.close();
    }}
}}
"#
    );
    Ok(Combined {
        files: vec![(format!("{test_class}.java"), src)],
        main_class: Some(harness),
    })
}

fn javascript(program: &str, tests: &str, salt: &str) -> Combined {
    let script = format!(
        "{program}\n;{{\nconst console = globalThis.__crucible_console_{salt};\nconst require = globalThis.__crucible_require_{salt};\n{tests}\n}}\n;globalThis.__crucible_done_{salt}();\n"
    );
    let harness = format!(
        r#"'use strict';
const fs = require('fs');
const vm = require('vm');
const nonce = fs.readFileSync({NONCE_FD}, 'utf8').trim();
const PROOF = {PROOF_FD};
const realAssert = require('assert');
const pristineAssert = Object.assign(function assert(...a) {{ return realAssert(...a); }}, realAssert);
let done = false;
let failures = 0;
let asserts = 0;
const report = (line) => {{ try {{ fs.writeSync(PROOF, line + '\n'); }} catch (e) {{}} }};
const escape = (s) => String(s).replace(/\n/g, '\\n').replace(/\t/g, ' ');
const safeConsole = Object.freeze(Object.assign(Object.create(null), console, {{
  assert: (cond, ...msg) => {{
    asserts += 1;
    if (cond) {{ report('T pass assert ' + asserts); return; }}
    failures += 1;
    report('T fail assert ' + asserts + '\tassertion failed' + (msg.length ? ': ' + escape(msg.join(' ')) : ''));
  }},
}}));
const safeRequire = (name) => (name === 'assert' || name === 'node:assert') ? pristineAssert : require(name);
const hidden = (name, value) => Object.defineProperty(globalThis, name, {{ value, enumerable: false, writable: false, configurable: false }});
hidden('__crucible_console_{salt}', safeConsole);
hidden('__crucible_require_{salt}', safeRequire);
hidden('__crucible_done_{salt}', () => {{ done = true; }});
globalThis.require = require;
globalThis.module = module;
process.on('exit', (code) => {{
  if (code === 0 && done && failures === 0) {{
    report('T pass ' + (asserts ? 'all asserts' : 'main'));
    report('DONE ' + nonce);
  }}
}});
let script;
try {{
  script = new vm.Script(fs.readFileSync(__dirname + '/program.js', 'utf8'), {{ filename: 'program.js' }});
}} catch (e) {{
  report('C ' + escape(e && e.stack ? e.stack : e));
  process.exitCode = 1;
}}
if (script) {{
  try {{
    script.runInThisContext();
  }} catch (e) {{
    const isAssert = e && (e.code === 'ERR_ASSERTION' || e.name === 'AssertionError');
    report((isAssert ? 'T fail ' : 'T error ') + 'main\t' + escape(e && e.message ? e.message : e));
    console.error(e && e.stack ? e.stack : e);
    process.exitCode = 1;
  }}
}}
"#
    );
    Combined {
        files: vec![("main.js".into(), harness), ("program.js".into(), script)],
        main_class: None,
    }
}

fn go(program: &str, tests: &str) -> Combined {
    // HumanEval-X splits one file in parts (the test's package and imports, the program's
    // imports, the program, the tests); Go wants one package clause and the imports first,
    // without duplicates. Everything goes into one test file.
    let (program_imports, program_body) = split_go_imports(program);
    let (mut imports, tests_body) = split_go_imports(tests);
    if !tests.contains("package ") && !tests_body.contains("github.com/stretchr/testify") {
        for spec in ["\"testing\"", "\"github.com/stretchr/testify/assert\""] {
            imports.push(spec.to_owned());
        }
    }
    for spec in program_imports {
        if !imports.contains(&spec) {
            imports.push(spec);
        }
    }
    let mut file = String::from("package main\n\nimport (\n");
    for spec in &imports {
        let _ = writeln!(file, "    {spec}");
    }
    file.push_str(")\n\n");
    file.push_str(&program_body);
    file.push('\n');
    file.push_str(&tests_body);
    let mut files = vec![("main_test.go".to_owned(), file.clone())];
    if !file.contains("func main(") {
        files.push(("main.go".into(), "package main\n\nfunc main() {}\n".into()));
    }
    let harness = format!(
        r#"package main

import (
    "io"
    "os"
    "testing"
)

func TestMain(m *testing.M) {{
    in := os.NewFile({NONCE_FD}, "nonce")
    nonce, _ := io.ReadAll(in)
    in.Close()
    proof := os.NewFile({PROOF_FD}, "proof")
    code := m.Run()
    if code == 0 {{
        proof.Write([]byte("DONE " + string(nonce) + "\n"))
    }}
    proof.Close()
    os.Exit(code)
}}
"#
    );
    files.push(("crucible_main_test.go".into(), harness));
    Combined {
        files,
        main_class: None,
    }
}

/// Split Go source into its import specs (one per entry, e.g. `"math"` or `m "math"`) and the
/// rest, dropping the package clause.
fn split_go_imports(src: &str) -> (Vec<String>, String) {
    let mut specs = Vec::new();
    let mut rest = String::new();
    let mut in_block = false;
    let mut header = true;
    for line in src.lines() {
        let trimmed = line.trim();
        if in_block {
            if trimmed.starts_with(')') {
                in_block = false;
            } else if !trimmed.is_empty() && !trimmed.starts_with("//") {
                specs.push(trimmed.to_owned());
            }
            continue;
        }
        if header && trimmed.starts_with("package ") {
            continue;
        }
        if header && trimmed.starts_with("import") {
            let spec = trimmed.trim_start_matches("import").trim();
            if spec.starts_with('(') {
                let inner = spec.trim_start_matches('(').trim();
                if let Some(one_line) = inner.strip_suffix(')') {
                    specs.extend(
                        one_line
                            .split(';')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty()),
                    );
                } else {
                    in_block = true;
                    if !inner.is_empty() {
                        specs.push(inner.to_owned());
                    }
                }
            } else if !spec.is_empty() {
                specs.push(spec.to_owned());
            }
            continue;
        }
        let is_header_noise = trimmed.is_empty() || trimmed.starts_with("//");
        if !is_header_noise {
            header = false;
        }
        rest.push_str(line);
        rest.push('\n');
    }
    (specs, rest)
}

/// Per-test outcomes from `go test -test.v` output (informational: the pass itself needs the
/// proof line).
pub(crate) fn go_test_outcomes(stdout: &[u8]) -> Vec<TestOutcome> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let (status, rest) = if let Some(rest) = line.strip_prefix("--- PASS: ") {
                (Status::Passed, rest)
            } else if let Some(rest) = line.strip_prefix("--- FAIL: ") {
                (Status::WrongAnswer, rest)
            } else {
                return None;
            };
            let name = rest.split_whitespace().next().unwrap_or(rest).to_owned();
            Some(TestOutcome {
                name,
                status,
                detail: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_main_is_renamed_and_terminated() {
        let combined = combine(
            Language::Cpp,
            "int f(){return 1;}",
            "#include<assert.h>\nint main(){\n  assert(f()==1);\n  if (1) { }\n}\n",
            "abc",
        )
        .unwrap();
        let src = &combined.files[0].1;
        assert!(src.contains(
            "int __crucible_test_main_abc() {\n  assert(f()==1);\n  if (1) { }\n\n    return 0;\n}"
        ));
        assert!(src.contains("int main(int argc, char **argv)"));
    }

    #[test]
    fn braces_in_strings_and_comments_are_skipped() {
        let src = "int main(){ puts(\"}\"); /* } */ // }\n char c='}'; }";
        let open = src.find('{').unwrap();
        assert_eq!(matching_brace(src, open), Some(src.len() - 1));
    }

    #[test]
    fn rust_test_functions_become_calls() {
        let tests = "#[cfg(test)]\nmod tests {\n use super::*;\n #[test]\n fn test_a() { assert!(true); }\n}\n";
        let combined = combine(Language::Rust, "fn f() {}", tests, "s").unwrap();
        let src = &combined.files[0].1;
        assert!(src.contains("pub(crate) fn test_a()"));
        assert!(src.contains("(\"test_a\", tests::test_a as fn()),"));
    }

    #[test]
    fn proof_needs_the_nonce() {
        let good = parse_proof(b"T pass main\nDONE n0nce\n", "n0nce");
        assert!(good.completed);
        assert_eq!(good.tests.len(), 1);
        let forged = parse_proof(b"T pass main\nDONE guess\n", "n0nce");
        assert!(!forged.completed);
        let failed = parse_proof(b"T fail line 3\tassertion failed: x == 1\n", "n");
        assert_eq!(failed.tests[0].status, Status::WrongAnswer);
        assert_eq!(
            failed.tests[0].detail.as_deref(),
            Some("assertion failed: x == 1")
        );
    }

    #[test]
    fn go_imports_are_merged() {
        let program = "import (\n    \"math\"\n)\n\n// doc\nfunc F() float64 { return math.Pi }\n";
        let tests = "package main\n\nimport (\n    \"testing\"\n    \"math\"\n    \"github.com/stretchr/testify/assert\"\n)\nfunc TestF(t *testing.T) { assert.Equal(t, math.Pi, F()) }\n";
        let combined = go(program, tests);
        let file = &combined.files[0].1;
        assert_eq!(file.matches("\"math\"").count(), 1, "{file}");
        assert!(file.starts_with("package main\n\nimport (\n    \"testing\"\n"));
        assert!(file.contains("// doc\nfunc F()"));
        assert_eq!(file.matches("package ").count(), 1);
    }

    #[test]
    fn go_outcomes() {
        let out = b"=== RUN   TestA\n--- PASS: TestA (0.00s)\n--- FAIL: TestB (0.00s)\n";
        let tests = go_test_outcomes(out);
        assert_eq!(tests.len(), 2);
        assert_eq!(tests[1].status, Status::WrongAnswer);
    }
}
