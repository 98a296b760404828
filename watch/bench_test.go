package watch_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// BenchmarkJoinToAlert measures the time from a person joining the fake
// meeting to the alert being handed to Slack, with the production setting
// for gathering joins (Gather 1 s: the first join after a quiet spell waits
// that long for company). It reports the median and the worst.
func BenchmarkJoinToAlert(b *testing.B) {
	f := newFixtureB(b)
	r, stop := f.runnerWithGather(b, time.Second)
	defer stop()
	if err := r.Start(b.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !r.Live(meetingID); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the watch did not start")
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("Bench Person %d", i)
		start := time.Now()
		if _, err := f.fake.AddParticipant(string(meetingID), meetingapitest.Person{Name: name, Account: name, OrgID: hostOrg}); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			if strings.Contains(texts(alerts(f.posts.all())), name+"*") {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("no alert")
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "ms-max")
}
