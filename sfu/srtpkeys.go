package sfu

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"unsafe"

	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The receive fast path (fastpath.go) decrypts a publisher's SRTP itself,
// and the send fast path (fastsend.go) encrypts what a subscriber gets, so
// both need the session's keys. pion has no public API for them: the DTLS
// transport derives them in startSRTP (dtlstransport.go) from its
// *dtls.Conn, which it keeps in the unexported field conn, and hands them
// only to its own srtp sessions. So we read that field (with the cryptex
// modes and the SRTP endpoint beside it) by reflection, under the
// transport's own lock, and derive the keys exactly as startSRTP does.
// TestSRTPKeysPinned fails if pion moves or retypes these fields; the code
// then returns an error and the session stays on pion's paths, as before:
// it can be slow, never wrong.

var errNoKeys = errors.New("sfu: srtp keys unavailable")

// dtlsSRTP is what startSRTP reads from a connected DTLS transport: the
// session's keys, each direction's cryptex mode, and the endpoint its SRTP
// session writes to (the selected ICE pair, whatever its transport).
type dtlsSRTP struct {
	cfg                         srtp.Config
	localCryptex, remoteCryptex srtp.CryptexMode
	endpoint                    io.Writer
}

// readDTLSSRTP reads dt's fields under dt's own lock and derives the keys
// exactly as startSRTP does.
func readDTLSSRTP(dt *webrtc.DTLSTransport) (dtlsSRTP, error) {
	var out dtlsSRTP
	if dt == nil {
		return out, fmt.Errorf("%w: no DTLS transport", errNoKeys)
	}
	v := reflect.ValueOf(dt).Elem()
	connF, lockF := v.FieldByName("conn"), v.FieldByName("lock")
	localF, remoteF, epF := v.FieldByName("localCryptexMode"), v.FieldByName("remoteCryptexMode"), v.FieldByName("srtpEndpoint")
	cryptexT := reflect.TypeFor[srtp.CryptexMode]()
	switch {
	case !connF.IsValid() || connF.Type() != reflect.TypeFor[*dtls.Conn](),
		!lockF.IsValid() || lockF.Type() != reflect.TypeFor[sync.RWMutex](),
		!localF.IsValid() || localF.Type() != cryptexT,
		!remoteF.IsValid() || remoteF.Type() != cryptexT,
		!epF.IsValid() || epF.Kind() != reflect.Pointer || !epF.Type().Implements(reflect.TypeFor[io.Writer]()):
		return out, fmt.Errorf("%w: pion's DTLSTransport fields changed", errNoKeys)
	}
	lock := (*sync.RWMutex)(unsafe.Pointer(lockF.UnsafeAddr()))
	lock.RLock()
	conn := (*dtls.Conn)(connF.UnsafePointer())
	out.localCryptex, out.remoteCryptex = srtp.CryptexMode(localF.Int()), srtp.CryptexMode(remoteF.Int())
	if !epF.IsNil() {
		// An unexported field's value cannot be used as is; the same
		// pointer, made through its address, can.
		out.endpoint = reflect.NewAt(epF.Type(), unsafe.Pointer(epF.UnsafeAddr())).Elem().Interface().(io.Writer)
	}
	lock.RUnlock()
	if conn == nil {
		return out, fmt.Errorf("%w: DTLS not connected", errNoKeys)
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return out, fmt.Errorf("%w: no DTLS connection state", errNoKeys)
	}
	// startSRTP passes its role (client or server); the DTLS state records
	// the same as isClient.
	isClientF := reflect.ValueOf(&state).Elem().FieldByName("isClient")
	if !isClientF.IsValid() || isClientF.Kind() != reflect.Bool {
		return out, fmt.Errorf("%w: pion's dtls.State fields changed", errNoKeys)
	}
	dp, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return out, fmt.Errorf("%w: no SRTP profile", errNoKeys)
	}
	switch dp {
	case dtls.SRTP_AEAD_AES_128_GCM:
		out.cfg.Profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AEAD_AES_256_GCM:
		out.cfg.Profile = srtp.ProtectionProfileAeadAes256Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		out.cfg.Profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return out, fmt.Errorf("%w: SRTP profile %v", errNoKeys, dp)
	}
	if err := out.cfg.ExtractSessionKeysFromDTLS(&state, isClientF.Bool()); err != nil {
		return out, fmt.Errorf("%w: %w", errNoKeys, err)
	}
	return out, nil
}

// cryptexOptions: a cryptex mode as startSRTP applies it (RFC 9335).
func cryptexOptions(mode srtp.CryptexMode) []srtp.ContextOption {
	if mode == srtp.CryptexModeEnabled || mode == srtp.CryptexModeRequired {
		return []srtp.ContextOption{srtp.Cryptex(mode)}
	}
	return nil
}

// remoteSRTPContext returns a fresh srtp.Context that decrypts what the
// remote end of dt sends, with replay protection over window packets.
func remoteSRTPContext(dt *webrtc.DTLSTransport, window uint) (*srtp.Context, error) {
	d, err := readDTLSSRTP(dt)
	if err != nil {
		return nil, err
	}
	opts := append(cryptexOptions(d.remoteCryptex), srtp.SRTPReplayProtection(window))
	ctx, err := srtp.CreateContext(d.cfg.Keys.RemoteMasterKey, d.cfg.Keys.RemoteMasterSalt, d.cfg.Profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoKeys, err)
	}
	return ctx, nil
}

// localSRTPContext returns a fresh srtp.Context that encrypts what this
// end of dt sends, and the endpoint pion's SRTP session writes to.
func localSRTPContext(dt *webrtc.DTLSTransport) (*srtp.Context, io.Writer, error) {
	d, err := readDTLSSRTP(dt)
	if err != nil {
		return nil, nil, err
	}
	if d.endpoint == nil {
		return nil, nil, fmt.Errorf("%w: no SRTP endpoint", errNoKeys)
	}
	ctx, err := srtp.CreateContext(d.cfg.Keys.LocalMasterKey, d.cfg.Keys.LocalMasterSalt, d.cfg.Profile, cryptexOptions(d.localCryptex)...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errNoKeys, err)
	}
	return ctx, d.endpoint, nil
}
