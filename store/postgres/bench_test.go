package postgres

import (
	"context"
	"testing"

	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/storetest"
)

// BenchmarkStore runs the shared hot-path benchmarks on PostgreSQL, each in
// a fresh schema.
func BenchmarkStore(b *testing.B) {
	adminPool(b)
	storetest.Bench(b, func(b *testing.B) store.Backend {
		d, err := Open(context.Background(), freshSchema(b))
		if err != nil {
			b.Fatal(err)
		}
		return d
	})
}
