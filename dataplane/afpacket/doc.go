// Package afpacket moves Ethernet frames between the bridge and one Linux
// network interface through AF_PACKET TPACKET_V3 memory-mapped rings, in pure
// Go on golang.org/x/sys/unix.
//
// A Port owns two sockets on its interface: a receive socket with a TPACKET_V3
// RX ring (PACKET_IGNORE_OUTGOING, so the box never reads back what it sent)
// and a transmit socket with a TX ring (PACKET_QDISC_BYPASS) that is filled
// frame by frame and handed to the kernel with one sendto per batch.
// Splitting the halves lets one goroutine receive on a port while another
// transmits on it without sharing any ring state, and lets each half reopen
// itself after the interface goes away and comes back.
//
// OpenQueues opens several Ports on one interface, one per packet loop:
// their receive sockets join one PACKET_FANOUT group whose classic BPF
// program (fanout.go) picks a queue by a symmetric flow hash, so both
// directions of a connection, and every fragment of a datagram, reach
// queues of the same index on both sides of the bridge. WaitPair waits on
// one queue of each side at once.
//
// Frames are handed out byte-identical to what was on the wire: a VLAN tag
// the kernel moved into ring metadata is put back in front of the payload.
//
// With Options.VNetHdr both sockets use PACKET_VNET_HDR (vnethdr.go), so a
// port can run with the offloads its NIC offers: a received frame may be a
// GRO aggregate of up to 64 KiB, and its virtio_net_hdr (Frame.VNet) says
// how it is to be cut into segments and whether its checksum is partial;
// SendVNet hands such a frame back with its header for the kernel or NIC
// to segment and checksum. The rings are sized for 64 KiB frames then.
package afpacket
