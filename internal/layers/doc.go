// Package layers holds the test that keeps the import directions of the
// architecture: cmd → app → provider, login, manage/api, manage/console →
// manage → federation, storage. It has no code of its own.
package layers
