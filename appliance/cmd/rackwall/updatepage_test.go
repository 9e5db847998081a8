package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/rackwall/rackwall/appliance/update"
	"github.com/rackwall/rackwall/webui"
)

// The update page shows the agent's slots, last attempt and progress.
func TestUpdateInfoFromStatus(t *testing.T) {
	st := update.Status{
		Trial: true, Health: "checking", Floor: 3,
		Slots:        []update.SlotStatus{{Slot: "a", Version: "4", Running: true}, {Slot: "b"}},
		Last:         &update.Attempt{Result: "failed", Reason: "bad signature", Version: 5, DurationS: 1.5},
		Progress:     update.Progress{Active: true, Phase: "writing", Done: 3 << 20, Total: 10 << 20},
		FellBackFrom: []int64{6},
		Channel: &update.ChannelCheck{Time: time.Unix(1700000000, 0), URL: "https://u.example/stable.index", Outcome: update.ChannelAvailable,
			Reason: "version 7 is available", Version: 7, Sequence: 4},
	}
	want := webui.UpdateInfo{
		Trial: true, Health: "checking", Floor: 3,
		Slots:      []webui.UpdateSlot{{Slot: "a", Version: "4", Running: true}, {Slot: "b"}},
		LastResult: "failed", LastReason: "bad signature", LastVersion: 5, LastDuration: 1500 * time.Millisecond,
		Progress:     "writing 3 of 10 MiB",
		FellBackFrom: []int64{6},
		Channel: &webui.ChannelInfo{URL: "https://u.example/stable.index", Time: time.Unix(1700000000, 0), Outcome: "available",
			Reason: "version 7 is available", Version: 7},
	}
	if got := updateInfo(st); !reflect.DeepEqual(got, want) {
		t.Fatalf("update info\n got %+v\nwant %+v", got, want)
	}
	if got := updateInfo(update.Status{Progress: update.Progress{Phase: "writing"}}); got.Progress != "" || got.LastResult != "" {
		t.Fatalf("an idle agent shows progress or a last attempt: %+v", got)
	}
}
