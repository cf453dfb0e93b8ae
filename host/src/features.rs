//! The optional parts of eddy, each behind a cargo feature of the `eddy`
//! crate, so that a first build (the Quick start) compiles only what most
//! jobs need. A job file names such a part by what it does (`backend =
//! "rocksdb"`); this module says whether this build has it and, if not, how
//! to get a build that does.

/// A cargo feature of the `eddy` crate that a job may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CargoFeature {
    /// The embedded RocksDB state backend (`state::rocksdb`), whose C++
    /// takes longer to compile than the rest of eddy together.
    RocksDb,
    /// The Redis sink (`connectors::redis`): a client for a service the
    /// Quick start does not use.
    Redis,
    /// The Kafka source and sink (`connectors::kafka`), over librdkafka,
    /// whose C takes minutes to compile.
    Kafka,
}

impl CargoFeature {
    /// The feature's name in `host/Cargo.toml`, as `--features` takes it.
    pub fn name(self) -> &'static str {
        match self {
            CargoFeature::RocksDb => "rocksdb",
            CargoFeature::Redis => "redis",
            CargoFeature::Kafka => "kafka",
        }
    }

    /// Whether this binary was compiled with the feature.
    pub fn in_this_build(self) -> bool {
        match self {
            CargoFeature::RocksDb => cfg!(feature = "rocksdb"),
            CargoFeature::Redis => cfg!(feature = "redis"),
            CargoFeature::Kafka => cfg!(feature = "kafka"),
        }
    }

    /// The message for a job that needs `what` (e.g. "state backend
    /// `rocksdb`") from a build without this feature: what is missing and
    /// the command that builds an eddy with it.
    pub fn missing(self, what: &str) -> String {
        format!(
            "{what} is not in this build of eddy: rebuild with `cargo build --release --features {}`",
            self.name()
        )
    }
}
