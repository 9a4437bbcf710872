//! Typed, forgiving reads of GGUF metadata values. GGUF writers disagree on integer widths
//! (u32 vs i32 vs u64), so every getter accepts any integer type.

use candle_core::quantized::gguf_file::{Content, Value};

pub(crate) fn string<'a>(content: &'a Content, key: &str) -> Option<&'a str> {
    match content.metadata.get(key) {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

pub(crate) fn integer(content: &Content, key: &str) -> Option<u64> {
    value_as_u64(content.metadata.get(key)?)
}

pub(crate) fn boolean(content: &Content, key: &str) -> Option<bool> {
    match content.metadata.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => value_as_u64(other).map(|v| v != 0),
        None => None,
    }
}

pub(crate) fn array<'a>(content: &'a Content, key: &str) -> Option<&'a [Value]> {
    match content.metadata.get(key) {
        Some(Value::Array(values)) => Some(values.as_slice()),
        _ => None,
    }
}

pub(crate) fn value_as_u64(value: &Value) -> Option<u64> {
    match *value {
        Value::U8(v) => Some(v as u64),
        Value::U16(v) => Some(v as u64),
        Value::U32(v) => Some(v as u64),
        Value::U64(v) => Some(v),
        Value::I8(v) if v >= 0 => Some(v as u64),
        Value::I16(v) if v >= 0 => Some(v as u64),
        Value::I32(v) if v >= 0 => Some(v as u64),
        Value::I64(v) if v >= 0 => Some(v as u64),
        _ => None,
    }
}

pub(crate) fn value_as_i64(value: &Value) -> Option<i64> {
    match *value {
        Value::U8(v) => Some(v as i64),
        Value::U16(v) => Some(v as i64),
        Value::U32(v) => Some(v as i64),
        Value::U64(v) => i64::try_from(v).ok(),
        Value::I8(v) => Some(v as i64),
        Value::I16(v) => Some(v as i64),
        Value::I32(v) => Some(v as i64),
        Value::I64(v) => Some(v),
        _ => None,
    }
}

pub(crate) fn value_as_f32(value: &Value) -> Option<f32> {
    match *value {
        Value::F32(v) => Some(v),
        Value::F64(v) => Some(v as f32),
        _ => value_as_i64(value).map(|v| v as f32),
    }
}
