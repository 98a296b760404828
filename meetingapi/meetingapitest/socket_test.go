package meetingapitest_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// socketToken gets a one-use socket token with the control token tok.
func socketToken(t *testing.T, s *meetingapitest.Server, tok string) string {
	t.Helper()
	r := send(t, s, control(tok, "GET", meetingapitest.WebSocketTokenPath, ""))
	var ans struct {
		WebSocketToken string `json:"webSocketToken"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &ans) != nil || ans.WebSocketToken == "" {
		t.Fatalf("wsToken: HTTP %d %s", r.status, r.body)
	}
	return ans.WebSocketToken
}

// socketURL is where the token answer's wsURL says the socket is.
func socketURL(t *testing.T, s *meetingapitest.Server, confID, tmp string) string {
	t.Helper()
	r := send(t, s, req{headers: map[string]string{"X-Password": pw, "X-Login-Type": "1"}})
	var ans struct {
		Data struct {
			WsURL string `json:"wsURL"`
		} `json:"data"`
	}
	if json.Unmarshal(r.body, &ans) != nil || !strings.HasPrefix(ans.Data.WsURL, "ws://127.0.0.1:") {
		t.Fatalf("wsURL in %s", r.body)
	}
	return ans.Data.WsURL + meetingapitest.SocketPath + "?" + url.Values{"confID": {confID}, "tmpToken": {tmp}}.Encode()
}

func dial(t *testing.T, s *meetingapitest.Server, confID, tmp string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return dialURL(t, socketURL(t, s, confID, tmp))
}

func dialURL(t *testing.T, u string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, nil)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

// connect opens a socket for meeting id and subscribes with frame.
func connect(t *testing.T, s *meetingapitest.Server, tok string) *websocket.Conn {
	t.Helper()
	conn, _, err := dial(t, s, id, socketToken(t, s, tok))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return conn
}

func subscribeFrame(data any) map[string]any {
	return map[string]any{"action": "Subscribe", "sequence": "000000000000000001611747313677", "data": data}
}

func allTypes() []string {
	return []string{"ParticipantsNotify", "ConfDynamicInfoNotify", "WaitingListNotify"}
}

// readFrame reads the next frame as a map, within a generous deadline.
func readFrame(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f map[string]any
	if err := conn.ReadJSON(&f); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// frameOf reads frames until one has action, skipping others.
func frameOf(t *testing.T, conn *websocket.Conn, action string) map[string]any {
	t.Helper()
	for range 50 {
		if f := readFrame(t, conn); f["action"] == action {
			return f
		}
	}
	t.Fatalf("no %s frame", action)
	return nil
}

// entriesOf returns data[] of a notification whose data is JSON.
func entriesOf(t *testing.T, f map[string]any) []map[string]any {
	t.Helper()
	raw, ok := f["data"].([]any)
	if !ok {
		t.Fatalf("data is %T in %v", f["data"], f)
	}
	var out []map[string]any
	for _, e := range raw {
		out = append(out, e.(map[string]any))
	}
	return out
}

func subscribed(t *testing.T, s *meetingapitest.Server, tok string) *websocket.Conn {
	t.Helper()
	conn := connect(t, s, tok)
	if err := conn.WriteJSON(subscribeFrame(map[string]any{"conferenceID": id, "subscribeType": allTypes(), "confToken": tok})); err != nil {
		t.Fatal(err)
	}
	ack := readFrame(t, conn)
	if data, _ := ack["data"].(map[string]any); ack["action"] != "Subscribe" || data["returnCode"] != 0.0 {
		t.Fatalf("subscribe answer %v", ack)
	}
	return conn
}

func TestASocketTokenOpensOneSocketWithinAMinute(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Date(2025, 5, 6, 9, 0, 0, 0, time.UTC))
	s := newFake(t, meetingapitest.WithClock(clk.now))
	s.AddMeeting("222333444", "other", meetingapitest.InProgress)
	tok := getToken(t, s)

	tmp := socketToken(t, s, tok)
	if _, _, err := dial(t, s, id, tmp); err != nil {
		t.Fatalf("the first connection: %v", err)
	}
	_, resp, err := dial(t, s, id, tmp)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != 401 {
		t.Errorf("a second connection with the same token: %v, %v; want 401", err, resp)
	}
	late := socketToken(t, s, tok)
	clk.advance(61 * time.Second)
	if _, resp, _ := dial(t, s, id, late); resp == nil || resp.StatusCode != 401 {
		t.Errorf("a token older than a minute: %v; want 401", resp)
	}
	clk.advance(-61 * time.Second)
	if _, resp, _ := dial(t, s, "222333444", socketToken(t, s, tok)); resp == nil || resp.StatusCode != 401 {
		t.Errorf("a token for another meeting: %v; want 401", resp)
	}
	if _, resp, _ := dial(t, s, id, ""); resp == nil || resp.StatusCode != 400 {
		t.Errorf("no token: %v; want 400", resp)
	}
	ended := socketURL(t, s, id, socketToken(t, s, tok))
	s.SetState(id, meetingapitest.Ended)
	if _, resp, _ := dialURL(t, ended); resp == nil || resp.StatusCode != 400 {
		t.Errorf("a meeting that has ended: %v; want 400", resp)
	}
	if n := s.SocketConnections(); n != 1 {
		t.Errorf("SocketConnections = %d, want 1", n)
	}
}

func TestEveryFormOfTheVendorsSubscribeFrameIsAccepted(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	add(t, s, meetingapitest.Person{Name: "Alice", Phone: "+8657100001111", Role: meetingapitest.RoleHost, Account: "alice"})
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(tok))
	object := func(token string) any {
		return map[string]any{"conferenceID": id, "subscribeType": allTypes(), "confToken": token}
	}
	// The vendor's string example has no conferenceID: the URL has it.
	asString := func(token string) any {
		b, _ := json.Marshal(map[string]any{"subscribeType": allTypes(), "confToken": token})
		return string(b)
	}
	for i, data := range []any{object(tok), object(basic), asString(tok), asString(basic)} {
		conn := connect(t, s, tok)
		if err := conn.WriteJSON(subscribeFrame(data)); err != nil {
			t.Fatal(err)
		}
		ack := readFrame(t, conn)
		if d, _ := ack["data"].(map[string]any); ack["action"] != "Subscribe" || ack["sequence"] != "000000000000000001611747313677" ||
			d["returnCode"] != 0.0 || d["returnDesc"] != "SUCCESS" {
			t.Errorf("form %d: answer %v", i, ack)
		}
		full := readFrame(t, conn)
		if full["action"] != "ParticipantsNotify" || full["msgMode"] != 0.0 || full["confID"] != id {
			t.Fatalf("form %d: after the answer %v, want the full participant list", i, full)
		}
		es := entriesOf(t, full)
		if len(es) != 1 || es[0]["mode"] != 0.0 {
			t.Fatalf("form %d: entries %v", i, es)
		}
		pinfo := es[0]["pinfoMap"].(map[string]any)
		for _, k := range []string{"NAME", "TEL", "ROLE", "STATE", "ADDTIME", "ANONYMOUS", "MUTE", "ACCOUNT", "ACCOUNT_ID", "ORG_ID"} {
			if _, ok := pinfo[k].(string); !ok {
				t.Errorf("form %d: pinfoMap lacks %s as a string: %v", i, k, pinfo)
			}
		}
		if pinfo["NAME"] != "Alice" || pinfo["ROLE"] != "1" || pinfo["ORG_ID"] != meetingapitest.HostOrgID {
			t.Errorf("form %d: pinfoMap %v", i, pinfo)
		}
		if w := readFrame(t, conn); w["action"] != "WaitingListNotify" || w["msgMode"] != 0.0 {
			t.Errorf("form %d: %v, want the full waiting list", i, w)
		}
		if c := readFrame(t, conn); c["action"] != "ConfDynamicInfoNotify" || c["lock"] != 0.0 || c["state"] != "Created" {
			t.Errorf("form %d: %v, want the meeting's state at the top of the frame", i, c)
		}
	}
	var forms []string
	for _, sub := range s.Subscriptions() {
		forms = append(forms, sub.DataForm+"/"+sub.ConfTokenForm)
		if !sub.Accepted {
			t.Errorf("subscription %+v refused", sub)
		}
	}
	if want := []string{"object/raw", "object/basic", "string/raw", "string/basic"}; !slices.Equal(forms, want) {
		t.Errorf("forms %v, want %v", forms, want)
	}
	if n := s.Sockets(id); n != 4 {
		t.Errorf("Sockets = %d, want 4", n)
	}
}

func TestABadSubscriptionIsRefusedAndTheSocketClosed(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	s.AddMeeting("222333444", "other", meetingapitest.InProgress)
	for _, data := range []any{
		map[string]any{"conferenceID": id, "subscribeType": allTypes(), "confToken": "not-a-token"},
		map[string]any{"conferenceID": "222333444", "subscribeType": allTypes(), "confToken": tok},
		map[string]any{"conferenceID": id, "confToken": tok},
		"not JSON",
	} {
		conn := connect(t, s, tok)
		if err := conn.WriteJSON(subscribeFrame(data)); err != nil {
			t.Fatal(err)
		}
		ack := readFrame(t, conn)
		if d, _ := ack["data"].(map[string]any); ack["action"] != "Subscribe" || d["returnCode"] == 0.0 || d["returnDesc"] == "" {
			t.Errorf("%v: answer %v, want a refusal", data, ack)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("%v: after the refusal %v, want the socket closed", data, err)
		}
	}
	if n := s.Sockets(id); n != 0 {
		t.Errorf("Sockets = %d, want 0", n)
	}
}

func TestChangesArePushedAsTheVendorDescribesThem(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddMeeting(id, pw, meetingapitest.InProgress, meetingapitest.WithWaitingRoom())
	tok := getToken(t, s)
	conn := subscribed(t, s, tok)
	frameOf(t, conn, "ConfDynamicInfoNotify") // the end of the full lists

	eve := add(t, s, meetingapitest.Person{Name: "Eve", Anonymous: true})
	f := frameOf(t, conn, "ParticipantsNotify")
	es := entriesOf(t, f)
	if f["msgMode"] != 1.0 || len(es) != 1 || es[0]["pid"] != eve || es[0]["mode"] != 0.0 {
		t.Fatalf("join %v", f)
	}
	if p := es[0]["pinfoMap"].(map[string]any); p["NAME"] != "Eve" || p["ANONYMOUS"] != "1" || len(p) < 10 {
		t.Errorf("a join carries the whole pinfoMap: %v", p)
	}

	if err := s.SetHand(id, eve, true); err != nil {
		t.Fatal(err)
	}
	es = entriesOf(t, frameOf(t, conn, "ParticipantsNotify"))
	if p := es[0]["pinfoMap"].(map[string]any); len(p) != 1 || p["HAND"] != "1" {
		t.Errorf("a change carries only what changed: %v", p)
	}

	send(t, s, lock(tok, `{"isLock":1}`))
	if c := frameOf(t, conn, "ConfDynamicInfoNotify"); c["lock"] != 1.0 || c["state"] != "Created" {
		t.Errorf("after the lock PUT: %v", c)
	}
	send(t, s, control(tok, "PUT", meetingapitest.StartedConfConfigPath, `{"isLock":0,"callInRestriction":2}`))
	if c := frameOf(t, conn, "ConfDynamicInfoNotify"); c["lock"] != 0.0 {
		t.Errorf("after updateStartedConfConfig isLock 0: %v", c)
	}
	if c := frameOf(t, conn, "ConfDynamicInfoNotify"); c["callInRestriction"] != 2.0 {
		t.Errorf("after callInRestriction 2: %v", c)
	}

	send(t, s, control(tok, "PUT", meetingapitest.MoveToWaitingRoomPath, `{"participantID":"`+eve+`"}`))
	if es := entriesOf(t, frameOf(t, conn, "ParticipantsNotify")); es[0]["mode"] != 1.0 || es[0]["pid"] != eve {
		t.Errorf("moving Eve out: %v", es)
	}
	if es := entriesOf(t, frameOf(t, conn, "WaitingListNotify")); es[0]["mode"] != 0.0 || es[0]["pinfoMap"].(map[string]any)["WAITINGSTATE"] != "0" {
		t.Errorf("Eve waiting: %v", es)
	}

	send(t, s, control(tok, "PUT", meetingapitest.StopPath, ""))
	if c := frameOf(t, conn, "ConfDynamicInfoNotify"); c["state"] != "Destroyed" {
		t.Errorf("after stop: %v", c)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("after the end: %v, want a normal close", err)
		}
		break
	}
}

func TestHeartbeatsAreAnsweredAndASilentSocketIsClosed(t *testing.T) {
	t.Parallel()
	s := newFake(t, meetingapitest.WithSocketHeartbeatTimeout(300*time.Millisecond))
	tok := getToken(t, s)
	conn := subscribed(t, s, tok)

	beat := map[string]string{"action": "HeartBeat", "sequence": "000000000000000001611993655770"}
	if err := conn.WriteJSON(beat); err != nil {
		t.Fatal(err)
	}
	if f := frameOf(t, conn, "HeartBeat"); f["sequence"] != beat["sequence"] {
		t.Errorf("answer %v, want the same sequence", f)
	}
	if n := s.SocketHeartbeats(); n != 1 {
		t.Errorf("SocketHeartbeats = %d", n)
	}

	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var err error
	for err == nil {
		_, _, err = conn.ReadMessage()
	}
	if time.Since(start) > 9*time.Second {
		t.Errorf("a silent socket stayed open: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Sockets(id) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Sockets(id); n != 0 {
		t.Errorf("Sockets = %d after the timeout", n)
	}
}

func TestSocketFaults(t *testing.T) {
	t.Parallel()
	t.Run("refused connections", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		tok := getToken(t, s)
		s.FailNext(meetingapitest.EndpointSocket, 1, 503, "MMC.111072049")
		if _, resp, err := dial(t, s, id, socketToken(t, s, tok)); err == nil || resp.StatusCode != 503 {
			t.Errorf("dial = %v, %v; want the injected 503", err, resp)
		}
		subscribed(t, s, tok) // the next one works
	})
	t.Run("refused subscriptions", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		tok := getToken(t, s)
		s.RefuseSubscriptions(1)
		conn := connect(t, s, tok)
		conn.WriteJSON(subscribeFrame(map[string]any{"subscribeType": allTypes(), "confToken": tok}))
		if d, _ := readFrame(t, conn)["data"].(map[string]any); d["returnCode"] != 1.0 {
			t.Errorf("answer %v, want the injected refusal", d)
		}
		subscribed(t, s, tok)
	})
	t.Run("a drop cuts the socket without a close frame", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		conn := subscribed(t, s, getToken(t, s))
		frameOf(t, conn, "ConfDynamicInfoNotify")
		if n := s.DropSockets(id); n != 1 {
			t.Errorf("dropped %d", n)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := conn.ReadMessage()
		var ce *websocket.CloseError
		if err == nil || errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
			t.Errorf("after a drop: %v, want an abnormal end", err)
		}
	})
	t.Run("a stall sends nothing and keeps the socket open", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		tok := getToken(t, s)
		conn := subscribed(t, s, tok)
		frameOf(t, conn, "ConfDynamicInfoNotify")
		if n := s.StallSockets(id); n != 1 {
			t.Errorf("stalled %d", n)
		}
		add(t, s, meetingapitest.Person{Name: "Unseen"})
		conn.WriteJSON(map[string]string{"action": "HeartBeat", "sequence": "1"})
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, msg, err := conn.ReadMessage()
		var ne interface{ Timeout() bool }
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read %q, %v; want nothing until the deadline", msg, err)
		}
		if n := s.Sockets(id); n != 1 {
			t.Errorf("Sockets = %d, want the stalled one still open", n)
		}
	})
	t.Run("Close closes the sockets", func(t *testing.T) {
		t.Parallel()
		s := meetingapitest.NewServer()
		s.AddMeeting(id, pw, meetingapitest.InProgress)
		conn := subscribed(t, s, getToken(t, s))
		s.Close()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var err error
		for err == nil {
			_, _, err = conn.ReadMessage()
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			t.Error("the socket outlived the server")
		}
	})
}
