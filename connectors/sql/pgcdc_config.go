package sqlconn

import (
	"fmt"
	"regexp"
)

// slotName is what PostgreSQL accepts as a replication slot name.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// checkLogicalEntity checks one entity with change_detection: logical.
func checkLogicalEntity(c Config, e EntityConfig, where string) []error {
	var errs []error
	if e.Table == "" {
		errs = append(errs, fmt.Errorf("%s: change_detection logical follows a table's changes; set table, not query", where))
	}
	if e.Cursor != "" {
		errs = append(errs, fmt.Errorf("%s: change_detection logical reads every change from the slot; remove cursor", where))
	}
	if e.KeyScanInterval != 0 {
		errs = append(errs, fmt.Errorf("%s: change_detection logical receives deletes from the slot; remove key_scan_interval", where))
	}
	if e.RescanInterval != 0 {
		errs = append(errs, fmt.Errorf("%s: rescan_interval needs change_detection: hash", where))
	}
	if c.Driver != "postgres" {
		errs = append(errs, fmt.Errorf("%s: change_detection logical needs driver postgres (MySQL/MariaDB binlog capture is not built in yet)", where))
	}
	return errs
}

// checkLogicalSource checks the source-wide settings of logical mode: one
// slot serves every entity, so the entities cannot mix modes.
func checkLogicalSource(c *Config) []error {
	var errs []error
	logical := 0
	for _, e := range c.Entities {
		if e.ChangeDetection == "logical" {
			logical++
		}
	}
	if logical == 0 {
		if c.Slot != "" || c.Publication != "" {
			errs = append(errs, fmt.Errorf("sql: slot and publication need change_detection: logical"))
		}
		return errs
	}
	if logical != len(c.Entities) {
		errs = append(errs, fmt.Errorf("sql: change_detection logical: %d of %d entities use it; one replication slot serves the whole source, so set it on every entity (or split the source)", logical, len(c.Entities)))
	}
	if !slotName.MatchString(c.Slot) {
		errs = append(errs, fmt.Errorf("sql: slot %q: change_detection logical needs a slot name of lower-case letters, digits and _ (at most 63)", c.Slot))
	}
	if c.Publication == "" {
		c.Publication = c.Slot
	}
	return errs
}
