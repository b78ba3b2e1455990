package storage_test

import (
	"testing"
	"time"

	"github.com/optibid/idp/storage"
)

func TestLostAnswer(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	grace := 5 * time.Second
	for _, c := range []struct {
		name               string
		claimed, delivered bool
		now                time.Time
		grace              time.Duration
		want               bool
	}{
		{"claimed, undelivered, in the grace", true, false, at.Add(2 * time.Second), grace, true},
		{"at once", true, false, at, grace, true},
		{"unclaimed", false, false, at.Add(time.Second), grace, false},
		{"delivered", true, true, at.Add(time.Second), grace, false},
		{"at the end of the grace", true, false, at.Add(grace), grace, false},
		{"grace off", true, false, at.Add(time.Second), -time.Second, false},
		{"redeemed on a clock ahead of ours", true, false, at.Add(-time.Second), grace, false},
	} {
		if got := storage.LostAnswer(c.claimed, c.delivered, at, c.now, c.grace); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
