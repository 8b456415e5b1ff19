package quality

import (
	"errors"
	"strings"
	"testing"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/mapping"
)

func columnsMapping(t *testing.T, spec, region string) *mapping.Mapping {
	t.Helper()
	y, err := ColumnsMapping(spec, region, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Parse("columns", y)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return m
}

const personCols = "given_name=first_name,last_name=last_name,birth_date=dob,sex=sex,email=mail,phone=tel,street=street,postcode=zip,city=city,identifier:ssn=ssn"

// readMapped reads file (as the file name) through the mapping file
// mappingFile with opt, and fails the test unless that gives records
// records and deadLettered dead letters.
func readMapped(t *testing.T, mappingFile, name, file string, opt DelimitedOptions, records, deadLettered int) []Record {
	t.Helper()
	m, err := mapping.LoadFile(mappingFile)
	if err != nil {
		t.Fatal(err)
	}
	opt.Mapping = m
	recs, st, err := ReadDelimited(strings.NewReader(file), name, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != records || st.DeadLettered != deadLettered {
		t.Fatalf("%d records, %+v", len(recs), st)
	}
	return recs
}

func TestReadDelimited(t *testing.T) {
	tests := []struct {
		name, file string
		delim      rune
	}{
		{"semicolon sniffed", "id;first_name;last_name;dob;sex;mail;tel;street;zip;city;ssn;person\n" +
			"r1;Ann;Lee;1970-03-12;F;ann@example.org;(202) 555-0143;12 Oak St Apt. 4;06419-6160;Springfield;123-45-6789;p1\n" +
			"r2;Anne;Lee;1970-03-12;f;;;12 Oak Street;06419;Springfield;;p1\n" +
			"r3;Bob;Ray;;M;;;;;;;\n", 0},
		{"comma, quoted, with a BOM", "\ufeffid,first_name,last_name,dob,sex,mail,tel,street,zip,city,ssn,person\n" +
			"r1,Ann,Lee,1970-03-12,F,ann@example.org,(202) 555-0143,\"12 Oak St, Apt. 4\",06419-6160,Springfield,123-45-6789,p1\n" +
			"r2,Anne,Lee,1970-03-12,f,,,12 Oak Street,06419,Springfield,,p1\n" +
			"r3,Bob,Ray,,M,,,,,,,\n", 0},
		{"tab given", "id\tfirst_name\tlast_name\tdob\tsex\tmail\ttel\tstreet\tzip\tcity\tssn\tperson\n" +
			"r1\tAnn\tLee\t1970-03-12\tF\tann@example.org\t(202) 555-0143\t12 Oak St Apt. 4\t06419-6160\tSpringfield\t123-45-6789\tp1\n" +
			"r2\tAnne\tLee\t1970-03-12\tf\t\t\t12 Oak Street\t06419\tSpringfield\t\tp1\n" +
			"r3\tBob\tRay\t\tM\t\t\t\t\t\t\t\n", '\t'},
	}
	m := columnsMapping(t, personCols, "us")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, st, err := ReadDelimited(strings.NewReader(tt.file), "people.csv",
				DelimitedOptions{System: "a", Truth: "person", ID: "id", Delimiter: tt.delim, Mapping: m})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || st.Rows != 3 || st.DeadLettered != 0 {
				t.Fatalf("%d records of %d rows (%+v), want 3", len(recs), st.Rows, st)
			}
			ann := recs[0]
			if ann.Key != "a/person/r1" || ann.EntityID != "p1" || ann.Corruption != "" || recs[1].Corruption != "copy" {
				t.Errorf("keys: %q %q %q, second %q", ann.Key, ann.EntityID, ann.Corruption, recs[1].Corruption)
			}
			c := ann.Customer
			if c.Kind != "person" || c.GivenName != "Ann" || c.FamilyName != "Lee" || c.BirthDate != "1970-03-12" || c.Gender != "female" {
				t.Errorf("person %+v", c)
			}
			if len(c.Emails) != 1 || len(c.Phones) != 1 || c.Phones[0] != "+12025550143" {
				t.Errorf("contact %v %v", c.Emails, c.Phones)
			}
			if len(c.Identifiers) != 1 || c.Identifiers[0] != (hub.PersonID{Scheme: "ssn", Value: "123456789", Country: "US"}) {
				t.Errorf("identifiers %+v", c.Identifiers)
			}
			if len(c.Addresses) != 1 || c.Addresses[0].Country != "US" || c.Addresses[0].PostalCode != "06419-6160" || c.Addresses[0].Type != "home" {
				t.Errorf("address %+v", c.Addresses)
			}
			// An empty truth value is a person of its own, never "" shared.
			if recs[2].EntityID == "" || recs[2].EntityID == recs[0].EntityID {
				t.Errorf("empty truth became entity %q", recs[2].EntityID)
			}
		})
	}
}

func TestReadDelimitedDropAndErrors(t *testing.T) {
	m := columnsMapping(t, personCols, "US")
	file := "id;first_name;last_name;dob;sex;mail;tel;street;zip;city;ssn;person\n" +
		"r1;Ann;Lee;1970-03-12;F;ann@example.org;(202) 555-0143;12 Oak St;06419;Springfield;123-45-6789;p1\n" +
		"r2;Ann;;1970-03-12;F;;;;;;;p1\n"
	// A person without a family name (and, from this column map, no full
	// name) is what the schema rejects: the pipeline dead-letters it, and
	// so does the benchmark, counting it.
	recs, st, err := ReadDelimited(strings.NewReader(file), "p.csv",
		DelimitedOptions{Truth: "person", Mapping: columnsMapping(t, "given_name=first_name,birth_date=dob", ""), Drop: []string{"birth_date"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 || st.DeadLettered != 2 || !strings.Contains(st.FirstError, "family_name") {
		t.Fatalf("%d records, stats %+v", len(recs), st)
	}
	recs, st, err = ReadDelimited(strings.NewReader(file), "p.csv",
		DelimitedOptions{Truth: "person", Mapping: m, Drop: []string{"email", "phones", "id"}})
	if err != nil {
		t.Fatal(err)
	}
	// With given and family name mapped, the full name keeps Ann's second
	// row, which has no family name.
	if len(recs) != 2 || st.DeadLettered != 0 || recs[1].Customer.FullName != "Ann" {
		t.Fatalf("%d records, stats %+v", len(recs), st)
	}
	if c := recs[0].Customer; len(c.Emails)+len(c.Phones)+len(c.Identifiers) != 0 || c.BirthDate == "" {
		t.Errorf("after drop: %+v", c)
	}
	if recs[0].Key != "file/person/row-2" {
		t.Errorf("key %q, want the row's line", recs[0].Key)
	}
	bad := []struct {
		name string
		opt  DelimitedOptions
		file string
	}{
		{"no truth column", DelimitedOptions{Truth: "entity", Mapping: m}, file},
		{"no id column", DelimitedOptions{Truth: "person", ID: "key", Mapping: m}, file},
		{"id twice", DelimitedOptions{Truth: "person", ID: "first_name", Mapping: m}, file},
		{"no delimiter", DelimitedOptions{Truth: "person", Mapping: m}, "person\np1\n"},
		{"a column twice", DelimitedOptions{Truth: "person", Mapping: m}, "first_name;last_name;last_name;person\nAnn;Lee;Li;p1\n"},
		{"unknown drop", DelimitedOptions{Truth: "person", Mapping: m, Drop: []string{"shoe_size"}}, file},
		{"latin1 without an encoding", DelimitedOptions{Truth: "person", Mapping: m}, "first_name;last_name;person\nJ\xfcrgen;M\xfcller;p1\n"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, _, err := ReadDelimited(strings.NewReader(b.file), "p.csv", b.opt)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(b.name, "unknown") && !errors.Is(err, ErrDelimited) {
				t.Errorf("%v: want ErrDelimited", err)
			}
		})
	}
}

func TestSniffDelimiter(t *testing.T) {
	tests := []struct {
		head string
		want rune
	}{
		{"a,b,c\n1,2,3", ','},
		{"a;b;c", ';'},
		{"a\tb\tc\r\n", '\t'},
		{"a|b|c", '|'},
		{`"x,y";b;c`, ';'}, // a comma inside quotes is data
		{"a, b; c, d", ','},
	}
	for _, tt := range tests {
		got, err := SniffDelimiter([]byte(tt.head))
		if err != nil || got != tt.want {
			t.Errorf("SniffDelimiter(%q) = %q, %v; want %q", tt.head, got, err, tt.want)
		}
	}
}

func TestColumnsMapping(t *testing.T) {
	tests := []struct {
		spec, region string
		want         []string // lines the YAML must hold
		err          bool
	}{
		{"first_name=fn,family_name=ln", "", []string{`given_name: 'collapse(trim(fn))'`, `family_name: 'collapse(trim(ln))'`, `kind: '"person"'`,
			`full_name: 'join(" ", collapse(trim(fn)), collapse(trim(ln)))'`}, false},
		{"phone=tel,phone=mobile", "de", []string{`phones[]: 'phone(tel, "DE")'`, `phones[+1]: 'phone(mobile, "DE")'`}, false},
		{"street=Street Address,zip=zip", "US", []string{`addresses[0].street: 'collapse(trim(record["Street Address"]))'`,
			`addresses[0].country: '"US"'`, `addresses[0].type: '"home"'`}, false},
		{"identifier:nino=ni", "GB", []string{`identifiers[]: 'person_id("nino", ni, "GB")'`}, false},
		{"addresses[0].region=st", "", []string{`addresses[0].region: 'trim(st)'`}, false},
		{"shoe_size=s", "", nil, true},
		{"given_name", "", nil, true},
		{"", "", nil, true},
	}
	for _, tt := range tests {
		y, err := ColumnsMapping(tt.spec, tt.region, nil)
		if (err != nil) != tt.err {
			t.Errorf("ColumnsMapping(%q) error %v, want error %v", tt.spec, err, tt.err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(string(y), w) {
				t.Errorf("ColumnsMapping(%q) lacks %s:\n%s", tt.spec, w, y)
			}
		}
		if err == nil {
			if _, err := mapping.Parse("columns", y); err != nil {
				t.Errorf("ColumnsMapping(%q) does not load: %v\n%s", tt.spec, err, y)
			}
		}
	}
}

// The census mapping the README measures with reads rows of that layout
// (invented here: the files carry their own licence): a person without a
// family name keeps a full name instead of being dead-lettered, the sex
// column is a gender, a number with an extension is still a phone.
func TestCensusMapping(t *testing.T) {
	file := "record_id;birthdate;city;email;first_name;job;last_name;phone_number;postcode;sex;street_address;entity_id\n" +
		"1;1975-05-18;Oakville;ann.lee@example.org;Ann;Teacher;Lee;(202) 555-0143x12;06419-6160;F;4937 Elm Knolls Apt. 244;7\n" +
		"2;1975-05-18;Oakville;;Ann;Teacher;;;06419;F;4937 Elm Knolls;7\n"
	recs := readMapped(t, "testdata/census_people.yaml", "A.csv", file, DelimitedOptions{Truth: "entity_id", ID: "record_id"}, 2, 0)
	c := recs[0].Customer
	if c.Gender != "female" || len(c.Phones) != 1 || c.Addresses[0].Country != "US" || c.FullName != "Ann Lee" {
		t.Errorf("first row %+v", c)
	}
	if c := recs[1].Customer; c.FamilyName != "" || c.FullName != "Ann" || recs[1].EntityID != "7" {
		t.Errorf("second row %+v", c)
	}
}

// An export in Windows-1252 is read with its encoding, never garbled.
func TestReadDelimitedEncoding(t *testing.T) {
	m := columnsMapping(t, "given_name=first_name,family_name=last_name", "DE")
	file := "first_name;last_name;person\nJ\xfcrgen;M\xfcller;p1\n"
	recs, _, err := ReadDelimited(strings.NewReader(file), "p.csv", DelimitedOptions{Truth: "person", Mapping: m, Encoding: "windows-1252"})
	if err != nil {
		t.Fatal(err)
	}
	if c := recs[0].Customer; c.GivenName != "Jürgen" || c.FamilyName != "Müller" {
		t.Errorf("decoded %q %q", c.GivenName, c.FamilyName)
	}
	if _, _, err := ReadDelimited(strings.NewReader(file), "p.csv", DelimitedOptions{Truth: "person", Mapping: m, Encoding: "ebcdic"}); err == nil {
		t.Error("unknown encoding accepted")
	}
}

// The Splink mapping the README measures with reads rows of that layout
// (invented here: the file is Splink's): the city is the whole address, a
// person without a family name keeps a full name, a row without any name
// is dead-lettered, an unreadable e-mail is left out.
func TestSplinkMapping(t *testing.T) {
	file := "unique_id,first_name,surname,dob,city,email,group\n" +
		"0,Ann ,Lee,1975-05-18,Leeds,ann.lee@example.org,7\n" +
		"1,Ann ,,1975-05-18,,annlee@exampleorg,7\n" +
		"2,,,1975-05-18,Leeds,,7\n"
	recs := readMapped(t, "testdata/splink_people.yaml", "fake.csv", file, DelimitedOptions{Truth: "group", ID: "unique_id"}, 2, 1)
	c := recs[0].Customer
	if c.GivenName != "Ann" || len(c.Addresses) != 1 || c.Addresses[0].City != "Leeds" || c.Addresses[0].Street != "" ||
		c.Addresses[0].Country != "GB" || len(c.Emails) != 1 {
		t.Errorf("first row %+v", c)
	}
	if c := recs[1].Customer; c.FamilyName != "" || c.FullName != "Ann" || len(c.Emails) != 0 || recs[1].EntityID != "7" {
		t.Errorf("second row %+v", c)
	}
}

// The ESSnet mapping the README measures with reads rows of that layout
// (invented here: the files are the ESSnet DI's): the birth date is joined
// from three columns, a missing or impossible day keeps year and month, a
// missing year leaves the date out; sex 1 is female and 2 male; the text NA
// is no value; a person without a given name keeps her family name.
func TestESSnetMapping(t *testing.T) {
	file := "\"id\",\"firstname\",\"lastname\",\"sex\",\"dobday\",\"dobmon\",\"dobyear\",\"postcode\"\n" +
		"1,\"AMELIE\",\"ADAMS\",1,7,3,1926,\"SW988AH\"\n" +
		"2,\"BRANDON\",\"ADAMS\",2,NA,3,2005,\"SW500HZ\"\n" +
		"3,\"\",\"ADAMS\",NA,30,2,1973,\"SW75TQ\"\n" +
		"3,\"CLAUDIA\",\"ADAMS\",1,6,5,NA,\"SW75TQ\"\n"
	recs := readMapped(t, "testdata/essnet_people.yaml", "example1.csv", file, DelimitedOptions{Truth: "id"}, 4, 0)
	tests := []struct {
		birth, gender, given, full string
	}{
		{"1926-03-07", "female", "AMELIE", "AMELIE ADAMS"},
		{"2005-03", "male", "BRANDON", "BRANDON ADAMS"},
		{"1973-02", "", "", "ADAMS"},
		{"", "female", "CLAUDIA", "CLAUDIA ADAMS"},
	}
	for i, want := range tests {
		c := recs[i].Customer
		if c.BirthDate != want.birth || c.Gender != want.gender || c.GivenName != want.given || c.FullName != want.full {
			t.Errorf("row %d: birth %q gender %q given %q full %q, want %+v", i+1, c.BirthDate, c.Gender, c.GivenName, c.FullName, want)
		}
		if len(c.Addresses) != 1 || c.Addresses[0].PostalCode == "" || c.Addresses[0].Country != "GB" {
			t.Errorf("row %d address %+v", i+1, c.Addresses)
		}
	}
	if recs[2].EntityID != "3" || recs[3].EntityID != "3" {
		t.Errorf("entities %q %q", recs[2].EntityID, recs[3].EntityID)
	}
}

// The NCVR mapping the README measures with reads rows of that layout
// (invented here: the files hold real voters' names): the town is the city,
// the ZIP code the postal code as written (a look-alike letter in it stays:
// the mapping does not repair the data), the registration number with its
// leading zeros is the person, and a person without a given name keeps the
// family name.
func TestNCVRMapping(t *testing.T) {
	file := "recid,givenname,surname,suburb,postcode\n" +
		"00012345,ann,example,winston salem,27101\n" +
		"00012345,ann,examp1e,winston  salem,271o1\n" +
		"00067890,,sample,raleigh,27609\n"
	recs := readMapped(t, "testdata/ncvr_people.yaml", "myp0.csv", file, DelimitedOptions{Truth: "recid"}, 3, 0)
	tests := []struct {
		entity, given, family, full, city, postal string
	}{
		{"00012345", "ann", "example", "ann example", "winston salem", "27101"},
		{"00012345", "ann", "examp1e", "ann examp1e", "winston salem", "271o1"},
		{"00067890", "", "sample", "sample", "raleigh", "27609"},
	}
	for i, want := range tests {
		c := recs[i].Customer
		if recs[i].EntityID != want.entity || c.GivenName != want.given || c.FamilyName != want.family || c.FullName != want.full {
			t.Errorf("row %d: entity %q given %q family %q full %q, want %+v", i+1, recs[i].EntityID, c.GivenName, c.FamilyName, c.FullName, want)
		}
		if len(c.Addresses) != 1 || c.Addresses[0].City != want.city || c.Addresses[0].PostalCode != want.postal ||
			c.Addresses[0].Country != "US" || c.Addresses[0].Street != "" || c.BirthDate != "" {
			t.Errorf("row %d: address %+v birth %q, want %+v", i+1, c.Addresses, c.BirthDate, want)
		}
	}
}

// The RLdata mapping the README measures with reads rows of that layout
// (invented values): a second given or family name in its own column joins
// the first, the text NA is no value, and the unpadded birth date columns
// make one date.
func TestRLdataMapping(t *testing.T) {
	file := "fname_c1,fname_c2,lname_c1,lname_c2,by,bm,bd,rec_id,ent_id\n" +
		"ANNA,NA,MUSTER,NA,1949,7,2,1,34\n" +
		"ANNA,MARIA,MUSTER,BEISPIEL,1949,12,22,2,34\n"
	recs := readMapped(t, "testdata/rldata_people.yaml", "RLdata500.csv", file, DelimitedOptions{Truth: "ent_id", ID: "rec_id"}, 2, 0)
	tests := []struct{ given, family, full, birth string }{
		{"ANNA", "MUSTER", "ANNA MUSTER", "1949-07-02"},
		{"ANNA MARIA", "MUSTER BEISPIEL", "ANNA MARIA MUSTER BEISPIEL", "1949-12-22"},
	}
	for i, want := range tests {
		c := recs[i].Customer
		if c.GivenName != want.given || c.FamilyName != want.family || c.FullName != want.full || c.BirthDate != want.birth ||
			recs[i].EntityID != "34" {
			t.Errorf("row %d: %q %q %q %q entity %q, want %+v", i+1, c.GivenName, c.FamilyName, c.FullName, c.BirthDate, recs[i].EntityID, want)
		}
	}
}

// With a sample of the file's values, a birth-date column of slashed dates
// is read in the order they show.
func TestColumnsMappingDateOrder(t *testing.T) {
	values := func(col string) []string {
		if col == "dob" {
			return []string{"12/31/1990", "1/2/1985"}
		}
		return nil
	}
	y, err := ColumnsMapping("given_name=first,family_name=last,birth_date=dob", "US", values)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), `birth_date(dob, \"mdy\")`) && !strings.Contains(string(y), `birth_date(dob, "mdy")`) {
		t.Errorf("no mdy order:\n%s", y)
	}
	y, err = ColumnsMapping("given_name=first,family_name=last,birth_date=dob", "US", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "mdy") {
		t.Errorf("an order without values:\n%s", y)
	}
}
