package links

import (
	"errors"
	"fmt"
	"net"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/jsimonetti/rtnetlink/v2/driver"
	"golang.org/x/sys/unix"
)

// BypassBridge is the name of the kernel bridge that joins the ports while
// the dataplane is not forwarding (fail-open).
const BypassBridge = "rwbypass0"

// EnableBypass joins the ports in a kernel bridge that behaves like a wire:
// no STP, no forwarding delay, no multicast snooping, no addresses. It is
// idempotent: an existing bypass bridge is reused.
func (c *Conn) EnableBypass(ports ...string) error {
	br, err := c.ensureBridge()
	if err != nil {
		return err
	}
	for _, p := range ports {
		msg, err := c.link(p)
		if err != nil {
			return err
		}
		if msg.Attributes != nil && msg.Attributes.Master != nil && *msg.Attributes.Master == br.Index {
			continue
		}
		if err := c.nl.Link.SetMaster(msg.Index, br.Index, nil); err != nil {
			return fmt.Errorf("bypass: adding %s to %s: %w", p, BypassBridge, err)
		}
	}
	return c.setFlags(br, unix.IFF_UP, unix.IFF_UP)
}

// DisableBypass takes the ports out of the bypass bridge and deletes it, so
// the ports belong to the dataplane alone again. Nothing to do is no error.
func (c *Conn) DisableBypass(ports ...string) error {
	var errs []error
	for _, p := range ports {
		msg, err := c.link(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if msg.Attributes != nil && msg.Attributes.Master != nil && *msg.Attributes.Master != 0 {
			if err := c.nl.Link.RemoveMaster(msg.Index); err != nil {
				errs = append(errs, fmt.Errorf("bypass: releasing %s: %w", p, err))
			}
		}
	}
	if ifi, err := net.InterfaceByName(BypassBridge); err == nil {
		if err := c.nl.Link.Delete(uint32(ifi.Index)); err != nil {
			errs = append(errs, fmt.Errorf("bypass: deleting %s: %w", BypassBridge, err))
		}
	}
	return errors.Join(errs...)
}

// BypassActive reports whether the bypass bridge exists.
func (c *Conn) BypassActive() bool {
	_, err := net.InterfaceByName(BypassBridge)
	return err == nil
}

func (c *Conn) ensureBridge() (rtnetlink.LinkMessage, error) {
	if _, err := net.InterfaceByName(BypassBridge); err == nil {
		return c.link(BypassBridge)
	}
	zero := uint32(0)
	stpOff := driver.BridgeStpStateDisabled
	off := driver.BridgeEnableDisabled
	// 0x4000 forwards LLDP (01:80:c2:00:00:0e); with STP off, BPDUs pass anyway.
	fwdMask := uint16(1 << 0x0e)
	err := c.nl.Link.New(&rtnetlink.LinkMessage{
		Family: unix.AF_UNSPEC,
		Attributes: &rtnetlink.LinkAttributes{
			Name: BypassBridge,
			Info: &rtnetlink.LinkInfo{Kind: "bridge", Data: &driver.Bridge{
				ForwardDelay:  &zero,
				StpState:      &stpOff,
				McastSnooping: &off,
				GroupFwdMask:  &fwdMask,
			}},
		},
	})
	if err != nil {
		return rtnetlink.LinkMessage{}, fmt.Errorf("bypass: creating %s: %w", BypassBridge, err)
	}
	if err := c.disableIPv6(BypassBridge); err != nil {
		return rtnetlink.LinkMessage{}, err
	}
	if err := c.silenceIPv4(BypassBridge); err != nil {
		return rtnetlink.LinkMessage{}, err
	}
	return c.link(BypassBridge)
}
