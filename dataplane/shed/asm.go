package shed

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm collects instructions and resolves forward jumps to labels.
// Conditional jumps in classic BPF reach only 255 instructions ahead, so
// the program uses them for short local skips and an unconditional jump
// (32-bit offset) for every jump to a label.
type asm struct {
	insns  []bpf.Instruction
	labels map[string]int
	fixups map[int]string // index of a Jump → its label
}

func (a *asm) emit(i bpf.Instruction) { a.insns = append(a.insns, i) }

func (a *asm) jumpTo(label string) {
	if a.fixups == nil {
		a.fixups = map[int]string{}
	}
	a.fixups[len(a.insns)] = label
	a.emit(bpf.Jump{})
}

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

// assemble resolves the labels and encodes the program.
func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	for at, name := range a.fixups {
		to, ok := a.labels[name]
		if !ok || to <= at {
			return nil, fmt.Errorf("shed: jump to %q unresolved", name)
		}
		a.insns[at] = bpf.Jump{Skip: uint32(to - at - 1)}
	}
	if len(a.insns) > MaxInstructions {
		return nil, fmt.Errorf("shed: program of %d instructions exceeds %d", len(a.insns), MaxInstructions)
	}
	return bpf.Assemble(a.insns)
}
