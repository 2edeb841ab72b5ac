//! The link list that corosync 3.0's `corosync-cfgtool -s` printed from
//! `corosync_cfg_ring_status_get`, before corosync 3.1 added per-node
//! status: `cfgtool` prints it when built for the corosync 3.0 API, which
//! has no `corosync_cfg_node_status_get`.
//!
//! Each interface corosync reports has a name `"<link id> <address>"` and a
//! status string. For knet the status has one character per configured
//! node, in node id order: `n` for the local node, a digit whose bit 0 says
//! "enabled" and bit 1 "connected", `?` for a knet error, `d` for a
//! configuration error.

use std::io::{self, Write};

/// One interface as `corosync_cfg_ring_status_get` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingLink<'a> {
    /// `"<link id> <address>"`.
    pub name: &'a [u8],
    /// The status string.
    pub status: &'a [u8],
}

/// How the links are printed: the options of corosync 3.0's tool and what
/// it read from cmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format<'a> {
    /// `-i`: show only the link with this id or address (empty: all).
    pub interface: &'a [u8],
    /// `-b`: the status string as it is, instead of a line per node.
    pub brief: bool,
    /// Whether the transport is knet (`totem.transport` neither `udp` nor
    /// `udpu`); other transports' status strings say nothing per node.
    pub knet: bool,
    /// The configured node ids, sorted: the status string's characters
    /// are these nodes', in this order.
    pub nodeids: &'a [u32],
}

/// Writes `links` as corosync 3.0's `corosync-cfgtool -s` did, after its
/// "Local node ID" line, and returns its exit status: 1 when a shown knet
/// link is neither local nor connected and enabled to some node, else 0.
///
/// An interface whose name has no space is skipped. A status character
/// past the end of `nodeids` is printed for node id 0 (the C tool read past
/// its list there).
pub fn write_links(
    out: &mut impl Write,
    links: &[RingLink<'_>],
    format: &Format<'_>,
) -> io::Result<u8> {
    let mut rc = 0;
    for link in links {
        let Some(space) = link.name.iter().position(|&b| b == b' ') else {
            continue;
        };
        let (id, addr) = (&link.name[..space], &link.name[space + 1..]);
        if !format.interface.is_empty() && format.interface != id && format.interface != addr {
            continue;
        }
        out.write_all(b"LINK ID ")?;
        out.write_all(id)?;
        out.write_all(b"\n\taddr\t= ")?;
        out.write_all(addr)?;
        out.write_all(b"\n")?;
        let fine = |c: &u8| *c == b'n' || *c == b'3';
        if !format.brief && format.knet {
            out.write_all(b"\tstatus:\n")?;
            for (i, &c) in link.status.iter().enumerate() {
                let nodeid = format.nodeids.get(i).copied().unwrap_or(0);
                // C's "%2d" of the unsigned id.
                write!(out, "\t\tnodeid {:2}:\t", nodeid as i32)?;
                if rc == 0 && !fine(&c) {
                    rc = 1;
                }
                match c {
                    b'0'..=b'9' => {
                        let bits = c - b'0';
                        let state: &[u8] = if bits & 2 != 0 {
                            b"connected"
                        } else {
                            b"disconnected"
                        };
                        out.write_all(state)?;
                        if bits & 1 == 0 {
                            out.write_all(b" (not enabled)")?;
                        }
                        out.write_all(b"\n")?;
                    }
                    b'n' => out.write_all(b"localhost\n")?,
                    b'?' => out.write_all(b"knet error\n")?,
                    b'd' => out.write_all(b"config error\n")?,
                    other => {
                        out.write_all(b"can't decode status character '")?;
                        out.write_all(&[other])?;
                        out.write_all(b"'\n")?;
                    }
                }
            }
        } else {
            out.write_all(b"\tstatus\t= ")?;
            out.write_all(link.status)?;
            out.write_all(b"\n")?;
            if rc == 0 && format.knet && !link.status.iter().all(fine) {
                rc = 1;
            }
        }
    }
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &[u32] = &[1, 2, 3];

    fn written(links: &[RingLink<'_>], format: &Format<'_>) -> (Vec<u8>, u8) {
        let mut out = Vec::new();
        let rc = write_links(&mut out, links, format).unwrap();
        (out, rc)
    }

    fn link<'a>(name: &'a [u8], status: &'a [u8]) -> RingLink<'a> {
        RingLink { name, status }
    }

    fn full(knet: bool) -> Format<'static> {
        Format {
            interface: b"",
            brief: false,
            knet,
            nodeids: NODES,
        }
    }

    #[test]
    fn knet_links_get_a_line_per_node() {
        let (out, rc) = written(&[link(b"0 10.0.0.1", b"n33")], &full(true));
        assert_eq!(
            out,
            b"LINK ID 0\n\taddr\t= 10.0.0.1\n\tstatus:\n\
              \t\tnodeid  1:\tlocalhost\n\
              \t\tnodeid  2:\tconnected\n\
              \t\tnodeid  3:\tconnected\n"
        );
        assert_eq!(rc, 0);
    }

    #[test]
    fn every_status_character_has_its_words() {
        let ids = [1, 2, 3, 4, 5, 6, 7, 100];
        let format = Format {
            nodeids: &ids,
            ..full(true)
        };
        let (out, rc) = written(&[link(b"1 fd00::1", b"n0123?dx")], &format);
        assert_eq!(
            out,
            b"LINK ID 1\n\taddr\t= fd00::1\n\tstatus:\n\
              \t\tnodeid  1:\tlocalhost\n\
              \t\tnodeid  2:\tdisconnected (not enabled)\n\
              \t\tnodeid  3:\tdisconnected\n\
              \t\tnodeid  4:\tconnected (not enabled)\n\
              \t\tnodeid  5:\tconnected\n\
              \t\tnodeid  6:\tknet error\n\
              \t\tnodeid  7:\tconfig error\n\
              \t\tnodeid 100:\tcan't decode status character 'x'\n"
        );
        assert_eq!(rc, 1);
    }

    #[test]
    fn brief_prints_the_status_string() {
        let format = Format {
            brief: true,
            ..full(true)
        };
        let links = [link(b"0 10.0.0.1", b"n33"), link(b"1 10.1.0.1", b"n31")];
        let (out, rc) = written(&links, &format);
        assert_eq!(
            out,
            b"LINK ID 0\n\taddr\t= 10.0.0.1\n\tstatus\t= n33\n\
              LINK ID 1\n\taddr\t= 10.1.0.1\n\tstatus\t= n31\n"
        );
        assert_eq!(rc, 1, "node 3 is not connected on link 1");
    }

    #[test]
    fn udp_statuses_are_printed_as_they_are_and_never_fail() {
        let (out, rc) = written(&[link(b"0 10.0.0.1", b"OK")], &full(false));
        assert_eq!(out, b"LINK ID 0\n\taddr\t= 10.0.0.1\n\tstatus\t= OK\n");
        assert_eq!(rc, 0);
    }

    #[test]
    fn the_interface_option_picks_a_link_by_id_or_address() {
        let links = [link(b"0 10.0.0.1", b"n3"), link(b"1 10.1.0.1", b"n0")];
        for interface in [&b"1"[..], b"10.1.0.1"] {
            let format = Format {
                interface,
                brief: true,
                ..full(true)
            };
            let (out, rc) = written(&links, &format);
            assert_eq!(out, b"LINK ID 1\n\taddr\t= 10.1.0.1\n\tstatus\t= n0\n");
            assert_eq!(rc, 1);
        }
        // A link not shown does not count for the exit status.
        let format = Format {
            interface: b"0",
            brief: true,
            ..full(true)
        };
        assert_eq!(written(&links, &format).1, 0);
        let format = Format {
            interface: b"10.9.9.9",
            ..full(true)
        };
        assert_eq!(written(&links, &format), (Vec::new(), 0));
    }

    #[test]
    fn names_without_a_space_are_skipped_and_short_lists_read_as_zero() {
        let format = Format {
            nodeids: &[1],
            ..full(true)
        };
        let links = [link(b"noaddress", b"n3"), link(b"2 10.2.0.1", b"n3")];
        let (out, rc) = written(&links, &format);
        assert_eq!(
            out,
            b"LINK ID 2\n\taddr\t= 10.2.0.1\n\tstatus:\n\
              \t\tnodeid  1:\tlocalhost\n\
              \t\tnodeid  0:\tconnected\n"
        );
        assert_eq!(rc, 0);
    }

    #[test]
    fn large_node_ids_print_as_c_prints_them_with_percent_d() {
        let format = Format {
            nodeids: &[u32::MAX],
            ..full(true)
        };
        let (out, _) = written(&[link(b"0 a", b"n")], &format);
        assert_eq!(
            out,
            b"LINK ID 0\n\taddr\t= a\n\tstatus:\n\t\tnodeid -1:\tlocalhost\n"
        );
    }
}
