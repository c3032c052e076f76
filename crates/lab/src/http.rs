//! HTTP/1.1 parsing, shared by the stub and the clients.

use std::io::{self, BufRead, Read};

/// At most this many bytes of head (start line + headers) are accepted.
pub(crate) const MAX_HEAD: u64 = 64 * 1024;

/// A request or response head.
pub(crate) struct Head {
    pub(crate) start_line: String,
    pub(crate) headers: Vec<(String, String)>,
}

/// Reads one line (without its CR LF), or None at end of input.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    r.by_ref().take(MAX_HEAD).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "input ended inside a line (or the line is too long)",
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads a head: a start line and header lines up to an empty line. None if the input
/// ends before anything arrives.
pub(crate) fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    // Empty lines before a start line are allowed (RFC 9112 section 2.2).
    let start_line = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut size = start_line.len();
    loop {
        let line = read_line(r)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "input ended inside a head")
        })?;
        if line.is_empty() {
            return Ok(Some(Head {
                start_line,
                headers,
            }));
        }
        size += line.len();
        if size as u64 > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
        if line.starts_with([' ', '\t']) {
            // An obsolete folded continuation line.
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
        }
        let (name, value) = line.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a header: {line:?}"),
            )
        })?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

/// The value of the first header called `name` (case-insensitive).
pub(crate) fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads a message body framed by `Transfer-Encoding: chunked` or `Content-Length`;
/// without either, reads to end of input when `until_eof` (responses) or nothing
/// (requests).
pub(crate) fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    until_eof: bool,
) -> io::Result<Vec<u8>> {
    let chunked = find_header(headers, "transfer-encoding").is_some_and(|te| {
        te.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    let mut body = Vec::new();
    if chunked {
        loop {
            let line = read_line(r)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "input ended in a chunked body",
                )
            })?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if size == 0 {
                // Trailer fields, up to an empty line (or the end of input).
                while let Some(line) = read_line(r)? {
                    if line.is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            if read_line(r)?.is_none_or(|l| !l.is_empty()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a chunk is not followed by CR LF",
                ));
            }
        }
    } else if let Some(length) = find_header(headers, "content-length") {
        let length: u64 = length.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad Content-Length {length:?}"),
            )
        })?;
        r.take(length).read_to_end(&mut body)?;
        if (body.len() as u64) < length {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("body ended after {} of {length} bytes", body.len()),
            ));
        }
    } else if until_eof {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}
