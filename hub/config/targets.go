package config

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Target is one write-back target: golden customers reverse-mapped into a
// system's entity through a destination connector.
type Target struct {
	Name   string `yaml:"name"`
	Plugin string `yaml:"plugin"`
	// System and Entity name the target records: the golden customer's
	// source records in (System, Entity) are the ones written.
	System string `yaml:"system"`
	Entity string `yaml:"entity"`
	// Mapping is the reverse mapping's name.
	Mapping string `yaml:"mapping"`
	// Fields is the allow-list: the target fields this system owns
	// downstream. Only they are written, hashed and compared.
	Fields []string `yaml:"fields"`
	// Touch are fields written along with every write but never compared
	// (a change timestamp the system's incremental reader needs).
	Touch []string `yaml:"touch"`
	// Create allows writing golden customers the system does not have yet;
	// by default only records the system already has are updated.
	Create bool `yaml:"create"`
	// OnConflict decides a field a person changed in the system after the
	// hub's last read, once the hub has read it: system (default: the
	// system's edit stays when the golden customer still holds it or it is
	// newer than the golden value's source edit), hub (the golden value is
	// written) or steward (a steward task with both values).
	OnConflict string `yaml:"on_conflict"`
	// MaxConflictTries bounds the retries of a write refused as a conflict
	// whose edit the hub does not read; then it is a steward task. Default 8.
	MaxConflictTries int `yaml:"max_conflict_tries"`
	// Write says what a changed record carries: changed (only the fields
	// whose golden value changed) or whole (every allow-listed field, as an
	// export line needs). Default whole for the file plugin, else changed.
	Write     string   `yaml:"write"`
	BatchSize int      `yaml:"batch_size"`
	BatchWait Duration `yaml:"batch_wait"`
	Disabled  bool     `yaml:"disabled"`
	// Settings are the destination's parameters, validated against its
	// declaration like a connector's.
	Settings map[string]any `yaml:"settings"`

	Line         int            `yaml:"-"`
	SettingLines map[string]int `yaml:"-"`
}

// UnmarshalYAML keeps the lines of the target and of its settings keys, so
// errors can point at them.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	type plain Target
	if err := n.Decode((*plain)(t)); err != nil {
		return err
	}
	t.Line = n.Line
	t.SettingLines = map[string]int{}
	if s := mapValue(n, "settings"); s != nil {
		settingLines(s, "", t.SettingLines) // nested keys too, by path
	}
	return nil
}

// Where names a settings key's place in the file for error messages.
func (t Target) Where(file, key string) string {
	if l, ok := lineOf(t.SettingLines, key); ok && key != "" {
		return fmt.Sprintf("%s:%d: targets[%s].settings.%s", file, l, t.Name, key)
	}
	return fmt.Sprintf("%s:%d: targets[%s]", file, t.Line, t.Name)
}

// CheckTargets applies the targets' defaults and reports every problem at
// once, each with file and line. The server calls it before starting
// write-back; a config without targets passes.
func CheckTargets(c *Config) error {
	var errs []error
	bad := func(t Target, i int, key, format string, args ...any) {
		line := t.Line
		if l, ok := c.lines[fmt.Sprintf("targets[%d].%s", i, key)]; ok {
			line = l // the key's own line when it is in the file
		}
		errs = append(errs, fmt.Errorf("%w: %s:%d: targets[%d].%s: %s", ErrInvalid, c.File, line, i, key, fmt.Sprintf(format, args...)))
	}
	seen := map[string]int{}
	for i := range c.Targets {
		t := &c.Targets[i]
		if t.BatchSize == 0 {
			t.BatchSize = 200
		}
		if t.BatchWait == 0 {
			t.BatchWait = Duration(100 * time.Millisecond)
		}
		if t.Settings == nil {
			t.Settings = map[string]any{}
		}
		if t.Name == "" {
			bad(*t, i, "name", "required")
		} else if prev, dup := seen[t.Name]; dup {
			bad(*t, i, "name", "%q is already used at line %d", t.Name, prev)
		} else {
			seen[t.Name] = t.Line
		}
		for _, kv := range [][2]string{{"plugin", t.Plugin}, {"system", t.System}, {"entity", t.Entity}, {"mapping", t.Mapping}} {
			if kv[1] == "" {
				bad(*t, i, kv[0], "required")
			}
		}
		if len(t.Fields) == 0 {
			bad(*t, i, "fields", "required: the allow-list of the fields this system owns")
		}
		if t.BatchSize < 0 {
			bad(*t, i, "batch_size", "must be positive")
		}
		switch t.OnConflict {
		case "":
			t.OnConflict = "system"
		case "system", "hub", "steward":
		default:
			bad(*t, i, "on_conflict", "want system, hub or steward, got %q", t.OnConflict)
		}
		switch t.Write {
		case "":
			t.Write = "changed"
			if t.Plugin == "file" {
				t.Write = "whole"
			}
		case "changed", "whole":
		default:
			bad(*t, i, "write", "want changed or whole, got %q", t.Write)
		}
		if t.MaxConflictTries < 0 {
			bad(*t, i, "max_conflict_tries", "must not be negative")
		}
	}
	return errors.Join(errs...)
}
