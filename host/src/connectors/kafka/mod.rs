//! The Kafka connector (cargo feature `kafka`): a source whose splits are
//! topic partitions, spread over its subtasks by the host (as Flink's
//! `KafkaSource` does) and checkpointed by offset, and a sink that writes
//! at least once (flushed at every barrier) or exactly once (a transaction
//! per subtask and checkpoint, committed when the checkpoint completes).
//! Options are in `job::kafka`.

pub mod sink;
pub mod source;
pub mod tools;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::Client;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;

/// How long a client waits for the cluster's metadata before a job that
/// needs it fails: an unreachable cluster is an error in bounded time.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// A client configuration for `bootstrap_servers` with `properties` on top.
fn client_config(bootstrap_servers: &str, properties: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    // librdkafka's own log lines go through its default logger (stderr);
    // errors reach eddy through results and callbacks instead.
    config.set("log_level", "3");
    for (name, value) in properties {
        config.set(name, value);
    }
    config
}

/// The cluster's metadata (of `topic`, or of every topic), or why it could
/// not be had: an unreachable cluster says so within [`METADATA_TIMEOUT`].
fn metadata<C: rdkafka::ClientContext>(
    client: &Client<C>,
    bootstrap_servers: &str,
    topic: Option<&str>,
) -> std::io::Result<Metadata> {
    client
        .fetch_metadata(topic, METADATA_TIMEOUT)
        .map_err(|error| {
            let reason = match &error {
                KafkaError::MetadataFetch(code) => format!("{code}"),
                other => other.to_string(),
            };
            std::io::Error::other(format!(
                "cannot reach Kafka at {bootstrap_servers} within {} s ({reason}); is the cluster up, and is `bootstrap_servers` right?",
                METADATA_TIMEOUT.as_secs()
            ))
        })
}

/// The id of a partition's split: `topic:partition` (topic names cannot
/// hold a colon).
fn split_id(topic: &str, partition: i32) -> String {
    format!("{topic}:{partition}")
}

/// Which of `parallelism` subtasks reads `partition` of `topic`: the
/// partitions of a topic go round-robin from a start that depends on the
/// topic, as in Flink's `KafkaSourceEnumerator`, so that a restore with
/// another parallelism spreads them again by the same rule.
fn owner(topic: &str, partition: i32, parallelism: u32) -> u32 {
    let start = xxhash_rust::xxh3::xxh3_64(topic.as_bytes()) % u64::from(parallelism);
    ((start + partition as u64) % u64::from(parallelism)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_spread_round_robin_over_the_subtasks() {
        for parallelism in 1..=5 {
            let mut counts = vec![0; parallelism as usize];
            for partition in 0..10 {
                counts[owner("clicks", partition, parallelism) as usize] += 1;
            }
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(max - min <= 1, "p{parallelism}: {counts:?}");
        }
    }
}
