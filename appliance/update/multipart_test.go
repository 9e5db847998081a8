package update

import (
	"bytes"
	"mime/multipart"
	"testing"
)

func multipartBundle(t *testing.T, buf *bytes.Buffer, data []byte) string {
	mw := multipart.NewWriter(buf)
	mustNo(t, mw.WriteField("note", "x"))
	fw, err := mw.CreateFormFile("bundle", "x.bundle")
	mustNo(t, err)
	fw.Write(data)
	mustNo(t, mw.Close())
	return mw.FormDataContentType()
}

// multipartDowngrade is a form asking for a downgrade in its own field.
func multipartDowngrade(t *testing.T, data []byte) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mustNo(t, mw.WriteField("allow_downgrade", "1"))
	fw, err := mw.CreateFormFile("bundle", "x.bundle")
	mustNo(t, err)
	fw.Write(data)
	mustNo(t, mw.Close())
	return buf.Bytes(), mw.FormDataContentType()
}
