//! The rules of the peer's generator (`GENERATOR.md`), so that eddy's events
//! are byte for byte the Flink peer's: every event is a pure function of its
//! number and the configuration, drawn from its own `java.util.Random`-style
//! generator seeded from the (scrambled) event id.

use crate::model::{Auction, Bid, Event, Person};

const PERSON_PROPORTION: i64 = 1;
const AUCTION_PROPORTION: i64 = 3;
const TOTAL_PROPORTION: i64 = 50;
const FIRST_PERSON_ID: i64 = 1000;
const FIRST_AUCTION_ID: i64 = 1000;
const FIRST_CATEGORY_ID: i64 = 10;
const NUM_CATEGORIES: i32 = 5;
const HOT_AUCTION_RATIO: i32 = 2;
const HOT_SELLERS_RATIO: i32 = 4;
const HOT_BIDDERS_RATIO: i32 = 4;
const HOT_BATCH: i64 = 100;
const NUM_ACTIVE_PEOPLE: i64 = 1000;
const NUM_IN_FLIGHT_AUCTIONS: i64 = 100;
const PERSON_ID_LEAD: i64 = 10;
const AUCTION_ID_LEAD: i64 = 10;
const AVG_PERSON_BYTES: i32 = 200;
const AVG_AUCTION_BYTES: i32 = 500;
const AVG_BID_BYTES: i32 = 100;
/// Events until 100 more auctions have started: the auction length horizon.
const EVENTS_FOR_AUCTIONS: i64 = NUM_IN_FLIGHT_AUCTIONS * TOTAL_PROPORTION / AUCTION_PROPORTION;
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// The parameters of a stream; together with an event number they determine
/// the event completely, so any reader can generate any share of the stream.
/// The defaults are the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Events per second of event time (not a wall-clock rate): how densely
    /// the stream covers event time. Default 100,000.
    pub rate: u64,
    /// The event time of event 0, milliseconds since the Unix epoch.
    /// Default 1,700,000,000,000 (2023-11-14T22:13:20Z, a multiple of 10 s).
    pub base_time: i64,
    /// Selects a different stream of the same shape. Default 0.
    pub seed: u64,
    /// Events are permuted within groups of this many (out-of-order data);
    /// 1 (the default) keeps timestamps in order, and 0 counts as 1. The
    /// peer holds it in a Java `int`, so only sizes up to `i32::MAX` mean
    /// what they say.
    pub ooo_group: u64,
    /// Added to every event id: the stream starts at this id. Default 0.
    pub first: u64,
}

impl Default for GeneratorConfig {
    /// The peer's defaults (GENERATOR.md §2), which its test vectors use.
    fn default() -> Self {
        GeneratorConfig {
            rate: 100_000,
            base_time: 1_700_000_000_000,
            seed: 0,
            ooo_group: 1,
            first: 0,
        }
    }
}

impl GeneratorConfig {
    fn ooo(&self) -> i64 {
        // The peer holds the group size in a Java int, at least 1.
        (self.ooo_group as i32).max(1) as i64
    }

    fn adjusted(&self, i: u64) -> i64 {
        let i = i as i64;
        let g = self.ooo();
        (i / g)
            .wrapping_mul(g)
            .wrapping_add(i.wrapping_mul(953) % g)
    }

    /// The event time of the event at (adjusted) position `k`, milliseconds
    /// since the epoch: the peer's f64 inter-event delay, so that rounding
    /// matches for every rate.
    pub fn timestamp(&self, k: u64) -> i64 {
        self.timestamp_i64(k as i64)
    }

    fn timestamp_i64(&self, k: i64) -> i64 {
        let delay_us = 1_000_000.0 / self.rate as f64;
        // `as` saturates (and maps NaN to 0) exactly as Java's (long) cast.
        self.base_time
            .wrapping_add(((k as f64 * delay_us) as i64) / 1000)
    }

    /// Event number `i` of the stream (position, 0-based), exactly as the
    /// peer's `NexmarkGen.event(i)`.
    pub fn event(&self, i: u64) -> Event {
        let adj = self.adjusted(i);
        let event_id = (self.first as i64).wrapping_add(adj);
        let ts = self.timestamp_i64(adj);
        let mut r = Rng::new(mix64(
            event_id.wrapping_add(self.seed.wrapping_mul(GOLDEN) as i64) as u64
        ) as i64);
        let rem = event_id % TOTAL_PROPORTION;
        if rem < PERSON_PROPORTION {
            Event::Person(person(event_id, &mut r, ts))
        } else if rem < PERSON_PROPORTION + AUCTION_PROPORTION {
            Event::Auction(self.auction(adj, event_id, &mut r, ts))
        } else {
            Event::Bid(bid(event_id, &mut r, ts))
        }
    }

    fn auction(&self, adj: i64, event_id: i64, r: &mut Rng, ts: i64) -> Auction {
        let id = last_base0_auction_id(event_id) + FIRST_AUCTION_ID;
        let seller = if r.next_int_bounded(HOT_SELLERS_RATIO) > 0 {
            (last_base0_person_id(event_id) / HOT_BATCH) * HOT_BATCH
        } else {
            next_base0_person_id(event_id, r)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + r.next_int_bounded(NUM_CATEGORIES) as i64;
        let initial_bid = next_price(r);
        let horizon = self
            .timestamp_i64(adj.wrapping_add(EVENTS_FOR_AUCTIONS))
            .wrapping_sub(ts);
        // Java's long arithmetic wraps; so does this, at any `base_time`.
        let expires = ts
            .wrapping_add(1)
            .wrapping_add(next_long(r, horizon.wrapping_mul(2).max(1)));
        let item_name = next_string(r, 20);
        let description = next_string(r, 100);
        let reserve = initial_bid + next_price(r);
        let size = 8 + item_name.len() as i32 + description.len() as i32 + 40;
        let extra = next_extra(r, size, AVG_AUCTION_BYTES);
        Auction {
            id,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: ts,
            expires,
            seller,
            category,
            extra,
        }
    }
}

fn person(event_id: i64, r: &mut Rng, ts: i64) -> Person {
    let id = last_base0_person_id(event_id) + FIRST_PERSON_ID;
    let first = FIRST_NAMES[r.next_int_bounded(FIRST_NAMES.len() as i32) as usize];
    let last = LAST_NAMES[r.next_int_bounded(LAST_NAMES.len() as i32) as usize];
    let mut name = String::with_capacity(first.len() + 1 + last.len());
    name.push_str(first);
    name.push(' ');
    name.push_str(last);
    let mut email_address = String::with_capacity(16);
    push_next_string(r, 7, &mut email_address);
    email_address.push('@');
    push_next_string(r, 5, &mut email_address);
    email_address.push_str(".com");
    let mut cc = [b' '; 19];
    for k in 0..4 {
        let mut v = r.next_int_bounded(10_000) as u32;
        for d in (0..4).rev() {
            cc[k * 5 + d] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    let credit_card = String::from_utf8(cc.to_vec()).expect("digits and spaces");
    let city = US_CITIES[r.next_int_bounded(US_CITIES.len() as i32) as usize];
    let state = US_STATES[r.next_int_bounded(US_STATES.len() as i32) as usize];
    let size = 8
        + (name.len() + email_address.len() + credit_card.len() + city.len() + state.len()) as i32;
    let extra = next_extra(r, size, AVG_PERSON_BYTES);
    Person {
        id,
        name,
        email_address,
        credit_card,
        city: city.to_owned(),
        state: state.to_owned(),
        date_time: ts,
        extra,
    }
}

fn bid(event_id: i64, r: &mut Rng, ts: i64) -> Bid {
    let auction = if r.next_int_bounded(HOT_AUCTION_RATIO) > 0 {
        (last_base0_auction_id(event_id) / HOT_BATCH) * HOT_BATCH
    } else {
        next_base0_auction_id(event_id, r)
    } + FIRST_AUCTION_ID;
    let bidder = if r.next_int_bounded(HOT_BIDDERS_RATIO) > 0 {
        (last_base0_person_id(event_id) / HOT_BATCH) * HOT_BATCH + 1
    } else {
        next_base0_person_id(event_id, r)
    } + FIRST_PERSON_ID;
    let price = next_price(r);
    let extra = next_extra(r, 32, AVG_BID_BYTES);
    Bid {
        auction,
        bidder,
        price,
        date_time: ts,
        extra,
    }
}

/// The splitmix64 finalizer the peer scrambles event ids with before seeding.
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `java.util.Random`, bit for bit (48-bit LCG).
struct Rng {
    s: u64,
}

impl Rng {
    const MULT: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    const ADD: u64 = 0xB;

    fn new(seed: i64) -> Rng {
        Rng {
            s: (seed as u64 ^ Self::MULT) & Self::MASK,
        }
    }

    #[inline(always)]
    fn next(&mut self, bits: u32) -> i32 {
        self.s = (self.s.wrapping_mul(Self::MULT).wrapping_add(Self::ADD)) & Self::MASK;
        (self.s >> (48 - bits)) as i32
    }

    /// `nextInt()`: `next_extra` draws these by jumping ahead instead.
    #[cfg(test)]
    fn next_int(&mut self) -> i32 {
        self.next(32)
    }

    #[inline(always)]
    fn next_int_bounded(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((bound as i64 * r as i64) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }

    fn next_long(&mut self) -> i64 {
        ((self.next(32) as i64) << 32).wrapping_add(self.next(32) as i64)
    }

    #[inline(always)]
    fn next_double(&mut self) -> f64 {
        (((self.next(26) as i64) << 27) + self.next(27) as i64) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The peer's `LongGenerator.nextLong(n)`.
fn next_long(r: &mut Rng, n: i64) -> i64 {
    if n < i32::MAX as i64 {
        r.next_int_bounded(n as i32) as i64
    } else {
        (r.next_long() % n).wrapping_abs()
    }
}

fn last_base0_person_id(event_id: i64) -> i64 {
    let epoch = event_id / TOTAL_PROPORTION;
    let mut offset = event_id % TOTAL_PROPORTION;
    if offset >= PERSON_PROPORTION {
        offset = PERSON_PROPORTION - 1;
    }
    epoch * PERSON_PROPORTION + offset
}

fn last_base0_auction_id(event_id: i64) -> i64 {
    let mut epoch = event_id / TOTAL_PROPORTION;
    let mut offset = event_id % TOTAL_PROPORTION;
    if offset < PERSON_PROPORTION {
        epoch -= 1;
        offset = AUCTION_PROPORTION - 1;
    } else if offset >= PERSON_PROPORTION + AUCTION_PROPORTION {
        offset = AUCTION_PROPORTION - 1;
    } else {
        offset -= PERSON_PROPORTION;
    }
    epoch * AUCTION_PROPORTION + offset
}

fn next_base0_person_id(event_id: i64, r: &mut Rng) -> i64 {
    let num_people = last_base0_person_id(event_id) + 1;
    let active = num_people.min(NUM_ACTIVE_PEOPLE);
    num_people - active + next_long(r, active + PERSON_ID_LEAD)
}

fn next_base0_auction_id(event_id: i64, r: &mut Rng) -> i64 {
    let max_auction = last_base0_auction_id(event_id);
    let min_auction = (max_auction - NUM_IN_FLIGHT_AUCTIONS).max(0);
    min_auction + next_long(r, max_auction - min_auction + 1 + AUCTION_ID_LEAD)
}

#[inline]
fn next_price(r: &mut Rng) -> i64 {
    // Java's Math.round is floor(x + 0.5); prices are far from where the
    // sum could round.
    (10f64.powf(r.next_double() * 6.0) * 100.0 + 0.5).floor() as i64
}

/// Appends the peer's `nextString(max)`: random lower-case letters and
/// spaces, with leading and trailing spaces stripped.
fn push_next_string(r: &mut Rng, max_length: i32, out: &mut String) {
    let len = 3 + r.next_int_bounded(max_length - 3);
    let start = out.len();
    for _ in 0..len {
        if r.next_int_bounded(13) == 0 {
            // Leading spaces never get in.
            if out.len() > start {
                out.push(' ');
            }
        } else {
            out.push((b'a' + r.next_int_bounded(26) as u8) as char);
        }
    }
    let kept = out[start..].trim_end_matches(' ').len();
    out.truncate(start + kept);
}

fn next_string(r: &mut Rng, max_length: i32) -> String {
    let mut s = String::with_capacity(max_length as usize);
    push_next_string(r, max_length, &mut s);
    s
}

fn next_extra(r: &mut Rng, current_size: i32, desired_average_size: i32) -> String {
    if current_size > desired_average_size {
        return String::new();
    }
    let d = desired_average_size - current_size;
    // Math.round(d * 0.2): d * 0.2 is never within rounding of a .5.
    let delta = (2 * d + 5) / 10;
    let size = (d - delta)
        + if delta == 0 {
            0
        } else {
            r.next_int_bounded(2 * delta)
        };
    let size = size as usize;
    // The peer draws one `nextInt()` per six characters, and character k of a
    // draw is `'a' + (rnd / 26^k) % 26` (Java's truncating division and
    // remainder). Computed from the draw directly rather than by dividing
    // step by step, and with the draws' LCG states computed by jumping from
    // the first, so nothing waits on the previous character: this is most of
    // a bid's cost.
    let draws = size.div_ceil(6);
    let mut bytes = Vec::with_capacity(draws * 6);
    let s0 = r.s;
    for &(mult, add) in &LCG_JUMPS[..draws] {
        let rnd = ((s0.wrapping_mul(mult).wrapping_add(add) & Rng::MASK) >> 16) as i32;
        let q = [
            rnd,
            rnd / 26,
            rnd / 676,
            rnd / 17_576,
            rnd / 456_976,
            rnd / 11_881_376,
            rnd / 308_915_776,
        ];
        let mut chunk = [0u8; 6];
        for k in 0..6 {
            chunk[k] = (b'a' as i32 + (q[k] - 26 * q[k + 1])) as u8;
        }
        bytes.extend_from_slice(&chunk);
    }
    if draws > 0 {
        let (mult, add) = LCG_JUMPS[draws - 1];
        r.s = s0.wrapping_mul(mult).wrapping_add(add) & Rng::MASK;
    }
    bytes.truncate(size);
    String::from_utf8(bytes).expect("ASCII")
}

/// The most draws one extra string needs: a size is below 2 * 500, the
/// largest average, and six characters come from a draw.
const MAX_EXTRA_DRAWS: usize = 2 * AVG_AUCTION_BYTES as usize / 6 + 1;

/// `(M^(j+1), B * (M^j + ... + 1))`: the LCG state j + 1 steps after `s` is
/// `s * M^(j+1) + B * (M^j + ... + 1)` modulo 2^48.
const LCG_JUMPS: [(u64, u64); MAX_EXTRA_DRAWS] = {
    let mut t = [(0u64, 0u64); MAX_EXTRA_DRAWS];
    let mut mult = Rng::MULT;
    let mut add = Rng::ADD;
    let mut j = 0;
    while j < MAX_EXTRA_DRAWS {
        t[j] = (mult & Rng::MASK, add & Rng::MASK);
        mult = mult.wrapping_mul(Rng::MULT);
        add = add.wrapping_mul(Rng::MULT).wrapping_add(Rng::ADD);
        j += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{binary, json};
    use md5::{Digest, Md5};

    fn dump_md5(n: u64) -> String {
        let config = GeneratorConfig::default();
        let mut hasher = Md5::new();
        let mut line = Vec::with_capacity(1024);
        for i in 0..n {
            line.clear();
            json::write_event(&config.event(i), &mut line);
            line.push(b'\n');
            hasher.update(&line);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn java_random_matches_known_values() {
        // new java.util.Random(42): nextInt() = -1170105035, nextInt(10) = 3 (the
        // second draw), nextDouble() of a fresh Random(42) = 0.7275636800328681.
        let mut r = Rng::new(42);
        assert_eq!(r.next_int(), -1_170_105_035);
        let mut r = Rng::new(42);
        assert_eq!(r.next_int_bounded(10), 0);
        assert_eq!(r.next_int_bounded(10), 3);
        let mut r = Rng::new(42);
        assert_eq!(r.next_double(), 0.7275636800328681);
    }

    #[test]
    fn json_dump_of_1000_events_matches_the_peer() {
        assert_eq!(dump_md5(1000), "1607cc310f779d00485325cfe3a01083");
    }

    #[test]
    fn json_dump_of_a_million_events_matches_the_peer() {
        assert_eq!(dump_md5(1_000_000), "5f673fa65a5a63e4ecc37cf7a6f73e56");
    }

    #[test]
    fn sample_lines_of_generator_md() {
        let config = GeneratorConfig::default();
        let line = |i| {
            let mut out = Vec::new();
            json::write_event(&config.event(i), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            line(0),
            r#"{"type":"person","id":1000,"name":"Deiter Bartels","emailAddress":"lg aa@sbf.com","creditCard":"7796 6232 9816 6651","city":"Phoenix","state":"ID","dateTime":1700000000000,"extra":"zmjtkdeppgujS[HJ^PckxjcemajzbfTV_SOa\\T]VPUgdankxdafqmoaSLSQXVKXMP]J]]\\PXQRHT[]scamomfasxshKRTRIUTMZ]JITMXIX^RUSXXMXHU]_`ptbb"}"#
        );
        assert!(
            line(1).starts_with(
                r#"{"type":"auction","id":1000,"itemName":"adwnwjklpxogrpv vw","description":"isbccslhvizfye vqozawpewctvc  l  gtekmn vlz","initialBid":484,"reserve":45701726,"dateTime":1700000000000,"expires":1700000000024,"seller":1000,"category":13,"extra":""#
            ),
            "{}",
            line(1)
        );
        assert_eq!(
            line(4),
            r#"{"type":"bid","auction":1000,"bidder":1001,"price":5936,"dateTime":1700000000000,"extra":"QKTZPS\\]LR^NiliywjwltwxxtxddymggegtvWMOULSJ\\`a^JKXSWNYTJJ"}"#
        );
    }

    #[test]
    fn binary_round_trip_of_the_first_10000_events() {
        let config = GeneratorConfig::default();
        let mut buf = Vec::new();
        for i in 0..10_000 {
            let event = config.event(i);
            buf.clear();
            binary::encode(&event, &mut buf);
            let decoded = binary::decode(&buf).unwrap();
            let owned = decoded.map_strings(|s| s.to_string());
            assert_eq!(owned, event, "event {i}");
        }
    }

    #[test]
    fn timestamps_with_the_default_rate() {
        let config = GeneratorConfig::default();
        assert_eq!(config.timestamp(0), 1_700_000_000_000);
        assert_eq!(config.timestamp(99), 1_700_000_000_000);
        assert_eq!(config.timestamp(100), 1_700_000_000_001);
        assert_eq!(config.timestamp(1_000_000), 1_700_000_010_000);
        assert_eq!(config.event(12_345).date_time(), config.timestamp(12_345));
    }
}
