package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"
)

// Webhook buckets (migration 2). Keys start with the 4-byte SDKAppID, so
// that one app's part is a prefix scan.
var (
	bucketWebhooks    = []byte("webhooks")      // app -> Webhook JSON
	bucketOutboxByApp = []byte("outbox_by_app") // app|seq -> nil, one per outbox entry
	bucketDeliveries  = []byte("deliveries")    // app -> last n (8 bytes); app|n -> Delivery JSON
	bucketDead        = []byte("webhook_dead")  // app|seq -> DeadEntry JSON
)

// DeliveryLogSize is how many delivery attempts the log keeps per app;
// older ones are dropped as new ones are written.
const DeliveryLogSize = 1000

// Webhook is an app's call-status callback configuration
// (tencent-compat.md §3). Zero durations and concurrency mean the
// dispatcher's defaults.
type Webhook struct {
	SDKAppID uint32 `json:"SDKAppID"`
	URL      string `json:"URL"`
	// Token, when set, signs every request (RequestTime and Sign).
	Token string `json:"Token,omitempty"`
	// EventCallbacks sends the per-event callbacks (caller_start_call...);
	// Events, when not empty, keeps only these (event names such as
	// "call_end", or commands such as "caller_call_end").
	EventCallbacks bool     `json:"EventCallbacks"`
	Events         []string `json:"Events,omitempty"`
	// StatusCallback sends the call status callback (command call_end,
	// once per participant when a call ends).
	StatusCallback bool          `json:"StatusCallback"`
	Concurrency    int           `json:"Concurrency,omitempty"` // requests in flight at once
	Timeout        time.Duration `json:"Timeout,omitempty"`     // per attempt
	RetryFor       time.Duration `json:"RetryFor,omitempty"`    // then the event is parked as dead
	Updated        time.Time     `json:"Updated"`
}

// Delivery is one attempt in an app's delivery log.
type Delivery struct {
	At      time.Time     `json:"At"`
	Seq     uint64        `json:"Seq,omitempty"` // the outbox entry; 0 for a test event
	EventID string        `json:"EventId"`
	Command string        `json:"Command"`
	Attempt int           `json:"Attempt"`
	Status  int           `json:"Status,omitempty"` // HTTP status; 0 when there was no answer
	Latency time.Duration `json:"Latency"`
	Error   string        `json:"Error,omitempty"` // "" on success
	Dead    bool          `json:"Dead,omitempty"`  // this failure parked the event
	Test    bool          `json:"Test,omitempty"`  // sent by `webhook test`
}

// DeadEntry is an outbox entry whose retries ran out, kept for a manual
// retry.
type DeadEntry struct {
	OutboxEntry
	Attempts  int       `json:"Attempts"`
	LastError string    `json:"LastError"`
	DeadAt    time.Time `json:"DeadAt"`
}

func appSeqKey(app uint32, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appKey(app), seq)
}

// migrateWebhooks creates the webhook buckets, indexes the outbox by app
// and gives every queued entry an event id.
func migrateWebhooks(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketWebhooks, bucketOutboxByApp, bucketDeliveries, bucketDead} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	out := tx.Bucket(bucketOutbox)
	var entries []OutboxEntry
	err := out.ForEach(func(k, v []byte) error {
		var e OutboxEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("outbox %x: decode: %w", k, err)
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return err
	}
	t := &Tx{tx: tx}
	for _, e := range entries {
		if e.EventID == "" {
			e.EventID = uuid.NewString()
		}
		if err := t.putOutbox(e); err != nil {
			return err
		}
	}
	return nil
}

// putOutbox writes an entry under its Seq, with its index key.
func (t *Tx) putOutbox(e OutboxEntry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("outbox %d: %w", e.Seq, err)
	}
	if err := t.tx.Bucket(bucketOutbox).Put(binary.BigEndian.AppendUint64(nil, e.Seq), v); err != nil {
		return fmt.Errorf("outbox %d: %w", e.Seq, err)
	}
	if err := t.tx.Bucket(bucketOutboxByApp).Put(appSeqKey(e.SDKAppID, e.Seq), nil); err != nil {
		return fmt.Errorf("outbox %d: %w", e.Seq, err)
	}
	return nil
}

// Webhook returns an app's webhook configuration, or ErrNotFound.
func (t *Tx) Webhook(app uint32) (Webhook, error) {
	var w Webhook
	b := t.tx.Bucket(bucketWebhooks)
	if b == nil {
		return w, fmt.Errorf("webhook of app %d: %w", app, ErrNotFound)
	}
	v := b.Get(appKey(app))
	if v == nil {
		return w, fmt.Errorf("webhook of app %d: %w", app, ErrNotFound)
	}
	if err := json.Unmarshal(v, &w); err != nil {
		return w, fmt.Errorf("webhook of app %d: decode: %w", app, err)
	}
	return w, nil
}

// Webhooks lists every configured webhook in SDKAppID order.
func (t *Tx) Webhooks() ([]Webhook, error) {
	out := []Webhook{}
	b := t.tx.Bucket(bucketWebhooks)
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var w Webhook
		if err := json.Unmarshal(v, &w); err != nil {
			return fmt.Errorf("webhook %x: decode: %w", k, err)
		}
		out = append(out, w)
		return nil
	})
	return out, err
}

// PutWebhook creates or replaces an app's webhook configuration. The app
// must exist.
func (t *Tx) PutWebhook(w Webhook) error {
	if _, err := t.App(w.SDKAppID); err != nil {
		return err
	}
	v, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("put webhook of app %d: %w", w.SDKAppID, err)
	}
	return t.tx.Bucket(bucketWebhooks).Put(appKey(w.SDKAppID), v)
}

// DeleteWebhook removes an app's webhook configuration, or returns
// ErrNotFound.
func (t *Tx) DeleteWebhook(app uint32) error {
	b := t.tx.Bucket(bucketWebhooks)
	if b.Get(appKey(app)) == nil {
		return fmt.Errorf("webhook of app %d: %w", app, ErrNotFound)
	}
	return b.Delete(appKey(app))
}

// AppOutbox returns up to limit (0 = all) of an app's outbox entries with
// Seq > after, in order.
func (t *Tx) AppOutbox(app uint32, after uint64, limit int) ([]OutboxEntry, error) {
	out := []OutboxEntry{}
	idx := t.tx.Bucket(bucketOutboxByApp)
	if idx == nil {
		return out, nil
	}
	entries := t.tx.Bucket(bucketOutbox)
	prefix := appKey(app)
	c := idx.Cursor()
	for k, _ := c.Seek(appSeqKey(app, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if limit > 0 && len(out) >= limit {
			break
		}
		v := entries.Get(k[4:])
		if v == nil {
			return nil, fmt.Errorf("outbox %d of app %d: indexed but missing", binary.BigEndian.Uint64(k[4:]), app)
		}
		var e OutboxEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("outbox %d: decode: %w", binary.BigEndian.Uint64(k[4:]), err)
		}
		out = append(out, e)
	}
	return out, nil
}

// OutboxApps lists the apps that have entries in the outbox.
func (t *Tx) OutboxApps() ([]uint32, error) {
	return distinctApps(t.tx.Bucket(bucketOutboxByApp)), nil
}

// OutboxDepth counts an app's outbox entries and returns the oldest one's
// queueing time (zero when there is none).
func (t *Tx) OutboxDepth(app uint32) (int, time.Time, error) {
	idx := t.tx.Bucket(bucketOutboxByApp)
	if idx == nil {
		return 0, time.Time{}, nil
	}
	prefix := appKey(app)
	c := idx.Cursor()
	n := 0
	var oldest time.Time
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if n == 0 {
			var e OutboxEntry
			if err := json.Unmarshal(t.tx.Bucket(bucketOutbox).Get(k[4:]), &e); err != nil {
				return 0, time.Time{}, fmt.Errorf("outbox %d: decode: %w", binary.BigEndian.Uint64(k[4:]), err)
			}
			oldest = e.Created
		}
		n++
	}
	return n, oldest, nil
}

// AckOutbox removes an app's delivered (or dropped) entry.
func (t *Tx) AckOutbox(app uint32, seq uint64) error {
	if err := t.tx.Bucket(bucketOutbox).Delete(binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return fmt.Errorf("ack outbox %d: %w", seq, err)
	}
	if err := t.tx.Bucket(bucketOutboxByApp).Delete(appSeqKey(app, seq)); err != nil {
		return fmt.Errorf("ack outbox %d: %w", seq, err)
	}
	return nil
}

// AppendDelivery adds an attempt to the app's delivery log and drops what
// falls beyond the last DeliveryLogSize.
func (t *Tx) AppendDelivery(app uint32, d Delivery) error {
	b := t.tx.Bucket(bucketDeliveries)
	var n uint64
	if v := b.Get(appKey(app)); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("delivery log of app %d: %w", app, err)
	}
	if err := b.Put(appSeqKey(app, n), v); err != nil {
		return fmt.Errorf("delivery log of app %d: %w", app, err)
	}
	if err := b.Put(appKey(app), binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return fmt.Errorf("delivery log of app %d: %w", app, err)
	}
	if n <= DeliveryLogSize {
		return nil
	}
	// Keys below app|n-DeliveryLogSize+1 go; the counter key (4 bytes)
	// sorts first and stays.
	keep := appSeqKey(app, n-DeliveryLogSize+1)
	c := b.Cursor()
	for k, _ := c.Seek(appSeqKey(app, 0)); k != nil && bytes.Compare(k, keep) < 0; k, _ = c.Seek(appSeqKey(app, 0)) {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("delivery log of app %d: %w", app, err)
		}
	}
	return nil
}

// Deliveries returns up to limit (0 = all kept) of an app's logged
// attempts, newest first; failed keeps only the failed ones.
func (t *Tx) Deliveries(app uint32, limit int, failed bool) ([]Delivery, error) {
	out := []Delivery{}
	b := t.tx.Bucket(bucketDeliveries)
	if b == nil {
		return out, nil
	}
	c := b.Cursor()
	k, v := c.Seek(appKey(app + 1))
	if app == ^uint32(0) || k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	// The app's counter key (4 bytes) sorts before its entries and ends
	// the walk.
	for ; k != nil && len(k) == 12 && binary.BigEndian.Uint32(k) == app; k, v = c.Prev() {
		if limit > 0 && len(out) >= limit {
			break
		}
		var d Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("delivery log of app %d: decode: %w", app, err)
		}
		if failed && d.Error == "" {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// ParkOutbox moves an outbox entry to the dead letters.
func (t *Tx) ParkOutbox(d DeadEntry) error {
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("park outbox %d: %w", d.Seq, err)
	}
	if err := t.AckOutbox(d.SDKAppID, d.Seq); err != nil {
		return err
	}
	return t.tx.Bucket(bucketDead).Put(appSeqKey(d.SDKAppID, d.Seq), v)
}

// DeadEntries returns an app's dead letters, oldest first.
func (t *Tx) DeadEntries(app uint32) ([]DeadEntry, error) {
	out := []DeadEntry{}
	b := t.tx.Bucket(bucketDead)
	if b == nil {
		return out, nil
	}
	prefix := appKey(app)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var d DeadEntry
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, fmt.Errorf("dead letter %d of app %d: decode: %w", binary.BigEndian.Uint64(k[4:]), app, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// RequeueDead puts a dead letter back at the end of the outbox with a new
// Seq, the same event id and Created = now (its retry window starts
// again), and returns the new entry.
func (t *Tx) RequeueDead(app uint32, seq uint64, now time.Time) (OutboxEntry, error) {
	b := t.tx.Bucket(bucketDead)
	v := b.Get(appSeqKey(app, seq))
	if v == nil {
		return OutboxEntry{}, fmt.Errorf("dead letter %d of app %d: %w", seq, app, ErrNotFound)
	}
	var d DeadEntry
	if err := json.Unmarshal(v, &d); err != nil {
		return OutboxEntry{}, fmt.Errorf("dead letter %d of app %d: decode: %w", seq, app, err)
	}
	e := d.OutboxEntry
	e.Created = now
	var err error
	if e.Seq, err = t.AppendOutbox(e); err != nil {
		return OutboxEntry{}, err
	}
	if err := b.Delete(appSeqKey(app, seq)); err != nil {
		return OutboxEntry{}, fmt.Errorf("dead letter %d of app %d: %w", seq, app, err)
	}
	return e, nil
}

// DeadCount counts an app's dead letters.
func (t *Tx) DeadCount(app uint32) (int, error) {
	b := t.tx.Bucket(bucketDead)
	if b == nil {
		return 0, nil
	}
	n, prefix := 0, appKey(app)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n, nil
}

// DeadApps lists the apps that have dead letters.
func (t *Tx) DeadApps() ([]uint32, error) {
	return distinctApps(t.tx.Bucket(bucketDead)), nil
}

// distinctApps lists the apps of a bucket keyed app|..., skipping from
// one app to the next.
func distinctApps(b *bolt.Bucket) []uint32 {
	out := []uint32{}
	if b == nil {
		return out
	}
	c := b.Cursor()
	for k, _ := c.First(); k != nil; {
		app := binary.BigEndian.Uint32(k)
		out = append(out, app)
		if app == ^uint32(0) {
			break
		}
		k, _ = c.Seek(appKey(app + 1))
	}
	return out
}

// OutboxSequence is the Seq of the last entry ever queued: how many
// events the file has queued in its life (delivered ones included).
func (t *Tx) OutboxSequence() uint64 {
	return t.tx.Bucket(bucketOutbox).Sequence()
}
