//! The event-log readers: Spindle's own log (strict and lenient) and the what-if
//! reader of Spindle's and Spark's logs, from raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = am_core::whatif::parse_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let strict = am_core::eventlog::parse(text);
        let lenient = am_core::eventlog::parse_lenient(text);
        if let Ok(all) = strict {
            assert_eq!(all, lenient, "a valid log reads the same leniently");
        }
    }
});
