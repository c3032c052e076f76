//! `tierform version`: the tool's version, and as JSON the versions of what it reads
//! and writes.

use std::io::Write;

use anyhow::Result;

use crate::cli::args::VersionFormat;
use crate::cli::exit;

/// The version of the JSON documents tierform prints (`--format json`); it changes when
/// a field is removed or changes meaning.
pub const JSON_FORMAT_VERSION: u32 = 1;

pub fn run(format: VersionFormat) -> Result<u8> {
    let version = env!("CARGO_PKG_VERSION");
    let text = match format {
        VersionFormat::Text => format!("tierform {version}\n"),
        VersionFormat::Json => {
            let doc = serde_json::json!({
                "format_version": JSON_FORMAT_VERSION,
                "name": "tierform",
                "version": version,
                // The blueprint language's `version` it reads (the schema's `const`).
                "blueprint_versions": [1],
            });
            format!("{}\n", serde_json::to_string_pretty(&doc)?)
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(exit::OK)
}
