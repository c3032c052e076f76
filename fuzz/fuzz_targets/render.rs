//! Any bytes through the whole pipeline: a blueprint that validates must resolve and
//! render every phase and platform (a render error there is a gap in validation), every
//! path must stay inside the output folder, and rendering twice gives the same bytes.
//! Rendering runs under output limits of 8 MB (the product's are 256 MiB, which a
//! fuzzer would spend its time writing): passing them must end in the located
//! `too-many` finding, and a render that stops there holds no more than the limit and
//! one phase.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tierform::{render_limited, OutputLimits, RenderError, Selection, Templates};

const LIMITS: OutputLimits = OutputLimits {
    files: 20_000,
    bytes: 8_000_000,
};

fuzz_target!(|data: &[u8]| {
    let v = tierform::validate_bytes(data);
    if v.errors() > 0 {
        return;
    }
    let templates = Templates::embedded().expect("embedded templates");
    let set = match render_limited(&v.phases, &Selection::default(), &templates, LIMITS) {
        Ok((set, _)) => set,
        Err(RenderError::TooLarge(d)) => {
            assert_eq!(d.code.as_str(), "too-many");
            assert!(d.message.contains("nothing was written"), "{}", d.message);
            return;
        }
        Err(e) => panic!("a valid blueprint failed to render: {e}"),
    };
    assert!(set.len() <= LIMITS.files && set.bytes() <= LIMITS.bytes);
    for (path, _) in set.iter() {
        tierform::check_path(path).expect("a rendered path escapes");
    }
    let (again, _) = render_limited(&v.phases, &Selection::default(), &templates, LIMITS).unwrap();
    assert!(set.iter().eq(again.iter()), "rendering twice differs");
});
