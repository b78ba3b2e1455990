package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/optibid/idp/manage"
	"github.com/optibid/idp/storage"
)

// ListQuery is what an operator's list command asks for: one page of
// rows whose key (slug, email or ID) or name holds Search, ignoring case,
// with keys after After, at most storage.PageSize(Limit) of them; as JSON
// lines or an aligned table.
type ListQuery struct {
	Search string
	After  string
	Limit  int
	JSON   bool
}

// Flags declares q's flags (--search, --after, --limit, --json) on fs.
func (q *ListQuery) Flags(fs *flag.FlagSet) {
	fs.StringVar(&q.Search, "search", "", "case-insensitive substring of the key or the name")
	fs.StringVar(&q.After, "after", "", "cursor: list keys after this one")
	fs.IntVar(&q.Limit, "limit", 100, "rows per page (at most 1000)")
	fs.BoolVar(&q.JSON, "json", false, "JSON lines instead of a table")
}

// Listings is what the list commands read.
type Listings interface {
	ListOrganizations(ctx context.Context, q storage.OrgQuery) ([]storage.Organization, error)
	ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	ListConnections(ctx context.Context) ([]storage.Connection, error)
}

// Admin is what an admin command works with. Open sets it once the
// command line is understood, so that a command's help needs neither the
// configuration nor the store.
type Admin struct {
	ConfigPath string
	Config     *Config
	Store      storage.Store
	Rules      *manage.Service
}

// Open parses the command's flags args into fs, then loads the
// configuration and opens its store: the shared PostgreSQL store, never
// memory (the command's own, empty store).
func (a *Admin) Open(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := LoadConfig(a.ConfigPath)
	if err != nil {
		return err
	}
	if cfg.Storage.Type == "memory" {
		return errors.New("admin: storage.type is memory; admin commands need the shared PostgreSQL store")
	}
	if a.Store, err = OpenStore(ctx, cfg); err != nil {
		return err
	}
	a.Config, a.Rules = cfg, Rules(cfg, a.Store)
	return nil
}

// Close closes the store Open opened.
func (a *Admin) Close() {
	if a.Store != nil {
		a.Store.Close()
	}
}

// List runs `admin KIND list` with its flags args (see ListQuery).
func (a *Admin) List(ctx context.Context, fs *flag.FlagSet, kind string, args []string, stdout, stderr io.Writer) error {
	var q ListQuery
	q.Flags(fs)
	if err := a.Open(ctx, fs, args); err != nil {
		return err
	}
	return List(ctx, a.Store, kind, q, stdout, stderr)
}

// listed is a row as the list commands show it. Its view is an allowlist
// of fields: a list never shows a secret, a secret's hash or a sealed
// secret.
type listed struct {
	key   string   // the cursor
	name  string   // searched with the key
	view  any      // the JSON line
	cells []string // the table row
}

// List writes one page of kind ("org", "user", "client" or "connection")
// to stdout and, when the page is full, the --after of the next page to
// stderr.
func List(ctx context.Context, store Listings, kind string, q ListQuery, stdout, stderr io.Writer) error {
	var header []string
	var rows []listed
	var err error
	switch kind {
	case "org":
		header = []string{"SLUG", "NAME", "PLAN", "MFA", "ID"}
		var list []storage.Organization
		list, err = store.ListOrganizations(ctx, storage.OrgQuery{Search: q.Search, After: q.After, Limit: q.Limit})
		for _, o := range list {
			rows = append(rows, listed{o.Slug, o.Name, orgLine{o.ID, o.Slug, o.Name, o.Plan, o.MFAPolicy, o.RequireVerifiedEmail, o.JoinByDomain, o.CreatedAt},
				[]string{o.Slug, o.Name, o.Plan, o.MFAPolicy, o.ID}})
		}
	case "user":
		header = []string{"EMAIL", "NAME", "VERIFIED", "DISABLED", "PLATFORM-ADMIN", "ID"}
		var list []storage.User
		list, err = store.ListUsers(ctx, storage.UserQuery{Search: q.Search, After: q.After, Limit: q.Limit})
		for _, u := range list {
			rows = append(rows, listed{u.Email, u.Name, userLine{u.ID, u.Email, u.Name, u.EmailVerified, u.Disabled, u.PlatformAdmin, u.CreatedAt},
				[]string{u.Email, orDash(u.Name), yesNo(u.EmailVerified), yesNo(u.Disabled), yesNo(u.PlatformAdmin), u.ID}})
		}
	case "client":
		header = []string{"ID", "NAME", "ORG", "PUBLIC", "FIRST-PARTY", "GRANT-TYPES"}
		var list []storage.Client
		list, err = store.ListClients(ctx)
		for _, c := range list {
			rows = append(rows, listed{c.ID, c.Name, clientLine{c.ID, c.Name, c.OrgID, c.Public(), c.FirstParty, c.ServiceRole, c.GrantTypes, c.RedirectURIs, c.CreatedAt},
				[]string{c.ID, c.Name, orDash(c.OrgID), yesNo(c.Public()), yesNo(c.FirstParty), strings.Join(c.GrantTypes, ",")}})
		}
		rows = pageOf(rows, q)
	case "connection":
		header = []string{"ID", "TYPE", "NAME", "ORG", "ENABLED"}
		var list []storage.Connection
		list, err = store.ListConnections(ctx)
		for _, c := range list {
			rows = append(rows, listed{c.ID, c.Name, connectionLine{c.ID, c.Type, c.Name, c.OrgID, c.Enabled, c.LinkByEmail, c.AllowEmailLinking,
				c.TrustUpstreamMFA, c.MaxRole, c.DefaultRole, len(c.SecretSealed) > 0}, []string{c.ID, c.Type, c.Name, orDash(c.OrgID), yesNo(c.Enabled)}})
		}
		rows = pageOf(rows, q)
	default:
		return fmt.Errorf("nothing to list of kind %q", kind)
	}
	if err != nil {
		return fmt.Errorf("%s list: %w", kind, err)
	}
	if err := writeRows(stdout, q.JSON, header, rows); err != nil {
		return err
	}
	if len(rows) > 0 && len(rows) == storage.PageSize(q.Limit) {
		next := rows[len(rows)-1].key
		if strings.ContainsFunc(next, func(r rune) bool { return r == ' ' || !unicode.IsPrint(r) }) {
			next = strconv.Quote(next)
		}
		fmt.Fprintf(stderr, "next page: --after %s\n", next)
	}
	return nil
}

// pageOf cuts the page q asks for out of every row, for what the store
// lists all at once, by the rules of storage.OrgQuery.
func pageOf(rows []listed, q ListQuery) []listed {
	search := strings.ToLower(q.Search)
	out := []listed{}
	for _, r := range rows {
		if r.key > q.After && (strings.Contains(strings.ToLower(r.key), search) || strings.Contains(strings.ToLower(r.name), search)) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b listed) int { return strings.Compare(a.key, b.key) })
	return out[:min(len(out), storage.PageSize(q.Limit))]
}

// writeRows writes rows as JSON lines, or as a table under header.
func writeRows(w io.Writer, asJSON bool, header []string, rows []listed) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range rows {
			if err := enc.Encode(r.view); err != nil {
				return err
			}
		}
		return nil
	}
	table := [][]string{header}
	for _, r := range rows {
		table = append(table, r.cells)
	}
	return PrintOut(w, true, table, nil)
}

// PrintOut writes rows as an aligned table, or v as indented JSON. In
// the table, what is not printable (a tab, a terminal's escape sequence
// in a name a tenant chose) shows as "?".
func PrintOut(w io.Writer, table bool, rows [][]string, v any) error {
	if !table {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printable := func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = strings.Map(printable, c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// The JSON lines of the list commands: what an operator may see.
type (
	orgLine struct {
		ID                   string    `json:"id"`
		Slug                 string    `json:"slug"`
		Name                 string    `json:"name"`
		Plan                 string    `json:"plan"`
		MFA                  string    `json:"mfa"`
		RequireVerifiedEmail bool      `json:"require_verified_email"`
		JoinByDomain         bool      `json:"join_by_domain"`
		CreatedAt            time.Time `json:"created_at"`
	}
	userLine struct {
		ID            string    `json:"id"`
		Email         string    `json:"email"`
		Name          string    `json:"name"`
		EmailVerified bool      `json:"email_verified"`
		Disabled      bool      `json:"disabled"`
		PlatformAdmin bool      `json:"platform_admin"`
		CreatedAt     time.Time `json:"created_at"`
	}
	clientLine struct {
		ID           string    `json:"client_id"`
		Name         string    `json:"name"`
		OrgID        string    `json:"org_id,omitempty"`
		Public       bool      `json:"public"`
		FirstParty   bool      `json:"first_party"`
		ServiceRole  string    `json:"service_role,omitempty"`
		GrantTypes   []string  `json:"grant_types"`
		RedirectURIs []string  `json:"redirect_uris"`
		CreatedAt    time.Time `json:"created_at"`
	}
	connectionLine struct {
		ID                string `json:"id"`
		Type              string `json:"type"`
		Name              string `json:"name"`
		OrgID             string `json:"org_id,omitempty"`
		Enabled           bool   `json:"enabled"`
		LinkByEmail       bool   `json:"link_by_email"`
		AllowEmailLinking bool   `json:"allow_email_linking"`
		TrustUpstreamMFA  bool   `json:"trust_upstream_mfa"`
		MaxRole           string `json:"max_role"`
		DefaultRole       string `json:"default_role"`
		HasSecret         bool   `json:"has_secret"`
	}
)

// The command line of the operator's commands (cmd/optibid-idp): help and
// mistakes.

// HelpRequest is what a command line asking for help (-h, --help or
// help) gives: the command whose help it wants, "" for every command.
type HelpRequest string

func (h HelpRequest) Error() string { return strings.TrimSpace(string(h) + " help requested") }

// UsageError is a mistake on the command line of command Cmd.
type UsageError struct {
	Cmd string
	Err error
}

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// NewFlags is a flag set for the command name that returns its errors
// rather than print them.
func NewFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// ParseFlags parses args into fs. -h, --help, or a first argument "help",
// are a HelpRequest for fs's command; other mistakes a UsageError.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) || fs.Arg(0) == "help" {
		return HelpRequest(fs.Name())
	}
	if err != nil {
		return UsageError{fs.Name(), fmt.Errorf("%s: %w", fs.Name(), err)}
	}
	return nil
}

// Usage is the help of cmd ("" for every command, "serve", "admin org
// create") out of the sections of a help text. A section begins with a
// line "usage: PROGRAM [COMMAND…] <…|--…>" naming the command it is
// about. Its lines indented by two begin entries, each the words of a
// subcommand and its flags, continued on the lines indented further; its
// unindented lines are for every subcommand. The help of cmd is the
// section of the longest command cmd begins with (or the first section),
// cut down to the entries that begin with the most of cmd's further words
// there are entries for.
func Usage(cmd string, sections ...string) string {
	words := strings.Fields(cmd)
	text, rest := sections[0], words
	for _, sec := range sections {
		head, _, _ := strings.Cut(sec, "\n")
		f := strings.Fields(head)
		n := 0
		for n+2 < len(f) && n < len(words) && f[n+2] == words[n] {
			n++
		}
		if n > len(words)-len(rest) {
			text, rest = sec, words[n:]
		}
	}
	for n := len(rest); n > 0; n-- {
		var lines []string
		found, in := false, false
		for _, line := range strings.Split(text, "\n") {
			t := strings.TrimLeft(line, " ")
			if indent := len(line) - len(t); indent <= 2 {
				f := strings.Fields(t)
				in = indent == 0 || indent == 2 && len(f) >= n && slices.Equal(f[:n], rest[:n])
				found = found || in && indent == 2
			}
			if in {
				lines = append(lines, line)
			}
		}
		if found {
			return strings.Join(lines, "\n")
		}
	}
	return text
}

// Explain finishes a command's run: the help a HelpRequest asks for goes
// to stdout (and the run succeeds); a UsageError gets its command's
// usage. sections are as Usage's.
func Explain(err error, stdout io.Writer, sections ...string) error {
	var help HelpRequest
	var mistake UsageError
	if errors.As(err, &help) {
		_, err = fmt.Fprintln(stdout, Usage(string(help), sections...))
	} else if errors.As(err, &mistake) {
		err = fmt.Errorf("%w\n%s", err, Usage(mistake.Cmd, sections...))
	}
	return err
}

// ExitStatus is the exit status of a command that failed with err: 2 for
// a mistake on the command line, 1 for any other failure.
func ExitStatus(err error) int {
	if errors.As(err, new(UsageError)) {
		return 2
	}
	return 1
}
