//! Host bindings generated from `wit/dataflow.wit`, one module per world.
//!
//! The keyed-process world is generated in full; the other worlds reuse its
//! `types` and `log` interfaces so there is one Rust type per WIT type.

/// The `keyed-process` world, and the shared `types`, `log` and `state` interfaces.
pub mod keyed {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "keyed-process",
        imports: { default: trappable },
    });
}

/// The `transform` world (map, filter, flat-map, key-selector).
pub mod transform {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transform",
        imports: { default: trappable },
        with: {
            "eddy:dataflow/types": super::keyed::eddy::dataflow::types,
            "eddy:dataflow/log": super::keyed::eddy::dataflow::log,
        },
    });
}

/// The `aggregate` world.
pub mod aggregate {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "aggregate",
        imports: { default: trappable },
        with: {
            "eddy:dataflow/types": super::keyed::eddy::dataflow::types,
            "eddy:dataflow/log": super::keyed::eddy::dataflow::log,
        },
    });
}

pub use keyed::eddy::dataflow::types::{
    Descriptor, FunctionKind, StateDescriptor as WitStateDescriptor, StateKind as WitStateKind,
    Ttl, TtlUpdate as WitTtlUpdate,
};
