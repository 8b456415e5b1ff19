package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// Errors of signature checking, for tests and logs.
var (
	ErrSignature = errors.New("bad or missing signature")
	ErrStale     = errors.New("signature timestamp outside tolerance")
)

// maxRemembered bounds the idempotency memory of acknowledged event ids.
const maxRemembered = 100_000

// Source serves the endpoint. Handlers enqueue records; Read drains the
// queue; Ack releases the waiting handlers.
type Source struct {
	sdk.UnimplementedSource
	cfg Config
	log *slog.Logger
	srv *http.Server
	ln  net.Listener

	queue chan *pending

	mu      sync.Mutex
	seq     int64
	waiting map[int64]*pending  // handed to Read or queued, not yet acked
	byEvent map[string]*pending // in flight by event id
	done    map[string]struct{} // acknowledged event ids
	doneLog []string            // insertion order, to forget the oldest
	closed  chan struct{}
}

var _ sdk.Source = (*Source)(nil)

type pending struct {
	seq   int64
	event string
	rec   sdk.Record
	acked chan struct{}
}

type position struct {
	Seq int64 `json:"seq"`
}

// Configure checks the settings.
func (s *Source) Configure(_ context.Context, cfg sdk.Config) error {
	c, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	s.cfg = c
	s.log = slog.Default().With("connector", "webhook")
	return nil
}

// Open starts listening. The position is not used: a webhook cannot be
// re-read, senders retry what was not answered 2xx.
func (s *Source) Open(_ context.Context, _ sdk.Position) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("webhook: listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.queue = make(chan *pending, 1024)
	s.waiting = map[int64]*pending{}
	s.byEvent = map[string]*pending{}
	s.done = map[string]struct{}{}
	s.closed = make(chan struct{})
	// Sequence numbers grow across restarts so positions stay ordered.
	s.seq = time.Now().UnixNano()
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+s.cfg.Path, s.handle)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("webhook server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address the endpoint listens on (useful with port 0).
func (s *Source) Addr() string { return s.ln.Addr().String() }

// verify checks the signature header against the body.
func (s *Source) verify(header string, body []byte, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrSignature
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return ErrSignature
	}
	if !hmac.Equal(got, Sign(s.cfg.Secret, t, body)) {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(t, 0)); d > time.Duration(s.cfg.Tolerance) || d < -time.Duration(s.cfg.Tolerance) {
		return ErrStale
	}
	return nil
}

// Sign computes the v1 signature of body at unix time t, for senders and tests.
func Sign(secret string, t int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(t, 10)))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader renders the X-Crmhub-Signature value.
func SignatureHeader(secret string, t int64, body []byte) string {
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(Sign(secret, t, body))
}

func (s *Source) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBody)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := s.verify(r.Header.Get("X-Crmhub-Signature"), body, time.Now()); err != nil {
		s.log.Warn("webhook request rejected", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		http.Error(w, "body is not a JSON object", http.StatusBadRequest)
		return
	}
	id := scalar(obj[s.cfg.IDField])
	if id == "" {
		http.Error(w, fmt.Sprintf("body has no %q field", s.cfg.IDField), http.StatusBadRequest)
		return
	}
	entity := s.cfg.Entity
	if e := scalar(obj["entity"]); e != "" {
		entity = e
	}
	event := r.Header.Get("X-Crmhub-Event-Id")
	if event == "" {
		event = id
	}

	s.mu.Lock()
	if _, ok := s.done[event]; ok {
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK) // already durable: a retry of a delivered event
		return
	}
	p, inFlight := s.byEvent[event]
	if !inFlight {
		s.seq++
		p = &pending{seq: s.seq, event: event, acked: make(chan struct{})}
		pos, _ := json.Marshal(position{Seq: p.seq})
		p.rec = sdk.Record{Entity: entity, ID: id, Op: sdk.OpUpsert, Payload: body, Position: pos,
			Meta: map[string]string{"event_id": event}}
		s.byEvent[event] = p
		s.waiting[p.seq] = p
	}
	s.mu.Unlock()
	if !inFlight {
		select {
		case s.queue <- p:
		case <-s.closed: // nobody reads the queue any more: Shutdown would wait for this request
			http.Error(w, "shutting down, retry", http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
	}
	timer := time.NewTimer(time.Duration(s.cfg.AckTimeout))
	defer timer.Stop()
	select {
	case <-p.acked:
		w.WriteHeader(http.StatusAccepted)
	case <-timer.C:
		http.Error(w, "not yet durable, retry", http.StatusServiceUnavailable)
	case <-s.closed:
		http.Error(w, "shutting down, retry", http.StatusServiceUnavailable)
	case <-r.Context().Done():
	}
}

func scalar(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Read returns queued events, waiting up to half a second for the first.
func (s *Source) Read(ctx context.Context, max int) ([]sdk.Record, error) {
	var recs []sdk.Record
	timer := time.NewTimer(500 * time.Millisecond)
	defer timer.Stop()
	select {
	case p := <-s.queue:
		recs = append(recs, p.rec)
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, nil
	}
	for len(recs) < max {
		select {
		case p := <-s.queue:
			recs = append(recs, p.rec)
		default:
			return recs, nil
		}
	}
	return recs, nil
}

// Ack answers every request up to pos and remembers their event ids.
func (s *Source) Ack(_ context.Context, pos sdk.Position) error {
	var p position
	if err := json.Unmarshal(pos, &p); err != nil {
		return fmt.Errorf("webhook: decode position: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for seq, w := range s.waiting {
		if seq > p.Seq {
			continue
		}
		close(w.acked)
		delete(s.waiting, seq)
		delete(s.byEvent, w.event)
		s.done[w.event] = struct{}{}
		s.doneLog = append(s.doneLog, w.event)
	}
	if n := len(s.doneLog) - maxRemembered; n > 0 {
		for _, e := range s.doneLog[:n] {
			delete(s.done, e)
		}
		s.doneLog = append([]string(nil), s.doneLog[n:]...)
	}
	return nil
}

// Teardown stops the server; waiting senders get 503 and retry.
func (s *Source) Teardown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	close(s.closed)
	// Every handler returns once closed is: what Shutdown may still wait
	// for are connections that never sent a request (a client's spare
	// dial), which it counts as busy for 5 s. Past a short grace they
	// are closed.
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	s.srv = nil
	return err
}
