package manage

import (
	"errors"
	"strings"
)

// ValidationError is a broken rule: Field names what was wrong in the
// vocabulary of the request (a JSON field, a config key, a CLI flag's
// long name), Msg says what is allowed. It is safe to show a caller.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Invalid returns a *ValidationError.
func Invalid(field, msg string) error { return &ValidationError{Field: field, Msg: msg} }

// ValidationErrors is every broken rule of one check, in order; config
// loading reports them all at once rather than the first.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find the first *ValidationError.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns nil for no errors, else es.
func (es ValidationErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Prefix returns err with prefix+"." before each field (and each field of
// a list): the config names a client's rule as bootstrap.clients[2].name.
// Other errors come back unchanged.
func Prefix(prefix string, err error) error {
	var list ValidationErrors
	if errors.As(err, &list) {
		out := make(ValidationErrors, len(list))
		for i, e := range list {
			out[i] = &ValidationError{Field: join(prefix, e.Field), Msg: e.Msg}
		}
		return out
	}
	var one *ValidationError
	if errors.As(err, &one) {
		return &ValidationError{Field: join(prefix, one.Field), Msg: one.Msg}
	}
	return err
}

func join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}

// Collect appends err's validation errors to es; it returns false (and
// leaves es alone) for an error that is not a validation error.
func (es *ValidationErrors) Collect(err error) bool {
	if err == nil {
		return true
	}
	var list ValidationErrors
	if errors.As(err, &list) {
		*es = append(*es, list...)
		return true
	}
	var one *ValidationError
	if errors.As(err, &one) {
		*es = append(*es, one)
		return true
	}
	return false
}
