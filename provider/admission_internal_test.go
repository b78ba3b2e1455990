package provider

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Past the in-flight cap a request is refused at once with 503 and
// Retry-After, not queued; a slot freed serves the next.
func TestAdmissionShedsPastTheCap(t *testing.T) {
	a := newAdmission(Config{MaxConcurrent: 1, AdmissionWait: 10 * time.Millisecond, ClientRate: -1}, time.Now, nil)
	hold, held := make(chan struct{}), make(chan struct{})
	h := a.limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(held)
			<-hold
		}
	}))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/hold", nil))
	}()
	<-held
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || time.Since(start) > time.Second {
		t.Fatalf("past the cap: %d Retry-After %q after %s", rec.Code, rec.Header().Get("Retry-After"), time.Since(start))
	}
	close(hold)
	wg.Wait()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("after the slot was freed: %d", rec.Code)
	}
}

// A client's bucket: the burst passes, then requests are refused with how
// long to wait, refilling at the rate; one client's flood leaves another's
// allowance alone.
func TestAdmissionPerClientBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	a := newAdmission(Config{MaxConcurrent: 8, AdmissionWait: time.Millisecond, ClientRate: 2, ClientBurst: 3}, func() time.Time { return now }, nil)
	for i := range 3 {
		if ok, _ := a.allow("flooder"); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, after := a.allow("flooder")
	if ok || after <= 0 || after > time.Second {
		t.Fatalf("past the burst: ok %v, retry after %s", ok, after)
	}
	if ok, _ := a.allow("bystander"); !ok {
		t.Fatal("another client was refused")
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if ok, _ := a.allow("flooder"); !ok {
		t.Fatal("the bucket did not refill")
	}
	if ok, _ := a.allow("flooder"); ok {
		t.Fatal("the bucket refilled more than the rate")
	}
}
