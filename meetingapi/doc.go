// Package meetingapi is a small client for the Huawei Cloud Meeting
// meeting-control REST API: the calls a moderator needs to deal with a
// running meeting, with the vendor SDK's exact wire format.
//
// # The calls
//
// Controlling a meeting takes two steps. First get a control token with the
// host password, then make control calls with it:
//
//	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(os.Getenv("MEETING_API_URL")))
//	tok, err := c.ControlToken(ctx, id, pw)                // GET  …/token
//	err = c.Lock(ctx, id, tok.Token)                       // PUT  …/lock {"isLock":1}
//	err = c.Unlock(ctx, id, tok.Token)                     // PUT  …/lock {"isLock":0}
//	info, err := c.RealTimeInfo(ctx, id, tok.Token)        // GET  …/realTimeInfo
//	err = c.HangUp(ctx, id, tok.Token, pid)                // POST …/participants/delete
//	err = c.MuteAll(ctx, id, tok.Token, true, false)       // PUT  …/mute
//	err = c.MuteParticipant(ctx, id, tok.Token, pid, true) // PUT  …/participants/mute?participantID=
//	err = c.MoveToWaitingRoom(ctx, id, tok.Token, pid)     // PUT  …/moveToWaitingRoom (or batch…)
//	err = c.AdmitFromWaitingRoom(ctx, id, tok.Token, pid)  // PUT  …/allowWaitingParticipant
//	err = c.SetCallInRestriction(ctx, id, tok.Token, meetingapi.RestrictionInvited) // PUT …/updateStartedConfConfig
//	err = c.Stop(ctx, id, tok.Token)                       // PUT  …/stop
//	err = c.Prolong(ctx, id, tok.Token, 15)                // PUT  …/duration {"auto":0,"duration":15}
//	ws, err := c.WebSocketToken(ctx, id, tok.Token)        // GET  …/wsToken
//
// (… is /v1/mmc/control/conferences.) Every control call shares one request
// path (newRequest and do, as in go-github): the conferenceID query, the
// X-Conference-Authorization header, the JSON body, the error mapping,
// retries, the circuit breaker, redaction and the observer. A new control is
// one small method. The sdkcheck module beside this one runs the vendor's
// own SDK against meetingapitest and compares its requests with ours.
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
// the token is no longer valid: fetch a new one once and retry. That is safe
// for every call, the ones that are not idempotent included, because a
// rejected token means nothing was applied.
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
// The client retries what [Retryable] calls worth retrying: server trouble
// (HTTP 5xx, MMC.111072049), transport failures and attempts that ran out of
// [RetryPolicy].AttemptTimeout. That is safe for the idempotent calls (token,
// keep-alive, lock, unlock, real-time info, both mutes, the join restriction
// and the socket token). The calls that are not idempotent (HangUp, the
// waiting room, Stop, Prolong) are retried only when they cannot have been
// applied: after flow control, or when no connection could be made. When
// such a call may or may not have taken effect, [OutcomeUnknown] says so
// and [Retryable] is false; each call's comment names its class. The default ([DefaultRetryPolicy]) makes up to
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
// # The event socket
//
// [Client.Watch] follows a meeting's event socket: who joins and leaves,
// changes to a participant, the waiting room, and the lock state and other
// settings the REST API does not report. It fetches a one-use socket token
// ([Client.WebSocketToken]) for every connection, connects to the host of
// the token answer's wsURL ([ControlToken].WSURL), subscribes, sends a
// heartbeat, and reconnects with backoff when the socket drops or stalls.
// The consumer supplies the control token through a [TokenSource] (its
// cache, kept alive) and gets [Event] values in order: EventSnapshot after
// each (re)subscription lists the people already in, so they are not
// announced as joins; after a reconnect, who joined or left meanwhile
// follows as EventJoined/EventLeft with Resync set. EventEnded, and Watch
// returns, when the meeting ends: a dropped socket is not an end.
//
// # Metrics
//
// [WithObserver] reports every HTTP attempt: the operation (an Op*
// constant), the status (0 without an answer) and the duration. The package
// itself needs the standard library, zerolog, and gorilla/websocket for the
// event socket.
//
// # Secrets
//
// The host password ([Password]) and the control token ([Token]) travel only
// in request headers. Their String, GoString, Format, MarshalJSON and
// MarshalText methods are redacted, so they cannot leak through fmt, zerolog
// or encoding/json; call Reveal to get the raw value. Error strings and log
// lines never contain them. Text from the server that echoes a secret is
// cleaned: a secret of 8 characters or more is replaced by "[redacted]"; if
// a shorter one appears, the vendor's message is withheld and only its code
// kept, since replacing a short secret in place would spell it out.
//
// Phone numbers in [RealTimeInfo] are personal data: [Phone] prints masked
// to its last 4 digits in every form, like the secrets.
//
// Package meetingapitest provides an in-process fake of these endpoints for
// tests and the sandbox.
package meetingapi
