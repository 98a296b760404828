package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestTheLastControllerCannotBeRevoked(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := t.Context()
	ch := Channel{Team: "T1", ID: "C1"}
	must(t, s.Grant(ctx, ch, "U1", "U0", time.Now()))
	if err := s.Revoke(ctx, ch, "U1"); !errors.Is(err, ErrLastController) {
		t.Fatalf("revoking the only controller: err = %v, want ErrLastController", err)
	}
	if cs, _ := s.Controllers(ctx, ch); len(cs) != 1 {
		t.Fatalf("controllers = %v", cs)
	}
}

func TestTwoControllersRevokingEachOtherAtOnceLeaveOne(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := t.Context()
	for i := range 20 {
		ch := Channel{Team: "T1", ID: "C" + string(rune('a'+i))}
		must(t, s.Grant(ctx, ch, "U1", "U0", time.Now()))
		must(t, s.Grant(ctx, ch, "U2", "U0", time.Now()))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, u := range []string{"U1", "U2"} {
			wg.Go(func() { errs[j] = s.Revoke(ctx, ch, u) })
		}
		wg.Wait()
		cs, err := s.Controllers(ctx, ch)
		must(t, err)
		if len(cs) != 1 {
			t.Fatalf("round %d: %d controllers left (errors %v, %v)", i, len(cs), errs[0], errs[1])
		}
		if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs[0], errs[1]), ErrLastController) {
			t.Fatalf("round %d: errors %v, %v; want one success and one ErrLastController", i, errs[0], errs[1])
		}
	}
}
