package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// checkExposure refuses a server that anyone who can reach it could use
// unasked: -http beyond loopback without -token-file, unless -insecure. It
// also checks -tls-cert and -tls-key, both or neither, as a pair that loads.
func checkExposure(cfg Config) error {
	switch {
	case cfg.TLSCert != "" && cfg.TLSKey == "":
		return errors.New("-tls-cert needs -tls-key, the certificate's private key")
	case cfg.TLSKey != "" && cfg.TLSCert == "":
		return errors.New("-tls-key needs -tls-cert, the certificate it is the key of")
	case cfg.TLSCert != "":
		if _, err := ServerTLS(cfg.TLSCert, cfg.TLSKey); err != nil {
			return err
		}
	}
	if cfg.Tokens == nil && !cfg.Insecure && !Loopback(cfg.Addr) {
		return fmt.Errorf("-http %s is not a loopback address: anyone who can reach it could run jobs; give -token-file FILE, "+
			"or -insecure if every client that can reach it may", cfg.Addr)
	}
	return nil
}

// Loopback reports whether addr, an -http address, is a loopback one: its
// host is localhost or in 127.0.0.0/8 or ::1. Any other name, even one that
// resolves to loopback, is not: only these are known not to reach a network.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServerTLS returns the TLS configuration of a server that serves the
// certificate chain in certFile with the key in keyFile, both PEM: TLS 1.2
// or later (RFC 8996 deprecates the earlier versions).
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert %s with -tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// ClientTLS returns the TLS configuration of a client (a remote worker)
// that trusts the CA certificates in caFile, PEM, for the server's
// certificate, or the system's CAs if caFile is "": TLS 1.2 or later. It
// fails if caFile cannot be read or holds no PEM certificate.
func ClientTLS(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", caFile)
	}
	return c, nil
}

// file returns a flag setter for the name of a file, which must not be empty.
func file(p *string) func(string) error {
	return func(s string) error {
		if s == "" {
			return errors.New("want a file name")
		}
		*p = s
		return nil
	}
}
