package web

import (
	"context"
	"html/template"
)

// Brand is an organization's look on the sign-in screens: its name, logo
// (a data URL the management layer checked: safe as an image source),
// stylesheet of colours and support link.
type Brand struct {
	OrgID      string
	Name       string
	Logo       template.URL
	HasColor   bool
	SupportURL string
}

type brandKey struct{}

// WithBrand makes pages rendered for requests of ctx show b (request
// metadata: who the page is for, not a dependency).
func WithBrand(ctx context.Context, b Brand) context.Context {
	return context.WithValue(ctx, brandKey{}, b)
}

// BrandOf is the brand of ctx, if any.
func BrandOf(ctx context.Context) (Brand, bool) {
	b, ok := ctx.Value(brandKey{}).(Brand)
	return b, ok
}
