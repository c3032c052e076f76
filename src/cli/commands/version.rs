//! `tierform version`: the tool's version, and as JSON the versions of what it reads
//! and writes.

use std::io::Write;

use anyhow::Result;

use crate::cli::args::TextOrJson;
use crate::cli::exit;
use crate::cli::json;

pub fn run(format: TextOrJson) -> Result<u8> {
    let version = env!("CARGO_PKG_VERSION");
    let text = match format {
        TextOrJson::Text => format!("tierform {version}\n"),
        TextOrJson::Json => {
            let doc = serde_json::json!({
                "name": "tierform",
                "version": version,
                // The blueprint language's `version` it reads (the schema's `const`).
                "blueprint_versions": [1],
            });
            json::to_text(doc)?
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(exit::OK)
}
