package apptest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/optibid/idp/app"
	"github.com/optibid/idp/storage"
)

// Tenants adds a second organization and people around the bootstrap's
// acme (ada owner, bob member): globex with carol as owner, and dave in
// no organization. Pass it to New; Env.Org finds the organizations.
func Tenants(c *app.Config) {
	c.Bootstrap.Organizations = append(c.Bootstrap.Organizations, app.BootstrapOrg{Slug: "globex", Name: "Globex"})
	c.Bootstrap.Users = append(c.Bootstrap.Users,
		app.BootstrapUser{Email: "carol@globex.example", Password: UserPassword, Name: "Carol", Organization: "globex", Role: "owner"},
		app.BootstrapUser{Email: "dave@example.com", Password: UserPassword, Name: "Dave", Role: "member"})
}

// The APIs declared by APIs, and the clients that act for them.
const (
	TradingAPI       = "https://api.optibid.example/trading"
	SettlementAPI    = "https://api.optibid.example/settlement"
	TradingSecret    = "trading-api-secret-0123456789abcdefghijkl"
	SettlementSecret = "settlement-secret-0123456789abcdefghijklm"
	PartnerSecret    = "partner-secret-0123456789abcdefghijklmnop"
	PartnerCallback  = "https://partner.example/cb"
)

// APIs declares two APIs: trading (org claims, any client) and
// settlement (only clients granted it). Client trading-api acts for
// trading and may exchange its tokens for settlement; settlement-api acts
// for settlement; partner is a third-party client. The first-party client
// web is granted settlement.
func APIs(c *app.Config) {
	c.Bootstrap.APIs = []app.BootstrapAPI{
		{Identifier: TradingAPI, Name: "Trading", Claims: []string{"org", "permissions", "entitlements"},
			Scopes: []storage.APIScope{{Name: "bids:read", Description: "See your bids"}, {Name: "bids:submit", Description: "Place bids"}}},
		{Identifier: SettlementAPI, Name: "Settlement", RequireGrant: true, Claims: []string{"org"},
			Scopes: []storage.APIScope{{Name: "settlement:read", Description: "See settlements"}}},
	}
	for i := range c.Bootstrap.Clients {
		if c.Bootstrap.Clients[i].ID == "web" {
			c.Bootstrap.Clients[i].APIs = []string{SettlementAPI}
		}
	}
	c.Bootstrap.Clients = append(c.Bootstrap.Clients,
		app.BootstrapClient{ID: "trading-api", Secret: TradingSecret, Name: "Trading API", ActsFor: []string{TradingAPI},
			APIs: []string{SettlementAPI}, GrantTypes: []string{"urn:ietf:params:oauth:grant-type:token-exchange"}},
		app.BootstrapClient{ID: "settlement-api", Secret: SettlementSecret, Name: "Settlement API", ActsFor: []string{SettlementAPI},
			GrantTypes: []string{"client_credentials"}},
		app.BootstrapClient{ID: "partner", Secret: PartnerSecret, Name: "Partner App", RedirectURIs: []string{PartnerCallback},
			GrantTypes: []string{"authorization_code"}})
}

// Catalogue declares a feature catalogue: market.view on every plan;
// day-ahead bidding needs it; automated bidding needs day-ahead and
// conflicts with four-eyes approval; and a template "cautious".
func Catalogue(c *app.Config) {
	c.Bootstrap.Features = []app.BootstrapFeature{
		{Key: "market.view", Name: "Market view", Plans: []string{"free", "professional", "enterprise"}},
		{Key: "bids.day_ahead", Name: "Day-ahead bidding", Plans: []string{"professional"}, Requires: []string{"market.view"},
			Config: map[string]any{"max_bid_mw": 50}},
		{Key: "bids.auto", Name: "Automated bidding", Requires: []string{"bids.day_ahead"}, Conflicts: []string{"bids.manual_approval"}},
		{Key: "bids.manual_approval", Name: "Four-eyes approval", Requires: []string{"bids.day_ahead"}},
		{Key: "reports.export", Name: "Report export"},
	}
	c.Bootstrap.Templates = []app.BootstrapTemplate{{ID: "cautious", Name: "Cautious trader", Features: map[string]app.BootstrapSetting{
		"bids.auto": {Enabled: false}, "bids.manual_approval": {Enabled: true}, "reports.export": {Enabled: true}}}}
}

// QueryCounter counts the statements sent to PostgreSQL; set it as
// Storage.Postgres.Tracer.
type QueryCounter struct{ n atomic.Int64 }

// N is the number of statements so far.
func (q *QueryCounter) N() int64 { return q.n.Load() }

// Settle waits until no statement has started for 100 ms (at most 2 s)
// and returns N: a code exchange records its delivery after its answer
// went out, so the client's next request may overlap it.
func (q *QueryCounter) Settle() int64 {
	n := q.N()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		m := q.N()
		if m == n {
			break
		}
		n = m
	}
	return n
}

// TraceQueryStart implements pgx.QueryTracer.
func (q *QueryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (q *QueryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
