//! The three Nexmark event types, with the peer's fields in the peer's order.
//!
//! Generic over the string type so that decoding can borrow from a record
//! (`Event<&str>`, no allocation on a guest's hot path) while generating owns
//! its strings (`Event<String>`, the default).

/// A new person registering at the auction site (1 event in 50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person<S = String> {
    /// The person's id, from 1000 up in the order people register.
    pub id: i64,
    /// First and last name, e.g. `"Deiter Bartels"`.
    pub name: S,
    /// A random address ending in `.com`.
    pub email_address: S,
    /// Four groups of four digits separated by spaces.
    pub credit_card: S,
    /// One of ten US cities.
    pub city: S,
    /// One of six US state codes.
    pub state: S,
    /// Event time, milliseconds since the Unix epoch.
    pub date_time: i64,
    /// Padding that brings the event to its average size.
    pub extra: S,
}

/// A new auction being opened (3 events in 50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auction<S = String> {
    /// The auction's id, from 1000 up in the order auctions open.
    pub id: i64,
    /// A random short name.
    pub item_name: S,
    /// A random longer text.
    pub description: S,
    /// The opening price, in cents.
    pub initial_bid: i64,
    /// The reserve price, at least `initial_bid`.
    pub reserve: i64,
    /// Event time, milliseconds since the Unix epoch.
    pub date_time: i64,
    /// When the auction closes, milliseconds since the Unix epoch (after `date_time`).
    pub expires: i64,
    /// The id of the person selling the item.
    pub seller: i64,
    /// One of five category ids, 10 to 14.
    pub category: i64,
    /// Padding that brings the event to its average size.
    pub extra: S,
}

/// A bid on an auction (46 events in 50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bid<S = String> {
    /// The id of the auction bid on.
    pub auction: i64,
    /// The id of the person bidding.
    pub bidder: i64,
    /// The price bid, in cents.
    pub price: i64,
    /// Event time, milliseconds since the Unix epoch.
    pub date_time: i64,
    /// Padding that brings the event to its average size.
    pub extra: S,
}

/// One event of the stream: exactly one of the three types, as the peer's
/// `(event_type, person, auction, bid)` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<S = String> {
    /// A new person.
    Person(Person<S>),
    /// A new auction.
    Auction(Auction<S>),
    /// A bid.
    Bid(Bid<S>),
}

impl<S> Event<S> {
    /// The event time of whichever type this is: the record timestamp and the
    /// field windows and watermarks are computed from.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// The same event with every string passed through `f`: a decoded
    /// (borrowed) event made owned with `|s| s.to_string()`, or an owned one
    /// borrowed with `|s| s.as_str()`.
    pub fn map_strings<'a, T>(&'a self, f: impl Fn(&'a S) -> T) -> Event<T> {
        match self {
            Event::Person(p) => Event::Person(Person {
                id: p.id,
                name: f(&p.name),
                email_address: f(&p.email_address),
                credit_card: f(&p.credit_card),
                city: f(&p.city),
                state: f(&p.state),
                date_time: p.date_time,
                extra: f(&p.extra),
            }),
            Event::Auction(a) => Event::Auction(Auction {
                id: a.id,
                item_name: f(&a.item_name),
                description: f(&a.description),
                initial_bid: a.initial_bid,
                reserve: a.reserve,
                date_time: a.date_time,
                expires: a.expires,
                seller: a.seller,
                category: a.category,
                extra: f(&a.extra),
            }),
            Event::Bid(b) => Event::Bid(Bid {
                auction: b.auction,
                bidder: b.bidder,
                price: b.price,
                date_time: b.date_time,
                extra: f(&b.extra),
            }),
        }
    }
}
