//! Compiling and running programs of the compiled (and JavaScript) languages in the sandbox,
//! with the compile cache.
//!
//! Compilers run inside the sandbox too (`#include "/etc/shadow"` or `include_str!` would
//! otherwise read host files and leak them in diagnostics). The cache key is the SHA-256 of the
//! language, the toolchain's fingerprint, the flags and every source file, so a program is
//! compiled once. Compile errors are cached too; a compile that the sandbox's limits ended
//! (time, memory, a killed compiler) is not, so it is tried again next time.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crucible_types::Language;
use sha2::{Digest, Sha256};

use crate::limits::Limits;
use crate::sandbox::{Bind, Command, Exit, Outcome, Sandbox, Stdin};
use crate::toolchain::Toolchain;
use crate::{Error, Result};

/// Language-specific knobs of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LangOptions {
    /// C++ standard (`c++17` when unset): `c++11`..`c++23` or the `gnu++` variants.
    pub cpp_std: Option<String>,
    /// Compile C++ without the precompiled `<bits/stdc++.h>` (for comparisons).
    pub disable_pch: bool,
}

/// A program ready to run: the cached artifact directory.
#[derive(Debug, Clone)]
pub(crate) struct Program {
    pub(crate) language: Language,
    pub(crate) dir: PathBuf,
    pub(crate) main_class: Option<String>,
    pub(crate) toolchain: Toolchain,
    /// Go test binaries take `-test.v`.
    pub(crate) go_test: bool,
}

/// The outcome of a build.
#[derive(Debug)]
pub(crate) enum Built {
    Ready {
        program: Program,
        compile_ms: u64,
        cached: bool,
    },
    Failed {
        diagnostics: String,
        compile_ms: u64,
        /// The failure came from the cache.
        cached: bool,
    },
}

/// What one compiler run left.
#[derive(Debug)]
enum Compiled {
    Done,
    Failed {
        diagnostics: String,
        /// A compile error of the source (cached), not the sandbox's limits ending the
        /// compiler (not cached: the next try may fit).
        cacheable: bool,
    },
}

/// Directories of optional dependencies (see `provision.sh`).
#[derive(Debug, Clone)]
pub(crate) struct Deps {
    pub(crate) rust: PathBuf,
    pub(crate) node_modules: PathBuf,
}

/// Everything a build needs from the executor.
pub(crate) struct BuildEnv<'a> {
    pub(crate) sandbox: &'a Sandbox,
    pub(crate) cache_dir: &'a Path,
    pub(crate) deps: &'a Deps,
    /// Limits of each compiler run ([`Limits::compiler`] unless configured).
    pub(crate) compile_limits: Limits,
}

const PATH_ENV: &str = "/usr/local/bin:/usr/bin:/bin";

impl BuildEnv<'_> {
    /// Compile `files` (or fetch them from the cache).
    pub(crate) fn build(
        &self,
        language: Language,
        toolchain: &Toolchain,
        files: &[(String, String)],
        main_class: Option<&str>,
        options: &LangOptions,
        go_test: bool,
    ) -> Result<Built> {
        let mut flags = self.flags(language, options, files)?;
        if language == Language::Rust && go_test {
            // Appended tests live in `#[cfg(test)] mod tests`; the harness calls them itself.
            flags.extend(["--cfg".to_owned(), "test".to_owned()]);
        }
        let mut key_flags = flags.clone();
        // Dependencies installed after a failed compile must not meet a cached failure.
        key_flags.push(self.deps_fingerprint(language));
        let key = cache_key(language, toolchain, &key_flags, files, go_test);
        let artifacts = self.cache_dir.join("artifacts");
        let dir = artifacts.join(&key);
        let failed = artifacts.join(format!("{key}.failed"));
        let program = Program {
            language,
            dir: dir.clone(),
            main_class: main_class.map(str::to_owned),
            toolchain: toolchain.clone(),
            go_test,
        };
        if dir.is_dir() {
            return Ok(Built::Ready {
                program,
                compile_ms: 0,
                cached: true,
            });
        }
        if let Ok(diagnostics) = fs::read_to_string(&failed) {
            return Ok(Built::Failed {
                diagnostics,
                compile_ms: 0,
                cached: true,
            });
        }
        fs::create_dir_all(&artifacts).map_err(|e| Error::io(&artifacts, e))?;
        let started = Instant::now();
        let run_dir = self.sandbox.run_dir()?;
        let res = self.compile_in(&run_dir, language, toolchain, files, &flags, go_test);
        let compile_ms = started.elapsed().as_millis() as u64;
        let res = res.and_then(|outcome| match outcome {
            Compiled::Done => {
                publish(&run_dir.join("out"), &dir)?;
                Ok(Built::Ready {
                    program,
                    compile_ms,
                    cached: false,
                })
            }
            Compiled::Failed {
                diagnostics,
                cacheable,
            } => {
                if cacheable {
                    let _ = fs::write(&failed, &diagnostics);
                }
                Ok(Built::Failed {
                    diagnostics,
                    compile_ms,
                    cached: false,
                })
            }
        });
        let _ = fs::remove_dir_all(&run_dir);
        res
    }

    fn flags(
        &self,
        language: Language,
        options: &LangOptions,
        files: &[(String, String)],
    ) -> Result<Vec<String>> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Ok(match language {
            Language::C => owned(&["-std=gnu17", "-O2", "-pipe"]),
            Language::Cpp => {
                let std = options.cpp_std.as_deref().unwrap_or("c++17");
                if !valid_cpp_std(std) {
                    return Err(Error::LimitOutOfRange {
                        what: "C++ standard",
                        value: std.to_owned(),
                        range: "c++11, c++14, c++17, c++20, c++23 (or gnu++NN)".into(),
                    });
                }
                let mut flags = owned(&["-O2", "-pipe"]);
                flags.insert(0, format!("-std={std}"));
                if !options.disable_pch
                    && files.iter().any(|(_, src)| src.contains("bits/stdc++.h"))
                {
                    flags.push("-I/pch".into());
                }
                flags
            }
            Language::Rust => {
                let mut flags = owned(&[
                    "--edition",
                    "2021",
                    "-C",
                    "opt-level=1",
                    "-C",
                    "debuginfo=0",
                    "-A",
                    "warnings",
                ]);
                flags.extend(rust_externs(&self.deps.rust));
                flags
            }
            Language::Java => owned(&["-nowarn", "-encoding", "UTF-8"]),
            Language::Go | Language::JavaScript | Language::Python => Vec::new(),
        })
    }

    /// Compile in a sandbox.
    fn compile_in(
        &self,
        run_dir: &Path,
        language: Language,
        toolchain: &Toolchain,
        files: &[(String, String)],
        flags: &[String],
        go_test: bool,
    ) -> Result<Compiled> {
        let src_dir = run_dir.join("src");
        let out_dir = run_dir.join("out");
        for dir in [&src_dir, &out_dir] {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        self.sandbox.hand_over(&out_dir)?;
        for (name, content) in files {
            let path = src_dir.join(name);
            fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
        }
        if language == Language::JavaScript {
            for (name, content) in files {
                let path = out_dir.join(name);
                fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
            }
            // A plain program's syntax is checked by node's own parser, so that a syntax
            // error is a compile error and a SyntaxError thrown at run time (`JSON.parse`)
            // a runtime error. Appended tests report syntax errors through their harness.
            if files.len() > 1 {
                return Ok(Compiled::Done);
            }
            let args = vec!["--check".to_owned(), format!("/src/{}", files[0].0)];
            let env = vec![("PATH".to_owned(), PATH_ENV.to_owned())];
            let binds = vec![bind(&src_dir, "/src", false)];
            let command = compile_command(toolchain.compiler.clone(), args, env, binds, None);
            return self.compile_outcome(command);
        }
        if language == Language::Cpp && flags.iter().any(|f| f == "-I/pch") {
            self.ensure_pch(toolchain, flags)?;
        }
        let mut binds = vec![bind(&src_dir, "/src", false), bind(&out_dir, "/out", true)];
        let main = format!("/src/{}", files[0].0);
        let mut env = base_env();
        let mut args: Vec<String> = flags.to_vec();
        let program = match language {
            Language::C | Language::Cpp => {
                if flags.iter().any(|f| f == "-I/pch") {
                    binds.push(bind(&self.pch_dir(toolchain, flags), "/pch", false));
                }
                args.extend(["-o".into(), "/out/prog".into(), main]);
                if language == Language::C {
                    args.push("-lm".into());
                }
                if files.iter().any(|(_, src)| src.contains("openssl/")) {
                    args.extend(["-lcrypto".into(), "-lssl".into()]);
                }
                toolchain.compiler.clone()
            }
            Language::Rust => {
                let sysroot = toolchain.extra_root.clone().unwrap_or_default();
                binds.push(bind(&sysroot, "/opt/rust", false));
                if self.deps.rust.is_dir() {
                    binds.push(bind(&self.deps.rust, "/opt/deps", false));
                }
                args.extend(["-o".into(), "/out/prog".into(), main]);
                PathBuf::from("/opt/rust/bin/rustc")
            }
            Language::Java => {
                let mut j = vec![
                    "-J-XX:+UseSerialGC".to_owned(),
                    "-J-XX:TieredStopAtLevel=1".to_owned(),
                    "-J-XX:-UsePerfData".to_owned(),
                    "-J-Xshare:auto".to_owned(),
                    "-J-Xmx512m".to_owned(),
                ];
                j.extend(args);
                args = j;
                args.extend(["-d".into(), "/out".into(), main]);
                toolchain.compiler.clone()
            }
            Language::Go => {
                env.extend(go_env());
                // A cold Go build cache recompiles the standard library (about 9 CPU-seconds);
                // each compile starts from a private copy of a warm cache instead.
                let seed = self.ensure_go_cache(toolchain)?;
                let mut script = String::from("set -e; ");
                if let Some(seed) = &seed {
                    binds.push(bind(seed, "/opt/gocache", false));
                    script.push_str("cp -r /opt/gocache /tmp/gocache; chmod -R u+w /tmp/gocache; ");
                }
                script.push_str("exec \"$0\" \"$@\"");
                let go = toolchain.compiler.to_string_lossy().into_owned();
                let mut go_args = vec!["-c".to_owned(), script, go];
                if go_test {
                    go_args.extend(["test".into(), "-c".into(), "-o".into(), "/out/prog".into()]);
                } else {
                    go_args.extend(["build".into(), "-o".into(), "/out/prog".into(), main]);
                }
                args = go_args;
                PathBuf::from("/bin/sh")
            }
            Language::JavaScript | Language::Python => unreachable_language(language)?,
        };
        tracing::debug!(?program, ?args, "compiling {language}");
        let command = compile_command(program, args, env, binds, Some(PathBuf::from("/src")));
        self.compile_outcome(command)
    }

    /// Run a compiler command with the compile limits and judge how it ended.
    fn compile_outcome(&self, mut command: Command) -> Result<Compiled> {
        command.limits = self.compile_limits;
        let outcome = self.sandbox.run(command)?;
        if outcome.exit == Exit::Code(0) && outcome.killed.is_none() && !outcome.oom {
            return Ok(Compiled::Done);
        }
        let mut text = outcome.stderr.clone();
        text.extend_from_slice(&outcome.stdout);
        let mut diagnostics = crate::report::trim_diagnostics(&text);
        let limited = compile_hit_limits(&outcome, &text, &self.compile_limits);
        if let Some(why) = &limited {
            diagnostics.push_str(&format!("the compiler was stopped: {why}\n"));
        }
        Ok(Compiled::Failed {
            diagnostics,
            cacheable: limited.is_none(),
        })
    }

    fn deps_fingerprint(&self, language: Language) -> String {
        let path = match language {
            Language::Go => PathBuf::from("/usr/share/gocode/src/github.com/stretchr/testify"),
            Language::Rust => self.deps.rust.clone(),
            Language::JavaScript => self.deps.node_modules.clone(),
            _ => return String::new(),
        };
        let meta = fs::metadata(&path).ok();
        let stamp = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mode = meta
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap_or(0);
        format!("deps:{}:{stamp}:{mode:o}", path.display())
    }

    /// A warm Go build cache (standard library, testing, testify), built once in the sandbox.
    fn ensure_go_cache(&self, toolchain: &Toolchain) -> Result<Option<PathBuf>> {
        static WARMING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let mut h = Sha256::new();
        h.update(toolchain.fingerprint.as_bytes());
        let dir = self
            .cache_dir
            .join("go-cache")
            .join(hex(&h.finalize()[..12]));
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let _guard = WARMING.lock().unwrap_or_else(|e| e.into_inner());
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        // One failed warm-up per process is enough; compiles then start cold.
        if FAILED.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        let run_dir = self.sandbox.run_dir()?;
        let (src, out) = (run_dir.join("src"), run_dir.join("out"));
        for d in [&src, &out] {
            fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        self.sandbox.hand_over(&out)?;
        let testify = Path::new("/usr/share/gocode/src/github.com/stretchr/testify").is_dir();
        let imports = "\"fmt\"\n\"math\"\n\"sort\"\n\"strconv\"\n\"strings\"\n\"bytes\"\n\"regexp\"\n\"crypto/md5\"";
        let program = format!(
            "package main\n\nimport (\n{imports}\n)\n\nvar _ = fmt.Sprint\nvar _ = math.Pi\nvar _ = sort.Ints\nvar _ = strconv.Itoa\nvar _ = strings.Split\nvar _ = bytes.Equal\nvar _ = regexp.MustCompile\nvar _ = md5.Sum\n\nfunc main() {{}}\n"
        );
        let test = if testify {
            "package main\n\nimport (\n\"testing\"\n\"github.com/stretchr/testify/assert\"\n)\n\nfunc TestX(t *testing.T) { assert.Equal(t, 1, 1) }\n"
        } else {
            "package main\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n"
        };
        for (name, content) in [("main.go", program.as_str()), ("main_test.go", test)] {
            let path = src.join(name);
            fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
        }
        let mut env = go_env();
        env.retain(|(k, _)| k != "GOCACHE");
        env.extend([
            ("GOCACHE".to_owned(), "/out/gocache".to_owned()),
            ("PATH".to_owned(), PATH_ENV.to_owned()),
            ("HOME".to_owned(), "/tmp".to_owned()),
        ]);
        let command = compile_command(
            toolchain.compiler.clone(),
            vec!["test".into(), "-c".into(), "-o".into(), "/tmp/warm".into()],
            env,
            vec![bind(&src, "/src", false), bind(&out, "/out", true)],
            Some(PathBuf::from("/src")),
        );
        let outcome = self.sandbox.run(command)?;
        let warmed = outcome.exit == Exit::Code(0) && out.join("gocache").is_dir();
        if warmed {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            publish(&out.join("gocache"), &dir)?;
        } else {
            FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                "warming the Go build cache failed; Go compiles will be slow: {}",
                String::from_utf8_lossy(&outcome.stderr)
            );
        }
        let _ = fs::remove_dir_all(&run_dir);
        Ok(warmed.then_some(dir))
    }

    fn pch_dir(&self, toolchain: &Toolchain, flags: &[String]) -> PathBuf {
        let relevant: Vec<&String> = flags.iter().filter(|f| *f != "-I/pch").collect();
        let mut h = Sha256::new();
        h.update(toolchain.fingerprint.as_bytes());
        for f in relevant {
            h.update(f.as_bytes());
            h.update([0]);
        }
        let key = hex(&h.finalize()[..12]);
        self.cache_dir.join("pch").join(key)
    }

    /// Build the precompiled `<bits/stdc++.h>` for these flags, once.
    fn ensure_pch(&self, toolchain: &Toolchain, flags: &[String]) -> Result<()> {
        let dir = self.pch_dir(toolchain, flags);
        if dir.join("bits/stdc++.h.gch").is_file() {
            return Ok(());
        }
        let Some(header) = stdcpp_header() else {
            return Ok(());
        };
        let run_dir = self.sandbox.run_dir()?;
        let out = run_dir.join("out");
        fs::create_dir_all(out.join("bits")).map_err(|e| Error::io(&out, e))?;
        self.sandbox.hand_over(&out)?;
        self.sandbox.hand_over(&out.join("bits"))?;
        let mut args: Vec<String> = flags.iter().filter(|f| *f != "-I/pch").cloned().collect();
        args.extend([
            "-x".into(),
            "c++-header".into(),
            header.to_string_lossy().into_owned(),
            "-o".into(),
            "/out/bits/stdc++.h.gch".into(),
        ]);
        let command = compile_command(
            toolchain.compiler.clone(),
            args,
            vec![("PATH".into(), PATH_ENV.into())],
            vec![bind(&out, "/out", true)],
            None,
        );
        let outcome = self.sandbox.run(command)?;
        if outcome.exit == Exit::Code(0) {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            publish(&out, &dir)?;
        } else {
            tracing::warn!(
                "building the precompiled header failed; compiling without it: {}",
                String::from_utf8_lossy(&outcome.stderr)
            );
        }
        let _ = fs::remove_dir_all(&run_dir);
        Ok(())
    }
}

/// The JVM's heap limit (`-Xmx`) for a run: half the memory limit, the rest for the JVM's own
/// code, metaspace and threads.
pub(crate) fn java_heap_bytes(limits: &Limits) -> u64 {
    java_heap_mb(limits) << 20
}

fn java_heap_mb(limits: &Limits) -> u64 {
    ((limits.memory_bytes >> 20).max(16) / 2).max(16)
}

/// The command that runs a built program.
pub(crate) fn run_command(program: &Program, limits: Limits, deps: &Deps) -> Command {
    let mb = (limits.memory_bytes >> 20).max(16);
    let mut env = base_env();
    let mut binds = vec![bind(&program.dir, "/box", false)];
    let mut address_space_limit = true;
    let (exe, args) = match program.language {
        Language::C | Language::Cpp | Language::Rust => (PathBuf::from("/box/prog"), vec![]),
        Language::Go => {
            address_space_limit = false;
            let args = if program.go_test {
                vec!["-test.v".to_owned(), "-test.count=1".to_owned()]
            } else {
                vec![]
            };
            (PathBuf::from("/box/prog"), args)
        }
        Language::Java => {
            address_space_limit = false;
            let java = program
                .toolchain
                .runtime
                .clone()
                .unwrap_or_else(|| PathBuf::from("/usr/bin/java"));
            let args = vec![
                "-XX:+UseSerialGC".to_owned(),
                "-XX:TieredStopAtLevel=1".to_owned(),
                "-XX:-UsePerfData".to_owned(),
                "-Xshare:auto".to_owned(),
                format!("-Xmx{}m", java_heap_mb(&limits)),
                "-Xss64m".to_owned(),
                "-cp".to_owned(),
                "/box".to_owned(),
                program.main_class.clone().unwrap_or_else(|| "Main".into()),
            ];
            (java, args)
        }
        Language::JavaScript => {
            address_space_limit = false;
            if deps.node_modules.is_dir() {
                binds.push(bind(&deps.node_modules, "/opt/node_modules", false));
                env.push(("NODE_PATH".into(), "/opt/node_modules".into()));
            }
            let args = vec![
                format!("--max-old-space-size={}", (mb * 3 / 4).max(16)),
                "--stack-size=65500".to_owned(),
                "/box/main.js".to_owned(),
            ];
            (program.toolchain.compiler.clone(), args)
        }
        Language::Python => (program.toolchain.compiler.clone(), vec![]),
    };
    Command {
        program: exe,
        args,
        env,
        binds,
        cwd: None,
        stdin: Stdin::Null,
        extra_fds: vec![],
        limits,
        as_init: false,
        address_space_limit,
    }
}

/// Why a failed compile is the sandbox's limits' doing rather than the source's, if it is: the
/// supervisor stopped it, the cgroup's OOM killer ended a compiler process, the compiler died
/// of a signal (the driver itself, or a pass it reports as killed), it ran past the CPU limit,
/// or the compiler reported running out of memory. Such a failure is not cached. A source can
/// make a compiler print such text (`#error`); that only costs it the cache.
fn compile_hit_limits(outcome: &Outcome, output: &[u8], limits: &Limits) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let out_of_memory = [
        "out of memory",
        "virtual memory exhausted",
        "Killed signal terminated program",
        "java.lang.OutOfMemoryError",
        "insufficient memory for the Java Runtime",
        "The system is out of resources",
        "memory allocation of",
        "signal: killed",
    ]
    .iter()
    .find(|p| text.contains(*p));
    match (outcome.killed, outcome.exit) {
        (Some(kill), _) => Some(format!("{kill:?} limit")),
        _ if outcome.oom => Some(format!("memory limit ({} MiB)", limits.memory_bytes >> 20)),
        _ if outcome.cpu > limits.cpu_time => {
            Some(format!("CPU time limit ({:?})", limits.cpu_time))
        }
        (None, Exit::Signal(sig)) => Some(format!("killed by signal {sig}")),
        _ => out_of_memory.map(|p| format!("it reported `{p}`")),
    }
}

/// A compiler run: no stdin, the compiler limits, under the sandbox's init, memory bounded by the
/// limits alone (no `RLIMIT_AS` fallback: compilers such as Go's reserve large address ranges).
fn compile_command(
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    binds: Vec<Bind>,
    cwd: Option<PathBuf>,
) -> Command {
    Command {
        program,
        args,
        env,
        binds,
        cwd,
        stdin: Stdin::Null,
        extra_fds: vec![],
        limits: Limits::compiler(),
        as_init: false,
        address_space_limit: false,
    }
}

/// The environment every sandboxed run starts from: the system's `PATH`, `/tmp` as home and
/// temporary directory, and a UTF-8 locale.
pub(crate) fn base_env() -> Vec<(String, String)> {
    vec![
        ("PATH".to_owned(), PATH_ENV.to_owned()),
        ("HOME".to_owned(), "/tmp".to_owned()),
        ("TMPDIR".to_owned(), "/tmp".to_owned()),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
    ]
}

pub(crate) fn bind(host: &Path, inside: &str, writable: bool) -> Bind {
    Bind {
        host: host.to_path_buf(),
        inside: PathBuf::from(inside),
        writable,
    }
}

fn go_env() -> Vec<(String, String)> {
    [
        ("GO111MODULE", "off"),
        ("GOPATH", "/usr/share/gocode"),
        ("GOCACHE", "/tmp/gocache"),
        ("CGO_ENABLED", "0"),
        ("GOFLAGS", "-buildvcs=false"),
        ("GOTOOLCHAIN", "local"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn unreachable_language(language: Language) -> Result<PathBuf> {
    Err(Error::UnsupportedSuite {
        language,
        suite: "compiled",
    })
}

fn valid_cpp_std(std: &str) -> bool {
    let year = std
        .strip_prefix("c++")
        .or_else(|| std.strip_prefix("gnu++"));
    matches!(year, Some("11" | "14" | "17" | "20" | "23" | "2a" | "2b"))
}

fn rust_externs(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for krate in ["rand", "regex", "md5"] {
        let prefix = format!("lib{krate}-");
        let mut matches: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".rlib"))
            .collect();
        matches.sort();
        if let Some(file) = matches.first() {
            out.push("--extern".into());
            out.push(format!("{krate}=/opt/deps/{file}"));
        }
    }
    if !out.is_empty() {
        out.push("-L".into());
        out.push("dependency=/opt/deps".into());
    }
    out
}

fn stdcpp_header() -> Option<PathBuf> {
    let base = Path::new("/usr/include/x86_64-linux-gnu/c++");
    let mut versions: Vec<PathBuf> = fs::read_dir(base)
        .ok()?
        .flatten()
        .map(|e| e.path().join("bits/stdc++.h"))
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn cache_key(
    language: Language,
    toolchain: &Toolchain,
    flags: &[String],
    files: &[(String, String)],
    go_test: bool,
) -> String {
    let mut h = Sha256::new();
    // Bump when the harness or the build commands change meaning.
    // v2: JavaScript programs are syntax-checked; failures caused by the limits are no
    // longer cached, and earlier caches may hold some.
    h.update(b"crucible-exec-build-v2\0");
    h.update(language.name().as_bytes());
    h.update([0, u8::from(go_test)]);
    h.update(toolchain.fingerprint.as_bytes());
    for flag in flags {
        h.update(flag.as_bytes());
        h.update([0]);
    }
    for (name, content) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update((content.len() as u64).to_le_bytes());
        h.update(content.as_bytes());
    }
    hex(&h.finalize()[..16])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Move a finished output directory into the cache; losing a race to an identical build is
/// fine.
fn publish(from: &Path, to: &Path) -> Result<()> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(_) if to.is_dir() => Ok(()),
        Err(e) => Err(Error::io(to, e)),
    }
}

/// Milliseconds of a duration, for reports.
pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpp_standards() {
        assert!(valid_cpp_std("c++17"));
        assert!(valid_cpp_std("gnu++20"));
        assert!(!valid_cpp_std("c++18"));
        assert!(!valid_cpp_std("-O3"));
    }

    #[test]
    fn cache_keys_depend_on_everything() {
        let tc = Toolchain {
            compiler: PathBuf::from("/usr/bin/gcc"),
            runtime: None,
            extra_root: None,
            fingerprint: "gcc:1:2".into(),
        };
        let files = vec![("main.c".to_owned(), "int main(){}".to_owned())];
        let a = cache_key(Language::C, &tc, &["-O2".into()], &files, false);
        let b = cache_key(Language::C, &tc, &["-O1".into()], &files, false);
        let other = vec![("main.c".to_owned(), "int main(){ }".to_owned())];
        let c = cache_key(Language::C, &tc, &["-O2".into()], &other, false);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a,
            cache_key(Language::C, &tc, &["-O2".into()], &files, false)
        );
    }
}
