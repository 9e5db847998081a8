package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// announceSetupCode shows the first-run setup code, while the box has no
// admin password, on every console the kernel writes to (the serial console
// and the screen) beside the certificate fingerprint: whoever can read the
// box's console owns it, and the first run asks for this code. The code is
// not put in the log, which may leave the box.
func (a *box) announceSetupCode(fingerprint string) {
	code, needed, err := a.store.SetupCode()
	if err != nil {
		a.log.Error("first-run setup code unavailable; the first run cannot complete until it is", "err", err)
		return
	}
	if !needed {
		return
	}
	banner := setupBanner(code, fingerprint)
	outs := consoleWriters(a.onBox)
	for _, w := range outs {
		io.WriteString(w, banner)
		if c, ok := w.(io.Closer); ok && w != os.Stderr {
			c.Close()
		}
	}
	a.log.Info("no admin password yet: the first-run setup code is shown on the console", "file", a.store.SetupCodePath(), "consoles", len(outs))
}

func setupBanner(code, fingerprint string) string {
	var b strings.Builder
	b.WriteString("\nrackwall: no admin password is set yet. Open the web UI and enter\n")
	fmt.Fprintf(&b, "rackwall:   first-run setup code  %s\n", code)
	if fingerprint != "" {
		fmt.Fprintf(&b, "rackwall:   certificate SHA-256   %s\n", fingerprint)
	}
	b.WriteString("\n")
	return b.String()
}

// consoleWriters are the consoles to print on: on a box each active kernel
// console (/dev/console is only the last console= of the command line, so
// the screen or the serial port would miss it), elsewhere stderr.
func consoleWriters(onBox bool) []io.Writer {
	if !onBox {
		return []io.Writer{os.Stderr}
	}
	var outs []io.Writer
	active, _ := os.ReadFile("/sys/class/tty/console/active")
	for _, name := range strings.Fields(string(active)) {
		if strings.ContainsAny(name, "/.") {
			continue
		}
		f, err := os.OpenFile("/dev/"+name, os.O_WRONLY|syscall.O_NOCTTY, 0)
		if err == nil {
			outs = append(outs, f)
		}
	}
	if len(outs) == 0 {
		if f, err := os.OpenFile("/dev/console", os.O_WRONLY|syscall.O_NOCTTY, 0); err == nil {
			outs = append(outs, f)
		} else {
			outs = append(outs, os.Stderr)
		}
	}
	return outs
}
