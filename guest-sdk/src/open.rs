//! What a function gets when it is opened: its config, which parallel
//! subtask it is, and for keyed process functions the registration of states
//! (keyed, or broadcast for broadcast-process functions, each with its schema
//! version and migrations) and side outputs.
//!
//! Registration order is the contract with the host: the descriptor lists
//! states and side outputs in the order they were registered, and both sides
//! address them by that index.

use std::env::{self, VarError};
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::types;
use crate::codec::Encode;
use crate::context::SideOutput;
use crate::state::{BroadcastMapState, ListState, MapState, ValueState};
use crate::version::{Migrations, StateMigrations, StateVersion};

/// The environment variable in which the host gives an instance its 0-based
/// subtask index (absent: 0, as when describing or in native tests).
pub(crate) const SUBTASK_INDEX_VAR: &str = "EDDY_SUBTASK_INDEX";

/// The environment variable in which the host gives an instance its
/// operator's parallelism (absent: 1).
pub(crate) const PARALLELISM_VAR: &str = "EDDY_PARALLELISM";

/// Which of an operator's parallel instances is being opened (Flink's
/// `getIndexOfThisSubtask` and `getNumberOfParallelSubtasks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subtask {
    /// 0-based, below `parallelism`.
    pub index: u32,
    /// How many instances the operator runs, at least 1.
    pub parallelism: u32,
}

impl Subtask {
    /// The only instance: what a function sees without a host telling it more.
    pub const SINGLE: Subtask = Subtask {
        index: 0,
        parallelism: 1,
    };

    /// Subtask `index` of `parallelism`; an error unless `index < parallelism`.
    pub fn new(index: u32, parallelism: u32) -> Result<Self, String> {
        if index >= parallelism {
            return Err(format!(
                "subtask index {index} is not below the parallelism {parallelism}"
            ));
        }
        Ok(Subtask { index, parallelism })
    }

    /// What the host put in the instance's WASI environment
    /// ([`SUBTASK_INDEX_VAR`], [`PARALLELISM_VAR`]); a variable that is set
    /// but not a number is an error, since the host sets them.
    pub fn from_env() -> Result<Self, String> {
        let read = |name: &str, absent: u32| match env::var(name) {
            Ok(text) => text.trim().parse::<u32>().map_err(|error| {
                format!("environment variable {name}=`{text}` is not a subtask number: {error}")
            }),
            Err(VarError::NotPresent) => Ok(absent),
            Err(VarError::NotUnicode(text)) => Err(format!(
                "environment variable {name} is not UTF-8 text: {text:?}"
            )),
        };
        Subtask::new(read(SUBTASK_INDEX_VAR, 0)?, read(PARALLELISM_VAR, 1)?)
    }
}

/// When a state entry's time-to-live restarts (as Flink's `StateTtlConfig.UpdateType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TtlUpdate {
    /// Writing the entry restarts its time-to-live.
    OnCreateAndWrite,
    /// Reading or writing the entry restarts its time-to-live.
    OnReadAndWrite,
}

/// How long the host keeps a state entry that is not touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ttl {
    /// Time after the last update (or read) at which the entry expires.
    pub time_to_live: Duration,
    /// What counts as an update.
    pub update: TtlUpdate,
}

impl Ttl {
    /// Entries expire `time_to_live` after their last `update` event.
    pub fn new(time_to_live: Duration, update: TtlUpdate) -> Self {
        Ttl {
            time_to_live,
            update,
        }
    }

    fn to_wit(self) -> types::Ttl {
        types::Ttl {
            millis: u64::try_from(self.time_to_live.as_millis()).unwrap_or(u64::MAX),
            update: match self.update {
                TtlUpdate::OnCreateAndWrite => types::TtlUpdate::OnCreateAndWrite,
                TtlUpdate::OnReadAndWrite => types::TtlUpdate::OnReadAndWrite,
            },
        }
    }
}

/// One registered state.
#[derive(Debug, Clone)]
pub(crate) struct StateSpec {
    pub name: String,
    pub kind: types::StateKind,
    pub ttl: Option<Ttl>,
    /// Schema version of the state's values.
    pub version: u32,
    /// Versions `migrate-state` can migrate from, ascending.
    pub migrates_from: Vec<u32>,
}

/// States and side outputs of a function, in registration order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registrations {
    pub states: Vec<StateSpec>,
    pub side_outputs: Vec<String>,
}

impl Registrations {
    /// Descriptor index of each value state, in slot order (the order of the
    /// value-state slots in the batch's key table).
    pub fn value_state_indices(&self) -> Vec<u32> {
        (0..)
            .zip(&self.states)
            .filter(|(_, spec)| spec.kind == types::StateKind::Value)
            .map(|(index, _)| index)
            .collect()
    }

    /// An error if a state needs another function kind than `kind`:
    /// broadcast state belongs to broadcast-process functions only, since
    /// other kinds have no broadcast input that could fill it.
    pub fn check_kind(&self, kind: types::FunctionKind) -> Result<(), String> {
        if kind == types::FunctionKind::BroadcastProcess {
            return Ok(());
        }
        match self
            .states
            .iter()
            .find(|spec| spec.kind == types::StateKind::BroadcastMap)
        {
            Some(spec) => Err(format!(
                "broadcast state `{}` needs a broadcast-process function \
                 (`KeyedBroadcastProcess`), which gets the broadcast records that fill it",
                spec.name
            )),
            None => Ok(()),
        }
    }

    /// The function's self-description for the host.
    pub fn descriptor(&self, kind: types::FunctionKind) -> types::Descriptor {
        types::Descriptor {
            kind,
            states: self
                .states
                .iter()
                .map(|spec| types::StateDescriptor {
                    name: spec.name.clone(),
                    kind: spec.kind,
                    ttl: spec.ttl.map(Ttl::to_wit),
                    version: spec.version,
                    migrates_from: spec.migrates_from.clone(),
                })
                .collect(),
            side_outputs: self.side_outputs.clone(),
        }
    }
}

/// What a successful `open` registered: the states and side outputs the
/// descriptor lists, and the states' migrations, which the instance keeps
/// for `migrate-state`.
#[derive(Debug)]
pub(crate) struct Opened {
    pub registrations: Registrations,
    pub migrations: Migrations,
}

/// Passed to a function's `open`: the operator's config, which parallel
/// subtask this is, and, for keyed process functions (`&mut`), the place to
/// register states and side outputs.
#[derive(Debug)]
pub struct OpenContext {
    config: String,
    subtask: Subtask,
    registrations: Registrations,
    migrations: Migrations,
    value_states: u32,
    /// First registration mistake (or unreadable environment), reported
    /// when `open` returns.
    error: Option<String>,
}

impl OpenContext {
    /// The context of an instance opened by the host, which says in the
    /// environment which subtask it is.
    pub(crate) fn new(config: String) -> Self {
        match Subtask::from_env() {
            Ok(subtask) => Self::for_subtask(config, subtask),
            Err(error) => {
                let mut ctx = Self::for_subtask(config, Subtask::SINGLE);
                ctx.error = Some(format!("cannot tell which subtask this is: {error}"));
                ctx
            }
        }
    }

    /// The context of subtask `subtask` (native tests choose it).
    pub(crate) fn for_subtask(config: String, subtask: Subtask) -> Self {
        OpenContext {
            config,
            subtask,
            registrations: Registrations::default(),
            migrations: Migrations::new(),
            value_states: 0,
            error: None,
        }
    }

    /// What has been registered so far, mistakes included.
    pub(crate) fn registrations(&self) -> &Registrations {
        &self.registrations
    }

    /// What was registered, or the first registration mistake.
    pub(crate) fn finish(self) -> Result<Opened, String> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(Opened {
                registrations: self.registrations,
                migrations: self.migrations,
            }),
        }
    }

    /// This instance's 0-based index among the operator's parallel instances
    /// (Flink's `getIndexOfThisSubtask`), e.g. to shard work that is not
    /// keyed. 0 when describing the function and in native tests.
    pub fn subtask_index(&self) -> u32 {
        self.subtask.index
    }

    /// How many parallel instances the operator runs (Flink's
    /// `getNumberOfParallelSubtasks`). 1 when describing the function and in
    /// native tests.
    pub fn parallelism(&self) -> u32 {
        self.subtask.parallelism
    }

    /// The operator's `config` string from the job file (empty if none).
    pub fn config(&self) -> &str {
        &self.config
    }

    /// The config parsed as JSON; an empty config is an error.
    pub fn config_json<T: DeserializeOwned>(&self) -> Result<T, String> {
        if self.config.trim().is_empty() {
            return Err(format!(
                "this function needs a JSON config (`{}`) but the operator has none",
                std::any::type_name::<T>()
            ));
        }
        serde_json::from_str(&self.config).map_err(|error| {
            format!(
                "operator config is not JSON of type `{}`: {error}",
                std::any::type_name::<T>()
            )
        })
    }

    /// The config parsed as JSON, or `T::default()` when there is none.
    pub fn config_json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, String> {
        if self.config.trim().is_empty() {
            Ok(T::default())
        } else {
            self.config_json()
        }
    }

    /// Register state `name`; its descriptor index. `version` is what
    /// the function declared about the state's schema, and mistakes in it
    /// (like mistakes in the name) fail `open`.
    fn register<T>(
        &mut self,
        name: &str,
        kind: types::StateKind,
        ttl: Option<Ttl>,
        version: StateVersion<T>,
    ) -> u32 {
        let (declared, mistake) = version.declare(name);
        self.register_declared(name, kind, ttl, declared, mistake)
    }

    /// As [`register`](Self::register), for a state's first form (version
    /// 1, no migrations).
    fn register_first(&mut self, name: &str, kind: types::StateKind, ttl: Option<Ttl>) -> u32 {
        self.register_declared(name, kind, ttl, StateMigrations::first(), None)
    }

    fn register_declared(
        &mut self,
        name: &str,
        kind: types::StateKind,
        ttl: Option<Ttl>,
        declared: StateMigrations,
        mistake: Option<String>,
    ) -> u32 {
        if self
            .registrations
            .states
            .iter()
            .any(|spec| spec.name == name)
        {
            self.error
                .get_or_insert_with(|| format!("state `{name}` is registered twice"));
        }
        if let Some(mistake) = mistake {
            self.error.get_or_insert(mistake);
        }
        self.registrations.states.push(StateSpec {
            name: name.to_owned(),
            kind,
            ttl,
            version: declared.version,
            migrates_from: declared.migrates_from(),
        });
        self.migrations.insert(name, declared);
        (self.registrations.states.len() - 1) as u32
    }

    /// The next value-state slot (value states are also numbered among themselves).
    fn next_value_slot(&mut self) -> u32 {
        let slot = self.value_states;
        self.value_states += 1;
        slot
    }

    /// A single value per key (Flink's `ValueState`).
    pub fn value_state<T: Serialize + DeserializeOwned>(&mut self, name: &str) -> ValueState<T> {
        let index = self.register_first(name, types::StateKind::Value, None);
        ValueState::new(index, self.next_value_slot())
    }

    /// A value state whose entries expire (Flink's `StateTtlConfig`).
    pub fn value_state_with_ttl<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        ttl: Ttl,
    ) -> ValueState<T> {
        let index = self.register_first(name, types::StateKind::Value, Some(ttl));
        ValueState::new(index, self.next_value_slot())
    }

    /// A value state whose values follow schema `version`, with migrations
    /// from the older versions a running job or savepoint may hold (see
    /// [`StateVersion`]).
    pub fn value_state_versioned<T: Serialize + DeserializeOwned + 'static>(
        &mut self,
        name: &str,
        version: StateVersion<T>,
    ) -> ValueState<T> {
        let index = self.register(name, types::StateKind::Value, None, version);
        ValueState::new(index, self.next_value_slot())
    }

    /// A list of values per key (Flink's `ListState`).
    pub fn list_state<T: Serialize + DeserializeOwned>(&mut self, name: &str) -> ListState<T> {
        ListState::new(self.register_first(name, types::StateKind::List, None))
    }

    /// A list state whose entries expire.
    pub fn list_state_with_ttl<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        ttl: Ttl,
    ) -> ListState<T> {
        ListState::new(self.register_first(name, types::StateKind::List, Some(ttl)))
    }

    /// A list state whose elements follow schema `version`; each stored
    /// element of an older version is migrated on its own (see [`StateVersion`]).
    pub fn list_state_versioned<T: Serialize + DeserializeOwned + 'static>(
        &mut self,
        name: &str,
        version: StateVersion<T>,
    ) -> ListState<T> {
        ListState::new(self.register(name, types::StateKind::List, None, version))
    }

    /// A map per key (Flink's `MapState`).
    pub fn map_state<K, V>(&mut self, name: &str) -> MapState<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        MapState::new(self.register_first(name, types::StateKind::Map, None))
    }

    /// A map state whose entries expire.
    pub fn map_state_with_ttl<K, V>(&mut self, name: &str, ttl: Ttl) -> MapState<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        MapState::new(self.register_first(name, types::StateKind::Map, Some(ttl)))
    }

    /// A map state whose values follow schema `version`; each stored value
    /// of an older version is migrated on its own, and map keys are kept as
    /// they are, so they cannot change type (see [`StateVersion`]).
    pub fn map_state_versioned<K, V>(
        &mut self,
        name: &str,
        version: StateVersion<V>,
    ) -> MapState<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned + 'static,
    {
        MapState::new(self.register(name, types::StateKind::Map, None, version))
    }

    /// A map shared by every key, changed only by broadcast records (Flink's
    /// broadcast state); for [`KeyedBroadcastProcess`](crate::KeyedBroadcastProcess)
    /// functions only, other kinds fail to open with it.
    pub fn broadcast_map_state<K, V>(&mut self, name: &str) -> BroadcastMapState<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        BroadcastMapState::new(self.register_first(name, types::StateKind::BroadcastMap, None))
    }

    /// A named extra output (Flink's `OutputTag`), e.g. for late records.
    pub fn side_output<T: Encode>(&mut self, name: &str) -> SideOutput<T> {
        let side_outputs = &mut self.registrations.side_outputs;
        if side_outputs.iter().any(|existing| existing == name) {
            self.error
                .get_or_insert_with(|| format!("side output `{name}` is declared twice"));
        }
        side_outputs.push(name.to_owned());
        SideOutput {
            index: (side_outputs.len() - 1) as u32,
            _value: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_order_is_the_index() {
        let mut ctx = OpenContext::new(String::new());
        let count = ctx.value_state::<u64>("count");
        let seen = ctx.list_state::<String>("seen");
        let last = ctx.value_state_with_ttl::<i64>(
            "last",
            Ttl::new(Duration::from_secs(2), TtlUpdate::OnReadAndWrite),
        );
        let late = ctx.side_output::<Vec<u8>>("late");
        assert_eq!((count.index(), count.slot()), (0, 0));
        assert_eq!(seen.index(), 1);
        assert_eq!((last.index(), last.slot()), (2, 1));
        assert_eq!(late.index, 0);

        let registrations = ctx.finish().unwrap().registrations;
        assert_eq!(registrations.value_state_indices(), [0, 2]);
        let descriptor = registrations.descriptor(types::FunctionKind::KeyedProcess);
        assert_eq!(descriptor.states.len(), 3);
        assert_eq!(descriptor.states[1].kind, types::StateKind::List);
        let ttl = descriptor.states[2].ttl.unwrap();
        assert_eq!(ttl.millis, 2000);
        assert_eq!(ttl.update, types::TtlUpdate::OnReadAndWrite);
        assert_eq!(descriptor.side_outputs, ["late"]);
    }

    #[test]
    fn broadcast_state_is_declared_for_broadcast_process_only() {
        let mut ctx = OpenContext::new(String::new());
        let seen = ctx.value_state::<u64>("seen");
        let rules = ctx.broadcast_map_state::<String, u64>("rules");
        assert_eq!((seen.index(), rules.index()), (0, 1));
        let registrations = ctx.finish().unwrap().registrations;
        assert_eq!(registrations.value_state_indices(), [0]);
        let broadcast = types::FunctionKind::BroadcastProcess;
        assert_eq!(
            registrations.descriptor(broadcast).states[1].kind,
            types::StateKind::BroadcastMap
        );
        assert_eq!(registrations.check_kind(broadcast), Ok(()));
        let error = registrations
            .check_kind(types::FunctionKind::KeyedProcess)
            .unwrap_err();
        assert!(
            error.starts_with("broadcast state `rules` needs a broadcast-process function"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_names_fail_open() {
        let mut ctx = OpenContext::new(String::new());
        ctx.value_state::<u64>("count");
        ctx.map_state::<String, u64>("count");
        assert_eq!(
            ctx.finish().unwrap_err(),
            "state `count` is registered twice"
        );
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Count {
        count: u64,
        last_ts: Option<i64>,
    }

    #[test]
    fn descriptor_reports_versions_and_migrations() {
        let mut ctx = OpenContext::new(String::new());
        let plain = ctx.value_state::<u64>("plain");
        let count = ctx.value_state_versioned(
            "count",
            StateVersion::new(3)
                .migrate_from(2, |old: Count| Ok(old))
                .migrate_from(1, |old: u64| {
                    Ok(Count {
                        count: old,
                        last_ts: None,
                    })
                }),
        );
        let seen = ctx.list_state_versioned("seen", StateVersion::<String>::new(2));
        let by_user = ctx.map_state_versioned::<String, u64>(
            "by-user",
            StateVersion::new(2).migrate_from(1, |old: u32| Ok(u64::from(old))),
        );
        assert_eq!((plain.slot(), count.slot()), (0, 1));
        assert_eq!((seen.index(), by_user.index()), (2, 3));

        let opened = ctx.finish().unwrap();
        let descriptor = opened
            .registrations
            .descriptor(types::FunctionKind::KeyedProcess);
        let versions: Vec<_> = descriptor
            .states
            .iter()
            .map(|state| {
                (
                    state.name.as_str(),
                    state.version,
                    state.migrates_from.clone(),
                )
            })
            .collect();
        assert_eq!(
            versions,
            [
                ("plain", 1, vec![]),
                ("count", 3, vec![1, 2]),
                ("seen", 2, vec![]),
                ("by-user", 2, vec![1]),
            ]
        );
        assert_eq!(
            opened.migrations.migrate("count", 1, b"41").unwrap(),
            br#"{"count":41,"last_ts":null}"#
        );
        assert_eq!(opened.migrations.migrate("by-user", 1, b"7").unwrap(), b"7");
    }

    #[test]
    fn a_mistake_in_a_state_version_fails_open() {
        let mut ctx = OpenContext::new(String::new());
        ctx.value_state_versioned(
            "count",
            StateVersion::<u64>::new(2)
                .migrate_from(1, Ok)
                .migrate_from(1, Ok),
        );
        assert_eq!(
            ctx.finish().unwrap_err(),
            "state `count` registers two migrations from version 1"
        );
    }

    #[test]
    fn subtask_of_parallelism() {
        let ctx = OpenContext::new(String::new());
        assert_eq!((ctx.subtask_index(), ctx.parallelism()), (0, 1));
        let third = Subtask::new(2, 4).unwrap();
        let ctx = OpenContext::for_subtask(String::new(), third);
        assert_eq!((ctx.subtask_index(), ctx.parallelism()), (2, 4));
        assert_eq!(
            Subtask::new(4, 4).unwrap_err(),
            "subtask index 4 is not below the parallelism 4"
        );
    }

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    struct Config {
        threshold: u32,
    }

    #[test]
    fn config_json() {
        let empty = OpenContext::new(" ".into());
        assert!(
            empty
                .config_json::<Config>()
                .unwrap_err()
                .contains("has none")
        );
        assert_eq!(
            empty.config_json_or_default::<Config>().unwrap(),
            Config::default()
        );

        let given = OpenContext::new(r#"{"threshold": 3}"#.into());
        assert_eq!(
            given.config_json::<Config>().unwrap(),
            Config { threshold: 3 }
        );

        let wrong = OpenContext::new(r#"{"threshold": "x"}"#.into());
        let error = wrong.config_json::<Config>().unwrap_err();
        assert!(
            error.contains("not JSON of type") && error.contains("Config"),
            "{error}"
        );
    }
}
