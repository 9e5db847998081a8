package qemu

import (
	"os"
	"slices"
	"testing"
)

// TCG is always the last resort, and KVM is only tried where the CPU has
// hardware virtualization and /dev/kvm opens: a host with a /dev/kvm that
// cannot boot OVMF must not hang every qemu test on it.
func TestAcceleratorsFallBackToTCG(t *testing.T) {
	acc := Accelerators()
	if len(acc) == 0 || acc[len(acc)-1] != "tcg" {
		t.Fatalf("Accelerators() = %v: TCG must be the last choice", acc)
	}
	f, err := os.OpenFile(KVMDevice, os.O_RDWR, 0)
	kvmOpens := err == nil
	if kvmOpens {
		f.Close()
	}
	want := kvmOpens && hardwareVirtualization()
	if got := slices.Contains(acc, "kvm"); got != want {
		t.Errorf("Accelerators() = %v; /dev/kvm opens: %v, hardware virtualization: %v", acc, kvmOpens, hardwareVirtualization())
	}
	t.Logf("this host: -accel %v", acc)
}
