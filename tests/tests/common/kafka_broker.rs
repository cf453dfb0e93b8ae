//! A real Kafka-protocol broker process on a free port, for the Kafka
//! connector's tests: `nisshi` (which `scripts/setup-broker.sh` builds
//! into the tools cache; `EDDY_NISSHI` names the binary), with in-memory
//! storage; stopped when dropped. With `KAFKA_FULL_EOS=1`,
//! `KAFKA_BOOTSTRAP` names a real Kafka that the transaction tests use
//! instead.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use super::redis_server::free_port;

/// A running broker.
pub struct KafkaBroker {
    child: Option<Child>,
    pub port: u16,
}

/// The nisshi binary: `EDDY_NISSHI`, or where `scripts/setup-broker.sh` puts it.
fn nisshi() -> PathBuf {
    if let Some(path) = std::env::var_os("EDDY_NISSHI") {
        return path.into();
    }
    let tools = std::env::var_os("EDDY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/eddy-ci/tools")
        });
    tools.join("nisshi-0.6.0/bin/nisshi")
}

impl KafkaBroker {
    /// Start one and wait until it answers a metadata request.
    pub fn start() -> KafkaBroker {
        let mut broker = KafkaBroker {
            child: None,
            port: free_port(),
        };
        broker.restart();
        broker
    }

    /// Stop the broker (its in-memory topics are lost with it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let binary = nisshi();
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://nisshi/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {} ({e}); build it with `bash scripts/setup-broker.sh`",
                    binary.display()
                )
            });
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let consumer: BaseConsumer = self.config().create().expect("a client");
            if consumer
                .fetch_metadata(None, Duration::from_millis(500))
                .is_ok()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the broker did not answer on port {} within 15 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A client configuration for this broker.
    pub fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.bootstrap());
        config
    }

    /// Create `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.config().create().unwrap();
        let results = block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("create topics");
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("create topic {topic}: {e}"));
        }
    }

    /// Grow `topic` to `partitions` partitions.
    pub fn add_partitions(&self, topic: &str, partitions: usize) {
        let admin: AdminClient<DefaultClientContext> = self.config().create().unwrap();
        let results = block_on(admin.create_partitions(
            &[NewPartitions::new(topic, partitions)],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("create partitions");
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("grow topic {topic}: {e}"));
        }
    }

    /// Produce `records` to `topic`; see [`produce`].
    pub fn produce(&self, topic: &str, records: &[Produced<'_>]) {
        produce(&self.bootstrap(), topic, records);
    }

    /// Every record of `topic`; see [`read_all`].
    pub fn read_all(&self, topic: &str, isolation: &str) -> Vec<ConsumedRecord> {
        read_all(&self.bootstrap(), topic, isolation)
    }
}

/// A record to produce: partition, key, value, Kafka timestamp.
pub type Produced<'a> = (i32, Option<&'a str>, &'a str, Option<i64>);

/// Produce `records` to `topic` at `bootstrap`, each with the header
/// `source: test`, and wait until the broker has them all.
pub fn produce(bootstrap: &str, topic: &str, records: &[Produced<'_>]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("a producer");
    for (partition, key, value, timestamp) in records {
        let mut record = BaseRecord::<str, str>::to(topic)
            .partition(*partition)
            .payload(value)
            .headers(OwnedHeaders::new().insert(Header {
                key: "source",
                value: Some("test"),
            }));
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(*timestamp);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

/// Every record of `topic` at `bootstrap`, read with `isolation`
/// (`read_committed` or `read_uncommitted`), in partition and offset order.
pub fn read_all(bootstrap: &str, topic: &str, isolation: &str) -> Vec<ConsumedRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{}", free_port()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let mut records = Vec::new();
    for partition in metadata.topics()[0].partitions() {
        let id = partition.id();
        let (_, high) = consumer
            .fetch_watermarks(topic, id, Duration::from_secs(5))
            .unwrap();
        if high == 0 {
            continue;
        }
        let mut list = rdkafka::TopicPartitionList::new();
        list.add_partition_offset(topic, id, rdkafka::Offset::Beginning)
            .unwrap();
        consumer.assign(&list).unwrap();
        let mut last_seen = Instant::now();
        // Stop when nothing more comes for a second: transaction markers
        // take offsets no record has, and nisshi reports the end of a
        // partition as the start of its last batch plus one.
        while last_seen.elapsed() < Duration::from_secs(1) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    last_seen = Instant::now();
                    let transaction = m.headers().and_then(|headers| {
                        headers
                            .iter()
                            .find(|h| h.key == "eddy.transaction")
                            .and_then(|h| h.value)
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                    });
                    records.push(ConsumedRecord {
                        partition: id,
                        offset: m.offset(),
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        value: String::from_utf8_lossy(m.payload().unwrap_or_default())
                            .into_owned(),
                        transaction,
                    });
                }
                Some(Err(e)) => panic!("read {topic}[{id}]: {e}"),
                None => {}
            }
        }
    }
    records
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: String,
    /// The `eddy.transaction` header: the transaction an exactly-once sink
    /// wrote the record in.
    pub transaction: Option<String>,
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run a future of the admin client to its end on this thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}
