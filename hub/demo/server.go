package demo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Server serves the simulated CRM and service desk over HTTP from the files
// Generate wrote:
//
//	GET /api/v1/contacts?page=N&per_page=M[&updated_since=RFC3339]
//	    -> {"data": [...], "page": N, "per_page": M, "total_pages": T}
//	GET /api/v1/contacts/{id}
//	PATCH /api/v1/contacts/{id}  (JSON object of fields to set; bumps updated_at)
//	GET /api/tickets?limit=M[&cursor=C][&updated_since=RFC3339]
//	    -> {"tickets": [...], "next_cursor": "..."} (empty at the end)
//	GET /api/tickets/{id}
//
// updated_since keeps records with updated_at >= the given time. It is safe
// for concurrent use.
type Server struct {
	mu       sync.RWMutex
	contacts []Contact // in id order
	tickets  []Ticket  // in id order
	ticketAt map[string]int
	mux      *http.ServeMux
}

// Page size limits of the simulated APIs.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// NewServer loads crm/contacts.json and servicedesk/tickets.json from dir.
func NewServer(dir string) (*Server, error) {
	s := &Server{ticketAt: map[string]int{}}
	if err := readJSON(filepath.Join(dir, "crm", "contacts.json"), &s.contacts); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, "servicedesk", "tickets.json"), &s.tickets); err != nil {
		return nil, err
	}
	for i, t := range s.tickets {
		s.ticketAt[t.ID] = i
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/v1/contacts", s.listContacts)
	s.mux.HandleFunc("GET /api/v1/contacts/{id}", s.getContact)
	s.mux.HandleFunc("PATCH /api/v1/contacts/{id}", s.patchContact)
	s.mux.HandleFunc("GET /api/tickets", s.listTickets)
	s.mux.HandleFunc("GET /api/tickets/{id}", s.getTicket)
	return s, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("demo: server: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("demo: server: %s: %w", path, err)
	}
	return nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// intParam reads a positive integer query parameter.
func intParam(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, v)
	}
	return min(n, max), nil
}

func sinceParam(r *http.Request) (time.Time, error) {
	v := r.URL.Query().Get("updated_since")
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("updated_since=%q: want RFC 3339", v)
	}
	return t, nil
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request) {
	page, err := intParam(r, "page", 1, 1<<30)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	per, err := intParam(r, "per_page", DefaultPageSize, MaxPageSize)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	since, err := sinceParam(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	s.mu.RLock()
	var match []Contact
	for _, c := range s.contacts {
		if !c.UpdatedAt.Before(since) {
			match = append(match, c)
		}
	}
	s.mu.RUnlock()
	total := (len(match) + per - 1) / per
	data := []Contact{}
	if lo := (page - 1) * per; lo < len(match) {
		data = match[lo:min(lo+per, len(match))]
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "page": page, "per_page": per, "total_pages": total})
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.contacts {
		if c.ID == id {
			writeJSON(w, http.StatusOK, c)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no contact " + id})
}

// Ticket cursors are opaque to clients: the position after which to go on.
func encodeCursor(i int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("t:" + strconv.Itoa(i)))
}

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && len(b) > 2 && string(b[:2]) == "t:" {
		if n, err := strconv.Atoi(string(b[2:])); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("cursor=%q: not a cursor this API returned", c)
}

func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) {
	limit, err := intParam(r, "limit", DefaultPageSize, MaxPageSize)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	since, err := sinceParam(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		if start, err = decodeCursor(c); err != nil {
			badRequest(w, "%v", err)
			return
		}
	}
	s.mu.RLock()
	out := []Ticket{}
	next := ""
	i := start
	for ; i < len(s.tickets); i++ {
		t := s.tickets[i]
		if t.UpdatedAt.Before(since) {
			continue
		}
		if len(out) == limit {
			next = encodeCursor(i)
			break
		}
		out = append(out, t)
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, map[string]any{"tickets": out, "next_cursor": next})
}

func (s *Server) getTicket(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i, ok := s.ticketAt[id]; ok {
		writeJSON(w, http.StatusOK, s.tickets[i])
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no ticket " + id})
}

// patchContact edits a contact as a CRM user would: the JSON body sets
// fields (null clears one), updated_at moves to now (whole seconds, always
// later than before, so an incremental reader sees the edit).
func (s *Server) patchContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		badRequest(w, "read body: %v", err)
		return
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil {
		badRequest(w, "body: want a JSON object of fields: %v", err)
		return
	}
	for _, k := range []string{"id", "updated_at"} {
		if _, ok := patch[k]; ok {
			badRequest(w, "field %s cannot be set", k)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.contacts {
		if c.ID != id {
			continue
		}
		cur, _ := json.Marshal(c)
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(cur, &fields)
		for k, v := range patch {
			if _, known := fields[k]; !known {
				badRequest(w, "contact has no field %q", k)
				return
			}
			fields[k] = v
		}
		merged, _ := json.Marshal(fields)
		var next Contact
		dec := json.NewDecoder(bytes.NewReader(merged))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&next); err != nil {
			badRequest(w, "contact %s: %v", id, err)
			return
		}
		now := time.Now().UTC().Truncate(time.Second)
		if !now.After(c.UpdatedAt) {
			now = c.UpdatedAt.Add(time.Second).Truncate(time.Second)
		}
		next.UpdatedAt = now
		s.contacts[i] = next
		writeJSON(w, http.StatusOK, next)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no contact " + id})
}
