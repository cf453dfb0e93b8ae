//! The data path: records, operators, exchanges, tasks, and the executor
//! that runs a job's tasks on threads.

pub mod operator;
pub mod record;
pub mod transform;
pub mod keyed;
