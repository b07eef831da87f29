//! EvalPlus HumanEval+ and MBPP+: the original prompts with many more test inputs.
//!
//! Inputs are stored as JSON argument lists; expected outputs are not stored: EvalPlus gets them
//! by running the reference solution. Here the reference runs inside the executor's trusted test
//! driver (a separate process from the candidate, see crucible-exec's "Python workers"): each
//! hidden test calls the candidate through the driver's proxy and compares its value with the
//! reference's value for a fresh copy of the same input, under EvalPlus's float tolerance.

use std::path::Path;

use crucible_types::{Language, Task, TaskKind, TestSuite};

use super::humaneval::visible_tests;
use super::{reject, reject_duplicate_ids};
use crate::pyjson::{self, Json, Shape, push_python_str};
use crate::task::{BenchmarkTask, Harness, HiddenTests, Reject, Solution};

/// MBPP+ tasks whose shown assert contradicts the reference solution EvalPlus ships (hidden
/// expected values come from that reference): `Mbpp/295` asks for the sum of proper divisors in
/// its assert (`sum_div(8) == 7`) but the reference counts the number itself. The assert stays in
/// the prompt, as in EvalPlus, but is not run as a visible test.
const VISIBLE_EXCLUDED: &[&str] = &["Mbpp/295"];

/// The one task whose answer is not unique: `find_zero` may return any root, so it is judged by
/// checking the polynomial at the returned point (as EvalPlus does) rather than by comparison
/// with the reference output.
const FIND_ZERO: &str = "HumanEval/32";

pub(super) fn parse_humaneval_plus(_path: &Path, text: &str) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    parse_lines(text, |record| {
        let fields = Fields::read(record)?;
        let visible = visible_tests(&fields.task_id, &fields.prompt, &fields.entry_point);
        let canonical = text_field(record, "canonical_solution")?;
        let hidden = if fields.task_id == FIND_ZERO {
            find_zero_tests(&fields)?
        } else {
            let reference = format!("{}{canonical}", fields.prompt);
            reference_tests(&fields, &reference, &[])?
        };
        Ok(BenchmarkTask {
            task: function_task(&fields, fields.prompt.clone(), visible),
            hidden,
            reference: Some(Solution::Continuation(canonical)),
            harness: Harness::EvalPlus,
        })
    })
}

pub(super) fn parse_mbpp_plus(_path: &Path, text: &str) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    parse_lines(text, |record| {
        let fields = Fields::read(record)?;
        let assertion = text_field(record, "assertion")?;
        let (setup, asserts) = split_asserts(&assertion);
        let first = asserts
            .first()
            .ok_or_else(|| "the `assertion` field has no assert".to_owned())?;
        let description = fields.prompt.trim().trim_matches('\'').trim();
        let prompt = format!("\"\"\"\n{description}\n{first}\n\"\"\"\n");
        // Some assertion blocks use `math` without importing it.
        let setup = if first.contains("math.") && !setup.contains("import math") {
            format!("import math\n{setup}")
        } else {
            setup
        };
        let visible = if VISIBLE_EXCLUDED.contains(&fields.task_id.as_str()) {
            TestSuite::None
        } else {
            TestSuite::Code {
                code: format!("{setup}{first}\n"),
            }
        };
        let canonical = text_field(record, "canonical_solution")?;
        let conversions = mbpp_conversions(&fields.task_id);
        Ok(BenchmarkTask {
            task: function_task(&fields, prompt, visible),
            hidden: reference_tests(&fields, &canonical, conversions)?,
            reference: Some(Solution::Full(canonical)),
            harness: Harness::EvalPlus,
        })
    })
}

/// The fields both sets share.
struct Fields<'a> {
    task_id: String,
    prompt: String,
    entry_point: String,
    base_input: &'a [Json],
    plus_input: &'a [Json],
    atol: f64,
}

impl<'a> Fields<'a> {
    fn read(record: &'a Json) -> Result<Self, String> {
        let inputs = |name: &str| -> Result<&'a [Json], String> {
            match record.get(name) {
                Some(Json::Array(items)) => Ok(items.as_slice()),
                // MBPP+ `Mbpp/793` stores `{}` for "no plus inputs".
                Some(Json::Object(members)) if members.is_empty() => Ok(&[]),
                Some(_) => Err(format!("field `{name}` is not a list of argument lists")),
                None => Err(format!("missing field `{name}`")),
            }
        };
        Ok(Fields {
            task_id: text_field(record, "task_id")?,
            prompt: text_field(record, "prompt")?,
            entry_point: text_field(record, "entry_point")?,
            base_input: inputs("base_input")?,
            plus_input: inputs("plus_input")?,
            atol: record.get("atol").and_then(Json::as_f64).unwrap_or(0.0),
        })
    }
}

fn function_task(fields: &Fields<'_>, prompt: String, visible: TestSuite) -> Task {
    Task {
        id: fields.task_id.clone(),
        language: Language::Python,
        kind: TaskKind::Function {
            prompt,
            entry_point: fields.entry_point.clone(),
        },
        visible,
    }
}

/// How an argument must be rebuilt from JSON (EvalPlus stores tuples as lists and complex
/// numbers as strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    /// The argument at this index becomes a tuple (its elements unchanged).
    Tuple(usize),
    /// The argument at this index becomes a tuple, and so does every list inside it.
    TupleDeep(usize),
    /// Every string argument is a Python complex literal written as text.
    ComplexStrings,
}

/// The MBPP+ tasks whose inputs do not survive JSON as plain values (SOURCE.md lists the five).
/// The conversions follow from each reference solution: `add_lists` concatenates onto a tuple,
/// `extract_even` recurses on tuples, `add_dict_to_tuple` extends a tuple, and `angle_complex` and
/// `convert` take complex numbers.
fn mbpp_conversions(task_id: &str) -> &'static [Conversion] {
    match task_id {
        "Mbpp/106" => &[Conversion::Tuple(1)],
        "Mbpp/124" | "Mbpp/252" => &[Conversion::ComplexStrings],
        "Mbpp/580" => &[Conversion::TupleDeep(0)],
        "Mbpp/720" => &[Conversion::Tuple(0)],
        _ => &[],
    }
}

/// One argument list as a Python list expression.
fn args_expression(args: &Json, conversions: &[Conversion]) -> Result<String, String> {
    let Json::Array(items) = args else {
        return Err("an input is not an argument list".to_owned());
    };
    let mut parts = Vec::with_capacity(items.len());
    for (idx, item) in items.iter().enumerate() {
        let mut text = item.to_python();
        for conversion in conversions {
            match *conversion {
                Conversion::Tuple(at) if at == idx => text = item.to_python_shaped(Shape::Tuple),
                Conversion::TupleDeep(at) if at == idx => {
                    text = item.to_python_shaped(Shape::TuplesDeep);
                }
                Conversion::ComplexStrings => {
                    if let Json::Str(raw) = item {
                        if !crate::pylit::is_literal(raw) {
                            return Err(format!("`{raw}` is not a complex number literal"));
                        }
                        text = format!("complex({raw})");
                    }
                }
                _ => {}
            }
        }
        parts.push(text);
    }
    Ok(format!("[{}]", parts.join(", ")))
}

/// Hidden suites judged against the reference: a setup block defines the reference (in its own
/// namespace), the inputs and a checker; then one `assert` per input.
fn reference_tests(
    fields: &Fields<'_>,
    reference: &str,
    conversions: &[Conversion],
) -> Result<HiddenTests, String> {
    let suite = |inputs: &[Json]| -> Result<TestSuite, String> {
        let mut code = String::new();
        code.push_str("import copy as __crucible_copy\nimport math as __crucible_math\n");
        code.push_str("__crucible_reference = {}\n");
        code.push_str("exec(");
        push_python_str(&mut code, reference);
        code.push_str(", __crucible_reference)\n");
        code.push_str("__crucible_inputs = [\n");
        for args in inputs {
            code.push_str("    ");
            code.push_str(&args_expression(args, conversions)?);
            code.push_str(",\n");
        }
        code.push_str("]\n");
        code.push_str(&checker(&fields.entry_point, fields.atol));
        for idx in 0..inputs.len() {
            code.push_str(&format!("assert __crucible_check({idx})\n"));
        }
        Ok(TestSuite::Code { code })
    };
    let plus = if fields.plus_input.is_empty() {
        None
    } else {
        Some(suite(fields.plus_input)?)
    };
    Ok(HiddenTests {
        base: suite(fields.base_input)?,
        plus,
    })
}

/// The checker the asserts call: the candidate's value for input `i` must equal the reference's
/// (floats, also inside lists, tuples and dicts, within `atol` absolute or 1e-7 relative error,
/// as EvalPlus compares).
fn checker(entry_point: &str, atol: f64) -> String {
    format!(
        r#"def __crucible_same(out, exp):
    if isinstance(exp, float) or isinstance(out, float):
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (out, exp))
        if not numbers:
            return False
        if __crucible_math.isnan(exp):
            return __crucible_math.isnan(out)
        return __crucible_math.isclose(out, exp, rel_tol=1e-07, abs_tol={atol:?})
    if isinstance(exp, (list, tuple)) and type(out) is type(exp):
        return len(out) == len(exp) and all(__crucible_same(o, e) for o, e in zip(out, exp))
    if isinstance(exp, dict) and isinstance(out, dict):
        return out.keys() == exp.keys() and all(__crucible_same(out[k], exp[k]) for k in exp)
    return out == exp

def __crucible_check(i):
    expected = __crucible_reference["{entry_point}"](*__crucible_copy.deepcopy(__crucible_inputs[i]))
    actual = {entry_point}(*__crucible_copy.deepcopy(__crucible_inputs[i]))
    if not __crucible_same(actual, expected):
        raise AssertionError("input %.150r: expected %.150r, got %.150r" % (__crucible_inputs[i], expected, actual))
    return True
"#
    )
}

/// `find_zero`: each input is checked by evaluating the prompt's `poly` at the returned point;
/// `|poly(xs, x)|` must be within the task's `atol` (1e-4), as in EvalPlus.
fn find_zero_tests(fields: &Fields<'_>) -> Result<HiddenTests, String> {
    let suite = |inputs: &[Json]| -> Result<TestSuite, String> {
        let mut code = String::new();
        for args in inputs {
            let Some([xs]) = args.as_array() else {
                return Err("a find_zero input is not a one-argument list".to_owned());
            };
            let xs = xs.to_python();
            code.push_str(&format!(
                "assert abs(poly({xs}, {}({xs}))) <= {:?}\n",
                fields.entry_point, fields.atol
            ));
        }
        Ok(TestSuite::Code { code })
    };
    Ok(HiddenTests {
        base: suite(fields.base_input)?,
        plus: Some(suite(fields.plus_input)?),
    })
}

/// Split an MBPP `assertion` block into its setup lines (imports) and its asserts.
pub(super) fn split_asserts(block: &str) -> (String, Vec<String>) {
    let mut setup = String::new();
    let mut asserts: Vec<String> = Vec::new();
    for line in block.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("assert") {
            asserts.push(line.trim_end().to_owned());
        } else if let Some(last) = asserts.last_mut().filter(|_| line.starts_with([' ', '\t'])) {
            last.push('\n');
            last.push_str(line.trim_end());
        } else {
            setup.push_str(line.trim_end());
            setup.push('\n');
        }
    }
    (setup, asserts)
}

fn text_field(record: &Json, name: &str) -> Result<String, String> {
    match record.get(name) {
        Some(Json::Str(text)) => Ok(text.clone()),
        Some(_) => Err(format!("field `{name}` is not a string")),
        None => Err(format!("missing field `{name}`")),
    }
}

/// Parse every line with the lenient JSON reader and build a task from it.
fn parse_lines(
    text: &str,
    build: impl Fn(&Json) -> Result<BenchmarkTask, String>,
) -> (Vec<BenchmarkTask>, Vec<Reject>) {
    let mut tasks = Vec::new();
    let mut rejects = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let record = match pyjson::parse(raw) {
            Ok(record) => record,
            Err(err) => {
                rejects.push(Reject {
                    id: None,
                    line,
                    reason: format!("invalid JSON at byte {}: {}", err.offset, err.message),
                });
                continue;
            }
        };
        let id = record
            .get("task_id")
            .and_then(Json::as_str)
            .unwrap_or("?")
            .to_owned();
        match build(&record) {
            Ok(task) => tasks.push((line, task)),
            Err(reason) => rejects.push(reject(&id, line, reason)),
        }
    }
    let tasks = reject_duplicate_ids(tasks, &mut rejects);
    (tasks, rejects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let args = pyjson::parse(r#"[[1, [2, 3]], "1+2j", [4]]"#).unwrap();
        assert_eq!(
            args_expression(&args, &[Conversion::Tuple(0)]).unwrap(),
            r#"[(1, [2, 3]), "1+2j", [4]]"#
        );
        assert_eq!(
            args_expression(&args, &[Conversion::TupleDeep(0)]).unwrap(),
            r#"[(1, (2, 3)), "1+2j", [4]]"#
        );
        assert_eq!(
            args_expression(&args, &[Conversion::ComplexStrings]).unwrap(),
            r#"[[1, [2, 3]], complex(1+2j), [4]]"#
        );
    }

    #[test]
    fn assertion_blocks() {
        let (setup, asserts) =
            split_asserts("import math\n\nassert f(1) == 2\nassert g(\n    3) == 4\n");
        assert_eq!(setup, "import math\n");
        assert_eq!(asserts, vec!["assert f(1) == 2", "assert g(\n    3) == 4"]);
    }
}
