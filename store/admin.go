package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Admin console buckets (migration 4). Session keys are the SHA-256 of
// the cookie's id, so a copy of the file (a backup) opens no console.
var (
	bucketAdmins   = []byte("admins")         // name -> Admin JSON
	bucketSessions = []byte("admin_sessions") // sha256(id) -> Session JSON
)

// Admin is an admin console account. Hash is the argon2id PHC string
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash); the store never sees
// the password.
type Admin struct {
	Name    string    `json:"Name"`
	Hash    string    `json:"Hash"`
	Created time.Time `json:"Created"`
	// PasswordChanged is when Hash was last set.
	PasswordChanged time.Time `json:"PasswordChanged"`
}

// Session is a logged-in admin console session.
type Session struct {
	Admin string `json:"Admin"`
	// CSRF is the token every request of the session must carry in its
	// X-CSRF-Token header.
	CSRF    string    `json:"CSRF"`
	Created time.Time `json:"Created"`
	// Seen is the last request, for the idle expiry.
	Seen time.Time `json:"Seen"`
}

func migrateAdmin(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketAdmins, bucketSessions} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// Admin returns the account name, or ErrNotFound.
func (t *Tx) Admin(name string) (Admin, error) {
	v := t.tx.Bucket(bucketAdmins).Get([]byte(name))
	if v == nil {
		return Admin{}, fmt.Errorf("admin %q: %w", name, ErrNotFound)
	}
	var a Admin
	if err := json.Unmarshal(v, &a); err != nil {
		return Admin{}, fmt.Errorf("admin %q: decode: %w", name, err)
	}
	return a, nil
}

// Admins lists the accounts by name.
func (t *Tx) Admins() ([]Admin, error) {
	out := []Admin{}
	err := t.tx.Bucket(bucketAdmins).ForEach(func(k, v []byte) error {
		var a Admin
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("admin %q: decode: %w", k, err)
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// PutAdmin creates or replaces an account.
func (t *Tx) PutAdmin(a Admin) error {
	if a.Name == "" || a.Hash == "" {
		return fmt.Errorf("put admin: name and hash are required")
	}
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("put admin %q: %w", a.Name, err)
	}
	return t.tx.Bucket(bucketAdmins).Put([]byte(a.Name), v)
}

// DeleteAdmin removes an account and its sessions.
func (t *Tx) DeleteAdmin(name string) error {
	b := t.tx.Bucket(bucketAdmins)
	if b.Get([]byte(name)) == nil {
		return fmt.Errorf("admin %q: %w", name, ErrNotFound)
	}
	if _, err := t.DeleteSessionsOf(name); err != nil {
		return err
	}
	return b.Delete([]byte(name))
}

// Session returns the session stored under key (the id's hash), or
// ErrNotFound.
func (t *Tx) Session(key []byte) (Session, error) {
	v := t.tx.Bucket(bucketSessions).Get(key)
	if v == nil {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	var s Session
	if err := json.Unmarshal(v, &s); err != nil {
		return Session{}, fmt.Errorf("session: decode: %w", err)
	}
	return s, nil
}

// PutSession creates or replaces a session.
func (t *Tx) PutSession(key []byte, s Session) error {
	if len(key) == 0 || s.Admin == "" {
		return fmt.Errorf("put session: key and admin are required")
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("put session: %w", err)
	}
	return t.tx.Bucket(bucketSessions).Put(key, v)
}

// DeleteSession removes one session; a missing one is no error.
func (t *Tx) DeleteSession(key []byte) error {
	return t.tx.Bucket(bucketSessions).Delete(key)
}

// DeleteSessionsOf removes every session of an admin (a password change)
// and returns how many there were.
func (t *Tx) DeleteSessionsOf(admin string) (int, error) {
	return t.deleteSessions(func(s Session) bool { return s.Admin == admin })
}

// DeleteSessionsIdle removes the sessions not seen since before and
// returns how many there were.
func (t *Tx) DeleteSessionsIdle(before time.Time) (int, error) {
	return t.deleteSessions(func(s Session) bool { return s.Seen.Before(before) })
}

func (t *Tx) deleteSessions(match func(Session) bool) (int, error) {
	b := t.tx.Bucket(bucketSessions)
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var s Session
		if err := json.Unmarshal(v, &s); err != nil || match(s) {
			// An undecodable session opens nothing; drop it too.
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("delete session: %w", err)
		}
	}
	return len(keys), nil
}

// DeleteSetting removes a named setting; a missing one is no error.
func (t *Tx) DeleteSetting(name string) error {
	return t.tx.Bucket(bucketSettings).Delete([]byte(name))
}

// Size is the database file's size in bytes.
func (s *Store) Size() int64 {
	var n int64
	_ = s.db.View(func(btx *bolt.Tx) error { n = btx.Size(); return nil })
	return n
}
