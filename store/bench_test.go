package store

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func BenchmarkClaimEnvelope(b *testing.B) {
	s, _, _ := openTestStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.ClaimEnvelope(ctx, "env-"+strconv.Itoa(i), t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenRoundTrip(b *testing.B) {
	s, _, _ := openTestStore(b)
	ctx := context.Background()
	if err := s.Bind(ctx, chA, confID, "pw", "U1", t0); err != nil {
		b.Fatal(err)
	}
	exp := t0.Add(30 * time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.PutToken(ctx, chA, confID, secretToken, exp); err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.Token(ctx, chA, confID); err != nil {
			b.Fatal(err)
		}
	}
}
