package meetingapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
	maxBodyRead  = 64 << 10  // bytes of a response body we look at
	maxBodyDrain = 256 << 10 // bytes we are willing to discard to reuse a connection
	maxMessage   = 200       // runes of error_msg kept
	maxSnippet   = 120       // runes of a non-JSON error body kept

	headerConfAuth = "X-Conference-Authorization"
)

// Client calls the meeting-control API. It is safe for concurrent use and
// reuses connections; build one with [NewClient] and share it.
type Client struct {
	base      *url.URL // always ends in "/"
	http      *http.Client
	userAgent string
	log       zerolog.Logger
	now       func() time.Time
	retry     RetryPolicy
	breaker   *breaker                                     // nil: disabled
	observe   func(op string, status int, d time.Duration) // nil: none

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

// WithObserver calls observe once per HTTP attempt, retries included, for
// metrics: op is one of the Op* constants (never a conference ID or a
// secret), status the HTTP status or 0 when no answer came (a transport
// failure or timeout), and d how long the attempt took. A call refused by
// the circuit breaker sends nothing and is not observed. observe runs on the
// calling goroutine and must be quick and safe for concurrent use.
func WithObserver(observe func(op string, status int, d time.Duration)) Option {
	return func(c *Client) error {
		c.observe = observe
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
	return c, nil
}

// BaseURL returns the base URL the client calls, ending in "/".
func (c *Client) BaseURL() string { return c.base.String() }

func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// One host, and as many commands in flight as people act at once:
	// keep a connection alive for each rather than dialling again.
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 64
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
	WSURL     string        // data.wsURL: where the meeting's event socket is ([Client.Watch]), "" if not given
	OrgID     string        // data.orgID: the host's organisation, to tell strangers ([Participant.Stranger])
	UserID    string        // data.userID: the user who scheduled the meeting
}

// ControlToken gets a control token with the host password:
// GET /v1/mmc/control/conferences/token. It works only while the meeting is
// in progress.
func (c *Client) ControlToken(ctx context.Context, id ConferenceID, pw Password) (ControlToken, error) {
	return c.token(ctx, OpToken, id, "X-Password", pw.Reveal())
}

// KeepAlive refreshes a live control token without the password: the same
// GET with X-Conference-Authorization. The answer is a new token with a new
// expiry.
func (c *Client) KeepAlive(ctx context.Context, id ConferenceID, tok Token) (ControlToken, error) {
	return c.token(ctx, OpKeepAlive, id, headerConfAuth, tok.Reveal())
}

type tokenResponse struct {
	Data struct {
		Token               string  `json:"token"`
		ExpireTime          jsonInt `json:"expireTime"`
		ConfTokenExpireTime jsonInt `json:"confTokenExpireTime"`
		Role                jsonInt `json:"role"`
		WSURL               string  `json:"wsURL"`
		OrgID               string  `json:"orgID"`
		UserID              string  `json:"userID"`
	} `json:"data"`
}

func (c *Client) token(ctx context.Context, op string, id ConferenceID, header, secret string) (ControlToken, error) {
	r := &request{
		op: op, method: http.MethodGet, path: tokenPath, id: id,
		credHeader: header, secret: secret,
		header: http.Header{"X-Login-Type": {"1"}},
	}
	var tr tokenResponse
	if err := c.do(ctx, r, &tr); err != nil {
		return ControlToken{}, err
	}
	tok := tr.Data.Token
	if !usableToken(tok) {
		return ControlToken{}, fmt.Errorf("meetingapi: %s %s: %w: the answer has no usable token", opText(op), id, ErrUnexpectedResponse)
	}
	ct := ControlToken{
		Token: Token(tok), Role: int(tr.Data.Role),
		WSURL: sanitize(tr.Data.WSURL, 2048), OrgID: sanitize(tr.Data.OrgID, 128), UserID: sanitize(tr.Data.UserID, 128),
	}
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

// usableToken reports whether a token from an answer can go into a header.
func usableToken(tok string) bool {
	return tok != "" && len(tok) <= 4096 && !strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// request is one call: what goes on the wire and how it may be retried.
// Build it with [Client.newRequest] (or a literal for the token GET) and
// send it with [Client.do].
type request struct {
	op     string       // an Op* constant: metrics, logs and (through opText) errors
	method string       // http.Method*
	path   string       // below the base URL, no leading slash
	id     ConferenceID // the conferenceID query parameter, always first
	query  url.Values   // more query parameters, or nil
	header http.Header  // more headers, or nil

	credHeader string // the header that carries secret
	secret     string // the control token or host password: sent, never shown

	body    []byte // the JSON body; nil sends none
	bodyErr error  // from withJSON

	// once marks a call that is not idempotent: it is retried only when it
	// cannot have been applied (flow control, or no connection was made),
	// and each attempt may use the caller's whole deadline.
	once bool
}

// newRequest is a conference-control call authorised by a control token.
func (c *Client) newRequest(op, method, path string, id ConferenceID, tok Token) *request {
	return &request{op: op, method: method, path: path, id: id, credHeader: headerConfAuth, secret: tok.Reveal()}
}

// withJSON sets the body to v encoded as JSON.
func (r *request) withJSON(v any) *request {
	r.body, r.bodyErr = json.Marshal(v)
	return r
}

// withQuery adds a query parameter after conferenceID.
func (r *request) withQuery(k, v string) *request {
	if r.query == nil {
		r.query = url.Values{}
	}
	r.query.Set(k, v)
	return r
}

// notIdempotent marks the call as one that must not be repeated once it
// may have been applied.
func (r *request) notIdempotent() *request {
	r.once = true
	return r
}

// do sends r (with the retry policy and the circuit breaker) and decodes a
// 2xx answer into out, unless out is nil. Errors are an *APIError, a
// wrapped transport error, a *CircuitOpenError, or an input or decoding
// error; none holds the secret or the answer's body.
func (c *Client) do(ctx context.Context, r *request, out any) error {
	if err := c.check(r); err != nil {
		return err
	}
	if r.bodyErr != nil {
		return fmt.Errorf("meetingapi: %s %s: encoding the body: %w", opText(r.op), r.id, r.bodyErr)
	}
	u := c.base.ResolveReference(&url.URL{Path: r.path}).String() + "?conferenceID=" + string(r.id)
	if len(r.query) > 0 {
		u += "&" + r.query.Encode()
	}
	body, err := c.call(ctx, r, out != nil, func(ctx context.Context) (*http.Request, error) {
		// A new request and body reader per attempt, so every retry sends
		// the whole body.
		var rd io.Reader
		if r.body != nil {
			rd = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
		if err != nil {
			return nil, err
		}
		req.ContentLength = int64(len(r.body))
		req.Header["Content-Type"] = []string{"application/json"}
		req.Header["Accept"] = []string{"application/json"}
		req.Header["User-Agent"] = []string{c.userAgent}
		for k, vs := range r.header {
			req.Header[k] = vs
		}
		req.Header[r.credHeader] = []string{r.secret}
		return req, nil
	})
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		// The JSON error may quote the body, which can hold a token: leave it out.
		return fmt.Errorf("meetingapi: %s %s: %w: the answer is not the expected JSON", opText(r.op), r.id, ErrUnexpectedResponse)
	}
	return nil
}

// check refuses what must never reach the wire. Its errors name neither the
// secret nor a malformed ID.
func (c *Client) check(r *request) error {
	if err := r.id.Validate(); err != nil {
		return fmt.Errorf("meetingapi: %s: %w", opText(r.op), err)
	}
	what := "control token"
	if r.credHeader == "X-Password" {
		what = "host password"
	}
	if r.secret == "" {
		return fmt.Errorf("meetingapi: %s %s: the %s is empty", opText(r.op), r.id, what)
	}
	if strings.ContainsFunc(r.secret, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("meetingapi: %s %s: the %s holds control characters", opText(r.op), r.id, what)
	}
	return nil
}

// roundTrip sends req, attempt n of r, and returns the body of a 2xx answer
// (only when wantBody), or an *APIError, or a wrapped transport error. It
// always drains and closes the body so the connection goes back to the
// pool, and reports the attempt to the observer.
func (c *Client) roundTrip(req *http.Request, r *request, wantBody bool, n int) ([]byte, error) {
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		d := time.Since(start)
		c.observed(r.op, 0, d)
		c.log.Debug().Str("op", r.op).Str("conference_id", string(r.id)).Int("attempt", n).
			Dur("duration", d).Str("error", redactTransport(err.Error(), r.secret)).Msg("meeting API call failed")
		return nil, newTransportError(r, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyDrain))
		_ = resp.Body.Close()
	}()
	reqID := sanitize(redactTransport(resp.Header.Get("X-Request-Id"), r.secret), 100)
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	var body []byte
	if wantBody || !ok {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyRead))
	}
	d := time.Since(start)
	c.observed(r.op, resp.StatusCode, d)
	c.log.Debug().Str("op", r.op).Str("conference_id", string(r.id)).Int("attempt", n).Int("status", resp.StatusCode).
		Str("request_id", reqID).Dur("duration", d).Msg("meeting API call")
	if err != nil && ok {
		return nil, newTransportError(r, err)
	}
	if ok {
		return body, nil
	}
	ae := newAPIError(r, resp.StatusCode, reqID, body)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		ae.retryAfter = parseRetryAfter(ra, time.Now())
	}
	return nil, ae
}

func (c *Client) observed(op string, status int, d time.Duration) {
	if c.observe != nil {
		c.observe(op, status, d)
	}
}

func newAPIError(r *request, status int, reqID string, body []byte) *APIError {
	e := &APIError{Op: opText(r.op), ConferenceID: r.id, StatusCode: status, RequestID: reqID, once: r.once}
	var eb struct {
		Code    json.RawMessage `json:"error_code"`
		Message string          `json:"error_msg"`
	}
	if err := json.Unmarshal(body, &eb); err == nil && (len(eb.Code) > 0 || eb.Message != "") {
		e.Code = sanitize(redactTransport(rawString(eb.Code), r.secret), 64)
		e.Message = sanitize(redact(eb.Message, r.secret), maxMessage)
	} else {
		e.Message = sanitize(redact(string(body), r.secret), maxSnippet)
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

// minReplaceLen is the shortest secret that redact replaces in place.
// Replacing a shorter one would give it away: "conference 9[redacted]4083"
// next to a known conference ID spells the secret out, and a one-character
// secret would turn every occurrence of a common character into a marker.
const minReplaceLen = 8

// withheld stands in for a vendor message that held a short secret.
const withheld = "[message withheld: it may contain a secret]"

// redact makes text that came from the server (error_msg, a body snippet)
// safe to show when it may echo a secret: a long secret is replaced by
// "[redacted]"; if a short one appears anywhere, the whole text is
// withheld. An empty secret changes nothing.
func redact(s, secret string) string {
	switch {
	case secret == "" || !strings.Contains(s, secret):
		return s
	case len(secret) < minReplaceLen:
		return withheld
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// redactTransport redacts text that the client's own stack wrote (Go's
// transport errors) or that identifies an answer (error_code, X-Request-Id).
// Go's HTTP client never puts header values (where secrets travel) in an
// error, so only a long secret is replaced: a short one would match digits
// of the conference ID or an address by chance, and withholding the text
// would hide what failed.
func redactTransport(s, secret string) string {
	if len(secret) < minReplaceLen {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// transportError is a failure below HTTP: it reads
// "meetingapi: lock 914083136: Put "…": dial tcp …" and unwraps to the cause.
// It keeps no secret, not even to redact it later: %#v prints every field.
type transportError struct {
	msg      string
	err      error
	attempts int
	once     bool // the call is not idempotent
	unsent   bool // no connection was made, so nothing reached the server
}

func newTransportError(r *request, err error) error {
	return &transportError{
		msg: "meetingapi: " + opText(r.op) + " " + string(r.id) + ": " + redactTransport(err.Error(), r.secret),
		err: err, once: r.once, unsent: unsent(err),
	}
}

func (e *transportError) Error() string {
	if e.attempts > 1 {
		return e.msg + " (after " + strconv.Itoa(e.attempts) + " attempts)"
	}
	return e.msg
}

func (e *transportError) Unwrap() error { return e.err }

// unsent reports whether a transport error happened before the request
// could reach the server: the connection was never made. (Go's transport
// itself resends a request it had not started writing on a connection the
// server closed, idempotent or not.)
func unsent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

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
