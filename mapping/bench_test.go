package mapping

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crmhub/crmhub/mapping/funcs"
	"github.com/crmhub/crmhub/mapping/internal/validate"
	"github.com/crmhub/crmhub/schemas"
)

// benchInputs are n records of a 20-column ERP customer export. Phone
// numbers repeat every 100 records, as they do when a source is re-synced.
func benchInputs(n int) []Input {
	return benchInputsFrom(0, n, func(i int) (string, string) {
		return fmt.Sprintf("030/12345%02d", i%100), fmt.Sprintf("0171 23456%02d", i%100)
	})
}

func benchInputsFrom(from, n int, phones func(i int) (string, string)) []Input {
	ins := make([]Input, n)
	for j := range ins {
		i := from + j
		phone, mobile := phones(i)
		ins[j] = Input{System: "erp", Entity: "customers", SourceID: fmt.Sprint(10000 + i), Payload: []byte(fmt.Sprintf(
			`{"id":%d,"company":"  Müller  Maschinenbau GmbH %d","name":"Hans Müller","vat_id":"de 123 456 %03d","email":" Info%d@Mueller.DE ","email2":"hans%d@mueller.de",`+
				`"phone":%q,"mobile":%q,"street":" Hauptstr. %d ","zip":"10115","city":"BERLIN","country":"Deutschland","lang":"DE",`+
				`"status":"A","segment":" Industrie ","credit_limit":"50.000,00","created":"03.01.2019 09:15","crm_id":"C-%d"}`,
			i, i, i%1000, i, i, phone, mobile, i, i))}
	}
	return ins
}

// distinctPhoneInputs: every record has its own two numbers, and there are
// more of them than the phone cache holds, so cycling through them never
// hits the cache (an initial load, not a re-sync).
var distinctPhoneInputs = sync.OnceValue(func() []Input {
	n := funcs.PhoneCacheSize // 2 numbers each: twice the cache
	return benchInputsFrom(0, n, func(i int) (string, string) {
		return fmt.Sprintf("030 %07d", 1000000+i), fmt.Sprintf("0171 %07d", 1000000+i)
	})
})

func loadBench(b *testing.B, validate bool) *Mapping {
	m, err := LoadFile("testdata/bench/customer20.yaml")
	if err != nil {
		b.Fatal(err)
	}
	m.noValidate = !validate
	if len(m.fields) != 20 {
		b.Fatalf("%d fields, want 20", len(m.fields))
	}
	return m
}

func benchApply(b *testing.B, validate bool, ins []Input, apply func(*Mapping, Input) (Output, error)) {
	m := loadBench(b, validate)
	for _, in := range ins[:min(len(ins), 256)] {
		out, err := apply(m, in)
		if err != nil {
			b.Fatal(err)
		}
		if len(out.Data) == 0 || len(out.Warnings) > 0 {
			b.Fatalf("record %s: %s %v", in.SourceID, out.Data, out.Warnings)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := apply(m, ins[i%len(ins)]); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, cpu0)
}

// reportRate reports records/s (wall clock) and records/cpu-s: the
// process's CPU time (GC included) per record, which stays meaningful when
// other processes share the cores (run with -cpu 1).
func reportRate(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "records/cpu-s")
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *Mapping) applyFast(in Input) (Output, error) { return m.Apply(in) }

// BenchmarkApplyCustomer: a 20-field customer mapping with JSON Schema
// validation, one core (go test -bench ApplyCustomer -cpu 1), phone
// numbers repeating as in a re-sync (warm phone cache).
func BenchmarkApplyCustomer(b *testing.B) {
	benchApply(b, true, benchInputs(256), (*Mapping).applyFast)
}

// BenchmarkApplyCustomerNoValidation is the same without the schema check,
// to show what validation costs.
func BenchmarkApplyCustomerNoValidation(b *testing.B) {
	benchApply(b, false, benchInputs(256), (*Mapping).applyFast)
}

// BenchmarkApplyCustomerDistinctPhones: every record brings two numbers
// never seen before; libphonenumber parses each (cold cache).
func BenchmarkApplyCustomerDistinctPhones(b *testing.B) {
	benchApply(b, true, distinctPhoneInputs(), (*Mapping).applyFast)
}

// BenchmarkApplyCustomerReference is the engine before the fast paths
// (see applyReference), on the same records, for before/after figures
// from one run on one machine.
func BenchmarkApplyCustomerReference(b *testing.B) {
	funcs.SetPhoneCache(false)
	defer funcs.SetPhoneCache(true)
	benchApply(b, true, benchInputs(256), (*Mapping).applyReference)
}

// benchDocs are the documents BenchmarkApplyCustomer publishes, decoded.
func benchDocs(b *testing.B) ([]any, [][]byte) {
	m := loadBench(b, true)
	var docs []any
	var raw [][]byte
	for _, in := range benchInputs(256) {
		out, err := m.Apply(in)
		if err != nil {
			b.Fatal(err)
		}
		d, err := decodeJSON(out.Data)
		if err != nil {
			b.Fatal(err)
		}
		docs, raw = append(docs, d), append(raw, out.Data)
	}
	return docs, raw
}

// BenchmarkGojsonschemaAlone: gojsonschema on the same outputs, as the
// engine used to call it (Go loader) and as the fallback calls it (bytes).
func BenchmarkGojsonschemaAlone(b *testing.B) {
	docs, raw := benchDocs(b)
	b.Run("go-loader", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := processCPU()
		for i := 0; i < b.N; i++ {
			if v, err := schemas.ValidateValue("customer", "v1", docs[i%len(docs)]); err != nil || len(v) > 0 {
				b.Fatal(v, err)
			}
		}
		reportRate(b, cpu0)
	})
	b.Run("bytes-loader", func(b *testing.B) {
		b.ReportAllocs()
		cpu0 := processCPU()
		for i := 0; i < b.N; i++ {
			if !schemasValidateBytes("customer", raw[i%len(raw)]) {
				b.Fatal("invalid")
			}
		}
		reportRate(b, cpu0)
	})
}

// BenchmarkCompiledCheckAlone: the compiled schema check on the same
// outputs.
func BenchmarkCompiledCheckAlone(b *testing.B) {
	docs, _ := benchDocs(b)
	n := validate.For("customer", "v1")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		if n.Check(docs[i%len(docs)]) != validate.Valid {
			b.Fatal("not valid")
		}
	}
	reportRate(b, cpu0)
}
