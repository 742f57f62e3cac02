//! A lab of two distinct network paths in Linux network namespaces, for
//! integration tests of the prober and failover on real sockets.
//!
//! ```text
//!                 up-a 10.250.N.2 ── ra-p 10.250.N.1 [ra] ra-t 10.250.N.5 ── t-a 10.250.N.6
//!   [probe]                                                                              [target] 198.18.K.1/32 on lo
//!                 up-b 10.250.M.2 ── rb-p 10.250.M.1 [rb] rb-t 10.250.M.5 ── t-b 10.250.M.6
//! ```
//! (M = N + 1.) In the probe namespace, policy routing sends traffic *from* the
//! primary source (or bound to `up-a`) through `ra` and traffic from the backup
//! source (or bound to `up-b`) through `rb`; the main table has no route to
//! the target, so a probe that names neither source nor interface fails
//! rather than silently picking a path. The target routes replies back by
//! destination subnet, so each path is symmetric.
//!
//! Invariants:
//! - Every namespace is named `sbt<pid>x<counter>-<role>`, unique per lab, and
//!   is deleted on drop (after killing whatever runs in it). Namespaces (and
//!   [`frr`] pathspaces) left by a process that no longer exists are swept
//!   when the first lab of a process is created.
//! - Only addresses inside these namespaces are ever used (10.250.0.0/16 links,
//!   198.18.0.0/15 target), and since every address lives in a private
//!   namespace, two labs never see each other's traffic whatever subnets they
//!   pick; the per-lab subnets only make logs easier to read.
//! - Neighbours are pinned (`nud permanent`) on every link, so a cut is clean:
//!   nothing queues for ARP and arrives late after a restore.
//! - Faults are made on the routers only, never on the probe's own ends, so
//!   the probe keeps its addresses and routes throughout (downing the probe's
//!   own end would delete its routes for good).
//!
//! Needs root, `ip` (iproute2), `nft` (nftables) and `python3`; without them
//! [`TwoPathLab::create`] says why and tests skip. Set
//! `SWITCHBOARD_NETLAB=require` to make a skip a failure instead.
//!
//! This module also owns what every namespace lab shares (naming, the stale
//! sweep, host checks, veths with pinned neighbours, the nftables fault
//! chains, python helpers); [`frr`] builds a BGP lab on them.

#![allow(dead_code)] // each test file uses a different part of the lab

pub mod frr;

use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Why a lab cannot be built on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    NotRoot,
    NoNetns(String),
    MissingTool(String),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            Unavailable::NotRoot => "not running as root".to_string(),
            Unavailable::NoNetns(e) => format!("network namespaces unavailable: {e}"),
            Unavailable::MissingTool(t) => format!("missing tool: {t}"),
        };
        write!(f, "skipped: needs root and netns ({why})")
    }
}

/// Name of the nftables table the lab keeps in each router.
const NFT_TABLE: &str = "sblab";
/// Timeout of one TCP connect attempt: well under Linux's first SYN
/// retransmission (1 s), so one lost SYN is one failed attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// How long `create` waits for each path to answer before calling it broken.
const SETTLE: Duration = Duration::from_secs(3);

/// One path: probe uplink, router, router's link to the target.
struct Leg {
    router_ns: String,
    /// Third octet of this leg's 10.250.x.0/29 (two /30s).
    octet: u8,
    /// 0x0a for the primary leg, 0x0b for the backup: part of every MAC.
    tag: u8,
    probe_if: &'static str,
    router_probe_if: &'static str,
    router_target_if: &'static str,
    target_if: &'static str,
    table: u32,
}

impl Leg {
    fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 250, self.octet, host)
    }
    fn probe_addr(&self) -> Ipv4Addr {
        self.addr(2)
    }
    fn router_probe_addr(&self) -> Ipv4Addr {
        self.addr(1)
    }
    fn router_target_addr(&self) -> Ipv4Addr {
        self.addr(5)
    }
    fn target_side_addr(&self) -> Ipv4Addr {
        self.addr(6)
    }
    /// Locally administered MAC: leg, link (0 probe side, 1 target side),
    /// end (1 nearer the probe, 2 farther).
    fn mac(&self, link: u8, end: u8) -> String {
        format!("02:53:42:{:02x}:{link:02x}:{end:02x}", self.tag)
    }
}

/// Two namespaced paths from a probe host to one target. Dropping it tears
/// everything down.
pub struct TwoPathLab {
    /// Namespace the prober runs in; see [`TwoPathLab::in_probe_ns`].
    pub probe_ns: String,
    /// Source address whose traffic takes the primary path (via `ra`).
    pub primary_source: IpAddr,
    /// Source address whose traffic takes the backup path (via `rb`).
    pub backup_source: IpAddr,
    /// The target, reachable over both paths.
    pub target: IpAddr,
    /// The probe's interface on the primary path (for `Via::interface`).
    pub primary_interface: String,
    /// The probe's interface on the backup path.
    pub backup_interface: String,
    target_ns: String,
    primary: Leg,
    backup: Leg,
    /// Namespaces created so far, in creation order: what drop deletes.
    created: Vec<String>,
    listeners: Mutex<Vec<Child>>,
}

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);
static SWEEP: Once = Once::new();

impl TwoPathLab {
    /// Builds the lab and checks that both paths answer ICMP echo from their
    /// source. Returns why not when this machine cannot host it; panics, with
    /// the failing command and its stderr, when setup fails for any other
    /// reason (that is a bug in the lab, not a reason to skip).
    pub fn create() -> Result<TwoPathLab, Unavailable> {
        check_host(&[])?;
        let LabName { prefix, seed } = LabName::next();
        let slot = (seed % 125) as u8;
        let ns = |role: &str| format!("{prefix}-{role}");
        let primary = Leg {
            router_ns: ns("ra"),
            octet: slot * 2,
            tag: 0x0a,
            probe_if: "up-a",
            router_probe_if: "ra-p",
            router_target_if: "ra-t",
            target_if: "t-a",
            table: 100,
        };
        let backup = Leg {
            router_ns: ns("rb"),
            octet: slot * 2 + 1,
            tag: 0x0b,
            probe_if: "up-b",
            router_probe_if: "rb-p",
            router_target_if: "rb-t",
            target_if: "t-b",
            table: 101,
        };
        let mut lab = TwoPathLab {
            probe_ns: ns("probe"),
            primary_source: IpAddr::V4(primary.probe_addr()),
            backup_source: IpAddr::V4(backup.probe_addr()),
            target: IpAddr::V4(Ipv4Addr::new(198, 18, slot, 1)),
            primary_interface: primary.probe_if.to_string(),
            backup_interface: backup.probe_if.to_string(),
            target_ns: ns("target"),
            primary,
            backup,
            created: Vec::new(),
            listeners: Mutex::new(Vec::new()),
        };
        // From here on, returning or panicking drops `lab`, which deletes
        // whatever was already created.
        for name in [
            lab.probe_ns.clone(),
            lab.primary.router_ns.clone(),
            lab.backup.router_ns.clone(),
            lab.target_ns.clone(),
        ] {
            run("ip", &["netns", "add", &name]).map_err(Unavailable::NoNetns)?;
            lab.created.push(name);
        }
        lab.create_links()?;
        lab.configure();
        lab.verify();
        Ok(lab)
    }

    /// `create`, or `None` after printing why not, for a test to return
    /// early. With `SWITCHBOARD_NETLAB=require` a skip panics instead.
    pub fn create_or_skip() -> Option<TwoPathLab> {
        or_skip(TwoPathLab::create())
    }

    /// `ip netns exec <probe> <program>`, ready for arguments.
    pub fn in_probe_ns(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.probe_ns, program]);
        cmd
    }

    /// Namespace of the primary path's router.
    pub fn primary_router_ns(&self) -> &str {
        &self.primary.router_ns
    }

    /// Namespace of the backup path's router.
    pub fn backup_router_ns(&self) -> &str {
        &self.backup.router_ns
    }

    /// Namespace holding the target address.
    pub fn target_ns(&self) -> &str {
        &self.target_ns
    }

    /// Takes the primary router's link toward the probe down: the probe's
    /// end loses carrier but keeps its address and routes, and packets stop.
    pub fn cut_primary(&self) {
        self.set_primary_router_link("down");
    }

    /// Undoes [`cut_primary`](Self::cut_primary). Bringing a link down
    /// flushes its permanent neighbours, so they are pinned again.
    pub fn restore_primary(&self) {
        self.set_primary_router_link("up");
        self.pin_neighbours(&self.primary);
    }

    /// Sets the primary router's link toward the probe `up` or `down`.
    fn set_primary_router_link(&self, state: &str) {
        let leg = &self.primary;
        must(
            "ip",
            &[
                "-n",
                &leg.router_ns,
                "link",
                "set",
                leg.router_probe_if,
                state,
            ],
        );
    }

    /// Drops everything the primary router forwards, in both directions,
    /// while every link stays up.
    pub fn blackhole_primary(&self) {
        nft_replace_chain(&self.primary.router_ns, "blackhole", "counter drop");
    }

    pub fn clear_blackhole_primary(&self) {
        nft_replace_chain(&self.primary.router_ns, "blackhole", "");
    }

    /// Drops `percent` % of the packets the backup router forwards from the
    /// probe toward the target, at random. One way only, so a TCP connect
    /// fails with about that probability. Replaces any earlier loss setting.
    pub fn set_backup_loss(&self, percent: u8) {
        assert!(percent <= 100, "loss of {percent} % is not a percentage");
        let rule = if percent == 0 {
            String::new()
        } else {
            format!(
                "iifname \"{}\" numgen random mod 100 < {percent} counter drop",
                self.backup.router_probe_if
            )
        };
        nft_replace_chain(&self.backup.router_ns, "loss", &rule);
    }

    pub fn clear_backup_loss(&self) {
        nft_replace_chain(&self.backup.router_ns, "loss", "");
    }

    /// Starts a TCP listener on `port` of every address in the target
    /// namespace that accepts each connection and closes it at once. Returns
    /// once it is listening; it runs until the lab is dropped.
    pub fn start_tcp_listener(&self, port: u16) {
        const SERVER: &str = "import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen(128)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    c.close()
";
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.target_ns, python3(), "-c", SERVER])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("netlab: cannot start TCP listener on port {port}: {e}"));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let out = child.wait_with_output();
            let stderr = out
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            panic!("netlab: TCP listener on port {port} did not start: {stderr}");
        }
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
    }

    /// Whether one TCP connect from `source` to the target's `port` succeeds
    /// within 300 ms.
    pub fn tcp_connects(&self, source: IpAddr, port: u16) -> bool {
        self.tcp_successes(source, port, 1) == 1
    }

    /// How many of `attempts` TCP connects (each on a fresh socket, 300 ms
    /// timeout) from `source` to the target's `port` succeed. One process
    /// for all attempts, so it is quick.
    pub fn tcp_successes(&self, source: IpAddr, port: u16, attempts: u32) -> u32 {
        const CONNECT: &str = "import socket, sys
src, dst, port, n, t = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ok = 0
for _ in range(n):
    s = socket.socket()
    s.settimeout(t)
    try:
        s.bind((src, 0))
        s.connect((dst, port))
        ok += 1
    except OSError:
        pass
    finally:
        s.close()
print(ok)
";
        let out = python_in(
            &self.probe_ns,
            CONNECT,
            &[
                &source.to_string(),
                &self.target.to_string(),
                &port.to_string(),
                &attempts.to_string(),
                &CONNECT_TIMEOUT.as_secs_f64().to_string(),
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout.trim().parse().unwrap_or_else(|_| {
            panic!(
                "netlab: TCP connect script printed {stdout:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Whether an ICMP echo from `source` to the target is answered within
    /// 300 ms (unprivileged ping socket, as the prober would use).
    pub fn icmp_answers(&self, source: IpAddr) -> bool {
        icmp_answers(&self.probe_ns, source, self.target)
    }

    /// The four veth pairs, each end created straight in its namespace with
    /// a fixed MAC so neighbours can be pinned without asking.
    fn create_links(&self) -> Result<(), Unavailable> {
        for leg in [&self.primary, &self.backup] {
            let links = [
                (
                    &self.probe_ns,
                    leg.probe_if,
                    &leg.router_ns,
                    leg.router_probe_if,
                ),
                (
                    &leg.router_ns,
                    leg.router_target_if,
                    &self.target_ns,
                    leg.target_if,
                ),
            ];
            for (link, (a_ns, a_if, b_ns, b_if)) in (0..).zip(links) {
                let (a_mac, b_mac) = (leg.mac(link, 1), leg.mac(link, 2));
                create_veth((a_ns, a_if, &a_mac), (b_ns, b_if, &b_mac))?;
            }
        }
        Ok(())
    }

    fn configure(&self) {
        let target = self.target;
        for ns in &self.created {
            prepare_namespace(ns);
        }
        ip(&self.target_ns, &format!("addr add {target}/32 dev lo"));
        sysctl(&self.probe_ns, &["net.ipv4.ping_group_range=0 2147483647"]);

        for leg in [&self.primary, &self.backup] {
            let ends = [
                (&self.probe_ns, leg.probe_if, leg.probe_addr()),
                (&leg.router_ns, leg.router_probe_if, leg.router_probe_addr()),
                (
                    &leg.router_ns,
                    leg.router_target_if,
                    leg.router_target_addr(),
                ),
                (&self.target_ns, leg.target_if, leg.target_side_addr()),
            ];
            for (ns, dev, addr) in ends {
                ip(ns, &format!("addr add {addr}/30 dev {dev}"));
                ip(ns, &format!("link set {dev} up"));
            }
            self.pin_neighbours(leg);

            // Probe: this leg's source, or a socket bound to this leg's
            // interface, uses this leg's table.
            let (probe, table, dev) = (&self.probe_ns, leg.table, leg.probe_if);
            let via = leg.router_probe_addr();
            ip(
                probe,
                &format!("route add default via {via} dev {dev} table {table}"),
            );
            let src = leg.probe_addr();
            ip(
                probe,
                &format!("rule add from {src} table {table} pref {table}"),
            );
            let oif_pref = table + 10;
            ip(
                probe,
                &format!("rule add oif {dev} table {table} pref {oif_pref}"),
            );

            // Router: forwards, reaches the target over its target link, and
            // has empty chains for the faults to fill.
            let router = &leg.router_ns;
            sysctl(router, &["net.ipv4.ip_forward=1"]);
            let (next, dev) = (leg.target_side_addr(), leg.router_target_if);
            ip(
                router,
                &format!("route add {target}/32 via {next} dev {dev}"),
            );
            nft_forward_chains(router, &["blackhole", "loss"]);

            // Target: replies to this leg's sources go back the same way.
            let (subnet, back, dev) = (leg.addr(0), leg.router_target_addr(), leg.target_if);
            ip(
                &self.target_ns,
                &format!("route add {subnet}/30 via {back} dev {dev}"),
            );
        }
    }

    /// Pins both ends of both of a leg's links.
    fn pin_neighbours(&self, leg: &Leg) {
        let pins = [
            (
                &self.probe_ns,
                leg.probe_if,
                leg.router_probe_addr(),
                leg.mac(0, 2),
            ),
            (
                &leg.router_ns,
                leg.router_probe_if,
                leg.probe_addr(),
                leg.mac(0, 1),
            ),
            (
                &leg.router_ns,
                leg.router_target_if,
                leg.target_side_addr(),
                leg.mac(1, 2),
            ),
            (
                &self.target_ns,
                leg.target_if,
                leg.router_target_addr(),
                leg.mac(1, 1),
            ),
        ];
        for (ns, dev, addr, mac) in pins {
            pin_neighbour(ns, dev, addr, &mac);
        }
    }

    /// Panics unless both paths answer from their own source within
    /// [`SETTLE`], with the probe's routing state to say why.
    fn verify(&self) {
        for (name, source) in [
            ("primary", self.primary_source),
            ("backup", self.backup_source),
        ] {
            let deadline = Instant::now() + SETTLE;
            while !self.icmp_answers(source) {
                if Instant::now() > deadline {
                    let state = [
                        &["-n", &self.probe_ns, "rule"][..],
                        &["-n", &self.probe_ns, "route", "show", "table", "all"],
                        &["-n", &self.probe_ns, "neigh"],
                    ]
                    .iter()
                    .map(|args| run("ip", args).unwrap_or_else(|e| e))
                    .collect::<Vec<_>>()
                    .join("\n");
                    panic!(
                        "netlab: the {name} path (from {source}) to {} does not answer ICMP echo \
                         after {SETTLE:?}; probe namespace:\n{state}",
                        self.target
                    );
                }
                sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for TwoPathLab {
    fn drop(&mut self) {
        let listeners = self.listeners.get_mut().unwrap_or_else(|p| p.into_inner());
        for mut child in listeners.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.created.iter().rev() {
            delete_namespace(ns);
        }
    }
}

/// Kills everything running in `ns` (deleting a namespace does not), then
/// deletes it. Best effort: never panics.
fn delete_namespace(ns: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", ns]) {
        let pids: Vec<&str> = pids.split_whitespace().collect();
        if !pids.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(&pids)
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = run("ip", &["netns", "del", ns]);
}

/// Deletes `sbt<pid>x<n>-*` namespaces, and FRR pathspaces of the same
/// names, whose process is gone: leftovers of a test run that crashed or was
/// killed before its labs were dropped.
fn sweep_stale_labs() {
    frr::sweep_stale_pathspaces();
    let Ok(list) = run("ip", &["netns", "list"]) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if left_by_dead_process(name) {
            delete_namespace(name);
        }
    }
}

/// Whether `name` is a lab's `sbt<pid>x<n>…` name whose process no longer
/// exists (never true for this process's own labs).
fn left_by_dead_process(name: &str) -> bool {
    name.strip_prefix("sbt")
        .and_then(|rest| rest.split_once('x'))
        .and_then(|(pid, _)| pid.parse::<u32>().ok())
        .is_some_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

/// A fresh lab's namespace prefix, `sbt<pid>x<counter>`, and a number to
/// derive its subnets from. The first call sweeps stale labs.
struct LabName {
    prefix: String,
    seed: u32,
}

impl LabName {
    fn next() -> LabName {
        SWEEP.call_once(sweep_stale_labs);
        let counter = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        LabName {
            prefix: format!("sbt{pid}x{counter}"),
            seed: pid.wrapping_mul(31).wrapping_add(counter),
        }
    }
}

/// Root, `ip`, `nft`, `python3`, and each of `more` (program, an argument
/// it exits 0 with, what to install): or why this machine cannot host a lab.
fn check_host(more: &[(&str, &str, &str)]) -> Result<(), Unavailable> {
    if !running_as_root() {
        return Err(Unavailable::NotRoot);
    }
    let basics = [
        ("ip", "-V", "ip (apt-get install iproute2)"),
        ("nft", "--version", "nft (apt-get install nftables)"),
        (python3(), "--version", "python3"),
    ];
    for (tool, arg, fix) in basics.iter().chain(more) {
        if run(tool, &[arg]).is_err() {
            return Err(Unavailable::MissingTool(fix.to_string()));
        }
    }
    Ok(())
}

/// The lab, or `None` after printing why not, for a test to return early.
/// With `SWITCHBOARD_NETLAB=require` a skip panics instead.
fn or_skip<L>(lab: Result<L, Unavailable>) -> Option<L> {
    match lab {
        Ok(lab) => Some(lab),
        Err(why) => {
            if std::env::var("SWITCHBOARD_NETLAB").as_deref() == Ok("require") {
                panic!("SWITCHBOARD_NETLAB=require but {why}");
            }
            eprintln!("{why}");
            None
        }
    }
}

/// Loopback up and reverse-path filtering off: host rp_filter settings are
/// inherited, the labs route by source, and rp_filter only gets in the way.
fn prepare_namespace(ns: &str) {
    ip(ns, "link set lo up");
    sysctl(
        ns,
        &[
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ],
    );
}

/// A veth pair with each end, given as (namespace, name, MAC), created
/// straight in its namespace, so neighbours can be pinned without asking.
fn create_veth(a: (&str, &str, &str), b: (&str, &str, &str)) -> Result<(), Unavailable> {
    let ((a_ns, a_if, a_mac), (b_ns, b_if, b_mac)) = (a, b);
    try_ip(
        a_ns,
        &format!(
            "link add {a_if} address {a_mac} type veth \
             peer name {b_if} netns {b_ns} address {b_mac}"
        ),
    )
    .map(drop)
    .map_err(|e| Unavailable::NoNetns(format!("veth: {e}")))
}

/// Pins `addr` to `mac` on `dev` in `ns`. Taking `dev` down flushes even
/// permanent entries, so pin again after bringing it back up.
fn pin_neighbour(ns: &str, dev: &str, addr: impl fmt::Display, mac: &str) {
    ip(
        ns,
        &format!("neigh replace {addr} lladdr {mac} dev {dev} nud permanent"),
    );
}

/// The lab's nftables table in `ns`: a forward-hook chain that jumps to
/// each of `chains`, all empty, for faults to fill.
fn nft_forward_chains(ns: &str, chains: &[&str]) {
    let mut script = format!(
        "add table inet {NFT_TABLE}; \
         add chain inet {NFT_TABLE} forward \
             {{ type filter hook forward priority 0; policy accept; }}"
    );
    for chain in chains {
        script.push_str(&format!(
            "; add chain inet {NFT_TABLE} {chain}; \
             add rule inet {NFT_TABLE} forward jump {chain}"
        ));
    }
    nft(ns, &script);
}

/// Replaces the contents of one of the lab chains in `ns` with `rule`
/// (none when empty).
fn nft_replace_chain(ns: &str, chain: &str, rule: &str) {
    let mut script = format!("flush chain inet {NFT_TABLE} {chain}");
    if !rule.is_empty() {
        script.push_str(&format!("; add rule inet {NFT_TABLE} {chain} {rule}"));
    }
    nft(ns, &script);
}

/// Whether an ICMP echo from `source` in `ns` to `target` is answered
/// within 300 ms (unprivileged ping socket: `ns` must allow them).
fn icmp_answers(ns: &str, source: IpAddr, target: IpAddr) -> bool {
    const PING: &str = "import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
s.bind((sys.argv[1], 0))
s.settimeout(float(sys.argv[3]))
s.sendto(struct.pack('!BBHHH', 8, 0, 0, 0, 1) + b'switchboard', (sys.argv[2], 0))
try:
    sys.exit(0 if s.recv(256)[0] == 0 else 1)
except OSError:
    sys.exit(1)
";
    let out = python_in(
        ns,
        PING,
        &[
            &source.to_string(),
            &target.to_string(),
            &CONNECT_TIMEOUT.as_secs_f64().to_string(),
        ],
    );
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!(
            "netlab: ICMP echo script failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs a python3 `script` with `args` in `ns` to completion.
fn python_in(ns: &str, script: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, python3(), "-c", script])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("netlab: cannot run python3 in {ns}: {e}"))
}

fn running_as_root() -> bool {
    // The effective uid is the second field of `Uid:`.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The system interpreter when there is one: version managers' shims are
/// slower to start and may not resolve inside `ip netns exec`.
fn python3() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn sysctl(ns: &str, settings: &[&str]) {
    let mut args = vec!["netns", "exec", ns, "sysctl", "-q", "-w"];
    args.extend_from_slice(settings);
    must("ip", &args);
}

fn nft(ns: &str, script: &str) {
    must("ip", &["netns", "exec", ns, "nft", script]);
}

/// `ip -n <ns> <command>`, the command split on whitespace; panics with the
/// command and its stderr on failure.
fn ip(ns: &str, command: &str) -> String {
    try_ip(ns, command).unwrap_or_else(|e| panic!("netlab: {e}"))
}

fn try_ip(ns: &str, command: &str) -> Result<String, String> {
    let mut args = vec!["-n", ns];
    args.extend(command.split_whitespace());
    run("ip", &args)
}

/// Runs `program args`; its stdout, or the command and its stderr.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let shown = || format!("`{program} {}`", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} could not start: {e}", shown()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            shown(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// [`run`], panicking with the command and its stderr on failure.
fn must(program: &str, args: &[&str]) -> String {
    run(program, args).unwrap_or_else(|e| panic!("netlab: {e}"))
}
