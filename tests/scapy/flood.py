#!/usr/bin/python3
"""Flood a lab interface with overlapping IPv4 fragments.

    flood.py overlap --iface IF --src-mac M --dst-mac M --src A --dst A
                     [--duration S] [--pps N] [--variants N]

Each datagram is two fragments whose byte ranges overlap with different
content (POLICY F4); every datagram has its own IP ID, and the set of
variants is cycled until --duration runs out. Frames are built once with
scapy and then written with a plain AF_PACKET socket, which is far faster
than scapy's sendp. At the end one JSON line reports what was sent.

Run with Debian's python (/usr/bin/python3), as root, inside the sender's
network namespace.
"""

import argparse
import json
import socket
import struct
import sys
import time

from scapy.all import IP, UDP, Ether, Raw


def ip4_checksum(hdr):
    total = 0
    for i in range(0, len(hdr), 2):
        total += (hdr[i] << 8) + hdr[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def with_id(frame, ident):
    """The frame with another IP ID and its header checksum redone: building
    thousands of variants with scapy would take longer than the flood."""
    b = bytearray(frame)
    b[18:20] = struct.pack(">H", ident)
    b[24:26] = b"\0\0"
    b[24:26] = struct.pack(">H", ip4_checksum(b[14:34]))
    return bytes(b)


def overlap_frames(args):
    eth = Ether(src=args.src_mac, dst=args.dst_mac)
    # First fragment: offset 0, 1200 bytes of UDP (header + 'A'), more
    # fragments follow.
    first = bytes(eth / IP(src=args.src, dst=args.dst, id=0, flags="MF", frag=0, proto=17) / Raw(
        bytes(UDP(sport=7000, dport=9, len=2408)) + b"A" * 1192))
    # Second fragment: offset 1000 (125 * 8), overlapping bytes 1000-1199
    # with different content, still more fragments.
    second = bytes(eth / IP(src=args.src, dst=args.dst, id=0, flags="MF", frag=125, proto=17) / Raw(b"B" * 1200))
    frames = []
    for i in range(args.variants):
        ident = (0x4000 + i) & 0xFFFF
        frames.append(with_id(first, ident))
        frames.append(with_id(second, ident))
    return frames


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["overlap"])
    p.add_argument("--iface", required=True)
    p.add_argument("--src-mac", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--pps", type=int, default=0, help="frames per second, 0 = as fast as possible")
    p.add_argument("--variants", type=int, default=4096)
    args = p.parse_args()

    frames = overlap_frames(args)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    # Importing scapy and building frames takes seconds on a busy host; the
    # caller waits for this line before it starts the clock.
    print("ready", flush=True)
    sent = errors = 0
    start = time.monotonic()
    end = start + args.duration
    n = len(frames)
    batch = 64
    try:
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if args.pps and sent > (now - start) * args.pps:
                time.sleep(0.001)
                continue
            for k in range(batch):
                try:
                    s.send(frames[(sent + k) % n])
                except OSError:
                    errors += 1
            sent += batch
    except KeyboardInterrupt:
        pass  # stopped early by the test: report what was sent
    elapsed = time.monotonic() - start
    print(json.dumps({"mode": args.mode, "frames": sent, "errors": errors, "seconds": round(elapsed, 3),
                      "pps": round(sent / elapsed) if elapsed else 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
