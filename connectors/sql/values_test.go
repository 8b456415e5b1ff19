package sqlconn

import (
	"math"
	"testing"
	"time"
)

// TestAppendValueSinglePrecision: a single-precision column (PostgreSQL
// real, MySQL FLOAT) renders by its shortest decimal, whether the driver
// hands it over as float32 or widened to float64; a double keeps every
// digit. TestTypesIntegration checks the same against real databases.
func TestAppendValueSinglePrecision(t *testing.T) {
	tests := []struct {
		name string
		v    any
		k    colKind
		want string
	}{
		{"real widened by pgx", float64(float32(32.38)), kindFloat32, "32.38"},
		{"real as float32", float32(32.38), kindFloat32, "32.38"},
		{"real 0.1", float64(float32(0.1)), kindFloat32, "0.1"},
		{"real money-like", float64(float32(1234.5)), kindFloat32, "1234.5"},
		{"real tiny", float64(float32(1e-7)), kindFloat32, "1e-07"},
		{"real max", float64(float32(math.MaxFloat32)), kindFloat32, "3.4028235e+38"},
		{"real negative", float64(float32(-19.99)), kindFloat32, "-19.99"},
		{"double keeps its digits", float64(float32(32.38)), kindPlain, "32.380001068115234"},
		{"double 0.1", 0.1, kindPlain, "0.1"},
		{"real NaN as text", math.NaN(), kindFloat32, `"NaN"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendValue(nil, tt.v, tt.k, time.UTC)); got != tt.want {
				t.Errorf("appendValue(%v) = %s, want %s", tt.v, got, tt.want)
			}
		})
	}
	for _, typ := range []string{"float4", "REAL", "float"} {
		if classify(typ) != kindFloat32 {
			t.Errorf("classify(%q) is not single precision", typ)
		}
	}
}
