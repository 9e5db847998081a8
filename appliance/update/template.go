package update

import (
	"fmt"
	"strings"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

// scheme is how one board's boot loader is armed and committed.
type scheme interface {
	Disarm(bfs BootFS, s layout.Slot) error
	Arm(bfs BootFS, s layout.Slot, kernel []byte, entry string, tries int) error
	Assess(bfs BootFS, running layout.Slot) (Assessment, error)
	Bless(bfs BootFS, running layout.Slot) error
	Reject(bfs BootFS, running layout.Slot) error
	RebootArgument() string
}

func schemeFor(b boards.Board, l layout.Disk) scheme {
	if b.Boot == boards.BootRPi {
		return trybootScheme{board: b, layout: l}
	}
	return uefiScheme{board: b}
}

// maxTemplate bounds the boot-entry part of a bundle.
const maxTemplate = 4096

// RenderEntry turns a bundle's boot-entry template (see
// layout.SlotEntryTemplate) into slot s's loader entry (UEFI) or command
// line (Raspberry Pi). The template is signed, but it is still checked:
// only the known keys, the slot's own kernel and root, one slot marker.
func RenderEntry(template string, b boards.Board, l layout.Disk, s layout.Slot) (string, error) {
	if len(template) > maxTemplate {
		return "", fmt.Errorf("boot entry template has %d bytes (at most %d)", len(template), maxTemplate)
	}
	for _, tok := range []string{layout.TokenRoot, layout.TokenSlot} {
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
		layout.TokenRoot, l.RootArgument(s.Partition()),
		layout.TokenSlot, string(s),
		layout.TokenSlotUpper, strings.ToUpper(string(s)),
		layout.TokenKernel, layout.KernelPath(b, s),
	)
	out := r.Replace(template)
	if strings.ContainsAny(out, "{}") {
		return "", fmt.Errorf("boot entry template has an unknown {token}")
	}
	if b.Boot == boards.BootRPi {
		return out, nil
	}
	if strings.Count(template, layout.TokenKernel) != 1 {
		return "", fmt.Errorf("boot entry template must contain %s exactly once", layout.TokenKernel)
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
		if key == "linux" && val != layout.KernelPath(b, s) {
			return "", fmt.Errorf("boot entry template line %d: linux must be the slot's kernel", n+1)
		}
	}
	if !seen["linux"] || !seen["options"] {
		return "", fmt.Errorf("boot entry template needs linux and options lines")
	}
	return strings.TrimRight(out, "\n") + "\n", nil
}
