package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/meetingbot/meetingbot/store"
)

// checksFailed is doctor's error: some checks failed (exit status 1).
type checksFailed struct{ failed, total int }

func (e checksFailed) Error() string {
	return fmt.Sprintf("%d of %d checks failed; fix what the lines marked ✗ say and run meetingbot doctor again", e.failed, e.total)
}

// doctor checks what `run` needs, one line per check, and never prints a
// secret: both Slack tokens and their scopes, the database (open, migrate,
// key), and the meeting API (reachable, TLS, the vendor's answers).
func doctor(ctx context.Context, stdout io.Writer) error {
	c, err := loadConfig(true)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: slackCallTimeout}
	checks := []func() check{
		func() check { return checkBotToken(ctx, hc, c.SlackAPIURL.withSlash(), c.SlackBotToken) },
		func() check { return checkAppToken(ctx, hc, c.SlackAPIURL.withSlash(), c.SlackAppToken) },
		func() check { return checkDatabase(ctx, c) },
		func() check { return checkMeetingAPI(ctx, meetingAPIHTTPClient(), string(c.MeetingAPIURL)) },
	}
	failed := 0
	for _, run := range checks {
		ch := run()
		mark := "✓"
		if !ch.OK {
			mark = "✗"
			failed++
		}
		if _, err := fmt.Fprintf(stdout, "%s %s %s\n", mark, ch.Name, ch.Detail); err != nil {
			return err
		}
	}
	if failed > 0 {
		return checksFailed{failed, len(checks)}
	}
	_, err = fmt.Fprintf(stdout, "All %d checks passed: `meetingbot run` has what it needs.\n", len(checks))
	return err
}

// checkDatabase opens the database as `run` does: it is created if
// missing, migrated, and the key checked against it.
func checkDatabase(ctx context.Context, c config) check {
	_, statErr := os.Stat(string(c.DB))
	st, err := openStore(ctx, c)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			return check{Name: ce.Var, Detail: ce.Problem, Settings: !ce.Transient}
		}
		return check{Name: "MEETINGBOT_DB", Detail: "cannot be opened: " + cause(c.DB, err)}
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		return check{Name: "MEETINGBOT_DB", Detail: "opened, but does not answer a query: " + cause(c.DB, err)}
	}
	verb := "opened"
	if errors.Is(statErr, os.ErrNotExist) && !c.DB.postgres() {
		verb = "created"
	}
	return passed("MEETINGBOT_DB", fmt.Sprintf("%s %s (%s, migrated); MEETINGBOT_SECRET_KEY matches it (key id %s)",
		verb, c.DB, store.Kind(string(c.DB)), c.key.Fingerprint()))
}

// probeConferenceID is a well-formed conference ID that names no meeting.
// Asking for its control token without a password must get the vendor's
// error answer, which shows the URL reaches the meeting API.
const probeConferenceID = "100000000"

// meetingAPITimeout bounds the meeting API check.
const meetingAPITimeout = 10 * time.Second

// meetingAPIHTTPClient verifies certificates and requires TLS 1.2, as the
// bot's meeting API client does.
func meetingAPIHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t, Timeout: meetingAPITimeout}
}

// checkMeetingAPI asks for a control token of a meeting that does not
// exist, without a password. The vendor answers a 4xx with a JSON body
// holding error_code and error_msg; anything else means MEETING_API_URL
// does not reach the meeting API.
func checkMeetingAPI(ctx context.Context, hc *http.Client, base string) check {
	const name = "MEETING_API_URL"
	bad := func(detail string) check { return settingsFault(name, detail) }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		strings.TrimRight(base, "/")+"/v1/mmc/control/conferences/token?conferenceID="+probeConferenceID, nil)
	if err != nil {
		return bad("is not a usable URL")
	}
	req.Header.Set("X-Login-Type", "1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "meetingbot/"+version+" (doctor)")
	resp, err := hc.Do(req)
	if err != nil {
		return transportFault(name, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))

	var vendor struct {
		Code    json.RawMessage `json:"error_code"`
		Message string          `json:"error_msg"`
	}
	shaped := json.Unmarshal(body, &vendor) == nil && len(vendor.Code) > 0 && string(vendor.Code) != `""` &&
		string(vendor.Code) != "null" && vendor.Message != ""
	code := strings.Trim(string(vendor.Code), `"`)
	if len(code) > 40 {
		code = code[:40] + "…"
	}
	transport := "TLS verified"
	if resp.TLS == nil {
		transport = "plain HTTP, no TLS: use https:// outside tests"
	}
	switch {
	case shaped && resp.StatusCode == http.StatusNotFound:
		return bad(fmt.Sprintf("reaches the vendor's gateway, but it has no control-token endpoint there (HTTP 404 %s); check the URL's path (the default is https://api.meeting.huaweicloud.com)", code))
	case shaped && resp.StatusCode >= 400 && resp.StatusCode < 500:
		return passed(name, fmt.Sprintf("%s answers in the vendor's error shape (HTTP %d %s for a meeting that does not exist); %s", req.URL.Host, resp.StatusCode, code, transport))
	case shaped && resp.StatusCode >= 500:
		return transientFault(name, fmt.Sprintf("%s has trouble now (HTTP %d %s); try again later", req.URL.Host, resp.StatusCode, code))
	case resp.StatusCode < 300:
		return bad(fmt.Sprintf("%s gave a control token without a password (HTTP %d): that is not the vendor's meeting API; unset MEETING_API_URL for the default", req.URL.Host, resp.StatusCode))
	}
	return bad(fmt.Sprintf("%s answered HTTP %d, but not in the vendor's error shape ({\"error_code\",\"error_msg\"}): it is not the meeting API; unset MEETING_API_URL for the default (https://api.meeting.huaweicloud.com)", req.URL.Host, resp.StatusCode))
}

// transportFault explains a request to u that got no answer.
func transportFault(name string, u *url.URL, err error) check {
	detail, settings := reachProblem(u, err)
	return check{Name: name, Detail: detail, Settings: settings}
}

// reachProblem says why a request to u got no answer, and whether only a
// change of settings (or of this machine's trust store) can fix it.
func reachProblem(u *url.URL, err error) (string, bool) {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var dnsErr *net.DNSError
	var tlsRecord tls.RecordHeaderError
	switch {
	case errors.As(err, &unknownCA):
		return u.Host + " presents a certificate from an authority this system does not trust; install the CA certificates (a proxy that intercepts TLS needs its CA installed)", true
	case errors.As(err, &hostname):
		return u.Host + " presents a certificate for another host name; check the host in the URL", true
	case errors.As(err, &invalid):
		return u.Host + " presents an invalid certificate (expired or not yet valid: check this machine's clock)", true
	case errors.As(err, &tlsRecord):
		return u.Host + " does not speak TLS on that port; check the scheme (https://) and the port", true
	case errors.As(err, &dnsErr):
		return "the host name " + u.Hostname() + " does not resolve; check the URL and this machine's DNS", false
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing accepts connections at " + u.Host + " (connection refused); check the URL, a firewall or a proxy", false
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return u.Host + " did not answer in time; check the network path (firewall, proxy: HTTPS_PROXY)", false
	}
	return u.Host + " could not be reached: " + withoutURL(err), false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
