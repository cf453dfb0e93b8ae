//! Guest stdout and stderr, forwarded line by line to the host's tracing
//! with the operator and subtask, instead of the host's own terminal.

use std::sync::{Arc, Mutex};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::context::{GUEST_TARGET, GuestTag};

/// Most bytes of one line kept before it is cut and logged.
const MAX_LINE: usize = 16 * 1024;

/// One guest output stream (stdout or stderr).
#[derive(Clone)]
pub struct GuestOutput {
    tag: Arc<GuestTag>,
    stream: &'static str,
    pending: Arc<Mutex<Vec<u8>>>,
}

impl GuestOutput {
    pub fn new(tag: Arc<GuestTag>, stream: &'static str) -> Self {
        GuestOutput {
            tag,
            stream,
            pending: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(bytes);
        while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=newline).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if pending.len() > MAX_LINE {
            let line = std::mem::take(&mut *pending);
            self.emit(&line);
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        tracing::info!(
            target: GUEST_TARGET,
            operator = %self.tag.operator,
            subtask = self.tag.subtask,
            stream = self.stream,
            "{line}"
        );
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp3 guests use this; eddy runs WASIp2 components.
        Box::new(tokio::io::sink())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl Drop for GuestOutput {
    fn drop(&mut self) {
        // The last clone flushes a final line without a newline.
        if Arc::strong_count(&self.pending) == 1 {
            let pending =
                std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
            if !pending.is_empty() {
                self.emit(&pending);
            }
        }
    }
}
