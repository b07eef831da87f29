//! Split appended tests: the test code runs in a driver process that holds the expected values,
//! the program in a subject process that receives call arguments only.
//!
//! For each request [`plan`] reads the program's function signatures (only the functions the
//! test code uses) and generates two programs:
//!
//! * the **driver** D: the test code unchanged, the per-language harness of `harness` (proof of
//!   completion, per-test outcomes), and in place of the program a **proxy** for each function
//!   with the program's signature, which sends the arguments to S and returns S's answer. D is
//!   built from the test code and the signatures alone (types are parsed into a closed set and
//!   re-rendered, so no program text reaches it), so samples with the same signatures share one
//!   cached build.
//! * the **subject** S: the program, then a server `main` that reads calls, runs the real
//!   function and writes the result. S never holds the tests or their expected values.
//!
//! The executor runs D and S in two sandboxes (separate PID, mount and IPC namespaces), joined
//! by two pipes. D reports on the proof channel, which S does not hold.
//!
//! **Wire format** (the same in every language). Values are written type-directed as
//! space-terminated tokens: integers in decimal; `bool` as `0`/`1`; characters as their code;
//! floats as the hexadecimal bits of the IEEE value (8 digits for 32-bit, 16 for 64-bit), so
//! they round-trip exactly; strings as `<byte length>:<bytes> `; sequences, sets and maps as
//! their element count then the elements (keys and values alternating); optionals as `0` or `1`
//! then the value; tuples as their fields. Where a language has null (Java references, Go nil
//! slices and maps) a value may be `~`. JavaScript values carry a type tag (see
//! `javascript.rs`). A call is `<function index> <arguments>\n`; a reply is `R <result>` (then,
//! in C++, the values of non-const reference parameters) or `E <message>` when the function
//! threw, and a newline. End of file on the call pipe tells S to exit.
//!
//! A signature with a type that cannot be carried (a pointer, `boost::any`, Go's `interface{}`,
//! Java's `Object`, a callback, a generic function, an overloaded name) or test code that uses
//! something of the program other than functions (a type, a global, a macro) gives
//! [`Plan::InProcess`]: the tests run appended to the program, as before, and the report says
//! `in_process_tests: true`.

mod c_family;
mod go;
mod java;
mod javascript;
pub(crate) mod run;
mod rust;
mod scan;

use crucible_types::{Language, TestSuite};

use super::Combined;
use crate::{ExecRequest, Result};

/// The subject reads calls from this descriptor.
pub(crate) const SUBJECT_IN_FD: i32 = 3;
/// The subject writes replies to this descriptor.
pub(crate) const SUBJECT_OUT_FD: i32 = 4;
/// The driver writes calls to this descriptor (after the nonce and proof descriptors).
pub(crate) const DRIVER_OUT_FD: i32 = 5;
/// The driver reads replies from this descriptor.
pub(crate) const DRIVER_IN_FD: i32 = 6;

/// How a request's appended tests will run.
#[derive(Debug)]
pub(crate) enum Plan {
    /// In a driver beside the program's process.
    Split(Box<SplitProgram>),
    /// Appended to the program, in its process, for this reason.
    InProcess { reason: String },
}

impl Plan {
    fn in_process(reason: String) -> Plan {
        Plan::InProcess { reason }
    }
}

/// The two programs of a split run.
#[derive(Debug)]
pub(crate) struct SplitProgram {
    /// The program with a server `main`.
    pub(crate) subject: Combined,
    /// The test code with proxies and the harness.
    pub(crate) driver: Combined,
    /// The program's functions the driver calls, in call-index order.
    pub(crate) functions: Vec<String>,
}

/// Where a request's tests run relative to the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestPlacement {
    /// The program receives inputs only (call arguments or stdin); the expected values stay in
    /// another process, which compares.
    Separate,
    /// The tests run inside the program's process, so the program could read them; reports
    /// say `in_process_tests: true`.
    InProcess {
        /// Why the tests could not be split.
        reason: String,
    },
}

/// Where `request`'s tests will run: the same decision [`Executor::run`] makes before it
/// builds anything (a driver that then fails to compile, or a JavaScript value that cannot be
/// carried, also falls back to the program's process at run time; such reports say so). An
/// executor built with [`ExecConfig::split_appended_tests`] `false` runs them all in-process.
///
/// [`Executor::run`]: crate::Executor::run
/// [`ExecConfig::split_appended_tests`]: crate::ExecConfig::split_appended_tests
pub fn test_placement(request: &ExecRequest) -> Result<TestPlacement> {
    let TestSuite::Code { code } = &request.tests else {
        return Ok(TestPlacement::Separate);
    };
    if request.language == Language::Python {
        return Ok(TestPlacement::Separate);
    }
    Ok(match plan(request.language, &request.source, code, "0")? {
        Plan::Split(_) => TestPlacement::Separate,
        Plan::InProcess { reason } => TestPlacement::InProcess { reason },
    })
}

/// Plan a run of `program` with its appended `tests`.
pub(crate) fn plan(language: Language, program: &str, tests: &str, salt: &str) -> Result<Plan> {
    match language {
        Language::C | Language::Cpp => c_family::plan(language, program, tests, salt),
        Language::Rust => rust::plan(program, tests, salt),
        Language::JavaScript => javascript::plan(program, tests, salt),
        Language::Go => go::plan(program, tests, salt),
        Language::Java => java::plan(program, tests, salt),
        Language::Python => Err(crate::Error::UnsupportedSuite {
            language,
            suite: "appended",
        }),
    }
}
