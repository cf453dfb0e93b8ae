//! Enrichment (map): adds `amount_eur` (rounded to cents) and `region` to a
//! purchase `{"user", "amount", "currency", "country", ...}`; other fields
//! pass through (an input `amount_eur` or `region` is replaced). Rates come
//! from the config `{"rates": {"usd": 0.92, "eur": 1.0, "gbp": 1.17}}` (EUR
//! per unit). A
//! purchase in an unknown currency gets `"amount_eur": null`, which the
//! filter downstream drops.

use std::collections::BTreeMap;

use eddy_sdk::{Json, Map, OpenContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// EUR per unit of each currency, by lowercase currency code.
    rates: BTreeMap<String, f64>,
}

#[derive(Serialize, Deserialize)]
struct Purchase {
    user: String,
    amount: f64,
    currency: String,
    country: String,
    /// Any other fields, passed through unchanged.
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

#[derive(Serialize)]
struct EnrichedPurchase {
    #[serde(flatten)]
    purchase: Purchase,
    amount_eur: Option<f64>,
    region: &'static str,
}

/// Region of a lowercase ISO 3166 country code.
fn region(country: &str) -> &'static str {
    match country {
        "at" | "be" | "ch" | "de" | "dk" | "es" | "fi" | "fr" | "gb" | "ie" | "it" | "nl"
        | "no" | "pl" | "pt" | "se" => "europe",
        "ca" | "mx" | "us" => "north-america",
        "ar" | "br" | "cl" | "co" => "south-america",
        "cn" | "in" | "jp" | "kr" | "sg" => "asia",
        "au" | "nz" => "oceania",
        "eg" | "ke" | "ng" | "za" => "africa",
        _ => "unknown",
    }
}

struct Enrich {
    rates: BTreeMap<String, f64>,
}

impl Map for Enrich {
    type In = Json<Purchase>;
    type Out = Json<EnrichedPurchase>;

    fn open(ctx: &OpenContext) -> Result<Self, String> {
        let config: Config = ctx.config_json()?;
        let rates = config
            .rates
            .into_iter()
            .map(|(currency, rate)| (currency.to_lowercase(), rate))
            .collect();
        Ok(Enrich { rates })
    }

    fn map(&mut self, Json(mut purchase): Json<Purchase>) -> Result<Self::Out, String> {
        // Computed fields replace any the input already had.
        purchase.other.remove("amount_eur");
        purchase.other.remove("region");
        let rate = self.rates.get(&purchase.currency.to_lowercase());
        let amount_eur = rate.map(|rate| (purchase.amount * rate * 100.0).round() / 100.0);
        let region = region(&purchase.country.to_lowercase());
        Ok(Json(EnrichedPurchase {
            purchase,
            amount_eur,
            region,
        }))
    }
}

eddy_sdk::export_map!(Enrich);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{assert_jsonl_eq, jsonl, run_map};

    const CONFIG: &str = r#"{"rates": {"usd": 0.92, "eur": 1.0, "gbp": 1.17}}"#;

    #[test]
    fn sample_purchases_are_enriched() {
        let purchases = jsonl(include_str!("../../data/purchases.jsonl"));
        let enriched = run_map::<super::Enrich>(CONFIG, &purchases).unwrap();
        assert_jsonl_eq(
            &enriched,
            include_str!("../../data/expected-enriched.jsonl"),
        );
    }

    #[test]
    fn missing_config_and_bad_records_are_errors() {
        let purchase: &[u8] = br#"{"user":"u1","amount":1,"currency":"eur","country":"de"}"#;
        assert!(
            run_map::<super::Enrich>("", &[purchase])
                .unwrap_err()
                .contains("needs a JSON config")
        );
        let error = run_map::<super::Enrich>(CONFIG, &[br#"{"user":"u1"}"#]).unwrap_err();
        assert!(error.contains("missing field `amount`"), "{error}");
    }
}
