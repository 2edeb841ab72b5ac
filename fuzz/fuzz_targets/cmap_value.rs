//! cmap value decoding on any type code and bytes, as the daemon returns
//! them: it never panics; unknown types are refused; a fixed-size type
//! takes exactly its size and re-encodes to the same bytes; a string ends
//! at its first NUL; binary keeps every byte.
#![no_main]

use corosync::cmap::{Value, ValueType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&code, bytes)) = data.split_first() else {
        return;
    };
    // Codes 0 to 15 cover every known type (1 to 12) and a few unknown ones.
    let value_type = ValueType::from_raw(u32::from(code % 16));
    let decoded = Value::from_wire(value_type, bytes);
    match value_type {
        ValueType::Unknown(_) => assert!(decoded.is_err()),
        ValueType::String => {
            let value = decoded.expect("any bytes are a string");
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            assert_eq!(value.as_bytes(), Some(&bytes[..end]));
            let mut wire = bytes[..end].to_vec();
            wire.push(0);
            assert_eq!(value.to_wire().expect("no interior NUL"), wire);
        }
        ValueType::Binary => {
            let value = decoded.expect("any bytes are binary");
            assert_eq!(value.to_wire().expect("binary encodes"), bytes);
        }
        fixed => {
            let size = fixed.fixed_len().expect("a fixed-size type");
            assert_eq!(decoded.is_ok(), bytes.len() == size);
            if let Ok(value) = decoded {
                assert_eq!(value.value_type(), fixed);
                assert_eq!(value.to_wire().expect("scalar encodes"), bytes);
            }
        }
    }
});
