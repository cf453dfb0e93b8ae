//! The state backend a job chose, set up once per run and opened for each
//! operator subtask: the one place that maps a [`StateBackendConfig`] to a
//! backend, and so the one place of the runtime that knows which backends
//! this build of eddy has (RocksDB is behind the cargo feature `rocksdb`).

#[cfg(feature = "rocksdb")]
use anyhow::Context;
use anyhow::Result;

use super::{KeyGroupRange, MemoryStateBackend, StateBackend, StateError, TtlClock, TtlStates};
use crate::job::StateBackendConfig;
use crate::snapshot::NativeDatabase;

/// What every operator subtask of a job needs to open its keyed state.
pub enum JobStateBackend {
    /// Hash maps on the heap; nothing is shared.
    Memory,
    /// The block cache and directory shared by every database of the job.
    #[cfg(feature = "rocksdb")]
    RocksDb(super::RocksDbShared),
}

impl JobStateBackend {
    /// Set up the backend `config` chooses. A backend this build lacks is an
    /// error naming the cargo feature (the job loader refuses such a job
    /// file first; this catches jobs made in code, as `eddy bench` makes
    /// them).
    pub fn new(config: &StateBackendConfig) -> Result<JobStateBackend> {
        match config {
            StateBackendConfig::Memory => Ok(JobStateBackend::Memory),
            #[cfg(feature = "rocksdb")]
            StateBackendConfig::RocksDb(config) => {
                let mut shared = super::RocksDbShared::new(
                    config.local_dir.clone(),
                    usize::try_from(config.block_cache_bytes).unwrap_or(usize::MAX),
                    usize::try_from(config.write_buffer_bytes).unwrap_or(usize::MAX),
                );
                shared.write_cache_bytes =
                    usize::try_from(config.write_cache_bytes).unwrap_or(usize::MAX);
                Ok(JobStateBackend::RocksDb(shared))
            }
            #[cfg(not(feature = "rocksdb"))]
            StateBackendConfig::RocksDb(_) => Err(anyhow::anyhow!(
                crate::features::CargoFeature::RocksDb.missing("state backend `rocksdb`")
            )),
        }
    }

    /// The keyed state of subtask `subtask` of operator `operator`, owning
    /// the key groups `range`, with state time-to-live enforced on the
    /// backend's clock.
    #[cfg_attr(
        not(feature = "rocksdb"),
        expect(unused_variables, reason = "only RocksDB has a database per subtask")
    )]
    pub fn open(
        &self,
        operator: &str,
        subtask: u32,
        range: KeyGroupRange,
    ) -> Result<Box<dyn StateBackend>> {
        let (backend, clock): (Box<dyn StateBackend>, TtlClock) = match self {
            JobStateBackend::Memory => (
                Box::new(MemoryStateBackend::new(operator, range)),
                TtlClock::System,
            ),
            #[cfg(feature = "rocksdb")]
            JobStateBackend::RocksDb(shared) => (
                Box::new(
                    super::RocksDbStateBackend::open(shared, operator, subtask, range)
                        .with_context(|| {
                            format!(
                                "operator `{operator}`: cannot open its RocksDB state in {}",
                                shared.dir.display()
                            )
                        })?,
                ),
                shared.clock.clone(),
            ),
        };
        Ok(Box::new(TtlStates::new(backend, clock)))
    }

    /// Whether this backend opens an incremental checkpoint's native files
    /// directly ([`Self::open_restored`]).
    pub fn opens_native_files(&self) -> bool {
        match self {
            JobStateBackend::Memory => false,
            #[cfg(feature = "rocksdb")]
            JobStateBackend::RocksDb(_) => true,
        }
    }

    /// The keyed state of a subtask as [`Self::open`] gives it, but opened
    /// on the native files of an incremental checkpoint of the same
    /// operator subtask, which `fill` copies into the folder it is given.
    /// Only for a backend that [`Self::opens_native_files`].
    #[cfg_attr(
        not(feature = "rocksdb"),
        expect(unused_variables, reason = "only RocksDB opens native files")
    )]
    pub fn open_restored(
        &self,
        operator: &str,
        subtask: u32,
        range: KeyGroupRange,
        database: &NativeDatabase,
        fill: impl FnOnce(&std::path::Path) -> Result<(), StateError>,
    ) -> Result<Box<dyn StateBackend>> {
        match self {
            JobStateBackend::Memory => {
                anyhow::bail!("operator `{operator}`: the memory backend cannot open RocksDB files")
            }
            #[cfg(feature = "rocksdb")]
            JobStateBackend::RocksDb(shared) => {
                let backend = super::RocksDbStateBackend::open_restored(
                    shared, operator, subtask, range, database, fill,
                )
                .with_context(|| {
                    format!(
                        "operator `{operator}`: cannot open its RocksDB state on the checkpoint's files (copied below {})",
                        shared.dir.display()
                    )
                })?;
                Ok(Box::new(TtlStates::new(
                    Box::new(backend),
                    shared.clock.clone(),
                )))
            }
        }
    }
}
