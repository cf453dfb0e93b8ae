//! The Redis sink: each record becomes one command on the key its template
//! makes (`SET`, `HSET` or `ZADD`, and `PEXPIRE` with a `ttl`), pipelined
//! per batch, on one connection shared by the sink's subtasks.
//!
//! Delivery is at-least-once, and idempotent by design: every mode sets a
//! value (never increments one), so the records a restored job writes
//! again leave Redis as writing them once did. A job that writes results
//! (counts per window, a leaderboard's scores) therefore ends with the same
//! Redis contents whatever it recovered from.

use std::io;
use std::time::Duration;

use crate::job::{RedisSink, RedisWrite, Template, TemplatePart};
use crate::runtime::exchange::preview;
use crate::runtime::fields::{FieldError, raw_field};
use crate::runtime::record::Record;

/// How long connecting, and each batch's round trip, may take before the
/// sink fails (and the job's restart strategy decides what follows).
const TIMEOUT: Duration = Duration::from_secs(5);

/// One Redis sink's connection and what it writes.
pub struct RedisWriter {
    sink: String,
    config: RedisSink,
    connection: redis::Connection,
}

impl RedisWriter {
    /// Connect to the sink's server (within [`TIMEOUT`]); the error names
    /// the sink and the URL.
    pub fn connect(sink: &str, config: &RedisSink) -> io::Result<RedisWriter> {
        let unreachable = |error: redis::RedisError| {
            io::Error::other(format!(
                "cannot reach Redis at {} within {}: {error}",
                config.url,
                humantime::format_duration(TIMEOUT)
            ))
        };
        let client = redis::Client::open(config.url.as_str()).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`url = \"{}\"` is not a Redis URL: {error}", config.url),
            )
        })?;
        let mut connection = client
            .get_connection_with_timeout(TIMEOUT)
            .map_err(unreachable)?;
        connection
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| connection.set_write_timeout(Some(TIMEOUT)))
            .map_err(unreachable)?;
        redis::cmd("PING")
            .query::<()>(&mut connection)
            .map_err(unreachable)?;
        Ok(RedisWriter {
            sink: sink.to_string(),
            config: config.clone(),
            connection,
        })
    }

    /// Write a batch: one pipeline, one round trip. A record the templates
    /// cannot be filled from fails the batch, naming the field and record.
    pub fn write(&mut self, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for record in records {
            let key = render(&self.config.key, &record.value)?;
            match &self.config.write {
                RedisWrite::Set { value } => {
                    pipe.set(&key, value_of(value.as_ref(), record)?).ignore();
                }
                RedisWrite::HSet { field, value } => {
                    let field = render(field, &record.value)?;
                    pipe.hset(&key, field, value_of(value.as_ref(), record)?)
                        .ignore();
                }
                RedisWrite::ZAdd { member, score } => {
                    let member = render(member, &record.value)?;
                    pipe.zadd(&key, member, score_of(score, &record.value)?)
                        .ignore();
                }
            }
            if let Some(ttl) = self.config.ttl {
                pipe.pexpire(&key, ttl.as_millis() as i64).ignore();
            }
        }
        pipe.query::<()>(&mut self.connection).map_err(|error| {
            io::Error::other(format!(
                "Redis at {} did not take a batch of {} records: {error}",
                self.config.url,
                records.len()
            ))
        })
    }

    /// The sink's name, for messages.
    pub fn sink(&self) -> &str {
        &self.sink
    }
}

/// The value a `set` or `hset` writes: the template's, or the record.
fn value_of(template: Option<&Template>, record: &Record) -> io::Result<Vec<u8>> {
    match template {
        Some(template) => render(template, &record.value).map(String::into_bytes),
        None => Ok(record.value.clone()),
    }
}

/// A `zadd` score: the number at `path`.
fn score_of(path: &[String], value: &[u8]) -> io::Result<f64> {
    let raw = raw_field(value, path).map_err(|error| field_error(path, value, error))?;
    raw.get().parse::<f64>().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the score field `{}` holds {}, not a number (record: {})",
                path.join("."),
                raw.get(),
                preview(value)
            ),
        )
    })
}

/// Fill `template` from the JSON record `value`: strings without their
/// quotes, other values as their JSON text.
pub fn render(template: &Template, value: &[u8]) -> io::Result<String> {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Field(path) => {
                let raw =
                    raw_field(value, path).map_err(|error| field_error(path, value, error))?;
                let text = raw.get();
                match serde_json::from_str::<String>(text) {
                    Ok(string) if text.starts_with('"') => out.push_str(&string),
                    _ => out.push_str(text),
                }
            }
        }
    }
    Ok(out)
}

fn field_error(path: &[String], value: &[u8], error: FieldError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "cannot read field `{}` of a record: {error} (record: {})",
            path.join("."),
            preview(value)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_strings_without_quotes_and_other_values_as_json() {
        let template = Template::parse("clicks:{user}:{window.end}:{n}{{x}}").unwrap();
        let record = br#"{"user":"ann","window":{"end":60000},"n":[1,2]}"#;
        assert_eq!(
            render(&template, record).unwrap(),
            "clicks:ann:60000:[1,2]{x}"
        );
        let missing = render(&template, br#"{"user":"ann"}"#).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read field `window.end` of a record: field is missing"),
            "{missing}"
        );
        assert!(
            Template::parse("a{b")
                .unwrap_err()
                .contains("without its `}`")
        );
        assert!(
            Template::parse("a}b")
                .unwrap_err()
                .contains("without its `{`")
        );
        assert!(
            Template::parse("{a..b}")
                .unwrap_err()
                .contains("not a field path")
        );
    }
}
