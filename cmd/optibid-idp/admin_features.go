package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/manage/entitlements"
	"github.com/optibid/idp/storage"
)

// adminFeatures runs the features and templates commands. Changes go
// through the same rules, change log and audit as the management API,
// with actor "cli".
func adminFeatures(ctx context.Context, store storage.Store, cmd string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	org, feature, template := fs.String("org", "", ""), fs.String("feature", "", ""), fs.String("template", "", "")
	enable, disable, cascade := fs.Bool("enable", false, ""), fs.Bool("disable", false, ""), fs.Bool("cascade", false, "")
	config, table := fs.String("config", "", ""), fs.Bool("table", false, "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("admin %s: %w", cmd, err)
	}
	defs, err := store.ListFeatures(ctx)
	if err != nil {
		return err
	}
	cat := entitlements.FromStorage(defs)
	rules := &manage.Service{Store: store, Catalogue: func() entitlements.Catalogue { return cat }}
	var o storage.Organization
	if *org != "" {
		if o, err = orgNamed(ctx, store, *org); err != nil {
			return fmt.Errorf("admin %s: %w", cmd, err)
		}
	}
	switch cmd {
	case "features list":
		eff := map[string]map[string]any{}
		if o.ID != "" {
			if eff, err = rules.Effective(ctx, o); err != nil {
				return err
			}
		}
		rows := [][]string{{"KEY", "NAME", "PLANS", "REQUIRES", "CONFLICTS", "ENABLED"}}
		var out []map[string]any
		for _, d := range defs {
			_, on := eff[d.Key]
			state := "-"
			if o.ID != "" {
				state = fmt.Sprint(on)
			}
			rows = append(rows, []string{d.Key, d.Name, strings.Join(d.Plans, ","), strings.Join(d.Requires, ","), strings.Join(d.Conflicts, ","), state})
			item := map[string]any{"key": d.Key, "name": d.Name, "category": d.Category, "plans": d.Plans, "requires": d.Requires, "conflicts": d.Conflicts}
			if o.ID != "" {
				item["enabled"] = on
			}
			out = append(out, item)
		}
		return printOut(stdout, *table, rows, out)
	case "templates list":
		ts, err := store.ListTemplates(ctx)
		if err != nil {
			return err
		}
		rows := [][]string{{"ID", "NAME", "FEATURES"}}
		var out []map[string]any
		for _, t := range ts {
			var fs map[string]any
			_ = json.Unmarshal(t.Features, &fs)
			rows = append(rows, []string{t.ID, t.Name, strings.Join(slices.Sorted(maps.Keys(fs)), ",")})
			out = append(out, map[string]any{"id": t.ID, "name": t.Name, "description": t.Description, "features": fs})
		}
		return printOut(stdout, *table, rows, out)
	case "features set":
		if o.ID == "" || *feature == "" || *enable == *disable {
			return errors.New("admin features set: --org, --feature and one of --enable or --disable are required")
		}
		ch := entitlements.Change{Key: *feature, Enabled: *enable}
		if *config != "" {
			if err := json.Unmarshal([]byte(*config), &ch.Config); err != nil {
				return fmt.Errorf("admin features set: --config must be a JSON object: %w", err)
			}
		}
		err = rules.ChangeFeature(ctx, o, manage.CLI, ch, *cascade) // the CLI is the operator's
	case "templates apply":
		if o.ID == "" || *template == "" {
			return errors.New("admin templates apply: --org and --template are required")
		}
		err = rules.ApplyTemplate(ctx, o, manage.CLI, *template)
	}
	if err != nil {
		return fmt.Errorf("admin %s: %w", cmd, err)
	}
	eff, err := rules.Effective(ctx, o)
	if err != nil {
		return err
	}
	return printOut(stdout, false, nil, map[string]any{"org": o.Slug, "entitlements": entitlements.Claim(eff)})
}

// printOut writes rows as an aligned table, or v as indented JSON.
func printOut(w io.Writer, table bool, rows [][]string, v any) error {
	if !table {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}
