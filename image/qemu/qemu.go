// Package qemu boots a rackwall amd64 image in qemu (OVMF firmware; KVM
// where the host offers it, software emulation otherwise) the way the
// development loop and the end-to-end tests need it: a management NIC on
// qemu's user networking with the UI ports forwarded to localhost, and the
// two bridge ports on tap devices; all three virtio-net, or an emulated
// Intel card (NIC) to run the real hardware's kind of driver.
package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Firmware files from Debian's ovmf package.
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	Binary   = "qemu-system-x86_64"
)

// Forward maps a host TCP port on 127.0.0.1 to a guest port on the
// management NIC.
type Forward struct{ Host, Guest int }

// Options describe one VM.
type Options struct {
	Image   string // raw disk image; qemu writes to it (perm)
	WorkDir string // holds the OVMF variable store copy and the serial log
	MemMiB  int    // default 1024
	CPUs    int    // default 2
	// Forwards go to the management NIC (the first NIC, eth0).
	Forwards []Forward
	// Uplink and Rack are open tap devices (IFF_TAP|IFF_NO_PI) for the
	// second and third NIC; nil leaves the NIC out.
	Uplink, Rack *os.File
	// NIC is the card model of every port; empty means NICVirtio. All
	// ports share it so that the guest names them in bus order (see NIC).
	NIC NIC
	// Output receives qemu's own stdout/stderr (not the guest console).
	Output io.Writer
}

// Available reports why qemu cannot be used here, or nil.
func Available() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Errorf("needs %s (Debian package qemu-system-x86)", Binary)
	}
	for _, f := range []string{OVMFCode, OVMFVars} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("needs %s (Debian package ovmf)", f)
		}
	}
	return nil
}

// KVMDevice is the kernel's virtualization device.
const KVMDevice = "/dev/kvm"

// Accelerators returns qemu's -accel choices for this host, best first:
// KVM when the CPU has hardware virtualization (vmx or svm) and /dev/kvm
// opens for reading and writing, then TCG, qemu's software emulation, which
// qemu falls back to by itself should KVM fail to start. Both conditions
// matter: /dev/kvm is unusable inside many containers, and some cloud VMs
// offer a paravirtual /dev/kvm without hardware virtualization whose guests
// stop with "KVM internal error" in OVMF's first instructions.
func Accelerators() []string {
	if !hardwareVirtualization() {
		return []string{"tcg"}
	}
	f, err := os.OpenFile(KVMDevice, os.O_RDWR, 0)
	if err != nil {
		return []string{"tcg"}
	}
	f.Close()
	return []string{"kvm", "tcg"}
}

// hardwareVirtualization reports whether /proc/cpuinfo lists Intel VT-x
// (vmx) or AMD-V (svm).
func hardwareVirtualization() bool {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, flags, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "flags" {
			continue
		}
		for _, f := range strings.Fields(flags) {
			if f == "vmx" || f == "svm" {
				return true
			}
		}
		return false
	}
	return false
}

// VM is a running qemu.
type VM struct {
	cmd       *exec.Cmd
	Accel     []string // the -accel choices it was started with, best first
	SerialLog string
	Started   time.Time
	done      chan struct{}
	waitErr   error
}

// Start boots the VM. The guest console (ttyS0) goes to
// <WorkDir>/serial.log.
func Start(o Options) (*VM, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.MemMiB == 0 {
		o.MemMiB = 1024
	}
	if o.CPUs == 0 {
		o.CPUs = 2
	}
	if o.NIC == "" {
		o.NIC = NICVirtio
	}
	if err := o.NIC.Supported(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	vars := filepath.Join(o.WorkDir, "OVMF_VARS_4M.fd")
	if err := copyFile(OVMFVars, vars); err != nil {
		return nil, err
	}
	serial := filepath.Join(o.WorkDir, "serial.log")
	os.Remove(serial)

	accel := Accelerators()
	var args []string
	for _, a := range accel {
		args = append(args, "-accel", a)
	}
	args = append(args,
		"-m", fmt.Sprint(o.MemMiB), "-smp", fmt.Sprint(o.CPUs),
		"-drive", "if=pflash,format=raw,readonly=on,file="+OVMFCode,
		"-drive", "if=pflash,format=raw,file="+vars,
		"-drive", "file="+o.Image+",format=raw",
		"-device", "i6300esb", "-watchdog-action", "reset",
		"-nographic", "-monitor", "none", "-serial", "file:"+serial,
	)
	netArgs, taps := o.networkArgs()
	cmd := exec.Command(Binary)
	cmd.Args = append(cmd.Args, append(args, netArgs...)...)
	cmd.ExtraFiles = taps
	cmd.Stdout, cmd.Stderr = o.Output, o.Output
	// Its own process group: Ctrl-C in a terminal reaches the caller, which
	// stops qemu and tears down what it built, in that order. Should the
	// caller die first, the kernel sends qemu SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	vm := &VM{cmd: cmd, Accel: accel, SerialLog: serial, done: make(chan struct{})}
	vm.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		vm.waitErr = cmd.Wait()
		close(vm.done)
	}()
	return vm, nil
}

// Args returns qemu's command line, for printing.
func (vm *VM) Args() string { return strings.Join(vm.cmd.Args, " ") }

// Done is closed when qemu has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Stop asks qemu to quit (SIGTERM) and kills it after 10 s.
func (vm *VM) Stop() error {
	select {
	case <-vm.done:
		return nil
	default:
	}
	vm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-vm.done:
	case <-time.After(10 * time.Second):
		vm.cmd.Process.Kill()
		<-vm.done
	}
	return nil
}

// WaitSerial waits until the console log contains s and returns the time
// since qemu started.
func (vm *VM) WaitSerial(ctx context.Context, s string) (time.Duration, error) {
	for {
		if b, err := os.ReadFile(vm.SerialLog); err == nil && bytes.Contains(b, []byte(s)) {
			return time.Since(vm.Started), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %q on the serial console: %w", s, ctx.Err())
		case <-vm.done:
			return 0, fmt.Errorf("qemu exited (%v) before %q appeared on the serial console", vm.waitErr, s)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// WaitSerialForever is WaitSerial without a deadline (until qemu exits).
func (vm *VM) WaitSerialForever(s string) (time.Duration, error) {
	return vm.WaitSerial(context.Background(), s)
}
