package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"fieldsync/contract"
	"fieldsync/contract/rulebook"

	"golang.org/x/crypto/bcrypt"
)

func timeNow() time.Time { return time.Now().UTC() }

// NewUser describes a user to add.
type NewUser struct {
	Name     string
	Role     string
	Password string
	// Cost is the bcrypt cost; zero means bcrypt's default.
	Cost int
	// ID is the user's id, a UUID; "" makes a UUIDv7 (NewV7). Server.AddUser
	// takes it from the server's id maker.
	ID string
}

// AddUser is AddUser over the server's store and rules, with an id from
// the server's id maker.
func (s *Server) AddUser(ctx context.Context, nu NewUser) (contract.User, error) {
	if nu.ID == "" {
		nu.ID = s.newID()
	}
	return AddUser(ctx, s.store, s.rules, nu)
}

// AddUser checks and stores a new user, with the password hashed, and
// returns it. It is for tools that have a store but no server, such as
// fieldsyncd's "user add"; with a server, use Server.AddUser.
func AddUser(ctx context.Context, st Store, rules *rulebook.Rules, nu NewUser) (contract.User, error) {
	name := strings.TrimSpace(nu.Name)
	switch {
	case name == "" || len(name) > 64 || strings.ContainsAny(name, " \t\r\n/\\"):
		return contract.User{}, fmt.Errorf("add user: %q is not a usable name (1 to 64 characters, no spaces or slashes)", nu.Name)
	case !rules.HasRole(nu.Role):
		return contract.User{}, fmt.Errorf("add user: unknown role %q; want one of %s", nu.Role, strings.Join(rules.RoleNames(), ", "))
	case utf8.RuneCountInString(nu.Password) < 8:
		return contract.User{}, fmt.Errorf("add user: the password must be at least 8 characters")
	case len(nu.Password) > 72:
		return contract.User{}, fmt.Errorf("add user: the password must be at most 72 bytes")
	}
	id, ok := contract.ValidUUID(nu.ID)
	switch {
	case nu.ID == "":
		id = NewV7(timeNow())
	case !ok:
		return contract.User{}, fmt.Errorf("add user: id %q is not a UUID", nu.ID)
	}
	cost := nu.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(nu.Password), cost)
	if err != nil {
		return contract.User{}, fmt.Errorf("add user: %w", err)
	}
	u := UserRow{User: contract.User{ID: id, Name: name, Role: nu.Role}, PasswordHash: hash}
	err = st.Write(ctx, func(tx Tx) error {
		u.CreatedAt = timeNow()
		return tx.AddUser(u)
	})
	return u.User, err
}

// RevokeUser signs a user out everywhere and returns how many sessions ended.
func RevokeUser(ctx context.Context, st Store, name string) (int, error) {
	var n int
	err := st.Write(ctx, func(tx Tx) error {
		u, err := tx.UserByName(name)
		if err != nil {
			return err
		}
		if u == nil {
			return fmt.Errorf("revoke: no user named %q", name)
		}
		n, err = tx.RevokeUserSessions(u.ID, timeNow())
		return err
	})
	return n, err
}

// handleUsers lists the users a device may show: every one not disabled.
func (s *Server) handleUsers(w http.ResponseWriter, r *http.Request, c *caller) {
	var rows []UserRow
	if err := s.store.Read(r.Context(), func(q Query) error {
		var err error
		rows, err = q.Users()
		return err
	}); err != nil {
		s.storeError(w, r, err)
		return
	}
	out := contract.UsersResponse{Users: make([]contract.User, 0, len(rows))}
	for _, u := range rows {
		if !u.Disabled {
			out.Users = append(out.Users, u.User)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
