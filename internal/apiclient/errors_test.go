package apiclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"fieldsync/contract"
	"fieldsync/internal/apiclient"
)

// Whatever fails, a caller that knows only the contract reads a code and a
// kind from it, and the kind says whether trying again can help.
func TestErrorsUnwrapToTheContract(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(w http.ResponseWriter)
		code     contract.Code
		kind     contract.Kind
		noSignal bool
	}{
		{"a refusal keeps the server's code and kind",
			func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusConflict)
				w.Write([]byte(`{"error":{"code":"device_taken","kind":"refused","message":"This device id belongs to another user.","retry":false}}`))
			}, contract.CodeDeviceTaken, contract.Refusal, false},
		{"a 429 is transient whatever kind it names",
			func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(`{"error":{"code":"rate_limited","kind":"refused","message":"Too many tries.","retry":true}}`))
			}, contract.CodeRateLimited, contract.Transient, false},
		{"a proxy's 502 without a body is unavailable and transient",
			func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) },
			contract.CodeUnavailable, contract.Transient, false},
		{"no signal is unavailable and transient", nil, contract.CodeUnavailable, contract.Transient, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tt.answer(w) }))
			defer ts.Close()
			c, err := apiclient.New(ts.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.SetOffline(tt.noSignal)
			_, err = c.Users(context.Background())
			var ce *contract.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%v does not unwrap to a *contract.Error", err)
			}
			if ce.Code != tt.code || ce.Kind != tt.kind || ce.Message != err.Error() {
				t.Errorf("got %s/%s %q, want %s/%s %q", ce.Code, ce.Kind, ce.Message, tt.code, tt.kind, err.Error())
			}
			if contract.ErrorKind(err) != tt.kind {
				t.Errorf("contract.ErrorKind = %s, want %s", contract.ErrorKind(err), tt.kind)
			}
			if tt.noSignal != errors.Is(err, apiclient.ErrNoSignal) {
				t.Errorf("errors.Is(err, ErrNoSignal) = %v", !tt.noSignal)
			}
		})
	}
}
