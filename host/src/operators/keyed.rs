//! Keyed process, co-process and broadcast-process functions: batches of
//! many keys go to the guest with their value state; timers, state updates
//! and output come back in one buffer.

use std::ops::Range;

use super::keyed_guest::{KeyedGuest, TimerAccess, earliest_event_timer};
use super::poison::{self, OnFailure, Retry};
use crate::job::InputSide;
use crate::runtime::operator::{
    Collector, FunctionReplacement, Operator, OperatorError, keyed_snapshot,
};
use crate::runtime::record::Record;
use crate::snapshot::{OperatorSnapshot, RestoredOperatorState};
use crate::state::{BroadcastMode, StateBackend, restore_keyed};
use crate::time::watermark::NO_WATERMARK;
use crate::time::{TimeDomain, TimerService};
use crate::wasm::{FunctionDescriptor, GuestInstance};

/// A keyed process function (one input), co-process function (two keyed
/// inputs sharing keyed state and timers) or broadcast-process function (a
/// keyed input and a broadcast one), implemented by a `keyed-process` world guest.
pub struct WasmKeyedProcess {
    guest: KeyedGuest,
    second_input: SecondInput,
    timers: TimerService,
    watermark: i64,
    /// Largest batch of timer firings per call.
    max_batch: usize,
    /// Longest run to try next (see [`Self::process_run`]): halved towards
    /// where runs were cut, doubled after each run that went through.
    run_limit: usize,
    /// What happens to records the guest fails on (keyed records only:
    /// broadcast records and timer firings always fail the task).
    on_failure: OnFailure,
}

/// What records of the second input are, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondInput {
    /// Keyed like the first (co-process), or no second input at all.
    Keyed,
    /// Unkeyed records every subtask receives (broadcast-process).
    Broadcast,
}

impl WasmKeyedProcess {
    /// Wrap `guest`, registering the states it declared with `backend`.
    pub fn new(
        guest: GuestInstance,
        second_input: SecondInput,
        descriptor: &FunctionDescriptor,
        backend: Box<dyn StateBackend>,
        max_parallelism: u32,
        max_batch: usize,
        on_failure: OnFailure,
    ) -> Result<Self, OperatorError> {
        let mut guest = KeyedGuest::new(guest, descriptor, backend, max_parallelism)?;
        if let OnFailure::DeadLetter(_) = on_failure {
            guest.buffer_state_writes();
        }
        let timers = guest.backend().timer_service()?;
        Ok(WasmKeyedProcess {
            guest,
            second_input,
            timers,
            watermark: NO_WATERMARK,
            max_batch: max_batch.max(1),
            run_limit: usize::MAX,
            on_failure,
        })
    }

    /// Send records of one input to the guest, in runs: a run ends before
    /// the first record whose watermark reaches an event-time timer, so
    /// that timer fires between the two, exactly where it would had
    /// records come one by one.
    fn process_side(
        &mut self,
        side: InputSide,
        mut input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        while !input.is_empty() {
            self.advance(input[0].watermark, out)?;
            let end = self.run_end(&input).min(self.run_limit);
            let rest = input.split_off(end);
            let done = if matches!(self.on_failure, OnFailure::DeadLetter(_)) {
                self.isolate_failing_records(side, &mut input, out)?;
                input.len()
            } else {
                self.process_run(side, &mut input, out)
                    .map_err(|error| poison::name_record(error, &input))?
            };
            if done < input.len() {
                // A timer the run set is due before record `done`: that
                // part of the run goes again after it fires.
                let mut again = input.split_off(done);
                again.extend(rest);
                input = again;
            } else {
                input = rest;
            }
        }
        Ok(())
    }

    /// Where the run starting at `input[0]` ends: before the first record
    /// whose watermark moved and reaches the next timer; before any record
    /// whose watermark moved if the guest writes state during calls (such a
    /// call cannot be taken back, see [`Self::process_run`]) or if failing
    /// records are set aside (the search re-runs parts of a run, which must
    /// then all meet one watermark).
    fn run_end(&self, input: &[Record]) -> usize {
        let every_move =
            self.guest.writes_during_calls() || matches!(self.on_failure, OnFailure::DeadLetter(_));
        let next_timer = if every_move {
            i64::MIN
        } else {
            self.timers.next_event_time().unwrap_or(i64::MAX)
        };
        input
            .windows(2)
            .position(|pair| {
                pair[1].watermark > pair[0].watermark && pair[1].watermark >= next_timer
            })
            .map_or(input.len(), |i| i + 1)
    }

    /// Call the guest with one run and apply its output; returns how many
    /// records of the run were processed. If the run set an event-time
    /// timer that a later record's watermark reaches, the call is taken
    /// back (its output holds all its effects) and only the records before
    /// that one go again, so the timer fires in between.
    fn process_run(
        &mut self,
        side: InputSide,
        run: &mut [Record],
        out: &mut Collector,
    ) -> Result<usize, OperatorError> {
        let mut len = run.len();
        loop {
            let records = &mut run[..len];
            let refs = self.guest.key_records(records)?;
            let encoder = self.guest.begin(self.watermark)?;
            for (record, key_ref) in records.iter().zip(&refs) {
                match side {
                    InputSide::First => encoder.record(*key_ref, record.timestamp, &record.value),
                    InputSide::Second => {
                        encoder.second_record(*key_ref, record.timestamp, &record.value)
                    }
                }
            }
            for record in records.iter() {
                self.guest.event(record.timestamp, record.watermark);
            }
            let output = self.guest.call_only()?;
            let cut = match earliest_event_timer(&output)? {
                Some(timer) => records
                    .windows(2)
                    .position(|pair| {
                        pair[1].watermark > pair[0].watermark && pair[1].watermark >= timer
                    })
                    .map(|i| i + 1),
                None => None,
            };
            match cut {
                Some(cut) if !self.guest.writes_during_calls() => {
                    self.guest.drop_call();
                    // Give the records their keys back for the shorter run.
                    for (record, key) in records.iter_mut().zip(self.guest.keys_of(&refs)) {
                        record.key = Some(key);
                    }
                    len = cut;
                    // Runs of this data get cut: try shorter ones first,
                    // so records are not sent again and again.
                    self.run_limit = cut.saturating_mul(2);
                }
                _ => {
                    self.guest.apply(
                        &output,
                        Some(records),
                        TimerAccess::Allowed(&mut self.timers),
                        out,
                    )?;
                    self.run_limit = self.run_limit.saturating_mul(2);
                    return Ok(len);
                }
            }
        }
    }

    /// Move to `watermark` if it is ahead: due event-time timers fire, and
    /// what they emit goes out at the watermark from before.
    fn advance(&mut self, watermark: i64, out: &mut Collector) -> Result<(), OperatorError> {
        if watermark <= self.watermark {
            return Ok(());
        }
        let before = self.watermark;
        self.watermark = watermark;
        if self
            .timers
            .next_event_time()
            .is_some_and(|t| t <= watermark)
        {
            self.fire_timers(TimeDomain::EventTime, watermark, before, out)?;
        }
        Ok(())
    }

    /// Run one run (all at one watermark) with `on_failure = "dead-letter"`:
    /// records the guest fails on are set aside, the rest go on.
    fn isolate_failing_records(
        &mut self,
        side: InputSide,
        run: &mut [Record],
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        let OnFailure::DeadLetter(letters) = &self.on_failure else {
            unreachable!("called for dead-letter operators only");
        };
        // Attempts move keys out of records; each needs them back.
        let keys = run.iter().map(|record| record.key.clone()).collect();
        let len = run.len();
        let mut retry = KeyedRetry {
            call: RecordCall {
                guest: &mut self.guest,
                timers: &mut self.timers,
                watermark: self.watermark,
                side,
            },
            input: run,
            keys,
        };
        poison::run_isolating(&mut retry, len, letters, out)
    }

    /// Send broadcast records to the guest, in a batch of their own in which
    /// it may change broadcast state.
    fn process_broadcast(
        &mut self,
        mut input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        // Broadcast records come in batches of their own; they move the
        // watermark as the first of them stood.
        if let Some(first) = input.first() {
            self.advance(first.watermark, out)?;
        }
        self.guest.no_keys();
        let encoder = self.guest.begin(self.watermark)?;
        for record in &input {
            encoder.broadcast_record(record.timestamp, &record.value);
        }
        for record in &input {
            self.guest.event(record.timestamp, record.watermark);
        }
        self.guest.set_broadcast_mode(BroadcastMode::Writable);
        let result = self.guest.call(
            Some(&mut input),
            TimerAccess::Refused(
                "a broadcast record has no key, so it cannot set or delete timers; set them when processing keyed records",
            ),
            out,
        );
        self.guest.set_broadcast_mode(BroadcastMode::ReadOnly);
        result
    }

    /// Fire every timer of `domain` due at `time`, in timestamp order, in
    /// batches; timers set while firing that are already due fire too.
    fn fire_timers(
        &mut self,
        domain: TimeDomain,
        time: i64,
        watermark: i64,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        loop {
            let due = self.timers.pop_due(domain, time, self.max_batch)?;
            if due.is_empty() {
                return Ok(());
            }
            let refs = self
                .guest
                .key_entries(due.iter().map(|t| (t.key_group, t.key.as_slice())));
            let encoder = self.guest.begin(self.watermark)?;
            for (timer, key_ref) in due.iter().zip(&refs) {
                encoder.timer(*key_ref, timer.timestamp, domain);
            }
            for timer in &due {
                self.guest.event(timer.timestamp, watermark);
            }
            self.guest
                .call(None, TimerAccess::Allowed(&mut self.timers), out)?;
        }
    }

    /// Number of timers registered, by domain (for tests and metrics).
    pub fn timer_count(&self, domain: TimeDomain) -> usize {
        self.timers.len(domain)
    }
}

/// One guest call on records of one input.
struct RecordCall<'a> {
    guest: &'a mut KeyedGuest,
    timers: &'a mut TimerService,
    watermark: i64,
    side: InputSide,
}

impl RecordCall<'_> {
    /// Call the guest with `input` (keys moved out of them) and apply what
    /// it returns. A guest failure changes no state or timer.
    fn run(&mut self, input: &mut [Record], out: &mut Collector) -> Result<(), OperatorError> {
        let refs = self.guest.key_records(input)?;
        let encoder = self.guest.begin(self.watermark)?;
        for (record, key_ref) in input.iter().zip(&refs) {
            match self.side {
                InputSide::First => encoder.record(*key_ref, record.timestamp, &record.value),
                InputSide::Second => {
                    encoder.second_record(*key_ref, record.timestamp, &record.value)
                }
            }
        }
        for record in input.iter() {
            self.guest.event(record.timestamp, record.watermark);
        }
        self.guest
            .call(Some(input), TimerAccess::Allowed(&mut *self.timers), out)
    }
}

/// Parts of one batch run again to set aside the records the guest fails on.
struct KeyedRetry<'a> {
    call: RecordCall<'a>,
    input: &'a mut [Record],
    /// The key of every record of the batch.
    keys: Vec<Option<Vec<u8>>>,
}

impl Retry for KeyedRetry<'_> {
    fn attempt(&mut self, range: Range<usize>, out: &mut Collector) -> Result<(), OperatorError> {
        for (record, key) in self.input[range.clone()]
            .iter_mut()
            .zip(&self.keys[range.clone()])
        {
            if record.key.is_none() {
                record.key.clone_from(key);
            }
        }
        self.call.run(&mut self.input[range], out)
    }

    fn respawn(&mut self) -> Result<(), OperatorError> {
        Ok(self.call.guest.respawn()?)
    }

    fn record(&self, index: usize) -> &Record {
        &self.input[index]
    }
}

impl Operator for WasmKeyedProcess {
    fn process(&mut self, input: Vec<Record>, out: &mut Collector) -> Result<(), OperatorError> {
        self.process_side(InputSide::First, input, out)
    }

    fn process_second(
        &mut self,
        input: Vec<Record>,
        out: &mut Collector,
    ) -> Result<(), OperatorError> {
        match self.second_input {
            SecondInput::Keyed => self.process_side(InputSide::Second, input, out),
            SecondInput::Broadcast => self.process_broadcast(input, out),
        }
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Collector) -> Result<(), OperatorError> {
        self.advance(watermark, out)
    }

    fn on_processing_time(&mut self, now: i64, out: &mut Collector) -> Result<(), OperatorError> {
        let watermark = self.watermark;
        self.fire_timers(TimeDomain::ProcessingTime, now, watermark, out)
    }

    fn next_processing_time(&self) -> Option<i64> {
        self.timers.next_processing_time()
    }

    fn snapshot_state(
        &mut self,
        scratch: &std::path::Path,
    ) -> Result<Option<OperatorSnapshot>, OperatorError> {
        let mut snapshot =
            keyed_snapshot(self.guest.backend(), &self.timers, self.watermark, scratch)?;
        snapshot.broadcast = Some(self.guest.broadcast().snapshot());
        Ok(Some(snapshot))
    }

    fn replace_function(&mut self, replacement: FunctionReplacement) -> Result<(), OperatorError> {
        self.guest
            .replace(replacement.instance, &replacement.descriptor)?;
        // Runs are cut where the new version's timers are; start afresh.
        self.run_limit = usize::MAX;
        Ok(())
    }

    fn restore_state(&mut self, state: RestoredOperatorState) -> Result<(), OperatorError> {
        self.watermark = restore_keyed(&state, self.guest.backend(), &mut self.timers)?;
        self.guest
            .broadcast()
            .restore(&state.broadcast)
            .map_err(|error| OperatorError::Restore(error.to_string()))
    }

    fn side_outputs(&self) -> &[String] {
        self.guest.side_outputs()
    }
}
