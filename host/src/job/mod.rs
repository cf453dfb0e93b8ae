//! Job files: what users write (`spec`), how it is checked (`load`), and the
//! validated form the runtime runs (`model`).

pub mod kafka;
mod load;
pub mod model;
pub mod spec;

pub use load::{JobError, Location, load_job, parse_job};
pub use model::*;
