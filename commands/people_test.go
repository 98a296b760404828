package commands_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// strangerPhone is a full number that must never reach Slack.
const strangerPhone = "+86 555 7777 2468"

// crowd lets a host, a muted co-host and two guests into meetingID and
// returns their pids by name.
func crowd(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	pids := map[string]string{}
	for _, p := range []meetingapitest.Person{
		{Name: "Hana Host", Phone: "+86 571 8765 4321", Role: meetingapitest.RoleHost},
		{Name: "Bob Stranger", Phone: strangerPhone, Anonymous: true},
		{Name: "Carol Cohost", Role: meetingapitest.RoleCoHost, Muted: true},
		{Name: "alice example"},
	} {
		pids[p.Name] = f.join(t, p)
	}
	return pids
}

func TestWhoListsPeopleWithButtonsAndOnlyTheLastDigitsOfAPhone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	pids := crowd(t, f)

	r := f.run(t, general, "U1", "who")
	wantOutcome(t, r, commands.OutcomeOK)
	if r.Visibility != commands.Ephemeral || r.Text != ":busts_in_silhouette: In meeting 914083136 now: 4 people." {
		t.Fatalf("who = %v %q", r.Visibility, r.Text)
	}
	// Host first, then co-hosts, then by name.
	wantRows := []struct {
		text    string
		actions []string
	}{
		{"1. *Hana Host* (…4321) · host", []string{commands.ActionMuteOne}},
		{"2. *Carol Cohost* · co-host · muted", []string{commands.ActionRemove}},
		{"3. *alice example*", []string{commands.ActionRemove, commands.ActionMuteOne, commands.ActionWaitingRoom}},
		{"4. *Bob Stranger* (…2468)", []string{commands.ActionRemove, commands.ActionMuteOne, commands.ActionWaitingRoom}},
	}
	if len(r.Rows) != len(wantRows) {
		t.Fatalf("who has %d rows: %q", len(r.Rows), r.PlainText())
	}
	for i, w := range wantRows {
		row := r.Rows[i]
		var ids []string
		for _, a := range row.Actions {
			ids = append(ids, a.ID)
		}
		if row.Text != w.text || strings.Join(ids, ",") != strings.Join(w.actions, ",") {
			t.Errorf("row %d = %q %v, want %q %v", i+1, row.Text, ids, w.text, w.actions)
		}
	}
	remove := rowAction(t, r, "Bob Stranger", commands.ActionRemove)
	if remove.Value != meetingID+"/"+pids["Bob Stranger"] || !remove.Danger || remove.Confirm == nil ||
		remove.Confirm.Text != "*Bob Stranger* will be disconnected from meeting 914083136 at once." {
		t.Fatalf("Bob's Remove button is %+v %+v", remove, remove.Confirm)
	}

	// The full number is nowhere: not in the text, the button values or
	// the confirm dialogs. Its last four digits appear only masked. (The
	// chunks are long enough that a random participant ID cannot hold one.)
	all := replyJSON(t, r)
	for _, leak := range []string{strangerPhone, "8655577772468", "555 7777", "5557777", "571 8765", "5718765"} {
		if strings.Contains(all, leak) {
			t.Fatalf("the who list holds %q: %s", leak, all)
		}
	}
	// The words (not the buttons' values, whose random participant IDs may
	// hold any four digits) show the last digits only masked.
	words := r.PlainText()
	for _, row := range r.Rows {
		for _, a := range row.Actions {
			if a.Confirm != nil {
				words += "\n" + a.Confirm.Text
			}
		}
	}
	if strings.Count(words, "2468") != strings.Count(words, "…2468") || strings.Count(words, "…2468") != 1 {
		t.Fatalf("the last digits appear unmasked, or not once: %s", words)
	}
	if n := f.fake.CallCount(meetingapitest.EndpointRealTimeInfo); n != 1 {
		t.Fatalf("%d realTimeInfo calls", n)
	}
}

func TestWhoOfAnEmptyMeetingAndOfACrowd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	r := f.run(t, general, "U1", "who")
	if r.PlainText() != ":busts_in_silhouette: Nobody is in meeting 914083136 now." {
		t.Fatalf("empty who = %q", r.PlainText())
	}
	f.join(t, meetingapitest.Person{Name: "Solo"})
	if r := f.run(t, general, "U1", "who"); !strings.Contains(r.Text, "now: 1 person.") {
		t.Fatalf("who of one = %q", r.Text)
	}
	for i := range 29 {
		f.join(t, meetingapitest.Person{Name: fmt.Sprintf("Guest %02d", i+1)})
	}
	r = f.run(t, general, "U1", "who")
	withButtons := 0
	for _, row := range r.Rows {
		if len(row.Actions) > 0 {
			withButtons++
		}
	}
	if withButtons != 20 || !strings.Contains(r.Note, "Buttons are shown for the first 20") {
		t.Fatalf("%d rows with buttons; note %q", withButtons, r.Note)
	}
	// Everyone is listed once, in order.
	text := r.PlainText()
	last := -1
	for i := 1; i <= 30; i++ {
		at := strings.Index(text, fmt.Sprintf("\n%d. ", i))
		if at < 0 || at < last {
			t.Fatalf("person %d is missing or out of order in %q", i, text)
		}
		last = at
	}
}

func TestPerPersonButtonsActOnThatPerson(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	pids := crowd(t, f)
	who := f.run(t, general, "U1", "who")

	// Mute one.
	r := f.click(t, general, "U1", rowAction(t, who, "alice example", commands.ActionMuteOne))
	if r.Visibility != commands.InChannel || r.Text != ":mute: <@U1> muted *alice example* in meeting 914083136." {
		t.Fatalf("mute one = %v %q", r.Visibility, r.PlainText())
	}
	if p := participant(t, f, pids["alice example"]); !p.Muted {
		t.Fatal("alice is not muted")
	}
	// Waiting room.
	r = f.click(t, general, "U1", rowAction(t, who, "alice example", commands.ActionWaitingRoom))
	if r.Visibility != commands.InChannel || r.Text != ":door: <@U1> moved *alice example* to the waiting room of meeting 914083136." {
		t.Fatalf("waiting room = %v %q", r.Visibility, r.PlainText())
	}
	if s := f.snapshot(t, meetingID); len(s.Waiting) != 1 || s.Waiting[0].PID != pids["alice example"] {
		t.Fatalf("the waiting room holds %+v", s.Waiting)
	}
	// Remove.
	r = f.click(t, general, "U1", rowAction(t, who, "Bob Stranger", commands.ActionRemove))
	if r.Visibility != commands.InChannel || r.Text != ":wave: <@U1> removed *Bob Stranger* from meeting 914083136." || !r.StateChange {
		t.Fatalf("remove = %v %q", r.Visibility, r.PlainText())
	}
	// The buttons under the record of a removal keep it: they answer anew.
	action(t, r, commands.ActionAlertLock)
	invited := action(t, r, commands.ActionAlertRestrict)
	if inMeeting(t, f, pids["Bob Stranger"]) {
		t.Fatal("Bob is still in the meeting")
	}
	if recs := f.history(t, general); recs[0].Action != "remove" || recs[0].Detail != "Bob Stranger" {
		t.Fatalf("newest audit record %+v", recs[0])
	}
	// The outcome's button restricts the meeting to invited people.
	wantReply(t, f.click(t, general, "U1", invited), commands.InChannel, "Only invited people may join meeting 914083136 now")
	if got := f.snapshot(t, meetingID).Restriction; got != 3 {
		t.Fatalf("callInRestriction %d", got)
	}

	// A click on someone who has left is explained, and nothing is sent.
	f.fake.ResetCalls()
	for _, id := range []string{commands.ActionRemove, commands.ActionMuteOne, commands.ActionWaitingRoom} {
		r = f.click(t, general, "U1", rowAction(t, who, "Bob Stranger", id))
		wantOutcome(t, r, commands.OutcomeRefused)
		wantReply(t, r, commands.Ephemeral, "That person is no longer in meeting 914083136, so nothing was done.")
	}
	for _, ep := range []meetingapitest.Endpoint{meetingapitest.EndpointHangUp, meetingapitest.EndpointMuteParticipant, meetingapitest.EndpointMoveToWaitingRoom} {
		if n := f.fake.CallCount(ep); n != 0 {
			t.Fatalf("%d %s calls for someone who left", n, ep)
		}
	}
}

func participant(t *testing.T, f *fixture, pid string) meetingapitest.ParticipantInfo {
	t.Helper()
	for _, p := range f.snapshot(t, meetingID).Participants {
		if p.PID == pid {
			return p
		}
	}
	t.Fatalf("%s is not in the meeting", pid)
	return meetingapitest.ParticipantInfo{}
}

func inMeeting(t *testing.T, f *fixture, pid string) bool {
	t.Helper()
	s := f.snapshot(t, meetingID)
	for _, p := range append(s.Participants, s.Waiting...) {
		if p.PID == pid {
			return true
		}
	}
	return false
}

func TestRemoveByName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	pids := map[string]string{}
	for _, name := range []string{"Bob", "Bobby Tables", "Ann Lee", "Ann Smith", "5551234", "Zoë Ñandú"} {
		pids[name] = f.join(t, meetingapitest.Person{Name: name})
	}

	// An exact match (without regard to case) wins over a part of a name.
	r := f.run(t, general, "U1", "remove bob")
	wantReply(t, r, commands.InChannel, ":wave: <@U1> removed *Bob* from meeting 914083136.")
	if inMeeting(t, f, pids["Bob"]) || !inMeeting(t, f, pids["Bobby Tables"]) {
		t.Fatal("remove bob did not remove exactly Bob")
	}
	// A unique part of a name.
	wantReply(t, f.run(t, general, "U1", "remove TABLES"), commands.InChannel, "removed *Bobby Tables*")
	wantReply(t, f.run(t, general, "U1", "remove zoë"), commands.InChannel, "removed *Zoë Ñandú*")

	// Several matches: a list to pick from, and nobody removed.
	f.fake.ResetCalls()
	r = f.run(t, general, "U1", "remove ann")
	wantOutcome(t, r, commands.OutcomeOK)
	if r.Visibility != commands.Ephemeral || r.Text != ":grey_question: 2 people in meeting 914083136 match `ann`, so nobody was removed. Pick one:" || len(r.Rows) != 2 {
		t.Fatalf("ambiguous remove = %v %q", r.Visibility, r.PlainText())
	}
	pick := rowAction(t, r, "Ann Smith", commands.ActionRemove)
	if n := f.fake.CallCount(meetingapitest.EndpointHangUp); n != 0 {
		t.Fatalf("an ambiguous name hung up %d", n)
	}
	// None: the whole list.
	r = f.run(t, general, "U1", "remove Zed")
	if r.Visibility != commands.Ephemeral || r.Text != ":grey_question: Nobody in meeting 914083136 is called `Zed`, so nobody was removed. Here is who is in:" || len(r.Rows) != 3 {
		t.Fatalf("remove of nobody = %v %q", r.Visibility, r.PlainText())
	}
	if n := f.fake.CallCount(meetingapitest.EndpointHangUp); n != 0 {
		t.Fatalf("an unknown name hung up %d", n)
	}
	// Picking from the list removes that one.
	wantReply(t, f.click(t, general, "U1", pick), commands.InChannel, "removed *Ann Smith*")
	if inMeeting(t, f, pids["Ann Smith"]) || !inMeeting(t, f, pids["Ann Lee"]) {
		t.Fatal("the pick removed the wrong person")
	}

	// A name made of digits is a name unless that meeting is bound here.
	wantReply(t, f.run(t, general, "U1", "remove 5551234"), commands.InChannel, "removed *5551234* from meeting 914083136")
	// Now bind another meeting: it becomes the channel's default, and a
	// bound ID in front of a name picks the meeting.
	wantReply(t, f.run(t, general, "U1", "bind "+otherID+" "+otherPassword), commands.Ephemeral, "is now bound")
	r = f.run(t, general, "U1", "remove 914083136 ann lee")
	wantReply(t, r, commands.InChannel, "removed *Ann Lee* from meeting 914083136")
	if inMeeting(t, f, pids["Ann Lee"]) {
		t.Fatal("Ann Lee is still in meeting 914083136")
	}
	wantReply(t, f.run(t, general, "U1", "remove 914-083-136"), commands.Ephemeral, "Whom should I remove from meeting 914083136? Give their name.")
	r = f.run(t, general, "U1", "remove Zoë")
	if r.Visibility != commands.Ephemeral || r.PlainText() != ":grey_question: Nobody is in meeting 555000111, so nobody was removed." {
		t.Fatalf("remove in an empty meeting: %q", r.PlainText())
	}
}

// Two removals of different people at once are two removals: the second
// must not be folded into the first as if it asked for the same.
func TestTwoRemovalsAtOnceRemoveBothPeople(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	alice := f.join(t, meetingapitest.Person{Name: "Alice"})
	bob := f.join(t, meetingapitest.Person{Name: "Bob"})

	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.HangUpPath, meetingID) })
	var wg sync.WaitGroup
	replies := make([]commands.Reply, 2)
	wg.Go(func() { replies[0] = f.run(t, general, "U1", "remove Alice") })
	<-arrived
	second := &commands.Progress{}
	wg.Go(func() {
		cmd, _ := commands.Parse("remove Bob")
		replies[1] = f.svc.Execute(context.Background(), commands.Request{Channel: general, UserID: "U1", Command: cmd, Progress: second})
	})
	eventually(t, "the second removal to wait", func() bool { return second.Phase() == commands.PhaseQueued })
	release()
	wg.Wait()
	wantReply(t, replies[0], commands.InChannel, "removed *Alice*")
	wantReply(t, replies[1], commands.InChannel, "removed *Bob*")
	if inMeeting(t, f, alice) || inMeeting(t, f, bob) {
		t.Fatalf("after two removals: Alice in %v, Bob in %v", inMeeting(t, f, alice), inMeeting(t, f, bob))
	}
	if n := f.fake.CallCount(meetingapitest.EndpointHangUp); n != 2 {
		t.Fatalf("%d hang-up calls, want 2", n)
	}
}

// Names come from whoever joins: markup in them is shown, never obeyed.
func TestNamesFromTheMeetingAreEscaped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	pid := f.join(t, meetingapitest.Person{Name: "<!channel> Mallory & <@U999>"})
	who := f.run(t, general, "U1", "who")
	r := f.click(t, general, "U1", rowAction(t, who, "Mallory", commands.ActionRemove))
	for _, rep := range []commands.Reply{who, r, f.run(t, general, "U1", "history")} {
		all := replyJSON(t, rep)
		if strings.Contains(all, "<!channel>") || strings.Contains(all, "<@U999>") || !strings.Contains(all, "&lt;!channel&gt; Mallory &amp; &lt;@U999&gt;") {
			t.Fatalf("a participant's name is not escaped: %s", all)
		}
	}
	if inMeeting(t, f, pid) {
		t.Fatal("Mallory is still in")
	}
}

// When the meeting service cannot say who is in, a per-person control
// fails without pretending to know the person.
func TestAPerPersonControlWhenTheMeetingHasEnded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.join(t, meetingapitest.Person{Name: "Alice"})
	who := f.run(t, general, "U1", "who")
	f.fake.SetState(meetingID, meetingapitest.Ended)
	r := f.click(t, general, "U1", rowAction(t, who, "Alice", commands.ActionRemove))
	wantOutcome(t, r, commands.OutcomeAPIError)
	if r.Visibility != commands.InChannel || r.Text != ":warning: Could not remove that person from meeting 914083136: the meeting has ended (MMC.111072006, HTTP 400)." {
		t.Fatalf("remove in an ended meeting = %v %q", r.Visibility, r.PlainText())
	}
	if n := f.fake.CallCount(meetingapitest.EndpointHangUp); n != 0 {
		t.Fatalf("%d hang-up calls", n)
	}
}

// The host is never removed or sent to the waiting room: that would take the
// meeting's control away from everyone.
func TestTheHostIsNeverRemoved(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	pids := crowd(t, f)
	before := len(f.snapshot(t, meetingID).Participants)
	r := f.run(t, general, "U1", "remove Hana Host")
	if r.Visibility != commands.Ephemeral || r.Outcome != commands.OutcomeRefused || !strings.Contains(r.Text, "*Hana Host* is the host of meeting 914083136") {
		t.Fatalf("remove the host by name = %q", r.PlainText())
	}
	click := f.svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1", FromButton: true,
		Command: commands.Command{Verb: commands.VerbWaitingRoom, ConferenceID: meetingID, PID: pids["Hana Host"]}})
	if click.Outcome != commands.OutcomeRefused {
		t.Fatalf("the host to the waiting room = %q", click.PlainText())
	}
	if n := f.fake.CallCount(meetingapitest.EndpointHangUp) + f.fake.CallCount(meetingapitest.EndpointMoveToWaitingRoom); n != 0 {
		t.Fatalf("%d calls to remove or move the host", n)
	}
	if after := len(f.snapshot(t, meetingID).Participants); after != before {
		t.Fatalf("%d people in the meeting, want %d", after, before)
	}
}
