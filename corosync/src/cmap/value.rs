//! CMAP values and their types.

use std::fmt;

use corosync_sys as sys;

use crate::{Error, Result};

/// The type of a CMAP value (`cmap_value_types_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `int8_t`.
    I8,
    /// `uint8_t`.
    U8,
    /// `int16_t`.
    I16,
    /// `uint16_t`.
    U16,
    /// `int32_t`.
    I32,
    /// `uint32_t`.
    U32,
    /// `int64_t`.
    I64,
    /// `uint64_t`.
    U64,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// A NUL-terminated string.
    String,
    /// Raw bytes.
    Binary,
    /// A value these bindings do not know.
    Unknown(u32),
}

impl ValueType {
    /// The type for a raw `cmap_value_types_t`.
    pub fn from_raw(raw: u32) -> ValueType {
        match raw {
            sys::CMAP_VALUETYPE_INT8 => ValueType::I8,
            sys::CMAP_VALUETYPE_UINT8 => ValueType::U8,
            sys::CMAP_VALUETYPE_INT16 => ValueType::I16,
            sys::CMAP_VALUETYPE_UINT16 => ValueType::U16,
            sys::CMAP_VALUETYPE_INT32 => ValueType::I32,
            sys::CMAP_VALUETYPE_UINT32 => ValueType::U32,
            sys::CMAP_VALUETYPE_INT64 => ValueType::I64,
            sys::CMAP_VALUETYPE_UINT64 => ValueType::U64,
            sys::CMAP_VALUETYPE_FLOAT => ValueType::Float,
            sys::CMAP_VALUETYPE_DOUBLE => ValueType::Double,
            sys::CMAP_VALUETYPE_STRING => ValueType::String,
            sys::CMAP_VALUETYPE_BINARY => ValueType::Binary,
            other => ValueType::Unknown(other),
        }
    }

    /// The raw `cmap_value_types_t`.
    pub fn as_raw(self) -> u32 {
        match self {
            ValueType::I8 => sys::CMAP_VALUETYPE_INT8,
            ValueType::U8 => sys::CMAP_VALUETYPE_UINT8,
            ValueType::I16 => sys::CMAP_VALUETYPE_INT16,
            ValueType::U16 => sys::CMAP_VALUETYPE_UINT16,
            ValueType::I32 => sys::CMAP_VALUETYPE_INT32,
            ValueType::U32 => sys::CMAP_VALUETYPE_UINT32,
            ValueType::I64 => sys::CMAP_VALUETYPE_INT64,
            ValueType::U64 => sys::CMAP_VALUETYPE_UINT64,
            ValueType::Float => sys::CMAP_VALUETYPE_FLOAT,
            ValueType::Double => sys::CMAP_VALUETYPE_DOUBLE,
            ValueType::String => sys::CMAP_VALUETYPE_STRING,
            ValueType::Binary => sys::CMAP_VALUETYPE_BINARY,
            ValueType::Unknown(raw) => raw,
        }
    }

    /// The name corosync-cmapctl uses for the type (`u32`, `str`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::I8 => "i8",
            ValueType::U8 => "u8",
            ValueType::I16 => "i16",
            ValueType::U16 => "u16",
            ValueType::I32 => "i32",
            ValueType::U32 => "u32",
            ValueType::I64 => "i64",
            ValueType::U64 => "u64",
            ValueType::Float => "flt",
            ValueType::Double => "dbl",
            ValueType::String => "str",
            ValueType::Binary => "bin",
            ValueType::Unknown(_) => "unknown",
        }
    }

    /// The size of a value of a fixed-size type.
    pub fn fixed_len(self) -> Option<usize> {
        Some(match self {
            ValueType::I8 | ValueType::U8 => 1,
            ValueType::I16 | ValueType::U16 => 2,
            ValueType::I32 | ValueType::U32 | ValueType::Float => 4,
            ValueType::I64 | ValueType::U64 | ValueType::Double => 8,
            _ => return None,
        })
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A CMAP value.
///
/// Strings are bytes (without the trailing NUL corosync stores): corosync
/// does not require UTF-8. [`Value::as_str`] gives a `&str` when they are.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `int8_t`.
    I8(i8),
    /// `uint8_t`.
    U8(u8),
    /// `int16_t`.
    I16(i16),
    /// `uint16_t`.
    U16(u16),
    /// `int32_t`.
    I32(i32),
    /// `uint32_t`.
    U32(u32),
    /// `int64_t`.
    I64(i64),
    /// `uint64_t`.
    U64(u64),
    /// `float`, bit for bit (NaN payloads included).
    Float(f32),
    /// `double`, bit for bit.
    Double(f64),
    /// A string, without its trailing NUL; it may not contain NUL bytes.
    String(Vec<u8>),
    /// Raw bytes, NULs included.
    Binary(Vec<u8>),
}

impl Value {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::I8(_) => ValueType::I8,
            Value::U8(_) => ValueType::U8,
            Value::I16(_) => ValueType::I16,
            Value::U16(_) => ValueType::U16,
            Value::I32(_) => ValueType::I32,
            Value::U32(_) => ValueType::U32,
            Value::I64(_) => ValueType::I64,
            Value::U64(_) => ValueType::U64,
            Value::Float(_) => ValueType::Float,
            Value::Double(_) => ValueType::Double,
            Value::String(_) => ValueType::String,
            Value::Binary(_) => ValueType::Binary,
        }
    }

    /// A string value from UTF-8 text.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into().into_bytes())
    }

    /// The string, if this is a UTF-8 string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The bytes of a string or binary value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(b) | Value::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// The value as the bytes corosync stores (native endianness; strings
    /// with their trailing NUL). A string with a NUL byte inside is
    /// [`Error::InteriorNul`]: corosync would cut it there.
    pub fn to_wire(&self) -> Result<Vec<u8>> {
        Ok(match self {
            Value::I8(v) => v.to_ne_bytes().to_vec(),
            Value::U8(v) => v.to_ne_bytes().to_vec(),
            Value::I16(v) => v.to_ne_bytes().to_vec(),
            Value::U16(v) => v.to_ne_bytes().to_vec(),
            Value::I32(v) => v.to_ne_bytes().to_vec(),
            Value::U32(v) => v.to_ne_bytes().to_vec(),
            Value::I64(v) => v.to_ne_bytes().to_vec(),
            Value::U64(v) => v.to_ne_bytes().to_vec(),
            Value::Float(v) => v.to_bits().to_ne_bytes().to_vec(),
            Value::Double(v) => v.to_bits().to_ne_bytes().to_vec(),
            Value::String(s) => {
                if let Some(position) = s.iter().position(|&b| b == 0) {
                    return Err(Error::InteriorNul {
                        what: "cmap string value",
                        position,
                    });
                }
                let mut v = Vec::with_capacity(s.len() + 1);
                v.extend_from_slice(s);
                v.push(0);
                v
            }
            Value::Binary(b) => b.clone(),
        })
    }

    /// Decodes the bytes of a value of type `value_type`. A fixed-size type
    /// with the wrong number of bytes, or an unknown type, is
    /// [`Error::MessageError`].
    pub fn from_wire(value_type: ValueType, bytes: &[u8]) -> Result<Value> {
        fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N]> {
            bytes.try_into().map_err(|_| Error::MessageError)
        }
        Ok(match value_type {
            ValueType::I8 => Value::I8(i8::from_ne_bytes(fixed(bytes)?)),
            ValueType::U8 => Value::U8(u8::from_ne_bytes(fixed(bytes)?)),
            ValueType::I16 => Value::I16(i16::from_ne_bytes(fixed(bytes)?)),
            ValueType::U16 => Value::U16(u16::from_ne_bytes(fixed(bytes)?)),
            ValueType::I32 => Value::I32(i32::from_ne_bytes(fixed(bytes)?)),
            ValueType::U32 => Value::U32(u32::from_ne_bytes(fixed(bytes)?)),
            ValueType::I64 => Value::I64(i64::from_ne_bytes(fixed(bytes)?)),
            ValueType::U64 => Value::U64(u64::from_ne_bytes(fixed(bytes)?)),
            ValueType::Float => Value::Float(f32::from_bits(u32::from_ne_bytes(fixed(bytes)?))),
            ValueType::Double => Value::Double(f64::from_bits(u64::from_ne_bytes(fixed(bytes)?))),
            ValueType::String => {
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Value::String(bytes[..end].to_vec())
            }
            ValueType::Binary => Value::Binary(bytes.to_vec()),
            ValueType::Unknown(_) => return Err(Error::MessageError),
        })
    }
}

macro_rules! from_scalar {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$v(v)
            }
        }
    )*};
}
from_scalar!(i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32, u32 => U32, i64 => I64, u64 => U64, f32 => Float, f64 => Double);

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.as_bytes().to_vec())
    }
}

/// A value lent to a track callback: its type and bytes, borrowed for the
/// callback's duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueRef<'a> {
    /// The value's type.
    pub value_type: ValueType,
    /// Its bytes as corosync stores them (strings with their NUL).
    pub bytes: &'a [u8],
}

impl ValueRef<'_> {
    /// An owned, decoded copy.
    pub fn to_value(&self) -> Result<Value> {
        Value::from_wire(self.value_type, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_wire_form() {
        let values = [
            Value::I8(-5),
            Value::U8(250),
            Value::I16(-30_000),
            Value::U16(65_000),
            Value::I32(i32::MIN),
            Value::U32(u32::MAX),
            Value::I64(i64::MIN),
            Value::U64(u64::MAX),
            Value::Float(1.5),
            Value::Double(-2.25),
            Value::string("hello"),
            Value::Binary(vec![0, 1, 0, 255]),
        ];
        for v in values {
            let wire = v.to_wire().unwrap();
            if let Some(n) = v.value_type().fixed_len() {
                assert_eq!(wire.len(), n);
            }
            assert_eq!(Value::from_wire(v.value_type(), &wire).unwrap(), v);
            assert_eq!(ValueType::from_raw(v.value_type().as_raw()), v.value_type());
        }
    }

    #[test]
    fn floats_keep_their_bits() {
        let nan = f32::from_bits(0x7fc0_1234);
        let wire = Value::Float(nan).to_wire().unwrap();
        let Value::Float(back) = Value::from_wire(ValueType::Float, &wire).unwrap() else {
            panic!()
        };
        assert_eq!(back.to_bits(), 0x7fc0_1234);
        let wire = Value::Double(f64::NEG_INFINITY).to_wire().unwrap();
        assert_eq!(
            Value::from_wire(ValueType::Double, &wire).unwrap(),
            Value::Double(f64::NEG_INFINITY)
        );
    }

    #[test]
    fn strings_carry_a_nul_and_refuse_inner_ones() {
        assert_eq!(Value::string("ab").to_wire().unwrap(), b"ab\0");
        assert_eq!(
            Value::String(b"a\0b".to_vec()).to_wire(),
            Err(Error::InteriorNul {
                what: "cmap string value",
                position: 1
            })
        );
        assert_eq!(
            Value::from_wire(ValueType::String, b"xyz\0")
                .unwrap()
                .as_str(),
            Some("xyz")
        );
        assert_eq!(
            Value::from_wire(ValueType::String, b"xyz")
                .unwrap()
                .as_str(),
            Some("xyz")
        );
    }

    #[test]
    fn bad_wire_data_is_an_error() {
        assert_eq!(
            Value::from_wire(ValueType::U32, &[1, 2]),
            Err(Error::MessageError)
        );
        assert_eq!(
            Value::from_wire(ValueType::Unknown(99), &[]),
            Err(Error::MessageError)
        );
        assert_eq!(ValueType::from_raw(99).name(), "unknown");
    }
}
