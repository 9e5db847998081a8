package boards

func init() {
	// The usual fanless N100 box with four Intel i226-V ports. The igc driver
	// probes them in PCI order, so the port printed "1" on the case
	// (enp1s0 under systemd naming) becomes eth0, and so on. qemu has no
	// i226 model; the image boots there with three emulated Intel cards of
	// one model instead, which the kernel names in the same bus order.
	ports := []Port{
		{Label: "port 1 (enp1s0, i226-V)", Name: "eth0", Driver: "igc"},
		{Label: "port 2 (enp2s0, i226-V)", Name: "eth1", Driver: "igc"},
		{Label: "port 3 (enp3s0, i226-V)", Name: "eth2", Driver: "igc"},
		{Label: "port 4 (enp4s0, i226-V, unused)", Name: "eth3", Driver: "igc"},
	}
	register(Board{
		Name:         "n100-4x-i226",
		Description:  "Intel N100 fanless box, 4x Intel i226-V 2.5GbE, UEFI",
		GOARCH:       "amd64",
		Boot:         BootUEFI,
		KernelModule: "github.com/gokrazy/kernel.amd64",
		Console:      "console=tty1 console=ttyS0,115200",
		ExtraCmdline: "pci=nommconf",
		Management:   ports[0],
		Uplink:       ports[1],
		Rack:         ports[2],
		Ports:        ports,
		BootMiB:      100,
		RootMiB:      500,
		DiskMiB:      2048,
		DeviceID:     0x5e0b8d13, // chosen once for this board; do not change
	})
}
