#!/usr/bin/python3
"""Craft the frames the rack-lab tests send through the box.

Run with Debian's python (/usr/bin/python3, which has scapy). Every command
writes classic pcap files of Ethernet frames; the Go tests replay them with
tcpreplay and compare with what a capture on the far side of the box saw.

    craft.py vlan OUT.pcap --src-mac M --dst-mac M [--src4 A --dst4 A --src6 A --dst6 A]
        802.1Q, QinQ (802.1ad over 802.1Q) and double-802.1Q frames carrying
        IPv4, IPv6 and ARP between lab addresses: all must pass unchanged (L1).
    craft.py unique OUT.pcap N --src-mac M --dst-mac M [--src4 A --dst4 A --src6 A --dst6 A]
        N valid UDP frames, IPv4 and IPv6 alternating, each with its sequence
        number in the payload: every one must arrive exactly once.
    craft.py malformed DIR --src-mac M --dst-mac M
        DIR/<case>.pcap for every case in MALFORMED: frames breaking one L or
        H rule of POLICY.md each, to be dropped and counted.

The payloads carry a marker so a leaked frame is recognisable in a capture.
"""

import argparse
import os
import struct
import sys

from scapy.all import (  # noqa: E402  (scapy prints warnings on import)
    ARP,
    Dot1AD,
    Dot1Q,
    Ether,
    ICMP,
    IP,
    IPOption_LSRR,
    IPOption_RR,
    IPOption_SSRR,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrRouting,
    Raw,
    UDP,
)

CLIENT4, SERVER4 = "10.77.0.1", "10.77.0.21"
CLIENT6, SERVER6 = "fd77::1", "fd77::21"


def write_pcap(path, frames):
    """Write raw frames as a classic little-endian pcap (link type Ethernet).

    Written by hand rather than with scapy's wrpcap so malformed bytes are
    stored exactly as built, never re-dissected.
    """
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, frame in enumerate(frames):
            frame = bytes(frame)
            usec = 1_700_000_000 * 1_000_000 + i * 10
            f.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame), len(frame)))
            f.write(frame)


def eth(args, etype=None):
    if etype is None:
        return Ether(src=args.src_mac, dst=args.dst_mac)
    return Ether(src=args.src_mac, dst=args.dst_mac, type=etype)


def payload(tag, n=0):
    return Raw(("rackwall-lab %s %06d " % (tag, n)).encode() + b"x" * 24)


def cmd_vlan(args):
    e = lambda: eth(args)  # noqa: E731
    udp4 = lambda n: IP(src=args.src4, dst=args.dst4) / UDP(sport=40000 + n, dport=9) / payload("vlan", n)  # noqa: E731
    udp6 = lambda n: IPv6(src=args.src6, dst=args.dst6) / UDP(sport=40000 + n, dport=9) / payload("vlan", n)  # noqa: E731
    frames = [
        # 802.1Q, with PCP and DEI bits set on some, VLAN 1..4094 edges.
        e() / Dot1Q(vlan=10) / udp4(1),
        e() / Dot1Q(vlan=4094, prio=5) / udp4(2),
        e() / Dot1Q(vlan=1, prio=7, id=1) / udp6(3),
        e() / Dot1Q(vlan=0, prio=3) / udp4(4),  # priority tag only
        e() / Dot1Q(vlan=20) / IP(src=args.src4, dst=args.dst4) / ICMP(id=7, seq=5) / payload("vlan", 5),
        e() / Dot1Q(vlan=30) / ARP(op=1, hwsrc=args.src_mac, psrc=args.src4, pdst=args.dst4),
        # QinQ: 802.1ad service tag over an 802.1Q customer tag.
        e() / Dot1AD(vlan=100) / Dot1Q(vlan=10) / udp4(7),
        e() / Dot1AD(vlan=200, prio=2) / Dot1Q(vlan=4000) / udp6(8),
        e() / Dot1AD(vlan=300) / Dot1Q(vlan=30) / ARP(op=2, hwsrc=args.src_mac, psrc=args.src4, pdst=args.dst4),
        # Two 802.1Q tags (the older QinQ style).
        e() / Dot1Q(vlan=11, type=0x8100) / Dot1Q(vlan=12) / udp4(10),
        # Large tagged frame: 1500-byte IP packet in a tag.
        e() / Dot1Q(vlan=10) / IP(src=args.src4, dst=args.dst4) / UDP(sport=40011, dport=9)
        / Raw(b"rackwall-lab vlan 000011 " + b"y" * (1500 - 28 - 25)),
    ]
    write_pcap(args.out, frames)


def cmd_unique(args):
    frames = []
    for n in range(args.count):
        if n % 2 == 0:
            ip = IP(src=args.src4, dst=args.dst4, id=n & 0xFFFF)
        else:
            ip = IPv6(src=args.src6, dst=args.dst6, fl=n & 0xFFFFF)
        frames.append(eth(args) / ip / UDP(sport=30000 + n % 1000, dport=9) / payload("unique", n))
    write_pcap(args.out, frames)


def raw_ip4(ip_layer):
    """Bytes of an IPv4 packet with checksums computed, for hand edits."""
    return bytearray(bytes(ip_layer))


def ip4_checksum(hdr):
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) + (hdr[i + 1] if i + 1 < len(hdr) else 0)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def refresh_ip4_checksum(b):
    ihl = (b[0] & 0x0F) * 4
    b[10:12] = b"\0\0"
    b[10:12] = struct.pack(">H", ip4_checksum(b[:ihl]))
    return b


def malformed_cases(args):
    """Each case: a list of frames that break one rule. The Go test holds the
    expected reasons; names here must match its table."""
    e = lambda etype=0x0800: bytes(eth(args, etype))  # noqa: E731
    cases = {}
    good4 = lambda n, **kw: IP(src=kw.pop("src", CLIENT4), dst=SERVER4, **kw) / UDP(sport=41000 + n, dport=9) / payload("bad", n)  # noqa: E731
    good6 = lambda n, **kw: IPv6(src=kw.pop("src", CLIENT6), dst=SERVER6, **kw) / UDP(sport=41000 + n, dport=9) / payload("bad", n)  # noqa: E731

    # L3: the IPv4 header is cut short (12 of 20 bytes present).
    cases["truncated_ipv4_header"] = [e() + bytes(good4(1))[:12]]
    # L3/H1: total length claims 200 bytes, 60 are present.
    b = raw_ip4(good4(2))
    b[2:4] = struct.pack(">H", 200)
    cases["truncated_ipv4_total_length"] = [e() + bytes(refresh_ip4_checksum(b))]
    # L3/H1: IPv6 payload length claims more than is present.
    b = bytearray(bytes(good6(3)))
    b[4:6] = struct.pack(">H", 400)
    cases["truncated_ipv6_payload"] = [e(0x86DD) + bytes(b)]
    # L3: an IPv4 header cut short inside a VLAN tag. (A tag cut short
    # itself cannot be tested on a veth: the kernel drops such a frame while
    # moving the tag into packet metadata, before any packet socket sees it.)
    cases["truncated_in_vlan"] = [bytes(eth(args) / Dot1Q(vlan=10, type=0x0800)) + bytes(good4(4))[:12]]
    # L3: three VLAN tags, deeper than the two the policy allows.
    cases["vlan_too_deep"] = [bytes(eth(args) / Dot1AD(vlan=100) / Dot1Q(vlan=10, type=0x8100) / Dot1Q(vlan=20) / good4(5))]

    # L2: ethertypes off the allow-list.
    cases["ethertype_blocked"] = [
        e(0x88B5) + b"rackwall-lab bad 000010 local experimental ethertype".ljust(46, b"z"),
        e(0x8137) + b"rackwall-lab bad 000011 ipx".ljust(46, b"z"),
    ]
    # L2: ARP with wrong hardware / protocol lengths.
    arp_hw = bytearray(bytes(ARP(op=1, hwsrc=args.src_mac, psrc=CLIENT4, pdst=SERVER4)))
    arp_hw[4] = 8  # hlen
    arp_pl = bytearray(bytes(ARP(op=1, hwsrc=args.src_mac, psrc=CLIENT4, pdst=SERVER4)))
    arp_pl[5] = 16  # plen
    arp_ptype = bytearray(bytes(ARP(op=1, hwsrc=args.src_mac, psrc=CLIENT4, pdst=SERVER4)))
    arp_ptype[2:4] = b"\x86\xdd"  # ptype IPv6 with IPv4 lengths
    cases["arp_malformed"] = [e(0x0806) + bytes(arp_hw), e(0x0806) + bytes(arp_pl), e(0x0806) + bytes(arp_ptype)]

    # H1: IHL below 5, IHL beyond the total length, wrong version.
    b = raw_ip4(good4(20))
    b[0] = 0x44
    ihl4 = refresh_ip4_checksum_len(b, 16)
    b = raw_ip4(good4(21))
    b[0] = 0x4F  # a 60-byte header in a packet whose total length says 40
    b[2:4] = struct.pack(">H", 40)
    ihl15 = refresh_ip4_checksum_len(b, 60)
    b = raw_ip4(good4(22))
    b[0] = 0x55  # version 5
    ver5 = refresh_ip4_checksum_len(b, 20)
    cases["ip_header_invalid"] = [e() + bytes(ihl4), e() + bytes(ihl15), e() + bytes(ver5)]
    # H1: header checksum wrong.
    b = raw_ip4(good4(23))
    b[10] ^= 0x5A
    cases["ip_checksum_invalid"] = [e() + bytes(b)]

    # H2: martian sources, IPv4 and IPv6, plain and inside a VLAN tag (L1).
    cases["martian_source"] = [
        bytes(eth(args) / good4(30, src="127.0.0.1")),
        bytes(eth(args) / good4(31, src="224.0.0.5")),
        bytes(eth(args) / good4(32, src="255.255.255.255")),
        bytes(eth(args) / good4(33, src="0.1.2.3")),
        bytes(eth(args) / good6(34, src="::1")),
        bytes(eth(args) / good6(35, src="ff02::1")),
        bytes(eth(args) / Dot1Q(vlan=10) / good4(36, src="127.0.0.2")),
        bytes(eth(args) / Dot1AD(vlan=100) / Dot1Q(vlan=10) / good6(37, src="::1")),
    ]
    # H3: loose and strict source route options.
    cases["ip_source_route"] = [
        bytes(eth(args) / IP(src=CLIENT4, dst=SERVER4, options=[IPOption_LSRR(routers=["10.77.0.22"])]) / UDP(sport=41040, dport=9) / payload("bad", 40)),
        bytes(eth(args) / IP(src=CLIENT4, dst=SERVER4, options=[IPOption_SSRR(routers=["10.77.0.22"])]) / UDP(sport=41041, dport=9) / payload("bad", 41)),
    ]
    # H3: malformed option lengths (Record Route, not a source route, so
    # only the length rule applies): running past the header, and below 2.
    bad_opts = []
    for n, length in ((42, 40), (43, 1)):
        b = raw_ip4(IP(src=CLIENT4, dst=SERVER4, options=[IPOption_RR(routers=["0.0.0.0"])]) / UDP(sport=41000 + n, dport=9) / payload("bad", n))
        b[21] = length  # options start at byte 20: type, length, pointer, data
        bad_opts.append(e() + bytes(refresh_ip4_checksum(b)))
    cases["ip_options_invalid"] = bad_opts

    # H4: two fragment headers (atomic, so no F rule is involved).
    cases["ipv6_frag_header_repeated"] = [
        bytes(eth(args) / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrFragment(id=0x1001, offset=0, m=0)
              / IPv6ExtHdrFragment(id=0x1002, offset=0, m=0) / UDP(sport=41050, dport=9) / payload("bad", 50)),
    ]
    # H4: routing header type 0, with and without segments left.
    cases["ipv6_routing_type0"] = [
        bytes(eth(args) / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=["fd77::22"])
              / UDP(sport=41060, dport=9) / payload("bad", 60)),
        bytes(eth(args) / IPv6(src=CLIENT6, dst=SERVER6) / IPv6ExtHdrRouting(type=0, segleft=0, addresses=["fd77::22"])
              / UDP(sport=41061, dport=9) / payload("bad", 61)),
    ]
    return cases


def refresh_ip4_checksum_len(b, ihl_bytes):
    """Checksum over ihl_bytes of header, for headers whose IHL field lies."""
    b[10:12] = b"\0\0"
    b[10:12] = struct.pack(">H", ip4_checksum(b[:ihl_bytes]))
    return b


def cmd_malformed(args):
    os.makedirs(args.out, exist_ok=True)
    for name, frames in malformed_cases(args).items():
        write_pcap(os.path.join(args.out, name + ".pcap"), frames)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["vlan", "unique", "malformed"])
    p.add_argument("out")
    p.add_argument("count", nargs="?", type=int, default=100)
    p.add_argument("--src-mac", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--src4", default=CLIENT4)
    p.add_argument("--dst4", default=SERVER4)
    p.add_argument("--src6", default=CLIENT6)
    p.add_argument("--dst6", default=SERVER6)
    args = p.parse_args()
    {"vlan": cmd_vlan, "unique": cmd_unique, "malformed": cmd_malformed}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
