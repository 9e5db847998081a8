// Package update is the box's A/B update agent: it takes a signed bundle
// (uploaded or fetched), verifies it completely before a byte reaches a
// slot, writes the root into the inactive slot and reads it back, arms the
// boot loader so the new slot is tried a bounded number of times, and after
// the reboot decides by a health check whether the new slot is kept
// (blessed) or the box falls back to the old one by itself.
//
// The boot-entry state machine (arm, trial detection, bless, fallback
// detection, cleanup) is a set of pure functions over the small BootFS
// interface, so every transition — including a power cut between any two
// steps — is tested without root. The Agent adds the parts that touch the
// machine: the slot's block device, mounting the boot partition, the state
// file on /perm and the reboot.
package update
