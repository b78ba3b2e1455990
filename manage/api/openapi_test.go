package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel"
	"gopkg.in/yaml.v3"
	yaml11 "sigs.k8s.io/yaml"

	"github.com/optibid/idp/app/apptest"
	adminapi "github.com/optibid/idp/manage/api"
	"github.com/optibid/idp/storage"
)

// The OpenAPI document (openapi.yaml, served at /api/v1/openapi.yaml) is
// checked four ways: it is a valid OpenAPI 3.1 document and reads the same
// under YAML 1.1 and 1.2; every operation is complete; it names exactly
// the router's routes; and the running API answers as it says.

// openAPIProblems validates spec: pb33f/libopenapi builds the model
// (resolving every $ref), libopenapi-validator checks it against the
// OpenAPI 3.1 JSON Schema, and yamlProblems adds what neither sees.
func openAPIProblems(spec []byte) []string {
	problems := yamlProblems(spec)
	doc, err := newDocument(spec)
	if err != nil {
		return append(problems, "parse: "+err.Error())
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		problems = append(problems, "openapi is "+v+", want 3.1.x")
	}
	if _, err := doc.BuildV3Model(); err != nil {
		problems = append(problems, "model: "+err.Error())
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			problems = append(problems, "schema: "+e.Error())
			for _, f := range e.SchemaValidationErrors {
				problems = append(problems, fmt.Sprintf("  line %d: %s %s", f.Line, f.FieldPath, f.Reason))
			}
		}
	}
	return problems
}

// newDocument parses spec with libopenapi, which reports what it cannot
// resolve as errors rather than in the test's output.
func newDocument(spec []byte) (libopenapi.Document, error) {
	cfg := datamodel.NewDocumentConfiguration()
	cfg.Logger = slog.New(slog.DiscardHandler)
	return libopenapi.NewDocumentWithConfiguration(spec, cfg)
}

// yamlBool11 are the plain scalars YAML 1.1 reads as booleans (1.2 reads
// only true and false so).
var yamlBool11 = regexp.MustCompile(`^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$`)

// yamlProblems finds what a YAML reader may take differently from what was
// meant: a document that reads differently under YAML 1.1 (off as false),
// a plain scalar YAML 1.1 takes for a boolean, a plain scalar holding a
// comma or colon (which split or nest in flow style), a null (a stray key
// from a comma in flow style leaves one), and an enum value whose type is
// not the schema's.
func yamlProblems(spec []byte) []string {
	var problems []string
	var root yaml.Node
	if err := yaml.Unmarshal(spec, &root); err != nil {
		return []string{"yaml: " + err.Error()}
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, path+"/"+strconv.Itoa(i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
					problems = append(problems, fmt.Sprintf("line %d: key %q is not a string (quote it)", k.Line, k.Value))
				}
				walk(v, path+"/"+k.Value)
			}
			problems = append(problems, enumProblems(n, path)...)
		case yaml.AliasNode:
			problems = append(problems, fmt.Sprintf("line %d: alias *%s (write it out: not every reader follows aliases)", n.Line, n.Value))
		case yaml.ScalarNode:
			switch {
			case n.Tag == "!!null":
				problems = append(problems, fmt.Sprintf("line %d: %s is null (a stray key?)", n.Line, path))
			case n.Style == 0 && yamlBool11.MatchString(n.Value):
				problems = append(problems, fmt.Sprintf("line %d: %s is %s unquoted, a boolean in YAML 1.1", n.Line, path, n.Value))
			case n.Style == 0 && strings.ContainsAny(n.Value, ",:"):
				problems = append(problems, fmt.Sprintf("line %d: %s %q holds a comma or colon unquoted", n.Line, path, n.Value))
			}
		}
	}
	walk(&root, "")
	var v12 any
	if err := yaml.Unmarshal(spec, &v12); err != nil {
		return append(problems, "yaml 1.2: "+err.Error())
	}
	j11, err := yaml11.YAMLToJSON(spec)
	if err != nil {
		return append(problems, "yaml 1.1: "+err.Error())
	}
	j12, err := json.Marshal(v12)
	if err != nil {
		return append(problems, "json: "+err.Error())
	}
	var a, b any
	_ = json.Unmarshal(j11, &a)
	_ = json.Unmarshal(j12, &b)
	if !reflect.DeepEqual(a, b) {
		problems = append(problems, "the document reads differently under YAML 1.1 and YAML 1.2")
	}
	return problems
}

// enumProblems checks that a schema's enum values have its type.
func enumProblems(n *yaml.Node, path string) []string {
	var typ, enum *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "type":
			typ = n.Content[i+1]
		case "enum":
			enum = n.Content[i+1]
		}
	}
	if typ == nil || enum == nil || typ.Kind != yaml.ScalarNode {
		return nil
	}
	want := map[string]string{"string": "!!str", "boolean": "!!bool", "integer": "!!int"}[typ.Value]
	var problems []string
	for _, v := range enum.Content {
		if want != "" && v.Tag != want {
			problems = append(problems, fmt.Sprintf("line %d: %s/enum holds %s %q, not a %s", v.Line, path, v.Tag, v.Value, typ.Value))
		}
	}
	return problems
}

func TestOpenAPIValid(t *testing.T) {
	t.Parallel()
	if problems := openAPIProblems(adminapi.OpenAPI); len(problems) > 0 {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3.1 document:\n%s", strings.Join(problems, "\n"))
	}
	// The checks fail on broken copies: each breaks one thing.
	spec := string(adminapi.OpenAPI)
	for _, c := range []struct{ name, old, new string }{
		{"not OpenAPI", "openapi: 3.1.1\n", "swagger: 3.1.1\n"},
		{"no info", "info:\n  title:", "inf:\n  title:"},
		{"version 3.0", "openapi: 3.1.1\n", "openapi: 3.0.3\n"},
		{"response without description", "        \"204\":\n          description: Erased.\n", "        \"204\": {}\n"},
		{"dangling reference", `$ref: "#/components/schemas/Member"`, `$ref: "#/components/schemas/Membr"`},
		{"unknown operation field", "      operationId: getMe\n", "      operationId: getMe\n      operationID: getMe\n"},
		{"unquoted off", `enum: ["off", optional, required, passkey]`, `enum: [off, optional, required, passkey]`},
		{"stray key from a comma", "    org:\n      name: org\n", "    org: {name: org, in: path, required: true, schema: {type: string}, description: ID, or slug}\n    org0:\n      name: org\n"},
		{"status code as a number", "        \"204\":\n          description: Erased.\n", "        204:\n          description: Erased.\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(spec, c.old) {
				t.Fatalf("the document no longer holds %q: update this case", c.old)
			}
			broken := strings.Replace(spec, c.old, c.new, 1)
			problems := openAPIProblems([]byte(broken))
			if len(problems) == 0 {
				t.Fatalf("a document with %s passed validation", c.name)
			}
			t.Logf("caught: %s", problems[0])
		})
	}
}

// openAPIDoc is the document as plain YAML 1.2 data.
type openAPIDoc map[string]any

func loadOpenAPI(t testing.TB, spec []byte) openAPIDoc {
	t.Helper()
	var doc map[string]any // not openAPIDoc: yaml.v3 would make every mapping one
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// deref follows a local $ref ("#/a/b").
func (d openAPIDoc) deref(v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = map[string]any(d)
		for _, seg := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[seg]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

type operation struct {
	method, path string
	op           map[string]any
	params       []map[string]any // the path item's and the operation's
}

func (d openAPIDoc) operations() []operation {
	var ops []operation
	paths, _ := d["paths"].(map[string]any)
	for p, item := range paths {
		item := d.deref(item)
		for _, m := range httpMethods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			o := operation{method: strings.ToUpper(m), path: p, op: op}
			for _, list := range []any{item["parameters"], op["parameters"]} {
				ps, _ := list.([]any)
				for _, prm := range ps {
					o.params = append(o.params, d.deref(prm))
				}
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// Every operation is complete: a unique camelCase operationId, a summary,
// its path parameters, a strict request schema, a success answer with a
// schema (or 204), the errors every route of its kind answers, and the
// token scopes it accepts.
func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t, adminapi.OpenAPI)
	ids := map[string]string{}
	ops := doc.operations()
	if len(ops) < 50 {
		t.Fatalf("%d operations: the document did not read", len(ops))
	}
	for _, o := range ops {
		name := o.method + " " + o.path
		id, _ := o.op["operationId"].(string)
		switch {
		case !camelCase.MatchString(id):
			t.Errorf("%s: operationId %q is not camelCase", name, id)
		case ids[id] != "":
			t.Errorf("%s: operationId %s is also %s's", name, id, ids[id])
		}
		ids[id] = name
		if s, _ := o.op["summary"].(string); strings.TrimSpace(s) == "" {
			t.Errorf("%s: no summary", name)
		}
		var inPath []string
		for _, p := range o.params {
			if p["in"] == "path" {
				inPath = append(inPath, "{"+p["name"].(string)+"}")
			}
		}
		for _, want := range regexp.MustCompile(`\{[a-z]+\}`).FindAllString(o.path, -1) {
			if !slices.Contains(inPath, want) {
				t.Errorf("%s: path parameter %s is not declared", name, want)
			}
		}
		responses, _ := o.op["responses"].(map[string]any)
		success := false
		for code, r := range responses {
			if !strings.HasPrefix(code, "2") {
				continue
			}
			if code == "204" {
				success = true
				continue
			}
			content, _ := doc.deref(r)["content"].(map[string]any)
			for _, mt := range content {
				if mt, _ := mt.(map[string]any); mt["schema"] != nil {
					success = true
				}
			}
		}
		if !success {
			t.Errorf("%s: no 2xx answer with a schema, nor 204", name)
		}
		if id == "getOpenAPIDocument" {
			continue
		}
		want := []string{"401", "503"}
		body := o.op["requestBody"]
		if body != nil {
			// decode: 415 without application/json, 400 for what it
			// cannot read, and no field it does not know.
			want = append(want, "400", "415")
			schema := doc.deref(doc.deref(doc.deref(body)["content"].(map[string]any)["application/json"])["schema"])
			if schema["additionalProperties"] != false {
				t.Errorf("%s: the request schema allows unknown fields; the handler refuses them", name)
			}
		}
		if strings.HasPrefix(o.path, "/orgs/{org}") {
			want = append(want, "403", "404")
		}
		if o.method != "GET" {
			want = append(want, "403") // insufficient_scope
		}
		for _, p := range o.params {
			if p["name"] == "after" {
				want = append(want, "400") // a bad limit
			}
		}
		for _, code := range want {
			if responses[code] == nil {
				t.Errorf("%s: no %s answer", name, code)
			}
		}
		var scopes []string
		sec, _ := o.op["security"].([]any)
		if sec == nil {
			sec, _ = doc["security"].([]any)
		}
		for _, req := range sec {
			for _, s := range req.(map[string]any)["managementToken"].([]any) {
				scopes = append(scopes, s.(string))
			}
		}
		sort.Strings(scopes)
		wantScopes := []string{"manage"}
		if o.method == "GET" {
			wantScopes = []string{"manage", "manage:read"}
		}
		if !slices.Equal(scopes, wantScopes) {
			t.Errorf("%s: accepts scopes %v, want %v (manage:read is for GET only)", name, scopes, wantScopes)
		}
	}
}

// openAPIPending lists operations the document describes that the router
// does not serve yet (they are being added); keep it empty.
var openAPIPending = []string{}

// routes lists the router's "METHOD /api/v1/path" pairs.
func routes(t testing.TB) []string {
	r := mux.NewRouter()
	adminapi.New(adminapi.Deps{}).Register(r)
	var out []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // the subrouter's prefix
		}
		for _, m := range methods {
			out = append(out, m+" "+tpl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// The document names exactly the routes the router serves, both ways.
func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t, adminapi.OpenAPI)
	var documented []string
	for _, o := range doc.operations() {
		documented = append(documented, o.method+" /api/v1"+o.path)
	}
	routed := routes(t)
	for _, d := range documented {
		if !slices.Contains(routed, d) && !slices.Contains(openAPIPending, d) {
			t.Errorf("documented, not routed: %s", d)
		}
		if slices.Contains(routed, d) && slices.Contains(openAPIPending, d) {
			t.Errorf("routed now, drop it from openAPIPending: %s", d)
		}
	}
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("routed, not documented: %s", r)
		}
	}
}

// The served document parses as YAML 1.2, and YAML 1.1 readers get the
// same: the MFA policy "off" is a string, not false.
func TestOpenAPIServedYAML(t *testing.T) {
	t.Parallel()
	r := mux.NewRouter()
	adminapi.New(adminapi.Deps{}).Register(r)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.yaml", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("served: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	served := rec.Body.Bytes()
	var v12 struct {
		Components struct {
			Schemas map[string]struct {
				Enum []any `yaml:"enum"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(served, &v12); err != nil {
		t.Fatalf("not YAML 1.2: %v", err)
	}
	var v11 struct {
		Components struct {
			Schemas map[string]struct {
				Enum []any `json:"enum"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := yaml11.Unmarshal(served, &v11); err != nil {
		t.Fatalf("not YAML 1.1: %v", err)
	}
	want := []any{"off", "optional", "required", "passkey"}
	for name, got := range map[string][]any{"YAML 1.2": v12.Components.Schemas["MFAPolicy"].Enum, "YAML 1.1": v11.Components.Schemas["MFAPolicy"].Enum} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s reads the MFA policies as %#v, want %#v", name, got, want)
		}
	}
	if problems := yamlProblems(served); len(problems) > 0 {
		t.Errorf("served document:\n%s", strings.Join(problems, "\n"))
	}
}

// The running API answers as the document says: each call's request and
// answer (errors included) are checked against it with
// libopenapi-validator.
func TestOpenAPIAnswers(t *testing.T) {
	t.Parallel()
	doc, err := newDocument(adminapi.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	router := mux.NewRouter()
	adminapi.New(adminapi.Deps{}).Register(router)
	isRouted := func(method, path string) bool {
		var m mux.RouteMatch
		return router.Match(httptest.NewRequest(method, "/api/v1"+path, nil), &m) && m.MatchErr == nil
	}
	e, acme, _ := adminEnv(t, "memory", apptest.Catalogue)
	ctx := context.Background()
	dave := e.User("dave@example.com")
	if err := e.App.Store.SetPlatformAdmin(ctx, dave.ID, true, storage.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	ada, admin := e.TokenOf(apptest.UserEmail), e.TokenOf("dave@example.com")

	// call sends body (JSON unless contentType says otherwise), wants the
	// status, checks the request and the
	// answer against the document (only the answer when the request breaks
	// it on purpose: invalid), and returns the answer. Calls to routes not
	// routed yet are skipped.
	type opts struct {
		contentType string
		invalid     bool
	}
	call := func(method, path, token, body string, want int, o ...opts) map[string]any {
		t.Helper()
		var opt opts
		if len(o) > 0 {
			opt = o[0]
		}
		if !isRouted(method, path) {
			t.Logf("skipped, not routed yet: %s %s", method, path)
			return nil
		}
		newReq := func() *http.Request {
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, _ := http.NewRequest(method, e.Issuer+"/api/v1"+path, rd)
			if body != "" {
				ct := opt.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return req
		}
		resp, err := e.Srv.Client().Do(newReq())
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
		}
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		var ok bool
		var verrs []*liberrors.ValidationError
		if opt.invalid {
			ok, verrs = v.ValidateHttpResponse(newReq(), resp)
		} else {
			ok, verrs = v.ValidateHttpRequestResponse(newReq(), resp)
		}
		if !ok {
			for _, ve := range verrs {
				t.Errorf("%s %s (%d): %s", method, path, resp.StatusCode, describe(ve))
			}
			t.Logf("answer: %s", raw)
		}
		out := map[string]any{}
		_ = json.Unmarshal(raw, &out)
		return out
	}

	org := "/orgs/" + acme.ID
	call("GET", "/openapi.yaml", "", "", 200)
	call("GET", "/me", ada, "", 200)
	call("GET", "/me", e.TokenOf("bob@example.com"), "", 200)
	call("GET", "/me/export", ada, "", 200)
	call("GET", "/orgs", ada, "", 200)
	call("GET", "/orgs?limit=1&q=ac", admin, "", 200)
	call("GET", org, ada, "", 200)
	call("GET", "/orgs/acme", ada, "", 200)
	call("PATCH", org, ada, `{"name":"Acme Corporation","mfa":"off","settings":{"theme":"dark"}}`, 200)

	call("GET", org+"/members", ada, "", 200)
	call("GET", org+"/members?limit=1", ada, "", 200)
	call("GET", org+"/members?limit=0", ada, "", 400, opts{invalid: true})
	inv := call("POST", org+"/invitations", ada, `{"email":"zed@example.com","role":"admin"}`, 201)
	call("POST", org+"/members", ada, `{"email":"yan@example.com"}`, 201)
	call("POST", org+"/invitations", ada, `{"email":"xia@example.com","language":"de"}`, 201)
	call("POST", org+"/invitations", ada, `{"email":"xia@example.com","language":"fr"}`, 400, opts{invalid: true})
	call("GET", org+"/invitations", ada, "", 200)
	if id, _ := inv["id"].(string); id != "" {
		if again := call("POST", org+"/invitations/"+id+"/resend", ada, "", 200); again != nil {
			id, _ = again["id"].(string) // the new invitation
		}
		call("DELETE", org+"/invitations/"+id, ada, "", 204)
	}
	call("POST", "/invitations/accept", ada, `{"token":"no-such-token"}`, 400)
	bob := e.User("bob@example.com")
	call("PATCH", org+"/members/"+bob.ID, ada, `{"role":"admin"}`, 200)
	call("PATCH", org+"/members/"+e.User(apptest.UserEmail).ID, ada, `{"role":"member"}`, 409)

	cl := call("POST", org+"/clients", ada, `{"name":"Conformance app","redirect_uris":["https://app.acme.example/cb"]}`, 201)
	call("GET", org+"/clients", ada, "", 200)
	if id, _ := cl["client_id"].(string); id != "" {
		call("POST", org+"/clients/"+id+"/secret", ada, "", 200)
		call("DELETE", org+"/clients/"+id, ada, "", 204)
	}
	call("GET", org+"/apis", ada, "", 200)
	call("GET", "/apis", admin, "", 200)

	conn := call("POST", org+"/connections", ada, `{"type":"okta","name":"Acme Okta","client_secret":"upstream-secret","settings":{"client_id":"0oa1","domain":"acme.okta.com"}}`, 201)
	call("GET", org+"/connections", ada, "", 200)
	call("GET", "/connections", admin, "", 200)
	if id, _ := conn["id"].(string); id != "" {
		// Not /test: it would reach for the upstream.
		call("PATCH", org+"/connections/"+id, ada, `{"enabled":false}`, 200)
		call("DELETE", org+"/connections/"+id, ada, "", 204)
	}

	call("POST", org+"/domains", ada, `{"domain":"conformance.example"}`, 201)
	call("GET", org+"/domains", ada, "", 200)
	call("POST", org+"/domains/conformance.example/verify", ada, "", 422)
	call("DELETE", org+"/domains/conformance.example", ada, "", 204)

	call("GET", org+"/features", ada, "", 200)
	call("PUT", org+"/features/market.view", ada, `{"enabled":true}`, 200)
	call("PUT", org+"/features/bids.day_ahead", ada, `{"enabled":true}`, 403) // not on acme's plan
	call("PUT", org+"/features/bids.auto", ada, `{"enabled":true}`, 409)      // needs bids.day_ahead
	call("GET", org+"/features/changes", ada, "", 200)
	call("GET", org+"/templates", ada, "", 200)
	call("GET", org+"/widgets", ada, "", 200)
	call("GET", org+"/dashboard", ada, "", 200)
	call("PUT", org+"/dashboard", ada, `{"layout":{"widgets":[]}}`, 200)
	call("POST", org+"/usage", ada, `{"feature":"market.view","count":2}`, 204)
	call("GET", org+"/usage", ada, "", 200)

	call("GET", org+"/audit?since=24h&limit=2", ada, "", 200)
	call("GET", "/audit?org="+acme.ID, admin, "", 200)
	call("GET", "/keys", admin, "", 200)
	call("POST", "/keys/rotate", admin, `{}`, 200)
	call("POST", "/keys/rotate", admin, `{"alg":"HS256"}`, 400)

	created := call("POST", "/orgs", admin, `{"slug":"conformance","name":"Conformance","plan":"professional","owner_email":"carol@globex.example"}`, 201)
	call("POST", "/orgs", admin, `{"slug":"conformance-2","name":"Conformance 2","owner_email":"nobody@example.com"}`, 201)
	if o, _ := created["org"].(map[string]any); o != nil {
		call("DELETE", "/orgs/conformance", admin, `{"confirm":"conformance"}`, 204)
	}

	// Errors answer as documented too.
	call("GET", "/me", "", "", 401, opts{invalid: true})
	call("GET", "/me", "not-a-token", "", 401)
	call("GET", "/audit", ada, "", 403)
	call("POST", "/orgs", ada, `{"slug":"x","name":"x","owner_email":"a@example.com"}`, 403)
	call("GET", "/orgs/0123456789abcdef0123456789abcdef", ada, "", 404)
	call("GET", org+"/audit?since=yesterday", ada, "", 400, opts{invalid: true})
	call("POST", org+"/clients", ada, `{"name":"x","redirect_uris":["http://app.example/cb"]}`, 400)
	call("POST", org+"/domains", ada, `{"domain":"conformance.example"}`, 415, opts{contentType: "text/plain", invalid: true})
	bad := call("POST", org+"/domains", ada, `{"id":"x"}`, 400, opts{invalid: true})
	if bad != nil && (bad["error"] != "invalid_request" || bad["field"] != "id" || bad["message"] != `unknown field "id"`) {
		t.Errorf("unknown field: %v", bad)
	}
}

// describe is a validation error in one line, with the schema's reasons.
func describe(ve *liberrors.ValidationError) string {
	s := ve.Message + ": " + ve.Reason
	for _, f := range ve.SchemaValidationErrors {
		s += "; " + f.FieldPath + " " + f.Reason
	}
	return s
}
