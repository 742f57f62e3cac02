//! How switchboard reaches an on-prem router and runs FRR's `vtysh` there:
//! locally (optionally inside a network namespace and an FRR pathspace,
//! `vtysh -N`) or over SSH (`ssh -i key user@host vtysh …`), chosen per
//! router in `[discovery.onprem.routers.<name>]`. The argument vector is
//! built by pure code (every value checked, the remote command quoted for
//! the remote shell); running it is one child process under a deadline,
//! its output read as vtysh reports errors (`%` lines).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// The actor's settings: how each router is reached, and its deadlines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnpremActorConfig {
    /// By the router's name in the on-prem inventory. A router not listed
    /// here is render-only (`switchboard config`).
    #[serde(default)]
    pub routers: BTreeMap<String, RouterAccess>,
    /// The most one vtysh run may take.
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
    /// How long an apply waits for the best path to use the preferred
    /// neighbor before it counts as failed.
    #[serde(default = "default_converge_timeout")]
    pub converge_timeout_secs: u64,
}

fn default_command_timeout() -> u64 {
    10
}

fn default_converge_timeout() -> u64 {
    5
}

impl Default for OnpremActorConfig {
    fn default() -> Self {
        OnpremActorConfig {
            routers: BTreeMap::new(),
            command_timeout_secs: default_command_timeout(),
            converge_timeout_secs: default_converge_timeout(),
        }
    }
}

impl OnpremActorConfig {
    /// Every router's access checked; the error names the router and key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in [
            ("command_timeout_secs", self.command_timeout_secs),
            ("converge_timeout_secs", self.converge_timeout_secs),
        ] {
            if !(1..=600).contains(&value) {
                return Err(format!("{key} must be 1..600, got {value}"));
            }
        }
        for (name, access) in &self.routers {
            safe("router name", name).map_err(|e| format!("routers: {e}"))?;
            access
                .validate()
                .map_err(|e| format!("routers.{name}: {e}"))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `vtysh` on this host.
    Vtysh,
    /// `vtysh` on the router, over SSH.
    Ssh,
}

/// Which routing software runs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    #[default]
    Frr,
    /// Cisco IOS: render-only (`switchboard config --target ios`).
    Ios,
}

/// How one router is reached.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterAccess {
    pub via: Via,
    #[serde(default)]
    pub vendor: Vendor,
    /// vtysh: the network namespace FRR runs in (`ip netns exec`).
    pub netns: Option<String>,
    /// vtysh: FRR's pathspace (`vtysh -N`).
    pub pathspace: Option<String>,
    /// ssh: host name or address.
    pub host: Option<String>,
    /// ssh: the login.
    pub user: Option<String>,
    /// ssh: the private key (`ssh -i`); the host key must be known already
    /// (`StrictHostKeyChecking=yes`).
    pub key_file: Option<PathBuf>,
    /// ssh: the port, 22 by default.
    pub port: Option<u16>,
    /// ssh: the known-hosts file holding the router's host key (ssh's own
    /// default, `~/.ssh/known_hosts`, when unset).
    pub known_hosts: Option<PathBuf>,
}

/// Letters, digits and `. _ - :` only: what can go into an argument vector
/// or a remote shell line without quoting surprises.
fn safe<'a>(what: &str, value: &'a str) -> Result<&'a str, String> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if ok && !value.starts_with('-') {
        Ok(value)
    } else {
        Err(format!(
            "{what} '{}' must be letters, digits, '.', '_', '-' or ':' (not starting with '-')",
            value.chars().take(60).collect::<String>()
        ))
    }
}

impl RouterAccess {
    pub fn validate(&self) -> Result<(), String> {
        match self.via {
            Via::Vtysh => {
                if self.host.is_some()
                    || self.user.is_some()
                    || self.key_file.is_some()
                    || self.port.is_some()
                    || self.known_hosts.is_some()
                {
                    return Err("via = \"vtysh\" runs on this host: host, user, key_file, port and known_hosts are for via = \"ssh\"".into());
                }
                for (what, value) in [("netns", &self.netns), ("pathspace", &self.pathspace)] {
                    if let Some(v) = value {
                        safe(what, v)?;
                    }
                }
            }
            Via::Ssh => {
                if self.netns.is_some() || self.pathspace.is_some() {
                    return Err("via = \"ssh\" runs vtysh on the router: netns and pathspace are for via = \"vtysh\"".into());
                }
                let (Some(host), Some(user), Some(key)) = (&self.host, &self.user, &self.key_file)
                else {
                    return Err("via = \"ssh\" needs host, user and key_file".into());
                };
                safe("host", host)?;
                safe("user", user)?;
                for (what, path) in [
                    ("key_file", Some(key)),
                    ("known_hosts", self.known_hosts.as_ref()),
                ] {
                    if let Some(path) = path {
                        if path
                            .to_str()
                            .is_none_or(|p| p.starts_with('-') || p.contains(char::is_whitespace))
                        {
                            return Err(format!(
                                "{what} '{}' must be a UTF-8 path without spaces, not starting with '-'",
                                path.display()
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The program and arguments that run `commands` (each one vtysh `-c`,
    /// in order, in one session: `configure terminal` carries over).
    pub fn argv(&self, commands: &[String]) -> Vec<String> {
        let mut vtysh: Vec<String> = vec!["vtysh".into()];
        if let Some(pathspace) = &self.pathspace {
            vtysh.extend(["-N".into(), pathspace.clone()]);
        }
        for command in commands {
            vtysh.extend(["-c".into(), command.clone()]);
        }
        match self.via {
            Via::Vtysh => match &self.netns {
                Some(ns) => ["ip", "netns", "exec", ns.as_str()]
                    .into_iter()
                    .map(String::from)
                    .chain(vtysh)
                    .collect(),
                None => vtysh,
            },
            Via::Ssh => {
                let remote = vtysh
                    .iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ");
                let key = self
                    .key_file
                    .as_ref()
                    .map(|k| k.display().to_string())
                    .unwrap_or_default();
                let mut argv: Vec<String> = vec![
                    "ssh".into(),
                    "-i".into(),
                    key,
                    "-p".into(),
                    self.port.unwrap_or(22).to_string(),
                    "-o".into(),
                    "BatchMode=yes".into(),
                    "-o".into(),
                    "StrictHostKeyChecking=yes".into(),
                    "-o".into(),
                    "ConnectTimeout=5".into(),
                ];
                if let Some(file) = &self.known_hosts {
                    argv.extend([
                        "-o".into(),
                        format!("UserKnownHostsFile={}", file.display()),
                    ]);
                }
                argv.extend([
                    "-l".into(),
                    self.user.clone().unwrap_or_default(),
                    "--".into(),
                    self.host.clone().unwrap_or_default(),
                    remote,
                ]);
                argv
            }
        }
    }
}

/// `value` as one word for a POSIX shell.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("could not run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("vtysh gave no answer within {0:?}")]
    Timeout(Duration),
    /// vtysh (or ssh) ended with an error, or printed one (`% …`).
    #[error("vtysh refused: {0}")]
    Refused(String),
}

/// Runs `commands` on the router and returns what vtysh printed.
pub async fn run_vtysh(
    access: &RouterAccess,
    commands: &[String],
    deadline: Duration,
) -> Result<String, RouterError> {
    let argv = access.argv(commands);
    let (program, args) = argv.split_first().expect("argv has a program");
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RouterError::Spawn {
            program: program.clone(),
            source,
        })?;
    let output = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .map_err(|_| RouterError::Timeout(deadline))?
        .map_err(|source| RouterError::Spawn {
            program: program.clone(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let complaint = stdout
        .lines()
        .chain(stderr.lines())
        .find(|l| l.trim_start().starts_with('%'))
        .map(str::trim);
    match (output.status.success(), complaint) {
        (true, None) => Ok(stdout),
        (_, Some(line)) => Err(RouterError::Refused(line.chars().take(300).collect())),
        (false, None) => Err(RouterError::Refused(format!(
            "{program} exited with {}: {}",
            output.status,
            stderr.trim().chars().take(300).collect::<String>()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vtysh(netns: Option<&str>, pathspace: Option<&str>) -> RouterAccess {
        RouterAccess {
            via: Via::Vtysh,
            vendor: Vendor::Frr,
            netns: netns.map(String::from),
            pathspace: pathspace.map(String::from),
            host: None,
            user: None,
            key_file: None,
            port: None,
            known_hosts: None,
        }
    }

    fn ssh() -> RouterAccess {
        RouterAccess {
            via: Via::Ssh,
            vendor: Vendor::Frr,
            netns: None,
            pathspace: None,
            host: Some("edge-1.dc1".into()),
            user: Some("switchboard".into()),
            key_file: Some("/etc/switchboard/id_ed25519".into()),
            port: None,
            known_hosts: Some("/etc/switchboard/known_hosts".into()),
        }
    }

    #[test]
    fn local_vtysh_runs_in_the_namespace_and_pathspace_each_command_one_c() {
        let argv = vtysh(Some("edge"), Some("edge")).argv(&[
            "configure terminal".into(),
            "route-map PRIMARY-IN permit 10".into(),
        ]);
        assert_eq!(
            argv,
            [
                "ip",
                "netns",
                "exec",
                "edge",
                "vtysh",
                "-N",
                "edge",
                "-c",
                "configure terminal",
                "-c",
                "route-map PRIMARY-IN permit 10"
            ]
        );
        assert_eq!(
            vtysh(None, None).argv(&["show version".into()]),
            ["vtysh", "-c", "show version"]
        );
    }

    #[test]
    fn ssh_quotes_the_remote_command_for_the_remote_shell() {
        let argv = ssh().argv(&["show bgp summary json".into(), "it's".into()]);
        assert_eq!(argv[0], "ssh");
        assert!(argv.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert!(argv.contains(&"UserKnownHostsFile=/etc/switchboard/known_hosts".to_string()));
        assert_eq!(argv[argv.len() - 2], "edge-1.dc1");
        assert_eq!(
            argv[argv.len() - 1],
            "'vtysh' '-c' 'show bgp summary json' '-c' 'it'\\''s'"
        );
    }

    #[test]
    fn access_that_could_inject_or_mixes_modes_is_refused() {
        assert!(vtysh(Some("edge; rm -rf /"), None).validate().is_err());
        assert!(vtysh(Some("-n"), None).validate().is_err());
        let mut mixed = vtysh(None, None);
        mixed.host = Some("x".into());
        assert!(mixed.validate().unwrap_err().contains("via = \"ssh\""));
        let mut no_key = ssh();
        no_key.key_file = None;
        assert!(no_key.validate().unwrap_err().contains("key_file"));
        let mut hostile = ssh();
        hostile.host = Some("-oProxyCommand=x".into());
        assert!(hostile.validate().is_err());
        assert!(ssh().validate().is_ok());
        assert!(vtysh(Some("sbt1-edge"), Some("sbt1-edge"))
            .validate()
            .is_ok());
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_naming_it() {
        let mut access = vtysh(Some("no-such-ns-for-switchboard"), None);
        access.netns = Some("no-such-ns-for-switchboard".into());
        // `ip netns exec` into a namespace that does not exist fails (or,
        // without iproute2, `ip` is missing): an error either way, never Ok.
        let result = run_vtysh(&access, &["show version".into()], Duration::from_secs(5)).await;
        assert!(result.is_err(), "{result:?}");
    }
}
