//! Small Kafka tools for demos and tests (`eddy kafka ...`): create a
//! topic, and put a file's lines into one.

use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;

use super::sink::DeliveryReport;
use super::{METADATA_TIMEOUT, client_config, metadata};
use crate::runtime::fields::{key_field, timestamp_field};

/// Create `topic` with `partitions` partitions (replication 1); an
/// existing topic is left as it is.
pub fn create_topic(bootstrap_servers: &str, topic: &str, partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap_servers, &[])
        .create()
        .context("cannot make a Kafka admin client")?;
    metadata(admin.inner(), bootstrap_servers, None)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT)),
        ))
        .with_context(|| format!("cannot create topic `{topic}`"))?;
    for result in results {
        match result {
            Ok(_) => eprintln!("created topic `{topic}` with {partitions} partitions"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                eprintln!("topic `{topic}` exists already; left as it is")
            }
            Err((_, code)) => bail!("cannot create topic `{topic}`: {code}"),
        }
    }
    Ok(())
}

/// What `produce` takes from each line besides its text.
pub struct LineFields<'a> {
    /// The JSON field whose value is the message key.
    pub key: Option<&'a [String]>,
    /// The JSON field (ms since the epoch) that is the Kafka timestamp.
    pub timestamp: Option<&'a [String]>,
}

/// Send every non-blank line of `input` to `topic`; how many were sent.
pub fn produce(
    bootstrap_servers: &str,
    topic: &str,
    input: impl BufRead,
    fields: &LineFields<'_>,
) -> Result<u64> {
    let producer: rdkafka::producer::ThreadedProducer<DeliveryReport> =
        client_config(bootstrap_servers, &[])
            .set("linger.ms", "5")
            .create_with_context(DeliveryReport::default())
            .context("cannot make a Kafka producer")?;
    let described = metadata(producer.client(), bootstrap_servers, Some(topic))?;
    if described
        .topics()
        .first()
        .is_none_or(|t| t.error().is_some() || t.partitions().is_empty())
    {
        bail!(
            "topic `{topic}` does not exist on {bootstrap_servers}; create it with `eddy kafka create-topic`"
        );
    }
    let mut sent = 0;
    for (number, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", number + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let key = match fields.key {
            Some(path) => Some(key_field(line.as_bytes(), path).map_err(|e| {
                anyhow::anyhow!("line {}: key field `{}`: {e:?}", number + 1, path.join("."))
            })?),
            None => None,
        };
        let timestamp = match fields.timestamp {
            Some(path) => Some(timestamp_field(line.as_bytes(), path).map_err(|e| {
                anyhow::anyhow!(
                    "line {}: timestamp field `{}`: {e:?}",
                    number + 1,
                    path.join(".")
                )
            })?),
            None => None,
        };
        let mut record =
            rdkafka::producer::BaseRecord::<[u8], [u8]>::to(topic).payload(line.as_bytes());
        if let Some(key) = &key {
            record = record.key(key.as_slice());
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => bail!("cannot send line {}: {error}", number + 1),
            }
        }
        sent += 1;
    }
    producer
        .flush(Duration::from_secs(60))
        .context("cannot flush to Kafka")?;
    if let Some(failure) = producer.context().take_failure() {
        bail!("{failure}");
    }
    Ok(sent)
}
