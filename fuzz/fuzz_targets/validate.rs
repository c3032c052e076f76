//! Any bytes through load → schema → semantic checks → the text report. Nothing may
//! panic, and an input with no error must have resolved phases.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let v = tierform::validate_bytes(data);
    let text = tierform::render_text("fuzz.yaml", v.source.as_deref(), &v.diagnostics);
    if v.errors() == 0 {
        assert!(!v.phases.is_empty(), "valid without phases:\n{text}");
    } else {
        assert!(!text.is_empty());
    }
});
