//! The languages eddy has guest SDKs for. The host does not care which
//! language a component was written in (the WIT contract is the same);
//! `eddy new` and `eddy bench` do, to pick templates and components.

/// A language with a guest SDK in this repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GuestLanguage {
    /// `guest-sdk/`, built with `cargo build --target wasm32-wasip2`.
    Rust,
    /// `guest-sdk-python/`, built with componentize-py.
    Python,
    /// `guest-sdk-js/`, built with componentize-js.
    Js,
}

impl GuestLanguage {
    /// How the example components of this language are named in
    /// `examples-wasm/wasm/`: `bench_map.wasm`, `bench_map_py.wasm`,
    /// `bench_map_js.wasm`.
    pub fn component_suffix(self) -> &'static str {
        match self {
            GuestLanguage::Rust => "",
            GuestLanguage::Python => "_py",
            GuestLanguage::Js => "_js",
        }
    }

    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            GuestLanguage::Rust => "Rust",
            GuestLanguage::Python => "Python",
            GuestLanguage::Js => "JavaScript",
        }
    }
}
