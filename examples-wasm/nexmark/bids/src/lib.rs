//! Nexmark: the bids of the generator's binary events (source
//! `format = "nexmark"`), unchanged (the peer's `BidsOf` flat-map). A
//! filter, so the host passes on the records it keeps as they are, still
//! in `eddy_nexmark::binary`'s layout; what follows decodes them (q7's
//! `nexmark-q7-bucket` and `nexmark-q7-partial-max`). Only the type byte is
//! read here: a record that is not a Nexmark event at all is an error, the
//! rest of a bid is checked by whoever decodes it.

use eddy_nexmark::binary;
use eddy_sdk::{Decode, Filter, OpenContext};

/// Whether a record is a bid: read from its type byte alone, in place.
struct IsBid(bool);

impl Decode for IsBid {
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        match binary::tag(bytes) {
            Some(binary::TAG_BID) => Ok(IsBid(true)),
            Some(binary::TAG_PERSON | binary::TAG_AUCTION) => Ok(IsBid(false)),
            _ => Err(format!(
                "record is not a Nexmark event (source format \"nexmark\"): type byte {:?} of {} bytes",
                bytes.first(),
                bytes.len()
            )),
        }
    }
}

struct Bids;

impl Filter for Bids {
    type In = IsBid;

    fn open(_: &OpenContext) -> Result<Self, String> {
        Ok(Bids)
    }

    fn filter(&mut self, IsBid(keep): IsBid) -> Result<bool, String> {
        Ok(keep)
    }
}

eddy_sdk::export_filter!(Bids);

#[cfg(test)]
mod tests {
    use eddy_nexmark::{GeneratorConfig, binary};
    use eddy_sdk::Decode;

    use super::IsBid;

    #[test]
    fn keeps_bids_only_and_refuses_what_is_not_an_event() {
        let generator = GeneratorConfig::default();
        for (index, want) in [(0, false), (1, false), (4, true), (49, true), (50, false)] {
            let mut bytes = Vec::new();
            binary::encode(&generator.event(index), &mut bytes);
            assert_eq!(IsBid::decode(&bytes).unwrap().0, want, "event {index}");
        }
        let error = IsBid::decode(b"{\"json\":1}").err().unwrap();
        assert!(
            error.starts_with("record is not a Nexmark event"),
            "{error}"
        );
        assert!(IsBid::decode(b"").is_err());
    }
}
