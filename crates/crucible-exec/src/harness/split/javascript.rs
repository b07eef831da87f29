//! JavaScript: finding the program's top-level functions the tests use, and generating the
//! driver's proxies, the subject's loader and server, and the wire code for them.
//!
//! JavaScript values carry their type on the wire: each call and reply is one line of JSON in
//! which numbers are `{"n": String(x)}` (so `NaN`, `Infinity` and `-0` survive), `undefined`
//! is `{"u": 1}`, strings, booleans and `null` are themselves, arrays are arrays, plain objects
//! are `{"o": [[key, value], ...]}` (key order kept), `Map`s `{"m": ...}`, `Set`s `{"S": ...}`,
//! `BigInt`s `{"b": "digits"}` and `Date`s `{"d": ms}`. Functions, symbols, class instances
//! and cycles cannot be carried: in an argument the driver falls back to running the tests in
//! the program's process (`F` on the proof channel); in a result the call fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crucible_types::Language;

use super::scan::{self, Syntax};
use super::{DRIVER_IN_FD, DRIVER_OUT_FD, Plan, SUBJECT_IN_FD, SUBJECT_OUT_FD, SplitProgram};
use crate::Result;
use crate::harness::{self, Combined, PROOF_FD};

/// What a top-level declaration binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Function,
    /// A class or another value.
    Other,
}

/// Plan a split run for a JavaScript program and its appended test code.
pub(super) fn plan(program: &str, tests: &str, salt: &str) -> Result<Plan> {
    let program_names = top_level_names(program);
    let test_code = scan::blank(tests, Syntax::JavaScript);
    let test_declared = declared_anywhere(&test_code);
    let mut functions = Vec::new();
    for name in scan::identifier_set(&test_code) {
        if test_declared.contains(&name) {
            continue;
        }
        match program_names.get(&name) {
            None => {}
            Some(Kind::Function) => functions.push(name),
            Some(Kind::Other) => {
                return Ok(Plan::in_process(format!(
                    "the tests use the program's `{name}`, which is not a function"
                )));
            }
        }
    }
    let wire = wire(salt);
    let mut driver_program = wire.clone();
    driver_program.push_str(&driver_channel(salt));
    for (index, name) in functions.iter().enumerate() {
        let _ = writeln!(
            driver_program,
            "function {name}(...args) {{ return __cw_{salt}.call({index}, '{name}', args); }}"
        );
    }
    let driver = harness::combine(Language::JavaScript, &driver_program, tests, salt)?;
    let subject = subject(program, salt, &wire, &functions);
    Ok(Plan::Split(Box::new(SplitProgram {
        subject,
        driver,
        functions,
    })))
}

/// Names declared at the top level (brace depth 0) of a script, with what they bind.
fn top_level_names(src: &str) -> BTreeMap<String, Kind> {
    let code = scan::blank(src, Syntax::JavaScript);
    let b = code.as_bytes();
    let mut names = BTreeMap::new();
    let mut depth = 0usize;
    let mut cursor = 0;
    for (at, word) in scan::identifiers(&code) {
        for &c in &b[cursor..at] {
            match c {
                b'{' => depth += 1,
                b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        cursor = at;
        if depth != 0 {
            continue;
        }
        let after = at + word.len();
        match word {
            "function" | "class" => {
                let rest = code[after..].trim_start();
                let rest = rest.strip_prefix('*').unwrap_or(rest);
                if let Some((name, _)) = scan::ident_after(rest, 0) {
                    let kind = if word == "class" {
                        Kind::Other
                    } else {
                        Kind::Function
                    };
                    names.entry(name.to_owned()).or_insert(kind);
                }
            }
            "const" | "let" | "var" => {
                if let Some((name, end)) = scan::ident_after(&code, after) {
                    let rest = code[end..].trim_start();
                    let kind = match rest.strip_prefix('=') {
                        Some(init) if !init.starts_with('=') => initializer_kind(init),
                        _ => Kind::Other,
                    };
                    names.entry(name.to_owned()).or_insert(kind);
                }
            }
            _ => {}
        }
    }
    names
}

/// Whether an initialiser makes a function (`function`, `async`, an arrow).
fn initializer_kind(init: &str) -> Kind {
    let init = init.trim_start();
    let init = init
        .strip_prefix("async")
        .filter(|r| r.starts_with(|c: char| c.is_whitespace() || c == '('))
        .map(str::trim_start)
        .unwrap_or(init);
    if init.starts_with("function") {
        return Kind::Function;
    }
    let arrow_params = if init.starts_with('(') {
        scan::matching(init, 0).map(|close| &init[close + 1..])
    } else {
        scan::ident_after(init, 0).map(|(_, end)| &init[end..])
    };
    match arrow_params {
        Some(rest) if rest.trim_start().starts_with("=>") => Kind::Function,
        _ => Kind::Other,
    }
}

/// Every name declared anywhere (`function`, `class`, `const`, `let`, `var`).
fn declared_anywhere(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, word) in scan::identifiers(code) {
        if matches!(word, "function" | "class" | "const" | "let" | "var")
            && let Some((name, _)) = scan::ident_after(code, at + word.len())
        {
            out.insert(name.to_owned());
        }
    }
    out
}

/// Encoding and decoding of values (shared by both sides).
fn wire(salt: &str) -> String {
    format!(
        r#"const __cw_{salt}_codec = (() => {{
  class Uncarriable extends Error {{}}
  const enc = (v, seen) => {{
    switch (typeof v) {{
      case 'undefined': return {{ u: 1 }};
      case 'number': return {{ n: Object.is(v, -0) ? '-0' : String(v) }};
      case 'string': case 'boolean': return v;
      case 'bigint': return {{ b: v.toString() }};
      case 'object': break;
      default: throw new Uncarriable('a ' + typeof v);
    }}
    if (v === null) return null;
    if (seen.has(v)) throw new Uncarriable('a value that contains itself');
    seen.add(v);
    try {{
      if (Array.isArray(v)) return Array.from(v, (x) => enc(x, seen));
      if (v instanceof Map) return {{ m: Array.from(v, ([k, x]) => [enc(k, seen), enc(x, seen)]) }};
      if (v instanceof Set) return {{ S: Array.from(v, (x) => enc(x, seen)) }};
      if (v instanceof Date) return {{ d: v.getTime() }};
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {{
        throw new Uncarriable('an instance of ' + ((proto.constructor && proto.constructor.name) || 'a class'));
      }}
      return {{ o: Object.keys(v).map((k) => [k, enc(v[k], seen)]) }};
    }} finally {{
      seen.delete(v);
    }}
  }};
  const dec = (t) => {{
    if (t === null || typeof t !== 'object') return t;
    if (Array.isArray(t)) return t.map(dec);
    if ('n' in t) return Number(t.n);
    if ('u' in t) return undefined;
    if ('b' in t) return BigInt(t.b);
    if ('d' in t) return new Date(t.d);
    if ('m' in t) return new Map(t.m.map(([k, x]) => [dec(k), dec(x)]));
    if ('S' in t) return new Set(t.S.map(dec));
    const o = {{}};
    for (const [k, x] of t.o) Object.defineProperty(o, k, {{ value: dec(x), enumerable: true, writable: true, configurable: true }});
    return o;
  }};
  const fs = require('fs');
  const lines = (fd) => {{
    let pending = Buffer.alloc(0);
    const chunk = Buffer.alloc(65536);
    return () => {{
      for (;;) {{
        const nl = pending.indexOf(10);
        if (nl >= 0) {{
          const line = pending.subarray(0, nl).toString('utf8');
          pending = pending.subarray(nl + 1);
          return line;
        }}
        let n;
        try {{
          n = fs.readSync(fd, chunk, 0, chunk.length, null);
        }} catch (e) {{
          if (e.code === 'EAGAIN') {{ Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); continue; }}
          return null;
        }}
        if (n === 0) return null;
        pending = Buffer.concat([pending, chunk.subarray(0, n)]);
      }}
    }};
  }};
  const send = (fd, text) => {{
    const bytes = Buffer.from(text + '\n', 'utf8');
    let off = 0;
    while (off < bytes.length) {{
      try {{
        off += fs.writeSync(fd, bytes, off, bytes.length - off);
      }} catch (e) {{
        if (e.code === 'EAGAIN') {{ Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); continue; }}
        return false;
      }}
    }}
    return true;
  }};
  return {{ Uncarriable, enc: (v) => enc(v, new Set()), dec, lines, send, fs }};
}})();
"#
    )
}

/// The driver's half of the channel (errors end the test; an argument that cannot be carried
/// asks the executor to run the tests in the program's process).
fn driver_channel(salt: &str) -> String {
    format!(
        r#"const __cw_{salt} = (() => {{
  const c = __cw_{salt}_codec;
  const next = c.lines({DRIVER_IN_FD});
  return {{
    call(index, name, args) {{
      let payload;
      try {{
        payload = JSON.stringify([index, args.map(c.enc)]);
      }} catch (e) {{
        if (e instanceof c.Uncarriable) {{
          try {{ c.fs.writeSync({PROOF_FD}, 'F an argument of ' + name + '() is ' + e.message + '\n'); }} catch (_) {{}}
          process.exit(3);
        }}
        throw e;
      }}
      const gone = () => new Error('the program exited or crashed during a call to ' + name + '()');
      if (!c.send({DRIVER_OUT_FD}, payload)) throw gone();
      const line = next();
      if (line === null) throw gone();
      let reply;
      try {{ reply = JSON.parse(line); }} catch (e) {{ reply = null; }}
      if (reply && typeof reply.e === 'string') throw new Error(reply.e);
      if (!reply || !('r' in reply)) throw new Error('the program sent a malformed reply to ' + name + '()');
      return c.dec(reply.r);
    }},
  }};
}})();
"#
    )
}

/// The subject: a loader that runs the program as a script (as the tests' harness does), then
/// the server loop.
fn subject(program: &str, salt: &str, wire: &str, functions: &[String]) -> Combined {
    let table: Vec<String> = functions.iter().map(|f| format!("() => {f}")).collect();
    let server = format!(
        r#"{wire}
// The program's functions, looked up when called (a name it does not define fails that call).
const __cw_{salt}_functions = [{table}];
{{
  const c = __cw_{salt}_codec;
  const functions = __cw_{salt}_functions;
  const next = c.lines({SUBJECT_IN_FD});
  for (;;) {{
    const line = next();
    if (line === null) break;
    let index, args;
    try {{ [index, args] = JSON.parse(line); }} catch (e) {{ process.exit(70); }}
    if (!Number.isInteger(index) || index < 0 || index >= functions.length || !Array.isArray(args)) process.exit(70);
    let reply;
    try {{
      const result = functions[index]()(...args.map(c.dec));
      reply = JSON.stringify({{ r: c.enc(result) }});
    }} catch (e) {{
      let text;
      try {{ text = e instanceof c.Uncarriable ? 'the result is ' + e.message + ', which cannot be sent back' : String(e && e.stack ? e.stack : e); }} catch (_) {{ text = 'an exception'; }}
      reply = JSON.stringify({{ e: text }});
    }}
    if (!c.send({SUBJECT_OUT_FD}, reply)) break;
  }}
}}
"#,
        table = table.join(", ")
    );
    let loader = format!(
        r#"'use strict';
const fs = require('fs');
const vm = require('vm');
let script;
try {{
  script = new vm.Script(fs.readFileSync(__dirname + '/program.js', 'utf8'), {{ filename: 'program.js' }});
}} catch (e) {{
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
}}
globalThis.require = require;
globalThis.module = module;
try {{
  script.runInThisContext();
}} catch (e) {{
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(2);
}}
new vm.Script(fs.readFileSync(__dirname + '/server_{salt}.js', 'utf8'), {{ filename: 'server.js' }}).runInThisContext();
"#
    );
    Combined {
        files: vec![
            ("main.js".into(), loader),
            ("program.js".into(), program.to_owned()),
            (format!("server_{salt}.js"), server),
        ],
        main_class: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_functions_and_values() {
        let src = "const add = (a, b) => a + b;\nfunction sub(a, b) { const inner = () => 1; return a - b; }\nconst inc = x => x + 1;\nconst TABLE = [1, 2];\nclass P {}\nconst mk = async (x) => x;\nlet f = function () {};\n";
        let names = top_level_names(src);
        for f in ["add", "sub", "inc", "mk", "f"] {
            assert_eq!(names.get(f), Some(&Kind::Function), "{f}: {names:?}");
        }
        for o in ["TABLE", "P"] {
            assert_eq!(names.get(o), Some(&Kind::Other), "{o}");
        }
        assert!(!names.contains_key("inner"));
    }
}
