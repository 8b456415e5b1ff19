package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
)

// post sends a JSON body as actor ("" for none) and decodes the answer.
func (f *fixture) post(t *testing.T, path, actor string, body, v any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(b))
	if actor != "" {
		req.Header.Set("X-Test-Actor", actor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

func (f *fixture) idOf(t *testing.T, system, id string) string {
	t.Helper()
	var page struct{ Items []hub.CustomerView }
	f.get(t, "/v1/customers?system="+system+"&source_id="+id, &page)
	if len(page.Items) != 1 {
		t.Fatalf("%s/%s: %d customers", system, id, len(page.Items))
	}
	return page.Items[0].ID
}

func TestStewardMergeUnmergeAuditAndChanges(t *testing.T) {
	f := newFixture(t)
	f.apply(t,
		customer("crm", "c1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt", Emails: []string{"a@example.de"}}),
		customer("svc", "s1", 1, hub.Customer{Kind: "person", FamilyName: "Schmidt", Phones: []string{"+49301234567"}}),
		customer("erp", "K9", 1, hub.Customer{Kind: "organization", OrganizationName: "Schmidt GmbH"}),
	)
	c1, s1, k9 := f.idOf(t, "crm", "c1"), f.idOf(t, "svc", "s1"), f.idOf(t, "erp", "K9")
	var e errBody
	if code := f.post(t, "/v1/customers/"+c1+"/merge", "", map[string]string{"with": s1, "reason": "x"}, &e); code != 403 || e.Error.Code != "forbidden" {
		t.Fatalf("merge without actor: %d %+v", code, e)
	}
	if code := f.post(t, "/v1/customers/"+c1+"/merge", "anna", map[string]string{"with": k9, "reason": "x"}, &e); code != 409 || e.Error.Code != "conflict" {
		t.Fatalf("person into organization: %d %+v", code, e)
	}
	if code := f.post(t, "/v1/customers/"+c1+"/merge", "anna", map[string]any{"with": s1, "reason": "x", "extra": 1}, &e); code != 400 {
		t.Fatalf("unknown body field: %d %+v", code, e)
	}
	var merged struct{ Survivor string }
	if code := f.post(t, "/v1/customers/"+s1+"/merge", "anna", map[string]string{"with": c1, "reason": "same person per phone call"}, &merged); code != 200 || merged.Survivor != c1 {
		t.Fatalf("merge: %d %+v, want survivor %s", code, merged, c1)
	}
	if resp := f.get(t, "/v1/customers/"+s1, nil); resp.StatusCode != 301 {
		t.Fatalf("merged id: %d", resp.StatusCode)
	}
	var split struct{ ID string }
	if code := f.post(t, "/v1/customers/"+c1+"/unmerge", "anna", map[string]string{"record": "svc/customers/s1", "reason": "was wrong"}, &split); code != 200 || split.ID == c1 || split.ID == "" {
		t.Fatalf("unmerge: %d %+v", code, split)
	}
	var audit struct{ Items []hub.AuditEntry }
	f.get(t, "/v1/customers/"+c1+"/audit", &audit)
	if len(audit.Items) != 2 || audit.Items[0].Action != "force_merge" || audit.Items[1].Action != "unmerge" || audit.Items[1].Actor != "anna" || audit.Items[1].Reason != "was wrong" {
		t.Fatalf("audit: %+v", audit.Items)
	}

	// The feed, page by page, ends with the unmerge and gives a cursor to resume from.
	var all []hub.GoldenChange
	cursor := "0"
	for range 20 {
		var page struct {
			Items      []hub.GoldenChange `json:"items"`
			NextCursor string             `json:"next_cursor"`
		}
		f.get(t, "/v1/changes?limit=2&since="+cursor, &page)
		all = append(all, page.Items...)
		if len(page.Items) == 0 {
			if page.NextCursor != cursor {
				t.Fatalf("empty page moved the cursor: %s -> %s", cursor, page.NextCursor)
			}
			break
		}
		cursor = page.NextCursor
	}
	var ops []string
	for _, c := range all {
		ops = append(ops, c.Op)
	}
	if len(all) < 5 || !strings.Contains(strings.Join(ops, ","), "merged") || all[len(all)-1].Op != "upsert" {
		t.Fatalf("feed: %v", ops)
	}
	if resp := f.get(t, "/v1/changes?since=abc", &e); resp.StatusCode != 400 {
		t.Fatalf("bad since: %d", resp.StatusCode)
	}
}

func TestReviewQueueRoutes(t *testing.T) {
	f := newFixture(t)
	at := func(street string) []hub.Address {
		return []hub.Address{{Street: street, PostalCode: "10115", City: "Berlin", Country: "DE"}}
	}
	f.apply(t,
		customer("crm", "1", 1, hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meier", Addresses: at("Hauptstraße 5")}),
		customer("shop", "3", 1, hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meier", Addresses: at("Gartenweg 19")}),
	)
	var page struct{ Items []hub.Review }
	f.get(t, "/v1/reviews", &page)
	if len(page.Items) != 1 || page.Items[0].A != "crm/customers/1" || page.Items[0].B != "shop/customers/3" {
		t.Fatalf("reviews: %+v", page.Items)
	}
	// A steward sees both records and how each comparison weighed.
	it := page.Items[0]
	if it.RecordA == nil || it.RecordB == nil || it.RecordA.FamilyName != "Meier" || it.RecordB.Addresses[0].Street != "Gartenweg 19" {
		t.Errorf("review records: %+v / %+v", it.RecordA, it.RecordB)
	}
	if ev := it.Evidence; ev == nil || ev.Method != "fellegi_sunter" || ev.Auto || len(ev.Terms) == 0 || ev.Probability != it.Score {
		t.Errorf("review evidence %+v, want the model's terms and the review's score", ev)
	} else {
		levels := map[string]string{}
		for _, term := range ev.Terms {
			levels[term.Comparison] = term.Level
		}
		if levels["given_name"] != "exact" || levels["address"] != "postcode" {
			t.Errorf("evidence levels %v, want the same given name and only the postal code of the address", levels)
		}
	}
	var e errBody
	if code := f.post(t, "/v1/reviews/decision", "bob", map[string]string{"a": "crm/customers/1", "b": "shop/customers/3", "decision": "maybe", "reason": "r"}, &e); code != 400 {
		t.Fatalf("bad decision: %d", code)
	}
	// Not sure: a note in the audit, the pair stays in the queue.
	var ok map[string]string
	if code := f.post(t, "/v1/reviews/decision", "bob", map[string]string{"a": "crm/customers/1", "b": "shop/customers/3", "decision": "defer", "reason": "ask the branch"}, &ok); code != 200 || ok["status"] != "deferred" {
		t.Fatalf("defer: %d %v", code, ok)
	}
	f.get(t, "/v1/reviews", &page)
	if len(page.Items) != 1 {
		t.Fatalf("queue after defer: %+v", page.Items)
	}
	var auditPage struct{ Items []hub.AuditEntry }
	f.get(t, "/v1/customers/"+f.idOf(t, "crm", "1")+"/audit", &auditPage)
	if audit := auditPage.Items; len(audit) != 1 || audit[0].Action != "review_defer" || audit[0].Reason != "ask the branch" || audit[0].Actor != "bob" {
		t.Errorf("audit after defer: %+v", auditPage.Items)
	}
	if code := f.post(t, "/v1/reviews/decision", "bob", map[string]string{"a": "crm/customers/1", "b": "shop/customers/3", "decision": "accept", "reason": "same, moved"}, &ok); code != 200 {
		t.Fatalf("accept: %d %v", code, ok)
	}
	if f.idOf(t, "crm", "1") != f.idOf(t, "shop", "3") {
		t.Fatal("accepted review did not merge")
	}
	f.get(t, "/v1/reviews", &page)
	if len(page.Items) != 0 {
		t.Fatalf("queue after accept: %+v", page.Items)
	}
	if code := f.post(t, "/v1/reviews/decision", "bob", map[string]string{"a": "crm/customers/1", "b": "shop/customers/3", "decision": "accept", "reason": "again"}, &e); code != 404 || e.Error.Code != "not_found" {
		t.Fatalf("decided review again: %d %+v", code, e)
	}
}

// The explanation of a customer joined by a fuzzy link shows the link's
// waterfall: the comparisons that made the two records one.
func TestExplainShowsMatchEvidence(t *testing.T) {
	f := newFixture(t)
	f.apply(t,
		customer("crm", "1", 1, hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meier", BirthDate: "1980-04-12",
			Addresses: []hub.Address{{Street: "Hauptstraße 5", PostalCode: "10115", City: "Berlin"}}}),
		customer("shop", "3", 1, hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meyer", BirthDate: "1980-04-12",
			Addresses: []hub.Address{{Street: "Ringweg 9", PostalCode: "80331", City: "München"}}}),
	)
	id := f.idOf(t, "crm", "1")
	if id != f.idOf(t, "shop", "3") {
		t.Fatal("the records did not merge: same name by sound and birth date, moved")
	}
	var ex struct {
		Matches []hub.MatchEvidence `json:"matches"`
	}
	if resp := f.get(t, "/v1/customers/"+id+"/explain", &ex); resp.StatusCode != 200 {
		t.Fatalf("explain: %d", resp.StatusCode)
	}
	if len(ex.Matches) != 1 || !ex.Matches[0].Auto || ex.Matches[0].A != "crm/customers/1" {
		t.Fatalf("matches %+v, want the one auto link", ex.Matches)
	}
	sum := ex.Matches[0].PriorWeight
	levels := map[string]string{}
	for _, term := range ex.Matches[0].Terms {
		sum += term.Weight
		levels[term.Comparison] = term.Level
	}
	if levels["birth_date"] != "exact" || levels["family_name"] != "phonetic" || levels["address"] != "else" {
		t.Errorf("levels %v", levels)
	}
	if d := sum - ex.Matches[0].Weight; d > 0.1 || d < -0.1 {
		t.Errorf("the waterfall adds up to %.2f, weight %.2f", sum, ex.Matches[0].Weight)
	}
}
