//! `{{name}}`: a `filter` function (keep or drop each record, Flink's
//! `FilterFunction`). This one keeps the clicks on pages under a prefix
//! taken from the operator's `config` in the job file
//! (`config = { prefix = "/products" }`).
//!
//! Kept records go on exactly as they came (never re-encoded), so the
//! function only decodes the fields it looks at.

use eddy_sdk::{Filter, Json, OpenContext};
use serde::Deserialize;

/// The fields of a click the function reads; the others pass through untouched.
#[derive(Debug, Deserialize)]
struct Click {
    page: String,
}

/// The operator's `config`, as JSON (a TOML table in the job file becomes a
/// JSON object). Missing fields take their defaults.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// Clicks on pages starting with this are kept.
    prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: "/products".into(),
        }
    }
}

struct PagesUnder {
    prefix: String,
}

impl Filter for PagesUnder {
    type In = Json<Click>;

    /// Runs once per instance. A bad config fails the job before any record
    /// is read, with this message.
    fn open(ctx: &OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        if config.prefix.is_empty() {
            return Err("config: `prefix` must not be empty".into());
        }
        Ok(PagesUnder {
            prefix: config.prefix,
        })
    }

    fn filter(&mut self, Json(click): Json<Click>) -> Result<bool, String> {
        Ok(click.page.starts_with(&self.prefix))
    }
}

// Makes the component export the `transform` world with this function.
eddy_sdk::export_filter!(PagesUnder);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{assert_jsonl_eq, jsonl, run_filter};

    #[test]
    fn clicks_on_product_pages_are_kept_as_they_came() {
        let clicks = include_str!("../data/clicks.jsonl");
        let config = r#"{"prefix": "/products"}"#;
        let output = run_filter::<super::PagesUnder>(config, &jsonl(clicks)).unwrap();
        assert_jsonl_eq(
            &output,
            r#"
            {"user":"bob","page":"/products/42?ref=ad","ts":1700000005000}
            {"user":"alice","page":"/products/42","ts":1700000012000}
            {"user":"bob","page":"/products/7","ts":1700000059000}
            {"user":"carol","page":"/products/42","ts":1700000090000}
            "#,
        );
    }

    #[test]
    fn an_empty_prefix_is_refused() {
        let error = run_filter::<super::PagesUnder>(r#"{"prefix": ""}"#, &[]).unwrap_err();
        assert!(error.contains("`prefix` must not be empty"), "{error}");
    }
}
