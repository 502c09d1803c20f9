//! The dynamic-allocation trace parser (`appmaster simulate-allocation --cases`):
//! every line of any text gives one output line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(am_core::simulate::run_lines(text).len(), lines);
});
