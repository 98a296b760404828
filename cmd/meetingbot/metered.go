package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/metrics"
)

// meteredMeetings counts token fetches and keep-alives as the commands see
// them (after the client's retries). Each HTTP attempt is observed by the
// client itself (meetingapi.WithObserver).
type meteredMeetings struct {
	commands.Meetings
	m *metrics.Metrics
}

func (mm meteredMeetings) ControlToken(ctx context.Context, id meetingapi.ConferenceID, pw meetingapi.Password) (meetingapi.ControlToken, error) {
	ct, err := mm.Meetings.ControlToken(ctx, id, pw)
	mm.m.TokenFetch(metrics.TokenPassword, tokenResult(err))
	return ct, err
}

func (mm meteredMeetings) KeepAlive(ctx context.Context, id meetingapi.ConferenceID, tok meetingapi.Token) (meetingapi.ControlToken, error) {
	ct, err := mm.Meetings.KeepAlive(ctx, id, tok)
	mm.m.TokenFetch(metrics.TokenKeepAlive, tokenResult(err))
	return ct, err
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
