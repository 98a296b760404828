// Package meetingapi is a small client for the Huawei Cloud Meeting
// meeting-control REST API: just enough to lock and unlock a running meeting.
//
// # Two calls
//
// Controlling a meeting takes two steps. First get a control token with the
// host password:
//
//	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(os.Getenv("MEETING_API_URL")))
//	tok, err := c.ControlToken(ctx, id, pw) // GET  /v1/mmc/control/conferences/token
//	err = c.Lock(ctx, id, tok.Token)        // PUT  /v1/mmc/control/conferences/lock {"isLock":1}
//	err = c.Unlock(ctx, id, tok.Token)      // PUT  /v1/mmc/control/conferences/lock {"isLock":0}
//
// Conference IDs come from [ParseConferenceID], the one place in the project
// that decides what a conference ID looks like.
//
// # Token lifetime
//
// A control token lives 30 minutes ([ControlToken.Lifetime]) and only while
// the meeting is in progress. Cache it per meeting until shortly before
// [ControlToken.ExpiresAt] (a minute early is plenty), then either fetch a
// new one with the password or refresh the live one with [Client.KeepAlive],
// which needs no password. A 401 ([ErrTokenInvalid]) on a control call means
// the token is no longer valid: fetch a new one once and retry.
//
// # Errors
//
// A non-2xx answer is an [*APIError] carrying the HTTP status, the vendor's
// error_code and error_msg, and the X-Request-Id response header. Use
// [errors.Is] with the sentinels ([ErrTokenInvalid], [ErrMeetingNotFound],
// [ErrWrongPassword], [ErrForbidden], [ErrFlowControl], [ErrServerTrouble])
// to branch, [Hint] / [HintFor] for a one-line plain-English explanation, and
// [Retryable] to decide whether to try again. Network failures are returned
// wrapped ("meetingapi: lock 914083136: ...") and are retryable unless the
// caller cancelled.
//
// # Secrets
//
// The host password ([Password]) and the control token ([Token]) travel only
// in request headers. Their String, GoString, Format, MarshalJSON and
// MarshalText methods are redacted, so they cannot leak through fmt, zerolog
// or encoding/json; call Reveal to get the raw value. Error strings and log
// lines never contain them.
//
// Package meetingapitest provides an in-process fake of these endpoints for
// tests and the sandbox.
package meetingapi
