package usersig_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"

	"callbox/signaling/usersig"
)

// Spec §1: sigs from the official Go library verify here, and ours verify
// with it. Its generators read time.Now(), so those sigs are checked at
// time.Now() with a long validity.
func TestOfficialToCallbox(t *testing.T) {
	keys := []string{vecKey, "a short key", "Ω"} // the library takes any string
	for _, key := range keys {
		sig, err := tencentyun.GenUserSig(vecApp, key, vecUser, 86400)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		info, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(key), now)
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if info.UserBuf != nil || info.Expire != 24*time.Hour || info.Time.After(now) || now.Sub(info.Time) > time.Minute {
			t.Errorf("info = %+v", info)
		}
		if _, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(key), info.ExpiresAt.Add(time.Second)); !errors.Is(err, usersig.ErrExpired) {
			t.Errorf("after expiry: %v", err)
		}
		if _, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(key+"x"), now); !errors.Is(err, usersig.ErrBadSignature) {
			t.Errorf("wrong key: %v", err)
		}
	}

	userbuf := []byte{1, 2, 3, 0, 255}
	sig, err := tencentyun.GenUserSigWithBuf(vecApp, vecKey, vecUser, 3600, userbuf)
	if err != nil {
		t.Fatal(err)
	}
	info, err := usersig.Verify(sig, vecApp, vecUser, fixedKey(vecKey), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info.UserBuf, userbuf) {
		t.Errorf("userbuf = %x, want %x", info.UserBuf, userbuf)
	}

	pmk, err := tencentyun.GenPrivateMapKeyWithStringRoomID(vecApp, vecKey, vecUser, 3600, "room-1", 255)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := usersig.Verify(pmk, vecApp, vecUser, fixedKey(vecKey), time.Now()); err != nil || len(info.UserBuf) == 0 {
		t.Errorf("PrivateMapKey: %+v, %v", info, err)
	}
}

func TestCallboxToOfficial(t *testing.T) {
	for _, issued := range []time.Time{time.Unix(vecTime, 0), time.Now()} {
		sig, err := usersig.Issue(vecApp, vecKey, vecUser, vecExpire*time.Second, issued)
		if err != nil {
			t.Fatal(err)
		}
		end := issued.Add(vecExpire * time.Second)
		if err := tencentyun.VerifyUserSig(vecApp, vecKey, vecUser, sig, issued); err != nil {
			t.Errorf("official VerifyUserSig: %v", err)
		}
		if err := tencentyun.VerifyUserSig(vecApp, vecKey, vecUser, sig, end); err != nil {
			t.Errorf("official VerifyUserSig at expiry: %v", err)
		}
		if err := tencentyun.VerifyUserSig(vecApp, vecKey, vecUser, sig, end.Add(time.Second)); err != tencentyun.ErrExpired {
			t.Errorf("official VerifyUserSig after expiry: %v", err)
		}
		if err := tencentyun.VerifyUserSig(vecApp, vecKey+"0", vecUser, sig, issued); err != tencentyun.ErrSigNotMatch {
			t.Errorf("official VerifyUserSig with wrong key: %v", err)
		}

		userbuf := []byte("\x00\x07xiaojun room")
		bufSig, err := usersig.IssueWithBuf(vecApp, vecKey, vecUser, time.Hour, issued, userbuf)
		if err != nil {
			t.Fatal(err)
		}
		if err := tencentyun.VerifyUserSigWithBuf(vecApp, vecKey, vecUser, bufSig, issued, userbuf); err != nil {
			t.Errorf("official VerifyUserSigWithBuf: %v", err)
		}
		if err := tencentyun.VerifyUserSigWithBuf(vecApp, vecKey, vecUser, bufSig, issued, []byte("other")); err != tencentyun.ErrUserBufNotMatch {
			t.Errorf("official VerifyUserSigWithBuf, other userbuf: %v", err)
		}
	}
}
