//! Enrichment, step 2 (filter): keeps purchases with `amount_eur >=
//! min_amount_eur`; purchases without `amount_eur` (unknown currency) are
//! dropped. Config: `{"min_amount_eur": 10}` (10 when absent).

use eddy_sdk::{Filter, Json, OpenContext};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    min_amount_eur: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_amount_eur: 10.0,
        }
    }
}

/// The only field the filter looks at; the record is forwarded untouched.
#[derive(Deserialize)]
struct Purchase {
    amount_eur: Option<f64>,
}

struct MinimumAmount {
    min_amount_eur: f64,
}

impl Filter for MinimumAmount {
    type In = Json<Purchase>;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json_or_default()?;
        Ok(MinimumAmount {
            min_amount_eur: config.min_amount_eur,
        })
    }

    fn filter(&mut self, Json(purchase): Json<Purchase>) -> Result<bool, String> {
        Ok(purchase
            .amount_eur
            .is_some_and(|amount| amount >= self.min_amount_eur))
    }
}

eddy_sdk::export_filter!(MinimumAmount);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{assert_jsonl_eq, jsonl, run_filter};

    #[test]
    fn sample_purchases_below_the_minimum_are_dropped() {
        let enriched = jsonl(include_str!("../../data/expected-enriched.jsonl"));
        let expected = include_str!("../../data/expected-output.jsonl");
        let kept =
            run_filter::<super::MinimumAmount>(r#"{"min_amount_eur": 10}"#, &enriched).unwrap();
        assert_jsonl_eq(&kept, expected);
        assert_eq!(
            run_filter::<super::MinimumAmount>("", &enriched).unwrap(),
            kept
        );
    }
}
