package meetingapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// DefaultBaseURL is the Huawei Cloud Meeting API of the China site. The
// international site is https://api-intl.meeting.huaweicloud.com.
const DefaultBaseURL = "https://api.meeting.huaweicloud.com"

// DefaultUserAgent is sent unless [WithUserAgent] says otherwise.
const DefaultUserAgent = "meetingbot/dev"

// DefaultTokenLifetime is how long a control token lives when the answer
// does not say.
const DefaultTokenLifetime = 30 * time.Minute

const (
	tokenPath = "v1/mmc/control/conferences/token"
	lockPath  = "v1/mmc/control/conferences/lock"

	maxBodyRead  = 64 << 10  // bytes of a response body we look at
	maxBodyDrain = 256 << 10 // bytes we are willing to discard to reuse a connection
	maxMessage   = 200       // runes of error_msg kept
	maxSnippet   = 120       // runes of a non-JSON error body kept

	opToken     = "control token"
	opKeepAlive = "keep-alive"
	opLock      = "lock"
	opUnlock    = "unlock"
)

// Client calls the meeting-control API. It is safe for concurrent use and
// reuses connections; build one with [NewClient] and share it.
type Client struct {
	base      *url.URL // always ends in "/"
	tokenURL  string   // base + tokenPath + "?conferenceID="
	lockURL   string   // base + lockPath + "?conferenceID="
	http      *http.Client
	userAgent string
	log       zerolog.Logger
	now       func() time.Time
	retry     RetryPolicy
	breaker   *breaker // nil: disabled

	// Test hooks (set through export_test.go): how backoff waits and how
	// it draws its jitter.
	sleep  func(context.Context, time.Duration) error
	jitter func(max time.Duration) time.Duration
}

// Option configures a [Client].
type Option func(*Client) error

// WithBaseURL sets the API base: an absolute http or https URL without
// credentials, query or fragment. A path is kept, so
// "http://127.0.0.1:1234/prefix" calls "/prefix/v1/mmc/…"; a trailing slash
// is optional.
func WithBaseURL(u string) Option {
	return func(c *Client) error {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil {
			return errors.New("meetingapi: base URL does not parse")
		}
		switch {
		case p.Scheme != "http" && p.Scheme != "https":
			return errors.New("meetingapi: base URL must start with http:// or https://")
		case p.Host == "":
			return errors.New("meetingapi: base URL has no host")
		case p.User != nil:
			return errors.New("meetingapi: base URL must not hold credentials")
		case p.RawQuery != "" || p.ForceQuery || p.Fragment != "":
			return errors.New("meetingapi: base URL must not have a query or fragment")
		}
		if !strings.HasSuffix(p.Path, "/") {
			p.Path += "/"
			if p.RawPath != "" {
				p.RawPath += "/"
			}
		}
		c.base = p
		return nil
	}
}

// WithHTTPClient sets the HTTP client. The Client uses a shallow copy that
// never follows redirects, so the secret headers cannot be forwarded to
// another host.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) error {
		if h == nil {
			return errors.New("meetingapi: nil HTTP client")
		}
		c.http = h
		return nil
	}
}

// WithUserAgent sets the User-Agent header (default [DefaultUserAgent]).
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		if ua == "" || strings.ContainsAny(ua, "\r\n") {
			return errors.New("meetingapi: user agent must be one non-empty line")
		}
		c.userAgent = ua
		return nil
	}
}

// WithLogger logs one debug line per attempt (op, conference ID, attempt,
// status, request ID and duration), one per retry (op, conference ID,
// attempt, delay, status and code), and the circuit breaker opening (warn)
// and closing (info). It never logs secrets.
func WithLogger(l zerolog.Logger) Option {
	return func(c *Client) error {
		c.log = l
		return nil
	}
}

// NewClient returns a Client for [DefaultBaseURL], a 10-second timeout, a
// connection pool, verified TLS, [DefaultRetryPolicy] and a circuit breaker
// ([DefaultBreakerThreshold], [DefaultBreakerCooldown]), changed by opts.
func NewClient(opts ...Option) (*Client, error) {
	c := &Client{
		userAgent: DefaultUserAgent, log: zerolog.Nop(), now: time.Now,
		retry:   DefaultRetryPolicy,
		breaker: &breaker{threshold: DefaultBreakerThreshold, cooldown: DefaultBreakerCooldown},
		sleep:   sleepCtx, jitter: jitter,
	}
	if err := WithBaseURL(DefaultBaseURL)(c); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.http == nil {
		c.http = defaultHTTPClient()
	}
	hc := *c.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	if c.breaker != nil {
		c.breaker.now, c.breaker.log = c.now, c.log
	}
	c.tokenURL = c.base.ResolveReference(&url.URL{Path: tokenPath}).String() + "?conferenceID="
	c.lockURL = c.base.ResolveReference(&url.URL{Path: lockPath}).String() + "?conferenceID="
	return c, nil
}

// BaseURL returns the base URL the client calls, ending in "/".
func (c *Client) BaseURL() string { return c.base.String() }

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	t.DisableKeepAlives = false
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}

// ControlToken is a meeting control token and when it stops working.
type ControlToken struct {
	Token     Token         // the token; printing it shows only its last four characters
	ExpiresAt time.Time     // from data.expireTime
	Lifetime  time.Duration // from data.confTokenExpireTime
	Role      int           // data.role (1: chair)
}

// ControlToken gets a control token with the host password:
// GET /v1/mmc/control/conferences/token. It works only while the meeting is
// in progress.
func (c *Client) ControlToken(ctx context.Context, id ConferenceID, pw Password) (ControlToken, error) {
	return c.token(ctx, opToken, id, "X-Password", pw.Reveal())
}

// KeepAlive refreshes a live control token without the password: the same
// GET with X-Conference-Authorization. The answer is a new token with a new
// expiry.
func (c *Client) KeepAlive(ctx context.Context, id ConferenceID, tok Token) (ControlToken, error) {
	return c.token(ctx, opKeepAlive, id, "X-Conference-Authorization", tok.Reveal())
}

// SetLock locks (locked true) or unlocks the meeting:
// PUT /v1/mmc/control/conferences/lock with {"isLock":1} or {"isLock":0}.
// Locking is idempotent.
func (c *Client) SetLock(ctx context.Context, id ConferenceID, tok Token, locked bool) error {
	op, body := opUnlock, bodyUnlock
	if locked {
		op, body = opLock, bodyLock
	}
	secret := tok.Reveal()
	if err := c.check(op, id, secret); err != nil {
		return err
	}
	u := c.lockURL + string(id)
	_, err := c.call(ctx, op, id, secret, false, func(ctx context.Context) (*http.Request, error) {
		// A new request and body reader per attempt, so every retry sends
		// the whole body.
		req, err := c.newRequest(ctx, http.MethodPut, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.ContentLength = int64(len(body))
		req.Header["X-Conference-Authorization"] = []string{secret}
		return req, nil
	})
	return err
}

var (
	bodyLock   = []byte(`{"isLock":1}`)
	bodyUnlock = []byte(`{"isLock":0}`)
)

// Lock locks the meeting so nobody else can join. See [Client.SetLock].
func (c *Client) Lock(ctx context.Context, id ConferenceID, tok Token) error {
	return c.SetLock(ctx, id, tok, true)
}

// Unlock unlocks the meeting. See [Client.SetLock].
func (c *Client) Unlock(ctx context.Context, id ConferenceID, tok Token) error {
	return c.SetLock(ctx, id, tok, false)
}

type tokenResponse struct {
	Data struct {
		Token               string  `json:"token"`
		ExpireTime          jsonInt `json:"expireTime"`
		ConfTokenExpireTime jsonInt `json:"confTokenExpireTime"`
		Role                jsonInt `json:"role"`
	} `json:"data"`
}

func (c *Client) token(ctx context.Context, op string, id ConferenceID, header, secret string) (ControlToken, error) {
	if err := c.check(op, id, secret); err != nil {
		return ControlToken{}, err
	}
	u := c.tokenURL + string(id)
	body, err := c.call(ctx, op, id, secret, true, func(ctx context.Context) (*http.Request, error) {
		req, err := c.newRequest(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header[header] = []string{secret}
		req.Header["X-Login-Type"] = []string{"1"}
		return req, nil
	})
	if err != nil {
		return ControlToken{}, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		// The JSON error may quote the body, which holds the token: leave it out.
		return ControlToken{}, fmt.Errorf("meetingapi: %s %s: %w: the answer is not the expected JSON", op, id, ErrUnexpectedResponse)
	}
	tok := tr.Data.Token
	if tok == "" || len(tok) > 4096 || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return ControlToken{}, fmt.Errorf("meetingapi: %s %s: %w: the answer has no usable token", op, id, ErrUnexpectedResponse)
	}
	ct := ControlToken{Token: Token(tok), Role: int(tr.Data.Role)}
	if s := int64(tr.Data.ConfTokenExpireTime); s > 0 {
		ct.Lifetime = time.Duration(s) * time.Second
	}
	if ms := int64(tr.Data.ExpireTime); ms > 0 {
		ct.ExpiresAt = time.UnixMilli(ms)
	}
	switch {
	case ct.ExpiresAt.IsZero() && ct.Lifetime == 0:
		ct.Lifetime = DefaultTokenLifetime
		ct.ExpiresAt = c.now().Add(ct.Lifetime)
	case ct.ExpiresAt.IsZero():
		ct.ExpiresAt = c.now().Add(ct.Lifetime)
	case ct.Lifetime == 0:
		ct.Lifetime = DefaultTokenLifetime
	}
	return ct, nil
}

// check refuses what must never reach the wire. Its errors name neither the
// secret nor a malformed ID.
func (c *Client) check(op string, id ConferenceID, secret string) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("meetingapi: %s: %w", op, err)
	}
	what := "control token"
	if op == opToken {
		what = "host password"
	}
	if secret == "" {
		return fmt.Errorf("meetingapi: %s %s: the %s is empty", op, id, what)
	}
	if strings.ContainsFunc(secret, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("meetingapi: %s %s: the %s holds control characters", op, id, what)
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Accept"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{c.userAgent}
	return req, nil
}

// do sends req, attempt n of a call, and returns the body of a 2xx answer
// (only when wantBody), or an *APIError, or a wrapped transport error. It
// always drains and closes the body so the connection goes back to the pool.
func (c *Client) do(req *http.Request, op string, id ConferenceID, secret string, wantBody bool, n int) ([]byte, error) {
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.Debug().Str("op", op).Str("conference_id", string(id)).Int("attempt", n).
			Dur("duration", time.Since(start)).Str("error", redact(err.Error(), secret)).Msg("meeting API call failed")
		return nil, newTransportError(op, id, err, secret)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyDrain))
		_ = resp.Body.Close()
	}()
	reqID := sanitize(resp.Header.Get("X-Request-Id"), 100)
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	var body []byte
	if wantBody || !ok {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	}
	c.log.Debug().Str("op", op).Str("conference_id", string(id)).Int("attempt", n).Int("status", resp.StatusCode).
		Str("request_id", reqID).Dur("duration", time.Since(start)).Msg("meeting API call")
	if err != nil && ok {
		return nil, newTransportError(op, id, err, secret)
	}
	if ok {
		return body, nil
	}
	ae := newAPIError(op, id, resp.StatusCode, reqID, body, secret)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		ae.retryAfter = parseRetryAfter(ra, time.Now())
	}
	return nil, ae
}

func newAPIError(op string, id ConferenceID, status int, reqID string, body []byte, secret string) *APIError {
	e := &APIError{Op: op, ConferenceID: id, StatusCode: status, RequestID: reqID}
	var eb struct {
		Code    json.RawMessage `json:"error_code"`
		Message string          `json:"error_msg"`
	}
	if err := json.Unmarshal(body, &eb); err == nil && (len(eb.Code) > 0 || eb.Message != "") {
		e.Code = sanitize(rawString(eb.Code), 64)
		e.Message = sanitize(redact(eb.Message, secret), maxMessage)
	} else {
		e.Message = sanitize(redact(string(body), secret), maxSnippet)
	}
	return e
}

// rawString reads error_code whether the server sent it as a string or a
// number ("100000429" or 100000429).
func rawString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// redact removes a secret that a server or proxy might echo back.
func redact(s, secret string) string {
	if len(secret) >= 4 && strings.Contains(s, secret) {
		return strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// transportError is a failure below HTTP: it reads
// "meetingapi: lock 914083136: Put "…": dial tcp …" and unwraps to the cause.
// It keeps no secret, not even to redact it later: %#v prints every field.
type transportError struct {
	msg      string
	err      error
	attempts int
}

func newTransportError(op string, id ConferenceID, err error, secret string) error {
	return &transportError{msg: "meetingapi: " + op + " " + string(id) + ": " + redact(err.Error(), secret), err: err}
}

func (e *transportError) Error() string {
	if e.attempts > 1 {
		return e.msg + " (after " + strconv.Itoa(e.attempts) + " attempts)"
	}
	return e.msg
}

func (e *transportError) Unwrap() error { return e.err }

// jsonInt accepts a JSON number or a number in a string.
type jsonInt int64

func (n *jsonInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return err
		}
		v = int64(f)
	}
	*n = jsonInt(v)
	return nil
}
