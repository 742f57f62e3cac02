//! What changed between two snapshots: networks and connections that
//! appeared or vanished, and connections whose status changed. Pure.

use super::model::{TopoConnection, Topology};
use crate::domain::ConnectionStatus;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologyDiff {
    pub networks_appeared: Vec<String>,
    pub networks_vanished: Vec<String>,
    pub connections_appeared: Vec<String>,
    pub connections_vanished: Vec<String>,
    pub status_changed: Vec<StatusChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusChange {
    pub connection: String,
    pub from: ConnectionStatus,
    pub to: ConnectionStatus,
}

impl TopologyDiff {
    pub fn is_empty(&self) -> bool {
        self.networks_appeared.is_empty()
            && self.networks_vanished.is_empty()
            && self.connections_appeared.is_empty()
            && self.connections_vanished.is_empty()
            && self.status_changed.is_empty()
    }
}

pub fn diff(before: &Topology, after: &Topology) -> TopologyDiff {
    let ids = |t: &Topology| -> BTreeMap<String, ()> {
        t.networks.iter().map(|n| (n.id.clone(), ())).collect()
    };
    let (nb, na) = (ids(before), ids(after));
    let conns = |t: &Topology| -> BTreeMap<String, TopoConnection> {
        t.connections
            .iter()
            .map(|c| (c.id.clone(), c.clone()))
            .collect()
    };
    let (cb, ca) = (conns(before), conns(after));
    TopologyDiff {
        networks_appeared: na
            .keys()
            .filter(|k| !nb.contains_key(*k))
            .cloned()
            .collect(),
        networks_vanished: nb
            .keys()
            .filter(|k| !na.contains_key(*k))
            .cloned()
            .collect(),
        connections_appeared: ca
            .keys()
            .filter(|k| !cb.contains_key(*k))
            .cloned()
            .collect(),
        connections_vanished: cb
            .keys()
            .filter(|k| !ca.contains_key(*k))
            .cloned()
            .collect(),
        status_changed: ca
            .values()
            .filter_map(|c| {
                let old = cb.get(&c.id)?;
                (old.status != c.status).then(|| StatusChange {
                    connection: c.id.clone(),
                    from: old.status,
                    to: c.status,
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::graph::tests::topology;

    #[test]
    fn appeared_vanished_and_status_changes_are_reported() {
        let before = topology(
            &["a", "b", "c"],
            &[("x", "a", "b", None), ("y", "b", "c", None)],
        );
        let mut after = topology(
            &["a", "b", "d"],
            &[("x", "a", "b", None), ("z", "b", "d", None)],
        );
        after.connections[0].status = ConnectionStatus::Down;
        let d = diff(&before, &after);
        assert_eq!(d.networks_appeared, ["d"]);
        assert_eq!(d.networks_vanished, ["c"]);
        assert_eq!(d.connections_appeared, ["z"]);
        assert_eq!(d.connections_vanished, ["y"]);
        assert_eq!(d.status_changed.len(), 1);
        assert_eq!(d.status_changed[0].to, ConnectionStatus::Down);
        assert!(diff(&after, &after).is_empty());
    }
}
