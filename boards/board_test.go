package boards

import "testing"

func TestKnownBoards(t *testing.T) {
	want := []string{"n100-4x-i226", "qemu-amd64", "rpi4", "rpi5"}
	got := Names()
	if len(got) != len(want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	ids := map[uint32]string{}
	for i, n := range want {
		if got[i] != n {
			t.Fatalf("Names() = %v, want %v", got, want)
		}
		b, err := Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := ids[b.DeviceID]; dup {
			t.Errorf("%s and %s share DeviceID %08x", n, other, b.DeviceID)
		}
		ids[b.DeviceID] = n
	}
	if _, err := Lookup("nope"); err == nil {
		t.Error("Lookup of an unknown board succeeded")
	}
}

func TestValidateRejects(t *testing.T) {
	good, _ := Lookup("qemu-amd64")
	cases := map[string]func(*Board){
		"arch":        func(b *Board) { b.GOARCH = "riscv64" },
		"same ports":  func(b *Board) { b.Rack = b.Uplink },
		"no id":       func(b *Board) { b.DeviceID = 0 },
		"small disk":  func(b *Board) { b.DiskMiB = 600 },
		"unknown nic": func(b *Board) { b.Rack = Port{Name: "eth9"} },
		"uefi arm":    func(b *Board) { b.GOARCH = "arm64" },
	}
	for name, mutate := range cases {
		b := good
		b.Ports = append([]Port(nil), good.Ports...)
		mutate(&b)
		if err := b.Validate(); err == nil {
			t.Errorf("%s: Validate accepted a broken board", name)
		}
	}
}
