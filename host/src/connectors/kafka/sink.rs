//! The Kafka sink. At least once: one producer per subtask, flushed at
//! every barrier, so that everything before a checkpoint is in Kafka when
//! it completes. Exactly once: each subtask writes the records between two
//! barriers in one transaction, flushed at the barrier (pre-commit) and
//! committed by the sink's committer when the checkpoint completes.
//!
//! Transactional ids come from a small pool per subtask,
//! `<prefix>-<subtask>-<slot>`, so that before every attempt the committer
//! can fence each id the sink may have used and so abort what a failed
//! attempt left open. Every message of a transaction carries the header
//! `eddy.transaction` naming it, so what reached a topic can be told apart
//! by transaction. librdkafka cannot resume a transaction another process
//! opened (Kafka's KIP-939 is not in it): a transaction that was
//! pre-committed by a process killed after its checkpoint completed and
//! before the commit is aborted by the fencing; README's Kafka section says
//! what this means.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, NoCustomPartitioner, Producer, ProducerContext, ThreadedProducer,
};

use super::{client_config, metadata};
use crate::connectors::commit::{Committer, TransactionalWriter};
use crate::job::kafka::{KafkaDelivery, KafkaSink, MessageKey, TopicChoice};
use crate::runtime::exchange::preview;
use crate::runtime::fields::key_field;
use crate::runtime::record::Record;

/// Transactional ids per subtask: one open, the others waiting for their
/// checkpoints to complete (a checkpoint that fails leaves its transaction
/// waiting for the next one).
const TRANSACTIONS_PER_SUBTASK: u32 = 4;
/// How long a flush, a commit or an abort may take before the sink fails.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The header naming a message's transaction.
pub const TRANSACTION_HEADER: &str = "eddy.transaction";

/// Keeps the first delivery failure of a producer, which the next flush
/// reports.
#[derive(Default)]
pub struct DeliveryReport {
    first_failure: Mutex<Option<String>>,
}

impl DeliveryReport {
    /// The first failure since the last call, if any.
    pub fn take_failure(&self) -> Option<String> {
        self.first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl ClientContext for DeliveryReport {}

impl ProducerContext for DeliveryReport {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            use rdkafka::message::Message;
            let mut first = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert_with(|| {
                format!(
                    "a message to {}[{}] was not delivered: {error}",
                    message.topic(),
                    message.partition()
                )
            });
        }
    }
}

type KafkaProducer = ThreadedProducer<DeliveryReport, NoCustomPartitioner>;

/// One producer and where its messages go.
struct MessageWriter {
    config: KafkaSink,
    producer: Arc<KafkaProducer>,
}

impl MessageWriter {
    /// Send every record; a record without the topic or key field fails
    /// the batch, naming the field and the record.
    fn send(&self, records: &[Record], transaction: Option<&str>) -> io::Result<()> {
        for record in records {
            let topic_owned;
            let topic = match &self.config.topic {
                TopicChoice::Fixed(topic) => topic.as_str(),
                TopicChoice::Field(path) => {
                    topic_owned = key_field(&record.value, path)
                        .ok()
                        .and_then(|t| String::from_utf8(t).ok())
                        .ok_or_else(|| missing_field("topic", path, &record.value))?;
                    topic_owned.as_str()
                }
            };
            let key = match &self.config.key {
                MessageKey::None => None,
                MessageKey::RecordKey => record.key.clone(),
                MessageKey::Field(path) => Some(
                    key_field(&record.value, path)
                        .map_err(|_| missing_field("key", path, &record.value))?,
                ),
            };
            let mut message = BaseRecord::<[u8], [u8]>::to(topic).payload(&record.value);
            if let Some(key) = &key {
                message = message.key(key.as_slice());
            }
            if let Some(name) = transaction {
                message = message.headers(OwnedHeaders::new().insert(Header {
                    key: TRANSACTION_HEADER,
                    value: Some(name),
                }));
            }
            loop {
                match self.producer.send(message) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        message = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((error, _)) => {
                        return Err(io::Error::other(format!(
                            "cannot send to topic `{topic}`: {error}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Wait until every message sent is acknowledged, or say why one was not.
    fn flush(&self) -> io::Result<()> {
        self.producer
            .flush(OPERATION_TIMEOUT)
            .map_err(|error| io::Error::other(fenced_or(&error, "cannot flush to Kafka")))?;
        match self.producer.context().take_failure() {
            Some(failure) => Err(io::Error::other(failure)),
            None => Ok(()),
        }
    }
}

fn missing_field(what: &str, path: &[String], value: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the {what} field `{}` is missing or not a string (record: {})",
            path.join("."),
            preview(value)
        ),
    )
}

/// `context: error`, or what fencing means when the broker says so.
fn fenced_or(error: &KafkaError, context: &str) -> String {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch,
        ) => {
            format!(
                "{context}: this producer was fenced: another producer took its transactional id (is a second run of this job writing to the same sink?): {error}"
            )
        }
        _ => format!("{context}: {error}"),
    }
}

/// The committer of one Kafka sink, and the maker of its writers.
pub struct KafkaCommitter {
    sink: String,
    config: KafkaSink,
    /// Subtasks the sink has now.
    parallelism: u32,
    transactions: Mutex<Transactions>,
}

/// The exactly-once sink's transactional producers, by transactional id.
#[derive(Default)]
struct Transactions {
    /// Pre-committed, waiting for their checkpoint: by transaction name.
    pending: HashMap<String, (String, Arc<KafkaProducer>)>,
    /// Initialised, with no transaction open: by transactional id.
    ready: HashMap<String, Arc<KafkaProducer>>,
    /// Names of transactions committed by this process.
    committed: BTreeSet<String>,
}

/// An exactly-once subtask's committable: its transactions waiting for
/// the checkpoint.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct PendingTransactions {
    transactions: Vec<String>,
}

impl KafkaCommitter {
    /// The committer of sink `sink` with `parallelism` subtasks.
    pub fn new(sink: &str, config: &KafkaSink, parallelism: u32) -> Self {
        KafkaCommitter {
            sink: sink.to_owned(),
            config: config.clone(),
            parallelism,
            transactions: Mutex::default(),
        }
    }

    fn transactions(&self) -> std::sync::MutexGuard<'_, Transactions> {
        self.transactions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A producer with `transactional_id`, or without one.
    fn producer(&self, transactional_id: Option<&str>) -> io::Result<Arc<KafkaProducer>> {
        let mut config = client_config(&self.config.bootstrap_servers, &self.config.properties);
        if let Some(id) = transactional_id {
            config.set("transactional.id", id).set(
                "transaction.timeout.ms",
                self.config.transaction_timeout.as_millis().to_string(),
            );
        }
        let producer: KafkaProducer = config
            .create_with_context(DeliveryReport::default())
            .map_err(|e| io::Error::other(format!("cannot make a Kafka producer: {e}")))?;
        let servers = &self.config.bootstrap_servers;
        if let TopicChoice::Fixed(topic) = &self.config.topic {
            let metadata = metadata(producer.client(), servers, Some(topic))?;
            if metadata
                .topics()
                .first()
                .is_none_or(|t| t.error().is_some() || t.partitions().is_empty())
            {
                return Err(io::Error::other(format!(
                    "topic `{topic}` does not exist on {servers}; create it, or fix `topic`"
                )));
            }
        } else {
            metadata(producer.client(), servers, None)?;
        }
        if transactional_id.is_some() {
            producer
                .init_transactions(OPERATION_TIMEOUT)
                .map_err(|e| io::Error::other(fenced_or(&e, "cannot start transactions")))?;
        }
        Ok(Arc::new(producer))
    }

    fn transactional_id(&self, subtask: u32, slot: u32) -> String {
        format!("{}-{subtask}-{slot}", self.config.transactional_id_prefix)
    }

    /// A producer with `id` and no transaction open: a ready one, or a new
    /// one, whose initialisation fences (and so aborts) what an earlier
    /// producer with that id left open.
    fn ready_producer(&self, id: &str) -> io::Result<Arc<KafkaProducer>> {
        if let Some(producer) = self.transactions().ready.remove(id) {
            return Ok(producer);
        }
        self.producer(Some(id))
    }

    fn names(committables: &[serde_json::Value]) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for committable in committables {
            let pending: PendingTransactions = serde_json::from_value(committable.clone())
                .map_err(|e| {
                    anyhow::anyhow!("`{committable}` is not a Kafka sink's committable: {e}")
                })?;
            names.extend(pending.transactions);
        }
        Ok(names)
    }

    /// Commit transaction `name` if this process holds it; whether it did.
    fn commit_named(&self, name: &str) -> anyhow::Result<bool> {
        let Some((id, producer)) = self.transactions().pending.remove(name) else {
            return Ok(false);
        };
        producer
            .commit_transaction(OPERATION_TIMEOUT)
            .map_err(|e| {
                anyhow::anyhow!(fenced_or(&e, &format!("cannot commit transaction {name}")))
            })?;
        tracing::debug!("sink `{}`: committed transaction {name}", self.sink);
        let mut transactions = self.transactions();
        transactions.committed.insert(name.to_owned());
        transactions.ready.insert(id, producer);
        Ok(true)
    }
}

impl Committer for KafkaCommitter {
    fn writer(self: Arc<Self>, subtask: u32) -> io::Result<Box<dyn TransactionalWriter>> {
        Ok(match self.config.delivery {
            KafkaDelivery::AtLeastOnce => Box::new(AtLeastOnceWriter {
                messages: MessageWriter {
                    config: self.config.clone(),
                    producer: self.producer(None)?,
                },
            }),
            KafkaDelivery::ExactlyOnce => Box::new(ExactlyOnceWriter {
                committer: self,
                subtask,
                open: None,
                pre_committed: Vec::new(),
                run: format!("{:x}", crate::time::processing_time_now()),
                sequence: 0,
            }),
        })
    }

    fn commit(&self, committables: &[serde_json::Value]) -> anyhow::Result<()> {
        for name in Self::names(committables)? {
            self.commit_named(&name)?;
        }
        Ok(())
    }

    fn recover(&self, restored: Option<&[serde_json::Value]>) -> anyhow::Result<()> {
        if self.config.delivery == KafkaDelivery::AtLeastOnce {
            return Ok(());
        }
        let restored = match restored {
            Some(committables) => Self::names(committables)?,
            None => Vec::new(),
        };
        let mut lost = Vec::new();
        for name in &restored {
            let done = self.transactions().committed.contains(name);
            if !done && !self.commit_named(name)? {
                lost.push(name.clone());
            }
        }
        if !lost.is_empty() {
            tracing::error!(
                "sink `{}`: the restored checkpoint's transactions {} were pre-committed by a process that is gone; librdkafka cannot resume another process's transaction, so unless that process committed them before it ended, their records are not in Kafka",
                self.sink,
                lost.join(", ")
            );
        }
        // Abort what is left: transactions pre-committed after the restored
        // checkpoint, and every id a failed attempt may have left open.
        let pending: Vec<(String, Arc<KafkaProducer>)> = self
            .transactions()
            .pending
            .drain()
            .map(|(_, p)| p)
            .collect();
        for (id, producer) in pending {
            producer.abort_transaction(OPERATION_TIMEOUT).map_err(|e| {
                anyhow::anyhow!(fenced_or(&e, &format!("cannot abort transaction of {id}")))
            })?;
            self.transactions().ready.insert(id, producer);
        }
        let subtasks = restored
            .iter()
            .filter_map(|name| subtask_of(name, &self.config.transactional_id_prefix))
            .map(|s| s + 1)
            .max()
            .unwrap_or(0)
            .max(self.parallelism);
        for subtask in 0..subtasks {
            for slot in 0..TRANSACTIONS_PER_SUBTASK {
                let id = self.transactional_id(subtask, slot);
                if !self.transactions().ready.contains_key(&id) {
                    let producer = self.producer(Some(&id))?;
                    self.transactions().ready.insert(id, producer);
                }
            }
        }
        Ok(())
    }
}

/// The subtask index in a transaction name `<prefix>-<subtask>-<slot>#...`.
fn subtask_of(name: &str, prefix: &str) -> Option<u32> {
    let id = name.split('#').next()?;
    let rest = id.strip_prefix(prefix)?.strip_prefix('-')?;
    rest.split('-').next()?.parse().ok()
}

/// An at-least-once subtask: send as records come, flush at barriers.
struct AtLeastOnceWriter {
    messages: MessageWriter,
}

impl TransactionalWriter for AtLeastOnceWriter {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        self.messages.send(records, None)
    }

    fn pre_commit(&mut self, _tag: &str) -> io::Result<Option<serde_json::Value>> {
        self.messages.flush().map(|()| None)
    }
}

/// The transaction a subtask writes into now.
struct OpenTransaction {
    id: String,
    name: String,
    messages: MessageWriter,
}

/// An exactly-once subtask.
struct ExactlyOnceWriter {
    committer: Arc<KafkaCommitter>,
    subtask: u32,
    open: Option<OpenTransaction>,
    /// Names of transactions this writer pre-committed, until committed.
    pre_committed: Vec<String>,
    /// Tells this writer's transaction names from an earlier attempt's.
    run: String,
    sequence: u64,
}

impl ExactlyOnceWriter {
    /// Open a transaction on a transactional id that has none waiting.
    fn begin(&mut self) -> io::Result<&OpenTransaction> {
        if self.open.is_none() {
            let committer = &self.committer;
            let busy: BTreeSet<String> = committer
                .transactions()
                .pending
                .values()
                .map(|(id, _)| id.clone())
                .collect();
            let id = (0..TRANSACTIONS_PER_SUBTASK)
                .map(|slot| committer.transactional_id(self.subtask, slot))
                .find(|id| !busy.contains(id))
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "{TRANSACTIONS_PER_SUBTASK} transactions are waiting for checkpoints that have not completed; the sink cannot open another"
                    ))
                })?;
            let producer = committer.ready_producer(&id)?;
            producer
                .begin_transaction()
                .map_err(|e| io::Error::other(fenced_or(&e, "cannot begin a transaction")))?;
            self.sequence += 1;
            self.open = Some(OpenTransaction {
                name: format!("{id}#{}.{}", self.run, self.sequence),
                id,
                messages: MessageWriter {
                    config: committer.config.clone(),
                    producer,
                },
            });
        }
        Ok(self.open.as_ref().expect("opened above"))
    }
}

impl TransactionalWriter for ExactlyOnceWriter {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let open = self.begin()?;
        open.messages.send(records, Some(&open.name))
    }

    fn pre_commit(&mut self, _tag: &str) -> io::Result<Option<serde_json::Value>> {
        if let Some(open) = self.open.take() {
            open.messages.flush()?;
            self.committer
                .transactions()
                .pending
                .insert(open.name.clone(), (open.id, open.messages.producer));
            self.pre_committed.push(open.name);
        }
        // Those the committer committed since are done.
        let transactions = self.committer.transactions();
        self.pre_committed
            .retain(|name| transactions.pending.contains_key(name));
        Ok((!self.pre_committed.is_empty()).then(|| {
            serde_json::to_value(PendingTransactions {
                transactions: self.pre_committed.clone(),
            })
            .expect("names serialise")
        }))
    }
}

impl Drop for ExactlyOnceWriter {
    fn drop(&mut self) {
        // A transaction still open when the task ends (a failure) goes
        // back aborted, so that its id can be used again at once.
        if let Some(open) = self.open.take()
            && open
                .messages
                .producer
                .abort_transaction(OPERATION_TIMEOUT)
                .is_ok()
        {
            self.committer
                .transactions()
                .ready
                .insert(open.id, open.messages.producer);
        }
    }
}
