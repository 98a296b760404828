package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/storetest"
)

// BenchmarkStore runs the shared hot-path benchmarks on a SQLite file.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Backend {
		d, err := Open(context.Background(), filepath.Join(b.TempDir(), "meetingbot.db"))
		if err != nil {
			b.Fatal(err)
		}
		return d
	})
}
