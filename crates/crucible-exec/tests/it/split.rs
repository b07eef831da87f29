//! Split appended tests: the program runs in its own sandbox and receives call arguments only;
//! the test code, with the expected values, runs in a driver beside it.
//!
//! Each language has a program that reads the tests' expected values from its own process (its
//! caller's machine code, its memory, the test's source file or class). Each is run twice: with
//! the tests in its process, as before the split (`ExecConfig::split_appended_tests = false`),
//! where the exploit works and it passes, and split, where it must fail.

use super::*;

fn appended(language: Language, program: &str, tests: &str) -> ExecReport {
    let mut req = request(
        language,
        program.into(),
        TestSuite::Code { code: tests.into() },
    );
    req.limits = limits(5.0, 512);
    run(&req)
}

/// An executor that runs every appended test in the program's process, as before the split.
fn in_process_executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("exec-cache-in-process");
        let mut config = ExecConfig::new(&cache);
        config.python_workers = 1;
        config.split_appended_tests = false;
        Executor::new(&config).expect("the sandbox works on this machine")
    })
}

/// `program` reads the expected values from its own process: with the tests in that process
/// the exploit works (it passes, and the report says the tests were in-process); split, it is
/// judged wrong.
#[track_caller]
fn assert_exploit_works_only_in_process(language: Language, program: &str, tests: &str) {
    let mut req = request(
        language,
        program.into(),
        TestSuite::Code { code: tests.into() },
    );
    req.limits = limits(5.0, 512);
    let report = in_process_executor()
        .run(&req)
        .unwrap_or_else(|e| panic!("run failed: {e:#}"));
    assert!(report.in_process_tests, "{language}: {report:#?}");
    assert_eq!(
        report.status,
        Status::Passed,
        "{language}: the exploit no longer works in-process: {report:#?}"
    );
    assert_split(&appended(language, program, tests), Status::WrongAnswer);
}

#[track_caller]
fn assert_split(report: &ExecReport, status: Status) {
    assert!(!report.in_process_tests, "not split: {report:#?}");
    assert_status(report, status);
}

#[test]
fn c_family_programs_reading_the_tests_machine_code_fail() {
    let tests = fixture("split", "add_tests.c");
    for (language, file) in [
        (Language::C, "reads_caller_code.c"),
        (Language::Cpp, "reads_caller_code.cpp"),
    ] {
        assert_exploit_works_only_in_process(language, &fixture("split", file), &tests);
    }
}

#[test]
fn c_family_values_cross_exactly() {
    let program = r#"#include <vector>
#include <string>
#include <map>
#include <optional>
#include <tuple>
#include <algorithm>
using namespace std;
vector<float> scale(const vector<float> &v, double k) { vector<float> o; for (float x : v) o.push_back(x * k); return o; }
map<char, int> histogram(string s) { map<char, int> m; for (char c : s) m[c]++; return m; }
pair<long long, string> split_first(vector<string> words) { return {(long long)words.size() << 40, words.empty() ? "" : words[0]}; }
optional<unsigned int> find_first(vector<vector<int>> grid, int x) { for (auto &row : grid) for (int v : row) if (v == x) return (unsigned)v; return nullopt; }
void sort_in_place(vector<int> &v) { sort(v.begin(), v.end()); }
tuple<bool, char, double> info(string s) { return {s.empty(), s.empty() ? '\0' : s[0], 0.1 + 0.2}; }
string echo(string s) { return s; }
"#;
    let tests = r#"#include <algorithm>
int main() {
    vector<float> v = {0.1f, -2.5f, 3e-39f};
    assert(scale(v, 3.0) == vector<float>({0.1f * 3.0, -2.5f * 3.0, 3e-39f * 3.0}));
    assert(histogram("abca") == (map<char, int>{{'a', 2}, {'b', 1}, {'c', 1}}));
    assert(split_first({"x y", "z"}) == make_pair(2LL << 40, string("x y")));
    assert(find_first({{1, 2}, {3}}, 3) == optional<unsigned int>(3));
    assert(!find_first({}, 3).has_value());
    vector<int> w = {3, 1, 2};
    sort_in_place(w);
    assert(w == vector<int>({1, 2, 3}));
    assert(info("q") == make_tuple(false, 'q', 0.1 + 0.2));
    string odd("a\0b\n c:", 7);
    assert(echo(odd) == odd);
    assert(echo("") == "");
}
"#;
    let report = appended(Language::Cpp, program, tests);
    assert_split(&report, Status::Passed);
    let wrong = program.replace("m[c]++", "m[c] += 2");
    let report = appended(Language::Cpp, &wrong, tests);
    assert_split(&report, Status::WrongAnswer);
    let c_program = "#include <string.h>\n#include <stdlib.h>\ndouble half(long long x) { return x / 2.0; }\nchar *twice(const char *s) { char *o = malloc(2 * strlen(s) + 1); strcpy(o, s); strcat(o, s); return o; }\nunsigned char wrap(unsigned char c) { return c + 1; }\n";
    let c_tests = "#include <string.h>\nint main() {\n    assert(half(3) == 1.5);\n    assert(half(-9007199254740993LL) == -9007199254740993LL / 2.0);\n    assert(strcmp(twice(\"ab\"), \"abab\") == 0);\n    assert(wrap(255) == 0);\n}\n";
    let report = appended(Language::C, c_program, c_tests);
    assert_split(&report, Status::Passed);
}

#[test]
fn the_subject_ending_during_a_call_decides_the_verdict() {
    let tests = "int main() {\n    assert(add(1, 2) == 3);\n    assert(add(2, 2) == 4);\n}\n";
    let cases: &[(&str, &str, Status)] = &[
        (
            "exit(0)",
            "#include <stdlib.h>\nint add(int a, int b) { if (a == 2) exit(0); return a + b; }\n",
            Status::RuntimeError,
        ),
        (
            "crash",
            "int add(int a, int b) { if (a == 2) { volatile int *p = 0; *p = 1; } return a + b; }\n",
            Status::RuntimeError,
        ),
        (
            "loop",
            "int add(int a, int b) { volatile int spin = 1; while (a == 2 && spin) {} return a + b; }\n",
            Status::Timeout,
        ),
        (
            "exception",
            "#include <stdexcept>\nint add(int a, int b) { if (a == 2) throw std::out_of_range(\"no\"); return a + b; }\n",
            Status::RuntimeError,
        ),
    ];
    for (what, program, status) in cases {
        let mut req = request(
            Language::Cpp,
            (*program).into(),
            TestSuite::Code { code: tests.into() },
        );
        req.limits = limits(1.0, 256);
        let report = run(&req);
        assert!(!report.in_process_tests, "{what}: {report:#?}");
        assert_eq!(report.status, *status, "{what}: {report:#?}");
    }
}

#[test]
fn signatures_that_cannot_be_carried_run_in_process() {
    let program = "int sum(const int *v, int n) { int s = 0; for (int i = 0; i < n; i++) s += v[i]; return s; }\n";
    let tests = "int main() {\n    int v[] = {1, 2, 3};\n    assert(sum(v, 3) == 6);\n}\n";
    let report = appended(Language::C, program, tests);
    assert!(report.in_process_tests, "{report:#?}");
    assert_status(&report, Status::Passed);
}

#[test]
fn rust_programs_scanning_their_memory_for_the_tests_table_fail() {
    let tests = fixture("split", "add_table_tests.rs");
    assert_exploit_works_only_in_process(
        Language::Rust,
        &fixture("split", "scans_memory.rs"),
        &tests,
    );
    let honest = "fn add(a: i32, b: i32) -> i32 { a + b }\n";
    assert_split(&appended(Language::Rust, honest, &tests), Status::Passed);
}

#[test]
fn rust_values_cross_exactly() {
    let program = r#"use std::collections::HashMap;
fn scale(v: &[f32], k: f64) -> Vec<f32> { v.iter().map(|x| (*x as f64 * k) as f32).collect() }
fn histogram(s: &str) -> HashMap<char, usize> { let mut m = HashMap::new(); for c in s.chars() { *m.entry(c).or_insert(0) += 1; } m }
fn first<'a>(words: Vec<&'a str>) -> Option<(&'a str, i128)> { words.first().map(|w| (*w, -(1i128 << 100))) }
fn sort_in_place(v: &mut Vec<i64>) { v.sort(); }
fn echo(s: String) -> String { s }
fn nothing(_x: u8) {}
fn fails(x: isize) -> isize { if x < 0 { panic!("negative input {x}"); } x }
"#;
    let tests = r#"#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn values() {
        assert_eq!(scale(&[0.1, -2.5, 3e-39], 3.0), vec![(0.1f32 as f64 * 3.0) as f32, -7.5, (3e-39f32 as f64 * 3.0) as f32]);
        let h = histogram("abcaé");
        assert_eq!(h[&'a'], 2);
        assert_eq!(h[&'é'], 1);
        assert_eq!(first(vec!["x y", "z"]), Some(("x y", -(1i128 << 100))));
        assert_eq!(first(vec![]), None);
        let mut v = vec![3, -1, 2];
        sort_in_place(&mut v);
        assert_eq!(v, vec![-1, 2, 3]);
        assert_eq!(echo("a\n b:\u{0}".to_string()), "a\n b:\u{0}");
        nothing(1);
        assert_eq!(f64::NAN.to_bits(), f64::NAN.to_bits());
    }
    #[test]
    fn panics_cross_as_errors() {
        assert_eq!(fails(-1), 0);
    }
}
"#;
    let report = appended(Language::Rust, program, tests);
    assert!(!report.in_process_tests, "{report:#?}");
    assert_eq!(report.tests.len(), 2, "{report:#?}");
    assert_eq!(report.tests[0].status, Status::Passed, "{report:#?}");
    assert_eq!(report.tests[1].status, Status::RuntimeError, "{report:#?}");
    let detail = report.tests[1].detail.as_deref().unwrap_or("");
    assert!(detail.contains("negative input -1"), "{detail}");
}

#[test]
fn javascript_programs_reading_the_tests_source_fail() {
    let tests = fixture("split", "add_tests.js");
    assert_exploit_works_only_in_process(
        Language::JavaScript,
        &fixture("split", "reads_test_source.js"),
        &tests,
    );
    let honest = "const add = (a, b) => a + b;\n";
    assert_split(
        &appended(Language::JavaScript, honest, &tests),
        Status::Passed,
    );
}

#[test]
fn javascript_values_cross_exactly() {
    let program = r#"
const same = (x) => x;
function kinds(x) { return [typeof x, Object.is(x, -0), Number.isNaN(x)]; }
const later = (x) => { if (x > 2) throw new RangeError('too big: ' + x); return x; };
"#;
    let tests = r#"
const assert = require('assert');
const testValues = () => {
  const value = { b: [1, undefined, null, -0, NaN, Infinity, 0.1 + 0.2], a: 'x\ny', 2: true };
  assert.deepStrictEqual(same(value), value);
  console.assert(JSON.stringify(same(value)) === JSON.stringify(value));
  console.assert(same(12345678901234567890n) === 12345678901234567890n);
  assert.deepStrictEqual(same(new Map([[1, new Set(['a'])]])), new Map([[1, new Set(['a'])]]));
  assert.deepStrictEqual(kinds(-0), ['number', true, false]);
  assert.deepStrictEqual(kinds(), ['undefined', false, false]);
  console.assert(later(1) === 1);
  assert.throws(() => later(3), /too big: 3/);
}
testValues()
"#;
    let report = appended(Language::JavaScript, program, tests);
    assert_split(&report, Status::Passed);
    let callback = "const apply = (f, x) => f(x);\n";
    let tests = "console.assert(apply((x) => x + 1, 1) === 2)\n";
    let report = appended(Language::JavaScript, callback, tests);
    assert!(report.in_process_tests, "{report:#?}");
    assert_status(&report, Status::Passed);
}

#[test]
fn go_programs_scanning_their_memory_for_the_tests_table_fail() {
    let tests = fixture("split", "add_table_tests.go");
    assert_exploit_works_only_in_process(
        Language::Go,
        &fixture("split", "scans_memory.go"),
        &tests,
    );
    let honest = "func Add(a, b int) int { return a + b }\n";
    assert_split(&appended(Language::Go, honest, &tests), Status::Passed);
}

#[test]
fn go_values_cross_exactly() {
    let program = r#"import "sort"

func Scale(v []float32, k float64) []float32 {
    var out []float32
    for _, x := range v {
        out = append(out, float32(float64(x)*k))
    }
    return out
}

func Histogram(s string) map[rune]int {
    m := map[rune]int{}
    for _, c := range s {
        m[c]++
    }
    return m
}

func MinMax(xs []int) (int, int, bool) {
    if len(xs) == 0 {
        return 0, 0, false
    }
    ys := append([]int{}, xs...)
    sort.Ints(ys)
    return ys[0], ys[len(ys)-1], true
}

func Pairs(n uint8) [][2]int64 {
    var out [][2]int64
    for i := uint8(0); i < n; i++ {
        out = append(out, [2]int64{int64(i), -int64(i) << 40})
    }
    return out
}

func main() {}
"#;
    let tests = r#"func TestValues(t *testing.T) {
    assert := assert.New(t)
    assert.Equal([]float32{float32(float64(float32(0.1)) * 3), -7.5}, Scale([]float32{0.1, -2.5}, 3))
    assert.Nil(Scale(nil, 3))
    assert.Equal(map[rune]int{'a': 2, 'é': 1, 'b': 1}, Histogram("abaé"))
    lo, hi, ok := MinMax([]int{3, -9, 4})
    assert.Equal([]interface{}{-9, 4, true}, []interface{}{lo, hi, ok})
    assert.Equal([][2]int64(nil), Pairs(0))
    assert.Equal([][2]int64{{0, 0}, {1, -1 << 40}}, Pairs(2))
}
"#;
    assert_split(&appended(Language::Go, program, tests), Status::Passed);
}

#[test]
fn java_programs_reading_the_test_class_fail() {
    let tests = fixture("split", "add_table_tests.java");
    assert_exploit_works_only_in_process(
        Language::Java,
        &fixture("split", "reflects_test_class.java"),
        &tests,
    );
    let honest = "class Solution {\n    public int add(int a, int b) { return a + b; }\n}\n";
    assert_split(&appended(Language::Java, honest, &tests), Status::Passed);
}

#[test]
fn java_values_cross_exactly() {
    let program = r#"import java.util.*;

class Solution {
    public List<Double> scale(List<Double> xs, float k) { List<Double> out = new ArrayList<>(); for (Double x : xs) out.add(x == null ? null : x * k); return out; }
    public static Map<Character, Integer> histogram(String s) { Map<Character, Integer> m = new TreeMap<>(); for (char c : s.toCharArray()) m.merge(c, 1, Integer::sum); return m; }
    public Optional<String> first(String[] words) { return words.length == 0 ? Optional.empty() : Optional.of(words[0]); }
    public long[] widen(int[] xs) { long[] out = new long[xs.length]; for (int i = 0; i < xs.length; i++) out[i] = (long) xs[i] << 33; return out; }
    public int check(int x) { if (x < 0) throw new IllegalArgumentException("negative: " + x); assert x != 7 : "seven"; return x; }
}
"#;
    let tests = r#"public class Main {
    public static void main(String[] args) {
        Solution s = new Solution();
        List<Double> in = new ArrayList<>(Arrays.asList(0.1, null, -2.5));
        if (!s.scale(in, 3f).equals(Arrays.asList(0.1 * 3f, null, -7.5))) throw new AssertionError("scale");
        if (!Solution.histogram("abaé").equals(Map.of('a', 2, 'b', 1, 'é', 1))) throw new AssertionError("histogram");
        if (!s.first(new String[] {"x y", "z"}).get().equals("x y")) throw new AssertionError("first");
        if (s.first(new String[] {}).isPresent()) throw new AssertionError("empty");
        if (!Arrays.equals(s.widen(new int[] {1, -1}), new long[] {1L << 33, -1L << 33})) throw new AssertionError("widen");
        try {
            s.check(-1);
            throw new AssertionError("no exception");
        } catch (RuntimeException e) {
            if (!e.getMessage().contains("negative: -1")) throw new AssertionError(e.getMessage());
        }
    }
}
"#;
    assert_split(&appended(Language::Java, program, tests), Status::Passed);
}

#[test]
fn program_functions_may_share_names_with_the_servers_own() {
    let cases: &[(Language, &str, &str)] = &[
        (
            Language::Cpp,
            "int f(int in) { return in + 1; }\nint w(int end) { return end * 2; }\n",
            "int main() {\n    assert(f(1) == 2);\n    assert(w(2) == 4);\n}\n",
        ),
        (
            Language::Rust,
            "fn word(x: i32) -> i32 { x + 1 }\nfn index(x: i32) -> i32 { x * 2 }\n",
            "fn main() {\n    assert_eq!(word(1), 2);\n    assert_eq!(index(2), 4);\n}\n",
        ),
        (
            Language::Go,
            "func in(x int) int { return x + 1 }\n",
            "func TestIn(t *testing.T) {\n    assert.Equal(t, 2, in(1))\n}\n",
        ),
        (
            Language::JavaScript,
            "const next = (x) => x + 1;\nfunction line(x) { return x * 2; }\n",
            "console.assert(next(1) === 2)\nconsole.assert(line(2) === 4)\n",
        ),
    ];
    for (language, program, tests) in cases {
        let report = appended(*language, program, tests);
        assert!(!report.in_process_tests, "{language}: {report:#?}");
        assert_eq!(report.status, Status::Passed, "{language}: {report:#?}");
    }
}

#[test]
fn a_driver_that_does_not_compile_falls_back_to_in_process_tests() {
    // `f` is defined by a macro, which the signature reader does not expand: no proxy, so the
    // driver does not compile, and the tests run in the program's process (and say so).
    let program = "#define DEFINE(name) int name(int x) { return x + 1; }\nDEFINE(f)\n";
    let tests = "int main() {\n    assert(f(1) == 2);\n}\n";
    let report = appended(Language::C, program, tests);
    assert!(report.in_process_tests, "{report:#?}");
    assert_status(&report, Status::Passed);
}

#[test]
fn go_panics_and_exits_during_a_call_are_runtime_errors() {
    let tests = "func TestAdd(t *testing.T) {\n    assert.Equal(t, 3, Add(1, 2))\n}\n";
    for program in [
        "import \"os\"\n\nfunc Add(a, b int) int { os.Exit(0); return 0 }\n",
        "func Add(a, b int) int { panic(\"no adding today\") }\n",
    ] {
        let report = appended(Language::Go, program, tests);
        assert_split(&report, Status::RuntimeError);
    }
}
