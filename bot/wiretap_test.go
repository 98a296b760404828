package bot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/meetingbot/meetingbot/bot"
)

// wireTap watches the bot's side of the Socket Mode connection, so the
// ack latency can be measured as Slack would see it: from the envelope's
// bytes arriving at the bot's socket to the ack's bytes leaving it. The
// fake Slack's own measurement also includes the fake's scheduling in this
// same process.
type wireTap struct {
	mu    sync.Mutex
	reads map[string]time.Time
	acks  map[string]time.Time
}

func newWireTap() *wireTap {
	return &wireTap{reads: map[string]time.Time{}, acks: map[string]time.Time{}}
}

// envelopeIDs finds the envelope IDs in b without a regular expression, so
// the tap costs the bot's process little (BenchmarkLoad counts its CPU).
func envelopeIDs(b []byte) [][]byte {
	const key = `"envelope_id":"`
	var out [][]byte
	for {
		i := bytes.Index(b, []byte(key))
		if i < 0 {
			return out
		}
		b = b[i+len(key):]
		j := bytes.IndexByte(b, '"')
		if j <= 0 {
			return out
		}
		out = append(out, b[:j])
		b = b[j:]
	}
}

// reset forgets what was seen so far.
func (w *wireTap) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.reads)
	clear(w.acks)
}

// option installs the tap through bot.Config.Dialer.
func (w *wireTap) option(c *bot.Config) {
	c.Dialer = &websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		WriteBufferSize:  32 * 1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &tappedConn{Conn: conn, tap: w}, nil
		},
	}
}

// latencies pairs each envelope's arrival with its ack.
func (w *wireTap) latencies() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []time.Duration
	for id, r := range w.reads {
		if a, ok := w.acks[id]; ok {
			out = append(out, a.Sub(r))
		}
	}
	return out
}

type tappedConn struct {
	net.Conn
	tap *wireTap
}

func (c *tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		now := time.Now()
		c.tap.mu.Lock()
		for _, id := range envelopeIDs(p[:n]) {
			if _, seen := c.tap.reads[string(id)]; !seen {
				c.tap.reads[string(id)] = now
			}
		}
		c.tap.mu.Unlock()
	}
	return n, err
}

func (c *tappedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	now := time.Now()
	c.tap.mu.Lock()
	for _, payload := range clientFramePayloads(p[:n]) {
		for _, id := range envelopeIDs(payload) {
			if _, seen := c.tap.acks[string(id)]; !seen {
				c.tap.acks[string(id)] = now
			}
		}
	}
	c.tap.mu.Unlock()
	return n, err
}

// clientFramePayloads unmasks the WebSocket frames in one client write
// (RFC 6455 §5.2: client frames are always masked).
func clientFramePayloads(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 2 {
		masked := b[1]&0x80 != 0
		n := uint64(b[1] & 0x7f)
		h := 2
		switch n {
		case 126:
			if len(b) < 4 {
				return out
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
		case 127:
			if len(b) < 10 {
				return out
			}
			n, h = binary.BigEndian.Uint64(b[2:10]), 10
		}
		var key []byte
		if masked {
			if len(b) < h+4 {
				return out
			}
			key, h = b[h:h+4], h+4
		}
		if uint64(len(b)-h) < n {
			return out
		}
		payload := make([]byte, n)
		copy(payload, b[h:h+int(n)])
		for i := range payload {
			if key != nil {
				payload[i] ^= key[i%4]
			}
		}
		out = append(out, payload)
		b = b[h+int(n):]
	}
	return out
}
