package domain

// LockState is whether a meeting is locked, as far as meetingbot knows.
type LockState int

const (
	LockUnknown LockState = iota
	LockLocked
	LockUnlocked
)

func (s LockState) String() string {
	switch s {
	case LockLocked:
		return "locked"
	case LockUnlocked:
		return "unlocked"
	default:
		return "unknown"
	}
}

// ParseLockState reads what String wrote; anything else is LockUnknown.
func ParseLockState(s string) LockState {
	switch s {
	case "locked":
		return LockLocked
	case "unlocked":
		return LockUnlocked
	}
	return LockUnknown
}

// LockStateOf is LockLocked for true and LockUnlocked for false.
func LockStateOf(locked bool) LockState {
	if locked {
		return LockLocked
	}
	return LockUnlocked
}
