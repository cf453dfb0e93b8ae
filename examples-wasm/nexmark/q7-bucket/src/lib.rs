//! Nexmark q7: the key of a bid in the generator's binary layout, its
//! auction's bucket `auction & 63` (the peer's `BidBucket` key selector),
//! in decimal. Keeping q7's bids binary, rather than JSON keyed by a field,
//! spares the host a JSON parse per bid and the partial maximum a JSON
//! decode per bid.

use eddy_nexmark::{Event, binary};
use eddy_sdk::{Decode, KeySelector, OpenContext};

/// The bucket of a bid, read in place.
struct Bucket(i64);

impl Decode for Bucket {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        match binary::decode(bytes) {
            Ok(Event::Bid(bid)) => Ok(Bucket(bid.auction & 63)),
            Ok(_) => Err("q7 keys bids only: put nexmark-bids before it".into()),
            Err(error) => Err(format!(
                "record is not a Nexmark event (source format \"nexmark\"): {error}"
            )),
        }
    }
}

struct BidBucket;

impl KeySelector for BidBucket {
    type In = Bucket;
    type Key = String;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(BidBucket)
    }

    fn key(&mut self, Bucket(bucket): Bucket) -> Result<String, String> {
        Ok(bucket.to_string())
    }
}

eddy_sdk::export_key_selector!(BidBucket);

#[cfg(test)]
mod tests {
    use eddy_nexmark::{Bid, Event, binary};
    use eddy_sdk::Decode;

    use super::Bucket;

    #[test]
    fn a_bids_bucket_is_its_auction_and_63() {
        for (auction, bucket) in [(1000, 1000 & 63), (1063, 1063 & 63), (64, 0)] {
            let mut bytes = Vec::new();
            binary::encode(
                &Event::Bid(Bid {
                    auction,
                    bidder: 1,
                    price: 2,
                    date_time: 3,
                    extra: "x\\",
                }),
                &mut bytes,
            );
            assert_eq!(Bucket::decode(&bytes).unwrap().0, bucket);
        }
        assert!(Bucket::decode(b"not an event").is_err());
        let mut person = Vec::new();
        binary::encode(
            &eddy_nexmark::GeneratorConfig::default().event(0),
            &mut person,
        );
        let error = Bucket::decode(&person).err().unwrap();
        assert!(error.contains("put nexmark-bids before it"), "{error}");
    }
}
