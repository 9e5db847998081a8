// Package image writes rackwall's gokrazy-compatible disk images without the
// gok packer: a GPT disk with a hybrid MBR, a FAT boot partition, two root
// slots (squashfs) and an ext4 perm partition, laid out as the gokrazy runtime
// expects (see Disk). The same inputs and SOURCE_DATE_EPOCH always give
// the same bytes.
package image
