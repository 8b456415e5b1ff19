package value

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/crmhub/crmhub/hub"
)

// randomInput is one customer's records with the edge cases Compute
// handles: totals and line sums, unit prices times quantities, lines in a
// second currency, unreadable lines, costs in another currency, returns,
// cancellations, credit notes naming excluded orders, partial payments,
// odd bytes in free text, cases without dates.
func randomInput(r *rand.Rand) Input {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	amount := func() string {
		d := decimal.New(int64(r.IntN(200000)-20000), -int32(r.IntN(4)))
		return exactString(d)
	}
	date := func() string {
		if r.IntN(12) == 0 {
			return pick("", "garbage", "2026-13-40")
		}
		return now.AddDate(0, 0, -r.IntN(900)+20).Format(time.DateOnly)
	}
	cur := func() string { return pick("EUR", "EUR", "EUR", "CHF", "USD") }
	var in Input
	for o := range r.IntN(10) {
		ord := hub.Order{OrderNumber: fmt.Sprintf("O%d", o), OrderDate: date(),
			Status:  pick("delivered", "delivered", "open", "Cancelled", "void", "returned", ""),
			Channel: pick("", "web", "st\x00ore", "1:x"), Region: pick("", "north", "süd")}
		if r.IntN(3) > 0 {
			ord.Total = &hub.Money{Amount: amount(), Currency: cur()}
		}
		for l := range r.IntN(4) {
			line := hub.OrderLine{LineNo: l, Quantity: pick("1", "2", "0.5", "x", ""), Category: pick("", "tools", "paint")}
			c := cur()
			switch r.IntN(4) {
			case 0:
				line.Amount = &hub.Money{Amount: amount(), Currency: c}
			case 1:
				line.UnitPrice = &hub.Money{Amount: amount(), Currency: c}
			case 2:
				line.Amount = &hub.Money{Amount: "n/a", Currency: c}
				line.UnitPrice = &hub.Money{Amount: amount(), Currency: c}
			}
			switch r.IntN(3) {
			case 0:
				line.Cost = &hub.Money{Amount: amount(), Currency: c}
			case 1:
				line.Cost = &hub.Money{Amount: amount(), Currency: cur()}
			}
			ord.Lines = append(ord.Lines, line)
		}
		in.Orders = append(in.Orders, ord)
	}
	for p := range r.IntN(12) {
		doc := hub.Payment{DocumentNumber: fmt.Sprintf("D%d", p), Type: pick("invoice", "payment", "credit_note"),
			Date: date(), DueDate: date(), Amount: hub.Money{Amount: amount(), Currency: cur()},
			Status: pick("", "paid", "cancelled", "open"), Reference: pick("", "O0", "O1", "D0", "D1", "D2")}
		in.Payments = append(in.Payments, doc)
	}
	for range r.IntN(4) {
		c := hub.ServiceCase{Status: pick("open", "pending", "resolved", "closed", "other")}
		if r.IntN(5) > 0 {
			t := now.Add(-time.Duration(r.IntN(4000)) * time.Hour).Add(time.Duration(r.IntN(1e9))).In(time.FixedZone("x", 3600))
			c.OpenedAt = &t
		}
		if r.IntN(2) > 0 {
			t := now.Add(-time.Duration(r.IntN(4000)) * time.Hour)
			c.ClosedAt = &t
		}
		in.Cases = append(in.Cases, c)
	}
	if r.IntN(2) > 0 {
		in.CreditLimit = &hub.Money{Amount: "1000", Currency: "EUR"}
	}
	return in
}

// Compute over the facts of the records returns what it returns over the
// records themselves, to the byte.
func TestFactsComputeAsRecords(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rates = map[string]decimal.Decimal{"CHF": decimal.RequireFromString("1.05")}
	r := rand.New(rand.NewPCG(19, 23))
	for i := range 3000 {
		in := randomInput(r)
		facts := Input{CreditLimit: in.CreditLimit}
		var all []string
		for j := range in.Orders {
			all = append(all, OrderFact(&in.Orders[j]))
		}
		for j := range in.Payments {
			all = append(all, PaymentFact(&in.Payments[j]))
		}
		for j := range in.Cases {
			all = append(all, CaseFact(&in.Cases[j]))
		}
		for _, f := range all {
			if err := facts.AddFact(f); err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
		}
		// The same facts in one string, in another order, as the
		// store reads a customer's facts.
		joined := Input{CreditLimit: in.CreditLimit}
		r.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
		if err := joined.AddFacts(strings.Join(all, "")); err != nil {
			t.Fatalf("case %d: joined: %v", i, err)
		}
		want, _ := json.Marshal(Compute(in, now, cfg))
		got, _ := json.Marshal(Compute(facts, now, cfg))
		if string(got) != string(want) {
			t.Fatalf("case %d: from facts\n%s\nfrom records\n%s", i, got, want)
		}
		if got, _ := json.Marshal(Compute(joined, now, cfg)); string(got) != string(want) {
			t.Fatalf("case %d: from joined facts\n%s\nfrom records\n%s", i, got, want)
		}
	}
}

func TestAddFactRejectsDamage(t *testing.T) {
	good := OrderFact(&hub.Order{OrderNumber: "O1", Total: eur("1.00"), Lines: []hub.OrderLine{{Amount: eur("1.00")}}})
	for _, f := range []string{"", "x1:a", good[:len(good)-1], good + "1:z", "o99999:a", "o0:0:0:0:0:0:0:20:99999999999999999999", "o0:0:0:0:0:0:0:2:-5", "c3:abc1:x0:"} {
		var in Input
		if err := in.AddFact(f); err == nil {
			t.Errorf("AddFact(%q) accepted", f)
		}
	}
	var in Input
	if err := in.AddFact(good); err != nil || len(in.Orders) != 1 || in.Orders[0].Total.Amount != "1.00" {
		t.Errorf("AddFact(good) = %v, %+v", err, in.Orders)
	}
	for _, f := range []string{good + "1:z", good + good[:len(good)-1], good + "p1:a"} {
		var in Input
		if err := in.AddFacts(f); err == nil {
			t.Errorf("AddFacts(%q) accepted", f)
		}
	}
	var two Input
	if err := two.AddFacts(good + good); err != nil || len(two.Orders) != 2 {
		t.Errorf("AddFacts(good good) = %v, %+v", err, two.Orders)
	}
}
