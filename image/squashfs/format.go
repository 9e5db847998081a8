package squashfs

// On-disk constants of squashfs 4.0 (all little endian).
const (
	magic          = 0x73717368
	blockSize      = 128 << 10
	blockLog       = 17
	compressorZlib = 1

	superblockSize   = 96
	metadataSize     = 8192    // uncompressed payload of one metadata block
	metaUncompressed = 0x8000  // flag in a metadata block's 2-byte header
	dataUncompressed = 1 << 24 // flag in a data block's size word
	invalidBlock     = ^uint64(0)
	invalidFragment  = ^uint32(0)

	flagNoFragments = 0x0010
	flagNoXattrs    = 0x0200

	typeDir     = 1
	typeFile    = 2
	typeSymlink = 3
	typeLDir    = 8
	typeLFile   = 9

	// A directory header covers at most this many entries.
	maxDirEntries = 256
)
