//! What a function gets when it is opened: its config, and for keyed process
//! functions the registration of states (keyed, or broadcast for
//! broadcast-process functions) and side outputs.
//!
//! Registration order is the contract with the host: the descriptor lists
//! states and side outputs in the order they were registered, and both sides
//! address them by that index.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::types;
use crate::codec::Encode;
use crate::context::SideOutput;
use crate::state::{BroadcastMapState, ListState, MapState, ValueState};

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
                })
                .collect(),
            side_outputs: self.side_outputs.clone(),
        }
    }
}

/// Passed to a function's `open`: the operator's config and, for keyed
/// process functions (`&mut`), the place to register states and side outputs.
#[derive(Debug)]
pub struct OpenContext {
    config: String,
    registrations: Registrations,
    value_states: u32,
    /// First registration mistake, reported when `open` returns.
    error: Option<String>,
}

impl OpenContext {
    pub(crate) fn new(config: String) -> Self {
        OpenContext {
            config,
            registrations: Registrations::default(),
            value_states: 0,
            error: None,
        }
    }

    /// What has been registered so far, mistakes included.
    pub(crate) fn registrations(&self) -> &Registrations {
        &self.registrations
    }

    /// What was registered, or the first registration mistake.
    pub(crate) fn finish(self) -> Result<Registrations, String> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.registrations),
        }
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

    fn register(&mut self, name: &str, kind: types::StateKind, ttl: Option<Ttl>) -> u32 {
        if self
            .registrations
            .states
            .iter()
            .any(|spec| spec.name == name)
        {
            self.error
                .get_or_insert_with(|| format!("state `{name}` is registered twice"));
        }
        self.registrations.states.push(StateSpec {
            name: name.to_owned(),
            kind,
            ttl,
        });
        (self.registrations.states.len() - 1) as u32
    }

    fn register_value(&mut self, name: &str, ttl: Option<Ttl>) -> (u32, u32) {
        let index = self.register(name, types::StateKind::Value, ttl);
        let slot = self.value_states;
        self.value_states += 1;
        (index, slot)
    }

    /// A single value per key (Flink's `ValueState`).
    pub fn value_state<T: Serialize + DeserializeOwned>(&mut self, name: &str) -> ValueState<T> {
        let (index, slot) = self.register_value(name, None);
        ValueState::new(index, slot)
    }

    /// A value state whose entries expire (Flink's `StateTtlConfig`).
    pub fn value_state_with_ttl<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        ttl: Ttl,
    ) -> ValueState<T> {
        let (index, slot) = self.register_value(name, Some(ttl));
        ValueState::new(index, slot)
    }

    /// A list of values per key (Flink's `ListState`).
    pub fn list_state<T: Serialize + DeserializeOwned>(&mut self, name: &str) -> ListState<T> {
        ListState::new(self.register(name, types::StateKind::List, None))
    }

    /// A list state whose entries expire.
    pub fn list_state_with_ttl<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        ttl: Ttl,
    ) -> ListState<T> {
        ListState::new(self.register(name, types::StateKind::List, Some(ttl)))
    }

    /// A map per key (Flink's `MapState`).
    pub fn map_state<K, V>(&mut self, name: &str) -> MapState<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        MapState::new(self.register(name, types::StateKind::Map, None))
    }

    /// A map state whose entries expire.
    pub fn map_state_with_ttl<K, V>(&mut self, name: &str, ttl: Ttl) -> MapState<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        MapState::new(self.register(name, types::StateKind::Map, Some(ttl)))
    }

    /// A map shared by every key, changed only by broadcast records (Flink's
    /// broadcast state); for [`KeyedBroadcastProcess`](crate::KeyedBroadcastProcess)
    /// functions only, other kinds fail to open with it.
    pub fn broadcast_map_state<K, V>(&mut self, name: &str) -> BroadcastMapState<K, V>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        BroadcastMapState::new(self.register(name, types::StateKind::BroadcastMap, None))
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

        let registrations = ctx.finish().unwrap();
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
        let registrations = ctx.finish().unwrap();
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
