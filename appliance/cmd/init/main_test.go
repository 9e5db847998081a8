package main

import "testing"

func TestParseServices(t *testing.T) {
	got, err := parseServices([]byte(`[{"path":"/gokrazy/dhcp","args":["-interface","eth0"]},{"path":"/user/rackwall","args":[],"wait_for_clock":true}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Args[1] != "eth0" || !got[1].WaitForClock || got[1].Path != "/user/rackwall" {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{`{}`, `[{"path":"user/x"}]`, `[{"path":""}]`, `[`, `[{"path":"/x","cmd":"y"}]`} {
		if _, err := parseServices([]byte(bad)); err == nil {
			t.Errorf("parseServices(%s) succeeded", bad)
		}
	}
}
