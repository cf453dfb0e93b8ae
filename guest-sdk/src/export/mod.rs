//! The glue between the generated world exports and the user's function.
//!
//! Each `export_*!` macro expands, in the guest crate, to a small type that
//! implements the world's generated `Guest` trait by calling the generic
//! runtime of that world (`transform`, `keyed`, `aggregate`), plus one
//! per-instance slot holding the user's function. Invoking wit-bindgen's own
//! export macro there also embeds the world's description in the guest, so
//! every component exports exactly its own world.

pub mod aggregate;
pub mod keyed;
pub mod transform;

use std::cell::{Cell, RefCell};

use crate::bindings::types::FunctionKind;
use crate::version::Migrations;

/// The operator `kind` of the job file that a function kind goes with.
pub(crate) fn kind_name(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Map => "map",
        FunctionKind::Filter => "filter",
        FunctionKind::FlatMap => "flat-map",
        FunctionKind::KeySelector => "key-selector",
        FunctionKind::KeyedProcess => "keyed-process",
        FunctionKind::Aggregate => "aggregate",
        FunctionKind::WindowProcess => "window-process",
        FunctionKind::CoProcess => "co-process",
        FunctionKind::BroadcastProcess => "broadcast-process",
    }
}

/// The user's function of one instance, created by `init`, with what its
/// `open` registered that the runtime needs later.
pub struct Instance<F> {
    function: RefCell<Option<F>>,
    /// The state migrations registered in `open`, for `migrate-state`
    /// (keyed world; empty in the others, which have no keyed state).
    migrations: RefCell<Migrations>,
    /// Size of the last output buffer, to allocate the next one right away.
    output_hint: Cell<usize>,
}

impl<F> Default for Instance<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> Instance<F> {
    /// An instance before `init`.
    pub const fn new() -> Self {
        Instance {
            function: RefCell::new(None),
            migrations: RefCell::new(Migrations::new()),
            output_hint: Cell::new(0),
        }
    }

    fn set(&self, function: F) {
        *self.function.borrow_mut() = Some(function);
    }

    fn set_migrations(&self, migrations: Migrations) {
        *self.migrations.borrow_mut() = migrations;
    }

    /// Migrate one stored value of state `state` from version
    /// `from_version` with the migration registered in `open`; an error
    /// before `init`, as for the function's other calls.
    fn migrate(&self, state: &str, from_version: u32, value: &[u8]) -> Result<Vec<u8>, String> {
        self.with(|_| Ok(()))?;
        let migrations = self
            .migrations
            .try_borrow()
            .map_err(|_| "a state migration was re-entered while running".to_owned())?;
        migrations.migrate(state, from_version, value)
    }

    /// Run `body` with the function; an error before `init`.
    fn with<R>(&self, body: impl FnOnce(&mut F) -> Result<R, String>) -> Result<R, String> {
        let mut function = self
            .function
            .try_borrow_mut()
            .map_err(|_| "the function was re-entered while running".to_owned())?;
        let function = function
            .as_mut()
            .ok_or_else(|| "the function was called before `init`".to_owned())?;
        body(function)
    }

    /// Capacity for the next output buffer.
    fn output_capacity(&self) -> usize {
        self.output_hint.get()
    }

    fn remember_output_len(&self, len: usize) {
        self.output_hint.set(len);
    }
}

/// Exports a world whose interface is `describe`, `init` and `process-batch`
/// (`transform` and `keyed-process`), running `$adapter` through `$runtime`.
/// Further functions of the interface (`migrate-state` of `keyed-process`)
/// are listed after the adapter with their signatures, and call the
/// runtime's function of the same name with the instance and their arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_batch_world {
    (
        $world:ident, $interface:ident, $export_world:ident, $runtime:ident, $adapter:ty
        $(, fn $extra:ident($($arg:ident: $arg_ty:ty),* $(,)?) -> $ret:ty)* $(,)?
    ) => {
        const _: () = {
            struct EddyGuest;

            ::std::thread_local! {
                static INSTANCE: $crate::__private::Instance<$adapter> =
                    const { $crate::__private::Instance::new() };
            }

            impl $crate::__private::bindings::$world::exports::eddy::dataflow::$interface::Guest
                for EddyGuest
            {
                fn describe() -> $crate::__private::bindings::types::Descriptor {
                    $crate::__private::$runtime::describe::<$adapter>()
                }

                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    INSTANCE.with(|instance| $crate::__private::$runtime::init(instance, config))
                }

                fn process_batch(
                    batch: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    INSTANCE.with(|instance| {
                        $crate::__private::$runtime::process_batch(instance, batch)
                    })
                }

                $(
                    fn $extra($($arg: $arg_ty),*) -> $ret {
                        INSTANCE.with(|instance| {
                            $crate::__private::$runtime::$extra(instance, $($arg),*)
                        })
                    }
                )*
            }

            $crate::__private::bindings::$world::$export_world!(
                EddyGuest with_types_in $crate::__private::bindings::$world
            );
        };
    };
}

/// Exports a [`Map`](crate::Map) as a `transform` component: `export_map!(MyMap);`
#[macro_export]
macro_rules! export_map {
    ($function:ty) => {
        $crate::__export_batch_world!(
            transform,
            transform_function,
            export_transform_world,
            transform,
            $crate::__private::transform::MapFunction<$function>
        );
    };
}

/// Exports a [`Filter`](crate::Filter) as a `transform` component: `export_filter!(MyFilter);`
#[macro_export]
macro_rules! export_filter {
    ($function:ty) => {
        $crate::__export_batch_world!(
            transform,
            transform_function,
            export_transform_world,
            transform,
            $crate::__private::transform::FilterFunction<$function>
        );
    };
}

/// Exports a [`FlatMap`](crate::FlatMap) as a `transform` component: `export_flat_map!(MyFlatMap);`
#[macro_export]
macro_rules! export_flat_map {
    ($function:ty) => {
        $crate::__export_batch_world!(
            transform,
            transform_function,
            export_transform_world,
            transform,
            $crate::__private::transform::FlatMapFunction<$function>
        );
    };
}

/// Exports a [`KeySelector`](crate::KeySelector) as a `transform` component:
/// `export_key_selector!(MyKeySelector);`
#[macro_export]
macro_rules! export_key_selector {
    ($function:ty) => {
        $crate::__export_batch_world!(
            transform,
            transform_function,
            export_transform_world,
            transform,
            $crate::__private::transform::KeySelectorFunction<$function>
        );
    };
}

/// Exports a [`KeyedProcess`](crate::KeyedProcess) as a `keyed-process`
/// component: `export_keyed_process!(MyProcess);`
#[macro_export]
macro_rules! export_keyed_process {
    ($function:ty) => {
        $crate::__export_keyed_world!($crate::__private::keyed::KeyedProcessFunction<$function>);
    };
}

/// Exports a [`ProcessWindow`](crate::ProcessWindow) as a component of the
/// `keyed-process` world with kind `window-process`:
/// `export_process_window!(MyWindowFunction);`
#[macro_export]
macro_rules! export_process_window {
    ($function:ty) => {
        $crate::__export_keyed_world!($crate::__private::keyed::ProcessWindowFunction<$function>);
    };
}

/// Exports a [`CoProcess`](crate::CoProcess) as a component of the
/// `keyed-process` world with kind `co-process`: `export_co_process!(MyJoin);`
#[macro_export]
macro_rules! export_co_process {
    ($function:ty) => {
        $crate::__export_keyed_world!($crate::__private::keyed::CoProcessFunction<$function>);
    };
}

/// Exports a [`KeyedBroadcastProcess`](crate::KeyedBroadcastProcess) as a
/// component of the `keyed-process` world with kind `broadcast-process`:
/// `export_broadcast_process!(MyRules);`
#[macro_export]
macro_rules! export_broadcast_process {
    ($function:ty) => {
        $crate::__export_keyed_world!(
            $crate::__private::keyed::BroadcastProcessFunction<$function>
        );
    };
}

/// Exports a keyed-world adapter (`export::keyed::KeyedFunction`), with
/// `migrate-state` besides the batch functions.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_keyed_world {
    ($adapter:ty) => {
        $crate::__export_batch_world!(
            keyed_process,
            keyed_process_function,
            export_keyed_process_world,
            keyed,
            $adapter,
            fn migrate_state(
                state: ::std::string::String,
                from_version: u32,
                value: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String>,
        );
    };
}

/// Exports an [`Aggregate`](crate::Aggregate) as an `aggregate` component:
/// `export_aggregate!(MyAggregate);`
#[macro_export]
macro_rules! export_aggregate {
    ($function:ty) => {
        const _: () = {
            struct EddyGuest;

            ::std::thread_local! {
                static INSTANCE: $crate::__private::Instance<$function> =
                    const { $crate::__private::Instance::new() };
            }

            use $crate::__private::aggregate as runtime;
            use $crate::__private::bindings::aggregate::exports::eddy::dataflow::aggregate_function::Guest;
            use ::std::{result::Result, string::String, vec::Vec};

            impl Guest for EddyGuest {
                fn describe() -> $crate::__private::bindings::types::Descriptor {
                    runtime::describe::<$function>()
                }

                fn init(config: String) -> Result<(), String> {
                    INSTANCE.with(|instance| runtime::init(instance, config))
                }

                fn create_accumulator() -> Vec<u8> {
                    INSTANCE.with(runtime::create_accumulator)
                }

                fn add_batch(groups: Vec<u8>) -> Result<Vec<u8>, String> {
                    INSTANCE.with(|instance| runtime::add_batch(instance, groups))
                }

                fn merge(a: Vec<u8>, b: Vec<u8>) -> Result<Vec<u8>, String> {
                    INSTANCE.with(|instance| runtime::merge(instance, a, b))
                }

                fn get_results(windows: Vec<u8>) -> Result<Vec<u8>, String> {
                    INSTANCE.with(|instance| runtime::get_results(instance, windows))
                }
            }

            $crate::__private::bindings::aggregate::export_aggregate_world!(
                EddyGuest with_types_in $crate::__private::bindings::aggregate
            );
        };
    };
}

#[cfg(test)]
mod tests;
