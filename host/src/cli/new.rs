//! `eddy new`: a guest project ready to build, test and run, for one
//! function kind in one language (as `rpk transform init` and `smdk
//! generate` do), so that a first function starts from code that compiles
//! rather than from the reference.
//!
//! The project has a commented skeleton of the kind that does something
//! small on a sample of click events, a native test through the SDK's
//! harness, a job file running it on the sample, and a README saying how to
//! build. The templates are the files in `new/` (Rust: `new/<kind>/lib.rs`;
//! Python: `new/python/`; JavaScript: `new/js/`; the job files
//! `new/<kind>/job.toml` are shared), with `{{name}}`-style placeholders.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

use crate::wasm::GuestLanguage;

/// The function kinds `eddy new` makes, as job files name them. Not
/// `interval-join`, which eddy runs without a guest, nor `key-selector`,
/// which is not an operator of its own but a `key_by` of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewKind {
    Map,
    Filter,
    FlatMap,
    KeyedProcess,
    CoProcess,
    BroadcastProcess,
    Aggregate,
    WindowProcess,
}

/// The sample input every kind reads first.
const CLICKS: &str = include_str!("new/data/clicks.jsonl");

impl NewKind {
    /// The kind as the job file's `kind` writes it.
    pub fn name(self) -> &'static str {
        match self {
            NewKind::Map => "map",
            NewKind::Filter => "filter",
            NewKind::FlatMap => "flat-map",
            NewKind::KeyedProcess => "keyed-process",
            NewKind::CoProcess => "co-process",
            NewKind::BroadcastProcess => "broadcast-process",
            NewKind::Aggregate => "aggregate",
            NewKind::WindowProcess => "window-process",
        }
    }

    /// The Python function and its test, of this kind.
    fn python_templates(self) -> (&'static str, &'static str) {
        match self {
            NewKind::Map => (
                include_str!("new/python/map.py"),
                include_str!("new/python/map_test.py"),
            ),
            NewKind::Filter => (
                include_str!("new/python/filter.py"),
                include_str!("new/python/filter_test.py"),
            ),
            NewKind::FlatMap => (
                include_str!("new/python/flat-map.py"),
                include_str!("new/python/flat-map_test.py"),
            ),
            NewKind::KeyedProcess => (
                include_str!("new/python/keyed-process.py"),
                include_str!("new/python/keyed-process_test.py"),
            ),
            NewKind::CoProcess => (
                include_str!("new/python/co-process.py"),
                include_str!("new/python/co-process_test.py"),
            ),
            NewKind::BroadcastProcess => (
                include_str!("new/python/broadcast-process.py"),
                include_str!("new/python/broadcast-process_test.py"),
            ),
            NewKind::Aggregate => (
                include_str!("new/python/aggregate.py"),
                include_str!("new/python/aggregate_test.py"),
            ),
            NewKind::WindowProcess => (
                include_str!("new/python/window-process.py"),
                include_str!("new/python/window-process_test.py"),
            ),
        }
    }

    /// The JavaScript function and its test, of this kind.
    fn js_templates(self) -> (&'static str, &'static str) {
        match self {
            NewKind::Map => (
                include_str!("new/js/map/function.js"),
                include_str!("new/js/map/function.test.js"),
            ),
            NewKind::Filter => (
                include_str!("new/js/filter/function.js"),
                include_str!("new/js/filter/function.test.js"),
            ),
            NewKind::FlatMap => (
                include_str!("new/js/flat-map/function.js"),
                include_str!("new/js/flat-map/function.test.js"),
            ),
            NewKind::KeyedProcess => (
                include_str!("new/js/keyed-process/function.js"),
                include_str!("new/js/keyed-process/function.test.js"),
            ),
            NewKind::CoProcess => (
                include_str!("new/js/co-process/function.js"),
                include_str!("new/js/co-process/function.test.js"),
            ),
            NewKind::BroadcastProcess => (
                include_str!("new/js/broadcast-process/function.js"),
                include_str!("new/js/broadcast-process/function.test.js"),
            ),
            NewKind::Aggregate => (
                include_str!("new/js/aggregate/function.js"),
                include_str!("new/js/aggregate/function.test.js"),
            ),
            NewKind::WindowProcess => (
                include_str!("new/js/window-process/function.js"),
                include_str!("new/js/window-process/function.test.js"),
            ),
        }
    }

    /// `src/lib.rs` and `job.toml` of this kind.
    fn templates(self) -> (&'static str, &'static str) {
        match self {
            NewKind::Map => (
                include_str!("new/map/lib.rs"),
                include_str!("new/map/job.toml"),
            ),
            NewKind::Filter => (
                include_str!("new/filter/lib.rs"),
                include_str!("new/filter/job.toml"),
            ),
            NewKind::FlatMap => (
                include_str!("new/flat-map/lib.rs"),
                include_str!("new/flat-map/job.toml"),
            ),
            NewKind::KeyedProcess => (
                include_str!("new/keyed-process/lib.rs"),
                include_str!("new/keyed-process/job.toml"),
            ),
            NewKind::CoProcess => (
                include_str!("new/co-process/lib.rs"),
                include_str!("new/co-process/job.toml"),
            ),
            NewKind::BroadcastProcess => (
                include_str!("new/broadcast-process/lib.rs"),
                include_str!("new/broadcast-process/job.toml"),
            ),
            NewKind::Aggregate => (
                include_str!("new/aggregate/lib.rs"),
                include_str!("new/aggregate/job.toml"),
            ),
            NewKind::WindowProcess => (
                include_str!("new/window-process/lib.rs"),
                include_str!("new/window-process/job.toml"),
            ),
        }
    }

    /// Sample inputs besides the clicks: the second input of the two-input kinds.
    fn second_input(self) -> Option<(&'static str, &'static str)> {
        match self {
            NewKind::CoProcess => Some((
                "data/purchases.jsonl",
                include_str!("new/data/purchases.jsonl"),
            )),
            NewKind::BroadcastProcess => {
                Some(("data/labels.jsonl", include_str!("new/data/labels.jsonl")))
            }
            _ => None,
        }
    }
}

/// `eddy new` arguments.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The folder to create; its last component is the function's name
    /// (letters, digits, `-` and `_`, starting with a letter).
    pub path: PathBuf,
    /// The language to write the function in.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: GuestLanguage,
    /// The kind of function, as the job file's `kind` names it.
    #[arg(long, value_enum)]
    pub kind: NewKind,
    /// The eddy guest SDK of the language (`guest-sdk/`, `guest-sdk-python/`
    /// or `guest-sdk-js/` of an eddy checkout) the project uses; by default
    /// the one of the checkout this eddy was built from.
    #[arg(long, value_name = "PATH")]
    pub sdk_path: Option<PathBuf>,
}

/// Where a language's SDK is in an eddy checkout, and the file and text
/// that tell it is that SDK.
fn sdk_folder(lang: GuestLanguage) -> (&'static str, &'static str, &'static str) {
    match lang {
        GuestLanguage::Rust => ("guest-sdk", "Cargo.toml", "name = \"eddy-sdk\""),
        GuestLanguage::Python => ("guest-sdk-python", "pyproject.toml", "name = \"eddy-sdk\""),
        GuestLanguage::Js => ("guest-sdk-js", "package.json", "\"name\": \"eddy-sdk\""),
    }
}

/// The SDK of the checkout this binary was built from.
fn default_sdk_path(lang: GuestLanguage) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(sdk_folder(lang).0)
}

/// Make the project and say what to do next.
pub fn run(args: &NewArgs) -> Result<()> {
    let name = crate_name(&args.path)?;
    if args.lang == GuestLanguage::Python {
        check_python_module(name)?;
    }
    check_target(&args.path)?;
    let sdk = sdk_path(args.lang, args.sdk_path.as_deref())?;
    let files = render(name, args.lang, args.kind, &sdk);
    for (relative, contents) in &files {
        let path = args.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create folder {}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let steps = match args.lang {
        GuestLanguage::Rust => {
            "    cargo test                                      # the native test\n    \
             cargo build --release --target wasm32-wasip2    # the component\n    \
             eddy run job.toml                               # the job on data/"
                .to_string()
        }
        GuestLanguage::Python => format!(
            "    tools=$({checkout}/scripts/setup-python-guests.sh)   # once: componentize-py and pytest, pinned\n    \
             PYTHONPATH={sdk} $tools/python -m pytest   # the native test\n    \
             {build}   # the component\n    \
             eddy run job.toml   # the job on data/",
            checkout = sdk.parent().unwrap_or(&sdk).display(),
            sdk = sdk.display(),
            build = build_command(args.lang, name, args.kind, &sdk),
        ),
        GuestLanguage::Js => "    npm install      # links the SDK\n    \
             npm test         # the native test\n    \
             npm run build    # the component\n    \
             eddy run job.toml"
            .to_string(),
    };
    println!(
        "Created `{name}`, a {} function in {}, in {}:\n\n    cd {}\n{steps}",
        args.kind.name(),
        args.lang.name(),
        args.path.display(),
        args.path.display()
    );
    Ok(())
}

/// The command that builds the project's component, as its job file says.
fn build_command(lang: GuestLanguage, name: &str, kind: NewKind, sdk: &Path) -> String {
    let module = name.replace('-', "_");
    match lang {
        GuestLanguage::Rust => "cargo build --release --target wasm32-wasip2".into(),
        GuestLanguage::Python => format!(
            "{}/eddy-py-build {module}.py --kind {} -o {module}.wasm",
            sdk.display(),
            kind.name()
        ),
        GuestLanguage::Js => "npm run build".into(),
    }
}

/// The crate name: the folder's last component, if cargo would take it.
fn crate_name(path: &Path) -> Result<&str> {
    let Some(name) = path.file_name() else {
        bail!(
            "`{}` does not end in a folder name; give the folder to create, e.g. `eddy new my-counter`",
            path.display()
        );
    };
    let Some(name) = name.to_str() else {
        bail!("the folder name of `{}` is not UTF-8", path.display());
    };
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!(
            "`{name}` cannot be a crate name: use letters, digits, `-` and `_`, starting with a letter"
        );
    }
    const RESERVED: [&str; 6] = ["test", "std", "core", "alloc", "eddy-sdk", "eddy_sdk"];
    if RESERVED.contains(&name) || is_keyword(name) {
        bail!("`{name}` cannot be a crate name: it is reserved by Rust or eddy; choose another");
    }
    Ok(name)
}

/// A Python project's module is named after it (`my-fn` → `my_fn.py`): it
/// must be importable and must not hide a module the build or the SDK
/// imports.
fn check_python_module(name: &str) -> Result<()> {
    const KEYWORDS: [&str; 35] = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    // The world modules componentize-py generates, and what the SDK imports.
    const TAKEN: [&str; 22] = [
        "transform",
        "keyed_process",
        "aggregate",
        "wit_world",
        "eddy_entry",
        "eddy_sdk",
        "componentize_py_types",
        "argparse",
        "importlib",
        "json",
        "logging",
        "os",
        "re",
        "shutil",
        "struct",
        "subprocess",
        "sys",
        "tempfile",
        "time",
        "traceback",
        "typing",
        "pytest",
    ];
    let module = name.replace('-', "_");
    if KEYWORDS.contains(&module.as_str()) {
        bail!(
            "`{name}` cannot name a Python module (`{module}` is a Python keyword); choose another"
        );
    }
    if TAKEN.contains(&module.as_str()) {
        bail!(
            "`{name}` would make a module `{module}.py` that hides the `{module}` module the build or the eddy SDK imports; choose another"
        );
    }
    Ok(())
}

/// Rust's keywords, which cargo refuses as crate names.
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: [&str; 51] = [
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
        "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do",
        "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
    ];
    KEYWORDS.contains(&name)
}

/// Refuse to write into anything but a new or empty folder.
fn check_target(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot look at {}", path.display())),
        Ok(metadata) if !metadata.is_dir() => {
            bail!("{} exists and is not a folder", path.display())
        }
        Ok(_) => {
            let mut entries = std::fs::read_dir(path)
                .with_context(|| format!("cannot read folder {}", path.display()))?;
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; choose another name, or remove it first",
                    path.display()
                );
            }
            Ok(())
        }
    }
}

/// The SDK folder as an absolute path, checked to be the language's SDK.
fn sdk_path(lang: GuestLanguage, given: Option<&Path>) -> Result<PathBuf> {
    let path = given.map_or_else(|| default_sdk_path(lang), Path::to_path_buf);
    let (folder, marker_file, marker) = sdk_folder(lang);
    let is_sdk =
        std::fs::read_to_string(path.join(marker_file)).is_ok_and(|text| text.contains(marker));
    if !is_sdk {
        let hint = match given {
            Some(_) => format!("give the `{folder}` folder of an eddy checkout"),
            None => format!(
                "this eddy was built from a checkout that has moved or gone; pass `--sdk-path PATH/eddy/{folder}`"
            ),
        };
        bail!(
            "{} is not the eddy {} guest SDK (no `eddy-sdk` in its {marker_file}); {hint}",
            path.display(),
            lang.name()
        );
    }
    let path =
        std::path::absolute(&path).with_context(|| format!("cannot resolve {}", path.display()))?;
    // `a/host/../guest-sdk` reads better as `a/guest-sdk`.
    Ok(path.canonicalize().unwrap_or(path))
}

/// Every file of the project: its path in the project and its contents.
fn render(name: &str, lang: GuestLanguage, kind: NewKind, sdk: &Path) -> Vec<(String, String)> {
    let module = name.replace('-', "_");
    let component = match lang {
        GuestLanguage::Rust => format!("target/wasm32-wasip2/release/{module}.wasm"),
        GuestLanguage::Python | GuestLanguage::Js => format!("{module}.wasm"),
    };
    let sdk_toml = toml::Value::String(sdk.to_string_lossy().into_owned()).to_string();
    let sdk_text = sdk.to_string_lossy();
    let build = build_command(lang, name, kind, sdk);
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{wasm}}", &module)
            .replace("{{kind}}", kind.name())
            .replace("{{component}}", &component)
            .replace("{{build}}", &build)
            .replace("{{sdk}}", &sdk_toml)
            .replace("{{sdk_py}}", &sdk_text)
            .replace("{{sdk_js}}", &sdk_text)
    };
    let (_, job) = kind.templates();
    let mut files = match lang {
        GuestLanguage::Rust => {
            let (lib, _) = kind.templates();
            vec![
                (
                    "Cargo.toml".to_string(),
                    fill(include_str!("new/Cargo.toml.in")),
                ),
                ("README.md".to_string(), fill(include_str!("new/README.md"))),
                (".gitignore".to_string(), "/target\n".to_string()),
                ("src/lib.rs".to_string(), fill(lib)),
            ]
        }
        GuestLanguage::Python => {
            let (function, test) = kind.python_templates();
            vec![
                (
                    "README.md".to_string(),
                    fill(include_str!("new/python/README.md")),
                ),
                (
                    ".gitignore".to_string(),
                    "*.wasm\n__pycache__/\n".to_string(),
                ),
                (format!("{module}.py"), fill(function)),
                (format!("test_{module}.py"), fill(test)),
            ]
        }
        GuestLanguage::Js => {
            let (function, test) = kind.js_templates();
            vec![
                (
                    "package.json".to_string(),
                    fill(include_str!("new/js/package.json")),
                ),
                (
                    "README.md".to_string(),
                    fill(include_str!("new/js/README.md")),
                ),
                (
                    ".gitignore".to_string(),
                    "*.wasm\nnode_modules/\n".to_string(),
                ),
                ("function.js".to_string(), fill(function)),
                ("function.test.js".to_string(), fill(test)),
            ]
        }
    };
    files.push(("job.toml".to_string(), fill(job)));
    files.push(("data/clicks.jsonl".to_string(), CLICKS.to_string()));
    if let Some((path, contents)) = kind.second_input() {
        files.push((path.to_string(), contents.to_string()));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cargo_would_refuse_are_refused() {
        for bad in ["9lives", "my counter", "-x", "a.b", "fn", "test", "é"] {
            assert!(crate_name(Path::new(bad)).is_err(), "{bad}");
        }
        for good in ["my-counter", "a", "count_clicks2"] {
            assert_eq!(crate_name(Path::new(good)).unwrap(), good);
        }
        assert_eq!(crate_name(Path::new("dir/sub/x-y")).unwrap(), "x-y");
    }

    #[test]
    fn names_are_the_job_files_kinds() {
        for kind in NewKind::value_variants() {
            assert_eq!(kind.to_possible_value().unwrap().get_name(), kind.name());
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        let sdk = Path::new("/eddy/guest-sdk");
        for lang in GuestLanguage::value_variants() {
            for kind in NewKind::value_variants() {
                for (path, contents) in render("my-fn", *lang, *kind, sdk) {
                    assert!(
                        !contents.contains("{{"),
                        "{lang:?} {kind:?} {path}: {contents}"
                    );
                }
            }
        }
    }
}
