package chat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxName is the longest name, in characters.
	MaxName = 32
	// MaxLine is the longest message, in bytes, newline excluded.
	MaxLine = 4096
	// maxServerLine bounds what a client accepts from the server: a
	// message with its sender's name (at most 4 bytes a character).
	maxServerLine = MaxLine + 4*MaxName + 64
)

// lineReader reads newline-terminated lines of bounded length. It is the
// only parser of network bytes in this package (FuzzLineReader checks it
// against a plain split).
type lineReader struct {
	r   *bufio.Reader
	max int
}

func newLineReader(r io.Reader, max int) *lineReader {
	// max+2 holds the longest line with its "\r\n".
	return &lineReader{r: bufio.NewReaderSize(r, max+2), max: max}
}

// next returns the next line without its "\n" (or "\r\n"). The last line
// of the stream may lack a newline. A line longer than max bytes is
// skipped through its newline and reported as ErrLineTooLong; the reader
// then goes on with the next line. At the end of the stream next returns
// io.EOF. The line is valid until the next call.
func (lr *lineReader) next() ([]byte, error) {
	b, err := lr.r.ReadSlice('\n')
	switch {
	case err == nil:
		b = b[:len(b)-1]
	case errors.Is(err, bufio.ErrBufferFull):
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = lr.r.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, ErrLineTooLong
	case err == io.EOF && len(b) > 0:
		// An unterminated last line; the next call reports io.EOF.
	default:
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if len(b) > lr.max {
		return nil, ErrLineTooLong
	}
	return b, nil
}

// CheckName reports whether name is acceptable as a chat name (see the
// package documentation); its errors wrap ErrBadName.
func CheckName(name string) error {
	if p := nameProblem(name); p != "" {
		return fmt.Errorf("%w %q: %s", ErrBadName, name, p)
	}
	return nil
}

// nameProblem says what is wrong with name, or "" if nothing is.
func nameProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case utf8.RuneCountInString(name) > MaxName:
		return fmt.Sprintf("longer than %d characters", MaxName)
	case strings.HasPrefix(name, "*"):
		return "starts with '*'"
	}
	for _, r := range name {
		switch {
		case r == ':':
			return "contains ':'"
		case !unicode.IsGraphic(r):
			return fmt.Sprintf("contains the non-printing character %U", r)
		}
	}
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return "starts or ends with a space"
	}
	return ""
}

// textProblem says why a message cannot be relayed, or "" if it can.
func textProblem(b []byte) string {
	if len(b) > MaxLine {
		return tooLong
	}
	if !utf8.Valid(b) {
		return "not valid UTF-8"
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

var tooLong = fmt.Sprintf("line too long (more than %d bytes)", MaxLine)

// sanitize makes a received line safe to print on a terminal: invalid
// UTF-8 and control characters (escape sequences) become U+FFFD.
func sanitize(b []byte) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(string(b), "\uFFFD"))
}
