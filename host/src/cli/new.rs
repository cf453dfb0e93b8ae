//! `eddy new`: a guest crate ready to build, test and run, for one function
//! kind (as `rpk transform init` and `smdk generate` do), so that a first
//! function starts from code that compiles rather than from the reference.
//!
//! The crate has a commented skeleton of the kind that does something small
//! on a sample of click events, a native test through the SDK's harness, a
//! job file running it on the sample, and a README saying how to build.
//! The templates are the files in `new/`, with `{{name}}`-style placeholders.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;

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
    /// The folder to create; its last component is the crate's name
    /// (letters, digits, `-` and `_`, starting with a letter).
    pub path: PathBuf,
    /// The kind of function, as the job file's `kind` names it.
    #[arg(long, value_enum)]
    pub kind: NewKind,
    /// The eddy guest SDK (`guest-sdk/` of an eddy checkout) the crate
    /// depends on by path; by default the one this eddy was built from.
    #[arg(long, value_name = "PATH")]
    pub sdk_path: Option<PathBuf>,
}

/// The SDK of the checkout this binary was built from.
fn default_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk")
}

/// Make the crate and say what to do next.
pub fn run(args: &NewArgs) -> Result<()> {
    let name = crate_name(&args.path)?;
    check_target(&args.path)?;
    let sdk = sdk_path(args.sdk_path.as_deref())?;
    let files = render(name, args.kind, &sdk);
    for (relative, contents) in &files {
        let path = args.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create folder {}", parent.display()))?;
        }
        std::fs::write(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "Created `{name}`, a {} function, in {}:\n\
         \n    cd {}\
         \n    cargo test                                      # the native test\
         \n    cargo build --release --target wasm32-wasip2    # the component\
         \n    eddy run job.toml                               # the job on data/",
        args.kind.name(),
        args.path.display(),
        args.path.display()
    );
    Ok(())
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

/// The SDK folder as an absolute path, checked to be the SDK.
fn sdk_path(given: Option<&Path>) -> Result<PathBuf> {
    let path = given.map_or_else(default_sdk_path, Path::to_path_buf);
    let manifest = path.join("Cargo.toml");
    let is_sdk =
        std::fs::read_to_string(&manifest).is_ok_and(|text| text.contains("name = \"eddy-sdk\""));
    if !is_sdk {
        let hint = match given {
            Some(_) => "give the `guest-sdk` folder of an eddy checkout",
            None => {
                "this eddy was built from a checkout that has moved or gone; pass `--sdk-path PATH/eddy/guest-sdk`"
            }
        };
        bail!(
            "{} is not the eddy guest SDK (no `eddy-sdk` in its Cargo.toml); {hint}",
            path.display()
        );
    }
    let path =
        std::path::absolute(&path).with_context(|| format!("cannot resolve {}", path.display()))?;
    // `a/host/../guest-sdk` reads better as `a/guest-sdk`.
    Ok(path.canonicalize().unwrap_or(path))
}

/// Every file of the crate: its path in the crate and its contents.
fn render(name: &str, kind: NewKind, sdk: &Path) -> Vec<(&'static str, String)> {
    let (lib, job) = kind.templates();
    let sdk = toml::Value::String(sdk.to_string_lossy().into_owned()).to_string();
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{wasm}}", &name.replace('-', "_"))
            .replace("{{kind}}", kind.name())
            .replace("{{sdk}}", &sdk)
    };
    let mut files = vec![
        ("Cargo.toml", fill(include_str!("new/Cargo.toml.in"))),
        ("README.md", fill(include_str!("new/README.md"))),
        (".gitignore", "/target\n".to_string()),
        ("src/lib.rs", fill(lib)),
        ("job.toml", fill(job)),
        ("data/clicks.jsonl", CLICKS.to_string()),
    ];
    if let Some((path, contents)) = kind.second_input() {
        files.push((path, contents.to_string()));
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
        for kind in NewKind::value_variants() {
            for (path, contents) in render("my-fn", *kind, sdk) {
                assert!(!contents.contains("{{"), "{kind:?} {path}: {contents}");
            }
        }
    }
}
