//! The generated FRR config loads in a real FRR: `vtysh -C -f` (dry-run
//! check, no daemon needed) accepts every router's file. `./test` installs
//! Debian's `frr` when it can; without `vtysh` this skips with a message,
//! unless `SWITCHBOARD_PEERS=require`.

mod common;

use common::globalcart_config;
use std::path::Path;
use std::process::Command;
use switchboard::optimizer::config_gen::Target;

/// `vtysh -C -f file` with its own config directory (an empty vtysh.conf),
/// so the check needs neither /etc/frr nor the frr user.
fn vtysh_check(dir: &Path, name: &str, text: &str) -> Option<(bool, String)> {
    let file = dir.join(format!("{name}.conf"));
    std::fs::write(&file, text).unwrap();
    let output = Command::new("vtysh")
        .arg("--config_dir")
        .arg(dir)
        .arg("-C")
        .arg("-f")
        .arg(&file)
        .output()
        .ok()?;
    Some((
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    ))
}

#[test]
fn generated_frr_config_passes_vtysh_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("vtysh.conf"), "").unwrap();
    // The check must be able to fail, or passing proves nothing.
    let Some((ok, _)) = vtysh_check(
        dir.path(),
        "broken",
        "route-map X permit 10\n set local-preferencez 200\n",
    ) else {
        let message =
            "vtysh not found: FRR config not checked (install Debian's frr, or run ./test as root)";
        if std::env::var("SWITCHBOARD_PEERS").as_deref() == Ok("require") {
            panic!("{message}; SWITCHBOARD_PEERS=require");
        }
        eprintln!("SKIP generated_frr_config_passes_vtysh_dry_run: {message}");
        return;
    };
    assert!(!ok, "vtysh -C accepted a broken config");
    let mut checked = 0;
    for (from, to) in [
        ("aws:us-east-1", "azure:eastus"),
        ("onprem:dc1", "aws:us-east-1"),
        ("gcp:us-central1", "onprem:dc1"),
    ] {
        for file in globalcart_config(from, to, Target::Frr) {
            let (ok, output) = vtysh_check(dir.path(), &file.name, &file.text).unwrap();
            assert!(
                ok,
                "vtysh -C rejected {} ({from} → {to}):\n{output}\n{}",
                file.name, file.text
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} router files");
}
