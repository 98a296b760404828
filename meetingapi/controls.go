package meetingapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Operation names, one per call. They are short and fixed, so they suit a
// metric label or a log field ([WithObserver]); none holds a conference ID
// or a secret.
const (
	OpToken          = "token"
	OpKeepAlive      = "keep-alive"
	OpLock           = "lock"
	OpUnlock         = "unlock"
	OpRealTimeInfo   = "real-time-info"
	OpHangUp         = "hang-up"
	OpMuteAll        = "mute-all"
	OpUnmuteAll      = "unmute-all"
	OpMute           = "mute"
	OpUnmute         = "unmute"
	OpWaitingRoom    = "waiting-room"
	OpAdmit          = "admit"
	OpRestrict       = "restrict"
	OpStop           = "stop"
	OpProlong        = "prolong"
	OpWebSocketToken = "ws-token"
)

// opText is an operation as it reads in an error: "meetingapi: control
// token 914083136: …".
func opText(op string) string {
	if op == OpToken {
		return "control token"
	}
	return op
}

// Paths of the calls, below the base URL, as the vendor's SDK
// (huaweicloud-sdk-go-v3, services/meeting/v1/meeting_meta.go) has them.
const (
	tokenPath             = "v1/mmc/control/conferences/token"
	lockPath              = "v1/mmc/control/conferences/lock"
	realTimeInfoPath      = "v1/mmc/control/conferences/realTimeInfo"
	hangUpPath            = "v1/mmc/control/conferences/participants/delete"
	muteAllPath           = "v1/mmc/control/conferences/mute"
	muteParticipantPath   = "v1/mmc/control/conferences/participants/mute"
	moveToWaitingRoomPath = "v1/mmc/control/conferences/moveToWaitingRoom"
	batchWaitingRoomPath  = "v1/mmc/control/conferences/batchMoveToWaitingRoom"
	admitPath             = "v1/mmc/control/conferences/allowWaitingParticipant"
	startedConfConfigPath = "v1/mmc/control/conferences/updateStartedConfConfig"
	stopPath              = "v1/mmc/control/conferences/stop"
	prolongPath           = "v1/mmc/control/conferences/duration"
	webSocketTokenPath    = "v1/mmc/control/conferences/wsToken"
)

// Limits the client checks before sending.
const (
	// MaxParticipantsPerCall bounds HangUp and MoveToWaitingRoom.
	MaxParticipantsPerCall = 100
	// MaxProlongMinutes bounds one Prolong: a day.
	MaxProlongMinutes = 24 * 60
	maxPIDLen         = 128
)

// Bodies, field for field as the SDK's model structs (model/model_rest_*.go)
// marshal them: integer flags, the SDK's field order.
type (
	lockBody struct {
		IsLock int `json:"isLock"`
	}
	hangUpBody struct {
		BulkHangUpParticipants []string `json:"bulkHangUpParticipants"`
	}
	muteAllBody struct {
		IsMute               int  `json:"isMute"`
		AllowUnmuteByOneself *int `json:"allowUnmuteByOneself,omitempty"`
	}
	muteBody struct {
		IsMute int `json:"isMute"`
	}
	participantBody struct {
		ParticipantID string `json:"participantID"`
	}
	batchParticipantsBody struct {
		BatchParticipants []string `json:"batchParticipants"`
	}
	admitBody struct {
		ParticipantID string `json:"participantID,omitempty"`
		AllowAll      bool   `json:"allowAll,omitempty"`
	}
	startedConfConfigBody struct {
		CallInRestriction *int `json:"callInRestriction,omitempty"`
	}
	prolongBody struct {
		Auto     int `json:"auto"`
		Duration int `json:"duration"`
	}
)

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Retry classes. Idempotent calls are retried on server trouble, transport
// failures, timeouts and flow control: repeating them changes nothing. Calls
// marked "not idempotent" are retried only when they cannot have been
// applied (flow control; no connection made), because a repeat could act
// twice (Prolong) or report a false failure (a second HangUp of someone
// already gone); see [OutcomeUnknown].

// SetLock locks (locked true) or unlocks the meeting:
// PUT /v1/mmc/control/conferences/lock with {"isLock":1} or {"isLock":0}.
// Idempotent.
func (c *Client) SetLock(ctx context.Context, id ConferenceID, tok Token, locked bool) error {
	op := OpUnlock
	if locked {
		op = OpLock
	}
	return c.do(ctx, c.newRequest(op, http.MethodPut, lockPath, id, tok).withJSON(lockBody{flag(locked)}), nil)
}

// Lock locks the meeting so nobody else can join. See [Client.SetLock].
func (c *Client) Lock(ctx context.Context, id ConferenceID, tok Token) error {
	return c.SetLock(ctx, id, tok, true)
}

// Unlock unlocks the meeting. See [Client.SetLock].
func (c *Client) Unlock(ctx context.Context, id ConferenceID, tok Token) error {
	return c.SetLock(ctx, id, tok, false)
}

// RealTimeInfo says who is in the meeting now:
// GET /v1/mmc/control/conferences/realTimeInfo. Idempotent.
func (c *Client) RealTimeInfo(ctx context.Context, id ConferenceID, tok Token) (RealTimeInfo, error) {
	var ans realTimeInfoAnswer
	if err := c.do(ctx, c.newRequest(OpRealTimeInfo, http.MethodGet, realTimeInfoPath, id, tok), &ans); err != nil {
		return RealTimeInfo{}, err
	}
	return ans.info(), nil
}

// HangUp disconnects participants by pid:
// POST /v1/mmc/control/conferences/participants/delete with
// {"bulkHangUpParticipants":[pid,…]}. Whether they can dial back in is not
// documented: pair it with a lock or a join restriction. Not idempotent.
func (c *Client) HangUp(ctx context.Context, id ConferenceID, tok Token, pids ...string) error {
	if err := checkPIDs(OpHangUp, id, pids); err != nil {
		return err
	}
	r := c.newRequest(OpHangUp, http.MethodPost, hangUpPath, id, tok).withJSON(hangUpBody{pids}).notIdempotent()
	return c.do(ctx, r, nil)
}

// MuteAll mutes everyone but the host (mute true) or unmutes everyone:
// PUT /v1/mmc/control/conferences/mute with {"isMute":1,
// "allowUnmuteByOneself":0|1} or {"isMute":0}. allowUnmuteByOneself says
// whether muted people may unmute themselves; the vendor applies it only
// when muting, so it is not sent with an unmute. Idempotent.
func (c *Client) MuteAll(ctx context.Context, id ConferenceID, tok Token, mute, allowUnmuteByOneself bool) error {
	op, body := OpUnmuteAll, muteAllBody{IsMute: 0}
	if mute {
		allow := flag(allowUnmuteByOneself)
		op, body = OpMuteAll, muteAllBody{IsMute: 1, AllowUnmuteByOneself: &allow}
	}
	return c.do(ctx, c.newRequest(op, http.MethodPut, muteAllPath, id, tok).withJSON(body), nil)
}

// MuteParticipant mutes or unmutes one participant:
// PUT /v1/mmc/control/conferences/participants/mute?participantID=pid with
// {"isMute":1} or {"isMute":0}. Idempotent.
func (c *Client) MuteParticipant(ctx context.Context, id ConferenceID, tok Token, pid string, mute bool) error {
	op := OpUnmute
	if mute {
		op = OpMute
	}
	if err := checkPIDs(op, id, []string{pid}); err != nil {
		return err
	}
	r := c.newRequest(op, http.MethodPut, muteParticipantPath, id, tok).withQuery("participantID", pid).
		withJSON(muteBody{flag(mute)})
	return c.do(ctx, r, nil)
}

// MoveToWaitingRoom moves participants from the meeting to its waiting room:
// one pid is PUT /v1/mmc/control/conferences/moveToWaitingRoom with
// {"participantID":pid}; several are PUT …/batchMoveToWaitingRoom with
// {"batchParticipants":[pid,…]}. It works only where the meeting has a
// waiting room. Not idempotent.
func (c *Client) MoveToWaitingRoom(ctx context.Context, id ConferenceID, tok Token, pids ...string) error {
	if err := checkPIDs(OpWaitingRoom, id, pids); err != nil {
		return err
	}
	r := c.newRequest(OpWaitingRoom, http.MethodPut, moveToWaitingRoomPath, id, tok)
	if len(pids) == 1 {
		r.withJSON(participantBody{pids[0]})
	} else {
		r.path = batchWaitingRoomPath
		r.withJSON(batchParticipantsBody{pids})
	}
	return c.do(ctx, r.notIdempotent(), nil)
}

// AdmitFromWaitingRoom lets one person in from the waiting room:
// PUT /v1/mmc/control/conferences/allowWaitingParticipant with
// {"participantID":pid}. Not idempotent.
func (c *Client) AdmitFromWaitingRoom(ctx context.Context, id ConferenceID, tok Token, pid string) error {
	if err := checkPIDs(OpAdmit, id, []string{pid}); err != nil {
		return err
	}
	r := c.newRequest(OpAdmit, http.MethodPut, admitPath, id, tok).withJSON(admitBody{ParticipantID: pid})
	return c.do(ctx, r.notIdempotent(), nil)
}

// AdmitAllFromWaitingRoom lets everyone in the waiting room in: the same PUT
// with {"allowAll":true}. Not idempotent.
func (c *Client) AdmitAllFromWaitingRoom(ctx context.Context, id ConferenceID, tok Token) error {
	r := c.newRequest(OpAdmit, http.MethodPut, admitPath, id, tok).withJSON(admitBody{AllowAll: true})
	return c.do(ctx, r.notIdempotent(), nil)
}

// SetCallInRestriction sets who may join the running meeting:
// PUT /v1/mmc/control/conferences/updateStartedConfConfig with
// {"callInRestriction":0|2|3}. It is stronger than a lock for people who hold
// the host link. Idempotent.
func (c *Client) SetCallInRestriction(ctx context.Context, id ConferenceID, tok Token, r Restriction) error {
	if !r.Valid() {
		return fmt.Errorf("meetingapi: %s %s: %w", OpRestrict, id, errBadRestriction)
	}
	v := int(r)
	req := c.newRequest(OpRestrict, http.MethodPut, startedConfConfigPath, id, tok).
		withJSON(startedConfConfigBody{CallInRestriction: &v})
	return c.do(ctx, req, nil)
}

// Stop ends the meeting for everyone: PUT /v1/mmc/control/conferences/stop,
// no body. People can rejoin a stopped meeting until its scheduled end
// unless the enterprise turned that off, so it does not keep strangers out.
// Not idempotent (a repeat answers that the meeting has ended).
func (c *Client) Stop(ctx context.Context, id ConferenceID, tok Token) error {
	return c.do(ctx, c.newRequest(OpStop, http.MethodPut, stopPath, id, tok).notIdempotent(), nil)
}

// Prolong extends the meeting's scheduled end by minutes (1 to
// [MaxProlongMinutes]): PUT /v1/mmc/control/conferences/duration with
// {"auto":0,"duration":minutes}. Not idempotent: every call adds.
func (c *Client) Prolong(ctx context.Context, id ConferenceID, tok Token, minutes int) error {
	if minutes < 1 || minutes > MaxProlongMinutes {
		return fmt.Errorf("meetingapi: %s %s: minutes must be 1 to %d", OpProlong, id, MaxProlongMinutes)
	}
	r := c.newRequest(OpProlong, http.MethodPut, prolongPath, id, tok).withJSON(prolongBody{Auto: 0, Duration: minutes})
	return c.do(ctx, r.notIdempotent(), nil)
}

// WebSocketToken gets a token for one connection to the meeting's event
// socket, valid for one minute: GET /v1/mmc/control/conferences/wsToken →
// {"webSocketToken":"…"}. Idempotent (an unused token just expires).
func (c *Client) WebSocketToken(ctx context.Context, id ConferenceID, tok Token) (Token, error) {
	var ans struct {
		WebSocketToken string `json:"webSocketToken"`
	}
	if err := c.do(ctx, c.newRequest(OpWebSocketToken, http.MethodGet, webSocketTokenPath, id, tok), &ans); err != nil {
		return "", err
	}
	if !usableToken(ans.WebSocketToken) {
		return "", fmt.Errorf("meetingapi: %s %s: %w: the answer has no usable token", OpWebSocketToken, id, ErrUnexpectedResponse)
	}
	return Token(ans.WebSocketToken), nil
}

// checkPIDs refuses participant IDs that cannot be real before anything is
// sent. Its errors do not repeat the input.
func checkPIDs(op string, id ConferenceID, pids []string) error {
	switch {
	case len(pids) == 0:
		return fmt.Errorf("meetingapi: %s %s: no participant given", op, id)
	case len(pids) > MaxParticipantsPerCall:
		return fmt.Errorf("meetingapi: %s %s: at most %d participants per call", op, id, MaxParticipantsPerCall)
	}
	for _, p := range pids {
		if p == "" || len(p) > maxPIDLen || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return fmt.Errorf("meetingapi: %s %s: a participant ID is 1 to %d printable ASCII characters without spaces", op, id, maxPIDLen)
		}
	}
	return nil
}

// Restriction is who may join a running meeting (callInRestriction).
type Restriction int

const (
	RestrictionEveryone Restriction = 0 // anyone with the meeting ID and password
	RestrictionCompany  Restriction = 2 // people of the host's enterprise only
	RestrictionInvited  Restriction = 3 // invited people only
)

var errBadRestriction = errors.New("a join restriction is everyone, company or invited")

// ParseRestriction reads "everyone", "company" or "invited" (any case).
func ParseRestriction(s string) (Restriction, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "everyone":
		return RestrictionEveryone, nil
	case "company":
		return RestrictionCompany, nil
	case "invited":
		return RestrictionInvited, nil
	}
	return 0, errBadRestriction
}

// Valid reports whether r is one of the three documented values.
func (r Restriction) Valid() bool {
	return r == RestrictionEveryone || r == RestrictionCompany || r == RestrictionInvited
}

// String is "everyone", "company" or "invited".
func (r Restriction) String() string {
	switch r {
	case RestrictionEveryone:
		return "everyone"
	case RestrictionCompany:
		return "company"
	case RestrictionInvited:
		return "invited"
	}
	return "Restriction(" + strconv.Itoa(int(r)) + ")"
}
