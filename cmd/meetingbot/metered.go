package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/metrics"
)

// meteredMeetings records every meeting-API call the commands make: its
// operation, status and latency, and for token calls a token fetch. It
// sees a call as the commands do, after the client's retries; a client
// hook that observes each attempt (meetingapi's observer) can take over the
// MeetingAPICall half, leaving this to count token fetches.
type meteredMeetings struct {
	commands.Meetings
	m *metrics.Metrics
}

func (mm meteredMeetings) ControlToken(ctx context.Context, id meetingapi.ConferenceID, pw meetingapi.Password) (meetingapi.ControlToken, error) {
	start := time.Now()
	ct, err := mm.Meetings.ControlToken(ctx, id, pw)
	mm.observe("control_token", start, err)
	mm.m.TokenFetch(metrics.TokenPassword, tokenResult(err))
	return ct, err
}

func (mm meteredMeetings) KeepAlive(ctx context.Context, id meetingapi.ConferenceID, tok meetingapi.Token) (meetingapi.ControlToken, error) {
	start := time.Now()
	ct, err := mm.Meetings.KeepAlive(ctx, id, tok)
	mm.observe("keep_alive", start, err)
	mm.m.TokenFetch(metrics.TokenKeepAlive, tokenResult(err))
	return ct, err
}

func (mm meteredMeetings) SetLock(ctx context.Context, id meetingapi.ConferenceID, tok meetingapi.Token, locked bool) error {
	start := time.Now()
	err := mm.Meetings.SetLock(ctx, id, tok, locked)
	op := "unlock"
	if locked {
		op = "lock"
	}
	mm.observe(op, start, err)
	return err
}

func (mm meteredMeetings) observe(op string, start time.Time, err error) {
	mm.m.MeetingAPICall(op, httpStatus(err), time.Since(start))
}

// httpStatus is the status the meeting API answered with: 200 for success,
// the error's status for an API error, 0 when there was no answer.
func httpStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var ae *meetingapi.APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

func tokenResult(err error) string {
	switch s := httpStatus(err); {
	case s == http.StatusOK:
		return metrics.ResultOK
	case s >= 400 && s < 500:
		return metrics.ResultRejected
	}
	return metrics.ResultError
}
