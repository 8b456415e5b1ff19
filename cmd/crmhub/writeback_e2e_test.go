package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/demo"
)

// startRun runs `crmhub run` on the quickstart config against a simulated
// CRM the test serves itself, so the test can edit contacts.
func startRun(t *testing.T, dir, crmURL string) *hubProc {
	t.Helper()
	cfgPath, err := demo.WriteQuickstart(filepath.Join(dir, "quickstart"))
	if err != nil {
		t.Fatal(err)
	}
	p := &hubProc{api: freeAddr(t), kafka: freeAddr(t)}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer(`listen: "127.0.0.1:8080"`, `listen: "`+p.api+`"`,
		`embedded_listen: "127.0.0.1:9092"`, `embedded_listen: "`+p.kafka+`"`,
		"poll_interval: 2s", "poll_interval: 1s", "disabled: true # write-back", "disabled: false #").Replace(string(b))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(binPath, "run", "--config", cfgPath)
	p.cmd.Env = append(os.Environ(), "CRMHUB_DATA_DIR="+filepath.Join(dir, "hub"), "CRMHUB_DEMO_DIR="+dir,
		"CRMHUB_DEMO_CRM_URL="+crmURL, "CRMHUB_DEMO_SERVICEDESK_URL="+crmURL)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.output.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("crmhub output:\n%s", p.log())
		}
	})
	return p
}

func getInto(t *testing.T, u string, v any) bool {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return json.NewDecoder(resp.Body).Decode(v) == nil
}

// changesSince reads the whole change feed after cursor.
func changesSince(t *testing.T, api string, cursor string) ([]hub.GoldenChange, string) {
	t.Helper()
	var all []hub.GoldenChange
	for {
		var page struct {
			Items      []hub.GoldenChange `json:"items"`
			NextCursor string             `json:"next_cursor"`
		}
		if !getInto(t, fmt.Sprintf("http://%s/v1/changes?since=%s", api, cursor), &page) {
			t.Fatal("GET /v1/changes failed")
		}
		all = append(all, page.Items...)
		if len(page.Items) == 0 || page.NextCursor == cursor {
			return all, cursor
		}
		cursor = page.NextCursor
	}
}

func countFor(cs []hub.GoldenChange, id string) int {
	n := 0
	for _, c := range cs {
		if c.GoldenID == id {
			n++
		}
	}
	return n
}

// TestWritebackEndToEnd: an edit of a contact's phone in the simulated CRM
// reaches the ERP's database through write-back, shows in the API, makes
// one golden change, and the loop goes quiet: the ERP reporting the row
// crmhub wrote is recognised, nothing is written twice.
func TestWritebackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	dir := t.TempDir()
	if _, err := demo.Generate(context.Background(), demo.Options{Dir: dir, Seed: 11, People: 40}); err != nil {
		t.Fatal(err)
	}
	crm, err := demo.NewServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(crm)
	defer ts.Close()
	p := startRun(t, dir, ts.URL)

	// A person known to both the CRM and the ERP, preferably one whose ERP
	// row has no phone: then the ERP adopting the new number changes no
	// golden value (with an old ERP number, its disappearance from the
	// union of phones is a second, real, change).
	var contacts []demo.Contact
	b, err := os.ReadFile(filepath.Join(dir, "crm", "contacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &contacts); err != nil {
		t.Fatal(err)
	}
	// Let the initial sync and its write-back settle: the stream is quiet.
	var cursor string
	waitFor(t, "the hub to answer", time.Minute, func() bool {
		var page struct{}
		return getInto(t, "http://"+p.api+"/v1/changes", &page)
	})
	_, cursor = changesSince(t, p.api, "0")
	waitFor(t, "the initial sync to settle", 3*time.Minute, func() bool {
		time.Sleep(3 * time.Second)
		more, next := changesSince(t, p.api, cursor)
		cursor = next
		return len(more) == 0
	})
	var golden hub.CustomerView
	var contactID, erpID string
	waitFor(t, "a golden customer with a CRM contact and an ERP customer", 3*time.Minute, func() bool {
		best := -1
		for _, c := range contacts {
			if c.Company != nil && *c.Company != "" {
				continue
			}
			var res struct {
				Items []hub.CustomerView `json:"items"`
			}
			if !getInto(t, fmt.Sprintf("http://%s/v1/customers?system=crm&source_id=%s", p.api, c.ID), &res) || len(res.Items) != 1 {
				continue
			}
			g := res.Items[0]
			var erp []hub.SourceRecordRef
			crmN := 0
			for _, s := range g.Sources {
				switch {
				case s.System == "erp" && s.SourceEntity == "customers":
					erp = append(erp, s)
				case s.System == "crm":
					crmN++
				}
			}
			if len(erp) != 1 || crmN != 1 {
				continue
			}
			score := 0
			if len(erp[0].Customer.Phones) == 0 {
				score = 1
			}
			if score > best {
				best, golden, contactID, erpID = score, g, c.ID, erp[0].SourceID
			}
			if best == 1 {
				break
			}
		}
		return best >= 0
	})
	t.Logf("editing CRM contact %s of golden %s (ERP customer %s)", contactID, golden.ID, erpID)

	writtenBefore := p.metrics(t)["crmhub_writeback_records_total"]

	newPhone := "+49 30 " + strconv.Itoa(5550000+int(time.Now().UnixNano()%9999))
	e164 := "+49" + strings.ReplaceAll(strings.TrimPrefix(newPhone, "+49"), " ", "")
	req, _ := http.NewRequest(http.MethodPatch, ts.URL+"/api/v1/contacts/"+contactID, strings.NewReader(`{"phone": "`+newPhone+`", "mobile": null}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH contact: %v %v", err, resp)
	}
	resp.Body.Close()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "erp.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitFor(t, "the new phone in the ERP database", time.Minute, func() bool {
		var phone sql.NullString
		_ = db.QueryRow(`SELECT phone FROM customers WHERE custno = ?`, erpID).Scan(&phone)
		return phone.String == e164
	})
	waitFor(t, "the new phone in GET /v1/customers/{id}", 30*time.Second, func() bool {
		var v hub.CustomerView
		return getInto(t, fmt.Sprintf("http://%s/v1/customers/%s", p.api, golden.ID), &v) && slices.Contains(v.Customer.Phones, e164)
	})
	// The ERP reports the row crmhub wrote (updated_at touched): wait until
	// the ERP's own source record shows the new phone, then some poll
	// intervals more.
	waitFor(t, "the ERP to report the written row", time.Minute, func() bool {
		var v hub.CustomerView
		if !getInto(t, fmt.Sprintf("http://%s/v1/customers/%s", p.api, golden.ID), &v) {
			return false
		}
		for _, s := range v.Sources {
			if s.System == "erp" && s.SourceID == erpID {
				return slices.Contains(s.Customer.Phones, e164)
			}
		}
		return false
	})
	time.Sleep(5 * time.Second)
	after, next := changesSince(t, p.api, cursor)
	n := countFor(after, golden.ID)
	want := 1
	if len(golden.Sources) > 0 {
		for _, s := range golden.Sources {
			if s.System == "erp" && len(s.Customer.Phones) > 0 && !slices.Contains(s.Customer.Phones, e164) {
				want = 2 // the ERP's old number left the union of phones: a real change
			}
		}
	}
	t.Logf("golden changes for %s after the edit: %d (want %d)", golden.ID, n, want)
	if n != want {
		t.Errorf("golden changes for %s after the edit: %d, want %d (%+v)", golden.ID, n, want, after)
	}
	written := p.metrics(t)["crmhub_writeback_records_total"] - writtenBefore
	if written != 1 {
		t.Errorf("write-back wrote %v records after the edit, want exactly 1", written)
	}
	// Quiet: several poll intervals, no further change and no write.
	time.Sleep(4 * time.Second)
	more, _ := changesSince(t, p.api, next)
	if len(more) != 0 {
		t.Errorf("the stream did not go quiet: %+v", more)
	}
	if w := p.metrics(t)["crmhub_writeback_records_total"] - writtenBefore; w != written {
		t.Errorf("write-back kept writing: %v records after the edit", w)
	}
	p.stop(t)
}
