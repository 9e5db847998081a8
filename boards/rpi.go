package boards

// The Raspberry Pi boards have one onboard port (management); the two bridge
// ports are USB 3 NICs, which the kernel names after the onboard one in the
// order they are found. Plug the uplink adapter into the upper blue USB 3
// socket and the rack adapter into the lower one so that order is stable.
// onboard is the driver of the onboard port's controller; which driver the
// adapters need depends on their chips.
func rpiPorts(onboard string) []Port {
	return []Port{
		{Label: "onboard Ethernet", Name: "eth0", Driver: onboard},
		{Label: "USB 3 NIC, upper blue socket", Name: "eth1"},
		{Label: "USB 3 NIC, lower blue socket", Name: "eth2"},
	}
}

func init() {
	p := rpiPorts("genet") // the BCM2711's own GENET controller
	register(Board{
		Name:           "rpi4",
		Description:    "Raspberry Pi 4 Model B with two USB 3 Ethernet adapters",
		GOARCH:         "arm64",
		Boot:           BootRPi,
		KernelModule:   "github.com/gokrazy/kernel.rpi",
		FirmwareModule: "github.com/gokrazy/firmware",
		DeviceTrees:    []string{"bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2711-rpi-cm4.dtb"},
		Console:        "console=ttyS0,115200 console=tty1",
		Management:     p[0], Uplink: p[1], Rack: p[2], Ports: p,
		BootMiB:  256,
		RootMiB:  500,
		DiskMiB:  1500,
		DeviceID: 0x7c31e5a2, // chosen once for this board; do not change
	})
	p = rpiPorts("macb") // the RP1 south bridge's Cadence GEM
	register(Board{
		Name:           "rpi5",
		Description:    "Raspberry Pi 5 with two USB 3 Ethernet adapters",
		GOARCH:         "arm64",
		Boot:           BootRPi,
		KernelModule:   "github.com/gokrazy/kernel.rpi",
		FirmwareModule: "github.com/gokrazy/firmware",
		DeviceTrees:    []string{"bcm2712-rpi-5-b.dtb", "bcm2712d0-rpi-5-b.dtb", "bcm2712-d-rpi-5-b.dtb"},
		Console:        "console=ttyAMA10,115200 console=tty1",
		Management:     p[0], Uplink: p[1], Rack: p[2], Ports: p,
		BootMiB:  256,
		RootMiB:  500,
		DiskMiB:  1500,
		DeviceID: 0x93f4062b, // chosen once for this board; do not change
	})
}
