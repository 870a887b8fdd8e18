package appliance

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"callbox/store"
)

// Admin console accounts (docs/admin.md §1). The same functions serve the
// CLI with no server running, the control socket and the console.

// Password and name limits.
const (
	MinPasswordLen  = 10
	maxPasswordLen  = 256 // bytes; argon2 takes any length, a form should not
	maxAdminNameLen = 32
)

// argon2id parameters: RFC 9106's second recommendation scaled to a small
// box (OWASP's 19 MiB, t=2), so a login costs tens of ms, not a second.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// AdminInfo is an account as listed: never its hash.
type AdminInfo struct {
	Name            string    `json:"name"`
	Created         time.Time `json:"created"`
	PasswordChanged time.Time `json:"passwordChanged"`
}

// ValidAdminName checks an account name: 1 to 32 of a-z A-Z 0-9 . _ -.
func ValidAdminName(name string) error {
	if name == "" || len(name) > maxAdminNameLen {
		return badRequest("invalid admin name: want 1 to %d characters", maxAdminNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return badRequest("invalid admin name %q: use letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// ValidPassword checks a new password: at least 10 characters, at most
// 256 bytes of UTF-8 without control characters.
func ValidPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return badRequest("invalid password: not UTF-8 text")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return badRequest("password too short: want at least %d characters", MinPasswordLen)
	case len(pw) > maxPasswordLen:
		return badRequest("password too long: want at most %d bytes", maxPasswordLen)
	case strings.ContainsFunc(pw, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return badRequest("invalid password: control characters (a pasted newline?)")
	}
	return nil
}

// hashPassword returns the argon2id PHC string of pw with a fresh salt.
func hashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// checkPassword reports whether pw matches a PHC string from
// hashPassword, with the parameters the string names (so that changing
// the constants keeps old hashes working).
func checkPassword(hash, pw string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the account does not exist, so that
// a wrong name costs what a wrong password does. No password matches it
// (its key is not argon2's output for any known input); its parameters
// are hashPassword's.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$Y2FsbGJveC1kdW1teS1zYQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// ErrAdminExists is returned when creating an account whose name is taken.
var ErrAdminExists = errors.New("an admin with that name exists already")

// ErrLastAdmin is returned when deleting the only account.
var ErrLastAdmin = errors.New("cannot delete the last admin: create another one first")

// accounts are the admin account actions over a store.
type accounts struct {
	st  *store.Store
	now func() time.Time
}

func (ac accounts) list() ([]AdminInfo, error) {
	out := []AdminInfo{}
	err := ac.st.View(func(tx *store.Tx) error {
		admins, err := tx.Admins()
		for _, a := range admins {
			out = append(out, AdminInfo{a.Name, a.Created, a.PasswordChanged})
		}
		return err
	})
	return out, err
}

// create validates name and password and stores the account; inTx, when
// set, runs in the same transaction first (the setup link's check).
func (ac accounts) create(name, pw string, inTx func(tx *store.Tx) error) (AdminInfo, error) {
	if err := ValidAdminName(name); err != nil {
		return AdminInfo{}, err
	}
	if err := ValidPassword(pw); err != nil {
		return AdminInfo{}, err
	}
	hash := hashPassword(pw)
	now := ac.now().UTC()
	a := store.Admin{Name: name, Hash: hash, Created: now, PasswordChanged: now}
	err := ac.st.Update(func(tx *store.Tx) error {
		if inTx != nil {
			if err := inTx(tx); err != nil {
				return err
			}
		}
		if _, err := tx.Admin(name); err == nil {
			return badRequest("admin %q: %v", name, ErrAdminExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutAdmin(a)
	})
	return AdminInfo{a.Name, a.Created, a.PasswordChanged}, err
}

// setPassword replaces the password and ends every session of the
// account: whoever knew the old one is out.
func (ac accounts) setPassword(name, pw string) (revoked int, err error) {
	if err := ValidPassword(pw); err != nil {
		return 0, err
	}
	hash := hashPassword(pw)
	err = ac.st.Update(func(tx *store.Tx) error {
		a, err := tx.Admin(name)
		if err != nil {
			return err
		}
		a.Hash, a.PasswordChanged = hash, ac.now().UTC()
		if err := tx.PutAdmin(a); err != nil {
			return err
		}
		revoked, err = tx.DeleteSessionsOf(name)
		return err
	})
	return revoked, err
}

// delete removes an account and its sessions, but never the last one: a
// callbox with no admin would print a setup link that anyone reaching it
// first could use.
func (ac accounts) delete(name string) error {
	return ac.st.Update(func(tx *store.Tx) error {
		if _, err := tx.Admin(name); err != nil {
			return err
		}
		admins, err := tx.Admins()
		if err != nil {
			return err
		}
		if len(admins) <= 1 {
			return badRequest("%v", ErrLastAdmin)
		}
		return tx.DeleteAdmin(name)
	})
}

// Account methods of the store-only Admin.

func (l *localAdmin) accounts() accounts { return accounts{l.st, l.now} }

func (l *localAdmin) Admins(context.Context) ([]AdminInfo, error) { return l.accounts().list() }

func (l *localAdmin) CreateAdmin(_ context.Context, name, pw string) (AdminInfo, error) {
	return l.accounts().create(name, pw, nil)
}

func (l *localAdmin) SetAdminPassword(_ context.Context, name, pw string) (int, error) {
	return l.accounts().setPassword(name, pw)
}

func (l *localAdmin) DeleteAdmin(_ context.Context, name string) error {
	return l.accounts().delete(name)
}
