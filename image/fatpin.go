package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// pinFATTimes sets the timestamps of every short directory entry of the
// FAT32 file system at off to t. go-diskfs stamps the "." and ".." entries
// (and the volume label) with its own clock, which the Chtimes API cannot
// reach; the image must not depend on when it was built.
//
// It also fixes two things fsck.fat reports in what go-diskfs writes: a
// ".." entry pointing at the root directory must hold cluster 0, and the
// FSInfo sector should carry the free cluster count instead of "unknown".
func pinFATTimes(r io.ReaderAt, w io.WriterAt, off int64, t time.Time) error {
	bs := make([]byte, 512)
	if _, err := r.ReadAt(bs, off); err != nil {
		return err
	}
	le := binary.LittleEndian
	bps := int64(le.Uint16(bs[11:]))
	spc := int64(bs[13])
	reserved := int64(le.Uint16(bs[14:]))
	fats := int64(bs[16])
	fatSectors := int64(le.Uint32(bs[36:]))
	rootCluster := le.Uint32(bs[44:])
	if bps != 512 || spc == 0 || fats == 0 || fatSectors == 0 || rootCluster < 2 {
		return fmt.Errorf("boot partition: not a FAT32 file system go-diskfs wrote")
	}
	fat := make([]byte, fatSectors*bps)
	if _, err := r.ReadAt(fat, off+reserved*bps); err != nil {
		return err
	}
	dataStart := off + (reserved+fats*fatSectors)*bps
	clusterBytes := spc * bps
	maxCluster := uint32(len(fat) / 4)

	date := uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	clock := uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)

	visited := map[uint32]bool{}
	var walk func(first, parent uint32) error
	walk = func(first, parent uint32) error {
		for c := first; c >= 2 && c < 0x0ffffff8; c = le.Uint32(fat[4*c:]) & 0x0fffffff {
			if c >= maxCluster || visited[c] {
				return fmt.Errorf("boot partition: broken cluster chain at %d", c)
			}
			visited[c] = true
			at := dataStart + int64(c-2)*clusterBytes
			buf := make([]byte, clusterBytes)
			if _, err := r.ReadAt(buf, at); err != nil {
				return err
			}
			var subdirs []uint32
			for e := 0; e+32 <= len(buf); e += 32 {
				ent := buf[e : e+32]
				if ent[0] == 0 {
					break
				}
				if ent[0] == 0xe5 || ent[11] == 0x0f {
					continue // deleted or a long-name part
				}
				ent[13] = 0
				le.PutUint16(ent[14:], clock)
				le.PutUint16(ent[16:], date)
				le.PutUint16(ent[18:], date)
				le.PutUint16(ent[22:], clock)
				le.PutUint16(ent[24:], date)
				if ent[11]&0x10 != 0 && string(ent[:11]) == "..         " && parent == rootCluster {
					le.PutUint16(ent[20:], 0)
					le.PutUint16(ent[26:], 0)
				}
				if ent[11]&0x10 != 0 && ent[0] != '.' {
					subdirs = append(subdirs, uint32(le.Uint16(ent[20:]))<<16|uint32(le.Uint16(ent[26:])))
				}
			}
			if _, err := w.WriteAt(buf, at); err != nil {
				return err
			}
			for _, s := range subdirs {
				if err := walk(s, first); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(rootCluster, 0); err != nil {
		return err
	}
	return writeFSInfo(r, w, off, bs, fat)
}

// writeFSInfo stores the free cluster count and the next free cluster in
// the FSInfo sector and its backup.
func writeFSInfo(r io.ReaderAt, w io.WriterAt, off int64, bs, fat []byte) error {
	le := binary.LittleEndian
	total := int64(le.Uint32(bs[32:]))
	if total == 0 {
		total = int64(le.Uint16(bs[19:]))
	}
	spc := int64(bs[13])
	dataSectors := total - (int64(le.Uint16(bs[14:])) + int64(bs[16])*int64(le.Uint32(bs[36:])))
	clusters := uint32(dataSectors / spc)
	free, next := uint32(0), uint32(0xffffffff)
	for c := uint32(2); c < clusters+2 && int(4*c+4) <= len(fat); c++ {
		if le.Uint32(fat[4*c:])&0x0fffffff == 0 {
			free++
			if next == 0xffffffff {
				next = c
			}
		}
	}
	info := int64(le.Uint16(bs[48:]))
	backupBoot := int64(le.Uint16(bs[50:]))
	for _, sector := range []int64{info, backupBoot + info} {
		if sector == 0 || sector == 0xffff {
			continue
		}
		at := off + sector*512
		s := make([]byte, 512)
		if _, err := r.ReadAt(s, at); err != nil {
			return err
		}
		if le.Uint32(s[0:]) != 0x41615252 || le.Uint32(s[484:]) != 0x61417272 {
			continue // no FSInfo there
		}
		le.PutUint32(s[488:], free)
		le.PutUint32(s[492:], next)
		if _, err := w.WriteAt(s, at); err != nil {
			return err
		}
	}
	return nil
}
