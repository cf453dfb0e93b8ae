//! The window operator, with Flink's `WindowOperator` semantics: records are
//! assigned to windows per key, window contents live in keyed state under
//! the window's namespace, timers at `end - 1` fire windows, records within
//! the allowed lateness fire their window again, and anything later goes to
//! the late side output. The per-window work is the guest's: incremental
//! (`aggregate` world) or over all elements (`window-process`).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::job::{WindowDef, WindowKind, WindowTime};
use crate::operators::keyed_guest::{KeyedGuest, TimerAccess};
use crate::runtime::operator::{
    Collector, FunctionReplacement, Operator, OperatorError, keyed_snapshot,
};
use crate::runtime::record::{NO_TIMESTAMP, Record};
use crate::snapshot::{OperatorSnapshot, RestoredOperatorState};
use crate::state::{
    StateBackend, StateDescriptor, StateId, StateKey, StateKind, key_group_of, restore_keyed,
};
use crate::time::watermark::NO_WATERMARK;
use crate::time::{TimeDomain, Timer, TimerService, processing_time_now};
use crate::wasm::layout::{AggregateBatchEncoder, WindowResultsEncoder, split_length_prefixed};
use crate::wasm::{GuestFailure, GuestInstance};

use super::{MergingWindowSet, TimeWindow, WindowAssigner};

/// The one window of every key of a count-window operator.
const GLOBAL_WINDOW: TimeWindow = TimeWindow {
    start: i64::MIN,
    end: i64::MAX,
};

/// Where the per-window work happens.
pub enum WindowFunction {
    /// An `aggregate` world guest: one accumulator per window.
    Aggregate(AggregateGuest),
    /// A `window-process` guest: every element, when the window fires.
    Process(Box<KeyedGuest>),
}

/// The calls of the `aggregate` world over its byte layouts
/// (`wit/README.md`): a guest, or a native twin in benchmarks.
pub trait AggregateCalls: Send {
    fn create_accumulator(&mut self) -> Result<Vec<u8>, GuestFailure>;
    fn add_batch(&mut self, groups: &[u8]) -> Result<Vec<u8>, GuestFailure>;
    fn merge(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, GuestFailure>;
    fn get_results(&mut self, windows: &[u8]) -> Result<Vec<u8>, GuestFailure>;
}

impl AggregateCalls for GuestInstance {
    fn create_accumulator(&mut self) -> Result<Vec<u8>, GuestFailure> {
        GuestInstance::create_accumulator(self)
    }

    fn add_batch(&mut self, groups: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        GuestInstance::add_batch(self, groups)
    }

    fn merge(&mut self, a: &[u8], b: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        GuestInstance::merge(self, a, b)
    }

    fn get_results(&mut self, windows: &[u8]) -> Result<Vec<u8>, GuestFailure> {
        GuestInstance::get_results(self, windows)
    }
}

/// An aggregate function with the state backend of its operator (the
/// function itself never touches state).
pub struct AggregateGuest {
    guest: Box<dyn AggregateCalls>,
    backend: Box<dyn StateBackend>,
    /// `create-accumulator`, asked once.
    empty: Vec<u8>,
    adds: AggregateBatchEncoder,
    results: WindowResultsEncoder,
}

impl AggregateGuest {
    pub fn new(
        mut guest: Box<dyn AggregateCalls>,
        backend: Box<dyn StateBackend>,
    ) -> Result<Self, OperatorError> {
        let empty = guest.create_accumulator()?;
        Ok(AggregateGuest {
            guest,
            backend,
            empty,
            adds: AggregateBatchEncoder::default(),
            results: WindowResultsEncoder::default(),
        })
    }
}

impl WindowFunction {
    fn backend(&mut self) -> &mut dyn StateBackend {
        match self {
            WindowFunction::Aggregate(a) => a.backend.as_mut(),
            WindowFunction::Process(p) => p.backend(),
        }
    }

    fn contents_kind(&self) -> StateKind {
        match self {
            WindowFunction::Aggregate(_) => StateKind::Value,
            WindowFunction::Process(_) => StateKind::List,
        }
    }
}

/// The entries of an aggregate's answer, which must be one per item asked.
fn one_per_item(
    output: &[u8],
    expected: usize,
    what: &str,
    per: &str,
) -> Result<Vec<Vec<u8>>, OperatorError> {
    let entries = split_length_prefixed(output).map_err(GuestFailure::from)?;
    if entries.len() != expected {
        return Err(OperatorError::Record(format!(
            "aggregate returned {} {what} for {expected} {per}",
            entries.len()
        )));
    }
    Ok(entries)
}

/// A window of one key that must fire, and where its contents are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Firing {
    key_group: u16,
    key: Vec<u8>,
    window: TimeWindow,
    state_window: TimeWindow,
    /// Timestamp of what the firing emits.
    timestamp: i64,
}

/// Inputs waiting for one `add-batch` call, grouped by key and state window.
///
/// Flat and reused from batch to batch: a record costs no allocation beyond
/// its group's key when the group is new, and one hash of its key.
#[derive(Default)]
struct PendingAdds {
    groups: Vec<PendingGroup>,
    /// Indices into `groups`, hashed by key and state window.
    index: HashTable<usize>,
    /// Every input of the batch; each group chains its own through `next`.
    inputs: Vec<PendingInput>,
    hasher: DefaultHashBuilder,
    /// The earliest end (`max_timestamp`) of a window waiting here, whose
    /// timer may not be registered yet (it is when the accumulator is made).
    earliest_end: Option<i64>,
    /// Reused for each group's stored accumulator as it is read.
    accumulator: Vec<u8>,
}

fn group_hash(hasher: &DefaultHashBuilder, key: &[u8], window: TimeWindow) -> u64 {
    hasher.hash_one((key, window.start, window.end))
}

/// The inputs of one accumulator.
struct PendingGroup {
    key_group: u16,
    key: Vec<u8>,
    state_window: TimeWindow,
    /// First and last of its inputs in `PendingAdds::inputs`.
    first: usize,
    last: usize,
}

/// One input of a group, in arrival order through `next`.
struct PendingInput {
    timestamp: i64,
    value: Vec<u8>,
    next: Option<usize>,
}

impl PendingAdds {
    /// Queue `value` for the accumulator of (`key`, `state_window`).
    fn push(
        &mut self,
        key_group: u16,
        key: &[u8],
        state_window: TimeWindow,
        timestamp: i64,
        value: Vec<u8>,
    ) {
        let end = state_window.max_timestamp();
        self.earliest_end = Some(self.earliest_end.map_or(end, |e| e.min(end)));
        let input = self.inputs.len();
        self.inputs.push(PendingInput {
            timestamp,
            value,
            next: None,
        });
        let hash = group_hash(&self.hasher, key, state_window);
        let groups = &mut self.groups;
        let found = self.index.find(hash, |&g| {
            groups[g].state_window == state_window && groups[g].key == key
        });
        match found {
            Some(&group) => {
                let last = std::mem::replace(&mut groups[group].last, input);
                self.inputs[last].next = Some(input);
            }
            None => {
                groups.push(PendingGroup {
                    key_group,
                    key: key.to_vec(),
                    state_window,
                    first: input,
                    last: input,
                });
                let hasher = &self.hasher;
                self.index.insert_unique(hash, groups.len() - 1, |&g| {
                    let group = &groups[g];
                    group_hash(hasher, &group.key, group.state_window)
                });
            }
        }
    }

    /// The inputs of `group`, in arrival order.
    fn inputs_of(&self, group: &PendingGroup) -> impl Iterator<Item = &PendingInput> {
        std::iter::successors(Some(&self.inputs[group.first]), |input| {
            input.next.map(|next| &self.inputs[next])
        })
    }

    fn clear(&mut self) {
        self.earliest_end = None;
        self.groups.clear();
        self.index.clear();
        self.inputs.clear();
    }
}

/// A keyed window operator for one subtask.
pub struct WindowOperator {
    function: WindowFunction,
    def: WindowDef,
    contents: StateId,
    /// Session windows of each key (merging assigners only).
    sessions: Option<StateId>,
    /// Elements in the count window of each key (count windows only).
    counts: Option<StateId>,
    timers: TimerService,
    watermark: i64,
    max_parallelism: u32,
    max_batch: usize,
    /// The late-data side output first, then the guest's own.
    side_outputs: Vec<String>,
    pending: PendingAdds,
    /// Windows that fire at once in this batch (late firings).
    late_firings: Vec<Firing>,
    /// Scratch list of the windows of one record.
    assigned: Vec<TimeWindow>,
    /// Scratch list of (window, state window) a record goes to.
    targets: Vec<(TimeWindow, TimeWindow)>,
}

impl WindowOperator {
    pub fn new(
        mut function: WindowFunction,
        def: WindowDef,
        max_parallelism: u32,
        max_batch: usize,
    ) -> Result<Self, OperatorError> {
        let kind = function.contents_kind();
        let backend = function.backend();
        let mut register = |name: &str, kind| {
            backend.register(&StateDescriptor {
                name: name.into(),
                kind,
                ttl: None,
            })
        };
        let contents = register("eddy.window-contents", kind)?;
        let sessions = match def.kind {
            WindowKind::Time(assigner) if assigner.is_merging() => {
                Some(register("eddy.window-sessions", StateKind::Value)?)
            }
            _ => None,
        };
        let counts = match def.kind {
            WindowKind::Count(_) => Some(register("eddy.window-count", StateKind::Value)?),
            WindowKind::Time(_) => None,
        };
        let timers = function.backend().timer_service()?;
        let mut side_outputs = vec![def.late_output.clone()];
        if let WindowFunction::Process(guest) = &function {
            side_outputs.extend(guest.side_outputs().iter().cloned());
        }
        Ok(WindowOperator {
            function,
            def,
            contents,
            sessions,
            counts,
            timers,
            watermark: NO_WATERMARK,
            max_parallelism,
            max_batch: max_batch.max(1),
            side_outputs,
            pending: PendingAdds::default(),
            late_firings: Vec::new(),
            assigned: Vec::new(),
            targets: Vec::new(),
        })
    }

    fn domain(&self) -> TimeDomain {
        match self.def.time {
            WindowTime::Event => TimeDomain::EventTime,
            WindowTime::Processing => TimeDomain::ProcessingTime,
        }
    }

    /// Move to `watermark` if it is ahead. Windows due at it fire first
    /// (their results go out at the watermark from before); the inputs
    /// waiting for one `add-batch` call go in before that, since they came
    /// before the watermark. Most records move the watermark without
    /// anything falling due, and then the batch goes on unbroken.
    fn advance(&mut self, watermark: i64, out: &mut Collector) -> Result<(), OperatorError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        let before = self.watermark;
        let due = self.def.time == WindowTime::Event
            && self
                .timers
                .next_event_time()
                .into_iter()
                .chain(self.pending.earliest_end)
                .any(|t| t <= watermark);
        if due {
            self.flush_adds()?;
        }
        self.watermark = watermark;
        if due {
            self.on_time(TimeDomain::EventTime, watermark, before, out)?;
        }
        Ok(())
    }

    /// Flink's `isWindowLate`: its state is gone, or will be at this watermark.
    fn is_late(&self, window: &TimeWindow) -> bool {
        self.def.time == WindowTime::Event
            && window
                .max_timestamp()
                .saturating_add(self.def.allowed_lateness)
                <= self.watermark
    }

    fn cleanup_time(&self, window: &TimeWindow) -> i64 {
        window
            .max_timestamp()
            .saturating_add(self.def.allowed_lateness)
    }

    /// Register the firing and cleanup timers of `window`, and note that it
    /// fires at once if its end already passed (a late firing).
    fn schedule(
        &mut self,
        key_group: u16,
        key: &[u8],
        window: TimeWindow,
        state_window: TimeWindow,
    ) -> Result<(), OperatorError> {
        self.fire_if_late(key_group, key, window, state_window);
        self.register_timers(key_group, key, window)
    }

    /// A window whose end the watermark already passed fires at once, after
    /// the record that came for it.
    fn fire_if_late(
        &mut self,
        key_group: u16,
        key: &[u8],
        window: TimeWindow,
        state_window: TimeWindow,
    ) {
        if self.domain() == TimeDomain::EventTime && window.max_timestamp() <= self.watermark {
            let firing = Firing {
                key_group,
                key: key.to_vec(),
                window,
                state_window,
                timestamp: window.max_timestamp(),
            };
            if !self.late_firings.contains(&firing) {
                self.late_firings.push(firing);
            }
        }
    }

    /// The timers of `window`: firing at `end - 1` unless that already
    /// passed, cleanup at `end - 1 + allowed_lateness` when that differs.
    fn register_timers(
        &mut self,
        key_group: u16,
        key: &[u8],
        window: TimeWindow,
    ) -> Result<(), OperatorError> {
        let domain = self.domain();
        let timer = |timestamp| Timer {
            timestamp,
            key_group,
            key: key.to_vec(),
            namespace: window.namespace().to_vec(),
        };
        if domain == TimeDomain::ProcessingTime || window.max_timestamp() > self.watermark {
            self.timers
                .register(domain, timer(window.max_timestamp()))?;
        }
        if self.def.allowed_lateness > 0 {
            self.timers
                .register(domain, timer(self.cleanup_time(&window)))?;
        }
        Ok(())
    }

    /// Whether a window's timers are registered when its accumulator is
    /// created (in `flush_adds`) rather than for every record: aggregates of
    /// windows that never merge, the common and hot case.
    fn timers_on_create(&self) -> bool {
        matches!(self.function, WindowFunction::Aggregate(_)) && self.sessions.is_none()
    }

    fn unschedule(
        &mut self,
        key_group: u16,
        key: &[u8],
        window: TimeWindow,
    ) -> Result<(), OperatorError> {
        let domain = self.domain();
        for timestamp in [window.max_timestamp(), self.cleanup_time(&window)] {
            self.timers.delete(
                domain,
                &Timer {
                    timestamp,
                    key_group,
                    key: key.to_vec(),
                    namespace: window.namespace().to_vec(),
                },
            )?;
        }
        Ok(())
    }

    /// Add one element to the contents of `state_window`.
    fn add(
        &mut self,
        key_group: u16,
        key: &[u8],
        state_window: TimeWindow,
        timestamp: i64,
        value: Vec<u8>,
    ) -> Result<(), OperatorError> {
        match &mut self.function {
            WindowFunction::Aggregate(_) => {
                self.pending
                    .push(key_group, key, state_window, timestamp, value);
            }
            WindowFunction::Process(guest) => {
                let mut element = Vec::with_capacity(8 + value.len());
                element.extend_from_slice(&timestamp.to_le_bytes());
                element.extend_from_slice(&value);
                let namespace = state_window.namespace();
                let at = StateKey::new(key_group, key, &namespace);
                guest.backend().list_add(self.contents, at, &element)?;
            }
        }
        Ok(())
    }

    /// Run the waiting inputs through one `add-batch` call.
    fn flush_adds(&mut self) -> Result<(), OperatorError> {
        let WindowFunction::Aggregate(aggregate) = &mut self.function else {
            return Ok(());
        };
        if self.pending.groups.is_empty() {
            return Ok(());
        }
        // Taken for the call and put back cleared, so its buffers are reused.
        let mut pending = std::mem::take(&mut self.pending);
        let groups = &pending.groups;
        let mut stored = std::mem::take(&mut pending.accumulator);
        aggregate.adds.begin();
        let mut created = Vec::with_capacity(groups.len());
        for group in groups {
            let namespace = group.state_window.namespace();
            let at = StateKey::new(group.key_group, &group.key, &namespace);
            let found = (aggregate.backend).value_get_into(self.contents, at, &mut stored)?;
            created.push(!found);
            aggregate
                .adds
                .group(if found { &stored } else { &aggregate.empty });
            for input in pending.inputs_of(group) {
                aggregate.adds.input(input.timestamp, &input.value);
            }
        }
        pending.accumulator = stored;
        let output = aggregate.guest.add_batch(aggregate.adds.finish())?;
        let accumulators = one_per_item(&output, groups.len(), "accumulators", "groups")?;
        let timers_on_create = self.timers_on_create();
        for (group, (accumulator, created)) in
            groups.iter().zip(accumulators.into_iter().zip(created))
        {
            if timers_on_create && created {
                self.register_timers(group.key_group, &group.key, group.state_window)?;
            }
            let WindowFunction::Aggregate(aggregate) = &mut self.function else {
                unreachable!("checked at the start");
            };
            let namespace = group.state_window.namespace();
            let at = StateKey::new(group.key_group, &group.key, &namespace);
            aggregate
                .backend
                .value_set(self.contents, at, &accumulator)?;
        }
        pending.clear();
        self.pending = pending;
        Ok(())
    }

    /// Fold the contents of `from` into `into` and clear `from` (sessions merging).
    fn merge_contents(
        &mut self,
        key_group: u16,
        key: &[u8],
        into: TimeWindow,
        from: &[TimeWindow],
    ) -> Result<(), OperatorError> {
        self.flush_adds()?;
        let contents = self.contents;
        let into_ns = into.namespace();
        let into_at = StateKey::new(key_group, key, &into_ns);
        for window in from {
            let namespace = window.namespace();
            let at = StateKey::new(key_group, key, &namespace);
            match &mut self.function {
                WindowFunction::Aggregate(aggregate) => {
                    let Some(theirs) = aggregate.backend.value_get(contents, at)? else {
                        continue;
                    };
                    let ours = aggregate.backend.value_get(contents, into_at)?;
                    let merged = match ours {
                        Some(ours) => aggregate.guest.merge(&ours, &theirs)?,
                        None => theirs,
                    };
                    aggregate.backend.value_set(contents, into_at, &merged)?;
                }
                WindowFunction::Process(guest) => {
                    let backend = guest.backend();
                    for element in backend.list_get(contents, at)? {
                        backend.list_add(contents, into_at, &element)?;
                    }
                }
            }
            self.function.backend().clear(contents, at)?;
        }
        Ok(())
    }

    fn load_sessions(
        &mut self,
        key_group: u16,
        key: &[u8],
    ) -> Result<MergingWindowSet, OperatorError> {
        let state = self.sessions.expect("merging assigners have session state");
        let at = StateKey::new(key_group, key, b"");
        match self.function.backend().value_get(state, at)? {
            None => Ok(MergingWindowSet::default()),
            Some(bytes) => MergingWindowSet::decode(&bytes).ok_or_else(|| {
                OperatorError::Record("the stored session windows of a key are corrupt".into())
            }),
        }
    }

    fn store_sessions(
        &mut self,
        key_group: u16,
        key: &[u8],
        set: &MergingWindowSet,
    ) -> Result<(), OperatorError> {
        let state = self.sessions.expect("merging assigners have session state");
        let at = StateKey::new(key_group, key, b"");
        let backend = self.function.backend();
        if set.is_empty() {
            backend.clear(state, at)?;
        } else {
            backend.value_set(state, at, &set.encode())?;
        }
        Ok(())
    }

    /// Assign one record of a time-window operator; returns whether any
    /// window took it (otherwise it is late).
    fn assign_to_time_windows(
        &mut self,
        assigner: WindowAssigner,
        key_group: u16,
        key: &[u8],
        timestamp: i64,
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, OperatorError> {
        // Scratch lists kept between records: nothing is allocated per record.
        let mut windows = std::mem::take(&mut self.assigned);
        let mut targets = std::mem::take(&mut self.targets);
        windows.clear();
        targets.clear();
        assigner.assign(timestamp, &mut windows);
        let result = self
            .target_windows(assigner, key_group, key, &windows, &mut targets)
            .and_then(|()| {
                targets.retain(|(window, _)| !self.is_late(window));
                self.add_to_windows(key_group, key, &targets, timestamp, value)
            });
        self.assigned = windows;
        self.targets = targets;
        result
    }

    /// The (window, state window) pairs a record assigned to `windows` goes
    /// to; for sessions, after merging with the key's live sessions.
    fn target_windows(
        &mut self,
        assigner: WindowAssigner,
        key_group: u16,
        key: &[u8],
        windows: &[TimeWindow],
        targets: &mut Vec<(TimeWindow, TimeWindow)>,
    ) -> Result<(), OperatorError> {
        if !assigner.is_merging() {
            targets.extend(windows.iter().map(|w| (*w, *w)));
            return Ok(());
        }
        let mut set = self.load_sessions(key_group, key)?;
        let merge = set.add(windows[0]);
        if self.is_late(&merge.window) {
            // Only a fresh window can be late: live ones are cleaned up
            // (and removed) before the watermark passes their lateness.
            set.remove(&merge.window);
        } else {
            for replaced in &merge.replaced_windows {
                self.unschedule(key_group, key, *replaced)?;
            }
            if !merge.merged_state_windows.is_empty() {
                self.merge_contents(
                    key_group,
                    key,
                    merge.state_window,
                    &merge.merged_state_windows,
                )?;
            }
            targets.push((merge.window, merge.state_window));
        }
        self.store_sessions(key_group, key, &set)
    }

    /// Add the record to each of `targets` and schedule them; gives the
    /// value back when there is none (the record is late).
    fn add_to_windows(
        &mut self,
        key_group: u16,
        key: &[u8],
        targets: &[(TimeWindow, TimeWindow)],
        timestamp: i64,
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, OperatorError> {
        let timers_on_create = self.timers_on_create();
        let mut value = Some(value);
        for (i, (window, state_window)) in targets.iter().enumerate() {
            let element = if i + 1 == targets.len() {
                value.take()
            } else {
                value.clone()
            };
            let element = element.expect("the value is taken by the last window only");
            self.add(key_group, key, *state_window, timestamp, element)?;
            if timers_on_create {
                self.fire_if_late(key_group, key, *window, *state_window);
            } else {
                self.schedule(key_group, key, *window, *state_window)?;
            }
        }
        Ok(value)
    }

    /// Count one record into its key's count window; fires and purges it when full.
    fn count_into_global_window(
        &mut self,
        size: u64,
        key_group: u16,
        key: &[u8],
        timestamp: i64,
        value: Vec<u8>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let state = self.counts.expect("count windows have count state");
        self.add(key_group, key, GLOBAL_WINDOW, timestamp, value)?;
        let at = StateKey::new(key_group, key, b"");
        let backend = self.function.backend();
        let count = backend
            .value_get(state, at)?
            .and_then(|b| b.try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0)
            + 1;
        if count < size {
            backend.value_set(state, at, &count.to_le_bytes())?;
            return Ok(());
        }
        backend.clear(state, at)?;
        self.flush_adds()?;
        let firing = Firing {
            key_group,
            key: key.to_vec(),
            window: GLOBAL_WINDOW,
            state_window: GLOBAL_WINDOW,
            timestamp,
        };
        let emit_at = self.watermark;
        self.fire(std::slice::from_ref(&firing), emit_at, out)?;
        self.clean(std::slice::from_ref(&firing))
    }

    /// Emit the results of `firings` (one guest call for all of them).
    /// Emit the results of `firings` at `emit_at`, the watermark of the
    /// output stream where they go.
    fn fire(
        &mut self,
        firings: &[Firing],
        emit_at: i64,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let mark = out.mark();
        self.fire_unstamped(firings, emit_at, out)?;
        out.stamp_since(&mark, emit_at);
        Ok(())
    }

    fn fire_unstamped(
        &mut self,
        firings: &[Firing],
        emit_at: i64,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let contents = self.contents;
        let watermark = self.watermark;
        match &mut self.function {
            WindowFunction::Aggregate(aggregate) => {
                aggregate.results.begin();
                let mut timestamps = Vec::with_capacity(firings.len());
                for firing in firings {
                    let namespace = firing.state_window.namespace();
                    let at = StateKey::new(firing.key_group, &firing.key, &namespace);
                    if let Some(accumulator) = aggregate.backend.value_get(contents, at)? {
                        aggregate.results.window(
                            &firing.key,
                            firing.window.start,
                            firing.window.end,
                            &accumulator,
                        );
                        timestamps.push(firing.timestamp);
                    }
                }
                if aggregate.results.is_empty() {
                    return Ok(());
                }
                let output = aggregate.guest.get_results(aggregate.results.finish())?;
                let results = one_per_item(&output, timestamps.len(), "results", "windows")?;
                out.main.extend(
                    results
                        .into_iter()
                        .zip(timestamps)
                        .map(|(value, timestamp)| Record::new(value, timestamp)),
                );
            }
            WindowFunction::Process(guest) => {
                let mut elements = Vec::with_capacity(firings.len());
                for firing in firings {
                    let namespace = firing.state_window.namespace();
                    let at = StateKey::new(firing.key_group, &firing.key, &namespace);
                    elements.push(guest.backend().list_get(contents, at)?);
                }
                let fired: Vec<(&Firing, Vec<Vec<u8>>)> = firings
                    .iter()
                    .zip(elements)
                    .filter(|(_, elements)| !elements.is_empty())
                    .collect();
                if fired.is_empty() {
                    return Ok(());
                }
                let refs =
                    guest.key_entries(fired.iter().map(|(f, _)| (f.key_group, f.key.as_slice())));
                let encoder = guest.begin(watermark)?;
                for ((firing, elements), key_ref) in fired.iter().zip(&refs) {
                    let decoded = elements.iter().map(|element| {
                        let (timestamp, value) = element.split_at(8);
                        let timestamp = i64::from_le_bytes(timestamp.try_into().expect("8 bytes"));
                        (timestamp, value)
                    });
                    encoder.window(*key_ref, firing.window.start, firing.window.end, decoded);
                }
                for (firing, _) in &fired {
                    guest.event(firing.timestamp, emit_at);
                }
                // The guest's side outputs come after the late-data output.
                let mut guest_out = Collector::with_side_outputs(out.side.len() - 1);
                guest.call(
                    None,
                    TimerAccess::Refused(
                        "a window function cannot set or delete timers; windows fire by their own triggers",
                    ),
                    &mut guest_out,
                )?;
                out.main.append(&mut guest_out.main);
                for (side, records) in guest_out.side.into_iter().enumerate() {
                    out.side[side + 1].extend(records);
                }
            }
        }
        Ok(())
    }

    /// Drop the contents of windows whose lateness passed.
    fn clean(&mut self, windows: &[Firing]) -> Result<(), OperatorError> {
        let contents = self.contents;
        for firing in windows {
            let namespace = firing.state_window.namespace();
            let at = StateKey::new(firing.key_group, &firing.key, &namespace);
            self.function.backend().clear(contents, at)?;
            if self.sessions.is_some() {
                let mut set = self.load_sessions(firing.key_group, &firing.key)?;
                set.remove(&firing.window);
                self.store_sessions(firing.key_group, &firing.key, &set)?;
            }
        }
        Ok(())
    }

    /// Fire and clean up every window whose timers are due at `time`.
    /// Fire and clean up every window whose timers are due at `time`; what
    /// fires goes out at `emit_at`.
    fn on_time(
        &mut self,
        domain: TimeDomain,
        time: i64,
        emit_at: i64,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        loop {
            let due = self.timers.pop_due(domain, time, self.max_batch)?;
            if due.is_empty() {
                return Ok(());
            }
            let mut firings = Vec::new();
            let mut cleanups = Vec::new();
            for timer in due {
                let window = TimeWindow::from_namespace(&timer.namespace).ok_or_else(|| {
                    OperatorError::Record("a window timer has a corrupt namespace".into())
                })?;
                let state_window = if self.sessions.is_some() {
                    match self
                        .load_sessions(timer.key_group, &timer.key)?
                        .state_window(&window)
                    {
                        Some(state_window) => state_window,
                        // Merged into another session since the timer was set.
                        None => continue,
                    }
                } else {
                    window
                };
                let firing = Firing {
                    key_group: timer.key_group,
                    key: timer.key,
                    window,
                    state_window,
                    timestamp: window.max_timestamp(),
                };
                if timer.timestamp == self.cleanup_time(&window) {
                    cleanups.push(firing.clone());
                }
                if timer.timestamp == window.max_timestamp() {
                    firings.push(firing);
                }
            }
            self.fire(&firings, emit_at, out)?;
            self.clean(&cleanups)?;
        }
    }
}

impl Operator for WindowOperator {
    fn replace_function(&mut self, replacement: FunctionReplacement) -> Result<(), OperatorError> {
        match &mut self.function {
            WindowFunction::Process(guest) => {
                guest.replace(replacement.instance, &replacement.descriptor)
            }
            WindowFunction::Aggregate(aggregate) => {
                // Accumulators stay as they are: the new version must read
                // the old one's (they are not versioned yet).
                aggregate.guest = Box::new(replacement.instance);
                aggregate.empty = aggregate.guest.create_accumulator()?;
                Ok(())
            }
        }
    }

    fn process(&mut self, input: Vec<Record>, out: &mut Collector) -> Result<(), OperatorError> {
        let now = processing_time_now();
        for record in input {
            let Record {
                value,
                timestamp,
                key,
                watermark,
            } = record;
            self.advance(watermark, out)?;
            let key = key.ok_or_else(|| {
                OperatorError::Record("a window operator received a record without key".into())
            })?;
            let key_group = key_group_of(&key, self.max_parallelism);
            match self.def.kind {
                WindowKind::Count(size) => {
                    self.count_into_global_window(size, key_group, &key, timestamp, value, out)?;
                }
                WindowKind::Time(assigner) => {
                    let time = match self.def.time {
                        WindowTime::Processing => now,
                        WindowTime::Event if timestamp == NO_TIMESTAMP => {
                            return Err(OperatorError::Record(
                                "an event-time window received a record without timestamp; set `timestamp` on the source, or use `time = \"processing\"` in the window".into(),
                            ));
                        }
                        WindowTime::Event => timestamp,
                    };
                    if let Some(value) =
                        self.assign_to_time_windows(assigner, key_group, &key, time, value)?
                    {
                        out.side[0].push(Record::at_watermark(value, timestamp, self.watermark));
                    }
                }
            }
            if !self.late_firings.is_empty() {
                // A late firing happens at once, with this record in it and
                // before the next one comes.
                self.flush_adds()?;
                let late_firings = std::mem::take(&mut self.late_firings);
                let emit_at = self.watermark;
                self.fire(&late_firings, emit_at, out)?;
            }
        }
        self.flush_adds()
    }

    fn on_end_of_input(&mut self, out: &mut Collector) -> Result<(), OperatorError> {
        // A bounded input is complete: processing-time windows fire now
        // rather than never (event-time ones fired with the final watermark).
        let emit_at = self.watermark;
        self.on_time(TimeDomain::ProcessingTime, i64::MAX, emit_at, out)
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Collector) -> Result<(), OperatorError> {
        self.advance(watermark, out)
    }

    fn on_processing_time(&mut self, now: i64, out: &mut Collector) -> Result<(), OperatorError> {
        let emit_at = self.watermark;
        self.on_time(TimeDomain::ProcessingTime, now, emit_at, out)
    }

    fn next_processing_time(&self) -> Option<i64> {
        self.timers.next_processing_time()
    }

    fn side_outputs(&self) -> &[String] {
        &self.side_outputs
    }
    fn snapshot_state(
        &mut self,
        scratch: &std::path::Path,
    ) -> Result<Option<OperatorSnapshot>, OperatorError> {
        keyed_snapshot(
            self.function.backend(),
            &self.timers,
            self.watermark,
            scratch,
        )
        .map(Some)
    }

    fn restore_state(&mut self, state: RestoredOperatorState) -> Result<(), OperatorError> {
        self.watermark = restore_keyed(&state, self.function.backend(), &mut self.timers)?;
        Ok(())
    }
}
