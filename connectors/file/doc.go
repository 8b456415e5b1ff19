// Package file is the built-in "file" source connector: it watches a
// directory for flat-file exports (CSV, fixed-width, JSON lines) in the
// encodings legacy systems write, reads each file once it is complete, and
// archives it after the host acknowledged its last line.
//
// The position is the file name and the last line handed out, so a restart
// resumes mid-file. A line that cannot be read (wrong column count,
// undecodable bytes) becomes a record with Error set and the raw bytes, and
// the file goes on; a file that cannot be read at all is moved to the
// quarantine folder with a reason file next to it.
package file
