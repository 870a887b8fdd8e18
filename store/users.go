package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// User is one entry of an app's user directory: a userID that has signed
// in to the web app (or any client) at least once, with the display name
// it chose. The web app lists these as contacts (docs/protocol.md §4.13).
type User struct {
	SDKAppID  uint32    `json:"SDKAppID"`
	UserID    string    `json:"UserId"`
	Name      string    `json:"Name,omitempty"`
	FirstSeen time.Time `json:"FirstSeen"`
}

// Contact is a userID a user added to its own contact list, whether or
// not that user has signed in yet.
type Contact struct {
	UserID string    `json:"UserId"`
	Added  time.Time `json:"Added"`
}

func directoryKey(app uint32, user string) []byte { return append(appKey(app), user...) }

func contactPrefix(app uint32, owner string) []byte {
	return append(append(appKey(app), owner...), 0)
}

// PutUser adds or replaces a directory entry.
func (t *Tx) PutUser(u User) error {
	if u.SDKAppID == 0 || u.UserID == "" {
		return fmt.Errorf("put user: SDKAppID and UserId are required")
	}
	v, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("put user %q: %w", u.UserID, err)
	}
	if err := t.tx.Bucket(bucketUsers).Put(directoryKey(u.SDKAppID, u.UserID), v); err != nil {
		return fmt.Errorf("put user %q: %w", u.UserID, err)
	}
	return nil
}

// User returns one directory entry, or ErrNotFound.
func (t *Tx) User(app uint32, user string) (User, error) {
	v := t.tx.Bucket(bucketUsers).Get(directoryKey(app, user))
	if v == nil {
		return User{}, fmt.Errorf("user %q: %w", user, ErrNotFound)
	}
	var u User
	if err := json.Unmarshal(v, &u); err != nil {
		return User{}, fmt.Errorf("user %q: decode: %w", user, err)
	}
	return u, nil
}

// Users returns an app's directory, by userID.
func (t *Tx) Users(app uint32) ([]User, error) {
	out := []User{}
	prefix := appKey(app)
	c := t.tx.Bucket(bucketUsers).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var u User
		if err := json.Unmarshal(v, &u); err != nil {
			return nil, fmt.Errorf("user %q: decode: %w", k[len(prefix):], err)
		}
		out = append(out, u)
	}
	return out, nil
}

// PutContact adds contact to owner's contact list (again: the time is
// updated).
func (t *Tx) PutContact(app uint32, owner string, c Contact) error {
	if app == 0 || owner == "" || c.UserID == "" {
		return fmt.Errorf("put contact: app, owner and contact are required")
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("put contact %q: %w", c.UserID, err)
	}
	if err := t.tx.Bucket(bucketContacts).Put(append(contactPrefix(app, owner), c.UserID...), v); err != nil {
		return fmt.Errorf("put contact %q: %w", c.UserID, err)
	}
	return nil
}

// Contacts returns the userIDs owner added, by userID.
func (t *Tx) Contacts(app uint32, owner string) ([]Contact, error) {
	out := []Contact{}
	prefix := contactPrefix(app, owner)
	c := t.tx.Bucket(bucketContacts).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var ct Contact
		if err := json.Unmarshal(v, &ct); err != nil {
			return nil, fmt.Errorf("contact %q: decode: %w", k[len(prefix):], err)
		}
		out = append(out, ct)
	}
	return out, nil
}

// deleteDirectory removes an app's directory and contact lists.
func (t *Tx) deleteDirectory(app uint32) error {
	prefix := appKey(app)
	for _, name := range [][]byte{bucketUsers, bucketContacts} {
		c := t.tx.Bucket(name).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return fmt.Errorf("app %d: delete %s: %w", app, name, err)
			}
		}
	}
	return nil
}

func migrateDirectory(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketUsers, bucketContacts} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}
