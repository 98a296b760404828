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
// # Retries, flow control and the circuit breaker
//
// The client retries what [Retryable] calls worth retrying, which is safe
// because lock, unlock and the token GET are idempotent: server trouble
// (HTTP 5xx, MMC.111072049), transport failures and attempts that ran out of
// [RetryPolicy].AttemptTimeout. The default ([DefaultRetryPolicy]) makes up to
// 4 attempts, 5s each, with full-jitter exponential backoff from 200ms up to
// 3s. Flow control (HTTP 429, 100000429) waits as long as Retry-After says,
// up to 10s, or else backs off four times longer. A 4xx answer is never
// retried; in particular a 401 is left to the caller, which fetches a new
// token once. Every wait honours the context: when the caller's deadline
// would pass before the next attempt, the call stops and returns the last
// failure, not a deadline error. The error returned is the last attempt's,
// with [APIError].Attempts saying how many tries were made. Change or
// disable retries with [WithRetry].
//
// A circuit breaker shared by all calls of a Client (the API host is
// shared) opens after 5 consecutive server-trouble or transport failures:
// for 30s calls fail at once with [ErrCircuitOpen] and send nothing; then
// one trial call goes through, and its success closes the circuit. Answers
// that show the service is up, such as a 4xx, reset the count; flow control
// neither counts nor resets it. See [WithBreaker] and [Client.BreakerOpen].
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
