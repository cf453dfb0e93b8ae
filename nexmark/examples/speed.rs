//! How fast the generator makes events, alone and with each encoding: the
//! floor under every Nexmark query's cost (the Flink peer's README puts its
//! Java generator at about 0.26 µs per event).
//!
//! `cargo run --release -p eddy-nexmark --example speed [EVENTS]`

use std::hint::black_box;
use std::time::Instant;

use eddy_nexmark::{GeneratorConfig, binary, json};

fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("EVENTS is a number"))
        .unwrap_or(5_000_000);
    let config = GeneratorConfig::default();
    measure("owned events", events, |i| {
        black_box(config.event(i));
    });
    let mut buf = Vec::with_capacity(1024);
    measure("binary-encoded", events, |i| {
        buf.clear();
        binary::encode(&config.event(i), &mut buf);
        black_box(&buf);
    });
    measure("JSON lines", events, |i| {
        buf.clear();
        json::write_event(&config.event(i), &mut buf);
        black_box(&buf);
    });
}

/// Runs `make` for events `0..events` and prints its speed.
fn measure(what: &str, events: u64, mut make: impl FnMut(u64)) {
    let started = Instant::now();
    for i in 0..events {
        make(i);
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{what:>15}: {:.1} ns/event, {:.2} M events/s",
        seconds * 1e9 / events as f64,
        events as f64 / seconds / 1e6
    );
}
