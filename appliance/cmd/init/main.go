// Command init is process 1 of a rackwall box. It hands the machine to the
// gokrazy runtime (mounts, hostname, watchdog, loopback), then supervises the
// programs the image lists in /etc/rackwall/services.json.
//
// gokrazy's own web interface, including its /update endpoints, must not be
// reachable from the network: rackwall has its own signed A/B updates. The
// runtime only opens TCP listeners when the root file system holds
// /etc/gokr-pw.txt; rackwall images never contain that file, so the runtime
// serves its interface solely on the root-only Unix socket
// /run/gokrazy-http.sock and the appliance owns ports 80 and 443.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"time"

	"github.com/gokrazy/gokrazy"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/image/layout"
)

// buildTimestamp is set by the image builder (-X main.buildTimestamp=...) to
// SOURCE_DATE_EPOCH in RFC 3339 form.
var buildTimestamp = "unknown"

// passwordFile is what would make the runtime listen on TCP; see above.
const passwordFile = "/etc/gokr-pw.txt"

// service is one entry of services.json.
type service struct {
	Path string   `json:"path"`
	Args []string `json:"args"`
	// WaitForClock delays the start until the clock is synchronized.
	WaitForClock bool `json:"wait_for_clock,omitempty"`
	// UnlessStaticManagement names the appliance's state folder: the
	// service (the management port's DHCP client) is not started when the
	// settings there address the management port statically.
	UnlessStaticManagement string `json:"unless_static_management,omitempty"`
}

func main() {
	// The qemu test and operators watch the serial console for this line.
	fmt.Printf("gokrazy build timestamp %s\n", buildTimestamp)
	if err := run(); err != nil {
		// Init must not exit: the kernel would panic and reboot in a loop.
		// Log, and keep the runtime's watchdog and console alive.
		log.Printf("rackwall init: %v", err)
	}
	select {}
}

func run() error {
	if err := gokrazy.Boot(buildTimestamp); err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	if _, err := os.Stat(passwordFile); err == nil {
		log.Printf("rackwall init: %s exists; gokrazy's web interface will listen on the network", passwordFile)
	}
	services, paths, err := loadServices(layout.ServicesPath)
	if err != nil {
		return err
	}
	if err := gokrazy.SuperviseServices(services); err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	go reportStarts(paths, 2*time.Minute)
	return nil
}

func loadServices(file string) ([]*gokrazy.Service, []string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	specs, err := parseServices(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	var services []*gokrazy.Service
	var paths []string
	for _, s := range specs {
		if s.UnlessStaticManagement != "" {
			if st, _, static := store.PeekSettings(s.UnlessStaticManagement).ManagementStatic(); static {
				log.Printf("rackwall init: management port addressed statically (%s); not starting %s", st.Address, s.Path)
				continue
			}
		}
		paths = append(paths, s.Path)
		cmd := exec.Command(s.Path, s.Args...)
		if s.WaitForClock {
			services = append(services, gokrazy.NewWaitForClockService(cmd))
		} else {
			services = append(services, gokrazy.NewService(cmd))
		}
	}
	return services, paths, nil
}

// parseServices decodes services.json strictly: unknown fields and entries
// without an absolute path are errors.
func parseServices(b []byte) ([]service, error) {
	var specs []service
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&specs); err != nil {
		return nil, err
	}
	for i, s := range specs {
		if len(s.Path) == 0 || s.Path[0] != '/' {
			return nil, fmt.Errorf("entry %d: path %q is not absolute", i, s.Path)
		}
	}
	return specs, nil
}
