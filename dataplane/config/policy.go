// Package config holds the dataplane's policy knobs (every number in
// POLICY.md), their shipped defaults and limits, and the parser for the
// policy file that `rackwall-dataplane --config` and the appliance read.
package config

import (
	"net/netip"
	"time"
)

// IPOptions says what H3 does with IPv4 options.
type IPOptions uint8

const (
	IPOptionsNoSourceRoute IPOptions = iota // drop LSRR/SSRR, pass the rest (default)
	IPOptionsDrop                           // drop every packet with options
	IPOptionsAllow                          // pass all well-formed options
)

// VerifyChecksums says which transport checksums are verified (F10).
type VerifyChecksums uint8

const (
	VerifyReassembled VerifyChecksums = iota // only reassembled datagrams (default)
	VerifyAll                                // every packet
)

// Policy is every knob of POLICY.md. The zero value is not useful: start
// from Default().
type Policy struct {
	// L2: allowed ethertypes besides IPv4, IPv6, ARP and VLAN tags.
	ExtraEthertypes []uint16
	// L1: pass link-control frames (LLC/STP, LLDP, 802.1X, slow
	// protocols) to the reserved link-local addresses unchanged. IP, IPv6
	// and ARP to those addresses are never covered by it.
	PassLinkLocal bool

	IPOptions       IPOptions
	VerifyChecksums VerifyChecksums

	// Fragments.
	MinFragmentBytesV4 int           // F6, IP packet size of a non-final fragment
	MinFragmentBytesV6 int           // F6
	MaxFragments       int           // F7
	FragmentTimeout    time.Duration // F8
	FragmentMemory     int64         // F11, bytes
	PerSourceFloor     int64         // F11, bytes
	FragmentRate       int           // F11, fragments per second per source
	FragmentBurst      int           // F11

	// Transport rewrites (T3), all off by default.
	MinTTL     uint8  // 0 = off
	MaxMSS     uint16 // 0 = off
	ClearDF    bool
	RandomIPID bool

	// Containment.
	QuarantineThreshold int           // Q1 violations ...
	QuarantineWindow    time.Duration // ... within this window
	QuarantineTime      time.Duration // Q1 first quarantine
	QuarantineMax       time.Duration // Q1 cap for doubling
	NeverQuarantine     []netip.Prefix

	// Bounds (Q4).
	MaxSources     int // tracked sources (accounting and quarantine)
	MaxDatagrams   int // datagrams in reassembly at once
	MaxConnections int // connection table size
	ConnRate       int // new connections per second per source
	ConnBurst      int

	// Drop capture ring.
	CaptureFrames int // frames kept
	CaptureSnap   int // bytes kept of each frame
}

// Default returns the shipped configuration, exactly as POLICY.md states it.
func Default() Policy {
	return Policy{
		PassLinkLocal:       true,
		IPOptions:           IPOptionsNoSourceRoute,
		VerifyChecksums:     VerifyReassembled,
		MinFragmentBytesV4:  512,
		MinFragmentBytesV6:  1280,
		MaxFragments:        128,
		FragmentTimeout:     5 * time.Second,
		FragmentMemory:      64 << 20,
		PerSourceFloor:      1 << 20,
		FragmentRate:        20000,
		FragmentBurst:       2000,
		QuarantineThreshold: 2000,
		QuarantineWindow:    10 * time.Second,
		QuarantineTime:      10 * time.Minute,
		QuarantineMax:       24 * time.Hour,
		MaxSources:          65536,
		MaxDatagrams:        16384,
		MaxConnections:      65536,
		ConnRate:            2000,
		ConnBurst:           4000,
		CaptureFrames:       4096,
		CaptureSnap:         1600,
	}
}
