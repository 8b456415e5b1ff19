package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/auth"
	"github.com/crmhub/crmhub/hub/config"
	"github.com/crmhub/crmhub/hub/console"
	"github.com/crmhub/crmhub/hub/httpapi"
	"github.com/crmhub/crmhub/hub/store"
	"github.com/crmhub/crmhub/hub/testenv"
	"github.com/crmhub/crmhub/internal/app/demohub"
)

// chromium finds a Chromium or Chrome to drive; CRMHUB_CHROMIUM names one.
// Without one the browser tests skip, or fail when services are required
// (CRMHUB_REQUIRE_SERVICES=1, as in .ci/run, which installs chromium).
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CRMHUB_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (looked for chromium, chromium-browser, google-chrome, headless-shell; or set CRMHUB_CHROMIUM): " +
		"install it with `apt-get install -y chromium`, or set CRMHUB_REQUIRE_SERVICES=1 to make this a failure"
	if testenv.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium for the test; each tab() of it has its
// own sessionStorage, so each tab signs in on its own.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	shots := os.Getenv("CRMHUB_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)
	return &browser{t: t, ctx: bctx, shots: shots}
}

type tab struct {
	b   *browser
	ctx context.Context
}

func (b *browser) tab() *tab {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	return &tab{b: b, ctx: ctx}
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.b.t.Fatal(err)
	}
}

// delayResponses holds the answers to requests matching the URL pattern
// for d before the page sees them (the server has handled them already),
// until the returned function is called.
func (tb *tab) delayResponses(pattern string, d time.Duration) (stop func()) {
	tb.b.t.Helper()
	ctx, cancel := context.WithCancel(tb.ctx)
	paused := make(chan fetch.RequestID, 64)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case paused <- e.RequestID:
			default: // never: the page sends one request at a time
			}
		}
	}); err != nil {
		tb.b.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case id := <-paused:
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
				_, _ = chromedp.Call(tb.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
			case <-ctx.Done():
				return
			}
		}
	}()
	if _, err := chromedp.Call(tb.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: pattern, RequestStage: fetch.RequestStageResponse}}}); err != nil {
		tb.b.t.Fatal(err)
	}
	return func() {
		if _, err := chromedp.Call(tb.ctx, fetch.Disable, cdp.Empty{}); err != nil {
			tb.b.t.Error(err)
		}
		cancel()
		<-done
	}
}

// wait polls a JavaScript predicate until it is true; the test's context
// bounds the wait, no assertion depends on how long it took.
func (tb *tab) wait(what, js string) {
	tb.b.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(0))); err != nil {
		tb.b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func eval[T any](tb *tab, js string) T {
	tb.b.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (tb *tab) shot(name string) {
	tb.b.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(tb.b.shots, name+".png"), png, 0o644); err != nil {
		tb.b.t.Fatal(err)
	}
}

// goTo changes the console's page the way a link does.
func (tb *tab) goTo(hash string) {
	tb.b.t.Helper()
	tb.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash)))
}

func (tb *tab) title() string { return eval[string](tb, "document.title") }

// labelled checks that every control on the page has a label a screen
// reader announces.
func (tb *tab) labelled(page string) {
	tb.b.t.Helper()
	bad := eval[[]string](tb, `[...document.querySelectorAll('input, select, textarea')]
		.filter(el => !el.getAttribute('aria-label') && !(el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]')) && !el.closest('label'))
		.map(el => el.outerHTML)`)
	for _, b := range bad {
		tb.b.t.Errorf("%s: control without a label: %s", page, b)
	}
}

func (tb *tab) signIn(base, token string) {
	tb.b.t.Helper()
	tb.do(chromedp.Navigate(base + "/console/"))
	tb.wait("the sign-in form", `document.querySelector('form#signin input[name=token]')`)
	tb.do(chromedp.SendKeys(chromedp.CSS(`form#signin input[name=token]`), token),
		chromedp.Click(chromedp.CSS(`form#signin button[type=submit]`)))
	tb.wait("the customer search", `document.querySelector('form#search')`)
}

// testHub is a hub on generated demo data with authentication on.
type testHub struct {
	base   string
	tokens map[auth.Scope]string
	run    *demohub.Running
}

func startHub(t *testing.T, ctx context.Context) *testHub {
	return startHubWith(t, ctx, nil)
}

// startHubWith starts the hub with configure applied to its config too.
func startHubWith(t *testing.T, ctx context.Context, configure func(*config.Config)) *testHub {
	t.Helper()
	on := true
	r, err := demohub.Start(ctx, demohub.RunOptions{Dir: t.TempDir(), Seed: 7, People: 60, InProcess: true,
		Logger: slog.New(slog.DiscardHandler),
		Configure: func(c *config.Config) {
			c.Auth.Enabled = &on
			if configure != nil {
				configure(c)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	if err := r.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	addReviewPair(t, ctx, r.Server.Store())
	ts, err := auth.Open(ctx, r.Config.Store.Driver, r.Config.Store.DSN, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Close() })
	h := &testHub{base: "http://" + r.Server.HTTPAddr(), tokens: map[auth.Scope]string{}, run: r}
	for _, s := range []auth.Scope{auth.ScopeAdmin, auth.ScopeSteward, auth.ScopeService, auth.ScopeSales, auth.ScopeFinance} {
		secret, _, err := ts.Create(ctx, "console-"+string(s), []auth.Scope{s})
		if err != nil {
			t.Fatal(err)
		}
		h.tokens[s] = secret
	}
	return h
}

// addReviewPair stores two records of a shop the generated systems do not
// have: namesakes in one postal code at different streets, which the
// quickstart's fuzzy matching scores between review and auto-merge. A
// small generated data set need not leave such a pair.
func addReviewPair(t *testing.T, ctx context.Context, s *store.Store) {
	t.Helper()
	at := func(street string) []hub.Address {
		return []hub.Address{{Street: street, PostalCode: "10115", City: "Berlin", Country: "DE"}}
	}
	var evs []hub.Envelope
	for _, c := range []struct {
		id   string
		cust hub.Customer
	}{
		{"A-1", hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meierhofer", Emails: []string{"anna@meierhofer.example"}, Addresses: at("Hauptstraße 5")}},
		{"A-2", hub.Customer{Kind: "person", GivenName: "Anna", FamilyName: "Meierhofer", Phones: []string{"+4930123456"}, Addresses: at("Gartenweg 19")}},
	} {
		data, _ := json.Marshal(c.cust)
		e := hub.Envelope{System: "shop", SourceEntity: "customers", SourceID: c.id, Entity: hub.EntityCustomer,
			SourceUpdatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), SchemaVersion: hub.SchemaVersion, Op: hub.OpUpsert,
			Mapping: "shop_customers", MappingVersion: 1, Connector: "shop", Data: data}
		e.ComputeEventID()
		evs = append(evs, e)
	}
	if _, err := s.Apply(ctx, evs); err != nil {
		t.Fatal(err)
	}
}

// get calls the API as a scope, for setting up and checking what the
// browser did.
func (h *testHub) get(t *testing.T, scope auth.Scope, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.tokens[scope])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return res.StatusCode
}

// customers lists the first 200 customers as the admin sees them.
func (h *testHub) customers(t *testing.T) []customer {
	t.Helper()
	var all struct {
		Items []customer `json:"items"`
	}
	if st := h.get(t, auth.ScopeAdmin, "/v1/customers?limit=200", &all); st != http.StatusOK {
		t.Fatalf("list customers: %d", st)
	}
	return all.Items
}

// browserTest skips without a browser (before a hub starts) and in -short
// runs, and bounds the test with a context.
func browserTest(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type source struct {
	System       string         `json:"system"`
	SourceEntity string         `json:"source_entity"`
	SourceID     string         `json:"source_id"`
	Record       map[string]any `json:"record"`
}

type customer struct {
	ID       string         `json:"id"`
	Customer map[string]any `json:"customer"`
	Sources  []source       `json:"sources"`
}

func (c customer) has(recordKey string) bool {
	for _, s := range c.Sources {
		if s.System+"/"+s.SourceEntity+"/"+s.SourceID == recordKey {
			return true
		}
	}
	return false
}

// TestConsole drives the console in a real browser against a hub on
// generated data: sign in, search and open a customer, decide a review
// pair and see the golden customer change, resolve a dead letter, watch
// the connectors; and checks that scopes limit pages and fields.
func TestConsole(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	h := startHub(t, ctx)
	b := newBrowser(t, ctx)

	// A customer with a credit limit and an e-mail, as the admin sees it.
	var target customer
	var email string
	for _, c := range h.customers(t) {
		emails, _ := c.Customer["emails"].([]any)
		if c.Customer["credit_limit"] != nil && len(emails) > 0 {
			target, email = c, emails[0].(string)
			break
		}
	}
	if target.ID == "" {
		t.Fatal("the generated data has no customer with a credit limit and an e-mail")
	}
	credit := target.Customer["credit_limit"].(map[string]any)
	creditAmount := credit["amount"].(string)

	steward := b.tab()
	t.Run("steward", func(t *testing.T) {
		tb := steward
		tb.do(chromedp.Navigate(h.base + "/console/"))
		tb.wait("the sign-in form", `document.querySelector('form#signin input[name=token]')`)
		if got := tb.title(); !strings.HasPrefix(got, "Sign in") {
			t.Errorf("title %q", got)
		}
		tb.shot("01-signin")
		tb.signIn(h.base, h.tokens[auth.ScopeSteward])
		if eval[bool](tb, `location.href.includes(`+jsString(h.tokens[auth.ScopeSteward])+`)`) {
			t.Error("the token is in the URL")
		}

		// Search by e-mail in another case: the API normalizes it.
		tb.do(chromedp.SendKeys(chromedp.CSS(`form#search input[name=email]`), strings.ToUpper(email)),
			chromedp.Click(chromedp.CSS(`form#search button[type=submit]`)))
		tb.wait("a search result", `document.querySelector('#results a.customer-link')`)
		href := eval[string](tb, `document.querySelector('#results a.customer-link').getAttribute('href')`)
		if href != "#/customer/"+url.PathEscape(target.ID) {
			t.Errorf("search by %s found %s, want %s", email, href, target.ID)
		}
		if got := tb.title(); !strings.HasPrefix(got, "Customers") {
			t.Errorf("title %q", got)
		}
		tb.labelled("customers")
		tb.shot("02-customers")

		tb.do(chromedp.Click(chromedp.CSS(`#results a.customer-link`)))
		tb.wait("the customer page", `document.querySelector('#golden') && document.querySelector('#sources')`)
		srcText := eval[string](tb, `document.querySelector('#sources').textContent`)
		for _, s := range target.Sources {
			if !strings.Contains(srcText, s.SourceID) || !strings.Contains(srcText, s.System) {
				t.Errorf("source %s/%s is not on the page", s.System, s.SourceID)
			}
		}
		page := eval[string](tb, `document.documentElement.outerHTML`)
		if !strings.Contains(page, "Credit limit") || !strings.Contains(page, creditAmount) {
			t.Errorf("a steward should see the credit limit %s", creditAmount)
		}
		if !eval[bool](tb, `!!document.querySelector('#golden tr[data-field=emails] td:last-child').textContent`) {
			t.Error("no lineage for the e-mails")
		}
		tb.labelled("customer")
		tb.shot("03-customer")

		// Phone width: the page does not scroll sideways (tables scroll in their box).
		tb.do(chromedp.EmulateViewport(390, 844))
		tb.wait("the narrow layout", `window.innerWidth === 390`)
		if w := eval[int](tb, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("at phone width the page is %d px wide", w)
		}
		tb.shot("03-customer-phone")
		tb.do(chromedp.EmulateViewport(1280, 900))
	})

	t.Run("review", func(t *testing.T) {
		tb := steward
		tb.goTo("#/reviews")
		tb.wait("a review pair", `document.querySelector('#review-pair') || document.querySelector('#review-empty')`)
		if eval[bool](tb, `!document.querySelector('#review-pair')`) {
			t.Fatal("the generated data left no review pair")
		}
		if got := tb.title(); !strings.HasPrefix(got, "Review queue") {
			t.Errorf("title %q", got)
		}
		a := eval[string](tb, `document.querySelector('#review-pair').dataset.a`)
		bk := eval[string](tb, `document.querySelector('#review-pair').dataset.b`)
		count := eval[string](tb, `document.querySelector('#review-count').textContent`)
		if eval[int](tb, `document.querySelectorAll('#review-table tr[data-field]').length`) == 0 {
			t.Error("the pair shows no field side by side")
		}
		// The matcher's waterfall for the pair, from the API's evidence.
		if eval[int](tb, `document.querySelectorAll('#review-evidence-table tr[data-comparison]').length`) == 0 {
			t.Error("the pair shows no comparison of the matcher's evidence")
		}
		tb.labelled("review")
		tb.shot("04-review")

		// What the golden customer of A was before the decision.
		var before customer
		goldens := eval[[]string](tb, `[...document.querySelectorAll('#review-pair a')].map(a => decodeURIComponent(a.getAttribute('href').slice('#/customer/'.length)))`)
		if len(goldens) != 2 {
			t.Fatalf("the pair links %d golden customers, want 2", len(goldens))
		}
		goldenA, goldenB := goldens[0], goldens[1]
		h.get(t, auth.ScopeSteward, "/v1/customers/"+goldenA, &before)
		if before.has(bk) {
			t.Fatalf("%s and %s are one customer before the decision", a, bk)
		}

		// Not sure, with a comment: an audited note, the pair stays. Its
		// answer reaches the page late, as over a slow network: the server
		// has stored the note (the audit shows it) while the page still
		// waits, and a key pressed then must not be lost.
		slow := tb.delayResponses("*/v1/reviews/decision", 800*time.Millisecond)
		tb.do(chromedp.SendKeys(chromedp.CSS(`#review-comment`), "ask the branch"),
			chromedp.Click(chromedp.CSS(`#review-pair button[aria-keyshortcuts=j]`)))
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var audit struct {
				Items []struct{ Action, Reason string }
			}
			h.get(t, auth.ScopeSteward, "/v1/customers/"+goldenA+"/audit", &audit)
			if n := len(audit.Items); n > 0 && audit.Items[n-1].Action == "review_defer" && audit.Items[n-1].Reason == "ask the branch" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no review_defer note in the audit of %s: %+v", goldenA, audit.Items)
			}
		}
		// The note is stored before the browser has the answer: wait until
		// the page is no longer busy with it, or the key below is ignored.
		tb.wait("the same pair again", fmt.Sprintf(`(() => { const p = document.querySelector('#review-pair'); return p && p.dataset.a === %s && p.getAttribute('aria-busy') !== 'true'; })()`, jsString(a)))
		slow()
		eval[bool](tb, `(() => { document.querySelector('#review-comment').value = ''; document.activeElement.blur(); return true })()`)

		tb.do(chromedp.KeyEvent("a")) // accept, from the keyboard
		tb.wait("the next pair", fmt.Sprintf(`(() => { const p = document.querySelector('#review-pair');
			return document.querySelector('#review-empty') || (p && !(p.dataset.a === %s && p.dataset.b === %s)); })()`, jsString(a), jsString(bk)))
		if got := eval[string](tb, `document.querySelector('#review-count').textContent`); got == count {
			t.Errorf("the count of waiting pairs did not change: %q", got)
		}

		// The golden customer changed: it now holds both records, and the
		// page shows it (a merged id leads to the survivor).
		var after customer
		if st := h.get(t, auth.ScopeSteward, "/v1/customers/"+goldenA, &after); st != http.StatusOK {
			t.Fatalf("customer %s after the decision: %d", goldenA, st)
		}
		if !after.has(a) || !after.has(bk) {
			t.Fatalf("after accepting, %s holds %d sources, not both %s and %s", after.ID, len(after.Sources), a, bk)
		}
		// The merged id leads to the survivor.
		loser := goldenA
		if loser == after.ID {
			loser = goldenB
		}
		tb.goTo("#/customer/" + loser)
		bID := bk[strings.LastIndex(bk, "/")+1:]
		tb.wait("the merged customer", fmt.Sprintf(`document.querySelector('#sources') && document.querySelector('#sources').textContent.includes(%s)`, jsString(bID)))
		if loser != after.ID {
			if !eval[bool](tb, `!!document.querySelector('#merged-note')`) {
				t.Error("no note that the id was merged")
			}
			if hash := eval[string](tb, `location.hash`); hash != "#/customer/"+url.PathEscape(after.ID) {
				t.Errorf("merged id %s shows %s, want the survivor %s", loser, hash, after.ID)
			}
		}
		tb.wait("the audit trail", `document.querySelector('#audit') && !document.querySelector('#audit').textContent.includes('Loading')`)
		if audit := eval[string](tb, `document.querySelector('#audit').textContent`); !strings.Contains(audit, "review_accept") {
			t.Errorf("the audit trail does not show the decision: %q", audit)
		}
		tb.shot("05-customer-after-accept")

		// Unmerge record B again, with a reason, from the customer page.
		tb.do(chromedp.SetValue(chromedp.CSS(`#steward select[name=record]`), bk),
			chromedp.SendKeys(chromedp.CSS(`#steward input[name=reason]`), "not the same person after all"),
			chromedp.Click(chromedp.CSS(`#steward button#unmerge`)))
		tb.wait("the customer without record B", fmt.Sprintf(`document.querySelector('#sources') && !document.querySelector('#sources').textContent.includes(%s)
			&& document.querySelector('#audit') && document.querySelector('#audit').textContent.includes('unmerge')`, jsString(bID)))
		var split customer
		h.get(t, auth.ScopeSteward, "/v1/customers/"+after.ID, &split)
		if split.has(bk) || !split.has(a) {
			t.Errorf("after unmerge %s holds %d sources; want %s without %s", split.ID, len(split.Sources), a, bk)
		}
		if audit := eval[string](tb, `document.querySelector('#audit').textContent`); !strings.Contains(audit, "not the same person after all") {
			t.Errorf("the audit trail lacks the unmerge reason: %q", audit)
		}
		tb.shot("05b-customer-after-unmerge")
	})

	t.Run("deadletters", func(t *testing.T) {
		tb := steward
		tb.goTo("#/deadletters")
		tb.wait("dead letters", `document.querySelector('.dl-group') || document.querySelector('#deadletters-empty')`)
		if eval[bool](tb, `!document.querySelector('.dl-group')`) {
			t.Fatal("the generated data left no dead letter")
		}
		if got := tb.title(); !strings.HasPrefix(got, "Dead letters") {
			t.Errorf("title %q", got)
		}
		id := eval[string](tb, `document.querySelector('details.dl').dataset.id`)
		tb.do(chromedp.Click(chromedp.CSS(`details.dl summary`)))
		tb.wait("the dead letter's detail", `document.querySelector('details.dl').open`)
		if !eval[bool](tb, `!!document.querySelector('details.dl pre')`) {
			t.Error("the raw record or payload is not shown")
		}
		tb.labelled("dead letters")
		tb.shot("06-deadletters")

		tb.do(chromedp.SendKeys(chromedp.CSS(`details.dl input[name=note]`), "bad source line, fixed at the source"),
			chromedp.Click(chromedp.CSS(`details.dl button.resolve`)))
		tb.wait("the list without it", fmt.Sprintf(`!document.querySelector('details.dl[data-id="' + CSS.escape(%s) + '"]') && (document.querySelector('.dl-group') || document.querySelector('#deadletters-empty'))`, jsString(id)))
		var e struct {
			Status, Note, Actor string
		}
		if st := h.get(t, auth.ScopeSteward, "/v1/deadletters/"+url.PathEscape(id), &e); st != http.StatusOK {
			t.Fatalf("dead letter %s: %d", id, st)
		}
		if e.Status != "resolved" || e.Note != "bad source line, fixed at the source" || e.Actor != "console-steward" {
			t.Errorf("after resolve: %+v", e)
		}

		// Replay one whose mapping still fails: it stays open, one attempt more.
		if eval[bool](tb, `!document.querySelector('details.dl button.replay')`) {
			t.Fatal("no replayable dead letter left")
		}
		id = eval[string](tb, `document.querySelector('button.replay').closest('details').dataset.id`)
		tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('button.replay').closest('details').open = true`),
			chromedp.Click(chromedp.CSS(`button.replay`)))
		tb.wait("the replay's outcome", `document.getElementById('toast').textContent.startsWith('Replay')`)
		var r struct {
			Status   string `json:"status"`
			Attempts int    `json:"replay_attempts"`
		}
		h.get(t, auth.ScopeSteward, "/v1/deadletters/"+url.PathEscape(id), &r)
		if r.Attempts != 1 || r.Status != "open" {
			t.Errorf("dead letter %s after one replay: %+v", id, r)
		}

		// Replay a selection: tick it, replay the group's selected.
		tb.wait("the list again", fmt.Sprintf(`document.querySelector('input.pick[value="' + CSS.escape(%s) + '"]')`, jsString(id)))
		tb.do(chromedp.Click(chromedp.CSS(`input.pick[value="`+id+`"]`)),
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector('input.pick[value="' + CSS.escape(%s) + '"]').closest('section').querySelector('button.replay-selected').click()`, jsString(id))))
		tb.wait("the selection's outcome", `document.getElementById('toast').textContent.startsWith('Replayed 1:')`)
		h.get(t, auth.ScopeSteward, "/v1/deadletters/"+url.PathEscape(id), &r)
		if r.Attempts != 2 {
			t.Errorf("dead letter %s after a second replay: %+v", id, r)
		}
	})

	t.Run("status", func(t *testing.T) {
		tb := steward
		tb.goTo("#/status")
		tb.wait("the connector table", `document.querySelector('#connectors tbody tr')`)
		if got := tb.title(); !strings.HasPrefix(got, "Sync status") {
			t.Errorf("title %q", got)
		}
		var list httpapi.ConnectorList
		h.get(t, auth.ScopeSteward, "/v1/connectors", &list)
		for _, c := range list.Connectors {
			row := eval[string](tb, fmt.Sprintf(`(document.querySelector('#connectors tr[data-connector=%s]')||{}).textContent||''`, jsString(c.Name)))
			if !strings.Contains(row, c.State) {
				t.Errorf("connector %s: row %q lacks state %s", c.Name, row, c.State)
			}
		}
		tb.labelled("status")
		tb.shot("07-status")
		// The page refreshes itself (polling).
		stamp := eval[string](tb, `document.getElementById('status-updated').textContent`)
		tb.wait("a refresh", fmt.Sprintf(`document.getElementById('status-updated').textContent !== %s`, jsString(stamp)))
	})

	t.Run("service token sees no credit limit", func(t *testing.T) {
		tb := b.tab()
		tb.signIn(h.base, h.tokens[auth.ScopeService])
		if eval[bool](tb, `!document.querySelector('nav a[data-page=reviews]').hidden`) {
			t.Error("a service token is offered the review queue")
		}
		tb.goTo("#/customer/" + target.ID)
		tb.wait("the customer page", `document.querySelector('#golden')`)
		page := eval[string](tb, `document.documentElement.outerHTML`)
		if strings.Contains(page, "Credit limit") || strings.Contains(page, "credit_limit") {
			t.Error("the service token's page names the credit limit")
		}
		if strings.Contains(page, creditAmount+" "+credit["currency"].(string)) {
			t.Errorf("the service token's page shows the credit limit %s", creditAmount)
		}
		tb.shot("08-customer-service-scope")
	})

	t.Run("value figures follow the token's scope", func(t *testing.T) {
		// A customer with orders: the first listed by revenue.
		var top struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		if st := h.get(t, auth.ScopeAdmin, "/v1/customers?sort=revenue_12m&limit=1", &top); st != http.StatusOK || len(top.Items) == 0 {
			t.Fatalf("list by revenue: %d, %d items", st, len(top.Items))
		}
		id := top.Items[0].ID
		type money struct{ Amount, Currency string }
		var full struct {
			Value struct {
				Revenue *struct {
					Lifetime []money `json:"lifetime"`
				} `json:"revenue"`
				Payments *struct {
					OpenBalance []money `json:"open_balance"`
				} `json:"payments"`
				Service *struct {
					Open, Closed int
				} `json:"service"`
			} `json:"value"`
		}
		h.get(t, auth.ScopeAdmin, "/v1/customers/"+url.PathEscape(id), &full)
		if full.Value.Revenue == nil || len(full.Value.Revenue.Lifetime) == 0 || full.Value.Service == nil {
			t.Fatalf("customer %s has no revenue or service figures for the admin: %+v", id, full.Value)
		}
		rev := full.Value.Revenue.Lifetime[0].Amount + " " + full.Value.Revenue.Lifetime[0].Currency

		sales := b.tab()
		sales.signIn(h.base, h.tokens[auth.ScopeSales])
		sales.goTo("#/customer/" + url.PathEscape(id))
		sales.wait("the value section", `document.querySelector('#value')`)
		if got := eval[string](sales, `(document.querySelector('#value tr[data-value="revenue.lifetime"] td')||{}).textContent||''`); !strings.Contains(got, rev) {
			t.Errorf("sales: lifetime revenue %q, want it to show %s", got, rev)
		}
		for _, k := range []string{"revenue.last_12m", "loyalty.stage", "segment.abc", "service.cases"} {
			if eval[bool](sales, `!document.querySelector('#value tr[data-value="`+k+`"]')`) {
				t.Errorf("sales: no %s figure", k)
			}
		}
		if eval[bool](sales, `!!document.querySelector('#value tr[data-value^="payments."]')`) {
			t.Error("sales sees the finance figures (open balance, days to pay)")
		}
		sales.shot("08b-customer-value-sales-scope")

		// Each scope's page shows exactly the parts of the value section
		// its GET /v1/customers/{id} holds.
		for _, scope := range []auth.Scope{auth.ScopeSales, auth.ScopeFinance, auth.ScopeService} {
			var api struct {
				Value map[string]any `json:"value"`
			}
			h.get(t, scope, "/v1/customers/"+url.PathEscape(id), &api)
			var want []string
			for k := range api.Value {
				if k != "as_of" {
					want = append(want, k)
				}
			}
			sort.Strings(want)
			tb := sales
			if scope != auth.ScopeSales {
				tb = b.tab()
				tb.signIn(h.base, h.tokens[scope])
				tb.goTo("#/customer/" + url.PathEscape(id))
				tb.wait("the value section", `document.querySelector('#value')`)
			}
			got := eval[[]string](tb, `[...new Set([...document.querySelectorAll('#value tr[data-value]')].map((tr) => tr.dataset.value.split('.')[0]))].sort()`)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s: the page shows the value parts %v, the API gives %v", scope, got, want)
			}
			if scope == auth.ScopeFinance {
				tb.shot("08d-customer-value-finance-scope")
			}
		}

		service := b.tab()
		service.signIn(h.base, h.tokens[auth.ScopeService])
		service.goTo("#/customer/" + url.PathEscape(id))
		service.wait("the value section", `document.querySelector('#value')`)
		if eval[bool](service, `!document.querySelector('#value tr[data-value="service.cases"]')`) {
			t.Error("service: no service cases figure")
		}
		page := eval[string](service, `document.documentElement.outerHTML`)
		for _, no := range []string{"Revenue", "revenue", rev, "Open balance", "Credit limit", "RFM", "ABC class"} {
			if strings.Contains(page, no) {
				t.Errorf("the service token's page shows %q", no)
			}
		}
		if p := full.Value.Payments; p != nil && len(p.OpenBalance) > 0 && strings.Contains(page, p.OpenBalance[0].Amount+" "+p.OpenBalance[0].Currency) {
			t.Errorf("the service token's page shows the open balance %v", p.OpenBalance[0])
		}
		service.shot("08c-customer-value-service-scope")
	})

	t.Run("sales token cannot open dead letters", func(t *testing.T) {
		tb := b.tab()
		tb.signIn(h.base, h.tokens[auth.ScopeSales])
		if eval[bool](tb, `!document.querySelector('nav a[data-page=deadletters]').hidden`) {
			t.Error("a sales token is offered dead letters")
		}
		tb.goTo("#/deadletters")
		tb.wait("the refusal", `document.querySelector('#deadletters .error')`)
		if msg := eval[string](tb, `document.querySelector('#deadletters .error').textContent`); !strings.Contains(msg, "scopes do not allow") {
			t.Errorf("refusal %q", msg)
		}
		if eval[int](tb, `document.querySelectorAll('details.dl').length`) != 0 {
			t.Error("a sales token sees dead letters")
		}
		tb.shot("09-deadletters-sales-scope")
	})

	t.Run("a wrong token is refused", func(t *testing.T) {
		tb := b.tab()
		tb.do(chromedp.Navigate(h.base + "/console/"))
		tb.wait("the sign-in form", `document.querySelector('form#signin input[name=token]')`)
		tb.do(chromedp.SendKeys(chromedp.CSS(`form#signin input[name=token]`), "not-a-token"),
			chromedp.Click(chromedp.CSS(`form#signin button[type=submit]`)))
		tb.wait("the error", `document.querySelector('form#signin .error')`)
		if eval[bool](tb, `!!sessionStorage.getItem('crmhub.token')`) {
			t.Error("a refused token was kept")
		}
	})
}

// TestConsoleAuthOff: with authentication off (the demo) the console opens
// without a sign-in, as the local actor; the sync status page shows a
// connector turn failed, with its error, without a reload.
func TestConsoleAuthOff(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "hub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The connector's state as the hub's runner would report it: failed
	// once the test says its source went away.
	var gone atomic.Bool
	connectors := func(context.Context) []httpapi.ConnectorStatus {
		c := httpapi.ConnectorStatus{Name: "erp", Plugin: "sql", System: "erp", State: "running", RecordsRead: 10, RecordsMapped: 9,
			RecordsDeadLettered: 1, CaughtUp: true, SourceTotal: -1, Remaining: -1}
		if gone.Load() {
			c.State, c.Error = "failed", "open erp.db: no such file"
		}
		return []httpapi.ConnectorStatus{c}
	}
	api := httpapi.New(st, httpapi.Options{Steward: st, LocalActor: "local", Connectors: connectors})
	srv := httptest.NewServer(console.Mount(api, console.Options{AuthRequired: false, LocalActor: "local"}))
	defer srv.Close()

	tb := newBrowser(t, ctx).tab()
	tb.do(chromedp.Navigate(srv.URL + "/"))
	tb.wait("the customer search", `document.querySelector('form#search')`)
	if who := eval[string](tb, `document.getElementById('who').textContent`); !strings.Contains(who, "local") {
		t.Errorf("who: %q", who)
	}
	if eval[bool](tb, `!!document.querySelector('form#signin')`) {
		t.Error("asked for a token with authentication off")
	}
	tb.goTo("#/reviews")
	tb.wait("the empty queue", `document.querySelector('#review-empty')`)

	tb.goTo("#/status")
	tb.wait("the running connector", `document.querySelector('#connectors tr[data-connector=erp] td.state-running')`)
	gone.Store(true)
	tb.wait("the failed connector", `document.querySelector('#connectors tr[data-connector=erp] td.state-failed')`)
	if row := eval[string](tb, `document.querySelector('#connectors tr[data-connector=erp]').textContent`); !strings.Contains(row, "open erp.db: no such file") {
		t.Errorf("the failed connector's row lacks its error: %q", row)
	}
	tb.shot("10-status-failed")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
