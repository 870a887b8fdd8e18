package sfu

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The receive fast path (fastpath.go) decrypts a publisher's SRTP itself,
// so it needs the session's keys. pion has no public API for them: the
// DTLS transport derives them in startSRTP (dtlstransport.go) from its
// *dtls.Conn, which it keeps in the unexported field conn, and hands them
// only to its own srtp sessions. So we read that field (and the cryptex
// mode beside it) by reflection, under the transport's own lock, and
// derive the keys exactly as startSRTP does. TestSRTPKeysPinned fails if
// pion moves or retypes these fields; the code then returns an error and
// the fast path stays off for that session (pion decrypts, as before): it
// can be slow, never wrong.

var errNoKeys = errors.New("sfu: srtp keys unavailable")

// remoteSRTPContext returns a fresh srtp.Context that decrypts what the
// remote end of dt sends, with replay protection over window packets.
func remoteSRTPContext(dt *webrtc.DTLSTransport, window uint) (*srtp.Context, error) {
	if dt == nil {
		return nil, fmt.Errorf("%w: no DTLS transport", errNoKeys)
	}
	v := reflect.ValueOf(dt).Elem()
	connF, lockF, cryptexF := v.FieldByName("conn"), v.FieldByName("lock"), v.FieldByName("remoteCryptexMode")
	switch {
	case !connF.IsValid() || connF.Type() != reflect.TypeFor[*dtls.Conn](),
		!lockF.IsValid() || lockF.Type() != reflect.TypeFor[sync.RWMutex](),
		!cryptexF.IsValid() || cryptexF.Type() != reflect.TypeFor[srtp.CryptexMode]():
		return nil, fmt.Errorf("%w: pion's DTLSTransport fields changed", errNoKeys)
	}
	lock := (*sync.RWMutex)(unsafe.Pointer(lockF.UnsafeAddr()))
	lock.RLock()
	conn := (*dtls.Conn)(connF.UnsafePointer())
	cryptex := srtp.CryptexMode(cryptexF.Int())
	lock.RUnlock()
	if conn == nil {
		return nil, fmt.Errorf("%w: DTLS not connected", errNoKeys)
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return nil, fmt.Errorf("%w: no DTLS connection state", errNoKeys)
	}
	// startSRTP passes its role (client or server); the DTLS state records
	// the same as isClient.
	isClientF := reflect.ValueOf(&state).Elem().FieldByName("isClient")
	if !isClientF.IsValid() || isClientF.Kind() != reflect.Bool {
		return nil, fmt.Errorf("%w: pion's dtls.State fields changed", errNoKeys)
	}
	dp, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return nil, fmt.Errorf("%w: no SRTP profile", errNoKeys)
	}
	var profile srtp.ProtectionProfile
	switch dp {
	case dtls.SRTP_AEAD_AES_128_GCM:
		profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		profile = srtp.ProtectionProfileAeadAes256Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return nil, fmt.Errorf("%w: SRTP profile %v", errNoKeys, dp)
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, isClientF.Bool()); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoKeys, err)
	}
	opts := []srtp.ContextOption{srtp.SRTPReplayProtection(window)}
	if cryptex == srtp.CryptexModeEnabled || cryptex == srtp.CryptexModeRequired {
		opts = append(opts, srtp.Cryptex(cryptex)) // as startSRTP does (RFC 9335)
	}
	ctx, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoKeys, err)
	}
	return ctx, nil
}
