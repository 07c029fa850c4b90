package apiclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"
	"fieldsync/internal/apiclient"
	"fieldsync/server"

	"github.com/google/uuid"
)

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"a plain http address is kept", "http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"a trailing slash and spaces are trimmed", "  https://sync.example.com/ ", "https://sync.example.com", true},
		{"an address without a scheme is refused", "sync.example.com", "", false},
		{"another scheme is refused", "ftp://sync.example.com", "", false},
		{"an address without a host is refused", "http://", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apiclient.CheckURL(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("CheckURL(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
}

func TestClientLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name, user, password string
		ok                   bool
	}{
		{"the right password signs in", "alex", server.DemoPassword, true},
		{"a wrong password is unauthorized", "alex", "nope", false},
		{"an unknown user is unauthorized", "zed", server.DemoPassword, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := apiclient.New(e.ts.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Login(ctx, tt.user, tt.password, "dev-1")
			if tt.ok {
				if err != nil || resp.Token == "" || resp.User.Name != tt.user || resp.User.Role != "technician" || resp.ExpiresAt.Before(time.Now()) {
					t.Fatalf("login: %+v %v", resp, err)
				}
				if _, err := c.Users(ctx); err != nil {
					t.Errorf("a request after login: %v", err)
				}
				return
			}
			var se *apiclient.Error
			if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || !apiclient.IsUnauthorized(err) || apiclient.IsTransient(err) {
				t.Fatalf("login: %v (%#v), want a 401 that is not transient", err, se)
			}
			if se.Detail.Code != contract.CodeUnauthorized || se.Error() == "" {
				t.Errorf("detail %+v", se.Detail)
			}
			if _, err := c.Users(ctx); !apiclient.IsUnauthorized(err) {
				t.Errorf("a failed login left a usable token: %v", err)
			}
		})
	}
}

func TestClientRulesUsersHealthAndLogout(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.login("dana")
	if err := d.c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	rules, err := d.c.Rules(ctx)
	if err != nil || rules.Record("job") == nil || rules.Limits.Batch != 500 || rules.RetryFor(rulebook.LaneData).First != rulebook.Duration(2*time.Second) {
		t.Fatalf("rules: %v", err)
	}
	users, err := d.c.Users(ctx)
	if err != nil || len(users) != len(server.DemoUsers) {
		t.Fatalf("users: %d %v", len(users), err)
	}
	if err := d.c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Users(ctx); !apiclient.IsUnauthorized(err) {
		t.Fatalf("after logout: %v, want unauthorized", err)
	}
}

func TestClientPushAndPullPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.login("alex")

	all, err := d.c.Pull(ctx, "", 0, false)
	if err != nil || all.More || len(all.Records) == 0 || all.Cursor == "" {
		t.Fatalf("one pull of everything: %d records, more=%v, cursor %q, %v", len(all.Records), all.More, all.Cursor, err)
	}
	var paged []contract.Record
	cursor, pages := "", 0
	for {
		page, err := d.c.Pull(ctx, cursor, 2, false)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Records)+len(page.Reviews) > 2 {
			t.Fatalf("page %d has %d entries, limit 2", pages, len(page.Records)+len(page.Reviews))
		}
		paged = append(paged, page.Records...)
		cursor = page.Cursor
		if !page.More {
			break
		}
	}
	if len(paged) != len(all.Records) || pages < 2 {
		t.Fatalf("paged pull: %d records in %d pages, one pull: %d", len(paged), pages, len(all.Records))
	}
	for i := range paged {
		if paged[i].ID != all.Records[i].ID {
			t.Fatalf("record %d: paged %s, whole %s", i, paged[i].ID, all.Records[i].ID)
		}
	}

	var pump string
	for _, r := range all.Records {
		if r.Type == "job" && r.Text("title") == "Replace pump seal" {
			pump = r.ID
		}
	}
	note := d.note(pump, "Seal replaced")
	ans, err := d.c.Push(ctx, []contract.Operation{note})
	if res := ans.Results; err != nil || len(res) != 1 || res[0].Outcome != contract.Applied || res[0].OpID != note.ID {
		t.Fatalf("push: %+v %v", ans, err)
	}
	var copied contract.Record
	if len(ans.Copies) != 1 || json.Unmarshal(ans.Copies[0], &copied) != nil ||
		copied.ID != note.RecordID || copied.Text("text") != "Seal replaced" || copied.Seq == 0 {
		t.Fatalf("the answer should carry the new note as the server has it: %s", ans.Copies)
	}
	again, err := d.c.Push(ctx, []contract.Operation{note})
	if res := again.Results; err != nil || res[0].Outcome != contract.AlreadyApplied || res[0].Final().Outcome != contract.Applied {
		t.Fatalf("pushing the same operation again: %+v %v", again, err)
	}
	if len(again.Copies) != 1 || string(again.Copies[0]) != string(ans.Copies[0]) {
		t.Fatalf("a replay's answer should carry the record again, in case the first answer was lost: %s", again.Copies)
	}
	next, err := d.c.Pull(ctx, all.Cursor, 0, false)
	if err != nil || len(next.Records) != 1 || next.Records[0].ID != note.RecordID || next.Records[0].ParentID != pump {
		t.Fatalf("pull after the push: %+v %v", next.Records, err)
	}
	omitted, err := d.c.Pull(ctx, all.Cursor, 0, true)
	if err != nil || len(omitted.Records) != 0 || omitted.Cursor != next.Cursor {
		t.Fatalf("a pull leaving out what the answer carried should bring nothing and move as far: %+v %v (want cursor %s)", omitted, err, next.Cursor)
	}
	if _, err := d.c.History(ctx, "job", pump); err != nil {
		t.Errorf("history: %v", err)
	}
	if _, err := d.c.Reviews(ctx, true); err != nil {
		t.Errorf("reviews: %v", err)
	}
}

func TestClientUploadsInChunks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.login("alex")
	pump := d.job("Replace pump seal").ID
	content := bytes.Repeat([]byte("0123456789"), 100)
	sum := sha256.Sum256(content)
	photo := uuid.NewString()
	res, err := d.c.Push(ctx, []contract.Operation{d.op("photo", photo, contract.ActionAppend, nil, map[string]any{
		"job_id": pump, "size": len(content), "sha256": hex.EncodeToString(sum[:]), "filename": "seal.jpg"})})
	if err != nil || res.Results[0].Outcome != contract.Applied {
		t.Fatalf("photo metadata: %+v %v", res, err)
	}

	st, err := d.c.UploadStatus(ctx, photo)
	if err != nil || st.Received != 0 || st.Size != 1000 || st.Complete {
		t.Fatalf("status before upload: %+v %v", st, err)
	}
	st, err = d.c.UploadChunk(ctx, photo, 0, bytes.NewReader(content[:400]))
	if err != nil || st.Received != 400 || st.Complete {
		t.Fatalf("first chunk: %+v %v", st, err)
	}
	_, err = d.c.UploadChunk(ctx, photo, 0, bytes.NewReader(content[:400]))
	var se *apiclient.Error
	if !errors.As(err, &se) || se.Status != http.StatusConflict || se.Detail.Code != contract.CodeOffset || apiclient.IsTransient(err) {
		t.Fatalf("a chunk from the wrong offset: %v", err)
	}
	if st, _ := d.c.UploadStatus(ctx, photo); st.Received != 400 {
		t.Fatalf("the wrong chunk changed what the server has: %+v", st)
	}
	st, err = d.c.UploadChunk(ctx, photo, 400, bytes.NewReader(content[400:]))
	if err != nil || !st.Complete || st.Received != 1000 {
		t.Fatalf("last chunk: %+v %v", st, err)
	}
	var got bytes.Buffer
	if err := d.c.Download(ctx, photo, &got); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("download: %d bytes, %v", got.Len(), err)
	}
	_, err = d.c.UploadStatus(ctx, uuid.NewString())
	if !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Fatalf("status of an unknown photo: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name         string
		handler      http.HandlerFunc
		status       int
		transient    bool
		unauthorized bool
		retryAfter   time.Duration // 0: none expected; -1: about 90s
		message      string
	}{
		{"a 503 with Retry-After 7 is transient and says 7 seconds",
			func(w http.ResponseWriter, r *http.Request) {
				answer(w, 503, contract.CodeUnavailable, "the server is busy; try again shortly", "7")
			}, 503, true, false, 7 * time.Second, "the server is busy; try again shortly"},
		{"a 429 with a Retry-After date is transient",
			func(w http.ResponseWriter, r *http.Request) {
				answer(w, 429, contract.CodeRateLimited, "slow down", date)
			}, 429, true, false, -1, "slow down"},
		{"a 500 without a JSON body is transient and says what the server answered",
			func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "boom", http.StatusInternalServerError)
			}, 500, true, false, 0, "the server answered 500 Internal Server Error"},
		{"a 502 from a proxy is transient",
			func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, 502, true, false, 0, "the server answered 502 Bad Gateway"},
		{"a 400 is not transient",
			func(w http.ResponseWriter, r *http.Request) {
				answer(w, 400, contract.CodeInvalid, "malformed JSON", "")
			}, 400, false, false, 0, "malformed JSON"},
		{"a 403 is not transient",
			func(w http.ResponseWriter, r *http.Request) {
				answer(w, 403, contract.CodeForbidden, "Only dispatcher can do that.", "")
			}, 403, false, false, 0, "Only dispatcher can do that."},
		{"a 401 means sign in again",
			func(w http.ResponseWriter, r *http.Request) {
				answer(w, 401, contract.CodeUnauthorized, "this session has expired; sign in again", "")
			}, 401, false, true, 0, "this session has expired; sign in again"},
		{"a 400 whose body says retry is transient",
			func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(400)
				w.Write([]byte(`{"error":{"code":"incomplete","kind":"transient","message":"the upload was cut short","retry":true}}`))
			}, 400, true, false, 0, "the upload was cut short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.handler)
			defer ts.Close()
			c, _ := apiclient.New(ts.URL, nil)
			c.SetToken("tok")
			_, err := c.Pull(context.Background(), "", 0, false)
			var se *apiclient.Error
			if !errors.As(err, &se) {
				t.Fatalf("err %v is not a *apiclient.Error", err)
			}
			if se.Status != tt.status || apiclient.IsTransient(err) != tt.transient || se.Transient() != tt.transient || apiclient.IsUnauthorized(err) != tt.unauthorized {
				t.Errorf("status %d transient %v unauthorized %v, want %d %v %v", se.Status, se.Transient(), apiclient.IsUnauthorized(err), tt.status, tt.transient, tt.unauthorized)
			}
			if se.Error() != tt.message {
				t.Errorf("message %q, want %q", se.Error(), tt.message)
			}
			ra := apiclient.RetryAfter(err)
			switch {
			case tt.retryAfter == -1:
				if ra < 80*time.Second || ra > 91*time.Second {
					t.Errorf("RetryAfter %v, want about 90s", ra)
				}
			case ra != tt.retryAfter:
				t.Errorf("RetryAfter %v, want %v", ra, tt.retryAfter)
			}
		})
	}

	t.Run("no answer at all is transient, with no status", func(t *testing.T) {
		ts := httptest.NewServer(http.NotFoundHandler())
		url := ts.URL
		ts.Close()
		c, _ := apiclient.New(url, nil)
		_, err := c.Pull(context.Background(), "", 0, false)
		var se *apiclient.Error
		if !errors.As(err, &se) || se.Status != 0 || !se.Transient() || !strings.HasPrefix(se.Error(), "no connection to the server") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("simulated no signal fails at once with ErrNoSignal", func(t *testing.T) {
		hit := false
		ts := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
		defer ts.Close()
		c, _ := apiclient.New(ts.URL, nil)
		c.SetOffline(true)
		_, err := c.Pull(context.Background(), "", 0, false)
		if !errors.Is(err, apiclient.ErrNoSignal) || !apiclient.IsTransient(err) || hit || !c.Offline() {
			t.Fatalf("err %v, server reached %v", err, hit)
		}
	})
	t.Run("a push answered with too few results is a transient failure", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"results":[]}`)) }))
		defer ts.Close()
		c, _ := apiclient.New(ts.URL, nil)
		_, err := c.Push(context.Background(), []contract.Operation{{ID: uuid.NewString()}})
		var se *apiclient.Error
		if !errors.As(err, &se) || !se.Transient() {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("an answer that is not JSON is a transient failure", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`<html>captive portal</html>`)) }))
		defer ts.Close()
		c, _ := apiclient.New(ts.URL, nil)
		_, err := c.Pull(context.Background(), "", 0, false)
		if !apiclient.IsTransient(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a cancelled request is not transient", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		defer ts.Close()
		c, _ := apiclient.New(ts.URL, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := c.Pull(ctx, "", 0, false)
		if !errors.Is(err, context.Canceled) || apiclient.IsTransient(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("without a server address requests fail with a plain reason", func(t *testing.T) {
		c, err := apiclient.New("", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Pull(context.Background(), "", 0, false); err == nil || !strings.Contains(err.Error(), "no server address") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("the token goes with every request", func(t *testing.T) {
		var auth string
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth = r.Header.Get("Authorization")
			w.Write([]byte(`{"users":[]}`))
		}))
		defer ts.Close()
		c, _ := apiclient.New(ts.URL, nil)
		c.SetToken("abc")
		if _, err := c.Users(context.Background()); err != nil || auth != "Bearer abc" {
			t.Fatalf("Authorization %q, %v", auth, err)
		}
	})
}
