package depcheck

import (
	"fmt"
	"testing"
)

// The programs of the image and what each may link. These are the rules
// README's Layout section describes: the UI never touches packets, packet
// code never imports HTTP code, and each program carries only what it runs.
// imageBuilder is package image itself: its sub-packages bundle and layout
// are meant for the box, the package is not.
const imageBuilder = Module + "/image"

var rules = []Rule{
	{
		Root:     Module + "/appliance/cmd/init",
		Why:      "process 1 only starts the services; it reads the settings through the config store and nothing else of the appliance",
		DenyOnly: []string{imageBuilder},
		Internal: []string{
			Module + "/appliance/cmd/init",
			Module + "/appliance/store",
			Module + "/appliance/links",
			Module + "/image/layout",
			Module + "/boards",
			Module + "/dataplane/config",
			Module + "/dataplane/rules",
		},
		Deny: []string{
			Module + "/webui",
			Module + "/dataplane/afpacket",
			Module + "/dataplane/filter",
			Module + "/dataplane/frag",
			Module + "/dataplane/quarantine",
			Module + "/dataplane/shed",
			Module + "/dataplane/capture",
			Module + "/dataplane/control",
			"github.com/prometheus/client_golang",
			"github.com/a-h/templ",
			"github.com/diskfs/go-diskfs",
		},
	},
	{
		Root: Module + "/dataplane/cmd/rackwall-dataplane",
		Why:  "the packet path imports no HTTP code; only the control socket, the Prometheus export and the command itself speak HTTP",
		Deny: []string{
			Module + "/webui",
			Module + "/appliance",
			Module + "/image",
			"github.com/a-h/templ",
		},
		Contained: []Containment{{
			Packages: []string{"net/http", "github.com/prometheus/client_golang"},
			Edges: []string{
				Module + "/dataplane/cmd/rackwall-dataplane",
				Module + "/dataplane/control",
				Module + "/dataplane/metrics",
			},
		}},
	},
	{
		Root:     Module + "/appliance/update",
		Why:      "the update agent reads bundles and boot files; building images and rendering pages belong elsewhere",
		DenyOnly: []string{imageBuilder},
		Deny: []string{
			Module + "/image/squashfs",
			Module + "/webui",
			"github.com/diskfs/go-diskfs",
			"github.com/a-h/templ",
		},
	},
	{
		Root:     Module + "/appliance/cmd/rackwall",
		Why:      "the appliance installs update bundles; it never builds a disk image",
		DenyOnly: []string{imageBuilder},
		Deny: []string{
			Module + "/image/squashfs",
			"github.com/diskfs/go-diskfs",
		},
	},
}

// TestProgramDependencies holds every program of the image to its rule, for
// each architecture the boards use.
func TestProgramDependencies(t *testing.T) {
	var roots []string
	for _, r := range rules {
		roots = append(roots, r.Root)
	}
	for _, goarch := range []string{"amd64", "arm64"} {
		t.Run(goarch, func(t *testing.T) {
			g, err := Load(Target{GOOS: "linux", GOARCH: goarch}, roots...)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rules {
				for _, v := range r.Violations(g) {
					t.Error(v)
				}
			}
		})
	}
}

// ExampleFormatChain shows what a failure prints.
func ExampleFormatChain() {
	fmt.Println(FormatChain([]string{"a", "b", "c"}))
	// Output:
	// a
	// 	→ b
	// 	→ c
}
