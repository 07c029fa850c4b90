package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync/contract"
)

func TestTrustedProxyFlagRefusesWhatIsNotAnAddress(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"10.0.0.300", "balancer.example", "10.0.1.0/33", "10.0.1.5,nope"} {
		db := filepath.Join(t.TempDir(), "fieldsync.db")
		err := run([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--trusted-proxy", v}, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "is not an address or a network") {
			t.Errorf("--trusted-proxy %s: %v, want it refused as not an address", v, err)
		}
	}
	var l proxyList
	if err := l.Set("10.0.1.5, 10.0.2.0/24,,::ffff:10.0.3.1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Set(""); err != nil {
		t.Errorf("an empty --trusted-proxy: %v, want it to name none", err)
	}
	if got, want := l.String(), "10.0.1.5/32,10.0.2.0/24,10.0.3.1/32"; got != want {
		t.Errorf("the proxies read are %s, want %s", got, want)
	}
}

// Behind a balancer every sign-in comes from the balancer's address. With
// --trusted-proxy naming it, 30 wrong passwords from one device pause
// sign-ins from that device only; without, from every device.
func TestTrustedProxyThrottlesTheDeviceNotTheBalancer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		flags   []string
		another int // the status of a right password from another device
	}{
		{"the balancer trusted", []string{"--trusted-proxy", "127.0.0.1"}, http.StatusOK},
		{"no balancer trusted", nil, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := sqliteWithUser(t) // dana, dana-password-1
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--blobs", t.TempDir()}, tc.flags...)
			srv := startServer(t, serving, args...)
			const attacker, device = "203.0.113.7", "198.51.100.20"
			for i := range 30 {
				// Different user names, so that only the address count trips.
				if code := loginFrom(t, srv.addr, attacker, fmt.Sprintf("guess-%d", i), "wrong-password"); code != http.StatusUnauthorized {
					t.Fatalf("wrong password %d: status %d, want 401", i+1, code)
				}
			}
			if code := loginFrom(t, srv.addr, attacker, "dana", "dana-password-1"); code != http.StatusTooManyRequests {
				t.Errorf("the 31st sign-in from the address that sent 30 wrong passwords: status %d, want 429", code)
			}
			if code := loginFrom(t, srv.addr, device, "dana", "dana-password-1"); code != tc.another {
				t.Errorf("a right password from another device behind the balancer: status %d, want %d", code, tc.another)
			}
			srv.stop(t)
		})
	}
}

// loginFrom signs user in on device office-pc as a balancer passes the
// request on, saying it came from client, and returns the status.
func loginFrom(t *testing.T, addr, client, user, password string) int {
	t.Helper()
	body, _ := json.Marshal(contract.LoginRequest{Username: user, Password: password, DeviceID: "office-pc"})
	req, err := http.NewRequest("POST", "http://"+addr+"/v1/login", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", client)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
