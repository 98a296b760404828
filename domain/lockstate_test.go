package domain

import "testing"

func TestALockStateRoundTripsThroughItsWord(t *testing.T) {
	for _, s := range []LockState{LockUnknown, LockLocked, LockUnlocked} {
		if got := ParseLockState(s.String()); got != s {
			t.Errorf("ParseLockState(%q) = %v, want %v", s.String(), got, s)
		}
	}
	for _, w := range []string{"", "Locked", "open", "unknown"} {
		if got := ParseLockState(w); got != LockUnknown {
			t.Errorf("ParseLockState(%q) = %v, want unknown", w, got)
		}
	}
}
