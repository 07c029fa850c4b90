package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"fieldsync/contract"
	"fieldsync/contract/engine"

	"golang.org/x/crypto/bcrypt"
)

// caller is who sent an authenticated request.
type caller struct {
	actor   engine.Actor
	user    UserRow
	session Session
}

type authedHandler func(w http.ResponseWriter, r *http.Request, c *caller)

// authed checks the bearer token: no token, or a bad, expired or revoked one,
// is 401.
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			unauthorized(w, "sign in first: send Authorization: Bearer TOKEN")
			return
		}
		hash := hashToken(token)
		var (
			sess *Session
			user *UserRow
		)
		err := s.store.Read(r.Context(), func(q Query) error {
			var err error
			if sess, err = q.Session(hash); err != nil || sess == nil {
				return err
			}
			user, err = q.User(sess.UserID)
			return err
		})
		if err != nil {
			s.storeError(w, r, err)
			return
		}
		switch {
		case sess == nil || user == nil:
			unauthorized(w, "this token is not valid; sign in again")
		case !sess.RevokedAt.IsZero():
			unauthorized(w, "this session was signed out; sign in again")
		case !s.now().Before(sess.ExpiresAt):
			unauthorized(w, "this session has expired; sign in again")
		case user.Disabled:
			unauthorized(w, "this account is disabled")
		default:
			h(w, r, &caller{actor: engine.Actor{UserID: user.ID, Role: user.Role, DeviceID: sess.DeviceID}, user: *user, session: *sess})
		}
	}
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="fieldsync"`)
	writeError(w, http.StatusUnauthorized, contract.CodeUnauthorized, msg)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newToken returns 256 random bits, URL-safe.
func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// A valid bcrypt hash, compared against when the user does not exist so that
// a wrong name takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req contract.LoginRequest
	if !s.decodeBody(w, r, &req) {
		return
	}
	if req.Username == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "username and password are required")
		return
	}
	if len(req.Username) > 64 {
		// No user has a longer name (AddUser); nothing is counted for it.
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "username is at most 64 characters")
		return
	}
	if req.DeviceID == "" || len(req.DeviceID) > 128 || !utf8.ValidString(req.DeviceID) || strings.ContainsFunc(req.DeviceID, isControl) {
		writeError(w, http.StatusBadRequest, contract.CodeInvalid, "device_id is required (1 to 128 printable characters)")
		return
	}
	userKey, addrKey := s.throttleKeys(req.Username, r)
	if wait, err := s.throttleWait(r.Context(), userKey, addrKey); err != nil {
		s.storeError(w, r, err)
		return
	} else if wait > 0 {
		s.metrics.logins.WithLabelValues("throttled").Inc()
		s.log.Warn("login throttled", "user", clip(req.Username), "addr", s.clientAddr(r), "wait", wait.Round(time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		writeError(w, http.StatusTooManyRequests, contract.CodeRateLimited,
			fmt.Sprintf("Too many wrong passwords: sign-in is paused for %s. Try again then.",
				contract.DurationWords(time.Duration(retryAfterSeconds(wait))*time.Second)))
		return
	}
	var user *UserRow
	if err := s.store.Read(r.Context(), func(q Query) error {
		var err error
		user, err = q.UserByName(req.Username)
		return err
	}); err != nil {
		s.storeError(w, r, err)
		return
	}
	hash := dummyHash
	if user != nil {
		hash = user.PasswordHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(req.Password)) != nil || user == nil || user.Disabled {
		s.metrics.logins.WithLabelValues("refused").Inc()
		if err := s.loginFailed(r.Context(), userKey, addrKey); err != nil {
			s.storeError(w, r, err)
			return
		}
		unauthorized(w, "wrong username or password")
		return
	}
	token := newToken()
	now := s.now().UTC()
	sess := Session{Hash: hashToken(token), UserID: user.ID, DeviceID: req.DeviceID, CreatedAt: now, ExpiresAt: now.Add(s.ttl)}
	errTaken := errors.New("device taken")
	err := s.store.Write(r.Context(), func(tx Tx) error {
		// A device id belongs to the first user who signed in with it:
		// everything the server decides by device (whose pushes answered
		// which records, whose edits run on without conflict, which new
		// jobs repeat another device's) trusts it to be that user's.
		owner, err := tx.BindDevice(req.DeviceID, user.ID, now)
		if err != nil {
			return err
		}
		if owner != user.ID {
			return errTaken
		}
		if err := tx.ClearThrottles([]string{userKey}); err != nil {
			return err
		}
		return tx.AddSession(sess)
	})
	if errors.Is(err, errTaken) {
		s.metrics.logins.WithLabelValues("device_taken").Inc()
		s.log.Warn("login with another user's device id", "user", user.Name, "device", clip(req.DeviceID))
		writeError(w, http.StatusConflict, contract.CodeDeviceTaken,
			"This device id belongs to another user. Sign in with this device's own id; an app that has been signed out takes a new one.")
		return
	}
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	s.metrics.logins.WithLabelValues("ok").Inc()
	s.log.Info("login", "user", user.Name, "device", req.DeviceID)
	writeJSON(w, http.StatusOK, contract.LoginResponse{Protocol: contract.Protocol, Token: token, ExpiresAt: sess.ExpiresAt, User: user.User})
}

// isControl reports a control character, which has no place in an id.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := s.store.Write(r.Context(), func(tx Tx) error { return tx.RevokeSession(c.session.Hash, s.now().UTC()) }); err != nil {
		s.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request, c *caller) {
	writeJSON(w, http.StatusOK, c.user.User)
}
