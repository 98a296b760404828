package meetingapitest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

const (
	id = "914083136"
	pw = "host-pw"
)

type response struct {
	status int
	header http.Header
	body   []byte
	code   string // error_code
	msg    string // error_msg
	token  string // data.token
}

type req struct {
	method  string
	path    string // relative to the base URL; default the token endpoint
	query   string // default "conferenceID=" + id
	headers map[string]string
	body    string
}

func newFake(t *testing.T, opts ...meetingapitest.Option) *meetingapitest.Server {
	t.Helper()
	s := meetingapitest.NewServer(append([]meetingapitest.Option{meetingapitest.WithBasePath("/mmc-prefix/")}, opts...)...)
	t.Cleanup(s.Close)
	s.AddMeeting(id, pw, meetingapitest.InProgress)
	return s
}

func send(t *testing.T, s *meetingapitest.Server, r req) response {
	t.Helper()
	resp, err := sendCtx(t.Context(), s, r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return resp
}

func sendCtx(ctx context.Context, s *meetingapitest.Server, r req) (response, error) {
	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.path == "" {
		r.path = meetingapitest.TokenPath
	}
	if r.query == "" {
		r.query = "conferenceID=" + id
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, s.URL+r.path+"?"+r.query, strings.NewReader(r.body))
	if err != nil {
		return response{}, err
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	out.body, _ = io.ReadAll(resp.Body)
	var parsed struct {
		Code string `json:"error_code"`
		Msg  string `json:"error_msg"`
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	_ = json.Unmarshal(out.body, &parsed)
	out.code, out.msg, out.token = parsed.Code, parsed.Msg, parsed.Data.Token
	return out, nil
}

func getToken(t *testing.T, s *meetingapitest.Server) string {
	t.Helper()
	r := send(t, s, req{headers: map[string]string{"X-Password": pw, "X-Login-Type": "1"}})
	if r.status != 200 || r.token == "" {
		t.Fatalf("token: HTTP %d %s", r.status, r.body)
	}
	return r.token
}

func lock(tok string, body string) req {
	return req{method: http.MethodPut, path: meetingapitest.LockPath, body: body, headers: map[string]string{
		"X-Conference-Authorization": tok, "Content-Type": "application/json",
	}}
}

func TestTheTokenResponseHasTheVendorsShape(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newFake(t, meetingapitest.WithClock(func() time.Time { return now }), meetingapitest.WithTokenLifetime(10*time.Minute))

	r := send(t, s, req{headers: map[string]string{"X-Password": pw, "X-Login-Type": "1"}})

	if r.status != 200 {
		t.Fatalf("HTTP %d: %s", r.status, r.body)
	}
	var body struct {
		Data struct {
			Token               string `json:"token"`
			ExpireTime          int64  `json:"expireTime"`
			ConfTokenExpireTime int64  `json:"confTokenExpireTime"`
			Role                int    `json:"role"`
		} `json:"data"`
		AddressToken   string `json:"addressToken"`
		GloablPublicIP string `json:"gloablPublicIP"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Data.Token) != 48 || body.Data.ExpireTime != now.Add(10*time.Minute).UnixMilli() ||
		body.Data.ConfTokenExpireTime != 600 || body.Data.Role != 1 || body.AddressToken == "" || body.GloablPublicIP == "" {
		t.Errorf("token body = %s", r.body)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") || !strings.HasSuffix(s.URL, "/mmc-prefix") {
		t.Errorf("URL = %q, want loopback with the base path and no trailing slash", s.URL)
	}
	if s.TokensIssued() != 1 {
		t.Errorf("TokensIssued = %d", s.TokensIssued())
	}
}

func TestTheFakeAnswersLikeTheVendor(t *testing.T) {
	t.Parallel()
	tokenHeaders := map[string]string{"X-Password": pw, "X-Login-Type": "1"}
	tests := []struct {
		name    string
		arrange func(*meetingapitest.Server)
		req     func(tok string) req
		status  int
		code    string
		locked  bool
	}{
		{"a token for the right password", nil, func(string) req { return req{headers: tokenHeaders} }, 200, "", false},
		{"a wrong password is MMC.111072065", nil, func(string) req {
			return req{headers: map[string]string{"X-Password": "nope", "X-Login-Type": "1"}}
		}, 400, "MMC.111072065", false},
		{"a missing password is MMC.111072065", nil, func(string) req {
			return req{headers: map[string]string{"X-Login-Type": "1"}}
		}, 400, "MMC.111072065", false},
		{"an unknown meeting is MMC.111070005", nil, func(string) req {
			return req{query: "conferenceID=111111111", headers: tokenHeaders}
		}, 400, "MMC.111070005", false},
		{"a token for an ended meeting is MMC.111072006",
			func(s *meetingapitest.Server) { s.SetState(id, meetingapitest.Ended) },
			func(string) req { return req{headers: tokenHeaders} }, 400, "MMC.111072006", false},
		{"a token for a meeting not started is MMC.111072005",
			func(s *meetingapitest.Server) { s.SetState(id, meetingapitest.NotStarted) },
			func(string) req { return req{headers: tokenHeaders} }, 400, "MMC.111072005", false},
		{"a token request without X-Login-Type is a bad request", nil, func(string) req {
			return req{headers: map[string]string{"X-Password": pw}}
		}, 400, meetingapitest.CodeBadRequest, false},
		{"a token request without conferenceID is a bad request", nil, func(string) req {
			return req{query: "x=1", headers: tokenHeaders}
		}, 400, meetingapitest.CodeBadRequest, false},
		{"POST to the token endpoint is 405", nil, func(string) req {
			return req{method: http.MethodPost, headers: tokenHeaders}
		}, 405, meetingapitest.CodeBadRequest, false},
		{"keep-alive with a live token needs no password", nil, func(tok string) req {
			return req{headers: map[string]string{"X-Conference-Authorization": tok, "X-Login-Type": "1"}}
		}, 200, "", false},
		{"keep-alive with an unknown token is 401", nil, func(string) req {
			return req{headers: map[string]string{"X-Conference-Authorization": "nope", "X-Login-Type": "1"}}
		}, 401, "MMC.111070004", false},
		{"keep-alive after ExpireTokens is 401",
			func(s *meetingapitest.Server) { s.ExpireTokens() },
			func(tok string) req {
				return req{headers: map[string]string{"X-Conference-Authorization": tok, "X-Login-Type": "1"}}
			}, 401, "MMC.111070004", false},
		{"lock with a raw token locks", nil, func(tok string) req { return lock(tok, `{"isLock":1}`) }, 200, "", true},
		{"lock with a Basic token locks", nil, func(tok string) req {
			return lock("Basic "+base64.StdEncoding.EncodeToString([]byte(tok)), `{"isLock":1}`)
		}, 200, "", true},
		{"unlock unlocks", nil, func(tok string) req { return lock(tok, `{"isLock":0}`) }, 200, "", false},
		{"lock with no token is 401", nil, func(string) req {
			return req{method: http.MethodPut, path: meetingapitest.LockPath, body: `{"isLock":1}`,
				headers: map[string]string{"Content-Type": "application/json"}}
		}, 401, "MMC.111070004", false},
		{"lock after ExpireTokens is 401",
			func(s *meetingapitest.Server) { s.ExpireTokens() },
			func(tok string) req { return lock(tok, `{"isLock":1}`) }, 401, "MMC.111070004", false},
		{"a token only controls its own meeting",
			func(s *meetingapitest.Server) { s.AddMeeting("222222222", "other", meetingapitest.InProgress) },
			func(tok string) req {
				r := lock(tok, `{"isLock":1}`)
				r.query = "conferenceID=222222222"
				return r
			}, 401, "MMC.111070004", false},
		{"lock on a meeting that has ended since is MMC.111072006",
			func(s *meetingapitest.Server) { s.SetState(id, meetingapitest.Ended) },
			func(tok string) req { return lock(tok, `{"isLock":1}`) }, 400, "MMC.111072006", false},
		{"GET on the lock endpoint is 405", nil, func(tok string) req {
			r := lock(tok, "")
			r.method = http.MethodGet
			return r
		}, 405, meetingapitest.CodeBadRequest, false},
		{"bad JSON is a bad request", nil, func(tok string) req { return lock(tok, `{"isLock":`) }, 400, meetingapitest.CodeBadRequest, false},
		{"two JSON objects are a bad request", nil, func(tok string) req { return lock(tok, `{"isLock":1}{}`) }, 400, meetingapitest.CodeBadRequest, false},
		{"isLock 2 is a bad request", nil, func(tok string) req { return lock(tok, `{"isLock":2}`) }, 400, meetingapitest.CodeBadRequest, false},
		{"isLock true is a bad request", nil, func(tok string) req { return lock(tok, `{"isLock":true}`) }, 400, meetingapitest.CodeBadRequest, false},
		{"a missing isLock is a bad request", nil, func(tok string) req { return lock(tok, `{}`) }, 400, meetingapitest.CodeBadRequest, false},
		{"a lock without JSON Content-Type is a bad request", nil, func(tok string) req {
			r := lock(tok, `{"isLock":1}`)
			r.headers["Content-Type"] = "text/plain"
			return r
		}, 400, meetingapitest.CodeBadRequest, false},
		{"a lock without conferenceID is a bad request", nil, func(tok string) req {
			r := lock(tok, `{"isLock":1}`)
			r.query = "x=1"
			return r
		}, 400, meetingapitest.CodeBadRequest, false},
		{"a path outside the base path is 404", nil, func(tok string) req {
			return req{path: "/../v1/mmc/control/conferences/token", headers: tokenHeaders}
		}, 404, meetingapitest.CodeNoSuchAPI, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			tok := getToken(t, s)
			if tt.arrange != nil {
				tt.arrange(s)
			}

			r := send(t, s, tt.req(tok))

			if r.status != tt.status || r.code != tt.code {
				t.Errorf("got HTTP %d %q (%s), want HTTP %d %q", r.status, r.code, r.body, tt.status, tt.code)
			}
			if tt.status != 200 && (r.code == "" || r.msg == "") {
				t.Errorf("error body %s must fill both error_code and error_msg", r.body)
			}
			if tt.status == 200 && strings.HasSuffix(tt.req(tok).path, "lock") && len(r.body) != 0 {
				t.Errorf("lock answered with body %q, want empty", r.body)
			}
			if r.header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if locked, known := s.Locked(id); locked != tt.locked || !known {
				t.Errorf("Locked = %v, %v; want %v, true", locked, known, tt.locked)
			}
		})
	}
}

func TestEveryResponseHasAUniqueRequestID(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	seen := map[string]bool{}
	for range 50 {
		rid := send(t, s, req{}).header.Get("X-Request-Id")
		if rid == "" || seen[rid] {
			t.Fatalf("request ID %q is empty or repeated", rid)
		}
		seen[rid] = true
	}
}

func TestExpiredTokensAreRefusedByTheClock(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newFake(t, meetingapitest.WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now }))
	tok := getToken(t, s)

	mu.Lock()
	now = now.Add(29 * time.Minute)
	mu.Unlock()
	if r := send(t, s, lock(tok, `{"isLock":1}`)); r.status != 200 {
		t.Fatalf("a 29-minute-old token: HTTP %d", r.status)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if r := send(t, s, lock(tok, `{"isLock":1}`)); r.status != 401 {
		t.Fatalf("a 30-minute-old token: HTTP %d, want 401", r.status)
	}
}

func TestFailNextForcesTheNextResponsesOnly(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	s.FailNext(meetingapitest.EndpointLock, 2, http.StatusTooManyRequests, "100000429")

	for i := range 2 {
		r := send(t, s, lock(tok, `{"isLock":1}`))
		if r.status != 429 || r.code != "100000429" || r.msg != "injected fault" || r.header.Get("Retry-After") != "1" {
			t.Errorf("call %d: HTTP %d %s Retry-After %q", i, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
	if locked, _ := s.Locked(id); locked {
		t.Error("an injected fault changed the lock state")
	}
	if r := send(t, s, req{headers: map[string]string{"X-Password": pw, "X-Login-Type": "1"}}); r.status != 200 {
		t.Errorf("the token endpoint was affected: HTTP %d", r.status)
	}
	if r := send(t, s, lock(tok, `{"isLock":1}`)); r.status != 200 {
		t.Errorf("the third lock: HTTP %d, want 200", r.status)
	}
	if s.CallCount(meetingapitest.EndpointLock) != 3 || s.CallCount(meetingapitest.EndpointToken) != 2 {
		t.Errorf("CallCount lock %d token %d", s.CallCount(meetingapitest.EndpointLock), s.CallCount(meetingapitest.EndpointToken))
	}
}

func TestLatencyDelaysAndHonoursCancellation(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.SetLatency(100 * time.Millisecond)

	start := time.Now()
	send(t, s, req{})
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("the answer came after %v, want at least 100ms", d)
	}

	s.SetLatency(10 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := sendCtx(ctx, s, req{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancellation took %v", d)
	}
}

func TestCallsAreRecordedAndCopied(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	send(t, s, lock(tok, `{"isLock":1}`))

	calls := s.Calls()
	if len(calls) != 2 {
		t.Fatalf("got %d calls, want 2", len(calls))
	}
	c := calls[1]
	if c.Endpoint != meetingapitest.EndpointLock || c.Method != "PUT" || c.Path != "/mmc-prefix/v1/mmc/control/conferences/lock" ||
		c.Query.Get("conferenceID") != id || c.Header.Get("X-Conference-Authorization") != tok ||
		string(c.Body) != `{"isLock":1}` || c.At.IsZero() {
		t.Errorf("call = %+v", c)
	}
	c.Body[0] = 'X'
	c.Header.Set("X-Conference-Authorization", "changed")
	if again := s.Calls()[1]; again.Body[0] != '{' || again.Header.Get("X-Conference-Authorization") != tok {
		t.Error("Calls returned the fake's own slices")
	}
	s.ResetCalls()
	if len(s.Calls()) != 0 || s.CallCount(meetingapitest.EndpointLock) != 0 {
		t.Error("ResetCalls kept calls")
	}
}

func TestTheFakeIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	var tokens []string
	for range 8 {
		tokens = append(tokens, getToken(t, s))
	}
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Go(func() {
			for j := range 20 {
				if _, err := sendCtx(t.Context(), s, lock(tok, `{"isLock":`+string(rune('0'+(i+j)%2))+`}`)); err != nil {
					t.Error(err)
					return
				}
				s.Locked(id)
				s.Calls()
				s.Connections()
			}
		})
	}
	wg.Wait()
	if got := s.CallCount(meetingapitest.EndpointLock); got != 160 {
		t.Errorf("CallCount = %d, want 160", got)
	}
	if s.Connections() == 0 {
		t.Error("Connections = 0")
	}
}

func TestLockedReportsUnknownMeetings(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	if locked, known := s.Locked("999999"); locked || known {
		t.Errorf("Locked(unknown) = %v, %v", locked, known)
	}
	s.SetState("999999", meetingapitest.Ended) // ignored, no panic
	if meetingapitest.Ended.String() != "ended" {
		t.Error("State.String")
	}
}
