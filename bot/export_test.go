package bot

// SetTestHook makes b call f at named points of its handlers ("slash",
// "slash-after-ack", "button", "form", "other"), so a test can make one
// of them fail. Call it before the envelopes it is meant for.
func SetTestHook(b *Bot, f func(point string)) { b.testHook.Store(&f) }
