//! Probes: ICMP echo (surge-ping), TCP connect and HTTP(S) GET, each sent from
//! the source address or interface that forces it onto one path. Owns the
//! sockets: one ICMP client per (address family, source, interface), shared by
//! every target probed from there, and one HTTP client per source. A probe
//! returns the round-trip time or why it failed; deciding what that means is
//! the health machine's job.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use surge_ping::{Client, Config, IcmpPacket, PingIdentifier, PingSequence, ICMP};

/// What to send and where.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProbeSpec {
    Icmp { target: IpAddr },
    Tcp { target: SocketAddr },
    Http { url: String, expect_status: u16 },
}

/// How a probe leaves the host: the source address and/or interface that
/// select the path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Via {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// Why a probe failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailure {
    Timeout,
    Unreachable(String),
    Refused,
    BadStatus(u16),
    /// The probe could not even be sent (socket, bind, capability).
    Local(String),
}

impl std::fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeFailure::Timeout => f.write_str("timeout"),
            ProbeFailure::Unreachable(why) => write!(f, "unreachable ({why})"),
            ProbeFailure::Refused => f.write_str("connection refused"),
            ProbeFailure::BadStatus(s) => write!(f, "HTTP status {s}"),
            ProbeFailure::Local(why) => write!(f, "could not send: {why}"),
        }
    }
}

pub type ProbeResult = Result<Duration, ProbeFailure>;

/// Whether this process may send ICMP echo, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpAccess {
    /// Unprivileged datagram sockets (`net.ipv4.ping_group_range` covers us).
    Datagram,
    /// Raw sockets (CAP_NET_RAW).
    Raw,
    None,
}

/// What to tell an operator when ICMP cannot be used.
pub const ICMP_FIX: &str =
    "ICMP probes need CAP_NET_RAW (`setcap cap_net_raw+ep $(which switchboard)`) \
or unprivileged ping sockets (`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`)";

impl IcmpAccess {
    /// Tries to open each kind of ICMP socket once.
    pub fn detect() -> IcmpAccess {
        use socket2::{Domain, Protocol, Socket, Type};
        if Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)).is_ok() {
            IcmpAccess::Datagram
        } else if Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).is_ok() {
            IcmpAccess::Raw
        } else {
            IcmpAccess::None
        }
    }
}

type ClientKey = (bool, Via);

// surge-ping's `Client` marks itself destroyed when any clone of it is
// dropped, so clients are shared as `Arc<Client>` and never cloned.

/// Sends probes. Cheap to share behind an `Arc`.
pub struct Prober {
    icmp: Mutex<HashMap<ClientKey, Arc<Client>>>,
    http: Mutex<HashMap<Via, reqwest::Client>>,
    access: IcmpAccess,
}

impl Prober {
    pub fn new() -> Prober {
        Prober {
            icmp: Mutex::new(HashMap::new()),
            http: Mutex::new(HashMap::new()),
            access: IcmpAccess::detect(),
        }
    }

    pub fn icmp_access(&self) -> IcmpAccess {
        self.access
    }

    fn icmp_client(&self, v6: bool, via: &Via) -> Result<Arc<Client>, ProbeFailure> {
        let mut clients = self.icmp.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&(v6, via.clone())) {
            return Ok(client.clone());
        }
        let mut config = Config::builder().kind(if v6 { ICMP::V6 } else { ICMP::V4 });
        if self.access == IcmpAccess::Raw {
            config = config.sock_type_hint(socket2::Type::RAW);
        }
        if let Some(source) = via.source {
            config = config.bind(SocketAddr::new(source, 0));
        }
        if let Some(interface) = &via.interface {
            config = config.interface(interface);
        }
        let client = Arc::new(
            Client::new(&config.build())
                .map_err(|e| ProbeFailure::Local(format!("{e}; {ICMP_FIX}")))?,
        );
        clients.insert((v6, via.clone()), client.clone());
        Ok(client)
    }

    fn http_client(&self, via: &Via, timeout: Duration) -> Result<reqwest::Client, ProbeFailure> {
        let mut clients = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(via) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(1);
        if let Some(source) = via.source {
            builder = builder.local_address(source);
        }
        if let Some(interface) = &via.interface {
            builder = builder.interface(interface);
        }
        let client = builder
            .build()
            .map_err(|e| ProbeFailure::Local(e.to_string()))?;
        clients.insert(via.clone(), client.clone());
        Ok(client)
    }

    /// Sends one probe and waits at most `timeout` for its answer.
    pub async fn probe(
        &self,
        spec: &ProbeSpec,
        via: &Via,
        sequence: u16,
        timeout: Duration,
    ) -> ProbeResult {
        match spec {
            ProbeSpec::Icmp { target } => self.icmp_probe(*target, via, sequence, timeout).await,
            ProbeSpec::Tcp { target } => tcp_probe(*target, via, timeout).await,
            ProbeSpec::Http { url, expect_status } => {
                self.http_probe(url, *expect_status, via, timeout).await
            }
        }
    }

    async fn icmp_probe(
        &self,
        target: IpAddr,
        via: &Via,
        sequence: u16,
        timeout: Duration,
    ) -> ProbeResult {
        let client = self.icmp_client(target.is_ipv6(), via)?;
        // The identifier tells our replies from other pingers' on a raw socket;
        // datagram sockets get theirs from the kernel.
        let mut pinger = client.pinger(target, PingIdentifier(rand::random())).await;
        pinger.timeout(timeout);
        match pinger.ping(PingSequence(sequence), &[0u8; 16]).await {
            Ok((IcmpPacket::V4(_) | IcmpPacket::V6(_), rtt)) => Ok(rtt),
            Err(surge_ping::SurgeError::Timeout { .. }) => Err(ProbeFailure::Timeout),
            Err(surge_ping::SurgeError::IOError(e)) => Err(io_failure(&e)),
            Err(e) => Err(ProbeFailure::Unreachable(e.to_string())),
        }
    }

    async fn http_probe(
        &self,
        url: &str,
        expect_status: u16,
        via: &Via,
        timeout: Duration,
    ) -> ProbeResult {
        let client = self.http_client(via, timeout)?;
        let started = Instant::now();
        match client.get(url).send().await {
            Ok(response) if response.status().as_u16() == expect_status => Ok(started.elapsed()),
            Ok(response) => Err(ProbeFailure::BadStatus(response.status().as_u16())),
            Err(e) if e.is_timeout() => Err(ProbeFailure::Timeout),
            Err(e) if e.is_connect() => Err(ProbeFailure::Unreachable(e.to_string())),
            Err(e) => Err(ProbeFailure::Unreachable(e.to_string())),
        }
    }
}

impl Default for Prober {
    fn default() -> Self {
        Prober::new()
    }
}

fn io_failure(e: &std::io::Error) -> ProbeFailure {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => ProbeFailure::Refused,
        std::io::ErrorKind::TimedOut => ProbeFailure::Timeout,
        _ => ProbeFailure::Unreachable(e.to_string()),
    }
}

async fn tcp_probe(target: SocketAddr, via: &Via, timeout: Duration) -> ProbeResult {
    let socket = if target.is_ipv6() {
        tokio::net::TcpSocket::new_v6()
    } else {
        tokio::net::TcpSocket::new_v4()
    }
    .map_err(|e| ProbeFailure::Local(e.to_string()))?;
    if let Some(source) = via.source {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| ProbeFailure::Local(format!("bind {source}: {e}")))?;
    }
    if let Some(interface) = &via.interface {
        socket
            .bind_device(Some(interface.as_bytes()))
            .map_err(|e| ProbeFailure::Local(format!("bind to {interface}: {e}")))?;
    }
    let started = Instant::now();
    match tokio::time::timeout(timeout, socket.connect(target)).await {
        Ok(Ok(_stream)) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(io_failure(&e)),
        Err(_) => Err(ProbeFailure::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_probe_measures_an_open_port_and_reports_a_closed_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let prober = Prober::new();
        let via = Via {
            source: Some("127.0.0.1".parse().unwrap()),
            interface: None,
        };
        let rtt = prober
            .probe(
                &ProbeSpec::Tcp { target: open },
                &via,
                0,
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        assert!(rtt < Duration::from_secs(1));
        drop(listener);
        let closed = prober
            .probe(
                &ProbeSpec::Tcp { target: open },
                &via,
                1,
                Duration::from_secs(1),
            )
            .await;
        assert_eq!(closed, Err(ProbeFailure::Refused));
    }

    #[tokio::test]
    async fn icmp_probe_answers_on_loopback_when_allowed() {
        let prober = Prober::new();
        if prober.icmp_access() == IcmpAccess::None {
            eprintln!("skipped: {ICMP_FIX}");
            return;
        }
        let loopback = ProbeSpec::Icmp {
            target: "127.0.0.1".parse().unwrap(),
        };
        // Several in a row: the shared client must survive each probe.
        for sequence in 1..=3 {
            let rtt = prober
                .probe(&loopback, &Via::default(), sequence, Duration::from_secs(1))
                .await
                .unwrap();
            assert!(rtt < Duration::from_millis(500));
        }
    }

    #[tokio::test]
    async fn http_probe_checks_the_status() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for status in ["200 OK", "503 Service Unavailable"] {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).await;
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                conn.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let prober = Prober::new();
        let spec = ProbeSpec::Http {
            url: format!("http://{addr}/healthz"),
            expect_status: 200,
        };
        assert!(prober
            .probe(&spec, &Via::default(), 0, Duration::from_secs(2))
            .await
            .is_ok());
        assert_eq!(
            prober
                .probe(&spec, &Via::default(), 1, Duration::from_secs(2))
                .await,
            Err(ProbeFailure::BadStatus(503))
        );
    }
}
