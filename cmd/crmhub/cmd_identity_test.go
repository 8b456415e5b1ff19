package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crmhub/crmhub/hub"
	"github.com/crmhub/crmhub/hub/identity"
	"github.com/crmhub/crmhub/hub/quality"
	"github.com/crmhub/crmhub/hub/store"
)

// crmhub identity train estimates the person model from a store's records
// (no labels), writes it where the config can name it, and a hub config
// naming it loads it; params prints it.
func TestIdentityTrainCLI(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "crmhub.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: data\nidentity:\n  fuzzy:\n    enabled: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.DriverSQLite, filepath.Join(dir, "data", "crmhub.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	envs := personEnvelopes(400, 3)
	if _, err := st.Apply(ctx, envs); err != nil {
		t.Fatal(err)
	}
	st.Close()

	model := filepath.Join(dir, "people.json")
	out, stderr, err := runCLI(t, "identity", "train", "--config", cfgPath, "--out", model)
	if err != nil {
		t.Fatalf("train: %v %s", err, stderr)
	}
	if !strings.Contains(stderr, "estimated from") || !strings.Contains(out, "birth_date") {
		t.Fatalf("train printed %q / %q", out, stderr)
	}
	p, err := identity.LoadParams(model)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 2 || !strings.HasPrefix(p.Source, "estimated from") || len(p.TF[identity.CompFamily]) == 0 {
		t.Errorf("model version %d source %q, %d family names with a frequency", p.Version, p.Source, len(p.TF[identity.CompFamily]))
	}
	if def := identity.DefaultParams(); p.Levels[identity.CompAddress][identity.LevelExact] == def.Levels[identity.CompAddress][identity.LevelExact] {
		t.Error("the address level is the default's: nothing was estimated")
	}

	// The config names it (relative to the config file); params shows it.
	if err := os.WriteFile(cfgPath, []byte("data_dir: data\nidentity:\n  fuzzy:\n    enabled: true\n    people:\n      params: people.json\n      auto_merge: 0.995\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "identity", "params", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "model version 2: estimated from") || !strings.Contains(out, "auto-merge at probability 0.995") {
		t.Fatalf("params: %v\n%s", err, out)
	}
	// A missing file is a config error naming the key.
	if err := os.Remove(model); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := runCLI(t, "config", "check", cfgPath); err == nil || !strings.Contains(out+stderr+err.Error(), "identity.fuzzy.people.params") {
		t.Errorf("config check with the model file gone: %v %s %s", err, out, stderr)
	}
}

// identity params shows the model the hub estimated into its store:
// nothing yet on a store the hub has not estimated from, then the stored
// version with its record count.
func TestIdentityParamsStoreModel(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "crmhub.yaml")
	if err := os.WriteFile(cfgPath, []byte("data_dir: data\nidentity:\n  fuzzy:\n    enabled: true\n    people: {estimate: auto, estimate_min_records: 300, auto_merge: 0.995}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.DriverSQLite, filepath.Join(dir, "data", "crmhub.db"), store.Options{Identity: identity.Config{Fuzzy: identity.DefaultFuzzy()}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	envs := personEnvelopes(300, 4)
	if _, err := st.Apply(ctx, envs); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "identity", "params", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "no estimated model yet") || !strings.Contains(out, "300 person records") ||
		!strings.Contains(out, "model version 1: default") {
		t.Fatalf("params before an estimate: %v\n%s", err, out)
	}
	res, err := st.Reestimate(ctx, store.EstimateOptions{MinRecords: 300})
	if err != nil || res.Model == nil {
		t.Fatalf("estimate: %+v %v", res, err)
	}
	out, _, err = runCLI(t, "identity", "params", "--config", cfgPath)
	want := fmt.Sprintf("store model version 1, estimated %s (auto) on %d person records", res.Model.CreatedAt.Format(time.RFC3339), res.Persons)
	if err != nil || !strings.Contains(out, want) || !strings.Contains(out, "auto-merge at probability 0.995") ||
		!strings.Contains(out, "the store's person records") {
		t.Fatalf("params after an estimate: %v, want %q in\n%s", err, want, out)
	}
}

// personEnvelopes are the customer events of hub/quality's generated
// people (n people, seed), one per record, as their systems would send
// them.
func personEnvelopes(n int, seed int64) []hub.Envelope {
	var envs []hub.Envelope
	for i, r := range quality.Generate(n, seed, false, false) {
		data, _ := json.Marshal(r.Customer)
		sys, _, _ := strings.Cut(r.Key, "/")
		e := hub.Envelope{System: sys, SourceEntity: "customer", SourceID: r.Key, Entity: hub.EntityCustomer, Op: hub.OpUpsert,
			SourceUpdatedAt: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), SchemaVersion: hub.SchemaVersion, Connector: sys, Data: data}
		e.ComputeEventID()
		envs = append(envs, e)
	}
	return envs
}
