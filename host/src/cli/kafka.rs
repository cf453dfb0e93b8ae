//! `eddy kafka`: helpers for demos and tests around the Kafka connector.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

/// What `eddy kafka` does.
#[derive(Debug, Subcommand)]
pub enum KafkaCommand {
    /// Create a topic (replication factor 1); an existing one is left alone.
    CreateTopic {
        topic: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// `host:port[,host:port...]`.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap_servers: String,
    },
    /// Send each non-blank line of a file (`-`: standard input) to a topic.
    Produce {
        file: PathBuf,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap_servers: String,
        /// A JSON field (dotted path) whose value becomes the message key.
        #[arg(long)]
        key_field: Option<String>,
        /// A JSON field (ms since the epoch) that becomes the Kafka timestamp.
        #[arg(long)]
        timestamp_field: Option<String>,
    },
}

#[cfg(feature = "kafka")]
pub fn run(command: KafkaCommand) -> Result<()> {
    use std::io::BufRead;

    use anyhow::Context;

    use crate::connectors::kafka::tools;

    match command {
        KafkaCommand::CreateTopic {
            topic,
            partitions,
            bootstrap_servers,
        } => tools::create_topic(&bootstrap_servers, &topic, partitions),
        KafkaCommand::Produce {
            file,
            topic,
            bootstrap_servers,
            key_field,
            timestamp_field,
        } => {
            let path = |field: &Option<String>| {
                field
                    .as_ref()
                    .map(|f| f.split('.').map(str::to_owned).collect::<Vec<_>>())
            };
            let (key, timestamp) = (path(&key_field), path(&timestamp_field));
            let fields = tools::LineFields {
                key: key.as_deref(),
                timestamp: timestamp.as_deref(),
            };
            let input: Box<dyn BufRead> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(
                    std::fs::File::open(&file)
                        .with_context(|| format!("cannot open {}", file.display()))?,
                ))
            };
            let sent = tools::produce(&bootstrap_servers, &topic, input, &fields)?;
            eprintln!("sent {sent} records to `{topic}`");
            Ok(())
        }
    }
}

#[cfg(not(feature = "kafka"))]
pub fn run(_command: KafkaCommand) -> Result<()> {
    anyhow::bail!(crate::features::CargoFeature::Kafka.missing("`eddy kafka`"))
}
