//! [`StubBackend`]: an app instance on threads of the test process.

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::digest::websocket_accept;
use crate::http::{find_header, read_body, read_head};

/// What the accept loop and the connection threads of a [`StubBackend`] share.
struct Shared {
    name: String,
    stop: AtomicBool,
    hits: AtomicUsize,
    health_hits: AtomicUsize,
    last_headers: Mutex<Vec<(String, String)>>,
    /// Open connections (clones of their streams), so `stop` can cut them.
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

/// An HTTP/1.1 server on threads of the test process, playing one app instance.
///
/// Every request gets `200 OK` with the backend's name as the body and the headers
/// `X-Backend: <name>`, `X-Path: <request target>`, `Content-Length` and
/// `Connection: close`; then the connection closes (one request per connection).
/// Requests for `/health` get `200 OK` "ok" and count in [`StubBackend::health_hits`],
/// all others in [`StubBackend::hits`]. A request whose path contains `/busy/` gets 503
/// (a backend shedding load). A request whose path contains `/drop/` plays a request that crashes its worker: it is read and counted, and
/// the connection is closed without an answer. A request with `Upgrade: websocket` gets
/// `101 Switching Protocols` (with a correct `Sec-WebSocket-Accept`), after which the
/// backend echoes raw bytes until the peer closes.
pub struct StubBackend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl StubBackend {
    /// Listens on `addr` (a 127.x address; port 0 picks a free port, see
    /// [`StubBackend::addr`]). Panics if it cannot.
    pub fn start(addr: SocketAddr, name: &str) -> StubBackend {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| {
            panic!("StubBackend {name}: cannot listen on {addr}: {e} (another test or a leftover process using it?)")
        });
        // A blocking accept answers at once; `stop` wakes it with a connection of its own.
        let addr = listener.local_addr().expect("the listener's address");
        let shared = Arc::new(Shared {
            name: name.to_string(),
            stop: AtomicBool::new(false),
            hits: AtomicUsize::new(0),
            health_hits: AtomicUsize::new(0),
            last_headers: Mutex::new(Vec::new()),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("stub-{name}"))
                .spawn(move || accept_loop(listener, shared))
                .expect("spawn the accept thread")
        };
        StubBackend {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend's name (its response body and `X-Backend`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Requests served, other than those for `/health`.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Requests for `/health` served.
    pub fn health_hits(&self) -> usize {
        self.shared.health_hits.load(Ordering::SeqCst)
    }

    /// The headers of the last request (of any kind), names as sent.
    pub fn last_headers(&self) -> Vec<(String, String)> {
        self.shared.last_headers.lock().unwrap().clone()
    }

    /// The value of one header of the last request (name case-insensitive).
    pub fn last_header(&self, name: &str) -> Option<String> {
        find_header(&self.last_headers(), name).map(str::to_string)
    }

    /// Plays a crashed instance: closes the listener (new connections are refused) and
    /// cuts the open connections. Returns once the port refuses. Idempotent.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            // Wake the blocking accept; it sees `stop` and returns.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            // The accept loop drops the listener when it ends. Connections it accepted
            // are registered before it returns, so the sweep below sees them all.
            if acceptor.join().is_err() {
                eprintln!("lab: the accept thread of {} panicked", self.shared.name);
            }
        }
        for stream in self.shared.connections.lock().unwrap().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for StubBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok(_) if shared.stop.load(Ordering::SeqCst) => break,
            Ok((stream, _peer)) => {
                let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
                match stream.try_clone() {
                    Ok(clone) => {
                        shared.connections.lock().unwrap().insert(id, clone);
                    }
                    Err(e) => eprintln!("lab: {}: cannot clone a stream: {e}", shared.name),
                }
                let shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(format!("stub-{}-{id}", shared.name))
                    .spawn(move || {
                        if let Err(e) = serve(&shared, stream) {
                            // Peers that hang up early are normal in proxy tests.
                            if !matches!(
                                e.kind(),
                                io::ErrorKind::UnexpectedEof
                                    | io::ErrorKind::ConnectionReset
                                    | io::ErrorKind::BrokenPipe
                                    | io::ErrorKind::NotConnected
                            ) {
                                eprintln!("lab: {}: {e}", shared.name);
                            }
                        }
                        shared.connections.lock().unwrap().remove(&id);
                    });
                if let Err(e) = spawned {
                    eprintln!("lab: cannot spawn a connection thread: {e}");
                }
            }
            // Transient (a client gave up, out of fds for a moment): keep going.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    // `listener` is dropped here: the port refuses connections from now on.
}

/// Serves one connection: one request, then close (or a WebSocket echo).
fn serve(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;

    let Some(head) = read_head(&mut reader)? else {
        return Ok(()); // Closed without a request: a TCP health check, or wait_listening.
    };
    let mut parts = head.start_line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad_request(&mut writer, "malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return bad_request(&mut writer, "not HTTP/1.x");
    }
    // A client that asked to be told before sending its body is told to go ahead.
    if find_header(&head.headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    // Read (and ignore) the request body, so the response does not race unread input.
    read_body(&mut reader, &head.headers, false)?;

    // Record before counting, so a test that sees the count also sees the headers.
    *shared.last_headers.lock().unwrap() = head.headers.clone();
    let path = target.split('?').next().unwrap_or(target);
    let health = path == "/health";
    let counter = if health {
        &shared.health_hits
    } else {
        &shared.hits
    };
    counter.fetch_add(1, Ordering::SeqCst);

    if path.contains("/drop/") {
        // A crashed worker: no answer, the connection just ends.
        let _ = writer.shutdown(Shutdown::Both);
        return Ok(());
    }

    let upgrade = find_header(&head.headers, "upgrade").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
    });
    if upgrade && !health {
        let Some(key) = find_header(&head.headers, "sec-websocket-key") else {
            return bad_request(&mut writer, "websocket upgrade without Sec-WebSocket-Key");
        };
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\nX-Backend: {}\r\nX-Path: {target}\r\n\r\n",
            websocket_accept(key),
            shared.name
        );
        writer.write_all(response.as_bytes())?;
        // Echo until the peer closes (bytes already buffered by `reader` come first).
        io::copy(&mut reader, &mut writer)?;
        return Ok(());
    }

    // A backend shedding load answers 503.
    let status = if path.contains("/busy/") {
        "503 Service Unavailable"
    } else {
        "200 OK"
    };
    let body = if health { "ok" } else { shared.name.as_str() };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nX-Backend: {}\r\nX-Path: {target}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        shared.name,
        body.len()
    );
    if method != "HEAD" {
        response.push_str(body);
    }
    writer.write_all(response.as_bytes())?;
    writer.flush()?;
    let _ = writer.shutdown(Shutdown::Write);
    Ok(())
}

fn bad_request(writer: &mut TcpStream, why: &str) -> io::Result<()> {
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{why}",
        why.len()
    );
    writer.write_all(response.as_bytes())
}
