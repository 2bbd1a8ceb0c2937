package cloud

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/outpost-iot/outpost/internal/cloud/store"
	"github.com/outpost-iot/outpost/internal/iothub"
	"github.com/outpost-iot/outpost/internal/pki"
)

// caCertificate is a CA certificate registered for CA-signed X.509 devices, in IoT Hub's shape.
type caCertificate struct {
	Name       string `json:"name"`
	ETag       string `json:"etag"`
	Type       string `json:"type"`
	Properties struct {
		Subject     string    `json:"subject"`
		Expiry      time.Time `json:"expiry"`
		Thumbprint  string    `json:"thumbprint"`
		IsVerified  bool      `json:"isVerified"`
		Created     time.Time `json:"created"`
		Updated     time.Time `json:"updated"`
		Certificate string    `json:"certificate"`
	} `json:"properties"`
}

func (c *Cloud) handlePutCertificate(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in caCertificate
	if err := readJSON(r, &in); err != nil {
		return err
	}
	cert, err := pki.CertificateFromPEM([]byte(in.Properties.Certificate))
	if err != nil {
		return iothub.NewError(iothub.CodeArgumentInvalid, "properties.certificate is not a PEM certificate: %v", err)
	}
	if !cert.IsCA {
		return iothub.NewError(iothub.CodeArgumentInvalid, "the certificate is not a CA certificate")
	}
	now := c.now().UTC()
	out := caCertificate{Name: r.PathValue("name"), ETag: newETag(), Type: "Microsoft.Devices/IotHubs/Certificates"}
	_, sha256Hex := pki.Thumbprints(cert)
	out.Properties.Subject = cert.Subject.String()
	out.Properties.Expiry = cert.NotAfter
	out.Properties.Thumbprint = sha256Hex
	// Proof of possession is implied: only RegistryWrite callers can register a CA here.
	out.Properties.IsVerified = true
	out.Properties.Created, out.Properties.Updated = now, now
	out.Properties.Certificate = in.Properties.Certificate
	doc, err := json.Marshal(&out)
	if err != nil {
		return err
	}
	if err := c.st.PutCertificate(r.Context(), out.Name, doc); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, &out)
}

func (c *Cloud) handleGetCertificate(w http.ResponseWriter, r *http.Request, _ *principal) error {
	doc, err := c.st.GetCertificate(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return iothub.NewError(iothub.CodeNotFound, "certificate %s not found", r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, err = w.Write(doc)
	return err
}

func (c *Cloud) handleListCertificates(w http.ResponseWriter, r *http.Request, _ *principal) error {
	docs, err := c.st.ListCertificates(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Value []json.RawMessage `json:"value"`
	}{Value: []json.RawMessage{}}
	for _, d := range docs {
		out.Value = append(out.Value, d)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (c *Cloud) handleDeleteCertificate(w http.ResponseWriter, r *http.Request, _ *principal) error {
	err := c.st.DeleteCertificate(r.Context(), r.PathValue("name"))
	if errors.Is(err, store.ErrNotFound) {
		return iothub.NewError(iothub.CodeNotFound, "certificate %s not found", r.PathValue("name"))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
