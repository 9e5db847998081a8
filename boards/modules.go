//go:build boardmodules

package boards

// The boards' kernels and Raspberry Pi firmware are Go modules that hold
// files, not code: the image builder finds them with `go list -m` and copies
// vmlinuz, lib/modules, dtbs and firmware out of the module cache. Nothing
// imports them, so without these imports `go mod tidy` would drop them from
// go.mod and the next `make image` would fail. The build tag keeps them out
// of every real build; `go mod tidy` reads files of every tag.
import (
	_ "github.com/gokrazy/firmware"
	_ "github.com/gokrazy/kernel.amd64"
	_ "github.com/gokrazy/kernel.rpi"
)
