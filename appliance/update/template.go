package update

import (
	"fmt"
	"strings"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
)

// scheme is how one board's boot loader is armed and committed.
type scheme interface {
	Disarm(bfs BootFS, s image.Slot) error
	Arm(bfs BootFS, s image.Slot, kernel []byte, entry string, tries int) error
	Assess(bfs BootFS, running image.Slot) (Assessment, error)
	Bless(bfs BootFS, running image.Slot) error
	Reject(bfs BootFS, running image.Slot) error
	RebootArgument() string
}

func schemeFor(b boards.Board, l image.Layout) scheme {
	if b.Boot == boards.BootRPi {
		return trybootScheme{board: b, layout: l}
	}
	return uefiScheme{board: b}
}

// maxTemplate bounds the boot-entry part of a bundle.
const maxTemplate = 4096

// RenderEntry turns a bundle's boot-entry template (see
// image.SlotEntryTemplate) into slot s's loader entry (UEFI) or command
// line (Raspberry Pi). The template is signed, but it is still checked:
// only the known keys, the slot's own kernel and root, one slot marker.
func RenderEntry(template string, b boards.Board, l image.Layout, s image.Slot) (string, error) {
	if len(template) > maxTemplate {
		return "", fmt.Errorf("boot entry template has %d bytes (at most %d)", len(template), maxTemplate)
	}
	for _, tok := range []string{image.TokenRoot, image.TokenSlot} {
		if strings.Count(template, tok) != 1 {
			return "", fmt.Errorf("boot entry template must contain %s exactly once", tok)
		}
	}
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c == '\n' && b.Boot != boards.BootRPi {
			continue
		}
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("boot entry template has a control or non-ASCII byte at %d", i)
		}
	}
	r := strings.NewReplacer(
		image.TokenRoot, l.RootArgument(s.Partition()),
		image.TokenSlot, string(s),
		image.TokenSlotUpper, strings.ToUpper(string(s)),
		image.TokenKernel, image.KernelPath(b, s),
	)
	out := r.Replace(template)
	if strings.ContainsAny(out, "{}") {
		return "", fmt.Errorf("boot entry template has an unknown {token}")
	}
	if b.Boot == boards.BootRPi {
		return out, nil
	}
	if strings.Count(template, image.TokenKernel) != 1 {
		return "", fmt.Errorf("boot entry template must contain %s exactly once", image.TokenKernel)
	}
	seen := map[string]bool{}
	for n, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "title", "version", "linux", "options":
		default:
			return "", fmt.Errorf("boot entry template line %d: key %q is not allowed", n+1, key)
		}
		if seen[key] {
			return "", fmt.Errorf("boot entry template line %d: %s appears twice", n+1, key)
		}
		seen[key] = true
		if key == "linux" && val != image.KernelPath(b, s) {
			return "", fmt.Errorf("boot entry template line %d: linux must be the slot's kernel", n+1)
		}
	}
	if !seen["linux"] || !seen["options"] {
		return "", fmt.Errorf("boot entry template needs linux and options lines")
	}
	return strings.TrimRight(out, "\n") + "\n", nil
}
