//! The clients: [`http_get`] and the WebSocket handshake.

use std::fmt::Write as _;
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::Duration;

use crate::http::{find_header, read_body, read_head, MAX_HEAD};

/// Timeouts of the clients: connect, each read, each write.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A response, as [`http_get`] or [`websocket_handshake`] received it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The decoded body (lossy UTF-8); empty for a 101 handshake.
    pub body: String,
}

impl Response {
    /// The value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    timeouts(stream)
}

fn timeouts(stream: TcpStream) -> io::Result<TcpStream> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    Ok(stream)
}

/// A connection to `addr` (IPv4) from the local address `source`, e.g. another loopback
/// address than 127.0.0.1, so a server sees a client it does not trust.
fn connect_from(source: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let (IpAddr::V4(source), SocketAddr::V4(addr)) = (source, addr) else {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "IPv4 only"));
    };
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket, owned by the TcpStream as soon as it exists; the
    // addresses are plain sockaddr_in values that outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let stream = TcpStream::from_raw_fd(fd);
        let from = sockaddr(source, 0);
        if libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        let to = sockaddr(*addr.ip(), addr.port());
        if libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(io::Error::last_os_error());
        }
        timeouts(stream)
    }
}

/// `METHOD path` request text: `Host` (unless given), the extra headers, `Connection`
/// (unless given), and for a body its `Content-Length` and the body.
fn request_text(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    if !given("host") {
        writeln!(text, "Host: {addr}\r").unwrap();
    }
    for (name, value) in headers {
        writeln!(text, "{name}: {value}\r").unwrap();
    }
    if !given("connection") {
        text.push_str("Connection: close\r\n");
    }
    if !body.is_empty() || !matches!(method, "GET" | "HEAD" | "OPTIONS" | "DELETE") {
        writeln!(text, "Content-Length: {}\r", body.len()).unwrap();
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}

fn parse_status(start_line: &str) -> io::Result<u16> {
    let mut parts = start_line.split_whitespace();
    match (parts.next(), parts.next().and_then(|s| s.parse().ok())) {
        (Some(version), Some(status)) if version.starts_with("HTTP/") => Ok(status),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a status line: {start_line:?}"),
        )),
    }
}

/// Sends `GET path` over HTTP/1.1 with `Host: <addr>` and `Connection: close` (unless
/// `headers` gives its own) plus `headers`, and reads the response. The body may be
/// framed by `Content-Length`, `Transfer-Encoding: chunked` or the end of the
/// connection. 5 s timeouts for connecting, reading and writing.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    http_request(addr, "GET", path, headers, "")
}

/// Like [`http_get`], with any method and a body (sent with its `Content-Length`; a
/// `POST`, `PUT` or `PATCH` always sends one, `Content-Length: 0` when empty).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<Response> {
    exchange(connect(addr)?, addr, b"", method, path, headers, body)
}

/// Like [`http_request`], from the local address `source` (IPv4).
pub fn http_request_from(
    source: IpAddr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<Response> {
    exchange(
        connect_from(source, addr)?,
        addr,
        b"",
        method,
        path,
        headers,
        body,
    )
}

/// Like [`http_request_from`], with `preamble` sent on the connection before the
/// request (e.g. a PROXY protocol header).
pub fn http_request_after(
    source: IpAddr,
    addr: SocketAddr,
    preamble: &[u8],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    exchange(
        connect_from(source, addr)?,
        addr,
        preamble,
        method,
        path,
        headers,
        "",
    )
}

fn exchange(
    mut stream: TcpStream,
    addr: SocketAddr,
    preamble: &[u8],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<Response> {
    // A server may answer (413, 429) and close before it has read a large body: the
    // answer still counts, so a failed write is returned only when none comes.
    let mut text = preamble.to_vec();
    text.extend(request_text(addr, method, path, headers, body).as_bytes());
    let written = stream.write_all(&text);
    let mut reader = BufReader::new(stream);
    loop {
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) => {
                written?;
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed without a response",
                ));
            }
            Err(e) => return Err(written.err().unwrap_or(e)),
        };
        let status = parse_status(&head.start_line)?;
        if (100..200).contains(&status) && status != 101 {
            continue; // An interim response (100 Continue, 103 Early Hints).
        }
        let body = if status == 101 || status == 204 || status == 304 {
            Vec::new()
        } else {
            read_body(&mut reader, &head.headers, true)?
        };
        return Ok(Response {
            status,
            headers: head.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
}

/// The `Sec-WebSocket-Key` the WebSocket clients send (RFC 6455's example key).
pub const WEBSOCKET_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends a WebSocket upgrade request for `path` and returns the response head (for a
/// 101, without waiting for anything more) and the open connection, on which raw bytes
/// can then be written and read (the stub echoes them; no WebSocket framing is done).
/// For a response other than 101 the body is read too (for assertion messages).
pub fn websocket_connect(addr: SocketAddr, path: &str) -> io::Result<(Response, TcpStream)> {
    let mut stream = connect(addr)?;
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", WEBSOCKET_KEY),
        ("Sec-WebSocket-Version", "13"),
    ];
    stream.write_all(request_text(addr, "GET", path, &headers, "").as_bytes())?;

    // Read the head a byte at a time: nothing after it may be consumed, since it
    // belongs to whoever uses the connection next.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if stream.read(&mut byte)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed inside the response head",
            ));
        }
        head.push(byte[0]);
        if head.len() as u64 > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too large"));
        }
    }
    let head = read_head(&mut &head[..])?.expect("a complete head");
    let status = parse_status(&head.start_line)?;
    let body = if status == 101 {
        Vec::new()
    } else {
        read_body(&mut BufReader::new(&stream), &head.headers, true)?
    };
    let response = Response {
        status,
        headers: head.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    Ok((response, stream))
}

/// Sends a WebSocket upgrade request for `path` (with [`WEBSOCKET_KEY`]) and returns
/// the response head; the connection is then closed. A correct answer has status 101
/// and `Sec-WebSocket-Accept: websocket_accept(WEBSOCKET_KEY)`.
pub fn websocket_handshake(addr: SocketAddr, path: &str) -> io::Result<Response> {
    websocket_connect(addr, path).map(|(response, _stream)| response)
}
