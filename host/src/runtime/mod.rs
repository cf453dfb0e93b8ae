//! The data path: records, operators, exchanges, tasks, and the executor
//! that runs a job's tasks on threads.

pub mod dead_letter;
pub mod exchange;
pub mod executor;
pub mod fields;
pub mod handle;
pub mod metrics;
pub mod operator;
pub mod plan;
pub mod record;
pub mod restart;
pub mod source_task;
pub mod swap;
pub mod task;

pub use executor::{JobEnd, JobFailure, JobReport, newest_checkpoint_id, run_job, start_job};
pub use handle::{JobHandle, JobStatus, RunningJob};
pub use plan::{NativeOperatorFactory, RunOptions};
pub use swap::SwapOrder;
