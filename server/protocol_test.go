package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
)

// A device tells an older server from a newer one by the protocol version
// the login and rules answers carry, and the rules arrive as data it can use.
func TestAnswersCarryTheProtocolVersion(t *testing.T) {
	e := newEnv(t)
	alex := e.login("alex", "alex-phone")

	var login map[string]json.RawMessage
	if code := alex.call("POST", "/v1/login", contract.LoginRequest{Username: "alex", Password: testPassword, DeviceID: "alex-phone"}, &login); code != http.StatusOK {
		t.Fatalf("login: status %d", code)
	}
	if got := string(login["protocol"]); got != "1" || contract.Protocol != 1 {
		t.Errorf("login answer says protocol %s; this build speaks %d", got, contract.Protocol)
	}

	var rules contract.RulesResponse
	if code := alex.call("GET", "/v1/rules", nil, &rules); code != http.StatusOK {
		t.Fatalf("rules: status %d", code)
	}
	if rules.Protocol != contract.Protocol {
		t.Errorf("rules answer says protocol %d, want %d", rules.Protocol, contract.Protocol)
	}
	r := new(rulebook.Rules)
	if err := json.Unmarshal(rules.Rules, r); err != nil {
		t.Fatalf("the rules as sent: %v", err)
	}
	if err := r.Compile(); err != nil {
		t.Fatalf("the rules as sent do not compile: %v", err)
	}
	if r.Record("job") == nil || rules.Text != rulebook.DefaultText() {
		t.Errorf("the rules as sent are not the default rules the server runs")
	}
}
