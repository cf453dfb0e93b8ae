//! Runtime of the `aggregate` world.
//!
//! Accumulators cross the boundary as JSON so the host can store them as
//! portable state; inputs and results use the function's own codecs.

use std::any::type_name;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::types::{Descriptor, FunctionKind};
use crate::codec::{Decode, Encode};
use crate::function::Aggregate;
use crate::layout::{GroupReader, fired_windows, put_bytes_with};
use crate::open::{OpenContext, Registrations};
use crate::panic::install_hook;
use crate::window::Window;

use super::Instance;

fn decode_accumulator<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|error| {
        format!(
            "accumulator is not JSON of type `{}`: {error}",
            type_name::<T>()
        )
    })
}

fn encode_accumulator<T: Serialize>(accumulator: &T, out: &mut Vec<u8>) -> Result<(), String> {
    serde_json::to_writer(out, accumulator).map_err(|error| {
        format!(
            "cannot encode accumulator `{}` as JSON: {error}",
            type_name::<T>()
        )
    })
}

/// `describe`: aggregates have no states or side outputs of their own.
pub fn describe<A: Aggregate>() -> Descriptor {
    install_hook();
    Registrations::default().descriptor(FunctionKind::Aggregate)
}

/// `init`: build the function from the operator's config.
pub fn init<A: Aggregate>(instance: &Instance<A>, config: String) -> Result<(), String> {
    install_hook();
    let ctx = OpenContext::new(config);
    let function = A::open(&ctx)?;
    ctx.finish()?;
    instance.set(function);
    Ok(())
}

/// `create-accumulator`: the WIT function cannot fail, so a failure traps
/// (with the message passed to the host by the panic hook).
pub fn create_accumulator<A: Aggregate>(instance: &Instance<A>) -> Vec<u8> {
    let result = instance.with(|function| {
        let mut out = Vec::new();
        encode_accumulator(&function.create_accumulator(), &mut out)?;
        Ok(out)
    });
    result.unwrap_or_else(|error| panic!("create-accumulator failed: {error}"))
}

/// `add-batch`: add each group's inputs to its accumulator.
pub fn add_batch<A: Aggregate>(instance: &Instance<A>, groups: Vec<u8>) -> Result<Vec<u8>, String> {
    instance.with(|function| {
        let mut reader = GroupReader::new(&groups)?;
        let mut out = Vec::with_capacity(instance.output_capacity());
        while let Some(group) = reader.next_group()? {
            let mut accumulator: A::Acc = decode_accumulator(group.accumulator)?;
            for (_, value) in group.values() {
                function.add(&mut accumulator, A::In::decode(value)?);
            }
            put_bytes_with(&mut out, |buf| encode_accumulator(&accumulator, buf))?;
        }
        instance.remember_output_len(out.len());
        Ok(out)
    })
}

/// `merge`: combine two accumulators.
pub fn merge<A: Aggregate>(
    instance: &Instance<A>,
    a: Vec<u8>,
    b: Vec<u8>,
) -> Result<Vec<u8>, String> {
    instance.with(|function| {
        let merged = function.merge(decode_accumulator(&a)?, decode_accumulator(&b)?);
        let mut out = Vec::new();
        encode_accumulator(&merged, &mut out)?;
        Ok(out)
    })
}

/// `get-results`: the result of each fired window, in order.
pub fn get_results<A: Aggregate>(
    instance: &Instance<A>,
    windows: Vec<u8>,
) -> Result<Vec<u8>, String> {
    instance.with(|function| {
        let mut out = Vec::new();
        for fired in fired_windows(&windows)? {
            let accumulator: A::Acc = decode_accumulator(fired.accumulator)?;
            let window = Window {
                key: fired.key,
                start: fired.start,
                end: fired.end,
            };
            put_bytes_with(&mut out, |buf| {
                function.get_result(&accumulator, &window).encode(buf)
            })?;
        }
        Ok(out)
    })
}
