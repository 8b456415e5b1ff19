package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func getJSON(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
	}
	return resp.StatusCode
}

type contactPage struct {
	Data       []Contact `json:"data"`
	Page       int       `json:"page"`
	PerPage    int       `json:"per_page"`
	TotalPages int       `json:"total_pages"`
}

// allContacts pages through the CRM as the rest connector does.
func allContacts(t *testing.T, base string, per int, since string) []string {
	t.Helper()
	var ids []string
	for page := 1; ; page++ {
		q := url.Values{"page": {fmt.Sprint(page)}, "per_page": {fmt.Sprint(per)}}
		if since != "" {
			q.Set("updated_since", since)
		}
		var p contactPage
		if code := getJSON(t, base+"/api/v1/contacts?"+q.Encode(), &p); code != 200 {
			t.Fatalf("page %d: status %d", page, code)
		}
		if p.Page != page || p.PerPage != per {
			t.Fatalf("page %d: response says page %d per_page %d", page, p.Page, p.PerPage)
		}
		if len(p.Data) == 0 {
			if page <= p.TotalPages {
				t.Fatalf("page %d of %d is empty", page, p.TotalPages)
			}
			return ids
		}
		if len(p.Data) > per {
			t.Fatalf("page %d has %d contacts, per_page %d", page, len(p.Data), per)
		}
		for _, c := range p.Data {
			ids = append(ids, c.ID)
		}
	}
}

func allTickets(t *testing.T, base string, limit int, since string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 100000 {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if since != "" {
			q.Set("updated_since", since)
		}
		var p struct {
			Tickets    []Ticket `json:"tickets"`
			NextCursor string   `json:"next_cursor"`
		}
		if code := getJSON(t, base+"/api/tickets?"+q.Encode(), &p); code != 200 {
			t.Fatalf("tickets: status %d", code)
		}
		if len(p.Tickets) > limit {
			t.Fatalf("%d tickets, limit %d", len(p.Tickets), limit)
		}
		for _, tk := range p.Tickets {
			ids = append(ids, tk.ID)
		}
		if p.NextCursor == "" {
			return ids
		}
		cursor = p.NextCursor
	}
	t.Fatal("ticket cursor never ends")
	return nil
}

func TestServerPagination(t *testing.T) {
	dir, m := mustGenerate(t, 42, 400)
	srv, err := NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	contacts := readContacts(t, dir)
	var tickets []Ticket
	if err := readJSON(dir+"/servicedesk/tickets.json", &tickets); err != nil {
		t.Fatal(err)
	}
	// a cut-off in the middle of the data, so the filter keeps some and drops some
	times := make([]time.Time, 0, len(contacts))
	for _, c := range contacts {
		times = append(times, c.UpdatedAt)
	}
	slices.SortFunc(times, time.Time.Compare)
	cut := times[len(times)/2]

	idsOf := func(filter func(Contact) bool) []string {
		var ids []string
		for _, c := range contacts {
			if filter(c) {
				ids = append(ids, c.ID)
			}
		}
		return ids
	}
	all := idsOf(func(Contact) bool { return true })
	recent := idsOf(func(c Contact) bool { return !c.UpdatedAt.Before(cut) })
	if len(all) != m.Counts["crm/contacts"] || len(recent) == 0 || len(recent) == len(all) {
		t.Fatalf("bad fixture: %d contacts, %d recent", len(all), len(recent))
	}
	for _, per := range []int{1, 7, 100, 1000} {
		if got := allContacts(t, ts.URL, per, ""); !slices.Equal(got, all) {
			t.Errorf("per_page %d: got %d contacts, want each of %d exactly once in id order", per, len(got), len(all))
		}
		if got := allContacts(t, ts.URL, per, cut.Format(time.RFC3339)); !slices.Equal(got, recent) {
			t.Errorf("per_page %d, updated_since %s: got %d contacts, want %d", per, cut, len(got), len(recent))
		}
	}

	var allT, recentT []string
	tcut := tickets[len(tickets)/2].UpdatedAt
	for _, tk := range tickets {
		allT = append(allT, tk.ID)
		if !tk.UpdatedAt.Before(tcut) {
			recentT = append(recentT, tk.ID)
		}
	}
	for _, limit := range []int{1, 13, 1000} {
		if got := allTickets(t, ts.URL, limit, ""); !slices.Equal(got, allT) {
			t.Errorf("limit %d: got %d tickets, want each of %d once", limit, len(got), len(allT))
		}
		if got := allTickets(t, ts.URL, limit, tcut.Format(time.RFC3339)); !slices.Equal(got, recentT) {
			t.Errorf("limit %d, updated_since: got %d tickets, want %d", limit, len(got), len(recentT))
		}
	}

	var one Contact
	if code := getJSON(t, ts.URL+"/api/v1/contacts/"+contacts[3].ID, &one); code != 200 || one.ID != contacts[3].ID {
		t.Errorf("GET contact %s: status %d, id %q", contacts[3].ID, code, one.ID)
	}
	var tk Ticket
	if code := getJSON(t, ts.URL+"/api/tickets/"+tickets[0].ID, &tk); code != 200 || tk.ContactID != tickets[0].ContactID {
		t.Errorf("GET ticket %s: status %d", tickets[0].ID, code)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/api/v1/contacts/C-999999", 404},
		{"/api/tickets/T-1", 404},
		{"/api/v1/contacts?page=0", 400},
		{"/api/v1/contacts?per_page=x", 400},
		{"/api/v1/contacts?updated_since=yesterday", 400},
		{"/api/tickets?cursor=bogus", 400},
		{"/api/tickets?limit=-1", 400},
	} {
		var v any
		if code := getJSON(t, ts.URL+c.path, &v); code != c.want {
			t.Errorf("GET %s: status %d, want %d", c.path, code, c.want)
		}
	}
}

func TestServerPatchContact(t *testing.T) {
	dir, _ := mustGenerate(t, 7, 50)
	srv, err := NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := readContacts(t, dir)[3]
	patch := func(id, body string) (int, Contact) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPatch, ts.URL+"/api/v1/contacts/"+id, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got Contact
		json.NewDecoder(resp.Body).Decode(&got)
		return resp.StatusCode, got
	}
	tests := []struct {
		name, id, body string
		status         int
	}{
		{"unknown field", c.ID, `{"fax": "1"}`, http.StatusBadRequest},
		{"id is fixed", c.ID, `{"id": "x"}`, http.StatusBadRequest},
		{"wrong type", c.ID, `{"opt_in_email": "yes"}`, http.StatusBadRequest},
		{"no such contact", "nope", `{"phone": "1"}`, http.StatusNotFound},
		{"not an object", c.ID, `[1]`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		if st, _ := patch(tt.id, tt.body); st != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, st, tt.status)
		}
	}
	st, got := patch(c.ID, `{"phone": "+49 30 5550001", "mobile": null}`)
	if st != http.StatusOK || got.Phone == nil || *got.Phone != "+49 30 5550001" || got.Mobile != nil || !got.UpdatedAt.After(c.UpdatedAt) {
		t.Fatalf("patch: %d %+v", st, got)
	}
	if got.FirstName == nil || c.FirstName == nil || *got.FirstName != *c.FirstName {
		t.Errorf("untouched field changed: %v", got.FirstName)
	}
	// The edit is served and found by an incremental reader.
	var again Contact
	getJSON(t, ts.URL+"/api/v1/contacts/"+c.ID, &again)
	if again.Phone == nil || *again.Phone != "+49 30 5550001" {
		t.Errorf("GET after PATCH: %+v", again)
	}
	ids := allContacts(t, ts.URL, 10, got.UpdatedAt.Format(time.RFC3339))
	if !slices.Contains(ids, c.ID) {
		t.Errorf("updated_since %s does not list the edited contact: %v", got.UpdatedAt, ids)
	}
}
