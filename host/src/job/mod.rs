//! Job files: what users write (`spec`), how it is checked (`load`), and the
//! validated form the runtime runs (`model`).

pub mod kafka;
mod load;
pub mod model;
pub mod spec;

pub use load::{GuestFiles, JobError, Location, load_job, parse_job, parse_job_with_guest_files};
pub use model::*;
