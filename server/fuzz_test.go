package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"testing"

	"fieldsync/contract"
)

// Fixed ids the seed corpus refers to.
const (
	fuzzCustomer = "c0000000-0000-4000-8000-000000000001"
	fuzzJob      = "10000000-0000-4000-8000-000000000001"
)

// FuzzPush sends arbitrary bodies to POST /v1/push as a technician and as a
// dispatcher. Whatever arrives, the server answers with a clear 4xx or one
// result per operation, keeps serving, and a replay of the same body
// changes nothing: every operation that was decided comes back as
// already_applied with the first result.
func FuzzPush(f *testing.F) {
	e := newEnv(f)
	dana := e.login("dana", "office-pc")
	alex := e.login("alex", "alex-phone")
	dana.must(dana.op("customer", fuzzCustomer, contract.ActionCreate, nil, map[string]any{"name": "Harbor Bakery"}))
	dana.must(dana.op("job", fuzzJob, contract.ActionCreate, nil, map[string]any{
		"title": "Replace pump seal", "customer_id": fuzzCustomer, "assignee": e.users["alex"].ID}))
	devices := []*device{alex, dana}

	f.Fuzz(func(t *testing.T, who uint8, body []byte) {
		d := devices[int(who)%len(devices)]
		first, code := rawPush(t, d, body)
		if code != http.StatusOK {
			return // a clear 4xx, checked by rawPush
		}
		var req contract.PushRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("200 for a body that does not decode: %v", err)
		}
		if len(first.Results) != len(req.Ops) {
			t.Fatalf("%d results for %d operations", len(first.Results), len(req.Ops))
		}
		for i, r := range first.Results {
			switch r.Outcome {
			case contract.Applied, contract.AlreadyApplied:
			case contract.Held:
				if r.ReviewID == "" || r.Server == nil {
					t.Fatalf("op %d held without a review and the server's version: %+v", i, r)
				}
			case contract.Refused:
				if r.Message == "" || r.Code == "" {
					t.Fatalf("op %d refused without a reason: %+v", i, r)
				}
			default:
				t.Fatalf("op %d: unknown outcome %q", i, r.Outcome)
			}
		}
		again, code := rawPush(t, d, body)
		if code != http.StatusOK {
			t.Fatalf("replay: status %d", code)
		}
		for i, r := range first.Results {
			if r.Outcome == contract.AlreadyApplied || r.Outcome == contract.Refused && (r.Retry || r.Code == contract.CodeInvalid || r.Code == contract.CodeWrongDevice) {
				continue // never stored: ids that are not UUIDs, another device's operations, or failures worth a retry
			}
			got := again.Results[i]
			if got.Outcome != contract.AlreadyApplied || got.First == nil || !reflect.DeepEqual(*got.First, r) {
				t.Fatalf("op %d replayed: got %+v, want already_applied with %+v", i, got, r)
			}
		}
		// The server still serves everyone else.
		me, _ := http.NewRequest("GET", e.ts.URL+"/v1/me", nil)
		me.Header.Set("Authorization", "Bearer "+dana.token)
		resp, err := http.DefaultClient.Do(me)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after the fuzz body, GET /v1/me: status %d", resp.StatusCode)
		}
	})
}

// rawPush sends body as is. Anything but 200 must be a 4xx with a plain
// error body.
func rawPush(t *testing.T, d *device, body []byte) (contract.PushResponse, int) {
	t.Helper()
	req, _ := http.NewRequest("POST", d.e.ts.URL+"/v1/push", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out contract.PushResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("200 with a body that is not a push response: %q", b)
		}
		return out, resp.StatusCode
	}
	var eb contract.ErrorBody
	if resp.StatusCode >= 500 || resp.StatusCode < 400 || json.Unmarshal(b, &eb) != nil || eb.Error.Message == "" || eb.Error.Code == "" {
		t.Fatalf("status %d with body %q: want a 4xx that says what was wrong", resp.StatusCode, b)
	}
	return out, resp.StatusCode
}
