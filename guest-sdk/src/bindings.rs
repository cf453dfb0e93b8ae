//! Bindings generated from `wit/dataflow.wit`, one module per world.
//!
//! All three worlds live in this one crate without leaking into each other:
//! with `pub_export_macro` wit-bindgen embeds only the world's *imports* in
//! this library (and `wit-component` drops imports a component never calls),
//! while the description of the world's *exports* is emitted by the export
//! macro in the guest crate that invokes it. A transform guest therefore
//! neither imports `state` nor has to export `keyed-process-function`.
//!
//! `types` and `log` are generated once (in `transform`) and shared, so the
//! SDK builds one `Descriptor` type for every world.

/// The `transform` world: map, filter, flat-map and key-selector functions.
pub mod transform {
    wit_bindgen::generate!({
        path: "../wit",
        world: "transform",
        pub_export_macro: true,
        export_macro_name: "export_transform_world",
    });
}

/// The `keyed-process` world: keyed process functions with state and timers.
pub mod keyed_process {
    wit_bindgen::generate!({
        path: "../wit",
        world: "keyed-process",
        pub_export_macro: true,
        export_macro_name: "export_keyed_process_world",
        with: {
            "eddy:dataflow/types@0.1.0": crate::bindings::transform::eddy::dataflow::types,
            "eddy:dataflow/log@0.1.0": crate::bindings::transform::eddy::dataflow::log,
        },
    });
}

/// The `aggregate` world: incremental aggregates.
pub mod aggregate {
    wit_bindgen::generate!({
        path: "../wit",
        world: "aggregate",
        pub_export_macro: true,
        export_macro_name: "export_aggregate_world",
        with: {
            "eddy:dataflow/types@0.1.0": crate::bindings::transform::eddy::dataflow::types,
            "eddy:dataflow/log@0.1.0": crate::bindings::transform::eddy::dataflow::log,
        },
    });
}

pub use keyed_process::eddy::dataflow::state as state_import;
pub use transform::eddy::dataflow::log as log_import;
pub use transform::eddy::dataflow::types;
