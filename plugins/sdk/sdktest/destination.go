package sdktest

import (
	"context"
	"testing"
	"time"

	"github.com/crmhub/crmhub/plugins/sdk"
)

// DestinationOptions tune the destination suite for one connector.
type DestinationOptions struct {
	// Prepare, if set, runs at the start of every sub-test and returns the
	// config to use, so each writes into a fresh target (a temp directory,
	// a schema, a test server).
	Prepare func(t *testing.T, cfg sdk.Config) sdk.Config
	// Records are written in one batch; the destination must accept every
	// one of them (at least one).
	Records []sdk.Record
	// Check, if set, looks at the target after the batch was written:
	// what the suite cannot know (a row, a line, a request).
	Check func(t *testing.T, cfg sdk.Config, results []sdk.WriteResult)
	// Timeout bounds each sub-test. Default 30s.
	Timeout time.Duration
}

// AcceptDestination runs the destination acceptance suite against conn
// configured with cfg: the declaration, one result per record in order
// and none for an empty batch, a second batch on the same instance, and
// Teardown at awkward moments.
func AcceptDestination(t *testing.T, conn sdk.Connector, cfg sdk.Config, opts DestinationOptions) {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if len(opts.Records) == 0 {
		t.Fatal("DestinationOptions.Records: give the suite at least one record the destination accepts")
	}
	prepare := func(t *testing.T) sdk.Config {
		if opts.Prepare != nil {
			return opts.Prepare(t, cfg)
		}
		return cfg
	}
	t.Run("Spec", func(t *testing.T) {
		if conn.Spec.Name == "" {
			t.Error("spec has no name")
		}
		if len(conn.Spec.Kinds) > 0 && !hasKind(conn.Spec.Kinds, sdk.KindDestination) {
			t.Error("spec does not declare kind destination")
		}
	})
	if conn.NewDestination == nil {
		t.Fatalf("%s: NewDestination is nil", conn.Spec.Name)
	}
	t.Run("Write", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
		defer cancel()
		c := prepare(t)
		d := openDestination(ctx, t, conn, c)
		defer teardown(ctx, t, d)
		res, err := d.Write(ctx, nil)
		if err != nil || len(res) != 0 {
			t.Fatalf("empty batch: %d results, error %v; want none and no error", len(res), err)
		}
		res, err = d.Write(ctx, opts.Records)
		if err != nil {
			t.Fatalf("write %d records: %v", len(opts.Records), err)
		}
		if len(res) != len(opts.Records) {
			t.Fatalf("write %d records: %d results, want one per record", len(opts.Records), len(res))
		}
		for i, r := range res {
			if r.Error != "" {
				t.Errorf("record %d (%s/%s): refused: %s", i, opts.Records[i].Entity, opts.Records[i].ID, r.Error)
			}
		}
		if opts.Check != nil {
			opts.Check(t, c, res)
		}
		// The same instance takes another batch: the host keeps a
		// destination open across batches.
		if res, err := d.Write(ctx, opts.Records[:1]); err != nil || len(res) != 1 {
			t.Fatalf("second batch: %d results, error %v; want 1 and no error", len(res), err)
		}
	})
	t.Run("TeardownAnytime", func(t *testing.T) {
		teardownAnytime(t, conn, prepare(t), opts.Timeout, func() configurable { return conn.NewDestination() })
	})
}

func openDestination(ctx context.Context, t *testing.T, conn sdk.Connector, cfg sdk.Config) sdk.Destination {
	t.Helper()
	d := conn.NewDestination()
	if err := d.Configure(ctx, mustValidate(t, conn, cfg)); err != nil {
		t.Fatalf("configure: %v", err)
	}
	if err := d.Open(ctx); err != nil {
		teardown(ctx, t, d)
		t.Fatalf("open: %v", err)
	}
	return d
}

func teardown(ctx context.Context, t *testing.T, d sdk.Destination) {
	t.Helper()
	if err := d.Teardown(ctx); err != nil {
		t.Errorf("teardown: %v", err)
	}
}
