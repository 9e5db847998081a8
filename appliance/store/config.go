package store

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Config is the part of the box's state that has revisions: the policy and
// rules in their own text formats and the UI and system settings. The
// credentials are kept apart (see store_credentials.go) so that no config
// fallback or rollback can change them.
type Config struct {
	Policy   string   `json:"policy"`
	Rules    string   `json:"rules"`
	Settings Settings `json:"settings"`
}

// Settings are the appliance settings that are not dataplane policy.
type Settings struct {
	// Syslog is a remote syslog server "host:port" (RFC 5424 over UDP); empty is off.
	Syslog string `json:"syslog"`
	// Webhook is a URL that receives every event as a JSON POST; empty is off.
	Webhook string `json:"webhook"`
	// ConfirmSeconds is how long a change applied with commit-confirm runs
	// before it reverts by itself.
	ConfirmSeconds int `json:"confirm_seconds"`
	// ListenHTTPS is the UI's TLS address.
	ListenHTTPS string `json:"listen_https"`
	// ListenHTTP is a plain HTTP address; empty (the default) serves no plain HTTP.
	ListenHTTP string `json:"listen_http"`
	// Management port addressing: "dhcp" or "static".
	MgmtMode    string   `json:"mgmt_mode"`
	MgmtAddress string   `json:"mgmt_address"` // CIDR, static only
	MgmtGateway string   `json:"mgmt_gateway"` // static only
	MgmtDNS     []string `json:"mgmt_dns"`
	// BridgeMTU is the MTU of the bridge ports.
	BridgeMTU int `json:"bridge_mtu"`
	// FailMode says what the bypass does when the dataplane dies: "open"
	// (frames pass unfiltered) or "closed" (nothing passes).
	FailMode string `json:"fail_mode"`
	// UpdateChannel is the https URL of a signed update channel index the
	// box follows (docs/update-channel.md); empty follows none.
	UpdateChannel string `json:"update_channel,omitempty"`
	// UpdateInterval is how often the channel is checked, as a duration
	// ("6h", "30m"); empty means DefaultUpdateInterval. Configs written
	// before channels existed have none.
	UpdateInterval string `json:"update_interval,omitempty"`
	// UpdateMode is what a newer version on the channel leads to:
	// "install" (download, install, reboot into it on trial) or "notify"
	// (only report it); empty means "install".
	UpdateMode string `json:"update_mode,omitempty"`
}

// Limits of the settings, stated once for validation and the UI.
const (
	MinConfirmSeconds = 10
	MaxConfirmSeconds = 3600
	MinBridgeMTU      = 576
	MaxBridgeMTU      = 9216
	maxSettingLen     = 512
	// DefaultUpdateInterval, MinUpdateInterval and MaxUpdateInterval bound
	// how often the update channel is checked: often enough to matter,
	// never so often that a fleet hammers the channel's server.
	DefaultUpdateInterval = 6 * time.Hour
	MinUpdateInterval     = 5 * time.Minute
	MaxUpdateInterval     = 7 * 24 * time.Hour
	// UpdateModeInstall and UpdateModeNotify are the values of UpdateMode.
	UpdateModeInstall = "install"
	UpdateModeNotify  = "notify"
)

// DefaultSettings returns the shipped settings.
func DefaultSettings() Settings {
	return Settings{
		ConfirmSeconds: 60,
		ListenHTTPS:    ":443",
		MgmtMode:       "dhcp",
		BridgeMTU:      1500,
		FailMode:       "open",
		UpdateInterval: "6h",
		UpdateMode:     UpdateModeInstall,
	}
}

// ChannelInterval is the effective check interval of the update channel
// (the default when the setting is empty). Call it on validated settings.
func (s Settings) ChannelInterval() time.Duration {
	d, err := time.ParseDuration(s.UpdateInterval)
	if s.UpdateInterval == "" || err != nil {
		return DefaultUpdateInterval
	}
	return d
}

// ChannelNotifyOnly says whether the update channel only reports new
// versions instead of installing them.
func (s Settings) ChannelNotifyOnly() bool { return s.UpdateMode == UpdateModeNotify }

// Validate checks the settings and names the first bad field.
func (s Settings) Validate() error {
	for name, v := range map[string]string{"syslog": s.Syslog, "webhook": s.Webhook,
		"listen_https": s.ListenHTTPS, "listen_http": s.ListenHTTP,
		"mgmt_address": s.MgmtAddress, "mgmt_gateway": s.MgmtGateway, "update_channel": s.UpdateChannel,
		"update_interval": s.UpdateInterval, "update_mode": s.UpdateMode} {
		if len(v) > maxSettingLen {
			return fmt.Errorf("%s: longer than %d characters", name, maxSettingLen)
		}
	}
	if s.Syslog != "" {
		if err := checkHostPort(s.Syslog); err != nil {
			return fmt.Errorf("syslog: %v", err)
		}
	}
	if s.Webhook != "" {
		u, err := url.Parse(s.Webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook: %q is not an http:// or https:// URL", s.Webhook)
		}
	}
	if s.ConfirmSeconds < MinConfirmSeconds || s.ConfirmSeconds > MaxConfirmSeconds {
		return fmt.Errorf("confirm_seconds: %d is outside %d to %d", s.ConfirmSeconds, MinConfirmSeconds, MaxConfirmSeconds)
	}
	if s.ListenHTTPS == "" && s.ListenHTTP == "" {
		return fmt.Errorf("listen_https: the UI must listen somewhere (set listen_https or listen_http)")
	}
	if s.ListenHTTPS != "" {
		if err := checkListen(s.ListenHTTPS); err != nil {
			return fmt.Errorf("listen_https: %v", err)
		}
	}
	if s.ListenHTTP != "" {
		if err := checkListen(s.ListenHTTP); err != nil {
			return fmt.Errorf("listen_http: %v", err)
		}
	}
	switch s.MgmtMode {
	case "dhcp":
	case "static":
		addr, err := netip.ParsePrefix(s.MgmtAddress)
		if err != nil {
			return fmt.Errorf("mgmt_address: %q is not an address with prefix length (e.g. 192.0.2.10/24)", s.MgmtAddress)
		}
		if s.MgmtGateway != "" {
			gw, err := netip.ParseAddr(s.MgmtGateway)
			if err != nil {
				return fmt.Errorf("mgmt_gateway: %q is not an IP address", s.MgmtGateway)
			}
			if gw.Is4() != addr.Addr().Is4() {
				return fmt.Errorf("mgmt_gateway: %s is not of the same family as mgmt_address %s", gw, addr)
			}
		}
	default:
		return fmt.Errorf("mgmt_mode: %q is not dhcp or static", s.MgmtMode)
	}
	if len(s.MgmtDNS) > 4 {
		return fmt.Errorf("mgmt_dns: at most 4 servers")
	}
	for _, d := range s.MgmtDNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("mgmt_dns: %q is not an IP address", d)
		}
	}
	if s.BridgeMTU < MinBridgeMTU || s.BridgeMTU > MaxBridgeMTU {
		return fmt.Errorf("bridge_mtu: %d is outside %d to %d", s.BridgeMTU, MinBridgeMTU, MaxBridgeMTU)
	}
	if s.FailMode != "open" && s.FailMode != "closed" {
		return fmt.Errorf("fail_mode: %q is not open or closed", s.FailMode)
	}
	return s.validateChannel()
}

// validateChannel checks the update channel settings.
func (s Settings) validateChannel() error {
	if s.UpdateChannel != "" {
		u, err := url.Parse(s.UpdateChannel)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return fmt.Errorf("update_channel: %q is not an https:// URL (a channel is only followed over https)", s.UpdateChannel)
		}
		if u.User != nil {
			return fmt.Errorf("update_channel: the URL must not carry a user name or password")
		}
	}
	if s.UpdateInterval != "" {
		d, err := time.ParseDuration(s.UpdateInterval)
		if err != nil {
			return fmt.Errorf("update_interval: %q is not a duration (e.g. 6h, 30m)", s.UpdateInterval)
		}
		if d < MinUpdateInterval || d > MaxUpdateInterval {
			return fmt.Errorf("update_interval: %s is outside %s to %s", s.UpdateInterval, MinUpdateInterval, MaxUpdateInterval)
		}
	}
	switch s.UpdateMode {
	case "", UpdateModeInstall, UpdateModeNotify:
	default:
		return fmt.Errorf("update_mode: %q is not install or notify", s.UpdateMode)
	}
	return nil
}

func checkHostPort(s string) error {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return fmt.Errorf("%q is not host:port", s)
	}
	return checkPort(s[i+1:])
}

func checkListen(s string) error {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i == len(s)-1 {
		return fmt.Errorf("%q is not [host]:port", s)
	}
	return checkPort(s[i+1:])
}

func checkPort(p string) error {
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return fmt.Errorf("port %q is not a number", p)
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			break
		}
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("port %q is outside 1 to 65535", p)
	}
	return nil
}
