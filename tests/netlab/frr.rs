//! A BGP lab in network namespaces: FRR (zebra, staticd, bgpd) on an edge router and
//! on a cloud router joined by two links, for measuring how fast BGP policy
//! moves traffic from one link to the other.
//!
//! ```text
//!                                     e-p1 .5 ══ primary ══ .6 c-p1
//!   [host] h-e .2 ── .1 e-h [edge: FRR]                           [cloud: FRR]
//!                  AS 65001           e-p2 .9 ══ backup  ══ .10 c-p2   AS 64512
//! ```
//! Every link address is in 10.251.K.0/24, a `/30` per link (host 10.251.K.0,
//! primary 10.251.K.4, backup 10.251.K.8); the host also has the probe
//! sources 10.251.K.17 and .18 on its loopback; the cloud has the target
//! 198.18.K.1/32 on its loopback and advertises 198.18.K.0/24. K is picked
//! per lab like [`TwoPathLab`](super::TwoPathLab) picks its slot.
//!
//! Routing:
//! - host: everything via the edge. The main address (10.251.K.2) carries
//!   the data stream; the two probe sources exist only to probe one link each.
//! - edge: BGP decides where the host's main traffic goes. Its config is what
//!   `switchboard config --target frr` renders (templates/frr/route-map.hbs):
//!   `PRIMARY-IN` (local-preference 200) inbound on the primary neighbour,
//!   `BACKUP-IN` (100) on the backup, each neighbour with a description.
//!   Policy routing pins the probes whatever BGP prefers: traffic from the
//!   primary probe source uses table 100 (via `e-p1`), from the backup probe
//!   source table 101 (via `e-p2`).
//! - cloud: replies to each probe source go back over that source's link
//!   (static /32s), to the host's main subnet over the primary link.
//!
//! Owns, besides the three namespaces `sbt<pid>x<n>-{host,edge,cloud}`: the
//! FRR pathspaces named after the edge and cloud namespaces (config in
//! `/etc/frr/<ns>/`, pid files and sockets in `/var/run/frr/<ns>/`, and the
//! daemons those pid files name) and the nftables table in the edge. Dropping
//! the lab stops the daemons and removes all of it; creating a lab first
//! sweeps whatever a process that no longer exists left behind.
//!
//! Needs, besides what [`TwoPathLab`](super::TwoPathLab) needs, Debian's `frr` (zebra, staticd, bgpd,
//! vtysh and the `frr` user).

use super::{
    check_host, create_veth, delete_namespace, icmp_answers, ip, left_by_dead_process, must,
    nft_forward_chains, nft_replace_chain, or_skip, pin_neighbour, prepare_namespace, python3, run,
    sysctl, LabName, Unavailable,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The edge router's AS, as in `router bgp 65001`.
pub const EDGE_AS: u32 = 65001;
/// The cloud router's AS.
pub const CLOUD_AS: u32 = 64512;
/// Inbound route-map of the primary neighbour (local-preference 200).
pub const PRIMARY_IN: &str = "PRIMARY-IN";
/// Inbound route-map of the backup neighbour (local-preference 100).
pub const BACKUP_IN: &str = "BACKUP-IN";

const ZEBRA: &str = "/usr/lib/frr/zebra";
const BGPD: &str = "/usr/lib/frr/bgpd";
/// Static routes (`ip route …`, which switchboard's on-prem actor writes).
const STATICD: &str = "/usr/lib/frr/staticd";
const FRR_CONFIG_ROOT: &str = "/etc/frr";
const FRR_RUN_ROOT: &str = "/var/run/frr";
/// How long [`FrrLab::create`] waits for both sessions and the primary best
/// path (two eBGP sessions take 2.5–5 s to come up).
const CONVERGE: Duration = Duration::from_secs(20);
/// Policy-routing tables on the edge pinning each probe source to its link.
const PRIMARY_TABLE: u32 = 100;
const BACKUP_TABLE: u32 = 101;
/// Inter-arrival gaps of a [`Stream`] longer than this are reported.
const REPORTED_GAP_MS: f64 = 50.0;

/// How the edge is configured beyond what `switchboard config` renders.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrrOptions {
    /// `neighbor X soft-reconfiguration inbound` on both neighbours: the edge
    /// keeps what each peer sent, so `clear … soft in` and policy changes
    /// re-run locally instead of asking the peer to resend (route refresh).
    pub soft_reconfiguration_inbound: bool,
}

/// One end of a veth pair.
struct End<'a> {
    ns: &'a str,
    dev: &'static str,
    addr: Ipv4Addr,
    mac: String,
}

/// A veth pair: the end nearer the host and the one farther.
struct Link<'a> {
    near: End<'a>,
    far: End<'a>,
}

/// The best path the edge's BGP holds for the target prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestPath {
    /// The neighbour it was learned from (`peer.peerId`).
    pub peer: IpAddr,
    /// Its BGP next hop (`nexthops[0].ip`).
    pub next_hop: IpAddr,
    /// `locPrf`.
    pub local_pref: u32,
}

/// Host, edge and cloud namespaces with FRR on the edge and the cloud.
/// Dropping it tears everything down.
pub struct FrrLab {
    host_ns: String,
    edge_ns: String,
    cloud_ns: String,
    /// K: third octet of 10.251.K.0/24 and of the target 198.18.K.0/24.
    k: u8,
    options: FrrOptions,
    /// Namespaces created so far, in creation order: what drop deletes.
    created: Vec<String>,
    /// FRR pathspaces whose directories may exist: what drop cleans.
    pathspaces: Vec<String>,
}

impl FrrLab {
    /// Builds the lab and waits (up to 20 s) until both BGP sessions are
    /// Established and the edge's best path and kernel route to the target
    /// go via the primary neighbour. Returns why not when this machine
    /// cannot host it; panics, with the failing command or vtysh's view,
    /// when setup or convergence fails for any other reason.
    pub fn create(options: FrrOptions) -> Result<FrrLab, Unavailable> {
        check_host(&[
            ("vtysh", "--help", "vtysh (apt-get install frr)"),
            (ZEBRA, "--version", "zebra (apt-get install frr)"),
            (BGPD, "--version", "bgpd (apt-get install frr)"),
            (STATICD, "--version", "staticd (apt-get install frr)"),
            ("id", "frr", "the frr user (apt-get install frr)"),
        ])?;
        let LabName { prefix, seed } = LabName::next();
        let ns = |role: &str| format!("{prefix}-{role}");
        let mut lab = FrrLab {
            host_ns: ns("host"),
            edge_ns: ns("edge"),
            cloud_ns: ns("cloud"),
            k: (seed % 256) as u8,
            options,
            created: Vec::new(),
            pathspaces: Vec::new(),
        };
        // From here on, returning or panicking drops `lab`, which removes
        // whatever was already created.
        for name in [
            lab.host_ns.clone(),
            lab.edge_ns.clone(),
            lab.cloud_ns.clone(),
        ] {
            run("ip", &["netns", "add", &name]).map_err(Unavailable::NoNetns)?;
            prepare_namespace(&name);
            lab.created.push(name);
        }
        for link in lab.links() {
            create_veth(
                (link.near.ns, link.near.dev, &link.near.mac),
                (link.far.ns, link.far.dev, &link.far.mac),
            )?;
        }
        lab.configure_kernel();
        lab.start_frr();
        lab.wait_for_best_path(lab.primary_neighbor(), CONVERGE);
        Ok(lab)
    }

    /// `create`, or `None` after printing why not, for a test to return
    /// early. With `SWITCHBOARD_NETLAB=require` a skip panics instead.
    pub fn create_or_skip(options: FrrOptions) -> Option<FrrLab> {
        or_skip(FrrLab::create(options))
    }

    pub fn options(&self) -> FrrOptions {
        self.options
    }

    pub fn host_ns(&self) -> &str {
        &self.host_ns
    }

    pub fn edge_ns(&self) -> &str {
        &self.edge_ns
    }

    pub fn cloud_ns(&self) -> &str {
        &self.cloud_ns
    }

    /// The edge's FRR pathspace (`vtysh -N <this>`): the edge namespace's name.
    pub fn edge_pathspace(&self) -> &str {
        &self.edge_ns
    }

    /// 198.18.K.1, on the cloud's loopback.
    pub fn target(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(198, 18, self.k, 1))
    }

    /// 198.18.K.0/24, the prefix the cloud advertises over both sessions.
    pub fn target_prefix(&self) -> String {
        format!("198.18.{}.0/24", self.k)
    }

    /// The cloud's address on the primary link: the edge's primary neighbour.
    pub fn primary_neighbor(&self) -> IpAddr {
        IpAddr::V4(self.primary_link().far.addr)
    }

    /// The cloud's address on the backup link: the edge's backup neighbour.
    pub fn backup_neighbor(&self) -> IpAddr {
        IpAddr::V4(self.backup_link().far.addr)
    }

    /// Probes from this host address always cross the primary link.
    pub fn primary_probe_source(&self) -> IpAddr {
        IpAddr::V4(self.addr(17))
    }

    /// Probes from this host address always cross the backup link.
    pub fn backup_probe_source(&self) -> IpAddr {
        IpAddr::V4(self.addr(18))
    }

    /// The host's main address, routed by BGP: where [`Stream`]s come from.
    pub fn host_address(&self) -> IpAddr {
        IpAddr::V4(self.host_link().near.addr)
    }

    /// `ip netns exec <host> <program>`, ready for arguments.
    pub fn in_host_ns(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.host_ns, program]);
        cmd
    }

    /// `vtysh -N <edge> -c <command>…` inside the edge namespace, one `-c`
    /// per command, run in order in one session (so `configure terminal`
    /// followed by config lines works). Panics only if vtysh cannot start.
    pub fn vtysh_edge(&self, commands: &[&str]) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.edge_ns, "vtysh", "-N", &self.edge_ns]);
        for command in commands {
            cmd.args(["-c", command]);
        }
        cmd.stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("netlab: cannot run vtysh in {}: {e}", self.edge_ns))
    }

    /// The next hop of the edge's kernel route to `target` (the `via` of
    /// `ip -n <edge> route get`), or `None` when that route has no gateway
    /// or the edge has no route at all.
    pub fn edge_next_hop(&self, target: IpAddr) -> Option<IpAddr> {
        let out = run(
            "ip",
            &["-n", &self.edge_ns, "route", "get", &target.to_string()],
        )
        .ok()?;
        let mut words = out.split_whitespace();
        words.find(|w| *w == "via")?;
        words.next()?.parse().ok()
    }

    /// The edge's best path to the target prefix, from
    /// `show bgp ipv4 unicast <prefix> json`, which (FRR 8.4) looks like
    /// ```text
    /// { "prefix": "198.18.K.0/24", "version": 1,
    ///   "advertisedTo": { "<peer>": { "hostname": "cloud" }, … },
    ///   "paths": [
    ///     { "aspath": { "string": "64512", "segments": […], "length": 1 },
    ///       "origin": "IGP", "metric": 0, "locPrf": 200, "valid": true,
    ///       "bestpath": { "bestpathFromAs": 64512, "overall": true,
    ///                     "selectionReason": "Local Pref" },   // best path only
    ///       "lastUpdate": { "epoch": …, "string": "…" },
    ///       "nexthops": [ { "ip": "10.251.K.6", "hostname": "cloud", "afi": "ipv4",
    ///                       "metric": 0, "accessible": true, "used": true } ],
    ///       "peer": { "peerId": "10.251.K.6", "routerId": "10.251.K.6",
    ///                 "hostname": "cloud", "type": "external" } },
    ///     … ] }
    /// ```
    /// and `{}` when the prefix is unknown.
    pub fn best_path(&self) -> Option<BestPath> {
        let prefix = self.target_prefix();
        let json = self.vtysh_json(&format!("show bgp ipv4 unicast {prefix} json"));
        let best = json["paths"]
            .as_array()?
            .iter()
            .find(|p| p["bestpath"]["overall"] == true)?;
        Some(BestPath {
            peer: best["peer"]["peerId"].as_str()?.parse().ok()?,
            next_hop: best["nexthops"][0]["ip"].as_str()?.parse().ok()?,
            local_pref: u32::try_from(best["locPrf"].as_u64()?).ok()?,
        })
    }

    /// What the edge says about one neighbour: `show bgp neighbors <addr>
    /// json`, an object keyed by the address (FRR 8.4, the fields a lab or
    /// switchboard would read):
    /// ```text
    /// { "10.251.K.6": {
    ///     "remoteAs": 64512, "localAs": 65001, "nbrExternalLink": true,
    ///     "nbrDesc": "dx-1-primary", "hostname": "cloud",
    ///     "remoteRouterId": "…", "localRouterId": "…",
    ///     "bgpState": "Established",            // or Idle, Connect, Active, OpenSent, …
    ///     "bgpTimerUpMsec": 8000, "bgpTimerUpEstablishedEpoch": …,
    ///     "connectionsEstablished": 1, "connectionsDropped": 0,
    ///     "lastResetDueTo": "…",
    ///     "addressFamilyInfo": { "ipv4Unicast": {
    ///         "inboundSoftConfigPermit": true,  // only with soft-reconfiguration inbound
    ///         "inboundPathPolicyConfig": true,
    ///         "routeMapForIncomingAdvertisements": "PRIMARY-IN",
    ///         "acceptedPrefixCounter": 1, "sentPrefixCounter": 1, … } },
    ///     "hostLocal": "10.251.K.5", "hostForeign": "10.251.K.6", "portForeign": 179, … } }
    /// ```
    pub fn neighbor_json(&self, neighbor: IpAddr) -> Value {
        let mut json = self.vtysh_json(&format!("show bgp neighbors {neighbor} json"));
        json[neighbor.to_string()].take()
    }

    /// The neighbour's session state (`bgpState`): "Established" when up.
    pub fn session_state(&self, neighbor: IpAddr) -> Option<String> {
        self.neighbor_json(neighbor)["bgpState"]
            .as_str()
            .map(str::to_string)
    }

    /// The route-map bound inbound to the neighbour, if any.
    pub fn inbound_route_map(&self, neighbor: IpAddr) -> Option<String> {
        self.neighbor_json(neighbor)["addressFamilyInfo"]["ipv4Unicast"]
            ["routeMapForIncomingAdvertisements"]
            .as_str()
            .map(str::to_string)
    }

    /// Whether the neighbour has `soft-reconfiguration inbound`.
    pub fn soft_reconfiguration_inbound(&self, neighbor: IpAddr) -> bool {
        self.neighbor_json(neighbor)["addressFamilyInfo"]["ipv4Unicast"]["inboundSoftConfigPermit"]
            == true
    }

    /// Waits until both sessions are Established and both the BGP best path
    /// and the edge's kernel route to the target go via `neighbor`; returns
    /// how long that took. Panics after `timeout` with vtysh's and the
    /// kernel's view.
    pub fn wait_for_best_path(&self, neighbor: IpAddr, timeout: Duration) -> Duration {
        let started = Instant::now();
        loop {
            if self.converged_via(neighbor) {
                return started.elapsed();
            }
            if started.elapsed() > timeout {
                panic!(
                    "netlab: the edge did not converge on {neighbor} for {} within {timeout:?}:\n{}",
                    self.target_prefix(),
                    self.edge_state()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Whether an ICMP echo from `source` (a host address) to the target is
    /// answered within 300 ms.
    pub fn icmp_answers(&self, source: IpAddr) -> bool {
        icmp_answers(&self.host_ns, source, self.target())
    }

    /// Cuts the primary link by taking the cloud's end (`c-p1`) down. The
    /// edge's end only loses carrier: it keeps its addresses and routes
    /// (policy table 100 too), zebra sees the interface go down and bgpd
    /// drops the session at once (fast external failover), and pinned
    /// neighbours mean nothing queues to arrive late after a restore.
    /// Downing the edge's end instead would delete the edge's routes over it.
    pub fn cut_primary(&self) {
        ip(&self.cloud_ns, "link set c-p1 down");
    }

    /// Undoes [`cut_primary`](Self::cut_primary): brings `c-p1` up, pins the
    /// link's neighbours again and puts back the cloud's static routes over
    /// it (taking a device down deletes both). Does not wait for BGP: see
    /// [`wait_for_best_path`](Self::wait_for_best_path).
    pub fn restore_primary(&self) {
        ip(&self.cloud_ns, "link set c-p1 up");
        self.pin(&self.primary_link());
        self.cloud_return_routes();
    }

    /// Drops every packet the edge forwards out of the primary link, while
    /// the link and the BGP session (the edge's own traffic, never forwarded)
    /// stay up: traffic that BGP still sends that way is lost.
    pub fn blackhole_primary(&self) {
        nft_replace_chain(&self.edge_ns, "blackhole", "oifname \"e-p1\" counter drop");
    }

    pub fn clear_blackhole_primary(&self) {
        nft_replace_chain(&self.edge_ns, "blackhole", "");
    }

    /// Breaks the edge's management plane, not its routing: bgpd's vty
    /// socket is moved aside, so vtysh cannot reach bgpd ("bgpd is not
    /// running") while bgpd keeps its sessions and routes.
    pub fn break_edge_management(&self) {
        let socket = format!("{FRR_RUN_ROOT}/{}/bgpd.vty", self.edge_ns);
        std::fs::rename(&socket, format!("{socket}.aside"))
            .unwrap_or_else(|e| panic!("netlab: cannot move {socket} aside: {e}"));
    }

    /// Undoes [`break_edge_management`](Self::break_edge_management).
    pub fn restore_edge_management(&self) {
        let socket = format!("{FRR_RUN_ROOT}/{}/bgpd.vty", self.edge_ns);
        std::fs::rename(format!("{socket}.aside"), &socket)
            .unwrap_or_else(|e| panic!("netlab: cannot put {socket} back: {e}"));
    }

    /// Starts a one-way UDP stream of `rate_hz` packets a second from the
    /// host's main address to the target, received in the cloud namespace
    /// where each arrival is stamped. Returns once both ends are running.
    pub fn start_stream(&self, rate_hz: u32) -> Stream {
        const RECEIVER: &str = "import select, socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
print('ready', s.getsockname()[1], flush=True)
arrivals = []
while True:
    readable = select.select([s, sys.stdin], [], [])[0]
    if s in readable:
        arrivals.append((struct.unpack('!Q', s.recv(64)[:8])[0], time.time()))
    else:
        break
print('\\n'.join('%d %.6f' % a for a in arrivals), flush=True)
";
        const SENDER: &str = "import select, socket, struct, sys, time
src, dst, port, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
print('ready', flush=True)
start, seq = time.monotonic(), 0
while not select.select([sys.stdin], [], [], 0)[0]:
    try:
        s.sendto(struct.pack('!Q', seq), (dst, port))
    except OSError:
        pass
    seq += 1
    delay = start + seq / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(seq, flush=True)
";
        assert!(rate_hz > 0, "a stream needs a rate");
        let target = self.target().to_string();
        let (mut receiver, receiver_out, ready) =
            spawn_python(&self.cloud_ns, RECEIVER, &[&target]);
        let Some(port) = ready.strip_prefix("ready ").map(str::to_string) else {
            let _ = receiver.kill();
            let _ = receiver.wait();
            panic!("netlab: stream receiver said {ready:?}");
        };
        let host = self.host_address().to_string();
        let rate = rate_hz.to_string();
        let (sender, sender_out, ready) =
            spawn_python(&self.host_ns, SENDER, &[&host, &target, &port, &rate]);
        let stream = Stream {
            sender,
            sender_out,
            receiver,
            receiver_out,
            started: SystemTime::now(),
        };
        // Dropping the stream kills both ends.
        assert_eq!(ready, "ready", "netlab: stream sender did not start");
        stream
    }

    fn addr(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 251, self.k, host)
    }

    /// Locally administered MAC: link (0 host, 1 primary, 2 backup), end
    /// (1 nearer the host, 2 farther).
    fn mac(link: u8, end: u8) -> String {
        format!("02:53:46:{link:02x}:00:{end:02x}")
    }

    /// One end of a link: `host` is the last octet of its address.
    fn end<'a>(&self, ns: &'a str, dev: &'static str, host: u8, mac: String) -> End<'a> {
        End {
            ns,
            dev,
            addr: self.addr(host),
            mac,
        }
    }

    /// Host (10.251.K.2) to edge (10.251.K.1).
    fn host_link(&self) -> Link<'_> {
        Link {
            near: self.end(&self.host_ns, "h-e", 2, Self::mac(0, 1)),
            far: self.end(&self.edge_ns, "e-h", 1, Self::mac(0, 2)),
        }
    }

    /// Edge (10.251.K.5) to cloud (10.251.K.6).
    fn primary_link(&self) -> Link<'_> {
        Link {
            near: self.end(&self.edge_ns, "e-p1", 5, Self::mac(1, 1)),
            far: self.end(&self.cloud_ns, "c-p1", 6, Self::mac(1, 2)),
        }
    }

    /// Edge (10.251.K.9) to cloud (10.251.K.10).
    fn backup_link(&self) -> Link<'_> {
        Link {
            near: self.end(&self.edge_ns, "e-p2", 9, Self::mac(2, 1)),
            far: self.end(&self.cloud_ns, "c-p2", 10, Self::mac(2, 2)),
        }
    }

    fn links(&self) -> [Link<'_>; 3] {
        [self.host_link(), self.primary_link(), self.backup_link()]
    }

    /// Pins each end's neighbour on a link.
    fn pin(&self, link: &Link) {
        let (near, far) = (&link.near, &link.far);
        pin_neighbour(near.ns, near.dev, far.addr, &far.mac);
        pin_neighbour(far.ns, far.dev, near.addr, &near.mac);
    }

    /// Addresses, pinned neighbours, static and policy routes, the edge's
    /// forwarding and nftables chain: everything but BGP.
    fn configure_kernel(&self) {
        for link in self.links() {
            for end in [&link.near, &link.far] {
                ip(end.ns, &format!("addr add {}/30 dev {}", end.addr, end.dev));
                ip(end.ns, &format!("link set {} up", end.dev));
            }
            self.pin(&link);
        }
        let (host, edge, cloud) = (&self.host_ns, &self.edge_ns, &self.cloud_ns);
        let host_link = self.host_link();

        for source in [self.primary_probe_source(), self.backup_probe_source()] {
            ip(host, &format!("addr add {source}/32 dev lo"));
        }
        ip(
            host,
            &format!("route add default via {}", host_link.far.addr),
        );
        sysctl(host, &["net.ipv4.ping_group_range=0 2147483647"]);

        sysctl(edge, &["net.ipv4.ip_forward=1"]);
        let probes = self.addr(16);
        ip(
            edge,
            &format!("route add {probes}/30 via {}", host_link.near.addr),
        );
        for (link, source, table) in [
            (
                self.primary_link(),
                self.primary_probe_source(),
                PRIMARY_TABLE,
            ),
            (self.backup_link(), self.backup_probe_source(), BACKUP_TABLE),
        ] {
            let (via, dev) = (link.far.addr, link.near.dev);
            ip(
                edge,
                &format!("route add default via {via} dev {dev} table {table}"),
            );
            ip(
                edge,
                &format!("rule add from {source} lookup {table} pref {table}"),
            );
        }
        nft_forward_chains(edge, &["blackhole"]);

        let (target, prefix) = (self.target(), self.target_prefix());
        ip(cloud, &format!("addr add {target}/32 dev lo"));
        // What `network <prefix>` needs in the RIB to advertise the /24.
        ip(cloud, &format!("route add blackhole {prefix}"));
        self.cloud_return_routes();
    }

    /// The cloud's routes back to the host: each probe source over its own
    /// link, the host's main subnet over the primary.
    fn cloud_return_routes(&self) {
        let (primary, backup) = (self.primary_link(), self.backup_link());
        let host_subnet = self.addr(0);
        for (dest, link) in [
            (format!("{}/32", self.primary_probe_source()), &primary),
            (format!("{}/32", self.backup_probe_source()), &backup),
            (format!("{host_subnet}/30"), &primary),
        ] {
            ip(
                &self.cloud_ns,
                &format!(
                    "route replace {dest} via {} dev {}",
                    link.near.addr, link.far.dev
                ),
            );
        }
    }

    /// The edge's frr.conf: the shape `switchboard config --target frr`
    /// renders (templates/frr/route-map.hbs) between the lab's preamble and
    /// its extra lines (router-id, no policy requirement, soft
    /// reconfiguration when asked for).
    fn edge_config(&self) -> String {
        let (primary, backup) = (self.primary_neighbor(), self.backup_neighbor());
        let mut lines = vec![
            "frr defaults datacenter".to_string(),
            "hostname edge".to_string(),
            "bgp route-map delay-timer 0".to_string(),
            "!".to_string(),
        ];
        for (map, preference) in [(PRIMARY_IN, 200), (BACKUP_IN, 100)] {
            lines.extend([
                format!("route-map {map} permit 10"),
                format!(" set local-preference {preference}"),
                "exit".to_string(),
                "!".to_string(),
            ]);
        }
        lines.extend([
            format!("router bgp {EDGE_AS}"),
            format!(" bgp router-id {}", self.host_link().far.addr),
            " no bgp ebgp-requires-policy".to_string(),
            format!(" neighbor {primary} remote-as {CLOUD_AS}"),
            format!(" neighbor {primary} description dx-1-primary"),
            format!(" neighbor {backup} remote-as {CLOUD_AS}"),
            format!(" neighbor {backup} description vpn-1-backup"),
            " !".to_string(),
            " address-family ipv4 unicast".to_string(),
            format!("  neighbor {primary} route-map {PRIMARY_IN} in"),
            format!("  neighbor {backup} route-map {BACKUP_IN} in"),
        ]);
        if self.options.soft_reconfiguration_inbound {
            for neighbor in [primary, backup] {
                lines.push(format!(
                    "  neighbor {neighbor} soft-reconfiguration inbound"
                ));
            }
        }
        lines.extend([" exit-address-family", "exit", "!", ""].map(String::from));
        lines.join("\n")
    }

    /// The cloud's frr.conf: both sessions, advertising the target prefix.
    fn cloud_config(&self) -> String {
        let (primary, backup) = (self.primary_link(), self.backup_link());
        let (to_primary, to_backup) = (primary.near.addr, backup.near.addr);
        [
            "frr defaults datacenter".to_string(),
            "hostname cloud".to_string(),
            "!".to_string(),
            format!("router bgp {CLOUD_AS}"),
            format!(" bgp router-id {}", primary.far.addr),
            " no bgp ebgp-requires-policy".to_string(),
            format!(" neighbor {to_primary} remote-as {EDGE_AS}"),
            format!(" neighbor {to_primary} description edge-primary"),
            format!(" neighbor {to_backup} remote-as {EDGE_AS}"),
            format!(" neighbor {to_backup} description edge-backup"),
            " !".to_string(),
            " address-family ipv4 unicast".to_string(),
            format!("  network {}", self.target_prefix()),
            " exit-address-family".to_string(),
            "exit".to_string(),
            "!".to_string(),
            String::new(),
        ]
        .join("\n")
    }

    /// Writes each router's pathspace (owned by `frr`) and starts zebra, then
    /// staticd and bgpd, in its namespace.
    fn start_frr(&mut self) {
        for (ns, config) in [
            (self.edge_ns.clone(), self.edge_config()),
            (self.cloud_ns.clone(), self.cloud_config()),
        ] {
            self.pathspaces.push(ns.clone());
            let config_dir = format!("{FRR_CONFIG_ROOT}/{ns}");
            let run_dir = format!("{FRR_RUN_ROOT}/{ns}");
            let config_file = format!("{config_dir}/frr.conf");
            for dir in [&config_dir, &run_dir] {
                std::fs::create_dir_all(dir)
                    .unwrap_or_else(|e| panic!("netlab: cannot create {dir}: {e}"));
            }
            std::fs::write(&config_file, config)
                .unwrap_or_else(|e| panic!("netlab: cannot write {config_file}: {e}"));
            std::fs::write(format!("{config_dir}/vtysh.conf"), "")
                .unwrap_or_else(|e| panic!("netlab: cannot write vtysh.conf in {config_dir}: {e}"));
            must("chown", &["-R", "frr:frr", &config_dir, &run_dir]);
            for daemon in [ZEBRA, STATICD, BGPD] {
                must(
                    "ip",
                    &[
                        "netns",
                        "exec",
                        &ns,
                        daemon,
                        "-d",
                        "-N",
                        &ns,
                        "-f",
                        &config_file,
                    ],
                );
            }
        }
    }

    /// Both sessions Established, the best path from `neighbor`, and the
    /// kernel route via it.
    fn converged_via(&self, neighbor: IpAddr) -> bool {
        [self.primary_neighbor(), self.backup_neighbor()]
            .iter()
            .all(|n| self.session_state(*n).as_deref() == Some("Established"))
            && self.best_path().is_some_and(|best| best.peer == neighbor)
            && self.edge_next_hop(self.target()) == Some(neighbor)
    }

    /// vtysh's and the kernel's view of the edge, for failure messages.
    fn edge_state(&self) -> String {
        let prefix = self.target_prefix();
        let vtysh = self.vtysh_edge(&[
            "show bgp summary",
            &format!("show bgp ipv4 unicast {prefix}"),
        ]);
        let route = |args: &[&str]| run("ip", args).unwrap_or_else(|e| e);
        let target = self.target().to_string();
        format!(
            "{}{}\nip route:\n{}ip route get {target}:\n{}",
            String::from_utf8_lossy(&vtysh.stdout),
            String::from_utf8_lossy(&vtysh.stderr),
            route(&["-n", &self.edge_ns, "route"]),
            route(&["-n", &self.edge_ns, "route", "get", &target]),
        )
    }

    /// One vtysh `show … json` command's output, parsed; panics with the
    /// output when it is not JSON.
    fn vtysh_json(&self, command: &str) -> Value {
        let out = self.vtysh_edge(&[command]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "netlab: `{command}` in {} printed no JSON ({e}): {}{}",
                self.edge_ns,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

impl Drop for FrrLab {
    fn drop(&mut self) {
        for pathspace in &self.pathspaces {
            remove_pathspace(pathspace);
        }
        for ns in self.created.iter().rev() {
            delete_namespace(ns);
        }
    }
}

/// A running UDP stream; see [`FrrLab::start_stream`]. Dropping it without
/// [`stop`](Stream::stop) kills both ends.
pub struct Stream {
    sender: Child,
    sender_out: BufReader<ChildStdout>,
    receiver: Child,
    receiver_out: BufReader<ChildStdout>,
    /// When the sender was ready: the zero of every reported time.
    started: SystemTime,
}

/// A silence of the receiver longer than 50 ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// When it began (the last arrival before it), in ms since the stream
    /// started; compare with [`Stream::elapsed_ms`] taken at an event.
    pub start_ms: f64,
    pub length_ms: f64,
}

/// What a stopped [`Stream`] sent and what arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    pub sent: u64,
    /// Distinct packets that arrived.
    pub received: u64,
    /// The longest time between two consecutive arrivals.
    pub longest_gap_ms: f64,
    /// Every time between consecutive arrivals over 50 ms, in order.
    pub gaps: Vec<Gap>,
}

impl StreamReport {
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

impl Stream {
    /// Milliseconds since the stream started, on the clock its gaps are
    /// stamped with.
    pub fn elapsed_ms(&self) -> f64 {
        ms_since(self.started, SystemTime::now())
    }

    /// Stops the sender, gives packets in flight 100 ms to land, stops the
    /// receiver and reports.
    pub fn stop(mut self) -> StreamReport {
        drop(self.sender.stdin.take());
        let sent = read_rest(&mut self.sender_out, "sender");
        let _ = self.sender.wait();
        sleep(Duration::from_millis(100));
        drop(self.receiver.stdin.take());
        let arrivals = read_rest(&mut self.receiver_out, "receiver");
        let _ = self.receiver.wait();

        let sent = sent
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("netlab: stream sender printed {sent:?}"));
        let mut stamped: Vec<(u64, f64)> = arrivals
            .lines()
            .filter_map(|l| {
                let (seq, secs) = l.split_once(' ')?;
                Some((seq.parse().ok()?, secs.parse().ok()?))
            })
            .collect();
        stamped.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut seqs: Vec<u64> = stamped.iter().map(|(seq, _)| *seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        let zero = self
            .started
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut report = StreamReport {
            sent,
            received: seqs.len() as u64,
            longest_gap_ms: 0.0,
            gaps: Vec::new(),
        };
        for pair in stamped.windows(2) {
            let length_ms = (pair[1].1 - pair[0].1) * 1000.0;
            report.longest_gap_ms = report.longest_gap_ms.max(length_ms);
            if length_ms > REPORTED_GAP_MS {
                report.gaps.push(Gap {
                    start_ms: (pair[0].1 - zero) * 1000.0,
                    length_ms,
                });
            }
        }
        report
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        for child in [&mut self.sender, &mut self.receiver] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ms_since(zero: SystemTime, then: SystemTime) -> f64 {
    then.duration_since(zero)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Starts a python3 `script` in `ns` with piped stdin and stdout; returns it,
/// its stdout and the first line it printed (trimmed), once printed.
fn spawn_python(ns: &str, script: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, python3(), "-c", script])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("netlab: cannot start python3 in {ns}: {e}"));
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    (child, out, line.trim().to_string())
}

fn read_rest(out: &mut BufReader<ChildStdout>, end: &str) -> String {
    let mut text = String::new();
    out.read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("netlab: reading the stream {end}: {e}"));
    text
}

/// Stops the FRR daemons named by `/var/run/frr/<pathspace>/*.pid` (TERM,
/// then KILL after a second) and removes the pathspace's directories. Best
/// effort: never panics.
fn remove_pathspace(pathspace: &str) {
    let run_dir = format!("{FRR_RUN_ROOT}/{pathspace}");
    let daemons: Vec<String> = std::fs::read_dir(&run_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "pid"))
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|pid| pid.trim().to_string())
        .filter(|pid| is_frr_daemon_of(pid, pathspace))
        .collect();
    signal(&daemons, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(1);
    while daemons.iter().any(|pid| is_running(pid)) && Instant::now() < deadline {
        sleep(Duration::from_millis(20));
    }
    signal(&daemons, "-KILL");
    let _ = std::fs::remove_dir_all(&run_dir);
    let _ = std::fs::remove_dir_all(format!("{FRR_CONFIG_ROOT}/{pathspace}"));
}

fn signal(pids: &[String], signal: &str) {
    let alive: Vec<&String> = pids.iter().filter(|pid| is_running(pid)).collect();
    if !alive.is_empty() {
        let _ = Command::new("kill")
            .arg(signal)
            .args(alive)
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether `pid` is a live process started with `-N <pathspace>` (a pid file
/// can outlive its daemon, and the pid be reused).
fn is_frr_daemon_of(pid: &str, pathspace: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(2)
        .any(|w| w[0] == b"-N" && w[1] == pathspace.as_bytes())
}

/// Whether `pid` exists and is not a zombie waiting to be reaped.
fn is_running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Removes the FRR pathspaces (and stops the daemons) of labs whose process
/// no longer exists; part of the sweep the first lab of a process runs.
pub(super) fn sweep_stale_pathspaces() {
    let mut stale: Vec<String> = [FRR_RUN_ROOT, FRR_CONFIG_ROOT]
        .iter()
        .flat_map(|root| std::fs::read_dir(Path::new(root)).into_iter().flatten())
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| left_by_dead_process(name))
        .collect();
    stale.sort();
    stale.dedup();
    for pathspace in stale {
        remove_pathspace(&pathspace);
    }
}
