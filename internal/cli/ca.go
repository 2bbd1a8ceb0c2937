package cli

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpost-iot/outpost/internal/hubclient"
)

func newCACmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "Manage CA certificates for CA-signed X.509 devices", RunE: needSubcommand}
	cf := addConnFlags(e, cmd)
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List registered CA certificates",
		Args:  exactArgs(),
		RunE: func(c *cobra.Command, _ []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			certs, err := client.ListCertificates(c.Context())
			if err != nil {
				return err
			}
			for i := range certs {
				certs[i].Properties.Certificate = "" // the PEM is not part of the listing
			}
			return printList(e.stdout, certs, asJSON, printCATable)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var etag string
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a CA certificate",
		Args:  exactArgs("NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			return client.DeleteCertificate(c.Context(), args[0], etag)
		},
	}
	del.Flags().StringVar(&etag, "etag", "", "delete only if the certificate's etag matches")
	cmd.AddCommand(newCAAddCmd(e, cf), list, del)
	return cmd
}

func newCAAddCmd(e *env, cf *connFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "add NAME FILE",
		Short: `Register a CA certificate (PEM; "-" reads stdin) and print its thumbprint`,
		Args:  exactArgs("NAME", "FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			data, err := readInput(e.stdin, args[1])
			if err != nil {
				return err
			}
			cert, err := parseCertPEM(args[1], data)
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			put, err := client.PutCertificate(c.Context(), args[0], string(data), "")
			if err != nil {
				return err
			}
			// Prefer the hub's description; fall back to the local parse.
			sum := sha256.Sum256(cert.Raw)
			p := put.Properties
			f := newFields(e.stdout)
			f.add("Name", args[0])
			f.add("Subject", cmp.Or(p.Subject, cert.Subject.String()))
			f.add("Thumbprint", cmp.Or(p.Thumbprint, strings.ToUpper(hex.EncodeToString(sum[:]))))
			f.add("Expiry", cmp.Or(p.Expiry, cert.NotAfter.UTC().Format(time.RFC3339)))
			return f.flush()
		},
	}
}

// parseCertPEM returns the first certificate of a PEM file, which must be a CA certificate.
func parseCertPEM(name string, data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, usagef("%s: no PEM CERTIFICATE block", name)
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, usagef("%s: %v", name, err)
		}
		if !cert.IsCA {
			return nil, usagef("%s: %s is not a CA certificate", name, cert.Subject)
		}
		return cert, nil
	}
}

func printCATable(w io.Writer, certs []hubclient.Certificate) error {
	t := newTable(w, "NAME", "SUBJECT", "THUMBPRINT", "EXPIRY", "VERIFIED")
	for _, ce := range certs {
		p := ce.Properties
		t.row(ce.Name, p.Subject, p.Thumbprint, p.Expiry, yesNo(p.IsVerified))
	}
	return t.flush()
}
