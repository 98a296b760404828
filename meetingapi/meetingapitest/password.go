package meetingapitest

// SetPassword changes a known meeting's host password, as its host can in
// the meeting client. Tokens issued before stay valid until they expire
// (ExpireTokens ends them now). Unknown IDs are ignored.
func (s *Server) SetPassword(id, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.meetings[id]; ok {
		m.password = password
	}
}
