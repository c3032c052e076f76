//! Any bytes through the whole pipeline: a blueprint that validates must resolve and
//! render every phase and platform (a render error there is a gap in validation), every
//! path must stay inside the output folder, and rendering twice gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierform::{render, Selection};
use tierform::Templates;

fuzz_target!(|data: &[u8]| {
    let v = tierform::validate_bytes(data);
    if v.errors() > 0 {
        return;
    }
    let templates = Templates::embedded().expect("embedded templates");
    let (set, _) = render(&v.phases, &Selection::default(), &templates)
        .unwrap_or_else(|e| panic!("a valid blueprint failed to render: {e}"));
    for (path, _) in set.iter() {
        tierform::check_path(path).expect("a rendered path escapes");
    }
    let (again, _) = render(&v.phases, &Selection::default(), &templates).unwrap();
    assert!(set.iter().eq(again.iter()), "rendering twice differs");
});
