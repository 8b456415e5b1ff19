package console_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crmhub/crmhub/hub/auth"
)

// TestConsoleReplayAfterMappingFix: the finance system's Swiss branch
// writes a credit limit as 5'000.00, which the debtors mapping reads as a
// German number and refuses; the record is dead-lettered with its field.
// The test fixes the mapping file the hub loaded, sends the hub SIGHUP as
// an operator would (server.ReloadOnHangup, what `crmhub run` installs),
// replays the dead letter from the console, and the record appears on the
// golden customer with the credit limit read right.
func TestConsoleReplayAfterMappingFix(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	h := startHub(t, ctx)
	r := h.run
	stopReload := r.Server.ReloadOnHangup()
	defer stopReload()

	// A person known to the ERP and not yet to finance: the new debtor
	// refers to the ERP customer number, so it joins that customer.
	var target customer
	var custno string
	for _, c := range h.customers(t) {
		if c.Customer["kind"] != "person" || c.Customer["full_name"] == nil {
			continue
		}
		erp, finance := "", false
		for _, s := range c.Sources {
			switch {
			case s.System == "erp" && s.SourceEntity == "customers":
				erp = s.SourceID
			case s.System == "finance":
				finance = true
			}
		}
		if erp != "" && !finance {
			target, custno = c, erp
			break
		}
	}
	if target.ID == "" {
		t.Fatal("the generated data has no ERP person without a finance debtor")
	}
	const debtor = "D-CONSOLE-1"
	line := strings.Join([]string{debtor, custno, target.Customer["full_name"].(string), "", "Bahnhofstrasse 1", "8001", "Zürich", "CH",
		"", "", "5'000.00", "01.12.2026 10:00:00"}, ";")
	csv := "debtor_no;erp_custno;name;vat_id;street;zip;city;country;email;phone;credit_limit;changed_at\n" + line + "\n"
	if err := os.WriteFile(filepath.Join(r.Dir, "finance", "debtors_zz_console.csv"), latin1(t, csv), 0o644); err != nil {
		t.Fatal(err)
	}

	// The hub reads the new file and dead-letters the record.
	var dead struct {
		ID             string `json:"id"`
		Field          string `json:"field"`
		ReasonClass    string `json:"reason_class"`
		MappingVersion int    `json:"mapping_version"`
		Status         string `json:"status"`
	}
	for dead.ID == "" {
		var list struct {
			Items []struct {
				ID             string `json:"id"`
				SourceID       string `json:"source_id"`
				Field          string `json:"field"`
				ReasonClass    string `json:"reason_class"`
				MappingVersion int    `json:"mapping_version"`
				Status         string `json:"status"`
			} `json:"items"`
		}
		h.get(t, auth.ScopeSteward, "/v1/deadletters?status=open&source_entity=debtors&limit=200", &list)
		for _, e := range list.Items {
			if e.SourceID == debtor {
				dead.ID, dead.Field, dead.ReasonClass, dead.MappingVersion, dead.Status = e.ID, e.Field, e.ReasonClass, e.MappingVersion, e.Status
			}
		}
		if dead.ID == "" {
			if ctx.Err() != nil {
				t.Fatalf("debtor %s was not dead-lettered", debtor)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if dead.Field != "credit_limit" || dead.ReasonClass != "mapping_error" {
		t.Errorf("dead letter %s: field %q, reason class %q; want credit_limit, mapping_error", dead.ID, dead.Field, dead.ReasonClass)
	}

	tb := newBrowser(t, ctx).tab()
	tb.signIn(h.base, h.tokens[auth.ScopeSteward])
	tb.goTo("#/deadletters")
	sel := fmt.Sprintf(`document.querySelector('details.dl[data-id="' + CSS.escape(%s) + '"]')`, jsString(dead.ID))
	tb.wait("the debtor's dead letter", sel)
	tb.do(chromedp.Evaluate[chromedp.Void](sel + `.open = true`))
	if txt := eval[string](tb, sel+`.textContent`); !strings.Contains(txt, "credit_limit") || !strings.Contains(txt, "5'000.00") {
		t.Errorf("the dead letter does not show the field and the value: %q", txt)
	}
	tb.shot("11-deadletter-before-fix")

	// The fix: Swiss credit limits are read with the Swiss number format.
	dir := r.Config.Mappings.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(r.ConfigPath), dir)
	}
	file := filepath.Join(dir, "finance_debtors.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const before = `credit_limit: 'money(credit_limit, country(country) == "CH" ? "CHF" : "EUR", "de")'`
	fixed := strings.Replace(string(b), before, `credit_limit: 'country(country) == "CH" ? money(credit_limit, "CHF", "ch") : money(credit_limit, "EUR", "de")'`, 1)
	fixed = strings.Replace(fixed, "\nversion: 2\n", "\nversion: 3\n", 1)
	if fixed == string(b) || !strings.Contains(string(b), "\nversion: 2\n") {
		t.Fatalf("%s changed: no %s at version 2 to fix", file, before)
	}
	if err := os.WriteFile(file, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for {
		if m, ok := r.Server.Lookup("finance", "debtors"); ok && m.Version() == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the hub did not reload the mapping after SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Replay from the console: the record maps now.
	tb.do(chromedp.Evaluate[chromedp.Void](sel + `.open = true`))
	tb.do(chromedp.Evaluate[chromedp.Void](sel + `.querySelector('button.replay').click()`))
	tb.wait("the replay's outcome", `document.getElementById('toast').textContent.startsWith('Replay')`)
	if got := eval[string](tb, `document.getElementById('toast').textContent`); got != "Replay: published" {
		t.Errorf("toast %q, want the replay published", got)
	}
	var after struct {
		Status string `json:"status"`
	}
	h.get(t, auth.ScopeSteward, "/v1/deadletters/"+url.PathEscape(dead.ID), &after)
	if after.Status != "replayed" {
		t.Errorf("dead letter %s after the replay: status %q", dead.ID, after.Status)
	}

	// The record reaches the golden customer, credit limit and all.
	key := "finance/debtors/" + debtor
	var got customer
	for !got.has(key) {
		got = customer{}
		h.get(t, auth.ScopeSteward, "/v1/customers/"+url.PathEscape(target.ID), &got)
		if !got.has(key) {
			if ctx.Err() != nil {
				t.Fatalf("%s did not reach customer %s: %d sources", key, target.ID, len(got.Sources))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, s := range got.Sources {
		if s.System+"/"+s.SourceEntity+"/"+s.SourceID == key {
			if cl, _ := s.Record["credit_limit"].(map[string]any); cl["amount"] != "5000.00" || cl["currency"] != "CHF" {
				t.Errorf("the replayed debtor's credit limit: %v", s.Record["credit_limit"])
			}
		}
	}
	tb.goTo("#/customer/" + url.PathEscape(got.ID))
	tb.wait("the debtor on the customer page", `document.querySelector('#sources') && document.querySelector('#sources').textContent.includes(`+jsString(debtor)+`)`)
	if !eval[bool](tb, `document.querySelector('#sources').textContent.includes('5000.00 CHF')`) {
		t.Error("the customer page does not show the replayed credit limit 5000.00 CHF")
	}
	tb.shot("12-customer-after-replay")
}

// latin1 encodes s as ISO-8859-1, the finance system's encoding.
func latin1(t *testing.T, s string) []byte {
	t.Helper()
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			t.Fatalf("%q is not ISO-8859-1", r)
		}
		out = append(out, byte(r))
	}
	return out
}
