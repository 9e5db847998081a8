package appliance

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackwall/rackwall/appliance/store"
)

// WriteResolvConf replaces the name server file at path (on the box
// /etc/resolv.conf) atomically. /etc is read-only on the box and gokrazy
// makes the file a link into /tmp, so a link is written through, not
// replaced.
func WriteResolvConf(path string, servers []netip.Addr) error {
	var b strings.Builder
	b.WriteString("# written by rackwall from the static management settings\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if target, err := os.Readlink(path); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return store.WriteFileAtomic(path, []byte(b.String()))
}
