package config

import (
	"strings"
	"testing"
)

func TestTargets(t *testing.T) {
	src := `data_dir: /tmp/x
targets:
  - name: erp
    plugin: sql
    system: erp
    entity: customers
    mapping: erp_customers_writeback
    fields: [email, phone]
    touch: [updated_at]
    settings:
      driver: sqlite
      dsn: "file:${DEMO}/erp.db"
  - name: erp
    plugin: sql
    on_conflict: overwrite
    settings: {}
`
	cfg, err := Parse("crmhub.yaml", []byte(src), func(k string) (string, bool) { return "/demo", k == "DEMO" })
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if tg.Line != 3 || tg.SettingLines["dsn"] != 12 || tg.Settings["dsn"] != "file:/demo/erp.db" || tg.Create {
		t.Errorf("target = %+v", tg)
	}
	if w := tg.Where(cfg.File, "dsn"); w != "crmhub.yaml:12: targets[erp].settings.dsn" {
		t.Errorf("Where = %q", w)
	}
	err = CheckTargets(cfg)
	if err == nil {
		t.Fatal("duplicate name and missing keys must fail")
	}
	for _, want := range []string{
		`crmhub.yaml:13: targets[1].name: "erp" is already used at line 3`,
		`crmhub.yaml:13: targets[1].system: required`,
		`crmhub.yaml:13: targets[1].mapping: required`,
		`crmhub.yaml:13: targets[1].fields: required`,
		`crmhub.yaml:15: targets[1].on_conflict: want system, hub or steward, got "overwrite"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if cfg.Targets[0].OnConflict != "system" {
		t.Errorf("default conflict policy not applied: %q", cfg.Targets[0].OnConflict)
	}
	if cfg.Targets[0].BatchSize != 200 {
		t.Errorf("default batch size not applied: %d", cfg.Targets[0].BatchSize)
	}
}

func TestTargetUnknownKey(t *testing.T) {
	_, err := Parse("c.yaml", []byte("targets:\n  - name: a\n    feilds: [x]\n"), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), `c.yaml:3: targets[0].feilds: unknown key (did you mean fields?)`) {
		t.Errorf("err = %v", err)
	}
}
