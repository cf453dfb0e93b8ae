//! A deterministic, seeded record generator for demos and benchmarks.
//!
//! Record `i` is a pure function of the seed and `i`, so runs are repeatable
//! at any parallelism. Its shapes follow the Flink peer benchmark: key in
//! `[0, keys)`, an amount, a lowercase payload, and an event time advancing
//! `events_per_second` records per second with a random lag up to `max_lag`.
//!
//! With `format = "nexmark"` or `"nexmark-json"` it makes the Nexmark
//! benchmark's events instead, by the Flink peer's rules (`eddy-nexmark`):
//! record `i` is event number `i` of the peer's stream, so eddy and the peer
//! process the same events at any parallelism.

use std::time::{Duration, Instant};

use super::{
    Position, RawRecord, ReadStatus, SourceReader, SplitPosition, own_position, single_position,
};
use crate::job::{GeneratorSpec, KeyOrder, RecordFormat, TimeField};

/// Size of the binary event header: key, timestamp, amount.
pub const BINARY_EVENT_HEADER: usize = 24;

/// SplitMix64: a fast, well-distributed mix of the record index.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One generated event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEvent {
    pub key: u64,
    pub timestamp: i64,
    pub amount: u64,
}

/// The event at `index`.
pub fn event_at(spec: &GeneratorSpec, index: u64) -> GeneratedEvent {
    let h = mix(spec.seed ^ mix(index));
    let lag = match spec.max_lag {
        Some(lag) if !lag.is_zero() => mix(h) % lag.as_millis() as u64,
        _ => 0,
    };
    GeneratedEvent {
        key: match spec.key_order {
            KeyOrder::Random => h % spec.keys.max(1),
            KeyOrder::Sequential => index % spec.keys.max(1),
        },
        timestamp: spec.start_time + (index * 1000 / spec.events_per_second.max(1)) as i64
            - lag as i64,
        amount: (h >> 40) % 10_000,
    }
}

/// `n` in ASCII decimal, the generator's key bytes, without `fmt` machinery.
fn decimal(mut n: u64) -> Vec<u8> {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[at..].to_vec()
}

/// The Nexmark stream a generator with `spec` makes: `events_per_second`
/// is its event-time density, `start_time` the time of event 0.
pub fn nexmark_config(spec: &GeneratorSpec) -> eddy_nexmark::GeneratorConfig {
    eddy_nexmark::GeneratorConfig {
        rate: spec.events_per_second,
        base_time: spec.start_time,
        seed: spec.seed,
        ..eddy_nexmark::GeneratorConfig::default()
    }
}

/// One parallel reader: indices `reader, reader + readers, ...`.
pub struct GeneratorReader {
    spec: GeneratorSpec,
    format: RecordFormat,
    /// The Nexmark stream when the format is one of Nexmark's.
    nexmark: Option<eddy_nexmark::GeneratorConfig>,
    /// Where a JSON line is written before it is copied into a value of
    /// exactly its size (values live on in batches and state).
    scratch: Vec<u8>,
    next: u64,
    stride: u64,
    payloads: Vec<Vec<u8>>,
    started: Instant,
    emitted: u64,
    attach_keys: bool,
    rate_per_reader: Option<f64>,
}

impl GeneratorReader {
    /// Reader `reader` of `readers`; `attach_keys` when a consumer keys by
    /// `record-key` (otherwise no per-record key is made).
    pub fn new(
        spec: GeneratorSpec,
        format: RecordFormat,
        reader: u32,
        readers: u32,
        attach_keys: bool,
    ) -> Self {
        let nexmark = format.is_nexmark().then(|| nexmark_config(&spec));
        // A pool of payloads, as the Flink peer uses, so generating is cheap.
        // Nexmark events have payloads of their own.
        let pool = if nexmark.is_some() { 0 } else { 1024u64 };
        let payloads = (0..pool)
            .map(|i| {
                let mut h = mix(spec.seed ^ 0xA5A5 ^ i);
                (0..spec.value_size)
                    .map(|j| {
                        if j % 8 == 0 {
                            h = mix(h);
                        }
                        b'a' + ((h >> ((j % 8) * 8)) % 26) as u8
                    })
                    .collect()
            })
            .collect();
        GeneratorReader {
            rate_per_reader: spec.rate.map(|r| r as f64 / f64::from(readers)),
            spec,
            format,
            nexmark,
            scratch: Vec::new(),
            next: u64::from(reader),
            stride: u64::from(readers),
            payloads,
            started: Instant::now(),
            emitted: 0,
            attach_keys,
        }
    }

    fn encode(&self, index: u64, event: &GeneratedEvent) -> Vec<u8> {
        let payload = &self.payloads[(mix(index) >> 20) as usize & 1023];
        match self.format {
            RecordFormat::BinaryEvent => {
                let mut value = Vec::with_capacity(BINARY_EVENT_HEADER + payload.len());
                let time = match self.spec.time_field {
                    TimeField::EventTime => event.timestamp,
                    TimeField::CreatedAt => crate::time::monotonic_nanos() as i64,
                };
                value.extend_from_slice(&event.key.to_le_bytes());
                value.extend_from_slice(&time.to_le_bytes());
                value.extend_from_slice(&event.amount.to_le_bytes());
                value.extend_from_slice(payload);
                value
            }
            RecordFormat::Nexmark | RecordFormat::NexmarkJson => {
                unreachable!("Nexmark records are made by nexmark_record")
            }
            RecordFormat::Json | RecordFormat::Text | RecordFormat::Raw => format!(
                r#"{{"key":{},"seq":{},"ts":{},"amount":{},"payload":"{}"}}"#,
                event.key,
                index,
                event.timestamp,
                event.amount,
                String::from_utf8_lossy(payload)
            )
            .into_bytes(),
        }
    }

    /// Nexmark event `index` as a record: its value in the reader's format,
    /// its timestamp the event's `dateTime`, and no key (Nexmark events have
    /// no single key; a query keys by the field it needs).
    fn nexmark_record(&mut self, config: &eddy_nexmark::GeneratorConfig, index: u64) -> RawRecord {
        let event = config.event(index);
        let value = if self.format == RecordFormat::Nexmark {
            // `encode` reserves exactly the event's size.
            let mut value = Vec::new();
            eddy_nexmark::binary::encode(&event, &mut value);
            value
        } else {
            self.scratch.clear();
            eddy_nexmark::json::write_event(&event, &mut self.scratch);
            self.scratch.as_slice().to_vec()
        };
        RawRecord {
            value,
            timestamp: Some(event.date_time()),
            key: None,
            position: Position::Sequence(index),
            split: 0,
        }
    }
}

impl SourceReader for GeneratorReader {
    fn read(&mut self, max: usize, out: &mut Vec<RawRecord>) -> std::io::Result<ReadStatus> {
        let mut budget = max;
        if let Some(rate) = self.rate_per_reader {
            let allowed = (self.started.elapsed().as_secs_f64() * rate) as u64;
            if allowed <= self.emitted {
                // Records already read go out now; sleeping with them in
                // the batch would add the sleep to their latency.
                if out.is_empty() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                return Ok(ReadStatus::Idle);
            }
            budget = budget.min((allowed - self.emitted) as usize);
        }
        for _ in 0..budget {
            if self.spec.count.is_some_and(|count| self.next >= count) {
                return Ok(ReadStatus::Finished);
            }
            let index = self.next;
            let record = match &self.nexmark {
                Some(config) => {
                    let config = *config;
                    self.nexmark_record(&config, index)
                }
                None => {
                    let event = event_at(&self.spec, index);
                    RawRecord {
                        value: self.encode(index, &event),
                        timestamp: Some(event.timestamp),
                        key: self.attach_keys.then(|| decimal(event.key)),
                        position: Position::Sequence(index),
                        split: 0,
                    }
                }
            };
            out.push(record);
            self.next += self.stride;
            self.emitted += 1;
        }
        let finished = self.spec.count.is_some_and(|count| self.next >= count);
        Ok(if finished {
            ReadStatus::Finished
        } else {
            ReadStatus::More
        })
    }

    fn describe(&self) -> String {
        "generator".into()
    }

    fn split_id(&self, _index: usize) -> String {
        "generator".into()
    }

    fn positions(&self) -> Option<Vec<SplitPosition>> {
        single_position(self, &GeneratorPosition { next: self.next })
    }

    fn restore(&mut self, restored: &[SplitPosition]) -> std::io::Result<()> {
        let Some(GeneratorPosition { next }) = own_position(self, restored)? else {
            return Ok(());
        };
        // Readers own the indices `reader + k * readers`; a position of
        // another stripe would generate another reader's records.
        if next % self.stride != self.next % self.stride {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the checkpoint has this generator reader at record {next}, which belongs to another reader"
                ),
            ));
        }
        self.next = next;
        Ok(())
    }
}

/// Where a generator reader goes on: the index of its next record.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct GeneratorPosition {
    next: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_keys_cycle_through_every_key_in_order() {
        let spec = GeneratorSpec {
            keys: 3,
            key_order: KeyOrder::Sequential,
            ..GeneratorSpec::default()
        };
        let keys: Vec<u64> = (0..7).map(|i| event_at(&spec, i).key).collect();
        assert_eq!(keys, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn keys_are_ascii_decimal() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            assert_eq!(decimal(n), n.to_string().into_bytes());
        }
    }

    #[test]
    fn a_reader_seeked_to_a_position_reads_on_from_there() {
        let spec = GeneratorSpec {
            count: Some(20),
            ..GeneratorSpec::default()
        };
        let mut first = GeneratorReader::new(spec.clone(), RecordFormat::Json, 1, 2, false);
        let mut out = Vec::new();
        first.read(3, &mut out).unwrap();
        let position = first.positions().unwrap();
        let mut rest = Vec::new();
        while first.read(4, &mut rest).unwrap() != ReadStatus::Finished {}

        let mut second = GeneratorReader::new(spec.clone(), RecordFormat::Json, 1, 2, false);
        second.restore(&position).unwrap();
        let mut again = Vec::new();
        while second.read(4, &mut again).unwrap() != ReadStatus::Finished {}
        let values = |r: &[RawRecord]| r.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&again), values(&rest));
        let mut other = GeneratorReader::new(spec, RecordFormat::Json, 0, 2, false);
        assert!(other.restore(&position).is_err(), "another reader's split");
    }

    fn nexmark_spec(count: u64) -> GeneratorSpec {
        GeneratorSpec {
            count: Some(count),
            events_per_second: 100_000,
            ..GeneratorSpec::default()
        }
    }

    fn read_to_end(reader: &mut GeneratorReader) -> Vec<RawRecord> {
        let mut out = Vec::new();
        while reader.read(7, &mut out).unwrap() != ReadStatus::Finished {}
        out
    }

    #[test]
    fn nexmark_reader_1_of_2_makes_the_odd_events() {
        let config = eddy_nexmark::GeneratorConfig::default();
        for format in [RecordFormat::Nexmark, RecordFormat::NexmarkJson] {
            let mut reader = GeneratorReader::new(nexmark_spec(100), format, 1, 2, true);
            let records = read_to_end(&mut reader);
            assert_eq!(records.len(), 50);
            for (k, record) in records.iter().enumerate() {
                let i = 2 * k as u64 + 1;
                let event = config.event(i);
                let mut value = Vec::new();
                if format == RecordFormat::Nexmark {
                    eddy_nexmark::binary::encode(&event, &mut value);
                } else {
                    eddy_nexmark::json::write_event(&event, &mut value);
                }
                assert_eq!(record.value, value, "{format:?} event {i}");
                assert_eq!(record.timestamp, Some(event.date_time()));
                assert_eq!(record.position, Position::Sequence(i));
                assert_eq!(record.key, None);
            }
            if format == RecordFormat::Nexmark {
                // Events 1 and 3 are auctions, 5 a bid (1 person, 3 auctions, 46 bids per 50).
                let tags: Vec<_> = records[..3]
                    .iter()
                    .map(|r| eddy_nexmark::binary::tag(&r.value))
                    .collect();
                let (auction, bid) = (
                    eddy_nexmark::binary::TAG_AUCTION,
                    eddy_nexmark::binary::TAG_BID,
                );
                assert_eq!(tags, [Some(auction), Some(auction), Some(bid)]);
            }
        }
    }

    #[test]
    fn nexmark_options_shape_the_stream() {
        let spec = GeneratorSpec {
            events_per_second: 1000,
            start_time: 5_000,
            seed: 7,
            ..nexmark_spec(3)
        };
        let config = nexmark_config(&spec);
        assert_eq!(
            (config.rate, config.base_time, config.seed),
            (1000, 5_000, 7)
        );
        let records = read_to_end(&mut GeneratorReader::new(
            spec,
            RecordFormat::NexmarkJson,
            0,
            1,
            false,
        ));
        let times: Vec<_> = records.iter().map(|r| r.timestamp.unwrap()).collect();
        assert_eq!(times, [5_000, 5_001, 5_002]);
    }

    #[test]
    fn nexmark_json_of_1000_events_is_the_peers_dump() {
        use md5::{Digest, Md5};
        let mut reader =
            GeneratorReader::new(nexmark_spec(1000), RecordFormat::NexmarkJson, 0, 1, false);
        let records = read_to_end(&mut reader);
        assert_eq!(records.len(), 1000);
        let mut dump = records
            .iter()
            .map(|r| r.value.as_slice())
            .collect::<Vec<_>>()
            .join(&b"\n"[..]);
        dump.push(b'\n');
        let md5: String = Md5::digest(&dump)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(md5, "1607cc310f779d00485325cfe3a01083");
    }

    #[test]
    fn a_nexmark_reader_restored_reads_on_from_its_position() {
        let spec = nexmark_spec(30);
        let mut first = GeneratorReader::new(spec.clone(), RecordFormat::Nexmark, 1, 3, false);
        let mut out = Vec::new();
        first.read(4, &mut out).unwrap();
        let position = first.positions().unwrap();
        let rest = read_to_end(&mut first);
        let mut second = GeneratorReader::new(spec, RecordFormat::Nexmark, 1, 3, false);
        second.restore(&position).unwrap();
        let again = read_to_end(&mut second);
        let values = |r: &[RawRecord]| r.iter().map(|r| r.value.clone()).collect::<Vec<_>>();
        assert_eq!(values(&again), values(&rest));
        assert_eq!(
            again.first().map(|r| r.position.clone()),
            Some(Position::Sequence(13))
        );
    }

    #[test]
    fn readers_split_the_index_space_deterministically() {
        let spec = GeneratorSpec {
            count: Some(10),
            ..GeneratorSpec::default()
        };
        let read_all = |reader, readers| {
            let mut r =
                GeneratorReader::new(spec.clone(), RecordFormat::Json, reader, readers, true);
            let mut out = Vec::new();
            while r.read(3, &mut out).unwrap() != ReadStatus::Finished {}
            out
        };
        let single = read_all(0, 1);
        assert_eq!(single.len(), 10);
        let split: Vec<_> = read_all(0, 2).into_iter().chain(read_all(1, 2)).collect();
        assert_eq!(split.len(), 10);
        for record in &split {
            let Position::Sequence(i) = record.position else {
                panic!()
            };
            assert_eq!(record.value, single[i as usize].value);
        }
    }
}
