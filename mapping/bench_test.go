package mapping

import (
	"fmt"
	"testing"
)

func benchInputs(n int) []Input {
	ins := make([]Input, n)
	for i := range ins {
		ins[i] = Input{System: "erp", Entity: "customers", SourceID: fmt.Sprint(10000 + i), Payload: []byte(fmt.Sprintf(
			`{"id":%d,"company":"  Müller  Maschinenbau GmbH %d","name":"Hans Müller","vat_id":"de 123 456 %03d","email":" Info%d@Mueller.DE ","email2":"hans%d@mueller.de",`+
				`"phone":"030/12345%02d","mobile":"0171 23456%02d","street":" Hauptstr. %d ","zip":"10115","city":"BERLIN","country":"Deutschland","lang":"DE",`+
				`"status":"A","segment":" Industrie ","credit_limit":"50.000,00","created":"03.01.2019 09:15","crm_id":"C-%d"}`,
			i, i, i%1000, i, i, i%100, i%100, i, i))}
	}
	return ins
}

func benchApply(b *testing.B, validate bool) {
	m, err := LoadFile("testdata/bench/customer20.yaml")
	if err != nil {
		b.Fatal(err)
	}
	m.noValidate = !validate
	if len(m.fields) != 20 {
		b.Fatalf("%d fields, want 20", len(m.fields))
	}
	ins := benchInputs(256)
	for _, in := range ins {
		if _, err := m.Apply(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Apply(ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkApplyCustomer: a 20-field customer mapping with JSON Schema
// validation, one core (go test -bench ApplyCustomer -cpu 1).
func BenchmarkApplyCustomer(b *testing.B) { benchApply(b, true) }

// BenchmarkApplyCustomerNoValidation is the same without gojsonschema, to
// show what validation costs.
func BenchmarkApplyCustomerNoValidation(b *testing.B) { benchApply(b, false) }
