//! Schema versions of keyed state, and the migrations that turn values
//! written by an older version of a function into the current version's.
//!
//! A live swap (`eddy swap`) or a restore from a savepoint hands a function
//! state that an older version of it wrote. Each state declares the version
//! of its values' schema (1 unless a [`StateVersion`] says otherwise) and the
//! older versions it can migrate from; the host compares them with what it
//! holds, and for each stored value of an older version calls the guest's
//! `migrate-state`, which runs the migration registered here. The rules and a
//! complete example are in `docs/state-versions.md`.
//!
//! Migrations are typed: the old value is decoded from JSON as the type the
//! migration takes, and the new one is encoded with the state's own codec
//! (JSON, as every state value), so a migration is plain Rust from the old
//! type to the new.

use std::any::type_name;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A registered migration as `migrate-state` calls it: the state's name (for
/// error messages) and one stored value of the old version, to the encoded
/// value of the current version.
type Migration = Box<dyn Fn(&str, &[u8]) -> Result<Vec<u8>, String>>;

/// The schema version of a state's values of type `T` and the migrations
/// from older versions, given to
/// [`OpenContext::value_state_versioned`](crate::OpenContext::value_state_versioned)
/// and its list and map siblings. A state registered without one is at
/// version 1 and migrates from nothing.
///
/// ```
/// use eddy_sdk::{OpenContext, StateVersion, ValueState};
/// use serde::{Deserialize, Serialize};
///
/// /// Version 2 of state `count`; version 1 stored a bare `u64`.
/// #[derive(Serialize, Deserialize)]
/// struct Count { count: u64, last_ts: Option<i64> }
///
/// fn register(ctx: &mut OpenContext) -> ValueState<Count> {
///     ctx.value_state_versioned(
///         "count",
///         StateVersion::new(2).migrate_from(1, |old: u64| Ok(Count { count: old, last_ts: None })),
///     )
/// }
/// ```
pub struct StateVersion<T> {
    version: u32,
    /// In registration order; checked for duplicates when the state is registered.
    migrations: Vec<(u32, Migration)>,
    _value: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for StateVersion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from: Vec<u32> = self.migrations.iter().map(|(from, _)| *from).collect();
        f.debug_struct("StateVersion")
            .field("version", &self.version)
            .field("migrates_from", &from)
            .finish()
    }
}

impl<T> StateVersion<T> {
    /// Values of this state follow schema version `version` (1 for a
    /// state's first form; raise it whenever stored values change shape).
    pub fn new(version: u32) -> Self {
        StateVersion {
            version,
            migrations: Vec::new(),
            _value: PhantomData,
        }
    }

    /// Check the declaration for state `state` and turn it into what the
    /// runtime keeps; the first mistake, if any, is returned beside it (and
    /// fails `open`), the faulty migrations left out.
    pub(crate) fn declare(self, state: &str) -> (StateMigrations, Option<String>) {
        let mut error = None;
        if self.version == 0 {
            error = Some(format!(
                "state `{state}` is declared at version 0; versions start at 1"
            ));
        }
        let mut from = BTreeMap::new();
        for (from_version, migration) in self.migrations {
            let mistake = if from_version >= self.version {
                Some(format!(
                    "state `{state}` is at version {} but registers a migration from version \
                     {from_version}; migrations come from older versions only",
                    self.version
                ))
            } else {
                match from.entry(from_version) {
                    Entry::Vacant(entry) => {
                        entry.insert(migration);
                        None
                    }
                    Entry::Occupied(_) => Some(format!(
                        "state `{state}` registers two migrations from version {from_version}"
                    )),
                }
            };
            error = error.or(mistake);
        }
        let declared = StateMigrations {
            version: self.version,
            from,
        };
        (declared, error)
    }
}

impl<T: Serialize + 'static> StateVersion<T> {
    /// Values written by version `from_version` of this state are turned
    /// into this version's by `migrate`: the stored value is decoded from
    /// JSON as `Old` (so it names the old schema as a type) and the result
    /// stored as JSON. For a list state it runs per element, for a map state
    /// per value (map keys stay as they are). An `Err` from `migrate`, or a
    /// stored value that is not an `Old`, fails the task with the message.
    pub fn migrate_from<Old, F>(mut self, from_version: u32, migrate: F) -> Self
    where
        Old: DeserializeOwned + 'static,
        F: Fn(Old) -> Result<T, String> + 'static,
    {
        let to_version = self.version;
        let migration = move |state: &str, stored: &[u8]| {
            let old: Old = serde_json::from_slice(stored).map_err(|error| {
                format!(
                    "state `{state}`: a stored value of version {from_version} is not JSON of \
                     type `{}`: {error}",
                    type_name::<Old>()
                )
            })?;
            let new = migrate(old).map_err(|error| {
                format!(
                    "state `{state}`: migrating a value from version {from_version} to \
                     {to_version} failed: {error}"
                )
            })?;
            let mut encoded = Vec::new();
            crate::state::encode_into(state, &new, &mut encoded)?;
            Ok(encoded)
        };
        self.migrations.push((from_version, Box::new(migration)));
        self
    }
}

/// What one state declared: its version and its migrations by the version
/// they migrate from.
pub(crate) struct StateMigrations {
    pub version: u32,
    from: BTreeMap<u32, Migration>,
}

impl StateMigrations {
    /// A state's first form: version 1, nothing to migrate from.
    pub fn first() -> Self {
        StateMigrations {
            version: 1,
            from: BTreeMap::new(),
        }
    }

    /// The versions there is a migration from, ascending (the descriptor's
    /// `migrates-from`).
    pub fn migrates_from(&self) -> Vec<u32> {
        self.from.keys().copied().collect()
    }
}

/// The migrations of every state of an opened function, by state name,
/// kept per instance from `open` (in `init`) for `migrate-state`.
#[derive(Default)]
pub(crate) struct Migrations {
    states: BTreeMap<String, StateMigrations>,
}

impl fmt::Debug for Migrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.states
                    .iter()
                    .map(|(name, state)| (name, (state.version, state.migrates_from()))),
            )
            .finish()
    }
}

impl Migrations {
    /// No states (before `init`).
    pub const fn new() -> Self {
        Migrations {
            states: BTreeMap::new(),
        }
    }

    /// Keep what state `name` declared.
    pub fn insert(&mut self, name: &str, declared: StateMigrations) {
        self.states.insert(name.to_owned(), declared);
    }

    /// Turn `value`, written by version `from_version` of state `state`,
    /// into the current version's value; an error naming the state and the
    /// versions if there is no such migration.
    pub fn migrate(&self, state: &str, from_version: u32, value: &[u8]) -> Result<Vec<u8>, String> {
        let cannot = || format!("cannot migrate state `{state}` from version {from_version}");
        let Some(declared) = self.states.get(state) else {
            let names: Vec<String> = self.states.keys().map(|name| format!("`{name}`")).collect();
            let states = if names.is_empty() {
                "it declares no states".to_owned()
            } else {
                format!("its states are {}", names.join(", "))
            };
            return Err(format!(
                "{}: this function declares no such state ({states})",
                cannot()
            ));
        };
        let Some(migration) = declared.from.get(&from_version) else {
            let from = declared.migrates_from();
            let known = if from.is_empty() {
                "no older version".to_owned()
            } else {
                let versions: Vec<String> = from.iter().map(u32::to_string).collect();
                format!("version {}", versions.join(", "))
            };
            return Err(format!(
                "{}: it is at version {} and migrates from {known}",
                cannot(),
                declared.version
            ));
        };
        migration(state, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared<T>(name: &str, version: StateVersion<T>) -> Migrations {
        let (state, error) = version.declare(name);
        assert_eq!(error, None);
        let mut migrations = Migrations::new();
        migrations.insert(name, state);
        migrations
    }

    #[test]
    fn migrations_are_typed_and_found_by_state_and_version() {
        let version = StateVersion::<(u64, String)>::new(3)
            .migrate_from(2, |(count, tag): (u64, String)| {
                Ok((count, tag.to_uppercase()))
            })
            .migrate_from(1, |count: u64| Ok((count, "none".to_owned())));
        assert_eq!(
            format!("{version:?}"),
            "StateVersion { version: 3, migrates_from: [2, 1] }"
        );
        let migrations = declared("count", version);
        assert_eq!(
            migrations.migrate("count", 1, b"41").unwrap(),
            br#"[41,"none"]"#
        );
        assert_eq!(
            migrations.migrate("count", 2, br#"[5, "a"]"#).unwrap(),
            br#"[5,"A"]"#
        );
    }

    #[test]
    fn what_cannot_be_migrated_says_why() {
        let migrations = declared(
            "count",
            StateVersion::new(2).migrate_from(1, |old: u64| {
                if old == 0 {
                    Err("zero".to_owned())
                } else {
                    Ok(old.to_string())
                }
            }),
        );
        assert_eq!(
            migrations.migrate("count", 7, b"1").unwrap_err(),
            "cannot migrate state `count` from version 7: it is at version 2 and migrates from version 1"
        );
        assert_eq!(
            migrations.migrate("tally", 1, b"1").unwrap_err(),
            "cannot migrate state `tally` from version 1: this function declares no such state \
             (its states are `count`)"
        );
        let error = migrations.migrate("count", 1, b"\"x\"").unwrap_err();
        assert!(
            error.starts_with(
                "state `count`: a stored value of version 1 is not JSON of type `u64`"
            ),
            "{error}"
        );
        assert_eq!(
            migrations.migrate("count", 1, b"0").unwrap_err(),
            "state `count`: migrating a value from version 1 to 2 failed: zero"
        );

        let unversioned = declared("seen", StateVersion::<u64>::new(1));
        assert_eq!(
            unversioned.migrate("seen", 1, b"1").unwrap_err(),
            "cannot migrate state `seen` from version 1: it is at version 1 and migrates from \
             no older version"
        );
        assert!(
            Migrations::new()
                .migrate("seen", 1, b"1")
                .unwrap_err()
                .ends_with("(it declares no states)")
        );
    }

    #[test]
    fn declarations_are_checked() {
        let twice = StateVersion::<u64>::new(3)
            .migrate_from(1, Ok)
            .migrate_from(1, |old: u64| Ok(old + 1));
        let (state, error) = twice.declare("count");
        assert_eq!(
            error.unwrap(),
            "state `count` registers two migrations from version 1"
        );
        assert_eq!(state.migrates_from(), [1]);

        let (_, error) = StateVersion::<u64>::new(2)
            .migrate_from(2, Ok)
            .declare("count");
        assert_eq!(
            error.unwrap(),
            "state `count` is at version 2 but registers a migration from version 2; \
             migrations come from older versions only"
        );
        let (_, error) = StateVersion::<u64>::new(0).declare("count");
        assert_eq!(
            error.unwrap(),
            "state `count` is declared at version 0; versions start at 1"
        );
    }
}
