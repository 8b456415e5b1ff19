package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBenchQualityCmd(t *testing.T) {
	cmd := newBenchQualityCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--people", "50", "--variant", "names"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "names ") || !strings.Contains(out.String(), "moved") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	cmd = newBenchQualityCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--variant", "nope"})
	if err := cmd.Execute(); err == nil {
		t.Fatal("unknown variant accepted")
	}
}

// Outside data in FEBRL's layout: the hand-written file's two people are
// found as one system, and -v prints what was missed with its evidence.
func TestBenchQualityFEBRL(t *testing.T) {
	cmd := newBenchQualityCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--input-a", "../../hub/quality/testdata/febrl_tiny.csv", "-v", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "one system") || !strings.Contains(out.String(), "(true pairs 2,") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	cmd = newBenchQualityCmd()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--febrl", t.TempDir()})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "no FEBRL files") {
		t.Fatalf("empty folder: %v", err)
	}
}

// Any delimited file pair with a truth column: the same people in two
// systems, read through a column map, the user's own mapping file or a
// suggested mapping, all find the two true pairs and merge nobody else.
func TestBenchQualityPersons(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.csv")
	b := filepath.Join(dir, "b.tsv")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "rid;first_name;last_name;birthdate;street_address;postcode;city;person\n"+
		"1;Margaret;Hansen;1982-06-11;95 Schimmel Corner;67625-2721;Bednarmouth;10\n"+
		"2;Zebulon;Krajcik;2015-08-05;46985 Vada Shoal Suite 620;16465;Kundeville;926\n"+
		"3;Tod;Farrell;1987-01-06;34841 Finley Pike;69935;North Eleanore;953\n")
	write(b, "rid\tfirst_name\tlast_name\tbirthdate\tstreet_address\tpostcode\tcity\tperson\n"+
		"1\tMargret\tHansen\t1982-06-11\t95 Schimmel Corner\t67625\tBednarmouth\t10\n"+
		"2\tZebulon\tKrajcik\t2015-08-05\t46985 Vada Shoal Ste 620\t16465-0001\tKundeville\t926\n"+
		"3\tTed\tNguyen\t1990-02-03\t12 Oak St\t10001\tNew York\t\n")
	m := filepath.Join(dir, "m.yaml")
	write(m, `mapping: people
version: 1
source: {system: crm, entity: people}
target: {entity: customer, schema: v1}
fields:
  kind: '"person"'
  given_name: trim(first_name)
  family_name: trim(last_name)
  birth_date: birth_date(birthdate)
  addresses[0].street: trim(street_address)
  addresses[0].postal_code: trim(postcode)
  addresses[0].city: trim(city)
  addresses[0].country: '"US"'
`)
	base := []string{"--input-a", a, "--input-b", b, "--truth", "person", "--id", "rid"}
	for _, extra := range [][]string{
		{"--columns", "given_name=first_name,family_name=last_name,birth_date=birthdate,street=street_address,postal_code=postcode,city=city", "--region", "US"},
		{"--mapping", m, "-v", "1"},
		{},
	} {
		cmd := newBenchQualityCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(append(slices.Clone(base), extra...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", extra, err)
		}
		if !strings.Contains(out.String(), "two systems") || !strings.Contains(out.String(), "precision 1.0000 recall 1.0000") ||
			!strings.Contains(out.String(), "(true pairs 2, found 2)") {
			t.Errorf("%v: unexpected output:\n%s", extra, out.String())
		}
	}
	cmd := newBenchQualityCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetArgs(append(slices.Clone(base), "--mapping", m, "--columns", "given_name=first_name"))
	if err := cmd.Execute(); err == nil {
		t.Fatal("--mapping with --columns accepted")
	}
}
