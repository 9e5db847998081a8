package boards

func init() {
	ports := []Port{
		{Label: "virtio-net #1 (user networking, UI forwarded to localhost)", Name: "eth0", Driver: "virtio_net"},
		{Label: "virtio-net #2 (tap, uplink side of the lab)", Name: "eth1", Driver: "virtio_net"},
		{Label: "virtio-net #3 (tap, rack side of the lab)", Name: "eth2", Driver: "virtio_net"},
	}
	register(Board{
		Name:         "qemu-amd64",
		Description:  "qemu x86_64 with OVMF (UEFI) and three virtio-net NICs",
		GOARCH:       "amd64",
		Boot:         BootUEFI,
		KernelModule: "github.com/gokrazy/kernel.amd64",
		Console:      "console=tty1 console=ttyS0,115200",
		// The kernel's PCIe MMCONFIG probing is slow and useless under qemu's q35/i440fx.
		ExtraCmdline: "pci=nommconf",
		Management:   ports[0],
		Uplink:       ports[1],
		Rack:         ports[2],
		Ports:        ports,
		BootMiB:      100,
		RootMiB:      500,
		DiskMiB:      1200,
		DeviceID:     0x2a9d41c7, // chosen once for this board; do not change
	})
}
