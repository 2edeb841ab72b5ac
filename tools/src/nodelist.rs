//! The nodes of corosync.conf's `nodelist`, as the tools read them from
//! cmap: one `nodelist.node.<position>.nodeid` key per node, next to its
//! `nodelist.node.<position>.name`, `ring0_addr`, ….

use corosync::cmap::Cmap;
use corosync::Error;

const PREFIX: &str = "nodelist.node.";

/// A node of the configured node list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfiguredNode {
    /// Its position in the list: the `<position>` of its keys.
    pub position: u32,
    /// Its node id.
    pub nodeid: u32,
}

/// The configured nodes, in cmap's key order, that have a readable
/// `nodeid`. The error is that of starting the iteration (the C tools
/// report it); the list ends at the first failing step, as theirs does.
pub fn nodes(cmap: &Cmap) -> Result<Vec<ConfiguredNode>, Error> {
    let mut nodes = Vec::new();
    for entry in cmap.iter(PREFIX)? {
        let Ok(entry) = entry else { break };
        let Some(position) = nodeid_key_position(&entry.key) else {
            continue;
        };
        let Ok(key) = std::str::from_utf8(&entry.key) else {
            continue;
        };
        if let Ok(nodeid) = cmap.get_u32(key) {
            nodes.push(ConfiguredNode { position, nodeid });
        }
    }
    Ok(nodes)
}

/// The `name` of the first configured node with id `nodeid` that has one,
/// as corosync-quorumtool looks it up; `None` when there is none or the
/// list cannot be read.
pub fn name(cmap: &Cmap, nodeid: u32) -> Option<Vec<u8>> {
    nodes(cmap)
        .ok()?
        .into_iter()
        .filter(|node| node.nodeid == nodeid)
        .find_map(|node| {
            cmap.get_string(format!("{PREFIX}{}.name", node.position))
                .ok()
        })
}

/// `<position>` of a key that is exactly `nodelist.node.<position>.nodeid`.
fn nodeid_key_position(key: &[u8]) -> Option<u32> {
    let rest = key.strip_prefix(PREFIX.as_bytes())?;
    let digits = rest.strip_suffix(b".nodeid")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::nodeid_key_position;

    #[test]
    fn only_nodeid_keys_of_numbered_nodes_count() {
        assert_eq!(nodeid_key_position(b"nodelist.node.0.nodeid"), Some(0));
        assert_eq!(nodeid_key_position(b"nodelist.node.12.nodeid"), Some(12));
        assert_eq!(nodeid_key_position(b"nodelist.node.0.name"), None);
        assert_eq!(nodeid_key_position(b"nodelist.node.0.nodeidx"), None);
        assert_eq!(nodeid_key_position(b"nodelist.node..nodeid"), None);
        assert_eq!(nodeid_key_position(b"nodelist.node.x.nodeid"), None);
        assert_eq!(nodeid_key_position(b"nodelist.node.1.2.nodeid"), None);
        assert_eq!(nodeid_key_position(b"nodelist.local_node_pos"), None);
    }
}
