package meetingapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

func TestSecretsPrintRedacted(t *testing.T) {
	t.Parallel()
	long := meetingapi.Token("abcdefghijklmnop0123456789wxyz")
	short := meetingapi.Token("abc123")
	pw := meetingapi.Password("hunter2-hunter2")
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"a password with %v", fmt.Sprintf("%v", pw), "[redacted]"},
		{"a password with %s", fmt.Sprintf("%s", pw), "[redacted]"},
		{"a password with %+v", fmt.Sprintf("%+v", pw), "[redacted]"},
		{"a password with %q", fmt.Sprintf("%q", pw), `"[redacted]"`},
		{"a password with %#v", fmt.Sprintf("%#v", pw), `domain.Password("[redacted]")`},
		{"a password with %x", fmt.Sprintf("%x", pw), "[redacted]"},
		{"a password's String", pw.String(), "[redacted]"},
		{"a password's GoString", pw.GoString(), `domain.Password("[redacted]")`},
		{"a long token with %v shows its last four", fmt.Sprintf("%v", long), "****wxyz"},
		{"a long token with %s", fmt.Sprintf("%s", long), "****wxyz"},
		{"a long token with %q", fmt.Sprintf("%q", long), `"****wxyz"`},
		{"a long token with %#v", fmt.Sprintf("%#v", long), `domain.Token("****wxyz")`},
		{"a short token shows nothing", fmt.Sprintf("%v", short), "****"},
		{"a token's GoString", long.GoString(), `domain.Token("****wxyz")`},
		{"a pointer to a token", fmt.Sprintf("%v", &long), "****wxyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestSecretsMarshalRedacted(t *testing.T) {
	t.Parallel()
	v := map[string]any{
		"pw":  meetingapi.Password("hunter2-hunter2"),
		"tok": meetingapi.Token("abcdefghijklmnop0123456789wxyz"),
		"ct":  meetingapi.ControlToken{Token: "abcdefghijklmnop0123456789wxyz"},
		"in":  []any{meetingapi.Token("abcdefghijklmnop0123456789wxyz"), &struct{ P meetingapi.Password }{"hunter2-hunter2"}},
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hunter2", "abcdefghijklmnop"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("json.Marshal output %s contains %q", b, s)
		}
	}
	txt, _ := meetingapi.Password("hunter2").MarshalText()
	if string(txt) != "[redacted]" {
		t.Errorf("MarshalText = %q", txt)
	}
}

// TestSecretsNeverLeak drives the happy paths and the error paths, retries
// and the circuit breaker included, with a debug logger and checks every
// string a secret could reach.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const pw = meetingapi.Password("s3cret-Host-Password")
	var logs bytes.Buffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)

	fake := meetingapitest.NewServer(meetingapitest.WithBasePath(basePath))
	t.Cleanup(fake.Close)
	fake.AddMeeting(string(testID), pw.Reveal(), meetingapitest.InProgress)
	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(fake.URL), meetingapi.WithLogger(log), instant)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	ct, err := c.ControlToken(ctx, testID, pw)
	if err != nil {
		t.Fatalf("ControlToken: %v", err)
	}
	tok := ct.Token
	secrets := []string{pw.Reveal(), tok.Reveal(), tok.Reveal()[:20]}

	var errs []error
	record := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	record(c.Lock(ctx, testID, tok))
	record(c.Unlock(ctx, testID, tok))
	ct2, err := c.KeepAlive(ctx, testID, tok)
	record(err)
	secrets = append(secrets, ct2.Token.Reveal())
	_, err = c.ControlToken(ctx, testID, "wrong-"+pw)
	record(err)
	fake.FailNext(meetingapitest.EndpointLock, 4, 500, "MMC.111072049") // every retry fails
	record(c.Lock(ctx, testID, tok))
	fake.FailNext(meetingapitest.EndpointToken, 4, 429, "100000429") // flow control with Retry-After
	_, err = c.KeepAlive(ctx, testID, tok)
	record(err)
	fake.ExpireTokens()
	record(c.Lock(ctx, testID, tok))
	_, err = c.KeepAlive(ctx, testID, tok)
	record(err)
	fake.SetState(string(testID), meetingapitest.Ended)
	_, err = c.ControlToken(ctx, testID, pw)
	record(err)

	// A proxy that echoes the secret headers back in its error body.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "bad gateway for %s %s", r.Header.Get("X-Password"), r.Header.Get("X-Conference-Authorization"))
	}))
	t.Cleanup(echo.Close)
	ce, _ := meetingapi.NewClient(meetingapi.WithBaseURL(echo.URL), meetingapi.WithLogger(log), instant)
	_, err = ce.ControlToken(ctx, testID, pw)
	record(err)
	record(ce.Lock(ctx, testID, tok))
	echoJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error_code": "X.1", "error_msg": "bad token " + r.Header.Get("X-Conference-Authorization")})
	}))
	t.Cleanup(echoJSON.Close)
	cj, _ := meetingapi.NewClient(meetingapi.WithBaseURL(echoJSON.URL), meetingapi.WithLogger(log), instant)
	record(cj.Lock(ctx, testID, tok))

	// A dead server: transport errors.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	cd, _ := meetingapi.NewClient(meetingapi.WithBaseURL(dead.URL), meetingapi.WithLogger(log), instant)
	_, err = cd.ControlToken(ctx, testID, pw) // 4 failed attempts
	record(err)
	record(cd.Lock(ctx, testID, tok)) // the 5th opens the circuit
	_, err = cd.ControlToken(ctx, testID, pw)
	if !errors.Is(err, meetingapi.ErrCircuitOpen) {
		t.Errorf("err = %v, want ErrCircuitOpen after 5 failures", err)
	}
	record(err)

	if len(errs) != 12 {
		t.Fatalf("got %d errors, want 12: %v", len(errs), errs)
	}
	var everything strings.Builder
	everything.WriteString(logs.String())
	for _, e := range errs {
		fmt.Fprintf(&everything, "%s\n%v\n%+v\n%#v\n", e.Error(), e, e, e)
		var ae *meetingapi.APIError
		if errors.As(e, &ae) {
			fmt.Fprintf(&everything, "%+v %#v\n", *ae, *ae)
			j, _ := json.Marshal(ae)
			everything.Write(j)
		}
	}
	for _, v := range []any{ct, ct2, pw, tok, &ct, []meetingapi.ControlToken{ct}} {
		fmt.Fprintf(&everything, "%v %+v %#v %s %q\n", v, v, v, v, v)
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		everything.Write(j)
	}
	out := everything.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("secret %q leaked into:\n%s", s, out)
		}
	}
	if !strings.Contains(logs.String(), `"request_id"`) || !strings.Contains(logs.String(), `"conference_id":"914083136"`) {
		t.Errorf("the debug log lacks the call details:\n%s", logs.String())
	}
	if strings.Count(logs.String(), "\n") < 13 {
		t.Errorf("want one debug line per call, got:\n%s", logs.String())
	}
	if n := strings.Count(logs.String(), "retrying"); n < 6 {
		t.Errorf("want the retries logged, got %d retry lines:\n%s", n, logs.String())
	}
	if !strings.Contains(out, "after 4 attempts") {
		t.Error("no error says how many attempts were made")
	}
	if !strings.Contains(out, "[redacted]") {
		t.Error("the echoed secrets were not replaced by [redacted]")
	}
	_ = time.Now
}

// TestAnEchoedPasswordIsNeverShownWhateverItsLength: a server that echoes
// the host password back in its error text must not get it into an error,
// however short it is. A short secret cannot be replaced in place (an
// "[redacted]" between the digits of a known ID would spell it out), so the
// vendor's text is withheld and only the code remains.
func TestAnEchoedPasswordIsNeverShownWhateverItsLength(t *testing.T) {
	t.Parallel()
	echo := func(jsonBody bool) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pw := r.Header.Get("X-Password")
			if !jsonBody {
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprintf(w, "upstream rejected password=%s for conference %s", pw, r.URL.Query().Get("conferenceID"))
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{
				"error_code": "MMC.111072065",
				"error_msg":  "password " + pw + " is wrong for conference " + r.URL.Query().Get("conferenceID"),
			})
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	withJSON, withText := echo(true), echo(false)
	for _, pw := range []string{"1", "9", "ab", "914", "123456", "s3cret7", "s3cret-pw", "a-much-longer-host-password"} {
		for _, srv := range []*httptest.Server{withJSON, withText} {
			c, _ := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL), noRetry)
			_, err := c.ControlToken(t.Context(), testID, meetingapi.Password(pw))

			var ae *meetingapi.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("pw %q: err = %v, want an *APIError", pw, err)
			}
			if strings.Contains(ae.Message, pw) {
				t.Errorf("pw %q: Message %q shows it", pw, ae.Message)
			}
			// The whole error may contain the characters of a short
			// password by chance (the ID 914083136 holds "1" and "9"), but
			// never the vendor's text around it.
			if strings.Contains(err.Error(), "password "+pw) || strings.Contains(err.Error(), "password="+pw) {
				t.Errorf("pw %q: Error() %q shows it", pw, err)
			}
			if len(pw) >= 8 {
				if !strings.Contains(ae.Message, "[redacted]") || !strings.Contains(ae.Message, "914083136") {
					t.Errorf("pw %q: Message %q, want the secret replaced and the rest kept", pw, ae.Message)
				}
			} else if !strings.Contains(ae.Message, "withheld") {
				t.Errorf("pw %q: Message %q, want it withheld", pw, ae.Message)
			}
			if srv == withJSON && ae.Code != "MMC.111072065" {
				t.Errorf("pw %q: Code %q, want the code kept", pw, ae.Code)
			}
		}
	}
}

func TestAShortSecretThatIsNotEchoedLeavesTheMessageAlone(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error_code":"MMC.111072065","error_msg":"conference not found or password error"}`)
	}))
	t.Cleanup(srv.Close)
	c, _ := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL))

	_, err := c.ControlToken(t.Context(), testID, "7")

	var ae *meetingapi.APIError
	if !errors.As(err, &ae) || ae.Message != "conference not found or password error" {
		t.Errorf("err = %v, want the vendor's message as it was", err)
	}
}
