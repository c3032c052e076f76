//! [`DnsServer`]: a tiny DNS server on UDP for the names a live test gives it, as a
//! headless Kubernetes Service answers: one A record per ready pod. A query for a name
//! it has answers with every address (or with none for another record type); any other
//! name gets NXDOMAIN. The answers can change while it runs (pods come and go).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type Names = Arc<Mutex<BTreeMap<String, Vec<Ipv4Addr>>>>;

/// A DNS server on a thread of the test process; stopped (and its port closed) on drop.
pub struct DnsServer {
    addr: SocketAddr,
    names: Names,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Listens on `addr` (UDP); no names yet.
    pub fn start(addr: SocketAddr) -> DnsServer {
        let socket = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("DNS on {addr}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let names: Names = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (names, queries, stop) = (names.clone(), queries.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    queries.fetch_add(1, Ordering::Relaxed);
                    let names = names.lock().unwrap().clone();
                    if let Some(reply) = answer(&buf[..n], &names) {
                        let _ = socket.send_to(&reply, from);
                    }
                }
            })
        };
        DnsServer {
            addr,
            names,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on `name` resolves to `addresses` (none: an empty answer).
    pub fn set(&self, name: &str, addresses: &[Ipv4Addr]) {
        self.names.lock().unwrap().insert(
            name.trim_end_matches('.').to_ascii_lowercase(),
            addresses.to_vec(),
        );
    }

    /// Queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query: the question echoed, then an A record per address of the
/// name (TTL 1 s) for an A query; NXDOMAIN for an unknown name; `None` for what is not
/// a query.
fn answer(query: &[u8], names: &BTreeMap<String, Vec<Ipv4Addr>>) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    // The question: labels, then type and class.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = &query[12..at + 4];
    let found = names.get(&labels.join("."));
    let records: &[Ipv4Addr] = match (found, qtype) {
        (Some(addrs), 1) => addrs,
        _ => &[],
    };
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query[..2]);
    // A response, authoritative, recursion desired as asked, recursion available;
    // NXDOMAIN (3) for a name it does not have.
    reply.push(0x84 | (query[2] & 0x01));
    reply.push(if found.is_some() { 0x80 } else { 0x83 });
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&(records.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(question);
    for addr in records {
        // The name as a pointer to the question's, type A, class IN, TTL 1, 4 bytes.
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
        reply.extend_from_slice(&addr.octets());
    }
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    /// Sends `name`'s query over UDP: the reply's code, answer count and last 4 bytes.
    fn ask(dns: &DnsServer, name: &str, qtype: u16) -> (u8, u16, Vec<u8>) {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        client.send_to(&query(name, qtype), dns.addr()).unwrap();
        let mut buf = [0u8; 1500];
        let n = client.recv(&mut buf).unwrap();
        let a = &buf[..n];
        assert_eq!(&a[..2], &[0x12, 0x34], "the query's id");
        (
            a[3] & 0x0f,
            u16::from_be_bytes([a[6], a[7]]),
            a[n - 4..].to_vec(),
        )
    }

    #[test]
    fn answers_every_address_of_a_known_name_and_nxdomain_otherwise() {
        let dns = DnsServer::start("127.0.0.1:0".parse().unwrap());
        let name = "api-pods.lab.svc.cluster.local";
        dns.set(
            name,
            &[Ipv4Addr::new(127, 0, 1, 1), Ipv4Addr::new(127, 0, 1, 2)],
        );
        assert_eq!(
            ask(&dns, "API-pods.lab.svc.cluster.local", 1),
            (0, 2, vec![127, 0, 1, 2])
        );
        assert_eq!(
            ask(&dns, name, 28).0,
            0,
            "no AAAA records, but the name exists"
        );
        assert_eq!(ask(&dns, name, 28).1, 0);
        assert_eq!(
            ask(&dns, "web-pods.lab.svc.cluster.local", 1).0,
            3,
            "NXDOMAIN"
        );
        // A pod more: the next answer has it.
        dns.set(name, &[1, 2, 3].map(|i| Ipv4Addr::new(127, 0, 1, i)));
        assert_eq!(ask(&dns, name, 1), (0, 3, vec![127, 0, 1, 3]));
        assert_eq!(dns.queries(), 5);
    }
}
