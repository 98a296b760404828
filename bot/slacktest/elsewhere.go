package slacktest

import "time"

// DeliveredElsewhere registers an envelope as written to a connection that
// is gone, the way Slack hands a command to a replica that then dies before
// answering: its response_url works (for ResponseURLTTL), it is counted as
// sent, and no live connection sees it. It returns the envelope's ID and
// response_url.
func (s *Server) DeliveredElsewhere() EnvelopeInfo {
	info := EnvelopeInfo{ID: newUUID(), TriggerID: s.newTriggerID()}
	info.ResponseURL = s.ResponseURL(info.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.getEnvLocked(info.ID)
	e.typ, e.triggerID = "slash_commands", info.TriggerID
	e.sent, e.firstSent = true, time.Now()
	s.triggers[info.TriggerID] = e
	return info
}
