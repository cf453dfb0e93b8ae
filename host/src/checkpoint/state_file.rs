//! The state file of one operator subtask in a checkpoint: its keyed state
//! (per key group), timers and broadcast state, in a logical format that
//! does not depend on the backend that wrote it, so a checkpoint taken with
//! one backend or parallelism restores into another.
//!
//! A file is a sequence of frames `[u32 LE length][postcard Frame]`; every
//! frame of keyed state or timers names its key group, so a restoring
//! subtask reads only the key groups it owns.
//!
//! The frames are a header (kind and format version) first, then chunks of
//! entries (one state and key group each), chunks of timers (one time domain
//! and key group each) and chunks of broadcast entries, in any order, and an
//! end frame last with the counts of everything before it, so that a file
//! cut off at a frame boundary is told from a whole one. A chunk holds at
//! most 1024 items or about 1 MiB, so writing needs little memory whatever
//! the size of the state (a single list or map larger than that is still
//! one item).
//!
//! This module is the codec only: [`encode`] writes an
//! [`OperatorSnapshot`] (reading its keyed part through
//! [`crate::snapshot::KeyedStateSnapshot`], whichever backend took it) and
//! [`decode_into`] reads files back into a [`RestoredOperatorState`]; the
//! data types are `crate::snapshot`'s.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CheckpointError;
use crate::snapshot::{
    KeyedStateSnapshot, OperatorSnapshot, RestoredOperatorState, SnapshotError, SnapshotSink,
    StoredEntry, StoredPayload, TimeDomain, Timer, TimerSnapshot,
};
use crate::state::KeyGroupRange;

/// Figures of one written state file.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrittenState {
    /// Keyed entries written (a list or a map of one key counts once).
    pub entries: u64,
    /// Timers written, both time domains.
    pub timers: u64,
}

/// What the header frame says the file is.
const MAGIC: &str = "eddy operator state";

/// The version of the format this module writes and reads. The frame and
/// payload enums are encoded by variant index: reordering or removing a
/// variant changes the format, and so does this number.
const VERSION: u32 = 1;

/// Most items (entries, timers, broadcast entries) in one frame.
const MAX_FRAME_ITEMS: usize = 1024;

/// About the most bytes of one frame (a single larger item gets a frame of its own).
const MAX_FRAME_BYTES: usize = 1 << 20;

/// About the most bytes of timers held back across key groups while
/// writing: timers of several key groups come interleaved (RocksDB's order
/// is by timestamp first), and are gathered per key group up to this much.
const MAX_BUFFERED_TIMER_BYTES: usize = 1 << 20;

/// One frame of a state file. Encoded by variant index (see [`VERSION`]).
#[derive(Debug, Serialize, Deserialize)]
enum Frame {
    /// First in every file.
    Header { magic: String, version: u32 },
    /// Entries of one state in one key group.
    Entries {
        state: String,
        key_group: u16,
        entries: Vec<FrameEntry>,
    },
    /// Timers of one time domain in one key group.
    Timers {
        domain: FrameDomain,
        key_group: u16,
        timers: Vec<FrameTimer>,
    },
    /// Broadcast entries: (state name, key, value).
    Broadcast {
        entries: Vec<(String, Vec<u8>, Vec<u8>)>,
    },
    /// Last in every file: how many items the frames before it hold.
    End {
        entries: u64,
        timers: u64,
        broadcast: u64,
    },
    /// The event-time watermark the operator subtask stood at (at most one,
    /// before the end frame; files of operators without event time have none).
    Watermark { watermark: i64 },
}

/// A [`StoredEntry`] without what its frame says (state and key group).
#[derive(Debug, Serialize, Deserialize)]
struct FrameEntry {
    key: Vec<u8>,
    namespace: Vec<u8>,
    payload: StoredPayload,
}

/// A [`Timer`] without what its frame says (key group).
#[derive(Debug, Serialize, Deserialize)]
struct FrameTimer {
    timestamp: i64,
    key: Vec<u8>,
    namespace: Vec<u8>,
}

/// [`TimeDomain`] as the format has it, apart from the runtime's enum.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum FrameDomain {
    EventTime,
    ProcessingTime,
}

impl From<TimeDomain> for FrameDomain {
    fn from(domain: TimeDomain) -> Self {
        match domain {
            TimeDomain::EventTime => FrameDomain::EventTime,
            TimeDomain::ProcessingTime => FrameDomain::ProcessingTime,
        }
    }
}

impl From<FrameDomain> for TimeDomain {
    fn from(domain: FrameDomain) -> Self {
        match domain {
            FrameDomain::EventTime => TimeDomain::EventTime,
            FrameDomain::ProcessingTime => TimeDomain::ProcessingTime,
        }
    }
}

/// About how many bytes a frame item takes, to bound frames.
fn payload_size(payload: &StoredPayload) -> usize {
    match payload {
        StoredPayload::Value(value) => value.len(),
        StoredPayload::List(elements) => elements.iter().map(|e| e.len() + 4).sum(),
        StoredPayload::Map(entries) => entries.iter().map(|(k, v)| k.len() + v.len() + 8).sum(),
    }
}

/// Writes frames, gathering items into chunks of one key group.
struct FrameWriter<'w, W: Write> {
    out: &'w mut W,
    /// Reused encoding buffer.
    buf: Vec<u8>,
    written: WrittenState,
    broadcast_written: u64,
    /// State and key group of the entries gathered.
    entry_chunk_of: Option<(String, u16)>,
    entry_chunk: Vec<FrameEntry>,
    entry_chunk_bytes: usize,
    /// Timers gathered per time domain and key group, with their bytes.
    timer_chunks: BTreeMap<(TimeDomain, u16), (Vec<FrameTimer>, usize)>,
    timer_chunk_bytes: usize,
    broadcast_chunk: Vec<(String, Vec<u8>, Vec<u8>)>,
    broadcast_chunk_bytes: usize,
}

/// `frame` as the file holds it (length and encoding), in `buf` (cleared first).
fn encode_frame(frame: &Frame, mut buf: Vec<u8>) -> std::io::Result<Vec<u8>> {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    let mut buf = postcard::to_extend(frame, buf).map_err(std::io::Error::other)?;
    let len = u32::try_from(buf.len() - 4).map_err(|_| {
        std::io::Error::other(format!(
            "a frame of {} bytes is too large for the format (a single entry over 4 GiB?)",
            buf.len() - 4
        ))
    })?;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    Ok(buf)
}

/// The header frame this module writes, as bytes.
fn header_frame() -> Vec<u8> {
    let header = Frame::Header {
        magic: MAGIC.to_string(),
        version: VERSION,
    };
    encode_frame(&header, Vec::new()).expect("a header frame encodes")
}

impl<'w, W: Write> FrameWriter<'w, W> {
    /// A writer that has written the header.
    fn new(out: &'w mut W) -> Result<Self, SnapshotError> {
        let mut writer = FrameWriter {
            out,
            buf: Vec::new(),
            written: WrittenState::default(),
            broadcast_written: 0,
            entry_chunk_of: None,
            entry_chunk: Vec::new(),
            entry_chunk_bytes: 0,
            timer_chunks: BTreeMap::new(),
            timer_chunk_bytes: 0,
            broadcast_chunk: Vec::new(),
            broadcast_chunk_bytes: 0,
        };
        writer.frame(&Frame::Header {
            magic: MAGIC.to_string(),
            version: VERSION,
        })?;
        Ok(writer)
    }

    fn frame(&mut self, frame: &Frame) -> Result<(), SnapshotError> {
        let buf =
            encode_frame(frame, std::mem::take(&mut self.buf)).map_err(SnapshotError::Write)?;
        self.out.write_all(&buf).map_err(SnapshotError::Write)?;
        self.buf = buf;
        Ok(())
    }

    fn add_entry(&mut self, entry: StoredEntry) -> Result<(), SnapshotError> {
        let same_chunk = self
            .entry_chunk_of
            .as_ref()
            .is_some_and(|(state, group)| *state == entry.state && *group == entry.key_group);
        if !same_chunk {
            self.flush_entries()?;
            self.entry_chunk_of = Some((entry.state, entry.key_group));
        }
        self.entry_chunk_bytes +=
            entry.key.len() + entry.namespace.len() + payload_size(&entry.payload) + 16;
        self.entry_chunk.push(FrameEntry {
            key: entry.key,
            namespace: entry.namespace,
            payload: entry.payload,
        });
        self.written.entries += 1;
        if self.entry_chunk.len() >= MAX_FRAME_ITEMS || self.entry_chunk_bytes >= MAX_FRAME_BYTES {
            self.flush_entries()?;
        }
        Ok(())
    }

    fn flush_entries(&mut self) -> Result<(), SnapshotError> {
        let (Some((state, key_group)), false) = (&self.entry_chunk_of, self.entry_chunk.is_empty())
        else {
            return Ok(());
        };
        let frame = Frame::Entries {
            state: state.clone(),
            key_group: *key_group,
            entries: std::mem::take(&mut self.entry_chunk),
        };
        self.entry_chunk_bytes = 0;
        self.frame(&frame)
    }

    fn add_timer(&mut self, domain: TimeDomain, timer: Timer) -> Result<(), SnapshotError> {
        let size = timer.key.len() + timer.namespace.len() + 16;
        let chunk_of = (domain, timer.key_group);
        let (chunk, bytes) = self.timer_chunks.entry(chunk_of).or_default();
        chunk.push(FrameTimer {
            timestamp: timer.timestamp,
            key: timer.key,
            namespace: timer.namespace,
        });
        *bytes += size;
        self.timer_chunk_bytes += size;
        self.written.timers += 1;
        if chunk.len() >= MAX_FRAME_ITEMS {
            self.flush_timer_chunk(chunk_of)?;
        }
        if self.timer_chunk_bytes >= MAX_BUFFERED_TIMER_BYTES {
            self.flush_timers()?;
        }
        Ok(())
    }

    fn flush_timer_chunk(&mut self, chunk_of: (TimeDomain, u16)) -> Result<(), SnapshotError> {
        let Some((timers, bytes)) = self.timer_chunks.remove(&chunk_of) else {
            return Ok(());
        };
        self.timer_chunk_bytes -= bytes;
        self.frame(&Frame::Timers {
            domain: chunk_of.0.into(),
            key_group: chunk_of.1,
            timers,
        })
    }

    fn flush_timers(&mut self) -> Result<(), SnapshotError> {
        while let Some(&chunk_of) = self.timer_chunks.keys().next() {
            self.flush_timer_chunk(chunk_of)?;
        }
        Ok(())
    }

    fn broadcast(&mut self, entry: (String, Vec<u8>, Vec<u8>)) -> Result<(), SnapshotError> {
        self.broadcast_chunk_bytes += entry.0.len() + entry.1.len() + entry.2.len() + 12;
        self.broadcast_chunk.push(entry);
        self.broadcast_written += 1;
        if self.broadcast_chunk.len() >= MAX_FRAME_ITEMS
            || self.broadcast_chunk_bytes >= MAX_FRAME_BYTES
        {
            self.flush_broadcast()?;
        }
        Ok(())
    }

    fn flush_broadcast(&mut self) -> Result<(), SnapshotError> {
        if self.broadcast_chunk.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.broadcast_chunk);
        self.broadcast_chunk_bytes = 0;
        self.frame(&Frame::Broadcast { entries })
    }

    /// Write what is gathered and the end frame.
    fn finish(mut self) -> Result<WrittenState, SnapshotError> {
        self.flush_entries()?;
        self.flush_timers()?;
        self.flush_broadcast()?;
        self.frame(&Frame::End {
            entries: self.written.entries,
            timers: self.written.timers,
            broadcast: self.broadcast_written,
        })?;
        self.out.flush().map_err(SnapshotError::Write)?;
        Ok(self.written)
    }
}

/// The writer is where a backend's snapshot puts what it holds.
impl<W: Write> SnapshotSink for FrameWriter<'_, W> {
    fn entry(&mut self, entry: StoredEntry) -> Result<(), SnapshotError> {
        self.add_entry(entry)
    }

    fn timer(&mut self, domain: TimeDomain, timer: Timer) -> Result<(), SnapshotError> {
        self.add_timer(domain, timer)
    }
}

/// Serialise `snapshot` as a state file into `out` (off the task thread),
/// removing any scratch files the backend made for it.
///
/// The scratch folder (a RocksDB checkpoint) is removed whether or not
/// writing succeeds: it is scratch either way. Failing to remove it is only
/// logged, since the state file is whole by then.
pub fn encode(
    snapshot: OperatorSnapshot,
    out: &mut impl Write,
) -> Result<WrittenState, CheckpointError> {
    let scratch = snapshot
        .keyed
        .as_ref()
        .and_then(|keyed| keyed.scratch_dir())
        .map(Path::to_path_buf);
    let written = write_frames(snapshot, out);
    if let Some(dir) = scratch {
        remove_scratch_dir(&dir);
    }
    Ok(written?)
}

/// Remove the scratch files `keyed` was taken into, once written out
/// another way (an incremental checkpoint's native files).
pub fn remove_scratch(keyed: &dyn KeyedStateSnapshot) {
    if let Some(dir) = keyed.scratch_dir() {
        remove_scratch_dir(dir);
    }
}

/// Failing to remove scratch files is only logged: the state is written by then.
fn remove_scratch_dir(dir: &Path) {
    if let Err(error) = std::fs::remove_dir_all(dir) {
        tracing::warn!(
            "the state snapshot in {} was written out but cannot be removed: {error}",
            dir.display()
        );
    }
}

fn write_frames(
    snapshot: OperatorSnapshot,
    out: &mut impl Write,
) -> Result<WrittenState, SnapshotError> {
    let mut writer = FrameWriter::new(out)?;
    if let Some(keyed) = snapshot.keyed {
        keyed.read_into(&mut writer)?;
    }
    for (domain, timer) in snapshot
        .timers
        .into_iter()
        .flat_map(TimerSnapshot::into_timers)
    {
        writer.add_timer(domain, timer)?;
    }
    for entry in snapshot.broadcast.into_iter().flat_map(|b| b.entries) {
        writer.broadcast(entry)?;
    }
    if let Some(watermark) = snapshot.watermark {
        writer.frame(&Frame::Watermark { watermark })?;
    }
    writer.finish()
}

fn unreadable(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::UnreadableState {
        reason: reason.into(),
    }
}

/// Reads the frames of a file one by one, saying where one is wrong.
struct FrameReader<'f> {
    rest: &'f [u8],
    /// Number of the frame read next, counting from 1 for messages.
    number: usize,
}

impl FrameReader<'_> {
    /// The next frame, or `None` at the end of the file.
    fn next(&mut self) -> Result<Option<Frame>, CheckpointError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let number = self.number;
        let Some((len, body)) = self.rest.split_first_chunk::<4>() else {
            return Err(unreadable(format!(
                "the length of frame {number} is cut off after {} of its 4 bytes (the file is truncated)",
                self.rest.len()
            )));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if body.len() < len {
            return Err(unreadable(format!(
                "frame {number} is cut off after {} of its {len} bytes (the file is truncated)",
                body.len()
            )));
        }
        let (body, rest) = body.split_at(len);
        let (frame, left) = postcard::take_from_bytes::<Frame>(body)
            .map_err(|e| unreadable(format!("frame {number} cannot be decoded ({e})")))?;
        if !left.is_empty() {
            return Err(unreadable(format!(
                "frame {number} has {} bytes left over after its contents",
                left.len()
            )));
        }
        self.rest = rest;
        self.number += 1;
        Ok(Some(frame))
    }
}

/// Add to `restored` the key groups of `range` found in `file` (a file
/// written by [`encode`]), and its broadcast state if `with_broadcast`.
///
/// The whole file is checked (header, every frame, the end frame and its
/// counts) before anything is added, so on error `restored` is unchanged.
pub fn decode_into(
    restored: &mut RestoredOperatorState,
    file: &[u8],
    range: &KeyGroupRange,
    with_broadcast: bool,
) -> Result<(), CheckpointError> {
    let mut frames = FrameReader {
        rest: file,
        number: 1,
    };
    if file.is_empty() {
        return Err(unreadable("the file is empty"));
    }
    let header = header_frame();
    if file.len() < header.len() && header.starts_with(file) {
        return Err(unreadable(format!(
            "it ends inside its header, after {} bytes (the file is truncated)",
            file.len()
        )));
    }
    match frames.next() {
        Ok(Some(Frame::Header { magic, version })) if magic == MAGIC => {
            if version != VERSION {
                return Err(unreadable(format!(
                    "it was written in state file format version {version}; this eddy reads version {VERSION}"
                )));
            }
        }
        _ => {
            return Err(unreadable(
                "it does not start with an eddy operator state header (it is not a state file, or its start is damaged)",
            ));
        }
    }
    let (mut entries, mut timers, mut broadcast) = (Vec::new(), Vec::new(), Vec::new());
    let mut watermark = None;
    let (mut entry_count, mut timer_count, mut broadcast_count) = (0u64, 0u64, 0u64);
    loop {
        let number = frames.number;
        let Some(frame) = frames.next()? else {
            return Err(unreadable(format!(
                "it ends after frame {} without its end frame (the file is truncated)",
                number - 1
            )));
        };
        match frame {
            Frame::Header { .. } => {
                return Err(unreadable(format!(
                    "frame {number} is a second header (two files joined, or a damaged one)"
                )));
            }
            Frame::Entries {
                state,
                key_group,
                entries: chunk,
            } => {
                entry_count += chunk.len() as u64;
                if range.contains(key_group) {
                    entries.extend(chunk.into_iter().map(|entry| StoredEntry {
                        state: state.clone(),
                        key_group,
                        key: entry.key,
                        namespace: entry.namespace,
                        payload: entry.payload,
                    }));
                }
            }
            Frame::Timers {
                domain,
                key_group,
                timers: chunk,
            } => {
                timer_count += chunk.len() as u64;
                if range.contains(key_group) {
                    timers.extend(chunk.into_iter().map(|timer| {
                        let timer = Timer {
                            timestamp: timer.timestamp,
                            key_group,
                            key: timer.key,
                            namespace: timer.namespace,
                        };
                        (TimeDomain::from(domain), timer)
                    }));
                }
            }
            Frame::Broadcast { entries: chunk } => {
                broadcast_count += chunk.len() as u64;
                if with_broadcast {
                    broadcast.extend(chunk);
                }
            }
            Frame::Watermark { watermark: at } => {
                if watermark.replace(at).is_some() {
                    return Err(unreadable(format!(
                        "frame {number} is a second watermark (a damaged file)"
                    )));
                }
            }
            Frame::End {
                entries: ends_entries,
                timers: ends_timers,
                broadcast: ends_broadcast,
            } => {
                let counted = (entry_count, timer_count, broadcast_count);
                if (ends_entries, ends_timers, ends_broadcast) != counted {
                    return Err(unreadable(format!(
                        "its end frame counts {ends_entries} entries, {ends_timers} timers and {ends_broadcast} broadcast entries, but the frames before it hold {entry_count}, {timer_count} and {broadcast_count}"
                    )));
                }
                if !frames.rest.is_empty() {
                    return Err(unreadable(format!(
                        "{} bytes follow its end frame",
                        frames.rest.len()
                    )));
                }
                break;
            }
        }
    }
    restored.entries.append(&mut entries);
    restored.timers.append(&mut timers);
    restored.broadcast.append(&mut broadcast);
    restored.watermark = match (restored.watermark, watermark) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::operators::window::TimeWindow;
    use crate::snapshot::BroadcastSnapshot;
    use crate::state::{
        BroadcastAccess, BroadcastEntries, BroadcastError, BroadcastMode, BroadcastState,
        MemoryStateBackend, StateBackend, StateDescriptor, StateError, StateKey, StateKind,
        StateTtl, TtlClock, TtlStates, TtlUpdate, key_group_of, restore_keyed,
    };
    #[cfg(feature = "rocksdb")]
    use crate::state::{RocksDbShared, RocksDbStateBackend};
    use crate::time::TimerService;
    use crate::time::watermark::NO_WATERMARK;

    const MAX_PARALLELISM: u32 = 128;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Kind {
        Memory,
        #[cfg(feature = "rocksdb")]
        RocksDb,
    }

    /// Every backend of this build.
    const KINDS: &[Kind] = &[
        Kind::Memory,
        #[cfg(feature = "rocksdb")]
        Kind::RocksDb,
    ];

    /// Another backend than `kind` to restore into, if the build has one.
    fn other(kind: Kind) -> Kind {
        let at = KINDS
            .iter()
            .position(|&k| k == kind)
            .expect("a kind of KINDS");
        KINDS[(at + 1) % KINDS.len()]
    }

    /// A backend as a job has it (wrapped in [`TtlStates`]), with its timers.
    struct Subject {
        backend: Box<dyn StateBackend>,
        timers: TimerService,
        dir: tempfile::TempDir,
    }

    fn open(kind: Kind, range: KeyGroupRange, clock: &TtlClock) -> Subject {
        let dir = tempfile::tempdir().unwrap();
        let mut inner: Box<dyn StateBackend> = match kind {
            Kind::Memory => {
                Box::new(MemoryStateBackend::new("op", range).with_ttl_clock(clock.clone()))
            }
            #[cfg(feature = "rocksdb")]
            Kind::RocksDb => {
                let mut shared = RocksDbShared::new(dir.path().to_path_buf(), 8 << 20, 4 << 20);
                shared.clock = clock.clone();
                Box::new(RocksDbStateBackend::open(&shared, "op", 0, range).unwrap())
            }
        };
        let timers = inner.timer_service().unwrap();
        Subject {
            backend: Box::new(TtlStates::new(inner, clock.clone())),
            timers,
            dir,
        }
    }

    fn ttl() -> Option<StateTtl> {
        Some(StateTtl {
            millis: 100,
            update: TtlUpdate::OnCreateAndWrite,
        })
    }

    /// The states of the tests: value, list and map, each without and with
    /// a TTL, and a broadcast map (registered with the keyed backend as
    /// jobs do, and not keyed state).
    fn descriptors() -> Vec<StateDescriptor> {
        [
            ("v", StateKind::Value, None),
            ("l", StateKind::List, None),
            ("m", StateKind::Map, None),
            ("v-ttl", StateKind::Value, ttl()),
            ("l-ttl", StateKind::List, ttl()),
            ("m-ttl", StateKind::Map, ttl()),
            ("rules", StateKind::BroadcastMap, None),
        ]
        .into_iter()
        .map(|(name, kind, ttl)| StateDescriptor {
            name: name.into(),
            kind,
            ttl,
        })
        .collect()
    }

    fn register(subject: &mut Subject) -> Vec<crate::state::StateId> {
        descriptors()
            .iter()
            .map(|d| subject.backend.register(d).unwrap())
            .collect()
    }

    /// What a backend should hold: entries by (state, key group, key,
    /// namespace), and timers.
    #[derive(Debug, Default)]
    struct Expected {
        entries: BTreeMap<(String, u16, Vec<u8>, Vec<u8>), StoredPayload>,
        timers: BTreeSet<(TimeDomain, Timer)>,
    }

    impl Expected {
        fn entries(&self) -> Vec<StoredEntry> {
            let mut entries: Vec<StoredEntry> = self
                .entries
                .iter()
                .map(
                    |((state, key_group, key, namespace), payload)| StoredEntry {
                        state: state.clone(),
                        key_group: *key_group,
                        key: key.clone(),
                        namespace: namespace.clone(),
                        payload: payload.clone(),
                    },
                )
                .collect();
            sort_entries(&mut entries);
            entries
        }

        fn timers(&self) -> Vec<(TimeDomain, Timer)> {
            self.timers.iter().cloned().collect()
        }
    }

    fn sort_entries(entries: &mut [StoredEntry]) {
        entries.sort_by(|a, b| {
            (&a.state, a.key_group, &a.key, &a.namespace).cmp(&(
                &b.state,
                b.key_group,
                &b.key,
                &b.namespace,
            ))
        });
    }

    fn stamped(expires: i64, value: &[u8]) -> Vec<u8> {
        let mut stored = expires.to_be_bytes().to_vec();
        stored.extend_from_slice(value);
        stored
    }

    /// Keys of the tests: plain ones, and ones with 0x00 bytes anywhere.
    fn keys(count: u32) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = (0..count).map(|i| format!("k{i}").into_bytes()).collect();
        keys.extend([
            b"\0".to_vec(),
            b"\0\0".to_vec(),
            b"a\0b".to_vec(),
            b"tail\0".to_vec(),
            b"".to_vec(),
        ]);
        keys
    }

    /// Fill `subject` (registered with [`register`], its clock at 1000)
    /// with every kind of entry and timer; TTL entries of even keys are
    /// written at 1000 (expire at 1100), of odd keys at 1050 (expire at
    /// 1150). Leaves the clock at 1050.
    fn fill(subject: &mut Subject, clock: &TtlClock, key_count: u32) -> Expected {
        let ids = register(subject);
        let (v, l, m, vt, lt, mt) = (ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]);
        let mut expected = Expected::default();
        let keys = keys(key_count);
        let b = subject.backend.as_mut();
        let mut put = |state: &str, key: &[u8], ns: &[u8], payload| {
            let kg = key_group_of(key, MAX_PARALLELISM);
            expected
                .entries
                .insert((state.into(), kg, key.to_vec(), ns.to_vec()), payload);
        };
        for (i, key) in keys.iter().enumerate() {
            let kg = key_group_of(key, MAX_PARALLELISM);
            let plain = StateKey::new(kg, key, b"");
            let window = TimeWindow::new(i as i64 * 10 - 500, i as i64 * 10 - 490).namespace();
            let windowed = StateKey::new(kg, key, &window);
            let value = format!("value {i}").into_bytes();
            b.value_set(v, plain, &value).unwrap();
            put("v", key, b"", StoredPayload::Value(value.clone()));
            b.value_set(v, windowed, b"").unwrap();
            put("v", key, &window, StoredPayload::Value(Vec::new()));
            // Appends (RocksDB merge operands until compacted) and an update.
            b.list_add(l, windowed, b"x").unwrap();
            b.list_add(l, windowed, &value).unwrap();
            put(
                "l",
                key,
                &window,
                StoredPayload::List(vec![b"x".to_vec(), value.clone()]),
            );
            if i % 3 == 0 {
                b.list_update(l, plain, vec![b"\0".to_vec(), Vec::new()])
                    .unwrap();
                b.list_add(l, plain, b"after").unwrap();
                put(
                    "l",
                    key,
                    b"",
                    StoredPayload::List(vec![b"\0".to_vec(), Vec::new(), b"after".to_vec()]),
                );
            }
            b.map_put(m, plain, b"b", b"2").unwrap();
            b.map_put(m, plain, b"", b"empty map key").unwrap();
            b.map_put(m, plain, b"\0", &value).unwrap();
            put(
                "m",
                key,
                b"",
                StoredPayload::Map(vec![
                    (Vec::new(), b"empty map key".to_vec()),
                    (b"\0".to_vec(), value.clone()),
                    (b"b".to_vec(), b"2".to_vec()),
                ]),
            );
            if i % 2 == 0 {
                b.map_put(m, windowed, b"w", b"in a window").unwrap();
                put(
                    "m",
                    key,
                    &window,
                    StoredPayload::Map(vec![(b"w".to_vec(), b"in a window".to_vec())]),
                );
            }
        }
        // TTL states: even keys now (expire at 1100), odd keys at 1050 (1150).
        for parity in [0, 1] {
            let expires = clock.now() + 100;
            for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 2 == parity) {
                let kg = key_group_of(key, MAX_PARALLELISM);
                let at = StateKey::new(kg, key, b"");
                let value = format!("ttl {i}").into_bytes();
                b.value_set(vt, at, &value).unwrap();
                put(
                    "v-ttl",
                    key,
                    b"",
                    StoredPayload::Value(stamped(expires, &value)),
                );
                b.list_add(lt, at, &value).unwrap();
                b.list_add(lt, at, b"").unwrap();
                put(
                    "l-ttl",
                    key,
                    b"",
                    StoredPayload::List(vec![stamped(expires, &value), stamped(expires, b"")]),
                );
                b.map_put(mt, at, b"mk", &value).unwrap();
                put(
                    "m-ttl",
                    key,
                    b"",
                    StoredPayload::Map(vec![(b"mk".to_vec(), stamped(expires, &value))]),
                );
            }
            if parity == 0 {
                clock.advance(50);
            }
        }
        // Timers of both domains, with and without namespaces.
        for (i, key) in keys.iter().enumerate() {
            let kg = key_group_of(key, MAX_PARALLELISM);
            let window = TimeWindow::new(i as i64, i as i64 + 5).namespace();
            let mut timers = vec![
                (
                    TimeDomain::EventTime,
                    Timer::keyed(i as i64 - 20, kg, key.clone()),
                ),
                (
                    TimeDomain::EventTime,
                    Timer {
                        timestamp: i as i64 + 4,
                        key_group: kg,
                        key: key.clone(),
                        namespace: window.to_vec(),
                    },
                ),
            ];
            if i % 2 == 1 {
                timers.push((
                    TimeDomain::ProcessingTime,
                    Timer::keyed(2_000 + i as i64 % 7, kg, key.clone()),
                ));
            }
            for (domain, timer) in timers {
                subject.timers.register(domain, timer.clone()).unwrap();
                expected.timers.insert((domain, timer));
            }
        }
        expected
    }

    /// A directory for a RocksDB checkpoint that does not exist yet.
    fn checkpoint_dir(subject: &Subject) -> std::path::PathBuf {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        subject
            .dir
            .path()
            .join(format!("chk-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// What the task thread takes at a barrier.
    fn snapshot(subject: &mut Subject) -> OperatorSnapshot {
        let dir = checkpoint_dir(subject);
        OperatorSnapshot {
            keyed: Some(subject.backend.snapshot(&dir).unwrap()),
            timers: subject.timers.snapshot(),
            broadcast: None,
            watermark: None,
        }
    }

    fn write(snapshot: OperatorSnapshot) -> (Vec<u8>, WrittenState) {
        let scratch = snapshot
            .keyed
            .as_ref()
            .and_then(|keyed| keyed.scratch_dir())
            .map(Path::to_path_buf);
        let mut file = Vec::new();
        let written = encode(snapshot, &mut file).unwrap();
        if let Some(dir) = scratch {
            assert!(!dir.exists(), "the scratch checkpoint {dir:?} is removed");
        }
        (file, written)
    }

    fn read(files: &[&[u8]], range: &KeyGroupRange) -> RestoredOperatorState {
        let mut restored = RestoredOperatorState::default();
        for file in files {
            decode_into(&mut restored, file, range, true).unwrap();
        }
        sort_entries(&mut restored.entries);
        restored.timers.sort();
        restored
    }

    /// Everything a backend holds, sorted: snapshot, write, read back.
    fn dump(subject: &mut Subject) -> (Vec<StoredEntry>, Vec<(TimeDomain, Timer)>) {
        let (file, _) = write(snapshot(subject));
        let restored = read(&[&file], &KeyGroupRange::all(MAX_PARALLELISM));
        (restored.entries, restored.timers)
    }

    fn value_of(subject: &mut Subject, state: &str, key: &[u8]) -> Option<Vec<u8>> {
        let descriptor = descriptors().into_iter().find(|d| d.name == state).unwrap();
        let id = subject.backend.register(&descriptor).unwrap();
        let at = StateKey::new(key_group_of(key, MAX_PARALLELISM), key, b"");
        subject.backend.value_get(id, at).unwrap()
    }

    #[test]
    fn every_pair_of_backends_round_trips_everything() {
        for &from in KINDS {
            for &to in KINDS {
                let all = KeyGroupRange::all(MAX_PARALLELISM);
                let clock = TtlClock::manual(1_000);
                let mut source = open(from, all.clone(), &clock);
                let expected = fill(&mut source, &clock, 200);
                assert_eq!(
                    source.timers.snapshot().is_some(),
                    from == Kind::Memory,
                    "heap timers are shared with the snapshot, RocksDB's are in its checkpoint"
                );
                let (file, written) = write(snapshot(&mut source));
                assert_eq!(written.entries, expected.entries.len() as u64, "{from:?}");
                assert_eq!(written.timers, expected.timers.len() as u64, "{from:?}");

                let mut target = open(to, all.clone(), &clock);
                register(&mut target);
                restore_keyed(
                    &read(&[&file], &all),
                    target.backend.as_mut(),
                    &mut target.timers,
                )
                .unwrap();
                let (entries, timers) = dump(&mut target);
                assert!(
                    entries == expected.entries(),
                    "{from:?} -> {to:?}: entries differ"
                );
                assert_eq!(timers, expected.timers(), "{from:?} -> {to:?}");

                // Restored timers fire, in order.
                let fired = target
                    .timers
                    .pop_due(TimeDomain::EventTime, i64::MAX, usize::MAX)
                    .unwrap();
                let due: Vec<Timer> = expected
                    .timers
                    .iter()
                    .filter(|(d, _)| *d == TimeDomain::EventTime)
                    .map(|(_, t)| t.clone())
                    .collect();
                assert_eq!(fired, due, "{from:?} -> {to:?}");

                // Stamps came along unchanged: at 1100 what was written at
                // 1000 has expired, what was written at 1050 has not (a
                // restore that stamped again, at 1050, would show both).
                let (early, late) = (b"k0".as_slice(), b"k1".as_slice());
                assert!(value_of(&mut target, "v-ttl", early).is_some());
                clock.advance(50);
                assert_eq!(value_of(&mut target, "v-ttl", early), None, "{to:?}");
                assert_eq!(
                    value_of(&mut target, "v-ttl", late),
                    Some(b"ttl 1".to_vec()),
                    "{from:?} -> {to:?}"
                );
                assert_eq!(
                    value_of(&mut target, "v", b"a\0b"),
                    Some(format!("value {}", 202).into_bytes())
                );
            }
        }
    }

    #[test]
    fn key_groups_split_between_and_merge_from_subtasks() {
        let all = KeyGroupRange::all(MAX_PARALLELISM);
        let halves = [0, 1].map(|s| KeyGroupRange::for_subtask(s, 2, MAX_PARALLELISM));
        for &kind in KINDS {
            let clock = TtlClock::manual(1_000);
            let mut source = open(kind, all.clone(), &clock);
            let expected = fill(&mut source, &clock, 300);
            let (file, _) = write(snapshot(&mut source));

            // Scale out: each half reads only its key groups, and together
            // they read everything once.
            let parts = halves.clone().map(|range| read(&[&file], &range));
            for (range, part) in halves.iter().zip(&parts) {
                assert!(!part.entries.is_empty() && !part.timers.is_empty());
                assert!(part.entries.iter().all(|e| range.contains(e.key_group)));
                assert!(part.timers.iter().all(|(_, t)| range.contains(t.key_group)));
            }
            let mut union: Vec<StoredEntry> =
                parts.iter().flat_map(|p| p.entries.clone()).collect();
            sort_entries(&mut union);
            assert!(
                union == expected.entries(),
                "{kind:?}: halves cover everything once"
            );
            let mut timers: Vec<_> = parts.iter().flat_map(|p| p.timers.clone()).collect();
            timers.sort();
            assert_eq!(timers, expected.timers(), "{kind:?}");

            // Restore the halves into subtasks of the other backend, then
            // scale in: one subtask reads both of their files.
            let other = other(kind);
            let mut files = Vec::new();
            for (range, part) in halves.iter().zip(&parts) {
                let mut half = open(other, range.clone(), &clock);
                register(&mut half);
                restore_keyed(part, half.backend.as_mut(), &mut half.timers).unwrap();
                files.push(write(snapshot(&mut half)).0);
            }
            let merged = read(&[&files[0], &files[1]], &all);
            assert!(merged.entries == expected.entries(), "{kind:?}: merged");
            assert_eq!(merged.timers, expected.timers(), "{kind:?}: merged");

            // A subtask refuses key groups it does not own.
            let mut half = open(other, halves[0].clone(), &clock);
            register(&mut half);
            let everything = read(&[&file], &all);
            assert!(matches!(
                restore_keyed(&everything, half.backend.as_mut(), &mut half.timers),
                Err(StateError::ForeignKeyGroup { .. })
            ));
        }
    }

    #[test]
    fn a_snapshot_is_a_copy_that_later_changes_do_not_reach() {
        for &kind in KINDS {
            let all = KeyGroupRange::all(MAX_PARALLELISM);
            let clock = TtlClock::manual(1_000);
            let mut subject = open(kind, all.clone(), &clock);
            let expected = fill(&mut subject, &clock, 50);
            let taken = snapshot(&mut subject);

            // Change everything after the barrier, before the write.
            let ids = register(&mut subject);
            let b = subject.backend.as_mut();
            let k0 = StateKey::new(key_group_of(b"k0", MAX_PARALLELISM), b"k0", b"");
            let new = StateKey::new(key_group_of(b"new", MAX_PARALLELISM), b"new", b"");
            b.value_set(ids[0], k0, b"changed").unwrap();
            b.value_set(ids[0], new, b"new").unwrap();
            b.list_add(ids[1], k0, b"more").unwrap();
            b.clear(ids[2], k0).unwrap();
            subject
                .timers
                .register(TimeDomain::EventTime, Timer::keyed(1, 0, b"new".to_vec()))
                .unwrap();
            subject
                .timers
                .pop_due(TimeDomain::ProcessingTime, i64::MAX, usize::MAX)
                .unwrap();

            let (file, _) = write(taken);
            let restored = read(&[&file], &all);
            assert!(restored.entries == expected.entries(), "{kind:?}");
            assert_eq!(restored.timers, expected.timers(), "{kind:?}");
            // While the backend did change.
            assert_eq!(
                value_of(&mut subject, "v", b"k0"),
                Some(b"changed".to_vec())
            );
        }
    }

    #[test]
    fn restoring_replaces_what_a_key_holds() {
        for &kind in KINDS {
            let all = KeyGroupRange::all(MAX_PARALLELISM);
            let clock = TtlClock::manual(1_000);
            let mut subject = open(kind, all.clone(), &clock);
            let ids = register(&mut subject);
            let kg = key_group_of(b"k", MAX_PARALLELISM);
            let at = StateKey::new(kg, b"k", b"");
            let b = subject.backend.as_mut();
            b.value_set(ids[0], at, b"old").unwrap();
            b.list_add(ids[1], at, b"old 1").unwrap();
            b.list_add(ids[1], at, b"old 2").unwrap();
            b.map_put(ids[2], at, b"gone", b"old").unwrap();
            b.map_put(ids[2], at, b"kept", b"old").unwrap();
            let entry = |state: &str, payload| StoredEntry {
                state: state.into(),
                key_group: kg,
                key: b"k".to_vec(),
                namespace: Vec::new(),
                payload,
            };
            let restored = RestoredOperatorState {
                entries: vec![
                    entry("v", StoredPayload::Value(b"new".to_vec())),
                    entry("l", StoredPayload::List(vec![b"new".to_vec()])),
                    entry(
                        "m",
                        StoredPayload::Map(vec![(b"kept".to_vec(), b"new".to_vec())]),
                    ),
                ],
                ..RestoredOperatorState::default()
            };
            restore_keyed(&restored, subject.backend.as_mut(), &mut subject.timers).unwrap();
            let (entries, _) = dump(&mut subject);
            let mut wanted = restored.entries.clone();
            sort_entries(&mut wanted);
            assert!(entries == wanted, "{kind:?}: {entries:?}");
        }
    }

    fn broadcast_descriptors() -> Vec<StateDescriptor> {
        [
            ("seen", StateKind::Value),
            ("rules", StateKind::BroadcastMap),
            ("limits", StateKind::BroadcastMap),
        ]
        .map(|(name, kind)| StateDescriptor {
            name: name.into(),
            kind,
            ttl: None,
        })
        .to_vec()
    }

    fn put_broadcast(state: &mut BroadcastState, index: u32, key: &[u8], value: &[u8]) {
        state.set_mode(BroadcastMode::Writable);
        state
            .map(index, eddy_layout::NO_KEY, BroadcastAccess::Write)
            .unwrap()
            .unwrap()
            .insert(key.to_vec(), value.to_vec());
        state.set_mode(BroadcastMode::ReadOnly);
    }

    fn broadcast_contents(state: &mut BroadcastState) -> Vec<(u32, BroadcastEntries)> {
        state.set_mode(BroadcastMode::ReadOnly);
        [1, 2]
            .map(|index| {
                let map = state
                    .map(index, eddy_layout::NO_KEY, BroadcastAccess::Read)
                    .unwrap()
                    .unwrap();
                (index, map.clone())
            })
            .to_vec()
    }

    #[test]
    fn the_watermark_comes_back_and_the_lowest_wins_when_files_merge() {
        let with = |watermark| {
            write(OperatorSnapshot {
                watermark,
                ..OperatorSnapshot::default()
            })
            .0
        };
        let all = KeyGroupRange::all(MAX_PARALLELISM);
        let mut restored = RestoredOperatorState::default();
        decode_into(&mut restored, &with(Some(1_500)), &all, false).unwrap();
        assert_eq!(restored.watermark, Some(1_500));
        decode_into(&mut restored, &with(Some(900)), &all, false).unwrap();
        decode_into(&mut restored, &with(None), &all, false).unwrap();
        decode_into(&mut restored, &with(Some(2_000)), &all, false).unwrap();
        assert_eq!(restored.watermark, Some(900));

        let mut none = RestoredOperatorState::default();
        decode_into(&mut none, &with(None), &all, false).unwrap();
        let mut subject = open(Kind::Memory, all.clone(), &TtlClock::manual(1_000));
        let watermark =
            restore_keyed(&none, subject.backend.as_mut(), &mut subject.timers).unwrap();
        assert_eq!(watermark, NO_WATERMARK);
    }

    #[test]
    fn broadcast_state_round_trips_as_a_copy() {
        let mut state = BroadcastState::new(&broadcast_descriptors());
        put_broadcast(&mut state, 1, b"r1", b"allow");
        put_broadcast(&mut state, 1, b"\0", b"");
        put_broadcast(&mut state, 2, b"max", b"10");
        let before = broadcast_contents(&mut state);
        let taken = OperatorSnapshot {
            broadcast: Some(state.snapshot()),
            ..OperatorSnapshot::default()
        };
        put_broadcast(&mut state, 2, b"max", b"changed after the barrier");
        put_broadcast(&mut state, 1, b"r2", b"later");
        let (file, written) = write(taken);
        assert_eq!((written.entries, written.timers), (0, 0));

        let all = KeyGroupRange::all(MAX_PARALLELISM);
        let mut restored = RestoredOperatorState::default();
        decode_into(&mut restored, &file, &all, true).unwrap();
        assert_eq!(restored.broadcast.len(), 3);
        let mut fresh = BroadcastState::new(&broadcast_descriptors());
        fresh.restore(&restored.broadcast).unwrap();
        assert_eq!(broadcast_contents(&mut fresh), before);

        // Only one old subtask's copy is read: the others are skipped.
        let mut without = RestoredOperatorState::default();
        decode_into(&mut without, &file, &all, false).unwrap();
        assert!(without.broadcast.is_empty());

        // A broadcast map the operator does not declare (any more).
        let mut other = BroadcastState::new(&broadcast_descriptors()[..2]);
        let error = other.restore(&restored.broadcast).unwrap_err();
        assert!(matches!(error, BroadcastError::Undeclared(ref name) if name == "limits"));
        assert_eq!(
            error.to_string(),
            "the checkpoint holds broadcast state `limits`, which this operator does not declare as a broadcast map"
        );
        assert_eq!(other.entry_count(), 0, "nothing is put back on error");
    }

    #[test]
    fn restoring_a_state_the_operator_does_not_declare_is_an_error() {
        for &kind in KINDS {
            let all = KeyGroupRange::all(MAX_PARALLELISM);
            let clock = TtlClock::manual(1_000);
            let mut source = open(kind, all.clone(), &clock);
            fill(&mut source, &clock, 5);
            let (file, _) = write(snapshot(&mut source));
            let restored = read(&[&file], &all);

            let mut target = open(kind, all.clone(), &clock);
            for descriptor in descriptors().iter().filter(|d| d.name != "m-ttl") {
                target.backend.register(descriptor).unwrap();
            }
            let error =
                restore_keyed(&restored, target.backend.as_mut(), &mut target.timers).unwrap_err();
            assert_eq!(
                error.to_string(),
                "the checkpoint holds state `m-ttl` for operator `op`, which does not declare it",
                "{kind:?}"
            );

            let mut target = open(kind, all.clone(), &clock);
            target
                .backend
                .register(&StateDescriptor {
                    name: "l".into(),
                    kind: StateKind::Value,
                    ttl: None,
                })
                .unwrap();
            let list_only: RestoredOperatorState = RestoredOperatorState {
                entries: restored
                    .entries
                    .iter()
                    .filter(|e| e.state == "l")
                    .cloned()
                    .collect(),
                ..RestoredOperatorState::default()
            };
            let error =
                restore_keyed(&list_only, target.backend.as_mut(), &mut target.timers).unwrap_err();
            assert!(
                matches!(error, StateError::RestoredKind { .. }),
                "{kind:?}: {error}"
            );
        }
    }

    /// A small whole file with entries, timers and broadcast state.
    fn small_file() -> Vec<u8> {
        let all = KeyGroupRange::all(MAX_PARALLELISM);
        let clock = TtlClock::manual(1_000);
        let mut subject = open(Kind::Memory, all, &clock);
        fill(&mut subject, &clock, 3);
        let mut taken = snapshot(&mut subject);
        taken.broadcast = Some(BroadcastSnapshot {
            entries: vec![("rules".into(), b"k".to_vec(), b"v".to_vec())],
        });
        write(taken).0
    }

    fn reason(file: &[u8]) -> String {
        let mut restored = RestoredOperatorState::default();
        let error = decode_into(
            &mut restored,
            file,
            &KeyGroupRange::all(MAX_PARALLELISM),
            true,
        )
        .unwrap_err();
        assert!(restored.entries.is_empty() && restored.timers.is_empty());
        match error {
            CheckpointError::UnreadableState { reason } => reason,
            other => panic!("not UnreadableState: {other}"),
        }
    }

    #[test]
    fn a_truncated_file_is_refused_saying_so() {
        let file = small_file();
        let mut restored = RestoredOperatorState::default();
        decode_into(
            &mut restored,
            &file,
            &KeyGroupRange::all(MAX_PARALLELISM),
            true,
        )
        .unwrap();
        assert_eq!(restored.broadcast.len(), 1);
        // Frame boundaries, where a cut leaves only whole frames.
        let mut boundaries = Vec::new();
        let mut at = 0;
        while at < file.len() {
            at += 4 + u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            boundaries.push(at);
        }
        assert_eq!(at, file.len());
        assert!(
            boundaries.len() >= 5,
            "header, entries, timers, broadcast, end"
        );
        let mut cuts: Vec<usize> = (0..file.len()).step_by(7).collect();
        cuts.extend(boundaries.iter().copied().filter(|&b| b < file.len()));
        cuts.extend([1, 3, 4, 5, file.len() - 1]);
        for cut in cuts {
            let reason = reason(&file[..cut]);
            let expected = if cut == 0 { "empty" } else { "truncated" };
            assert!(reason.contains(expected), "cut at {cut}: {reason}");
        }
        assert_eq!(
            reason(&file[..boundaries[1]]),
            "it ends after frame 2 without its end frame (the file is truncated)"
        );
        let error = decode_into(
            &mut RestoredOperatorState::default(),
            &file[..10],
            &KeyGroupRange::all(MAX_PARALLELISM),
            true,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "an operator state file cannot be read: it ends inside its header, after 10 bytes (the file is truncated)"
        );
    }

    #[test]
    fn a_file_that_is_not_a_state_file_is_refused_saying_so() {
        let not_a_state_file = "it does not start with an eddy operator state header (it is not a state file, or its start is damaged)";
        assert_eq!(reason(b"{\"job\": \"not state\"}"), not_a_state_file);
        let mut noise = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push(x as u8);
        }
        assert_eq!(reason(&noise), not_a_state_file);
        assert_eq!(reason(&[0, 0, 0, 0]), not_a_state_file);

        // Another version of the format.
        let header = Frame::Header {
            magic: MAGIC.into(),
            version: 2,
        };
        let future = encode_frame(&header, Vec::new()).unwrap();
        assert_eq!(
            reason(&future),
            "it was written in state file format version 2; this eddy reads version 1"
        );

        // Damage after a good start: bytes after the end, an undecodable
        // frame, counts that do not add up.
        let file = small_file();
        let mut longer = file.clone();
        longer.extend_from_slice(b"junk");
        assert_eq!(reason(&longer), "4 bytes follow its end frame");
        let header_len = header_frame().len();
        let mut damaged = file.clone();
        damaged[header_len + 4] = 0xFF; // the second frame's variant
        assert!(
            reason(&damaged).starts_with("frame 2 cannot be decoded"),
            "{}",
            reason(&damaged)
        );
        let end = encode_frame(
            &Frame::End {
                entries: 1,
                timers: 0,
                broadcast: 0,
            },
            Vec::new(),
        )
        .unwrap();
        let mut miscounted = header_frame();
        miscounted.extend_from_slice(&end);
        assert!(reason(&miscounted).starts_with("its end frame counts 1 entries"));
    }

    #[cfg(feature = "rocksdb")]
    #[test]
    fn large_state_is_written_in_bounded_frames() {
        let all = KeyGroupRange::all(MAX_PARALLELISM);
        let clock = TtlClock::manual(1_000);
        let mut subject = open(Kind::RocksDb, all.clone(), &clock);
        let ids = register(&mut subject);
        let big = vec![7u8; 64 << 10];
        let mut count = 0;
        for i in 0..20_000u32 {
            let key = i.to_be_bytes();
            // Most in one key group, so that chunks fill up.
            let kg = if i < 19_000 { 5 } else { (i % 128) as u16 };
            let value: &[u8] = if i < 40 { &big } else { b"v" };
            subject
                .backend
                .value_set(ids[0], StateKey::new(kg, &key, b""), value)
                .unwrap();
            subject
                .timers
                .register(
                    TimeDomain::EventTime,
                    Timer::keyed(i64::from(i % 50), kg, key.to_vec()),
                )
                .unwrap();
            count += 1;
        }
        let (file, written) = write(snapshot(&mut subject));
        assert_eq!((written.entries, written.timers), (count, count));
        let mut at = 0;
        let mut frames = 0;
        while at < file.len() {
            let len = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            assert!(
                len < MAX_FRAME_BYTES + (64 << 10) + 1024,
                "frame of {len} bytes"
            );
            let frame: Frame = postcard::from_bytes(&file[at + 4..at + 4 + len]).unwrap();
            if let Frame::Entries { entries: items, .. } = &frame {
                assert!(items.len() <= MAX_FRAME_ITEMS);
            }
            if let Frame::Timers { timers: items, .. } = &frame {
                assert!(items.len() <= MAX_FRAME_ITEMS);
            }
            at += 4 + len;
            frames += 1;
        }
        assert!(frames > 40, "{frames} frames");
        let restored = read(&[&file], &all);
        assert_eq!(restored.entries.len() as u64, count);
        assert_eq!(restored.timers.len() as u64, count);
    }
}
