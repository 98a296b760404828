package meetingapi_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

const (
	testID       = meetingapi.ConferenceID("914083136")
	testPassword = meetingapi.Password("host-pw-7731")
	basePath     = "/mmc-prefix"
)

var fixedNow = time.Date(2025, 3, 4, 10, 11, 12, 345_000_000, time.UTC)

var (
	// noRetry makes one attempt per call, for tests about a single answer.
	noRetry = meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 1})
	// noBreaker disables the circuit breaker.
	noBreaker = meetingapi.WithBreaker(0, 0)
	// instant makes backoff waits return at once (unless ctx is done).
	instant = meetingapi.WithSleepForTest(func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
)

// setup starts a fake under a non-empty base path, so a client that builds
// absolute paths fails, with one meeting in progress.
func setup(t *testing.T, opts ...meetingapi.Option) (*meetingapi.Client, *meetingapitest.Server) {
	t.Helper()
	fake := meetingapitest.NewServer(
		meetingapitest.WithBasePath(basePath),
		meetingapitest.WithClock(func() time.Time { return fixedNow }),
	)
	t.Cleanup(fake.Close)
	fake.AddMeeting(string(testID), testPassword.Reveal(), meetingapitest.InProgress)
	c, err := meetingapi.NewClient(append([]meetingapi.Option{meetingapi.WithBaseURL(fake.URL)}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, fake
}

func token(t *testing.T, c *meetingapi.Client) meetingapi.Token {
	t.Helper()
	ct, err := c.ControlToken(t.Context(), testID, testPassword)
	if err != nil {
		t.Fatalf("ControlToken: %v", err)
	}
	return ct.Token
}

func lastCall(t *testing.T, fake *meetingapitest.Server) meetingapitest.Call {
	t.Helper()
	calls := fake.Calls()
	if len(calls) == 0 {
		t.Fatal("the fake received no call")
	}
	return calls[len(calls)-1]
}

// assertHeaders checks the headers every call sends and the ones it must
// and must not send.
func assertHeaders(t *testing.T, got http.Header, want map[string]string, absent ...string) {
	t.Helper()
	common := map[string]string{
		"Content-Type": "application/json",
		"Accept":       "application/json",
		"User-Agent":   meetingapi.DefaultUserAgent,
	}
	for k, v := range common {
		if _, ok := want[k]; !ok {
			want[k] = v
		}
	}
	for k, v := range want {
		if vs := got.Values(k); len(vs) != 1 || vs[0] != v {
			t.Errorf("header %s = %q, want exactly [%q]", k, vs, v)
		}
	}
	for _, k := range absent {
		if _, ok := got[http.CanonicalHeaderKey(k)]; ok {
			t.Errorf("header %s was sent; it must not be", k)
		}
	}
}

func assertQuery(t *testing.T, got url.Values) {
	t.Helper()
	want := url.Values{"conferenceID": {string(testID)}}
	if got.Encode() != want.Encode() {
		t.Errorf("query = %q, want %q", got.Encode(), want.Encode())
	}
}

func TestControlTokenSendsTheSDKsRequestAndParsesTheToken(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)

	ct, err := c.ControlToken(t.Context(), testID, testPassword)
	if err != nil {
		t.Fatalf("ControlToken: %v", err)
	}

	call := lastCall(t, fake)
	if call.Method != http.MethodGet {
		t.Errorf("method = %s, want GET", call.Method)
	}
	if want := basePath + "/v1/mmc/control/conferences/token"; call.Path != want {
		t.Errorf("path = %s, want %s", call.Path, want)
	}
	assertQuery(t, call.Query)
	assertHeaders(t, call.Header, map[string]string{
		"X-Password":   testPassword.Reveal(),
		"X-Login-Type": "1",
	}, "X-Conference-Authorization", "X-Access-Token")
	if len(call.Body) != 0 {
		t.Errorf("body = %q, want none", call.Body)
	}

	if len(ct.Token.Reveal()) != 48 {
		t.Errorf("token has %d characters, want the fake's 48", len(ct.Token.Reveal()))
	}
	if want := fixedNow.Add(30 * time.Minute); !ct.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", ct.ExpiresAt, want)
	}
	if ct.Lifetime != 30*time.Minute {
		t.Errorf("Lifetime = %v, want 30m", ct.Lifetime)
	}
	if ct.Role != 1 {
		t.Errorf("Role = %d, want 1", ct.Role)
	}
}

func TestKeepAliveSendsTheTokenInsteadOfThePasswordAndGetsANewOne(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	old := token(t, c)

	ct, err := c.KeepAlive(t.Context(), testID, old)
	if err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}

	call := lastCall(t, fake)
	if call.Method != http.MethodGet || call.Path != basePath+"/v1/mmc/control/conferences/token" {
		t.Errorf("request = %s %s, want GET of the token endpoint", call.Method, call.Path)
	}
	assertQuery(t, call.Query)
	assertHeaders(t, call.Header, map[string]string{
		"X-Conference-Authorization": old.Reveal(),
		"X-Login-Type":               "1",
	}, "X-Password")
	if len(call.Body) != 0 {
		t.Errorf("body = %q, want none", call.Body)
	}
	if ct.Token == "" || ct.Token == old {
		t.Error("keep-alive did not return a fresh token")
	}
	if got := fake.TokensIssued(); got != 2 {
		t.Errorf("TokensIssued = %d, want 2", got)
	}
}

func TestSetLockSendsExactlyTheSDKsBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		call       func(context.Context, *meetingapi.Client, meetingapi.Token) error
		wantBody   string
		wantLocked bool
	}{
		{"Lock sends isLock 1", func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
			return c.Lock(ctx, testID, tok)
		}, `{"isLock":1}`, true},
		{"Unlock sends isLock 0", func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
			return c.Unlock(ctx, testID, tok)
		}, `{"isLock":0}`, false},
		{"SetLock true sends isLock 1", func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
			return c.SetLock(ctx, testID, tok, true)
		}, `{"isLock":1}`, true},
		{"SetLock false sends isLock 0", func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
			return c.SetLock(ctx, testID, tok, false)
		}, `{"isLock":0}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake := setup(t)
			tok := token(t, c)
			if !tt.wantLocked {
				if err := c.Lock(t.Context(), testID, tok); err != nil {
					t.Fatalf("Lock: %v", err)
				}
			}

			if err := tt.call(t.Context(), c, tok); err != nil {
				t.Fatalf("call: %v", err)
			}

			call := lastCall(t, fake)
			if call.Method != http.MethodPut {
				t.Errorf("method = %s, want PUT", call.Method)
			}
			if want := basePath + "/v1/mmc/control/conferences/lock"; call.Path != want {
				t.Errorf("path = %s, want %s", call.Path, want)
			}
			assertQuery(t, call.Query)
			assertHeaders(t, call.Header, map[string]string{
				"X-Conference-Authorization": tok.Reveal(),
			}, "X-Password", "X-Login-Type")
			if string(call.Body) != tt.wantBody {
				t.Errorf("body = %q, want %q", call.Body, tt.wantBody)
			}
			if locked, _ := fake.Locked(string(testID)); locked != tt.wantLocked {
				t.Errorf("fake says locked = %v, want %v", locked, tt.wantLocked)
			}
		})
	}
}

func TestWithUserAgentIsSent(t *testing.T) {
	t.Parallel()
	c, fake := setup(t, meetingapi.WithUserAgent("meetingbot/1.2.3"))
	token(t, c)
	if got := lastCall(t, fake).Header.Get("User-Agent"); got != "meetingbot/1.2.3" {
		t.Errorf("User-Agent = %q, want meetingbot/1.2.3", got)
	}
}

var allSentinels = []error{
	meetingapi.ErrTokenInvalid, meetingapi.ErrMeetingNotFound, meetingapi.ErrWrongPassword,
	meetingapi.ErrForbidden, meetingapi.ErrFlowControl, meetingapi.ErrServerTrouble,
}

func TestErrorsCarryStatusCodeRequestIDAndOneSentinel(t *testing.T) {
	t.Parallel()
	lock := func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
		return c.Lock(ctx, testID, tok)
	}
	tests := []struct {
		name      string
		arrange   func(*meetingapitest.Server)
		call      func(context.Context, *meetingapi.Client, meetingapi.Token) error
		id        meetingapi.ConferenceID // default testID
		wantOp    string
		wantIs    error // nil: no sentinel
		status    int
		code      string
		retryable bool
	}{
		{
			name: "a wrong password is ErrWrongPassword",
			call: func(ctx context.Context, c *meetingapi.Client, _ meetingapi.Token) error {
				_, err := c.ControlToken(ctx, testID, "not-the-password")
				return err
			},
			wantOp: "control token", wantIs: meetingapi.ErrWrongPassword, status: 400, code: "MMC.111072065",
		},
		{
			name: "an unknown meeting is ErrMeetingNotFound",
			call: func(ctx context.Context, c *meetingapi.Client, _ meetingapi.Token) error {
				_, err := c.ControlToken(ctx, "123456789", testPassword)
				return err
			},
			id:     "123456789",
			wantOp: "control token", wantIs: meetingapi.ErrMeetingNotFound, status: 400, code: "MMC.111070005",
		},
		{
			name:    "a token for a meeting that has not started is ErrMeetingNotFound",
			arrange: func(f *meetingapitest.Server) { f.SetState(string(testID), meetingapitest.NotStarted) },
			call: func(ctx context.Context, c *meetingapi.Client, _ meetingapi.Token) error {
				_, err := c.ControlToken(ctx, testID, testPassword)
				return err
			},
			wantOp: "control token", wantIs: meetingapi.ErrMeetingNotFound, status: 400, code: "MMC.111072005",
		},
		{
			name:    "locking a meeting that has ended since is ErrMeetingNotFound",
			arrange: func(f *meetingapitest.Server) { f.SetState(string(testID), meetingapitest.Ended) },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrMeetingNotFound, status: 400, code: "MMC.111072006",
		},
		{
			name:    "an expired token is ErrTokenInvalid",
			arrange: func(f *meetingapitest.Server) { f.ExpireTokens() },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrTokenInvalid, status: 401, code: "MMC.111070004",
		},
		{
			name:    "a keep-alive with an expired token is ErrTokenInvalid",
			arrange: func(f *meetingapitest.Server) { f.ExpireTokens() },
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				_, err := c.KeepAlive(ctx, testID, tok)
				return err
			},
			wantOp: "keep-alive", wantIs: meetingapi.ErrTokenInvalid, status: 401, code: "MMC.111070004",
		},
		{
			name:    "an invalid access token code is ErrTokenInvalid whatever the status",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 400, "USG.000000004") },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrTokenInvalid, status: 400, code: "USG.000000004",
		},
		{
			name:    "HTTP 403 is ErrForbidden",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 403, "MMC.111070002") },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrForbidden, status: 403, code: "MMC.111070002",
		},
		{
			name:    "authentication failed outside a 401 is ErrForbidden",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 400, "MMC.111070004") },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrForbidden, status: 400, code: "MMC.111070004",
		},
		{
			name:    "HTTP 429 is ErrFlowControl and retryable",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 429, "100000429") },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrFlowControl, status: 429, code: "100000429", retryable: true,
		},
		{
			name:    "the flow-control code is ErrFlowControl even as a 400",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 400, "100000429") },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrFlowControl, status: 400, code: "100000429", retryable: true,
		},
		{
			name:    "a server timeout code is ErrServerTrouble and retryable",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 400, "MMC.111072049") },
			call:    lock, wantOp: "lock", wantIs: meetingapi.ErrServerTrouble, status: 400, code: "MMC.111072049", retryable: true,
		},
		{
			name:    "HTTP 500 on unlock is ErrServerTrouble and retryable",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 500, "MMC.999999999") },
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				return c.Unlock(ctx, testID, tok)
			},
			wantOp: "unlock", wantIs: meetingapi.ErrServerTrouble, status: 500, code: "MMC.999999999", retryable: true,
		},
		{
			name:    "a locked meeting code matches no sentinel",
			arrange: func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 1, 400, "MMC.111072050") },
			call:    lock, wantOp: "lock", wantIs: nil, status: 400, code: "MMC.111072050",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake := setup(t, noRetry) // the classification of one answer; retries are tested in retry_test.go
			tok := token(t, c)
			if tt.arrange != nil {
				tt.arrange(fake)
			}

			err := tt.call(t.Context(), c, tok)

			if err == nil {
				t.Fatal("got no error")
			}
			for _, s := range allSentinels {
				if got, want := errors.Is(err, s), s == tt.wantIs; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			var ae *meetingapi.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("errors.As(*APIError) failed for %T: %v", err, err)
			}
			wantID := tt.id
			if wantID == "" {
				wantID = testID
			}
			if ae.Op != tt.wantOp || ae.ConferenceID != wantID || ae.StatusCode != tt.status || ae.Code != tt.code {
				t.Errorf("APIError = %+v, want op %q, ID %s, status %d, code %q", ae, tt.wantOp, wantID, tt.status, tt.code)
			}
			if ae.Message == "" {
				t.Error("APIError.Message is empty; the fake always sends error_msg")
			}
			if want := lastCall(t, fake); ae.RequestID == "" {
				t.Errorf("APIError.RequestID is empty (last call %s %s)", want.Method, want.Path)
			}
			if !strings.Contains(err.Error(), "(request "+ae.RequestID+")") {
				t.Errorf("Error() = %q does not name the request ID", err)
			}
			if got := meetingapi.Retryable(err); got != tt.retryable {
				t.Errorf("Retryable = %v, want %v", got, tt.retryable)
			}
		})
	}
}

func TestANonJSONErrorBodyStillYieldsAnAPIErrorWithASnippet(t *testing.T) {
	t.Parallel()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Request-Id", "proxy-42")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>\r\n<head><title>502 Bad Gateway</title></head>\n<body>\x1b[31m"+strings.Repeat("x", 5000)+"</body></html>")
	}))
	t.Cleanup(proxy.Close)
	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(proxy.URL), instant)
	if err != nil {
		t.Fatal(err)
	}

	err = c.Lock(t.Context(), testID, "0123456789abcdef0123456789abcdef")

	var ae *meetingapi.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("errors.As(*APIError) failed: %v", err)
	}
	if ae.StatusCode != 502 || ae.Code != "" || ae.RequestID != "proxy-42" {
		t.Errorf("APIError = %+v, want 502, no code, request proxy-42", ae)
	}
	if !strings.Contains(ae.Message, "502 Bad Gateway") {
		t.Errorf("Message = %q, want a snippet of the body", ae.Message)
	}
	if len([]rune(ae.Message)) > 121 || strings.ContainsAny(ae.Message, "\r\n\x1b") {
		t.Errorf("Message = %q, want a short one-line snippet", ae.Message)
	}
	if !errors.Is(err, meetingapi.ErrServerTrouble) || !meetingapi.Retryable(err) {
		t.Error("a 502 should be retryable server trouble")
	}
	if want := "meetingapi: lock 914083136: HTTP 502: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", err, want)
	}
}

func TestAPIErrorMessagesAreSanitizedAndCapped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error_code":"MMC.1\n2","error_msg":"line one\nline two\u0007 `+strings.Repeat("y", 500)+`"}`)
	}))
	t.Cleanup(srv.Close)
	c, _ := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL))

	err := c.Lock(t.Context(), testID, "0123456789abcdef0123456789abcdef")

	var ae *meetingapi.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an APIError: %v", err)
	}
	if strings.ContainsAny(ae.Message+ae.Code, "\n\a") {
		t.Errorf("control characters survived: code %q message %q", ae.Code, ae.Message)
	}
	if n := len([]rune(ae.Message)); n > 201 {
		t.Errorf("Message has %d runes, want at most 200 (+ ellipsis)", n)
	}
	if !strings.HasPrefix(ae.Message, "line one line two") {
		t.Errorf("Message = %q", ae.Message)
	}
}

func TestAPIErrorReadsLikeTheDesign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  meetingapi.APIError
		want string
	}{
		{"with code, message and request", meetingapi.APIError{Op: "lock", ConferenceID: testID, StatusCode: 400, Code: "MMC.111070005", Message: "meeting not exist", RequestID: "abc"},
			"meetingapi: lock 914083136: MMC.111070005 (HTTP 400): meeting not exist (request abc)"},
		{"without code or request", meetingapi.APIError{Op: "unlock", ConferenceID: testID, StatusCode: 503, Message: "down"},
			"meetingapi: unlock 914083136: HTTP 503: down"},
		{"with nothing but a status", meetingapi.APIError{Op: "keep-alive", ConferenceID: testID, StatusCode: 401},
			"meetingapi: keep-alive 914083136: HTTP 401"},
		{"after retries", meetingapi.APIError{Op: "lock", ConferenceID: testID, StatusCode: 503, Code: "MMC.111072049", Message: "timeout", RequestID: "r9", Attempts: 3},
			"meetingapi: lock 914083136: MMC.111072049 (HTTP 503): timeout (request r9) (after 3 attempts)"},
		{"one attempt is not mentioned", meetingapi.APIError{Op: "lock", ConferenceID: testID, StatusCode: 400, Attempts: 1},
			"meetingapi: lock 914083136: HTTP 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTokenResponsesAreParsedOrRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		body         string
		wantErr      bool
		wantExpires  time.Time
		wantLifetime time.Duration
		wantRole     int
	}{
		{
			name:         "the documented shape",
			body:         `{"data":{"token":"tok-0123456789abcdef","expireTime":1741083072345,"confTokenExpireTime":1800,"role":1,"tmpWsToken":"w","wsURL":"wss://x","userID":"u","orgID":"o","vmrCurrentConfID":"9","supportNotifyType":["a"]},"addressToken":"a","gloablPublicIP":"1.2.3.4"}`,
			wantExpires:  time.UnixMilli(1741083072345),
			wantLifetime: 30 * time.Minute,
			wantRole:     1,
		},
		{
			name:         "numbers sent as strings",
			body:         `{"data":{"token":"tok-0123456789abcdef","expireTime":"1741083072345","confTokenExpireTime":"600","role":"2"}}`,
			wantExpires:  time.UnixMilli(1741083072345),
			wantLifetime: 10 * time.Minute,
			wantRole:     2,
		},
		{name: "an empty token is refused", body: `{"data":{"token":"","expireTime":1741083072345}}`, wantErr: true},
		{name: "a missing data object is refused", body: `{"addressToken":"secret-address-token"}`, wantErr: true},
		{name: "a token with spaces is refused", body: `{"data":{"token":"secret token value"}}`, wantErr: true},
		{name: "a body that is not JSON is refused", body: `tok-secret-0123456789`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			c, _ := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL))

			ct, err := c.ControlToken(t.Context(), testID, testPassword)

			if tt.wantErr {
				if !errors.Is(err, meetingapi.ErrUnexpectedResponse) {
					t.Fatalf("err = %v, want ErrUnexpectedResponse", err)
				}
				for _, leak := range []string{"secret", "tok-", "token value"} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("Error() = %q leaks %q from the body", err, leak)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ControlToken: %v", err)
			}
			if ct.Token.Reveal() != "tok-0123456789abcdef" || !ct.ExpiresAt.Equal(tt.wantExpires) ||
				ct.Lifetime != tt.wantLifetime || ct.Role != tt.wantRole {
				t.Errorf("got %v, expires %v, lifetime %v, role %d", ct.Token, ct.ExpiresAt, ct.Lifetime, ct.Role)
			}
		})
	}
}

func TestWithBaseURLKeepsTheBasePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"a host without a path", "https://api.meeting.huaweicloud.com", "https://api.meeting.huaweicloud.com/"},
		{"a path without a trailing slash", "http://127.0.0.1:1234/prefix", "http://127.0.0.1:1234/prefix/"},
		{"a path with a trailing slash", "http://127.0.0.1:1234/prefix/", "http://127.0.0.1:1234/prefix/"},
		{"a nested path", "http://127.0.0.1:1234/a/b", "http://127.0.0.1:1234/a/b/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := meetingapi.NewClient(meetingapi.WithBaseURL(tt.in))
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			if got := c.BaseURL(); got != tt.want {
				t.Errorf("BaseURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTheDefaultBaseURLIsTheVendors(t *testing.T) {
	t.Parallel()
	c, err := meetingapi.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != meetingapi.DefaultBaseURL+"/" {
		t.Errorf("BaseURL = %q", got)
	}
}

func TestNewClientRefusesBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  meetingapi.Option
	}{
		{"a relative base URL", meetingapi.WithBaseURL("/v1")},
		{"a base URL without a scheme", meetingapi.WithBaseURL("api.meeting.huaweicloud.com")},
		{"an ftp base URL", meetingapi.WithBaseURL("ftp://example.com")},
		{"a base URL with credentials", meetingapi.WithBaseURL("https://user:pw@example.com")},
		{"a base URL with a query", meetingapi.WithBaseURL("https://example.com/?a=b")},
		{"a base URL with a fragment", meetingapi.WithBaseURL("https://example.com/#x")},
		{"a nil HTTP client", meetingapi.WithHTTPClient(nil)},
		{"an empty user agent", meetingapi.WithUserAgent("")},
		{"a user agent with a newline", meetingapi.WithUserAgent("a\r\nX-Evil: 1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := meetingapi.NewClient(tt.opt); err == nil {
				t.Error("NewClient accepted it")
			} else if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error %q repeats the credentials", err)
			}
		})
	}
}

func TestCallsRefuseBadInputWithoutTouchingTheNetwork(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	tests := []struct {
		name string
		call func() error
		is   error
	}{
		{"an ID built by conversion with letters", func() error { return c.Lock(t.Context(), "91408313x", "tok-0123456789abcdef") }, meetingapi.ErrInvalidConferenceID},
		{"an ID with a query injection", func() error { return c.Lock(t.Context(), "914083136&x=1", "tok-0123456789abcdef") }, meetingapi.ErrInvalidConferenceID},
		{"an empty ID", func() error { _, err := c.ControlToken(t.Context(), "", testPassword); return err }, meetingapi.ErrInvalidConferenceID},
		{"an empty password", func() error { _, err := c.ControlToken(t.Context(), testID, ""); return err }, nil},
		{"an empty token", func() error { return c.Unlock(t.Context(), testID, "") }, nil},
		{"a token with a newline", func() error { return c.Lock(t.Context(), testID, "tok\r\nX-Evil: 1") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("got no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if strings.Contains(err.Error(), "X-Evil") || strings.Contains(err.Error(), "x=1") {
				t.Errorf("Error() = %q repeats the input", err)
			}
			if meetingapi.Retryable(err) {
				t.Error("bad input is not retryable")
			}
		})
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("the fake received %d calls, want 0", n)
	}
}

func TestTransportErrorsAreWrappedAndRetryableUnlessCancelled(t *testing.T) {
	t.Parallel()
	t.Run("a closed server is retryable", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t, instant)
		fake.Close()
		err := c.Lock(t.Context(), testID, "0123456789abcdef0123456789abcdef")
		if err == nil {
			t.Fatal("got no error")
		}
		if !strings.HasPrefix(err.Error(), "meetingapi: lock 914083136: ") {
			t.Errorf("Error() = %q", err)
		}
		var ae *meetingapi.APIError
		if errors.As(err, &ae) {
			t.Error("a transport error is not an APIError")
		}
		if !meetingapi.Retryable(err) {
			t.Error("Retryable = false, want true")
		}
	})
	t.Run("a timeout is retryable", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t, instant, meetingapi.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
		fake.SetLatency(5 * time.Second)
		err := c.Lock(t.Context(), testID, "0123456789abcdef0123456789abcdef")
		if !errors.Is(err, context.DeadlineExceeded) || !meetingapi.Retryable(err) {
			t.Errorf("err = %v, want a retryable deadline error", err)
		}
	})
	t.Run("a cancelled call is not retryable", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t)
		fake.SetLatency(5 * time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(20*time.Millisecond, cancel)
		start := time.Now()
		err := c.Lock(ctx, testID, "0123456789abcdef0123456789abcdef")
		if !errors.Is(err, context.Canceled) || meetingapi.Retryable(err) {
			t.Errorf("err = %v, want a non-retryable cancellation", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the call took %v after cancellation", d)
		}
	})
}

func TestRedirectsAreNotFollowedSoSecretsStayPut(t *testing.T) {
	t.Parallel()
	var elsewhereHit atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhereHit.Store(true) }))
	t.Cleanup(elsewhere.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	c, _ := meetingapi.NewClient(meetingapi.WithBaseURL(redirector.URL), meetingapi.WithHTTPClient(&http.Client{}))

	_, err := c.ControlToken(t.Context(), testID, testPassword)

	var ae *meetingapi.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("err = %v, want an APIError with HTTP 307", err)
	}
	if elsewhereHit.Load() {
		t.Error("the client followed the redirect with the password")
	}
}

func TestSequentialCallsReuseOneConnection(t *testing.T) {
	t.Parallel()
	c, fake := setup(t, noRetry, noBreaker) // 20 error answers in a row, each seen
	tok := token(t, c)

	for i := range 200 {
		if err := c.SetLock(t.Context(), testID, tok, i%2 == 0); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// Error answers must not cost a connection either.
	fake.FailNext(meetingapitest.EndpointLock, 20, 500, "MMC.111072049")
	for range 20 {
		if err := c.Lock(t.Context(), testID, tok); !errors.Is(err, meetingapi.ErrServerTrouble) {
			t.Fatalf("err = %v, want ErrServerTrouble", err)
		}
	}

	if n := fake.Connections(); n > 2 {
		t.Errorf("the fake accepted %d connections for 221 sequential calls, want at most 2", n)
	}
}

func TestTheDefaultClientVerifiesTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the request reached a server with an untrusted certificate")
	}))
	t.Cleanup(srv.Close)
	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}

	_, err = c.ControlToken(t.Context(), testID, testPassword)

	var ce *tls.CertificateVerificationError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a certificate verification error", err)
	}
	if meetingapi.Retryable(err) {
		t.Error("an untrusted certificate is not retryable")
	}
}
