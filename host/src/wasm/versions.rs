//! State schema versions: whether a new version of a function can take
//! over the state a running job (or a savepoint) holds, and where the
//! values of each version are stored.
//!
//! The rules, checked before a live swap and on every restore:
//! same name, kind and version is compatible; another kind is refused; a
//! higher version needs a migration from the held version (the function's
//! `migrate-state`), which the host applies lazily, key by key; a lower
//! version is refused; a state the new version no longer declares is
//! refused unless dropping it was allowed; a new state starts empty.

use thiserror::Error;

use super::bindings::FunctionKind;
use super::module::{DeclaredState, function_kind_name};
use crate::state::{StateDescriptor, StateKind};

/// One state as the running version or a snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldState {
    pub name: String,
    pub kind: StateKind,
    pub version: u32,
}

impl From<&DeclaredState> for HeldState {
    fn from(state: &DeclaredState) -> Self {
        HeldState {
            name: state.name.clone(),
            kind: state.kind,
            version: state.version,
        }
    }
}

/// Whether a state the new version no longer declares may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DroppedState {
    Refuse,
    /// Its contents are no longer read, and are not restored again.
    Allow,
}

/// What becomes of one state when the new version takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// Same kind and version: used as it is.
    Kept,
    /// Values of version `from` are migrated when a key is next used.
    Migrated { from: u32 },
    /// Declared only by the new version: starts empty.
    New,
    /// Declared only by the running version, and allowed to go.
    Dropped,
}

/// Why the new version cannot take over the held state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("state `{state}`: {reason}")]
pub struct Incompatible {
    pub state: String,
    pub reason: String,
}

/// Who hands state to whom, for the messages.
#[derive(Debug, Clone, Copy)]
pub enum Takeover<'a> {
    /// A live swap: the running version's states go to the new module.
    Swap,
    /// A restore: the states of `snapshot` ("savepoint 7") go to `module`.
    Restore { snapshot: &'a str, module: &'a str },
}

impl Takeover<'_> {
    fn held_by(&self) -> &str {
        match self {
            Takeover::Swap => "the running version",
            Takeover::Restore { snapshot, .. } => snapshot,
        }
    }

    fn new_by(&self) -> &str {
        match self {
            Takeover::Swap => "the new module",
            Takeover::Restore { module, .. } => module,
        }
    }

    /// The flag that lets a state go.
    fn allow_dropped(&self) -> &'static str {
        match self {
            Takeover::Swap => "--allow-dropped-state",
            Takeover::Restore { .. } => "--allow-non-restored-state",
        }
    }
}

/// Compare what is held (by the running version, or a snapshot) with what
/// the new module of kind `kind` declares; the change of every state, or
/// the first reason the new module cannot take over.
pub fn check_compatibility(
    held: &[HeldState],
    takeover: Takeover<'_>,
    kind: FunctionKind,
    new: &[DeclaredState],
    dropped: DroppedState,
) -> Result<Vec<(String, StateChange)>, Incompatible> {
    let (held_by, new_by) = (takeover.held_by(), takeover.new_by());
    let mut changes = Vec::new();
    for state in new {
        let refuse = |reason: String| Incompatible {
            state: state.name.clone(),
            reason,
        };
        let Some(before) = held.iter().find(|h| h.name == state.name) else {
            changes.push((state.name.clone(), StateChange::New));
            continue;
        };
        if before.kind != state.kind {
            return Err(refuse(format!(
                "it is a {} state in {held_by} and a {} state in {new_by}; a state's kind cannot change (give the new state another name)",
                before.kind.name(),
                state.kind.name()
            )));
        }
        let change = match state.version.cmp(&before.version) {
            std::cmp::Ordering::Equal => StateChange::Kept,
            std::cmp::Ordering::Less => {
                return Err(refuse(format!(
                    "it is at version {} in {held_by} and at version {} in {new_by}; values cannot be migrated back to an older version",
                    before.version, state.version
                )));
            }
            std::cmp::Ordering::Greater if !state.migrates_from.contains(&before.version) => {
                return Err(refuse(format!(
                    "it is at version {} in {held_by} and at version {} in {new_by}, which declares no migration from version {} ({}); register one with `migrate_from({}, ...)` in the function's `open`",
                    before.version,
                    state.version,
                    before.version,
                    migrates_from_text(&state.migrates_from),
                    before.version
                )));
            }
            std::cmp::Ordering::Greater => StateChange::Migrated {
                from: before.version,
            },
        };
        if let StateChange::Migrated { .. } = change {
            if state.kind == StateKind::BroadcastMap {
                return Err(refuse(
                    "broadcast state cannot be migrated to a new version yet; keep its version, or give the new state another name".into(),
                ));
            }
            if !migrates_lazily(kind) {
                return Err(refuse(format!(
                    "state of a `{}` function cannot be migrated to a new version yet (only keyed-process, co-process and broadcast-process functions migrate state)",
                    function_kind_name(kind)
                )));
            }
        }
        changes.push((state.name.clone(), change));
    }
    for before in held {
        if new.iter().any(|s| s.name == before.name) {
            continue;
        }
        match dropped {
            DroppedState::Allow => changes.push((before.name.clone(), StateChange::Dropped)),
            DroppedState::Refuse => {
                return Err(Incompatible {
                    state: before.name.clone(),
                    reason: format!(
                        "{held_by} has this {} state and {new_by} no longer declares it; its contents would be lost (allow that with {})",
                        before.kind.name(),
                        takeover.allow_dropped()
                    ),
                });
            }
        }
    }
    Ok(changes)
}

/// Whether functions of `kind` can have their state migrated: those whose
/// keyed states the host reads for them batch by batch (the migration
/// happens there, before the call).
fn migrates_lazily(kind: FunctionKind) -> bool {
    matches!(
        kind,
        FunctionKind::KeyedProcess | FunctionKind::CoProcess | FunctionKind::BroadcastProcess
    )
}

fn migrates_from_text(versions: &[u32]) -> String {
    if versions.is_empty() {
        "it migrates from none".into()
    } else {
        let list: Vec<String> = versions.iter().map(u32::to_string).collect();
        format!("it migrates from {}", list.join(", "))
    }
}

/// The name the backend stores version `version` of state `name` under:
/// the name itself for version 1 (so state written before versions
/// existed is version 1), `name@v<version>` after. Values of two versions
/// never share a key, so a key's version is where its value is.
pub fn storage_name(name: &str, version: u32) -> String {
    if version <= 1 {
        name.to_string()
    } else {
        format!("{name}@v{version}")
    }
}

impl DeclaredState {
    /// The backend's descriptor of this state's current version.
    pub fn storage(&self) -> StateDescriptor {
        StateDescriptor {
            name: storage_name(&self.name, self.version),
            ..self.state.clone()
        }
    }

    /// The backend's descriptors of the older versions it migrates from,
    /// newest first (a key is migrated from the newest version it has).
    pub fn older_storages(&self) -> Vec<(u32, StateDescriptor)> {
        let mut versions: Vec<u32> = (self.migrates_from.iter().copied())
            .filter(|&v| v < self.version)
            .collect();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        versions.dedup();
        versions
            .into_iter()
            .map(|v| {
                let storage = StateDescriptor {
                    name: storage_name(&self.name, v),
                    ..self.state.clone()
                };
                (v, storage)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(name: &str, kind: StateKind, version: u32, from: &[u32]) -> DeclaredState {
        DeclaredState {
            state: StateDescriptor {
                name: name.into(),
                kind,
                ttl: None,
            },
            version,
            migrates_from: from.to_vec(),
        }
    }

    fn held(name: &str, kind: StateKind, version: u32) -> HeldState {
        HeldState {
            name: name.into(),
            kind,
            version,
        }
    }

    const PROCESS: FunctionKind = FunctionKind::KeyedProcess;

    #[test]
    fn the_rules() {
        let running = [held("count", StateKind::Value, 1)];
        let check = |new: &[DeclaredState], dropped| {
            check_compatibility(&running, Takeover::Swap, PROCESS, new, dropped)
        };
        assert_eq!(
            check(
                &[declared("count", StateKind::Value, 1, &[])],
                DroppedState::Refuse
            ),
            Ok(vec![("count".into(), StateChange::Kept)])
        );
        assert_eq!(
            check(
                &[
                    declared("count", StateKind::Value, 2, &[1]),
                    declared("seen", StateKind::List, 1, &[])
                ],
                DroppedState::Refuse
            ),
            Ok(vec![
                ("count".into(), StateChange::Migrated { from: 1 }),
                ("seen".into(), StateChange::New)
            ])
        );
        let kind = check(
            &[declared("count", StateKind::List, 1, &[])],
            DroppedState::Refuse,
        )
        .unwrap_err();
        assert_eq!(
            kind.to_string(),
            "state `count`: it is a value state in the running version and a list state in the new module; a state's kind cannot change (give the new state another name)"
        );
        let no_migration = check(
            &[declared("count", StateKind::Value, 2, &[])],
            DroppedState::Refuse,
        )
        .unwrap_err();
        assert!(
            no_migration
                .to_string()
                .contains("declares no migration from version 1 (it migrates from none)"),
            "{no_migration}"
        );
        let dropped = check(
            &[declared("tally", StateKind::Value, 1, &[])],
            DroppedState::Refuse,
        )
        .unwrap_err();
        assert!(
            dropped.to_string().starts_with("state `count`: the running version has this value state and the new module no longer declares it"),
            "{dropped}"
        );
        assert_eq!(
            check(
                &[declared("tally", StateKind::Value, 1, &[])],
                DroppedState::Allow
            ),
            Ok(vec![
                ("tally".into(), StateChange::New),
                ("count".into(), StateChange::Dropped)
            ])
        );
        let older = check_compatibility(
            &[held("count", StateKind::Value, 3)],
            Takeover::Restore {
                snapshot: "savepoint 4",
                module: "v2.wasm",
            },
            PROCESS,
            &[declared("count", StateKind::Value, 2, &[1])],
            DroppedState::Refuse,
        )
        .unwrap_err();
        assert!(older.to_string().contains("at version 3 in savepoint 4"));
        let window = check_compatibility(
            &running,
            Takeover::Swap,
            FunctionKind::WindowProcess,
            &[declared("count", StateKind::Value, 2, &[1])],
            DroppedState::Refuse,
        );
        assert!(window.is_err());
    }

    #[test]
    fn each_version_is_stored_under_a_name_of_its_own() {
        let state = declared("count", StateKind::Value, 3, &[1, 2, 1]);
        assert_eq!(state.storage().name, "count@v3");
        let older: Vec<(u32, String)> = state
            .older_storages()
            .into_iter()
            .map(|(v, d)| (v, d.name))
            .collect();
        assert_eq!(older, [(2, "count@v2".into()), (1, "count".into())]);
        assert_eq!(
            declared("count", StateKind::Value, 1, &[]).storage().name,
            "count"
        );
    }
}
