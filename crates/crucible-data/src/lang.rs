//! Language detection from a file name (extension or well-known name) and a shebang line.

/// Extension (lowercase, without the dot) to language id.
const EXTENSIONS: &[(&str, &str)] = &[
    ("py", "python"),
    ("pyi", "python"),
    ("pyx", "cython"),
    ("pxd", "cython"),
    ("rs", "rust"),
    ("c", "c"),
    ("h", "c"),
    ("cc", "cpp"),
    ("cpp", "cpp"),
    ("cxx", "cpp"),
    ("hpp", "cpp"),
    ("hh", "cpp"),
    ("hxx", "cpp"),
    ("ipp", "cpp"),
    ("go", "go"),
    ("java", "java"),
    ("kt", "kotlin"),
    ("kts", "kotlin"),
    ("scala", "scala"),
    ("js", "javascript"),
    ("mjs", "javascript"),
    ("cjs", "javascript"),
    ("jsx", "javascript"),
    ("ts", "typescript"),
    ("tsx", "typescript"),
    ("mts", "typescript"),
    ("cts", "typescript"),
    ("rb", "ruby"),
    ("php", "php"),
    ("pl", "perl"),
    ("pm", "perl"),
    ("lua", "lua"),
    ("sh", "shell"),
    ("bash", "shell"),
    ("zsh", "shell"),
    ("fish", "shell"),
    ("cs", "csharp"),
    ("fs", "fsharp"),
    ("swift", "swift"),
    ("m", "objective-c"),
    ("mm", "objective-cpp"),
    ("r", "r"),
    ("jl", "julia"),
    ("hs", "haskell"),
    ("ml", "ocaml"),
    ("mli", "ocaml"),
    ("ex", "elixir"),
    ("exs", "elixir"),
    ("erl", "erlang"),
    ("clj", "clojure"),
    ("dart", "dart"),
    ("zig", "zig"),
    ("nim", "nim"),
    ("sql", "sql"),
    ("f90", "fortran"),
    ("f", "fortran"),
    ("s", "assembly"),
    ("asm", "assembly"),
    ("v", "verilog"),
    ("sv", "verilog"),
    ("vhd", "vhdl"),
    ("html", "html"),
    ("htm", "html"),
    ("css", "css"),
    ("scss", "scss"),
    ("md", "markdown"),
    ("rst", "restructuredtext"),
    ("tex", "tex"),
    ("json", "json"),
    ("yaml", "yaml"),
    ("yml", "yaml"),
    ("toml", "toml"),
    ("xml", "xml"),
    ("proto", "protobuf"),
    ("cmake", "cmake"),
    ("mk", "makefile"),
    ("ps1", "powershell"),
    ("bat", "batch"),
    ("vue", "vue"),
    ("svelte", "svelte"),
    ("groovy", "groovy"),
    ("gradle", "groovy"),
    ("txt", "text"),
    ("cfg", "ini"),
    ("ini", "ini"),
];

/// File names without a telling extension.
const FILE_NAMES: &[(&str, &str)] = &[
    ("makefile", "makefile"),
    ("gnumakefile", "makefile"),
    ("dockerfile", "dockerfile"),
    ("cmakelists.txt", "cmake"),
    ("rakefile", "ruby"),
    ("gemfile", "ruby"),
    ("build", "starlark"),
    ("build.bazel", "starlark"),
    ("workspace", "starlark"),
    ("jenkinsfile", "groovy"),
    ("vagrantfile", "ruby"),
];

/// Interpreters named on a shebang line.
const INTERPRETERS: &[(&str, &str)] = &[
    ("python", "python"),
    ("pypy", "python"),
    ("bash", "shell"),
    ("sh", "shell"),
    ("zsh", "shell"),
    ("dash", "shell"),
    ("ksh", "shell"),
    ("fish", "shell"),
    ("node", "javascript"),
    ("deno", "typescript"),
    ("ts-node", "typescript"),
    ("perl", "perl"),
    ("ruby", "ruby"),
    ("php", "php"),
    ("lua", "lua"),
    ("Rscript", "r"),
    ("julia", "julia"),
    ("tclsh", "tcl"),
    ("awk", "awk"),
];

/// The language of a document: by file name first, then by shebang.
pub fn detect(path: &str, text: &str) -> Option<&'static str> {
    from_path(path).or_else(|| from_shebang(text))
}

/// The language a file name implies.
pub fn from_path(path: &str) -> Option<&'static str> {
    let name = path
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(path)
        .to_ascii_lowercase();
    if let Some((_, lang)) = FILE_NAMES.iter().find(|(known, _)| *known == name) {
        return Some(lang);
    }
    let (_, ext) = name.rsplit_once('.')?;
    EXTENSIONS
        .iter()
        .find(|(known, _)| *known == ext)
        .map(|(_, lang)| *lang)
}

/// The language a `#!` first line names (`#!/usr/bin/env python3`, `#!/bin/bash -e`).
pub fn from_shebang(text: &str) -> Option<&'static str> {
    let first = text.lines().next()?.strip_prefix("#!")?;
    let mut words = first.split_whitespace();
    let mut program = words.next()?.rsplit('/').next()?;
    if program == "env" {
        program = words.find(|word| !word.starts_with('-'))?;
    }
    // `python3.11` -> `python`: strip trailing version digits and dots.
    let base = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    INTERPRETERS
        .iter()
        .find(|(known, _)| *known == base)
        .map(|(_, lang)| *lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_extension_name_and_shebang() {
        let cases = [
            ("src/lib.rs", "", Some("rust")),
            ("a/B.PY", "", Some("python")),
            ("x/Makefile", "", Some("makefile")),
            (
                "bin/tool",
                "#!/usr/bin/env python3.11\nprint(1)",
                Some("python"),
            ),
            ("bin/run", "#!/bin/bash -e\necho", Some("shell")),
            (
                "bin/run",
                "#!/usr/bin/env -S node --harmony\n",
                Some("javascript"),
            ),
            ("README", "hello", None),
            ("script.py", "#!/bin/sh\n", Some("python")),
        ];
        for (path, text, want) in cases {
            assert_eq!(detect(path, text), want, "{path}");
        }
    }
}
