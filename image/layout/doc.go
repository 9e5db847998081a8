// Package layout names what the image builder and the box must agree on:
// the disk's partitions and their GUIDs, the two root slots, where each
// slot's kernel and boot entry live on the boot partition (UEFI and
// Raspberry Pi), the kernel command line, the boot entry template of an
// update, and the on-box paths of rackwall's own files.
//
// It is a leaf on purpose: the update agent, init and the appliance import
// it on the box, so it must not pull in the image builder's file system
// writers (squashfs, go-diskfs) or anything else heavy.
package layout
