package demo

import (
	"encoding/json"
	"strings"
	"time"
)

// Contact is one CRM contact as the simulated CRM serves it. Missing values
// are JSON null, as in the real API.
type Contact struct {
	ID            string    `json:"id"`
	FirstName     *string   `json:"first_name"`
	LastName      *string   `json:"last_name"`
	Company       *string   `json:"company"`
	Email         *string   `json:"email"`
	Phone         *string   `json:"phone"`
	Mobile        *string   `json:"mobile"`
	ERPCustomerNo *string   `json:"erp_customer_no"`
	Language      string    `json:"language"`
	OptInEmail    bool      `json:"opt_in_email"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Ticket is one service-desk ticket as the simulated service desk serves it.
type Ticket struct {
	ID        string     `json:"id"`
	ContactID string     `json:"contact_id"`
	Subject   string     `json:"subject"`
	Status    string     `json:"status"` // new, open, waiting, solved, closed
	Priority  string     `json:"priority"`
	Channel   string     `json:"channel"`
	CreatedAt time.Time  `json:"created_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// Manifest describes what Generate wrote. Keys of the count maps are
// "system/entity" with the entity names the quickstart connectors use
// ("erp/customers", "erp/orders", "finance/debtors", "finance/invoices",
// "finance/payments", "crm/contacts", "servicedesk/tickets").
type Manifest struct {
	Seed   int64 `json:"seed"`
	People int   `json:"people"`
	// Entities counts the real entities by kind: firm, person, employee.
	Entities map[string]int `json:"entities"`
	// Counts are the source records written, broken ones included. Order
	// lines are part of their order, not records of their own.
	Counts map[string]int `json:"counts"`
	// OrderLines is the number of order_lines rows in the ERP.
	OrderLines int `json:"order_lines"`
	// ExpectedDeadLetters are the records broken on purpose: a CSV line with
	// the wrong column count, an invoice amount "n/a", a CRM contact with
	// neither name nor e-mail nor phone.
	ExpectedDeadLetters map[string]int `json:"expected_dead_letters"`
	// Deleted are records soft-deleted in their source (erp customers with
	// deleted=1): the hub receives them as deletes and keeps none.
	Deleted map[string]int `json:"deleted"`
	// LateReferences are linked records whose customer only arrives in a
	// later export (finance debtors of the second day).
	LateReferences map[string]int `json:"late_references"`
	// CustomerRecords is the number of rows in truth.csv;
	// DeterministicRecords those with deterministic=1.
	CustomerRecords      int `json:"customer_records"`
	DeterministicRecords int `json:"deterministic_records"`
	// SampleEmails are e-mails of private customers present in the ERP, the
	// finance export and the CRM: good first queries for the demo.
	SampleEmails []string `json:"sample_emails"`
	// Files are the written files, relative to the directory.
	Files []string `json:"files"`
}

// Total is the number of source records written.
func (m *Manifest) Total() int {
	n := 0
	for _, c := range m.Counts {
		n += c
	}
	return n
}

// TotalDeadLetters is the number of records broken on purpose.
func (m *Manifest) TotalDeadLetters() int {
	n := 0
	for _, c := range m.ExpectedDeadLetters {
		n += c
	}
	return n
}

func (m *Manifest) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Key builds the "system/entity/source_id" key Truth.Score uses.
func Key(system, entity, sourceID string) string {
	return system + "/" + entity + "/" + sourceID
}

// translit writes German umlauts and other Latin-1 letters the way systems
// without them do: Müller -> Mueller, Straße -> Strasse.
func translit(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case 'ä':
			b.WriteString("ae")
		case 'ö', 'ø':
			b.WriteString("oe")
		case 'ü':
			b.WriteString("ue")
		case 'Ä':
			b.WriteString("Ae")
		case 'Ö', 'Ø':
			b.WriteString("Oe")
		case 'Ü':
			b.WriteString("Ue")
		case 'ß':
			b.WriteString("ss")
		case 'é', 'è', 'ë', 'ê':
			b.WriteByte('e')
		case 'à', 'á', 'â':
			b.WriteByte('a')
		case 'ç':
			b.WriteByte('c')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// slug is a lower-case ASCII token for e-mail local parts and domains.
func slug(s, sep string) string {
	s = strings.ToLower(translit(s))
	var b strings.Builder
	lastSep := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			lastSep = false
		} else if !lastSep && sep != "" {
			b.WriteString(sep)
			lastSep = true
		}
	}
	return strings.TrimSuffix(b.String(), sep)
}
